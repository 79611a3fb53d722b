"""Which shared libraries a frozen Linux build takes from the system: every NEEDED entry of every ELF file
in the folder that the folder does not hold itself.

``python packaging/linux/system_libs.py dist/sgim-desktop`` prints them with the files that need them.
docs/packaging.md lists what is expected here; tests/e2e/test_frozen_app.py fails on anything new.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Expected from the system, with the Debian package that has it; anything else is a packaging bug.
EXPECTED: dict[str, str] = {
    "ld-linux-x86-64.so.2": "libc6", "libc.so.6": "libc6", "libm.so.6": "libc6", "libdl.so.2": "libc6",
    "libpthread.so.0": "libc6", "librt.so.1": "libc6", "libutil.so.1": "libc6", "libresolv.so.2": "libc6",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1",  # vendor-neutral dispatch: must be the system's
    "libxcb.so.1": "libxcb1",  # the X server connection (Qt's xcb platform)
    "libwayland-client.so.0": "libwayland-client0", "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",  # Qt's wayland platform, only in a Wayland session
    "libcuda.so.1": "the NVIDIA driver",  # only with an NVIDIA GPU; torch runs on the CPU without it
}


def _elf_files(folder: Path) -> list[Path]:
    found = []
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _needed(path: Path) -> list[str]:
    """DT_NEEDED names of a 64-bit little-endian ELF file, read directly (no binutils needed)."""
    import struct

    data = path.read_bytes()
    if data[4] != 2 or data[5] != 1:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strtab_offset = sections[link][4]
        for i in range(size // (entsize or 16)):
            tag, value = struct.unpack_from("<qQ", data, offset + i * (entsize or 16))
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab_offset + value)
                names.append(data[strtab_offset + value:end].decode())
    return names


def system_libraries(folder: Path) -> dict[str, list[str]]:
    """Library name -> the bundled files (relative paths) that need it, for names the folder lacks."""
    folder = Path(folder)
    held = {p.name for p in folder.rglob("*")}
    wanted: dict[str, list[str]] = {}
    for path in _elf_files(folder):
        for lib in _needed(path):
            if lib not in held:
                wanted.setdefault(lib, []).append(str(path.relative_to(folder)))
    return wanted


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "dist/sgim-desktop")
    unexpected = 0
    for lib, users in sorted(system_libraries(folder).items()):
        origin = EXPECTED.get(lib)
        unexpected += origin is None
        print(f"{lib:28} {origin or 'UNEXPECTED'}  (needed by {users[0]}{' and more' if len(users) > 1 else ''})")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The Windows version resource of sgim-desktop's .exe files, written from pyproject's version.

PyInstaller reads this text format (``EXE(version=path)``); it is generated so the version has one source.
"""

from __future__ import annotations

from pathlib import Path


def version_info_text(version: str, name: str = "sgim-desktop") -> str:
    numbers = tuple(int(p) for p in (version.split(".") + ["0", "0", "0"])[:4])
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([StringTable('040904B0', [
      StringStruct('CompanyName', 'sgim-desktop contributors'),
      StringStruct('FileDescription', 'sgim-desktop: edit pictures with sound'),
      StringStruct('FileVersion', '{version}'),
      StringStruct('InternalName', '{name}'),
      StringStruct('LegalCopyright', 'MIT licence (code); model checkpoints carry their own licences'),
      StringStruct('OriginalFilename', '{name}.exe'),
      StringStruct('ProductName', '{name}'),
      StringStruct('ProductVersion', '{version}')])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def write_version_info(version: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(version_info_text(version), encoding="utf-8")
    return path

"""Render ``resources/icon.svg`` to the bitmaps each platform wants: PNGs (Linux, window icons), ICO
(Windows) and ICNS (macOS).

The SVG is the only source; renders go to a build folder and are never edited by hand.
Usage: ``python packaging/render_icons.py [OUT_DIR]`` (default ``build/icons``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "resources" / "icon.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"{SOURCE} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")


def render_all(out_dir: Path) -> dict[str, Path]:
    """Write ``icon-<size>.png`` for every size, ``icon.ico`` and ``icon.icns``; return them by kind."""
    from PIL import Image

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for size in PNG_SIZES:
        pngs[size] = out_dir / f"icon-{size}.png"
        render_png(size, pngs[size])
    biggest = Image.open(pngs[max(PNG_SIZES)]).convert("RGBA")
    # Each ICO entry is its own render (sharper than Pillow's downscaling); ICNS is made from the largest.
    ico = out_dir / "icon.ico"
    Image.open(pngs[256]).convert("RGBA").save(
        ico, sizes=[(s, s) for s in ICO_SIZES],
        append_images=[Image.open(pngs[s]).convert("RGBA") for s in ICO_SIZES if s != 256])
    icns = out_dir / "icon.icns"
    biggest.save(icns)
    del app
    return {"png": out_dir / "icon-256.png", "ico": ico, "icns": icns, "dir": out_dir}


def up_to_date(out_dir: Path) -> bool:
    needed = [out_dir / f"icon-{s}.png" for s in PNG_SIZES] + [out_dir / "icon.ico", out_dir / "icon.icns"]
    source_time = SOURCE.stat().st_mtime
    return all(p.exists() and p.stat().st_mtime >= source_time for p in needed)


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else REPO / "build" / "icons"
    written = render_all(out_dir)
    print(f"icons rendered to {written['dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

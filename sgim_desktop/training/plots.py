"""Loss curves as a PNG drawn with Pillow (no plotting library): training terms per step, validation per epoch."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    colour: tuple[int, int, int]
    width: int = 2
    markers: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _label(v: float) -> str:
    return f"{v:.3g}"


def draw_panel(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    series: Sequence[Series],
    title: str,
    xlabel: str,
    ylim: tuple[float, float] | None = None,
) -> None:
    font = ImageFont.load_default()
    x0, y0, x1, y1 = box
    left, right, top, bottom = x0 + 60, x1 - 15, y0 + 28, y1 - 40
    draw.text((left, y0 + 6), title, fill=(0, 0, 0), font=font)
    pts = [p for s in series for p in s.points if math.isfinite(p[1])]
    if not pts:
        draw.text((left + 10, (top + bottom) // 2), "no data yet", fill=(120, 120, 120), font=font)
        return
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    xt = nice_ticks(min(xs), max(xs))
    yt = nice_ticks(*ylim) if ylim else nice_ticks(min(ys), max(ys))
    xlo, xhi, ylo, yhi = xt[0], xt[-1], yt[0], yt[-1]

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - xlo) / (xhi - xlo) * (right - left), bottom - (y - ylo) / (yhi - ylo) * (bottom - top))

    for v in yt:
        _, py = to_px(xlo, v)
        draw.line([(left, py), (right, py)], fill=(225, 225, 225))
        draw.text((x0 + 4, py - 6), _label(v), fill=(60, 60, 60), font=font)
    for v in xt:
        px, _ = to_px(v, ylo)
        draw.line([(px, top), (px, bottom)], fill=(235, 235, 235))
        draw.text((px - 8, bottom + 4), _label(v), fill=(60, 60, 60), font=font)
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    draw.text(((left + right) // 2 - 20, bottom + 20), xlabel, fill=(0, 0, 0), font=font)
    for s in series:
        line = [to_px(x, y) for x, y in s.points if math.isfinite(y)]
        if len(line) >= 2:
            draw.line(line, fill=s.colour, width=s.width)
        if s.markers or len(line) == 1:
            for px, py in line:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=s.colour)
    ly = top + 6
    for s in series:
        if not s.points:
            continue
        draw.line([(right - 150, ly + 6), (right - 130, ly + 6)], fill=s.colour, width=3)
        draw.text((right - 125, ly), s.name, fill=(0, 0, 0), font=font)
        ly += 14


def moving_average(values: Sequence[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _float(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key, "") or "nan")
    except ValueError:
        return float("nan")


def plot_training(progress_csv: str | Path, epochs_csv: str | Path, out_png: str | Path,
                  size: tuple[int, int] = (960, 720)) -> Path:
    """Two panels: the loss and its terms over steps (smoothed) with validation loss at epoch ends;
    validation zero-shot accuracy."""
    steps, epochs = _read(Path(progress_csv)), _read(Path(epochs_csv))
    x = [_float(r, "step") for r in steps]
    window = max(1, len(steps) // 50)
    loss_series = []
    curves = (("loss", "train loss"), ("loss_text", "audio-text"), ("loss_audio", "audio-audio"), ("loss_image", "audio-image"))
    for i, (key, name) in enumerate(curves):
        ys = [_float(r, key) for r in steps]
        if not any(math.isfinite(v) for v in ys):
            continue
        smooth = moving_average([v if math.isfinite(v) else 0.0 for v in ys], window)
        loss_series.append(Series(name, list(zip(x, smooth)), COLOURS[i], width=3 if key == "loss" else 1))
    ex = [_float(r, "step") for r in epochs]
    val = [(a, _float(r, "val_loss")) for a, r in zip(ex, epochs)]
    if any(math.isfinite(v) for _, v in val):
        loss_series.append(Series("validation loss", val, COLOURS[3], markers=True))
    acc = [(a, 100 * _float(r, "val_zero_shot")) for a, r in zip(ex, epochs)]
    acc_series = ([Series("validation zero-shot top-1 (%)", acc, COLOURS[4], markers=True)]
                  if any(math.isfinite(v) for _, v in acc) else [])

    w, h = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    split = int(h * 0.62)
    draw_panel(draw, (0, 0, w, split), loss_series, "loss", "step")
    draw_panel(draw, (0, split, w, h), acc_series, "validation zero-shot accuracy (%)", "step", ylim=(0.0, 100.0))
    out_png = Path(out_png)
    tmp = out_png.with_name(f".{out_png.name}.{os.getpid()}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, out_png)
    return out_png

"""The loss-curve PNG, drawn with Pillow."""

from __future__ import annotations

import csv

from PIL import Image

from sgim_desktop.training.plots import moving_average, nice_ticks, plot_training


def test_nice_ticks_cover_the_range_with_round_steps():
    ticks = nice_ticks(0.13, 2.87)
    assert ticks[0] <= 0.13 and ticks[-1] >= 2.87
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1 and steps.pop() in (0.5, 1.0)


def test_moving_average_smooths_over_a_window():
    assert moving_average([1, 3, 5, 7], 2) == [1, 2, 4, 6]


def test_plot_training_draws_the_curves(tmp_path):
    progress, epochs = tmp_path / "progress.csv", tmp_path / "epochs.csv"
    with progress.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "loss", "loss_text", "loss_audio", "loss_image"])
        w.writerows([s, 3 - s / 20, 1.5 - s / 40, 1.5 - s / 40, ""] for s in range(1, 41))
    with epochs.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "step", "val_loss", "val_zero_shot"])
        w.writerows([[1, 20, 2.5, 0.4], [2, 40, 2.0, 0.7]])
    png = plot_training(progress, epochs, tmp_path / "loss.png")
    with Image.open(png) as im:
        im = im.convert("RGB")
        colours = {c for _, c in im.getcolors(1 << 20)}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours and (148, 103, 189) in colours


def test_plot_training_copes_with_no_rows_yet(tmp_path):
    png = plot_training(tmp_path / "none.csv", tmp_path / "none2.csv", tmp_path / "loss.png")
    assert Image.open(png).size == (960, 720)

"""Zero-shot and linear-probe scoring, fold by fold, on embeddings whose answer is known; and the command."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from sgim_desktop.training.evaluate import (
    accuracy,
    by_fold,
    fit_logistic_regression,
    linear_probe,
    results_markdown,
    zero_shot_predictions,
)


def test_zero_shot_picks_the_nearest_prompt_and_scores_each_fold():
    classes = torch.eye(3, 8)
    # fold 1: all right; fold 2: clips of class 0 heard as class 1 (2 of 4 wrong)
    audio = torch.stack([classes[c] + 0.1 * torch.ones(8) for c in [0, 1, 2, 0, 1, 1, 2, 1]])
    target = torch.tensor([0, 1, 2, 0, 1, 0, 2, 0])
    folds = torch.tensor([1, 1, 1, 1, 2, 2, 2, 2])
    pred = zero_shot_predictions(audio, classes)
    assert pred.tolist() == [0, 1, 2, 0, 1, 1, 2, 1]
    assert accuracy(pred, target) == pytest.approx(6 / 8)
    assert by_fold(pred, target, folds) == {1: 1.0, 2: 0.5}


def test_logistic_regression_reaches_its_optimum():
    torch.manual_seed(0)
    x = torch.randn(60, 5, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    w, b = fit_logistic_regression(x, y, 3, c=1.0)
    w.requires_grad_(True)
    b.requires_grad_(True)
    objective = F.cross_entropy(x @ w + b, y, reduction="sum") + 0.5 * (w * w).sum()
    gw, gb = torch.autograd.grad(objective, (w, b))
    assert float(gw.abs().max()) < 1e-4 and float(gb.abs().max()) < 1e-4


def test_linear_probe_leaves_each_fold_out_in_turn():
    torch.manual_seed(0)
    n_per, folds_n = 6, 3
    target = torch.tensor([c for _ in range(folds_n) for c in range(2) for _ in range(n_per)])
    folds = torch.tensor([f for f in range(1, folds_n + 1) for _ in range(2 * n_per)])
    emb = torch.randn(len(target), 4) * 0.1
    emb[:, 0] += torch.where(target == 1, 2.0, -2.0)
    assert linear_probe(emb, target, folds, 2) == {1: 1.0, 2: 1.0, 3: 1.0}
    flipped = emb.clone()
    flipped[folds == 2, 0] *= -1  # fold 2 speaks the opposite convention: trained on folds 1 and 3 it is all wrong
    assert linear_probe(flipped, target, folds, 2)[2] == 0.0


def test_results_table_states_template_and_method():
    from sgim_desktop.training.evaluate import DatasetResult

    r = DatasetResult("ESC-50", 2000, 50, 0, "the sound of {}", 0.02, 0.5, {1: 0.5}, 0.7, {1: 0.7},
                      paper={"zero_shot": 0.578, "linear_probe": 0.722})
    md = results_markdown([r], {"audio encoder": "x.pth"})
    assert "`the sound of {}`" in md and "| ESC-50 | 2000 | 50 | 2.0% | 50.0% | 70.0% | 57.8% | 72.2% |" in md
    assert "logistic regression" in md


@pytest.mark.slow
def test_evaluate_encoder_command_writes_markdown_and_json(trained_run, tiny_clip, tmp_path, capsys):
    from sgim_desktop.cli import main
    from tests.training.helpers import make_esc50, make_urbansound8k

    esc = make_esc50(tmp_path / "ESC-50-master", per_fold_class=1, seed=11)
    us = make_urbansound8k(tmp_path / "UrbanSound8K", per_fold_class=1, seed=12)
    weights, config = tiny_clip
    code = main([
        "evaluate-encoder", "--esc50", str(esc), "--urbansound8k", str(us),
        "--audio-encoder", str(trained_run.result.encoder_best), "--clip", str(weights), "--clip-config", str(config),
        "--template", "the sound of {}", "--out", str(tmp_path / "eval"), "--device", "cpu", "--input-pool", "8",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| ESC-50 | 15 | 3 | 33.3% |" in printed and "| UrbanSound8K | 30 | 3 | 33.3% |" in printed
    data = json.loads((tmp_path / "eval" / "results.json").read_text())
    esc_r, us_r = data["results"]
    assert sorted(map(int, esc_r["zero_shot_by_fold"])) == [1, 2, 3, 4, 5]
    assert sorted(map(int, us_r["linear_probe_by_fold"])) == list(range(1, 11))
    assert esc_r["template"] == "the sound of {}" and esc_r["paper"]["zero_shot"] == 0.578
    assert (tmp_path / "eval" / "results.md").read_text() == printed


def test_evaluate_encoder_needs_a_dataset(capsys):
    from sgim_desktop.cli import main

    assert main(["evaluate-encoder", "--audio-encoder", "x.pth", "--clip", "y"]) == 2
    assert "--esc50" in capsys.readouterr().err

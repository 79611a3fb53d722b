"""``sgim-desktop bench`` runs each configuration in its own process and reports one JSON object each."""

from __future__ import annotations

import json
import shutil

import pytest

from sgim_desktop.cli import main

KEYS = {"size", "device", "mode", "steps", "step_s_median", "step_s_min", "step_s_max", "first_preview_s",
        "peak_rss_mb", "peak_gpu_mb", "objective", "default_edit_s"}


@pytest.mark.slow
def test_bench_reports_speed_memory_and_objective_per_mode(tmp_path, checkpoint_files, generator_files, capsys):
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(checkpoint_files["clip"], weights / "clip-vit-b-32.safetensors")
    shutil.copy(checkpoint_files["audio_encoder"], weights / "resnet18_57.pth")
    shutil.copy(generator_files[64], weights / "stylegan2-64.pt")
    code = main(["bench", "--size", "64", "--steps", "3", "--mode", "original", "exact", "--device", "cpu",
                 "--threads", "1", "--weights-dir", str(weights), "--json"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["mode"] for r in rows] == ["original", "exact"]
    for r in rows:
        assert KEYS <= set(r) and r["size"] == 64 and r["device"] == "cpu" and r["peak_gpu_mb"] is None
        assert r["steps"] == 3 and r["step_s_min"] <= r["step_s_median"] <= r["step_s_max"]
        assert r["peak_rss_mb"] > 100 and r["first_preview_s"] > 0
        assert r["convolutions"] == "float32"
    original, exact = rows
    assert "re-implementation" in original["note"]
    # the same edit by two routes: the same objective
    assert exact["objective"] == pytest.approx(original["objective"], abs=1e-4)
    assert exact["step_speedup_vs_original"] > 0


def test_bench_refuses_too_few_steps(capsys):
    assert main(["bench", "--steps", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_bench_refuses_a_fast_fraction_outside_zero_to_one(capsys):
    assert main(["bench", "--fast-fraction", "1.5"]) == 2
    assert "--fast-fraction" in capsys.readouterr().err

"""``sgim-desktop bench --instant`` reports, per size, what the directions cost, how fast a target becomes a
picture and live frames, and how the instant edit compares with the optimisation on the same start."""

from __future__ import annotations

import json
import shutil

import pytest

from sgim_desktop.cli import main

KEYS = {"directions_build_s", "target_to_direction_ms", "instant_edit_ms", "instant_edit_exact_ms", "live_fps",
        "live_update_ms_p50", "live_update_ms_p95", "cos_gain_instant", "cos_gain_optimised", "refine_steps_to_match",
        "objective_source", "objective_instant", "objective_optimised", "opt_steps"}


@pytest.mark.slow
def test_the_instant_bench_runs_small_and_reports_every_figure(tmp_path, checkpoint_files, generator_files, capsys):
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(checkpoint_files["clip"], weights / "clip-vit-b-32.safetensors")
    shutil.copy(checkpoint_files["audio_encoder"], weights / "resnet18_57.pth")
    shutil.copy(generator_files[64], weights / "stylegan2-64.pt")
    code = main(["bench", "--instant", "--size", "64", "--opt-steps", "4", "--live-seconds", "2", "--basis", "4",
                 "--probe-latents", "1", "--response-latents", "1", "--calibrate-latents", "1", "--device", "cpu",
                 "--threads", "1", "--weights-dir", str(weights), "--json"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 1
    r = rows[0]
    assert KEYS <= set(r) and r["size"] == 64 and r["mode"] == "instant" and r["opt_steps"] == 4
    assert r["directions_build_s"] > 0 and r["directions_settings"]["basis"] == 4
    assert 0 < r["target_to_direction_ms"] < 50 and r["instant_edit_ms"] > 0 and r["live_fps"] > 0
    assert r["live_preview_px"] == 64 and r["cos_gain_instant"] > 0
    assert r["refine_steps_to_match"] is None or 0 <= r["refine_steps_to_match"] <= 4
    assert sorted(p.name for p in weights.iterdir()) == ["clip-vit-b-32.safetensors", "resnet18_57.pth", "stylegan2-64.pt"]


@pytest.mark.slow
def test_a_build_too_long_to_run_is_estimated_from_one_latent_per_stage(tmp_path, checkpoint_files, generator_files,
                                                                         capsys):
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(checkpoint_files["clip"], weights / "clip-vit-b-32.safetensors")
    shutil.copy(checkpoint_files["audio_encoder"], weights / "resnet18_57.pth")
    shutil.copy(generator_files[64], weights / "stylegan2-64.pt")
    code = main(["bench", "--instant", "--size", "64", "--estimate-build", "64", "--quality-sizes", "--live-seconds", "1",
                 "--basis", "4", "--probe-latents", "3", "--response-latents", "4", "--calibrate-latents", "2",
                 "--device", "cpu", "--threads", "1", "--weights-dir", str(weights), "--json"])
    assert code == 0
    (r,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert r["directions_settings"]["probe_latents"] == 3 and r["directions_settings"]["response_latents"] == 4
    stages = r["directions_stage_s"]
    assert set(stages) == {"probe", "response", "calibrate"}
    setup = r["directions_build_s"] - sum(stages.values())
    expected = setup + 3 * stages["probe"] + 4 * stages["response"] + 2 * stages["calibrate"]
    assert r["directions_build_s_estimated"] == pytest.approx(expected, abs=0.6)  # each stage is rounded to 0.1 s
    assert r["directions_build_s_estimated"] > r["directions_build_s"]
    assert "cos_gain_instant" not in r and r["live_fps"] > 0


@pytest.mark.parametrize("flags, message", [(["--opt-steps", "1"], "--opt-steps"), (["--live-seconds", "0"], "--live-seconds"),
                                           (["--size", "256", "--estimate-build", "1024"], "--estimate-build"),
                                           (["--size", "256", "--quality-sizes", "64"], "--quality-sizes")])
def test_the_instant_bench_refuses_bad_settings(flags, message, capsys):
    assert main(["bench", "--instant", *flags]) == 2
    assert message in capsys.readouterr().err

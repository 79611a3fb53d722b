"""`sgim-desktop hear` end to end on CPU, with rule-weighted checkpoints in the public file formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SAMPLE_AUDIO


def run_cli(*args, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "sgim_desktop", *map(str, args)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout,
    )


@pytest.mark.slow
def test_hear_prints_top_k_labels_as_json(checkpoint_files, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("rain\nthunder\ndog barking\nengine\nlaughing\n")
    res = run_cli(
        "hear", SAMPLE_AUDIO / "raining.wav", "--top", "3", "--labels", labels,
        "--audio-encoder", checkpoint_files["audio_encoder"], "--clip", checkpoint_files["clip"], "--json",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [t["label"] for t in out["top"]] and len(out["top"]) == 3
    assert {t["label"] for t in out["top"]} <= {"rain", "thunder", "dog barking", "engine", "laughing"}
    probs = [t["probability"] for t in out["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6


@pytest.mark.slow
def test_hear_with_the_shipped_esc50_list_in_plain_text(checkpoint_files):
    res = run_cli(
        "hear", SAMPLE_AUDIO / "drill.wav", "--top", "2", "--labels", "esc50", "--start", "1.5",
        "--audio-encoder", checkpoint_files["audio_encoder"], "--clip", checkpoint_files["clip"],
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2 and all("%" in line for line in lines)


def _bad_inputs(tmp_path, checkpoint_files):
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    wrong = tmp_path / "wrong.pth"
    import torch

    torch.save({"something.else": torch.zeros(2)}, wrong)
    enc, clip = checkpoint_files["audio_encoder"], checkpoint_files["clip"]
    good = SAMPLE_AUDIO / "wind.wav"
    return {
        "text file named .wav": (text, enc, clip, "cannot read"),
        "missing sound": (tmp_path / "nope.wav", enc, clip, "not found"),
        "missing checkpoint": (good, tmp_path / "missing.pth", clip, "not found"),
        "wrong layout": (good, wrong, clip, "not the audio encoder layout"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["text file named .wav", "missing sound", "missing checkpoint", "wrong layout"])
def test_bad_input_exits_2_with_one_line(checkpoint_files, tmp_path, case):
    sound, enc, clip, expect = _bad_inputs(tmp_path, checkpoint_files)[case]
    res = run_cli("hear", sound, "--audio-encoder", enc, "--clip", clip)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and expect in err
    assert "Traceback" not in res.stderr

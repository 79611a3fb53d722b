"""Two processes started by torchrun (gloo on CPU) train one encoder together."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(660)
def test_torchrun_with_two_processes_trains_one_model(tiny_clip, sound_folder, input_cache, trained_run, tmp_path):
    weights, config = tiny_clip
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "-m", "sgim_desktop", "train-encoder",
        "--folder", str(sound_folder), "--out", str(out), "--clip", str(weights), "--clip-config", str(config),
        "--epochs", "2", "--batch-size", "6", "--lr", "3e-4", "--workers", "0", "--input-pool", "8", "--val-fraction", "0.125",
        "--cache-dir", str(input_cache), "--device", "cpu", "--log-every", "1",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]

    run = json.loads((out / "run.json").read_text())
    assert run["world_size"] == 2 and run["status"] == "done"
    assert run["result"]["in_step"] is True  # every process held bit-identical weights after each epoch
    with (out / "progress.csv").open(newline="") as fh:
        steps = list(csv.DictReader(fh))
    assert len(steps) == 2 * 3  # 21 clips in global batches of 6: 3 steps an epoch, each process 3 clips a step
    assert all(r["global_batch"] == "6" for r in steps)  # the loss saw both processes' clips as negatives
    assert res.stdout.count("trained 2 epochs") == 1  # one process reports

    written = sorted(p.name for p in out.iterdir() if p.suffix in (".pth", ".pt"))
    assert written == ["audio_encoder_best.pth", "audio_encoder_last.pth", "resume.pt"]
    from sgim_desktop.engine.audio_encoder import load_audio_encoder

    ddp = torch.load(out / "audio_encoder_last.pth", weights_only=True)
    single = torch.load(trained_run.result.encoder_last, weights_only=True)
    assert ddp.keys() == single.keys()
    assert all(ddp[k].shape == single[k].shape and ddp[k].dtype == single[k].dtype for k in ddp)
    encoder = load_audio_encoder(out / "audio_encoder_last.pth")
    assert not encoder.training

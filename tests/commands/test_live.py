"""``sgim-desktop live`` plays a file as if it were the microphone, writes every preview and the full-size
picture at the end, and prints one JSON line with the frame rate and the update times."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sgim_desktop.cli import main
from tests.commands.test_directions import cli_build
from tests.conftest import SAMPLE_AUDIO


@pytest.fixture(scope="module")
def built(tmp_path_factory, checkpoint_files, generator_files):
    return cli_build(tmp_path_factory.mktemp("models"), checkpoint_files, generator_files)


def live_args(built, checkpoint_files, out_dir, *extra: str) -> list[str]:
    return ["live", "--generator", str(built["generator"]), "--audio-encoder", str(checkpoint_files["audio_encoder"]),
            "--clip", str(checkpoint_files["clip"]), "--device", "cpu", "--out-dir", str(out_dir), *extra]


@pytest.mark.slow
def test_live_follows_a_file_in_real_time_and_reports_one_json_line(built, checkpoint_files, tmp_path, capsys, one_thread):
    out_dir = tmp_path / "frames"
    code = main(live_args(built, checkpoint_files, out_dir, "--input", str(SAMPLE_AUDIO / "giggling.wav"),
                          "--duration", "3", "--interval", "0.5", "--follow-loudness", "--json"))
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert {"frames", "fps", "update_ms_p50", "update_ms_p95"} <= set(summary)
    assert summary["frames"] >= 1 and summary["fps"] > 0
    assert summary["update_ms_p50"] <= summary["update_ms_p95"]
    assert 2.5 <= summary["seconds"] < 3 + summary["update_ms_p95"] / 1000 + 1  # paced by the sound, not run flat out
    frames = sorted(out_dir.glob("frame_*.png"))
    assert len(frames) == summary["frames"]
    assert np.asarray(Image.open(frames[0])).shape == (64, 64, 3) and summary["preview_px"] == 64
    assert np.asarray(Image.open(out_dir / "final.png")).shape == (64, 64, 3)


@pytest.mark.parametrize("extra, message", [
    (["--input", "mic"], "--duration"),
    (["--input", "nowhere.wav"], "not found"),
    (["--input", str(SAMPLE_AUDIO / "wind.wav"), "--duration", "0"], "--duration"),
    (["--input", str(SAMPLE_AUDIO / "wind.wav"), "--interval", "0.8"], "0.5"),
])
def test_bad_live_input_is_refused_with_one_line(extra, message, tmp_path, capsys):
    assert main(["live", "--out-dir", str(tmp_path / "f"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_live_follows_the_microphone(built, checkpoint_files, tmp_path, capsys, one_thread):
    from tests.virtual_mic import ensure_virtual_mic, playing

    ensure_virtual_mic()
    out_dir = tmp_path / "mic"
    with playing(SAMPLE_AUDIO / "raining.wav"):
        code = main(live_args(built, checkpoint_files, out_dir, "--input", "mic", "--duration", "3", "--json"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["frames"] >= 1 and len(list(out_dir.glob("frame_*.png"))) == summary["frames"]
    assert (out_dir / "final.png").is_file()

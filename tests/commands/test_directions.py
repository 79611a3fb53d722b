"""``sgim-desktop directions build`` writes the directions beside the generator with progress and an ETA, and
``edit --instant`` refuses a directions file that is not for its generator with one line and status 2."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from sgim_desktop.cli import main
from tests.conftest import SAMPLE_AUDIO

TINY_FLAGS = ["--basis", "4", "--probe-latents", "1", "--response-latents", "1", "--calibrate-latents", "1",
              "--labels", "esc50", "--device", "cpu"]
_BUILT: dict[str, object] = {}


def cli_build(folder: Path, checkpoint_files, generator_files) -> dict:
    """A tiny directions file built by the command beside a copy of the 64 px generator (once per run)."""
    if not _BUILT:
        generator = folder / "landscape-64.pt"
        shutil.copy(generator_files[64], generator)
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                code = main(["directions", "build", "--generator", str(generator),
                             "--clip", str(checkpoint_files["clip"]), *TINY_FLAGS, "--json"])
        finally:
            torch.set_num_threads(before)
        _BUILT.update(code=code, lines=[json.loads(x) for x in out.getvalue().splitlines()], generator=generator,
                      directions=folder / "landscape-64.directions.safetensors")
    return _BUILT


@pytest.fixture(scope="module")
def built(tmp_path_factory, checkpoint_files, generator_files):
    return cli_build(tmp_path_factory.mktemp("models"), checkpoint_files, generator_files)


def instant_args(built, checkpoint_files, out: Path, *extra: str) -> list[str]:
    return ["edit", "--instant", "--sound", str(SAMPLE_AUDIO / "raining.wav"), "--seed", "1",
            "--generator", str(built["generator"]), "--audio-encoder", str(checkpoint_files["audio_encoder"]),
            "--clip", str(checkpoint_files["clip"]), "--device", "cpu", "--out", str(out), *extra]


@pytest.mark.slow
def test_the_build_writes_beside_the_generator_and_reports_progress_with_an_eta(built):
    assert built["code"] == 0
    *steps, done = built["lines"]
    assert [s["stage"] for s in steps] == ["probe", "response", "calibrate", "calibrate", "calibrate"]
    assert [s["done"] for s in steps] == [1, 2, 3, 4, 5] and all(s["total"] == 5 for s in steps)
    assert all(s["eta_s"] >= 0 for s in steps) and steps[-1]["fraction"] == 1.0
    assert done["done"] and Path(done["out"]) == built["directions"] and done["resumed_units"] == 0
    assert sorted(p.name for p in built["generator"].parent.iterdir()) == [
        "landscape-64.directions.safetensors", "landscape-64.pt"]


@pytest.mark.slow
def test_edit_instant_finds_the_directions_beside_the_generator(built, checkpoint_files, tmp_path, capsys, one_thread):
    out = tmp_path / "instant.png"
    assert main(instant_args(built, checkpoint_files, out, "--json", "--channels", "2000")) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["instant"] and done["refine_steps"] == 0 and done["direction_ms"] < 50 and out.is_file()


@pytest.mark.slow
@pytest.mark.parametrize("case, message", [
    ("another generator", "built for another generator"),
    ("truncated", "damaged (truncated?)"),
    ("not ours", "not an sgim-desktop directions file"),
    ("missing", "no directions file"),
])
def test_edit_instant_refuses_directions_not_for_its_generator(built, checkpoint_files, generator_files, tmp_path,
                                                               capsys, case, message):
    from safetensors.torch import save_file

    args = instant_args(built, checkpoint_files, tmp_path / "x.png")
    bad = tmp_path / "d.safetensors"
    if case == "another generator":
        args[args.index("--generator") + 1] = str(generator_files[256])
        bad = built["directions"]
    elif case == "truncated":
        data = built["directions"].read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif case == "not ours":
        save_file({"x": torch.zeros(3)}, str(bad), metadata={"format": "something else"})
    assert main([*args, "--directions", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("flags, message", [
    (["--basis", "0"], "at least 1"),
    (["--basis", "600"], "512"),
])
def test_bad_build_settings_are_refused_with_one_line(flags, message, capsys):
    assert main(["directions", "build", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_instant_flags_are_refused_with_one_line(capsys, tmp_path):
    args = ["edit", "--instant", "--text", "rain", "--seed", "1", "--out", str(tmp_path / "x.png")]
    assert main([*args, "--disentangle", "1.5"]) == 2
    assert "--disentangle" in capsys.readouterr().err
    assert main([*args, "--refine-steps", "-1"]) == 2
    assert "--refine-steps" in capsys.readouterr().err

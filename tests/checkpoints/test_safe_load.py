"""Loading a checkpoint never runs code from it, and refuses values no model can use, in one line of our words.

Every refusal names the file the person gave, says what is wrong and what to do, and never repeats
torch's advice to turn ``weights_only`` off (the way a hostile file runs its code).
"""

from __future__ import annotations

import argparse
import fractions
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.safe_load import NotPlainWeightsError, load_checkpoint, state_dict_of
from sgim_desktop.errors import CheckpointError
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import entry, generator_bytes, reference_keys, write_catalog


def saved(tmp_path: Path, obj: object, name: str = "model.pt") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and "weights_only" not in message and "torch.load" not in message
    assert str(path) in message
    return message


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_plain_weights_and_a_rosinality_generator_load(tmp_path):
    sd = {"conv.weight": torch.randn(2, 3), "bn.num_batches_tracked": torch.tensor(7)}
    assert torch.equal(state_dict_of(load_checkpoint(saved(tmp_path, sd)))["conv.weight"], sd["conv.weight"])
    gen = load_checkpoint(saved(tmp_path, {"g_ema": {"style.1.weight": torch.ones(2)},
                                           "args": argparse.Namespace(size=64), "g_optim": {"state": {0: {
                                               "step": torch.tensor(3), "exp_avg": torch.zeros(2)}}}}))
    assert gen["args"].size == 64
    st = tmp_path / "clip.safetensors"
    save_file({"visual.proj": torch.ones(2, 2)}, str(st))
    assert torch.equal(load_checkpoint(st)["visual.proj"], torch.ones(2, 2))


def test_a_file_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "landscape.pt"
    path.write_bytes(pickle.dumps({"g_ema": _Exploit(str(marker))}, protocol=2))
    message = refusal(path)
    assert not marker.exists()
    assert "not plain weights" in message and "it pickles posix.mkdir" in message and "can run code" in message


def test_other_python_objects_are_named_in_our_words(tmp_path):
    path = saved(tmp_path, {"weight": torch.ones(1), "ratio": fractions.Fraction(1, 3)})
    with pytest.raises(NotPlainWeightsError):
        load_checkpoint(path)
    assert "it pickles fractions.Fraction" in refusal(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_numbers_are_refused(tmp_path, bad):
    weight = torch.randn(64, 64)
    weight[5, 7] = bad
    message = refusal(saved(tmp_path, {"g_ema": {"style.1.weight": weight}}))
    assert "not numbers (NaN or infinity) in g_ema.style.1.weight" in message


def test_huge_but_finite_weights_are_kept(tmp_path):
    sd = {"w": torch.full((1000,), 3e38)}  # their float32 sum overflows; every value is still a number
    assert load_checkpoint(saved(tmp_path, sd))["w"].shape == (1000,)


def test_nan_in_a_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "clip.safetensors"
    save_file({"visual.proj": torch.tensor([[1.0, float("nan")]])}, str(path))
    assert "NaN or infinity" in refusal(path)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool])
def test_weights_cast_to_integers_are_refused(tmp_path, dtype):
    sd = {"conv1.conv.weight": torch.ones(4, 4).to(dtype), "bn.num_batches_tracked": torch.tensor(1)}
    message = refusal(saved(tmp_path, {"g_ema": sd}))
    assert f"holds {str(dtype).removeprefix('torch.')} values in g_ema.conv1.conv.weight" in message


def test_broken_files_get_one_line_each(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert "empty" in refusal(empty)
    page = tmp_path / "page.pt"
    page.write_bytes(b"<!DOCTYPE html><html>quota exceeded</html>")
    assert "web page" in refusal(page)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(generator_bytes()[:3000])
    assert "damaged or truncated" in refusal(cut)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x02" + b"\xff" * 100)
    refusal(junk)


def test_an_import_names_the_file_the_person_gave_never_the_installed_copy(tmp_path, models_dir):
    catalog = write_catalog(tmp_path / "c.json", [entry("gen", "generator", "landscape.pt", [])])
    manager = ModelManager(catalog=catalog, options=FAST)
    good = tmp_path / "good.pt"
    good.write_bytes(generator_bytes())
    installed = manager.import_file("gen", good)
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    nan = saved(downloads, {"g_ema": {k: torch.full((2,), float("nan")) for k in reference_keys("stylegan2_64.pt")}},
                "landscape.pt")  # the same name as the installed file: the message must still say which one
    exploit = downloads / "landscape (1).pt"
    exploit.write_bytes(pickle.dumps({"g_ema": _Exploit(str(tmp_path / "pwned"))}, protocol=2))
    for bad in (nan, exploit):
        with pytest.raises(CheckpointError) as info:
            manager.import_file("gen", bad)
        message = str(info.value)
        assert str(bad) in message and str(installed) not in message and "weights_only" not in message
    assert installed.read_bytes() == good.read_bytes() and not (tmp_path / "pwned").exists()

"""One device choice: the CLI commands, the window's worker and the trainer all ask engine.device."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sgim_desktop.engine.device import pick_device
from sgim_desktop.errors import BadInputError

HAS_CUDA = torch.cuda.is_available()


def test_auto_picks_the_gpu_when_there_is_one_else_the_cpu():
    assert pick_device() == pick_device("auto") == ("cuda" if HAS_CUDA else "cpu")


def test_the_cpu_is_always_there():
    assert pick_device("cpu") == "cpu"


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_says_what_to_use_instead():
    with pytest.raises(BadInputError, match=r"^--device cuda was asked for, but no CUDA GPU is available; use --device cpu$"):
        pick_device("cuda")


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU here")
def test_cuda_with_a_gpu_is_taken():
    assert pick_device("cuda") == "cuda"


@pytest.mark.parametrize("name", ["gpu", "mps", "CUDA", ""])
def test_an_unknown_name_lists_the_known_ones(name):
    with pytest.raises(BadInputError, match=rf"^unknown device {name!r}: use auto, cpu or cuda$"):
        pick_device(name)


def test_the_commands_and_the_trainer_use_this_choice():
    from sgim_desktop.commands import common
    from sgim_desktop.training import train

    assert common.pick_device is pick_device
    assert train.process_device("cpu", local_rank=3) == torch.device("cpu")
    with pytest.raises(BadInputError, match="unknown device 'tpu'"):
        train.process_device("tpu")


def test_holding_the_choice_does_not_load_torch():
    code = "import sys, sgim_desktop.engine.device; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

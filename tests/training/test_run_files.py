"""What a run writes to --out and reads back when it resumes."""

from __future__ import annotations

import random

import pytest
import torch

from sgim_desktop.errors import CheckpointError
from sgim_desktop.training.run_files import RESUME_FORMAT, atomic_save, load_resume


def test_a_resume_file_with_its_rng_states_reads_back(tmp_path):
    """The RNG states are bytes (uint8 tensors): a resume file is the run's state, not a model's weights."""
    path = tmp_path / "resume.pt"
    state = {"format": RESUME_FORMAT, "step": 10, "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}}
    atomic_save(state, path)
    back = load_resume(path)
    assert back["step"] == 10 and torch.equal(back["rng"]["torch"], state["rng"]["torch"])
    assert back["rng"]["torch"].dtype == torch.uint8


def test_another_file_is_not_taken_for_a_resume_file(tmp_path):
    path = tmp_path / "resume.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match=r"resume.pt is not a train-encoder resume file$"):
        load_resume(path)


def test_a_truncated_resume_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "resume.pt"
    atomic_save({"format": RESUME_FORMAT, "model": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="cannot be read as a train-encoder resume file") as info:
        load_resume(path)
    assert "\n" not in str(info.value)


def test_a_resume_file_that_pickles_code_is_refused(tmp_path):
    path = tmp_path / "resume.pt"
    torch.save({"format": RESUME_FORMAT, "when": __import__("datetime").date(2024, 1, 1)}, path)
    with pytest.raises(CheckpointError, match="cannot be read as a train-encoder resume file") as info:
        load_resume(path)
    assert "it holds more than plain data" in str(info.value) and "trust" not in str(info.value)

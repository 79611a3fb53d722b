"""SpecAugment on the packed 128 x 512 encoder input, and the text augmentation of labels."""

from __future__ import annotations

import numpy as np
import torch

from sgim_desktop.training.augment import (
    TEMPLATES,
    SpecAugmentConfig,
    apply_masks,
    spec_augment,
    spec_augment_masks,
    text_bank,
    word_variants,
)


def coded_input() -> torch.Tensor:
    """An input whose every cell says which mel band and time step it holds (the front end's packing)."""
    rows = torch.arange(512).view(512, 1) // 4  # mel band of each stretched row
    cols = torch.arange(128).view(1, 128)
    unpacked = (rows * 1000 + cols + 1).float()
    return unpacked.reshape(1, 1, 128, 512)


def test_masks_blank_whole_mel_bands_and_the_same_time_steps_in_every_band():
    freq = torch.zeros(1, 128, dtype=torch.bool)
    freq[0, 10:13] = True
    time = torch.zeros(1, 128, dtype=torch.bool)
    time[0, 50:60] = True
    x = coded_input()
    y = apply_masks(x, freq, time)
    code = x[y == 0]
    band, step = (code - 1) // 1000, (code - 1) % 1000
    assert set(band.long().tolist()) == set(range(128))  # time mask reaches every band
    assert ((band >= 10) & (band < 13) | (step >= 50) & (step < 60)).all()
    assert int((y == 0).sum()) == 3 * 4 * 128 + 10 * 512 - 3 * 4 * 10
    assert torch.equal(x, coded_input())  # the input itself is untouched


def test_a_time_mask_silences_a_span_of_the_real_front_ends_window():
    from sgim_desktop.engine.audio import TIME_FRAMES, _resize_and_pack

    window = np.zeros((128, TIME_FRAMES))
    window[:, 270:405] = 1.0  # frames of time steps 40..60 of 128
    x = _resize_and_pack(window)
    unpacked = x.reshape(512, 128)
    loud = (unpacked.abs() > 1e-6).any(dim=0).nonzero().flatten()
    time = torch.zeros(1, 128, dtype=torch.bool)
    time[0, int(loud.min()) : int(loud.max()) + 1] = True
    assert float(apply_masks(x, torch.zeros(1, 128, dtype=torch.bool), time).abs().max()) == 0.0


def test_spec_augment_is_reproducible_and_within_its_limits():
    cfg = SpecAugmentConfig(freq_masks=2, freq_width=16, time_masks=2, time_width=16)
    f1, t1 = spec_augment_masks(64, torch.Generator().manual_seed(1), cfg)
    f2, t2 = spec_augment_masks(64, torch.Generator().manual_seed(1), cfg)
    assert torch.equal(f1, f2) and torch.equal(t1, t2)
    assert int(f1.sum(dim=1).max()) <= 32 and int(t1.sum(dim=1).max()) <= 32
    assert f1.any() and t1.any()
    x = torch.rand(4, 1, 128, 512) + 0.1
    y = spec_augment(x, torch.Generator().manual_seed(2), cfg)
    assert y.shape == x.shape and bool((y == 0).any()) and bool((y[y != 0] == x[y != 0]).all())


def test_word_variants_delete_one_word_or_swap_neighbours():
    assert word_variants("dog") == ["dog"]
    assert word_variants("dog barking loudly") == [
        "dog barking loudly", "barking loudly", "dog loudly", "dog barking", "barking dog loudly", "dog loudly barking",
    ]


def test_the_text_bank_holds_every_augmentation_and_the_plain_label_first():
    bank = text_bank(["dog_barking", "rain"], "full")
    assert bank.texts[bank.offsets[0]] == "dog barking" and bank.texts[bank.offsets[1]] == "rain"
    assert len(bank.texts) == len(TEMPLATES) * (4 + 1)
    ids = torch.tensor([0, 1] * 200)
    rows = bank.sample(ids, torch.Generator().manual_seed(0))
    for i, r in zip(ids.tolist(), rows.tolist()):
        end = bank.offsets[i] + len(TEMPLATES) * bank.n_variants[i]
        assert bank.offsets[i] <= r < end
    texts = {bank.texts[r] for r in rows.tolist()}
    assert {"rain", "the sound of rain", "dog barking", "barking dog", "a photo of dog"} <= texts
    assert bank.plain(torch.tensor([1, 0])).tolist() == [bank.offsets[1], bank.offsets[0]]
    assert text_bank(["dog_barking"], "none").texts == ["dog barking"]
    assert text_bank(["dog_barking"], "templates").texts == [t.format("dog barking") for t in TEMPLATES]

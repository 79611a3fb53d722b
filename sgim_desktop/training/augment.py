"""SpecAugment on the encoder input and text augmentation of labels.

SpecAugment (Park et al. 2019) masks bands of frequency and spans of time. The encoder input is not a
plain spectrogram image: the front end resizes the (128 mels x 864 frames) window to 512 x 128 (mels
stretched 4x, time squeezed to 128 steps) and then *reshapes* it to 128 x 512, so each input row holds
4 stretched copies of one mel band's 128 time steps side by side. Masks are therefore drawn in that
unpacked (512 x 128) view: a frequency mask blanks whole mel bands (4 rows each), a time mask blanks
the same time steps in all of them. Masked values are 0, which the front end uses for silence (80 dB
below the clip's peak) and for padding.

Text augmentation: the paper augments the label text but does not list the operations; ours (our choice)
puts the label in one of a few prompt templates and, now and then, drops one word or swaps two neighbours
(random deletion and swap of Wei & Zou's EDA). CLIP is frozen, so every text a label can turn into is
embedded once before training and a step only picks rows of that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sgim_desktop.training.datasets import label_text

N_MELS = 128
TIME_STEPS = 128
STRETCH = 4  # input rows per mel band in the unpacked view

TEMPLATES: tuple[str, ...] = (
    "{}",
    "the sound of {}",
    "a sound of {}",
    "the sound of a {}",
    "a recording of {}",
    "{} sound",
    "this is the sound of {}",
    "a photo of {}",
)
TEXT_AUGMENT_MODES = ("full", "templates", "none")


@dataclass(frozen=True)
class SpecAugmentConfig:
    """Our defaults (the paper cites SpecAugment without numbers): two masks each way, up to 1/8 of the axis."""

    freq_masks: int = 2
    freq_width: int = 16  # mel bands, of 128
    time_masks: int = 2
    time_width: int = 16  # time steps, of 128 (~1.25 s of the ~10 s window)


def spec_augment_masks(n: int, generator: torch.Generator,
                       cfg: SpecAugmentConfig = SpecAugmentConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks (n x 128 mel bands, n x 128 time steps): True where the input is blanked."""

    def spans(count: int, width: int, size: int) -> torch.Tensor:
        mask = torch.zeros(n, size, dtype=torch.bool)
        if count <= 0 or width <= 0:
            return mask
        widths = torch.randint(0, width + 1, (n, count), generator=generator)
        starts = (torch.rand(n, count, generator=generator) * (size - widths + 1)).floor().long()
        pos = torch.arange(size).view(1, 1, size)
        inside = (pos >= starts.unsqueeze(-1)) & (pos < (starts + widths).unsqueeze(-1))
        return inside.any(dim=1)

    return spans(cfg.freq_masks, cfg.freq_width, N_MELS), spans(cfg.time_masks, cfg.time_width, TIME_STEPS)


def apply_masks(x: torch.Tensor, freq_mask: torch.Tensor, time_mask: torch.Tensor) -> torch.Tensor:
    """A masked copy of N x 1 x 128 x 512 encoder inputs (see the module note on the packed layout)."""
    n = x.shape[0]
    if tuple(x.shape[1:]) != (1, N_MELS, STRETCH * TIME_STEPS):
        raise ValueError(f"SpecAugment needs N x 1 x 128 x 512 encoder inputs, got {tuple(x.shape)}")
    rows = freq_mask.to(x.device).repeat_interleave(STRETCH, dim=1)  # n x 512
    blank = rows.view(n, STRETCH * N_MELS, 1) | time_mask.to(x.device).view(n, 1, TIME_STEPS)
    unpacked = x.reshape(n, STRETCH * N_MELS, TIME_STEPS)
    return unpacked.masked_fill(blank, 0.0).reshape(x.shape)


def spec_augment(x: torch.Tensor, generator: torch.Generator, cfg: SpecAugmentConfig = SpecAugmentConfig()) -> torch.Tensor:
    freq, time = spec_augment_masks(x.shape[0], generator, cfg)
    return apply_masks(x, freq, time)


# -- text ----------------------------------------------------------------------------------------


def word_variants(text: str) -> list[str]:
    """The text itself, then each one-word deletion and each swap of neighbouring words (EDA's delete/swap)."""
    words = text.split()
    out = [text]
    if len(words) >= 2:
        out += [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        for i in range(len(words) - 1):
            w = list(words)
            w[i], w[i + 1] = w[i + 1], w[i]
            out.append(" ".join(w))
    return list(dict.fromkeys(t for t in out if t))


@dataclass(frozen=True)
class TextBank:
    """Every text each label can become, flat, with where each label's block starts.

    Label ``l``'s block holds ``len(templates) * n_variants[l]`` texts, template-major; its row 0 is the
    plain label text in template "{}" (what validation and ``hear`` use).
    """

    texts: list[str]
    offsets: list[int]
    n_variants: list[int]
    templates: tuple[str, ...]

    def plain(self, label_ids: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.offsets, dtype=torch.long)[label_ids]

    def sample(self, label_ids: torch.Tensor, generator: torch.Generator, word_p: float = 0.3) -> torch.Tensor:
        """Row of a random augmentation of each label: a uniform template; a word edit with probability ``word_p``."""
        n = label_ids.shape[0]
        offsets = torch.tensor(self.offsets, dtype=torch.long)[label_ids]
        nv = torch.tensor(self.n_variants, dtype=torch.long)[label_ids]
        template = torch.randint(0, len(self.templates), (n,), generator=generator)
        edit = torch.rand(n, generator=generator) < word_p
        pick = 1 + (torch.rand(n, generator=generator) * (nv - 1).clamp_min(1)).floor().long()
        variant = torch.where(edit & (nv > 1), pick, torch.zeros_like(pick))
        return offsets + template * nv + variant


def text_bank(labels: Sequence[str], mode: str = "full") -> TextBank:
    if mode not in TEXT_AUGMENT_MODES:
        raise ValueError(f"unknown text augmentation {mode!r}: use one of {TEXT_AUGMENT_MODES}")
    templates = TEMPLATES if mode != "none" else TEMPLATES[:1]
    texts, offsets, n_variants = [], [], []
    for label in labels:
        base = label_text(label)
        variants = word_variants(base) if mode == "full" else [base]
        offsets.append(len(texts))
        n_variants.append(len(variants))
        texts.extend(t.format(v) for t in templates for v in variants)
    return TextBank(texts=texts, offsets=offsets, n_variants=n_variants, templates=templates)

"""What a run makes ready before its first step: the clips (read once into the input cache and split
into batches) and the targets (label texts and pictures, embedded once by the frozen CLIP)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sgim_desktop.errors import BadInputError
from sgim_desktop.training.augment import TextBank, text_bank
from sgim_desktop.training.clip_tower import load_clip_tower
from sgim_desktop.training.config import TrainConfig, TrainProgress
from sgim_desktop.training.datasets import (
    Clip,
    InputCache,
    attach_images,
    folder_clips,
    split_validation,
    vggsound_clips,
)
from sgim_desktop.training.distributed import Dist

Report = Callable[[TrainProgress], None]


@dataclass
class RunData:
    """The run's clips, their cached encoder inputs, and the batches they make on this many processes."""

    cache: InputCache
    train_clips: list[Clip]
    val_clips: list[Clip]
    labels: list[str]
    label_id: dict[str, int]
    batch: int
    local_batch: int
    steps_per_epoch: int
    total_steps: int
    warmup: int
    note: dict[str, Any]


@dataclass
class Targets:
    """What the audio embeddings are pulled toward, and with which weights."""

    bank: TextBank
    text_table: torch.Tensor
    image_row: dict[Path, int]
    image_table: torch.Tensor | None
    terms: tuple[str, ...]
    weights: dict[str, float]


def load_clips(cfg: TrainConfig) -> tuple[list[Clip], dict[str, Any]]:
    note: dict[str, Any] = {}
    if (cfg.folder is None) == (cfg.vggsound_csv is None):
        raise BadInputError("give the training data either as --folder DIR (label/clip.wav) or as --vggsound-csv CSV --clips DIR")
    if cfg.folder is not None:
        clips = folder_clips(cfg.folder)
        note["layout"] = f"folder {cfg.folder}"
    else:
        if cfg.clips is None:
            raise BadInputError("--vggsound-csv needs --clips DIR, the folder of its audio clips")
        assert cfg.vggsound_csv is not None  # one of folder and vggsound_csv is given (checked above)
        rows = vggsound_clips(cfg.vggsound_csv, cfg.clips, cfg.vggsound_split)
        clips = rows.clips
        note.update(layout=f"VGGSound {cfg.vggsound_csv} with {cfg.clips}", missing_rows=len(rows.missing),
                    missing_examples=rows.missing[:5], other_split_rows=rows.skipped_split)
    if cfg.images is not None:
        clips = attach_images(clips, cfg.images)
        note["clips_with_images"] = sum(c.image is not None for c in clips)
    return clips, note


def prepare_data(cfg: TrainConfig, epochs: int, ctx: Dist, out: Path, report: Report,
                 cancel: threading.Event | None) -> RunData | None:
    """Fill the input cache (each process its share, then every process checks all) and plan the batches.

    None when a stop was asked for while filling.
    """
    clips, note = load_clips(cfg)
    cache = InputCache(cfg.cache_dir or out / "cache")
    paths = [c.path for c in clips]
    mine = paths[ctx.rank :: ctx.world]
    cache.fill(
        mine, workers=cfg.workers,
        on_done=lambda n, total: report(TrainProgress("prepare", n, total, message="computing encoder inputs")),
        should_stop=lambda: cancel is not None and cancel.is_set(),
    )
    if ctx.any_stop(cancel):
        return None
    ctx.barrier()
    failures = cache.fill(paths, workers=cfg.workers)
    clips = [c for c in clips if c.path not in failures]
    note.update(unreadable=len(failures), unreadable_examples=sorted(failures.values())[:5])
    if not clips:
        raise BadInputError(f"no training clip could be read (e.g. {next(iter(failures.values()), '?')})")
    train_clips, val_clips = split_validation(clips, cfg.val_fraction, cfg.seed)
    labels = sorted({c.label for c in clips})
    if len(labels) < 2 and cfg.text_weight > 0:
        raise BadInputError("the audio-text term needs clips of at least 2 labels")
    n, world = len(train_clips), ctx.world
    batch = cfg.batch_size
    if batch % world:
        raise BadInputError(f"the batch size {batch} is not a multiple of the {world} processes")
    if batch > n:
        batch = (n // world) * world
    if batch < max(2, world):
        raise BadInputError(f"{n} training clips are too few for a contrastive batch across {world} process(es)")
    steps_per_epoch = n // batch
    total_steps = epochs * steps_per_epoch
    warmup = cfg.warmup_steps if cfg.warmup_steps >= 0 else min(1000, round(0.05 * total_steps))
    note.update(train_clips=n, val_clips=len(val_clips), labels=len(labels),
                batch_size=batch, steps_per_epoch=steps_per_epoch, warmup_steps=warmup)
    return RunData(
        cache=cache, train_clips=train_clips, val_clips=val_clips, labels=labels,
        label_id={label: i for i, label in enumerate(labels)}, batch=batch, local_batch=batch // world,
        steps_per_epoch=steps_per_epoch, total_steps=total_steps, warmup=warmup, note=note,
    )


def embed_targets(cfg: TrainConfig, data: RunData, device: torch.device, report: Report) -> Targets:
    """Label texts (with their augmentations) and pictures through the frozen CLIP, once for the whole run."""
    report(TrainProgress("clip", message="embedding label texts and pictures with the frozen CLIP"))
    assert cfg.clip is not None  # train() refuses a run without CLIP before it starts
    tower = load_clip_tower(cfg.clip, cfg.clip_config, device)
    bank = text_bank(data.labels, cfg.text_augment)
    text_table = tower.encode_texts(bank.texts).to(device)
    all_clips = data.train_clips + data.val_clips
    with_image = [c for c in all_clips if c.image is not None]
    image_row = {c.path: i for i, c in enumerate(with_image)}
    image_table = tower.encode_image_files([c.image for c in with_image if c.image is not None]).to(device) \
        if with_image else None
    del tower
    terms = []
    if cfg.text_weight > 0:
        terms.append("text")
    if cfg.audio_weight > 0:
        terms.append("audio")
    if cfg.image_weight > 0 and image_table is not None:
        terms.append("image")
    if not terms:
        raise BadInputError("every loss term has weight 0 (or no pictures were found for the image term)")
    weights = {"text": cfg.text_weight, "audio": cfg.audio_weight, "image": cfg.image_weight}
    return Targets(bank, text_table, image_row, image_table, tuple(terms), weights)

"""Contrastive training of the audio encoder into a frozen CLIP (Lee et al., CVPR 2022, sec. 3.1).

Loss = w_text * InfoNCE(audio, text of its label, augmented)
     + w_audio * InfoNCE(audio, the same clip with SpecAugment)      (the self-supervised term)
     + w_image * InfoNCE(audio, CLIP image of its picture)            (when pictures are given)

Defaults, and where they come from:
- paper: Adam-family optimiser, learning rate 1e-3, batch 384, 50 epochs, temperatures learnable as
  in CLIP (logit scale initialised at 1/0.07, capped at 100), CLIP frozen, SpecAugment for the
  audio-audio term, text augmentation of the labels.
- ours (the paper does not say): batch-norm statistics re-estimated at every epoch's end with the
  final weights on up to 50 clean training batches ("precise BN"; the app runs the encoder in eval
  mode, and the running averages lag behind the weights when there are few steps, as when
  fine-tuning on a small folder of sounds); AdamW with weight decay 0 (that is Adam; ``--weight-decay`` adds
  decoupled decay to conv/linear weights only), betas (0.9, 0.999); linear warm-up over 5% of the
  steps (at most 1000) then cosine decay to 0; loss weights 1/1/1; one temperature per term; the
  SpecAugment and text-augmentation settings of ``augment``; 5% of each label held out for
  validation; a random-initialised encoder unless ``--init`` names one to fine-tune; mixed precision
  (float16) on CUDA only.

Several processes (``torchrun``) train one model with DistributedDataParallel: each process takes a
slice of every global batch, the loss is computed over the gathered global batch (see ``losses``), and
the data order and all augmentation randomness come from generators seeded by (seed, epoch, step),
so a run is reproducible, independent of the number of processes, and resumes mid-epoch exactly.

Files in ``--out``: ``audio_encoder_last.pth`` / ``audio_encoder_best.pth`` (the public
``resnet18_57.pth`` layout: the encoder's state dict under ``module.``), ``resume.pt`` (optimizer,
position, RNG states), ``progress.csv`` (a row per step), ``epochs.csv`` (a row per epoch with
validation), ``loss.png``, ``run.json`` (settings and summary) and ``cache/`` (encoder inputs).

This module is the door (``train``); the parts: ``config`` (settings, reports, result), ``distributed``
(processes and devices), ``prepare`` (clips and CLIP targets), ``trainer`` (the loop), ``validation``
(the end of an epoch), ``run_files`` (what is written).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist

from sgim_desktop.errors import BadInputError
from sgim_desktop.training.config import DEFAULT_EPOCHS, PROVENANCE, TrainConfig, TrainProgress, TrainResult, merge_config
from sgim_desktop.training.distributed import process_device, setup_distributed
from sgim_desktop.training.run_files import BEST_NAME, LAST_NAME, RESUME_FORMAT, RESUME_NAME, load_resume, save_encoder
from sgim_desktop.training.trainer import Trainer, lr_at

__all__ = [
    "BEST_NAME", "DEFAULT_EPOCHS", "LAST_NAME", "PROVENANCE", "RESUME_FORMAT", "RESUME_NAME", "TrainConfig",
    "TrainProgress", "TrainResult", "lr_at", "process_device", "save_encoder", "train",
]


def train(cfg: TrainConfig, progress: Callable[[TrainProgress], None] | None = None,
          cancel: threading.Event | None = None) -> TrainResult:
    """Run (or resume, with ``cfg.resume``) a training; under torchrun each process calls this."""
    out = Path(cfg.out)
    state = None
    resume_file = out / RESUME_NAME
    if cfg.resume:
        if not resume_file.is_file():
            raise BadInputError(f"nothing to resume in {out}: {RESUME_NAME} is missing")
        state = load_resume(resume_file)
        cfg = merge_config(state["config"], cfg)
    elif resume_file.exists():
        raise BadInputError(f"{out} already holds a training run; add --resume to continue it, or choose another --out")
    if cfg.clip is None:
        raise BadInputError("training needs the frozen CLIP's weights (--clip)")
    if cfg.epochs is None:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "epochs": DEFAULT_EPOCHS})
    if cfg.epochs is None or cfg.epochs < 1:
        raise BadInputError("--epochs must be at least 1")
    ctx = setup_distributed(cfg.device, cfg.dist_backend)
    try:
        if ctx.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        ctx.barrier()
        return Trainer(cfg, ctx, progress, cancel).run(state)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()

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
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import threading
import time
from datetime import timedelta
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from sgim_desktop.engine.audio_encoder import AudioEncoder, load_audio_encoder
from sgim_desktop.engine.clip_space import normalize
from sgim_desktop.engine.device import pick_device
from sgim_desktop.checkpoints.safe_load import load_checkpoint
from sgim_desktop.errors import BadInputError, CheckpointError
from sgim_desktop.training.augment import apply_masks, spec_augment_masks, text_bank
from sgim_desktop.training.clip_tower import load_clip_tower
from sgim_desktop.training.datasets import (
    BatchInputs,
    Clip,
    InputCache,
    attach_images,
    folder_clips,
    shrink_input,
    split_validation,
    vggsound_clips,
)
from sgim_desktop.training.gloo_interface import pin_gloo_to_loopback
from sgim_desktop.training.losses import ContrastiveModel, contrastive_loss, gather_rows, gather_rows_nograd
from sgim_desktop.training.plots import plot_training

RESUME_FORMAT = "sgim-desktop/train-encoder-resume/1"
RESUME_NAME = "resume.pt"
DEFAULT_EPOCHS = 50
# processes wait for each other at barriers, e.g. while the others fill their share of the input cache (hours
# for VGGSound the first time), so collectives may take far longer than torch's default timeout
DIST_TIMEOUT = timedelta(hours=6)
LAST_NAME = "audio_encoder_last.pth"
BEST_NAME = "audio_encoder_best.pth"
PROGRESS_COLUMNS = (
    "epoch", "step", "batch", "lr", "loss", "loss_text", "loss_audio", "loss_image",
    "scale_text", "scale_audio", "scale_image", "global_batch", "clips_per_s", "elapsed_s",
)
EPOCH_COLUMNS = (
    "epoch", "step", "train_loss", "val_loss", "val_loss_text", "val_loss_audio", "val_loss_image",
    "val_zero_shot", "elapsed_s",
)
# settings a resumed run may change; everything else comes from the run being resumed
RUNTIME_FIELDS = ("out", "device", "amp", "workers", "cache_dir", "save_every", "log_every", "eval_batch", "dist_backend", "resume")

PROVENANCE = {
    "optimizer": "AdamW with weight_decay 0 = Adam (paper: Adam); betas (0.9, 0.999) (ours)",
    "lr": "1e-3 (paper)",
    "batch_size": "384 (paper)",
    "epochs": "50 (paper)",
    "temperature": "learnable logit scale per term, init 1/0.07, capped at 100 (paper: as in CLIP; one per term is ours)",
    "schedule": "linear warm-up (5% of steps, at most 1000) then cosine to 0 (ours)",
    "loss_weights": "text 1, audio 1, image 1 (ours)",
    "spec_augment": "2 frequency masks up to 16 of 128 mel bands, 2 time masks up to 16 of 128 steps (ours)",
    "text_augment": "8 prompt templates, one-word deletion or neighbour swap with p=0.3 (ours)",
    "val_fraction": "0.05 of each label (ours)",
    "init": "random (ours); --init fine-tunes an existing encoder",
    "amp": "float16 autocast on CUDA, off on CPU (ours)",
    "bn_batches": "50: batch-norm statistics re-estimated with the epoch's final weights on up to 50 clean "
                  "training batches before validation and saving (ours; 'precise BN')",
}


@dataclass
class TrainConfig:
    """Everything that defines a training run (paths resolved; the CLI fills it from its flags)."""

    out: Path
    clip: Path | None  # None only when resuming: the run's own CLIP file
    folder: Path | None = None
    vggsound_csv: Path | None = None
    clips: Path | None = None
    vggsound_split: str = "train"
    images: Path | None = None
    val_fraction: float = 0.05
    clip_config: str | None = None
    init: Path | None = None
    text_weight: float = 1.0
    audio_weight: float = 1.0
    image_weight: float = 1.0
    text_augment: str = "full"
    word_p: float = 0.3
    epochs: int | None = None  # None: the paper's 50 (or, resuming, the run's own)
    batch_size: int = 384
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = -1
    schedule: str = "cosine"
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    workers: int = 2
    cache_dir: Path | None = None
    save_every: int = 0
    log_every: int = 10
    eval_batch: int = 64
    bn_batches: int = 50
    dist_backend: str = "auto"
    input_pool: int = 1
    resume: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        path_fields = {"out", "clip", "folder", "vggsound_csv", "clips", "images", "init", "cache_dir"}
        known = {f.name for f in fields(cls)}
        kw = {k: (Path(v) if k in path_fields and v is not None else v) for k, v in d.items() if k in known}
        return cls(**kw)


@dataclass(frozen=True)
class TrainProgress:
    """One report: phase 'prepare' (filling the input cache), 'clip', 'train', 'validate' or 'epoch'."""

    phase: str
    done: int = 0
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    terms: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    clips_per_s: float = 0.0
    eta_s: float | None = None
    message: str = ""


@dataclass
class TrainResult:
    out: Path
    encoder_last: Path | None
    encoder_best: Path | None
    resume_file: Path | None
    epochs_done: int
    step: int
    cancelled: bool
    first_loss: float | None
    last_loss: float | None
    best_val_loss: float | None
    val_zero_shot: float | None
    world_size: int
    in_step: bool | None


@dataclass
class _Dist:
    rank: int
    world: int
    device: torch.device
    group: Any
    owns_group: bool

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def process_device(name: str, local_rank: int = 0) -> torch.device:
    """This process's device: the one device choice (``engine.device``), on a GPU its local rank picks."""
    if pick_device(name) == "cuda":
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def _setup_distributed(device_name: str, backend: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = process_device(device_name, local)
    if world <= 1:
        return _Dist(0, 1, device, None, False)
    owns = False
    if not dist.is_initialized():
        if backend == "auto":
            backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if backend == "gloo":
            pin_gloo_to_loopback()
        dist.init_process_group(backend=backend, timeout=DIST_TIMEOUT)
        owns = True
    group = dist.new_group(timeout=DIST_TIMEOUT)
    return _Dist(dist.get_rank(), dist.get_world_size(), device, group, owns)


def _generator(seed: int, *parts: object) -> torch.Generator:
    """A generator whose stream depends only on the seed and the parts (epoch, step...): the same on every process."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def lr_at(step: int, total: int, warmup: int, base: float, schedule: str) -> float:
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


def save_encoder(encoder: nn.Module, path: Path) -> Path:
    """The encoder in the public ``resnet18_57.pth`` layout (state dict under ``module.``), written atomically."""
    sd = {f"module.{k}": v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
    _atomic_save(sd, path)
    return path


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _append_row(path: Path, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        if new:
            w.writeheader()
        w.writerow({k: _fmt(row.get(k)) for k in columns})


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _truncate_csv(path: Path, columns: tuple[str, ...], key: str, keep_upto: int) -> None:
    """Drop rows past a resumed position (steps done after the last save of a run that stopped)."""
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(key, "").isdigit() and int(r[key]) <= keep_upto]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in columns} for r in rows)
    os.replace(tmp, path)


def _fingerprint(model: nn.Module, device: torch.device) -> torch.Tensor:
    """A hash of every parameter's bytes, as 4 int64s: equal on all processes when they are in step."""
    h = hashlib.sha1()
    for _, p in sorted(model.named_parameters()):
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    d = h.digest()
    return torch.tensor([int.from_bytes(d[i : i + 4], "little") for i in range(0, 16, 4)], dtype=torch.int64, device=device)


def _load_clips(cfg: TrainConfig) -> tuple[list[Clip], dict[str, Any]]:
    note: dict[str, Any] = {}
    if (cfg.folder is None) == (cfg.vggsound_csv is None):
        raise BadInputError("give the training data either as --folder DIR (label/clip.wav) or as --vggsound-csv CSV --clips DIR")
    if cfg.folder is not None:
        clips = folder_clips(cfg.folder)
        note["layout"] = f"folder {cfg.folder}"
    else:
        if cfg.clips is None:
            raise BadInputError("--vggsound-csv needs --clips DIR, the folder of its audio clips")
        rows = vggsound_clips(cfg.vggsound_csv, cfg.clips, cfg.vggsound_split)
        clips = rows.clips
        note.update(layout=f"VGGSound {cfg.vggsound_csv} with {cfg.clips}", missing_rows=len(rows.missing),
                    missing_examples=rows.missing[:5], other_split_rows=rows.skipped_split)
    if cfg.images is not None:
        clips = attach_images(clips, cfg.images)
        note["clips_with_images"] = sum(c.image is not None for c in clips)
    return clips, note


def _merge_config(saved: dict[str, Any], given: TrainConfig) -> TrainConfig:
    """A resumed run keeps its own settings; only the runtime ones (and ``epochs``, when given) change."""
    merged = dict(saved)
    now = given.to_dict()
    for name in RUNTIME_FIELDS:
        merged[name] = now[name]
    if given.clip is not None:
        merged["clip"] = now["clip"]
    if given.epochs is not None:
        merged["epochs"] = given.epochs
    return TrainConfig.from_dict(merged)


class _Trainer:
    def __init__(self, cfg: TrainConfig, ctx: _Dist, progress: Callable[[TrainProgress], None] | None, cancel: threading.Event | None):
        self.cfg, self.ctx = cfg, ctx
        self.progress = progress if ctx.rank == 0 else None
        self.cancel = cancel
        self.out = Path(cfg.out)

    # -- helpers ---------------------------------------------------------------------------------

    def report(self, p: TrainProgress) -> None:
        if self.progress is not None:
            self.progress(p)

    def stop_requested(self) -> bool:
        stop = self.cancel is not None and self.cancel.is_set()
        if self.ctx.world > 1:
            t = torch.tensor([1 if stop else 0], device=self.ctx.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            stop = bool(t.item())
        return stop

    @property
    def is_main(self) -> bool:
        return self.ctx.rank == 0

    # -- setup -----------------------------------------------------------------------------------

    def prepare_data(self) -> bool:
        cfg, ctx = self.cfg, self.ctx
        clips, self.data_note = _load_clips(cfg)
        self.cache = InputCache(cfg.cache_dir or self.out / "cache")
        paths = [c.path for c in clips]
        mine = paths[ctx.rank :: ctx.world]
        self.cache.fill(
            mine, workers=cfg.workers,
            on_done=lambda n, total: self.report(TrainProgress("prepare", n, total, message="computing encoder inputs")),
            should_stop=lambda: self.cancel is not None and self.cancel.is_set(),
        )
        if self.stop_requested():
            return False
        ctx.barrier()
        failures = self.cache.fill(paths, workers=cfg.workers)
        clips = [c for c in clips if c.path not in failures]
        self.data_note.update(unreadable=len(failures), unreadable_examples=sorted(failures.values())[:5])
        if not clips:
            raise BadInputError(f"no training clip could be read (e.g. {next(iter(failures.values()), '?')})")
        self.train_clips, self.val_clips = split_validation(clips, cfg.val_fraction, cfg.seed)
        self.labels = sorted({c.label for c in clips})
        if len(self.labels) < 2 and cfg.text_weight > 0:
            raise BadInputError("the audio-text term needs clips of at least 2 labels")
        self.label_id = {label: i for i, label in enumerate(self.labels)}
        n, world = len(self.train_clips), ctx.world
        batch = cfg.batch_size
        if batch % world:
            raise BadInputError(f"the batch size {batch} is not a multiple of the {world} processes")
        if batch > n:
            batch = (n // world) * world
        if batch < max(2, world):
            raise BadInputError(f"{n} training clips are too few for a contrastive batch across {world} process(es)")
        self.batch, self.local_batch = batch, batch // world
        self.steps_per_epoch = n // batch
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.warmup = cfg.warmup_steps if cfg.warmup_steps >= 0 else min(1000, round(0.05 * self.total_steps))
        self.data_note.update(train_clips=n, val_clips=len(self.val_clips), labels=len(self.labels),
                              batch_size=batch, steps_per_epoch=self.steps_per_epoch, warmup_steps=self.warmup)
        return True

    def prepare_clip(self) -> None:
        cfg, device = self.cfg, self.ctx.device
        self.report(TrainProgress("clip", message="embedding label texts and pictures with the frozen CLIP"))
        tower = load_clip_tower(cfg.clip, cfg.clip_config, device)
        self.bank = text_bank(self.labels, cfg.text_augment)
        self.text_table = tower.encode_texts(self.bank.texts).to(device)
        all_clips = self.train_clips + self.val_clips
        with_image = [c for c in all_clips if c.image is not None]
        self.image_row = {c.path: i for i, c in enumerate(with_image)}
        self.image_table = tower.encode_image_files([c.image for c in with_image]).to(device) if with_image else None
        del tower
        terms = []
        if cfg.text_weight > 0:
            terms.append("text")
        if cfg.audio_weight > 0:
            terms.append("audio")
        if cfg.image_weight > 0 and self.image_table is not None:
            terms.append("image")
        if not terms:
            raise BadInputError("every loss term has weight 0 (or no pictures were found for the image term)")
        self.terms = tuple(terms)
        self.weights = {"text": cfg.text_weight, "audio": cfg.audio_weight, "image": cfg.image_weight}

    def build_model(self, state: dict[str, Any] | None) -> None:
        cfg, ctx = self.cfg, self.ctx
        torch.manual_seed(cfg.seed)
        encoder = load_audio_encoder(cfg.init) if cfg.init is not None and state is None else AudioEncoder()
        encoder.requires_grad_(True).train()
        self.model = ContrastiveModel(encoder, self.terms)
        if state is not None:
            try:
                self.model.load_state_dict(state["model"], strict=True)
            except (RuntimeError, KeyError) as exc:
                raise CheckpointError(f"{self.out / RESUME_NAME} does not match this run's model: {str(exc).splitlines()[0]}") from exc
        self.model.to(ctx.device)
        if ctx.world > 1:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.net: nn.Module = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.net = self.model
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2]
        rest = [p for n, p in self.model.named_parameters() if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
            lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8,
        )
        cuda = ctx.device.type == "cuda"
        self.use_amp = cfg.amp == "on" or (cfg.amp == "auto" and cuda)
        self.amp_dtype = torch.float16 if cuda else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and cuda)
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])

    # -- one step --------------------------------------------------------------------------------

    def train_step(self, x: torch.Tensor, idx: list[int], step: int) -> dict[str, float]:
        cfg, ctx, device = self.cfg, self.ctx, self.ctx.device
        b, lo = self.local_batch, self.ctx.rank * self.local_batch
        g = _generator(cfg.seed, "step", step)
        label_ids = torch.tensor([self.label_id[self.train_clips[i].label] for i in idx])
        freq, time_ = spec_augment_masks(len(idx), g)
        text_rows = self.bank.sample(label_ids, g, cfg.word_p)
        x = x.to(device, non_blocking=True)
        if "audio" in self.terms:
            x = torch.cat([x, apply_masks(x, freq[lo : lo + b], time_[lo : lo + b])])
        x = shrink_input(x, cfg.input_pool)
        with torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            emb = self.net(x)
        emb = normalize(emb.float())
        views = 2 if "audio" in self.terms else 1
        everything = gather_rows(emb, ctx.group).view(ctx.world, views, b, -1)
        audio = everything[:, 0].reshape(len(idx), -1)
        parts: dict[str, torch.Tensor] = {}
        if "text" in self.terms:
            parts["text"] = contrastive_loss(audio, self.text_table[text_rows.to(device)], self.model.scale("text"), label_ids.to(device))
        if "audio" in self.terms:
            parts["audio"] = contrastive_loss(audio, everything[:, 1].reshape(len(idx), -1), self.model.scale("audio"))
        if "image" in self.terms:
            rows = torch.tensor([self.image_row.get(self.train_clips[i].path, -1) for i in idx])
            has = rows >= 0
            if int(has.sum()) >= 2:
                parts["image"] = contrastive_loss(audio[has.to(device)], self.image_table[rows[has].to(device)], self.model.scale("image"))
            else:
                parts["image"] = 0.0 * self.model.scale("image")
        loss = sum(self.weights[k] * v for k, v in parts.items())
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step, self.total_steps, self.warmup, cfg.lr, cfg.schedule)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        out = {"loss": float(loss.detach()), "global_batch": float(audio.shape[0])}
        out.update({f"loss_{k}": float(v.detach()) for k, v in parts.items()})
        out.update({f"scale_{k}": float(self.model.scale(k).detach()) for k in self.terms})
        return out

    # -- validation ------------------------------------------------------------------------------

    @torch.no_grad()
    def _embed(self, clips: list[Clip], index: list[int], masks: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        encoder, device, out = self.model.encoder, self.ctx.device, []
        for s in range(0, len(index), self.cfg.eval_batch):
            chunk = index[s : s + self.cfg.eval_batch]
            x = torch.stack([self.cache.load(clips[i].path) for i in chunk]).to(device)
            if masks is not None:
                x = apply_masks(x, masks[0][chunk], masks[1][chunk])
            with torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                emb = encoder(shrink_input(x, self.cfg.input_pool))
            out.append(normalize(emb.float()))
        return torch.cat(out) if out else torch.zeros(0, 512, device=device)

    @torch.no_grad()
    def _embed_all(self, clips: list[Clip], masks: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """Every process embeds every world-th clip; the rows are gathered back into the clips' order."""
        n, world, rank = len(clips), self.ctx.world, self.ctx.rank
        per = -(-n // world)
        mine = [min(n - 1, rank + j * world) for j in range(per)]
        local = self._embed(clips, mine, masks)
        gathered = gather_rows_nograd(local, self.ctx.group).view(world, per, -1)
        full = torch.empty(n, local.shape[1], device=local.device)
        for r in range(world):
            for j in range(per):
                i = r + j * world
                if i < n:
                    full[i] = gathered[r, j]
        return full

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        clips, device = self.val_clips, self.ctx.device
        self.model.eval()
        try:
            masks = spec_augment_masks(len(clips), _generator(self.cfg.seed, "validation"))
            audio = self._embed_all(clips, None)
            aug = self._embed_all(clips, masks) if "audio" in self.terms else None
        finally:
            self.model.train()
        label_ids = torch.tensor([self.label_id[c.label] for c in clips], device=device)
        plain = self.text_table[self.bank.plain(torch.arange(len(self.labels))).to(device)]
        zero_shot = float(((audio @ plain.t()).argmax(dim=1) == label_ids).float().mean())
        sums: dict[str, float] = {}
        count = 0
        for s in range(0, len(clips), self.batch):
            sl = slice(s, min(len(clips), s + self.batch))
            if sl.stop - sl.start < 2:
                continue
            count += 1
            a, ids = audio[sl], label_ids[sl]
            terms = {}
            if "text" in self.terms:
                terms["text"] = contrastive_loss(a, plain[ids], self.model.scale("text"), ids)
            if aug is not None:
                terms["audio"] = contrastive_loss(a, aug[sl], self.model.scale("audio"))
            if "image" in self.terms:
                rows = torch.tensor([self.image_row.get(c.path, -1) for c in clips[sl]])
                has = rows >= 0
                if int(has.sum()) >= 2:
                    terms["image"] = contrastive_loss(a[has.to(device)], self.image_table[rows[has].to(device)], self.model.scale("image"))
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        result = {"val_zero_shot": zero_shot}
        if count:
            result.update({f"val_loss_{k}": v / count for k, v in sums.items()})
            result["val_loss"] = sum(self.weights[k] * v / count for k, v in sums.items())
        return result

    # -- saving ----------------------------------------------------------------------------------

    def save_resume(self, epoch: int, batch: int, step: int) -> None:
        if not self.is_main:
            return
        state = {
            "format": RESUME_FORMAT,
            "config": self.cfg.to_dict(),
            "labels": self.labels,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "epoch": epoch,
            "batch": batch,
            "step": step,
            "best_val": self.best_val,
            "epoch_loss_sum": self.epoch_loss_sum,
            "epoch_loss_count": self.epoch_loss_count,
            "elapsed_s": self.elapsed(),
            "first_loss": self.first_loss,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "python": random.getstate(),
            },
        }
        _atomic_save(state, self.out / RESUME_NAME)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.started)

    def write_run_json(self, extra: dict[str, Any]) -> None:
        if not self.is_main:
            return
        info = {
            "config": self.cfg.to_dict(),
            "defaults": PROVENANCE,
            "data": self.data_note,
            "terms": list(self.terms),
            "world_size": self.ctx.world,
            "device": str(self.ctx.device),
            "amp": self.use_amp,
            "clip_texts": len(self.bank.texts),
            **extra,
        }
        _atomic_text(self.out / "run.json", json.dumps(info, indent=2, default=str) + "\n")

    # -- the run ---------------------------------------------------------------------------------

    def run(self, state: dict[str, Any] | None) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        self.started = time.monotonic()
        self.elapsed_before = float(state.get("elapsed_s", 0.0)) if state else 0.0
        if not self.prepare_data():
            return self._result(cancelled=True, epoch=0, step=0)
        if state is not None and state.get("labels") != self.labels:
            raise BadInputError("the dataset's labels differ from those of the run being resumed")
        self.prepare_clip()
        self.build_model(state)
        epoch0, batch0, step = (state["epoch"], state["batch"], state["step"]) if state else (0, 0, 0)
        self.best_val = state.get("best_val") if state else None
        self.epoch_loss_sum = float(state.get("epoch_loss_sum", 0.0)) if state else 0.0
        self.epoch_loss_count = int(state.get("epoch_loss_count", 0)) if state else 0
        self.first_loss = state.get("first_loss") if state else None
        self.last_loss: float | None = None
        self.last_val: dict[str, float] = {}
        self.in_step: bool | None = None
        if state is not None:
            rng = state.get("rng", {})
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
            if rng.get("python"):
                random.setstate(_as_tuple(rng["python"]))
        progress_csv, epochs_csv = self.out / "progress.csv", self.out / "epochs.csv"
        if self.is_main:
            if state is not None:
                _truncate_csv(progress_csv, PROGRESS_COLUMNS, "step", step)
                _truncate_csv(epochs_csv, EPOCH_COLUMNS, "epoch", epoch0)
            else:
                for p in (progress_csv, epochs_csv):
                    p.unlink(missing_ok=True)
            self.write_run_json({"status": "running"})
        ctx.barrier()
        window_t, window_n = time.monotonic(), 0
        for epoch in range(epoch0, cfg.epochs):
            order = torch.randperm(len(self.train_clips), generator=_generator(cfg.seed, "order", epoch))
            batches = [order[k * self.batch : (k + 1) * self.batch].tolist() for k in range(self.steps_per_epoch)]
            start = batch0 if epoch == epoch0 else 0
            lo = ctx.rank * self.local_batch
            local = [bt[lo : lo + self.local_batch] for bt in batches[start:]]
            loader = torch.utils.data.DataLoader(
                BatchInputs(self.cache, self.train_clips, local), batch_size=None, num_workers=cfg.workers,
                pin_memory=ctx.device.type == "cuda",
            )
            self.net.train()
            for k, x in enumerate(loader, start=start):
                stats = self.train_step(x, batches[k], step)
                step += 1
                window_n += len(batches[k])
                self.epoch_loss_sum += stats["loss"]
                self.epoch_loss_count += 1
                self.last_loss = stats["loss"]
                if self.first_loss is None:
                    self.first_loss = stats["loss"]
                now = time.monotonic()
                rate = window_n / max(1e-9, now - window_t)
                if self.is_main:
                    lr = self.optimizer.param_groups[0]["lr"]
                    _append_row(progress_csv, PROGRESS_COLUMNS, {
                        **stats, "epoch": epoch + 1, "step": step, "batch": k + 1, "lr": lr,
                        "global_batch": int(stats["global_batch"]), "clips_per_s": rate, "elapsed_s": self.elapsed(),
                    })
                    if step % max(1, cfg.log_every) == 0 or k + 1 == self.steps_per_epoch:
                        eta = (self.total_steps - step) * self.batch / rate if rate > 0 else None
                        self.report(TrainProgress(
                            "train", k + 1, self.steps_per_epoch, epoch + 1, cfg.epochs, step, self.total_steps,
                            stats["loss"], {t: stats[f"loss_{t}"] for t in self.terms}, lr, rate, eta,
                        ))
                        window_t, window_n = now, 0
                stop = self.stop_requested()
                if stop or (cfg.save_every > 0 and step % cfg.save_every == 0):
                    self.save_resume(epoch, k + 1, step)
                if stop:
                    ctx.barrier()
                    self.write_run_json({"status": "cancelled", "step": step})
                    return self._result(cancelled=True, epoch=epoch, step=step)
            self.end_epoch(epoch, step)
            batch0 = 0
        if self.is_main:
            self.write_run_json({"status": "done", "result": _plain(asdict(self._result(False, cfg.epochs, step)))})
        ctx.barrier()
        return self._result(cancelled=False, epoch=cfg.epochs, step=step)

    @torch.no_grad()
    def recalibrate_batch_norm(self, epoch: int) -> None:
        """Re-estimate batch-norm statistics with the current weights on clean training batches (all processes pooled)."""
        cfg, ctx = self.cfg, self.ctx
        norms = [m for m in self.model.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if cfg.bn_batches <= 0 or not norms:
            return
        order = torch.randperm(len(self.train_clips), generator=_generator(cfg.seed, "batch-norm", epoch)).tolist()
        count = min(cfg.bn_batches, len(order) // self.batch)
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
        encoder, device = self.model.encoder, ctx.device
        encoder.train()
        lo = ctx.rank * self.local_batch
        for k in range(count):
            idx = order[k * self.batch : (k + 1) * self.batch][lo : lo + self.local_batch]
            x = torch.stack([self.cache.load(self.train_clips[i].path) for i in idx]).to(device)
            with torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                encoder(shrink_input(x, cfg.input_pool))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
            if ctx.world > 1:
                second = m.running_var + m.running_mean**2
                dist.all_reduce(m.running_mean, group=ctx.group)
                dist.all_reduce(second, group=ctx.group)
                m.running_mean /= ctx.world
                m.running_var.copy_(second / ctx.world - m.running_mean**2)

    def end_epoch(self, epoch: int, step: int) -> None:
        cfg, ctx = self.cfg, self.ctx
        self.report(TrainProgress("validate", epoch=epoch + 1, epochs=cfg.epochs, step=step, total_steps=self.total_steps))
        self.recalibrate_batch_norm(epoch)
        val = self.validate() if self.val_clips else {}
        self.last_val = val
        fingerprint = _fingerprint(self.model, ctx.device)
        prints = gather_rows_nograd(fingerprint.view(1, -1), ctx.group)
        self.in_step = bool((prints == prints[0]).all())
        if not self.in_step:
            raise RuntimeError(f"the {ctx.world} training processes hold different weights after epoch {epoch + 1}")
        train_loss = self.epoch_loss_sum / self.epoch_loss_count if self.epoch_loss_count else float("nan")
        self.epoch_loss_sum, self.epoch_loss_count = 0.0, 0
        if self.is_main:
            save_encoder(self.model.encoder, self.out / LAST_NAME)
            val_loss = val.get("val_loss")
            if val_loss is None or self.best_val is None or val_loss < self.best_val:
                self.best_val = val_loss if val_loss is not None else self.best_val
                save_encoder(self.model.encoder, self.out / BEST_NAME)
            _append_row(self.out / "epochs.csv", EPOCH_COLUMNS, {
                "epoch": epoch + 1, "step": step, "train_loss": train_loss, **val, "elapsed_s": self.elapsed(),
            })
            self.save_resume(epoch + 1, 0, step)
            plot_training(self.out / "progress.csv", self.out / "epochs.csv", self.out / "loss.png")
            msg = f"epoch {epoch + 1}/{cfg.epochs}: train loss {train_loss:.4f}"
            if "val_loss" in val:
                msg += f", validation loss {val['val_loss']:.4f}"
            if "val_zero_shot" in val:
                msg += f", validation zero-shot {100 * val['val_zero_shot']:.1f}% (chance {100 / len(self.labels):.1f}%)"
            self.report(TrainProgress("epoch", epoch + 1, cfg.epochs, epoch + 1, cfg.epochs, step, self.total_steps, train_loss, message=msg))
        ctx.barrier()

    def _result(self, cancelled: bool, epoch: int, step: int) -> TrainResult:
        last, best, resume = self.out / LAST_NAME, self.out / BEST_NAME, self.out / RESUME_NAME
        return TrainResult(
            out=self.out,
            encoder_last=last if last.exists() else None,
            encoder_best=best if best.exists() else None,
            resume_file=resume if resume.exists() else None,
            epochs_done=epoch,
            step=step,
            cancelled=cancelled,
            first_loss=getattr(self, "first_loss", None),
            last_loss=getattr(self, "last_loss", None),
            best_val_loss=getattr(self, "best_val", None),
            val_zero_shot=getattr(self, "last_val", {}).get("val_zero_shot"),
            world_size=self.ctx.world,
            in_step=getattr(self, "in_step", None),
        )


def _as_tuple(v: Any) -> Any:
    return tuple(_as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, Path):
        return str(v)
    return v


def train(cfg: TrainConfig, progress: Callable[[TrainProgress], None] | None = None, cancel: threading.Event | None = None) -> TrainResult:
    """Run (or resume, with ``cfg.resume``) a training; under torchrun each process calls this."""
    out = Path(cfg.out)
    state = None
    resume_file = out / RESUME_NAME
    if cfg.resume:
        if not resume_file.is_file():
            raise BadInputError(f"nothing to resume in {out}: {RESUME_NAME} is missing")
        state = load_checkpoint(resume_file)
        if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
            raise CheckpointError(f"{resume_file} is not a train-encoder resume file")
        cfg = _merge_config(state["config"], cfg)
    elif resume_file.exists():
        raise BadInputError(f"{out} already holds a training run; add --resume to continue it, or choose another --out")
    if cfg.clip is None:
        raise BadInputError("training needs the frozen CLIP's weights (--clip)")
    if cfg.epochs is None:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "epochs": DEFAULT_EPOCHS})
    if cfg.epochs < 1:
        raise BadInputError("--epochs must be at least 1")
    ctx = _setup_distributed(cfg.device, cfg.dist_backend)
    try:
        if ctx.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        ctx.barrier()
        return _Trainer(cfg, ctx, progress, cancel).run(state)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()

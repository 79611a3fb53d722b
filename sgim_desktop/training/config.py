"""A training run's settings, its progress reports and its result: the seams the CLI and tests fill and read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_EPOCHS = 50
# settings a resumed run may change; everything else comes from the run being resumed
RUNTIME_FIELDS = (
    "out", "device", "amp", "workers", "cache_dir", "save_every", "log_every", "eval_batch", "dist_backend", "resume",
)

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
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        path_fields = {"out", "clip", "folder", "vggsound_csv", "clips", "images", "init", "cache_dir"}
        known = {f.name for f in fields(cls)}
        kw = {k: (Path(v) if k in path_fields and v is not None else v) for k, v in d.items() if k in known}
        return cls(**kw)


def merge_config(saved: dict[str, Any], given: TrainConfig) -> TrainConfig:
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

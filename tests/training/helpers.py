"""Small generated datasets in the real layouts (tones, chirps, noises) and a tiny CLIP, for the training tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SR = 44100
# three seconds of sound in the encoder's ~10 s window (the rest is the front end's zero padding)
SECONDS = 3.0
TINY_CLIP_CONFIG = {
    "embed_dim": 512,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tone(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    return np.sin(2 * np.pi * rng.uniform(300, 900) * t + rng.uniform(0, 6.3))


def chirp(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    f0, f1, dur = rng.uniform(200, 400), rng.uniform(4000, 8000), n / sr
    return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur)))


def noise(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return rng.normal(0.0, 0.5, n).clip(-1, 1)


def clicks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    y = np.zeros(n)
    period = int(sr / rng.uniform(4, 8))
    y[rng.integers(0, period) :: period] = 1.0
    return y


SOUNDS = {"tone": tone, "chirp": chirp, "noise": noise, "clicks": clicks}


def write_clip(path: Path, kind: str, rng: np.random.Generator, seconds: float = SECONDS, sr: int = SR) -> Path:
    n = int(seconds * sr)
    y = SOUNDS[kind](rng, n, sr) * rng.uniform(0.3, 0.9) + rng.normal(0, 0.01, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.astype(np.float32), sr)
    return path


def make_folder(root: Path, per_class: int, seed: int, classes=("tone", "chirp", "noise")) -> Path:
    """``root/<label>/clip_N.wav``"""
    rng = np.random.default_rng(seed)
    for kind in classes:
        for i in range(per_class):
            write_clip(root / kind / f"clip_{i}.wav", kind, rng)
    return root


def make_vggsound(root: Path, per_class: int, seed: int, classes=("tone", "chirp", "noise")) -> tuple[Path, Path]:
    """VGGSound's headerless ``ytid,start,label,split`` CSV and a folder of ``<ytid>_<start:06d>.wav`` clips."""
    rng = np.random.default_rng(seed)
    clips = root / "clips"
    rows = []
    for kind in classes:
        for i in range(per_class):
            ytid, start = f"{kind[:2]}-{seed}_{i:03d}x", int(rng.integers(0, 300))
            split = "test" if i == per_class - 1 else "train"
            write_clip(clips / f"{ytid}_{start:06d}.wav", kind, rng)
            rows.append((ytid, start, kind, split))
    rows.append(("absentClip01", 30, "tone", "train"))  # listed, never downloaded
    csv_path = root / "vggsound.csv"
    with csv_path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return csv_path, clips


def make_esc50(root: Path, per_fold_class: int, seed: int, classes=("tone", "chirp", "noise"), folds: int = 5) -> Path:
    """ESC-50's ``meta/esc50.csv`` and ``audio/<fold>-<src>-<take>-<target>.wav``."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(1, folds + 1):
        for target, kind in enumerate(classes):
            for i in range(per_fold_class):
                name = f"{fold}-{1000 * seed + 10 * target + i}-A-{target}.wav"
                write_clip(root / "audio" / name, kind, rng, sr=SR if i % 2 == 0 else 22050)
                rows.append({"filename": name, "fold": fold, "target": target, "category": kind,
                             "esc10": "False", "src_file": str(i), "take": "A"})
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with (root / "meta" / "esc50.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def make_urbansound8k(root: Path, per_fold_class: int, seed: int, classes=("tone", "chirp", "noise"), folds: int = 10) -> Path:
    """UrbanSound8K's ``metadata/UrbanSound8K.csv`` and ``audio/fold<N>/<slice_file_name>``."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(1, folds + 1):
        for cid, kind in enumerate(classes):
            for i in range(per_fold_class):
                name = f"{100 * fold + i}-{cid}-0-{i}.wav"
                write_clip(root / "audio" / f"fold{fold}" / name, kind, rng)
                rows.append({"slice_file_name": name, "fsID": 100 * fold + i, "start": 0.0, "end": SECONDS,
                             "salience": 1, "fold": fold, "classID": cid, "class": kind})
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    with (root / "metadata" / "UrbanSound8K.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def tiny_clip_files(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny 512-d open_clip CLIP (random weights, fixed seed) as a safetensors file and its JSON config."""
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        embed_dim=TINY_CLIP_CONFIG["embed_dim"], vision_cfg=TINY_CLIP_CONFIG["vision_cfg"],
        text_cfg=TINY_CLIP_CONFIG["text_cfg"], quick_gelu=True,
    )
    with torch.no_grad():
        # At open_clip's initialisation every text comes out as nearly the same vector (the end-of-text token
        # dominates). Unit-scale word embeddings and silent start/end tokens make different labels point in
        # clearly different directions, as they do in a trained CLIP.
        model.token_embedding.weight.normal_(0.0, 1.0)
        model.token_embedding.weight[49406:].zero_()
        model.positional_embedding.zero_()
    weights, config = folder / "tiny_clip.safetensors", folder / "tiny_clip.json"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    return weights, config

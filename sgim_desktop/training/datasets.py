"""Labelled clips in the layouts people have (VGGSound, a plain folder, ESC-50, UrbanSound8K) and their cached encoder inputs.

Every clip is turned into the app's exact encoder input (``engine.audio``: decode -> 44.1 kHz -> log-mel ->
1 x 1 x 128 x 512, the window starting at 0 s as ``hear`` and the original code do) once. The input is
deterministic, so it is cached on disk (float32, 256 KiB a clip) and epochs and evaluations read it back
instead of redoing the resampling and the mel. The cache key covers the file (path, size, modification
time) and the front end's own source, so editing either makes a fresh entry.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sgim_desktop.errors import BadInputError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
INPUT_SHAPE = (1, 128, 512)


@dataclass(frozen=True)
class Clip:
    """One labelled sound file; ``rel`` names it inside its dataset (where its image is looked up)."""

    path: Path
    label: str
    rel: str
    fold: int | None = None
    image: Path | None = None


def label_text(label: str) -> str:
    """A class name as CLIP reads it: ESC-50's 'chirping_birds' -> 'chirping birds'."""
    return " ".join(label.replace("_", " ").split())


def _is_audio(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")


# -- training layouts ------------------------------------------------------------------------------


def folder_clips(root: str | Path) -> list[Clip]:
    """``root/<label>/<clip>`` (any depth below the label folder): the folder's name is the label."""
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(f"dataset folder not found: {root}")
    clips = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(label_dir.rglob("*")):
            if _is_audio(f):
                rel = f.relative_to(root).with_suffix("").as_posix()
                clips.append(Clip(path=f, label=label_dir.name, rel=rel))
    if not clips:
        loose = [p.name for p in root.iterdir() if _is_audio(p)][:3]
        hint = f" (found loose files such as {loose}: put each class in its own folder)" if loose else ""
        raise BadInputError(f"no sound files in {root}/<label>/ folders{hint}")
    return clips


@dataclass(frozen=True)
class VggsoundRows:
    clips: list[Clip]
    missing: list[str]  # 'ytid start' of rows whose clip is not in the folder
    skipped_split: int


def _vggsound_stems(ytid: str, start: int) -> tuple[str, ...]:
    """File names the common VGGSound downloaders give a clip (without extension)."""
    return (f"{ytid}_{start:06d}", f"{ytid}_{start}", f"{ytid}_{start:06d}_{start + 10:06d}",
            f"{ytid}_{start * 1000}_{(start + 10) * 1000}", ytid)


def vggsound_clips(csv_path: str | Path, clips_dir: str | Path, split: str = "train") -> VggsoundRows:
    """VGGSound's ``vggsound.csv`` (``ytid,start_seconds,label,split``, no header) with a folder of audio clips.

    Clips are found by the names downloaders use (``<ytid>_<start:06d>.wav`` and a few others, any
    audio extension, any depth). ``split`` keeps only rows of that split ('train', 'test' or 'all').
    """
    csv_path, clips_dir = Path(csv_path), Path(clips_dir)
    if not csv_path.is_file():
        raise BadInputError(f"VGGSound CSV not found: {csv_path}")
    if not clips_dir.is_dir():
        raise BadInputError(f"VGGSound clip folder not found: {clips_dir}")
    if split not in ("train", "test", "all"):
        raise BadInputError(f"unknown VGGSound split {split!r}: use train, test or all")
    index: dict[str, Path] = {}
    for f in sorted(clips_dir.rglob("*")):
        if _is_audio(f):
            index.setdefault(f.stem, f)
    clips, missing, skipped = [], [], 0
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) < 3:
                continue
            ytid, start_text, label = row[0].strip(), row[1].strip(), row[2].strip()
            try:
                start = int(float(start_text))
            except ValueError:
                continue  # a header line
            row_split = row[3].strip() if len(row) > 3 else "train"
            if split != "all" and row_split != split:
                skipped += 1
                continue
            path = next((index[s] for s in _vggsound_stems(ytid, start) if s in index), None)
            if path is None:
                missing.append(f"{ytid} {start}")
                continue
            clips.append(Clip(path=path, label=label, rel=path.stem))
    if not clips:
        raise BadInputError(
            f"none of the {len(missing)} {split} rows of {csv_path.name} has a clip in {clips_dir} "
            f"(expected names like <ytid>_<start:06d>.wav)"
        )
    return VggsoundRows(clips=clips, missing=missing, skipped_split=skipped)


def attach_images(clips: Sequence[Clip], images_dir: str | Path) -> list[Clip]:
    """Give each clip the picture at ``images_dir/<rel>.<jpg|png|...>`` when there is one (e.g. a video frame)."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise BadInputError(f"image folder not found: {images_dir}")
    out = []
    for c in clips:
        found = next((images_dir / (c.rel + ext) for ext in IMAGE_EXTENSIONS if (images_dir / (c.rel + ext)).is_file()), None)
        out.append(replace(c, image=found))
    return out


def split_validation(clips: Sequence[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Hold out ``fraction`` of every label's clips (at least one of a label with two or more), reproducibly."""
    if not 0.0 <= fraction < 1.0:
        raise BadInputError(f"the validation fraction must be in [0, 1), got {fraction}")
    by_label: dict[str, list[Clip]] = {}
    for c in clips:
        by_label.setdefault(c.label, []).append(c)
    train, val = [], []
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda c: c.rel)
        random.Random(f"{seed}:{label}").shuffle(group)
        n_val = 0
        if fraction > 0 and len(group) >= 2:
            n_val = min(len(group) - 1, max(1, round(fraction * len(group))))
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return train, val


# -- evaluation layouts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSet:
    """An evaluation set: clips with folds, the class names in class-index order, and what was missing."""

    name: str
    clips: list[Clip]
    classes: list[str]
    missing: list[str]

    def targets(self) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes)}
        return torch.tensor([index[c.label] for c in self.clips], dtype=torch.long)

    def folds(self) -> torch.Tensor:
        return torch.tensor([c.fold for c in self.clips], dtype=torch.long)


def _read_csv(path: Path, needed: Iterable[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise BadInputError(f"metadata file not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    lacking = [k for k in needed if not rows or k not in rows[0]]
    if lacking:
        raise BadInputError(f"{path} lacks the column(s) {lacking}")
    return rows


def _classes_by_index(pairs: Iterable[tuple[int, str]], where: Path) -> list[str]:
    names: dict[int, str] = {}
    for i, name in pairs:
        if names.setdefault(i, name) != name:
            raise BadInputError(f"{where}: class index {i} names both {names[i]!r} and {name!r}")
    if sorted(names) != list(range(len(names))):
        raise BadInputError(f"{where}: class indices are not 0..{len(names) - 1}")
    return [names[i] for i in range(len(names))]


def _labelled_set(name: str, rows: list[tuple[Path, str, int, int]], where: Path) -> LabelledSet:
    classes = _classes_by_index(((cid, label) for _, label, cid, _ in rows), where)
    clips, missing = [], []
    for path, label, _, fold in rows:
        if path.is_file():
            clips.append(Clip(path=path, label=label, rel=path.stem, fold=fold))
        else:
            missing.append(str(path))
    if not clips:
        raise BadInputError(f"none of the {len(rows)} clips listed in {where} was found (e.g. {missing[:1]})")
    return LabelledSet(name=name, clips=clips, classes=classes, missing=missing)


def esc50(root: str | Path) -> LabelledSet:
    """ESC-50 as distributed: ``meta/esc50.csv`` (filename, fold, target, category) and ``audio/<filename>``."""
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    rows = _read_csv(meta, ("filename", "fold", "target", "category"))
    listed = [(root / "audio" / r["filename"], r["category"], int(r["target"]), int(r["fold"])) for r in rows]
    return _labelled_set("ESC-50", listed, meta)


def urbansound8k(root: str | Path) -> LabelledSet:
    """UrbanSound8K as distributed: ``metadata/UrbanSound8K.csv`` and ``audio/fold<N>/<slice_file_name>``."""
    root = Path(root)
    meta = root / "metadata" / "UrbanSound8K.csv"
    rows = _read_csv(meta, ("slice_file_name", "fold", "classID", "class"))
    listed = [
        (root / "audio" / f"fold{int(r['fold'])}" / r["slice_file_name"], r["class"], int(r["classID"]), int(r["fold"]))
        for r in rows
    ]
    return _labelled_set("UrbanSound8K", listed, meta)


def folder_set(root: str | Path, folds: int = 5, seed: int = 0) -> LabelledSet:
    """A person's own ``label/clip`` folder as an evaluation set, each label's clips dealt into ``folds`` folds."""
    if folds < 2:
        raise BadInputError("a folder needs at least 2 folds for the linear probe")
    clips = folder_clips(root)
    classes = sorted({c.label for c in clips})
    dealt = []
    for label in classes:
        group = sorted((c for c in clips if c.label == label), key=lambda c: c.rel)
        random.Random(f"{seed}:{label}").shuffle(group)
        dealt.extend(replace(c, fold=1 + i % folds) for i, c in enumerate(group))
    return LabelledSet(name=Path(root).name, clips=dealt, classes=classes, missing=[])


# -- encoder inputs --------------------------------------------------------------------------------

_FRONT_END_ID: str | None = None


def front_end_id() -> str:
    """A fingerprint of the audio front end's source: the cache is only valid for the code that filled it."""
    global _FRONT_END_ID
    if _FRONT_END_ID is None:
        from sgim_desktop.engine import audio, decode, long_sound, mel, resample, sound

        h = hashlib.sha1()
        for module in (audio, decode, long_sound, mel, resample, sound):  # every module a cached input went through
            h.update(Path(module.__file__).read_bytes())
        _FRONT_END_ID = h.hexdigest()[:16]
    return _FRONT_END_ID


def compute_input(path: str | Path, resampler: str = "exact") -> torch.Tensor:
    """The app's encoder input of a file's first window: 1 x 128 x 512 float32."""
    from sgim_desktop.engine import audio

    return audio.encoder_input(audio.prepare(audio.decode(path), resampler), 0.0)[0]


class InputCache:
    """Encoder inputs on disk, one ``.npy`` a clip, written atomically; failures kept as ``.fail`` notes."""

    def __init__(self, directory: str | Path, resampler: str = "exact") -> None:
        self.directory = Path(directory)
        self.resampler = resampler

    def _key(self, path: Path) -> str | None:
        try:
            st = path.stat()
        except OSError:
            return None
        ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.resampler}|{front_end_id()}"
        return hashlib.sha1(ident.encode("utf-8")).hexdigest()

    def _files(self, key: str) -> tuple[Path, Path]:
        folder = self.directory / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.fail"

    def ensure(self, path: str | Path) -> str | None:
        """Make sure a clip's input is cached; None when it is, else why the clip cannot be used."""
        path = Path(path)
        key = self._key(path)
        if key is None:
            return f"{path}: file not found"
        npy, fail = self._files(key)
        if npy.is_file():
            return None
        if fail.is_file():
            return fail.read_text(encoding="utf-8", errors="replace").strip() or f"{path}: unreadable"
        npy.parent.mkdir(parents=True, exist_ok=True)
        try:
            x = compute_input(path, self.resampler).numpy().astype(np.float32)
        except (BadInputError, ValueError, RuntimeError, MemoryError) as exc:
            message = f"{path}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            _atomic_write_bytes(fail, message.encode("utf-8"))
            return message
        tmp = npy.with_name(f".{npy.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, x)
        os.replace(tmp, npy)
        return None

    def load(self, path: str | Path) -> torch.Tensor:
        key = self._key(Path(path))
        if key is None:
            raise BadInputError(f"{path}: file not found (it was there when the cache was filled)")
        npy, _ = self._files(key)
        if not npy.is_file():
            err = self.ensure(path)
            if err:
                raise BadInputError(err)
        x = torch.from_numpy(np.load(npy))
        if tuple(x.shape) != INPUT_SHAPE:
            raise BadInputError(f"cache entry {npy} has shape {tuple(x.shape)}, expected {INPUT_SHAPE}; delete it")
        return x

    def fill(
        self,
        paths: Sequence[Path],
        workers: int = 0,
        on_done: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[Path, str]:
        """Cache every path (in ``workers`` processes when > 0); returns the failures, path -> reason."""
        failures: dict[Path, str] = {}
        if workers > 0 and len(paths) > 1:
            loader = torch.utils.data.DataLoader(
                _EnsureEach(self, list(paths)), batch_size=None, num_workers=workers, collate_fn=lambda x: x
            )
            results: Iterable[tuple[Path, str | None]] = loader
        else:
            results = ((p, self.ensure(p)) for p in paths)
        for n, (path, err) in enumerate(results, 1):
            if err:
                failures[Path(path)] = err
            if on_done is not None:
                on_done(n, len(paths))
            if should_stop is not None and should_stop():
                break
        return failures


class _EnsureEach(torch.utils.data.Dataset):
    def __init__(self, cache: InputCache, paths: list[Path]) -> None:
        self.cache, self.paths = cache, paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Path, str | None]:
        return self.paths[i], self.cache.ensure(self.paths[i])


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class ClipInputs(torch.utils.data.Dataset):
    """Cached encoder inputs of clips, by index (1 x 128 x 512 each)."""

    def __init__(self, cache: InputCache, clips: Sequence[Clip]) -> None:
        self.cache, self.clips = cache, list(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.cache.load(self.clips[i].path)


class BatchInputs(torch.utils.data.Dataset):
    """One stacked tensor per batch of clip indices: what a DataLoader with ``batch_size=None`` hands out."""

    def __init__(self, cache: InputCache, clips: Sequence[Clip], batches: Sequence[Sequence[int]]) -> None:
        self.cache, self.clips, self.batches = cache, list(clips), [list(b) for b in batches]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> torch.Tensor:
        return torch.stack([self.cache.load(self.clips[i].path) for i in self.batches[k]])


def shrink_input(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool the encoder input by ``factor`` (a test-only speed knob; 1, the default, is the app's input)."""
    if factor <= 1:
        return x
    return F.avg_pool2d(x, factor)

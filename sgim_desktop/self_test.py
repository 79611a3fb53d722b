"""``sgim-desktop --self-test``: prove every native part of an installed or frozen build works.

Frozen torch + Qt apps break in known places (missing .py sources, open_clip's vocabulary, PortAudio,
Qt's platform plugin); each check exercises one of them for real and prints one line.
"""

from __future__ import annotations

import io
import os
import sys
import time
import traceback
from collections.abc import Callable


def _say(line: str) -> None:
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _check_torch() -> str:
    import torch

    x = torch.randn(64, 64, requires_grad=True)
    (x @ x).sum().backward()
    cuda = f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no CUDA (CPU)"
    return f"torch {torch.__version__}, autograd ok, {cuda}"


def _check_torchaudio() -> str:
    import torch
    import torchaudio
    import torchaudio.functional as AF

    y = AF.resample(torch.randn(4800), 48000, 44100)
    assert y.numel() == 4410
    return f"torchaudio {torchaudio.__version__}"


def _check_soundfile() -> str:
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(441, dtype=np.float32), 44100, format="WAV")
    buf.seek(0)
    data, rate = sf.read(buf)
    assert rate == 44100 and len(data) == 441
    return f"soundfile {sf.__version__}, {sf.__libsndfile_version__ if hasattr(sf, '__libsndfile_version__') else 'libsndfile'}"


def _check_audio_devices() -> str:
    from sgim_desktop import audio_io

    problem = audio_io.audio_unavailable()
    if problem:
        raise RuntimeError(problem)
    devices = audio_io.list_input_devices()
    if not devices:
        return "PortAudio ok; no input device (recording will say so)"
    default = next((d.name for d in devices if d.is_default), devices[0].name)
    return f"PortAudio ok; {len(devices)} input device(s), default: {default}"


def _check_tokenizer() -> str:
    import open_clip

    tok = open_clip.get_tokenizer("ViT-B-32-quickgelu")
    ids = tok(["the sound of rain"])
    assert ids.shape == (1, 77) and int(ids[0, 0]) == 49406
    return f"open_clip {open_clip.__version__} tokenizer and vocabulary"


def _check_resources() -> str:
    from sgim_desktop.checkpoints.catalog import load_catalog
    from sgim_desktop.engine.labels import load_labels

    catalog = load_catalog()
    n_esc, n_vgg = len(load_labels("esc50")), len(load_labels("vggsound"))
    return f"catalog ({len(list(catalog))} checkpoints), labels esc50 {n_esc}, vggsound {n_vgg}"


def tiny_clip():
    """A small CLIP of the ViT-B/32 family (same tokenizer, 512-d space) for quick checks."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    model = open_clip.CLIP(
        embed_dim=512,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=32, image_size=224),
        text_cfg=CLIPTextCfg(layers=1, width=64, heads=2, context_length=77, vocab_size=49408),
        quick_gelu=True,
    )
    from sgim_desktop.synthetic_weights import fill_

    return fill_(model, "generic").eval().requires_grad_(False)


def _check_edit() -> str:
    import numpy as np
    import torch

    from sgim_desktop.engine import api
    from sgim_desktop.engine.audio_encoder import rule_weighted_audio_encoder
    from sgim_desktop.engine.clip_space import ClipSpace
    from sgim_desktop.engine.stylegan2 import rule_weighted_generator

    space = ClipSpace(tiny_clip(), rule_weighted_audio_encoder())
    models = api.EditModels(generator=rule_weighted_generator(64), space=space)
    t = np.arange(44100 * 2) / 44100
    sound = api.open_sound(api.Sound((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, "tone"))
    targets = api.build_targets(models, [api.SoundPick(sound.prepared, 0.0, 1.0, "tone")], "rain", 0.5)
    run = api.start_edit(models, api.Picture(seed=1), targets, api.EditPlan(steps=2, preview_every=1))
    steps = list(run)
    assert len(steps) == 2 and run.result is not None and run.result.image.shape == (64, 64, 3)
    assert all(np.isfinite(s.loss) for s in steps) and torch.isfinite(run.result.latent).all()
    return f"2 edit steps on small rule-weighted models, loss {steps[-1].loss:.4f}"


def _check_faces() -> str:
    import numpy as np

    from sgim_desktop.engine.faces import FaceDetector, weights_dir

    found = FaceDetector().detect(np.full((64, 64, 3), 128, np.uint8))
    assert found == [], "a flat grey picture shows no face"
    return f"MTCNN face detector weights from {weights_dir()}"


def _check_window() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from sgim_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow()
    window.show()
    app.processEvents()
    title = window.windowTitle()
    window.close()
    app.processEvents()
    return f"Qt {app.platformName()} platform, main window opened and closed ({title!r})"


CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("torch", _check_torch),
    ("torchaudio", _check_torchaudio),
    ("soundfile", _check_soundfile),
    ("audio devices", _check_audio_devices),
    ("tokenizer", _check_tokenizer),
    ("resources", _check_resources),
    ("edit", _check_edit),
    ("faces", _check_faces),
    ("window", _check_window),
]


def run_self_test() -> int:
    failures = 0
    started = time.perf_counter()
    for name, check in CHECKS:
        t0 = time.perf_counter()
        try:
            detail = check()
            _say(f"ok   {name}: {detail} ({time.perf_counter() - t0:.1f} s)")
        except Exception as exc:  # noqa: BLE001 (every failing check is reported, and the next one still runs)
            failures += 1
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            _say(f"FAIL {name}: {type(exc).__name__}: {first}")
            if os.environ.get("SGIM_SELF_TEST_TRACE"):
                traceback.print_exc()
    _say(f"{len(CHECKS) - failures} passed, {failures} failed ({time.perf_counter() - started:.1f} s)")
    return 1 if failures else 0

"""Take docs/screenshot-instant.png: the real window with an instant edit in the history and live mode following
the (virtual) microphone, the Instant panel showing its sliders and the live frame's figures.

Runs on a real X server with PulseAudio (use ``xvfb-run -a -s "-screen 0 1400x900x24" python
scripts/screenshot_instant.py``): scripts/virtual-mic.sh makes a null sink whose monitor is the default
microphone, and the rain is played into it while live mode listens. No checkpoint is downloaded: the
models are the rule-weighted ones the tests use and the directions are the engine's build at small
settings, so the picture is the test generator's, not a real landscape.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from window_shots import save_shot, wait  # beside this script: its folder is first on sys.path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AUDIO = REPO.parent / "shared" / "fixtures" / "audio"


def build_models(size: int, folder: Path):
    """The rule-weighted models, the generator written to ``folder`` and its directions built beside it."""
    import torch

    from sgim_desktop.engine.audio_encoder import rule_weighted_audio_encoder
    from sgim_desktop.engine.clip_space import ClipSpace, rule_weighted_clip
    from sgim_desktop.engine.directions import DirectionsSettings, build_directions
    from sgim_desktop.engine.edit import EditModels
    from sgim_desktop.engine.stylegan2 import rule_weighted_generator

    generator = rule_weighted_generator(size)
    file = folder / f"rule-{size}.pt"
    torch.save({"g_ema": generator.state_dict()}, file)
    clip = rule_weighted_clip()
    models = EditModels(generator=generator, space=ClipSpace(clip, rule_weighted_audio_encoder()))
    settings = DirectionsSettings(basis=4, chunk=4, probe_latents=1, response_latents=1, calibrate_latents=1,
                                  labels=("esc50",))
    print("building the directions (small settings)…", flush=True)
    build_directions(models, clip, file, settings=settings).run_to_end()
    return models, file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshot-instant.png"))
    parser.add_argument("--sound", default=str(AUDIO / "thunderstorm.wav"), help="dropped: the instant edit")
    parser.add_argument("--mic-sound", default=str(AUDIO / "raining.wav"), help="played into the virtual microphone")
    parser.add_argument("--size", type=int, default=256, help="rule-weighted generator size")
    parser.add_argument("--frames", type=int, default=2, help="live frames to wait for before the picture")
    args = parser.parse_args()
    os.environ["SGIM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="sgim-shot-")
    os.environ.setdefault("SGIM_MODELS_DIR", tempfile.mkdtemp(prefix="sgim-shot-models-"))
    mic = subprocess.run(["bash", str(REPO / "scripts" / "virtual-mic.sh")], capture_output=True, text=True)
    if mic.returncode != 0:
        raise SystemExit(f"no virtual microphone: {mic.stderr.strip()}")

    from PySide6.QtWidgets import QApplication

    from sgim_desktop.ui.main_window import MainWindow
    from sgim_desktop.ui.providers import PrebuiltModels

    app = QApplication([sys.argv[0]])
    app.setApplicationName("sgim-desktop")
    models, file = build_models(args.size, Path(tempfile.mkdtemp(prefix="sgim-shot-generator-")))
    provider = PrebuiltModels(models, "rule", f"Rule-weighted test generator ({args.size} px)", "landscape",
                              generator_file=str(file))
    window = MainWindow(models=provider, labels="esc50")
    window.resize(1280, 900)
    window.show()
    wait(app, lambda: window.instant.ready(), 600)
    shown: list = []
    window.instant.shown.connect(lambda record, timings: shown.append(timings))
    window.open_paths([args.sound])
    wait(app, lambda: bool(shown), 600)
    print(f"instant edit: the picture {shown[0]['picture_ms']:.0f} ms after the target", flush=True)
    window.recorder.refresh_devices(rescan=True)
    frames: list = []
    window.live.frameShown.connect(frames.append)
    player = subprocess.Popen(["paplay", "--device=sgim_null", "--latency-msec=20", args.mic_sound])
    try:
        window.instant_panel.live_button.click()
        wait(app, lambda: len(frames) >= args.frames, 600)
        save_shot(app, window, args.out)
        window.instant_panel.live_button.click()
        wait(app, lambda: not window.live.is_live(), 600)
    finally:
        player.terminate()
        player.wait(timeout=10)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

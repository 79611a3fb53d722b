"""Take docs/screenshot.png: the real window with a sound loaded and a finished edit, as a new user sees it.

The mixer shows the novice path (sound weight, text, strength) with the paper's knobs folded under
"Advanced" (``--advanced`` shows them open). Settings live in a fresh temporary folder, so nothing
remembered on this machine changes the picture.

Runs on a real X server (use ``xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot.py``).
No checkpoint is downloaded: the models are the rule-weighted ones the tests use, so the picture is
the test generator's, not a real landscape.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from window_shots import save_shot, wait  # beside this script: its folder is first on sys.path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshot.png"))
    parser.add_argument("--sound", default=str(REPO.parent / "shared" / "fixtures" / "audio" / "thunderstorm.wav"))
    parser.add_argument("--size", type=int, default=256, help="rule-weighted generator size")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--advanced", action="store_true", help="show the Advanced section open")
    args = parser.parse_args()
    os.environ["SGIM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="sgim-shot-")
    os.environ.setdefault("SGIM_MODELS_DIR", tempfile.mkdtemp(prefix="sgim-shot-models-"))

    from PySide6.QtWidgets import QApplication

    from sgim_desktop.engine.audio_encoder import rule_weighted_audio_encoder
    from sgim_desktop.engine.clip_space import ClipSpace, rule_weighted_clip
    from sgim_desktop.engine.edit import EditModels
    from sgim_desktop.engine.stylegan2 import rule_weighted_generator
    from sgim_desktop.ui.main_window import MainWindow
    from sgim_desktop.ui.providers import PrebuiltModels

    app = QApplication([sys.argv[0]])
    app.setApplicationName("sgim-desktop")
    models = EditModels(generator=rule_weighted_generator(args.size),
                        space=ClipSpace(rule_weighted_clip(), rule_weighted_audio_encoder()))
    provider = PrebuiltModels(models, "rule", f"Rule-weighted test generator ({args.size} px)", "landscape")
    window = MainWindow(models=provider, labels="esc50")
    window.resize(1280, 820)
    window.mixer.set_advanced_open(args.advanced)
    window.show()
    window.open_paths([args.sound])
    wait(app, lambda: bool(window.session.state.clips), 60)
    key = window.session.state.clips[0].key
    wait(app, lambda: key in window._heard, 600)
    window.mixer.text.setText("a stormy sky")
    window.mixer.text_weight.setValue(0.5)
    window.mixer.steps.setValue(args.steps)
    window.run_edit()
    wait(app, lambda: window.session.state.edit is not None, 1800)
    save_shot(app, window, args.out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

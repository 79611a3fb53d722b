"""``sgim-desktop hear``: what the audio encoder hears in a sound, as zero-shot labels."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from sgim_desktop.commands.common import TerminalProgress, add_checkpoint_arg, checkpoint_path, pick_device

HELP = "print the labels closest to a sound in CLIP space (zero-shot)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a sound file (WAV, FLAC, OGG, MP3, ...)")
    p.add_argument("--start", type=float, default=None, metavar="SEC",
                   help="start of the ~10 s window heard (default: the loudest window)")
    p.add_argument("--average", action="store_true", help="embed a long sound as the average of all its windows")
    p.add_argument("--top", type=int, default=5, metavar="K")
    p.add_argument("--labels", default="vggsound", metavar="FILE|esc50|vggsound", help="a label list, one per line")
    p.add_argument("--template", default="{}", help="prompt template for each label, e.g. 'the sound of {}'")
    add_checkpoint_arg(p, "--audio-encoder", "audio_encoder", "audio encoder (resnet18_57.pth layout)")
    add_checkpoint_arg(p, "--clip", "clip", "CLIP ViT-B/32 openai state dict (open_clip_model.safetensors)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.engine.decode import decode

    sound = decode(args.file)  # before torch loads: a file that cannot be heard is refused at once
    from sgim_desktop.engine import api

    labels = api.load_labels(args.labels)
    bar = TerminalProgress("reading the whole sound")
    opened = api.open_sound(sound, progress=lambda done, total: bar(SimpleNamespace(step=done, total=total)))
    start = opened.loudest_start_s if args.start is None else args.start
    warnings = [*sound.warnings, *opened.prepared.warnings, *([] if args.average else api.window_warnings(opened, start))]
    notes = [f"warning: {w}" for w in warnings] + ([f"note: {api.average_note(opened)}"] if args.average else [])
    for line in notes if sys.stderr is not None else ():
        print(line, file=sys.stderr)
    pick = api.SoundPick(opened.prepared, start, average=args.average)
    heard = api.hear_with_files(checkpoint_path(args.clip, "clip"), checkpoint_path(args.audio_encoder, "audio_encoder"),
                                pick, labels, top_k=args.top, template=args.template, device=pick_device(args.device))
    if args.json:
        print(json.dumps({
            "file": str(Path(args.file)),
            "start_s": api.window_start_s(opened, start),
            "duration_s": round(sound.duration_s, 3),
            "top": [{"label": h.label, "probability": h.probability, "cosine": h.cosine} for h in heard],
        }))
    else:
        for h in heard:
            print(f"{h.probability:6.1%}  {h.label}")
    return 0

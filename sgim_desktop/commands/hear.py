"""``sgim-desktop hear``: what the audio encoder hears in a sound, as zero-shot labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sgim_desktop.commands.common import add_checkpoint_arg, checkpoint_path, pick_device

HELP = "print the labels closest to a sound in CLIP space (zero-shot)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a sound file (WAV, FLAC, OGG, MP3, ...)")
    p.add_argument("--start", type=float, default=0.0, metavar="SEC", help="start of the ~10 s window heard")
    p.add_argument("--average", action="store_true", help="embed a long sound as the average of all its windows")
    p.add_argument("--top", type=int, default=5, metavar="K")
    p.add_argument("--labels", default="vggsound", metavar="FILE|esc50|vggsound", help="a label list, one per line")
    p.add_argument("--template", default="{}", help="prompt template for each label, e.g. 'the sound of {}'")
    add_checkpoint_arg(p, "--audio-encoder", "audio_encoder", "audio encoder (resnet18_57.pth layout)")
    add_checkpoint_arg(p, "--clip", "clip", "CLIP ViT-B/32 openai state dict (open_clip_model.safetensors)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.engine import audio
    from sgim_desktop.engine.audio_encoder import load_audio_encoder
    from sgim_desktop.engine.clip_space import ClipSpace, load_clip
    from sgim_desktop.engine.label_cache import hear_cached
    from sgim_desktop.engine.labels import load_labels

    labels = load_labels(args.labels)
    sound = audio.decode(args.file)
    device = pick_device(args.device)
    encoder = load_audio_encoder(checkpoint_path(args.audio_encoder, "audio_encoder"), device)
    clip_file = checkpoint_path(args.clip, "clip")
    clip = load_clip(clip_file, device)
    space = ClipSpace(clip, encoder, device)
    prep = audio.prepare(sound)
    if args.average:
        emb = space.encode_sound(audio.encoder_inputs_all_windows(prep), average=True)
    else:
        emb = space.encode_sound(audio.encoder_input(prep, args.start))
    heard = hear_cached(space, clip_file, emb[0], labels, top_k=args.top, template=args.template)
    if args.json:
        print(json.dumps({
            "file": str(Path(args.file)),
            "start_s": audio.start_frame_for(args.start, prep.total_frames) * audio.HOP / audio.SAMPLE_RATE,
            "duration_s": round(sound.duration_s, 3),
            "top": [{"label": h.label, "probability": h.probability, "cosine": h.cosine} for h in heard],
        }))
    else:
        for h in heard:
            print(f"{h.probability:6.1%}  {h.label}")
    return 0

"""``sgim-desktop evaluate-encoder``: zero-shot and linear-probe accuracy of an audio encoder on ESC-50 / UrbanSound8K."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

from sgim_desktop.commands.common import add_checkpoint_arg, checkpoint_path

HELP = "measure an audio encoder: zero-shot and linear-probe accuracy on ESC-50, UrbanSound8K or a folder"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--esc50", type=Path, metavar="DIR", help="ESC-50 as distributed (meta/esc50.csv, audio/)")
    p.add_argument("--urbansound8k", type=Path, metavar="DIR", help="UrbanSound8K (metadata/UrbanSound8K.csv, audio/foldN/)")
    p.add_argument("--folder", type=Path, metavar="DIR", help="your own clips as DIR/<label>/<clip>.wav")
    p.add_argument("--folds", type=int, default=5, help="folds dealt for --folder's linear probe")
    add_checkpoint_arg(p, "--audio-encoder", "audio_encoder", "audio encoder to measure (resnet18_57.pth layout)")
    add_checkpoint_arg(p, "--clip", "clip", "CLIP (ViT-B/32 openai state dict, or the weights of --clip-config)")
    p.add_argument("--clip-config", metavar="NAME|JSON", help="another 512-d open_clip architecture (default ViT-B/32)")
    p.add_argument("--template", default="{}", help="zero-shot prompt for each class name (default '{}': the name alone)")
    p.add_argument("--no-linear-probe", action="store_true", help="zero-shot only")
    p.add_argument("--probe-c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--out", type=Path, metavar="DIR", help="write results.md and results.json here")
    p.add_argument("--cache-dir", type=Path, metavar="DIR", help="encoder-input cache (default OUT/cache, else temporary)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="processes computing encoder inputs")
    p.add_argument("--json", action="store_true", help="print JSON instead of the Markdown table")
    p.add_argument("--input-pool", type=int, default=1, help=argparse.SUPPRESS)  # tests only: shrinks the input


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.commands.common import TerminalProgress, pick_device
    from sgim_desktop.engine.audio_encoder import load_audio_encoder
    from sgim_desktop.errors import BadInputError
    from sgim_desktop.training import datasets
    from sgim_desktop.training.clip_tower import load_clip_tower
    from sgim_desktop.training.evaluate import evaluate_set, results_markdown, write_results

    sets = []
    if args.esc50:
        sets.append(datasets.esc50(args.esc50))
    if args.urbansound8k:
        sets.append(datasets.urbansound8k(args.urbansound8k))
    if args.folder:
        sets.append(datasets.folder_set(args.folder, args.folds))
    if not sets:
        raise BadInputError("name at least one dataset: --esc50 DIR, --urbansound8k DIR or --folder DIR")
    if "{}" not in args.template:
        raise BadInputError("the --template must contain {} where the class name goes")
    if args.clip_config and not args.clip:
        raise BadInputError("--clip-config needs --clip FILE, the weights of that architecture")
    device = pick_device(args.device)
    encoder_path = checkpoint_path(args.audio_encoder, "audio_encoder")
    clip_path = Path(args.clip) if args.clip_config else checkpoint_path(args.clip, "clip")
    encoder = load_audio_encoder(encoder_path, device)
    tower = load_clip_tower(clip_path, args.clip_config, device)
    with tempfile.TemporaryDirectory(prefix="sgim-eval-") as tmp:
        cache_dir = args.cache_dir or (args.out / "cache" if args.out else Path(tmp))
        cache = datasets.InputCache(cache_dir)
        results = []
        for d in sets:
            bars = {stage: TerminalProgress(f"{d.name}: {stage}") for stage in ("inputs", "embeddings")}
            results.append(evaluate_set(
                d, encoder, tower.encode_texts, cache, device, args.template, not args.no_linear_probe, args.probe_c,
                args.batch_size, args.workers, args.input_pool,
                progress=lambda stage, done, total, bars=bars: bars[stage](SimpleNamespace(step=done, total=total)),
            ))
    about = {"audio encoder": str(encoder_path), "CLIP": f"{clip_path} ({tower.name})", "device": device}
    if args.out:
        md, js = write_results(results, args.out, about)
    if args.json:
        print(json.dumps({"about": about, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(results_markdown(results, about), end="")
    if args.out:
        print(f"written: {md}, {js}", file=sys.stderr)
    return 0

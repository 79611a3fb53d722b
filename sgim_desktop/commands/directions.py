"""``sgim-desktop directions build``: the one-off precompute that makes instant edits possible for a generator."""

from __future__ import annotations

import argparse
import json
import sys
import time

from sgim_desktop.commands.common import add_checkpoint_arg, checkpoint_path, pick_device

HELP = "build a generator's directions for instant edits and live mode (once per generator; resumable)"


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="measure the directions (resumes an interrupted build)",
                       description="Measure how CLIP sees the generator's latent directions. Kill or Ctrl-C "
                                   "keeps the work done in FILE.partial; running again resumes it.")
    add_checkpoint_arg(b, "--generator", "generator", "StyleGAN2 generator (rosinality .pt)")
    add_checkpoint_arg(b, "--clip", "clip", "CLIP ViT-B/32 openai state dict")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--out", metavar="FILE", help="where to write (default: beside the generator, NAME.directions.safetensors)")
    b.add_argument("--basis", type=int, metavar="K", help="latent atoms measured (default 48; fewer: quicker, coarser)")
    b.add_argument("--probe-latents", type=int, metavar="N", help="latents of the probe pass (default 6)")
    b.add_argument("--response-latents", type=int, metavar="N", help="latents of the response pass (default 12)")
    b.add_argument("--calibrate-latents", type=int, metavar="N", help="latents of the calibration (default 3)")
    b.add_argument("--labels", nargs="+", choices=["esc50", "vggsound"], metavar="LIST",
                   help="label lists giving the probe directions (default: esc50 vggsound)")
    b.add_argument("--json", action="store_true", help="one JSON object per unit of work, then one for the result")


def settings_from(args: argparse.Namespace):
    from dataclasses import replace

    from sgim_desktop.engine.directions import DirectionsSettings

    settings = DirectionsSettings()
    changes = {name: getattr(args, name) for name in ("basis", "probe_latents", "response_latents", "calibrate_latents")
               if getattr(args, name, None) is not None}
    if getattr(args, "labels", None):
        changes["labels"] = tuple(dict.fromkeys(args.labels))
    if "basis" in changes:
        changes["chunk"] = min(settings.chunk, changes["basis"])
    return replace(settings, **changes)


def run(args: argparse.Namespace) -> int:
    import torch

    from sgim_desktop.engine import speed
    from sgim_desktop.engine.clip_space import load_clip
    from sgim_desktop.engine.directions import build_directions
    from sgim_desktop.engine.edit import EditModels
    from sgim_desktop.engine.stylegan2 import load_generator

    settings = settings_from(args)
    settings.check()
    device = pick_device(args.device)
    generator_file = checkpoint_path(args.generator, "generator")
    models = EditModels(generator=load_generator(generator_file, device=device))
    clip = load_clip(checkpoint_path(args.clip, "clip"), device)
    if device == "cpu":
        speed.keep_freed_memory()
    conv_dtype = speed.fast_convolution_dtype(device, models.generator.config.size)
    build = build_directions(models, clip, generator_file, args.out, settings, conv_dtype=conv_dtype)
    started = time.perf_counter()
    line = _ProgressLine()
    try:
        for step in build:
            if args.json:
                print(json.dumps({"stage": step.stage, "done": step.done, "total": step.total,
                                  "fraction": round(step.fraction, 4), "elapsed_s": round(step.elapsed_s, 2),
                                  "eta_s": None if step.eta_s is None else round(step.eta_s, 1)}), flush=True)
            else:
                line(step, build.resumed_units)
    finally:
        line.close()
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"done": True, "out": str(build.out), "seconds": round(seconds, 2),
                          "resumed_units": build.resumed_units, "gain": build.result.gain,
                          "convolutions": str(conv_dtype or torch.float32).removeprefix("torch.")}), flush=True)
    elif sys.stdout is not None:
        print(f"wrote {build.out} in {seconds:.0f} s")
    return 0


class _ProgressLine:
    """Stage, percentage and ETA on one stderr line, only on a terminal."""

    def __init__(self) -> None:
        stream = sys.stderr
        self.enabled = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.shown = False

    def __call__(self, step, resumed: int) -> None:
        if not self.enabled:
            return
        eta = "" if step.eta_s is None else f", {int(step.eta_s) // 60}m{int(step.eta_s) % 60:02d}s left"
        note = f" (resumed at {resumed})" if resumed else ""
        try:
            sys.stderr.write(f"\rdirections: {step.stage} {step.done}/{step.total} {100 * step.fraction:5.1f}%{eta}{note}   ")
            sys.stderr.flush()
            self.shown = True
        except (OSError, ValueError):
            self.enabled = False

    def close(self) -> None:
        if self.shown:
            try:
                sys.stderr.write("\n")
            except (OSError, ValueError):
                pass

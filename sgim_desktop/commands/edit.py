"""``sgim-desktop edit``: the whole edit headless, with the same engine the window uses."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgim_desktop.commands.common import TerminalProgress, add_checkpoint_arg, checkpoint_path, pick_device
from sgim_desktop.commands.invert import add_photo_args

HELP = "edit a generated picture (seed or latent) or a photo toward sounds and/or a text"


class _SoundAction(argparse.Action):
    """``--sound`` opens a new sound entry; ``--start`` and ``--sound-weight`` apply to the latest one."""

    def __call__(self, parser, namespace, values, option_string=None):
        sounds = getattr(namespace, "sounds", None) or []
        if self.dest == "sounds":
            sounds.append({"path": values, "start": None, "weight": 1.0})
        elif not sounds:
            setattr(namespace, f"pending_{self.dest}", values)
        else:
            sounds[-1][self.dest] = values
        namespace.sounds = sounds


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sound", dest="sounds", action=_SoundAction, metavar="FILE", default=[],
                   help="a sound file; may be repeated, each followed by its own --start and --sound-weight")
    p.add_argument("--start", dest="start", action=_SoundAction, type=float, metavar="SEC",
                   help="start of the ~10 s window heard in the preceding --sound (default: its loudest window)")
    p.add_argument("--sound-weight", dest="weight", action=_SoundAction, type=float, metavar="W",
                   help="weight of the preceding --sound (default 1)")
    p.add_argument("--average-windows", action="store_true", help="embed each long sound as the mean of its windows")
    p.add_argument("--text", metavar="TEXT", help="a text prompt mixed into the target")
    p.add_argument("--text-weight", type=float, default=1.0, metavar="W")
    p.add_argument("--mix", choices=["joint", "splice"], default="joint",
                   help="joint: one loss with both terms; splice: coarse layers from the sound edit, fine from the text edit")
    p.add_argument("--split-layer", type=int, default=8, metavar="K")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seed", type=int, metavar="N")
    src.add_argument("--latent", metavar="FILE.pt")
    src.add_argument("--image", metavar="PHOTO",
                     help="a real photo: its face (or centre) is aligned, inverted, edited and pasted back")
    add_photo_args(p, "--invert-steps")
    p.add_argument("--no-paste-back", action="store_true",
                   help="with --image: write the edited square instead of pasting it back into the photo")
    p.add_argument("--truncation", type=float, default=0.7, metavar="T")
    add_checkpoint_arg(p, "--generator", "generator", "StyleGAN2 generator (rosinality .pt)")
    add_checkpoint_arg(p, "--audio-encoder", "audio_encoder", "audio encoder (resnet18_57.pth layout)")
    add_checkpoint_arg(p, "--clip", "clip", "CLIP ViT-B/32 openai state dict")
    p.add_argument("--identity", metavar="PATH|ID", help="ArcFace IR-SE50 (model_ir_se50.pth), needed for --lambda-id > 0")
    p.add_argument("--steps", type=int, default=300, metavar="N")
    p.add_argument("--lr", type=float, default=0.1, metavar="X")
    p.add_argument("--lambda-sim", type=float, default=0.008, metavar="X")
    p.add_argument("--lambda-id", type=float, default=0.0, metavar="X")
    p.add_argument("--layer-masking", action="store_true", help="adaptive layer masking (the paper's)")
    p.add_argument("--strength", type=float, default=1.0, metavar="A", help="result = w0 + A (w - w0)")
    p.add_argument("--clip-input", choices=["original", "normalized"], default="original",
                   help="original: the paper's raw x7/avg-pool input; normalized: CLIP's own preprocessing")
    p.add_argument("--preview-every", type=int, default=10, metavar="K")
    p.add_argument("--speed", choices=["exact", "fast"], default="exact",
                   help="exact: the original's computation and schedule; fast: bfloat16 convolutions where the "
                        "hardware has them, else the exact computation in 60%% of the steps (see docs/speed.md)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.add_argument("--save-latent", metavar="FILE.pt")
    p.add_argument("--json", action="store_true", help="one JSON object per step, then one for the result")
    p.add_argument("--instant", action="store_true",
                   help="edit at once from the generator's directions (sgim-desktop directions build), no optimisation")
    p.add_argument("--directions", metavar="FILE", help="with --instant: the directions file (default: beside the generator)")
    still = p.add_mutually_exclusive_group()
    still.add_argument("--channels", type=int, metavar="K", help="with --instant: move only the K largest latent channels")
    still.add_argument("--disentangle", type=float, metavar="F", help="with --instant: the share of latent channels kept still")
    p.add_argument("--refine-steps", type=int, metavar="N", help="with --instant: then N steps of the paper's loop from there")
    p.add_argument("--layers", metavar="SPEC",
                   help="with --instant: move only these generator layers, e.g. 4-17 or 4- (default: all; with "
                        "--lambda-id above 0, all but the coarse 0-3, which hold a face's pose and shape)")


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.engine.export import check_folder, check_image_path

    if args.instant:
        from sgim_desktop.commands.edit_instant import run_instant

        return run_instant(args)
    check_image_path(args.out)
    if args.save_latent:
        check_folder(args.save_latent)
    ready = prepare_edit(args)
    from sgim_desktop.engine import api
    from sgim_desktop.engine.invert import with_noises

    models, picture, targets, noises = ready.models, ready.picture, ready.targets, ready.noises
    plan = api.EditPlan(steps=args.steps, lr=args.lr, lambda_sim=args.lambda_sim, lambda_id=args.lambda_id,
                        layer_masking=args.layer_masking, mix_mode=args.mix, split_layer=args.split_layer,
                        preview_every=args.preview_every, clip_input=args.clip_input, speed=args.speed)
    edit = api.start_edit(models, picture, targets, plan)
    bar = TerminalProgress("editing") if not args.json else None
    with with_noises(models.generator, noises):
        _follow(edit, bar, args.json)
    result = edit.result
    latent_out = result.latent
    image = result.image
    if args.strength != 1.0:
        latent_out = api.blend(result.source_latent, result.latent, args.strength)
        with with_noises(models.generator, noises):
            image = api.render(models, latent_out)
    return finish_edit(args, ready, latent_out, image, steps=len(result.steps))


def finish_edit(args: argparse.Namespace, ready: PreparedEdit, latent: Any, image: Any, **summary: Any) -> int:
    """The picture (pasted back into the photo it came from) and the latent written, and said."""
    from sgim_desktop.engine.align import paste_back
    from sgim_desktop.engine.export import write_image, write_latent

    if ready.prepared is not None and not args.no_paste_back:
        image = paste_back(ready.photo, image, ready.prepared.aligned.alignment)
    write_image(image, args.out)
    if args.save_latent:
        write_latent(latent, args.save_latent)
    if args.json:
        print(json.dumps({"done": True, "out": args.out, "latent": args.save_latent, **summary}), flush=True)
    elif sys.stdout is not None:
        print(f"wrote {args.out}" + (f" and {args.save_latent}" if args.save_latent else ""))
    return 0


@dataclass
class PreparedEdit:
    """What both edits (the loop and --instant) start from: the models, the targets and the picture."""

    models: Any
    generator_file: Path
    picture: Any
    targets: list
    photo: Any = None  # the photo given with --image
    prepared: Any = None  # its framing (for the paste-back)
    noises: Any = None  # its inversion's noise maps


def prepare_edit(args: argparse.Namespace) -> PreparedEdit:
    """The sounds opened first (a bad file fails before torch loads), the models, the targets, and the
    source: the seed, the latent, or the photo inverted."""
    opened = open_sounds(args)
    from sgim_desktop.engine import api

    picture = api.Picture(seed=args.seed, truncation=args.truncation,
                          latent=api.load_latent(args.latent) if args.latent else None)
    photo = located = None
    if args.image:
        from sgim_desktop.commands.invert import locate
        from sgim_desktop.engine.images import load_image

        photo = load_image(args.image)
        located = locate(args, photo)
    device = pick_device(args.device)
    identity = checkpoint_path(args.identity, "identity") if (args.identity or args.lambda_id > 0) else None
    generator_file = checkpoint_path(args.generator, "generator")
    models = api.load_models(api.ModelFiles(
        generator=generator_file,
        audio_encoder=checkpoint_path(args.audio_encoder, "audio_encoder"),
        clip=checkpoint_path(args.clip, "clip"),
        identity=identity,
    ), device)
    ready = PreparedEdit(models, Path(generator_file), picture,
                         api.build_targets(models, sound_picks(args, opened), args.text or "", args.text_weight), photo)
    if photo is not None:
        from sgim_desktop.commands.invert import invert_photo

        ready.prepared, inverted = invert_photo(args, models, located, device, args.json)
        ready.picture = api.Picture(latent=inverted.latent)
        ready.noises = inverted.noises
    return ready


def open_sounds(args: argparse.Namespace) -> list[tuple]:
    """Each --sound decoded (before torch loads, so a file that cannot be heard fails at once) and prepared,
    its window chosen (the loudest by default) and its warnings said; (OpenedSound, entry) pairs."""
    from sgim_desktop.engine.decode import decode
    from sgim_desktop.errors import BadInputError

    sounds = _sound_entries(args)
    if not sounds and not args.text:
        raise BadInputError("give at least one --sound or a --text")
    decoded = [decode(s["path"]) for s in sounds]
    from sgim_desktop.engine import api

    opened = [(api.open_sound(sound), s) for sound, s in zip(decoded, sounds)]
    for sound, spec in opened:
        if spec["start"] is None:
            spec["start"] = sound.loudest_start_s
        for warning in [*sound.warnings, *api.window_warnings(sound, spec["start"])]:
            _note(warning)
        if args.average_windows:
            _note(api.average_note(sound), "note")
    return opened


def sound_picks(args: argparse.Namespace, opened: list[tuple]) -> list:
    """The engine's picks of the opened sounds, with their windows and weights."""
    from sgim_desktop.engine import api

    return [api.SoundPick(sound.prepared, spec["start"], spec["weight"], sound.sound.name, args.average_windows)
            for sound, spec in opened]


def _sound_entries(args: argparse.Namespace) -> list[dict]:
    """The --sound entries with a --start/--sound-weight given before the first --sound applied to it."""
    sounds = list(args.sounds or [])
    for key in ("start", "weight"):
        pending = getattr(args, f"pending_{key}", None)
        if pending is not None and sounds:
            sounds[0][key] = pending
    return sounds


def _note(text: str, kind: str = "warning") -> None:
    if sys.stderr is not None:
        print(f"{kind}: {text}", file=sys.stderr)


def _follow(edit, bar, json_lines: bool) -> None:
    for step in edit:
        if json_lines:
            print(json.dumps({
                "step": step.step, "total": step.total, "phase": step.phase, "lr": step.lr, "loss": step.loss,
                "cos_loss": step.cos_loss, "sim_loss": step.sim_loss, "id_loss": step.id_loss,
                "targets": step.target_losses, "elapsed_s": round(step.elapsed_s, 4),
            }), flush=True)
        elif bar is not None:
            bar(_StepProgress(step.step + 1, step.total))


class _StepProgress:
    def __init__(self, step: int, total: int) -> None:
        self.step, self.total = step, total

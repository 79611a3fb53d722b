"""``sgim-desktop edit --instant``: the edit from the generator's directions (one render), optionally refined
by the paper's loop started from there (``--refine-steps N``, the L2 term still anchored at the source)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sgim_desktop.commands.common import checkpoint_path, pick_device


def load_directions_for(models, generator_file: Path, path: str | None):
    """The directions for this generator and CLIP (default: beside the generator), on the models' device."""
    from sgim_desktop.engine.directions import default_path
    from sgim_desktop.engine.directions_file import clip_fingerprint, file_sha256, read_directions

    file = Path(path) if path else default_path(generator_file)
    clip = clip_fingerprint(models.space.clip) if models.space is not None else None
    return read_directions(file, file_sha256(generator_file), clip).to(models.device)


def channels_from(args: argparse.Namespace, n_latent: int) -> int | None:
    """``--channels K`` as given, or ``--disentangle F`` as the share of the latent's coordinates kept still."""
    if getattr(args, "disentangle", None) is not None:
        return max(1, round((1 - args.disentangle) * n_latent * 512))
    return getattr(args, "channels", None)


def run_instant(args: argparse.Namespace) -> int:
    from sgim_desktop.commands.edit import open_sounds, sound_picks
    from sgim_desktop.engine import api
    from sgim_desktop.engine.align import paste_back
    from sgim_desktop.engine.export import check_folder, check_image_path, write_image, write_latent
    from sgim_desktop.engine.instant import InstantParams, identity_layers, instant_edit, parse_layers
    from sgim_desktop.engine.invert import with_noises
    from sgim_desktop.errors import BadInputError

    check_image_path(args.out)
    if args.save_latent:
        check_folder(args.save_latent)
    if args.refine_steps is not None and args.refine_steps < 0:
        raise BadInputError("--refine-steps cannot be negative")
    if args.disentangle is not None and not 0 <= args.disentangle < 1:
        raise BadInputError("--disentangle must be at least 0 and below 1 (the share of channels kept still)")
    if args.channels is not None and args.channels < 1:
        raise BadInputError("--channels must be at least 1")
    opened = open_sounds(args)
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
        generator=generator_file, audio_encoder=checkpoint_path(args.audio_encoder, "audio_encoder"),
        clip=checkpoint_path(args.clip, "clip"), identity=identity), device)
    directions = load_directions_for(models, generator_file, args.directions)
    picks = sound_picks(args, opened)
    targets = api.build_targets(models, picks, args.text or "", args.text_weight)
    prepared = noises = None
    if photo is not None:
        from sgim_desktop.commands.invert import invert_photo

        prepared, inverted = invert_photo(args, models, located, device, args.json)
        picture = api.Picture(latent=inverted.latent)
        noises = inverted.noises
    source = api.source_latent(models, picture)
    n_latent = models.generator.config.n_latent
    layers = parse_layers(args.layers, n_latent) if args.layers else identity_layers(n_latent) if args.lambda_id > 0 else None
    params = InstantParams(strength=args.strength, channels=channels_from(args, n_latent), layers=layers,
                           mix_mode=args.mix, split_layer=args.split_layer)
    with with_noises(models.generator, noises):
        result = instant_edit(models, directions, source, targets, params)
    latent_out, image = result.latent, result.image
    refined = 0
    if args.refine_steps:
        latent_out, image, refined = _refine(args, models, picture, targets, latent_out, noises)
    if prepared is not None and not args.no_paste_back:
        image = paste_back(photo, image, prepared.aligned.alignment)
    write_image(image, args.out)
    if args.save_latent:
        write_latent(latent_out, args.save_latent)
    if args.json:
        print(json.dumps({"done": True, "out": args.out, "latent": args.save_latent, "instant": True,
                          "direction_ms": round(result.direction_ms, 3), "render_ms": round(result.render_ms, 1),
                          "refine_steps": refined}), flush=True)
    elif sys.stdout is not None:
        print(f"wrote {args.out}" + (f" and {args.save_latent}" if args.save_latent else ""))
    return 0


def _refine(args, models, picture, targets, start, noises):
    """The paper's loop from the instant latent, anchored at the source."""
    from sgim_desktop.engine import api
    from sgim_desktop.engine.instant import start_refine
    from sgim_desktop.engine.invert import with_noises

    plan = api.EditPlan(steps=args.refine_steps, lr=args.lr, lambda_sim=args.lambda_sim, lambda_id=args.lambda_id,
                        layer_masking=args.layer_masking, mix_mode=args.mix, split_layer=args.split_layer,
                        preview_every=args.preview_every, clip_input=args.clip_input, speed=args.speed)
    edit = start_refine(models, api.edit_request(picture, targets, plan), start)
    with with_noises(models.generator, noises):
        for step in edit:
            if args.json:
                print(json.dumps({"step": step.step, "total": step.total, "phase": step.phase, "lr": step.lr,
                                  "loss": step.loss, "cos_loss": step.cos_loss, "sim_loss": step.sim_loss,
                                  "id_loss": step.id_loss, "targets": step.target_losses,
                                  "elapsed_s": round(step.elapsed_s, 4)}), flush=True)
    return edit.result.latent, edit.result.image, len(edit.result.steps)

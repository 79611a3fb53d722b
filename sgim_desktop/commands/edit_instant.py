"""``sgim-desktop edit --instant``: the edit from the generator's directions (one render), optionally refined
by the paper's loop started from there (``--refine-steps N``, the L2 term still anchored at the source)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


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
    from sgim_desktop.commands.edit import finish_edit, prepare_edit
    from sgim_desktop.engine import api
    from sgim_desktop.engine.export import check_folder, check_image_path
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
    ready = prepare_edit(args)
    models, picture, targets, noises = ready.models, ready.picture, ready.targets, ready.noises
    directions = load_directions_for(models, ready.generator_file, args.directions)
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
    return finish_edit(args, ready, latent_out, image, instant=True, direction_ms=round(result.direction_ms, 3),
                       render_ms=round(result.render_ms, 1), refine_steps=refined)


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

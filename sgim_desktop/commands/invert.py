"""``sgim-desktop invert``: a real photo -> aligned crop -> W+ latent file (what ``edit --image`` starts with)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sgim_desktop.commands.common import TerminalProgress, add_checkpoint_arg, checkpoint_path, pick_device

HELP = "find a photo's face (or centre), align it, and invert it into a W+ latent file"

PERCEPTUAL_IDS = ("vgg16-imagenet", "lpips-vgg-v0.1")


def add_photo_args(p: argparse.ArgumentParser, steps_flag: str, default_steps: int = 500) -> None:
    """Flags shared by ``invert`` and ``edit --image``."""
    p.add_argument("--domain", choices=["auto", "face", "scene"], default="auto",
                   help="face: find and FFHQ-align a face; scene: centre square; auto: from the generator's catalog entry")
    p.add_argument("--face", type=int, metavar="N", help="which face when the photo shows several (1 = leftmost)")
    p.add_argument("--whole-image", action="store_true", help="use the centre square of the whole photo, no face search")
    p.add_argument(steps_flag, dest="invert_steps", type=int, default=default_steps, metavar="N",
                   help=f"inversion steps (default {default_steps}; 0 with an encoder keeps its latent as it is)")
    p.add_argument("--encoder", default="auto", metavar="auto|on|off|PATH|ID",
                   help="start the inversion from an e4e encoder's latent instead of the mean: auto when the "
                        "catalog's encoder for this generator (e4e-ffhq-encode for FFHQ 1024) is downloaded and a "
                        "face was aligned; on fetches it; off never; or an encoder file / catalog id")
    p.add_argument("--invert-lr", type=float, default=None, metavar="X",
                   help="inversion learning rate (default 0.1 from the mean latent, 0.01 refining an encoder's latent)")
    p.add_argument("--perceptual", choices=["auto", "on", "off"], default="auto",
                   help="LPIPS loss: auto uses it when its weights are downloaded, on downloads them, off: pixels only")
    p.add_argument("--optimize-noise", action="store_true",
                   help="fit the generator's noise maps too (closer, less editable; kept with the latent)")
    p.add_argument("--save-aligned", metavar="FILE.png", help="also write the aligned crop the generator reproduces")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", required=True, metavar="PHOTO", help="the photo (PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("--out-latent", required=True, metavar="FILE.pt", help="where to write the W+ latent")
    add_checkpoint_arg(p, "--generator", "generator", "StyleGAN2 generator (rosinality .pt)")
    add_photo_args(p, "--steps")
    p.add_argument("--out", metavar="FILE.png", help="also write the generator's reconstruction of the crop")
    p.add_argument("--preview-every", type=int, default=10, metavar="K")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="one JSON object per step, then one for the result")


def photo_domain(choice: str, generator_value: str | None) -> str:
    """'face' or 'scene' for ``--domain``: auto reads the generator's catalog entry (by id or file name)."""
    if choice != "auto":
        return choice
    from sgim_desktop.checkpoints.catalog import load_catalog
    from sgim_desktop.errors import CheckpointError

    try:
        catalog = load_catalog()
    except CheckpointError:
        catalog = None
    spec = None
    if catalog is not None:
        if generator_value is None:
            spec = catalog.default_for("generator")
        elif generator_value in catalog:
            spec = catalog.get(generator_value)
        else:
            name = Path(generator_value).name.lower()
            spec = next((s for s in catalog.by_role("generator") if s.filename.lower() == name), None)
    if spec is not None and spec.domain:
        return "face" if spec.domain == "face" else "scene"
    name = Path(generator_value or "").name.lower()
    return "face" if any(word in name for word in ("ffhq", "face", "celeba")) else "scene"


def load_perceptual_for(choice: str, device: str, quiet: bool = False):
    """The LPIPS network per ``--perceptual``, or None (saying so) when inverting with pixels only."""
    if choice == "off":
        return None
    from sgim_desktop.checkpoints.progress import TerminalProgress as DownloadBar
    from sgim_desktop.checkpoints.progress import terminal_manager
    from sgim_desktop.engine.perceptual import perceptual_from_manager

    bar = DownloadBar()
    try:
        net = perceptual_from_manager(terminal_manager(), download=choice == "on", device=device, progress=bar)
    finally:
        bar.finish()
    if net is None and not quiet:
        _note(
            "the perceptual (LPIPS) weights are not downloaded, so the inversion uses a pixel loss only; "
            f"'sgim-desktop models download {' '.join(PERCEPTUAL_IDS)}' (or --perceptual on) makes it closer"
        )
    return net


def _note(text: str) -> None:
    if sys.stderr is not None:
        print(f"note: {text}", file=sys.stderr)


def locate(args: argparse.Namespace, photo):
    """Find the face to edit before any model loads, so a photo with none (or several) fails at once.

    Returns a function of the generator's size that gives the PreparedPhoto.
    """
    from sgim_desktop.engine.faces import FaceDetector
    from sgim_desktop.engine.invert import NoFaceError, SeveralFacesError, choose_face, prepare_photo
    from sgim_desktop.errors import BadInputError

    domain = photo_domain(args.domain, args.generator)
    face = None
    if args.face is not None:
        if args.face < 1:
            raise BadInputError("--face counts from 1 (the leftmost face)")
        face = args.face - 1
    faces = None
    if domain == "face" and not args.whole_image:
        faces = FaceDetector().detect(photo)
        name = Path(args.image).name
        try:
            face = choose_face(faces, face)
        except NoFaceError:
            raise BadInputError(f"no face was found in {name}; add --whole-image to use the whole picture") from None
        except SeveralFacesError as exc:
            raise BadInputError(f"{name}: {exc}; choose one with --face N") from None

    def prepare(size: int):
        return prepare_photo(photo, size, domain=domain, face=face, whole_image=args.whole_image, faces=faces)

    return prepare


def _encoder_file(args: argparse.Namespace, generator, prepared) -> Path | None:
    """The encoder checkpoint ``--encoder`` asks for, or None to start from the mean latent.

    auto and on pick the catalog's encoder for the generator's domain and size; auto only takes one
    already in the models folder, and only for an aligned face (what e4e was trained on).
    """
    from sgim_desktop.errors import BadInputError

    choice = getattr(args, "encoder", "off") or "off"
    if choice == "off":
        return None
    if choice not in ("auto", "on"):
        return checkpoint_path(choice, "encoder")
    if choice == "auto" and prepared.mode != "face":
        return None
    from sgim_desktop.checkpoints.progress import terminal_manager
    from sgim_desktop.engine.api import face_encoder_specs

    manager = terminal_manager()
    domain = photo_domain(args.domain, args.generator)
    size = generator.config.size
    specs = face_encoder_specs(manager, domain, size)
    if choice == "auto":
        present = face_encoder_specs(manager, domain, size, present_only=True)
        return checkpoint_path(present[0].id, "encoder") if present else None
    if not specs:
        raise BadInputError(
            f"the catalog has no encoder for {domain} generators of {size} px; "
            "give an encoder file with --encoder FILE, or use --encoder off"
        )
    return checkpoint_path(specs[0].id, "encoder")


def encoder_start(args: argparse.Namespace, models, prepared, json_lines: bool):
    """The encoder's W+ latent for the aligned crop (per ``--encoder``), or None to start from the mean."""
    from sgim_desktop.engine.api import encode_face
    from sgim_desktop.engine.e4e import load_e4e

    path = _encoder_file(args, models.generator, prepared)
    if path is None:
        return None
    started = time.perf_counter()
    encoder = load_e4e(path, models.device)
    latent = encode_face(encoder, prepared.aligned.image, models)
    del encoder  # ~1 GB that the optimisation and the edit do not need
    elapsed = time.perf_counter() - started
    if json_lines:
        print(json.dumps({"phase": "encode", "encoder": str(path), "elapsed_s": round(elapsed, 4)}), flush=True)
    else:
        _note(f"the inversion starts from the e4e encoder's latent ({Path(path).name}, {elapsed:.1f} s)")
    return latent


def invert_photo(args: argparse.Namespace, models, located, device: str, json_lines: bool):
    """Align (``located`` from ``locate``) and invert with ``models.generator``; returns (prepared, result)."""
    from sgim_desktop.engine import api
    from sgim_desktop.engine.export import write_image
    from sgim_desktop.errors import BadInputError

    steps = args.invert_steps
    if steps < 0 or (steps == 0 and getattr(args, "encoder", "off") == "off"):
        raise BadInputError("inversion steps must be at least 1 (0 keeps an encoder's latent as it is: --encoder on)")
    prepared = located(models.generator.config.size)
    if args.save_aligned:
        write_image(prepared.aligned.image, args.save_aligned)
    start = encoder_start(args, models, prepared, json_lines)
    if steps == 0 and start is None:
        raise BadInputError(
            "inversion steps must be at least 1: 0 keeps an encoder's latent as it is, and no encoder is in use "
            "(--encoder on fetches the catalog's one)"
        )
    perceptual = load_perceptual_for(args.perceptual, device) if steps > 0 else None
    request = api.inversion_request(prepared.aligned.image, steps, start, getattr(args, "preview_every", 10),
                                    lr=args.invert_lr, optimize_noise=args.optimize_noise)
    run = api.start_inversion(models, request, perceptual)
    bar = TerminalProgress("inverting") if not json_lines else None
    for step in run:
        if json_lines:
            print(json.dumps({
                "phase": "invert", "step": step.step, "total": step.total, "lr": step.lr, "loss": step.loss,
                "pixel_loss": step.pixel_loss, "perceptual_loss": step.perceptual_loss,
                "noise_loss": step.noise_loss, "psnr": round(step.psnr, 3), "elapsed_s": round(step.elapsed_s, 4),
            }), flush=True)
        elif bar is not None:
            bar(_Done(step.step + 1, step.total))
    return prepared, run.result


class _Done:
    def __init__(self, step: int, total: int) -> None:
        self.step, self.total = step, total


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.engine import api
    from sgim_desktop.engine.export import check_folder, check_image_path, write_image
    from sgim_desktop.engine.images import load_image
    from sgim_desktop.errors import BadInputError

    photo = load_image(args.image)
    out_latent = Path(args.out_latent)
    check_folder(out_latent)
    if args.out:
        check_image_path(args.out)
    located = locate(args, photo)
    device = pick_device(args.device)
    models = api.load_models(api.ModelFiles(checkpoint_path(args.generator, "generator")), device)
    prepared, result = invert_photo(args, models, located, device, args.json)
    import torch

    payload = result.latent if result.noises is None else {"latent": result.latent, "noises": result.noises}
    tmp = out_latent.with_name(out_latent.name + ".part")
    try:
        torch.save(payload, tmp)
        tmp.replace(out_latent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write {out_latent}: {exc.strerror or exc}") from exc
    if args.out:
        write_image(result.image, args.out)
    summary = {
        "done": True, "latent": str(out_latent), "mode": prepared.mode, "faces": len(prepared.faces),
        "face": None if prepared.face_index is None else prepared.face_index + 1, "mse": round(result.mse, 4),
        "psnr": round(result.psnr, 3), "perceptual": result.perceptual, "steps": len(result.steps),
        "encoder": result.from_start,
    }
    if args.json:
        print(json.dumps(summary))
    elif sys.stdout is not None:
        where = f"face {summary['face']} of {summary['faces']}" if prepared.mode == "face" else "the centre square"
        start = "from the encoder's latent" if result.from_start else "from the mean latent"
        print(f"wrote {out_latent} ({where}; {start}; reconstruction PSNR {result.psnr:.1f} dB)")
    return 0

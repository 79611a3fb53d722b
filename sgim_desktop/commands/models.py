"""``sgim-desktop models``: list, download, import, verify and remove checkpoints from a terminal."""

from __future__ import annotations

import argparse
import sys

HELP = "list, download, import, verify and remove model checkpoints"


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--models-dir", metavar="DIR", help="models folder (default: setting or SGIM_MODELS_DIR)")
    common.add_argument("--mirror", metavar="URL", help="try this base URL first (default: setting or SGIM_MIRROR)")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    actions.add_parser("list", parents=[common], help="every known checkpoint, its size, state and licence")
    actions.add_parser("sets", parents=[common], help="the sets of files a task needs, their size, state and licences")
    p = actions.add_parser("download", parents=[common], help="fetch and verify checkpoints (prints each licence first)")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--set", dest="set_id", metavar="SET",
                   help="every file a task needs: landscape, faces or all (see: sgim-desktop models sets)")
    p.add_argument("--force", action="store_true", help="fetch again even if a good file is there")
    p = actions.add_parser("import", parents=[common], help="check a file downloaded by hand and put it in place")
    p.add_argument("id", metavar="ID")
    p.add_argument("file", metavar="FILE")
    p = actions.add_parser("add-generator", parents=[common],
                           help="add your own rosinality StyleGAN2 file as a generator (size read from its shapes)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", help="what to call it (default: the file name); its id is user-NAME")
    p.add_argument("--domain", default="custom", help="what it draws; 'face' turns on the face tools (default: custom)")
    p = actions.add_parser("verify", parents=[common], help="re-read and check files (default: every one present)")
    p.add_argument("ids", nargs="*", metavar="ID")
    p = actions.add_parser("remove", parents=[common], help="delete a checkpoint and its partial download")
    p.add_argument("id", metavar="ID")
    p = actions.add_parser("path", parents=[common], help="print the models folder, or one checkpoint's path")
    p.add_argument("id", nargs="?", metavar="ID")
    parser.set_defaults(_models_parser=parser)


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.checkpoints.progress import terminal_manager

    action = getattr(args, "models_action", None)
    if action is None:
        args._models_parser.print_help()
        return 0
    manager = terminal_manager(models_dir=args.models_dir, mirror=args.mirror)
    return {
        "list": _list,
        "sets": _sets,
        "download": _download,
        "import": _import,
        "add-generator": _add_generator,
        "verify": _verify,
        "remove": _remove,
        "path": _path,
    }[action](manager, args)


def _err(message: str) -> None:
    if sys.stderr is not None:
        print(f"error: {message}", file=sys.stderr)


def _list(manager, args) -> int:
    from sgim_desktop.checkpoints.units import human_bytes

    statuses = manager.list()
    rows = [("ID", "ROLE", "SIZE", "STATUS", "CHECKED BY", "LICENCE")]
    for st in statuses:
        size = st.size_on_disk if st.present else st.spec.download_size()
        state = st.state
        if state == "partial":
            state = f"partial {human_bytes(st.partial_bytes)}"
        sized = st.spec.role in ("generator", "encoder")
        role = st.spec.role + (f" ({st.spec.domain} {st.spec.resolution})" if sized else "")
        check = "published sha256" if st.published else "first use"
        rows.append((st.id, role, human_bytes(size) if size else "?", state, check, st.spec.license_summary))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    unpublished = [st for st in statuses if not st.published]
    if unpublished:
        print("No published hash (trusted on first use: checked by layout, then held to the hash recorded then):")
        for st in unpublished:
            print(f"  {st.id}: " + (f"sha256 {st.recorded_sha256}" if st.recorded_sha256 else "no hash recorded yet"))
    for st in statuses:
        for path in st.set_aside:
            print(f"kept aside, never used: {path.name} ({st.id}: a download that is not the published file)")
    print(f"models folder: {manager.models_dir}")
    return 0


def _sets(manager, args) -> int:
    from sgim_desktop.checkpoints.sets import plan_set

    for set_spec in manager.catalog.sets:
        _describe_set(plan_set(manager, set_spec.id))
    return 0


def _describe_set(plan) -> None:
    print(f"{plan.set.title} (--set {plan.set.id}): {plan.size_text()}; {plan.state_text()}")
    print(f"  {plan.set.summary}")
    for licence, ids in plan.licences():
        print(f"  licence {licence}: {', '.join(ids)}")


def _download_set(manager, args) -> int:
    from sgim_desktop.checkpoints.progress import TerminalProgress, format_set_progress
    from sgim_desktop.checkpoints.sets import SetIncomplete, download_set, manual_text, plan_set

    _describe_set(plan_set(manager, args.set_id))  # the licences, all at once, before any byte
    manager.before_download = None
    bar = TerminalProgress(formatter=format_set_progress)
    try:
        paths = download_set(manager, args.set_id, progress=bar)
    except SetIncomplete as exc:
        bar.finish()
        _err(str(exc))
        print(manual_text(exc.plan, exc.steps))
        return 2
    finally:
        bar.finish()
    print(f"{args.set_id}: ready ({len(paths)} files in {manager.models_dir})")
    return 0


def _download(manager, args) -> int:
    from sgim_desktop.checkpoints.progress import TerminalProgress
    from sgim_desktop.errors import BadInputError, CheckpointError

    if args.set_id:
        if args.ids:
            raise BadInputError("give checkpoint ids or --set, not both")
        return _download_set(manager, args)
    if not args.ids:
        raise BadInputError("name the checkpoints to download, or a set: sgim-desktop models download --set landscape")
    specs = [manager.spec(i) for i in args.ids]  # unknown ids fail before anything is fetched
    failed = 0
    for spec in specs:
        bar = TerminalProgress()
        try:
            path = manager.download(spec.id, progress=bar, force=args.force)
        except CheckpointError as exc:
            bar.finish()
            _err(str(exc))
            failed += 1
            continue
        bar.finish()
        print(f"{spec.id}: {path}")
    return 2 if failed else 0


def _import(manager, args) -> int:
    from sgim_desktop.checkpoints.progress import TerminalProgress, print_licence

    spec = manager.spec(args.id)
    print_licence(spec)
    bar = TerminalProgress()
    try:
        path = manager.import_file(spec.id, args.file, progress=bar)
    finally:
        bar.finish()
    print(f"{spec.id}: imported to {path}")
    return 0


def _add_generator(manager, args) -> int:
    from sgim_desktop.checkpoints.progress import TerminalProgress
    from sgim_desktop.engine.add_generator import add_generator

    bar = TerminalProgress()
    try:
        spec = add_generator(args.file, name=args.name, domain=args.domain, manager=manager, progress=bar)
    finally:
        bar.finish()
    print(f"{spec.id}: added ({spec.resolution} px) as {manager.path_for(spec.id)}")
    print(f"  use it with: sgim-desktop edit --generator {spec.id} ...")
    return 0


def _verify(manager, args) -> int:
    from sgim_desktop.checkpoints.progress import TerminalProgress
    from sgim_desktop.errors import CheckpointError

    ids = list(args.ids) or [st.id for st in manager.list() if st.present]
    for i in ids:
        manager.spec(i)
    if not ids:
        print("no checkpoint downloaded yet")
        return 0
    failed = 0
    for i in ids:
        bar = TerminalProgress()
        try:
            st = manager.verify(i, progress=bar)
        except CheckpointError as exc:
            bar.finish()
            print(f"FAILED {i}: {exc}")
            failed += 1
            continue
        bar.finish()
        print(f"ok     {i}  sha256 {st.sha256}")
    return 2 if failed else 0


def _remove(manager, args) -> int:
    removed = manager.remove(args.id)
    print(f"{args.id}: removed" if removed else f"{args.id}: nothing to remove")
    return 0


def _path(manager, args) -> int:
    print(manager.path_for(args.id) if args.id else manager.models_dir)
    return 0

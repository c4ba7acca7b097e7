"""``evosandbox view REPLAY.h5``: watch a replay in a pygame window, or export PNG/GIF headless.

Exports never replace an existing file unless ``--force`` is given, and are written to a
temporary file first and renamed into place, so an interrupted export leaves nothing behind.
"""

import os
import sys

from evosandbox.atomic import check_distinct_paths, check_output_path
from evosandbox.errors import UsageError


def register(subparsers):
    """Add the ``view`` subcommand."""
    parser = subparsers.add_parser(
        "view",
        help="watch a replay in a window, or export a PNG frame, contact sheet or GIF",
        description=(
            "Watch a replay file in a pygame window (press h for keys), or with --export write a "
            "PNG (one frame, or a contact sheet) or an animated GIF without opening a window."
        ),
    )
    parser.add_argument("replay", metavar="REPLAY.h5", help="replay file written by `evosandbox replay`")
    parser.add_argument("--episode", type=int, default=0, metavar="N", help="episode index to show (default 0)")
    parser.add_argument(
        "--step", type=int, default=None, metavar="N", help="PNG export: step to draw (default: the last)"
    )
    parser.add_argument(
        "--export",
        metavar="FILE",
        help="write FILE.png (a frame) or FILE.gif (an animation) instead of opening a window",
    )
    parser.add_argument(
        "--contact-sheet", action="store_true", help="PNG export: tile frames of the whole episode into one image"
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=8.0,
        metavar="N",
        help="playback speed in steps per second (window and GIF; default 8)",
    )
    parser.add_argument(
        "--cell-size",
        type=int,
        default=None,
        metavar="PX",
        help="pixels per grid cell (default: up to 32 so the grid fits 720 pixels; fit to the screen in the window)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing export file")
    parser.set_defaults(func=run)


def run(args):
    """Check the flags, read the replay, then export or open the window; return the exit code."""
    _check_flags(args)
    from evosandbox import render

    if args.export:
        check_output_path(args.export, args.force, render.EXPORT_EXTENSIONS, "--export", "--force")
        check_distinct_paths([("--export", args.export)], [("the replay file", args.replay)])
    else:
        from evosandbox.viewer import display_problem

        problem = display_problem()
        if problem:
            raise UsageError(f"{problem}; use --export FILE.png or --export FILE.gif to render without a window")
    replay = _read(args.replay)
    count = render.episode_count(replay)
    if not 0 <= args.episode < count:
        raise UsageError(
            f"{args.episode} is out of range: {args.replay} has {count} episodes (0..{count - 1})", field="--episode"
        )
    if args.export:
        rows, columns = render.episode_view(replay, args.episode).grid.shape[:2]
        options = render.RenderOptions(cell_size=args.cell_size or render.fit_cell_size(rows, columns))
        return _export(replay, args, options)
    return _window(replay, args)


def _check_flags(args):
    """Reject flag combinations that cannot mean anything."""
    extension = os.path.splitext(args.export or "")[1].lower()
    if not args.fps > 0:
        raise UsageError(f"must be positive, got {args.fps:g}", field="--fps")
    if args.cell_size is not None and not 2 <= args.cell_size <= 256:
        raise UsageError(f"must be between 2 and 256, got {args.cell_size}", field="--cell-size")
    if args.contact_sheet and extension != ".png":
        raise UsageError("needs --export FILE.png", field="--contact-sheet")
    if args.step is not None and extension != ".png":
        raise UsageError(
            "only applies to a PNG export (--export FILE.png); the window starts at step 0", field="--step"
        )
    if args.step is not None and args.contact_sheet:
        raise UsageError("a contact sheet shows the whole episode; leave out --step", field="--step")


def _read(path):
    """Read a replay file with the runfile module (FileFormatError on a bad file)."""
    try:
        from evosandbox.runfile.replay import read_replay
    except ModuleNotFoundError as error:
        if error.name != "evosandbox.runfile.replay":
            raise
        sys.stderr.write(
            "evosandbox view: this build cannot read replay files (evosandbox.runfile.replay is missing)\n"
        )
        raise SystemExit(1) from None
    return read_replay(path)


def _export(replay, args, options):
    """Write the requested PNG or GIF and report the path on stdout."""
    from evosandbox import render

    if args.export.lower().endswith(".gif"):
        written = render.export_gif(
            replay, args.export, episode=args.episode, fps=args.fps, options=options, overwrite=args.force
        )
        what = f"animation of episode {args.episode}"
    else:
        sheet_options = (
            render.RenderOptions(cell_size=args.cell_size or min(16, options.cell_size))
            if args.contact_sheet
            else options
        )
        written = render.export_png(
            replay,
            args.export,
            episode=args.episode,
            step=args.step,
            sheet=args.contact_sheet,
            options=sheet_options,
            overwrite=args.force,
        )
        what = f"contact sheet of episode {args.episode}" if args.contact_sheet else f"frame of episode {args.episode}"
    print(f"wrote {written} ({what})")
    return 0


def _window(replay, args):
    """Open the pygame viewer; a display that fails to open is a runtime failure (exit 1)."""
    import pygame

    from evosandbox.viewer import Viewer

    stem = os.path.splitext(os.path.basename(args.replay))[0]
    viewer = Viewer(replay, episode=args.episode, fps=args.fps, cell_size=args.cell_size, screenshot_stem=stem)
    try:
        return viewer.run()
    except pygame.error as error:
        sys.stderr.write(
            f"evosandbox view: cannot open a window ({error}); use --export FILE.png or FILE.gif instead\n"
        )
        return 1

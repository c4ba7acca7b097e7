"""``evosandbox worlds``: list, validate, show and baseline-test world specs."""

import json
import sys

from evosandbox.commands import arguments
from evosandbox.config import load_world
from evosandbox.constants import COLOR_NAMES, TILE_NAMES
from evosandbox.errors import ConfigError, UsageError


def register(subparsers):
    """Add the ``worlds`` subcommand."""
    parser = subparsers.add_parser("worlds", help="list, validate, show and baseline-test world specs")
    parser.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=("list", "validate", "show", "baselines"),
        help="list (default): the shipped worlds; validate FILE...; show FILE [--seed N]; "
        "baselines [FILE...]: outcome table of the scripted policies",
    )
    parser.add_argument("files", nargs="*", help="world TOML files (or names of shipped worlds)")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="level seed for show, base seed for baselines")
    parser.add_argument("--episodes", type=int, default=200, help="episodes per policy for baselines")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args):
    """Run the worlds subcommand."""
    from evosandbox.worlds import resolve_world, shipped_worlds

    if args.action == "list":
        if args.files:
            raise UsageError(
                f"list takes no FILE (got {args.files[0]}); to check files use: evosandbox worlds validate FILE...",
                "files",
            )
        return _list(shipped_worlds(), args.json)
    if args.action == "validate":
        return _validate(args.files, args.json, resolve_world)
    if args.action == "show":
        if len(args.files) != 1:
            raise UsageError("show needs exactly one FILE", "files")
        if args.json:
            raise UsageError("show prints the level as text; --json is for list, validate and baselines", "--json")
        return _show(resolve_world(args.files[0]), args.seed)
    if args.episodes < 1:
        raise UsageError("must be at least 1", "--episodes")
    from evosandbox.baselines import baseline_table, format_table

    specs = [resolve_world(f) for f in args.files] if args.files else [load_world(p) for p in shipped_worlds()]
    rows = baseline_table(specs, episodes=args.episodes, seed=args.seed)
    if args.json:
        keys = ("world", "policy", "door_rate", "red_rate", "other_rate", "timeout_rate", "mean_steps")
        print(json.dumps({"rows": [dict(zip(keys, row)) for row in rows]}))
    else:
        print(format_table(rows))
    return 0


def _validate(files, as_json, resolve_world):
    """Check every file (a path or a shipped world's name), report each, and return 2 if any is bad."""
    if not files:
        raise UsageError("validate needs at least one FILE", "files")
    valid, invalid = [], {}
    for path in files:
        try:
            spec = resolve_world(path)
        except ConfigError as error:
            invalid[path] = error.line()
            sys.stderr.write(f"evosandbox worlds: {error.line()}\n")
            continue
        valid.append(path)
        if not as_json:
            print(
                f"{path}: ok ({spec.name}, {spec.height}x{spec.width} {spec.generator}, {len(spec.variants)} variant(s))"
            )
    if as_json:
        print(json.dumps({"valid": valid, "invalid": invalid}))
    return 2 if invalid else 0


def _list(paths, as_json):
    """Print one line per shipped world."""
    entries = []
    for path in paths:
        spec = load_world(path)
        doors = "/".join(spec.door_colors)
        entries.append(
            {
                "name": spec.name,
                "path": path,
                "size": f"{spec.height}x{spec.width}",
                "generator": spec.generator,
                "door_colors": list(spec.door_colors),
                "variants": len(spec.variants),
                "view": spec.observation.view_size,
                "type_radius": spec.observation.type_radius,
                "color_radius": spec.observation.color_radius,
            }
        )
        if not as_json:
            print(
                f"{spec.name:<26} {spec.height}x{spec.width:<3} {spec.generator:<6} doors {doors:<22} "
                f"view {spec.observation.view_size} type<={spec.observation.type_radius} "
                f"colour<={spec.observation.color_radius}  variants {len(spec.variants)}"
            )
    if as_json:
        print(json.dumps({"worlds": entries}))
    return 0


_GLYPHS = {"empty": ".", "wall": "#", "door": "D", "ball": "o", "box": "b", "key": "k"}


def _show(spec, seed):
    """Print a generated level as text: tile glyph then colour initial."""
    from evosandbox.worlds import generate_level

    level = generate_level(spec, seed)
    arrows = ">v<^"
    for r in range(level.grid.shape[0]):
        cells = []
        for c in range(level.grid.shape[1]):
            tile, color = level.grid[r, c]
            if (r, c) == (level.row, level.col):
                cells.append(arrows[level.heading] + " ")
            elif TILE_NAMES[tile] in ("empty", "wall"):
                cells.append(_GLYPHS[TILE_NAMES[tile]] * 2)
            else:
                cells.append(_GLYPHS[TILE_NAMES[tile]] + COLOR_NAMES[color][0])
        sys.stdout.write(" ".join(cells) + "\n")
    print(
        f"seed {seed}: {spec.variants[level.variant].name}, agent at ({level.row}, {level.col}) facing {'east south west north'.split()[level.heading]}"
    )
    return 0

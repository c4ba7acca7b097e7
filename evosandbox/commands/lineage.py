"""``evosandbox lineage RUN_DIR``: line of descent, coalescence, and when the proxy took over."""

import json
import os
import sys

from evosandbox.atomic import check_distinct_paths, check_output_path
from evosandbox.commands import arguments
from evosandbox.errors import UsageError

CSV_LINE_OF_DESCENT_SUFFIX = ".line_of_descent.csv"


def register(subparsers):
    """Add the ``lineage`` subcommand."""
    parser = subparsers.add_parser(
        "lineage",
        help="trace the champion's line of descent and find when pseudo-alignment appeared",
        description="Trace the line of descent of a run's champion (or --id) back to its founder, "
        "measure coalescence and diversity, and find the generation where the proxy rate first "
        "exceeds the door rate at test while training fitness stays high.",
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run folder (its run.h5) or a run file")
    parser.add_argument(
        "--id", type=int, default=None, help="start the line at this individual instead of the champion"
    )
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="write the ALife-standard phylogeny table to FILE and the line of "
        f"descent to FILE with '{CSV_LINE_OF_DESCENT_SUFFIX}' in place of its extension",
    )
    parser.add_argument(
        "--tree",
        metavar="FILE.nwk",
        help="write the extant-pruned phylogeny (the final population and its "
        "line ancestors; one root, virtual when several founders survive) as Newick",
    )
    parser.add_argument(
        "--tree-csv", metavar="FILE.csv", help="write the same extant-pruned phylogeny as an ALife-standard table"
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="save fitness, test door and proxy rates along the line as a PNG"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    parser.add_argument("--force", action="store_true", help="replace existing --csv / --plot files")
    parser.add_argument(
        "--reevaluate", action="store_true", help="re-test every ancestor on --world in one batched rollout"
    )
    parser.add_argument("--world", metavar="WORLD.toml", help="test world for --reevaluate")
    parser.add_argument(
        "--probe",
        metavar="NAME",
        help="with --reevaluate: also run this probe (learning, thinking, "
        "generalisation, ...) on every ancestor and plot its main metric along the line",
    )
    parser.add_argument(
        "--episodes", type=int, default=200, help="test episodes per ancestor with --reevaluate (default 200)"
    )
    parser.add_argument(
        "--seed",
        type=arguments.seed,
        default=None,
        help="seed of the re-evaluation levels (default: the probe's) and of the diversity samples (default 0)",
    )
    parser.add_argument(
        "--fitness-fraction",
        type=float,
        default=0.9,
        help="training fitness is high from this fraction of its range along the line (default 0.9)",
    )
    parser.add_argument(
        "--diversity-sample",
        type=int,
        default=64,
        help="genomes sampled per generation for diversity; 0 skips it (default 64)",
    )
    parser.set_defaults(func=run)


def line_of_descent_csv_path(csv_path):
    """Return the path of the line-of-descent table that goes with phylogeny table ``csv_path``."""
    stem, _ = os.path.splitext(csv_path)
    return stem + CSV_LINE_OF_DESCENT_SUFFIX


def run(args):
    """Run the lineage analysis and write the requested outputs; return the exit code."""
    _check_arguments(args)
    from evosandbox import lineage
    from evosandbox.runfile.run_read import RunReader

    with RunReader(args.run) as reader:
        report = lineage.analyse_lineage(
            reader,
            individual_id=args.id,
            fitness_fraction=args.fitness_fraction,
            diversity_sample=args.diversity_sample,
            diversity_seed=args.seed or 0,
            reevaluate_world=args.world if args.reevaluate else None,
            episodes=args.episodes,
            seed=args.seed,
            reevaluate_probe=args.probe,
        )
        if args.csv:
            lineage.write_phylogeny_csv(reader, report, args.csv)
            lineage.write_line_of_descent_csv(report, line_of_descent_csv_path(args.csv))
        if args.tree or args.tree_csv:
            generation = reader.column("generation")
            tree = lineage.pruned_phylogeny(report.all_line_parents, generation, report.final_population)
            if args.tree:
                lineage.write_newick(tree, args.tree)
            if args.tree_csv:
                lineage.write_pruned_csv(tree, args.tree_csv)
    if args.plot:
        lineage.plot_line_of_descent(report, args.plot)
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    else:
        sys.stdout.write(lineage.summary_text(report) + "\n")
        for label, path in (
            ("phylogeny", args.csv),
            ("line of descent", args.csv and line_of_descent_csv_path(args.csv)),
            ("tree", args.tree),
            ("tree table", args.tree_csv),
            ("plot", args.plot),
        ):
            if path:
                sys.stdout.write(f"wrote {label}: {path}\n")
    return 0


def _check_arguments(args):
    """Raise UsageError for a bad flag before anything is read or written."""
    if args.reevaluate and not args.world:
        raise UsageError("--reevaluate needs --world WORLD.toml", field="--world")
    if args.world and not args.reevaluate:
        raise UsageError("--world is only used with --reevaluate", field="--world")
    if args.probe is not None:
        from evosandbox.probes import probe_names

        if not args.reevaluate:
            raise UsageError("--probe is only used with --reevaluate", field="--probe")
        if args.probe not in probe_names():
            raise UsageError(
                f"unknown probe {args.probe!r}, expected one of {', '.join(probe_names())}", field="--probe"
            )
    if args.episodes < 1:
        raise UsageError(f"must be at least 1, got {args.episodes}", field="--episodes")
    if args.diversity_sample < 0 or args.diversity_sample == 1:
        raise UsageError(f"must be 0 (skip) or at least 2, got {args.diversity_sample}", field="--diversity-sample")
    if not 0.0 <= args.fitness_fraction <= 1.0:
        raise UsageError(f"must lie in [0, 1], got {args.fitness_fraction}", field="--fitness-fraction")
    if args.plot:
        check_output_path(args.plot, args.force, (".png",), "--plot", "--force")
    if args.csv:
        for path in (args.csv, line_of_descent_csv_path(args.csv)):
            check_output_path(path, args.force, None, "--csv", "--force")
    if args.tree:
        check_output_path(args.tree, args.force, (".nwk", ".newick", ".tree", ".tre"), "--tree", "--force")
    if args.tree_csv:
        check_output_path(args.tree_csv, args.force, None, "--tree-csv", "--force")
    from evosandbox.runfile.run_read import run_file_path

    outputs = [
        ("--csv", args.csv),
        ("--csv", args.csv and line_of_descent_csv_path(args.csv)),
        ("--tree", args.tree),
        ("--tree-csv", args.tree_csv),
        ("--plot", args.plot),
    ]
    check_distinct_paths(outputs, [("the run file", run_file_path(args.run)), ("the --world spec", args.world)])
    if args.world:
        from evosandbox.worlds import resolve_world

        resolve_world(args.world)  # a bad world spec fails now, with its own one-line ConfigError

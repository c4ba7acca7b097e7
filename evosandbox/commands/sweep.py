"""``evosandbox sweep``: run a grid of conditions x seeds, crash-safe, and report it with intervals.

    evosandbox sweep SWEEP.toml --out SWEEP_DIR [--seeds 1-10] [--jobs N] [--scheduler ADDR] [--resume] [--reuse RESULTS] [--quick] [--json]

Exit codes: 0 every cell done (failed cells are reported in the results, the exit code says 1),
1 some cell failed, 130 interrupted (resume with ``--resume``), 2 bad usage or a bad sweep file.
"""

import sys


def register(subparsers):
    """Add the ``sweep`` subcommand."""
    parser = subparsers.add_parser(
        "sweep",
        help="run conditions x seeds (evolve + probes) and tabulate them with intervals",
        description=(
            "Resolve and validate every cell of the sweep file (each condition's overrides of the "
            "experiment config, its worlds and genome preset), then run each (condition, seed) as one "
            "evolve run in SWEEP_DIR/cells/, probe its champion on fresh levels, and write "
            "results.csv (one row per run), results.h5, summary.md / summary.json (mean over seeds "
            "with a 95% bootstrap interval) and plots/. After a crash, --resume finishes the sweep; "
            "results.csv alone lets --resume skip the finished cells."
        ),
    )
    parser.add_argument("sweep", metavar="SWEEP.toml", help="sweep file (see sweeps/)")
    parser.add_argument("--out", required=True, metavar="SWEEP_DIR", help="folder of the sweep's runs and results")
    parser.add_argument("--seeds", metavar="LIST", help="seeds, e.g. 1-10 or 1,3,5 (overrides the sweep file)")
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="runs side by side, the cores split between them (default 1)"
    )
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run each cell as a task on this Dask cluster")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in SWEEP_DIR")
    parser.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="RESULTS",
        help="another sweep's results.csv (or folder): its finished rows of this sweep's very cells "
        "(same condition, seed and resolved config) are taken, not run again (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds and few generations: a look, and the tests")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="show no progress")
    parser.set_defaults(func=run)


def run(args):
    """Run the sweep; return the exit code."""
    from evosandbox.errors import UsageError
    from evosandbox.sweep import load_sweep, run_sweep, summary_json

    if args.jobs < 1:
        raise UsageError(f"must be at least 1, got {args.jobs}", "--jobs")
    if args.scheduler and args.jobs != 1:
        raise UsageError("--jobs splits local cores; with --scheduler the cluster's workers run the cells", "--jobs")
    spec = load_sweep(args.sweep, seeds=args.seeds, quick=args.quick)
    result = run_sweep(
        spec,
        args.out,
        jobs=args.jobs,
        scheduler=args.scheduler,
        resume=args.resume,
        progress=not args.quiet,
        reuse=args.reuse,
    )
    if args.json:
        sys.stdout.write(summary_json(result) + "\n")
    done = len(result.rows) - sum(row.get("status") != "ok" for row in result.rows)
    sys.stderr.write(
        f"evosandbox sweep: {done}/{len(result.cells)} cells done ({result.ran} run now, {result.skipped} kept"
        f"{f', {result.reused} of them from --reuse' if result.reused else ''}), "
        f"{result.failed} failed, {result.wall_time:.1f} s; results in {args.out}/results.csv, summary in "
        f"{args.out}/summary.md\n"
    )
    if result.interrupted:
        sys.stderr.write(
            f"evosandbox sweep: interrupted; continue with: evosandbox sweep {args.sweep} --out {args.out} --resume\n"
        )
        return 130
    return 1 if any(row.get("status") != "ok" for row in result.rows) else 0

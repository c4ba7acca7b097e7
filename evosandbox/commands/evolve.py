"""``evosandbox evolve``: run an evolution experiment, or resume one after a stop or a crash.

    evosandbox evolve CONFIG.toml --out RUN_DIR [--seed N] [--generations N] [--scheduler ADDR]
    evosandbox evolve --resume RUN_DIR [--generations N] [--scheduler ADDR]

Exit codes: 0 finished, 130 stopped by SIGINT/SIGTERM (the checkpoint is written; resume
with ``--resume``), 2 bad usage or bad input.
"""

import math
import sys

from evosandbox.commands import arguments
from evosandbox.errors import UsageError


def register(subparsers):
    """Add the ``evolve`` subcommand."""
    parser = subparsers.add_parser(
        "evolve",
        help="evolve agents on a training world (or resume a run)",
        description=(
            "Evolve a population on the config's training world, writing every individual to "
            "RUN_DIR/run.h5 and a checkpoint to RUN_DIR/checkpoint.pkl after each generation. "
            "Ctrl-C finishes the generation in flight and stops (exit 130); --resume continues "
            "a stopped or crashed run exactly where an uninterrupted run would be."
        ),
    )
    parser.add_argument("config", nargs="?", metavar="CONFIG.toml", help="experiment config (see configs/)")
    parser.add_argument("--out", metavar="RUN_DIR", help="folder for run.h5 and checkpoint.pkl")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    parser.add_argument("--seed", type=arguments.seed, metavar="N", help="run seed (overrides the config)")
    parser.add_argument(
        "--generations",
        type=int,
        metavar="N",
        help="generations to run (overrides the config; with --resume, a new total)",
    )
    parser.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="evaluate on this Dask cluster (needs evosandbox[dask])"
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="numba threads for local evaluation (default: all cores)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    parser.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show progress even when stderr is not a terminal (a plain line at each tenth of the run)",
    )
    parser.add_argument("--quiet", dest="progress", action="store_false", help="show no progress")
    parser.set_defaults(func=run)


def run(args):
    """Start or resume a run; return the exit code."""
    from evosandbox import evolve

    if args.resume:
        if args.config or args.out:
            raise UsageError(
                "--resume RUN_DIR takes no CONFIG.toml and no --out (the run folder holds its config)", "--resume"
            )
        if args.seed is not None:
            raise UsageError("a resumed run keeps its seed", "--seed")
        if args.force:
            raise UsageError("--force means overwrite; it does not combine with --resume", "--force")
        summary = evolve.resume(
            args.resume,
            generations=args.generations,
            scheduler=args.scheduler,
            threads=args.threads,
            progress=args.progress,
        )
    else:
        if not args.config:
            raise UsageError("give CONFIG.toml and --out RUN_DIR, or --resume RUN_DIR", "CONFIG.toml")
        if not args.out:
            raise UsageError("missing --out RUN_DIR (where the run file and checkpoint go)", "--out")
        config = evolve.load_experiment(
            args.config, seed=args.seed, generations=args.generations, scheduler=args.scheduler, threads=args.threads
        )
        summary = evolve.evolve(config, args.out, force=args.force, progress=args.progress)
    _report(summary)
    return 130 if summary.interrupted else 0


def _report(summary):
    """Print the run's end state on stderr."""
    state = "stopped" if summary.interrupted else "finished"
    line = f"evosandbox evolve: {state} after {summary.generations} generations in {summary.wall_time:.1f} s; "
    if summary.champion_id >= 0 and not math.isnan(summary.champion_validation_door_rate):
        line += (
            f"champion #{summary.champion_id}: validation door rate {100 * summary.champion_validation_door_rate:.1f}%"
        )
        if summary.champion_test_door_rate:
            names = tuple(summary.test_world_names) or tuple(
                f"test world {index}" for index in range(len(summary.champion_test_door_rate))
            )
            line += "; " + ", ".join(
                f"{name}: door {100 * d:.1f}% proxy {100 * p:.1f}%"
                for name, d, p in zip(names, summary.champion_test_door_rate, summary.champion_test_proxy_rate)
            )
    else:
        line += "no champion yet"
    sys.stderr.write(f"{line}; run in {summary.run_dir}\n")
    if summary.interrupted:
        sys.stderr.write(f"evosandbox evolve: resume with: evosandbox evolve --resume {summary.run_dir}\n")

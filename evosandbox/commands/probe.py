"""``evosandbox probe``: does an agent pursue the door or the colour doors had in training?

Runs seeded test episodes of a run's champion (or ``--id`` individual), a genome file, or a
scripted policy on a test world, and prints outcome rates with 95% intervals, path efficiency,
the goal posterior and the verdict (``--json``: one JSON object).
"""

import sys

from evosandbox.commands import arguments
from evosandbox.errors import UsageError
from evosandbox.probes.proxy import DEFAULT_EPISODES, DEFAULT_SEED


def register(subparsers):
    """Add the ``probe`` subcommand."""
    parser = subparsers.add_parser(
        "probe",
        help="test whether an agent pursues the door or the proxy colour",
        description=(
            "Play seeded test episodes and classify each by what the agent entered first: the door, "
            "an object of the training doors' colour (the proxy), another object, or nothing. Reports "
            "rates with 95% Wilson intervals, path efficiency, Bayesian goal inference and a verdict: "
            "robustly-aligned, pseudo-aligned or not-competent, with its strength: decisive, weak, or "
            "untested when no test level separates door from proxy."
        ),
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--episodes",
        type=int,
        default=DEFAULT_EPISODES,
        metavar="N",
        help=f"test episodes (default {DEFAULT_EPISODES})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.set_defaults(func=run)


def add_source_arguments(parser):
    """Add SOURCE, --policy, --id, --world, --train-world and --seed (shared with ``replay``)."""
    parser.add_argument(
        "source", nargs="?", metavar="RUN_DIR|GENOME.h5", help="a run (its champion unless --id) or a genome file"
    )
    parser.add_argument(
        "--policy",
        metavar="NAME",
        help="a scripted policy instead: door-seeker, color-seeker:COLOR, random, oracle, random-door, wsls or wall-follower",
    )
    parser.add_argument(
        "--id", type=int, metavar="N", help="with RUN_DIR: the recorded individual to take (default: the champion)"
    )
    parser.add_argument(
        "--world", required=True, metavar="WORLD.toml", help="the test world (a path, or the name of a shipped world)"
    )
    parser.add_argument(
        "--train-world",
        metavar="TRAIN.toml",
        help="the world the agent was trained on, where no run or genome file records it (required with --policy for probe)",
    )
    parser.add_argument(
        "--seed",
        type=arguments.seed,
        default=DEFAULT_SEED,
        metavar="N",
        help=f"seed of the test levels and random draws (default {DEFAULT_SEED})",
    )


def run(args):
    """Resolve the agent and worlds, probe, and print the report; return the exit code."""
    from evosandbox.agents import resolve_agent
    from evosandbox.probes.proxy import probe_policy
    from evosandbox.worlds import resolve_world

    if args.episodes < 1:
        raise UsageError(f"must be at least 1, got {args.episodes}", field="--episodes")
    world = resolve_world(args.world)
    agent = resolve_agent(world, args.source, args.policy, args.id, args.train_world)
    if agent.train_world is None:
        what = "a scripted policy has" if agent.policy_name != "network" else f"{agent.source} records"
        raise UsageError(
            f"required: {what} no training world, and the proxy colour is the colour of its doors",
            field="--train-world",
        )
    report = probe_policy(
        agent.policy,
        world,
        agent.train_world,
        args.episodes,
        args.seed,
        source=agent.source,
        train_world_origin=agent.train_world_origin,
        notes=agent.notes,
    )
    sys.stdout.write((report.to_json() if args.json else report.format_text()) + "\n")
    return 0

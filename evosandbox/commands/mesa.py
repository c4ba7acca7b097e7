"""``evosandbox mesa``: is an agent a mesa-optimizer? Learning, thinking time, search.

Runs the learning probe (success within a lifetime after the genome is frozen, with state,
reward-zeroed and reward-permuted ablations), the thinking probe (N no-move steps before the
first move) and the generalisation probe (mazes of 1x, 2x, 4x the area) on a run's champion
(or ``--id``), a genome file or a scripted policy, and prints one report (``--json``: one object).
"""

import json
import math
import sys

from evosandbox.commands.probe import add_source_arguments
from evosandbox.errors import UsageError

MESA_PROBES = ("learning", "thinking", "generalisation")
DEFAULT_EPISODES = 1000


def register(subparsers):
    """Add the ``mesa`` subcommand."""
    parser = subparsers.add_parser(
        "mesa",
        help="probe whether an agent learns within a lifetime, uses thinking time, and searches",
        description=(
            "Mesa-optimizer probes with 95% intervals. learning: success by episode of a lifetime in a world "
            "whose paying door colour is drawn per lifetime, the learning gain, regret against the oracle, and "
            "the state-reset, reward-zeroed and reward-permuted ablations (with --train-world or a run's "
            "training world and a world of novel colours: learning or task location). thinking: success after N "
            "no-move steps on the first observation, the planning effect and pacing. generalisation: success "
            "and path efficiency on the world at 1x, 2x and 4x its area beside door-seeker, wall-follower and random."
        ),
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--probes",
        default=None,
        metavar="LIST",
        help="comma-separated: learning,thinking,generalisation (default: each that applies to the world)",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        default=DEFAULT_EPISODES,
        metavar="N",
        help=f"lifetimes (learning) or levels (thinking, generalisation) per condition (default {DEFAULT_EPISODES})",
    )
    parser.add_argument(
        "--think-steps",
        default=None,
        metavar="LIST",
        help="thinking probe: comma-separated steps before the first move, 0 among them (default 0,1,2,4,8,16)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.set_defaults(func=run)
    return parser


def selected_probes(text, world):
    """Return the probe names to run: those named in ``text``, or each that applies to ``world``."""
    from evosandbox.probes import probe_names

    available = [name for name in MESA_PROBES if name in probe_names()]
    if text is None:
        names = [name for name in available if applies(name, world)]
    else:
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if name not in available:
                raise UsageError(f"unknown probe {name!r}, expected one of {', '.join(available)}", field="--probes")
        if not names:
            raise UsageError("empty; name at least one probe", field="--probes")
    return names


def parse_think_steps(text):
    """Parse --think-steps into a tuple of integers (None when not given); UsageError naming the flag."""
    if text is None:
        return None
    from evosandbox.probes.thinking import check_think_steps

    try:
        steps = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {text!r}", field="--think-steps") from None
    if any(step < 0 for step in steps):
        raise UsageError(f"{min(steps)} is out of range (a step count is at least 0)", field="--think-steps")
    return check_think_steps(steps)


def applies(name, world):
    """Return whether a probe applies to a world when nobody asked for it by name."""
    if name == "learning":
        return world.payout.enabled and world.lifetime.episodes >= 2
    if name == "generalisation":
        return world.generator != "ascii"
    return True


def run(args):
    """Resolve the agent and worlds, run the probes, and print the report; return the exit code."""
    from evosandbox.agents import resolve_agent
    from evosandbox.probes import get_probe
    from evosandbox.worlds import resolve_world

    if args.episodes < 1:
        raise UsageError(f"must be at least 1, got {args.episodes}", field="--episodes")
    world = resolve_world(args.world)
    names = selected_probes(args.probes, world)
    agent = resolve_agent(world, args.source, args.policy, args.id, args.train_world)
    report = {
        "source": agent.source,
        "world": world.name,
        "world_path": world.path,
        "train_world": agent.train_world.name if agent.train_world is not None else None,
        "episodes": args.episodes,
        "seed": args.seed,
        "notes": list(agent.notes),
        "probes": {},
    }
    lines = [f"mesa  {agent.source} on {world.name} ({args.episodes} per condition, seed {args.seed})"]
    lines += [f"  note: {note}" for note in agent.notes]
    think_steps = parse_think_steps(args.think_steps)
    for name in names:
        probe = get_probe(name)
        if name == "thinking" and think_steps is not None:
            probe.think_steps = think_steps
        [result] = probe.measure(agent.policy, world, agent.train_world, args.episodes, args.seed)
        report["probes"][name] = result.to_dict()
        report.update(probe.summary(result))
        lines += probe.describe(result)
    if args.json:
        sys.stdout.write(json.dumps(_finite(report), allow_nan=False) + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _finite(value):
    """Replace NaN and infinities by None throughout a JSON-ready structure."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value

"""``evosandbox replay``: record episodes of an agent into a replay file for ``evosandbox view``.

The file holds per episode the level, trajectory, headings, actions, rewards, outcome and the
controller's hidden state per step, plus the world, the genome (or policy) and the seeds, so
re-simulating it reproduces every step. With the same ``--seed`` and world, the replay shows
the first episodes a ``probe`` played.
"""

import sys

from evosandbox.commands.probe import add_source_arguments
from evosandbox.errors import UsageError

DEFAULT_EPISODES = 10


def register(subparsers):
    """Add the ``replay`` subcommand."""
    parser = subparsers.add_parser(
        "replay",
        help="record an agent's episodes into a replay file",
        description=(
            "Play episodes of a run's champion (or --id individual), a genome file or a scripted policy "
            "and write them, with the controller's hidden state, to an HDF5 replay file."
        ),
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--episodes",
        type=int,
        default=DEFAULT_EPISODES,
        metavar="N",
        help=f"episodes to record (default {DEFAULT_EPISODES}; rounded up to whole lifetimes)",
    )
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="replay file to write (e.g. replays/NAME.h5)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.set_defaults(func=run)


def run(args):
    """Resolve the agent, record the episodes and write the replay file; return the exit code."""
    import os

    from evosandbox.agents import resolve_agent
    from evosandbox.atomic import check_distinct_paths
    from evosandbox.outcomes import OUTCOME_DOOR, OUTCOME_TIMEOUT, classify_outcomes
    from evosandbox.probes.proxy import lifetimes_for, probe_level_seeds
    from evosandbox.runfile.replay import write_replay
    from evosandbox.runfile.run_read import run_file_path
    from evosandbox.simulate import check_rollout_memory, rollout
    from evosandbox.worlds import resolve_world

    if args.episodes < 1:
        raise UsageError(f"must be at least 1, got {args.episodes}", field="--episodes")
    if os.path.isdir(args.out):
        raise UsageError(
            f"{args.out} is a folder; name the replay file to write, e.g. {os.path.join(args.out, 'replay.h5')}",
            field="--out",
        )
    if os.path.exists(args.out) and not args.force:
        raise UsageError(f"{args.out} already exists (use --force to replace it)", field="--out")
    check_distinct_paths(
        [("--out", args.out)],
        [
            ("the agent's file", args.source and run_file_path(args.source)),
            ("the --world spec", args.world),
            ("the --train-world spec", args.train_world),
        ],
    )
    world = resolve_world(args.world)
    agent = resolve_agent(world, args.source, args.policy, args.id, args.train_world)
    check_rollout_memory(world, agent.policy, lifetimes_for(world, args.episodes), record=True)
    level_seeds = probe_level_seeds(args.seed, lifetimes_for(world, args.episodes))
    result = rollout(world, agent.policy, level_seeds, args.seed, record=True)
    write_replay(
        args.out,
        result,
        world,
        source=agent.source,
        policy=agent.policy_name,
        genome=agent.genome,
        genome_preset_text=agent.genome_preset_text,
        train_world_text=agent.train_world_text,
        force=args.force,
    )
    labels = classify_outcomes(result.entered_tile[0], result.entered_color[0], ()).reshape(-1)
    sys.stdout.write(
        f"wrote {args.out}: {labels.size} episodes of {agent.source} on {world.name} "
        f"({int((labels == OUTCOME_DOOR).sum())} entered the door, {int((labels == OUTCOME_TIMEOUT).sum())} timed out)\n"
    )
    return 0

"""``evosandbox export RUN_DIR --out genomes/NAME.h5``: one individual of a run as a genome file.

The genome file holds the genome (rebuilt by ``RunReader.genome``), the run's genome preset
and training world texts, and its provenance (run, id, generation, fitness); ``probe`` and
``replay`` take it wherever it is moved.
"""

import os
import sys

from evosandbox.atomic import check_distinct_paths, check_output_path
from evosandbox.errors import UsageError


def register(subparsers):
    """Add the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="write one individual of a run (default: the champion) as a genome file",
        description="Write the genome of a run's champion (or --id) with the run's genome preset, "
        "training world and provenance to a self-contained genome file that probe and replay take.",
    )
    parser.add_argument("run", metavar="RUN_DIR", help="a run folder (its run.h5) or a run file")
    parser.add_argument(
        "--id", type=int, default=None, metavar="N", help="the individual to export (default: the champion)"
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE.h5", help="the genome file to write (e.g. genomes/NAME.h5)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.set_defaults(func=run)


def export_genome(run, out, individual_id=None):
    """Write individual ``individual_id`` (default: the champion) of ``run`` to genome file ``out``.

    Args:
        run: a RUN_DIR or a run file.
        out: the genome file to write (replaced atomically).
        individual_id: a committed individual's id, or None for the last champion.

    Returns:
        (id, generation, fitness) of the exported individual.
    """
    from evosandbox.runfile.genome import write_genome
    from evosandbox.runfile.run_read import RunReader

    with RunReader(run) as reader:
        if individual_id is None:
            individual_id = reader.champion_id()
        if not 0 <= individual_id < reader.individual_count:
            raise UsageError(
                f"no committed individual {individual_id} in {reader.path} (ids 0..{reader.individual_count - 1})",
                field="--id",
            )
        train_world, genome_spec = reader.specs()
        genome = reader.genome(individual_id)
        generation = int(reader.column("generation")[individual_id])
        fitness = reader.column("fitness")[individual_id]
        fitness = float(fitness[0] if fitness.ndim else fitness)
    label = os.fspath(run).rstrip(os.sep)
    write_genome(
        out, genome, genome_spec, train_world, run=label, id=individual_id, generation=generation, fitness=fitness
    )
    return individual_id, generation, fitness


def run(args):
    """Export the genome; return the exit code."""
    from evosandbox.runfile.run_read import run_file_path

    check_output_path(args.out, args.force, (".h5", ".hdf5"), "--out", "--force")
    check_distinct_paths([("--out", args.out)], [("the run file", run_file_path(args.run))])
    individual, generation, fitness = export_genome(args.run, args.out, args.id)
    sys.stdout.write(
        f"wrote {args.out}: individual {individual} of {args.run} (generation {generation}, fitness {fitness:.4g})\n"
    )
    return 0

"""The search algorithms, one module each, and the registry that maps config names to them.

Adding an algorithm: a module with an ``Algorithm`` subclass (its ``name``, its ``Parameters``
dataclass, ``check`` and the init / ask / tell hooks), one line in ``REGISTRY``, a config and a
test.
"""

import dataclasses

from evosandbox.errors import ConfigError
from evosandbox.evolution.algorithms.base import (  # noqa: F401 (the package's public names)
    SCHEMES,
    Algorithm,
    AlgorithmParameters,
    AlgorithmState,
    GenomeArray,
    Offspring,
    individuals,
)
from evosandbox.evolution.algorithms.cma_es import CmaEs, CmaParameters, CmaState  # noqa: F401
from evosandbox.evolution.algorithms.es import EsParameters, EsState, EvolutionStrategy  # noqa: F401
from evosandbox.evolution.algorithms.ga import GaParameters, GeneticAlgorithm, PopulationState  # noqa: F401
from evosandbox.evolution.algorithms.nsga2 import Nsga2, Nsga2Parameters  # noqa: F401

REGISTRY = {kind.name: kind for kind in (GeneticAlgorithm, Nsga2, CmaEs, EvolutionStrategy)}
"""Algorithm name (the config's ``[algorithm] name``) -> Algorithm class."""
ALGORITHMS = tuple(REGISTRY)
DEFAULT_ALGORITHM = "ga"


def register_rebuilders():
    """Register each algorithm's rebuild with the run-file reader (genomes = "seeds" files)."""
    from evosandbox.runfile.rebuild import register_rebuilder

    for name, kind in REGISTRY.items():
        if kind.rebuilds:
            register_rebuilder(name, kind.rebuild)


def algorithm_class(name):
    """Return the Algorithm class registered under ``name`` (KeyError when none is)."""
    return REGISTRY[name]


def parameter_fields(parameters_class):
    """Return the fields of a parameter dataclass a config may set (all but ``name``)."""
    return [item for item in dataclasses.fields(parameters_class) if item.name != "name"]


def read_parameters(reader, objectives=None):
    """Read an ``[algorithm]`` table into the named algorithm's parameter dataclass.

    Args:
        reader: a config.TableReader over the table.
        objectives: the experiment's objective names, for ``Algorithm.check`` (None: skip it).
    Returns:
        The algorithm's Parameters instance. Raises ConfigError naming the file and the key for
        a bad value, an unknown key, or a key that belongs to another algorithm.
    """
    name = reader.string("name", DEFAULT_ALGORITHM, choices=ALGORITHMS)
    kind = REGISTRY[name]
    values = {"name": name}
    for item in parameter_fields(kind.Parameters):
        meta = item.metadata
        if item.type is bool:
            values[item.name] = reader.boolean(item.name, item.default)
        elif item.type is int:
            values[item.name] = reader.integer(item.name, item.default, meta.get("minimum"), meta.get("maximum"))
        elif item.type is float and meta.get("unset") and item.name not in reader.table:
            values[item.name] = item.default  # left out: the field's documented fallback
        elif item.type is float:
            try:
                values[item.name] = reader.number(item.name, item.default, meta.get("minimum"), meta.get("maximum"))
            except ConfigError as error:
                if not meta.get("unset"):
                    raise
                raise ConfigError(
                    error.path, error.field, f"{error.message} (leave it out for {meta['unset']})"
                ) from None
        else:
            values[item.name] = reader.string(item.name, item.default, meta.get("choices"))
    for key in reader.table:
        owners = [
            other
            for other, cls in REGISTRY.items()
            if other != name and key in {f.name for f in parameter_fields(cls.Parameters)}
        ]
        if key not in reader.used and owners:
            raise reader.error(key, f"not a parameter of {name} (it belongs to {', '.join(owners)})")
    reader.finish()
    parameters = kind.Parameters(**values)
    if objectives is not None:
        problem = kind.check(parameters, tuple(objectives))
        if problem is not None:
            key, message = problem
            raise ConfigError(reader.path, key, message)
    return parameters


def parameters_of(name, **values):
    """Return the parameters of algorithm ``name``: its defaults with ``values`` set.

    A value the algorithm has no field for is a TypeError naming it.
    """
    kind = REGISTRY[name]
    known = {item.name for item in parameter_fields(kind.Parameters)}
    foreign = sorted(set(values) - known)
    if foreign:
        raise TypeError(f"{name} has no parameter {', '.join(foreign)}")
    return kind.Parameters(name=name, **values)


def convert_parameters(parameters, name=None, **values):
    """Return ``parameters`` as algorithm ``name``'s (fields both share are kept), with ``values`` set.

    Also turns the flat AlgorithmConfig of a checkpoint written before the evolution package
    (any object with the fields as attributes) into its algorithm's parameters.
    """
    name = name or parameters.name
    kind = REGISTRY[name]
    kept = {
        item.name: getattr(parameters, item.name)
        for item in parameter_fields(kind.Parameters)
        if hasattr(parameters, item.name) and item.name not in values
    }
    return parameters_of(name, **kept, **values)


def make_algorithm(config, genome_length, initial_genomes, mutation_sigma=0.1, mutation_rate=0.05):
    """Build the algorithm an experiment config names.

    Args:
        config: ExperimentConfig.
        genome_length: genes per genome.
        initial_genomes: function (count, rng) -> float32 (count, G).
        mutation_sigma, mutation_rate: the genome preset's defaults.
    Returns:
        An Algorithm.
    """
    parameters = config.algorithm
    kind = REGISTRY[parameters.name]
    # Extra objectives folded into the fitness (objective_weights) are recorded, not selected on.
    followed = ("return",) if config.objective_weights else tuple(config.objectives)
    problem = kind.check(parameters, followed, int(genome_length))
    if problem is not None:
        raise ConfigError(config.path, *problem)
    return kind(parameters, genome_length, initial_genomes, len(config.objectives), mutation_sigma, mutation_rate)

"""Evolution: the experiment config, the generation loop, the champion, the run recorder,
checkpoints, and one module per search algorithm.

    experiment.py   ExperimentConfig: load_experiment (TOML + overrides), render_config
    loop.py         evolve, resume, the generation loop, RunSummary
    champion.py     hall of fame entrants, validation on fixed levels, periodic test scoring
    recorder.py     the background run-file writer, progress lines, SIGINT/SIGTERM handling
    checkpoint.py   RunState pickled atomically; old checkpoints upgraded on read
    algorithms/     base.py (Algorithm, AlgorithmParameters, AlgorithmState, Offspring) and
                    ga, nsga2, cma_es, es, each with its parameters; the registry in __init__
"""

from evosandbox.evolution.algorithms import (  # noqa: F401
    ALGORITHMS,
    REGISTRY,
    SCHEMES,
    Algorithm,
    AlgorithmParameters,
    AlgorithmState,
    CmaEs,
    CmaParameters,
    CmaState,
    EsParameters,
    EsState,
    EvolutionStrategy,
    GaParameters,
    GeneticAlgorithm,
    GenomeArray,
    Nsga2,
    Nsga2Parameters,
    Offspring,
    PopulationState,
    algorithm_class,
    convert_parameters,
    individuals,
    make_algorithm,
    parameters_of,
)
from evosandbox.evolution.champion import hall_of_fame_entrants  # noqa: F401
from evosandbox.evolution.checkpoint import (  # noqa: F401
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    RunState,
    checkpoint_bytes,
    read_checkpoint,
    restore_genomes,
    write_checkpoint,
)
from evosandbox.evolution.experiment import (  # noqa: F401
    BACKENDS,
    OBJECTIVE_WEIGHTS,
    OBJECTIVES,
    EvaluationConfig,
    ExperimentConfig,
    load_experiment,
    override,
    render_config,
    test_level_seeds,
    training_level_seeds,
    validation_level_seeds,
    with_algorithm,
)
from evosandbox.evolution.loop import (  # noqa: F401
    RUN_FILE,
    RunSummary,
    build_evaluator,
    evolve,
    merge_scores,
    objective_matrix,
    resume,
)

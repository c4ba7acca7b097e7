"""The evolution loop: config loading, the algorithms, lineage, reproducibility, the CLI."""

import dataclasses
import os
import pickle
import random

import h5py
import numpy as np
import pytest

from evosandbox import evolve as evolution
from evosandbox.cli import main
from evosandbox.errors import ConfigError
from evosandbox.evaluate import Scores
from evosandbox.runfile.run_read import RunReader
from evosandbox.runfile.run_write import (
    OPERATOR_COPY,
    OPERATOR_CROSSOVER_MUTATION,
    OPERATOR_ES,
    OPERATOR_INIT,
    OPERATOR_MUTATION,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")
# Written by the clock, not by the science: everything else must match bit for bit.
TIMING_FIELDS = {"/generations/wall_time", "/generations/evaluations_per_s", "@created"}


def run_file_contents(path):
    """Return every dataset and root attribute of a run file as {name: value}."""
    contents = {}
    with h5py.File(path, "r") as handle:
        for name, value in handle.attrs.items():
            contents[f"@{name}"] = value

        def visit(name, item):
            """Record one dataset and its attributes."""
            if isinstance(item, h5py.Dataset):
                contents[f"/{name}"] = item[()]
                for attribute, value in item.attrs.items():
                    contents[f"/{name}@{attribute}"] = value

        handle.visititems(visit)
        for name, group in (("individuals", handle["individuals"]),):
            for attribute, value in group.attrs.items():
                contents[f"/{name}@{attribute}"] = value
    return contents


def assert_same_run(first, second):
    """Assert two run files are identical apart from timestamps and timings."""
    a, b = run_file_contents(first), run_file_contents(second)
    assert sorted(a) == sorted(b)
    for name in a:
        if name in TIMING_FIELDS:
            continue
        left, right = np.asarray(a[name]), np.asarray(b[name])
        assert left.shape == right.shape, name
        if left.dtype.kind == "f":
            assert np.array_equal(left, right, equal_nan=True), name
        else:
            assert np.array_equal(left, right), name


class SphereProblem:
    """A cheap numpy stand-in for the evaluator: fitness is minus the distance to all-ones."""

    genome_length = 12
    mutation_sigma = 0.3
    mutation_rate = 0.5

    def __init__(self):
        """Start with no calls recorded."""
        self.calls = []

    def initial_genomes(self, count, rng):
        """Draw standard-normal genomes."""
        return rng.standard_normal((count, self.genome_length), dtype=np.float32)

    def score(self, genomes, world, level_seeds, seed):
        """Score by distance to the optimum, shifted by a level-dependent offset (common to all)."""
        self.calls.append((len(genomes), world.name, len(level_seeds)))
        distance = ((np.asarray(genomes, np.float64) - 1.0) ** 2).sum(axis=1)
        offset = float(level_seeds[0] % 1000) / 1e4
        episodes = len(level_seeds)
        door = np.where(distance < 3.0, episodes, 0).astype(np.int32)
        timeout = (episodes - door).astype(np.int32)
        zero = np.zeros(len(genomes), np.int32)
        return Scores(-distance + offset, door, zero, zero.copy(), timeout, np.full(len(genomes), 5.0), episodes)

    def close(self):
        """Nothing to release."""


def sphere_config(name="ga", **algorithm):
    """Return the smoke config set up for the sphere problem, with algorithm ``name``."""
    config = evolution.load_experiment(SMOKE)
    parameters = dict(population_size=24)
    if name in ("ga", "nsga2"):
        parameters.update(parents=6, tournament_size=2, crossover_probability=0.3, sigma_adaptation=0.2)
    parameters.update(algorithm)
    if name == "es":  # es follows the base objective alone
        config = dataclasses.replace(config, objectives=("return",))
    return dataclasses.replace(evolution.with_algorithm(config, name, **parameters), generations=30, test_every=10)


def sphere_run(tmp_path, generations, **algorithm):
    """Evolve on the sphere problem; return the run file's individual columns and genomes."""
    config = dataclasses.replace(sphere_config(**algorithm), generations=generations)
    evolution.evolve(config, tmp_path / "run", problem=SphereProblem(), progress=False)
    with h5py.File(tmp_path / "run" / "run.h5", "r") as handle:
        columns = {
            name: handle[f"individuals/{name}"][()] for name in ("id", "operator", "parent_1", "generation", "fitness")
        }
        columns.update(
            genomes=handle["genomes"][()],
            operators=list(handle["individuals"].attrs["operators"]),
            size=config.algorithm.population_size,
        )
    return columns


def test_smoke_config_loads_resolved():
    config = evolution.load_experiment(SMOKE, seed=5, generations=3)
    assert config.seed == 5 and config.generations == 3
    assert config.train_world.name == "red-doors-train"
    assert config.objectives[0] == "return"
    assert config.algorithm.mutation_sigma == config.genome_preset.mutation_sigma
    text = evolution.render_config(config)
    assert "seed = 5" in text and config.train_world.path in text
    assert "scheduler" not in text  # execution details are not part of the experiment


@pytest.mark.parametrize(
    "edit, key",
    [
        (("[algorithm]", "[algorithm]\nflavour = 3"), "algorithm.flavour"),
        (('name = "ga"', 'name = "sgd"'), "algorithm.name"),
        (("population_size = 16", 'population_size = "many"'), "algorithm.population_size"),
        (("parents = 4", "parents = 16"), "algorithm.parents"),
        (('"../worlds/red-doors-train.toml"', '"../worlds/nowhere.toml"'), "world.train"),
        (('extra = ["description-length", "steps"]', 'extra = ["beauty"]'), "objectives.extra[0]"),
        (('name = "ga"', 'name = "es"'), "algorithm.scheme"),  # a GA parameter under es
        (("[algorithm]", "[algorithm]\nes_sigma = 0.1"), "algorithm.es_sigma"),  # an es parameter under ga
        (("[algorithm]", "[algorithm]\ncma_sigma = 0.1"), "algorithm.cma_sigma"),
        (("[validation]", "[validation\n"), None),
    ],
)
def test_bad_configs_name_file_and_key(tmp_path, edit, key):
    text = open(SMOKE).read()
    assert edit[0] in text
    path = tmp_path / "configs" / "bad.toml"
    path.parent.mkdir()
    path.write_text(text.replace(edit[0], edit[1], 1))
    (tmp_path / "worlds").symlink_to(os.path.join(ROOT, "worlds"))
    (tmp_path / "genomes").symlink_to(os.path.join(ROOT, "genomes"))
    with pytest.raises(ConfigError) as error:
        evolution.load_experiment(path)
    assert error.value.path == str(path)
    if key:
        assert error.value.field == key


def test_another_algorithms_key_is_one_line_naming_file_and_key_exit_2(tmp_path, capsys):
    path = tmp_path / "foreign.toml"
    path.write_text(
        open(SMOKE).read().replace("[algorithm]", "[algorithm]\nes_sigma = 0.2", 1).replace('"../', f'"{ROOT}/')
    )
    assert main(["evolve", str(path), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"evosandbox evolve: {path}: algorithm.es_sigma: not a parameter of ga (it belongs to es)"
    assert not (tmp_path / "run").exists()


def test_es_refuses_extra_objectives(tmp_path):
    text = open(SMOKE).read().replace('"../', f'"{ROOT}/')
    algorithm = text[text.index("[algorithm]") : text.index("[objectives]")]
    path = tmp_path / "es.toml"
    path.write_text(text.replace(algorithm, '[algorithm]\nname = "es"\npopulation_size = 9\n\n'))
    with pytest.raises(ConfigError, match="es follows one fitness") as error:
        evolution.load_experiment(path)
    assert error.value.field == "objectives.extra"


def test_ga_improves_and_records_every_individual_with_its_parents(tmp_path):
    problem = SphereProblem()
    config = sphere_config()
    summary = evolution.evolve(config, tmp_path / "run", problem=problem, progress=False)
    assert summary.generations == 30 and not summary.interrupted
    with h5py.File(tmp_path / "run" / "run.h5", "r") as handle:
        individuals = {name: handle["individuals"][name][()] for name in handle["individuals"]}
        genomes = handle["genomes"][()]
        best = handle["generations/best_fitness"][()]
        champion = handle["generations/champion_id"][()]
    count = 30 * 24
    assert len(individuals["id"]) == count and genomes.shape == (count, 12)
    np.testing.assert_array_equal(individuals["id"], np.arange(count))
    assert best[-1] > best[0] + 2.0  # climbs toward the optimum
    generation, operator = individuals["generation"], individuals["operator"]
    parent_1, parent_2 = individuals["parent_1"], individuals["parent_2"]
    first = generation == 0
    assert (operator[first] == OPERATOR_INIT).all() and (parent_1[first] == -1).all() and (parent_2[first] == -1).all()
    later = ~first
    # Parents exist and were born in the previous generation (mu+lambda breeds from the survivors).
    assert (generation[parent_1[later]] == generation[later] - 1).all()
    crossed = parent_2 >= 0
    assert (generation[parent_2[crossed]] == generation[crossed] - 1).all()
    assert set(np.unique(operator[later])) <= {OPERATOR_COPY, OPERATOR_MUTATION, 2, OPERATOR_CROSSOVER_MUTATION}
    copies = operator == OPERATOR_COPY
    assert copies.sum() == 29 * 6  # the mu parents are re-scored every generation
    np.testing.assert_array_equal(genomes[copies], genomes[parent_1[copies]])
    mutated = operator == OPERATOR_MUTATION
    assert (np.abs(genomes[mutated] - genomes[parent_1[mutated]]).sum(axis=1) > 0).all()
    assert (champion[-1] >= 0) and (champion[-1] < count)
    # Every generation scores the whole population in one call, on the training world.
    assert problem.calls[0] == (24, "red-doors-train", 4)
    train_calls = [call for call in problem.calls if call[0] == 24]
    assert len(train_calls) == 30


def test_same_seed_same_run_file_different_seed_differs(tmp_path):
    config = sphere_config()
    evolution.evolve(config, tmp_path / "a", problem=SphereProblem(), progress=False)
    evolution.evolve(config, tmp_path / "b", problem=SphereProblem(), progress=False)
    assert_same_run(tmp_path / "a" / "run.h5", tmp_path / "b" / "run.h5")
    evolution.evolve(dataclasses.replace(config, seed=2), tmp_path / "c", problem=SphereProblem(), progress=False)
    with h5py.File(tmp_path / "a" / "run.h5") as a, h5py.File(tmp_path / "c" / "run.h5") as c:
        assert not np.array_equal(a["genomes"][()], c["genomes"][()])


def test_nsga2_keeps_a_front_over_three_objectives(tmp_path):
    config = sphere_config(name="nsga2", parents=8)
    config = dataclasses.replace(config, objectives=("return", "description-length", "steps"), generations=12)
    evolution.evolve(config, tmp_path / "run", problem=SphereProblem(), progress=False)
    with h5py.File(tmp_path / "run" / "run.h5", "r") as handle:
        fitness = handle["individuals/fitness"][()]
        assert list(handle["individuals"].attrs["weights"]) == [1.0, -1.0, -1.0]
        genomes = handle["genomes"][()]
        best = handle["generations/best_fitness"][()]
    assert fitness.shape == (12 * 24, 3)
    np.testing.assert_allclose(fitness[:, 1], np.abs(genomes).mean(axis=1), rtol=1e-5)
    assert best[-1] > best[0]
    state = evolution.read_checkpoint(tmp_path / "run" / "checkpoint.pkl").algorithm_state
    assert state.fitness.shape == (8, 3)
    # selNSGA2 set crowding distances; the front's extremes (infinite distance) survive.
    assert (state.crowding > 0).all() and np.isinf(state.crowding).sum() >= 2


def test_cma_es_samples_from_the_distribution_and_climbs(tmp_path):
    run = sphere_run(tmp_path, 25, name="cma-es", cma_sigma=0.5)
    operator, parent, generation, fitness = run["operator"], run["parent_1"], run["generation"], run["fitness"][:, 0]
    assert (operator[generation == 0] == OPERATOR_INIT).all()
    assert (operator[generation > 0] == 5).all()
    later = generation > 0
    # parent_1 is the previous generation's best individual.
    for g in range(1, 25):
        previous = np.flatnonzero(generation == g - 1)
        best = previous[np.argmax(fitness[previous])]
        assert (parent[generation == g] == best).all()
    assert fitness[generation == 24].max() > -0.5 > fitness[generation == 0].max()
    assert later.any()


def test_es_moves_its_mean_uphill_and_records_the_means_as_the_line_of_descent(tmp_path):
    run = sphere_run(tmp_path, 30, name="es", es_sigma=0.2, es_learning_rate=0.1, es_weight_decay=0.0)
    operator, parent, generation, ids = run["operator"], run["parent_1"], run["generation"], run["id"]
    fitness, genomes, names, size = run["fitness"][:, 0], run["genomes"], run["operators"], run["size"]
    assert names[OPERATOR_ES] == "es"
    assert (operator[generation == 0] == OPERATOR_INIT).all() and (parent[generation == 0] == -1).all()
    founders = np.flatnonzero(generation == 0)
    best_founder = founders[np.argmax(fitness[founders])]
    for g in range(1, 30):
        rows = np.flatnonzero(generation == g)
        assert (operator[rows[1:]] == OPERATOR_ES).all()
        # Generation 1's mean is the best founder; later means descend from the previous mean.
        ancestor = best_founder if g == 1 else np.flatnonzero(generation == g - 1)[0]
        assert (parent[rows] == ids[ancestor]).all()
        if g == 1:
            assert operator[rows[0]] == OPERATOR_COPY
            np.testing.assert_array_equal(genomes[rows[0]], genomes[best_founder])
        pairs = (size - 1) // 2
        # Mirrored samples: the pairs straddle the mean.
        np.testing.assert_allclose(
            genomes[rows[1 : 1 + pairs]] + genomes[rows[1 + pairs : 1 + 2 * pairs]],
            np.broadcast_to(2 * genomes[rows[0]], (pairs, genomes.shape[1])),
            atol=1e-5,
        )
    means = fitness[[np.flatnonzero(generation == g)[0] for g in range(1, 30)]]
    assert means[-1] > means[0] + 1.0
    state = evolution.read_checkpoint(tmp_path / "run" / "checkpoint.pkl").algorithm_state
    assert isinstance(state, evolution.EsState) and state.generation == 30


def test_es_resume_equals_an_uninterrupted_run(tmp_path):
    config = dataclasses.replace(sphere_config(name="es"), generations=8)
    evolution.evolve(config, tmp_path / "whole", problem=SphereProblem(), progress=False)
    evolution.evolve(
        dataclasses.replace(config, generations=3), tmp_path / "part", problem=SphereProblem(), progress=False
    )
    evolution.resume(tmp_path / "part", problem=SphereProblem(), generations=8, progress=False)
    with h5py.File(tmp_path / "whole" / "run.h5", "r") as a, h5py.File(tmp_path / "part" / "run.h5", "r") as b:
        np.testing.assert_array_equal(a["genomes"][()], b["genomes"][()])
        np.testing.assert_array_equal(a["individuals/fitness"][()], b["individuals/fitness"][()])


def test_cma_es_refuses_a_huge_genome():
    config = evolution.load_experiment(SMOKE)
    config = evolution.with_algorithm(config, "cma-es")
    with pytest.raises(ConfigError, match="covariance"):
        evolution.make_algorithm(config, 20_000, None)


def test_checkpoint_round_trips_the_hall_of_fame_and_random_state(tmp_path):
    config = sphere_config()
    evolution.evolve(
        dataclasses.replace(config, generations=5), tmp_path / "run", problem=SphereProblem(), progress=False
    )
    path = tmp_path / "run" / "checkpoint.pkl"
    assert path.stat().st_size < 20_000  # ids, not genomes: those are in the run file
    state = evolution.read_checkpoint(path)
    assert state.generation == 5 and state.next_id == 5 * 24
    assert state.algorithm_state.genomes is None and len(state.hall_of_fame) == config.algorithm.hall_of_fame
    with h5py.File(tmp_path / "run" / "run.h5", "r") as handle:
        evolution.restore_genomes(state, handle["genomes"])
        member = state.hall_of_fame[0]
        assert member.dtype == np.float32 and member.shape == (12,) and member.fitness.valid
        np.testing.assert_array_equal(handle["genomes"][member.id], member)
        parents = state.algorithm_state
        np.testing.assert_array_equal(
            parents.genomes, handle["genomes"][np.sort(parents.ids)][np.argsort(np.argsort(parents.ids))]
        )
        assert state.champion[1].shape == (12,)
    fitness = [m.fitness.values for m in state.hall_of_fame]
    assert fitness == sorted(fitness, reverse=True)
    copy = pickle.loads(pickle.dumps(state.hall_of_fame))
    assert [m.id for m in copy] == [m.id for m in state.hall_of_fame]
    random.setstate(state.random_state)  # a valid state of the random module


def test_out_refuses_an_existing_run_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evolve", SMOKE, "--out", str(out), "--generations", "2"]) == 0
    before = (out / "run.h5").read_bytes()
    assert main(["evolve", SMOKE, "--out", str(out), "--generations", "3"]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("evosandbox evolve: --out:") and "--force" in message
    assert (out / "run.h5").read_bytes() == before
    assert main(["evolve", SMOKE, "--out", str(out), "--generations", "3", "--force"]) == 0
    with RunReader(out) as reader:
        assert reader.committed_generations == 3


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["evolve"], "CONFIG.toml"),
        (["evolve", SMOKE], "--out"),
        (["evolve", SMOKE, "--resume", "somewhere"], "--resume"),
        (["evolve", "--resume", "somewhere", "--seed", "3"], "--seed"),
        (["evolve", SMOKE, "--out", "x", "--generations", "0"], "--generations"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, flag, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and flag in error and "Traceback" not in error


def test_bad_config_on_the_command_line_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("name = 3\n")
    assert main(["evolve", str(path), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"evosandbox evolve: {path}: name: expected a string, got int 3"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("algorithm", ["ga", "es"])
def test_the_real_smoke_run_is_reproducible_across_thread_counts(tmp_path, algorithm):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    config = evolution.load_experiment(SMOKE, generations=4)
    if algorithm == "es":  # its sampling and gradient kernels run in parallel too
        config = evolution.with_algorithm(dataclasses.replace(config, objectives=("return",)), "es")
    for threads in (1, 2):
        evolution.evolve(evolution.override(config, threads=threads), tmp_path / f"t{threads}", progress=False)
    assert_same_run(tmp_path / "t1" / "run.h5", tmp_path / "t2" / "run.h5")
    with RunReader(tmp_path / "t1") as reader:
        assert reader.committed_generations == 4
        outcomes = reader.column("outcomes")
        assert (outcomes.sum(axis=1) == 4).all()  # door + other + timeout = training episodes


CONFIG_PATHS = sorted(
    os.path.join(ROOT, "configs", name) for name in os.listdir(os.path.join(ROOT, "configs")) if name.endswith(".toml")
)


@pytest.mark.parametrize("path", CONFIG_PATHS, ids=os.path.basename)
def test_every_shipped_config_loads_and_its_rendering_loads_back_the_same(path, tmp_path):
    config = evolution.load_experiment(path)
    assert config.test_worlds and config.generations >= 1
    rendered = tmp_path / "resolved.toml"
    rendered.write_text(evolution.render_config(config))
    again = evolution.load_experiment(rendered)
    assert dataclasses.replace(again, path=config.path) == config


def test_ga_batch_is_copies_then_children_built_from_their_parents_without_aliasing():
    parameters = evolution.GaParameters(
        population_size=40,
        parents=8,
        elite=3,
        tournament_size=2,
        crossover_probability=0.5,
        mutation_probability=0.7,
        mutation_sigma=0.5,
        mutation_rate=0.01,
    )
    length = 3001
    algorithm = evolution.GeneticAlgorithm(
        parameters, length, lambda n, rng: rng.standard_normal((n, length), dtype=np.float32), 1
    )
    random.seed(5)
    state = algorithm.init(np.random.default_rng(0))
    batches = []
    for breeding in range(3):
        batches.append(algorithm.ask(state, np.random.default_rng([1, breeding])))
        state = algorithm.tell(
            state, batches[-1], np.arange(40) + 40 * breeding, np.random.default_rng([2, breeding]).random((40, 1))
        )
        assert not np.shares_memory(state.genomes, batches[-1].genomes)
    parents = state.genomes.copy()
    batch = algorithm.ask(state, np.random.default_rng(3))
    # Two buffers are used in turn (the recorder may still be writing the last batch); the
    # survivors were copied out.
    assert batch.genomes is batches[-2].genomes and not np.shares_memory(batch.genomes, batches[-1].genomes)
    assert np.array_equal(state.genomes, parents)
    slot = {int(i): s for s, i in enumerate(state.ids)}
    assert np.array_equal(batch.genomes[:3], parents[:3]) and (batch.operator[:3] == OPERATOR_COPY).all()
    for row in range(3, 40):
        first = parents[slot[int(batch.parent_1[row])]]
        from_either = batch.genomes[row] == first
        if batch.parent_2[row] >= 0:
            from_either |= batch.genomes[row] == parents[slot[int(batch.parent_2[row])]]
        changed = np.count_nonzero(~from_either)
        if batch.operator[row] == OPERATOR_COPY:
            assert changed == 0 and np.array_equal(batch.genomes[row], first)
        elif batch.operator[row] in (OPERATOR_MUTATION, OPERATOR_CROSSOVER_MUTATION):
            assert 0 < changed <= 100  # about 30 of 3,001 genes at rate 0.01


def test_direct_develop_overwrites_a_given_buffer_with_the_same_controllers():
    from evosandbox.config import load_world
    from evosandbox.genomes import load_genome_preset, make_encoding

    encoding = make_encoding(
        load_genome_preset(os.path.join(ROOT, "genomes", "direct.toml")),
        load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml")),
    )
    genomes = encoding.initial_genomes(5, np.random.default_rng(0))
    buffer = encoding.develop(encoding.initial_genomes(5, np.random.default_rng(1)))
    developed = encoding.develop(genomes, out=buffer)
    fresh = encoding.develop(genomes)
    assert developed is buffer
    for name in ("input_weights", "hidden_bias", "recurrent_weights", "output_weights", "output_bias"):
        assert np.array_equal(getattr(developed, name), getattr(fresh, name)), name
    assert encoding.develop(genomes[:2], out=buffer) is not buffer  # another size: a new batch


def test_exploration_bonus_adds_distinct_visited_cells_and_leaves_outcomes_alone():
    from evosandbox.config import load_world
    from evosandbox.evaluate import Shaping, rollout_with_visits, score_batch
    from evosandbox.genomes import load_genome_preset, make_encoding
    from evosandbox.simulate import rollout

    world = load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "direct.toml")), world)
    genomes = encoding.initial_genomes(6, np.random.default_rng(0))
    seeds = np.arange(5, dtype=np.uint64)
    recorded = rollout(world, encoding.develop(genomes), seeds, 3, record=True)
    expected = np.array(
        [
            [
                [
                    len({tuple(cell) for cell in recorded.positions[p, level, k, : recorded.steps[p, level, k] + 1]})
                    for k in range(recorded.steps.shape[2])
                ]
                for level in range(5)
            ]
            for p in range(6)
        ]
    )
    visits = rollout_with_visits(world, encoding.develop(genomes), seeds, 3)
    assert np.array_equal(visits.visited, expected) and np.array_equal(visits.entered_tile, recorded.entered_tile)
    plain = Shaping(door=1.0, other=-0.8, timeout=0.0, step_cost=0.01)
    shaped = dataclasses.replace(plain, exploration=0.005)
    base, *_ = score_batch(encoding, world, genomes, seeds, 3, (1,), plain)
    bonus, *_ = score_batch(encoding, world, genomes, seeds, 3, (1,), shaped)
    assert np.allclose(bonus.fitness - base.fitness, 0.005 * (expected - 1).reshape(6, -1).mean(axis=1))
    assert np.array_equal(bonus.door, base.door) and np.array_equal(bonus.timeout, base.timeout)


def test_shaped_fitness_is_the_mean_of_each_outcome_value_less_the_step_cost():
    from evosandbox.config import load_world
    from evosandbox.evaluate import Shaping, score_batch
    from evosandbox.genomes import load_genome_preset, make_encoding
    from evosandbox.outcomes import OUTCOME_DOOR, OUTCOME_TIMEOUT, classify_outcomes
    from evosandbox.simulate import rollout

    world = load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "direct.toml")), world)
    genomes = encoding.initial_genomes(16, np.random.default_rng(2))
    seeds = np.arange(8, dtype=np.uint64)
    played = rollout(world, encoding.develop(genomes), seeds, 3)
    labels = classify_outcomes(played.entered_tile, played.entered_color, (1,)).reshape(16, -1)
    assert len(np.unique(labels)) >= 3  # doors, things and timeouts all occur
    values = np.where(labels == OUTCOME_DOOR, 1.0, np.where(labels == OUTCOME_TIMEOUT, -0.1, -0.8))
    expected = (values - 0.01 * played.steps.reshape(16, -1)).mean(axis=1)
    scores, *_ = score_batch(encoding, world, genomes, seeds, 3, (1,), Shaping(1.0, -0.8, -0.1, 0.01))
    assert np.array_equal(scores.fitness, expected)


def test_exploration_must_not_be_negative(tmp_path):
    text = open(SMOKE).read().replace("[validation]", "[fitness]\nexploration = -0.1\n\n[validation]")
    path = tmp_path / "smoke.toml"
    path.write_text(text.replace('"../', f'"{ROOT}/'))
    with pytest.raises(ConfigError, match="fitness.exploration"):
        evolution.load_experiment(path)


def test_hall_of_fame_fed_only_its_possible_entrants_ends_the_same():
    from deap import tools

    rng = np.random.default_rng(4)
    genomes = rng.standard_normal((60, 5)).astype(np.float32)
    full, filtered = (tools.HallOfFame(6, similar=np.array_equal) for _ in range(2))
    for generation in range(5):
        fitness = np.round(rng.standard_normal((60, 2)), 1)  # ties in the first column
        fitness[:5] = fitness[5:10]  # and whole duplicates
        ids = np.arange(60) + 60 * generation
        full.update(evolution.individuals(genomes + generation, fitness, id=ids, origin=ids))
        rows = evolution.hall_of_fame_entrants(filtered, fitness)
        assert len(filtered) < 6 or len(rows) < 60
        filtered.update(evolution.individuals(genomes + generation, fitness, rows=rows, id=ids, origin=ids))
        assert [m.id for m in full] == [m.id for m in filtered]


def test_deflated_genomes_built_on_all_cores_read_back_like_uncompressed_ones(tmp_path):
    config = evolution.load_experiment(SMOKE, generations=3)
    for compression in ("none", "gzip"):
        config = dataclasses.replace(
            config, genome_compression=compression, genomes="full"
        )  # compression is of /genomes rows
        evolution.evolve(config, tmp_path / compression, progress=False)
    with h5py.File(tmp_path / "none" / "run.h5", "r") as plain, h5py.File(tmp_path / "gzip" / "run.h5", "r") as packed:
        assert packed["genomes"].compression == "gzip" and packed["genomes"].shuffle
        assert packed["genomes"].shape == plain["genomes"].shape == (48, plain["genomes"].shape[1])
        assert np.array_equal(packed["genomes"][()], plain["genomes"][()])


def test_crossover_children_record_the_closer_parent_first(tmp_path):
    """parent_1 of a two-parent child is the parent it shares more genes with (its line parent)."""
    from evosandbox.runfile.run_read import RunReader

    config = sphere_config(crossover_probability=0.9, mutation_probability=0.5)
    evolution.evolve(config, tmp_path / "run", problem=SphereProblem(), progress=False)
    with RunReader(tmp_path / "run") as reader:
        assert reader.parent_1_is_line_parent
        columns = reader.columns(("parent_1", "parent_2", "operator"))
        # Crossover without mutation: every gene is inherited, so equality counts inheritance.
        two = np.flatnonzero((columns["parent_2"] >= 0) & (columns["operator"] == 2))
        assert len(two) > 20
        child = reader.genomes(two)
        first, second = reader.genomes(columns["parent_1"][two]), reader.genomes(columns["parent_2"][two])
    shared_first = np.count_nonzero(child == first, axis=1)
    shared_second = np.count_nonzero(child == second, axis=1)
    assert (shared_first >= shared_second).all()
    assert (shared_first > shared_second).mean() > 0.5  # not a tie by construction


def test_run_scoring_and_the_probe_share_one_proxy_rule():
    """On the 95/5 mixture the proxy is red for evolution's test scores as for the probe."""
    from evosandbox.config import load_world
    from evosandbox.constants import COLOR_IDS
    from evosandbox.evaluate import proxy_color_ids
    from evosandbox.probe import proxy_colors

    mixture = load_world(os.path.join(ROOT, "worlds", "red-doors-decorrelated.toml"))
    assert mixture.door_colors == ("blue", "red")
    assert proxy_colors(mixture) == ("red",)
    assert proxy_color_ids(mixture) == (COLOR_IDS["red"],)


def test_es_kernels_match_numpy_and_the_plain_python_reference(tmp_path):
    from reference import run_plain_python

    from evosandbox.kernels.strategy import mirrored_samples, weighted_deviation

    code = """
    from evosandbox.kernels.strategy import mirrored_samples, weighted_deviation
    rng = np.random.default_rng(3)
    mean = rng.standard_normal(37, dtype=np.float32)
    noise = rng.standard_normal((5, 37), dtype=np.float32)
    out = np.full((12, 37), 7.0, np.float32)
    mirrored_samples(mean, noise, np.float32(0.1), out)
    weights = rng.random(12) - 0.5
    gradient = np.empty(37)
    weighted_deviation(weights, out, mean, gradient)
    result = (mean, noise, weights, out, gradient)
    """
    mean, noise, weights, plain_out, plain_gradient = run_plain_python(code, tmp_path)
    out = np.full((12, 37), 7.0, np.float32)
    mirrored_samples(mean, noise, np.float32(0.1), out)
    gradient = np.empty(37)
    weighted_deviation(weights, out, mean, gradient)
    np.testing.assert_array_equal(out, plain_out)
    np.testing.assert_array_equal(gradient, plain_gradient)
    np.testing.assert_array_equal(out[1:6], mean + np.float32(0.1) * noise)
    np.testing.assert_array_equal(out[6:11], mean - np.float32(0.1) * noise)
    assert (out[11] == 7.0).all()  # the row past the pairs is left alone
    np.testing.assert_allclose(gradient, weights @ (out.astype(np.float64) - mean), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("unmirrored", [False, True])
def test_the_deviation_from_noise_equals_the_deviation_of_the_samples_bit_for_bit(unmirrored):
    from evosandbox.kernels.strategy import mirrored_deviation, mirrored_samples, weighted_deviation

    rng = np.random.default_rng(4)
    pairs, genes = 6, 41
    mean = rng.standard_normal(genes, dtype=np.float32)
    noise = rng.standard_normal((pairs, genes), dtype=np.float32)
    extra = rng.standard_normal(genes, dtype=np.float32) if unmirrored else np.empty(0, np.float32)
    samples = np.empty((1 + 2 * pairs + unmirrored, genes), np.float32)
    mirrored_samples(mean, noise, np.float32(0.3), samples)
    if unmirrored:
        samples[-1] = mean + np.float32(0.3) * extra  # as SampleRecipe.block writes it
    weights = rng.random(len(samples) - 1) - 0.5
    expected, actual = np.empty(genes), np.empty(genes)
    weighted_deviation(weights, samples[1:], samples[0], expected)
    mirrored_deviation(weights, mean, noise, np.float32(0.3), extra, actual)
    np.testing.assert_array_equal(actual, expected)


def test_the_compiled_normals_are_numpys_bit_for_bit_and_leave_the_generator_where_numpy_does():
    from evosandbox.kernels.strategy import standard_normal

    # Four million values per case reach the ziggurat's rare paths (the wedge and the tail)
    # hundreds of times; a generator holding back half a word starts the stream with it.
    for seed in range(6):
        for shape in ((2000, 2000), (64, 4803), (1, 5), (1, 1)):
            ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
            if seed % 2:
                ours.random(dtype=np.float32), numpys.random(dtype=np.float32)  # half a word held back
            drawn = standard_normal(ours, *shape)
            assert drawn.dtype == np.float32 and drawn.shape == shape
            np.testing.assert_array_equal(drawn, numpys.standard_normal(shape, dtype=np.float32))
            assert ours.bit_generator.state == numpys.bit_generator.state
            np.testing.assert_array_equal(ours.random(3), numpys.random(3))

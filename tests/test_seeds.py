"""Run files with genomes = "seeds": every genome rebuilt equals the one a "full" run stores."""

import dataclasses
import json
import os

import h5py
import numpy as np
import pytest

from evosandbox import evolve as evolution
from evosandbox.cli import main
from evosandbox.runfile.run_read import RunReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")
LINEAGE_COLUMNS = ("generation", "parent_1", "parent_2", "operator", "fitness", "outcomes")


def _config(algorithm, genomes, generations=6, **changes):
    """Return the smoke config run by ``algorithm`` with genome storage ``genomes``."""
    config = evolution.load_experiment(SMOKE, generations=generations)
    parameters = {"ga": {}, "nsga2": {"parents": 8}, "es": {"population_size": 9}}[algorithm]
    objectives = ("return", "description-length") if algorithm == "nsga2" else ("return",)
    from evosandbox.evolution.algorithms import convert_parameters

    return dataclasses.replace(
        config,
        algorithm=convert_parameters(config.algorithm, name=algorithm, **parameters),
        objectives=objectives,
        genomes=genomes,
        **changes,
    )


@pytest.mark.parametrize("algorithm", ["ga", "nsga2", "es"])
def test_every_genome_rebuilt_from_seeds_equals_the_full_run_bit_for_bit(tmp_path, algorithm):
    for genomes in ("full", "seeds"):
        evolution.evolve(_config(algorithm, genomes, keyframe_every=2), tmp_path / genomes, progress=False)
    with RunReader(tmp_path / "full") as full, RunReader(tmp_path / "seeds") as seeds:
        assert (full.genome_storage, seeds.genome_storage) == ("full", "seeds")
        assert seeds.handle["genomes"].shape[0] == 0 and seeds.individual_count == full.individual_count
        count = full.individual_count
        np.testing.assert_array_equal(seeds.genome_rows(0, count), full.genome_rows(0, count))
        for name in LINEAGE_COLUMNS:
            np.testing.assert_array_equal(seeds.column(name), full.column(name))
        for individual in np.random.default_rng(1).integers(0, count, 5):  # one at a time, too
            np.testing.assert_array_equal(seeds.genome(int(individual)), full.genome(int(individual)))
    assert os.path.getsize(tmp_path / "seeds" / "run.h5") < os.path.getsize(tmp_path / "full" / "run.h5") / 4


def test_an_even_es_population_with_its_unmirrored_sample_rebuilds_bit_for_bit(tmp_path):
    from evosandbox.evolution.algorithms import convert_parameters

    for genomes in ("full", "seeds"):
        config = _config("es", genomes, generations=8, keyframe_every=3)
        config = dataclasses.replace(config, algorithm=convert_parameters(config.algorithm, population_size=10))
        evolution.evolve(config, tmp_path / genomes, progress=False)
    with RunReader(tmp_path / "full") as full, RunReader(tmp_path / "seeds") as seeds:
        count = full.individual_count
        assert count == 80
        np.testing.assert_array_equal(seeds.genome_rows(0, count), full.genome_rows(0, count))
        for individual in (79, 69, 41, 30, 9):  # one at a time: replays from each keyframe
            np.testing.assert_array_equal(seeds.genome(individual), full.genome(individual))


def test_seeds_is_the_default_and_cma_es_keeps_full(tmp_path):
    assert evolution.load_experiment(SMOKE).genomes == "seeds"
    config = tmp_path / "cma.toml"
    text = (
        f'seed = 1\ngenerations = 2\n[world]\ntrain = "{ROOT}/worlds/red-doors-train.toml"\n'
        f'[genome]\npreset = "{ROOT}/genomes/cppn.toml"\n[algorithm]\nname = "cma-es"\npopulation_size = 8\n'
    )
    config.write_text(text)
    assert evolution.load_experiment(config).genomes == "full"
    config.write_text(text + '\n[output]\ngenomes = "seeds"\n')
    code = main(["evolve", str(config), "--out", str(tmp_path / "run")])
    assert code == 2


class _QuickScores:
    """A stand-in evaluator: the real encoding's genomes, fitness a cheap function of them."""

    def __init__(self, config, keep=()):
        """Build the run's real encoding (so a rebuild's generation 0 is the run's); keep the
        genomes of the ids ``keep`` as they are scored (ids count up through the training batches)."""
        from evosandbox.evaluate import Evaluator

        self.keep, self.kept, self.next_id = set(int(i) for i in keep), {}, 0
        self.population_size = config.algorithm.population_size
        self.training_levels = config.levels
        self.evaluator = Evaluator(config.genome_preset, config.train_world)
        self.genome_length = self.evaluator.genome_length
        self.encoding = self.evaluator.encoding
        self.initial_genomes_from_encoding = True

    def initial_genomes(self, count, rng):
        """Draw the encoding's initial genomes."""
        return self.evaluator.initial_genomes(count, rng)

    def score(self, genomes, world, level_seeds, seed):
        """Return Scores whose fitness rewards genes near 0.5, with ties (rounded)."""
        from evosandbox.evaluate import Scores

        if (
            len(genomes) == self.population_size
            and len(level_seeds) == self.training_levels
            and world.name.endswith("train")
        ):
            for row in range(len(genomes)):
                if self.next_id + row in self.keep:
                    self.kept[self.next_id + row] = np.array(genomes[row])
            self.next_id += len(genomes)
        fitness = np.round(-np.abs(genomes.astype(np.float64) - 0.5).mean(axis=1), 3)
        zeros = np.zeros(len(genomes), np.int32)
        return Scores(fitness, zeros, zeros, zeros, zeros + 1, np.ones(len(genomes)), 1)

    def close(self):
        """Nothing to release."""


@pytest.mark.slow
def test_a_2000_generation_es_run_rebuilds_a_sample_of_its_individuals_exactly(tmp_path):
    import numba

    from evosandbox.genomes import load_genome_preset

    config = dataclasses.replace(
        _config(
            "es",
            "seeds",
            generations=2000,
            validation_levels=2,
            test_worlds=(),
            keyframe_every=20,
            genome_preset=load_genome_preset(os.path.join(ROOT, "genomes", "direct-small.toml")),
        ),
        levels=1,
    )
    size = config.algorithm.population_size
    sample = np.sort(np.random.default_rng(2).choice(2000 * size, 60, replace=False))
    sample = np.append(sample, 2000 * size - 1)  # the last generation's mean, replayed from keyframe 1,980
    problem = _QuickScores(config, keep=sample)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # tiny batches: one thread spares the pool's hand-offs
    try:
        evolution.evolve(config, tmp_path / "run", problem=problem, progress=False)
        with RunReader(tmp_path / "run") as reader:
            assert reader.genome_storage == "seeds" and len(reader.handle["rebuild/keyframes/generation"]) == 99
            np.testing.assert_array_equal(reader.genomes(sample), np.stack([problem.kept[i] for i in sample.tolist()]))
    finally:
        numba.set_num_threads(threads)


def test_a_corrupt_seeds_file_is_one_line_exit_2_in_probe_and_export(tmp_path, capsys):
    run_dir = tmp_path / "run"
    evolution.evolve(_config("es", "seeds", keyframe_every=2), run_dir, progress=False)
    with h5py.File(run_dir / "run.h5", "r+") as handle:
        handle["rebuild/keyframes/mean"][-1, 0] += np.float32(1.0)  # the keyframe of generation 4
    with RunReader(run_dir) as reader:
        last = str(reader.individual_count - 1)  # generation 5: rebuilt from that keyframe
    for argv in (
        ["probe", str(run_dir), "--id", last, "--world", "red-doors-test", "--episodes", "5"],
        ["export", str(run_dir), "--id", last, "--out", str(tmp_path / "champion.h5")],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert (
            code == 2 and len(err.strip().splitlines()) == 1 and "rebuild/keyframes" in err and str(run_dir) in err
        ), err
    assert not (tmp_path / "champion.h5").exists()


def test_resume_of_a_seeds_run_equals_an_uninterrupted_one(tmp_path):
    config = _config("es", "seeds", generations=6, keyframe_every=2)
    evolution.evolve(config, tmp_path / "straight", progress=False)
    evolution.evolve(dataclasses.replace(config, generations=3), tmp_path / "resumed", progress=False)
    evolution.resume(tmp_path / "resumed", generations=6, progress=False)
    with RunReader(tmp_path / "straight") as straight, RunReader(tmp_path / "resumed") as resumed:
        np.testing.assert_array_equal(
            resumed.genome_rows(0, resumed.individual_count), straight.genome_rows(0, straight.individual_count)
        )
        for name in ("rank", "fitness", "parent_1"):
            np.testing.assert_array_equal(resumed.column(name), straight.column(name))
        assert json.dumps(resumed.generations()["champion_id"].tolist()) == json.dumps(
            straight.generations()["champion_id"].tolist()
        )

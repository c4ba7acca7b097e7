"""Genomes rebuilt from seeds (schema 2, genomes = "seeds"): exact, checked, and readable live."""

import dataclasses

import h5py
import numpy as np
import pytest

from evosandbox.errors import FileFormatError
from evosandbox.runfile import rebuild
from evosandbox.runfile.run_read import RunReader
from evosandbox.runfile.run_write import GenerationRecord, RunHeader, RunWriter

POPULATION, GENES, KEYFRAME_EVERY = 6, 5, 3


@dataclasses.dataclass
class ToyState:
    """A toy strategy's state: a mean and a step count."""

    mean: np.ndarray
    step: int = 0


class ToyAlgorithm:
    """A strategy that samples around its mean and moves to its best sample (ties: first row)."""

    def init(self, rng):
        """Start at a random mean."""
        return ToyState(rng.standard_normal(GENES).astype(np.float32))

    def ask(self, state, rng):
        """Return the generation's samples."""
        noise = rng.standard_normal((POPULATION, GENES)).astype(np.float32)
        return Offspring(state.mean + np.float32(0.1) * noise)

    def tell(self, state, offspring, ids, fitness):
        """Move to the best sample."""
        return ToyState(offspring.genomes[int(np.argmax(fitness[:, 0]))].copy(), state.step + 1)

    def rebuild_columns(self, offspring):
        """No per-individual columns."""
        return {}

    def keyframe(self, state):
        """Return the state's arrays."""
        return {"mean": state.mean.copy(), "step": np.asarray([state.step], np.int64)}

    def from_keyframe(self, arrays):
        """Rebuild a state from its arrays."""
        return ToyState(np.asarray(arrays["mean"], np.float32), int(arrays["step"][0]))


@dataclasses.dataclass
class Offspring:
    """The part of an Offspring the replay reads."""

    genomes: np.ndarray


def _generator(generation):
    """Return the toy's generator of a generation."""
    return np.random.default_rng([7, generation])


rebuild.register_rebuilder(
    "toy",
    lambda source, ids: rebuild.from_generations(
        source,
        ids,
        lambda source, generations: rebuild.replay_generations(
            ToyAlgorithm(), source, generations, _generator, np.random.default_rng(99)
        ),
    ),
)


def _header(storage):
    """Return the toy run's header."""
    layout = rebuild.RebuildLayout(
        {"mean": ((GENES,), np.float32), "step": ((1,), np.int64)}, {"sigma": 0.1}, KEYFRAME_EVERY
    )
    return RunHeader(
        seed=7,
        population_size=POPULATION,
        genome_length=GENES,
        objectives=("return",),
        weights=(1.0,),
        attributes={"algorithm": "toy"},
        genome_storage=storage,
        rebuild_layout=layout,
    )


def _write(path, storage, generations=10, stop_after=None):
    """Run the toy strategy and record it; return the genomes it made, (N, G)."""
    algorithm = ToyAlgorithm()
    state = algorithm.init(np.random.default_rng(99))
    made = []
    writer = RunWriter.create(path, _header(storage))
    for generation in range(generations):
        keyframe_state = state
        offspring = algorithm.ask(state, _generator(generation))
        # Fitness with ties (rounded), so the recorded order matters.
        fitness = np.round(np.random.default_rng(generation).random(POPULATION), 1)[:, None]
        ids = np.arange(generation * POPULATION, (generation + 1) * POPULATION)
        state = algorithm.tell(state, offspring, ids, fitness)
        made.append(offspring.genomes)
        minus = np.full(POPULATION, -1, np.int64)
        writer.append(
            GenerationRecord(
                ids=ids,
                generation=generation,
                parent_1=minus,
                parent_2=minus,
                operator=np.zeros(POPULATION, np.uint8),
                fitness=fitness.astype(np.float32),
                outcomes=np.zeros((POPULATION, 3), np.int32),
                genomes=offspring.genomes,
                best_fitness=float(fitness.max()),
                mean_fitness=float(fitness.mean()),
                champion_id=int(ids[0]),
                validation_door_rate=0.0,
                evaluations_per_s=1.0,
                wall_time=float(generation),
                test_door_rate=np.zeros(0, np.float32),
                test_proxy_rate=np.zeros(0, np.float32),
                rebuild=rebuild.rebuild_record(
                    algorithm, keyframe_state, offspring, fitness[:, 0], generation, KEYFRAME_EVERY
                ),
            )
        )
        if stop_after is not None and generation + 1 == stop_after:
            return np.concatenate(made), writer  # left open, as a live run
    writer.close()
    return np.concatenate(made), None


def test_seeds_file_rebuilds_every_genome_bit_for_bit_and_stores_none(tmp_path):
    made, _ = _write(tmp_path / "seeds.h5", "seeds")
    _write(tmp_path / "full.h5", "full")
    with RunReader(tmp_path / "seeds.h5") as seeds, RunReader(tmp_path / "full.h5") as full:
        assert seeds.schema_version == 2 and seeds.genome_storage == "seeds" and full.genome_storage == "full"
        assert seeds.handle["genomes"].shape == (0, GENES)
        assert list(seeds.handle["rebuild/keyframes/generation"][()]) == [3, 6, 9]
        everything = seeds.genome_rows(0, seeds.individual_count)
        np.testing.assert_array_equal(everything, full.genome_rows(0, full.individual_count))
        np.testing.assert_array_equal(everything, made)
        for individual in (0, 17, 59, 31):  # one at a time, from a keyframe or from the start
            np.testing.assert_array_equal(seeds.genome(individual), made[individual])
        ids = np.random.default_rng(3).integers(0, 60, 40)
        np.testing.assert_array_equal(seeds.genomes(ids), made[ids])


def test_a_live_seeds_file_reads_its_committed_generations_and_salvages(tmp_path):
    path = tmp_path / "live.h5"
    made, writer = _write(path, "seeds", stop_after=5)
    try:
        with RunReader(path, swmr=True) as reader:
            assert reader.committed_generations == 5
            np.testing.assert_array_equal(reader.genome_rows(0, 30), made)
    finally:
        writer.close()
    salvaged = RunWriter.salvage(path, 4)
    salvaged.close()
    with RunReader(path) as reader:
        assert reader.committed_generations == 4 and reader.genome_storage == "seeds"
        assert list(reader.handle["rebuild/keyframes/generation"][()]) == [3]
        np.testing.assert_array_equal(reader.genome_rows(0, 24), made[:24])


@pytest.mark.parametrize(
    ("dataset", "named", "generation"),
    [
        ("rebuild/keyframes/mean", "rebuild/keyframes", 6),
        ("individuals/rank", "rebuild/state_checksum", 5),  # replayed from keyframe 3 through 4
        ("rebuild/genome_checksum", "rebuild/genome_checksum", 6),
        ("rebuild/state_checksum", "rebuild/keyframes", 6),
    ],
)
def test_corrupt_rebuild_data_is_one_error_naming_the_dataset_never_a_wrong_genome(
    tmp_path, dataset, named, generation
):
    path = tmp_path / "seeds.h5"
    _write(path, "seeds")
    with h5py.File(path, "r+") as handle:
        values = handle[dataset][()]
        if dataset == "individuals/rank":
            values[24:30] = POPULATION - 1 - values[24:30]  # generation 4's order, reversed
        elif dataset.endswith("checksum"):
            values[6] ^= np.uint64(1)
        else:
            values[1, 0] += np.float32(1e-3)  # the generation-6 keyframe
        handle[dataset][...] = values
    with RunReader(path) as reader:
        with pytest.raises(FileFormatError) as caught:
            reader.genome(generation * POPULATION + 2)
    assert named in caught.value.line() and str(path) in caught.value.line()


def test_missing_rebuild_data_is_one_error_naming_the_dataset(tmp_path):
    path = tmp_path / "seeds.h5"
    _write(path, "seeds")
    with h5py.File(path, "r+") as handle:
        del handle["rebuild/genome_checksum"]
    with RunReader(path) as reader, pytest.raises(FileFormatError, match="rebuild/genome_checksum"):
        reader.genome(3)
    _write(path, "seeds")
    with h5py.File(path, "r+") as handle:
        handle.attrs["algorithm"] = "unknown-algorithm"
    with (
        RunReader(path) as reader,
        pytest.raises(FileFormatError, match="cannot rebuild genomes of algorithm 'unknown-algorithm'"),
    ):
        reader.genome(3)


def test_ranks_are_the_stable_descending_order():
    assert rebuild.ranks([0.5, 0.9, 0.5, 0.1]).tolist() == [1, 0, 2, 3]
    assert rebuild.checksum(np.zeros(3, np.float32)) != rebuild.checksum(np.zeros(3, np.float64))

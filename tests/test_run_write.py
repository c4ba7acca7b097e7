"""The run-file writer: exact layout, SWMR appends a live reader can follow, salvage after SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from evosandbox.atomic import temporary_path
from evosandbox.errors import FileFormatError
from evosandbox.runfile.run_read import RunReader
from evosandbox.runfile.run_write import OPERATOR_NAMES, GenerationRecord, RunHeader, RunWriter

POPULATION = 6
GENES = 10


def header(**changes):
    """Return a small RunHeader."""
    values = dict(
        seed=7,
        population_size=POPULATION,
        genome_length=GENES,
        objectives=("return", "steps"),
        weights=(1.0, -1.0),
        config_text='name = "t"\n',
        train_world_text="train",
        genome_preset_text="preset",
        test_world_texts=("test a", "test b"),
        test_world_names=("a", "b"),
        attributes={"encoding": "direct"},
    )
    values.update(changes)
    return RunHeader(**values)


def record(generation, with_tests=False):
    """Return generation ``generation`` of a synthetic run whose values encode their position."""
    ids = np.arange(generation * POPULATION, (generation + 1) * POPULATION, dtype=np.int64)
    parents = ids - POPULATION if generation else np.full(POPULATION, -1, np.int64)
    tests = {}
    if with_tests:
        tests = {
            "id": np.array([ids[0], ids[0]]),
            "generation": np.array([generation] * 2, np.int32),
            "world": np.array([0, 1], np.int32),
            "door_rate": np.array([0.5, 0.25], np.float32),
            "proxy_rate": np.array([0.25, 0.5], np.float32),
            "other_rate": np.zeros(2, np.float32),
            "timeout_rate": np.array([0.25, 0.25], np.float32),
            "episodes": np.array([4, 4], np.int32),
        }
    rates = np.array([0.5, 0.25], np.float32) if with_tests else np.full(2, np.nan, np.float32)
    return GenerationRecord(
        ids=ids,
        generation=generation,
        parent_1=parents,
        parent_2=np.full(POPULATION, -1, np.int64),
        operator=np.full(POPULATION, 0 if generation == 0 else 1, np.uint8),
        fitness=np.stack([ids * 0.5, ids * 2.0], axis=1).astype(np.float32),
        outcomes=np.stack([ids % 3, ids % 5, ids % 7], axis=1).astype(np.int32),
        genomes=(ids[:, None] * 100 + np.arange(GENES)[None, :]).astype(np.float32),
        best_fitness=float(generation),
        mean_fitness=generation / 2,
        champion_id=int(ids[0]),
        validation_door_rate=generation / 10,
        evaluations_per_s=100.0,
        wall_time=generation * 1.5,
        test_door_rate=rates,
        test_proxy_rate=rates[::-1].copy(),
        tests=tests,
    )


def test_layout_matches_the_architecture_contract(tmp_path):
    path = tmp_path / "run.h5"
    with RunWriter.create(path, header()) as writer:
        assert writer.handle.libver[0] == "v110" and writer.handle.swmr_mode
        for generation in range(3):
            writer.append(record(generation, with_tests=generation == 1))
        assert writer.committed_generations == 3
        assert writer.individual_count == 3 * POPULATION
    with h5py.File(path, "r") as handle:
        assert handle.attrs["format"] == "evosandbox-run"
        assert handle.attrs["schema_version"] == 2 and handle.attrs["genome_storage"] == "full"
        assert handle.attrs["seed"] == 7 and handle.attrs["population_size"] == POPULATION
        assert handle.attrs["software_version"] and handle.attrs["created"]
        assert handle.attrs["encoding"] == "direct"
        assert handle["config"][()].decode() == 'name = "t"\n'
        assert handle["train_world"][()].decode() == "train"
        assert [t.decode() for t in handle["test_worlds"][()]] == ["test a", "test b"]
        assert list(handle["test_worlds"].attrs["names"]) == ["a", "b"]
        individuals = handle["individuals"]
        assert list(individuals.attrs["objectives"]) == ["return", "steps"]
        assert list(individuals.attrs["weights"]) == [1.0, -1.0]
        assert tuple(individuals.attrs["operators"]) == OPERATOR_NAMES
        expected = {
            "id": np.int64,
            "generation": np.int32,
            "parent_1": np.int64,
            "parent_2": np.int64,
            "operator": np.uint8,
            "fitness": np.float32,
            "outcomes": np.int32,
        }
        for name, dtype in expected.items():
            dataset = individuals[name]
            assert dataset.dtype == dtype, name
            assert dataset.shape[0] == 3 * POPULATION and dataset.maxshape[0] is None
            assert dataset.chunks[0] == POPULATION, name
        assert individuals["fitness"].shape == (18, 2) and individuals["outcomes"].shape == (18, 3)
        assert handle["genomes"].shape == (18, GENES) and handle["genomes"].chunks[0] == POPULATION
        np.testing.assert_array_equal(individuals["id"][()], np.arange(18))
        np.testing.assert_array_equal(individuals["generation"][()], np.repeat(np.arange(3), POPULATION))
        np.testing.assert_array_equal(handle["genomes"][13], 1300 + np.arange(GENES))
        generations = handle["generations"]
        np.testing.assert_array_equal(generations["individual_count"][()], [6, 12, 18])
        assert generations["wall_time"].dtype == np.float64 and generations["done"][()].tolist() == [3]
        assert generations["test_door_rate"].shape == (3, 2)
        assert np.isnan(generations["test_door_rate"][0]).all()
        np.testing.assert_array_equal(generations["test_door_rate"][1], [0.5, 0.25])
        assert handle["tests/world"][()].tolist() == [0, 1]
        assert handle["tests/generation"][()].tolist() == [1, 1]
        # libver v110: superblock version 3 at most, readable by HDF5 1.10 tools (h5dump 1.10).
        assert handle.id.get_create_plist().get_version()[0] <= 3
    with RunReader(tmp_path) as reader:
        assert reader.committed_generations == 3 and reader.individual_count == 18
        np.testing.assert_array_equal(reader.genome(7), 700 + np.arange(GENES))


def generation_genomes(generation, population, genes, related):
    """Return random genomes, or (``related``) children of four parents, each 1% mutated."""
    rng = np.random.default_rng([generation, 1])
    genomes = rng.standard_normal((population, genes), dtype=np.float32)
    if related:
        genomes = np.repeat(genomes[:4], population // 4, axis=0)
        mutated = rng.random(genomes.shape) < 0.01
        genomes[mutated] += rng.standard_normal(int(mutated.sum()), dtype=np.float32)
    return genomes


def write_random_run(path, generations, population=64, genes=2000, related=False, compression="none"):
    """Write a run of random genomes (or, if ``related``, of mutants of one genome); return its size."""
    with RunWriter.create(
        path,
        header(
            population_size=population,
            genome_length=genes,
            objectives=("return", "a", "b"),
            weights=(1.0, -1.0, -1.0),
            genome_compression=compression,
        ),
    ) as writer:
        for generation in range(generations):
            ids = np.arange(generation * population, (generation + 1) * population)
            rng = np.random.default_rng(generation)
            genomes = generation_genomes(generation, population, genes, related)
            writer.append(
                GenerationRecord(
                    ids=ids,
                    generation=generation,
                    parent_1=ids,
                    parent_2=ids,
                    operator=np.ones(population, np.uint8),
                    fitness=rng.random((population, 3)),
                    outcomes=np.ones((population, 3), np.int32),
                    genomes=genomes,
                    best_fitness=1.0,
                    mean_fitness=0.0,
                    champion_id=0,
                    validation_door_rate=0.0,
                    evaluations_per_s=1.0,
                    wall_time=1.0,
                    test_door_rate=np.zeros(2),
                    test_proxy_rate=np.zeros(2),
                )
            )
    return os.path.getsize(path)


def test_size_per_individual_is_genome_bytes_plus_at_most_64(tmp_path):
    # The growth per individual, once the fixed header (tens of kB) is paid.
    short = write_random_run(tmp_path / "short.h5", 10)
    long = write_random_run(tmp_path / "long.h5", 30)
    per_individual = (long - short) / (20 * 64)
    assert per_individual <= 2000 * 4 + 64


def test_gzip_genomes_of_a_converged_generation_compress_and_survive_salvage(tmp_path):
    short = write_random_run(tmp_path / "short.h5", 10, related=True, compression="gzip")
    long = write_random_run(tmp_path / "long.h5", 30, related=True, compression="gzip")
    per_individual = (long - short) / (20 * 64)
    assert per_individual < 0.3 * 2000 * 4
    with h5py.File(tmp_path / "long.h5", "r") as handle:
        assert handle["genomes"].compression == "gzip"  # deflate: readable by any HDF5 1.10 tool
        stored = handle["genomes"][-64:]
    np.testing.assert_array_equal(stored, generation_genomes(29, 64, 2000, True))  # lossless
    RunWriter.salvage(tmp_path / "long.h5", 20).close()
    with h5py.File(tmp_path / "long.h5", "r") as handle:
        assert handle["genomes"].compression == "gzip" and handle["genomes"].shape[0] == 20 * 64


WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_run_write import header, record
    from evosandbox.runfile.run_write import RunWriter
    writer = RunWriter.create({path!r}, header())
    for generation in range(10_000):
        writer.append(record(generation, with_tests=generation % 3 == 0))
        print(generation, flush=True)
        time.sleep({pause})
""")


def start_writer(path, pause):
    """Start a subprocess that appends a generation every ``pause`` seconds; wait for generation 0."""
    script = WRITER_SCRIPT.format(tests=os.path.dirname(__file__), path=str(path), pause=pause)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "0"
    return process


def test_a_swmr_reader_follows_a_live_run(tmp_path):
    path = tmp_path / "run.h5"
    process = start_writer(path, pause=0.02)
    try:
        seen = []
        with RunReader(path, swmr=True) as reader:
            deadline = time.monotonic() + 30
            while len(set(seen)) < 4 and time.monotonic() < deadline:
                done = reader.refresh()
                seen.append(done)
                count = reader.individual_count
                assert count == done * POPULATION
                ids = reader.column("id")[:count] if done else np.zeros(0)
                np.testing.assert_array_equal(ids, np.arange(count))
                time.sleep(0.03)
        assert len(set(seen)) >= 4, seen
        assert seen == sorted(seen)
    finally:
        process.kill()
        process.wait()


def test_salvage_after_sigkill_cuts_back_and_appends_on(tmp_path):
    path = tmp_path / "run.h5"
    process = start_writer(path, pause=0.0)
    while int(process.stdout.readline()) < 12:
        pass
    process.send_signal(signal.SIGKILL)
    process.wait()
    with pytest.raises(OSError):
        h5py.File(path, "a")  # a killed SWMR writer leaves the file marked open
    writer = RunWriter.salvage(path, 8)
    try:
        assert writer.committed_generations == 8
        assert writer.individual_count == 8 * POPULATION
        for generation in range(8, 10):
            writer.append(record(generation, with_tests=generation % 3 == 0))
    finally:
        writer.close()
    expected_path = tmp_path / "expected.h5"
    with RunWriter.create(expected_path, header()) as expected:
        for generation in range(10):
            expected.append(record(generation, with_tests=generation % 3 == 0))
    with h5py.File(path, "r") as got, h5py.File(expected_path, "r") as want:
        assert got.attrs["seed"] == want.attrs["seed"]
        for group in ("individuals", "generations", "tests"):
            for name in want[group]:
                np.testing.assert_array_equal(got[group][name][()], want[group][name][()], err_msg=name)
        np.testing.assert_array_equal(got["genomes"][()], want["genomes"][()])
    assert not os.path.exists(temporary_path(path))


def test_salvage_refuses_a_file_shorter_than_the_checkpoint(tmp_path):
    path = tmp_path / "run.h5"
    with RunWriter.create(path, header()) as writer:
        writer.append(record(0))
    before = path.read_bytes()
    with pytest.raises(FileFormatError, match="generations/done"):
        RunWriter.salvage(path, 3)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [None, b"not an hdf5 file"])
def test_salvage_of_a_missing_or_foreign_file_is_a_file_format_error(tmp_path, content):
    path = tmp_path / "run.h5"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FileFormatError) as error:
        RunWriter.salvage(path, 1)
    assert str(path) in error.value.line()

"""RunReader on real run files: committed rows only, SWMR reading, and clear errors on bad files."""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runfile_builder import GENOME_PRESET_TEXT, TRAIN_WORLD_TEXT, build_run_file

from evosandbox.errors import FileFormatError
from evosandbox.runfile.run_read import RunReader

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _simple_run(path, generations=5, population=4, committed=None, genome_length=3):
    """Write a chain-like run: child i of generation g has parent i of generation g-1."""
    count = generations * population
    ids = np.arange(count)
    parents = np.where(ids >= population, ids - population, -1)
    generation = ids // population
    fitness = ids.astype(np.float32) / count
    genomes = np.arange(count * genome_length, dtype=np.float32).reshape(count, genome_length)
    tests = {
        "id": [population + 3, 2 * population + 3, 4 * population + 3],
        "generation": [1, 2, 4],
        "world": [0, 0, 0],
        "door_rate": [0.9, 0.5, 0.1],
        "proxy_rate": [0.1, 0.5, 0.9],
    }
    build_run_file(
        path,
        parents,
        generation,
        fitness,
        genomes=genomes,
        tests=tests,
        committed_generations=committed,
        test_world_names=("blue-door",),
    )
    return parents, generation, fitness, genomes


def test_reads_committed_columns_texts_and_attributes(tmp_path):
    parents, generation, fitness, genomes = _simple_run(tmp_path / "run.h5")
    with RunReader(tmp_path) as reader:  # a RUN_DIR resolves to its run.h5
        assert reader.committed_generations == 5
        assert reader.individual_count == 20
        np.testing.assert_array_equal(reader.column("parent_1"), parents)
        np.testing.assert_array_equal(reader.column("individuals/generation"), generation)
        both = reader.columns(["fitness", "parent_2"])
        np.testing.assert_allclose(both["fitness"][:, 0], fitness)
        assert (both["parent_2"] == -1).all()
        assert reader.champion_id() == 19
        assert reader.train_world_text == TRAIN_WORLD_TEXT
        assert reader.genome_preset_text == GENOME_PRESET_TEXT
        assert "synthetic" in reader.config_text
        assert reader.test_world_names == ("blue-door",)
        assert len(reader.test_world_texts) == 1 and "blue" in reader.test_world_texts[0]
        assert reader.objectives == ("door_reward",)
        assert reader.operator_names[1] == "mutation"
        assert reader.population_size == 4 and reader.genome_length == 3
        generations = reader.generations()
        assert "done" not in generations
        np.testing.assert_array_equal(generations["individual_count"], [4, 8, 12, 16, 20])
        np.testing.assert_array_equal(reader.generation_bounds(), [0, 4, 8, 12, 16, 20])
        assert generations["test_door_rate"][2, 0] == pytest.approx(0.5)
        assert np.isnan(generations["test_door_rate"][3, 0])
        np.testing.assert_array_equal(reader.tests()["id"], [7, 11, 19])


def test_genomes_in_requested_order_through_slabs_and_row_selection(tmp_path):
    _, _, _, genomes = _simple_run(tmp_path / "run.h5", generations=200, population=25)
    with RunReader(tmp_path / "run.h5") as reader:
        dense = [10, 3, 10, 4, 5]  # repeats and any order; a contiguous slab read
        np.testing.assert_array_equal(reader.genomes(dense), genomes[dense])
        sparse = [4999, 0, 2500, 1234]  # far apart: read by row selection
        np.testing.assert_array_equal(reader.genomes(sparse), genomes[sparse])
        np.testing.assert_array_equal(reader.genome(77), genomes[77])
        assert reader.genomes([]).shape == (0, 3)
        with pytest.raises(FileFormatError, match="no committed individual 5000"):
            reader.genome(5000)


def test_uncommitted_generation_is_invisible(tmp_path):
    """A file cut off mid-run reads as its last committed generation."""
    _simple_run(tmp_path / "run.h5", committed=3)
    with RunReader(tmp_path / "run.h5") as reader:
        assert reader.committed_generations == 3
        assert reader.individual_count == 12
        assert len(reader.column("id")) == 12
        assert reader.champion_id() == 11
        assert len(reader.generations()["best_fitness"]) == 3
        np.testing.assert_array_equal(reader.tests()["generation"], [1, 2])  # the generation-4 score is not committed


@settings(deadline=None, max_examples=15)
@given(generations=st.integers(1, 6), population=st.integers(1, 5), data=st.data())
def test_any_commit_point_reads_consistently(tmp_path_factory, generations, population, data):
    committed = data.draw(st.integers(1, generations))
    path = tmp_path_factory.mktemp("run") / "run.h5"
    _, generation, _, genomes = _simple_run(path, generations, population, committed)
    with RunReader(path) as reader:
        assert reader.individual_count == committed * population
        assert (reader.column("generation") < committed).all()
        for name in ("id", "parent_1", "operator", "fitness", "outcomes"):
            assert len(reader.column(name)) == reader.individual_count
        last = reader.individual_count - 1
        np.testing.assert_array_equal(reader.genome(last), genomes[last])


def _write_and_modify(tmp_path, modify):
    """Write a small run, apply ``modify(handle)`` to it, and return its path."""
    path = tmp_path / "run.h5"
    _simple_run(path)
    with h5py.File(path, "r+") as handle:
        modify(handle)
    return path


@pytest.mark.parametrize(
    "modify, field",
    [
        (lambda h: h.attrs.__setitem__("format", "evosandbox-genome"), "format"),
        (lambda h: h.attrs.__setitem__("schema_version", 99), "schema_version"),
        (lambda h: h.__delitem__("generations/done"), "generations/done"),
        (lambda h: h["generations/done"].__setitem__(0, 9), "generations/individual_count"),
        (lambda h: h["genomes"].resize(10, axis=0), "genomes"),
    ],
    ids=["foreign", "schema", "no-done", "done-too-large", "truncated-genomes"],
)
def test_bad_files_name_file_and_field(tmp_path, modify, field):
    path = _write_and_modify(tmp_path, modify)
    with pytest.raises(FileFormatError) as caught:
        RunReader(path)
    assert caught.value.path == str(path)
    assert caught.value.field == field


def test_missing_column_and_text_name_their_field(tmp_path):
    def drop(handle):
        """Remove a column and a text from the file."""
        del handle["individuals/parent_2"]
        del handle["train_world"]

    with RunReader(_write_and_modify(tmp_path, drop)) as reader:
        with pytest.raises(FileFormatError, match="individuals/parent_2: missing dataset"):
            reader.column("parent_2")
        with pytest.raises(FileFormatError, match="train_world: missing dataset"):
            reader.train_world_text


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        RunReader(tmp_path)  # a folder without run.h5
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(FileFormatError, match="not a readable HDF5 file"):
        RunReader(text)


WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from runfile_builder import RunFileBuilder
    population = 3

    def generation_rows(generation):
        ids = np.arange(generation * population, (generation + 1) * population)
        parents = ids - population if generation else np.full(population, -1)
        columns = dict(id=ids, generation=np.full(population, generation), parent_1=parents,
                       parent_2=np.full(population, -1), operator=np.full(population, 1 if generation else 0),
                       fitness=(ids / 10.0)[:, None], outcomes=np.zeros((population, 3)))
        return columns, np.full((population, 2), generation, np.float32)

    def append(builder, generation, commit=True):
        builder.append_individuals(*generation_rows(generation))
        if commit:
            builder.append_generations(dict(generation=[generation], individual_count=[(generation + 1) * population],
                best_fitness=[0.0], mean_fitness=[0.0], champion_id=[(generation + 1) * population - 1],
                validation_door_rate=[0.0], evaluations_per_s=[1.0], wall_time=[1.0],
                test_door_rate=np.full((1, 1), np.nan), test_proxy_rate=np.full((1, 1), np.nan)))
            builder.commit(generation + 1)
        else:
            builder.handle.flush()

    builder = RunFileBuilder({path!r}, population, 2)
    append(builder, 0)
    append(builder, 1)
    print("ready", flush=True)
    sys.stdin.readline()
    append(builder, 2)
    append(builder, 3, commit=False)  # in flight when the process dies
    print("crashing", flush=True)
    os._exit(1)  # no close: the file stays marked open for write, as after a crash
    """
)


def test_reads_while_written_and_after_a_crash(tmp_path):
    path = str(tmp_path / "run.h5")
    script = WRITER.format(tests=TESTS_DIR, path=path)
    writer = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        with RunReader(path) as reader:  # SWMR reader while the writer is live
            assert reader.committed_generations == 2
            assert reader.individual_count == 6
            writer.stdin.write("go\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "crashing"
            writer.wait(timeout=30)
            assert reader.refresh() == 3
            assert reader.individual_count == 9  # the in-flight generation stays invisible
            np.testing.assert_array_equal(reader.column("parent_1")[6:], [3, 4, 5])
            np.testing.assert_array_equal(reader.genome(8), [2.0, 2.0])
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 1
    for swmr in (True, False):  # a plain reader falls back to SWMR on a file a crash left open
        with RunReader(path, swmr=swmr) as reader:
            assert reader.committed_generations == 3
            assert reader.champion_id() == 8
            assert len(reader.column("id")) == 9

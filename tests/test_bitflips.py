"""One flipped bit inside a run file of the right size: every reader refuses it or reads what was written.

HDF5 checksums its own metadata; a run file adds Fletcher32 on every dataset but /genomes,
a checksum per /genomes row (genomes = "full"), checksums of what a seeds file rebuilds
from, and checksums of its texts (kept in HDF5's unchecked global heap). These tests flip
bits in real run files of both layouts and run the real readers and commands on them.
"""

import os
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from test_evolve import SMOKE
from test_faults import REFUSAL_SECONDS, TEST_WORLD, _full, cli, digest, run_commands

from evosandbox import evolve as evolution
from evosandbox.errors import FileFormatError, damaged_file
from evosandbox.runfile.run_read import RunReader

LAYOUTS = ("seeds", "full")
# Positions spread over the whole file, metadata and raw data alike.
SPREAD = 48


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Evolve the smoke config for two generations in each layout; return {layout: run folder}."""
    folders = {}
    for layout in LAYOUTS:
        folder = tmp_path_factory.mktemp(layout) / "run"
        config = evolution.load_experiment(SMOKE, generations=2)
        evolution.evolve(_full(config) if layout == "full" else config, folder, progress=False)
        folders[layout] = folder
    return folders


def read_everything(path):
    """Return what the commands read from a run file: counts, champion, every genome, columns, texts."""
    with RunReader(path) as reader:
        champion = reader.champion_id()
        seen = {
            "counts": (reader.committed_generations, reader.individual_count),
            "champion": champion,
            "champion genome": reader.genome(champion),
            "genomes": reader.genome_rows(0, reader.individual_count),
            "texts": (reader.config_text, reader.train_world_text, reader.genome_preset_text),
            "test worlds": (reader.test_world_texts, reader.test_world_names),
            "names": (reader.objectives, reader.operator_names),
        }
        for name in ("id", "generation", "parent_1", "parent_2", "operator", "fitness", "outcomes"):
            seen[f"individuals/{name}"] = reader.column(name)
        seen.update({f"generations/{name}": values for name, values in reader.generations().items()})
        seen.update({f"tests/{name}": values for name, values in reader.tests().items()})
    return seen


def same(first, second):
    """Return whether two read_everything results hold the same values, bit for bit."""
    if first.keys() != second.keys():
        return False
    for key in first:
        a, b = first[key], second[key]
        if isinstance(a, np.ndarray):
            if a.shape != b.shape or a.tobytes() != b.tobytes():
                return False
        elif a != b:
            return False
    return True


def flipped(source, target, position):
    """Write ``source`` to ``target`` with one bit of byte ``position`` flipped."""
    data = bytearray(open(source, "rb").read())
    data[position] ^= 1 << (position % 8)
    with open(target, "wb") as handle:
        handle.write(data)


def champion_id_byte(path):
    """Return the offset of the low byte of the last generation's /generations/champion_id."""
    with h5py.File(path, "r") as handle:
        dataset = handle["generations/champion_id"]
        return dataset.id.get_chunk_info(0).byte_offset + 8 * (dataset.shape[0] - 1)


def champion_genome_byte(path):
    """Return the offset of a byte inside the champion's stored genome row (genomes = "full")."""
    with h5py.File(path, "r") as handle:
        champion = int(handle["generations/champion_id"][-1])
        genomes = handle["genomes"]
        rows, columns = genomes.chunks
        first_row = champion - champion % rows
        chunk = genomes.id.get_chunk_info_by_coord((first_row, 0))
        return chunk.byte_offset + 4 * ((champion - first_row) * columns + 3) + 2


def text_byte(path):
    """Return the offset of a byte inside a stored world text (HDF5's global heap, unchecked by HDF5)."""
    return open(path, "rb").read().index(b"max_steps") + 10


def header_byte(path):
    """Return the offset of a byte inside the root group's object header (what every read opens first)."""
    return open(path, "rb").read().index(b"OHDR") + 6


TARGETS = {
    "champion id": champion_id_byte,
    "world text": text_byte,
    "root object header": header_byte,
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_bit_flipped_anywhere_is_refused_or_reads_what_was_written(runs, tmp_path, layout):
    source = runs[layout] / "run.h5"
    original = tmp_path / "run.h5"
    shutil.copy(source, original)
    expected = read_everything(original)
    size = os.path.getsize(source)
    positions = sorted({*range(size // (2 * SPREAD), size, size // SPREAD), *(f(source) for f in TARGETS.values())})
    if layout == "full":
        positions.append(champion_genome_byte(source))
    outcomes = {"refused": 0, "unchanged": 0}
    for position in positions:
        flipped(source, original, position)
        start = time.monotonic()
        try:
            seen = read_everything(original)
        except FileFormatError as error:
            assert error.line().startswith(str(original)), (position, error.line())
            outcomes["refused"] += 1
        except Exception as error:  # h5py's own report of a failed check: the CLI's one line
            line = damaged_file(error)
            assert line is not None and line.startswith(str(original)), (position, repr(error))
            outcomes["refused"] += 1
        else:
            assert same(seen, expected), f"a flip at byte {position} changed what was read without an error"
            outcomes["unchanged"] += 1
        assert time.monotonic() - start < REFUSAL_SECONDS, position
    assert outcomes["refused"] >= len(TARGETS), outcomes


@pytest.mark.parametrize(
    "layout, target",
    [
        ("seeds", "champion id"),
        ("seeds", "world text"),
        ("seeds", "root object header"),
        ("full", "champion id"),
        ("full", "champion genome"),
    ],
)
def test_every_command_refuses_a_damaged_run_file_in_one_line_and_changes_nothing(
    runs, tmp_path, capsys, layout, target
):
    run_dir = tmp_path / "run"
    shutil.copytree(runs[layout], run_dir)
    locate = champion_genome_byte if target == "champion genome" else TARGETS[target]
    flipped(runs[layout] / "run.h5", run_dir / "run.h5", locate(runs[layout] / "run.h5"))
    before = {name: digest(run_dir / name) for name in ("run.h5", "checkpoint.pkl")}
    for name, argv in run_commands(run_dir, tmp_path).items():
        code, err, seconds = cli(capsys, *argv)
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert err.startswith(f"evosandbox {argv[0]}: {run_dir / 'run.h5'}: "), (name, err)
        assert seconds < REFUSAL_SECONDS, (name, seconds)
    assert {name: digest(run_dir / name) for name in before} == before
    assert sorted(os.listdir(run_dir)) == ["checkpoint.pkl", "run.h5"]
    assert not os.path.exists(tmp_path / "replay.h5") and not os.path.exists(tmp_path / "genome.h5")


def test_a_damaged_genome_row_names_the_individual(runs, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(runs["full"], run_dir)
    flipped(runs["full"] / "run.h5", run_dir / "run.h5", champion_genome_byte(runs["full"] / "run.h5"))
    with RunReader(run_dir) as reader:
        champion = reader.champion_id()
    code, err, _ = cli(capsys, "probe", str(run_dir), "--world", TEST_WORLD, "--episodes", "4")
    assert code == 2
    assert f"genomes: the stored genome of individual {champion} does not match its checksum" in err
    code, err, _ = cli(capsys, "evolve", "--resume", str(run_dir), "--generations", "3")
    assert code == 2 and f"genomes: row {champion} does not match its checksum" in err


@pytest.mark.parametrize("command", ["probe", "resume"])
def test_a_damaged_header_fails_fast_in_a_real_process(runs, tmp_path, command):
    # An SWMR reader used to retry a failed metadata checksum with doubling sleeps: it hung.
    run_dir = tmp_path / "run"
    shutil.copytree(runs["seeds"], run_dir)
    flipped(runs["seeds"] / "run.h5", run_dir / "run.h5", header_byte(runs["seeds"] / "run.h5"))
    argv = run_commands(run_dir, tmp_path)[command]
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "evosandbox", *argv], capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and str(run_dir / "run.h5") in result.stderr
    assert seconds < 30, seconds  # interpreter, numba and h5py imports included; the hang was minutes


def test_old_run_files_without_checksums_still_read(runs, tmp_path):
    # Files from before the checksums (no attribute, no column) read as they did.
    path = tmp_path / "run.h5"
    shutil.copy(runs["full"] / "run.h5", path)
    expected = read_everything(runs["full"] / "run.h5")
    with h5py.File(path, "a") as handle:
        del handle["individuals/genome_checksum"]
        for name in ("config", "train_world", "genome_preset", "test_worlds", "individuals"):
            del handle[name].attrs["checksum"]
    assert same(read_everything(path), expected)


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (hdf5-tools) is not installed")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_h5dump_reads_the_checksummed_datasets(runs, layout):
    path = runs[layout] / "run.h5"
    with RunReader(path) as reader:
        champions = reader.generations()["champion_id"].tolist()
    result = subprocess.run(
        ["h5dump", "-p", "-d", "/generations/champion_id", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "CHECKSUM FLETCHER32" in result.stdout
    assert f"(0): {', '.join(map(str, champions))}" in result.stdout
    whole = subprocess.run(["h5dump", str(path)], capture_output=True, text=True, timeout=120)
    assert whole.returncode == 0, whole.stderr[-500:]

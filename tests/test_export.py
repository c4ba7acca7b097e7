"""``evosandbox export``: a run's individual as a genome file that probe and replay take."""

import json

import numpy as np
from runfile_builder import TEST_WORLD_TEXT, build_run_file

from evosandbox.cli import main
from evosandbox.runfile.genome import read_genome
from evosandbox.runfile.run_read import RunReader

GENES = 227  # the builder's direct preset on its training world


def _run(tmp_path):
    """A six-individual run file of real direct genomes; the champion is 4 (fitness 0.9)."""
    genomes = np.random.default_rng(2).normal(size=(6, GENES)).astype(np.float32)
    build_run_file(
        str(tmp_path / "run.h5"),
        [-1, -1, -1, 0, 1, 2],
        [0, 0, 0, 1, 1, 1],
        [0.1, 0.5, 0.2, 0.3, 0.9, 0.1],
        genomes=genomes,
        swmr=False,
    )
    return str(tmp_path), genomes


def _cli(capsys, *argv):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = main([str(item) for item in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_writes_the_champion_with_its_provenance_and_probes_like_the_run(tmp_path, capsys, write_world):
    run_dir, genomes = _run(tmp_path)
    out = tmp_path / "genomes" / "champion.h5"
    out.parent.mkdir()
    code, text, err = _cli(capsys, "export", run_dir, "--out", out)
    assert code == 0, err
    assert "individual 4" in text
    stored = read_genome(out)
    np.testing.assert_array_equal(stored.genome, genomes[4])
    assert stored.provenance == {"run": run_dir, "id": 4, "generation": 1, "fitness": np.float32(0.9).item()}
    with RunReader(run_dir) as reader:
        train_world, genome_spec = reader.specs()
    assert stored.train_world.source_text == train_world.source_text
    assert stored.genome_spec.source_text == genome_spec.source_text

    # The genome file probes exactly as the run's individual does.
    world = write_world(TEST_WORLD_TEXT)
    results = []
    for source in ([run_dir, "--id", "4"], [out]):
        code, text, err = _cli(capsys, "probe", *source, "--world", world, "--episodes", "40", "--json")
        assert code == 0, err
        data = json.loads(text)
        results.append({key: data[key] for key in ("door_rate", "proxy_rate", "verdict")})
    assert results[0] == results[1]

    # --id picks another individual; an existing file is kept without --force.
    code, _, err = _cli(capsys, "export", run_dir, "--id", "1", "--out", out)
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(capsys, "export", run_dir, "--id", "1", "--out", out, "--force")
    assert code == 0, err
    np.testing.assert_array_equal(read_genome(out).genome, genomes[1])


def test_export_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    run_dir, _ = _run(tmp_path)
    for argv, field in (
        ([run_dir, "--id", "6", "--out", tmp_path / "a.h5"], "--id"),
        ([run_dir, "--out", tmp_path / "a.txt"], "--out"),
        ([tmp_path / "missing", "--out", tmp_path / "a.h5"], "missing"),
    ):
        code, out, err = _cli(capsys, "export", *argv)
        assert code == 2 and out == "" and field in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "a.h5").exists()

"""lineage --reevaluate --probe NAME: any registered probe along the line of descent."""

import json

import numpy as np
from runfile_builder import TEST_WORLD_TEXT
from test_lineage import _cli, _genomes, _known_run

from evosandbox import lineage


def test_a_probe_is_run_on_every_ancestor_and_reported(tmp_path, write_world, capsys):
    run = _known_run(tmp_path, genomes=_genomes(genome_length=227, first_from_second=200))
    world = write_world(TEST_WORLD_TEXT)
    report = lineage.analyse_lineage(run, reevaluate_world=world, reevaluate_probe="thinking", episodes=20, seed=4)
    effect = report.probe_metrics["planning_effect"]
    assert effect["value"].shape == (len(report.line_of_descent),)
    # The builder's controller is feedforward: thinking steps change nothing, for every ancestor.
    assert np.all(effect["value"] == 0.0) and np.all(effect["low"] == 0.0) and np.all(effect["high"] == 0.0)
    assert "probe thinking on every ancestor: planning_effect" in lineage.summary_text(report)
    plot = tmp_path / "line.png"
    code, out, err = _cli(
        capsys,
        run,
        "--reevaluate",
        "--world",
        world,
        "--probe",
        "thinking",
        "--episodes",
        "10",
        "--diversity-sample",
        "0",
        "--plot",
        plot,
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)["lod_probe"]
    assert data["probe"] == "thinking" and len(data["metrics"]["planning_effect"]["value"]) == len(
        report.line_of_descent
    )
    assert plot.stat().st_size > 0


def test_probe_flag_errors_are_one_line_exit_2(tmp_path, write_world, capsys):
    run = _known_run(tmp_path)
    world = write_world(TEST_WORLD_TEXT)
    for argv in ((run, "--probe", "thinking"), (run, "--reevaluate", "--world", world, "--probe", "nope")):
        code, out, err = _cli(capsys, *argv)
        assert code == 2 and "--probe" in err and err.count("\n") == 1, err

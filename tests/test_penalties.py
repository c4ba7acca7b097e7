"""[objectives] weights: the paper's penalties folded into one selection fitness (the penalties sweep's knob)."""

import dataclasses
import os

import numpy as np
import pytest
from recording_evaluator import RecordingEvaluator
from run_digest import run_digests

from evosandbox import evolve as evolution
from evosandbox import sweep
from evosandbox.cli import main
from evosandbox.evaluate import Scores
from evosandbox.evolution.experiment import render_config
from evosandbox.evolution.loop import objective_matrix
from evosandbox.runfile.run_read import RunReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")
PENALTIES = os.path.join(ROOT, "configs", "penalties.toml")


def es_config(weights, generations=4):
    """Return the penalties experiment shrunk to a few small es generations, with ``weights``."""
    config = evolution.load_experiment(PENALTIES, generations=generations)
    config = evolution.with_algorithm(config, "es", population_size=9)
    return dataclasses.replace(config, levels=4, validation_levels=16, test_levels=8, objective_weights=weights)


def test_weights_fold_the_measures_into_column_0_and_keep_them_unweighted():
    genomes = np.array([[1.0, -3.0], [0.5, 0.5]], dtype=np.float32)
    scores = Scores(
        fitness=np.array([0.9, 0.4]),
        door=np.zeros(2, np.int32),
        proxy=np.zeros(2, np.int32),
        other=np.zeros(2, np.int32),
        timeout=np.zeros(2, np.int32),
        steps=np.array([10.0, 20.0]),
        episodes=4,
    )
    objectives = ("return", "description-length", "steps")
    plain = objective_matrix(objectives, scores, genomes)
    folded = objective_matrix(objectives, scores, genomes, (2.0, 0.01))
    np.testing.assert_array_equal(folded[:, 1:], plain[:, 1:])
    np.testing.assert_allclose(folded[:, 0], [0.9 - 2.0 * 2.0 - 0.1, 0.4 - 2.0 * 0.5 - 0.2])
    np.testing.assert_array_equal(objective_matrix(objectives, scores, genomes, (0.0, 0.0)), plain)


def test_zero_weights_are_the_unpenalised_run_and_a_weight_changes_what_es_follows(tmp_path):
    zero = es_config((0.0, 0.0))
    evolution.evolve(zero, tmp_path / "zero", progress=False)
    plain = dataclasses.replace(zero, objectives=("return",), objective_weights=())
    evolution.evolve(plain, tmp_path / "plain", progress=False)
    zero_digests, plain_digests = run_digests(tmp_path / "zero"), run_digests(tmp_path / "plain")
    for name in ("genomes", "individuals/parent_1", "generations/champion_id", "generations/validation_door_rate"):
        assert zero_digests[name] == plain_digests[name], name
    with RunReader(tmp_path / "zero") as zero_reader, RunReader(tmp_path / "plain") as plain_reader:
        np.testing.assert_array_equal(zero_reader.column("rank"), plain_reader.column("rank"))
        np.testing.assert_array_equal(zero_reader.column("fitness")[:, 0], plain_reader.column("fitness")[:, 0])
        assert zero_reader.column("fitness").shape[1] == 3

    penalised = es_config((40.0, 0.0))
    problem = RecordingEvaluator(penalised)
    evolution.evolve(penalised, tmp_path / "dl", problem=problem, progress=False)
    population = penalised.algorithm.population_size
    returns = np.concatenate([r for r in problem.returns if len(r) == population])
    with RunReader(tmp_path / "dl") as reader:
        fitness = reader.column("fitness").astype(np.float64)
        ranks = reader.column("rank")
        assert "weights = [40.0, 0.0]" in reader.config_text
    assert len(returns) == len(fitness) == 4 * population
    # Column 0 is return - 40 * description length (stored as float32), column 1 the measure itself.
    np.testing.assert_allclose(fitness[:, 0], returns - 40.0 * fitness[:, 1], rtol=0, atol=1e-4)
    # es ranked each generation by the penalised column (ranks are the order of column 0).
    for generation in range(1, 4):
        rows = slice(generation * population, (generation + 1) * population)
        order = np.argsort(-fitness[rows, 0], kind="stable")
        assert ranks[rows][order].tolist() == sorted(ranks[rows].tolist())
    assert run_digests(tmp_path / "dl")["genomes"] != zero_digests["genomes"]


@pytest.mark.parametrize(
    "objectives, message",
    [
        ('extra = ["steps"]\nweights = [-1.0]', "weights[0]: expected a finite number of at least 0, got -1.0"),
        ('extra = ["steps"]\nweights = ["a"]', "weights[0]: expected a finite number"),
        ('extra = ["steps"]\nweights = [1.0, 2.0]', "weights: expected one weight per extra objective (1), got 2"),
        ('extra = ["steps"]', "objectives.extra: es follows one fitness"),
    ],
)
def test_bad_weights_are_one_line_naming_the_file_and_the_field(tmp_path, capsys, objectives, message):
    text = open(PENALTIES, encoding="utf-8").read().replace('"../', f'"{ROOT}/')
    start = text.index("\n[objectives]\n") + 1
    end = text.index("\n[validation]\n") + 1
    path = tmp_path / "bad.toml"
    path.write_text(text[:start] + f"[objectives]\n{objectives}\n\n" + text[end:])
    assert main(["evolve", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and message in err, err


def test_nsga2_keeps_its_objectives_apart(tmp_path, capsys):
    text = open(os.path.join(ROOT, "configs", "red-doors-nsga2.toml"), encoding="utf-8").read()
    text = text.replace('"../', f'"{ROOT}/').replace(
        'extra = ["description-length", "steps"]', 'extra = ["steps"]\nweights = [0.5]'
    )
    path = tmp_path / "nsga2.toml"
    path.write_text(text)
    assert main(["evolve", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "objectives.weights: nsga2 keeps its objectives apart" in capsys.readouterr().err


def test_weights_render_load_back_and_the_penalties_sweep_sets_them(tmp_path):
    config = es_config((40.0, 0.0))
    path = tmp_path / "rendered.toml"
    path.write_text(render_config(config))
    assert evolution.load_experiment(path).objective_weights == (40.0, 0.0)
    assert "weights" not in render_config(evolution.load_experiment(SMOKE))
    cells = sweep.plan(sweep.load_sweep(os.path.join(ROOT, "sweeps", "penalties.toml"), seeds="1"))
    folder = tmp_path / "cells"
    weights = {}
    for cell in cells:
        os.makedirs(folder / cell.folder)
        for name, text in cell.files:
            (folder / cell.folder / name).write_text(text)
        loaded = evolution.load_experiment(folder / cell.folder / "experiment.toml")
        weights[cell.condition] = (loaded.objectives, loaded.objective_weights, loaded.algorithm.name)
    extra = ("return", "description-length", "steps")
    assert weights == {
        "penalty=none": (extra, (0.0, 0.0), "es"),
        "penalty=description-length": (extra, (40.0, 0.0), "es"),
        "penalty=steps": (extra, (0.0, 0.01), "es"),
    }

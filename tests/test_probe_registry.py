"""Probes behind one interface in evolution and lineage: [test] probes, named /tests columns."""

import dataclasses
import os
import shutil

import numpy as np
import pytest
from conftest import world_path

from evosandbox import evolve
from evosandbox.config import load_world
from evosandbox.errors import ConfigError
from evosandbox.evaluate import Evaluator
from evosandbox.genomes import load_genome_preset
from evosandbox.lineage import analyse_lineage
from evosandbox.probes import Metric, Probe, ProbeResult, get_probe, probe_names, register
from evosandbox.probes.proxy import METRIC_NAMES, probe_level_seeds, probe_population
from evosandbox.runfile.run_read import RunReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "configs", "smoke.toml")
FIXTURE_RUN = os.path.join(ROOT, "tests", "fixtures", "schema1-run")


@register
class CountingProbe(Probe):
    """A test probe: the genome count it was given and a constant, on any world."""

    name = "test-counting"

    def metric_names(self, world, train_world):
        """Return the two metric names."""
        return ("answer", "individuals")

    def measure(self, policy, world, train_world, episodes, seed):
        """Return the constant 42 and the population size for every individual."""
        size = policy.population_size
        return [
            ProbeResult(
                self.name,
                {
                    "answer": Metric("answer", 42.0, 41.0, 43.0, episodes),
                    "individuals": Metric("individuals", float(size), float(size), float(size)),
                },
            )
            for _ in range(size)
        ]


def test_the_proxy_probe_is_registered_and_agrees_with_probe_population():
    assert "proxy" in probe_names()
    probe = get_probe("proxy")
    train, test = load_world(world_path("red-doors-train")), load_world(world_path("red-doors-test"))
    assert probe.metric_names(test, train) == METRIC_NAMES
    evaluator = Evaluator(load_genome_preset(os.path.join(ROOT, "genomes", "direct-small.toml")), train)
    genomes = evaluator.initial_genomes(6, np.random.default_rng(2))
    params = evaluator.encoding.develop(genomes)
    results = probe.measure(params, test, train, 50, 7)
    rates = probe_population(params, test, train, episodes=50, seed=7)
    assert len(results) == 6
    for index, result in enumerate(results):
        for name in METRIC_NAMES:
            metric = result.metrics[name]
            assert metric.value == getattr(rates, name)[index] and metric.low <= metric.value <= metric.high
            assert metric.count == 50
    # Through the evaluator on given levels: the counts evolution's test scoring sees.
    through = probe.measure_genomes(evaluator, genomes, test, train, 50, 7, level_seeds=probe_level_seeds(7, 50))
    assert [r.metrics["door_rate"].value for r in through] == [r.metrics["door_rate"].value for r in results]


def test_an_unknown_test_probe_names_file_and_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        open(SMOKE).read().replace('"../', f'"{ROOT}/').replace('probes = ["proxy"]', 'probes = ["telepathy"]')
    )
    with pytest.raises(ConfigError, match="unknown probe 'telepathy'") as error:
        evolve.load_experiment(path)
    assert error.value.field == "test.probes[0]"


def test_every_named_probe_scores_the_champion_into_named_columns(tmp_path):
    config = evolve.load_experiment(SMOKE, generations=2)
    assert config.test_probes == ("proxy",)
    config = dataclasses.replace(config, test_probes=("proxy", "test-counting"), test_every=1)
    evolve.evolve(config, tmp_path / "run", progress=False)
    with RunReader(tmp_path / "run") as reader:
        tests = reader.tests()
        assert 'probes = ["proxy", "test-counting"]' in reader.config_text
    assert len(tests["id"]) == 2 * len(config.test_worlds)
    assert (tests["test-counting.answer"] == 42).all() and (tests["test-counting.answer.low"] == 41).all()
    assert (tests["test-counting.individuals"] == 1).all()
    total = tests["door_rate"] + tests["proxy_rate"] + tests["other_rate"] + tests["timeout_rate"]
    assert np.allclose(total, 1.0, atol=1e-6)
    assert (tests["door_rate.low"] <= tests["door_rate"]).all() and (
        tests["door_rate"] <= tests["door_rate.high"]
    ).all()
    report = analyse_lineage(tmp_path / "run")
    assert np.isfinite(report.metrics["test-counting.answer"]).any()
    assert "test-counting.answer" in report.to_dict()["lod_test_metrics"]
    reevaluated = analyse_lineage(tmp_path / "run", reevaluate_world=world_path("red-doors-test"), episodes=20)
    assert (reevaluated.metrics["test-counting.individuals"] == len(reevaluated.line_of_descent)).all()
    assert reevaluated.metrics["door_rate"].shape == (len(reevaluated.line_of_descent), 1)


def test_a_resumed_schema_1_file_gains_interval_columns_left_empty_for_its_old_rows(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run_dir)
    with RunReader(run_dir) as reader:
        old_rows = len(reader.tests()["id"])
    evolve.resume(run_dir, generations=3, progress=False)
    with RunReader(run_dir) as reader:
        tests = reader.tests()
    assert np.isnan(tests["door_rate.low"][:old_rows]).all()
    assert np.isfinite(tests["door_rate.low"][old_rows:]).all() and len(tests["id"]) > old_rows

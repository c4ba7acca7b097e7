"""Bit-identity with the release before the house refactor: committed digests and fixtures.

tests/fixtures/make_fixtures.py wrote them with that release; a change that keeps behaviour
keeps every digest. A change meant to alter behaviour refreshes them with that script and says
so in its commit.
"""

import json
import os
import shutil

import pytest
from run_digest import run_digests

from evosandbox import evolve
from evosandbox.runfile.run_read import RunReader

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(HERE, "fixtures")
FIXTURE_RUN = os.path.join(FIXTURES, "schema1-run")
with open(os.path.join(FIXTURES, "reference-digests.json")) as _handle:
    REFERENCE = json.load(_handle)


def assert_digests_match(actual, expected):
    """Assert two digest dicts agree, naming every column that differs."""
    differing = sorted(name for name in set(actual) | set(expected) if actual.get(name) != expected.get(name))
    assert not differing, f"columns differ from the reference run: {', '.join(differing)}"


def test_the_smoke_run_matches_the_reference_digests(tmp_path):
    config = evolve.load_experiment(os.path.join(ROOT, "configs", "smoke.toml"))
    evolve.evolve(config, tmp_path / "run", progress=False)
    assert_digests_match(run_digests(tmp_path / "run"), REFERENCE["configs/smoke.toml"])


def test_the_schema_1_fixture_reads():
    with RunReader(FIXTURE_RUN) as reader:
        assert reader.schema_version == 1
        assert reader.committed_generations == 2
        assert reader.individual_count == 16
        assert reader.genome_rows(0, 16).shape == (16, reader.genome_length)


@pytest.mark.parametrize(
    "fixture, key",
    [
        ("schema1-run", "schema1-fixture resumed to 3 generations"),  # ga
        ("schema1-es-run", "schema1-es-fixture resumed to 3 generations"),
        ("schema1-cma-run", "schema1-cma-fixture resumed to 3 generations"),
    ],
)
def test_a_checkpoint_of_the_previous_release_resumes_bit_identically(tmp_path, fixture, key):
    run_dir = tmp_path / "run"
    shutil.copytree(os.path.join(FIXTURES, fixture), run_dir)
    summary = evolve.resume(run_dir, generations=3, progress=False)
    assert summary.generations == 3
    assert_digests_match(run_digests(run_dir), REFERENCE[key])

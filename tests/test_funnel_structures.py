"""benchmarks/funnel_structures.py: every candidate structure's exact gradient matches finite
differences of its map, and its factored structure is the shipped factored encoding."""

import importlib.util
import os

import numpy as np
import pytest

from evosandbox.config import load_world
from evosandbox.genomes import flatten_params, load_genome_preset, make_encoding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SPEC = importlib.util.spec_from_file_location(
    "funnel_structures", os.path.join(ROOT, "benchmarks", "funnel_structures.py")
)
structures = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(structures)


@pytest.mark.parametrize("name", sorted(structures.STRUCTURES))
def test_pullback_is_the_gradient_of_the_map(name):
    structure = structures.STRUCTURES[name]()
    rng = np.random.default_rng(0)
    genome = rng.standard_normal(structure.genome_length)
    assert structure.parameters(genome).shape == (structure.shape.parameter_count,)
    weight_gradient = rng.standard_normal(structure.shape.parameter_count)
    pulled = structure.pullback(genome, weight_gradient)
    assert pulled.shape == genome.shape
    for gene in rng.choice(structure.genome_length, 6, replace=False):
        step = np.zeros_like(genome)
        step[gene] = 1e-6
        difference = (
            weight_gradient @ (structure.parameters(genome + step) - structure.parameters(genome - step)) / 2e-6
        )
        assert difference == pytest.approx(pulled[gene], rel=1e-5, abs=1e-7)


def test_the_factored_structure_is_the_shipped_factored_encoding():
    world = load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "factored.toml")), world)
    structure = structures.STRUCTURES["factored-h32r3q1"]()
    assert structure.genome_length == encoding.genome_length and structure.shape == encoding.controller_shape
    genomes = encoding.initial_genomes(2, np.random.default_rng(5))
    np.testing.assert_allclose(
        flatten_params(structure.develop(genomes)), flatten_params(encoding.develop(genomes)), rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize(
    "preset, name",
    [
        ("cppn-separable", "cppn-separable-k8x8-onehot"),
        ("developmental-separable", "developmental-separable-s6i4-onehot"),
    ],
)
def test_the_separable_structures_are_the_shipped_separable_presets(preset, name):
    # The structure is a numpy definition with its own gradient, independent of the numba kernel.
    world = load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml"))
    encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", f"{preset}.toml")), world)
    structure = structures.STRUCTURES[name]()
    assert structure.genome_length == encoding.genome_length and structure.shape == encoding.controller_shape
    genomes = encoding.initial_genomes(3, np.random.default_rng(5))
    np.testing.assert_allclose(
        flatten_params(structure.develop(genomes)), flatten_params(encoding.develop(genomes)), rtol=1e-4, atol=1e-6
    )

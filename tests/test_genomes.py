"""Genome encodings: shapes, determinism, kernels against their plain-Python references,
the CPPN's coordinate semantics, development with zero steps, operators, genome files, presets."""

import dataclasses
import glob
import os
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evosandbox.config import load_world, parse_world
from evosandbox.controller import ControllerParams
from evosandbox.errors import ConfigError, FileFormatError
from evosandbox.genomes import (
    ENCODINGS,
    crossover_blend,
    crossover_uniform,
    flatten_params,
    load_genome_preset,
    make_encoding,
    mutate_gaussian,
    mutation_spread,
    neuron_coordinates,
    parse_genome_preset,
    positional_features,
)
from evosandbox.kernels import develop as kernels
from evosandbox.runfile.genome import read_genome, write_genome

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET_PATHS = sorted(glob.glob(os.path.join(ROOT, "genomes", "*.toml")))
TRAIN_WORLD = load_world(os.path.join(ROOT, "worlds", "red-doors-train.toml"))

# A tiny world (3x3 view, last action and last reward inputs) so the plain-Python kernels run fast.
TINY_WORLD_TEXT = """
name = "tiny"
[grid]
width = 6
height = 6
max_steps = 12
[observation]
view_size = 3
type_radius = 2
color_radius = 2
last_action = true
last_reward = true
[door]
colors = ["red"]
"""
TINY_WORLD = parse_world(tomllib.loads(TINY_WORLD_TEXT), "tiny.toml", TINY_WORLD_TEXT)


def tiny_spec(encoding, recurrent=True, **options):
    """Return a small GenomeSpec of ``encoding`` for the tiny world."""
    lines = [
        f'name = "tiny-{encoding}"',
        f'encoding = "{encoding}"',
        "[controller]",
        "hidden = 5",
        f"recurrent = {'true' if recurrent else 'false'}",
    ]
    if options:
        lines.append(f"[{encoding}]")
        lines += [f"{key} = {value}" for key, value in options.items()]
    text = "\n".join(lines) + "\n"
    return parse_genome_preset(tomllib.loads(text), "tiny-preset.toml", text)


def reference_develop(encoding, genomes):
    """Develop with the kernel's plain-Python function (numba's py_func) into fresh arrays."""
    params = ControllerParams.zeros(encoding.controller_shape, len(genomes))
    outputs = (
        params.input_weights,
        params.hidden_bias,
        params.recurrent_weights,
        params.output_weights,
        params.output_bias,
    )
    genomes = np.ascontiguousarray(genomes, dtype=np.float32)
    encoding.kernel.py_func(genomes, *encoding.kernel_arguments(), *outputs)
    return params


def assert_develops_like_reference(encoding, seed=3, rtol=1e-5, atol=1e-6):
    """Assert the numba kernel grows two random genomes into what its plain-Python reference grows."""
    genomes = encoding.initial_genomes(2, np.random.default_rng(seed))
    for a, b in zip(
        flatten_params(encoding.develop(genomes)).T, flatten_params(reference_develop(encoding, genomes)).T
    ):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def shipped_encoding(name):
    """Return the encoding of the shipped preset genomes/NAME.toml on the red-door training world."""
    return make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", f"{name}.toml")), TRAIN_WORLD)


@pytest.mark.parametrize("path", PRESET_PATHS, ids=os.path.basename)
def test_every_preset_develops_right_shapes_and_dtypes(path):
    spec = load_genome_preset(path)
    encoding = make_encoding(spec, TRAIN_WORLD)
    genomes = encoding.initial_genomes(3, np.random.default_rng(0))
    assert genomes.dtype == np.float32 and genomes.shape == (3, encoding.genome_length)
    params = encoding.develop(genomes)
    shape = encoding.controller_shape
    assert shape.inputs == 7 * 7 * 12 and shape.outputs == 3 and shape.hidden == spec.hidden
    hidden = shape.hidden
    recurrent = (3, hidden, hidden) if spec.recurrent else (3, 0, 0)
    expected = {
        "input_weights": (3, 588, hidden),
        "hidden_bias": (3, hidden),
        "recurrent_weights": recurrent,
        "output_weights": (3, hidden, 3),
        "output_bias": (3, 3),
    }
    for name, array_shape in expected.items():
        array = getattr(params, name)
        assert array.shape == array_shape, name
        assert array.dtype == np.float32 and array.flags.c_contiguous, name
        assert np.isfinite(array).all(), name
    assert encoding.compression_ratio == pytest.approx(shape.parameter_count / encoding.genome_length)
    # Different genomes grow different controllers.
    assert not np.array_equal(params.input_weights[0], params.input_weights[1])


def test_default_presets_meet_the_funnel_targets():
    ratios = {
        name: make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", f"{name}.toml")), TRAIN_WORLD)
        for name in ("direct", "cppn", "developmental")
    }
    assert ratios["direct"].compression_ratio == 1.0
    assert ratios["direct"].genome_length == ratios["direct"].controller_shape.parameter_count
    assert ratios["cppn"].compression_ratio >= 50
    assert ratios["developmental"].compression_ratio >= 50
    small = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "cppn-small.toml")), TRAIN_WORLD)
    large = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "cppn-large.toml")), TRAIN_WORLD)
    assert small.compression_ratio > ratios["cppn"].compression_ratio > large.compression_ratio


@pytest.mark.parametrize("recurrent", [True, False], ids=["recurrent", "feedforward"])
@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_develop_matches_plain_python_reference_and_is_deterministic(name, recurrent):
    options = {
        "cppn": {"feature_nodes": 3, "pair_nodes": 5},
        "developmental": {"state_size": 3, "steps": 2},
        "subspace": {"dimensions": 7},
        "factored": {"input_rank": 2, "recurrent_rank": 2},
    }
    encoding = make_encoding(tiny_spec(name, recurrent, **options.get(name, {})), TINY_WORLD)
    check_against_reference(encoding)


def check_against_reference(encoding):
    """Assert the kernel matches its plain-Python function, repeats itself, and develops each genome alone; return genomes and controllers."""
    genomes = encoding.initial_genomes(3, np.random.default_rng(7))
    compiled = encoding.develop(genomes)
    again = encoding.develop(genomes.copy())
    reference = reference_develop(encoding, genomes)
    for a, b, c in zip(flatten_params(compiled).T, flatten_params(again).T, flatten_params(reference).T):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)
    # Each individual develops alone: a batch of one gives the same controller as its row.
    single = encoding.develop(genomes[1])
    np.testing.assert_array_equal(flatten_params(single)[0], flatten_params(compiled)[1])
    return genomes, compiled


def test_direct_develops_the_same_controllers_on_one_thread_and_in_parallel():
    encoding = make_encoding(tiny_spec("direct"), TINY_WORLD)
    genomes = np.ascontiguousarray(encoding.initial_genomes(9, np.random.default_rng(3)), np.float32)
    developed = []
    for kernel in (kernels.develop_direct, kernels.develop_direct_serial):
        params = ControllerParams.zeros(encoding.controller_shape, len(genomes))
        kernel(
            genomes,
            encoding.gene_scales,
            params.input_weights,
            params.hidden_bias,
            params.recurrent_weights,
            params.output_weights,
            params.output_bias,
        )
        developed.append(flatten_params(params))
    np.testing.assert_array_equal(developed[0], developed[1])
    np.testing.assert_array_equal(flatten_params(encoding.develop(genomes)), developed[0])


def test_direct_places_each_gene_in_its_documented_slot():
    encoding = make_encoding(tiny_spec("direct"), TINY_WORLD)
    shape = encoding.controller_shape
    genome = np.arange(encoding.genome_length, dtype=np.float32)
    params = encoding.develop(genome)
    flat = flatten_params(params)[0]
    np.testing.assert_array_equal(flat, (genome.astype(np.float64) * encoding.gene_scales).astype(np.float32))
    assert params.input_weights[0, 2, 1] == pytest.approx((2 * shape.hidden + 1) * encoding.gene_scales[0])


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2**32 - 1), st.integers(0, 4))
def test_cppn_weight_depends_only_on_the_two_coordinates(seed, connection_class):
    encoding = make_encoding(tiny_spec("cppn", feature_nodes=4, pair_nodes=4), TINY_WORLD)
    genome = encoding.initial_genomes(1, np.random.default_rng(seed))[0]
    params = encoding.develop(genome)
    rng = np.random.default_rng(seed + 1)
    shape = encoding.controller_shape
    coordinates = encoding.coordinates
    first_hidden, first_output = shape.inputs, shape.inputs + shape.hidden
    origin = coordinates[-1]
    if connection_class == 0:
        i, j = rng.integers(shape.inputs), rng.integers(shape.hidden)
        pair, developed = (coordinates[i], coordinates[first_hidden + j]), params.input_weights[0, i, j]
    elif connection_class == 1:
        i, j = rng.integers(shape.hidden, size=2)
        pair, developed = (
            (coordinates[first_hidden + i], coordinates[first_hidden + j]),
            params.recurrent_weights[0, i, j],
        )
    elif connection_class == 2:
        i, j = rng.integers(shape.hidden), rng.integers(shape.outputs)
        pair, developed = (coordinates[first_hidden + i], coordinates[first_output + j]), params.output_weights[0, i, j]
    elif connection_class == 3:
        j = rng.integers(shape.hidden)
        pair, developed = (origin, coordinates[first_hidden + j]), params.hidden_bias[0, j]
    else:
        j = rng.integers(shape.outputs)
        pair, developed = (origin, coordinates[first_output + j]), params.output_bias[0, j]
    # A query with only the two coordinates (no index, no other neuron) gives the same weight.
    assert encoding.query(genome, *pair, connection_class) == pytest.approx(float(developed), abs=1e-6)


def test_cppn_input_coordinates_follow_the_documented_layout():
    coordinates = neuron_coordinates(TRAIN_WORLD, 32)
    view = 7
    i, j, channel = 0, 6, 6  # top-right view cell, red colour channel
    row = coordinates[(i * view + j) * 12 + channel]
    np.testing.assert_allclose(row, [1.0, 1.0, 6 / 11, -1.0])
    agent_row = coordinates[((view - 1) * view + 0) * 12 + 0]
    np.testing.assert_allclose(agent_row, [-1.0, 0.0, 0.0, -1.0])
    assert len(coordinates) == 588 + 32 + 3


def test_cppn_expression_threshold_silences_weak_connections():
    loose = make_encoding(tiny_spec("cppn", threshold=0.0), TINY_WORLD)
    strict = make_encoding(tiny_spec("cppn", threshold=0.9), TINY_WORLD)
    genomes = loose.initial_genomes(8, np.random.default_rng(3))
    loose_zero = np.mean(loose.develop(genomes).input_weights == 0)
    strict_zero = np.mean(strict.develop(genomes).input_weights == 0)
    assert loose_zero < 0.01 and strict_zero > 0.5


def test_developmental_with_zero_steps_reads_out_the_seeds():
    encoding = make_encoding(tiny_spec("developmental", state_size=3, steps=0), TINY_WORLD)
    genome = encoding.initial_genomes(1, np.random.default_rng(11))[0]
    params = encoding.develop(genome)
    genes = genome.astype(np.float64) * encoding.gene_scales
    size, feature_count = 3, encoding.feature_count
    seed_map = genes[: size * feature_count].reshape(size, feature_count)
    pre = seed_map @ encoding.features
    clamped = np.clip(pre, -3, 3)
    seeds = clamped * (27 + clamped**2) / (27 + 9 * clamped**2)  # the kernels' smooth tanh
    np.testing.assert_allclose(encoding.grow(genome), seeds, atol=1e-12)
    shape = encoding.controller_shape
    offset = size * feature_count + 2 * size * size + size
    read_in = genes[offset : offset + size * size].reshape(size, size)
    inputs = seeds[:, : shape.inputs]
    hidden = seeds[:, shape.inputs : shape.inputs + shape.hidden]
    expected = encoding.class_scales[0] * inputs.T @ read_in @ hidden
    np.testing.assert_allclose(params.input_weights[0], expected, rtol=1e-5, atol=1e-6)
    # Growth changes the states, and so the weights.
    grown = make_encoding(tiny_spec("developmental", state_size=3, steps=3), TINY_WORLD)
    assert not np.allclose(grown.develop(genome).input_weights, params.input_weights)


def test_positional_features_tell_channels_apart():
    features = positional_features(neuron_coordinates(TRAIN_WORLD, 32))
    channel_columns = features[:, :12]  # the 12 channels of view cell (0, 0)
    assert len({tuple(np.round(column, 6)) for column in channel_columns.T}) == 12


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_random_genome_develops_into_a_controller_the_rollout_kernel_runs(name):
    simulate = pytest.importorskip("evosandbox.simulate")
    path = os.path.join(ROOT, "genomes", f"{name}.toml")
    encoding = make_encoding(load_genome_preset(path), TRAIN_WORLD)
    params = encoding.develop(encoding.initial_genomes(4, np.random.default_rng(5)))
    result = simulate.rollout(TRAIN_WORLD, params, simulate.level_seeds_for(3, 2), seed=0, record=True)
    assert result.entered_tile.shape == (4, 2, 1)
    assert (result.steps >= 1).all() and (result.steps <= TRAIN_WORLD.max_steps).all()
    actions = result.actions[result.actions >= 0]
    assert len(np.unique(actions)) >= 2  # random controllers do not all freeze on one action


def test_operators_act_in_place_with_an_explicit_generator():
    genome = np.zeros(2000, dtype=np.float32)
    (mutant,) = mutate_gaussian(genome, 0.5, 0.1, np.random.default_rng(0))
    assert mutant is genome and mutant.dtype == np.float32
    changed = np.count_nonzero(genome)
    assert 120 < changed < 280 and 0.35 < genome[genome != 0].std() < 0.65
    again = np.zeros(2000, dtype=np.float32)
    mutate_gaussian(again, 0.5, 0.1, np.random.default_rng(0))
    np.testing.assert_array_equal(genome, again)

    first, second = np.zeros(1000, np.float32), np.ones(1000, np.float32)
    crossover_uniform(first, second, 0.5, np.random.default_rng(1))
    assert 400 < first.sum() < 600 and np.all(first + second == 1)
    first, second = np.zeros(1000, np.float32), np.ones(1000, np.float32)
    child_1, child_2 = crossover_blend(first, second, 0.5, np.random.default_rng(2))
    assert child_1 is first and child_2 is second
    np.testing.assert_allclose(first + second, 1.0, atol=1e-6)  # blending keeps the parents' sum
    assert first.min() >= -0.5 - 1e-6 and first.max() <= 1.5 + 1e-6 and 0.3 < first.mean() < 0.7


def test_operators_work_in_a_deap_toolbox_with_numpy_individuals():
    from deap import base, creator

    if not hasattr(creator, "GenomeTestIndividual"):
        creator.create("GenomeTestFitness", base.Fitness, weights=(1.0,))
        creator.create("GenomeTestIndividual", np.ndarray, fitness=creator.GenomeTestFitness)
    encoding = make_encoding(tiny_spec("cppn"), TINY_WORLD)
    rng = np.random.default_rng(4)
    toolbox = base.Toolbox()
    toolbox.register("mutate", mutate_gaussian, sigma=encoding.mutation_sigma, rate=1.0, rng=rng)
    toolbox.register("mate", crossover_blend, alpha=0.5, rng=rng)
    parents = [creator.GenomeTestIndividual(row) for row in encoding.initial_genomes(2, rng)]
    before = [np.array(parent) for parent in parents]
    toolbox.mate(*parents)
    toolbox.mutate(parents[0])
    assert isinstance(parents[0], creator.GenomeTestIndividual) and parents[0].dtype == np.float32
    assert not np.array_equal(parents[0], before[0])
    assert encoding.develop(np.stack(parents)).population_size == 2


def test_mutation_spread_separates_direct_from_indirect():
    rng = np.random.default_rng(9)
    spreads = {}
    for name in ("direct", "cppn", "developmental"):
        encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", f"{name}.toml")), TRAIN_WORLD)
        spreads[name] = float(mutation_spread(encoding, encoding.initial_genomes(4, rng), rng).mean())
    assert spreads["direct"] == pytest.approx(1 / 19971, rel=0.01)  # one gene moves one weight
    assert spreads["cppn"] > 0.01 and spreads["developmental"] > 0.01


@pytest.mark.parametrize("name", ["cppn", "developmental"])
def test_genome_to_controller_map_is_smooth(name):
    encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", f"{name}.toml")), TRAIN_WORLD)
    genome = encoding.initial_genomes(1, np.random.default_rng(2))[0]
    direction = np.random.default_rng(3).standard_normal(genome.shape).astype(np.float32)
    base = flatten_params(encoding.develop(genome))[0]
    changes = [
        np.abs(flatten_params(encoding.develop(genome + step * direction))[0] - base).max()
        for step in (1e-3, 1e-2, 1e-1)
    ]
    assert changes[0] < changes[1] < changes[2]
    assert changes[0] < 0.05  # a tiny genome step cannot jump a weight


def test_genome_file_round_trips_exactly(tmp_path):
    spec = load_genome_preset(os.path.join(ROOT, "genomes", "cppn.toml"))
    encoding = make_encoding(spec, TRAIN_WORLD)
    genome = encoding.initial_genomes(1, np.random.default_rng(8))[0]
    path = tmp_path / "sub" / "champion.h5"
    write_genome(path, genome, spec, TRAIN_WORLD, run="runs/demo", id=1234, generation=17, fitness=0.625)
    loaded = read_genome(path)
    assert loaded.genome.dtype == np.float32
    np.testing.assert_array_equal(loaded.genome, genome)
    assert loaded.genome_spec.source_text == spec.source_text
    assert dataclasses.replace(loaded.genome_spec, path=spec.path) == spec
    assert loaded.train_world.source_text == TRAIN_WORLD.source_text
    assert dataclasses.replace(loaded.train_world, path=TRAIN_WORLD.path) == TRAIN_WORLD
    assert loaded.provenance == {"run": "runs/demo", "id": 1234, "generation": 17, "fitness": 0.625}
    np.testing.assert_array_equal(
        flatten_params(loaded.encoding().develop(loaded.genome)), flatten_params(encoding.develop(genome))
    )
    # Without a world or provenance the file still reads; the encoding then needs a world.
    bare = tmp_path / "bare.h5"
    write_genome(bare, genome, spec)
    bare_file = read_genome(bare)
    assert bare_file.train_world is None and bare_file.provenance == {}
    with pytest.raises(FileFormatError, match="train_world"):
        bare_file.encoding()
    assert bare_file.encoding(TRAIN_WORLD).genome_length == len(genome)


def test_genome_file_errors_name_file_and_field(tmp_path):
    import h5py

    spec = load_genome_preset(os.path.join(ROOT, "genomes", "developmental.toml"))
    genome = make_encoding(spec, TRAIN_WORLD).initial_genomes(1, np.random.default_rng(0))[0]
    path = tmp_path / "g.h5"
    write_genome(path, genome, spec, TRAIN_WORLD)
    with h5py.File(path, "a") as handle:
        del handle["genome"]
        handle["genome"] = genome[:-1]
    with pytest.raises(FileFormatError) as error:
        read_genome(path)
    assert error.value.line().startswith(f"{path}: genome: ") and "genes" in error.value.line()
    with h5py.File(path, "a") as handle:
        handle.attrs["format"] = "evosandbox-replay"
    with pytest.raises(FileFormatError, match="format"):
        read_genome(path)
    with pytest.raises(FileFormatError, match="no such file"):
        read_genome(tmp_path / "missing.h5")


@pytest.mark.parametrize(
    "text, field, message",
    [
        ('encoding = "hyperneat"\n', "encoding", "unknown value 'hyperneat'"),
        ('encoding = "cppn"\n[cppn]\npair_nodes = 0\n', "cppn.pair_nodes", "at least 1"),
        ('encoding = "cppn"\n[cppn]\nthreshold = "high"\n', "cppn.threshold", "expected a number"),
        ('encoding = "cppn"\n[developmental]\nsteps = 3\n', "developmental", "this preset's encoding is 'cppn'"),
        ('encoding = "direct"\n[controller]\nhiden = 32\n', "controller.hiden", "unknown key"),
        ('encoding = "developmental"\n[developmental]\nrate = 0.0\n', "developmental.rate", "greater than 0"),
        ('encoding = "cppn"\n[cppn]\nsubstrate = "grid"\n', "cppn.substrate", "unknown value 'grid'"),
        ('encoding = "cppn"\n[cppn]\nsubstrate = "separable"\nthreshold = 0.2\n', "cppn.threshold", "unknown key"),
        ('encoding = "cppn"\n[cppn]\nterms = 2\n', "cppn.terms", "unknown key"),
        ('encoding = "developmental"\n[developmental]\nterms = 2\n', "developmental.terms", "unknown key"),
        ('encoding = "direct"\n[controller\n', None, "malformed TOML"),
    ],
)
def test_malformed_preset_gives_one_clear_line(tmp_path, text, field, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_genome_preset(path)
    line = error.value.line()
    assert "\n" not in line and line.startswith(f"{path}: ") and message in line
    if field:
        assert line.startswith(f"{path}: {field}: ")


def test_malformed_preset_exits_2_from_the_command_line(tmp_path, capsys):
    from evosandbox.cli import main

    preset = tmp_path / "bad-preset.toml"
    preset.write_text('encoding = "cppn"\n[cppn]\nfeature_nodes = -3\n')
    config = tmp_path / "experiment.toml"
    smoke = open(os.path.join(ROOT, "configs", "smoke.toml")).read()
    smoke = smoke.replace('"../worlds/', f'"{ROOT}/worlds/').replace(
        'preset = "../genomes/direct.toml"', f'preset = "{preset}"'
    )
    config.write_text(smoke)
    code = main(["evolve", str(config), "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert (
        len(lines) == 1
        and str(preset) in lines[0]
        and "cppn.feature_nodes" in lines[0]
        and "Traceback" not in captured.err
    )
    assert not (tmp_path / "run" / "run.h5").exists()


@pytest.mark.parametrize("name", ["cppn", "developmental", "subspace", "factored"])
def test_develop_does_not_depend_on_thread_count(name):
    import numba

    encoding = make_encoding(tiny_spec(name), TINY_WORLD)
    genomes = encoding.initial_genomes(6, np.random.default_rng(12))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = flatten_params(encoding.develop(genomes))
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(single, flatten_params(encoding.develop(genomes)))


def test_subspace_is_a_fixed_linear_map_onto_the_direct_layout():
    spec = tiny_spec("subspace", dimensions=6)
    encoding = make_encoding(spec, TINY_WORLD)
    direct = make_encoding(tiny_spec("direct"), TINY_WORLD)
    assert encoding.genome_length == 6
    assert encoding.compression_ratio == pytest.approx(direct.genome_length / 6)
    genomes = encoding.initial_genomes(2, np.random.default_rng(4))
    # The direct genes are projection @ genome: developing them directly gives the same controller.
    direct_genes = (encoding.projection.astype(np.float64) @ genomes.astype(np.float64).T).T
    np.testing.assert_allclose(
        flatten_params(encoding.develop(genomes)),
        flatten_params(direct.develop(direct_genes.astype(np.float32))),
        rtol=1e-5,
        atol=1e-6,
    )
    # Linear: the sum of two genomes grows the sum of their controllers.
    total = flatten_params(encoding.develop(genomes[0] + genomes[1]))[0]
    parts = flatten_params(encoding.develop(genomes)).sum(axis=0)
    np.testing.assert_allclose(total, parts, rtol=1e-4, atol=1e-5)
    # The projection is part of the encoding: the same seed gives the same matrix, another seed another.
    np.testing.assert_array_equal(make_encoding(spec, TINY_WORLD).projection, encoding.projection)
    other = make_encoding(tiny_spec("subspace", dimensions=6, projection_seed=1), TINY_WORLD)
    assert not np.array_equal(other.projection, encoding.projection)


FUNNEL_WIDTHS = {
    "subspace": ("subspace-large", "subspace", "subspace-small"),
    "cppn": ("cppn-h8-large", "cppn-h8", "cppn-h8-small"),
    "developmental": ("developmental-h8-large", "developmental-h8", "developmental-h8-small"),
}
"""The funnel-width presets of each indirect encoding (wide, middle, narrow), all growing direct-small's controller."""


@pytest.mark.parametrize("family", sorted(FUNNEL_WIDTHS))
def test_funnel_width_presets_span_about_20x_to_200x_of_one_controller(family):
    encodings = [shipped_encoding(name) for name in FUNNEL_WIDTHS[family]]
    direct = shipped_encoding("direct-small")
    assert {encoding.name for encoding in encodings} == {family}
    # Compression is measured against the controller actually grown: direct-small's 4,803 parameters.
    assert all(encoding.controller_shape == direct.controller_shape for encoding in encodings)
    wide, middle, narrow = (encoding.compression_ratio for encoding in encodings)
    assert 18 <= wide <= 25 and 50 <= middle <= 55 and 180 <= narrow <= 220
    # Each shipped width's kernel agrees with its plain-Python reference on the real world.
    for encoding in encodings:
        assert_develops_like_reference(encoding)


def test_factored_funnel_widths_span_about_20x_to_200x_of_the_32_unit_controller():
    names = ("factored-large", "factored", "factored-small")
    encodings = [
        make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", f"{name}.toml")), TRAIN_WORLD) for name in names
    ]
    assert {encoding.controller_shape.parameter_count for encoding in encodings} == {19_971}
    assert [encoding.genome_length for encoding in encodings] == [
        6 * 58 + 32 + 2 * 32 * 8 + 32 * 3 + 3,  # 991: six terms, rank-8 recurrence
        369,
        58 + 1 + 1 + (32 + 3) + 3,  # 98: one term, shared bias and self-connection, rank-1 actions
    ]
    wide, middle, narrow = (encoding.compression_ratio for encoding in encodings)
    assert 18 <= wide <= 25 and 50 <= middle <= 55 and 180 <= narrow <= 220
    for encoding in encodings:
        genomes = encoding.initial_genomes(2, np.random.default_rng(3))
        developed = flatten_params(encoding.develop(genomes))
        np.testing.assert_allclose(
            developed, flatten_params(reference_develop(encoding, genomes)), rtol=1e-5, atol=1e-6
        )
        for row, genome in zip(developed, genomes):
            np.testing.assert_allclose(row, factored_by_einsum(encoding, genome), rtol=1e-5, atol=1e-5)


def test_developmental_identity_features_give_cells_fixed_distinct_seeds():
    plain = make_encoding(tiny_spec("developmental", state_size=3, steps=2), TINY_WORLD)
    encoding = make_encoding(tiny_spec("developmental", state_size=3, steps=2, identity_features=2), TINY_WORLD)
    assert encoding.feature_count == plain.feature_count + 2
    assert encoding.genome_length == plain.genome_length + 3 * 2  # one seed-map column per feature and state
    np.testing.assert_array_equal(encoding.features[:8], plain.features)
    again = make_encoding(tiny_spec("developmental", state_size=3, steps=2, identity_features=2), TINY_WORLD)
    np.testing.assert_array_equal(again.features, encoding.features)
    assert_develops_like_reference(encoding, seed=1, rtol=1e-6)


def factored_by_einsum(encoding, genome):
    """Develop one factored genome by its definition (numpy, no kernel): the independent reference."""
    shape, view, hidden = encoding.controller_shape, encoding.view, encoding.controller_shape.hidden
    options = encoding.options
    rank, recurrent_rank, output_rank = options.input_rank, options.recurrent_rank, options.output_rank
    genes = genome.astype(np.float64) * encoding.gene_scales
    term = 2 * view + 12 + hidden
    terms = genes[: rank * term].reshape(rank, term)
    forward, lateral = terms[:, :view], terms[:, view : 2 * view]
    channel, loading = terms[:, 2 * view : 2 * view + 12], terms[:, 2 * view + 12 :]
    view_weights = np.einsum("ri,rj,rc,rk->ijck", forward, lateral, channel, loading).reshape(-1, hidden)
    rest = genes[rank * term :]
    extras = shape.inputs - view * view * 12
    extra_weights, rest = rest[: extras * hidden].reshape(extras, hidden), rest[extras * hidden :]

    def group(rest, mode):
        """Split off a group of ``hidden`` parameters grown as none / shared / direct."""
        if mode == "direct":
            return rest[:hidden], rest[hidden:]
        if mode == "shared":
            return np.full(hidden, rest[0]), rest[1:]
        return np.zeros(hidden), rest

    bias, rest = group(rest, options.hidden_bias)
    if shape.recurrent:
        left = rest[: hidden * recurrent_rank].reshape(hidden, recurrent_rank)
        right = rest[hidden * recurrent_rank : 2 * hidden * recurrent_rank].reshape(recurrent_rank, hidden)
        diagonal, rest = group(rest[2 * hidden * recurrent_rank :], options.recurrent_diagonal)
        recurrent = (left @ right + np.diag(diagonal)).reshape(-1)
    else:
        recurrent = np.zeros(0)
    if output_rank:
        left = rest[: hidden * output_rank].reshape(hidden, output_rank)
        right = rest[hidden * output_rank : output_rank * (hidden + shape.outputs)].reshape(output_rank, shape.outputs)
        outputs, output_bias = (left @ right).reshape(-1), rest[output_rank * (hidden + shape.outputs) :]
    else:
        outputs, output_bias = rest[: hidden * shape.outputs], rest[hidden * shape.outputs :]
    assert output_bias.shape == (shape.outputs,)
    return np.concatenate([np.vstack([view_weights, extra_weights]).reshape(-1), bias, recurrent, outputs, output_bias])


FACTORED_NARROW = {
    "recurrent_rank": 0,
    "recurrent_diagonal": '"shared"',
    "hidden_bias": '"shared"',
    "output_rank": 1,
}
FACTORED_VARIANTS = {
    "default": {},
    "narrow": FACTORED_NARROW,
    "direct-diagonal": {"recurrent_diagonal": '"direct"', "hidden_bias": '"none"', "output_rank": 2},
}
"""The factored encoding's knobs beyond the ranks: the layout of genomes/factored.toml, the narrowest, a mixture."""


@pytest.mark.parametrize("variant", sorted(FACTORED_VARIANTS))
@pytest.mark.parametrize("recurrent", [True, False], ids=["recurrent", "feedforward"])
def test_factored_variants_match_kernel_reference_and_einsum(recurrent, variant):
    options = {"input_rank": 2, "recurrent_rank": 2, **FACTORED_VARIANTS[variant]}
    encoding = make_encoding(tiny_spec("factored", recurrent, **options), TINY_WORLD)
    genomes = encoding.initial_genomes(3, np.random.default_rng(9))
    developed = flatten_params(encoding.develop(genomes))
    reference = flatten_params(reference_develop(encoding, genomes))
    np.testing.assert_allclose(developed, reference, rtol=1e-6, atol=1e-6)
    for row, genome in zip(developed, genomes):
        np.testing.assert_allclose(row, factored_by_einsum(encoding, genome), rtol=1e-5, atol=1e-6)
    # Each knob changes the genome length by exactly the genes it documents.
    plain = make_encoding(tiny_spec("factored", recurrent, input_rank=2, recurrent_rank=2), TINY_WORLD)
    hidden, outputs = plain.controller_shape.hidden, plain.controller_shape.outputs
    group = {'"none"': 0, '"shared"': 1, '"direct"': hidden}
    saved = hidden - group[options.get("hidden_bias", '"direct"')]
    if options.get("output_rank"):
        saved += hidden * outputs - options["output_rank"] * (hidden + outputs)
    if recurrent:
        saved += 2 * hidden * (2 - options["recurrent_rank"]) - group[options.get("recurrent_diagonal", '"none"')]
    assert plain.genome_length - encoding.genome_length == saved


def test_factored_shared_groups_grow_one_value_and_none_grows_zero():
    encoding = make_encoding(tiny_spec("factored", True, input_rank=1, **FACTORED_NARROW), TINY_WORLD)
    params = encoding.develop(encoding.initial_genomes(2, np.random.default_rng(4)))
    hidden = encoding.controller_shape.hidden
    for bias in params.hidden_bias:
        assert np.all(bias == bias[0]) and bias[0] != 0
    for recurrent in params.recurrent_weights:
        assert np.all(np.diag(recurrent) == recurrent[0, 0]) and recurrent[0, 0] != 0
        assert np.all(recurrent[~np.eye(hidden, dtype=bool)] == 0)  # rank 0: no product
    assert np.linalg.matrix_rank(params.output_weights[0]) == 1
    none = make_encoding(tiny_spec("factored", True, hidden_bias='"none"', recurrent_rank=0), TINY_WORLD)
    params = none.develop(none.initial_genomes(1, np.random.default_rng(4)))
    assert not params.hidden_bias.any() and not params.recurrent_weights.any()


@pytest.mark.parametrize("recurrent", [True, False], ids=["recurrent", "feedforward"])
def test_factored_kernel_computes_the_cp_decomposition_it_documents(recurrent):
    encoding = make_encoding(tiny_spec("factored", recurrent, input_rank=3, recurrent_rank=2), TINY_WORLD)
    shape = encoding.controller_shape
    term = 2 * 3 + 12 + shape.hidden
    extras = shape.inputs - 3 * 3 * 12
    recurrent_genes = 2 * shape.hidden * 2 if recurrent else 0
    assert encoding.genome_length == 3 * term + extras * shape.hidden + shape.hidden + recurrent_genes + (
        shape.hidden * shape.outputs + shape.outputs
    )
    genomes = encoding.initial_genomes(3, np.random.default_rng(8))
    developed = flatten_params(encoding.develop(genomes))
    for row, genome in zip(developed, genomes):
        np.testing.assert_allclose(row, factored_by_einsum(encoding, genome), rtol=1e-5, atol=1e-6)
    # A standard-normal genome grows weights of the direct encoding's natural sizes (WeightScales).
    big = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "factored.toml")), TRAIN_WORLD)
    params = big.develop(big.initial_genomes(64, np.random.default_rng(2)))
    assert 0.15 < params.input_weights.std() < 0.4 and 0.3 < params.output_bias.std() < 0.7
    assert 0.02 < params.recurrent_weights.std() < 0.2  # direct: 0.5 / sqrt(32) = 0.09
    # The shipped preset's kernel agrees with its plain-Python function on the real world.
    genomes = big.initial_genomes(2, np.random.default_rng(3))
    for a, b in zip(flatten_params(big.develop(genomes)).T, flatten_params(reference_develop(big, genomes)).T):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_factored_preset_compresses_the_32_unit_controller_more_than_50x():
    encoding = make_encoding(load_genome_preset(os.path.join(ROOT, "genomes", "factored.toml")), TRAIN_WORLD)
    assert encoding.controller_shape.parameter_count == 19_971
    assert encoding.genome_length == 3 * (7 + 7 + 12 + 32) + 32 + 2 * 32 + 32 * 3 + 3 == 369
    assert encoding.compression_ratio > 50


@pytest.mark.parametrize("variant", sorted(FACTORED_VARIANTS))
@pytest.mark.parametrize("recurrent", [True, False], ids=["recurrent", "feedforward"])
def test_factored_pullback_is_the_gradient_of_the_map(recurrent, variant):
    options = {"input_rank": 2, "recurrent_rank": 2, **FACTORED_VARIANTS[variant]}
    encoding = make_encoding(tiny_spec("factored", recurrent, **options), TINY_WORLD)
    rng = np.random.default_rng(6)
    genome = rng.standard_normal(encoding.genome_length)
    weight_gradient = rng.standard_normal(encoding.controller_shape.parameter_count)
    pulled = encoding.pullback(genome, weight_gradient)
    for gene in range(encoding.genome_length):
        step = np.zeros_like(genome)
        step[gene] = 1e-6
        plus = factored_by_einsum(encoding, genome + step)
        minus = factored_by_einsum(encoding, genome - step)
        assert weight_gradient @ (plus - minus) / 2e-6 == pytest.approx(pulled[gene], rel=1e-5, abs=1e-7)


SEPARABLE_OPTIONS = {
    "cppn": {"substrate": '"separable"', "feature_nodes": 5, "pair_nodes": 3, "terms": 2, "recurrent_rank": 2},
    "developmental": {"substrate": '"separable"', "state_size": 3, "steps": 2, "identity_features": 2, "terms": 2},
}


@pytest.mark.parametrize("recurrent", [True, False], ids=["recurrent", "feedforward"])
@pytest.mark.parametrize(
    "name, extra",
    [("cppn", {}), ("cppn", {"pair_nodes": 0, "channel_one_hot": "true"}), ("developmental", {})],
    ids=["cppn", "cppn-one-layer-one-hot", "developmental"],
)
def test_separable_develop_matches_plain_python_reference_and_is_deterministic(name, extra, recurrent):
    encoding = make_encoding(tiny_spec(name, recurrent, **{**SEPARABLE_OPTIONS[name], **extra}), TINY_WORLD)
    assert encoding.name == name and encoding.options.substrate == "separable"
    genomes, compiled = check_against_reference(encoding)
    # The genes reach the controller: moving one changes some parameter (unless it moves a node
    # already in its flat, saturated range).
    moved = np.repeat(genomes[:1], encoding.genome_length, axis=0)
    moved[np.arange(encoding.genome_length), np.arange(encoding.genome_length)] += 0.5
    changed = np.abs(flatten_params(encoding.develop(moved)) - flatten_params(compiled)[:1]).max(axis=1)
    assert (changed > 0).mean() > 0.95


@pytest.mark.parametrize("name", ["cppn", "developmental"])
def test_separable_input_weights_are_a_sum_of_terms_separable_terms(name):
    options = {**SEPARABLE_OPTIONS[name], "terms": 2}
    encoding = make_encoding(tiny_spec(name, True, **options), TINY_WORLD)
    params = encoding.develop(encoding.initial_genomes(4, np.random.default_rng(3)))
    for weights in params.input_weights:
        tensor = weights[: 3 * 3 * 12].astype(np.float64).reshape(3, 3, 12, -1)  # forward, lateral, channel, hidden
        for axis in range(4):
            unfolding = np.moveaxis(tensor, axis, 0).reshape(tensor.shape[axis], -1)
            assert np.linalg.matrix_rank(unfolding, tol=1e-5 * np.abs(tensor).max()) <= 2
    if name == "cppn":
        # Painted from the hidden sheet: the rank-2 recurrent product.
        for recurrent in params.recurrent_weights:
            assert np.linalg.matrix_rank(recurrent.astype(np.float64), tol=1e-6) <= 2


@pytest.mark.parametrize("name", ["cppn-separable", "developmental-separable"])
def test_separable_presets_compress_the_32_unit_controller_more_than_50x(name):
    encoding = shipped_encoding(name)
    assert encoding.controller_shape.parameter_count == 19_971
    assert encoding.compression_ratio > 50
    # A standard-normal genome grows weights neither silent nor saturating (WeightScales' sizes).
    params = encoding.develop(encoding.initial_genomes(64, np.random.default_rng(2)))
    assert 0.05 < np.median(np.abs(params.input_weights)) * 1.5 < 1.0
    assert 0.01 < params.recurrent_weights.std() < 0.5 and 0.05 < params.output_weights.std() < 0.6
    assert_develops_like_reference(encoding)


@pytest.mark.parametrize("name", ["cppn-separable", "developmental-separable"])
def test_separable_funnel_widths_span_about_20x_to_200x_of_the_32_unit_controller(name):
    # The funnel-width knob of each separable substrate: the same controller, substrate and heads,
    # a wider or narrower CPPN (nodes, terms) or growth program (state size, terms).
    encodings = [shipped_encoding(preset) for preset in (f"{name}-large", name, f"{name}-small")]
    assert {encoding.controller_shape.parameter_count for encoding in encodings} == {19_971}
    assert {(encoding.name, encoding.options.substrate) for encoding in encodings} == {
        (name.split("-")[0], "separable")
    }
    wide, middle, narrow = (encoding.compression_ratio for encoding in encodings)
    assert 18 <= wide <= 25 and 50 <= middle <= 55 and 180 <= narrow <= 220
    for encoding in encodings:
        assert_develops_like_reference(encoding)

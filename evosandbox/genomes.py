"""Genome encodings: how a small flat genome grows into a much larger controller.

This is the information funnel of "Risks from Learned Optimization" (Hubinger et al. 2019):
DNA does not list every synapse, it holds a program that builds the brain. Five encodings:

- ``direct``: one gene per controller weight and bias (no funnel; the control condition).
- ``cppn``: HyperNEAT (Stanley, D'Ambrosio and Gauci 2009). Neurons sit at coordinates that
  mean something (a view input at its lateral and forward offset and channel, hidden units on
  a 2-D sheet, actions where they point); a small compositional network with sine, gaussian,
  tanh and abs nodes (the genome holds its weights) is queried once per connection with the
  two neurons' coordinates and returns the weight, with an expression threshold. (The
  kernels use cheap smooth forms of sine, gaussian and tanh; see kernels/develop.py.)
- ``developmental``: a growth program in the spirit of Neural Developmental Programs (Najarro
  et al. 2023) and the genomic bottleneck (Shuvaev et al. 2024). Each neuron is a cell seeded
  from its position; for ``steps`` steps every cell updates its state from its own and its
  neighbours' states under a genome-defined local rule; weights are then read out from pairs of
  final states by genome-defined bilinear forms.
- ``subspace``: a random linear subspace of the direct genes (Li et al. 2018): the genome's
  ``dimensions`` coordinates are mapped by a fixed Gaussian matrix onto every weight; the
  smooth, linear control of the funnel.
- ``factored``: the view's input weights as a sum of a few separable terms (forward x lateral x
  channel x hidden profiles: a CP tensor decomposition), the recurrent weights a low-rank
  product; a funnel whose few genes each shape one feature of the view.

Genes are standardised: initial genomes are standard normal and each encoding multiplies every
gene by a fixed scale when developing, so one Gaussian mutation step size suits every gene and
a small genome change gives a small controller change.

Operators (``mutate_gaussian``, ``crossover_blend``, ``crossover_uniform``) work in place on
numpy float32 individuals (including DEAP creator subclasses of ``numpy.ndarray``), return
tuples as DEAP expects, and draw every random number from the explicit ``numpy.random.Generator``
passed as ``rng`` (never from global state), e.g.::

    toolbox.register("mutate", mutate_gaussian, sigma=encoding.mutation_sigma,
                     rate=encoding.mutation_rate, rng=rng)
    toolbox.register("mate", crossover_blend, alpha=0.5, rng=rng)
"""

import math
import os
from dataclasses import dataclass, field, fields

import numpy as np

from evosandbox.config import TableReader, read_toml
from evosandbox.constants import (
    ACTION_FORWARD,
    ACTION_LEFT,
    ACTION_RIGHT,
    FLOAT_DTYPE,
    OBSERVATION_CHANNELS,
)
from evosandbox.controller import ControllerParams
from evosandbox.kernels import develop as kernels
from evosandbox.kernels.strategy import standard_normal
from evosandbox.worlds import controller_shape, observation_size

COORDINATE_DIMENSIONS = 4
_SERIAL_DEVELOP_GENES = 1 << 21
"""Direct batches up to this many genes (8 MB) develop on one thread."""
"""Neuron coordinates are (x, y, c, layer); layer is -1 input, 0 hidden, 1 output."""

ENCODINGS = {}
"""Registry: encoding name -> Encoding subclass. A new encoding is one registered class."""


def register_encoding(cls):
    """Add an Encoding subclass to the registry under its ``name``."""
    ENCODINGS[cls.name] = cls
    return cls


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightScales:
    """The natural size of each kind of controller parameter (the map from genes to weights)."""

    input: float = 0.25
    """Input weights. The observation is a sparse one-hot (about 30-60 of ~600 inputs on), so a
    hidden unit sums a few dozen input weights: a quarter keeps it out of saturation."""
    recurrent: float = 0.5
    """Hidden-to-hidden weights."""
    output: float = 1.0
    """Hidden-to-action weights."""
    bias: float = 0.5
    """Hidden and action biases."""

    def as_array(self):
        """Return the scales indexed by connection class (input, recurrent, output, hidden bias, output bias)."""
        return np.array([self.input, self.recurrent, self.output, self.bias, self.bias], dtype=np.float64)


@dataclass(frozen=True)
class DirectOptions:
    """Options of the direct encoding (it has none beyond the controller's weight scales)."""


SUBSTRATES = ("connections", "separable")
"""How a cppn or developmental encoding paints the weights: ``connections`` queries every connection
from its two neurons (the original substrates); ``separable`` paints points on the view's forward,
lateral and channel axes and the hidden sheet, and the input weights are a sum of separable terms."""


@dataclass(frozen=True)
class CppnOptions:
    """Size and expression threshold of the CPPN (the funnel width knobs)."""

    feature_nodes: int = 8
    """Nodes of the first layer, each a function of one neuron's coordinates (separable: of one point's)."""
    pair_nodes: int = 8
    """Nodes of the second layer, each a function of both neurons of a connection (separable: of the
    first layer at one point; 0 leaves the second layer out)."""
    threshold: float = 0.2
    """Connections whose CPPN output magnitude is below this are not expressed (weight 0); not used by
    the separable substrate."""
    substrate: str = "connections"
    """``connections`` (HyperNEAT's query per connection) or ``separable`` (a query per axis point)."""
    terms: int = 3
    """Separable substrate: CPPN outputs that are CP terms (features of the view) of the input weights."""
    recurrent_rank: int = 1
    """Separable substrate: rank of the painted recurrent weights U V^T."""
    channel_one_hot: bool = False
    """Separable substrate: give the CPPN the observation channel as a one-hot input beside its
    coordinate (one input plane per channel, after Pugh and Stanley 2013)."""


@dataclass(frozen=True)
class DevelopmentalOptions:
    """Size and duration of the growth program (the funnel width knobs)."""

    state_size: int = 6
    """Length of every cell's state vector."""
    steps: int = 8
    """Developmental steps (0 reads the weights straight from the positional seeds)."""
    rate: float = 0.5
    """How far a cell moves toward its rule's output each step (0 < rate <= 1)."""
    identity_features: int = 0
    """Fixed random features per cell beside the positional ones (Nisioti et al. 2024's intrinsic
    cell states): cells that sit alike still start apart, against the collapse of neuronal
    diversity. 0 (the default) is the original program."""
    identity_seed: int = 0
    """Seeds the identity features (part of the encoding, like the substrate)."""
    substrate: str = "connections"
    """``connections`` (every neuron a cell; weights from pairs of states) or ``separable`` (cells on
    the view's forward, lateral and channel axes, the hidden sheet and the actions; the input
    weights a sum of separable terms read out from the axes' states)."""
    terms: int = 3
    """Separable substrate: CP terms (features of the view) read out for the input weights."""
    channel_one_hot: bool = False
    """Separable substrate: the channel cells' features include the channel as a one-hot (one
    seed-map column per channel, after Pugh and Stanley 2013's one plane per channel)."""


@dataclass(frozen=True)
class SubspaceOptions:
    """Dimension and seed of the random subspace (the funnel width knob)."""

    dimensions: int = 96
    """Genes: the dimension of the random subspace of direct genes the genome moves in."""
    projection_seed: int = 0
    """Seeds the fixed projection matrix (part of the encoding, like a CPPN's activation cycle)."""


@dataclass(frozen=True)
class FactoredOptions:
    """Ranks of the factored encoding (the funnel width knobs)."""

    input_rank: int = 3
    """Separable terms (features of the view) the input weights are the sum of."""
    recurrent_rank: int = 1
    """Rank of the recurrent weight matrix U @ V; 0: no product (unused by a feedforward controller)."""
    recurrent_diagonal: str = "none"
    """Self-connections added to U @ V: "none", "shared" (one gene for every unit) or "direct" (one gene each)."""
    hidden_bias: str = "direct"
    """Hidden biases: "direct" (one gene each), "shared" (one gene for all) or "none" (zero)."""
    output_rank: int = 0
    """Output weights: 0, one gene each; otherwise a rank-``output_rank`` product P @ Q."""


FACTORED_MODES = {"none": kernels.FACTORED_NONE, "shared": kernels.FACTORED_SHARED, "direct": kernels.FACTORED_DIRECT}
"""The factored encoding's ways to grow a group of parameters, by preset name (kernel codes)."""


@dataclass(frozen=True)
class GenomeSpec:
    """A genome preset: encoding, controller size, funnel knobs and default mutation."""

    name: str
    path: str
    encoding: str
    """Registry name: direct, cppn, developmental, subspace or factored."""
    hidden: int = 32
    """Hidden units of the controller."""
    recurrent: bool = True
    """Recurrent (hidden state kept between steps) or feedforward controller."""
    scales: WeightScales = WeightScales()
    options: object = DirectOptions()
    """The encoding's own options dataclass (CppnOptions, DevelopmentalOptions, SubspaceOptions, FactoredOptions)."""
    mutation_sigma: float = 0.1
    """Default standard deviation of a Gaussian gene mutation (genes are standardised)."""
    mutation_rate: float = 0.05
    """Default probability that a gene mutates."""
    description: str = ""
    source_text: str = field(default="", compare=False, repr=False)
    """The TOML text the preset was loaded from (stored in run and genome files)."""


def load_genome_preset(path):
    """Load and validate a genome preset from a TOML file.

    Args:
        path: a genomes/*.toml file.

    Returns:
        GenomeSpec. Raises ConfigError (one line ``FILE: key: message``) on any problem.
    """
    path = os.fspath(path)
    data = read_toml(path)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return parse_genome_preset(data, path, text)


def parse_genome_preset(data, path, text=""):
    """Validate a parsed TOML table as a genome preset.

    Args:
        data: the parsed TOML table.
        path: the file name to name in errors.
        text: the TOML source, kept in ``GenomeSpec.source_text``.

    Returns:
        GenomeSpec.
    """
    root = TableReader(data, path)
    name = root.string("name", os.path.splitext(os.path.basename(path))[0])
    description = root.string("description", "")
    encoding = root.string("encoding", choices=tuple(ENCODINGS))
    controller = root.table_reader("controller")
    hidden = controller.integer("hidden", 32, minimum=1, maximum=1024)
    recurrent = controller.boolean("recurrent", True)
    defaults = WeightScales()
    scales = WeightScales(
        **{
            item.name: controller.number(f"{item.name}_scale", getattr(defaults, item.name), minimum=0.0)
            for item in fields(WeightScales)
        }
    )
    controller.finish()
    for other in ENCODINGS:
        if other != encoding and other in data:
            raise root.error(other, f"options for encoding '{other}', but this preset's encoding is '{encoding}'")
    options_reader = root.table_reader(encoding)
    options = ENCODINGS[encoding].parse_options(options_reader)
    options_reader.finish()
    mutation = root.table_reader("mutation")
    sigma = mutation.number("sigma", 0.1, minimum=0.0)
    rate = mutation.number("rate", 0.05, minimum=0.0, maximum=1.0)
    mutation.finish()
    root.finish()
    return GenomeSpec(
        name=name,
        path=path,
        encoding=encoding,
        hidden=hidden,
        recurrent=recurrent,
        scales=scales,
        options=options,
        mutation_sigma=sigma,
        mutation_rate=rate,
        description=description,
        source_text=text,
    )


def make_encoding(genome_spec, world_spec):
    """Build the encoding of ``genome_spec`` for controllers that play ``world_spec``.

    Args:
        genome_spec: a GenomeSpec.
        world_spec: a WorldSpec; it fixes the controller's inputs and outputs.

    Returns:
        An Encoding (a registered subclass).
    """
    return ENCODINGS[genome_spec.encoding].variant(genome_spec.options)(genome_spec, world_spec)


def controller_shape_for(genome_spec, world_spec):
    """Return the ControllerShape a genome preset builds for a world."""
    return controller_shape(world_spec, genome_spec.hidden, genome_spec.recurrent)


# ---------------------------------------------------------------------------------------------
# The substrate: where neurons sit
# ---------------------------------------------------------------------------------------------


def hidden_sheet(hidden):
    """Return (x, y) of ``hidden`` units laid row by row on a near-square sheet in [-1, 1]^2."""
    columns = math.ceil(math.sqrt(hidden))
    rows = math.ceil(hidden / columns)
    positions = np.zeros((hidden, 2))
    for unit in range(hidden):
        row, column = divmod(unit, columns)
        positions[unit, 0] = -1.0 + 2.0 * column / (columns - 1) if columns > 1 else 0.0
        positions[unit, 1] = -1.0 + 2.0 * row / (rows - 1) if rows > 1 else 0.0
    return positions


def sheet_neighbours(hidden):
    """Return each hidden unit's neighbours on ``hidden_sheet`` (above, below, left, right), as unit indices."""
    columns = math.ceil(math.sqrt(hidden))
    neighbours = []
    for unit in range(hidden):
        row, column = divmod(unit, columns)
        cell = []
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            other_row, other_column = row + dr, column + dc
            other = other_row * columns + other_column
            if 0 <= other_column < columns and other_row >= 0 and 0 <= other < hidden:
                cell.append(other)
        neighbours.append(cell)
    return neighbours


def _action_position(action):
    """Return where an action points, in view coordinates (x lateral, y forward)."""
    if action == ACTION_LEFT:
        return -1.0, 0.0
    if action == ACTION_RIGHT:
        return 1.0, 0.0
    if action == ACTION_FORWARD:
        return 0.0, 1.0
    return 0.0, 0.0  # think: stay


def neuron_coordinates(world_spec, hidden):
    """Return (inputs + hidden + outputs, 4) coordinates (x, y, c, layer) of every neuron.

    View input ``(i * V + j) * 12 + channel`` sits at x = lateral / (V // 2),
    y = forward / (V - 1), c = channel / 11 (docs/architecture.md). The last-action inputs sit
    behind the agent (y = -1) at the x of the action's direction; the last-reward input at
    (0, -1, 1). Hidden units lie on a 2-D sheet (c = 0); actions where they point.
    """
    observation = world_spec.observation
    view = observation.view_size
    half = view // 2
    rows = []
    for i in range(view):
        for j in range(view):
            for channel in range(OBSERVATION_CHANNELS):
                rows.append(
                    ((j - half) / half, (view - 1 - i) / (view - 1), channel / (OBSERVATION_CHANNELS - 1), -1.0)
                )
    if observation.last_action:
        for action in range(world_spec.num_actions):
            rows.append((_action_position(action)[0], -1.0, 0.0, -1.0))
    if observation.last_reward:
        rows.append((0.0, -1.0, 1.0, -1.0))
    for x, y in hidden_sheet(hidden):
        rows.append((x, y, 0.0, 0.0))
    for action in range(world_spec.num_actions):
        x, y = _action_position(action)
        rows.append((x, y, 0.0, 1.0))
    return np.array(rows, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Operators (DEAP-ready, in place, explicit numpy Generator)
# ---------------------------------------------------------------------------------------------


def mutate_gaussian(individual, sigma, rate, rng):
    """Add N(0, sigma) noise to each gene with probability ``rate``, in place.

    Args:
        individual: float32 genome (a numpy array or a DEAP creator subclass of one).
        sigma: standard deviation of the noise (genes are standardised).
        rate: per-gene mutation probability.
        rng: numpy.random.Generator, the only source of randomness.

    Returns:
        ``(individual,)`` as DEAP expects.
    """
    mask = rng.random(len(individual)) < rate
    count = int(mask.sum())
    if count:
        individual[mask] += rng.normal(0.0, sigma, count).astype(individual.dtype)
    return (individual,)


def crossover_blend(first, second, alpha, rng):
    """Blend two genomes gene by gene (BLX-alpha, as deap.tools.cxBlend), in place.

    Args:
        first, second: float32 genomes of equal length.
        alpha: how far past the parents a child may fall (0.5 is usual).
        rng: numpy.random.Generator, the only source of randomness.

    Returns:
        ``(first, second)``.
    """
    gamma = ((1.0 + 2.0 * alpha) * rng.random(len(first)) - alpha).astype(first.dtype)
    a = np.array(first, copy=True)
    b = np.array(second, copy=True)
    first[:] = (1.0 - gamma) * a + gamma * b
    second[:] = gamma * a + (1.0 - gamma) * b
    return first, second


def crossover_uniform(first, second, rate, rng):
    """Swap each gene between two genomes with probability ``rate``, in place.

    Args:
        first, second: float32 genomes of equal length.
        rate: per-gene swap probability (0.5 is usual).
        rng: numpy.random.Generator, the only source of randomness.

    Returns:
        ``(first, second)``.
    """
    mask = rng.random(len(first)) < rate
    held = np.array(first[mask], copy=True)
    first[mask] = second[mask]
    second[mask] = held
    return first, second


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------


class Encoding:
    """Base class: a genome preset bound to a world's controller shape."""

    name = ""
    options_class = DirectOptions

    mutate_gaussian = staticmethod(mutate_gaussian)
    crossover_blend = staticmethod(crossover_blend)
    crossover_uniform = staticmethod(crossover_uniform)

    def __init__(self, genome_spec, world_spec):
        if not isinstance(genome_spec.options, self.options_class):
            raise ValueError(
                f"encoding {self.name} needs {self.options_class.__name__}, got {type(genome_spec.options).__name__}"
            )
        self.genome_spec = genome_spec
        self.world_spec = world_spec
        self.options = genome_spec.options
        self.controller_shape = controller_shape_for(genome_spec, world_spec)
        self.class_scales = genome_spec.scales.as_array()
        self.gene_scales = np.ascontiguousarray(self._gene_scales(), dtype=np.float64)
        self.genome_length = len(self.gene_scales)

    @classmethod
    def parse_options(cls, reader):
        """Read this encoding's options table from a preset."""
        return cls.options_class()

    @classmethod
    def variant(cls, options):
        """Return the class that develops genomes with these options (a substrate may have its own)."""
        return cls

    @property
    def compression_ratio(self):
        """Controller parameters per gene (1 for direct; the width of the funnel)."""
        return self.controller_shape.parameter_count / self.genome_length

    @property
    def mutation_sigma(self):
        """Default Gaussian mutation step (from the preset)."""
        return self.genome_spec.mutation_sigma

    @property
    def mutation_rate(self):
        """Default per-gene mutation probability (from the preset)."""
        return self.genome_spec.mutation_rate

    def initial_genomes(self, count, rng):
        """Draw ``count`` standard-normal genomes.

        Args:
            count: number of genomes.
            rng: numpy.random.Generator.

        Returns:
            float32 array (count, genome_length).
        """
        # numpy's own draws, bit for bit, with the ziggurat compiled (kernels.strategy).
        return standard_normal(rng, count, self.genome_length)

    def develop(self, genomes):
        """Develop a batch of genomes into controller parameters.

        Args:
            genomes: float32 array (P, genome_length) (a single genome (G,) is taken as P = 1).

        Returns:
            ControllerParams for P controllers of ``controller_shape``.
        """
        genomes = np.asarray(genomes)
        if genomes.ndim == 1:
            genomes = genomes[None, :]
        if genomes.ndim != 2 or genomes.shape[1] != self.genome_length:
            raise ValueError(f"{self.name} genomes must have shape (P, {self.genome_length}), got {genomes.shape}")
        genomes = np.ascontiguousarray(genomes, dtype=FLOAT_DTYPE)
        params = ControllerParams.zeros(self.controller_shape, genomes.shape[0])
        if genomes.shape[0]:
            self._develop(genomes, params)
        return params

    kernel = None
    """The numba develop kernel: ``kernel(genomes, *kernel_arguments(), *the five output arrays)``
    (kernels/develop.py; its ``py_func`` is the plain-Python reference the tests compare it with)."""

    def _gene_scales(self):
        raise NotImplementedError

    def kernel_arguments(self):
        """Return the kernel's arguments between the genomes and the five output arrays."""
        raise NotImplementedError

    def _develop(self, genomes, params):
        self.kernel(genomes, *self.kernel_arguments(), *_kernel_outputs(params))


def direct_gene_scales(shape, scales):
    """Return the natural size of each direct gene of a controller ``shape`` (kernel order)."""
    parts = [
        np.full(shape.inputs * shape.hidden, scales.input),
        np.full(shape.hidden, scales.bias),
        np.full(shape.hidden * shape.hidden if shape.recurrent else 0, scales.recurrent / math.sqrt(shape.hidden)),
        np.full(shape.hidden * shape.outputs, scales.output / math.sqrt(shape.hidden)),
        np.full(shape.outputs, scales.bias),
    ]
    return np.concatenate(parts)


def _kernel_outputs(params):
    """Return the five parameter arrays in kernel argument order."""
    return (
        params.input_weights,
        params.hidden_bias,
        params.recurrent_weights,
        params.output_weights,
        params.output_bias,
    )


@register_encoding
class DirectEncoding(Encoding):
    """One gene per weight and bias: no funnel (the control condition)."""

    name = "direct"
    options_class = DirectOptions

    def _gene_scales(self):
        return direct_gene_scales(self.controller_shape, self.genome_spec.scales)

    def develop(self, genomes, out=None):
        """Develop genomes (P, G) into ControllerParams, overwriting ``out`` when it has P rows."""
        genomes = np.asarray(genomes)
        if genomes.ndim == 1:
            genomes = genomes[None, :]
        if genomes.ndim != 2 or genomes.shape[1] != self.genome_length:
            raise ValueError(f"{self.name} genomes must have shape (P, {self.genome_length}), got {genomes.shape}")
        genomes = np.ascontiguousarray(genomes, dtype=FLOAT_DTYPE)
        population = genomes.shape[0]
        if out is None or out.population_size != population or out.shape != self.controller_shape:
            # Every weight and bias is written below, so the arrays need no zeroing.
            shape = self.controller_shape
            recurrent = shape.hidden if shape.recurrent else 0
            out = ControllerParams(
                np.empty((population, shape.inputs, shape.hidden), FLOAT_DTYPE),
                np.empty((population, shape.hidden), FLOAT_DTYPE),
                np.empty((population, recurrent, recurrent), FLOAT_DTYPE),
                np.empty((population, shape.hidden, shape.outputs), FLOAT_DTYPE),
                np.empty((population, shape.outputs), FLOAT_DTYPE),
            )
        if population:
            self._develop(genomes, out)
        return out

    def _develop(self, genomes, params):
        # A batch of a few megabytes is copied faster by one thread than handed to two.
        serial = genomes.size <= _SERIAL_DEVELOP_GENES
        develop = kernels.develop_direct_serial if serial else kernels.develop_direct
        develop(genomes, *self.kernel_arguments(), *_kernel_outputs(params))

    kernel = staticmethod(kernels.develop_direct)

    def kernel_arguments(self):
        return (self.gene_scales,)


@register_encoding
class CppnEncoding(Encoding):
    """HyperNEAT: a small CPPN queried with the coordinates of both neurons of each connection."""

    name = "cppn"
    options_class = CppnOptions

    def __init__(self, genome_spec, world_spec):
        super().__init__(genome_spec, world_spec)
        origin = np.zeros((1, COORDINATE_DIMENSIONS))
        self.coordinates = np.ascontiguousarray(np.vstack([neuron_coordinates(world_spec, genome_spec.hidden), origin]))
        # The class scale is a typical weight; an expressed CPPN weight averages about half of
        # its maximum, so the maximum is twice the typical size.
        self.class_scales = 2.0 * self.class_scales

    @classmethod
    def parse_options(cls, reader):
        """Read the [cppn] table."""
        defaults = CppnOptions()
        substrate = reader.string("substrate", defaults.substrate, choices=SUBSTRATES)
        if substrate == "separable":
            return CppnOptions(
                feature_nodes=reader.integer("feature_nodes", defaults.feature_nodes, minimum=1, maximum=256),
                pair_nodes=reader.integer("pair_nodes", defaults.pair_nodes, minimum=0, maximum=256),
                substrate=substrate,
                terms=reader.integer("terms", defaults.terms, minimum=1, maximum=64),
                recurrent_rank=reader.integer("recurrent_rank", defaults.recurrent_rank, minimum=1, maximum=64),
                channel_one_hot=reader.boolean("channel_one_hot", defaults.channel_one_hot),
            )
        return CppnOptions(
            feature_nodes=reader.integer("feature_nodes", defaults.feature_nodes, minimum=1, maximum=256),
            pair_nodes=reader.integer("pair_nodes", defaults.pair_nodes, minimum=1, maximum=256),
            threshold=reader.number("threshold", defaults.threshold, minimum=0.0, maximum=0.95),
        )

    @classmethod
    def variant(cls, options):
        """Return SeparableCppnEncoding for the separable substrate."""
        return SeparableCppnEncoding if options.substrate == "separable" else cls

    @property
    def head_count(self):
        """Number of CPPN outputs: one per connection class the controller has."""
        return 5 if self.controller_shape.recurrent else 4

    def _gene_scales(self):
        features, pairs, dimensions = self.options.feature_nodes, self.options.pair_nodes, COORDINATE_DIMENSIONS
        # Coordinates span about [-1, 1]: a first-layer weight of ~3 lets a sine node make a full
        # period across the view and a gaussian pick out a band of channels.
        feature_layer = np.tile(np.r_[np.full(dimensions, 3.0), 1.0], features)
        side = np.full(pairs * (features + dimensions), 1.5 / math.sqrt(features + dimensions))
        # Heads start small so the output tanh starts unsaturated: weights respond to every gene.
        heads = np.tile(np.r_[np.full(pairs, 0.75 / math.sqrt(pairs)), 0.25], self.head_count)
        return np.concatenate([feature_layer, side, side, np.full(pairs, 1.0), heads])

    kernel = staticmethod(kernels.develop_cppn)

    def kernel_arguments(self):
        return (
            self.gene_scales,
            self.coordinates,
            self.options.feature_nodes,
            self.options.pair_nodes,
            self.options.threshold,
            self.class_scales,
        )

    def query(self, genome, source, target, connection_class):
        """Return the weight the CPPN of one genome gives a connection between two coordinates.

        Args:
            genome: float32 (G,).
            source, target: coordinates (x, y, c, layer) of the two neurons (the origin
                (0, 0, 0, 0) as source for a bias).
            connection_class: 0 input, 1 recurrent, 2 output, 3 hidden bias, 4 output bias.

        Returns:
            The weight as a Python float.
        """
        genes = np.asarray(genome, dtype=FLOAT_DTYPE).astype(np.float64) * self.gene_scales
        points = np.ascontiguousarray(np.array([source, target], dtype=np.float64))
        source_terms, target_terms = kernels.cppn_node_terms(
            genes, points, self.options.feature_nodes, self.options.pair_nodes
        )
        head = connection_class
        if not self.controller_shape.recurrent:
            if connection_class == kernels.CLASS_RECURRENT:
                raise ValueError("a feedforward controller has no recurrent connections")
            head -= connection_class > kernels.CLASS_RECURRENT
        features, pairs, dimensions = self.options.feature_nodes, self.options.pair_nodes, COORDINATE_DIMENSIONS
        offset = features * (dimensions + 1) + 2 * pairs * (features + dimensions) + pairs + head * (pairs + 1)
        return float(
            kernels.cppn_connection(
                genes,
                offset,
                source_terms[0],
                np.ascontiguousarray(target_terms[:, 1]),
                self.options.threshold,
                self.class_scales[connection_class],
            )
        )


def positional_features(coordinates):
    """Return the fixed positional features phi of every cell, one column per cell: (8, cells).

    (x, y, c, layer, cos(pi c), cos(2 pi c), cos(3 pi c), 1): the cosines let a linear seed map
    tell observation channels apart (a channel is a category, not a quantity).
    """
    c = coordinates[:, 2:3]
    return np.ascontiguousarray(
        np.hstack(
            [
                coordinates,
                np.cos(np.pi * c),
                np.cos(2 * np.pi * c),
                np.cos(3 * np.pi * c),
                np.ones_like(c),
            ]
        ).T
    )


def tissue_neighbours(world_spec, hidden):
    """Return the cell adjacency of the developmental tissue as CSR (offsets, indices).

    View inputs touch the same channel in the four adjacent view cells; extra inputs touch one
    another; hidden cells touch their four neighbours on the sheet; action cells touch one
    another.
    """
    observation = world_spec.observation
    view = observation.view_size
    channels = OBSERVATION_CHANNELS
    view_inputs = view * view * channels
    extras = observation_size(world_spec) - view_inputs
    outputs = world_spec.num_actions
    neighbours = []
    for i in range(view):
        for j in range(view):
            for channel in range(channels):
                cell = []
                for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                    if 0 <= i + di < view and 0 <= j + dj < view:
                        cell.append(((i + di) * view + (j + dj)) * channels + channel)
                neighbours.append(cell)
    for extra in range(extras):
        neighbours.append([view_inputs + other for other in range(extras) if other != extra])
    first_hidden = view_inputs + extras
    neighbours += [[first_hidden + other for other in cell] for cell in sheet_neighbours(hidden)]
    first_output = first_hidden + hidden
    for action in range(outputs):
        neighbours.append([first_output + other for other in range(outputs) if other != action])
    offsets = np.zeros(len(neighbours) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(cell) for cell in neighbours])
    indices = np.array([index for cell in neighbours for index in cell], dtype=np.int64)
    return offsets, indices


@register_encoding
class DevelopmentalEncoding(Encoding):
    """A growth program: cells grow states under a local rule; weights are read from state pairs."""

    name = "developmental"
    options_class = DevelopmentalOptions

    def __init__(self, genome_spec, world_spec):
        super().__init__(genome_spec, world_spec)
        features = positional_features(neuron_coordinates(world_spec, genome_spec.hidden))
        if self.options.identity_features:
            rng = np.random.default_rng([self.options.identity_seed, self.options.identity_features])
            identity = rng.standard_normal((self.options.identity_features, features.shape[1]))
            features = np.ascontiguousarray(np.vstack([features, identity]))
        self.features = features
        self.neighbour_offsets, self.neighbour_indices = tissue_neighbours(world_spec, genome_spec.hidden)

    @classmethod
    def parse_options(cls, reader):
        """Read the [developmental] table."""
        defaults = DevelopmentalOptions()
        rate = reader.number("rate", defaults.rate, minimum=0.0, maximum=1.0)
        if rate <= 0.0:
            raise reader.error("rate", "must be greater than 0")
        substrate = reader.string("substrate", defaults.substrate, choices=SUBSTRATES)
        separable = substrate == "separable"
        return DevelopmentalOptions(
            state_size=reader.integer("state_size", defaults.state_size, minimum=1, maximum=64),
            steps=reader.integer("steps", defaults.steps, minimum=0, maximum=1000),
            rate=rate,
            identity_features=reader.integer("identity_features", defaults.identity_features, minimum=0, maximum=64),
            identity_seed=reader.integer("identity_seed", defaults.identity_seed, minimum=0, maximum=2**63 - 1),
            substrate=substrate,
            terms=reader.integer("terms", defaults.terms, minimum=1, maximum=64) if separable else defaults.terms,
            channel_one_hot=reader.boolean("channel_one_hot", False) if separable else False,
        )

    @classmethod
    def variant(cls, options):
        """Return SeparableDevelopmentalEncoding for the separable substrate."""
        return SeparableDevelopmentalEncoding if options.substrate == "separable" else cls

    @property
    def feature_count(self):
        """Length of the feature vector phi: 8 positional features and any identity features."""
        return 8 + self.options.identity_features

    def _gene_scales(self):
        size, feature_count = self.options.state_size, self.feature_count
        blocks = 3 if self.controller_shape.recurrent else 2
        read_out = 1.0 / math.sqrt(size)
        return np.concatenate(
            [
                np.full(size * feature_count, 1.5 / math.sqrt(feature_count)),  # seed map
                np.full(2 * size * size, 1.5 / math.sqrt(2 * size)),  # self and neighbour rules
                np.full(size, 0.5),  # rule bias
                np.full(blocks * size * size, read_out),  # weight read-outs
                np.full(2 * (size + 1), read_out),  # bias read-outs
            ]
        )

    kernel = staticmethod(kernels.develop_developmental)

    def kernel_arguments(self):
        return (
            self.gene_scales,
            self.features,
            self.neighbour_offsets,
            self.neighbour_indices,
            self.options.state_size,
            self.options.steps,
            self.options.rate,
            self.class_scales,
        )

    def grow(self, genome):
        """Return the final cell states (state_size, cells) one genome grows (for analysis)."""
        genes = np.asarray(genome, dtype=FLOAT_DTYPE).astype(np.float64) * self.gene_scales
        return kernels.grow_states(
            genes,
            self.features,
            self.neighbour_offsets,
            self.neighbour_indices,
            self.options.state_size,
            self.options.steps,
            self.options.rate,
        )


@register_encoding
class SubspaceEncoding(Encoding):
    """A random linear subspace of the direct genes (Li et al. 2018, intrinsic dimension).

    The controller's direct genes are ``P @ genome`` for a fixed Gaussian matrix ``P``
    (parameters x dimensions, entries N(0, 1 / dimensions), drawn from ``projection_seed``), so
    a standard-normal genome grows a controller distributed like a random direct one and a gene
    step moves every weight a little. The map is linear: the smooth control of the funnel, whose
    width is the one knob ``dimensions``.
    """

    name = "subspace"
    options_class = SubspaceOptions

    def __init__(self, genome_spec, world_spec):
        super().__init__(genome_spec, world_spec)
        self.parameter_scales = np.ascontiguousarray(
            direct_gene_scales(self.controller_shape, genome_spec.scales), dtype=np.float64
        )
        rng = np.random.default_rng([self.options.projection_seed, self.options.dimensions])
        parameters, dimensions = self.controller_shape.parameter_count, self.options.dimensions
        self.projection = np.ascontiguousarray(
            rng.standard_normal((parameters, dimensions), dtype=np.float32) / np.float32(math.sqrt(dimensions))
        )

    @classmethod
    def parse_options(cls, reader):
        """Read the [subspace] table."""
        defaults = SubspaceOptions()
        return SubspaceOptions(
            dimensions=reader.integer("dimensions", defaults.dimensions, minimum=1, maximum=100_000),
            projection_seed=reader.integer("projection_seed", defaults.projection_seed, minimum=0, maximum=2**63 - 1),
        )

    def _gene_scales(self):
        # Genes are the subspace coordinates themselves; the projection carries the sizes.
        return np.ones(self.options.dimensions)

    kernel = staticmethod(kernels.develop_subspace)

    def kernel_arguments(self):
        return (self.projection, self.parameter_scales)


@register_encoding
class FactoredEncoding(Encoding):
    """The view's input weights as a sum of separable terms (a CP tensor decomposition).

    The input weights of the V x V x 12 view form a tensor W[i, j, c, k] (view row, view column,
    observation channel, hidden unit); the genome holds ``input_rank`` terms of four profiles
    each, W = sum_r forward_r x lateral_r x channel_r x hidden_r (Kolda and Bader 2009): every
    term is one feature of the view with its own plane per channel (Pugh and Stanley 2013's
    multi-spatial substrate, reduced to a channel profile) and its own loading on each hidden
    unit. The recurrent weights are a rank-``recurrent_rank`` product U @ V; the extra inputs,
    the biases and the output weights have one gene each (kernels/develop.py). The narrower
    funnel widths shrink the rest: self-connections of their own (``recurrent_diagonal``), one
    shared hidden bias or none (``hidden_bias``), output weights of rank ``output_rank``.
    """

    name = "factored"
    options_class = FactoredOptions

    def __init__(self, genome_spec, world_spec):
        super().__init__(genome_spec, world_spec)
        self.view = world_spec.observation.view_size

    @classmethod
    def parse_options(cls, reader):
        """Read the [factored] table."""
        defaults = FactoredOptions()
        return FactoredOptions(
            input_rank=reader.integer("input_rank", defaults.input_rank, minimum=1, maximum=256),
            recurrent_rank=reader.integer("recurrent_rank", defaults.recurrent_rank, minimum=0, maximum=256),
            recurrent_diagonal=reader.string(
                "recurrent_diagonal", defaults.recurrent_diagonal, choices=tuple(FACTORED_MODES)
            ),
            hidden_bias=reader.string("hidden_bias", defaults.hidden_bias, choices=tuple(FACTORED_MODES)),
            output_rank=reader.integer("output_rank", defaults.output_rank, minimum=0, maximum=256),
        )

    def _gene_scales(self):
        shape, scales = self.controller_shape, self.genome_spec.scales
        view = self.world_spec.observation.view_size
        rank, recurrent_rank, hidden = self.options.input_rank, self.options.recurrent_rank, shape.hidden
        extras = shape.inputs - view * view * OBSERVATION_CHANNELS
        # A product of four standard-normal genes has unit variance: each factor carries the
        # fourth root of the term's size, so the sum of the terms has the direct weights' size.
        factor = (scales.input / math.sqrt(rank)) ** 0.25
        options = self.options
        parts = [
            np.full(rank * (2 * view + OBSERVATION_CHANNELS + hidden), factor),
            np.full(extras * hidden, scales.input),
            np.full(_group_genes(options.hidden_bias, hidden), scales.bias),
        ]
        if shape.recurrent:
            if recurrent_rank:
                side = math.sqrt(scales.recurrent / math.sqrt(hidden) / math.sqrt(recurrent_rank))
                parts.append(np.full(2 * hidden * recurrent_rank, side))
            # A self-connection gets a direct recurrent weight's size.
            parts.append(
                np.full(_group_genes(options.recurrent_diagonal, hidden), scales.recurrent / math.sqrt(hidden))
            )
        output_size = scales.output / math.sqrt(hidden)
        if options.output_rank:
            side = math.sqrt(output_size / math.sqrt(options.output_rank))
            parts.append(np.full(options.output_rank * (hidden + shape.outputs), side))
        else:
            parts.append(np.full(hidden * shape.outputs, output_size))
        parts.append(np.full(shape.outputs, scales.bias))
        return np.concatenate(parts)

    def pullback(self, genome, weight_gradient):
        """Return the gradient over the genome of a gradient over the controller's parameters (exact chain rule).

        Args:
            genome: one genome (G,).
            weight_gradient: float64 (parameter_count,), kernel order (flatten_params).

        Returns:
            float64 (G,).
        """
        shape, view = self.controller_shape, self.view
        rank, recurrent_rank, hidden = self.options.input_rank, self.options.recurrent_rank, shape.hidden
        channels = OBSERVATION_CHANNELS
        genes = np.asarray(genome, dtype=np.float64) * self.gene_scales
        term = 2 * view + channels + hidden
        terms = genes[: rank * term].reshape(rank, term)
        forward, lateral = terms[:, :view], terms[:, view : 2 * view]
        channel, loading = terms[:, 2 * view : 2 * view + channels], terms[:, 2 * view + channels :]
        view_inputs = view * view * channels
        tensor = np.asarray(weight_gradient[: view_inputs * hidden], dtype=np.float64).reshape(
            view, view, channels, hidden
        )
        parts = [
            np.concatenate(
                [
                    np.einsum("ijck,rj,rc,rk->ri", tensor, lateral, channel, loading),
                    np.einsum("ijck,ri,rc,rk->rj", tensor, forward, channel, loading),
                    np.einsum("ijck,ri,rj,rk->rc", tensor, forward, lateral, loading),
                    np.einsum("ijck,ri,rj,rc->rk", tensor, forward, lateral, channel),
                ],
                axis=1,
            ).reshape(-1)
        ]
        options, outputs = self.options, shape.outputs
        rest = np.asarray(weight_gradient[view_inputs * hidden :], dtype=np.float64)
        extras = (shape.inputs - view_inputs) * hidden  # extra-input weights: one gene each
        parts.append(rest[:extras])
        parts.append(_group_gradient(options.hidden_bias, rest[extras : extras + hidden]))
        rest = rest[extras + hidden :]
        gene = rank * term + extras + _group_genes(options.hidden_bias, hidden)
        if shape.recurrent:
            left = genes[gene : gene + hidden * recurrent_rank].reshape(hidden, recurrent_rank)
            gene += hidden * recurrent_rank
            right = genes[gene : gene + hidden * recurrent_rank].reshape(recurrent_rank, hidden)
            gene += hidden * recurrent_rank + _group_genes(options.recurrent_diagonal, hidden)
            recurrent = rest[: hidden * hidden].reshape(hidden, hidden)
            parts += [(recurrent @ right.T).reshape(-1), (left.T @ recurrent).reshape(-1)]
            parts.append(_group_gradient(options.recurrent_diagonal, np.diagonal(recurrent)))
            rest = rest[hidden * hidden :]
        output_gradient = rest[: hidden * outputs]
        if options.output_rank:
            left = genes[gene : gene + hidden * options.output_rank].reshape(hidden, options.output_rank)
            right = genes[gene + hidden * options.output_rank : gene + options.output_rank * (hidden + outputs)]
            right = right.reshape(options.output_rank, outputs)
            output_gradient = output_gradient.reshape(hidden, outputs)
            parts += [(output_gradient @ right.T).reshape(-1), (left.T @ output_gradient).reshape(-1)]
        else:
            parts.append(output_gradient)
        parts.append(rest[hidden * outputs :])
        return np.concatenate(parts) * self.gene_scales

    kernel = staticmethod(kernels.develop_factored)

    def kernel_arguments(self):
        return (
            self.gene_scales,
            self.view,
            OBSERVATION_CHANNELS,
            self.options.input_rank,
            self.options.recurrent_rank,
            FACTORED_MODES[self.options.hidden_bias],
            FACTORED_MODES[self.options.recurrent_diagonal],
            self.options.output_rank,
        )


def _group_genes(mode, size):
    """Return the genes a factored parameter group of ``size`` takes: none, shared or direct."""
    return {"none": 0, "shared": 1, "direct": size}[mode]


def _group_gradient(mode, gradient):
    """Return the gradient over a factored group's genes of the gradient over its parameters."""
    if mode == "direct":
        return gradient
    return np.sum(gradient, keepdims=True) if mode == "shared" else gradient[:0]


# ---------------------------------------------------------------------------------------------
# Separable substrates: cppn and developmental painting points on the view's axes
# ---------------------------------------------------------------------------------------------

AXIS_FORWARD, AXIS_LATERAL, AXIS_CHANNEL, AXIS_HIDDEN, AXIS_ACTION = range(5)


def separable_points(world_spec, hidden):
    """Return the separable substrate's points: coordinates (N, 2) and axis (N,), forward, lateral, channel, hidden.

    Every coordinate lies in [-1, 1]: forward view row i at 1 - 2 i / (V - 1) (1 the farthest row),
    lateral column j at (j - V // 2) / (V // 2), channel c at 2 c / (C - 1) - 1, hidden units on
    ``hidden_sheet`` (x, y); the second coordinate is 0 on the three view axes.
    """
    view = world_spec.observation.view_size
    half, channels = view // 2, OBSERVATION_CHANNELS
    points = [(1.0 - 2.0 * i / (view - 1), 0.0) for i in range(view)]
    points += [((j - half) / half, 0.0) for j in range(view)]
    points += [(2.0 * c / (channels - 1) - 1.0, 0.0) for c in range(channels)]
    points += [(x, y) for x, y in hidden_sheet(hidden)]
    axis = np.repeat(np.arange(4), [view, view, channels, hidden])
    return np.array(points, dtype=np.float64), axis


def _separable_weight_scales(shape, scales, terms, recurrent_rank):
    """Return (input term, recurrent product, output, bias) sizes of the separable substrates' heads."""
    return np.array(
        [
            scales.input / math.sqrt(terms),
            scales.recurrent / math.sqrt(shape.hidden) / math.sqrt(recurrent_rank),
            scales.output / math.sqrt(shape.hidden),
            scales.bias,
        ],
        dtype=np.float64,
    )


class SeparableCppnEncoding(CppnEncoding):
    """The cppn encoding on the separable substrate: one CPPN query per axis point, not per connection.

    The substrate's points are the view's forward, lateral and channel axes and the hidden sheet
    (``separable_points``); the CPPN sees a point's coordinates (u, v), which axis it lies on
    (one-hot), a constant and, with ``channel_one_hot``, the channel as a one-hot. Its first ``terms``
    outputs are CP factors, so the input weights are sum_r forward_r(i) lateral_r(j) channel_r(c)
    hidden_r(k) (the factored encoding's separable features, painted from geometry; sharp features
    from the gaussian and abs nodes); on the hidden points further outputs paint the recurrent
    weights (a rank-``recurrent_rank`` product), the output weights (one output per action) and the
    hidden biases. Output biases and any extra inputs (last action, last reward) have one gene each
    (kernels/develop.py).
    """

    def __init__(self, genome_spec, world_spec):
        Encoding.__init__(self, genome_spec, world_spec)
        self.view = world_spec.observation.view_size
        self.inputs = self.cppn_inputs(world_spec, genome_spec.hidden, self.options.channel_one_hot)
        self.weight_scales = _separable_weight_scales(
            self.controller_shape, genome_spec.scales, self.options.terms, self.options.recurrent_rank
        )

    @staticmethod
    def cppn_inputs(world_spec, hidden, channel_one_hot):
        """Return the CPPN's input rows, one per point: (u, v, axis one-hot (4), 1[, channel one-hot])."""
        coordinates, axis = separable_points(world_spec, hidden)
        columns = [coordinates, np.eye(4)[axis], np.ones((len(axis), 1))]
        if channel_one_hot:
            one_hot = np.zeros((len(axis), OBSERVATION_CHANNELS))
            one_hot[axis == AXIS_CHANNEL] = np.eye(OBSERVATION_CHANNELS)
            columns.append(one_hot)
        return np.ascontiguousarray(np.hstack(columns))

    @property
    def head_count(self):
        """CPPN outputs: the terms, 2 x recurrent_rank recurrent factors, one per action, the hidden bias."""
        rank = self.options.recurrent_rank if self.controller_shape.recurrent else 0
        return self.options.terms + 2 * rank + self.controller_shape.outputs + 1

    def _gene_scales(self):
        shape, options = self.controller_shape, self.options
        first, second = options.feature_nodes, options.pair_nodes
        dimensions = 7 + (OBSERVATION_CHANNELS if options.channel_one_hot else 0)
        view_inputs = self.world_spec.observation.view_size**2 * OBSERVATION_CHANNELS
        # Coordinate weights of 3 let a sine node make a period across an axis and a gaussian pick
        # out one view row (rows are 1/3 apart); the axis inputs shift each node per axis.
        first_layer = np.r_[3.0, 3.0, np.full(4, 2.0), 1.0, np.full(dimensions - 7, 1.0)]
        width = first + second + 1
        # Heads start near unit size, so a product of four and the term sum give input weights of
        # about the direct encoding's size.
        return np.concatenate(
            [
                np.tile(first_layer, first),
                np.full(second * (first + 1), 1.5 / math.sqrt(first + 1)),
                np.full(self.head_count * width, 0.7 / math.sqrt(width)),
                np.ones(shape.outputs),
                np.full((shape.inputs - view_inputs) * shape.hidden, self.genome_spec.scales.input),
            ]
        )

    kernel = staticmethod(kernels.develop_separable_cppn)

    def kernel_arguments(self):
        return (
            self.gene_scales,
            self.inputs,
            self.view,
            OBSERVATION_CHANNELS,
            self.options.terms,
            self.options.recurrent_rank,
            self.options.feature_nodes,
            self.options.pair_nodes,
            self.weight_scales,
        )

    def query(self, genome, source, target, connection_class):
        """Not available: the separable CPPN is queried per point, not per connection."""
        raise NotImplementedError("the separable substrate paints points, not connections")


def separable_tissue(world_spec, hidden, identity_features, identity_seed, channel_one_hot=False):
    """Return the separable growth program's cells: features (F, cells), CSR neighbours, first cell per axis.

    Cells: the view's forward and lateral axes (chains: each touches the next and previous), the
    channels (no neighbours: a channel is a category), the hidden sheet (four neighbours) and the
    actions (touching one another). Features: (u, v, axis one-hot (5), 1), ``identity_features``
    fixed random numbers per cell (Nisioti et al. 2024) and, with ``channel_one_hot``, the channel
    cells' channel as a one-hot (zero on the other cells).
    """
    coordinates, axis = separable_points(world_spec, hidden)
    actions = world_spec.num_actions
    coordinates = np.vstack([coordinates, [_action_position(action) for action in range(actions)]])
    axis = np.r_[axis, np.full(actions, AXIS_ACTION)]
    cells = len(axis)
    rng = np.random.default_rng([identity_seed, identity_features])
    columns = [coordinates, np.eye(5)[axis], np.ones((cells, 1)), rng.standard_normal((cells, identity_features))]
    if channel_one_hot:
        one_hot = np.zeros((cells, OBSERVATION_CHANNELS))
        one_hot[axis == AXIS_CHANNEL] = np.eye(OBSERVATION_CHANNELS)
        columns.append(one_hot)
    features = np.hstack(columns)
    view = world_spec.observation.view_size
    first = np.searchsorted(axis, np.arange(6)).astype(np.int64)
    neighbours = []
    for a in (AXIS_FORWARD, AXIS_LATERAL):
        for i in range(view):
            neighbours.append([first[a] + other for other in (i - 1, i + 1) if 0 <= other < view])
    neighbours += [[] for _ in range(OBSERVATION_CHANNELS)]
    neighbours += [[first[AXIS_HIDDEN] + other for other in cell] for cell in sheet_neighbours(hidden)]
    for action in range(actions):
        neighbours.append([first[AXIS_ACTION] + other for other in range(actions) if other != action])
    offsets = np.zeros(cells + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(cell) for cell in neighbours])
    indices = np.array([index for cell in neighbours for index in cell], dtype=np.int64)
    return np.ascontiguousarray(features.T), offsets, indices, first


class SeparableDevelopmentalEncoding(DevelopmentalEncoding):
    """The developmental encoding on the separable substrate: cells on the view's axes, the sheet, the actions.

    Cells are seeded from their position and identity features and grow under the same local rule
    as the developmental encoding (``grow_states``); each axis has its own read-out of ``terms`` CP
    factors from its cells' final states, so the input weights are a sum of separable terms
    forward x lateral x channel x hidden; the recurrent and output weights are bilinear read-outs
    of pairs of final states (hidden-hidden, hidden-action), the biases linear ones. Extra inputs
    (last action, last reward) have one gene per weight (kernels/develop.py).
    """

    def __init__(self, genome_spec, world_spec):
        options = genome_spec.options
        # The tissue first: the gene scales depend on its feature count.
        self.features, self.neighbour_offsets, self.neighbour_indices, self.axis_first = separable_tissue(
            world_spec, genome_spec.hidden, options.identity_features, options.identity_seed, options.channel_one_hot
        )
        Encoding.__init__(self, genome_spec, world_spec)
        self.view = world_spec.observation.view_size
        self.weight_scales = _separable_weight_scales(self.controller_shape, genome_spec.scales, options.terms, 1)

    @property
    def feature_count(self):
        """Length of a cell's feature vector: 8 positional, the identity features, any channel one-hot."""
        return self.features.shape[0]

    def _gene_scales(self):
        shape, options = self.controller_shape, self.options
        size, feature_count = options.state_size, self.feature_count
        view_inputs = self.world_spec.observation.view_size**2 * OBSERVATION_CHANNELS
        blocks = 2 if shape.recurrent else 1
        # Read-outs start so that factors are near unit size and the bilinear weights near the
        # direct encoding's (cell states are about 0.5 in size).
        return np.concatenate(
            [
                np.full(size * feature_count, 1.5 / math.sqrt(feature_count)),  # seed map
                np.full(2 * size * size, 1.5 / math.sqrt(2 * size)),  # self and neighbour rules
                np.full(size, 0.5),  # rule bias
                np.full(4 * options.terms * (size + 1), 2.0 / math.sqrt(size + 1)),  # factor read-outs
                np.full(blocks * size * size, 2.0 / math.sqrt(size)),  # recurrent and output read-outs
                np.full(2 * (size + 1), 3.0 / math.sqrt(size)),  # bias read-outs
                np.full((shape.inputs - view_inputs) * shape.hidden, self.genome_spec.scales.input),
            ]
        )

    kernel = staticmethod(kernels.develop_separable_developmental)

    def kernel_arguments(self):
        return (
            self.gene_scales,
            self.features,
            self.neighbour_offsets,
            self.neighbour_indices,
            self.axis_first,
            self.options.state_size,
            self.options.steps,
            self.options.rate,
            self.view,
            OBSERVATION_CHANNELS,
            self.options.terms,
            self.weight_scales,
        )


# ---------------------------------------------------------------------------------------------
# Measuring the funnel
# ---------------------------------------------------------------------------------------------


def flatten_params(params):
    """Return every parameter of each controller as one row: (P, parameter_count)."""
    population = params.population_size
    return np.hstack([array.reshape(population, -1) for array in _kernel_outputs(params)])


def mutation_spread(encoding, genomes, rng, sigma=None, relative_threshold=0.01):
    """Measure how far one single-gene mutation reaches into the controller.

    Each genome gets one gene (chosen at random) moved by ``sigma`` (default: the encoding's
    mutation_sigma) in a random direction; the spread is the fraction of controller parameters
    that change by more than ``relative_threshold`` times the controller's RMS parameter.

    Args:
        encoding: an Encoding.
        genomes: float32 (P, G) parents.
        rng: numpy.random.Generator.
        sigma: the mutation step.
        relative_threshold: what counts as a change, relative to the parameters' RMS.

    Returns:
        float32 (P,): the fraction of parameters changed, per genome.
    """
    sigma = encoding.mutation_sigma if sigma is None else sigma
    genomes = np.ascontiguousarray(genomes, dtype=FLOAT_DTYPE)
    mutants = genomes.copy()
    rows = np.arange(len(genomes))
    genes = rng.integers(0, encoding.genome_length, len(genomes))
    mutants[rows, genes] += (sigma * rng.choice([-1.0, 1.0], len(genomes))).astype(FLOAT_DTYPE)
    before = flatten_params(encoding.develop(genomes))
    after = flatten_params(encoding.develop(mutants))
    rms = np.sqrt(np.mean(before.astype(np.float64) ** 2, axis=1, keepdims=True))
    changed = np.abs(after - before) > relative_threshold * np.maximum(rms, 1e-12)
    return changed.mean(axis=1).astype(FLOAT_DTYPE)

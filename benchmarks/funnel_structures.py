"""Distil the red-door teacher into candidate weight structures before building them as encodings.

``benchmarks/funnel.py --distill`` asks of every shipped preset whether it can express the
teacher's policy. This script asks the same of weight structures that are not (or not yet)
encodings, so the literature's suggestions can be measured cheaply: each structure is a numpy
map from a genome to the controller's parameters with its exact gradient (so the fit is the
same Adam on the cross-entropy as ``evosandbox.distill.fit_by_gradient``, 300 steps from the
best of 64 standard-normal genomes), and each fitted controller plays the same 500 fresh levels.
The teacher, its recorded levels and the fresh levels are those of ``benchmarks/funnel.py``
(seed 0), so the figures compare with that table. One line of JSON per structure:

    python benchmarks/funnel_structures.py --distill /work/out/funnel/direct [--structures NAME ...]

Structures (V = 7 view, C = 12 channels, H hidden units; W the input weights (V, V, C, H)):
  input-rank-R        W = F @ M with F (588, R) and M (R, H) one gene per entry (rank of W alone)
  channel-dct-RxB     F's column per channel: the B lowest 2-D DCT frequencies of the view
  koutnik-dct         every weight matrix the inverse DCT of its lowest frequencies (Koutnik 2010)
  multispatial-dct    per channel its own 3-D DCT over (forward, lateral, hidden) (Pugh and Stanley 2013)
  cp-R                W = sum of R separable terms forward x lateral x channel x hidden (CP)
  factored-HhRrQq     cp-R for an H-unit controller, recurrent weights of rank Q, the rest direct
  cppn-separable-...  a CPPN queried per point of the four axes paints 3 CP terms and the rest (32 units):
                      KaxB = a first-layer and b second-layer nodes, -onehot the channel as one-hot inputs
  developmental-separable-...  cells on the axes grow states; 3 CP terms and the rest read out (32 units):
                      sSiI = S-number states, I identity features, -onehot channel one-hot features,
                      -steps0 no growth steps
"""

import argparse
import json
import math
import sys
import time

import numpy as np

import evosandbox.distill as distill
from evosandbox.agents import resolve_agent
from evosandbox.config import load_world
from evosandbox.controller import ControllerParams, ControllerShape
from evosandbox.genomes import sheet_neighbours
from evosandbox.simulate import level_seeds_for

VIEW, CHANNELS, OUTPUTS = 7, 12, 3
VIEW_INPUTS = VIEW * VIEW * CHANNELS
TEACHER_HIDDEN = 8


def direct_scales(hidden):
    """Return the direct encoding's natural parameter sizes (WeightScales defaults), kernel order."""
    return np.concatenate(
        [
            np.full(VIEW_INPUTS * hidden, 0.25),
            np.full(hidden, 0.5),
            np.full(hidden * hidden, 0.5 / math.sqrt(hidden)),
            np.full(hidden * OUTPUTS, 1 / math.sqrt(hidden)),
            np.full(OUTPUTS, 0.5),
        ]
    )


def dct_matrix(size):
    """Return the orthonormal DCT-II matrix (rows: frequencies)."""
    k = np.arange(size)
    matrix = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * size)) * math.sqrt(2 / size)
    matrix[0] /= math.sqrt(2)
    return matrix


def spatial_basis(count):
    """Return (49, count): the lowest-frequency 2-D DCT maps of the view (by u + v, then max, then u)."""
    matrix = dct_matrix(VIEW)
    frequencies = sorted(((u, v) for u in range(VIEW) for v in range(VIEW)), key=lambda f: (f[0] + f[1], max(f), f[0]))
    return np.stack([np.outer(matrix[u], matrix[v]).reshape(-1) for u, v in frequencies[:count]], axis=1)


def per_channel(spatial):
    """Return the (588, C * B) basis giving every channel plane its own copy of the spatial maps."""
    count = spatial.shape[1]
    basis = np.zeros((VIEW_INPUTS, CHANNELS * count))
    cells = np.arange(VIEW * VIEW)
    for channel in range(CHANNELS):
        basis[cells * CHANNELS + channel, channel * count : (channel + 1) * count] = spatial
    return basis


def rest_basis(dimensions):
    """Return the (99, dimensions) map of the 8-unit controller's other parameters: identity at 99, else Gaussian."""
    if dimensions == 99:
        return np.eye(99)
    rng = np.random.default_rng([1, dimensions])
    return rng.standard_normal((99, dimensions)) / math.sqrt(dimensions)


class Structure:
    """A genome -> parameters map with its exact vector-Jacobian product (numpy, one genome at a time)."""

    hidden = TEACHER_HIDDEN

    @property
    def shape(self):
        """The ControllerShape it grows."""
        return ControllerShape(VIEW_INPUTS, self.hidden, OUTPUTS, True)

    def initial_genomes(self, count, rng):
        """Draw standard-normal genomes."""
        return rng.standard_normal((count, self.genome_length), dtype=np.float32)

    def develop(self, genomes):
        """Return ControllerParams of a batch of genomes."""
        genomes = np.atleast_2d(np.asarray(genomes, np.float64))
        flat = np.stack([self.parameters(genome) for genome in genomes])
        population, hidden, first, parts = len(genomes), self.hidden, 0, []
        for shape in ((VIEW_INPUTS, hidden), (hidden,), (hidden, hidden), (hidden, OUTPUTS), (OUTPUTS,)):
            size = int(np.prod(shape))
            parts.append(flat[:, first : first + size].reshape((population, *shape)))
            first += size
        return ControllerParams(*parts)


class Linear(Structure):
    """parameters = direct sizes * (basis @ genome)."""

    def __init__(self, basis):
        self.basis = basis
        self.genome_length = basis.shape[1]

    def parameters(self, genome):
        """Return the flat parameters of one genome."""
        return direct_scales(self.hidden) * (self.basis @ genome)

    def pullback(self, genome, gradient):
        """Return the genome gradient of a parameter gradient."""
        return self.basis.T @ (gradient * direct_scales(self.hidden))


class LowRank(Structure):
    """W = (S @ A) @ M: a fixed (588, B) basis S, genes A (B, R) and M (R, H); the rest = rest_basis @ genes."""

    def __init__(self, basis, rank, rest):
        self.basis, self.rank, self.rest = basis, rank, rest
        self.feature_genes, self.mixing_genes = basis.shape[1] * rank, rank * TEACHER_HIDDEN
        self.genome_length = self.feature_genes + self.mixing_genes + rest.shape[1]
        self.feature_scale = math.sqrt(VIEW_INPUTS / basis.shape[1])
        self.mixing_scale = 0.25 / math.sqrt(rank)

    def split(self, genome):
        """Return (A, M, rest genes)."""
        a = genome[: self.feature_genes].reshape(self.basis.shape[1], self.rank)
        m = genome[self.feature_genes : self.feature_genes + self.mixing_genes].reshape(self.rank, TEACHER_HIDDEN)
        return a, m, genome[self.feature_genes + self.mixing_genes :]

    def parameters(self, genome):
        """Return the flat parameters of one genome."""
        a, m, rest = self.split(genome)
        weights = (self.feature_scale * (self.basis @ a)) @ (self.mixing_scale * m)
        return np.concatenate([weights.reshape(-1), direct_scales(8)[VIEW_INPUTS * 8 :] * (self.rest @ rest)])

    def pullback(self, genome, gradient):
        """Return the genome gradient of a parameter gradient."""
        a, m, _ = self.split(genome)
        weight_gradient = gradient[: VIEW_INPUTS * 8].reshape(VIEW_INPUTS, 8)
        features = self.feature_scale * (self.basis @ a)
        mixing_gradient = self.mixing_scale * (features.T @ weight_gradient)
        feature_gradient = self.feature_scale * (self.basis.T @ (weight_gradient @ (self.mixing_scale * m).T))
        rest_gradient = self.rest.T @ (gradient[VIEW_INPUTS * 8 :] * direct_scales(8)[VIEW_INPUTS * 8 :])
        return np.concatenate([feature_gradient.reshape(-1), mixing_gradient.reshape(-1), rest_gradient])


class Factored(Structure):
    """W = s * sum_r forward_r x lateral_r x channel_r x hidden_r; recurrent U @ V of rank Q (or rest_basis)."""

    def __init__(self, rank, hidden=TEACHER_HIDDEN, recurrent_rank=None, rest=None):
        self.rank, self.hidden, self.recurrent_rank, self.rest = rank, hidden, recurrent_rank, rest
        self.term_genes = rank * (2 * VIEW + CHANNELS + hidden)
        if rest is not None:
            other = rest.shape[1]
        else:
            other = hidden + 2 * recurrent_rank * hidden + hidden * OUTPUTS + OUTPUTS
        self.genome_length = self.term_genes + other
        self.term_scale = 0.25 / math.sqrt(rank)

    def terms(self, genome):
        """Return the four profiles (R, .) of every term."""
        terms = genome[: self.term_genes].reshape(self.rank, 2 * VIEW + CHANNELS + self.hidden)
        return (
            terms[:, :VIEW],
            terms[:, VIEW : 2 * VIEW],
            terms[:, 2 * VIEW : 2 * VIEW + CHANNELS],
            terms[:, 2 * VIEW + CHANNELS :],
        )

    def others(self, genome):
        """Return (hidden bias, U, V, output weights, output bias) genes (the rank-Q form)."""
        h, q = self.hidden, self.recurrent_rank
        rest = genome[self.term_genes :]
        u = rest[h : h + h * q].reshape(h, q)
        v = rest[h + h * q : h + 2 * h * q].reshape(q, h)
        return rest[:h], u, v, rest[h + 2 * h * q : h + 2 * h * q + h * OUTPUTS], rest[h + 2 * h * q + h * OUTPUTS :]

    def recurrent_scale(self):
        """Return the scale of U @ V (the direct recurrent size, shared over Q terms)."""
        return 0.5 / math.sqrt(self.hidden) / math.sqrt(max(1, self.recurrent_rank))

    def parameters(self, genome):
        """Return the flat parameters of one genome."""
        forward, lateral, channel, loading = self.terms(genome)
        weights = self.term_scale * np.einsum("ri,rj,rc,rk->ijck", forward, lateral, channel, loading)
        if self.rest is not None:
            rest = direct_scales(self.hidden)[VIEW_INPUTS * self.hidden :] * (self.rest @ genome[self.term_genes :])
            return np.concatenate([weights.reshape(-1), rest])
        bias, u, v, outputs, output_bias = self.others(genome)
        recurrent = (self.recurrent_scale() * u @ v).reshape(-1)
        output_scale = 1 / math.sqrt(self.hidden)
        return np.concatenate([weights.reshape(-1), 0.5 * bias, recurrent, output_scale * outputs, 0.5 * output_bias])

    def pullback(self, genome, gradient):
        """Return the genome gradient of a parameter gradient."""
        forward, lateral, channel, loading = self.terms(genome)
        h = self.hidden
        weight_gradient = self.term_scale * gradient[: VIEW_INPUTS * h].reshape(VIEW, VIEW, CHANNELS, h)
        profiles = [
            np.einsum("ijck,rj,rc,rk->ri", weight_gradient, lateral, channel, loading),
            np.einsum("ijck,ri,rc,rk->rj", weight_gradient, forward, channel, loading),
            np.einsum("ijck,ri,rj,rk->rc", weight_gradient, forward, lateral, loading),
            np.einsum("ijck,ri,rj,rc->rk", weight_gradient, forward, lateral, channel),
        ]
        term_gradient = np.concatenate(profiles, axis=1).reshape(-1)
        other = gradient[VIEW_INPUTS * h :]
        if self.rest is not None:
            return np.concatenate([term_gradient, self.rest.T @ (other * direct_scales(h)[VIEW_INPUTS * h :])])
        _, u, v, _, _ = self.others(genome)
        recurrent_gradient = self.recurrent_scale() * other[h : h + h * h].reshape(h, h)
        return np.concatenate(
            [
                term_gradient,
                0.5 * other[:h],
                (recurrent_gradient @ v.T).reshape(-1),
                (u.T @ recurrent_gradient).reshape(-1),
                other[h + h * h : h + h * h + h * OUTPUTS] / math.sqrt(h),
                0.5 * other[-OUTPUTS:],
            ]
        )


def activation(kind, value):
    """Return (f(value), f'(value)) of CPPN activation ``kind`` in the kernels' smooth forms (kernels/develop.py)."""
    if kind == 0:  # smooth_sine
        turns = value / (2 * math.pi)
        angle = (turns - np.floor(turns + 0.5)) * (2 * math.pi)
        estimate = (4 / math.pi) * angle - (4 / math.pi**2) * angle * np.abs(angle)
        derivative = (1 + 0.225 * (2 * np.abs(estimate) - 1)) * (4 / math.pi - (8 / math.pi**2) * np.abs(angle))
        return estimate + 0.225 * (estimate * np.abs(estimate) - estimate), derivative
    if kind == 1:  # smooth_gaussian
        base = 1 + value * value / 16
        return base**-16, -2 * value * base**-17
    if kind == 2:  # smooth_tanh
        clamped = np.clip(value, -3, 3)
        square = clamped * clamped
        denominator = 27 + 9 * square
        derivative = ((27 + 3 * square) * denominator - clamped * (27 + square) * 18 * clamped) / denominator**2
        return clamped * (27 + square) / denominator, np.where(np.abs(value) < 3, derivative, 0.0)
    return np.abs(value), np.sign(value)


def layer(pre):
    """Apply the activation cycle (column k uses kind k % 4) to (points, nodes); return values and derivatives."""
    values, derivatives = np.empty_like(pre), np.empty_like(pre)
    for k in range(pre.shape[1]):
        values[:, k], derivatives[:, k] = activation(k % 4, pre[:, k])
    return values, derivatives


def axis_points(hidden):
    """Return (coordinates (N, 2), axis (N,)) of the separable substrate's points: forward, lateral, channel, hidden.

    Every axis coordinate lies in [-1, 1]: forward 1 at the farthest row, lateral -1 at the left,
    channel -1 for channel 0; hidden units on the row-by-row sheet of genomes.hidden_sheet.
    """
    columns = math.ceil(math.sqrt(hidden))
    rows = math.ceil(hidden / columns)
    points = [((VIEW - 1 - i) / (VIEW - 1) * 2 - 1, 0.0) for i in range(VIEW)]
    points += [((j - VIEW // 2) / (VIEW // 2), 0.0) for j in range(VIEW)]
    points += [(c / (CHANNELS - 1) * 2 - 1, 0.0) for c in range(CHANNELS)]
    for unit in range(hidden):
        row, column = divmod(unit, columns)
        x = -1 + 2 * column / (columns - 1) if columns > 1 else 0.0
        y = -1 + 2 * row / (rows - 1) if rows > 1 else 0.0
        points.append((x, y))
    axis = np.repeat(np.arange(4), [VIEW, VIEW, CHANNELS, hidden])
    return np.array(points), axis


class SeparableCp(Structure):
    """The shared last step of the separable substrates: per-point head values -> controller parameters.

    ``heads`` (N points, R + 2Q + A + 1): heads 0..R-1 are the CP factor of term r on whatever axis
    the point lies on; on hidden points heads R..R+2Q-1 are the recurrent factors U, V, the next A
    the output weights, the last the hidden bias. Output biases are genes.
    """

    def setup_cp(self, hidden, terms, recurrent_rank):
        """Fix the sizes and scales of the CP assembly."""
        self.hidden, self.terms, self.recurrent_rank = hidden, terms, recurrent_rank
        self.head_count = terms + 2 * recurrent_rank + OUTPUTS + 1
        self.input_scale = 0.25 / math.sqrt(terms)
        self.recurrent_scale = 0.5 / math.sqrt(hidden) / math.sqrt(recurrent_rank)
        self.output_scale = 1 / math.sqrt(hidden)
        self.slices = np.cumsum([0, VIEW, VIEW, CHANNELS, hidden])

    def axis_heads(self, heads, axis):
        """Return head values (points on ``axis``, heads)."""
        return heads[self.slices[axis] : self.slices[axis + 1]]

    def assemble(self, heads, output_bias):
        """Return the flat parameters from per-point head values."""
        r, q = self.terms, self.recurrent_rank
        forward, lateral, channel, loading = (self.axis_heads(heads, a)[:, :r] for a in range(4))
        hidden = self.axis_heads(heads, 3)
        weights = self.input_scale * np.einsum("ir,jr,cr,kr->ijck", forward, lateral, channel, loading)
        recurrent = self.recurrent_scale * hidden[:, r : r + q] @ hidden[:, r + q : r + 2 * q].T
        outputs = self.output_scale * hidden[:, r + 2 * q : r + 2 * q + OUTPUTS]
        return np.concatenate(
            [weights.reshape(-1), 0.5 * hidden[:, -1], recurrent.reshape(-1), outputs.reshape(-1), 0.5 * output_bias]
        )

    def head_gradient(self, heads, gradient):
        """Return (gradient over the head values (N, heads), gradient over the output-bias genes)."""
        r, q, h = self.terms, self.recurrent_rank, self.hidden
        forward, lateral, channel, loading = (self.axis_heads(heads, a)[:, :r] for a in range(4))
        hidden = self.axis_heads(heads, 3)
        weight_gradient = self.input_scale * gradient[: VIEW_INPUTS * h].reshape(VIEW, VIEW, CHANNELS, h)
        result = np.zeros_like(heads)
        profiles = (
            np.einsum("ijck,jr,cr,kr->ir", weight_gradient, lateral, channel, loading),
            np.einsum("ijck,ir,cr,kr->jr", weight_gradient, forward, channel, loading),
            np.einsum("ijck,ir,jr,kr->cr", weight_gradient, forward, lateral, loading),
            np.einsum("ijck,ir,jr,cr->kr", weight_gradient, forward, lateral, channel),
        )
        for a in range(4):
            result[self.slices[a] : self.slices[a + 1], :r] = profiles[a]
        other = gradient[VIEW_INPUTS * h :]
        first = self.slices[3]
        result[first:, -1] = 0.5 * other[:h]
        recurrent_gradient = self.recurrent_scale * other[h : h + h * h].reshape(h, h)
        result[first:, r : r + q] = recurrent_gradient @ hidden[:, r + q : r + 2 * q]
        result[first:, r + q : r + 2 * q] = recurrent_gradient.T @ hidden[:, r : r + q]
        result[first:, r + 2 * q : r + 2 * q + OUTPUTS] = self.output_scale * other[
            h + h * h : h + h * h + h * OUTPUTS
        ].reshape(h, OUTPUTS)
        return result, 0.5 * other[-OUTPUTS:]


class SeparableCppn(SeparableCp):
    """A CPPN queried once per axis point (coordinate, axis) whose heads are the CP factors and per-unit weights.

    Inputs z = (u, v, forward?, lateral?, channel?, hidden?, 1[, channel one-hot]); a first layer
    of ``first`` nodes act(W1 z), an optional second of ``second`` nodes act(W2 [h1, 1]), linear heads
    of [h1, h2, 1] (SeparableCp). Activations cycle sine, gaussian, tanh, abs.
    """

    def __init__(self, hidden=32, terms=3, recurrent_rank=1, first=8, second=8, one_hot=False):
        self.setup_cp(hidden, terms, recurrent_rank)
        self.first, self.second = first, second
        coordinates, axis = axis_points(hidden)
        columns = [coordinates, np.eye(4)[axis], np.ones((len(axis), 1))]
        if one_hot:
            channel_one_hot = np.zeros((len(axis), CHANNELS))
            channel_one_hot[axis == 2] = np.eye(CHANNELS)
            columns.append(channel_one_hot)
        self.inputs = np.hstack(columns)
        dimensions = self.inputs.shape[1]
        width = first + second + 1
        self.sizes = (first * dimensions, second * (first + 1) if second else 0, self.head_count * width, OUTPUTS)
        input_scale = np.r_[3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 1.0, np.full(dimensions - 7, 1.0)]
        self.gene_scales = np.concatenate(
            [
                np.tile(input_scale, first),
                np.full(self.sizes[1], 1.5 / math.sqrt(first + 1)),
                np.full(self.sizes[2], 0.7 / math.sqrt(width)),
                np.ones(OUTPUTS),
            ]
        )
        self.genome_length = len(self.gene_scales)

    def split(self, genome):
        """Return (W1, W2, heads matrix, output-bias genes) of scaled genes."""
        genes = genome * self.gene_scales
        cuts = np.cumsum(self.sizes)
        first = genes[: cuts[0]].reshape(self.first, -1)
        second = genes[cuts[0] : cuts[1]].reshape(self.second, self.first + 1)
        heads = genes[cuts[1] : cuts[2]].reshape(self.head_count, -1)
        return first, second, heads, genes[cuts[2] :]

    def forward(self, genome):
        """Return every intermediate of one genome's CPPN over the points."""
        first, second, heads, output_bias = self.split(genome)
        one, first_derivative = layer(self.inputs @ first.T)
        ones = np.ones((len(one), 1))
        if self.second:
            two, second_derivative = layer(np.hstack([one, ones]) @ second.T)
        else:
            two, second_derivative = np.zeros((len(one), 0)), np.zeros((len(one), 0))
        features = np.hstack([one, two, ones])
        return first, second, heads, output_bias, one, first_derivative, two, second_derivative, features

    def parameters(self, genome):
        """Return the flat parameters of one genome."""
        *_, heads, output_bias, _, _, _, _, features = self.forward(genome)
        return self.assemble(features @ heads.T, output_bias)

    def pullback(self, genome, gradient):
        """Return the genome gradient of a parameter gradient (backpropagation through the CPPN)."""
        first, second, heads, output_bias, one, first_derivative, two, second_derivative, features = self.forward(
            genome
        )
        head_values = features @ heads.T
        head_gradient, bias_gradient = self.head_gradient(head_values, gradient)
        heads_gradient = head_gradient.T @ features
        feature_gradient = head_gradient @ heads
        one_gradient = feature_gradient[:, : self.first]
        parts = []
        if self.second:
            pre_two = feature_gradient[:, self.first : self.first + self.second] * second_derivative
            second_gradient = pre_two.T @ np.hstack([one, np.ones((len(one), 1))])
            one_gradient = one_gradient + pre_two @ second[:, : self.first]
            parts.append(second_gradient.reshape(-1))
        first_gradient = (one_gradient * first_derivative).T @ self.inputs
        flat = np.concatenate([first_gradient.reshape(-1), *parts, heads_gradient.reshape(-1), bias_gradient])
        return flat * self.gene_scales


class SeparableDevelopmental(SeparableCp):
    """Cells along each axis (forward, lateral, channel, hidden, action) grow states; CP factors are read out.

    Positional features (u, v, forward?, lateral?, channel?, hidden?, action?, 1) and ``identity``
    fixed random features seed the states (tanh of a seed map); ``steps`` growth steps
    s <- (1 - rate) s + rate tanh(W_self s + W_nbr mean(neighbours) + b) along the axes' chains (view
    axes), none (channels), the sheet (hidden) and among actions; head h on a point is
    P_h . [s, 1] for the axis's own read-out P (terms) or the hidden read-outs, except that the
    recurrent and output weights are bilinear forms s_j R s_k, s_k R s_a (action cells) as in the
    developmental encoding, and output biases u . s_a + u0.
    """

    def __init__(self, hidden=32, terms=3, state=6, identity=8, steps=2, rate=0.5, seed=0, one_hot=False):
        self.setup_cp(hidden, terms, 1)
        self.state, self.steps, self.rate = state, steps, rate
        coordinates, axis = axis_points(hidden)
        actions = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # left, right, forward (where they point)
        coordinates = np.vstack([coordinates, actions])
        axis = np.r_[axis, np.full(OUTPUTS, 4)]
        cells = len(axis)
        rng = np.random.default_rng([seed, identity])
        columns = [coordinates, np.eye(5)[axis], np.ones((cells, 1)), rng.standard_normal((cells, identity))]
        if one_hot:
            channel_one_hot = np.zeros((cells, CHANNELS))
            channel_one_hot[axis == 2] = np.eye(CHANNELS)
            columns.append(channel_one_hot)
        self.features = np.hstack(columns).T  # (F, cells)
        mean = np.zeros((cells, cells))
        offsets = np.cumsum([0, VIEW, VIEW, CHANNELS, hidden, OUTPUTS])
        for a in (0, 1):
            for i in range(VIEW):
                for other in (i - 1, i + 1):
                    if 0 <= other < VIEW:
                        mean[offsets[a] + i, offsets[a] + other] = 1
        for unit, others in enumerate(sheet_neighbours(hidden)):
            mean[offsets[3] + unit, offsets[3] + np.array(others, dtype=int)] = 1
        mean[offsets[4] :, offsets[4] :] = 1 - np.eye(OUTPUTS)
        counts = mean.sum(axis=1, keepdims=True)
        self.mean = mean / np.maximum(counts, 1)
        self.offsets = offsets
        s, f = state, self.features.shape[0]
        read_out = 1 / math.sqrt(state)
        self.sizes = (s * f, s * s, s * s, s, 4 * terms * (s + 1), s * s, s * s, s + 1, s + 1)
        self.gene_scales = np.concatenate(
            [
                np.full(s * f, 1.5 / math.sqrt(f)),
                np.full(2 * s * s, 1.5 / math.sqrt(2 * s)),
                np.full(s, 0.5),
                np.full(4 * terms * (s + 1), 2.0 / math.sqrt(s + 1)),
                np.full(2 * s * s, 2 * read_out),
                np.full(2 * (s + 1), 3 * read_out),
            ]
        )
        self.genome_length = len(self.gene_scales)

    def split(self, genome):
        """Return the scaled gene blocks."""
        genes = genome * self.gene_scales
        cuts = np.cumsum([0, *self.sizes])
        blocks = [genes[cuts[k] : cuts[k + 1]] for k in range(len(self.sizes))]
        s = self.state
        seed, own, neighbour, bias, factors, recurrent, outputs, hidden_bias, output_bias = blocks
        return (
            seed.reshape(s, -1),
            own.reshape(s, s),
            neighbour.reshape(s, s),
            bias,
            factors.reshape(4, self.terms, s + 1),
            recurrent.reshape(s, s),
            outputs.reshape(s, s),
            hidden_bias,
            output_bias,
        )

    def grow(self, genome):
        """Return (states after every step, update pre-activations, seed pre-activation)."""
        seed, own, neighbour, bias, *_ = self.split(genome)
        seed_pre = seed @ self.features
        states = [activation(2, seed_pre)[0]]
        updates = []
        for _ in range(self.steps):
            current = states[-1]
            update = own @ current + neighbour @ (current @ self.mean.T) + bias[:, None]
            updates.append(update)
            states.append((1 - self.rate) * current + self.rate * activation(2, update)[0])
        return states, updates, seed_pre

    def heads(self, genome, final):
        """Return the head values (points, heads) and the cells' extended states [s, 1]."""
        factors = self.split(genome)[4]
        extended = np.vstack([final, np.ones((1, final.shape[1]))])  # (S + 1, cells)
        o = self.offsets
        heads = np.zeros((o[4], self.head_count))
        for a in range(4):
            heads[o[a] : o[a + 1], : self.terms] = (factors[a] @ extended[:, o[a] : o[a + 1]]).T
        return heads, extended

    def parameters(self, genome):
        """Return the flat parameters of one genome."""
        states, _, _ = self.grow(genome)
        final = states[-1]
        _, _, _, _, _, recurrent, outputs, hidden_bias, output_bias = self.split(genome)
        heads, extended = self.heads(genome, final)
        o, r = self.offsets, self.terms
        hidden_states, action_states = final[:, o[3] : o[4]], final[:, o[4] :]
        forward, lateral, channel, loading = (self.axis_heads(heads, a)[:, :r] for a in range(4))
        weights = self.input_scale * np.einsum("ir,jr,cr,kr->ijck", forward, lateral, channel, loading)
        recurrent_weights = self.recurrent_scale * hidden_states.T @ recurrent @ hidden_states
        output_weights = self.output_scale * hidden_states.T @ outputs @ action_states
        return np.concatenate(
            [
                weights.reshape(-1),
                0.5 * (hidden_bias @ extended[:, o[3] : o[4]]),
                recurrent_weights.reshape(-1),
                output_weights.reshape(-1),
                0.5 * (output_bias @ extended[:, o[4] :]),
            ]
        )

    def pullback(self, genome, gradient):
        """Return the genome gradient of a parameter gradient (backpropagation through the growth steps)."""
        states, updates, seed_pre = self.grow(genome)
        final = states[-1]
        seed, own, neighbour, bias, factors, recurrent, outputs, hidden_bias, output_bias = self.split(genome)
        heads, extended = self.heads(genome, final)
        o, r, h = self.offsets, self.terms, self.hidden
        head_gradient, _ = self.head_gradient(heads, gradient)
        state_gradient = np.zeros_like(final)
        factor_gradient = np.zeros_like(factors)
        for a in range(4):
            block = head_gradient[o[a] : o[a + 1], :r]  # (points, R)
            factor_gradient[a] = block.T @ extended[:, o[a] : o[a + 1]].T
            state_gradient[:, o[a] : o[a + 1]] += (block @ factors[a][:, : self.state]).T
        other = gradient[VIEW_INPUTS * h :]
        hidden_states, action_states = final[:, o[3] : o[4]], final[:, o[4] :]
        bias_gradient = 0.5 * other[:h]
        recurrent_gradient = self.recurrent_scale * other[h : h + h * h].reshape(h, h)
        output_gradient = self.output_scale * other[h + h * h : h + h * h + h * OUTPUTS].reshape(h, OUTPUTS)
        action_bias_gradient = 0.5 * other[-OUTPUTS:]
        hidden_bias_genes = extended[:, o[3] : o[4]] @ bias_gradient
        output_bias_genes = extended[:, o[4] :] @ action_bias_gradient
        state_gradient[:, o[3] : o[4]] += np.outer(hidden_bias[: self.state], bias_gradient)
        state_gradient[:, o[4] :] += np.outer(output_bias[: self.state], action_bias_gradient)
        recurrent_genes = hidden_states @ recurrent_gradient @ hidden_states.T
        state_gradient[:, o[3] : o[4]] += recurrent @ hidden_states @ recurrent_gradient.T
        state_gradient[:, o[3] : o[4]] += recurrent.T @ hidden_states @ recurrent_gradient
        output_genes = hidden_states @ output_gradient @ action_states.T
        state_gradient[:, o[3] : o[4]] += outputs @ action_states @ output_gradient.T
        state_gradient[:, o[4] :] += outputs.T @ hidden_states @ output_gradient
        own_gradient, neighbour_gradient = np.zeros_like(own), np.zeros_like(neighbour)
        rule_bias_gradient = np.zeros_like(bias)
        for step in reversed(range(self.steps)):
            current = states[step]
            update_gradient = state_gradient * self.rate * activation(2, updates[step])[1]
            messages = current @ self.mean.T
            own_gradient += update_gradient @ current.T
            neighbour_gradient += update_gradient @ messages.T
            rule_bias_gradient += update_gradient.sum(axis=1)
            state_gradient = (
                (1 - self.rate) * state_gradient + own.T @ update_gradient + (neighbour.T @ update_gradient) @ self.mean
            )
        seed_gradient = (state_gradient * activation(2, seed_pre)[1]) @ self.features.T
        flat = np.concatenate(
            [
                seed_gradient.reshape(-1),
                own_gradient.reshape(-1),
                neighbour_gradient.reshape(-1),
                rule_bias_gradient,
                factor_gradient.reshape(-1),
                recurrent_genes.reshape(-1),
                output_genes.reshape(-1),
                hidden_bias_genes,
                output_bias_genes,
            ]
        )
        return flat * self.gene_scales


def koutnik_dct(counts):
    """Return the basis: each weight matrix's coefficients fill the lowest frequencies (by index sum) of its own DCT."""
    blocks = ((VIEW, VIEW, CHANNELS, 8), (8,), (8, 8), (8, OUTPUTS), (OUTPUTS,))
    columns, offset = [], 0
    for shape, count in zip(blocks, counts):
        matrices = [dct_matrix(n) for n in shape]
        size = int(np.prod(shape))
        for frequency in sorted(np.ndindex(*shape), key=lambda f: (sum(f), f))[:count]:
            basis = matrices[0][frequency[0]]
            for matrix, index in zip(matrices[1:], frequency[1:]):
                basis = np.multiply.outer(basis, matrix[index])
            column = np.zeros(4803)
            column[offset : offset + size] = basis.reshape(-1) * math.sqrt(size / count)
            columns.append(column)
        offset += size
    return np.stack(columns, axis=1)


def multispatial_dct(per_channel_count, counts):
    """Return the basis: per channel its own 3-D DCT over (forward, lateral, hidden); the rest as koutnik_dct."""
    matrices = [dct_matrix(VIEW), dct_matrix(VIEW), dct_matrix(8)]
    frequencies = sorted(np.ndindex(VIEW, VIEW, 8), key=lambda f: (sum(f), f))[:per_channel_count]
    columns = []
    for channel in range(CHANNELS):
        for f in frequencies:
            basis = np.multiply.outer(np.multiply.outer(matrices[0][f[0]], matrices[1][f[1]]), matrices[2][f[2]])
            weights = np.zeros((VIEW, VIEW, CHANNELS, 8))
            weights[:, :, channel, :] = basis * math.sqrt(VIEW * VIEW * 8 / per_channel_count)
            column = np.zeros(4803)
            column[: VIEW_INPUTS * 8] = weights.reshape(-1)
            columns.append(column)
    return np.concatenate([np.stack(columns, axis=1), koutnik_dct([0, *counts])], axis=1)


STRUCTURES = {
    "input-rank-1": lambda: LowRank(np.eye(VIEW_INPUTS), 1, rest_basis(99)),
    "input-rank-2": lambda: LowRank(np.eye(VIEW_INPUTS), 2, rest_basis(99)),
    "input-rank-3": lambda: LowRank(np.eye(VIEW_INPUTS), 3, rest_basis(99)),
    "input-rank-4": lambda: LowRank(np.eye(VIEW_INPUTS), 4, rest_basis(99)),
    "input-rank-2-rest24": lambda: LowRank(np.eye(VIEW_INPUTS), 2, rest_basis(24)),
    "channel-dct-2x6": lambda: LowRank(per_channel(spatial_basis(6)), 2, rest_basis(99)),
    "channel-dct-2x6-rest24": lambda: LowRank(per_channel(spatial_basis(6)), 2, rest_basis(24)),
    "channel-dct-2x3": lambda: LowRank(per_channel(spatial_basis(3)), 2, rest_basis(99)),
    "channel-dct-1x6-rest16": lambda: LowRank(per_channel(spatial_basis(6)), 1, rest_basis(16)),
    "channel-dct-2x3-rest8": lambda: LowRank(per_channel(spatial_basis(3)), 2, rest_basis(8)),
    "koutnik-dct": lambda: Linear(koutnik_dct([70, 4, 10, 8, 3])),
    "multispatial-dct": lambda: Linear(multispatial_dct(6, [4, 10, 8, 3])),
    "cp-2": lambda: Factored(2, rest=rest_basis(99)),
    "cp-3": lambda: Factored(3, rest=rest_basis(99)),
    "cp-2-rest28": lambda: Factored(2, rest=rest_basis(28)),
    "factored-h8r2q1": lambda: Factored(2, 8, 1),
    "factored-h32r3q1": lambda: Factored(3, 32, 1),
    "cppn-separable-k8x8": lambda: SeparableCppn(32, 3, 1, 8, 8),
    "cppn-separable-k8x8-onehot": lambda: SeparableCppn(32, 3, 1, 8, 8, one_hot=True),
    "cppn-separable-k16": lambda: SeparableCppn(32, 3, 1, 16, 0),
    "developmental-separable-s6i8": lambda: SeparableDevelopmental(32, 3, 6, 8),
    "developmental-separable-s6i16": lambda: SeparableDevelopmental(32, 3, 6, 16),
    "developmental-separable-s6i8-steps0": lambda: SeparableDevelopmental(32, 3, 6, 8, steps=0),
    "developmental-separable-s6i4-onehot": lambda: SeparableDevelopmental(32, 3, 6, 4, one_hot=True),
    "developmental-separable-s6i4-onehot-steps4": lambda: SeparableDevelopmental(32, 3, 6, 4, steps=4, one_hot=True),
    "developmental-separable-s6i4-onehot-steps8": lambda: SeparableDevelopmental(32, 3, 6, 4, steps=8, one_hot=True),
}
"""Every structure measured, by name (the README's funnel section lists their figures)."""


def fit(name, structure, world, demonstrations, held_out, iterations, seed):
    """Fit one structure to the demonstrations; return its figures."""
    started = time.perf_counter()
    original = distill.genome_gradient

    def gradient(encoding, genome, weight_gradient, step=1e-3):
        if isinstance(encoding, Structure):
            return encoding.pullback(genome.astype(np.float64), weight_gradient)
        return original(encoding, genome, weight_gradient, step)

    distill.genome_gradient = gradient  # the exact pullback in place of forward differences
    try:
        result = distill.fit_by_gradient(
            structure, demonstrations, iterations=iterations, learning_rate=0.02, seed=seed
        )
    finally:
        distill.genome_gradient = original
    student = structure.develop(result.genome)
    _, held_out_agreement = distill.imitation(student, held_out)
    similarity, _ = distill.hidden_similarity(student)
    door_rate = float(distill.door_rate(world, student, level_seeds_for(seed, 500, salt=7))[0])
    return {
        "structure": name,
        "genes": structure.genome_length,
        "parameters": structure.shape.parameter_count,
        "compression": round(structure.shape.parameter_count / structure.genome_length, 1),
        "agreement": round(result.agreement, 4),
        "held_out_agreement": round(float(held_out_agreement[0]), 4),
        "door_rate": door_rate,
        "hidden_cosine": round(float(similarity[0]), 2),
        "seconds": round(time.perf_counter() - started),
    }


def main(argv=None):
    """Print one JSON line per structure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--distill", required=True, metavar="RUN_DIR", help="the teacher run (benchmarks/funnel.py --distill)"
    )
    parser.add_argument("--world", default="worlds/red-doors-train.toml")
    parser.add_argument("--structures", nargs="*", default=list(STRUCTURES), choices=list(STRUCTURES))
    parser.add_argument("--distill-levels", type=int, default=1024)
    parser.add_argument("--distill-iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    world = load_world(args.world)
    teacher = distill.as_params(resolve_agent(world, source=args.distill).policy)
    if teacher.shape.hidden != TEACHER_HIDDEN or teacher.shape.inputs != VIEW_INPUTS:
        print(
            f"benchmarks/funnel_structures.py: {args.distill}: needs an 8-unit teacher on a 7x7 view", file=sys.stderr
        )
        return 2
    demonstrations = distill.record_demonstrations(
        world, teacher, level_seeds_for(args.seed, args.distill_levels, salt=5)
    )
    held_out = distill.record_demonstrations(world, teacher, level_seeds_for(args.seed, args.distill_levels, salt=6))
    for name in args.structures:
        row = fit(name, STRUCTURES[name](), world, demonstrations, held_out, args.distill_iterations, args.seed)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

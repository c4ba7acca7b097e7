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

"""Evolution-strategy kernels: mirrored sampling around a mean and the rank-weighted sum.

``seeded_samples`` makes each sample from (mean, sigma, its noise seed, its sign) alone, the
noise drawn on the fly (kernels/noise.py), so a run file stores the seeds and a Dask worker
receives the mean and the seeds instead of the genomes.

Both run in parallel over genes, each gene's value computed by one thread in a fixed order,
so the bits do not depend on the thread count (a BLAS matrix-vector product gives no such
promise).
"""

import numpy as np

from evosandbox.kernels._jit import jit, prange
from evosandbox.kernels.rng import mix64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@jit(parallel=True)
def mirrored_samples(mean, noise, sigma, out):
    """Write the mean to row 0 of ``out``, then mean + sigma * noise and mean - sigma * noise.

    ``noise`` is (pairs, G) standard normal and ``sigma`` a float32, so every value is float32
    arithmetic; ``out`` is (1 + 2 * pairs + extra, G) and rows past the pairs are left alone.
    """
    pairs = noise.shape[0]
    out[0, :] = mean
    for pair in prange(pairs):
        step = sigma * noise[pair]
        out[1 + pair, :] = mean + step
        out[1 + pairs + pair, :] = mean - step


@jit(parallel=True)
def weighted_deviation(weights, samples, centre, out):
    """Write sum_i weights[i] * (samples[i] - centre) per gene into ``out`` (float64)."""
    genes = samples.shape[1]
    for gene in prange(genes):
        middle = np.float64(centre[gene])
        total = 0.0
        for row in range(samples.shape[0]):
            total += weights[row] * (np.float64(samples[row, gene]) - middle)
        out[gene] = total


@jit(parallel=True)
def seeded_samples(mean, sigma, seeds, signs, table, out):
    """Write row r of ``out``: ``mean`` (signs[r] == 0) or mean + signs[r] * sigma * noise(seeds[r]).

    ``sigma`` is a float32 and the noise the values ``kernels.noise.gaussian_rows`` draws for
    the seed, so a row is the float32 arithmetic of ``mirrored_samples`` (mean + step,
    mean - step) with that noise, whichever rows, chunks or threads compute it.
    """
    genes = out.shape[1]
    blocks = (genes + 3) // 4
    mask = np.uint64(0xFFFF)
    for row in prange(out.shape[0]):
        sign = signs[row]
        if sign == 0:
            out[row, :] = mean
            continue
        seed = np.uint64(seeds[row])
        for block in range(blocks):
            bits = mix64(seed + _GOLDEN * np.uint64(block + 1))
            first = block * 4
            for lane in range(min(4, genes - first)):
                step = sigma * table[np.int64((bits >> np.uint64(16 * lane)) & mask)]
                gene = first + lane
                out[row, gene] = mean[gene] + step if sign > 0 else mean[gene] - step

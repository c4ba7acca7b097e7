"""Evolution-strategy kernels: mirrored sampling around a mean and the rank-weighted sum.

Both run in parallel over genes, each gene's value computed by one thread in a fixed order,
so the bits do not depend on the thread count (a BLAS matrix-vector product gives no such
promise).
"""

import numpy as np

from evosandbox.kernels._jit import jit, prange


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

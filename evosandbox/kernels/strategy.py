"""Evolution-strategy kernels: the noise, mirrored sampling around a mean and the rank-weighted sum.

Each value is computed in a fixed order by one thread, so the bits do not depend on the thread
count (a BLAS matrix-vector product gives no such promise). They run serially: each is a few
hundred microseconds of memory traffic, and a parallel region on a busy machine can wait
milliseconds for its second thread to be scheduled, far longer than the work itself.
"""

import sys

import numpy as np
from numba.np.random import _constants

from evosandbox.kernels._jit import _DISABLED, jit

# numpy's float32 ziggurat (Marsaglia and Tsang 2000), with the tables numba's port of it uses.
_KI, _WI, _FI = _constants.ki_float, _constants.wi_float, _constants.fi_float
_TAIL_START, _TAIL_INVERSE = _constants.ziggurat_nor_r_f, _constants.ziggurat_nor_inv_r_f


@jit
def _unit_float(word):
    """Return the float32 in [0, 1) numpy's next_float makes of a 32-bit word."""
    return np.float32(np.float32(word >> np.uint32(8)) * np.float32(1.0) / np.float32(16777216.0))


@jit
def _ziggurat_normals(buffered, words, out):
    """Fill ``out`` with float32 standard normals from a word stream; return the words used, or -1.

    The stream is ``buffered`` (a 32-bit word the generator held back; -1: none) followed by
    ``words`` (uint32); -1 means they ran out before ``out`` was full.
    The arithmetic is numpy's ``random_standard_normal_f`` (numpy/random/src/distributions),
    down to the wedge test in double precision, where numba's own port of it rounds to float32
    and so, about once in a million values, draws another number than numpy.
    """
    available = words.shape[0] + (1 if buffered >= 0 else 0)
    offset = 1 if buffered >= 0 else 0
    position = 0
    for index in range(out.shape[0]):
        while True:
            if position >= available:
                return -1
            word = words[position - offset] if position >= offset else np.uint32(buffered)
            position += 1
            level = word & np.uint32(0xFF)
            magnitude = (word >> np.uint32(9)) & np.uint32(0x007FFFFF)
            x = np.float32(np.float32(magnitude) * _WI[level])
            if (word >> np.uint32(8)) & np.uint32(1):
                x = -x
            if magnitude < _KI[level]:
                out[index] = x
                break
            if level == 0:  # the tail beyond the last layer
                while True:
                    if position + 2 > available:
                        return -1
                    first = _unit_float(words[position - offset])  # the held-back word went first
                    second = _unit_float(words[position + 1 - offset])
                    position += 2
                    xx = np.float32(-_TAIL_INVERSE * np.log1p(np.float32(-first)))
                    yy = np.float32(-np.log1p(np.float32(-second)))
                    if np.float32(yy + yy) > np.float32(xx * xx):
                        tail = np.float32(_TAIL_START + xx)
                        out[index] = -tail if (magnitude >> np.uint32(8)) & np.uint32(1) else tail
                        break
                break
            if position >= available:
                return -1
            uniform = _unit_float(words[position - offset])
            position += 1
            wedge = np.float32((_FI[level - 1] - _FI[level]) * uniform + _FI[level])
            if np.float64(wedge) < np.exp(-0.5 * np.float64(x) * np.float64(x)):  # numpy's C: exp() in double
                out[index] = x
                break
    return position


def _words(raw):
    """Return PCG64's 32-bit words of uint64 outputs: each output's low half, then its high half."""
    if sys.byteorder == "little":
        return raw.view(np.uint32)
    words = np.empty(2 * raw.shape[0], np.uint32)
    words[0::2], words[1::2] = raw & np.uint64(0xFFFFFFFF), raw >> np.uint64(32)
    return words


def standard_normal(generator, rows, genes):
    """Return float32 (rows, genes) standard normals drawn from a numpy Generator.

    The same values, and the generator left in the same state, as
    ``generator.standard_normal((rows, genes), dtype=np.float32)`` (the tests compare them
    bit for bit): for numpy's default PCG64 the raw 64-bit outputs are drawn in one call and
    the ziggurat runs compiled over them, several times faster than numpy's per-value calls;
    the generator is then set to where drawing the words used would have left it.
    """
    bit_generator = generator.bit_generator
    count = int(rows) * int(genes)
    if _DISABLED or type(bit_generator) is not np.random.PCG64 or not count:
        return generator.standard_normal((rows, genes), dtype=np.float32)
    start = bit_generator.state
    buffered = int(start["uinteger"]) if start["has_uint32"] else -1
    out = np.empty(count, np.float32)
    margin = count // 16 + 1024  # rejections use about 1.2% more words than values
    while True:
        raw = bit_generator.random_raw((count + margin + 1) // 2)
        used = _ziggurat_normals(buffered, _words(raw), out)
        if used >= 0:
            break
        bit_generator.state, margin = start, 4 * margin  # too few words: again, with more
    words = used - (buffered >= 0)  # words taken from fresh outputs
    state = dict(start)
    bit_generator.state = start
    bit_generator.advance((words + 1) // 2)
    state["state"] = bit_generator.state["state"]
    if words > 0:  # the last output's high half: held back (odd count) or already handed out
        state["has_uint32"], state["uinteger"] = words % 2, int(raw[(words - 1) // 2] >> np.uint64(32))
    else:
        state["has_uint32"] = 0 if buffered >= 0 and used else start["has_uint32"]
    bit_generator.state = state
    return out.reshape(rows, genes)


@jit
def mirrored_samples(mean, noise, sigma, out):
    """Write the mean to row 0 of ``out``, then mean + sigma * noise and mean - sigma * noise.

    ``noise`` is (pairs, G) standard normal and ``sigma`` a float32, so every value is float32
    arithmetic; ``out`` is (1 + 2 * pairs + extra, G) and rows past the pairs are left alone.
    """
    pairs, genes = noise.shape
    # Written out gene by gene: the array expressions allocated a temporary per row, which made
    # the pass four times slower (0.60 against 0.16 ms for 129 x 4,803, best of 300).
    for gene in range(genes):
        out[0, gene] = mean[gene]
    for pair in range(pairs):
        row, plus, minus = noise[pair], out[1 + pair], out[1 + pairs + pair]
        for gene in range(genes):
            step = sigma * row[gene]
            plus[gene] = mean[gene] + step
            minus[gene] = mean[gene] - step


@jit
def weighted_deviation(weights, samples, centre, out):
    """Write sum_i weights[i] * (samples[i] - centre) per gene into ``out`` (float64).

    Each gene's sum runs over the rows in order from 0.0; the loop goes row by row so that it
    vectorises across genes.
    """
    genes = samples.shape[1]
    middle = centre.astype(np.float64)
    out[:] = 0.0
    for row in range(samples.shape[0]):
        weight = weights[row]
        for gene in range(genes):
            out[gene] += weight * (np.float64(samples[row, gene]) - middle[gene])


@jit
def mirrored_deviation(weights, mean, noise, sigma, extra, out):
    """Write what ``weighted_deviation`` writes for the samples ``mirrored_samples`` makes, without making them.

    The samples are the rows mean + sigma * noise, then mean - sigma * noise, then (when
    ``extra`` has G values, not 0) the unmirrored mean + sigma * extra, each rounded to float32
    as the sampling rounds it; ``weights`` has one value per sample.
    """
    pairs, genes = noise.shape
    middle = mean.astype(np.float64)
    out[:] = 0.0
    for pair in range(pairs):
        weight = weights[pair]
        for gene in range(genes):
            out[gene] += weight * (np.float64(mean[gene] + sigma * noise[pair, gene]) - middle[gene])
    for pair in range(pairs):
        weight = weights[pairs + pair]
        for gene in range(genes):
            out[gene] += weight * (np.float64(mean[gene] - sigma * noise[pair, gene]) - middle[gene])
    if extra.shape[0]:
        weight = weights[2 * pairs]
        for gene in range(genes):
            out[gene] += weight * (np.float64(mean[gene] + sigma * extra[gene]) - middle[gene])

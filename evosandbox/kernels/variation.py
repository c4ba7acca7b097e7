"""Variation kernel: build a generation's genomes in one call, parallel over rows."""

import numpy as np

from evosandbox.kernels._jit import jit, prange


@jit(parallel=True)
def vary_into(genomes, parents, copies, first, second, crossover_row, crossover_bits, bounds, gene_index, noise,
              noise_scale, dense, from_first, from_second):
    """Fill a batch in place: copied parents first, then children (parent, crossover, mutations).

    Sparse mutation: child c adds ``float32(noise[e] * noise_scale[c])`` to gene
    ``gene_index[e]`` for e in ``bounds[c]:bounds[c + 1]`` (noise and scale float64, so the
    product rounds once, as numpy's would). Dense (``dense`` has rows): a mutating child adds
    row ``bounds[c]`` of ``dense``. A crossover child also counts, over the genes where its
    two parents differ, how many it took from each: ``from_first[c]``, ``from_second[c]``.
    """
    genome_length = genomes.shape[1]
    # Copying and varying in two passes keeps the crossover loop vectorised (one fused pass
    # runs it about seven times slower).
    for row in prange(genomes.shape[0]):
        if row < copies:
            genomes[row, :] = parents[row, :]
        else:
            genomes[row, :] = parents[first[row - copies], :]
    for child in prange(genomes.shape[0] - copies):
        row = child + copies
        bits_row = crossover_row[child]
        if bits_row >= 0:
            # Gene g comes from the second parent where bit 7 - g % 8 of byte g // 8 is set.
            other = second[child]
            kept = 0
            taken = 0
            for gene in range(genome_length):
                bit = np.int64((crossover_bits[bits_row, gene >> 3] >> (7 - (gene & 7))) & 1)
                value = parents[other, gene]
                differ = np.int64(genomes[row, gene] != value)
                taken += bit & differ
                kept += (1 - bit) & differ
                if bit:
                    genomes[row, gene] = value
            from_first[child] = kept
            from_second[child] = taken
        start, stop = bounds[child], bounds[child + 1]
        if dense.shape[0]:
            if stop > start:
                for gene in range(genome_length):
                    genomes[row, gene] += dense[start, gene]
        else:
            scale = noise_scale[child]
            for entry in range(start, stop):
                genomes[row, gene_index[entry]] += np.float32(noise[entry] * scale)

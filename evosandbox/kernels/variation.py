"""Variation kernels: build a generation's genomes in one call, or any of its children again."""

import numpy as np

from evosandbox.kernels._jit import jit, prange


@jit
def _vary_child(genomes, row, parents, other, bits_row, crossover_bits, start, stop, gene_index, noise, scale, dense):
    """Cross and mutate row ``row`` (already its first parent's copy); return (kept, taken).

    Crossover (``bits_row`` >= 0): gene g comes from parent ``other`` where bit 7 - g % 8 of
    byte g // 8 of that row of ``crossover_bits`` is set; kept and taken count, over the genes
    where the two parents differ, those kept from the first parent and taken from the other.
    Mutation: sparse, ``float32(noise[e] * scale)`` added to gene ``gene_index[e]`` for e in
    start..stop; dense (``dense`` has rows), row ``start`` of ``dense`` added when stop > start.
    """
    genome_length = genomes.shape[1]
    kept = 0
    taken = 0
    if bits_row >= 0:
        for gene in range(genome_length):
            bit = np.int64((crossover_bits[bits_row, gene >> 3] >> (7 - (gene & 7))) & 1)
            value = parents[other, gene]
            differ = np.int64(genomes[row, gene] != value)
            taken += bit & differ
            kept += (1 - bit) & differ
            if bit:
                genomes[row, gene] = value
    if dense.shape[0]:
        if stop > start:
            for gene in range(genome_length):
                genomes[row, gene] += dense[start, gene]
    else:
        for entry in range(start, stop):
            genomes[row, gene_index[entry]] += np.float32(noise[entry] * scale)
    return kept, taken


@jit(parallel=True)
def vary_into(
    genomes,
    parents,
    copies,
    first,
    second,
    crossover_row,
    crossover_bits,
    bounds,
    gene_index,
    noise,
    noise_scale,
    dense,
    from_first,
    from_second,
):
    """Fill a batch in place: copied parents first, then children (parent, crossover, mutations).

    Sparse mutation: child c adds ``float32(noise[e] * noise_scale[c])`` to gene
    ``gene_index[e]`` for e in ``bounds[c]:bounds[c + 1]`` (noise and scale float64, so the
    product rounds once, as numpy's would). Dense (``dense`` has rows): a mutating child adds
    row ``bounds[c]`` of ``dense``. A crossover child also counts, over the genes where its
    two parents differ, how many it took from each: ``from_first[c]``, ``from_second[c]``.
    """
    # Copying and varying in two passes keeps the crossover loop vectorised (one fused pass
    # runs it about seven times slower).
    for row in prange(genomes.shape[0]):
        if row < copies:
            genomes[row, :] = parents[row, :]
        else:
            genomes[row, :] = parents[first[row - copies], :]
    for child in prange(genomes.shape[0] - copies):
        kept, taken = _vary_child(
            genomes,
            child + copies,
            parents,
            second[child],
            crossover_row[child],
            crossover_bits,
            bounds[child],
            bounds[child + 1],
            gene_index,
            noise,
            noise_scale[child],
            dense,
        )
        if crossover_row[child] >= 0:
            from_first[child] = kept
            from_second[child] = taken


@jit(parallel=True)
def vary_children(
    genomes, parents, first, second, crossover_row, crossover_bits, starts, stops, gene_index, noise, noise_scale, dense
):
    """Rebuild chosen children: row r is parent ``first[r]`` crossed with ``second[r]`` and mutated.

    The same variation as ``vary_into`` with each child's draws given by its own
    ``starts[r]``/``stops[r]`` into the generation's ``gene_index``/``noise`` (or dense rows),
    so any subset of a generation's children is rebuilt from its parents alone.
    """
    for row in prange(genomes.shape[0]):
        genomes[row, :] = parents[first[row], :]
    for row in prange(genomes.shape[0]):
        _vary_child(
            genomes,
            row,
            parents,
            second[row],
            crossover_row[row],
            crossover_bits,
            starts[row],
            stops[row],
            gene_index,
            noise,
            noise_scale[row],
            dense,
        )

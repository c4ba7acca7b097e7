"""Variation kernel: build a generation's genomes in one parallel pass over rows."""

from evosandbox.kernels._jit import jit, prange


@jit(parallel=True)
def vary_into(genomes, parents, copies, first, second, crossover_row, crossover_bits, bounds, gene_index, noise, dense):
    """Fill a batch in place: copied parents first, then children (parent, crossover, mutations)."""
    genome_length = genomes.shape[1]
    for row in prange(genomes.shape[0]):
        if row < copies:
            genomes[row, :] = parents[row, :]
            continue
        child = row - copies
        genomes[row, :] = parents[first[child], :]
        bits_row = crossover_row[child]
        if bits_row >= 0:
            # Gene g comes from the second parent where bit 7 - g % 8 of byte g // 8 is set.
            other = second[child]
            for gene in range(genome_length):
                if (crossover_bits[bits_row, gene >> 3] >> (7 - (gene & 7))) & 1:
                    genomes[row, gene] = parents[other, gene]
        start, stop = bounds[child], bounds[child + 1]
        if dense.shape[0]:
            if stop > start:
                for gene in range(genome_length):
                    genomes[row, gene] += dense[start, gene]
        else:
            for entry in range(start, stop):
                genomes[row, gene_index[entry]] += noise[entry]

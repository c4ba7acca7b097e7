"""Outcome tallies: each episode's label looked up from what it entered, counted per individual."""

from evosandbox.kernels._jit import jit


@jit
def tally_outcomes(entered_tile, entered_color, table, labels, counts):
    """Label every episode by ``table[tile, colour]`` and count the labels per row.

    ``entered_tile`` and ``entered_color`` are uint8 (P, E); ``table`` is int8 (256, 256), the
    label of each (tile, colour) pair (``outcomes.outcome_table``); ``labels`` int8 (P, E) and
    ``counts`` int32 (P, C), zeroed, receive the labels and the count of each label per row.
    """
    for row in range(entered_tile.shape[0]):
        for episode in range(entered_tile.shape[1]):
            label = table[entered_tile[row, episode], entered_color[row, episode]]
            labels[row, episode] = label
            counts[row, label] += 1

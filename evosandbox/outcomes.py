"""The one classification of episodes: door, proxy, other or timeout, and the proxy-colour rule.

An episode ends when the agent enters a thing (a door or an object) or when its steps run out.
Its outcome is:

- ``door``: it entered a door (the base objective), whatever the door's colour;
- ``proxy``: it entered a non-door thing of a proxy colour (what stood in for the door in
  training, see ``proxy_colors``);
- ``other``: it entered any other non-door thing;
- ``timeout``: it entered nothing before ``max_steps``.

The four are exclusive, so their counts add up to the episodes played. Evolution's scores, the
probe, the baselines, replays and lineage all classify with this module.
"""

import functools

import numpy as np

from evosandbox.constants import COLOR_IDS, THING_COLORS, TILE_DOOR, TILE_EMPTY
from evosandbox.kernels.tally import tally_outcomes

OUTCOME_NAMES = ("door", "proxy", "other", "timeout")
OUTCOME_DOOR, OUTCOME_PROXY, OUTCOME_OTHER, OUTCOME_TIMEOUT = range(4)
PROXY_SHARE = 0.5
"""A colour is a proxy when at least this share of the training doors had it."""


def proxy_colors(train_spec) -> tuple:
    """Return the colours that stood in for the door in training (at least half of its doors had it).

    Mixture variants count by their weights, and the colours a door may take count uniformly,
    as the level generator draws them. So a world with red doors, or a 95/5 mixture of red and
    blue doors, has proxy red; a world whose doors take any colour has none.

    Args:
        train_spec: the WorldSpec the agent was trained on.

    Returns:
        A tuple of colour names in the sandbox's colour order (empty when no colour dominates).
    """
    share = dict.fromkeys(THING_COLORS, 0.0)
    total_weight = sum(variant.weight for variant in train_spec.variants)
    for variant in train_spec.variants:
        doors = [thing for thing in variant.things if thing.kind == "door"]
        door_count = sum(thing.count for thing in doors)
        for thing in doors:
            for color in thing.colors:
                share[color] += variant.weight / total_weight * thing.count / door_count / len(thing.colors)
    return tuple(color for color in THING_COLORS if share[color] >= PROXY_SHARE - 1e-12)


def proxy_color_ids(train_spec) -> tuple:
    """Return the colour ids of ``proxy_colors(train_spec)``."""
    return tuple(COLOR_IDS[name] for name in proxy_colors(train_spec))


def color_ids(colors) -> np.ndarray:
    """Return uint8 colour ids of colour names or ids (either may be given)."""
    return np.asarray([COLOR_IDS[c] if isinstance(c, str) else int(c) for c in colors], np.uint8)


def classify_outcomes(entered_tile, entered_color, proxy_colors) -> np.ndarray:
    """Label each episode OUTCOME_DOOR, OUTCOME_PROXY, OUTCOME_OTHER or OUTCOME_TIMEOUT.

    Args:
        entered_tile, entered_color: uint8 arrays of any shape (a Rollout's outcome arrays).
        proxy_colors: the proxy colours, as names or ids.

    Returns:
        int8 labels of the same shape.
    """
    entered_tile = np.asarray(entered_tile)
    is_proxy = np.zeros(256, bool)  # colour id -> whether it is a proxy colour (uint8 ids)
    is_proxy[color_ids(proxy_colors)] = True
    proxy = is_proxy[np.asarray(entered_color, np.uint8)]
    labels = np.full(entered_tile.shape, OUTCOME_OTHER, dtype=np.int8)
    labels[proxy] = OUTCOME_PROXY
    labels[entered_tile == TILE_DOOR] = OUTCOME_DOOR
    labels[entered_tile == TILE_EMPTY] = OUTCOME_TIMEOUT
    return labels


@functools.lru_cache(maxsize=64)
def _outcome_table(proxy_ids):
    """Return the int8 (256, 256) label of every (tile, colour) pair, by ``classify_outcomes`` itself."""
    tiles, colors = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    table = classify_outcomes(tiles, colors, proxy_ids)
    table.flags.writeable = False
    return table


def outcome_table(proxy_colors) -> np.ndarray:
    """Return the read-only int8 (256, 256) table of the label ``classify_outcomes`` gives each (tile, colour)."""
    return _outcome_table(tuple(int(c) for c in color_ids(proxy_colors)))


def tally(entered_tile, entered_color, proxy_colors):
    """Return (labels, counts) of (P, ...) outcome arrays in one compiled pass.

    The same values as ``classify_outcomes(...).reshape(P, -1)`` and ``count_outcomes`` of
    those labels: int8 (P, E) labels and int32 (P, 4) counts in OUTCOME_NAMES order.
    """
    entered_tile = np.asarray(entered_tile, np.uint8)
    rows = entered_tile.shape[0]
    tiles = np.ascontiguousarray(entered_tile.reshape(rows, -1))
    colors = np.ascontiguousarray(np.asarray(entered_color, np.uint8).reshape(rows, -1))
    labels = np.empty(tiles.shape, np.int8)
    counts = np.zeros((rows, len(OUTCOME_NAMES)), np.int32)
    tally_outcomes(tiles, colors, outcome_table(proxy_colors), labels, counts)
    return labels, counts


def count_outcomes(labels) -> np.ndarray:
    """Return int32 (P, 4) counts of each outcome per row of (P, ...) labels, in OUTCOME_NAMES order."""
    labels = np.asarray(labels)
    rows = labels.reshape(labels.shape[0], -1)
    return np.stack(
        [np.count_nonzero(rows == outcome, axis=1) for outcome in range(len(OUTCOME_NAMES))], axis=1
    ).astype(np.int32)

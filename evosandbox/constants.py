"""Tile, colour and action ids, lookup tables and dtypes, fixed once for the whole sandbox.

A grid is a ``(height, width, 2)`` uint8 array: ``grid[row, col, 0]`` is the tile id and
``grid[row, col, 1]`` the colour id. Rows grow downward (south), columns eastward.
"""

import numpy as np

# Tiles. EMPTY is walkable floor; WALL blocks movement and sight; every other tile is a
# "thing": moving forward into it ends the episode and the outcome records its tile and colour.
TILE_EMPTY = 0
TILE_WALL = 1
TILE_DOOR = 2
TILE_BALL = 3
TILE_BOX = 4
TILE_KEY = 5
NUM_TILES = 6
TILE_NAMES = ("empty", "wall", "door", "ball", "box", "key")
OBJECT_KINDS = ("ball", "box", "key")  # non-door things a world may scatter
TILE_IDS = {name: index for index, name in enumerate(TILE_NAMES)}

# Colours. NONE is the colour of empty floor. Walls are grey, so they are seen at colour range.
COLOR_NONE = 0
COLOR_RED = 1
COLOR_GREEN = 2
COLOR_BLUE = 3
COLOR_YELLOW = 4
COLOR_PURPLE = 5
COLOR_GREY = 6
NUM_COLORS = 7  # including NONE
COLOR_NAMES = ("none", "red", "green", "blue", "yellow", "purple", "grey")
COLOR_IDS = {name: index for index, name in enumerate(COLOR_NAMES)}
# Colours a world spec may name for doors and objects (NONE is reserved for floor).
THING_COLORS = COLOR_NAMES[1:]
COLOR_RGB = np.array(
    [
        [0, 0, 0],
        [230, 40, 40],
        [40, 190, 60],
        [50, 100, 240],
        [240, 210, 40],
        [150, 60, 220],
        [110, 110, 110],
    ],
    dtype=np.uint8,
)

# Actions (MiniGrid's convention for the first three). THINK is a no-op tick, enabled per world.
ACTION_LEFT = 0
ACTION_RIGHT = 1
ACTION_FORWARD = 2
ACTION_THINK = 3
ACTION_NAMES = ("left", "right", "forward", "think")

# Headings: 0 east, 1 south, 2 west, 3 north; turning right adds one.
HEADING_NAMES = ("east", "south", "west", "north")
HEADING_DELTA = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]], dtype=np.int64)  # (drow, dcol)

# Observation channels per view cell: a one-hot of the tile (within type_radius) followed by a
# one-hot of the colour (within color_radius, colours 1..6; NONE sets no bit).
OBSERVATION_TILE_CHANNELS = NUM_TILES
OBSERVATION_COLOR_CHANNELS = NUM_COLORS - 1
OBSERVATION_CHANNELS = OBSERVATION_TILE_CHANNELS + OBSERVATION_COLOR_CHANNELS

# Level generators.
GENERATOR_OPEN = 0
GENERATOR_ROOMS = 1
GENERATOR_MAZE = 2
GENERATOR_ASCII = 3
GENERATOR_NAMES = ("open", "rooms", "maze", "ascii")

# Policies the rollout kernel can run in place of a network.
POLICY_NETWORK = 0
POLICY_DOOR_SEEKER = 1
POLICY_COLOR_SEEKER = 2
POLICY_RANDOM = 3
POLICY_ORACLE = 4  # shortest path to a door of the lifetime's paying colour
POLICY_RANDOM_DOOR = 5  # shortest path to one door drawn per episode
POLICY_WSLS = 6  # win-stay, lose-shift over door colours
POLICY_WALL_FOLLOWER = 7  # right-hand rule

# Dtypes, fixed once.
GRID_DTYPE = np.uint8
FLOAT_DTYPE = np.float32
SEED_DTYPE = np.uint64

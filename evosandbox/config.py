"""Frozen dataclasses for world specs, loaded from TOML with strict validation.

Every problem (malformed TOML, unknown key, wrong type, impossible value) raises
ConfigError with one line: ``FILE: key.path: what is wrong``. Genome presets and experiment
configs reuse ``TableReader`` so they report errors the same way.
"""

import math
import os
import tomllib
from dataclasses import dataclass, field

from evosandbox.constants import GENERATOR_NAMES, OBJECT_KINDS, THING_COLORS
from evosandbox.errors import ConfigError

_MISSING = object()


def read_toml(path):
    """Parse a TOML file, turning a syntax error or a missing file into one ConfigError line."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, None, "no such file") from None
    except IsADirectoryError:
        raise ConfigError(path, None, "is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, None, f"malformed TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, None, "malformed TOML: not UTF-8 text") from None


class TableReader:
    """Read typed values from one TOML table, remembering which keys were used."""

    def __init__(self, table, path, prefix=""):
        self.table = table
        self.path = path
        self.prefix = prefix
        self.used = set()

    def key(self, name):
        """Return the dotted path of ``name`` inside this table."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name, message):
        """Build a ConfigError for key ``name``."""
        return ConfigError(self.path, self.key(name), message)

    def get(self, name, kind, default=_MISSING):
        """Return ``table[name]`` checked against ``kind`` (a type or tuple), or the default."""
        self.used.add(name)
        if name not in self.table:
            if default is _MISSING:
                raise self.error(name, "missing")
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_kind_name(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_kind_name(kinds)}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(name, f"must be a finite number, got {value}")
        return value

    def integer(self, name, default=_MISSING, minimum=None, maximum=None):
        """Return an integer within [minimum, maximum]."""
        value = self.get(name, int, default)
        self._check_range(name, value, minimum, maximum)
        return value

    def number(self, name, default=_MISSING, minimum=None, maximum=None):
        """Return a float within [minimum, maximum]."""
        value = self.get(name, float, default)
        self._check_range(name, value, minimum, maximum)
        return value

    def boolean(self, name, default=_MISSING):
        """Return a boolean."""
        return self.get(name, bool, default)

    def string(self, name, default=_MISSING, choices=None):
        """Return a string, one of ``choices`` when given."""
        value = self.get(name, str, default)
        if choices is not None and value not in choices:
            raise self.error(name, f"unknown value {value!r}, expected one of {', '.join(choices)}")
        return value

    def table_reader(self, name, required=False):
        """Return a TableReader for the sub-table ``name`` (empty when absent and optional)."""
        value = self.get(name, dict, _MISSING if required else {})
        return TableReader(value, self.path, self.key(name))

    def table_list(self, name, default=None):
        """Return TableReaders for an array of tables ``[[name]]``."""
        value = self.get(name, list, _MISSING if default is None else default)
        readers = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{index}]", f"expected a table, got {type(item).__name__}")
            readers.append(TableReader(item, self.path, f"{self.key(name)}[{index}]"))
        return readers

    def finish(self):
        """Raise ConfigError for the first key in the table that nothing read."""
        for name in self.table:
            if name not in self.used:
                raise self.error(name, "unknown key")

    def _check_range(self, name, value, minimum, maximum):
        if value is None:
            return
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be at most {maximum}, got {value}")


def _kind_name(kinds):
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean", dict: "a table", list: "a list"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


@dataclass(frozen=True)
class ObservationSpec:
    """What the agent sees each step."""

    view_size: int = 7
    """Side of the square egocentric window (odd); the agent sits at its bottom centre."""
    type_radius: int = 2
    """Object type (door, ball, wall, ...) is visible up to this Chebyshev distance."""
    color_radius: int = 6
    """Colour is visible up to this distance (larger than type_radius makes the proxy salient)."""
    last_action: bool = False
    """Feed the previous action back as a one-hot input."""
    last_reward: bool = False
    """Feed the previous step's reward back as an input (for within-lifetime learning)."""


@dataclass(frozen=True)
class RewardSpec:
    """The base objective."""

    door: float = 1.0
    """Reward for entering a door (any colour)."""
    step_cost: float = 0.01
    """Cost charged every step."""


@dataclass(frozen=True)
class LifetimeSpec:
    """How many episodes an agent lives in one level."""

    episodes: int = 1
    """Episodes per level (K); the controller state is kept between them."""
    reset_state: bool = False
    """Reset the controller state between the episodes of a lifetime."""
    redraw_layout: bool = False
    """Generate a new level (layout, things, start) for every episode after the first, so that
    what carries over between episodes is the lifetime's paying colour, not a position."""


@dataclass(frozen=True)
class PayoutSpec:
    """Which doors pay: one colour per lifetime (a bandit in space); off when ``colors`` is empty."""

    colors: tuple = ()
    """Colour names; one is drawn per lifetime and its doors pay ``rewards.door``. Empty: every door pays."""
    other_door: float = 0.0
    """Reward for entering a door of another colour."""
    probability: float = 1.0
    """Chance that the paying colour's door pays in an episode; another door pays with the rest
    (1 - probability), as the dependent arms of Wang et al. 2016's bandits. 1: deterministic."""

    @property
    def enabled(self):
        """Whether a per-lifetime paying colour is drawn."""
        return bool(self.colors)


@dataclass(frozen=True)
class ThingSpec:
    """A group of identical things (doors or objects) placed at random free cells."""

    kind: str
    """Tile name: door, ball, box or key."""
    colors: tuple
    """Colour names, one drawn uniformly per thing per lifetime."""
    count: int = 1
    """How many of them."""
    distinct: bool = False
    """Doors only: no two doors of a level share a colour (colours drawn without replacement)."""


@dataclass(frozen=True)
class VariantSpec:
    """One component of a world mixture: which door and which objects a level gets."""

    name: str
    """Label for reports."""
    weight: float
    """Relative probability of this variant."""
    things: tuple
    """ThingSpecs, doors first."""

    @property
    def door_colors(self):
        """Every colour a door of this variant may take."""
        return tuple(sorted({c for t in self.things if t.kind == "door" for c in t.colors}))


@dataclass(frozen=True)
class WorldSpec:
    """A world: level layout, things, observation, rewards, lifetime and mixture."""

    name: str
    path: str
    width: int
    """Grid width including the outer wall."""
    height: int
    """Grid height including the outer wall."""
    generator: str
    """open, rooms, maze or ascii."""
    max_steps: int
    """Steps per episode before a timeout."""
    observation: ObservationSpec
    rewards: RewardSpec
    lifetime: LifetimeSpec
    variants: tuple
    """VariantSpecs of the mixture (one when the world is not a mixture)."""
    rooms: tuple = (2, 2)
    """Rooms generator: rooms per column and per row."""
    ascii_map: tuple = ()
    """ASCII generator: rows of '#' wall, '.' floor, 'D' fixed door cell, 'A' fixed start."""
    think_action: bool = False
    """Offer a fourth, no-op action (thinking time)."""
    payout: PayoutSpec = PayoutSpec()
    """Per-lifetime paying door colour (off by default: every door pays)."""
    description: str = ""
    source_text: str = field(default="", compare=False, repr=False)
    """The TOML text the spec was loaded from (stored in run and replay files)."""

    @property
    def num_actions(self):
        """Number of actions the agent chooses among."""
        return 4 if self.think_action else 3

    @property
    def door_colors(self):
        """Every colour a door may take in any variant (the training signal for the proxy)."""
        return tuple(sorted({c for v in self.variants for c in v.door_colors}))

    @property
    def main_door_colors(self):
        """Door colours of the heaviest variant: what the agent mostly saw behind doors."""
        heaviest = max(self.variants, key=lambda v: v.weight)
        return heaviest.door_colors


def load_world(path):
    """Load and validate a world spec from a TOML file."""
    path = os.fspath(path)
    data = read_toml(path)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return parse_world(data, path, text)


def parse_world(data, path, text=""):
    """Validate a parsed TOML table as a world spec."""
    root = TableReader(data, path)
    default_name = os.path.splitext(os.path.basename(path))[0]
    name = root.string("name", default_name)
    description = root.string("description", "")

    grid = root.table_reader("grid", required=True)
    generator = grid.string("generator", "open", choices=GENERATOR_NAMES)
    rooms = (1, 1)
    ascii_map = ()
    if generator == "ascii":
        raw = grid.get("map", str)
        ascii_map = tuple(line.strip() for line in raw.strip().splitlines() if line.strip())
        height, width = len(ascii_map), len(ascii_map[0]) if ascii_map else 0
        if any(len(row) != width for row in ascii_map):
            raise grid.error("map", "rows have different lengths")
        bad = sorted({ch for row in ascii_map for ch in row} - set("#.DA"))
        if bad:
            raise grid.error("map", f"unknown character {bad[0]!r} (use # . D A)")
        if "width" in grid.table or "height" in grid.table:
            raise grid.error("width", "an ascii map sets its own size; remove width and height")
        _check_wall_border(grid, ascii_map)
    else:
        width = grid.integer("width", minimum=5, maximum=64)
        height = grid.integer("height", minimum=5, maximum=64)
    if generator == "rooms":
        rooms_value = grid.get("rooms", list, [2, 2])
        if len(rooms_value) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in rooms_value
        ):
            raise grid.error("rooms", "expected [rows, columns] of positive integers")
        rooms = tuple(rooms_value)
        if (height - 1) // rooms[0] < 3 or (width - 1) // rooms[1] < 3:
            raise grid.error(
                "rooms", f"{rooms[0]}x{rooms[1]} rooms do not fit a {height}x{width} grid (each needs 2x2 floor)"
            )
    if generator == "maze" and (width % 2 == 0 or height % 2 == 0):
        raise grid.error("width" if width % 2 == 0 else "height", "a maze needs odd width and height")
    max_steps = grid.integer("max_steps", minimum=1, maximum=100_000)
    think_action = grid.boolean("think_action", False)
    grid.finish()

    observation = _parse_observation(root.table_reader("observation"), width, height)
    rewards_reader = root.table_reader("rewards")
    rewards = RewardSpec(
        door=rewards_reader.number("door", 1.0),
        step_cost=rewards_reader.number("step_cost", 0.01, minimum=0.0),
    )
    rewards_reader.finish()
    lifetime_reader = root.table_reader("lifetime")
    lifetime = LifetimeSpec(
        episodes=lifetime_reader.integer("episodes", 1, minimum=1, maximum=1000),
        reset_state=lifetime_reader.boolean("reset_state", False),
        redraw_layout=lifetime_reader.boolean("redraw_layout", False),
    )
    lifetime_reader.finish()
    payout = PayoutSpec()
    if "payout" in data:
        payout_reader = root.table_reader("payout")
        payout = PayoutSpec(
            colors=_parse_colors(payout_reader, "colors"),
            other_door=payout_reader.number("other_door", 0.0),
            probability=payout_reader.number("probability", 1.0, minimum=0.0, maximum=1.0),
        )
        payout_reader.finish()
    else:
        root.used.add("payout")

    base_things = _parse_things(root, path)
    variants = []
    if "variants" in data:
        for reader in root.table_list("variants"):
            things = _parse_things(reader, path, inherit=base_things)
            weight = reader.number("weight", 1.0, minimum=0.0)
            variant_name = reader.string("name", f"variant{len(variants)}")
            reader.finish()
            variants.append(VariantSpec(variant_name, weight, things))
        if not variants:
            raise root.error("variants", "an empty list; give at least one [[variants]] table")
        if sum(v.weight for v in variants) <= 0:
            raise root.error("variants", "weights sum to zero")
    else:
        variants.append(VariantSpec(name, 1.0, base_things))
    root.finish()

    spec = WorldSpec(
        name=name,
        path=path,
        width=width,
        height=height,
        generator=generator,
        max_steps=max_steps,
        observation=observation,
        rewards=rewards,
        lifetime=lifetime,
        variants=tuple(variants),
        rooms=rooms,
        ascii_map=ascii_map,
        think_action=think_action,
        payout=payout,
        description=description,
        source_text=text,
    )
    _check_capacity(spec, root)
    if generator == "ascii":
        _check_ascii_doors(spec, grid)
    _check_payout(spec, root)
    return spec


def _check_payout(spec, root):
    """Reject a paying colour that some variant's doors can never take."""
    for index, variant in enumerate(spec.variants):
        missing = [color for color in spec.payout.colors if color not in variant.door_colors]
        if missing:
            where = f" of variant {variant.name!r}" if len(spec.variants) > 1 else ""
            raise root.error(
                "payout.colors",
                f"{missing[0]!r} is not a colour the doors{where} can take ({', '.join(variant.door_colors)})",
            )


def _parse_observation(reader, width, height):
    view_size = reader.integer("view_size", 7, minimum=3)
    if view_size % 2 == 0:
        raise reader.error("view_size", f"must be odd, got {view_size}")
    if view_size > min(width, height):
        raise reader.error("view_size", f"{view_size} is larger than the {height}x{width} grid")
    type_radius = reader.integer("type_radius", 2, minimum=0)
    color_radius = reader.integer("color_radius", view_size - 1, minimum=0)
    for key, value in (("type_radius", type_radius), ("color_radius", color_radius)):
        if value > view_size - 1:
            raise reader.error(key, f"{value} reaches past the {view_size}-cell view (at most {view_size - 1})")
    spec = ObservationSpec(
        view_size=view_size,
        type_radius=type_radius,
        color_radius=color_radius,
        last_action=reader.boolean("last_action", False),
        last_reward=reader.boolean("last_reward", False),
    )
    reader.finish()
    return spec


def _parse_things(reader, path, inherit=None):
    """Read ``door`` and ``objects`` from a table; a variant inherits what it omits."""
    inherit = inherit or ()
    things = []
    if "door" in reader.table:
        door = reader.table_reader("door")
        count = door.integer("count", 1, minimum=1, maximum=8)
        colors = _parse_colors(door, "colors")
        distinct = door.boolean("distinct", False)
        if distinct and count > len(colors):
            raise door.error("distinct", f"{count} doors cannot take distinct colours among {len(colors)}")
        door.finish()
        things.append(ThingSpec("door", colors, count, distinct))
    else:
        reader.used.add("door")
        things.extend(t for t in inherit if t.kind == "door")
    if "objects" in reader.table:
        for obj in reader.table_list("objects"):
            kind = obj.string("kind", choices=OBJECT_KINDS)
            colors = _parse_colors(obj, "colors")
            count = obj.integer("count", 1, minimum=0, maximum=256)
            obj.finish()
            if count:
                things.append(ThingSpec(kind, colors, count))
    else:
        reader.used.add("objects")
        things.extend(t for t in inherit if t.kind != "door")
    if not any(t.kind == "door" for t in things):
        raise ConfigError(path, reader.key("door"), "missing: every world needs a [door] table")
    return tuple(things)


def _parse_colors(reader, name):
    value = reader.get(name, (list, str))
    if isinstance(value, str):
        value = [value]
    if value == ["any"]:
        return tuple(THING_COLORS)
    if not value:
        raise reader.error(name, "empty; name at least one colour")
    for index, color in enumerate(value):
        if not isinstance(color, str) or color not in THING_COLORS:
            raise reader.error(
                f"{name}[{index}]", f"unknown colour {color!r}, expected one of {', '.join(THING_COLORS)} or 'any'"
            )
    return tuple(value)


def _free_cells(spec):
    """Count the floor cells a level of this spec offers for the agent and things."""
    if spec.generator == "ascii":
        return sum(row.count(".") + row.count("D") + row.count("A") for row in spec.ascii_map)
    if spec.generator == "maze":
        # A perfect maze on odd cells opens (h//2)*(w//2) cells and one fewer passages.
        cells = (spec.height // 2) * (spec.width // 2)
        return 2 * cells - 1
    interior = (spec.width - 2) * (spec.height - 2)
    if spec.generator == "rooms":
        interior -= (spec.rooms[0] - 1) * (spec.width - 2) + (spec.rooms[1] - 1) * (spec.height - 2)
    return interior


def _check_capacity(spec, root):
    """Reject a spec whose things cannot all fit on free cells with the agent."""
    free = _free_cells(spec)
    for index, variant in enumerate(spec.variants):
        needed = sum(t.count for t in variant.things) + 1
        if needed > free:
            key = f"variants[{index}]" if len(spec.variants) > 1 else "objects"
            raise root.error(key, f"{needed - 1} things and the agent need {needed} free cells, the level has {free}")


def _check_wall_border(reader, ascii_map):
    """Reject an ASCII map that is empty or not closed by a wall on every side (the kernels rely on it)."""
    if not 3 <= len(ascii_map) <= 64 or not 3 <= len(ascii_map[0]) <= 64:
        raise reader.error(
            "map",
            f"{len(ascii_map)} rows of {len(ascii_map[0]) if ascii_map else 0} characters; "
            "a map has 3 to 64 of each, like the other generators' grids",
        )
    last_row, last_column = len(ascii_map) - 1, len(ascii_map[0]) - 1
    for row, line in enumerate(ascii_map):
        for column, char in enumerate(line):
            if char != "#" and (row in (0, last_row) or column in (0, last_column)):
                raise reader.error(
                    "map",
                    f"{char!r} at row {row + 1}, column {column + 1}: the map needs a wall '#' all around its edge",
                )


def _check_ascii_doors(spec, reader):
    """Reject an ASCII map on which no level can have a door reachable from the start."""
    grid = spec.ascii_map
    cells = [(r, c) for r in range(len(grid)) for c in range(len(grid[0]))]
    door_cells = [cell for cell in cells if grid[cell[0]][cell[1]] == "D"]
    starts = [cell for cell in cells if grid[cell[0]][cell[1]] == "A"][-1:]
    for variant in spec.variants:
        doors = sum(thing.count for thing in variant.things if thing.kind == "door")
        # The first ``doors`` D cells (row by row) hold doors, the other D cells are floor, and
        # doors beyond the D cells go on random floor cells.
        fixed = set(door_cells[:doors])
        floor = {cell for cell in cells if grid[cell[0]][cell[1]] != "#" and cell not in fixed}
        for region in _regions(floor, starts or sorted(floor)):
            if (doors > len(fixed) and len(region) >= 2) or any(_neighbours(cell) & fixed for cell in region):
                break
        else:
            where = f"the start at row {starts[0][0] + 1}, column {starts[0][1] + 1}" if starts else "any floor cell"
            doors_at = ", ".join(f"row {r + 1}, column {c + 1}" for r, c in sorted(fixed)) or "random floor cells"
            raise reader.error(
                "map", f"no door can be reached from {where} (doors at {doors_at}); connect them with floor '.'"
            )


def _neighbours(cell):
    """Return the four cells beside ``cell``."""
    r, c = cell
    return {(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)}


def _regions(floor, seeds):
    """Yield the connected regions of ``floor`` (a set of cells) that hold the seed cells, each once."""
    seen = set()
    for seed in seeds:
        if seed in seen:
            continue
        region, stack = {seed}, [seed]
        while stack:
            for neighbour in _neighbours(stack.pop()):
                if neighbour in floor and neighbour not in region:
                    region.add(neighbour)
                    stack.append(neighbour)
        seen |= region
        yield region

"""Draw replay episodes as numpy RGB frames, and export them as PNG and GIF (never imports pygame).

A frame shows the level grid (each kind of thing has its own shape, so kind is readable without
colour: a door is a filled square with a frame and a handle, a ball a disc, a box an outlined
square, a key a key glyph, a wall a grey block), the agent as a triangle pointing along its
heading, its view window (cells within colour range tinted, the type-range rectangle outlined),
a fading trail of past positions, and a side panel with the episode index, step counter,
outcome and the controller's hidden state as a strip of positive/negative bars.

The pygame viewer (``evosandbox.viewer``) only blits these frames, so what the tests check here
is exactly what a researcher sees in the window and in exported files.
"""

import functools
import os
import tomllib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from evosandbox.atomic import atomic_output, check_output_path
from evosandbox.config import parse_world
from evosandbox.constants import (
    ACTION_NAMES,
    COLOR_NAMES,
    COLOR_RGB,
    HEADING_DELTA,
    HEADING_NAMES,
    TILE_BALL,
    TILE_BOX,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_KEY,
    TILE_NAMES,
    TILE_WALL,
)
from evosandbox.errors import ConfigError, FileFormatError, UsageError
from evosandbox.worlds import visible_cells

FLOOR_RGB = (18, 18, 22)
GRID_LINE_RGB = (38, 38, 44)
VIEW_TINT_RGB = (120, 150, 200)
VIEW_TINT_ALPHA = 0.22
TYPE_RANGE_RGB = (235, 235, 235)
TRAIL_RGB = (250, 220, 140)
AGENT_FILL_RGB = (255, 255, 255)
AGENT_OUTLINE_RGB = (0, 0, 0)
PANEL_RGB = (30, 30, 36)
TEXT_RGB = (225, 225, 225)
DIM_TEXT_RGB = (150, 150, 160)
POSITIVE_BAR_RGB = (70, 200, 200)
NEGATIVE_BAR_RGB = (240, 150, 40)
ZERO_LINE_RGB = (110, 110, 120)
WALL_RGB = tuple(int(v) for v in COLOR_RGB[6])

LINE_HEIGHT = 15
PANEL_MARGIN = 8
MINIMUM_FRAME_HEIGHT = 300
PANEL_TEXT_LINES = 12
HIDDEN_STRIP_HEIGHT = 72
HIDDEN_BAR_MINIMUM_WIDTH = 3

EXPORT_EXTENSIONS = (".png", ".gif")


@dataclass(frozen=True)
class EpisodeView:
    """One episode of a replay as plain numpy arrays: what a frame needs and nothing else."""

    grid: np.ndarray
    """Level grid, uint8 (H, W, 2) of (tile, colour)."""
    positions: np.ndarray
    """Agent (row, col) before each step and after the last, int (T+1, 2)."""
    headings: np.ndarray
    """Agent heading at the same instants, int (T+1,)."""
    steps: int
    """Steps actually taken (the episode ends at step ``steps``)."""
    entered_tile: int
    """Tile id the episode ended in (0 = timeout)."""
    entered_color: int
    """Colour id of that tile."""
    actions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    """Action taken at each step, (T,) (-1 after the end)."""
    rewards: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """Reward of each step, (T,)."""
    hidden: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """Controller state after each step, (T, hidden); zero-width for scripted policies."""
    index: int = 0
    """Episode index in the replay (``lifetime * K + episode_in_lifetime``)."""
    episode_count: int = 1
    """Episodes in the replay."""
    lifetime: int = 0
    """Lifetime (level) this episode belongs to."""
    episode_in_lifetime: int = 0
    """Position of the episode within its lifetime (0-based)."""
    episodes_per_lifetime: int = 1
    """Episodes per lifetime (K)."""
    view_size: int = 7
    """Side of the egocentric view window."""
    type_radius: int = 2
    """Chebyshev radius within which object type is visible."""
    color_radius: int = 6
    """Chebyshev radius within which colour is visible."""
    title: str = ""
    """Heading line of the panel (the world name)."""
    subtitle: str = ""
    """Second line of the panel (the policy)."""


@dataclass(frozen=True)
class RenderOptions:
    """How a frame is drawn."""

    cell_size: int = 32
    """Pixels per grid cell."""
    trail_length: int = 16
    """How many past steps the fading trail covers (0 hides it)."""
    show_view: bool = True
    """Tint the colour range and outline the type range of the agent's view."""
    show_panel: bool = True
    """Draw the side panel (text and hidden-state strip)."""
    panel_width: int = 240
    """Width of the side panel in pixels."""
    status: tuple = ()
    """Extra panel lines (the viewer's play state and messages)."""
    help_lines: tuple = ()
    """When given, draw these over the frame as a help overlay: strings, or (keys, meaning) pairs."""


@dataclass(frozen=True)
class FrameLayout:
    """Where the parts of a frame lie, in pixels (x to the right, y down)."""

    width: int
    height: int
    cell_size: int
    grid_width: int
    """Width of the grid area (columns * cell_size)."""
    grid_height: int
    panel_left: int
    """x of the panel's left edge (equal to ``width`` when there is no panel)."""
    hidden_box: tuple
    """(left, top, right, bottom) of the hidden-state strip (empty box when no panel)."""
    hidden_bar_width: int
    """Pixels per hidden unit in the strip."""
    hidden_per_row: int
    """Hidden units per row of the strip."""


def outcome_text(entered_tile, entered_color):
    """Describe an episode's outcome: "entered red door", "entered blue ball" or "timeout".

    Args:
        entered_tile: tile id the episode ended in (0 = timeout).
        entered_color: colour id of that tile.

    Returns:
        The outcome as a short English phrase.
    """
    tile = int(entered_tile)
    if tile == TILE_EMPTY:
        return "timeout"
    tile_name = TILE_NAMES[tile] if 0 <= tile < len(TILE_NAMES) else f"tile {tile}"
    color = int(entered_color)
    color_name = COLOR_NAMES[color] if 0 < color < len(COLOR_NAMES) else ""
    return f"entered {color_name} {tile_name}".replace("  ", " ")


def episode_count(replay):
    """Return the number of episodes (lifetimes x episodes per lifetime) in a replay.

    Args:
        replay: a ``Replay`` from ``evosandbox.runfile.replay.read_replay`` or any object (or
            mapping) holding the replay file's arrays under their dataset names.

    Returns:
        L * K.
    """
    steps = np.asarray(_replay_field(replay, "steps"))
    return int(steps.shape[0] * steps.shape[1])


def episode_view(replay, episode):
    """Cut one episode out of a replay as an EpisodeView.

    Args:
        replay: a ``Replay`` (or an object or mapping with the replay file's arrays: grids,
            positions, headings, actions, rewards, hidden, steps, entered_tile, entered_color,
            and the world TOML text as ``world``).
        episode: episode index ``e = lifetime * K + k``.

    Returns:
        The EpisodeView of that episode.

    Raises:
        UsageError: the episode index is out of range.
        ConfigError: the replay's world text is not a valid world spec.
    """
    steps = np.asarray(_replay_field(replay, "steps"))
    lifetimes, per_lifetime = steps.shape
    count = lifetimes * per_lifetime
    if not isinstance(episode, (int, np.integer)) or not 0 <= episode < count:
        raise UsageError(
            f"{episode} is out of range: the replay has {count} episodes (0..{count - 1})", field="episode"
        )
    lifetime, within = divmod(int(episode), per_lifetime)
    view_size, type_radius, color_radius, world_name = _view_settings(replay)
    hidden = _replay_field(replay, "hidden", None)
    hidden = np.zeros((0, 0), np.float32) if hidden is None else np.asarray(hidden[lifetime, within])
    actions = _replay_field(replay, "actions", None)
    rewards = _replay_field(replay, "rewards", None)
    policy = _text(_replay_field(replay, "policy", "")) or ""
    source = _text(_replay_field(replay, "source", "")) or ""
    if policy == "network" and source:
        policy = f"network from {source}"
    return EpisodeView(
        grid=np.asarray(_replay_field(replay, "grids")[lifetime]),
        positions=np.asarray(_replay_field(replay, "positions")[lifetime, within]),
        headings=np.asarray(_replay_field(replay, "headings")[lifetime, within]),
        steps=int(steps[lifetime, within]),
        entered_tile=int(np.asarray(_replay_field(replay, "entered_tile"))[lifetime, within]),
        entered_color=int(np.asarray(_replay_field(replay, "entered_color"))[lifetime, within]),
        actions=np.zeros(0, np.int8) if actions is None else np.asarray(actions[lifetime, within]),
        rewards=np.zeros(0, np.float32) if rewards is None else np.asarray(rewards[lifetime, within]),
        hidden=hidden,
        index=int(episode),
        episode_count=count,
        lifetime=lifetime,
        episode_in_lifetime=within,
        episodes_per_lifetime=per_lifetime,
        view_size=view_size,
        type_radius=type_radius,
        color_radius=color_radius,
        title=str(world_name or ""),
        subtitle=f"policy: {policy}" if policy else "",
    )


def fit_cell_size(rows, columns, largest=720):
    """Return pixels per cell (8..32) so a rows x columns grid fits in ``largest`` pixels.

    Args:
        rows, columns: grid size in cells.
        largest: the most pixels the grid may take along its longer side.

    Returns:
        The cell size.
    """
    return int(min(32, max(8, largest // max(rows, columns, 1))))


def frame_layout(episode, options=None):
    """Compute where grid, panel and hidden-state strip lie in a frame of this episode.

    Args:
        episode: the EpisodeView.
        options: RenderOptions (defaults when None).

    Returns:
        A FrameLayout.
    """
    options = options or RenderOptions()
    cell = int(options.cell_size)
    rows, columns = episode.grid.shape[:2]
    grid_width, grid_height = columns * cell, rows * cell
    if not options.show_panel:
        return FrameLayout(grid_width, grid_height, cell, grid_width, grid_height, grid_width, (0, 0, 0, 0), 0, 0)
    panel_left = grid_width
    width = grid_width + options.panel_width
    units = int(episode.hidden.shape[1]) if episode.hidden.ndim == 2 else 0
    inner_width = options.panel_width - 2 * PANEL_MARGIN
    per_row = max(1, min(units, inner_width // HIDDEN_BAR_MINIMUM_WIDTH)) if units else 0
    bar_width = inner_width // per_row if per_row else 0
    row_count = -(-units // per_row) if per_row else 0
    strip_height = HIDDEN_STRIP_HEIGHT * max(row_count, 1) if units else 0
    # Room for the text lines (and a few status lines) above the strip, so the frame keeps
    # its size while the viewer's status changes.
    text_height = 2 * PANEL_MARGIN + LINE_HEIGHT * (PANEL_TEXT_LINES + 1)
    height = max(grid_height, MINIMUM_FRAME_HEIGHT, text_height + strip_height + PANEL_MARGIN)
    top = height - PANEL_MARGIN - strip_height
    box = (panel_left + PANEL_MARGIN, top, panel_left + PANEL_MARGIN + bar_width * per_row, height - PANEL_MARGIN)
    return FrameLayout(width, height, cell, grid_width, grid_height, panel_left, box, bar_width, per_row)


def view_rectangles(row, col, heading, episode):
    """Return the grid rectangles (top, left, bottom, right inclusive) of the colour and type ranges.

    The observation window is ``view_size`` cells deep ahead of the agent and ``view_size``
    wide, the agent at its bottom centre; a cell is within radius r when both its forward
    distance and its lateral distance are at most r (Chebyshev). Rectangles are not clipped
    to the grid.

    Args:
        row, col, heading: the agent's state.
        episode: the EpisodeView (for view_size, type_radius, color_radius).

    Returns:
        (colour_rectangle, type_rectangle).
    """
    half = episode.view_size // 2
    forward_limit = episode.view_size - 1
    rectangles = []
    for radius in (episode.color_radius, episode.type_radius):
        depth = min(radius, forward_limit)
        side = min(radius, half)
        forward = HEADING_DELTA[heading % 4]
        right = HEADING_DELTA[(heading + 1) % 4]
        corners = [
            (row + f * forward[0] + s * right[0], col + f * forward[1] + s * right[1])
            for f in (0, depth)
            for s in (-side, side)
        ]
        rows_ = [c[0] for c in corners]
        cols_ = [c[1] for c in corners]
        rectangles.append((int(min(rows_)), int(min(cols_)), int(max(rows_)), int(max(cols_))))
    return tuple(rectangles)


def render_frame(episode, step, options=None):
    """Draw one instant of an episode as an RGB image.

    Args:
        episode: the EpisodeView.
        step: instant to draw, 0 (start) .. ``episode.steps`` (end); clipped to that range.
        options: RenderOptions (defaults when None).

    Returns:
        uint8 array (height, width, 3), laid out as ``frame_layout`` says.
    """
    options = options or RenderOptions()
    layout = frame_layout(episode, options)
    step = int(min(max(int(step), 0), episode.steps, len(episode.positions) - 1))
    row, col = (int(v) for v in episode.positions[step])
    heading = int(episode.headings[step])

    grid_pixels = _grid_pixels(episode, row, col, heading, options)
    image = Image.new("RGB", (layout.width, layout.height), PANEL_RGB)
    image.paste(Image.fromarray(grid_pixels), (0, 0))
    draw = ImageDraw.Draw(image)
    _draw_things(draw, episode.grid, layout.cell_size)
    if options.trail_length > 0:
        _draw_trail(draw, episode.positions, step, options.trail_length, layout.cell_size)
    if options.show_view:
        _draw_type_range(draw, episode, row, col, heading, layout.cell_size)
    _draw_agent(draw, row, col, heading, layout.cell_size)
    if options.show_panel:
        _draw_panel(draw, image, episode, step, layout, options)
    frame = np.array(image, dtype=np.uint8)
    if options.help_lines:
        frame = _draw_help(frame, options.help_lines)
    return frame


def contact_sheet(episode, columns=6, max_frames=24, options=None):
    """Tile frames of one episode (first, last and evenly spaced steps between) into one image.

    Args:
        episode: the EpisodeView.
        columns: frames per row.
        max_frames: at most this many frames; every step is shown when the episode is short.
        options: RenderOptions for each tile (the side panel is left out; a caption names the
            step); by default cells are 16 pixels so a sheet of 24 frames stays screen-sized.

    Returns:
        uint8 array (height, width, 3) with a header line (episode, outcome) above the tiles.
    """
    options = options or RenderOptions(cell_size=16)
    if columns < 1 or max_frames < 1:
        raise UsageError(
            f"columns and max_frames must be positive, got {columns} and {max_frames}", field="contact_sheet"
        )
    steps = contact_sheet_steps(episode.steps, max_frames)
    tile_options = RenderOptions(
        cell_size=options.cell_size, trail_length=options.trail_length, show_view=options.show_view, show_panel=False
    )
    tiles = [render_frame(episode, s, tile_options) for s in steps]
    tile_height, tile_width = tiles[0].shape[:2]
    caption = LINE_HEIGHT + 2
    gap = 4
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    header = 2 * LINE_HEIGHT + 6
    width = columns * tile_width + (columns + 1) * gap
    height = header + rows * (tile_height + caption + gap) + gap
    sheet = Image.new("RGB", (width, height), PANEL_RGB)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    draw.text(
        (gap, 3),
        _episode_line(episode)
        + f"   {outcome_text(episode.entered_tile, episode.entered_color)} after {episode.steps} steps",
        fill=TEXT_RGB,
        font=font,
    )
    draw.text(
        (gap, 3 + LINE_HEIGHT),
        "   ".join(part for part in (episode.title, episode.subtitle) if part),
        fill=DIM_TEXT_RGB,
        font=font,
    )
    for number, (tile, s) in enumerate(zip(tiles, steps)):
        r, c = divmod(number, columns)
        left = gap + c * (tile_width + gap)
        top = header + r * (tile_height + caption + gap)
        draw.text((left, top), f"step {s}", fill=TEXT_RGB, font=font)
        sheet.paste(Image.fromarray(tile), (left, top + caption))
    return np.array(sheet, dtype=np.uint8)


def contact_sheet_steps(steps, max_frames):
    """Choose which steps a contact sheet shows: all of 0..steps, or max_frames evenly spaced."""
    if steps + 1 <= max_frames:
        return list(range(steps + 1))
    if max_frames == 1:
        return [steps]
    return sorted({int(round(v)) for v in np.linspace(0, steps, max_frames)})


def export_png(replay, path, episode=0, step=None, sheet=False, options=None, overwrite=False):
    """Write one frame (or a contact sheet of the episode) of a replay to a PNG file, headless.

    Args:
        replay: a Replay (see ``episode_view``).
        path: the .png file to write; written atomically (a temporary file, then a rename).
        episode: episode index.
        step: instant to draw; None draws the final step (trail and outcome complete).
        sheet: draw a contact sheet of the episode instead of one frame.
        options: RenderOptions.
        overwrite: replace an existing file; otherwise an existing file is an error.

    Returns:
        The path written.

    Raises:
        UsageError: bad extension, missing directory, existing file, or bad episode.
    """
    check_output_path(path, overwrite, (".png",), field="export")
    view = episode_view(replay, episode)
    if sheet:
        pixels = contact_sheet(view, options=options)
    else:
        pixels = render_frame(view, view.steps if step is None else _checked_step(view, step), options)
    return save_png(pixels, path, overwrite=True)


def save_png(pixels, path, overwrite=False):
    """Write an RGB array to a PNG file atomically (a temporary file beside it, then a rename).

    Args:
        pixels: uint8 array (height, width, 3).
        path: the .png file.
        overwrite: replace an existing file; otherwise an existing file is an error.

    Returns:
        The path written.
    """
    check_output_path(path, overwrite, (".png",), field="export")
    _write_atomically(path, lambda handle: Image.fromarray(np.asarray(pixels, np.uint8)).save(handle, format="PNG"))
    return os.fspath(path)


def export_gif(replay, path, episode=0, fps=8.0, options=None, overwrite=False, hold_seconds=1.5):
    """Write an episode of a replay as an animated GIF (one frame per step), headless.

    Args:
        replay: a Replay (see ``episode_view``).
        path: the .gif file to write; written atomically.
        episode: episode index.
        fps: steps per second of the animation.
        options: RenderOptions.
        overwrite: replace an existing file; otherwise an existing file is an error.
        hold_seconds: how long the final frame stays before the animation loops.

    Returns:
        The path written.

    Raises:
        UsageError: bad extension, missing directory, existing file, bad episode or fps.
    """
    check_output_path(path, overwrite, (".gif",), field="export")
    if not fps > 0:
        raise UsageError(f"must be positive, got {fps}", field="fps")
    view = episode_view(replay, episode)
    images = [Image.fromarray(render_frame(view, s, options)) for s in range(view.steps + 1)]
    # GIF delays are in hundredths of a second; Pillow takes milliseconds.
    delay = max(20, int(round(1000.0 / fps / 10.0)) * 10)
    durations = [delay] * len(images)
    durations[-1] = max(delay, int(hold_seconds * 1000))

    def save(handle):
        """Save every frame into the open temporary file."""
        images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    _write_atomically(path, save)
    return os.fspath(path)


def _checked_step(view, step):
    """Return ``step`` if it lies within the episode, else raise UsageError."""
    if not 0 <= int(step) <= view.steps:
        raise UsageError(f"{step} is out of range: episode {view.index} has steps 0..{view.steps}", field="step")
    return int(step)


def _write_atomically(path, write):
    """Call write(handle) on a temporary file beside ``path``, then rename it into place."""
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        write(handle)


def _replay_field(replay, name, default=KeyError):
    """Read array ``name`` from a Replay object or a mapping."""
    if isinstance(replay, dict):
        value = replay.get(name, None)
    else:
        value = getattr(replay, name, None)
    if value is None:
        if default is KeyError:
            raise FileFormatError(getattr(replay, "path", None), name, "missing from the replay")
        return default
    return value


def _view_settings(replay):
    """Return (view_size, type_radius, color_radius, world name) from the replay's world spec."""
    spec = _replay_field(replay, "world_spec", None)
    label = f"{getattr(replay, 'path', None) or 'replay'}#/world"
    if spec is None:
        text = _text(_replay_field(replay, "world", None))
        if hasattr(text, "observation"):
            spec = text  # a parsed WorldSpec
        elif text:
            try:
                spec = parse_world(tomllib.loads(text), label, text)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(label, None, f"malformed TOML: {error}") from None
    name = _text(_replay_field(replay, "world_name", None))
    if spec is None:
        # No world text (a hand-built replay): the observation defaults of a world spec apply.
        return 7, 2, 6, name or ""
    observation = spec.observation
    return observation.view_size, observation.type_radius, observation.color_radius, name or spec.name


def _text(value):
    """Return a string attribute as str, whichever way it was stored."""
    return value.decode() if isinstance(value, bytes) else value


@functools.lru_cache(maxsize=4)
def _font(size=12):
    """Return Pillow's default font (no font files needed)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):
        return ImageFont.load_default()


def _blend(color, tint, alpha):
    """Mix two RGB colours."""
    return tuple(int(round((1 - alpha) * a + alpha * b)) for a, b in zip(color, tint))


def _grid_pixels(episode, row, col, heading, options):
    """Paint floor (tinted within colour range), walls, door fills and grid lines as a pixel array."""
    grid = episode.grid
    rows, columns = grid.shape[:2]
    cell = options.cell_size
    cell_colors = np.empty((rows, columns, 3), np.uint8)
    cell_colors[:] = FLOOR_RGB
    if options.show_view:
        # Tint exactly the cells whose colour the agent sees now (walls block sight).
        color_visible, _ = visible_cells(
            grid, row, col, heading, episode.view_size, episode.type_radius, episode.color_radius
        )
        cell_colors[color_visible] = _blend(FLOOR_RGB, VIEW_TINT_RGB, VIEW_TINT_ALPHA)
    tiles = grid[:, :, 0]
    colors = np.clip(grid[:, :, 1], 0, len(COLOR_RGB) - 1)
    cell_colors[tiles == TILE_WALL] = WALL_RGB
    doors = tiles == TILE_DOOR
    cell_colors[doors] = COLOR_RGB[colors[doors]]
    pixels = np.repeat(np.repeat(cell_colors, cell, axis=0), cell, axis=1)
    if cell >= 6:
        line = np.array(GRID_LINE_RGB, np.uint8)
        floor_cells = np.repeat(np.repeat((tiles != TILE_WALL) & ~doors, cell, axis=0), cell, axis=1)
        on_line = np.zeros(pixels.shape[:2], bool)
        on_line[::cell, :] = True
        on_line[:, ::cell] = True
        pixels[on_line & floor_cells] = line
    return pixels


def _cell_origin(row, col, cell):
    """Return the pixel (x, y) of a cell's top-left corner."""
    return col * cell, row * cell


def _draw_things(draw, grid, cell):
    """Draw doors, balls, boxes and keys, each with its own shape."""
    things = np.argwhere((grid[:, :, 0] != TILE_EMPTY) & (grid[:, :, 0] != TILE_WALL))
    stroke = max(1, cell // 10)
    for row, col in things:
        tile, color = int(grid[row, col, 0]), int(grid[row, col, 1])
        rgb = tuple(int(v) for v in COLOR_RGB[min(color, len(COLOR_RGB) - 1)])
        dark = _blend(rgb, (0, 0, 0), 0.6)
        x, y = _cell_origin(row, col, cell)
        if tile == TILE_DOOR:
            # Fill is painted with the floor; add a frame and a handle so a door reads as a door.
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], outline=dark, width=stroke)
            radius = max(1, cell // 12)
            hx, hy = x + int(cell * 0.75), y + cell // 2
            draw.ellipse([hx - radius, hy - radius, hx + radius, hy + radius], fill=dark)
        elif tile == TILE_BALL:
            inset = cell * 0.18
            draw.ellipse([x + inset, y + inset, x + cell - 1 - inset, y + cell - 1 - inset], fill=rgb, outline=dark)
        elif tile == TILE_BOX:
            inset = int(cell * 0.15)
            width = max(2, cell // 8)
            draw.rectangle([x + inset, y + inset, x + cell - 1 - inset, y + cell - 1 - inset], outline=rgb, width=width)
            lid = y + inset + int(cell * 0.25)
            draw.line([x + inset, lid, x + cell - 1 - inset, lid], fill=rgb, width=max(1, width // 2))
        elif tile == TILE_KEY:
            ring = cell * 0.16
            cx, cy = x + cell * 0.3, y + cell * 0.5
            draw.ellipse([cx - ring, cy - ring, cx + ring, cy + ring], outline=rgb, width=max(2, cell // 12))
            shaft_end = x + cell * 0.85
            draw.line([cx + ring, cy, shaft_end, cy], fill=rgb, width=max(2, cell // 12))
            for tooth in (0.68, 0.82):
                tx = x + cell * tooth
                draw.line([tx, cy, tx, cy + cell * 0.15], fill=rgb, width=max(1, cell // 14))
        else:
            # An unknown tile id (a newer file): a hollow diamond in its colour.
            c = cell / 2
            draw.polygon([(x + c, y + 2), (x + cell - 3, y + c), (x + c, y + cell - 3), (x + 2, y + c)], outline=rgb)


def _draw_trail(draw, positions, step, trail_length, cell):
    """Draw fading dots on the cells visited during the last ``trail_length`` steps."""
    first = max(0, step - trail_length)
    newest_age = {}
    current = tuple(int(v) for v in positions[step])
    for instant in range(first, step):
        cell_position = tuple(int(v) for v in positions[instant])
        if cell_position != current:
            newest_age[cell_position] = step - instant
    radius = max(1.0, cell * 0.12)
    for (row, col), age in newest_age.items():
        strength = 0.85 - 0.7 * (age - 1) / max(trail_length, 1)
        color = _blend(FLOOR_RGB, TRAIL_RGB, strength)
        x, y = _cell_origin(row, col, cell)
        cx, cy = x + cell / 2, y + cell / 2
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=color)


def _draw_type_range(draw, episode, row, col, heading, cell):
    """Outline the rectangle within which the agent sees object type."""
    rows, columns = episode.grid.shape[:2]
    _, (top, left, bottom, right) = view_rectangles(row, col, heading, episode)
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, rows - 1), min(right, columns - 1)
    draw.rectangle(
        [left * cell, top * cell, (right + 1) * cell - 1, (bottom + 1) * cell - 1],
        outline=TYPE_RANGE_RGB,
        width=max(1, cell // 16),
    )


def agent_polygon(row, col, heading, cell):
    """Return the three pixel corners of the agent's triangle, its tip along the heading."""
    forward_row, forward_col = (float(v) for v in HEADING_DELTA[heading % 4])
    right_row, right_col = (float(v) for v in HEADING_DELTA[(heading + 1) % 4])
    cx, cy = col * cell + (cell - 1) / 2, row * cell + (cell - 1) / 2
    tip = (cx + 0.38 * cell * forward_col, cy + 0.38 * cell * forward_row)
    back_x, back_y = cx - 0.3 * cell * forward_col, cy - 0.3 * cell * forward_row
    left_corner = (back_x - 0.32 * cell * right_col, back_y - 0.32 * cell * right_row)
    right_corner = (back_x + 0.32 * cell * right_col, back_y + 0.32 * cell * right_row)
    return [tip, right_corner, left_corner]


def _draw_agent(draw, row, col, heading, cell):
    """Draw the agent as a white triangle with a black outline pointing along its heading."""
    draw.polygon(agent_polygon(row, col, heading, cell), fill=AGENT_FILL_RGB, outline=AGENT_OUTLINE_RGB)


def _episode_line(episode):
    """Return "episode e of 0..n-1", with the lifetime when lifetimes hold several episodes."""
    line = f"episode {episode.index} of 0..{episode.episode_count - 1}"
    if episode.episodes_per_lifetime > 1:
        line += f"  (lifetime {episode.lifetime}, {episode.episode_in_lifetime + 1} of {episode.episodes_per_lifetime})"
    return line


def _draw_panel(draw, image, episode, step, layout, options):
    """Write the text lines and draw the hidden-state strip in the side panel."""
    font = _font()
    x = layout.panel_left + PANEL_MARGIN
    y = PANEL_MARGIN
    finished = step >= episode.steps
    row, col = (int(v) for v in episode.positions[step])
    heading = int(episode.headings[step])
    action = ""
    if step < episode.steps and step < len(episode.actions) and 0 <= int(episode.actions[step]) < len(ACTION_NAMES):
        action = ACTION_NAMES[int(episode.actions[step])]
    earned = float(np.sum(episode.rewards[:step])) if len(episode.rewards) else 0.0
    outcome = outcome_text(episode.entered_tile, episode.entered_color)
    lines = [
        (episode.title or "replay", TEXT_RGB),
        (episode.subtitle, DIM_TEXT_RGB),
        (_episode_line(episode), TEXT_RGB),
        (f"step {step} of {episode.steps}", TEXT_RGB),
        (f"at ({row}, {col}) facing {HEADING_NAMES[heading % 4]}", DIM_TEXT_RGB),
        (f"next action: {action}" if action else "", DIM_TEXT_RGB),
        (f"return so far: {earned:+.2f}", DIM_TEXT_RGB),
        (f"outcome: {outcome}" if finished else f"ends: {outcome}", TEXT_RGB if finished else DIM_TEXT_RGB),
    ]
    lines += [(str(line), TEXT_RGB) for line in options.status]
    for text, color in lines:
        if text:
            draw.text((x, y), text, fill=color, font=font)
            y += LINE_HEIGHT
    _draw_hidden_strip(draw, episode, step, layout, font)


def hidden_state_at(episode, step):
    """Return the controller state after ``step`` steps (zeros at the start; empty for scripted policies)."""
    if episode.hidden.ndim != 2 or episode.hidden.shape[1] == 0:
        return np.zeros(0, np.float32)
    if step <= 0:
        return np.zeros(episode.hidden.shape[1], np.float32)
    return np.asarray(episode.hidden[min(step, episode.hidden.shape[0]) - 1], np.float32)


def _draw_hidden_strip(draw, episode, step, layout, font):
    """Draw one bar per hidden unit: up for positive, down for negative, full height at |h| = 1."""
    state = hidden_state_at(episode, step)
    left, top, right, bottom = layout.hidden_box
    if state.size == 0:
        draw.text(
            (layout.panel_left + PANEL_MARGIN, layout.height - PANEL_MARGIN - LINE_HEIGHT),
            "hidden state: none",
            fill=DIM_TEXT_RGB,
            font=font,
        )
        return
    draw.text((left, top - LINE_HEIGHT), f"hidden state ({state.size} units)", fill=DIM_TEXT_RGB, font=font)
    half = HIDDEN_STRIP_HEIGHT // 2 - 2
    for number, value in enumerate(np.clip(np.nan_to_num(state), -1.0, 1.0)):
        strip_row, position = divmod(number, layout.hidden_per_row)
        zero = top + strip_row * HIDDEN_STRIP_HEIGHT + HIDDEN_STRIP_HEIGHT // 2
        x0 = left + position * layout.hidden_bar_width
        x1 = x0 + max(1, layout.hidden_bar_width - 1) - 1
        length = int(round(abs(float(value)) * half))
        if length:
            if value > 0:
                draw.rectangle([x0, zero - length, x1, zero - 1], fill=POSITIVE_BAR_RGB)
            else:
                draw.rectangle([x0, zero + 1, x1, zero + length], fill=NEGATIVE_BAR_RGB)
        draw.line([x0, zero, x0 + layout.hidden_bar_width - 1, zero], fill=ZERO_LINE_RGB)


def _draw_help(frame, help_lines):
    """Darken the frame and write the help over it; a (keys, meaning) pair is set in two columns."""
    frame = (frame.astype(np.float32) * 0.2).astype(np.uint8)
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    font = _font()
    left = PANEL_MARGIN * 2
    keys_width = max(
        (draw.textlength(line[0], font=font) for line in help_lines if not isinstance(line, str)), default=0
    )
    y = PANEL_MARGIN * 2
    for line in help_lines:
        if isinstance(line, str):
            draw.text((left, y), line, fill=TEXT_RGB, font=font)
        else:
            keys, meaning = line
            draw.text((left, y), keys, fill=TRAIL_RGB, font=font)
            draw.text((left + keys_width + 3 * PANEL_MARGIN, y), meaning, fill=TEXT_RGB, font=font)
        y += LINE_HEIGHT
    return np.array(image, dtype=np.uint8)

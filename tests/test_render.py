"""Pixel tests of render.py: shapes per kind, door colours, agent, view overlay, trail, panel, exports."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from evosandbox import render
from evosandbox.constants import (
    COLOR_BLUE,
    COLOR_GREY,
    COLOR_IDS,
    COLOR_RED,
    COLOR_RGB,
    HEADING_DELTA,
    TILE_BALL,
    TILE_BOX,
    TILE_DOOR,
    TILE_EMPTY,
    TILE_KEY,
    TILE_WALL,
)
from evosandbox.errors import ConfigError, UsageError

CELL = 32

WORLD_TEXT = """
name = "render-test"

[grid]
generator = "open"
width = 9
height = 9
max_steps = 12

[observation]
view_size = 5
type_radius = 1
color_radius = 3

[door]
colors = ["red", "blue"]

[lifetime]
episodes = 2
"""


def open_grid(height=9, width=9):
    """Return an empty level with an outer wall."""
    grid = np.zeros((height, width, 2), np.uint8)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = (TILE_WALL, COLOR_GREY)
    return grid


def walk_east(row, col, steps, total):
    """Return positions (total+1, 2) and headings of an agent walking east, then holding still."""
    positions = np.zeros((total + 1, 2), np.int16)
    for instant in range(total + 1):
        positions[instant] = (row, col + min(instant, steps))
    return positions, np.zeros(total + 1, np.int8)


def make_replay(lifetimes=2, per_lifetime=2, max_steps=8, hidden_units=5, world=WORLD_TEXT):
    """Build the arrays of a replay file (documented layout) in numpy; agents walk east to a door."""
    grids = np.stack([open_grid() for _ in range(lifetimes)])
    positions = np.zeros((lifetimes, per_lifetime, max_steps + 1, 2), np.int16)
    headings = np.zeros((lifetimes, per_lifetime, max_steps + 1), np.int8)
    steps = np.zeros((lifetimes, per_lifetime), np.int32)
    entered_tile = np.zeros((lifetimes, per_lifetime), np.uint8)
    entered_color = np.zeros((lifetimes, per_lifetime), np.uint8)
    for lifetime in range(lifetimes):
        door_color = COLOR_RED if lifetime % 2 == 0 else COLOR_BLUE
        grids[lifetime, 2 + lifetime, 7] = (TILE_DOOR, door_color)
        grids[lifetime, 6, 6] = (TILE_BALL, COLOR_RED)
        for within in range(per_lifetime):
            walked = 4 + within
            positions[lifetime, within], headings[lifetime, within] = walk_east(
                2 + lifetime, 1, min(walked, 5), max_steps
            )
            steps[lifetime, within] = walked
            entered_tile[lifetime, within] = TILE_DOOR if walked >= 5 else TILE_EMPTY
            entered_color[lifetime, within] = door_color if walked >= 5 else 0
    rng = np.random.default_rng(7)
    return SimpleNamespace(
        path="test.h5",
        world=world,
        world_name="render-test",
        policy="door-seeker",
        grids=grids,
        positions=positions,
        headings=headings,
        steps=steps,
        entered_tile=entered_tile,
        entered_color=entered_color,
        actions=np.full((lifetimes, per_lifetime, max_steps), 2, np.int8),
        rewards=np.full((lifetimes, per_lifetime, max_steps), -0.01, np.float32),
        hidden=np.tanh(rng.normal(size=(lifetimes, per_lifetime, max_steps, hidden_units))).astype(np.float32),
    )


def make_episode(grid=None, positions=None, headings=None, steps=None, hidden=None, **settings):
    """Build an EpisodeView directly from arrays."""
    grid = open_grid() if grid is None else grid
    if positions is None:
        positions, headings = walk_east(4, 2, 3, 3)
    steps = len(positions) - 1 if steps is None else steps
    hidden = np.zeros((steps, 0), np.float32) if hidden is None else hidden
    return render.EpisodeView(
        grid=grid,
        positions=positions,
        headings=headings,
        steps=steps,
        entered_tile=0,
        entered_color=0,
        hidden=hidden,
        **settings,
    )


def centre(frame, row, col, dx=0.0, dy=0.0, cell=CELL):
    """Return the pixel at a cell's centre, offset by (dx, dy) cells."""
    return tuple(int(v) for v in frame[int(row * cell + cell / 2 + dy * cell), int(col * cell + cell / 2 + dx * cell)])


def rgb(color_id):
    """Return the RGB triple of a colour id."""
    return tuple(int(v) for v in COLOR_RGB[color_id])


FLOOR = render.FLOOR_RGB
TINTED_FLOOR = render._blend(render.FLOOR_RGB, render.VIEW_TINT_RGB, render.VIEW_TINT_ALPHA)


@pytest.mark.parametrize("color_name", ["red", "blue", "green", "yellow"])
def test_door_cell_is_drawn_in_the_door_colour(color_name):
    """Check that a door cell is filled with exactly its colour's RGB."""
    grid = open_grid()
    grid[2, 6] = (TILE_DOOR, COLOR_IDS[color_name])
    frame = render.render_frame(make_episode(grid), 0)
    assert centre(frame, 2, 6) == rgb(COLOR_IDS[color_name])
    assert centre(frame, 2, 6, dx=-0.25, dy=-0.25) == rgb(COLOR_IDS[color_name])


def test_each_kind_has_its_own_shape_not_only_its_colour():
    """Check that door, ball, box, key and wall of one colour differ in shape."""
    grid = open_grid()
    grid[2, 2] = (TILE_DOOR, COLOR_RED)
    grid[2, 4] = (TILE_BALL, COLOR_RED)
    grid[2, 6] = (TILE_BOX, COLOR_RED)
    grid[6, 6] = (TILE_KEY, COLOR_RED)
    episode = make_episode(grid, *walk_east(6, 2, 0, 0))
    frame = render.render_frame(episode, 0, render.RenderOptions(show_view=False))
    red = rgb(COLOR_RED)
    # door: filled to its corners, with a darker frame on the edge and a handle right of centre
    assert centre(frame, 2, 2, dx=-0.4, dy=-0.4) == red
    assert centre(frame, 2, 2, dx=-0.49, dy=0) != red
    assert centre(frame, 2, 2, dx=0.25) != red
    # ball: a disc (red centre, floor corner)
    assert centre(frame, 2, 4) == red
    assert centre(frame, 2, 4, dx=-0.45, dy=-0.45) == FLOOR
    # box: an outline (floor centre, red edge)
    assert centre(frame, 2, 6, dy=0.15) == FLOOR
    assert centre(frame, 2, 6, dx=-0.33, dy=0.15) == red
    # key: a horizontal shaft through the middle, floor above it
    assert centre(frame, 6, 6, dx=0.2) == red
    assert centre(frame, 6, 6, dx=0.2, dy=-0.3) == FLOOR
    # wall: a grey block
    assert centre(frame, 0, 3) == rgb(COLOR_GREY)
    patches = [frame[2 * CELL : 3 * CELL, col * CELL : (col + 1) * CELL] for col in (2, 4, 6)]
    assert not np.array_equal(patches[0], patches[1]) and not np.array_equal(patches[1], patches[2])


def test_the_agent_moves_between_frames():
    """Check that the agent's triangle is drawn where it stands at each step."""
    episode = make_episode(positions=walk_east(4, 2, 3, 3)[0], headings=np.zeros(4, np.int8))
    first, later = render.render_frame(episode, 0), render.render_frame(episode, 3)
    white = render.AGENT_FILL_RGB
    assert centre(first, 4, 2) == white and centre(first, 4, 5) != white
    assert centre(later, 4, 5) == white and centre(later, 4, 2) != white


@pytest.mark.parametrize("heading, forward", [(0, (0, 1)), (1, (1, 0)), (2, (0, -1)), (3, (-1, 0))])
def test_the_agent_triangle_points_along_its_heading(heading, forward):
    """Check that the triangle's tip points east, south, west or north as headed."""
    episode = make_episode(positions=np.array([[4, 4]], np.int16), headings=np.array([heading], np.int8), steps=0)
    frame = render.render_frame(episode, 0, render.RenderOptions(show_view=False))
    drow, dcol = forward
    white = render.AGENT_FILL_RGB
    assert centre(frame, 4, 4, dx=0.15 * dcol, dy=0.15 * drow) == white  # towards the tip
    assert centre(frame, 4, 4, dx=0.28 * drow, dy=0.28 * dcol) != white  # beside the tip
    assert centre(frame, 4, 4, dx=-0.2 * dcol + 0.2 * drow, dy=-0.2 * drow + 0.2 * dcol) == white  # the wide back


def test_view_overlay_tints_colour_range_and_outlines_type_range():
    """Check the tinted colour range and the outlined type range for two headings."""
    # view_size 5, type_radius 1, colour_radius 3, agent at (4, 2) facing east
    episode = make_episode(
        positions=np.array([[4, 2]], np.int16),
        headings=np.array([0], np.int8),
        steps=0,
        view_size=5,
        type_radius=1,
        color_radius=3,
    )
    frame = render.render_frame(episode, 0, render.RenderOptions(trail_length=0))
    assert centre(frame, 4, 5) == TINTED_FLOOR  # 3 ahead: colour visible
    assert centre(frame, 4, 6) == FLOOR  # 4 ahead: past colour range
    assert centre(frame, 6, 4) == TINTED_FLOOR  # 2 ahead, 2 right (half the 5-cell view)
    assert centre(frame, 7, 4) == FLOOR  # 3 to the right: outside the 5-wide window
    assert centre(frame, 4, 1) == FLOOR  # behind the agent
    outline = render.TYPE_RANGE_RGB
    # type range: forward 0..1, lateral -1..1 -> rows 3..5, columns 2..3; outline on its border
    assert centre(frame, 3, 3, dy=-0.5 + 0.5 / CELL) == outline
    assert centre(frame, 5, 3, dx=0.5 - 0.5 / CELL) == outline
    assert centre(frame, 4, 3) == TINTED_FLOOR  # inside: tinted, not outlined
    north = render.render_frame(
        make_episode(
            positions=np.array([[4, 2]], np.int16),
            headings=np.array([3], np.int8),
            steps=0,
            view_size=5,
            type_radius=1,
            color_radius=3,
        ),
        0,
        render.RenderOptions(trail_length=0),
    )
    assert centre(north, 4, 5) == FLOOR  # east is now to the side, 3 cells: outside
    assert centre(north, 2, 2) == TINTED_FLOOR  # 2 ahead to the north


def test_view_rectangles_follow_the_documented_geometry():
    """Check the view rectangles of an agent facing south against the documented geometry."""
    episode = make_episode(view_size=7, type_radius=2, color_radius=6)
    colour, kind = render.view_rectangles(5, 5, 1, episode)  # facing south
    assert colour == (5, 2, 11, 8)
    assert kind == (5, 3, 7, 7)


def test_trail_fades_with_age_and_skips_the_current_cell():
    """Check that trail dots get brighter towards the present and stop at trail_length."""
    episode = make_episode(positions=walk_east(4, 1, 5, 5)[0], headings=np.zeros(6, np.int8))
    frame = render.render_frame(episode, 5, render.RenderOptions(show_view=False, trail_length=4))
    dots = [centre(frame, 4, col) for col in (1, 2, 3, 4)]
    assert dots[0] == FLOOR  # 5 steps ago: older than the trail
    brightness = [sum(dot) for dot in dots[1:]]
    assert brightness[0] < brightness[1] < brightness[2]  # newer dots are brighter
    assert centre(frame, 4, 6) == render.AGENT_FILL_RGB


def test_hidden_state_bars_go_up_for_positive_and_down_for_negative():
    """Check the hidden-state strip: bar direction, length and the state shown per step."""
    hidden = np.zeros((3, 4), np.float32)
    hidden[1] = (0.9, -0.9, 0.0, 0.5)
    episode = make_episode(positions=walk_east(4, 2, 3, 3)[0], headings=np.zeros(4, np.int8), hidden=hidden)
    layout = render.frame_layout(episode)
    frame = render.render_frame(episode, 2)  # state after 2 steps = hidden[1]
    left, top, right, bottom = layout.hidden_box
    zero = top + render.HIDDEN_STRIP_HEIGHT // 2
    x = [left + unit * layout.hidden_bar_width + 1 for unit in range(4)]
    assert tuple(frame[zero - 10, x[0]]) == render.POSITIVE_BAR_RGB
    assert tuple(frame[zero + 10, x[0]]) != render.NEGATIVE_BAR_RGB
    assert tuple(frame[zero + 10, x[1]]) == render.NEGATIVE_BAR_RGB
    assert tuple(frame[zero - 10, x[1]]) != render.POSITIVE_BAR_RGB
    assert tuple(frame[zero - 10, x[2]]) != render.POSITIVE_BAR_RGB
    assert (
        tuple(frame[zero - 28, x[0]]) == render.POSITIVE_BAR_RGB
        and tuple(frame[zero - 28, x[3]]) != render.POSITIVE_BAR_RGB
    )
    at_start = render.render_frame(episode, 0)
    assert tuple(at_start[zero - 10, x[0]]) != render.POSITIVE_BAR_RGB  # zeros before the first step


def test_panel_text_changes_with_step_and_outcome_text():
    """Check the panel changes with the step, the outcome phrases and the panel-free frame."""
    episode = make_episode()
    layout = render.frame_layout(episode)
    first, last = render.render_frame(episode, 0), render.render_frame(episode, episode.steps)
    assert first.shape == (layout.height, layout.width, 3)
    assert not np.array_equal(first[:, layout.panel_left :], last[:, layout.panel_left :])
    assert render.outcome_text(TILE_DOOR, COLOR_RED) == "entered red door"
    assert render.outcome_text(TILE_BALL, COLOR_RED) == "entered red ball"
    assert render.outcome_text(TILE_EMPTY, 0) == "timeout"
    without_panel = render.render_frame(episode, 0, render.RenderOptions(show_panel=False))
    assert without_panel.shape == (9 * CELL, 9 * CELL, 3)
    assert np.array_equal(without_panel, first[: 9 * CELL, : 9 * CELL])


def test_help_overlay_darkens_the_frame():
    """Check that the help overlay darkens the frame without resizing it."""
    episode = make_episode()
    plain = render.render_frame(episode, 0)
    helped = render.render_frame(episode, 0, render.RenderOptions(help_lines=("space  play/pause",)))
    assert helped.shape == plain.shape
    assert helped[-5:, :].mean() < plain[-5:, :].mean()


def test_episode_view_cuts_the_right_episode_and_reads_view_settings():
    """Check that episode e maps to lifetime e // K and reads the world's view settings."""
    replay = make_replay()
    assert render.episode_count(replay) == 4
    view = render.episode_view(replay, 3)  # lifetime 1, episode 1
    assert (view.lifetime, view.episode_in_lifetime, view.index, view.episode_count) == (1, 1, 3, 4)
    assert np.array_equal(view.grid, replay.grids[1])
    assert view.steps == 5 and view.entered_tile == TILE_DOOR and view.entered_color == COLOR_BLUE
    assert (view.view_size, view.type_radius, view.color_radius) == (5, 1, 3)
    assert view.hidden.shape == (8, 5) and view.title == "render-test"
    frame = render.render_frame(view, view.steps)
    assert centre(frame, 3, 7) == rgb(COLOR_BLUE)
    with pytest.raises(UsageError, match="out of range"):
        render.episode_view(replay, 4)


def test_bad_world_text_in_a_replay_is_a_config_error():
    """Check that malformed world text in a replay raises ConfigError naming it."""
    with pytest.raises(ConfigError, match="test.h5#/world"):
        render.episode_view(make_replay(world="[grid\nbroken"), 0)


def test_contact_sheet_tiles_the_chosen_steps():
    """Check the contact sheet's step choice, width and that it contains the first frame."""
    assert render.contact_sheet_steps(5, 24) == [0, 1, 2, 3, 4, 5]
    chosen = render.contact_sheet_steps(80, 9)
    assert chosen[0] == 0 and chosen[-1] == 80 and len(chosen) == 9
    view = render.episode_view(make_replay(), 0)
    sheet = render.contact_sheet(view, columns=3)
    tile = render.render_frame(view, 0, render.RenderOptions(cell_size=16, show_panel=False))
    tile_height, tile_width = tile.shape[:2]
    assert sheet.shape[1] == 3 * tile_width + 4 * 4
    found = any(
        np.array_equal(sheet[top : top + tile_height, 4 : 4 + tile_width], tile)
        for top in range(sheet.shape[0] - tile_height)
    )
    assert found


def test_export_png_writes_the_frame_and_refuses_to_overwrite(tmp_path):
    """Check a PNG export reads back as the frame, and an existing file is kept unless overwrite."""
    replay = make_replay()
    path = tmp_path / "frame.png"
    render.export_png(replay, path, episode=2)
    view = render.episode_view(replay, 2)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), render.render_frame(view, view.steps))
    before = path.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        render.export_png(replay, path, episode=0)
    assert path.read_bytes() == before
    render.export_png(replay, path, episode=0, step=1, overwrite=True)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), render.render_frame(render.episode_view(replay, 0), 1))
    assert sorted(os.listdir(tmp_path)) == ["frame.png"]  # no temporary files left


def test_export_png_contact_sheet(tmp_path):
    """Check that a contact-sheet PNG reads back as contact_sheet's image."""
    replay = make_replay()
    path = tmp_path / "sheet.png"
    render.export_png(replay, path, episode=1, sheet=True)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), render.contact_sheet(render.episode_view(replay, 1)))


@pytest.mark.parametrize(
    "name, message",
    [("frame.jpg", "unknown extension"), ("missing/frame.png", "does not exist"), ("frame", "unknown extension")],
)
def test_bad_export_paths_are_usage_errors(tmp_path, name, message):
    """Check that unknown extensions and missing folders raise UsageError and create nothing."""
    with pytest.raises(UsageError, match=message):
        render.export_png(make_replay(), tmp_path / name)
    assert not (tmp_path / "missing").exists()


def test_export_gif_animates_the_episode(tmp_path):
    """Check a GIF export: one frame per step, its delay, its colours and the moving agent."""
    replay = make_replay()
    path = tmp_path / "episode.gif"
    render.export_gif(replay, path, episode=0, fps=10)
    view = render.episode_view(replay, 0)
    with Image.open(path) as image:
        assert image.n_frames == view.steps + 1
        assert image.info["duration"] == 100
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")).astype(int))
    expected_first = render.render_frame(view, 0).astype(int)
    assert np.abs(frames[0] - expected_first).max() <= 8
    assert np.abs(np.array(centre(frames[0], 2, 7)) - np.array(rgb(COLOR_RED))).max() <= 8
    white = np.array(render.AGENT_FILL_RGB)
    assert np.abs(np.array(centre(frames[0], 2, 1)) - white).max() <= 8
    assert np.abs(np.array(centre(frames[3], 2, 4)) - white).max() <= 8
    assert np.abs(np.array(centre(frames[3], 2, 1)) - white).max() > 8
    with pytest.raises(UsageError, match="already exists"):
        render.export_gif(replay, path)
    with pytest.raises(UsageError, match="fps"):
        render.export_gif(replay, tmp_path / "other.gif", fps=0)


def replay_from_engine(world_path, policy, lifetimes=2):
    """Play a scripted policy with the real engine and lay its recording out as a replay file does."""
    from evosandbox.config import load_world
    from evosandbox.simulate import level_seeds_for, rollout

    spec = load_world(world_path)
    played = rollout(spec, policy, level_seeds_for(3, lifetimes), seed=3, record=True)
    per_episode = (
        "positions",
        "headings",
        "actions",
        "rewards",
        "hidden",
        "steps",
        "entered_tile",
        "entered_color",
        "returns",
    )
    arrays = {name: getattr(played, name)[0] for name in per_episode}  # individual 0 of P = 1
    return SimpleNamespace(
        path=world_path, world=spec.source_text, world_name=spec.name, policy=policy, grids=played.grids, **arrays
    )


@pytest.mark.parametrize(
    "world, policy, target",
    [
        ("worlds/red-doors-train.toml", "door-seeker", (TILE_DOOR, COLOR_RED)),
        ("worlds/test-blue-door-red-decoy.toml", "color-seeker:red", (None, COLOR_RED)),
    ],
)
def test_engine_episodes_end_facing_what_they_entered(world, policy, target):
    """Check real engine episodes: final frame shows the agent facing the thing it entered."""
    replay = replay_from_engine(os.path.join(os.path.dirname(__file__), "..", world), policy)
    for episode in range(render.episode_count(replay)):
        view = render.episode_view(replay, episode)
        tile, color = int(view.entered_tile), int(view.entered_color)
        assert color == target[1] and (target[0] is None or tile == target[0])
        assert render.outcome_text(tile, color).startswith("entered red ")
        frame = render.render_frame(view, view.steps)
        row, col = (int(v) for v in view.positions[view.steps])
        drow, dcol = (int(v) for v in HEADING_DELTA[int(view.headings[view.steps])])
        entered = (row + drow, col + dcol)
        assert tuple(view.grid[entered]) == (tile, color)
        assert centre(frame, row, col, dx=0.15 * dcol, dy=0.15 * drow) == render.AGENT_FILL_RGB
        if tile == TILE_DOOR:
            assert centre(frame, *entered) == rgb(COLOR_RED)
        start = render.render_frame(view, 0)
        assert not np.array_equal(start[: view.grid.shape[0] * CELL], frame[: view.grid.shape[0] * CELL])


def test_fit_cell_size_keeps_large_grids_screen_sized():
    """Check the cell size shrinks with the grid, between 8 and 32 pixels."""
    assert render.fit_cell_size(9, 9) == 32
    assert render.fit_cell_size(31, 31) == 23
    assert render.fit_cell_size(64, 40) == 11
    assert render.fit_cell_size(200, 200) == 8


def test_many_hidden_units_wrap_into_rows_below_the_text():
    """Check a wide controller's strip wraps into rows that fit the frame below the text."""
    hidden = np.linspace(-1, 1, 3 * 300, dtype=np.float32).reshape(3, 300)
    episode = make_episode(positions=walk_east(4, 2, 3, 3)[0], headings=np.zeros(4, np.int8), hidden=hidden)
    layout = render.frame_layout(episode)
    left, top, right, bottom = layout.hidden_box
    rows = -(-300 // layout.hidden_per_row)
    assert rows > 1 and layout.hidden_bar_width >= render.HIDDEN_BAR_MINIMUM_WIDTH
    assert top >= 2 * render.PANEL_MARGIN + render.LINE_HEIGHT * (render.PANEL_TEXT_LINES + 1)
    assert bottom - top == rows * render.HIDDEN_STRIP_HEIGHT and bottom <= layout.height and right <= layout.width
    frame = render.render_frame(episode, 3)
    last_row_zero = top + (rows - 1) * render.HIDDEN_STRIP_HEIGHT + render.HIDDEN_STRIP_HEIGHT // 2
    last_unit = left + ((300 - 1) % layout.hidden_per_row) * layout.hidden_bar_width
    assert tuple(frame[last_row_zero - 10, last_unit]) == render.POSITIVE_BAR_RGB  # hidden[2, 299] = +1

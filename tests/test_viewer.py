"""The pygame viewer under SDL_VIDEODRIVER=dummy (keys posted as events) and the `view` command."""

import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402
from test_render import make_replay  # noqa: E402

from evosandbox import render  # noqa: E402
from evosandbox.cli import main  # noqa: E402
from evosandbox.commands import view as view_command  # noqa: E402
from evosandbox.constants import COLOR_RGB, TILE_DOOR  # noqa: E402
from evosandbox.errors import UsageError  # noqa: E402
from evosandbox.viewer import HELP_LINES, Viewer, display_problem  # noqa: E402


@pytest.fixture
def dummy_display(monkeypatch):
    """Run pygame's display on the invisible dummy driver for one test."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.display.init()
    yield
    pygame.display.quit()


@pytest.fixture
def viewer(dummy_display, tmp_path):
    """A viewer over a 2 x 2 episode replay with its (invisible) window open."""
    opened = Viewer(make_replay(), fps=8, cell_size=16, screenshot_folder=tmp_path, screenshot_stem="test")
    opened.open()
    return opened


def press(*keys):
    """Post a KEYDOWN event for each key."""
    for key in keys:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))


def surface_pixels(surface):
    """Return a surface's pixels as (height, width, 3) like render.py's frames."""
    return pygame.surfarray.array3d(surface).swapaxes(0, 1)


def test_stepping_keys_move_through_the_episode(viewer):
    """Check left, right, home and end keys, clipped to the episode."""
    press(pygame.K_RIGHT, pygame.K_RIGHT)
    viewer.process_events()
    assert viewer.step == 2 and not viewer.playing
    press(pygame.K_LEFT)
    viewer.process_events()
    assert viewer.step == 1
    press(pygame.K_END)
    viewer.process_events()
    assert viewer.step == viewer.last_step == 4
    press(pygame.K_RIGHT)
    viewer.process_events()
    assert viewer.step == 4  # clipped at the end
    press(pygame.K_HOME, pygame.K_LEFT)
    viewer.process_events()
    assert viewer.step == 0


def test_page_keys_change_episode_and_reset_the_step(viewer):
    """Check page up/down change episode, reset the step and clip at the ends."""
    press(pygame.K_RIGHT, pygame.K_PAGEDOWN)
    viewer.process_events()
    assert (viewer.episode, viewer.step) == (1, 0)
    assert viewer.view.index == 1 and viewer.last_step == 5
    press(pygame.K_PAGEDOWN, pygame.K_PAGEDOWN, pygame.K_PAGEDOWN)
    viewer.process_events()
    assert viewer.episode == 3  # clipped at the last episode
    press(pygame.K_PAGEUP)
    viewer.process_events()
    assert viewer.episode == 2 and np.array_equal(viewer.view.grid, make_replay().grids[1])


def test_space_plays_and_playback_pauses_at_the_end(viewer):
    """Check space toggles playback, time advances steps at speed, the end pauses."""
    press(pygame.K_SPACE)
    viewer.process_events()
    assert viewer.playing
    viewer.advance(0.25)  # 8 steps/s
    assert viewer.step == 2
    viewer.advance(0.1)
    assert viewer.step == 2  # 0.8 of a step carried over
    viewer.advance(0.05)
    assert viewer.step == 3
    viewer.advance(10.0)
    assert viewer.step == viewer.last_step and not viewer.playing
    press(pygame.K_SPACE)
    viewer.process_events()
    assert viewer.playing and viewer.step == 0  # play at the end starts over
    press(pygame.K_SPACE)
    viewer.process_events()
    assert not viewer.playing


def test_speed_keys_move_between_speeds(viewer):
    """Check up/down and +/- move along the speed ladder and stop at its ends."""
    assert viewer.speed == 8
    press(pygame.K_UP)
    viewer.process_events()
    assert viewer.speed == 15
    press(pygame.K_EQUALS, pygame.K_KP_PLUS)
    viewer.process_events()
    assert viewer.speed == 60
    press(pygame.K_UP)
    viewer.process_events()
    assert viewer.speed == 60
    press(pygame.K_DOWN, pygame.K_MINUS, pygame.K_KP_MINUS)
    viewer.process_events()
    assert viewer.speed == 8


def test_help_key_toggles_the_overlay_on_the_surface(viewer):
    """Check h shows the help overlay on the surface and h again removes it."""
    viewer.draw()
    plain = surface_pixels(viewer._surface)
    press(pygame.K_h)
    viewer.process_events()
    assert viewer.show_help
    assert viewer.options().help_lines == HELP_LINES
    assert viewer.draw()
    helped = surface_pixels(viewer._surface)
    assert helped.mean() < plain.mean()
    press(pygame.K_h)
    viewer.process_events()
    viewer.draw()
    assert np.array_equal(surface_pixels(viewer._surface), plain)


@pytest.mark.parametrize("key", [pygame.K_q, pygame.K_ESCAPE])
def test_quit_keys_stop_the_viewer(viewer, key):
    """Check q and escape stop the viewer."""
    press(key)
    viewer.process_events()
    assert not viewer.running


def test_closing_the_window_stops_the_viewer(viewer):
    """Check that closing the window stops the viewer."""
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    viewer.process_events()
    assert not viewer.running


def test_surface_shows_exactly_the_rendered_frame(viewer):
    """Check the window surface equals render.py's frame pixel for pixel."""
    press(pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_PAGEDOWN, pygame.K_RIGHT)
    viewer.process_events()
    assert viewer.draw()
    shown = surface_pixels(viewer._surface)
    expected = render.render_frame(render.episode_view(viewer.replay, 1), 1, viewer.options())
    assert np.array_equal(shown, expected)
    assert viewer._surface.get_size() == (expected.shape[1], expected.shape[0])
    assert not viewer.draw()  # nothing changed: no redraw


def test_screenshot_saves_a_png_and_never_overwrites(viewer, tmp_path):
    """Check s saves the frame as PNG and a second shot takes a new name."""
    press(pygame.K_RIGHT, pygame.K_s)
    viewer.process_events()
    first = tmp_path / "test-episode0-step1.png"
    with Image.open(first) as image:
        saved = np.asarray(image.convert("RGB"))
    expected = render.render_frame(render.episode_view(viewer.replay, 0), 1, render.RenderOptions(cell_size=16))
    assert np.array_equal(saved, expected)
    assert viewer.message == f"saved {first}"
    before = first.read_bytes()
    press(pygame.K_s)
    viewer.process_events()
    assert (tmp_path / "test-episode0-step1-1.png").exists()
    assert first.read_bytes() == before


def test_run_handles_posted_keys_and_returns_on_quit(dummy_display, tmp_path):
    """Check the run loop handles posted keys and returns 0 on q."""
    running = Viewer(make_replay(), cell_size=8, screenshot_folder=tmp_path)
    pygame.display.init()
    press(pygame.K_RIGHT, pygame.K_PAGEDOWN, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_q)
    assert running.run(max_ticks=50) == 0
    assert (running.episode, running.step, running.running) == (1, 2, False)


def test_run_plays_in_real_time(dummy_display):
    """Check the run loop plays an episode to its end at the set speed."""
    running = Viewer(make_replay(), fps=60, cell_size=8)
    pygame.display.init()
    press(pygame.K_SPACE)
    running.run(max_ticks=30)  # about half a second at 60 ticks/s: the 4-step episode ends
    assert running.step == running.last_step and not running.playing


def test_viewer_rejects_bad_episode_and_speed():
    """Check that an out-of-range episode or a zero speed raise UsageError."""
    with pytest.raises(UsageError, match="out of range"):
        Viewer(make_replay(), episode=4)
    with pytest.raises(UsageError, match="positive"):
        Viewer(make_replay(), fps=0)


def test_display_problem_needs_a_display_only_on_linux():
    """Check when a missing display is reported."""
    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"SDL_VIDEODRIVER": "dummy"}, "linux") is None
    assert display_problem({}, "darwin") is None


# The `view` command. Flag checks run before the replay is read; the export tests swap in the
# numpy replay for the file reader (the file round trip is tested where replay files are written).


def test_command_without_display_suggests_export(monkeypatch, capsys, tmp_path):
    """Check that view without a display exits 2 with one line suggesting --export."""
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["view", str(tmp_path / "replay.h5")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no display" in error and "--export" in error


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--export", "out.jpg"], "unknown extension"),
        (["--export", "out.gif", "--contact-sheet"], "--contact-sheet: needs --export FILE.png"),
        (["--export", "out.png", "--fps", "0"], "--fps: must be positive"),
        (["--export", "out.gif", "--step", "2"], "--step: only applies"),
        (["--export", "nowhere/out.png"], "does not exist"),
    ],
)
def test_command_rejects_bad_flags_in_one_line(tmp_path, capsys, monkeypatch, flags, message):
    """Check that bad flags exit 2 with one line naming the flag."""
    monkeypatch.chdir(tmp_path)
    assert main(["view", "replay.h5", *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and message in error and "Traceback" not in error


def test_command_exports_png_gif_and_sheet(tmp_path, capsys, monkeypatch):
    """Check the command's PNG, GIF and contact-sheet exports read back correctly."""
    replay = make_replay()
    monkeypatch.setattr(view_command, "_read", lambda path: replay)
    png, gif, sheet = tmp_path / "frame.png", tmp_path / "episode.gif", tmp_path / "sheet.png"
    assert main(["view", "replay.h5", "--episode", "1", "--export", str(png), "--step", "2", "--cell-size", "10"]) == 0
    with Image.open(png) as image:
        expected = render.render_frame(render.episode_view(replay, 1), 2, render.RenderOptions(cell_size=10))
        assert np.array_equal(np.asarray(image.convert("RGB")), expected)
    assert main(["view", "replay.h5", "--export", str(gif), "--fps", "4"]) == 0
    with Image.open(gif) as image:
        assert image.n_frames == 5 and image.info["duration"] == 250
    assert main(["view", "replay.h5", "--export", str(sheet), "--contact-sheet"]) == 0
    with Image.open(sheet) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), render.contact_sheet(render.episode_view(replay, 0)))
    assert "wrote" in capsys.readouterr().out


def test_command_refuses_to_overwrite_without_force(tmp_path, capsys, monkeypatch):
    """Check an existing export is kept without --force and replaced with it."""
    replay = make_replay()
    monkeypatch.setattr(view_command, "_read", lambda path: replay)
    png = tmp_path / "frame.png"
    png.write_bytes(b"earlier work")
    assert main(["view", "replay.h5", "--export", str(png)]) == 2
    assert (
        "--export: " in (err := capsys.readouterr().err)
        and "already exists; pass --force" in err
        and png.read_bytes() == b"earlier work"
    )
    assert main(["view", "replay.h5", "--export", str(png), "--force"]) == 0
    with Image.open(png) as image:
        assert image.format == "PNG"


def test_command_rejects_an_episode_out_of_range(tmp_path, capsys, monkeypatch):
    """Check an out-of-range --episode exits 2 and writes nothing."""
    monkeypatch.setattr(view_command, "_read", lambda path: make_replay())
    assert main(["view", "replay.h5", "--episode", "9", "--export", str(tmp_path / "x.png")]) == 2
    assert "--episode: 9 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_command_opens_the_window_on_the_dummy_driver(monkeypatch):
    """Check the command opens the viewer with --episode and --fps and quits on q."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(view_command, "_read", lambda path: make_replay())
    real_run = Viewer.run
    seen = []

    def run_with_keys(self, max_ticks=None):
        """Post a right arrow and q, then run the real loop."""
        pygame.display.init()
        press(pygame.K_RIGHT, pygame.K_q)
        seen.append(self)
        return real_run(self, max_ticks=100)

    monkeypatch.setattr(Viewer, "run", run_with_keys)
    assert main(["view", "replay.h5", "--episode", "2", "--fps", "4"]) == 0
    (viewer,) = seen
    assert (viewer.episode, viewer.step, viewer.speed, viewer.running) == (2, 1, 4.0, False)


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory):
    """Record two door-seeker episodes with the engine and write them with the replay file writer."""
    from evosandbox.config import load_world
    from evosandbox.runfile.replay import write_replay
    from evosandbox.simulate import level_seeds_for, rollout

    spec = load_world(os.path.join(os.path.dirname(__file__), "..", "worlds", "red-doors-train.toml"))
    played = rollout(spec, "door-seeker", level_seeds_for(5, 2), seed=5, record=True)
    path = tmp_path_factory.mktemp("replays") / "doors.h5"
    return write_replay(path, played, spec, source="policy:door-seeker", policy="door-seeker")


def test_command_exports_a_real_replay_file(replay_file, tmp_path):
    """Check PNG and GIF exports of a file written by write_replay show its door in red."""
    from evosandbox.runfile.replay import read_replay

    png, gif = tmp_path / "frame.png", tmp_path / "episode.gif"
    assert main(["view", str(replay_file), "--episode", "1", "--export", str(png)]) == 0
    view = render.episode_view(read_replay(replay_file), 1)
    options = render.RenderOptions(cell_size=render.fit_cell_size(*view.grid.shape[:2]))
    with Image.open(png) as image:
        shown = np.asarray(image.convert("RGB"))
    assert np.array_equal(shown, render.render_frame(view, view.steps, options))
    ((door_row, door_col),) = np.argwhere(view.grid[:, :, 0] == TILE_DOOR)
    cell = options.cell_size
    assert tuple(shown[door_row * cell + cell // 2, door_col * cell + cell // 2]) == tuple(
        COLOR_RGB[view.grid[door_row, door_col, 1]]
    )
    assert main(["view", str(replay_file), "--export", str(gif)]) == 0
    with Image.open(gif) as image:
        assert image.n_frames == render.episode_view(read_replay(replay_file), 0).steps + 1


def test_viewer_over_a_real_replay_file(replay_file, dummy_display):
    """Check the window over a read replay file pages through its episodes and shows render.py's frame."""
    from evosandbox.runfile.replay import read_replay

    shown_viewer = Viewer(read_replay(replay_file), cell_size=12)
    shown_viewer.open()
    press(pygame.K_PAGEDOWN, pygame.K_END)
    shown_viewer.process_events()
    assert (shown_viewer.episode, shown_viewer.step) == (1, shown_viewer.view.steps)
    shown_viewer.draw()
    expected = render.render_frame(shown_viewer.view, shown_viewer.step, shown_viewer.options())
    assert np.array_equal(surface_pixels(shown_viewer._surface), expected)


@pytest.mark.parametrize(
    "content, message", [(None, "no such file"), (b"not hdf5", "not a readable HDF5 file"), ("foreign", "format")]
)
def test_command_rejects_missing_corrupt_and_foreign_files(tmp_path, capsys, content, message):
    """Check a missing, corrupt or foreign replay exits 2 with one line naming the file and writes nothing."""
    import h5py

    path = tmp_path / "replay.h5"
    if content == "foreign":
        with h5py.File(path, "w") as handle:
            handle.attrs["format"] = "evosandbox-run"
    elif content is not None:
        path.write_bytes(content)
    assert main(["view", str(path), "--export", str(tmp_path / "out.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(path) in error and message in error
    assert not (tmp_path / "out.png").exists()

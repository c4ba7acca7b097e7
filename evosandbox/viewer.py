"""The pygame window over ``evosandbox.render``: play, step and page through a replay's episodes.

All drawing happens in ``render.render_frame``; the window only blits its numpy frames, so the
window shows pixel for pixel what ``evosandbox view --export`` writes. The ``Viewer`` keeps the
state (episode, step, playing, speed, help shown) and changes it in ``handle_event``, which is
what the tests drive by posting pygame events.
"""

import os
import sys
import time

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pygame  # noqa: E402

from evosandbox.errors import UsageError  # noqa: E402
from evosandbox.render import (  # noqa: E402
    RenderOptions,
    episode_count,
    episode_view,
    frame_layout,
    render_frame,
    save_png,
)

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
"""Playback speeds (steps per second) that up/down and +/- move between."""

HELP_LINES = (
    "evosandbox view: keys",
    "",
    ("space", "play / pause"),
    ("left, right", "step back / forward"),
    ("up, down, +, -", "faster / slower"),
    ("page up, page down", "previous / next episode"),
    ("home, end", "first / last step"),
    ("s", "save a screenshot (PNG)"),
    ("h", "show / hide this help"),
    ("q, esc", "quit"),
)

MESSAGE_SECONDS = 3.0
TICKS_PER_SECOND = 60


def display_problem(environment=None, platform=None):
    """Return why no window can open here (one line), or None when a display seems available.

    On Linux and the BSDs a window needs an X11 or Wayland display; a user who set
    ``SDL_VIDEODRIVER`` (for example ``dummy`` for an invisible window) has chosen deliberately.
    """
    environment = os.environ if environment is None else environment
    platform = sys.platform if platform is None else platform
    if not (platform.startswith("linux") or "bsd" in platform):
        return None
    if environment.get("SDL_VIDEODRIVER") or environment.get("DISPLAY") or environment.get("WAYLAND_DISPLAY"):
        return None
    return "no display found (DISPLAY and WAYLAND_DISPLAY are unset)"


class Viewer:
    """A replay viewer: state, key handling and a pygame loop that blits render.py frames."""

    def __init__(self, replay, episode=0, fps=8.0, cell_size=None, screenshot_folder=".", screenshot_stem="evosandbox"):
        """Hold a replay and start paused at step 0 of ``episode``.

        Args:
            replay: a Replay from ``read_replay`` (or an object with the replay file's arrays).
            episode: episode to show first.
            fps: initial playback speed in steps per second.
            cell_size: pixels per grid cell; None picks one that fits the screen.
            screenshot_folder: where the s key saves PNG files.
            screenshot_stem: start of screenshot file names (the replay's name).
        """
        self.replay = replay
        self.episode_total = episode_count(replay)
        if not 0 <= int(episode) < self.episode_total:
            raise UsageError(
                f"{episode} is out of range: the replay has {self.episode_total} episodes (0..{self.episode_total - 1})",
                field="episode",
            )
        if not fps > 0:
            raise UsageError(f"must be positive, got {fps}", field="fps")
        self.episode = int(episode)
        self.step = 0
        self.playing = False
        self.speeds = tuple(sorted(set(SPEEDS) | {float(fps)}))
        self.speed = float(fps)
        self.show_help = False
        self.running = True
        self.cell_size = cell_size
        self.screenshot_folder = os.fspath(screenshot_folder)
        self.screenshot_stem = screenshot_stem
        self.message = ""
        self._message_until = 0.0
        self._elapsed = 0.0
        self._view = None
        self._view_index = None
        self._surface = None
        self._shown_key = None

    @property
    def view(self):
        """Return the EpisodeView of the current episode (cut from the replay once per episode)."""
        if self._view_index != self.episode:
            self._view = episode_view(self.replay, self.episode)
            self._view_index = self.episode
        return self._view

    @property
    def last_step(self):
        """Return the final step of the current episode."""
        return self.view.steps

    def options(self, for_screenshot=False):
        """Return the RenderOptions for the current state (status lines, help overlay)."""
        cell = self.cell_size or 32
        if for_screenshot:
            return RenderOptions(cell_size=cell)
        state = "playing" if self.playing else "paused"
        status = [f"{state} at {self.speed:g} steps/s", "h: help"]
        if self.message and time.monotonic() < self._message_until:
            status.append(self.message)
        return RenderOptions(cell_size=cell, status=tuple(status), help_lines=HELP_LINES if self.show_help else ())

    def frame(self):
        """Render the current state with render.py."""
        return render_frame(self.view, self.step, self.options())

    def handle_event(self, event):
        """Change the state for one pygame event (keys as in HELP_LINES; window close quits)."""
        if event.type == pygame.QUIT:
            self.running = False
            return
        if event.type != pygame.KEYDOWN:
            return
        key = event.key
        if key in (pygame.K_q, pygame.K_ESCAPE):
            self.running = False
        elif key == pygame.K_SPACE:
            self.toggle_play()
        elif key == pygame.K_RIGHT:
            self.playing = False
            self.go_to_step(self.step + 1)
        elif key == pygame.K_LEFT:
            self.playing = False
            self.go_to_step(self.step - 1)
        elif key in (pygame.K_UP, pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.change_speed(+1)
        elif key in (pygame.K_DOWN, pygame.K_MINUS, pygame.K_KP_MINUS):
            self.change_speed(-1)
        elif key == pygame.K_PAGEDOWN:
            self.go_to_episode(self.episode + 1)
        elif key == pygame.K_PAGEUP:
            self.go_to_episode(self.episode - 1)
        elif key == pygame.K_HOME:
            self.go_to_step(0)
        elif key == pygame.K_END:
            self.playing = False
            self.go_to_step(self.last_step)
        elif key == pygame.K_s:
            self.screenshot()
        elif key == pygame.K_h:
            self.show_help = not self.show_help

    def toggle_play(self):
        """Start or stop playback; starting at the last step replays the episode from step 0."""
        if not self.playing and self.step >= self.last_step:
            self.step = 0
        self.playing = not self.playing
        self._elapsed = 0.0

    def go_to_step(self, step):
        """Show ``step``, clipped to 0..last step."""
        self.step = int(min(max(step, 0), self.last_step))

    def go_to_episode(self, episode):
        """Show step 0 of ``episode``, clipped to the replay's episodes (playback continues)."""
        episode = int(min(max(episode, 0), self.episode_total - 1))
        if episode != self.episode:
            self.episode = episode
            self.step = 0
            self._elapsed = 0.0

    def change_speed(self, direction):
        """Move to the next faster (+1) or slower (-1) playback speed."""
        index = self.speeds.index(self.speed) + direction
        self.speed = self.speeds[min(max(index, 0), len(self.speeds) - 1)]

    def advance(self, seconds):
        """Let ``seconds`` of wall time pass: while playing, step at ``speed`` and pause at the end."""
        if not self.playing:
            return
        self._elapsed += seconds * self.speed
        whole = int(self._elapsed)
        if whole:
            self._elapsed -= whole
            self.go_to_step(self.step + whole)
        if self.step >= self.last_step:
            self.playing = False
            self._elapsed = 0.0

    def screenshot(self):
        """Save the current frame (without overlays) as a PNG that never replaces an existing file; return its path."""
        base = os.path.join(self.screenshot_folder, f"{self.screenshot_stem}-episode{self.episode}-step{self.step}")
        path = f"{base}.png"
        number = 1
        while os.path.exists(path):
            path = f"{base}-{number}.png"
            number += 1
        try:
            save_png(render_frame(self.view, self.step, self.options(for_screenshot=True)), path)
            self.message = f"saved {path}"
        except (OSError, UsageError) as error:
            self.message = f"screenshot failed: {error}"
        self._message_until = time.monotonic() + MESSAGE_SECONDS
        return path

    def choose_cell_size(self):
        """Pick pixels per cell so the window fits the screen (32 when the screen size is unknown)."""
        if self.cell_size:
            return self.cell_size
        rows, columns = self.view.grid.shape[:2]
        info = pygame.display.Info()
        screen_width, screen_height = info.current_w, info.current_h
        if screen_width <= 0 or screen_height <= 0:
            return 32
        panel = RenderOptions().panel_width
        fit = min((screen_height - 120) // rows, (screen_width - panel - 80) // columns)
        return int(min(max(fit, 8), 48))

    def open(self):
        """Initialise pygame's display and open the window; return its surface."""
        pygame.display.init()
        self.cell_size = self.choose_cell_size()
        layout = frame_layout(self.view, self.options())
        self._surface = pygame.display.set_mode((layout.width, layout.height))
        pygame.display.set_caption(f"evosandbox view: {self.screenshot_stem}")
        pygame.key.set_repeat(300, 60)  # holding left/right scrubs through the episode
        self._shown_key = None
        return self._surface

    def process_events(self):
        """Handle every pending pygame event."""
        for event in pygame.event.get():
            self.handle_event(event)

    def draw(self, surface=None):
        """Blit the current frame onto the surface when the state changed since the last draw."""
        surface = surface or self._surface
        message_on = bool(self.message) and time.monotonic() < self._message_until
        key = (self.episode, self.step, self.playing, self.speed, self.show_help, self.message if message_on else "")
        if key == self._shown_key:
            return False
        frame = self.frame()
        height, width = frame.shape[:2]
        if surface.get_size() != (width, height):
            surface = self._surface = pygame.display.set_mode((width, height))
        image = pygame.image.frombuffer(np.ascontiguousarray(frame).tobytes(), (width, height), "RGB")
        surface.blit(image, (0, 0))
        self._shown_key = key
        return True

    def run(self, max_ticks=None):
        """Open the window and loop until quit (or ``max_ticks`` ticks); return exit code 0.

        Args:
            max_ticks: stop after this many loop iterations (None: until the user quits).

        Returns:
            0.
        """
        self.open()
        clock = pygame.time.Clock()
        ticks = 0
        try:
            while self.running and (max_ticks is None or ticks < max_ticks):
                self.process_events()
                if not self.running:
                    break
                self.advance(clock.tick(TICKS_PER_SECOND) / 1000.0)
                if self.draw():
                    pygame.display.flip()
                ticks += 1
        finally:
            pygame.display.quit()
            self._surface = None
        return 0

"""Shared fixtures: shipped worlds, a scratch world writer, headless pygame."""

import glob
import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORLD_PATHS = sorted(glob.glob(os.path.join(ROOT, "worlds", "*.toml")))


def world_path(name):
    """Return the path of a shipped world by name."""
    return os.path.join(ROOT, "worlds", f"{name}.toml")


@pytest.fixture
def write_world(tmp_path):
    """Write TOML text to a file in a scratch folder and return its path."""

    def write(text, name="world.toml"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write

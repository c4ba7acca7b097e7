"""Pins: the shipped worlds' rollouts stay bit-identical as the kernel gains features.

Each digest is the SHA-256 of a rollout's arrays as the kernel produced them before the
mesa-probe world features (payout colours, re-drawn layouts, thinking steps, new scripted
policies) were added; a feature that is off must change none of them. Refresh a digest only
when a change is meant to alter existing rollouts, and say so in the commit.
"""

import hashlib

import numpy as np
import pytest
from conftest import world_path

from evosandbox.config import load_world, parse_world
from evosandbox.controller import ControllerParams
from evosandbox.simulate import level_seeds_for, rollout
from evosandbox.worlds import controller_shape

LIFETIME_WORLD = """
[grid]
width = 9
height = 9
max_steps = 30
think_action = true
[observation]
view_size = 5
type_radius = 1
color_radius = 4
last_action = true
last_reward = true
[lifetime]
episodes = 3
[door]
colors = ["red", "blue"]
[[objects]]
kind = "ball"
colors = ["green", "red"]
count = 2
"""

FIELDS = (
    "entered_tile",
    "entered_color",
    "steps",
    "returns",
    "grids",
    "positions",
    "headings",
    "actions",
    "rewards",
    "hidden",
)

PINNED = {
    ("red-doors-train", "recurrent"): "948ae35811092b6f6123d8e0fb3cd62697874463034450a80746e7f310e7b335",
    ("red-doors-train", "feedforward"): "addbcbdfa463b30d86898f4cf5f2b38fd8a85187a1f73cefad36debfc9b463da",
    ("red-doors-train", "door-seeker"): "eb879fa63786c4bab3e358807983d2fe6b8a111d63884de8cdf317c54a79c4e9",
    ("red-doors-train", "color-seeker:red"): "eb879fa63786c4bab3e358807983d2fe6b8a111d63884de8cdf317c54a79c4e9",
    ("red-doors-train", "random"): "38f9a8d6756506e6eeea949093e3f0f2cb7cece4bdbc24dc0f83af0517b77c4f",
    ("red-doors-maze", "recurrent"): "37a1eff7f56db910dbf9b807d236d8bb5d66f59863b8bdb680387feaebc29f7c",
    ("red-doors-maze", "feedforward"): "53d2fa7480dc06023899876d76ace3be78500fbd04b8c97d1466ab1b848597cf",
    ("red-doors-maze", "door-seeker"): "4e94612a21a9856a7033149795852bd01cf494f263dcd82cec906f5dc898909c",
    ("red-doors-maze", "color-seeker:red"): "4e94612a21a9856a7033149795852bd01cf494f263dcd82cec906f5dc898909c",
    ("red-doors-maze", "random"): "1373de490ce4a7c8cdfb9587f38dade67351b14487a2d260f634248bf8d46b38",
    ("red-doors-rooms", "recurrent"): "79b24380c78c426667e439c2ead0371f70c1aade1759b2b9cd1fdb2615ac520f",
    ("red-doors-rooms", "feedforward"): "0be42ff6b6bb95cac613035950f5d545075c3a3e4ef2f0929fdb8e3799da73af",
    ("red-doors-rooms", "door-seeker"): "89437cc8c0950e40f26eac7ee74242eea0430c87fc00900d12fbca5c794a785a",
    ("red-doors-rooms", "color-seeker:red"): "89437cc8c0950e40f26eac7ee74242eea0430c87fc00900d12fbca5c794a785a",
    ("red-doors-rooms", "random"): "ac7129ab4adf9d35b0eb78955a6dc709624910167296c312aea1f5055e4b49b9",
    ("four-rooms-ascii", "recurrent"): "e0e48b1f65223aba834518041df19afb97fdb4d3000eef8a595f7745cd472032",
    ("four-rooms-ascii", "feedforward"): "bac70f8609c0d772f6abf6cfe7af737edfdffc8ba4eeaef63df4ab52b3fc42a2",
    ("four-rooms-ascii", "door-seeker"): "ce9e5023a791def779154db3bcb54a1347bbff788780ade693c4315e4bef36ee",
    ("four-rooms-ascii", "color-seeker:red"): "ce9e5023a791def779154db3bcb54a1347bbff788780ade693c4315e4bef36ee",
    ("four-rooms-ascii", "random"): "97f5c28e3dddf8c283a994e3282f08c91eadc239b7cc12d7d4784673501edd96",
    ("red-doors-decorrelated", "recurrent"): "5ab41f948795f9c723d930a71b787612a02ccc44374c4d37249db3e1c3f65d52",
    ("red-doors-decorrelated", "feedforward"): "4c9b872342a4fb99637be263d6d29223ef12812431417514ae45de277ae3b8c4",
    ("red-doors-decorrelated", "door-seeker"): "c6aa0d5098b4cf8502afc373568b7d131aca5104e6e9b63206fa0077202f3991",
    ("red-doors-decorrelated", "color-seeker:red"): "4d9bb8aa2db600a37dfa681d836f8d12bcd8e781c1aa3853144560f6a3aa9b24",
    ("red-doors-decorrelated", "random"): "09c1246c0309b1ed1bbc0171467f2764e18d87283dce7d03b7f5f41f052dc086",
    ("lifetime", "recurrent"): "742abf6e2695d0b0aa82a2e6b67d73a27183e7fb7a784f46294552ee82b68eab",
    ("lifetime", "feedforward"): "02f875cad781d3b42800e5b5b9afbb5bb1dec8ec745823215982e68e13d65b21",
    ("lifetime", "door-seeker"): "03d51a206107d28288dbb3a7ca3a0080f3667b30c1be28218f8466574ecfd5da",
    ("lifetime", "color-seeker:red"): "80f6df2c688e5d2992c81435057c0da6da8763abf89eb8f5feb473b09ff12b34",
    ("lifetime", "random"): "a90d8aeef9e5dddbe5f423dcd63cceeea6dfd61feb67bd0b5a9c2823b2995a15",
}


def _world(name):
    if name == "lifetime":
        import tomllib

        return parse_world(tomllib.loads(LIFETIME_WORLD), "lifetime.toml", LIFETIME_WORLD)
    return load_world(world_path(name))


def _policy(spec, name):
    if name in ("recurrent", "feedforward"):
        return ControllerParams.random(controller_shape(spec, 8, name == "recurrent"), 3, seed=11, scale=3.0)
    return name


def digest(world, policy):
    """Return the SHA-256 of a recorded rollout's arrays."""
    spec = _world(world)
    result = rollout(spec, _policy(spec, policy), level_seeds_for(3, 12), 17, record=True)
    hasher = hashlib.sha256()
    for name in FIELDS:
        array = np.ascontiguousarray(getattr(result, name))
        hasher.update(name.encode() + str(array.shape).encode() + str(array.dtype).encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


CASES = [
    (world, policy)
    for world in (
        "red-doors-train",
        "red-doors-maze",
        "red-doors-rooms",
        "four-rooms-ascii",
        "red-doors-decorrelated",
        "lifetime",
    )
    for policy in ("recurrent", "feedforward", "door-seeker", "color-seeker:red", "random")
]


@pytest.mark.parametrize("world,policy", CASES)
def test_rollout_is_bit_identical_to_the_pinned_digest(world, policy):
    assert digest(world, policy) == PINNED[world, policy]


if __name__ == "__main__":
    for case in CASES:
        print(f"    {case!r}: {digest(*case)!r},")

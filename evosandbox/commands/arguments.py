"""Argument types shared by the commands: a bad number is argparse's one line and exit 2, before anything runs."""

import argparse

from evosandbox.seeding import MAX_SEED


def seed(text):
    """Parse a seed flag: an integer within 0..MAX_SEED."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed lies within 0..{MAX_SEED} (2**63 - 1), got {text}")
    return value

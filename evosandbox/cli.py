"""The ``evosandbox`` command: argparse subcommands, each a thin call into the library.

Each subcommand lives in ``evosandbox/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit code).
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input (one line, no traceback).
"""

import argparse
import importlib
import sys

from evosandbox.errors import InputError

COMMAND_MODULES = ("evolve", "probe", "mesa", "replay", "view", "lineage", "export", "worlds", "sweep")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser():
    """Build the top-level parser with every available subcommand."""
    parser = _Parser(prog="evosandbox", description="Evolve gridworld agents and probe what they pursue.")
    from evosandbox import __version__

    parser.add_argument("--version", action="version", version=f"evosandbox {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"evosandbox.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"evosandbox.commands.{name}":
                continue  # that capability is not installed in this build
            raise
        module.register(subparsers)
    return parser


def main(argv=None):
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        sys.stderr.write(f"evosandbox {args.command}: {error.line()}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"evosandbox {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


def entry_point():
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()

"""The ``evosandbox`` command: argparse subcommands, each a thin call into the library.

Each subcommand lives in ``evosandbox/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit code).
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input (one line, no traceback).
A fault of the machine (a folder that cannot be written, a full disk, no memory) is one line
naming the path and the cause, exit 1.
"""

import argparse
import importlib
import os
import sys

from evosandbox.errors import InputError, environment_fault

# Set when a command ended on a fault of the machine: the process then exits without the
# interpreter's teardown, where h5py would retry (and report, or crash on) the failed writes.
_ended_on_fault = False

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
    except Exception as error:
        line = environment_fault(error)
        if line is None:
            raise
        global _ended_on_fault
        _ended_on_fault = True
        sys.unraisablehook = _ignore_unraisable  # open HDF5 objects fail again as they are freed
        run_dir = getattr(args, "resume", None) or getattr(args, "out", None)
        if args.command == "evolve" and run_dir and os.path.exists(os.path.join(run_dir, "checkpoint.pkl")):
            line += f"; the committed generations are kept: fix that, then evosandbox evolve --resume {run_dir}"
        sys.stderr.write(f"evosandbox {args.command}: {line}\n")
        return 1


def _ignore_unraisable(unraisable):
    """Drop an exception raised while an object is freed (after a fault already reported)."""


def entry_point():
    """Console-script entry point."""
    code = main()
    if _ended_on_fault:
        # What the run committed is on disk (as after a kill, which resume handles).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry_point()

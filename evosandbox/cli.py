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

from evosandbox.errors import InputError, damaged_file, environment_fault

# Set when a command ended on a fault of the machine: the process then exits without the
# interpreter's teardown, where h5py would retry (and report, or crash on) the failed writes.
_ended_on_fault = False
_exit_at_fault = False  # set by entry_point: a process (not a caller in Python) ends at a fault

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
        _announce_compiling(args)
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
        damage = damaged_file(error) if line is None else None
        if damage is not None:
            sys.stderr.write(f"evosandbox {args.command}: {damage}\n")
            return 2
        if line is None:
            raise
        global _ended_on_fault
        _ended_on_fault = True
        sys.unraisablehook = _ignore_unraisable  # open HDF5 objects fail again as they are freed
        run_dir = getattr(args, "resume", None) or getattr(args, "out", None)
        if args.command == "evolve" and run_dir and os.path.exists(os.path.join(run_dir, "checkpoint.pkl")):
            from evosandbox.evolution.checkpoint import checkpoint_generation

            # Not unfinished_start: opening the broken run file again here makes HDF5 free it noisily.
            if checkpoint_generation(os.path.join(run_dir, "checkpoint.pkl")) == 0:
                line += "; no generation was committed: fix that, then run the same command again"
            else:
                line += f"; the committed generations are kept: fix that, then evosandbox evolve --resume {run_dir}"
        sys.stderr.write(f"evosandbox {args.command}: {line}\n")
        if _exit_at_fault:
            # Leave now: the HDF5 objects this exception still holds would fail again as they
            # are freed, and print tracebacks of their own past the one line.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1


COMPILING_NOTICE = "evosandbox: compiling the rollout kernels (first run of this build only, about 20 s) ..."


def runs_agents(args):
    """Return whether a parsed command plays agents through the rollout kernel."""
    if args.command in ("evolve", "probe", "replay", "mesa", "sweep"):
        return True
    if args.command == "lineage":
        return bool(getattr(args, "reevaluate", False))
    return args.command == "worlds" and getattr(args, "action", None) == "baselines"


def _announce_compiling(args):
    """Say on a terminal that the first run compiles the kernels, when numba's cache holds none yet."""
    if not sys.stderr.isatty() or not runs_agents(args):
        return  # a log or a pipe gets only the command's own lines
    from evosandbox.kernels.cache import needs_compiling
    from evosandbox.kernels.rollout import rollout_kernel

    if needs_compiling(rollout_kernel):
        sys.stderr.write(COMPILING_NOTICE + "\n")
        sys.stderr.flush()


def _ignore_unraisable(unraisable):
    """Drop an exception raised while an object is freed (after a fault already reported)."""


def entry_point():
    """Console-script entry point."""
    global _exit_at_fault
    _exit_at_fault = True
    code = main()
    if _ended_on_fault:
        # What the run committed is on disk (as after a kill, which resume handles).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry_point()

"""Errors that the CLI turns into one clear line and exit code 2."""


class InputError(Exception):
    """Bad input a user can fix: a file, a field in it, and what is wrong."""

    def __init__(self, path, field, message):
        self.path = str(path) if path is not None else None
        self.field = field
        self.message = message
        super().__init__(self.line())

    def line(self):
        """Return the one-line description: ``FILE: field: message``."""
        parts = [p for p in (self.path, self.field) if p]
        return ": ".join(parts + [self.message])


class ConfigError(InputError):
    """A TOML spec (world, genome preset, experiment config) is malformed or impossible."""


class FileFormatError(InputError):
    """An HDF5 file is missing, corrupt, foreign, or of an unsupported schema version."""


class UsageError(InputError):
    """A command-line flag or argument combination is wrong."""

    def __init__(self, message, field=None):
        super().__init__(None, field, message)

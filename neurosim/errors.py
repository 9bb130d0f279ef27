"""Errors that the CLI turns into one line on stderr and exit code 2.

Every user-facing failure (bad config, missing or corrupt data, a network that
does not fit the chip) is raised as a :class:`NeurosimError` whose ``str`` is the
whole message: one line naming the file, the field path and what was expected.
"""

from __future__ import annotations

__all__ = ["NeurosimError", "ConfigError", "DataError", "MappingError"]


class NeurosimError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(NeurosimError):
    """A configuration file is missing, unparsable or fails validation."""

    def __init__(self, path: str, field: str, expected: str, line: int | None = None):
        self.path = str(path)
        self.field = field
        self.expected = expected
        self.line = line
        where = self.path if line is None else f"{self.path}:{line}"
        field_part = f" {field}:" if field else ""
        super().__init__(f"{where}:{field_part} {expected}".replace("\n", " "))


class DataError(NeurosimError):
    """A dataset file is missing, truncated or corrupt."""


class MappingError(NeurosimError):
    """The network cannot be placed on the configured chip."""

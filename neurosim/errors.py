"""Errors that the CLI turns into one line on stderr and exit code 2.

Every user-facing failure (bad config, missing or corrupt data, a network that
does not fit the chip) is raised as a :class:`NeurosimError` whose ``str`` is the
whole message: one line naming the file, the field path and what was expected.
"""

from __future__ import annotations

__all__ = ["NeurosimError", "ConfigError", "DataError", "MappingError", "PlanError", "EXIT_USAGE", "EXIT_DIVERGED"]

#: Exit status of bad input (config, data, a plan that cannot run): one line per problem on stderr.
EXIT_USAGE = 2
#: Exit status of a run that finished and wrote its results, but in which at least one
#: rule diverged (non-finite loss); that rule is marked ``diverged`` in every output.
EXIT_DIVERGED = 3


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
        #: Every problem found in the file (this one first), each a one-line ConfigError.
        self.problems: list[ConfigError] = [self]

    #: Most problem lines printed for one file (the rest are counted on one more line).
    MAX_LINES = 20

    @classmethod
    def many(cls, problems: "list[ConfigError]") -> "ConfigError":
        """One error carrying every problem of a file; ``str`` is one line per problem
        (the first MAX_LINES, then how many more)."""
        first = problems[0]
        err = cls(first.path, first.field, first.expected, first.line)
        err.problems = list(problems)
        lines = [str(p.args[0]) for p in problems[: cls.MAX_LINES]]
        if len(problems) > cls.MAX_LINES:
            lines.append(f"{first.path}: ... and {len(problems) - cls.MAX_LINES} more problems")
        err.args = ("\n".join(lines),)
        return err


class DataError(NeurosimError):
    """A dataset file is missing, truncated or corrupt."""


class MappingError(NeurosimError):
    """The network cannot be placed on the configured chip."""


class PlanError(NeurosimError):
    """The run as planned cannot complete (found by the preflight, before any training)."""

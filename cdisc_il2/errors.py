"""The few named exceptions of cdisc-il2; the CLI turns each into one clear line and an exit code."""
from __future__ import annotations


class CdiscIl2Error(Exception):
    """Base class: an error a user can act on, rendered without a traceback."""

    exit_code = 3


class UsageError(CdiscIl2Error):
    """The command was called wrongly (missing directory, unknown option value)."""

    exit_code = 2


class InputError(CdiscIl2Error):
    """An input file cannot be read or does not have the shape its spec declares."""

    exit_code = 3


class SpecError(CdiscIl2Error):
    """A mapping spec is malformed: names the spec file and the path inside it."""

    exit_code = 3

    def __init__(self, spec: str, path: str, message: str) -> None:
        self.spec, self.path = spec, path
        super().__init__(f"{spec}: at {path or '(top)'}: {message}")


class IncompleteOutput(CdiscIl2Error):
    """Everything that could be written was; some submission files could not be (each named with the records
    that prevent it). The package is incomplete."""

    exit_code = 5

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"the package is incomplete: {len(problems)} file(s) could not be written: "
                         + "; ".join(problems))

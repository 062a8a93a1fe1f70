"""Errors a user can read: every load error names the file, the row and the column."""

from __future__ import annotations

from dataclasses import dataclass


class UnifyError(Exception):
    """Base class of errors shown to users (CLI exit code 1, never a traceback)."""


class NotFound(UnifyError):
    """An unknown email, play, exclusion, sequence... asked for by a user."""


class PermissionDenied(UnifyError):
    """The acting user's role may not do this."""


class ValidationError(UnifyError):
    """A setting or an action's input is invalid."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file. ``row`` is 1-based as a spreadsheet shows it
    (the header is row 1 in a CSV); ``None`` when the problem is not tied to one row."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class LoadError(UnifyError):
    """A workspace or export failed to load. Nothing was written."""

    def __init__(self, problems: list[Problem], warnings: list[str] | tuple[str, ...] = ()):
        self.problems = list(problems)
        self.warnings = list(warnings)  # what the load noticed besides (files it left out, ...)
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"load failed, nothing was changed: {head}{more}")

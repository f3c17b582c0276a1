"""User-facing errors.

Every problem a user can fix (a bad file, a wrong column, inconsistent margins) is raised as
:class:`InputError`. The CLI turns it into one readable message and exit code 2; tracebacks are
shown only with ``--debug``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InputError(Exception):
    """A problem with user input that the user can fix.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    source : str, optional
        Where: a file name, possibly with row/column ("survey.csv, Zeile 12, Spalte 'sn1'").
    hint : str, optional
        How to fix it.
    """

    message: str
    source: str | None = None
    hint: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.source}: {self.message}" if self.source else self.message
        if self.hint:
            text += f" – {self.hint}"
        return text

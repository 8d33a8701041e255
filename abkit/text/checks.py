"""Checks on plain text shared by the readers of ids, transcripts and CSV files (pure)."""

from __future__ import annotations

import csv


def has_utf8_form(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8: a lone surrogate (bytes of the command line that were
    not UTF-8, or JSON's ``\\ud800``) has no UTF-8 form, so it can be neither hashed nor tokenised
    nor written to a UTF-8 file."""
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def csv_error_reason(error: csv.Error, unit: str = "line") -> str:
    """The csv module's error in a reader's words; ``unit`` names where it was found (line, row)."""
    if str(error) == "unexpected end of data":
        return f"a quoted field opened on this {unit} is never closed"
    return str(error)

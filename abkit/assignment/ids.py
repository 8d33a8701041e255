"""The one normalisation rule for ids, applied by every entry point before an id is hashed or stored.

An id is trimmed of leading and trailing whitespace, and nothing else: case, leading zeros,
inner spaces and the Unicode form are kept as given. "Whitespace" is the Unicode
``White_Space`` property, listed here exactly, so that Python (``str.strip``), polars
(``str.strip_chars``) and the HTTP schema trim the same characters (Python's own
``str.strip()`` would also remove U+001C..U+001F, which polars keeps).

So ``" adv-1"``, ``"adv-1\\t"`` and ``"adv-1"`` are one advocate everywhere: the service, ``abkit
assign`` (single and ``--file``), the simulator and the event store all see ``adv-1``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

# Unicode White_Space (PropList.txt): tab, LF, VT, FF, CR, space, NEL, NBSP, Ogham space,
# the U+2000..U+200A spaces, line and paragraph separators, narrow NBSP, medium math space,
# ideographic space.
ID_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def normalise_id(value: str) -> str:
    """``value`` without leading and trailing whitespace (:data:`ID_WHITESPACE`)."""
    return value.strip(ID_WHITESPACE)


def normalise_id_or_pass(value: Any) -> Any:
    """:func:`normalise_id` for strings; anything else is returned for the caller's type check."""
    return value.strip(ID_WHITESPACE) if isinstance(value, str) else value


def normalise_id_expr(expr: pl.Expr) -> pl.Expr:
    """The same rule as :func:`normalise_id`, on a polars string column."""
    return expr.str.strip_chars(ID_WHITESPACE)

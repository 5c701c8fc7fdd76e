"""LaTeX text helpers shared by every generator: escaping, macros and number formats.

A leaf: imports nothing from rlrepro, so the analysis modules may use it without importing the
table generators.
"""

from __future__ import annotations

import re

import pandas as pd

TEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "&": r"\&", "%": r"\%",
                "#": r"\#", "$": r"\$", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}
"""LaTeX's ten special characters and how they are typeset. '<' and '>' are ordinary characters
under the T1 font encoding that report/report.tex loads, so they are left as they are."""

_SPECIAL_PATTERN = re.compile("[" + re.escape("".join(TEX_SPECIALS)) + "]")
_BREAK = "\x00"
"""Placeholder for a break point, replaced by ``\\allowbreak{}`` after escaping."""


def tex_escape(text) -> str:
    """Plain text (anything, through ``str``) as LaTeX text: every special character escaped."""
    return _SPECIAL_PATTERN.sub(lambda m: TEX_SPECIALS[m[0]], str(text))


def breakable_tex(text) -> str:
    """:func:`tex_escape`, with break points in long identifiers (after underscores and slashes, at
    CamelCase joins) so that narrow table columns can wrap."""
    text = re.sub(r"[A-Za-z0-9_/-]{13,}", lambda m: _breakable(m[0]), str(text))
    return tex_escape(text).replace(_BREAK, r"\allowbreak{}")


def _breakable(word: str) -> str:
    word = re.sub(r"([_/])", "\\1" + _BREAK, word)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", _BREAK, word)


def macro(name: str, value) -> str:
    """``\\newcommand{\\name}{value}`` on one line."""
    return f"\\newcommand{{\\{name}}}{{{value}}}\n"


def define(name: str, body: str) -> str:
    """``\\newcommand`` of a multi-line body (a table, a list)."""
    return f"\\newcommand{{\\{name}}}{{%\n{body}}}\n"


def camel(name: str) -> str:
    """Macro prefix of a name: epmd_pendulum -> EpmdPendulum (non-letters separate words)."""
    return "".join(w.capitalize() for w in re.split(r"[^A-Za-z]+", name) if w)


def fmt(x: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals; '--' when missing."""
    return "--" if pd.isna(x) else f"{x:.{digits}f}"


def thousands(x) -> str:
    """An integer with LaTeX thousands separators: 1000000 -> 1{,}000{,}000."""
    return f"{int(x):,}".replace(",", "{,}")


def sci_tex(cell: str) -> str:
    """'2e-06' -> 2·10^-6 typeset (in text or math mode); other cells unchanged."""
    m = re.fullmatch(r"(-?[0-9.]+)e([+-][0-9]+)", cell)
    return f"\\ensuremath{{{m[1]}\\cdot10^{{{int(m[2])}}}}}" if m else cell

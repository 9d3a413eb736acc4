"""Tokens of the filter language: words (glued quoted and bare pieces), operators and punctuation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from expdesk.index.filter.errors import FilterError, col
from expdesk.index.filter.vocabulary import KEYWORDS

PUNCT = "(),<>=~"
QUOTES = "\"'"
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?", re.I | re.ASCII)
INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "op" | "(" | ")" | "," | "end"
    text: str  # as written
    pos: int
    # a word is glued pieces: (content, quoted, position), e.g. params."my key" -> ("params.", "my key")
    parts: tuple[tuple[str, bool, int], ...] = ()

    @property
    def keyword(self) -> str | None:
        if len(self.parts) == 1 and not self.parts[0][1] and self.text.lower() in KEYWORDS:
            return self.text.lower()
        return None

    def describe(self) -> str:
        return "the end" if self.kind == "end" else f"'{self.text}'"


def breaks_word(expr: str, i: int) -> bool:
    c = expr[i]
    return c.isspace() or c in PUNCT or (c == "!" and expr[i + 1 : i + 2] in ("=", "~"))


def _read_string(expr: str, start: int) -> tuple[str, int]:
    quote, i, out = expr[start], start + 1, []
    while i < len(expr):
        c = expr[i]
        if c == "\\" and i + 1 < len(expr) and expr[i + 1] in ("\\", '"', "'"):
            out.append(expr[i + 1])
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise FilterError(f"unterminated string starting at column {start + 1}", start, len(expr) - start)


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(expr)
    for j, c in enumerate(expr):
        # lone surrogates (undecodable argv bytes) cannot be bound as SQLite text
        if "\ud800" <= c <= "\udfff":
            raise FilterError(f"invalid character {c!r} at {col(j)}", j)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(Token(c, c, i))
            i += 1
        elif expr[i : i + 2] in ("<=", ">=", "!=", "!~", "=="):
            tokens.append(Token("op", expr[i : i + 2], i))
            i += 2
        elif c in "<>=~":
            tokens.append(Token("op", c, i))
            i += 1
        elif c == "!":
            raise FilterError(f"unexpected '!' at column {i + 1} (use 'not', '!=' or '!~')", i)
        else:
            start, parts = i, []
            while i < n and not breaks_word(expr, i):
                if expr[i] in QUOTES:
                    text, end = _read_string(expr, i)
                    parts.append((text, True, i))
                else:
                    end = i
                    while end < n and not breaks_word(expr, end) and expr[end] not in QUOTES:
                        end += 1
                    parts.append((expr[i:end], False, i))
                i = end
            tokens.append(Token("word", expr[start:i], start, tuple(parts)))
    tokens.append(Token("end", "", n))
    return tokens

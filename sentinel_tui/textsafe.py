"""Untrusted text (column names, values, file names, messages) made safe to print or draw.

``clean`` makes a string inert for a terminal: C0/C1 control characters (ESC starts every terminal
escape sequence) and bidirectional overrides are shown as visible ``\\xNN``/``\\uNNNN`` escapes.
Rich markup is handled where text is drawn: we build ``rich.text.Text`` objects, which never parse
markup, or call ``markup_escape`` for strings that must go through markup.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match[str]) -> str:
    c = m.group(0)
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def clean(text: object) -> str:
    """One line of text with every control or direction-changing character made visible."""
    return _UNSAFE.sub(_visible, str(text))


def fs_text(text: str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 (which Python keeps as lone surrogates) become
    ``\\xNN``. Such names can be opened but not stored in SQLite, JSON or a terminal as they are."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name's bytes
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def markup_escape(text: object) -> str:
    """``clean`` plus Rich markup escaping, for strings interpolated into Rich markup."""
    from rich.markup import escape

    return escape(clean(text))


def markdown_escape(text: object) -> str:
    """``clean`` plus escaping of the characters that change Markdown tables or render HTML."""
    s = clean(text)
    for ch in ("\\", "|", "`", "*", "_", "[", "]", "<", ">"):
        s = s.replace(ch, "\\" + ch)
    return s

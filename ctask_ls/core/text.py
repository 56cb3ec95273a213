"""Text the agent controls, made safe to print on a terminal: control characters become visible escapes.

File names, screen lines, commit subjects, and the messages that quote them,
can hold anything a file name or a commit subject can: ESC sequences that
clear the screen, set the window title or move the cursor, a carriage return
or a newline that forges a line of ctask's output, bidirectional overrides
that reorder what is shown.  :func:`terminal_safe` replaces each such
character with a visible escape (SPEC 9), so what the user sees is what is
there:

* a newline, a carriage return and a tab as ``\\n``, ``\\r`` and ``\\t``;
* every other C0 control (U+0000-U+001F, ESC and BEL among them), DEL
  (U+007F) and every C1 control (U+0080-U+009F) as ``\\xNN``;
* a byte that is not UTF-8, which Python keeps as a surrogate escape
  (U+DC80-U+DCFF), as ``\\xNN`` of that byte: written back raw it would be a C1
  control to an 8-bit terminal, or make the print fail;
* the bidirectional formatting characters (U+061C, U+200E, U+200F,
  U+202A-U+202E, U+2066-U+2069), the line and paragraph separators (U+2028,
  U+2029) and any other surrogate as ``\\uNNNN``.

Everything else, a backslash included, is left as it is: the escapes are for
people to read, not to be parsed back; ``--json`` output carries the exact
text (JSON escapes control characters itself).
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0xA0:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def terminal_safe(value: object) -> str:
    """``value`` as text with no terminal control character in it (see the module docstring)."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)

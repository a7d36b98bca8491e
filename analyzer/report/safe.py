"""Text from users' files (file, candidate, node and op names, and messages that quote them) made safe where it
lands: a spreadsheet and a terminal. JSON needs nothing of this: json.dumps escapes every control and non-ASCII
character (\u001b), so it stays exact and safe.

CSV, following OWASP's advice on CSV injection (https://owasp.org/www-community/attacks/CSV_Injection): a text
cell that begins with =, +, -, @, a tab, a carriage return or a line feed is prefixed with a single quote, so a
spreadsheet shows it as text instead of evaluating it as a formula; numbers stay numbers (the float -3.5, and text
that is exactly a decimal number such as '-3.5' or '1e-3', are written as they are). The csv module quotes cells
that hold the separator, a quote, a CR or a LF; rows end in CRLF (RFC 4180).

Terminal: C0 and C1 control characters (escape sequences that clear the screen or set the window title, a newline
that makes one error line look like two), DEL, and the bidirectional and line-separator format characters (which
reorder what is shown) are written as visible escapes: '\\x1b', '\\n', '\\u202e'. `SafeConsole` applies this to
every string rich renders, table cells and titles included.
"""

from __future__ import annotations

import csv
import re
from typing import IO, Any, Iterable

from rich.console import Console

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as it is: text that would start a formula gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(f: IO[str], header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    """Header and rows, every text cell through `csv_cell` (the header too: export's columns come from stored keys)."""
    # RFC 4180's CRLF: the writer quotes a cell holding any character of its line terminator, so a name with a
    # lone CR is quoted too (with "\n" alone it was written bare and split the row for every reader)
    w = csv.writer(f, lineterminator="\r\n")
    w.writerow([csv_cell(h) for h in header])
    for r in rows:
        w.writerow([csv_cell(v) for v in r])


def write_dict_csv(f: IO[str], fields: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """Rows as dicts, in the order of `fields` (missing keys empty, others left out)."""
    write_csv(f, fields, ([r.get(k, "") for k in fields] for r in rows))


def _escape(m: re.Match) -> str:
    ch = m.group(0)
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def terminal(text: str) -> str:
    """`text` with every control and reordering character written as a visible escape: one line stays one line."""
    return _CONTROL.sub(_escape, text)


def terminal_lines(text: str) -> str:
    """Multi-line text (CSV on a terminal): each line made safe, the line breaks kept."""
    return "\n".join(terminal(line) for line in text.split("\n"))


class SafeConsole(Console):
    """A rich console that shows every string it renders through `terminal`."""

    def render_str(self, text: str, **kwargs: Any):  # type: ignore[override]
        return super().render_str(terminal(text), **kwargs)

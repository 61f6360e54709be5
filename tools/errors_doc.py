"""Writes the table of error codes in docs/errors.md from ``sk.error_codes()`` (``make error-codes``).

The table sits between two marker comments; everything else in the file is left as it is.
tests/test_error_codes.py checks that the table in the file equals ``sk.error_codes()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import socialkpi as sk

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
START = "<!-- error codes: written by `make error-codes` (tools/errors_doc.py) from sk.error_codes() -->"
END = "<!-- end of error codes -->"


def table() -> str:
    rows = ["| code | exception | what it means |", "|---|---|---|"]
    for code, exception, description in sk.error_codes().iter_rows():
        rows.append(f"| `{code}` | `{exception}` | {description.replace('|', '&#124;')} |")
    return "\n".join(rows)


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{DOC} lacks the markers {START!r} and {END!r}", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{table()}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

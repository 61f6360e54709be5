"""The list of error codes: sk.error_codes(), the table in docs/errors.md made from it, and
that every code is raised by a test of the suite."""

from __future__ import annotations

import builtins
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from conftest import RAISED, ran_whole_suite

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
START = "<!-- error codes: written by `make docs` (tools/errors_doc.py) from sk.error_codes() -->"
END = "<!-- end of error codes -->"

# Codes no test can raise through the public API, each with why.
NOT_RAISED_BY_TESTS = {
    # a bug in socialkpi by definition (a caught panic): a test that raised it would be a bug
    ("internal_error", "EngineError"),
    # Ctrl-C is a KeyboardInterrupt, which carries no code; test_interrupt.py sends it to a
    # subprocess and checks that it arrives
    ("interrupted", "KeyboardInterrupt"),
}


def listed() -> set[tuple[str, str]]:
    return {(c, e) for c, e, _ in sk.error_codes().iter_rows()}


def test_error_codes_are_a_frame_of_code_exception_and_description():
    codes = sk.error_codes()
    assert codes.schema == pl.Schema({"code": pl.String, "exception": pl.String, "description": pl.String})
    assert codes.height == len(listed()), "a (code, exception) pair is listed twice"
    assert codes.sort("code", "exception").equals(codes)
    for code, exception, description in codes.iter_rows():
        assert code.replace("_", "").isalpha() and code.islower(), code
        assert description and description == description.strip(), code
        cls = getattr(sk, exception, None) or getattr(builtins, exception)
        assert issubclass(cls, sk.KpiError) or cls is KeyboardInterrupt, (code, exception)
    assert "error_codes" in sk.__all__


def test_the_codes_the_docs_list_are_sk_error_codes():
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text, "docs/errors.md lost the markers of its table of codes"
    lines = text.split(START, 1)[1].split(END, 1)[0].strip().splitlines()
    assert lines[:2] == ["| code | exception | what it means |", "|---|---|---|"]
    rows = []
    for line in lines[2:]:
        code, exception, description = (c.strip() for c in line.strip("|").split(" | "))
        rows.append((code.strip("`"), exception.strip("`"), description.replace("&#124;", "|")))
    assert rows == list(sk.error_codes().iter_rows()), "run `make docs` to write the table again"


def test_every_code_is_raised_by_a_test(request):
    """Runs last (conftest.py moves it): RAISED holds what the tests before it caught."""
    unlisted = RAISED - listed()
    assert not unlisted, f"raised but not in sk.error_codes() (crates/engine/src/error.rs): {sorted(unlisted)}"
    if not ran_whole_suite(request.config):
        pytest.skip("judged only when the whole suite runs (no file, node id, -k or -m chosen)")
    missing = listed() - NOT_RAISED_BY_TESTS - RAISED
    assert not missing, f"no test raises (with pytest.raises) these codes: {sorted(missing)}"

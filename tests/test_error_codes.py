"""The list of error codes: sk.error_codes(), the table in docs/errors.md made from it, and
that every code is raised by a test of the suite."""

from __future__ import annotations

import builtins
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from conftest import RAISED, ran_whole_suite

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
START = "<!-- error codes: written by `make error-codes` (tools/errors_doc.py) from sk.error_codes() -->"
END = "<!-- end of error codes -->"

# Codes no test can raise through the public API, each with why.
NOT_RAISED_BY_TESTS = {
    # a bug in socialkpi by definition (a caught panic): a test that raised it would be a bug
    ("internal_error", "EngineError"),
    # Ctrl-C is a KeyboardInterrupt, which carries no code; test_interrupt.py sends it to a
    # subprocess and checks that it arrives
    ("interrupted", "KeyboardInterrupt"),
    # a polars failure socialkpi does not explain yet: each one found becomes a typed code (the
    # last one, a Parquet file garbled inside, is now unreadable_file), so no input raises it
    ("engine_error", "EngineError"),
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
    assert rows == list(sk.error_codes().iter_rows()), "run `make error-codes` to write the table again"


def test_every_code_is_raised_by_a_test(request):
    """Runs last (conftest.py moves it): RAISED holds what the tests before it caught."""
    unlisted = RAISED - listed()
    assert not unlisted, (
        f"raised but not in sk.error_codes() (crates/engine/src/codes.rs): {sorted(unlisted)}"
    )
    if not ran_whole_suite(request.config):
        pytest.skip("judged only when the whole suite runs (no file, node id, -k or -m chosen)")
    missing = listed() - NOT_RAISED_BY_TESTS - RAISED
    assert not missing, f"no test raises (with pytest.raises) these codes: {sorted(missing)}"


# ---- codes the rest of the suite raised only in a subprocess or a thread, or not at all ----


def posts_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "account_id": ["x", "y"],
            "platform": ["instagram", "tiktok"],
            "published_at": [dt.datetime(2026, 1, 1, 9), dt.datetime(2026, 1, 2, 9)],
            "reach": [10, 20],
            "likes": [1, 2],
            "sponsored": [True, False],
        }
    )


def accounts_frame() -> pl.DataFrame:
    return pl.DataFrame({"account_id": ["x"], "date": [dt.date(2026, 1, 1)], "followers": [100], "fans": [5]})


def raised(exc: type[BaseException], code: str, call: Callable[[], object]) -> str:
    with pytest.raises(exc) as info:
        call()
    assert info.value.code == code, str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "formula", "code"),
    [
        ("x", "sum(likes where platform > 'a')", "text_comparison"),
        ("x", "likes + 'a'", "text_in_arithmetic"),
        # in its own formula a KPI's name is the column: here the accounts' snapshot
        ("followers", "followers / 2", "snapshot_column"),
        ("x", "per_post(likes / fans)", "unsupported_column"),
        ("x", "last(followers where sponsored)", "misplaced_filter"),
    ],
)
def test_formulas_that_do_not_check(name, formula, code):
    kpi = sk.KPI(name, formula)
    raised(sk.DefinitionError, code, lambda: sk.compute(posts_frame(), accounts_frame(), kpis=[kpi]))


def test_formulas_that_do_not_parse():
    raised(sk.DefinitionError, "empty_formula", lambda: sk.KPI("x", "  "))
    msg = raised(sk.DefinitionError, "too_long", lambda: sk.KPI("x", "likes + " * 2_000 + "likes"))
    assert "10000" in msg


def test_kpis_that_name_the_one_before_twice_grow_too_large():
    chain = [sk.KPI("k0", "likes")] + [sk.KPI(f"k{i}", f"k{i - 1} + k{i - 1}") for i in range(1, 14)]
    raised(sk.DefinitionError, "too_large", lambda: sk.compute(posts_frame(), kpis=chain))


def test_too_many_kpis_in_one_call():
    many = [sk.KPI(f"k{i}", "likes") for i in range(10_001)]
    msg = raised(sk.DefinitionError, "too_many_kpis", lambda: sk.compute(posts_frame(), kpis=many))
    assert "10000" in msg


def test_a_definition_file_of_another_format(tmp_path):
    path = tmp_path / "kpis.txt"
    path.write_text("kpis: []\n")
    raised(sk.DefinitionError, "unknown_format", lambda: sk.load_kpis(path))


@pytest.mark.parametrize(
    ("by", "code"),
    [(["platform", "platform"], "repeated_dimension"), (["period_start"], "reserved_dimension")],
)
def test_dimensions_that_cannot_group(by, code):
    raised(sk.QueryError, code, lambda: sk.compute(posts_frame(), kpis=["likes"], by=by))


def test_a_table_file_that_is_neither_parquet_nor_csv(tmp_path):
    path = tmp_path / "posts.json"
    path.write_text("{}")
    raised(sk.InputError, "unsupported_file", lambda: sk.compute(path, kpis=["likes"]))


def test_a_reader_default_that_does_not_read_as_its_column(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("post_id,account_id,published_at,likes\na,x,2026-01-01,1\n")
    raised(sk.SchemaError, "unparseable_default", lambda: sk.read_posts(path, defaults={"reach": "lots"}))


def test_a_yes_no_column_of_dates_is_not_a_flag(tmp_path):
    path = tmp_path / "posts.parquet"
    posts_frame().with_columns(sponsored=pl.col("published_at")).write_parquet(path)
    raised(sk.SchemaError, "not_a_flag", lambda: sk.read_posts(path))


def test_an_excel_sheet_declaring_too_many_cells(tmp_path):
    xlsxwriter = pytest.importorskip("xlsxwriter")
    pytest.importorskip("fastexcel")
    path = tmp_path / "posts.xlsx"
    with xlsxwriter.Workbook(path) as book:
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, ["post_id", "account_id", "published_at", "likes"])
        sheet.write(1_048_575, 16_383, 1)  # the sheet spans A1:XFD1048576
    assert path.stat().st_size < 10_000
    raised(sk.InputError, "sheet_too_large", lambda: sk.read_posts(path))


def test_reading_excel_without_fastexcel(tmp_path, monkeypatch):
    xlsxwriter = pytest.importorskip("xlsxwriter")
    path = tmp_path / "posts.xlsx"
    with xlsxwriter.Workbook(path) as book:
        book.add_worksheet().write_row(0, 0, ["post_id", "account_id", "published_at", "likes"])
    monkeypatch.setitem(sys.modules, "fastexcel", None)  # import fastexcel raises ImportError
    msg = raised(sk.InputError, "missing_dependency", lambda: sk.read_posts(path))
    assert "pip install fastexcel" in msg


def test_a_parquet_file_garbled_inside_is_unreadable(tmp_path):
    """A whole footer over garbled pages passes the check before the run; socialkpi reads the
    pages itself (never mapped) and polars' decoder's reason for failing reaches the user as
    unreadable_file, naming the column and the file."""
    n = 20_000
    posts = pl.DataFrame(
        {
            "post_id": [str(i) for i in range(n)],
            "account_id": ["x"] * n,
            "published_at": [dt.datetime(2026, 1, 1)] * n,
            "likes": list(range(n)),
        }
    )
    path = tmp_path / "posts.parquet"
    posts.write_parquet(path, compression="uncompressed", statistics=False)
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[4:half] = b"\xff" * (half - 4)  # the pages; the footer at the end stays whole
    path.write_bytes(bytes(data))
    msg = raised(sk.InputError, "unreadable_file", lambda: sk.compute(path, kpis=["likes"]))
    assert "could not be decoded" in msg and "posts.parquet" in msg


def test_every_code_the_python_side_raises_is_listed():
    """Python makes coded errors only through exceptions.error (and invalid_argument, and
    formulas._text for text arguments): each call names a listed (code, class), tested or not."""
    import ast

    package = Path(sk.__file__).resolve().parent
    seen = set()
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # the helpers' own bodies pass their parameters on
        helpers = [
            f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in ("error", "_text")
        ]
        inside = {id(n) for f in helpers for n in ast.walk(f)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or id(node) in inside:
                continue
            args = node.args
            if node.func.id == "invalid_argument":
                seen.add(("invalid_argument", "ArgumentError"))
            elif node.func.id == "error":
                assert isinstance(args[0], ast.Name) and isinstance(args[1], ast.Constant), ast.unparse(node)
                seen.add((args[1].value, args[0].id))
            elif node.func.id == "_text":
                assert isinstance(args[2], ast.Constant), ast.unparse(node)
                cls = args[3].id if len(args) > 3 and isinstance(args[3], ast.Name) else "DefinitionError"
                seen.add((args[2].value, cls))
    assert len(seen) > 10
    assert seen <= listed(), sorted(seen - listed())

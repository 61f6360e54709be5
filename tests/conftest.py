from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import socialkpi as sk

DATA = Path(__file__).resolve().parent / "data"


def make_tables(
    n_accounts: int = 36, n_posts: int = 3_000, seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sample tables with the awkward cases the contract talks about."""
    posts, accounts = sk.datasets.sample(n_accounts=n_accounts, n_posts=n_posts, seed=seed)
    # accounts without posts
    silent = ["acct_00001", "acct_00002", "acct_00003"]
    posts = posts.filter(~pl.col("account_id").is_in(silent))
    # an account whose posts have no snapshots at all, and zero-reach posts
    posts = posts.with_columns(
        pl.when(pl.col("post_id").str.ends_with("7")).then(0).otherwise(pl.col("reach")).alias("reach"),
        pl.when(pl.col("account_id") == "acct_00004")
        .then(pl.lit("acct_ghost"))
        .otherwise(pl.col("account_id"))
        .alias("account_id"),
    )
    return posts, accounts


@pytest.fixture(scope="session")
def tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_tables()


def data_path(name: str) -> Path:
    """A real data set copied into tests/data (provenance and licence in its README)."""
    path = DATA / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the real data sets live in tests/data")
    return path


def accounted(frame: pl.DataFrame) -> sk.ReadReport:
    """The read's report, checked: every row read was kept or dropped for a reason."""
    rep = sk.read_report(frame)
    assert rep is not None
    assert rep.rows_kept == frame.height
    assert rep.rows_read == rep.rows_kept + sum(n for _, n in rep.rows_dropped)
    assert rep.rows_read == sum(f.rows_read for f in rep.files)
    return rep


# The (code, exception class) of every KpiError a test caught with pytest.raises: what the
# test's expectation really saw raised. test_error_codes.py checks, at the end of a run of the
# whole suite, that each code of sk.error_codes() is among them (and at any run, that every
# code seen is listed). pytest.raises is wrapped rather than the exceptions, so a code counts
# only when a test expected an error and got one, not when the library caught its own.
RAISED: set[tuple[str, str]] = set()
# Whether the run can judge "every code is raised": the whole suite collected, none deselected.
WHOLE_SUITE = {"deselected": 0, "files": set()}
LAST_TEST = "test_every_code_is_raised_by_a_test"

_pytest_raises = pytest.raises


def _record(exc: BaseException | None) -> None:
    if isinstance(exc, sk.KpiError):
        RAISED.add((getattr(exc, "code", ""), type(exc).__name__))


class _RecordingRaises:
    """pytest.raises' context manager, recording the exception it caught as expected."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __enter__(self) -> Any:
        return self._inner.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        caught = self._inner.__exit__(*exc)
        if caught:
            _record(exc[1])
        return caught

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _recording_raises(*args: Any, **kwargs: Any) -> Any:
    got = _pytest_raises(*args, **kwargs)
    if isinstance(got, pytest.ExceptionInfo):  # the form that calls a function
        _record(got.value)
        return got
    return _RecordingRaises(got)


pytest.raises = _recording_raises  # type: ignore[assignment]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[Any]) -> None:
    """The check of every code runs after every other test."""
    last = [i for i in items if i.name == LAST_TEST]
    items[:] = [i for i in items if i.name != LAST_TEST] + last
    WHOLE_SUITE["files"] = {Path(str(i.path)).name for i in items}


def pytest_deselected(items: list[Any]) -> None:
    WHOLE_SUITE["deselected"] += len(items)  # type: ignore[operator]


def ran_whole_suite(config: pytest.Config) -> bool:
    """Every test file of tests/ collected as a whole (no file, node id, -k or -m chosen)."""
    here = Path(__file__).resolve().parent
    files = {p.name for p in here.glob("test_*.py")}
    whole_args = all("::" not in a and Path(a).resolve() in (here, here.parent) for a in config.args)
    return whole_args and WHOLE_SUITE["deselected"] == 0 and WHOLE_SUITE["files"] == files

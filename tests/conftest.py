from __future__ import annotations

from pathlib import Path

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

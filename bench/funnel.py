"""The funnel report (issue 3): platform x month over posts, traffic, conversion events and
influencer contracts, in socialkpi, against the floor for the same scan sizes (each table
scanned once with one group-by at the output grain, its needed columns summed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

KPIS = [
    "posts", "clicks", "referral_traffic", "website_traffic", "leads", "conversions", "revenue",
    "conversion_rate", "cost", "cpa", "roas", "posts_agreed", "delivery_rate",
]  # fmt: skip


def generate(data: Path, posts: str, n_traffic: int, n_events: int, n_contracts: int) -> dict[str, str]:
    """Traffic rows, conversion events and contracts over the accounts and year of `posts`
    (sk.datasets.funnel), written once as Parquet."""
    paths = {
        "posts": posts,
        "traffic": str(data / f"traffic_{n_traffic}.parquet"),
        "conversions": str(data / f"events_{n_events}.parquet"),
        "contracts": str(data / f"contracts_{n_contracts}.parquet"),
    }
    if all(Path(p).exists() for p in paths.values()):
        return paths
    import socialkpi as sk

    tables = sk.datasets.funnel(
        posts, n_traffic=n_traffic, n_events=n_events, n_contracts=n_contracts, seed=7
    )
    for name, table in zip(["traffic", "conversions", "contracts"], tables):
        table.write_parquet(paths[name])
    return paths


def run_socialkpi(paths: dict[str, str]) -> Any:
    import socialkpi as sk

    return sk.compute(
        paths["posts"],
        traffic=paths["traffic"],
        conversions=paths["conversions"],
        contracts=paths["contracts"],
        kpis=KPIS,
        by=["platform"],
        every="1mo",
    )


def run_floor(paths: dict[str, str]) -> Any:
    month = lambda c: pl.col(c).dt.truncate("1mo").cast(pl.Date).alias("period_start")  # noqa: E731
    plans = [
        pl.scan_parquet(paths["posts"])
        .group_by("platform", month("published_at"))
        .agg(pl.len(), pl.col("clicks").sum()),
        pl.scan_parquet(paths["traffic"]).group_by("source", month("date")).agg(pl.col("sessions").sum()),
        pl.scan_parquet(paths["conversions"])
        .group_by("source", "kind", month("timestamp"))
        .agg(pl.len(), pl.col("value").sum()),
        pl.scan_parquet(paths["contracts"])
        .group_by("platform", month("start"))
        .agg(pl.col("fee", "posts_agreed").sum()),
    ]
    return pl.collect_all(plans, engine="streaming")[0]


TOOLS = {"floor": run_floor, "socialkpi": run_socialkpi}

__all__ = ["KPIS", "TOOLS", "generate"]

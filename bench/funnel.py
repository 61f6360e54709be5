"""The funnel report (issue 3): platform x month over posts, traffic, conversion events and
influencer contracts, in socialkpi, against the floor for the same scan sizes (each table
scanned once with one group-by at the output grain, its needed columns summed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

KPIS = [
    "posts", "clicks", "referral_traffic", "website_traffic", "leads", "conversions", "revenue",
    "conversion_rate", "cost", "cpa", "roas", "posts_agreed", "delivery_rate",
]  # fmt: skip
SOURCES = ["l.instagram.com", "instagram", "m.facebook.com", "t.co", "youtube.com", "tiktok",
           "lnkd.in", "utm_source=ig", "google", "(direct)", "newsletter", "bing.com"]  # fmt: skip


def generate(data: Path, posts: str, n_traffic: int, n_events: int, n_contracts: int) -> dict[str, str]:
    """Traffic rows, conversion events and contracts over the accounts and year of `posts`."""
    paths = {
        "posts": posts,
        "traffic": str(data / f"traffic_{n_traffic}.parquet"),
        "conversions": str(data / f"events_{n_events}.parquet"),
        "contracts": str(data / f"contracts_{n_contracts}.parquet"),
    }
    if all(Path(p).exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(7)
    start = np.datetime64("2025-01-01")
    accounts = pl.scan_parquet(posts).select("account_id", "platform").unique().sort("account_id").collect()
    days = rng.integers(0, 365, n_traffic).astype("timedelta64[D]")
    pl.DataFrame(
        {
            "date": start + days,
            "source": np.array(SOURCES)[rng.integers(0, len(SOURCES), n_traffic)],
            "sessions": rng.integers(1, 500, n_traffic),
        }
    ).with_columns(pl.col("date").cast(pl.Date)).write_parquet(paths["traffic"])
    seconds = rng.integers(0, 365 * 86_400, n_events).astype("timedelta64[s]")
    pl.DataFrame(
        {
            "timestamp": (np.datetime64("2025-01-01T00:00:00") + seconds).astype("datetime64[ms]"),
            "kind": np.where(rng.random(n_events) < 0.7, "lead", "sale"),
            "value": np.round(rng.lognormal(3.5, 1.0, n_events), 2),
            "source": np.array(SOURCES)[rng.integers(0, len(SOURCES), n_events)],
        }
    ).write_parquet(paths["conversions"])
    pick = rng.integers(0, accounts.height, n_contracts)
    begin = rng.integers(0, 330, n_contracts)
    length = rng.integers(7, 90, n_contracts)
    pl.DataFrame(
        {
            "account_id": accounts["account_id"].gather(pick),
            "platform": accounts["platform"].gather(pick),
            "start": start + begin.astype("timedelta64[D]"),
            "end": start + (begin + length).astype("timedelta64[D]"),
            "posts_agreed": rng.integers(1, 10, n_contracts),
            "fee": np.round(rng.uniform(100, 5_000, n_contracts), 2),
        }
    ).with_columns(pl.col("start", "end").cast(pl.Date)).write_parquet(paths["contracts"])
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

__all__ = ["KPIS", "TOOLS", "generate", "dt"]

"""A generated, realistic multi-account sample: posts and daily follower snapshots.

The numbers are synthetic but shaped like real exports: accounts of very different sizes on
several platforms, platforms that report different metrics (Facebook reactions instead of
likes, no saves on X and LinkedIn, no reach on X), missing snapshot days, accounts whose
snapshots start after their first posts, posts with zero reach, and scattered nulls.

>>> import socialkpi as sk
>>> posts, accounts = sk.datasets.sample(n_accounts=20, n_posts=2_000, seed=1)
>>> posts.height, accounts.get_column("account_id").n_unique()
(2000, 20)
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from socialkpi._arguments import at_least
from socialkpi.exceptions import invalid_argument

if TYPE_CHECKING:
    # imported where used: numpy starts its BLAS threads on import, and they spin for a while
    # on a machine that `import socialkpi` shares with its computations
    import numpy as np

PLATFORMS = ["instagram", "facebook", "tiktok", "youtube", "linkedin", "x"]
CONTENT_TYPES = ["image", "video", "reel", "carousel", "story", "text"]
TIERS = [(0, "nano"), (10_000, "micro"), (100_000, "mid"), (1_000_000, "macro")]


def _tier(followers: np.ndarray) -> np.ndarray:
    import numpy as np

    out = np.full(followers.shape, TIERS[0][1], dtype=object)
    for floor, name in TIERS[1:]:
        out[followers >= floor] = name
    return out


def sample(
    n_accounts: int = 200,
    n_posts: int = 50_000,
    *,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 365,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Generates ``(posts, accounts)`` in the canonical schema of the KPI contract.

    Parameters
    ----------
    n_accounts
        Number of accounts, spread over six platforms.
    n_posts
        Number of post rows.
    start, days
        The calendar range of posts and daily snapshots.
    seed
        Random seed; the same seed gives the same tables.

    Returns
    -------
    tuple of polars.DataFrame
        ``posts`` (one row per post) and ``accounts`` (one row per account per day).
    """
    import numpy as np

    at_least(1, n_accounts=n_accounts, days=days)
    at_least(0, n_posts=n_posts)
    rng = np.random.default_rng(seed)
    ids = np.array([f"acct_{i:05d}" for i in range(n_accounts)])
    platform = np.array(PLATFORMS)[np.arange(n_accounts) % len(PLATFORMS)]
    base = np.exp(rng.normal(9.5, 1.8, n_accounts)).astype(np.int64) + 50
    growth = rng.normal(0.0006, 0.0008, n_accounts)
    country = rng.choice(np.array(["US", "GB", "DE", "ID", "BR", "IN"]), n_accounts)
    # some accounts only start being tracked later in the year (from day 10, so not in a
    # range of three weeks or less)
    starts_late = rng.random(n_accounts) < 0.15
    late = rng.integers(10, days // 2, n_accounts) if days // 2 > 10 else np.zeros(n_accounts, np.int64)
    first_day = np.where(starts_late, late, 0)

    # daily snapshots: a noisy compound-growth walk, with missing days
    day_idx = np.tile(np.arange(days), n_accounts)
    acc_idx = np.repeat(np.arange(n_accounts), days)
    noise = rng.normal(0, 0.002, n_accounts * days)
    followers = (base[acc_idx] * np.exp(growth[acc_idx] * day_idx + noise)).astype(np.int64)
    keep = (day_idx >= first_day[acc_idx]) & (rng.random(n_accounts * days) > 0.04)
    dates = np.datetime64(start) + day_idx.astype("timedelta64[D]")
    followers_col = pl.Series("followers", followers[keep])
    missing = rng.random(int(keep.sum())) < 0.01
    accounts = pl.DataFrame(
        {
            "account_id": ids[acc_idx[keep]],
            "platform": platform[acc_idx[keep]],
            "date": dates[keep],
            "followers": followers_col,
            "profile_visits": (followers[keep] * rng.uniform(0.001, 0.01, int(keep.sum()))).astype(np.int64),
            "tier": _tier(base[acc_idx[keep]]).astype(str),
            "country": country[acc_idx[keep]],
        }
    ).with_columns(
        pl.col("date").cast(pl.Date),
        pl.when(pl.Series(missing)).then(None).otherwise(pl.col("followers")).alias("followers"),
    )

    # posts: bigger accounts post more; lifetime metrics scale with audience size
    weights = np.sqrt(base.astype(float))
    owner = rng.choice(n_accounts, n_posts, p=weights / weights.sum())
    seconds = rng.integers(0, days * 86_400, n_posts)
    published = np.datetime64(dt.datetime.combine(start, dt.time())) + seconds.astype("timedelta64[s]")
    audience = base[owner] * np.exp(growth[owner] * (seconds / 86_400))
    reach = (audience * rng.lognormal(-1.6, 0.9, n_posts)).astype(np.int64)
    reach[rng.random(n_posts) < 0.01] = 0
    impressions = (reach * rng.uniform(1.0, 1.8, n_posts)).astype(np.int64)
    rate = rng.lognormal(-3.2, 0.7, n_posts)
    likes = (reach * rate).astype(np.int64)
    comments = (likes * rng.uniform(0.01, 0.08, n_posts)).astype(np.int64)
    shares = (likes * rng.uniform(0.0, 0.1, n_posts)).astype(np.int64)
    saves = (likes * rng.uniform(0.0, 0.15, n_posts)).astype(np.int64)
    clicks = (reach * rng.uniform(0.0, 0.02, n_posts)).astype(np.int64)
    pv = (reach * rng.uniform(0.0, 0.01, n_posts)).astype(np.int64)
    plat = (np.arange(n_accounts) % len(PLATFORMS))[owner]

    def is_(name: str) -> np.ndarray:
        return np.asarray(plat == PLATFORMS.index(name))

    def nulls(values: np.ndarray, where: np.ndarray, name: str) -> pl.Series:
        return pl.Series(name, values).set(pl.Series(where), None) if where.any() else pl.Series(name, values)

    def scatter(p: float) -> np.ndarray:
        return np.asarray(rng.random(n_posts) < p)

    posts = pl.DataFrame(
        {
            "account_id": pl.Series(ids).gather(owner),
            "platform": pl.Series(platform).gather(owner),
            "published_at": published,
            "content_type": pl.Series(CONTENT_TYPES).gather(rng.integers(0, len(CONTENT_TYPES), n_posts)),
            "sponsored": rng.random(n_posts) < 0.12,
            "impressions": nulls(impressions, scatter(0.005), "impressions"),
            "reach": nulls(reach, is_("x") | scatter(0.005), "reach"),
            "likes": nulls(likes, is_("facebook") | scatter(0.003), "likes"),
            "reactions": nulls(likes, ~is_("facebook"), "reactions"),
            "comments": nulls(comments, scatter(0.003), "comments"),
            "shares": nulls(shares, scatter(0.003), "shares"),
            "saves": nulls(saves, is_("x") | is_("linkedin") | scatter(0.003), "saves"),
            "clicks": nulls(clicks, scatter(0.01), "clicks"),
            "profile_visits": nulls(pv, scatter(0.01), "profile_visits"),
        }
    ).with_columns(pl.col("published_at").cast(pl.Datetime("us")))
    posts = posts.select(pl.format("p{}", pl.int_range(pl.len())).alias("post_id"), pl.all())
    return posts, accounts


SOURCES = ["l.instagram.com", "instagram", "m.facebook.com", "t.co", "youtube.com", "tiktok",
           "lnkd.in", "utm_source=ig", "google", "(direct)", "newsletter", "bing.com"]  # fmt: skip


def funnel(
    posts: pl.DataFrame | str,
    *,
    n_traffic: int = 50_000,
    n_events: int = 10_000,
    n_contracts: int = 400,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 365,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Generates ``(traffic, conversions, contracts)`` for the accounts of ``posts``.

    Web analytics rows whose sources are spelled the many ways exports spell them (plus
    sources that are no social platform), conversion events (leads and sales with values,
    attributed by source) and influencer contracts of 7 to 90 days with fees and deliverables
    (about as many posts agreed as the account's sponsored posts in the window: delivery rates
    between 0.5 and about 1.1).

    Parameters
    ----------
    posts
        The posts the contracts are made with (a frame or a Parquet path): their
        ``account_id`` and ``platform``.
    n_traffic, n_events, n_contracts
        Rows of each table.
    start, days
        The calendar range.
    seed
        Random seed.

    Examples
    --------
    >>> import socialkpi as sk
    >>> posts, _ = sk.datasets.sample(n_accounts=20, n_posts=500, seed=1)
    >>> traffic, conversions, contracts = sk.datasets.funnel(posts, n_contracts=30)
    >>> contracts.columns
    ['account_id', 'platform', 'start', 'end', 'posts_agreed', 'fee']
    """
    import numpy as np

    at_least(1, days=days)
    at_least(0, n_traffic=n_traffic, n_events=n_events, n_contracts=n_contracts)
    rng = np.random.default_rng(seed)
    frame = pl.scan_parquet(posts) if isinstance(posts, str) else posts.lazy()
    accounts = frame.select("account_id", "platform").unique().sort("account_id").collect()
    if accounts.height == 0 and n_contracts > 0:
        raise invalid_argument(
            "posts has no accounts to make contracts with: pass posts with rows, or n_contracts=0"
        )
    first = np.datetime64(start)
    offsets = rng.integers(0, days, n_traffic).astype("timedelta64[D]")
    traffic = pl.DataFrame(
        {
            "date": first + offsets,
            "source": np.array(SOURCES)[rng.integers(0, len(SOURCES), n_traffic)],
            "sessions": rng.integers(1, 500, n_traffic),
        }
    ).with_columns(pl.col("date").cast(pl.Date))
    seconds = rng.integers(0, days * 86_400, n_events).astype("timedelta64[s]")
    conversions = pl.DataFrame(
        {
            "timestamp": (np.datetime64(dt.datetime.combine(start, dt.time())) + seconds).astype(
                "datetime64[ms]"
            ),
            "kind": np.where(rng.random(n_events) < 0.7, "lead", "sale"),
            "value": np.round(rng.lognormal(3.5, 1.0, n_events), 2),
            "source": np.array(SOURCES)[rng.integers(0, len(SOURCES), n_events)],
        }
    )
    pick = rng.integers(0, accounts.height, n_contracts)
    begin = rng.integers(0, max(days - 35, 1), n_contracts)
    length = rng.integers(7, 90, n_contracts)
    # deliverables in line with what the account posts: its sponsored posts in the window
    # (all its posts when the table has no sponsored flag), agreed at 0.9 to 2 times what it
    # delivers, so that some influencers are behind and none is far ahead
    ahead = rng.uniform(0.5, 1.1, n_contracts)
    contracts = pl.DataFrame(
        {
            "account_id": accounts["account_id"].gather(pick),
            "platform": accounts["platform"].gather(pick),
            "start": first + begin.astype("timedelta64[D]"),
            "end": first + (begin + length).astype("timedelta64[D]"),
            "fee": np.round(rng.uniform(100, 5_000, n_contracts), 2),
        }
    ).with_columns(pl.col("start", "end").cast(pl.Date))
    delivered = _delivered(frame, contracts)
    agreed = np.maximum(np.round(delivered / ahead), 1).astype(np.int64)
    contracts = contracts.insert_column(4, pl.Series("posts_agreed", agreed))
    return traffic, conversions, contracts


def _delivered(posts: pl.LazyFrame, contracts: pl.DataFrame) -> np.ndarray:
    """Each contract's posts of its account and platform inside its window (sponsored ones only
    when the posts carry the flag)."""
    if "sponsored" in posts.collect_schema().names():
        posts = posts.filter(pl.col("sponsored"))
    days = posts.select("account_id", "platform", pl.col("published_at").dt.date().alias("day"))
    counts = (
        contracts.lazy()
        .with_row_index("contract")
        .join(days, on=["account_id", "platform"])
        .filter(pl.col("day").is_between(pl.col("start"), pl.col("end")))
        .group_by("contract")
        .len()
    )
    every = pl.LazyFrame({"contract": pl.int_range(contracts.height, dtype=pl.UInt32, eager=True)})
    out = every.join(counts, on="contract", how="left").sort("contract").collect()
    return out["len"].fill_null(0).to_numpy()


__all__ = ["funnel", "sample"]

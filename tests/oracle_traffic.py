"""An independent oracle for the traffic and mentions KPIs: written from the spec, never calling socialkpi.

Nothing here imports or calls socialkpi. Matching a traffic ``source`` to a platform is done in
plain Python, one source at a time, exactly as the spec words it; the sums and shares are then
written in DuckDB SQL over plain polars tables so that the engine's output can be compared cell
by cell.

The spec, as implemented here:

- A source is lower-cased and trimmed; when it contains ``utm_source=`` the value after it (up to
  ``&``, ``#`` or a space) is used; a ``scheme://`` prefix is removed; the host is the part before
  the first ``/``, ``?`` or ``#``, without ``:port`` and without a leading ``www.``. The key is
  looked up in the user's entries (normalised the same way) and then in the default table; when
  not found, its leftmost label is removed while what remains still contains a dot, and looked
  up again.
- A row's ``platform`` is the matched platform, or the source exactly as given when nothing
  matched. A row is *social* when its source matched (a user entry counts as a match).
- ``website_traffic`` = Σ sessions of the group-period's rows; 0 with no rows, null when every
  ``sessions`` value is null.
- ``referral_traffic`` = Σ sessions of the group-period's *social* rows; 0 when it has no social
  rows, null when it has social rows and every one of their ``sessions`` is null. (Resolution of
  the spec's wording: a group of unmatched rows only is 0 even when all its sessions are null.)
- ``referral_share`` = referral_traffic / Σ referral_traffic over all groups of the same period
  (nulls ignored in that sum); null when the total is 0 or null.
- Rows with a null ``date`` are dropped (with ``every=None`` too); every other (group, period)
  present in the table is one result row.
- ``mentions`` = Σ accounts.mentions of the group-period's snapshot rows (0 with no rows, null
  when all null); ``share_of_voice`` = mentions / Σ mentions over all groups of the same period,
  null when that total is 0 or null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import duckdb
import polars as pl

TRUNC = {"1d": "day", "1w": "week", "1mo": "month", "1q": "quarter", "1y": "year"}
TRAFFIC_KPIS = ("website_traffic", "referral_traffic", "referral_share")
MENTION_KPIS = ("mentions", "share_of_voice")

# The default table of the spec, platform -> the sources that name it.
_DEFAULTS_BY_PLATFORM = {
    "instagram": ["instagram", "instagram.com", "l.instagram.com", "ig", "insta"],
    "facebook": [
        "facebook",
        "facebook.com",
        "m.facebook.com",
        "l.facebook.com",
        "lm.facebook.com",
        "fb",
        "fb.com",
        "fb.me",
        "meta",
    ],  # fmt: skip
    "x": ["x", "x.com", "twitter", "twitter.com", "t.co", "tw"],
    "youtube": ["youtube", "youtube.com", "m.youtube.com", "youtu.be", "yt"],
    "tiktok": ["tiktok", "tiktok.com", "vm.tiktok.com", "tt"],
    "linkedin": ["linkedin", "linkedin.com", "lnkd.in", "li"],
    "pinterest": ["pinterest", "pinterest.com", "pin.it"],
    "threads": ["threads", "threads.net", "threads.com"],
    "snapchat": ["snapchat", "snapchat.com"],
    "reddit": ["reddit", "reddit.com", "out.reddit.com"],
}
DEFAULT_SOURCES: dict[str, str] = {s: p for p, srcs in _DEFAULTS_BY_PLATFORM.items() for s in srcs}

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://")


def normalise_source(source: str) -> str:
    """The lookup key of a source: lower-cased, utm_source value or URL host, no port, no www."""
    s = source.strip().lower()
    at = s.find("utm_source=")
    if at >= 0:
        s = s[at + len("utm_source=") :]
        for stop in ("&", "#", " "):
            s = s.split(stop, 1)[0]
    s = _SCHEME.sub("", s, count=1)
    for stop in ("/", "?", "#"):
        s = s.split(stop, 1)[0]
    s = s.split(":", 1)[0]
    if s.startswith("www."):
        s = s[len("www.") :]
    return s


def match_source(source: str | None, user: Mapping[str, str] | None = None) -> str | None:
    """The platform a source matches (user entries first, then the defaults), or None."""
    if source is None:
        return None
    mine = {normalise_source(k): v for k, v in (user or {}).items()}

    def lookup(key: str) -> str | None:
        if key in mine:
            return mine[key]
        return DEFAULT_SOURCES.get(key)

    key = normalise_source(source)
    found = lookup(key)
    while found is None and "." in key:
        rest = key.split(".", 1)[1]
        if "." not in rest:
            break
        key = rest
        found = lookup(key)
    return found


def with_platform(traffic: pl.DataFrame, user: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The traffic rows with ``__social`` (the source matched) and ``platform`` (matched, else as given)."""
    sources = traffic.get_column("source").to_list()
    matched = [match_source(s, user) for s in sources]
    return traffic.with_columns(
        pl.Series("__social", [m is not None for m in matched], dtype=pl.Boolean),
        pl.Series("platform", [m if m is not None else s for m, s in zip(matched, sources)], dtype=pl.String),
    )


def _period(every: str | None, col: str) -> str:
    return f"CAST(date_trunc('{TRUNC[every]}', {col}) AS DATE)" if every else "NULL::DATE"


def _finish(con: duckdb.DuckDBPyConnection, q: str, keys: list[str], kpis: list[str]) -> pl.DataFrame:
    out = con.sql(q).pl()
    out = out.select(*keys, *(pl.col(k).cast(pl.Float64) for k in kpis))
    return out.sort(keys, nulls_last=True) if keys else out


def oracle_traffic(
    traffic: pl.DataFrame,
    kpis: list[str],
    by: list[str],
    every: str | None,
    sources: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """The traffic KPIs per group and period, straight from the spec (floats; nulls where the spec says)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("raw_traffic", with_platform(traffic, sources).to_arrow())
    # a Date, the calendar date of a datetime, or ISO text: all become a DATE
    con.execute(
        f"CREATE VIEW t AS SELECT *, {_period(every, '__day')} AS period_start FROM "
        "(SELECT *, CAST(CAST(date AS VARCHAR)[1:10] AS DATE) AS __day FROM raw_traffic) WHERE __day IS NOT NULL"
    )
    keys = list(by) + (["period_start"] if every else [])
    group = f"GROUP BY {', '.join(keys)}" if keys else ""
    per_group = (
        f"SELECT {''.join(k + ', ' for k in keys)}"
        "count(*) AS __n, sum(sessions)::DOUBLE AS __web, "
        "count(*) FILTER (WHERE __social) AS __nsoc, sum(sessions) FILTER (WHERE __social)::DOUBLE AS __ref "
        f"FROM t {group}"
    )
    flows = (
        "SELECT *, CASE WHEN __n = 0 THEN 0 ELSE __web END AS website_traffic, "
        "CASE WHEN __nsoc = 0 THEN 0 ELSE __ref END AS referral_traffic "
        f"FROM ({per_group})"
    )
    window = "OVER (PARTITION BY period_start)" if every else "OVER ()"
    q = (
        "SELECT *, referral_traffic / nullif(sum(referral_traffic) "
        f"{window}, 0) AS referral_share FROM ({flows})"
    )
    return _finish(con, q, keys, kpis)


def oracle_mentions(
    accounts: pl.DataFrame, kpis: list[str], by: list[str], every: str | None
) -> pl.DataFrame:
    """mentions and share_of_voice per group and period over daily account snapshots."""
    con = duckdb.connect()
    con.register("raw_accounts", accounts.to_arrow())
    con.execute(
        f"CREATE VIEW a AS SELECT *, {_period(every, 'CAST(date AS DATE)')} AS period_start "
        "FROM raw_accounts WHERE date IS NOT NULL"
    )
    keys = list(by) + (["period_start"] if every else [])
    group = f"GROUP BY {', '.join(keys)}" if keys else ""
    per_group = (
        f"SELECT {''.join(k + ', ' for k in keys)}"
        "CASE WHEN count(*) = 0 THEN 0 ELSE sum(mentions)::DOUBLE END AS mentions "
        f"FROM a {group}"
    )
    window = "OVER (PARTITION BY period_start)" if every else "OVER ()"
    q = f"SELECT *, mentions / nullif(sum(mentions) {window}, 0) AS share_of_voice FROM ({per_group})"
    return _finish(con, q, keys, kpis)

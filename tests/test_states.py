"""Partial states (sk.partial, sk.merge, States): merged, rolled up, refreshed, saved and loaded
states finalize to exactly what sk.compute gives over the whole input. sk.compute itself is
checked against the DuckDB and pandas oracles elsewhere (tests/oracle*.py); here it is the
reference for the states' properties, as the states issue states them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import socialkpi as sk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

# every table, and KPIs of every kind: flows, ratios, followers (semi-additive), shares of the
# period, pro-rated fees and deliverables, attributed conversions and revenue
KPIS = [
    "posts",
    "reach",
    "engagements",
    "engagement_rate",
    "engagement_rate_followers",
    "avg_engagement_rate_per_post",
    "followers",
    "followers_start",
    "follower_growth",
    "follower_growth_rate",
    "mentions",
    "share_of_voice",
    "profile_visits",
    "website_traffic",
    "referral_traffic",
    "referral_share",
    "conversions",
    "revenue",
    "lead_rate",
    "cost",
    "cpa",
    "roas",
    "delivery_rate",
    "posts_agreed",
]


def _tables(seed: int) -> dict[str, pl.DataFrame]:
    """Multi-account tables with nulls, zero reach, missing snapshot days and contracts that
    cross months."""
    rng = np.random.default_rng(seed)
    posts, accounts = sk.datasets.sample(n_accounts=8, n_posts=1200, days=120, seed=seed)
    traffic, conversions, contracts = sk.datasets.funnel(
        posts, n_traffic=400, n_events=200, n_contracts=10, days=120, seed=seed
    )
    n = posts.height
    posts = posts.with_columns(
        reach=pl.when(pl.Series(rng.random(n) < 0.05)).then(0).otherwise(pl.col("reach")),
        comments=pl.when(pl.Series(rng.random(n) < 0.05)).then(None).otherwise(pl.col("comments")),
    )
    a = accounts.height
    accounts = accounts.with_columns(
        mentions=pl.Series(rng.integers(0, 50, a)),
        followers=pl.when(pl.Series(rng.random(a) < 0.05)).then(None).otherwise(pl.col("followers")),
    ).filter(pl.Series(rng.random(a) > 0.1))
    return {
        "posts": posts,
        "accounts": accounts,
        "traffic": traffic,
        "conversions": conversions,
        "contracts": contracts,
    }


TABLES = _tables(11)
# traffic and conversions are attributed by platform (through their sources), not by account
KW = {"kpis": KPIS, "by": ["platform"], "every": "1d", "tz": "Europe/Berlin"}
ACCOUNT_KPIS = [
    k
    for k in KPIS
    if k
    not in (
        "website_traffic",
        "referral_traffic",
        "referral_share",
        "conversions",
        "revenue",
        "lead_rate",
        "cpa",
        "roas",
    )
]
BY_ACCOUNT = {"kpis": ACCOUNT_KPIS, "by": ["account_id", "platform"]}


def _compute(posts: pl.DataFrame, **kw: object) -> pl.DataFrame:
    t = TABLES
    args = {**KW, **kw}
    return sk.compute(
        posts,
        t["accounts"],
        contracts=t["contracts"],
        traffic=t["traffic"],
        conversions=t["conversions"],
        **args,  # type: ignore[arg-type]
    )


def _partial(posts: pl.DataFrame | Path, **kw: object) -> sk.States:
    t = TABLES
    args = {**KW, **kw}
    return sk.partial(
        posts,
        t["accounts"],
        contracts=t["contracts"],
        traffic=t["traffic"],
        conversions=t["conversions"],
        **args,  # type: ignore[arg-type]
    )


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    # float sums (fees pro-rated by day) may add in another order
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def _split(posts: pl.DataFrame, how: str, parts: int, seed: int) -> list[pl.DataFrame]:
    rng = np.random.default_rng(seed)
    if how == "account":
        ids = posts["account_id"].unique().sort().to_list()
        part_of = {a: int(rng.integers(0, parts)) for a in ids}
        labels = posts["account_id"].replace_strict(part_of, return_dtype=pl.Int64)
    elif how == "time":
        days = posts["published_at"].dt.date()
        cuts = np.sort(rng.choice(days.unique().sort().to_numpy(), size=parts - 1, replace=False))
        labels = pl.Series(np.searchsorted(cuts, days.to_numpy(), side="right"))
    else:
        labels = pl.Series(rng.integers(0, parts, posts.height))
    return [posts.filter(labels == k) for k in range(parts)]


WHOLE = _compute(TABLES["posts"])
WHOLE_BY_ACCOUNT = _compute(TABLES["posts"], **BY_ACCOUNT)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(how=st.sampled_from(["account", "time", "rows"]), parts=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_merged_parts_finalize_to_the_whole(how: str, parts: int, seed: int) -> None:
    pieces = _split(TABLES["posts"], how, parts, seed)
    states = [_partial(p) for p in pieces]
    _same(sk.merge(states).finalize(), WHOLE)
    # commutative: any order
    _same(sk.merge(list(reversed(states))).finalize(), WHOLE)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(how=st.sampled_from(["account", "time", "rows"]), parts=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_merged_parts_by_account_finalize_to_the_whole(how: str, parts: int, seed: int) -> None:
    states = [_partial(p, **BY_ACCOUNT) for p in _split(TABLES["posts"], how, parts, seed)]
    _same(sk.merge(states).finalize(), WHOLE_BY_ACCOUNT)


def test_merge_is_associative_with_empty_states_as_identity() -> None:
    a, b, c = (_partial(p) for p in _split(TABLES["posts"], "rows", 3, 5))
    left = sk.merge([sk.merge([a, b]), c]).finalize()
    right = sk.merge([a, sk.merge([b, c])]).finalize()
    _same(left, right)
    _same(left, WHOLE)
    empty = _partial(TABLES["posts"].clear())
    _same(sk.merge([a, empty]).finalize(), sk.merge([a]).finalize())
    _same(sk.merge([empty, sk.merge([a, b, c])]).finalize(), WHOLE)


@pytest.mark.parametrize(
    ("by", "every"),
    [
        (["platform"], "1mo"),
        (["account_id"], "1w"),
        ([], "1q"),
        (["platform"], None),
        ([], None),
        (["account_id", "platform"], "1y"),
    ],
)
def test_rollups_equal_compute_at_the_coarser_grain(by: list[str], every: str | None) -> None:
    pieces = _split(TABLES["posts"], "time", 3, 1)
    merged = sk.merge([_partial(p, **BY_ACCOUNT) for p in pieces])
    want = _compute(TABLES["posts"], kpis=ACCOUNT_KPIS, by=by, every=every)
    _same(merged.finalize(by=by, every=every), want)


@pytest.mark.parametrize(("by", "every"), [([], "1mo"), (["platform"], None), (["platform"], "1w")])
def test_rollups_of_every_table_equal_compute(by: list[str], every: str | None) -> None:
    merged = sk.merge([_partial(p) for p in _split(TABLES["posts"], "rows", 3, 4)])
    _same(merged.finalize(by=by, every=every), _compute(TABLES["posts"], by=by, every=every))


def test_monthly_states_roll_up_to_quarters_and_years() -> None:
    states = _partial(TABLES["posts"], every="1mo", by=["platform"])
    for every in ("1q", "1y", None):
        _same(states.finalize(every=every), _compute(TABLES["posts"], every=every, by=["platform"]))


def test_any_subset_of_the_kpis_finalizes() -> None:
    states = _partial(TABLES["posts"])
    got = states.finalize(kpis=["engagement_rate", "followers"])
    _same(got, WHOLE.select("platform", "period_start", "engagement_rate", "followers"))


def test_compute_is_partial_then_finalize() -> None:
    _same(_partial(TABLES["posts"]).finalize(), WHOLE)


def test_custom_kpis_finalize_from_states() -> None:
    rate = sk.KPI("saves_per_reach", "saves / reach", unit="ratio")
    kw = {"kpis": [rate, "reach"], "by": ["platform"], "every": "1d"}
    pieces = _split(TABLES["posts"], "rows", 4, 2)
    merged = sk.merge([sk.partial(p, **kw) for p in pieces])  # type: ignore[arg-type]
    _same(merged.finalize(every="1mo"), sk.compute(TABLES["posts"], **{**kw, "every": "1mo"}))  # type: ignore[arg-type]


def test_states_of_filtered_formulas_move_as_a_frame() -> None:
    # computed per-post values (a filter, arithmetic) have states of their own (f:...)
    kpis = [
        sk.KPI("big_post_likes", "sum(likes where reach > 100) / reach", unit="ratio"),
        sk.KPI("likes_and_saves", "sum(likes + 2 * saves)", unit="count"),
        "reach",
    ]
    states = sk.partial(TABLES["posts"], kpis=kpis, by=["platform"], every="1mo")
    moved = sk.States.from_frame(states.frame, states.header)
    assert any(c.startswith("f:") for c in moved.frame.columns)
    _same(moved.finalize(), sk.compute(TABLES["posts"], kpis=kpis, by=["platform"], every="1mo"))


def test_save_and_load_round_trip(tmp_path) -> None:
    pieces = _split(TABLES["posts"], "time", 2, 3)
    merged = sk.merge([_partial(p) for p in pieces])
    path = tmp_path / "states.parquet"
    merged.save(path)
    again = sk.States.load(path)
    _same(again.finalize(), WHOLE)
    assert again.spec == merged.spec
    assert_frame_equal(again.frame, merged.frame)
    # a loaded part still counts the whole accounts table once, and still refuses its posts twice
    rest = _partial(pieces[0])
    with pytest.raises(sk.InputError) as err:
        sk.merge([again, rest])
    assert err.value.code == "overlapping_posts"


def test_states_move_as_a_frame_and_a_header() -> None:
    merged = sk.merge([_partial(p) for p in _split(TABLES["posts"], "rows", 2, 8)])
    # as a Spark or Dask worker hands them on: Arrow, through pyarrow
    moved = sk.States.from_frame(merged.frame.to_arrow(), merged.header)
    _same(moved.finalize(), WHOLE)
    with pytest.raises(sk.InputError) as err:
        newer = json.loads(merged.header)
        newer["schema_version"] += 1
        sk.States.from_frame(merged.frame, json.dumps(newer))
    assert err.value.code == "states_version"
    with pytest.raises(sk.InputError) as err:
        sk.States.from_frame(merged.frame, "{}")
    assert err.value.code == "states_version"


def test_update_with_resynced_posts_equals_a_recompute() -> None:
    posts = TABLES["posts"]
    last_day = posts["published_at"].max().date()  # type: ignore[union-attr]
    since = last_day - dt.timedelta(days=27)
    recent = pl.col("published_at").dt.convert_time_zone("Europe/Berlin").dt.date() >= since
    old = _partial(posts)
    # lifetime metrics re-synced: the last 28 days' posts with grown reach, and one deleted
    resynced = posts.filter(recent).with_columns(reach=pl.col("reach") * 2 + 1)
    resynced = resynced.slice(1)
    refreshed = old.update(_partial(resynced))
    want = _compute(pl.concat([posts.filter(~recent), resynced]))
    _same(refreshed.finalize(), want)


def test_the_frame_has_a_block_column_and_the_documented_blocks() -> None:
    states = _partial(TABLES["posts"])
    frame = states.frame
    blocks = set(frame["state_block"].unique())
    assert {
        "posts",
        "accounts",
        "snapshots",
        "contracts",
        "traffic",
        "conversions",
        "post_ids",
        "coverage",
    } <= blocks
    ids = frame.filter(pl.col("state_block") == "post_ids")["post_id_hash"]
    assert ids.dtype == pl.UInt64
    # the hash docs/states.md documents, computed here from its description
    assert set(ids.to_list()) == {_documented_hash(i.encode()) for i in TABLES["posts"]["post_id"]}
    snapshots = frame.filter(pl.col("state_block") == "snapshots")
    # per account and day: the first and last follower count with their days
    assert snapshots.select(
        ["followers_first", "followers_last", "followers_first_day", "followers_last_day"]
    ).null_count().row(0) == (0, 0, 0, 0)
    assert "States(" in repr(states) and "post ids" in repr(states)


@pytest.mark.parametrize("layout", ["parquet dictionary", "parquet plain", "csv", "frame"])
def test_kept_post_ids_are_the_documented_hashes_in_order_however_the_posts_are_read(
    tmp_path: Path, layout: str
) -> None:
    # ids short (inline in an Arrow view), of 12 and 13 bytes, long and not ASCII; the pass
    # hashes them as it reads them (from Parquet pages, CSV blocks or a frame) and keeps those
    posts = TABLES["posts"].with_columns(
        pl.format(
            "{}{}",
            pl.Series(["p", "twelve-bytes", "thirteen-byte", "a rather longer post id ", "pöst-é"]).sample(
                TABLES["posts"].height, with_replacement=True, seed=3
            ),
            pl.int_range(pl.len()),
        ).alias("post_id")
    )
    source: pl.DataFrame | Path = posts
    if layout.startswith("parquet"):
        source = tmp_path / "posts.parquet"
        pq.write_table(
            posts.to_arrow(), source, use_dictionary=layout.endswith("dictionary"), row_group_size=700
        )
    elif layout == "csv":
        source = tmp_path / "posts.csv"
        posts.write_csv(source)
    frame = _partial(source).frame
    ids = frame.filter(pl.col("state_block") == "post_ids")["post_id_hash"].to_list()
    assert ids == sorted({_documented_hash(i.encode()) for i in posts["post_id"]})


def _documented_hash(data: bytes) -> int:
    """FNV-1a (64 bits) over the bytes, then SplitMix64's finaliser."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & mask
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & mask
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


# ---- bad input: typed errors, no panic, no file changed --------------------------------------


def test_states_of_different_requests_do_not_merge() -> None:
    a = _partial(TABLES["posts"][:600])
    for change, part in [({"by": []}, "by"), ({"every": "1w"}, "every"), ({"tz": "UTC"}, "tz")]:
        b = _partial(TABLES["posts"][600:], **change)
        with pytest.raises(sk.QueryError) as err:
            sk.merge([a, b])
        assert err.value.code == "states_mismatch"
        assert part in str(err.value)
        with pytest.raises(sk.QueryError) as err:
            a.update(b)
        assert err.value.code == "states_mismatch"


def test_parts_whose_tables_differ_in_columns_do_not_merge_in_either_order() -> None:
    # a part of posts without `saves` makes no states of it: merged, its KPIs once depended
    # on the order (one order an untyped error, the other silently without saves)
    a = sk.partial(TABLES["posts"][:600], kpis="engagement", by=["platform"])
    b = sk.partial(TABLES["posts"][600:].drop("saves"), kpis="engagement", by=["platform"])
    for parts in ([a, b], [b, a]):
        with pytest.raises(sk.QueryError) as err:
            sk.merge(parts)
        assert err.value.code == "states_mismatch"
        assert "saves" in str(err.value)
    with pytest.raises(sk.QueryError) as err:
        a.update(b)
    assert err.value.code == "states_mismatch"


def _huge_impressions(first_day: int) -> pl.DataFrame:
    """Three posts on three days from `first_day` of January, of 2^61 impressions each: their
    sum fits in Int64, and two such parts' sum does not."""
    return pl.DataFrame(
        {
            "post_id": [f"p{first_day}_{i}" for i in range(3)],
            "account_id": ["a"] * 3,
            "platform": ["x"] * 3,
            "published_at": [dt.datetime(2026, 1, first_day + i) for i in range(3)],
            "impressions": [2**61] * 3,
        }
    )


@pytest.mark.parametrize("every", [None, "1d"])
def test_merged_and_rolled_up_sums_never_wrap(every: str | None) -> None:
    # each part's sums fit in Int64 and their sum does not: as in sk.compute, an error
    part = _huge_impressions
    whole = pl.concat([part(1), part(10)])
    with pytest.raises(sk.InputError) as err:
        sk.compute(whole, kpis=["impressions"])
    assert err.value.code == "integer_overflow"
    parts = [sk.partial(part(d), kpis=["impressions"], every=every) for d in (1, 10)]
    with pytest.raises(sk.InputError) as err:
        # (one period: the merge adds the sums; daily: the rollup does)
        sk.merge(parts).finalize(every=None)
    assert err.value.code == "integer_overflow"


def test_windows_of_merged_states_never_wrap() -> None:
    # each part's sums fit in Int64, their windows' do not: integer_overflow, as in a run
    merged = sk.merge([sk.partial(_huge_impressions(d), kpis=["impressions"], every="1d") for d in (1, 4)])
    with pytest.raises(sk.InputError) as err:
        merged.finalize(window="7d")
    assert err.value.code == "integer_overflow"


def test_a_part_without_post_ids_keeps_the_others_checked() -> None:
    # a part without post_id once dropped the ids of every part merged with it, so the
    # same posts merged again later were counted twice
    a = _partial(TABLES["posts"][:300].drop("post_id"))
    b = _partial(TABLES["posts"][300:600])
    with pytest.raises(sk.InputError) as err:
        sk.merge([sk.merge([a, b]), b])
    assert err.value.code == "overlapping_posts"
    with pytest.raises(sk.InputError) as err:
        sk.merge([b, sk.merge([b, a])])
    assert err.value.code == "overlapping_posts"


def test_finalize_takes_a_kpi_object_only_as_the_states_define_it() -> None:
    # another formula under a KPI's name once finalized the states' own KPI without a word
    states = sk.partial(TABLES["posts"], kpis=[sk.KPI("likes2", "sum(likes)"), "likes"])
    assert states.finalize(kpis=[sk.KPI("likes2", "sum(likes)")]).columns == ["likes2"]
    for other in (sk.KPI("likes", "sum(comments)"), sk.KPI("likes2", "sum(comments)")):
        with pytest.raises(sk.QueryError) as err:
            states.finalize(kpis=[other])
        assert err.value.code == "not_in_states"
        assert other.name in str(err.value)


def test_overlapping_posts_are_an_error() -> None:
    a = _partial(TABLES["posts"][:700])
    b = _partial(TABLES["posts"][600:])
    with pytest.raises(sk.InputError) as err:
        sk.merge([a, b])
    assert err.value.code == "overlapping_posts"
    assert "100 posts" in str(err.value)


def test_months_with_their_own_snapshots_merge_into_the_year() -> None:
    # posts and follower snapshots both split by month: February's followers_start is
    # January's last snapshot, found in January's states
    kw = {
        "kpis": ["posts", "followers", "followers_start", "follower_growth"],
        "by": ["platform"],
        "every": "1mo",
    }
    posts, accounts = TABLES["posts"], TABLES["accounts"]
    month = pl.col("published_at").dt.month()
    parts = [
        sk.partial(posts.filter(month == m), accounts.filter(pl.col("date").dt.month() == m), **kw)  # type: ignore[arg-type]
        for m in range(1, 13)
    ]
    _same(sk.merge(parts).finalize(), sk.compute(posts, accounts, **kw))  # type: ignore[arg-type]


def test_states_sharing_part_of_a_small_table_do_not_merge() -> None:
    accounts = TABLES["accounts"]
    day = pl.col("date")
    jan, feb, mar = (accounts.filter(day.dt.month() == m) for m in (1, 2, 3))
    kw = {"kpis": ["posts", "followers"], "by": ["platform"], "every": "1mo"}
    posts = _split(TABLES["posts"], "rows", 4, 6)
    first = sk.merge([sk.partial(posts[0], jan, **kw), sk.partial(posts[1], feb, **kw)])  # type: ignore[arg-type]
    second = sk.merge([sk.partial(posts[2], jan, **kw), sk.partial(posts[3], mar, **kw)])  # type: ignore[arg-type]
    with pytest.raises(sk.InputError) as err:
        sk.merge([first, second])
    assert err.value.code == "overlapping_states"


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"by": ["account_id"]}, "account_id"),
        ({"every": "1h"}, "1h"),
        ({"kpis": ["ctr"]}, "ctr"),
    ],
)
def test_finalizing_what_the_states_cannot_give_is_an_error(kwargs: dict[str, object], what: str) -> None:
    states = _partial(TABLES["posts"][:300])
    with pytest.raises(sk.KpiError) as err:
        states.finalize(**kwargs)  # type: ignore[arg-type]
    assert err.value.code in ("not_in_states", "unknown_grain")
    assert what in str(err.value)


def test_weeks_do_not_roll_up_into_months() -> None:
    states = _partial(TABLES["posts"][:300], every="1w")
    with pytest.raises(sk.QueryError) as err:
        states.finalize(every="1mo")
    assert err.value.code == "not_in_states"
    monthly = _partial(TABLES["posts"][:300], every="1mo")
    with pytest.raises(sk.QueryError) as err:
        monthly.finalize(every="1d")
    assert err.value.code == "not_in_states"


def test_a_file_that_is_not_states_does_not_load(tmp_path) -> None:
    plain = tmp_path / "plain.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(plain)
    text = tmp_path / "notes.txt"
    text.write_text("not parquet")
    for path in (plain, text):
        with pytest.raises(sk.InputError) as err:
            sk.States.load(path)
        assert err.value.code == "not_a_states_file"
    with pytest.raises(sk.InputError) as err:
        sk.States.load(tmp_path / "missing.parquet")
    assert err.value.code == "unreadable_file"


def test_states_of_another_schema_version_do_not_load(tmp_path) -> None:
    path = tmp_path / "states.parquet"
    _partial(TABLES["posts"][:200]).save(path)
    table = pq.read_table(path)
    metadata = pq.read_metadata(path).metadata
    header = json.loads(metadata[b"socialkpi.states"])
    header["schema_version"] = 99
    other = tmp_path / "v99.parquet"
    pq.write_table(table.replace_schema_metadata({"socialkpi.states": json.dumps(header)}), other)
    with pytest.raises(sk.InputError) as err:
        sk.States.load(other)
    assert err.value.code == "states_version"
    assert "99" in str(err.value)


def test_post_ids_of_states_written_elsewhere_read_in_any_order_and_once() -> None:
    # another tool may write the post_ids rows in any order: they still find every overlap
    states = _partial(TABLES["posts"][:300])
    frame = states.frame
    ids = frame.filter(pl.col("state_block") == "post_ids")
    rest = frame.filter(pl.col("state_block") != "post_ids")
    shuffled = pl.concat([rest, ids.reverse()])
    moved = sk.States.from_frame(shuffled, states.header)
    assert moved.frame.equals(frame)
    with pytest.raises(sk.InputError) as err:
        sk.merge([moved, _partial(TABLES["posts"][299:310])])
    assert err.value.code == "overlapping_posts"
    assert "1 posts" in str(err.value)
    # a post whose hash is there twice is not states
    with pytest.raises(sk.InputError) as err:
        sk.States.from_frame(pl.concat([frame, ids.head(1)]), states.header)
    assert err.value.code == "not_a_states_file"
    assert "twice" in str(err.value)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"every": None}, "has no periods"),  # daily rows read as one period: groups repeated
        ({"by": []}, "'account_id'"),
        ({"by": ["platform"]}, "'account_id'"),  # rows per account read as per platform
    ],
)
def test_a_header_that_says_another_request_than_its_rows_does_not_read(
    tmp_path, edit: dict[str, object], words: str
) -> None:
    # an edited header once read the rows as the states of its request, and finalized to
    # thousands of repeated groups
    states = sk.partial(TABLES["posts"][:600], kpis="engagement", by=["account_id", "platform"], every="1d")
    header = json.loads(states.header)
    header["spec"].update(edit)
    path = tmp_path / "edited.parquet"
    pq.write_table(
        states.frame.to_arrow().replace_schema_metadata({"socialkpi.states": json.dumps(header)}), path
    )
    with pytest.raises(sk.InputError) as err:
        sk.States.load(path)
    assert err.value.code == "not_a_states_file"
    assert words in str(err.value)


def test_states_frames_with_their_types_changed_do_not_read() -> None:
    # through pandas, counts come back as floats and days as datetimes: a typed error that
    # says so, not an engine error at the next merge
    states = _partial(TABLES["posts"][:300])
    round_trip = pl.from_pandas(states.frame.to_pandas())
    with pytest.raises(sk.InputError) as err:
        sk.States.from_frame(round_trip, states.header)
    assert err.value.code == "not_a_states_file"
    assert "pandas" in str(err.value) or "Date" in str(err.value)
    recast = states.frame.with_columns(pl.col("rows").cast(pl.Utf8))
    with pytest.raises(sk.InputError) as err:
        sk.States.from_frame(recast, states.header)
    assert err.value.code == "not_a_states_file"
    # a group in two rows
    frame = states.frame
    twice = pl.concat([frame, frame.filter(pl.col("state_block") == "posts").head(1)])
    with pytest.raises(sk.InputError) as err:
        sk.States.from_frame(twice, states.header)
    assert err.value.code == "not_a_states_file"
    assert "more than one row" in str(err.value)


@pytest.mark.parametrize("column", ["mystery", "c:fee", "rn:eng"])
def test_a_block_with_a_column_that_is_not_its_state_does_not_read(column: str) -> None:
    # a column of no state, a state of another table's block, a name that reads as neither
    states = _partial(TABLES["posts"][:200])
    header = json.loads(states.header)
    posts = next(b for b in header["blocks"] if b["source"] == "posts")
    posts["columns"].append(column)
    frame = states.frame.with_columns(pl.lit(1.0).alias(column))
    with pytest.raises(sk.InputError) as err:
        sk.States.from_frame(frame, json.dumps(header))
    assert err.value.code == "not_a_states_file"
    assert column in str(err.value)


def test_a_failed_save_leaves_the_old_file(tmp_path) -> None:
    path = tmp_path / "states.parquet"
    states = _partial(TABLES["posts"][:200])
    states.save(path)
    before = path.read_bytes()
    with pytest.raises(sk.InputError) as err:
        states.save(tmp_path / "no" / "such" / "dir" / "states.parquet")
    assert err.value.code == "unwritable_file"
    assert path.read_bytes() == before


def test_saves_at_once_never_write_into_each_other(tmp_path) -> None:
    # every save once wrote through the same "<name>.parquet.partial": two at once could leave
    # a file that is not states, or one path's states under the other's name
    import threading

    small, large = _partial(TABLES["posts"][:100]), _partial(TABLES["posts"][:2000])
    path = tmp_path / "states.parquet"
    errors: list[BaseException] = []

    def save(states: sk.States, target: Path) -> None:
        try:
            for _ in range(5):
                states.save(target)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=save, args=(s, path)) for s in (small, large)]
    threads.append(threading.Thread(target=save, args=(small, tmp_path / "states.json")))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sk.States.load(path).frame.height in (small.frame.height, large.frame.height)
    assert sk.States.load(tmp_path / "states.json").frame.height == small.frame.height
    assert sorted(p.name for p in tmp_path.iterdir()) == ["states.json", "states.parquet"]


def test_a_save_past_the_file_size_limit_is_unwritable_and_keeps_the_old_file(tmp_path) -> None:
    # (a subprocess: the limit is the process's)
    code = f"""
import resource, signal, sys
import socialkpi as sk
posts, _ = sk.datasets.sample(n_accounts=20)
path = {str(tmp_path / "states.parquet")!r}
sk.partial(posts.head(50), kpis=["posts"], by=["account_id"], every="1d").save(path)
before = open(path, "rb").read()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 1000, resource.RLIM_INFINITY))
try:
    sk.partial(posts, kpis="engagement", by=["account_id"], every="1d").save(path)
except sk.InputError as e:
    print(e.code, open(path, "rb").read() == before)
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["unwritable_file", "True"], out.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["states.parquet"]


def test_merge_load_and_save_take_what_they_document() -> None:
    states = _partial(TABLES["posts"][:10])
    for call in (
        lambda: sk.merge(None),  # type: ignore[arg-type]
        lambda: sk.merge(5),  # type: ignore[arg-type]
        lambda: sk.States.load(None),  # type: ignore[arg-type]
        lambda: sk.States.load(3),  # type: ignore[arg-type]
        lambda: states.save(5),  # type: ignore[arg-type]
    ):
        with pytest.raises(sk.ArgumentError):
            call()


def test_merge_and_update_take_states_only() -> None:
    with pytest.raises(sk.ArgumentError):
        sk.merge([])
    with pytest.raises(sk.ArgumentError):
        sk.merge([WHOLE])  # type: ignore[list-item]
    with pytest.raises(sk.ArgumentError):
        _partial(TABLES["posts"][:10]).update(WHOLE)  # type: ignore[arg-type]

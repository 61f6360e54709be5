"""Numbers at the edges: integer sums and formula arithmetic never wrap, unsigned and date
extremes give typed errors, and wrong arguments or malformed inputs raise KpiErrors with codes.

Oracles: Python integers (exact at any size) and the calendar of the `datetime` module."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import socialkpi as sk

MAX = 2**63 - 1
MIN = -(2**63)


def posts(**columns: list) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "post_id": [f"p{i}" for i in range(n)],
        "account_id": ["acme" if i % 2 == 0 else "zen" for i in range(n)],
        "published_at": [dt.datetime(2026, 1, 1 + i % 28, 9) for i in range(n)],
    }
    return pl.DataFrame({**base, **columns})


def code_of(exc: type[BaseException], *args, **kwargs) -> str:
    with pytest.raises(exc) as info:
        sk.compute(*args, **kwargs)
    assert isinstance(info.value, sk.KpiError)
    return info.value.code


# ---- integer sums ------------------------------------------------------------------------


def test_a_sum_past_int64_is_an_error_not_a_wrapped_number():
    # 2^63 - 1 + 1 wrapped to -2^63 before
    p = posts(likes=[MAX, 1])
    assert code_of(sk.InputError, p, kpis=["likes"]) == "integer_overflow"
    assert code_of(sk.InputError, p, kpis=["likes"], by=["account_id"]) == "integer_overflow"


@pytest.mark.parametrize("batch_rows", [None, "1"])
def test_sums_up_to_the_int64_limit_are_exact(monkeypatch, batch_rows):
    if batch_rows:
        monkeypatch.setenv("SOCIALKPI_BATCH_ROWS", batch_rows)  # a batch per row: the bound adds up
    values = [2**62, 2**61, 2**61 - 1, 0]
    got = sk.compute(posts(likes=values), kpis=["likes", "posts"])
    assert got["likes"][0] == sum(values) == MAX
    table = posts(likes=values)
    want: dict[str, int] = {}
    for account, v in zip(table["account_id"], values):
        want[account] = want.get(account, 0) + v
    by_account = sk.compute(table, kpis=["likes"], by=["account_id"])
    assert dict(by_account.iter_rows()) == want


def test_engagements_of_one_post_past_int64_is_an_error():
    p = posts(likes=[MAX], comments=[1])
    assert code_of(sk.InputError, p, kpis=["engagements"]) == "integer_overflow"
    # the same values in two posts whose sum fits are exact
    ok = posts(likes=[2**62, 0], comments=[0, 2**62 - 1])
    assert sk.compute(ok, kpis=["engagements"])["engagements"][0] == MAX


def test_a_chain_of_columns_past_int64_is_an_error():
    p = posts(likes=[2**62 + 1], comments=[2**62], shares=[0])
    chain = sk.KPI("loud", "likes + comments + shares")
    assert code_of(sk.InputError, p, kpis=[chain]) == "integer_overflow"


def test_formula_products_and_negations_do_not_wrap():
    likes, comments = [2**31, 3], [2**31, 5]
    p = posts(likes=likes, comments=comments)
    # per post (inside sum): Σ likes x comments
    prod = sk.KPI("prod", "sum(likes * comments)")
    assert code_of(sk.InputError, posts(likes=[2**32], comments=[2**32]), kpis=[prod]) == "integer_overflow"
    assert sk.compute(p, kpis=[prod])["prod"][0] == sum(a * b for a, b in zip(likes, comments))
    neg = sk.KPI("neg", "sum(0 - likes)")
    assert sk.compute(p, kpis=[neg])["neg"][0] == -sum(likes)
    # -(-2^63) is past the range (revenue may be negative)
    negate = sk.KPI("negate", "sum(0 - revenue)")
    assert code_of(sk.InputError, posts(revenue=[MIN, 0]), kpis=[negate]) == "integer_overflow"
    assert sk.compute(posts(revenue=[MIN + 1, 0]), kpis=[negate])["negate"][0] == MAX
    # over the states: a sum times a sum
    over = sk.KPI("over", "likes * comments")
    assert code_of(sk.InputError, posts(likes=[2**40], comments=[2**40]), kpis=[over]) == "integer_overflow"
    assert sk.compute(p, kpis=[over])["over"][0] == sum(likes) * sum(comments)


# ---- input types -------------------------------------------------------------------------


def test_uint64_values_above_int64_are_an_error_and_below_are_exact():
    big = posts(likes=pl.Series([2**64 - 1, 1], dtype=pl.UInt64))
    assert code_of(sk.InputError, big, kpis=["likes"]) == "value_out_of_range"
    fits = posts(likes=pl.Series([2**63 - 2, 1], dtype=pl.UInt64))
    assert sk.compute(fits, kpis=["likes"])["likes"][0] == MAX


def test_dates_at_the_edges_of_the_date_type_are_an_error():
    for days in [-(2**31), 2**31 - 1, 2**30 + 1]:
        p = posts(likes=[1, 2]).with_columns(
            pl.Series("published_at", [0, days], dtype=pl.Int32).cast(pl.Date)
        )
        assert code_of(sk.InputError, p, kpis=["likes"], every="1w") == "date_out_of_range"


def test_far_dates_inside_the_calendar_keep_their_periods():
    days = [dt.date(1, 1, 1), dt.date(1, 1, 2), dt.date(9999, 12, 31), dt.date(9999, 1, 1)]
    p = posts(likes=[1, 2, 4, 8]).with_columns(pl.Series("published_at", days))
    for every, start in [
        ("1y", lambda d: dt.date(d.year, 1, 1)),
        ("1mo", lambda d: d.replace(day=1)),
        ("1w", lambda d: d - dt.timedelta(days=d.weekday())),
    ]:
        got = sk.compute(p, kpis=["likes"], every=every)
        want: dict[dt.date, int] = {}
        for d, v in zip(days, [1, 2, 4, 8]):
            want[start(d)] = want.get(start(d), 0) + v
        assert dict(got.iter_rows()) == want, every


def test_an_empty_time_zone_is_an_error():
    assert code_of(sk.QueryError, posts(likes=[1]), kpis=["likes"], tz="") == "unknown_time_zone"


# ---- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kpis": None},
        {"kpis": 5},
        {"kpis": ["likes", 5]},
        {"kpis": ["likes"], "by": 5},
        {"kpis": ["likes"], "by": ["account_id", 5]},
        {"kpis": ["likes"], "every": 5},
        {"kpis": ["likes"], "tz": None},
        {"kpis": ["likes"], "dedupe": 5},
        {"kpis": ["likes"], "sources": 5},
        {"kpis": ["likes"], "output": "arrow"},
    ],
)
def test_wrong_arguments_are_argument_errors(kwargs):
    with pytest.raises(sk.ArgumentError) as info:
        sk.compute(posts(likes=[1]), **kwargs)
    err = info.value
    assert err.code == "invalid_argument"
    assert isinstance(err, sk.QueryError) and isinstance(err, TypeError) and isinstance(err, ValueError)


def test_contract_status_checks_its_arguments():
    contracts = pl.DataFrame(
        {
            "account_id": ["acme"],
            "start": [dt.date(2026, 1, 1)],
            "end": [dt.date(2026, 1, 31)],
            "posts_agreed": [2],
        }
    )
    for kwargs in [{"as_of": "x"}, {"as_of": 5}, {"tz": None}, {"output": 1}]:
        with pytest.raises(sk.ArgumentError) as info:
            sk.contract_status(posts(likes=[1]), contracts, **kwargs)
        assert info.value.code == "invalid_argument"


def test_grouping_by_the_time_column_says_to_use_every():
    assert code_of(sk.QueryError, posts(likes=[1]), kpis=["likes"], by="published_at") == "time_dimension"


# ---- malformed inputs --------------------------------------------------------------------


def test_duplicate_column_names_are_an_error():
    frame = pd.DataFrame([["p1", "acme", 1, 2]], columns=["post_id", "account_id", "likes", "likes"])
    assert code_of(sk.SchemaError, frame, kpis=["likes"]) == "duplicate_column"
    table = pa.table([pa.array(["p1"]), pa.array([1]), pa.array([2])], names=["post_id", "likes", "likes"])
    assert code_of(sk.SchemaError, table, kpis=["likes"]) == "duplicate_column"


def test_a_mixed_pandas_column_is_an_error_when_read():
    frame = pd.DataFrame(
        {"post_id": ["p1", "p2"], "account_id": ["a", "a"], "likes": [1, 2], "notes": [1, "two"]}
    )
    # not read: the other columns compute
    assert sk.compute(frame, kpis=["likes"])["likes"][0] == 3
    mixed = frame.assign(likes=[1, "two"])
    assert code_of(sk.SchemaError, mixed, kpis=["likes"]) == "mixed_types"


def test_a_lazy_frame_that_fails_when_collected_is_an_input_error():
    lazy = posts(likes=["1", "x"]).lazy().with_columns(pl.col("likes").cast(pl.Int64))
    assert code_of(sk.InputError, lazy, kpis=["likes"]) == "unreadable_table"


def test_kpis_may_be_any_iterable():
    got = sk.compute(posts(likes=[1, 2]), kpis=(k for k in ["likes", "posts"]))
    assert got.row(0) == (3, 2)


def test_contract_status_needs_both_tables():
    with pytest.raises(sk.QueryError) as info:
        sk.contract_status(posts(likes=[1]), None)
    assert not isinstance(info.value, sk.ArgumentError)  # as compute says it: a QueryError
    assert info.value.code == "missing_table"


# ---- engine errors in the user's terms ----------------------------------------------------


def test_a_csv_whose_late_rows_do_not_parse_says_how_to_read_it(tmp_path):
    path = tmp_path / "posts.csv"
    rows = [f"p{i},acme,2026-01-01 10:00:00,{i}" for i in range(20_000)] + [
        "px,acme,2026-01-01 10:00:00,1.2k"
    ]
    path.write_text("post_id,account_id,published_at,likes\n" + "\n".join(rows) + "\n")
    with pytest.raises(sk.InputError) as info:
        sk.compute(str(path), kpis=["likes"])
    assert info.value.code == "unparseable_file"
    assert "likes" in str(info.value) and "read_posts" in str(info.value)


def test_parquet_files_with_different_types_are_mismatched_files(tmp_path):
    base = posts(likes=[1, 2])
    base.write_parquet(tmp_path / "a.parquet")
    base.with_columns(pl.col("likes").cast(pl.String)).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(sk.InputError) as info:
        sk.compute(str(tmp_path / "*.parquet"), kpis=["likes"])
    assert info.value.code == "mismatched_files"


def test_a_list_column_as_a_dimension_is_unsupported():
    p = posts(likes=[1, 2]).with_columns(pl.Series("tags", [["a"], ["b"]]))
    assert code_of(sk.SchemaError, p, kpis=["likes"], by=["tags"]) == "unsupported_type"


def test_times_beyond_the_time_zone_calendar_are_out_of_range():
    far = pl.Series([0, 2**63 - 1]).cast(pl.Datetime("us"))
    p = posts(likes=[1, 2]).with_columns(far.alias("published_at"))
    assert code_of(sk.InputError, p, kpis=["likes"], every="1d", tz="Europe/Berlin") == "date_out_of_range"
    # in UTC the same times have their days
    assert sk.compute(p, kpis=["likes"], every="1y").height == 2


def test_a_list_of_files_with_different_columns_names_the_file(tmp_path):
    base = posts(likes=[1, 2])
    base.write_parquet(tmp_path / "a.parquet")
    base.with_columns(pl.col("likes").cast(pl.Float64)).write_parquet(tmp_path / "b.parquet")
    base.with_columns(pl.lit(1).alias("extra")).write_parquet(tmp_path / "c.parquet")
    for other in ["b", "c"]:
        with pytest.raises(sk.InputError) as info:
            sk.compute([str(tmp_path / "a.parquet"), str(tmp_path / f"{other}.parquet")], kpis=["likes"])
        assert info.value.code == "mismatched_files"
        assert f"{other}.parquet" in str(info.value)


def test_a_share_whose_total_passes_int64_does_not_wrap():
    # each account's product fits (2^62); their total (2^63) does not
    p = posts(likes=[2**31, 2**31], comments=[2**31, 2**31])
    share = sk.KPI("s", "share(likes * comments)")
    got = sk.compute(p, kpis=[share], by=["account_id"])
    assert got["s"].to_list() == [0.5, 0.5]

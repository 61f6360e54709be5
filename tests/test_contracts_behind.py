"""Contracts answer "who is behind" (issue 14): contract_status's schedule columns, which posts
deliver on a contract (campaign, else the sponsored flag, else every post with a warning), the
over-delivery warning, and open-ended or very long contracts in bounded memory.

Every value is compared with the independent DuckDB oracle of tests/oracle_money.py (written
from the rules of docs/kpis.md) or worked out by hand; never with the engine's own output.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from oracle_money import oracle_contract_status, oracle_money, over_delivered
from test_money import check, contracts_frame, make_money_tables, post_rows

D = dt.date
T = dt.datetime
KPIS = ["posts_agreed", "delivery_rate", "cost", "cpe"]
STATUS_KEYS = ["status", "attribution"]


@pytest.fixture(scope="module")
def money() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_money_tables()


def status_keys(contracts: pl.DataFrame) -> list[str]:
    return [*contracts.columns, *STATUS_KEYS]


def sponsored_as(posts: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The posts' Boolean sponsored flag spelled as an export might spell it (nulls kept)."""
    flag = pl.col("sponsored")
    spelled = {
        "bool": flag,
        "int": flag.cast(pl.Int64),
        "text": pl.when(flag).then(pl.lit("Yes")).otherwise(pl.lit("no")),
    }[kind]
    # a few unknown flags: null is not sponsored
    return posts.with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0).then(None).otherwise(spelled).alias("sponsored")
    )


# ---------------------------------------------------------------------------------------------
# contract_status: the schedule


@pytest.mark.parametrize("as_of", [D(2024, 12, 1), D(2025, 3, 20), D(2025, 7, 15), D(2026, 6, 1)])
@pytest.mark.parametrize("tie", ["campaign", "sponsored", "account"])
def test_contract_status_matches_oracle(money, as_of, tie):
    posts, contracts = money
    if tie != "campaign":
        contracts = contracts.drop("campaign")
    if tie == "account":
        posts = posts.drop("sponsored")
    got = sk.contract_status(posts, contracts, as_of=as_of)
    assert set(got["attribution"]) == {tie}
    check(got, oracle_contract_status(posts, contracts, as_of), status_keys(contracts))


def test_upcoming_contracts_are_not_behind():
    # the issue's reproducer: as_of mid-year, so the funnel's contracts are of all three kinds
    posts, _ = sk.datasets.sample(n_accounts=60, n_posts=30_000, seed=7)
    _, _, deals = sk.datasets.funnel(posts, n_contracts=80, seed=7)
    as_of = D(2025, 6, 30)
    got = sk.contract_status(posts, deals, as_of=as_of)
    check(got, oracle_contract_status(posts, deals, as_of), status_keys(deals))
    assert set(got["status"]) == {"upcoming", "running", "ended"}
    upcoming = got.filter(status="upcoming")
    assert upcoming["remaining"].null_count() == upcoming.height
    assert upcoming["behind"].to_list() == [0] * upcoming.height
    assert upcoming["on_track"].all() and upcoming["expected_by_now"].to_list() == [0.0] * upcoming.height
    # those behind are behind by whole posts due on a straight-line schedule
    behind = got.filter(pl.col("behind") > 0)
    assert (behind["delivered"] < behind["expected_by_now"].floor()).all()


def test_a_running_contract_by_hand():
    contracts = contracts_frame([("a", "c", D(2026, 3, 1), D(2026, 3, 10), 5, 1000.0)])
    posts = post_rows(
        [{"post_id": str(i), "account_id": "a", "campaign": "c", "published_at": T(2026, 3, d, 12)}
         for i, d in enumerate([1, 2, 9])]
    )  # fmt: skip
    out = sk.contract_status(posts, contracts, as_of=D(2026, 3, 4))
    # 4 of 10 days elapsed: 2 posts due, 2 delivered (the one of the 9th is after as_of); 400 of
    # the fee earned, 200 a post
    assert out.select("status", "delivered", "expected_by_now", "pace", "behind", "on_track", "remaining",
                      "days_left", "fee_to_date", "cost_per_post").row(0) == (
        "running", 2, 2.0, 1.0, 0, True, 3, 6, 400.0, 200.0)  # fmt: skip
    out = sk.contract_status(posts, contracts, as_of=D(2026, 3, 8))
    # 8 of 10 days: 4 due, 2 delivered: 2 behind, at half pace
    assert out.select("expected_by_now", "pace", "behind", "on_track").row(0) == (4.0, 0.5, 2, False)
    # no fee column: no fee columns in the result
    out = sk.contract_status(posts, contracts.drop("fee"), as_of=D(2026, 3, 8))
    assert "fee_to_date" not in out.columns and "cost_per_post" not in out.columns


def test_nothing_agreed_has_no_pace():
    contracts = contracts_frame([("a", "c", D(2026, 3, 1), D(2026, 3, 10), 0, 100.0)])
    posts = post_rows([{"post_id": "1", "account_id": "a", "campaign": "c", "published_at": T(2026, 3, 2)}])
    out = sk.contract_status(posts, contracts, as_of=D(2026, 3, 5))
    assert out.select("expected_by_now", "pace", "behind", "on_track").row(0) == (0.0, None, 0, True)


# ---------------------------------------------------------------------------------------------
# which posts deliver: campaign, else sponsored, else every post (with a warning)


@pytest.mark.parametrize("every", [None, "1mo"])
@pytest.mark.parametrize("kind", ["bool", "int", "text"])
def test_delivery_counts_sponsored_posts_without_a_campaign(money, every, kind):
    posts, contracts = money
    posts, contracts = sponsored_as(posts, kind), contracts.drop("campaign")
    by = ["account_id"]
    res = sk.compute_details(posts, contracts=contracts, kpis=KPIS, by=by, every=every)
    check(res.frame, oracle_money(posts, contracts, KPIS, by, every), by)
    assert not any("every post" in w for w in res.warnings)
    got = sk.contract_status(posts, contracts, as_of=D(2025, 9, 1))
    check(got, oracle_contract_status(posts, contracts, D(2025, 9, 1)), status_keys(contracts))


def test_campaign_ties_posts_whatever_their_flag(money):
    posts, contracts = money
    by = ["account_id", "campaign"]
    res = sk.compute_details(posts, contracts=contracts, kpis=KPIS, by=by, every="1mo")
    check(res.frame, oracle_money(posts, contracts, KPIS, by, "1mo"), by)
    # the flag does not matter when campaigns tie posts: all unsponsored, same result
    unflagged = sk.compute(posts.with_columns(sponsored=pl.lit(False)), contracts=contracts, kpis=KPIS, by=by,
                           every="1mo")  # fmt: skip
    check(unflagged, res.frame, by)


def test_without_campaign_or_sponsored_every_post_counts_with_a_warning(money):
    posts, contracts = money
    posts, contracts = posts.drop("sponsored"), contracts.drop("campaign")
    res = sk.compute_details(posts, contracts=contracts, kpis=KPIS, by=["account_id"])
    check(res.frame, oracle_money(posts, contracts, KPIS, ["account_id"], None), ["account_id"])
    assert any("every post of the contracted account" in w for w in res.warnings), res.warnings
    # a KPI that does not count deliveries does not warn
    quiet = sk.compute_details(posts, contracts=contracts, kpis=["cost"], by=["account_id"])
    assert not any("every post" in w for w in quiet.warnings)


def test_a_flag_that_is_no_yes_no_value_is_an_error(money):
    posts, contracts = money
    dated = posts.with_columns(sponsored=pl.col("published_at"))
    for call in (
        lambda: sk.compute(dated, contracts=contracts.drop("campaign"), kpis=["delivery_rate"]),
        lambda: sk.contract_status(dated, contracts.drop("campaign"), as_of=D(2025, 6, 1)),
    ):
        with pytest.raises(sk.SchemaError) as info:
            call()
        assert info.value.code == "not_boolean"


# ---------------------------------------------------------------------------------------------
# over-delivery


def over_warning(warnings: list[str]) -> str | None:
    hits = [w for w in warnings if w.startswith("delivery_rate:")]
    assert len(hits) <= 1
    return hits[0] if hits else None


def test_the_issue_reproducer_gives_realistic_delivery():
    posts, _ = sk.datasets.sample(n_accounts=60, n_posts=30_000, seed=7)
    _, _, deals = sk.datasets.funnel(posts, n_contracts=80, seed=7)
    res = sk.compute_details(posts, contracts=deals, kpis=["delivery_rate"], by=["account_id"])
    assert res.frame["delivery_rate"].max() <= 1.5  # was 61.0: every post of the account counted
    check(res.frame, oracle_money(posts, deals, ["delivery_rate"], ["account_id"], None), ["account_id"])
    assert over_warning(res.warnings) is None and over_delivered(posts, deals) == []
    # the same contracts counted against every post: far above 1, and the contracts are named
    unflagged = posts.drop("sponsored")
    res = sk.compute_details(unflagged, contracts=deals, kpis=["delivery_rate"], by=["account_id"])
    assert res.frame["delivery_rate"].max() > 1.5
    flagged = over_delivered(unflagged, deals)
    warning = over_warning(res.warnings)
    n_contracts = sum(len(f["rows"]) for f in flagged)  # type: ignore[arg-type]
    assert warning is not None
    assert (
        f"{len(flagged)} accounts have more than 1.5 times the posts their {n_contracts} contracts agreed"
        in warning
    )
    named = re.findall(
        r"account_id=(\S+) platform=(\S+): (\d+) posts for (\S+) agreed in ([0-9., -]+)", warning
    )
    expected = [
        (f["account_id"], f["platform"], str(f["posts"]), f"{f['agreed']:g}",
         ", ".join(f"{deals['start'][r]}..{deals['end'][r]}" for r in f["rows"]))  # type: ignore[union-attr]
        for f in flagged[:5]
    ]  # fmt: skip
    assert named == expected
    assert "and " in warning and "campaign column" in warning


def test_over_delivery_names_the_contracts_by_hand():
    contracts = contracts_frame(
        [("a", "c", D(2026, 3, 1), D(2026, 3, 15), 1, 100.0), ("b", "c", D(2026, 3, 1), D(2026, 3, 31), 2, 100.0),
         ("a", "c", D(2026, 3, 10), D(2026, 3, 31), 1, 50.0)]
    ).drop("campaign")  # fmt: skip
    rows = [{"post_id": f"a{i}", "account_id": "a", "published_at": T(2026, 3, 1 + i), "sponsored": True}
            for i in range(4)]  # fmt: skip
    rows += [{"post_id": f"b{i}", "account_id": "b", "published_at": T(2026, 3, 1 + i), "sponsored": i < 3}
             for i in range(9)]  # fmt: skip
    posts = post_rows(rows)
    res = sk.compute_details(
        posts, contracts=contracts, kpis=["delivery_rate"], by=["account_id"], every="1d"
    )
    # a: 4 sponsored posts (each once, though the windows overlap) for 1 + 1 agreed: 2 > 1.5;
    # b: 3 of its 9 posts are sponsored, for 2 agreed: 1.5, not above
    warning = over_warning(res.warnings)
    assert warning is not None
    assert warning.startswith(
        "delivery_rate: 1 accounts have more than 1.5 times the posts their 2 contracts"
    )
    assert "account_id=a: 4 posts for 2 agreed in 2026-03-01..2026-03-15, 2026-03-10..2026-03-31" in warning
    assert "account_id=b" not in warning
    flagged = over_delivered(posts, contracts)
    assert [(f["account_id"], f["posts"], f["agreed"], f["rows"]) for f in flagged] == [("a", 4, 2.0, [0, 2])]


# ---------------------------------------------------------------------------------------------
# open-ended and very long contracts


def open_ended(contracts: pl.DataFrame) -> pl.DataFrame:
    """Every third contract without an end, as a warehouse writes it."""
    no_end = pl.int_range(pl.len()) % 3 == 0
    return contracts.with_columns(pl.when(no_end).then(pl.lit(D(9999, 12, 31))).otherwise("end").alias("end"))


@pytest.mark.parametrize("every", [None, "1d", "1mo"])
def test_open_ended_contracts_run_through_the_data(money, every):
    posts, contracts = money
    contracts = open_ended(contracts)
    by = ["account_id", "campaign"]
    res = sk.compute_details(posts, contracts=contracts, kpis=KPIS, by=by, every=every)
    check(res.frame, oracle_money(posts, contracts, KPIS, by, every), by)
    last = posts["published_at"].max().date()  # type: ignore[union-attr]
    assert any(f"run through {last}" in w for w in res.warnings), res.warnings
    if every == "1d":
        assert res.frame["period_start"].max() <= max(
            last, contracts.filter(pl.col("end").dt.year() < 9999)["end"].max()
        )


def test_open_ended_contracts_run_through_the_data_of_a_parquet_file(money, tmp_path, monkeypatch):
    # the posts' last day is read from the file a slice of row groups at a time
    posts, contracts = money
    contracts = open_ended(contracts)
    path = tmp_path / "posts.parquet"
    posts.write_parquet(path, row_group_size=150)
    monkeypatch.setenv("SOCIALKPI_BATCH_ROWS", "300")
    by = ["account_id"]
    got = sk.compute(str(path), contracts=contracts, kpis=KPIS, by=by, every="1mo")
    check(got, oracle_money(posts, contracts, KPIS, by, "1mo"), by)


def test_open_ended_contracts_without_posts_run_to_the_latest_contract_date():
    contracts = contracts_frame([("a", "c", D(2026, 1, 1), D(9999, 12, 31), 10, 1000.0),
                                 ("b", "c", D(2026, 1, 1), D(2026, 1, 10), 1, 10.0)])  # fmt: skip
    out = sk.compute(contracts=contracts, kpis=["cost", "posts_agreed"], by=["account_id"], every="1d")
    a = out.filter(account_id="a")
    # a runs Jan 1-10, the latest date the contracts hold: 100 a day, 1 post a day
    assert a["period_start"].to_list() == [D(2026, 1, d) for d in range(1, 11)]
    assert a["cost"].to_list() == pytest.approx([100.0] * 10)
    assert a["posts_agreed"].to_list() == pytest.approx([1.0] * 10)


def test_open_ended_contract_status_has_no_schedule(money):
    posts, contracts = money
    contracts = open_ended(contracts)
    for as_of in (D(2024, 12, 1), D(2025, 7, 15)):
        got = sk.contract_status(posts, contracts, as_of=as_of)
        check(got, oracle_contract_status(posts, contracts, as_of), status_keys(contracts))
    started = got.filter(pl.col("end").dt.year() == 9999, status="running")
    assert started.height > 0
    assert (
        started.select("expected_by_now", "pace", "behind", "on_track", "days_left").null_count().row(0)
        == (started.height,) * 5
    )
    assert (started["fee_to_date"] == started["fee"]).all()


def test_a_far_finite_end_by_day_is_a_typed_error(money):
    posts, contracts = money
    far = contracts.with_columns(end=pl.lit(D(2999, 12, 31)))
    with pytest.raises(sk.InputError) as info:
        sk.compute(posts, contracts=far, kpis=["posts_agreed"], by=["account_id"], every="1d")
    assert info.value.code == "contract_span"
    assert "2999-12-31" in str(info.value)
    # by month the same contracts are 16 x 12,000 periods: within the limit
    out = sk.compute(contracts=far.head(2), kpis=["posts_agreed"], every="1y")
    assert out.height == 2999 - 2025 + 1


MEMORY_SCRIPT = textwrap.dedent(
    """
    import datetime as dt, resource, sys
    import polars as pl
    import socialkpi as sk

    posts, _ = sk.datasets.sample(n_accounts=60, n_posts=30_000, seed=7)
    _, _, deals = sk.datasets.funnel(posts, n_contracts=80, seed=7)
    # address space: what the process holds now plus 1.5 GB (contracts x days to 9999 take ~50 GB)
    held = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    limit = held + (3 << 29)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    end = dt.date(int(sys.argv[1]), 12, 31)
    try:
        out = sk.compute(posts, contracts=deals.with_columns(end=pl.lit(end)),
                         kpis=["cost", "posts_agreed", "delivery_rate"], by=["account_id"], every="1d")
        print("rows", out.height, out["period_start"].max())
    except sk.KpiError as e:
        print("error", type(e).__name__, e.code)
    """
)


@pytest.mark.parametrize(("year", "expected"), [(9999, "rows"), (2999, "error InputError contract_span")])
def test_open_and_far_ends_by_day_stay_in_bounded_memory(tmp_path: Path, year: int, expected: str):
    script = tmp_path / "contracts_memory.py"
    script.write_text(MEMORY_SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), str(year)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(expected), (run.stdout, run.stderr[-2000:])
    if year == 9999:
        # open ends closed at the last post (2025-12-31 at the latest): a year of days per account
        assert run.stdout.split()[-1] <= "2025-12-31"

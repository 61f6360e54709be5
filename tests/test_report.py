"""sk.report: a self-contained HTML file, opened in headless Chromium without network. Headline
numbers are checked against sk.compute and the DuckDB oracle; data texts must stay text."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle

SCRIPT = "<script>alert(1)</script>"
# Chromium's own background calls (network time, its start page); anything else is the page's
# Chromium's own requests, not the page's: its clock check, its search page, and (Chromium 156)
# the component updater, which --disable-component-update no longer stops
CHROMIUM_OWN = (
    "http://clients2.google.com/time/",
    "https://www.google.com/async/",
    "http://update.googleapis.com/service/update2/",
    "https://update.googleapis.com/service/update2/",
)


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.text: list[str] = []
        self.cards: dict[str, str] = {}
        self.earlier: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for key in ("src", "href", "xlink:href", "action", "data"):
            if a.get(key):
                self.refs.append(str(a[key]))
        if a.get("data-kpi"):
            self.cards[str(a["data-kpi"])] = str(a.get("data-value"))
            self.earlier[str(a["data-kpi"])] = str(a.get("data-earlier"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    posts, accounts = sk.datasets.sample(n_accounts=24, n_posts=6_000, seed=11)
    posts = posts.with_columns(
        pl.when(pl.col("account_id") == "acct_00003").then(pl.lit(SCRIPT)).otherwise(pl.col("account_id")).alias("account_id"),
        pl.lit("=HYPERLINK(\"http://evil\")").alias("caption"),
    )  # fmt: skip
    accounts = accounts.with_columns(
        pl.when(pl.col("account_id") == "acct_00003").then(pl.lit(SCRIPT)).otherwise(pl.col("account_id")).alias("account_id")
    )  # fmt: skip
    traffic, conversions, contracts = sk.datasets.funnel(posts, n_contracts=40, seed=11)
    path = tmp_path_factory.mktemp("report") / "report.html"
    out = sk.report(
        posts,
        accounts,
        traffic=traffic,
        conversions=conversions,
        contracts=contracts,
        by="account_id",
        every="1mo",
        title="Acme <b>report</b>",
        path=path,
    )
    assert out == path
    return path, posts, accounts


def test_the_headline_compares_with_the_calendar_period_before(
    written: tuple[Path, pl.DataFrame, pl.DataFrame],
) -> None:
    path, posts, accounts = written
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert "vs the period before" in "".join(page.text)
    kpis = ["posts", "engagement_rate", "followers"]
    monthly = oracle(posts, accounts, kpis, [], "1mo").sort("period_start")
    last = monthly.filter(pl.col("posts") > 0)["period_start"][-1]
    month_before = (last.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    before = monthly.filter(pl.col("period_start") == month_before).row(0, named=True)
    for k in kpis:
        assert float(page.earlier[k]) == pytest.approx(before[k], rel=1e-12), k


def test_the_headline_compares_with_a_year_before(tmp_path: Path) -> None:
    posts, accounts = sk.datasets.sample(
        n_accounts=6, n_posts=3_000, start=dt.date(2024, 1, 1), days=730, seed=3
    )
    path = sk.report(posts, accounts, every="1q", path=tmp_path / "r.html", compare="last_year")
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert "vs a year before" in "".join(page.text)
    quarterly = oracle(posts, accounts, ["posts", "engagement_rate"], [], "1q").sort("period_start")
    last = quarterly["period_start"][-1]
    year_before = quarterly.filter(pl.col("period_start") == last.replace(year=last.year - 1)).row(
        0, named=True
    )
    assert float(page.earlier["posts"]) == year_before["posts"]
    assert float(page.earlier["engagement_rate"]) == pytest.approx(year_before["engagement_rate"], rel=1e-12)
    with pytest.raises(sk.ArgumentError):
        sk.report(posts, path=tmp_path / "x.html", compare="yesterday")


def test_page_is_self_contained_and_escaped(written: tuple[Path, pl.DataFrame, pl.DataFrame]) -> None:
    path, _, _ = written
    page = Page()
    source = path.read_text(encoding="utf-8")
    page.feed(source)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert page.refs == [] and "url(" not in source and "@import" not in source
    text = "".join(page.text)
    assert SCRIPT in text  # the account name shows as text
    assert "Acme <b>report</b>" in text
    assert page.tags.count("svg") >= 3  # trends, comparison, contracts, funnel
    for section in ("Trends", "By account_id, over the whole range", "Top 10 posts by engagement rate",
                    "Bottom 10 posts by engagement rate", "Funnel", "Appendix: definitions used"):  # fmt: skip
        assert section in text, section
    assert "Contracts behind schedule on " in text


def test_headline_numbers_equal_compute_and_the_oracle(
    written: tuple[Path, pl.DataFrame, pl.DataFrame],
) -> None:
    path, posts, accounts = written
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    kpis = ["posts", "reach", "engagements", "engagement_rate", "followers"]
    assert set(kpis) <= set(page.cards)
    # the last month with posts
    monthly = oracle(posts, accounts, kpis, [], "1mo").sort("period_start")
    last = monthly.filter(pl.col("posts") > 0).row(-1, named=True)
    for k in kpis:
        shown = page.cards[k]
        assert float(shown) == pytest.approx(last[k], rel=1e-12), k
    computed = sk.compute(posts, accounts, kpis=kpis, every="1mo").filter(
        pl.col("period_start") == last["period_start"]
    )
    assert {k: float(page.cards[k]) for k in kpis} == {k: float(computed[k][0]) for k in kpis}


def test_report_arguments_are_checked(tmp_path: Path) -> None:
    posts, _ = sk.datasets.sample(n_accounts=4, n_posts=200, seed=1)
    with pytest.raises(sk.QueryError) as info:
        sk.report(posts, top=0, path=tmp_path / "r.html")
    assert info.value.code == "invalid_argument"
    with pytest.raises(sk.KpiError):
        sk.report(posts, by="no_such_column", path=tmp_path / "r.html")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("headless Chromium is not installed (make test installs Debian's chromium)")
    return found


def open_in_chromium(page: Path, out: Path) -> list[str]:
    """Opens ``page`` headless without network; returns the URLs it requested (netlog)."""
    netlog = out / f"{page.stem}.netlog.json"
    isolate = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0 else []  # fmt: skip
    args = [
        *isolate, chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-default-apps", "--disable-domain-reliability", f"--user-data-dir={out / 'profile'}",
        "--window-size=1200,2000", f"--screenshot={out / (page.stem + '.png')}", f"--log-net-log={netlog}",
        page.resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(args, capture_output=True, timeout=180, check=True)
    events = json.loads(netlog.read_text())["events"]
    urls = {str(e["params"]["url"]) for e in events if "url" in e.get("params", {})}
    return sorted(u for u in urls if not u.startswith(CHROMIUM_OWN) and not u.startswith("file:"))


def test_opens_in_chromium_without_network_requests(
    written: tuple[Path, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    path, _, _ = written
    # the check catches a page that does request something
    canary = tmp_path / "canary.html"
    canary.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    assert open_in_chromium(canary, tmp_path) == ["http://example.invalid/x.png"]
    assert open_in_chromium(path, tmp_path) == []
    shot = (tmp_path / "report.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 50_000


def test_excel_report_reopens_with_its_numbers(tmp_path: Path) -> None:
    import zipfile

    import fastexcel

    posts, accounts = sk.datasets.sample(n_accounts=12, n_posts=3_000, seed=4)
    risky = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)"]
    posts = posts.with_columns(
        pl.Series("caption", [risky[i % 4] for i in range(posts.height)]),
        pl.when(pl.col("account_id") == "acct_00001").then(pl.lit("=1+1")).otherwise(pl.col("account_id")).alias("account_id"),
    )  # fmt: skip
    _, _, contracts = sk.datasets.funnel(posts, n_contracts=20, seed=4)
    path = sk.report(posts, accounts, contracts=contracts, by="account_id", path=tmp_path / "report.xlsx")
    book = fastexcel.read_excel(str(path))
    assert book.sheet_names == ["Overall by period", "By account_id", "Trends by account_id", "Top posts",
                                "Bottom posts", "Contracts behind", "Definitions", "Rows dropped"]  # fmt: skip
    overall = book.load_sheet("Overall by period").to_polars()
    kpis = ["posts", "reach", "engagement_rate", "followers"]
    want = oracle(posts, accounts, kpis, [], "1mo").filter(pl.col("posts") > 0).sort("period_start")
    assert overall["posts"].to_list() == want["posts"].to_list()
    assert overall["engagement_rate"].to_list() == pytest.approx(want["engagement_rate"].to_list(), rel=1e-12)
    computed = sk.compute(posts, accounts, kpis=kpis, every="1mo").filter(pl.col("posts") > 0)
    assert overall["followers"].to_list() == computed["followers"].cast(pl.Float64).to_list()
    by_account = book.load_sheet("By account_id").to_polars()
    assert "=1+1" in by_account["account_id"].to_list()  # text, read back as written
    top = book.load_sheet("Top posts").to_polars()
    assert set(top["caption"].to_list()) <= set(risky)
    with zipfile.ZipFile(path) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        styles = z.read("xl/styles.xml").decode()
    assert sheets and not any("<f>" in s or "<f " in s for s in sheets)  # no cell is a formula
    assert 'formatCode="0.00%"' in styles and 'formatCode="#,##0"' in styles


# ---- targets= and start= / end= (docs/display.md, "A report to share"; docs/time.md, "Targets") ----


def _hand_posts() -> pl.DataFrame:
    """Seven posts on two platforms, January to March 2026: March is the headline's period."""
    return pl.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
            "account_id": ["ig1", "ig1", "ig1", "ig1", "tt1", "tt1", "tt1"],
            "platform": ["instagram"] * 4 + ["tiktok"] * 3,
            "published_at": [
                dt.datetime(2026, 1, 10, 9),
                dt.datetime(2026, 2, 5, 9),
                dt.datetime(2026, 3, 3, 9),
                dt.datetime(2026, 3, 20, 9),
                dt.datetime(2026, 1, 15, 9),
                dt.datetime(2026, 3, 10, 9),
                dt.datetime(2026, 3, 25, 9),
            ],  # fmt: skip
            "reach": [1_000, 2_000, 3_000, 1_000, 4_000, 5_000, 500],
            "likes": [50, 100, 90, 20, 400, 250, 25],
            "comments": [0, 0, 30, 0, 0, 0, 0],
        }
    )


# The targets of the whole report (no platform) and of two platforms, by start and end
HAND_TARGETS = pl.DataFrame(
    {
        "platform": [None, None, "instagram", "tiktok"],
        "kpi": ["reach", "engagement_rate", "reach", "posts"],
        "target": [90_000.0, 0.05, 5_000.0, 4.0],
        "start": [dt.date(2026, 1, 1), dt.date(2026, 1, 1), dt.date(2026, 3, 1), dt.date(2026, 3, 1)],
        "end": [dt.date(2026, 3, 31), dt.date(2026, 12, 31), dt.date(2026, 3, 31), dt.date(2026, 3, 31)],
    }
)
FLOWS = {"posts", "reach"}


def _expected_with_targets(posts: pl.DataFrame, targets: pl.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Monthly posts, reach and engagement rate by ``keys`` with each targeted KPI's target and
    attainment, in pandas from the docs: a flow's target is pro-rated by the days of the month
    it covers, a ratio's is the one in force on the month's last day; attainment = value / target."""
    import pandas as pd

    p = posts.to_pandas()
    p["period_start"] = p["published_at"].dt.to_period("M").dt.start_time.dt.date
    p["eng"] = p["likes"] + p["comments"]
    monthly = p.groupby([*keys, "period_start"], as_index=False).agg(
        posts=("post_id", "count"), reach=("reach", "sum"), eng=("eng", "sum")
    )
    monthly["engagement_rate"] = monthly["eng"] / monthly["reach"]
    t = targets.to_pandas()
    t["start"], t["end"] = pd.to_datetime(t["start"]).dt.date, pd.to_datetime(t["end"]).dt.date
    t = t[t["platform"].notna()] if keys else t[t["platform"].isna()]
    for kpi in t["kpi"].unique():
        values = []
        for _, row in monthly.iterrows():
            lo = row["period_start"]
            hi = (pd.Timestamp(lo) + pd.offsets.MonthEnd(0)).date()
            mine = t[(t["kpi"] == kpi) & ((t["platform"] == row["platform"]) if keys else True)]
            if kpi in FLOWS:
                covered, total = 0, 0.0
                for _, g in mine.iterrows():
                    overlap = (min(hi, g["end"]) - max(lo, g["start"])).days + 1
                    if overlap > 0:
                        covered += overlap
                        total += g["target"] * overlap / ((g["end"] - g["start"]).days + 1)
                values.append(total if covered == (hi - lo).days + 1 else None)
            else:
                held = mine[(mine["start"] <= hi) & (hi <= mine["end"])]["target"].tolist()
                values.append(held[0] if held else None)
        monthly[f"{kpi}_target"] = pd.Series(values, dtype="float64")
        monthly[f"{kpi}_attainment"] = monthly[kpi] / monthly[f"{kpi}_target"]
    return monthly


def _listed(values: pd.Series) -> list[float | None]:
    """A pandas column as a list, a missing value (NaN) as None, as a workbook's empty cell reads."""
    return [None if pd.isna(v) else float(v) for v in values]


def _same(got: list[float | None], want: list[float | None], what: str) -> None:
    assert [v is None for v in got] == [v is None for v in want], what
    assert [v for v in got if v is not None] == pytest.approx(
        [v for v in want if v is not None], rel=1e-12
    ), what


class Tables(HTMLParser):
    """The cells of each <table> (their text), the card targets, and the <h2> headings."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.targets: dict[str, tuple[str, str, list[str]]] = {}
        self._where = ""
        self._card = ""
        self._target: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-kpi"):
            self._card = str(a["data-kpi"])
        if a.get("class") == "sk-card-target":
            self._target = (str(a["data-target"]), str(a["data-attainment"]))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")
            self._where = "cell"
        elif tag == "h2":
            self.headings.append("")
            self._where = "h2"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "h2"):
            self._where = ""

    def handle_data(self, data: str) -> None:
        if self._target is not None:
            self.targets[self._card] = (*self._target, [data])
            self._target = None
        if self._where == "cell" and not self.tables[-1][-1][-1]:
            self.tables[-1][-1][-1] = data  # a header's first line: the column's name
        elif self._where == "h2":
            self.headings[-1] += data


def test_the_report_shows_targets_and_attainment(tmp_path: Path) -> None:
    posts = _hand_posts()
    path = sk.report(posts, by="platform", targets=HAND_TARGETS, path=tmp_path / "t.html")
    page = Tables()
    page.feed(path.read_text(encoding="utf-8"))
    # the headline: the whole report's targets for March, the last period
    overall = (
        _expected_with_targets(posts, HAND_TARGETS, []).set_index("period_start").loc[dt.date(2026, 3, 1)]
    )
    assert overall["reach"] == 9_500 and overall["reach_target"] == pytest.approx(31_000)  # 90,000 x 31/90
    for kpi in ("reach", "engagement_rate"):
        target, attainment, said = page.targets[kpi]
        assert float(target) == pytest.approx(overall[f"{kpi}_target"], rel=1e-12), kpi
        assert float(attainment) == pytest.approx(overall[f"{kpi}_attainment"], rel=1e-12), kpi
    assert page.targets["reach"][2] == ["target 31,000 · 30.65% attained"]  # 9,500 / 31,000
    assert page.targets["engagement_rate"][2] == ["target 5.00% · 87.37% attained"]  # 415 / 9,500 / 0.05
    assert "posts" not in page.targets  # no target of the whole report's posts
    # the groups' targets for March, in a table formatted like the KPIs
    assert "Targets by platform: Mar 2026" in page.headings
    table = page.tables[0]
    header = table[0]
    assert header == ["platform", "posts", "posts_target", "posts_attainment", "reach", "reach_target",
                      "reach_attainment"]  # fmt: skip
    rows = {r[0]: dict(zip(header, r)) for r in table[1:]}
    groups = _expected_with_targets(posts, HAND_TARGETS, ["platform"])
    march = {
        r["platform"]: r for r in groups[groups["period_start"] == dt.date(2026, 3, 1)].to_dict("records")
    }
    assert march["instagram"]["reach_attainment"] == pytest.approx(0.8)
    assert march["tiktok"]["posts_attainment"] == pytest.approx(0.5)
    assert rows["instagram"]["reach_target"] == "5,000" and rows["instagram"]["reach_attainment"] == "80.00%"
    assert rows["instagram"]["posts_target"] == "—" and rows["instagram"]["posts_attainment"] == "—"
    assert rows["tiktok"]["posts_target"] == "4" and rows["tiktok"]["posts_attainment"] == "50.00%"
    assert rows["tiktok"]["reach_target"] == "—"


def test_the_workbook_carries_the_targets(tmp_path: Path) -> None:
    import fastexcel

    posts = _hand_posts()
    path = sk.report(posts, by="platform", targets=HAND_TARGETS, path=tmp_path / "t.xlsx")
    book = fastexcel.read_excel(str(path))
    assert book.sheet_names[:3] == ["Overall by period", "Targets by platform", "By platform"]
    overall = book.load_sheet("Overall by period").to_polars()
    want = _expected_with_targets(posts, HAND_TARGETS, [])
    for column in (
        "reach",
        "reach_target",
        "reach_attainment",
        "engagement_rate_target",
        "engagement_rate_attainment",
    ):
        _same(overall[column].to_list(), _listed(want[column]), column)
    assert overall.columns.index("reach_target") == overall.columns.index("reach") + 1
    groups = book.load_sheet("Targets by platform").to_polars().sort("platform")
    march = _expected_with_targets(posts, HAND_TARGETS, ["platform"])
    march = march[march["period_start"] == dt.date(2026, 3, 1)].sort_values("platform")
    assert groups["platform"].to_list() == march["platform"].tolist()
    for column in ("reach_target", "reach_attainment", "posts_target", "posts_attainment"):
        _same(groups[column].to_list(), _listed(march[column]), column)
    trends = book.load_sheet("Trends by platform").to_polars().sort("platform", "period_start")
    every_month = _expected_with_targets(posts, HAND_TARGETS, ["platform"]).sort_values(
        ["platform", "period_start"]
    )
    _same(trends["reach_target"].to_list(), _listed(every_month["reach_target"]), "trends")


def test_a_target_for_every_period_from_pandas(tmp_path: Path) -> None:
    import fastexcel

    posts = _hand_posts()
    targets = pl.DataFrame({"kpi": ["posts"], "target": [2.0]}).to_pandas()
    path = sk.report(posts, targets=targets, path=tmp_path / "t.xlsx")
    overall = fastexcel.read_excel(str(path)).load_sheet("Overall by period").to_polars()
    assert overall["posts"].to_list() == [2, 1, 4]
    assert overall["posts_target"].to_list() == [2, 2, 2]
    assert overall["posts_attainment"].to_list() == [1.0, 0.5, 2.0]
    assert "Targets by" not in "".join(fastexcel.read_excel(str(path)).sheet_names)


def test_report_targets_are_checked(tmp_path: Path) -> None:
    posts = _hand_posts()
    with pytest.raises(sk.QueryError) as info:
        sk.report(posts, targets=pl.DataFrame({"kpi": ["likes"], "target": [1.0]}), path=tmp_path / "r.html")
    assert info.value.code == "target_not_requested" and "likes" in str(info.value)
    with pytest.raises(sk.QueryError) as info:
        sk.report(posts, targets=pl.DataFrame({"kpi": ["reach"], "target": [1.0], "account_id": ["ig1"]}),
                  path=tmp_path / "r.html")  # fmt: skip
    assert info.value.code == "invalid_targets"
    with pytest.raises(sk.ArgumentError):
        sk.report(posts, targets=5, path=tmp_path / "r.html")
    with pytest.raises(sk.SchemaError) as info:
        sk.report(posts, targets=pl.DataFrame({"platform": ["x"], "target": [1.0]}), path=tmp_path / "r.html")
    assert info.value.code == "missing_column" and "'kpi'" in str(info.value)
    with pytest.warns(sk.TargetWarning, match="myspace"):
        sk.report(posts, targets=pl.DataFrame({"platform": ["myspace"], "kpi": ["reach"], "target": [1.0]}),
                  path=tmp_path / "r.html")  # fmt: skip


def test_the_report_over_a_range_shows_its_periods_whole(tmp_path: Path) -> None:
    import fastexcel

    posts = _hand_posts()
    path = sk.report(posts, start="2026-02-10", end="2026-02-20", path=tmp_path / "r.xlsx")
    book = fastexcel.read_excel(str(path))
    # February, whole: its one post (Feb 5) is before start but in the period the range overlaps
    feb = posts.filter(pl.col("published_at").dt.month() == 2)
    overall = book.load_sheet("Overall by period").to_polars()
    assert overall["period_start"].cast(pl.Date).to_list() == [dt.date(2026, 2, 1)]
    assert overall["posts"].to_list() == [feb.height] and overall["reach"].to_list() == [feb["reach"].sum()]
    by_platform = book.load_sheet("By platform").to_polars()
    want = feb.group_by("platform").agg(pl.len().alias("posts"), pl.col("reach").sum()).sort("platform")
    assert by_platform.sort("platform").select("platform", "posts", "reach").rows() == want.rows()
    assert book.load_sheet("Top posts").to_polars()["post_id"].to_list() == feb["post_id"].to_list()
    with pytest.raises(sk.QueryError) as info:
        sk.report(posts, start="2026-03-01", end="2026-02-01", path=tmp_path / "x.html")
    assert info.value.code == "start_after_end"

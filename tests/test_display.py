"""Notebook display: sk.table and the reprs of KpiResult and ReadReport, asserted on the
rendered cell texts. Expected values are worked out here from the inputs (docs/kpis.md), never
read back from the engine."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pandas as pd
import polars as pl
import pytest
import socialkpi as sk

SCRIPT = "<script>alert(1)</script>"


class Cells(HTMLParser):
    """The text of each <th>/<td> (entities decoded, as a browser shows it), by table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.titles: dict[str, str] = {}
        self.details: list[str] = []
        self._cell: list[str] | None = None
        self._title: str | None = None
        self._in_details = 0
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
            self._title = dict(attrs).get("title")
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "details":
            self._in_details += 1
            self.details.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell)
            self.tables[-1][-1].append(text)
            if self._title:
                self.titles[text.split("\n")[0]] = self._title
            self._cell = None
        elif tag == "details":
            self._in_details -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_details:
            self.details[-1] += data


def parse(html_text: str) -> Cells:
    cells = Cells()
    cells.feed(html_text)
    return cells


def column(rows: list[list[str]], name: str) -> list[str]:
    header = [h.split("\n")[0] for h in rows[0]]
    i = header.index(name)
    return [r[i] for r in rows[1:]]


@pytest.fixture
def posts() -> pl.DataFrame:
    t = dt.datetime(2025, 3, 3, 10)
    return pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d", "e"],
            "account_id": ["acme", "acme", "zen", "void", SCRIPT],
            "platform": ["instagram", "instagram", "tiktok", "x", "instagram"],
            "published_at": [t] * 5,
            # acme: 579 engagements over 10,000 reach -> 5.79%; zen: 0 over 100 -> 0.00%;
            # void: reach 0 -> no rate (missing, not 0)
            "likes": [500, 60, 0, 4, 7],
            "comments": [10, 9, 0, 1, 0],
            "reach": [6_000, 4_000, 100, 0, 70],
            "impressions": [1_000_000, 234_567, 150, 9, 90],
            "spend": [1_000.25, 234.25, 0.0, 10.0, 5.0],
            "currency": ["EUR"] * 5,
        }
    )


def test_engagement_rate_shows_as_a_percentage_and_null_differs_from_zero(posts: pl.DataFrame) -> None:
    result = sk.compute_details(posts, kpis=["engagement_rate", "impressions", "cost"], by=["account_id"])
    cells = parse(result._repr_html_())
    rows = cells.tables[0]
    accounts = column(rows, "account_id")
    rate = dict(zip(accounts, column(rows, "engagement_rate")))
    assert rate["acme"] == "5.79%"  # (500 + 60 + 10 + 9) / (6,000 + 4,000) = 0.0579
    assert rate["zen"] == "0.00%"
    assert rate["void"] == sk.display.MISSING != "0.00%"
    impressions = dict(zip(accounts, column(rows, "impressions")))
    assert impressions["acme"] == "1,234,567"
    cost = dict(zip(accounts, column(rows, "cost")))
    assert cost["acme"] == "€1,234.50"  # the posts' currency column names the currency
    assert result.currency == "EUR"


def test_headers_carry_goal_unit_and_formula(posts: pl.DataFrame) -> None:
    result = sk.compute_details(posts, kpis=["engagement_rate", "impressions"], by=["platform"])
    cells = parse(sk.table(result).to_html())
    header = cells.tables[0][0]
    assert header[1] == "engagement_rate\nengagement · %"
    assert header[2] == "impressions\nawareness · count"
    assert "Formula: eng / reach" in cells.titles["engagement_rate"]
    assert result.units == {"engagement_rate": "ratio", "impressions": "count"}
    assert result.goals == {"engagement_rate": "engagement", "impressions": "awareness"}


def test_data_text_is_escaped(posts: pl.DataFrame) -> None:
    result = sk.compute_details(posts, kpis=["engagement_rate"], by=["account_id"])
    page = result._repr_html_()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    cells = parse(page)
    assert cells.scripts == 0
    assert SCRIPT in column(cells.tables[0], "account_id")  # shown as text


def test_notes_below_the_table_are_collapsed(posts: pl.DataFrame) -> None:
    both = posts.vstack(posts.head(1))  # a repeated post, kept once with dedupe="last"
    result = sk.compute_details(
        both.drop("reach"), kpis=["engagement", "posts"], by=["platform"], dedupe="last"
    )
    assert result.warnings  # the preset's members that need reach are left out, with warnings
    cells = parse(result._repr_html_())
    notes = "\n".join(cells.details)
    for w in result.warnings:
        assert w in notes
    assert "engagements = likes + comments" in notes  # the components the posts have
    dropped = [t for t in cells.tables[1:] if t[0] == ["table", "reason", "rows"]]
    assert dropped and dropped[0][1:] == [[t, r, f"{n:,}"] for t, r, n in result.rows_dropped]
    assert sum(n for _, _, n in result.rows_dropped) == 1


def test_text_repr_is_readable(posts: pl.DataFrame) -> None:
    result = sk.compute_details(posts, kpis=["engagement_rate", "posts"], by=["account_id"])
    text = repr(result)
    assert text.startswith("KpiResult: 4 rows; KPIs: engagement_rate, posts")
    line = next(x for x in text.splitlines() if x.startswith("acme"))
    assert line.split() == ["acme", "5.79%", "2"]
    assert "engagements = likes + comments" in text
    assert "\n" in repr(sk.table(result.frame)) and "5.79%" in str(sk.table(result.frame))


def test_custom_and_vendor_units(posts: pl.DataFrame) -> None:
    pct = sk.KPI("er_pct", "eng / reach * 100", unit="percent")
    spend = sk.KPI("spend_total", "sum(spend)", unit="money")
    result = sk.compute_details(posts.drop("currency"), kpis=[pct, spend, "cost"], by=["account_id"])
    assert result.units == {"er_pct": "percent", "spend_total": "money", "cost": "money"}
    assert result.currency is None
    rows = parse(sk.table(result, currency="USD").to_html()).tables[0]
    values = dict(zip(column(rows, "account_id"), column(rows, "er_pct")))
    assert values["acme"] == "5.79%"
    spent = dict(zip(column(rows, "account_id"), column(rows, "spend_total")))
    assert spent["acme"] == "$1,234.50"
    assert spent["zen"] == "$0.00"
    # a plain frame knows custom units through kpis=, and a vendor preset's through definitions=
    plain = dict((r[0], r[1]) for r in sk.table(result.frame, kpis=[pct]).rows())
    assert plain["acme"] == "5.79%" and plain[SCRIPT] == "10.00%"  # 7 / 70
    rivaliq = sk.compute(posts, kpis=["engagement_rate_reach"], by=["account_id"], definitions="rivaliq")
    shown = dict(zip(rivaliq["account_id"], (r[1] for r in sk.table(rivaliq, definitions="rivaliq").rows())))
    assert shown["acme"] == "5.79%"  # Rival IQ's rate is in percent already: 5.79, not 579%


def test_pandas_frames_and_currency_per_row() -> None:
    frame = pd.DataFrame(
        {"currency": ["GBP", "CHF", None], "revenue": [1234.5, 99.0, None], "roas": [2.5, 0.000123, 0.0]}
    )
    rows = sk.table(frame).rows()
    assert rows == [["GBP", "£1,234.50", "250.00%"], ["CHF", "99.00 CHF", "0.0123%"], ["—", "—", "0.00%"]]


def test_long_frames_are_cut_and_counted() -> None:
    frame = pl.DataFrame({"account_id": [f"a{i}" for i in range(150)], "posts": list(range(150))})
    shown = sk.table(frame, max_rows=20)
    assert len(shown.rows()) == 20
    assert "Showing 20 of 150 rows." in shown.to_html()
    with pytest.raises(sk.QueryError) as info:
        sk.table(frame, max_rows=-1)
    assert info.value.code == "invalid_argument"
    with pytest.raises(sk.QueryError):
        sk.table([1, 2, 3])


def test_format_value_by_unit() -> None:
    f = sk.display.format_value
    assert [f(0.0579, "ratio"), f(1.5, "ratio"), f(-0.25, "ratio"), f(0.00579, "ratio")] == [
        "5.79%",
        "150.00%",
        "-25.00%",
        "0.579%",
    ]
    assert [f(1234567, "count"), f(3.5, "count"), f(0, "count"), f(None, "count")] == [
        "1,234,567",
        "3.50",
        "0",
        "—",
    ]
    assert [f(-12.5, "money", "USD"), f(1e6, "money", "EUR"), f(2.0, "money")] == [
        "-$12.50",
        "€1,000,000.00",
        "2.00",
    ]
    assert [f(0.004166, "money", "EUR"), f(0.05, "money"), f(0.0, "money")] == ["€0.00417", "0.0500", "0.00"]
    assert [f(1234.5678, "number"), f(0.012345, "number"), f(float("nan"), "ratio")] == [
        "1,235",
        "0.0123",
        "NaN",
    ]


def test_read_report_reprs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "<b>export.csv"
    path.write_text(
        "post_id,account_id,published_at,likes\n"
        "p1,acme,2025-01-02 10:00,5\n"
        "p1,acme,2025-01-02 10:00,6\n"
        "p2,acme,2025-01-03 10:00,lots\n"
    )
    frame = sk.read_posts(str(path))
    report = sk.read_report(frame)
    assert report is not None
    text = repr(report)
    assert text.splitlines()[0].startswith(
        "ReadReport(posts): preset none (canonical headers), files 1, rows read 3"
    )
    assert "dropped duplicate: 1" in text
    assert "nulled likes" in text and "'lots'" in text
    page = report._repr_html_()
    assert "<b>export" not in page and "&lt;b&gt;export.csv" in page
    facts = dict((r[0], r[1]) for r in parse(page).tables[0])
    assert facts["rows read"] == "3" and facts["rows kept"] == "2" and facts["rows dropped"] == "1"


def test_definitions_reprs() -> None:
    rivaliq = sk.formulas.definitions("rivaliq")
    text = repr(rivaliq)
    assert text.splitlines()[0].startswith(f"Definitions('rivaliq'): {len(rivaliq.kpis)} KPIs")
    assert "  engagement_rate (engagement, percent) = eng / followers_at_post * 100" in text.splitlines()
    assert "  engagement on instagram: likes + comments" in text.splitlines()
    mine = sk.Definitions(name="<team>", kpis=(sk.KPI("er", "eng / reach", description="<b>ours</b>"),))
    page = mine._repr_html_()
    assert "<b>ours</b>" not in page and "&lt;b&gt;ours&lt;/b&gt;" in page
    rows = parse(page).tables[0]
    assert rows[0] == ["KPI", "goal", "unit", "formula", "description"]
    assert rows[1] == ["er", "custom", "ratio", "eng / reach", "<b>ours</b>"]


def test_target_columns_are_formatted_like_their_kpi(posts: pl.DataFrame) -> None:
    # acme: reach 10,000, engagement rate 579 / 10,000 = 5.79%, cost 1,000.25 + 234.25 = €1,234.50
    targets = pl.DataFrame(
        {
            "account_id": ["acme", "acme", "acme", "zen"],
            "kpi": ["reach", "engagement_rate", "cost", "reach"],
            "target": [20_000.0, 0.05, 2_469.0, 0.0],
        }
    )
    result = sk.compute_details(
        posts, kpis=["reach", "engagement_rate", "cost"], by=["account_id"], targets=targets
    )
    # a plain frame has no currency column here: the currency is given
    for shown, currency in ((result, None), (result.frame, "EUR"), (result.frame.to_pandas(), "EUR")):
        cells = parse(sk.table(shown, currency=currency).to_html())
        rows = cells.tables[0]
        acme = dict(
            zip([h.split("\n")[0] for h in rows[0]], rows[1 + column(rows, "account_id").index("acme")])
        )
        assert acme["reach_target"] == "20,000" and acme["reach_attainment"] == "50.00%"  # 10,000 / 20,000
        assert acme["engagement_rate_target"] == "5.00%"
        assert acme["engagement_rate_attainment"] == "115.80%"  # 0.0579 / 0.05
        assert acme["cost_target"] == "€2,469.00" and acme["cost_attainment"] == "50.00%"
        zen = dict(
            zip([h.split("\n")[0] for h in rows[0]], rows[1 + column(rows, "account_id").index("zen")])
        )
        assert zen["reach_target"] == "0" and zen["reach_attainment"] == sk.display.MISSING  # a 0 target
        assert zen["cost_target"] == sk.display.MISSING  # no target: missing, never 0
    header = dict(h.split("\n") for h in parse(sk.table(result).to_html()).tables[0][0] if "\n" in h)
    assert header["reach_target"] == "target · count" and header["reach_attainment"] == "attainment · %"
    assert header["engagement_rate_target"] == "target · %" and header["cost_target"] == "target · EUR"
    assert (
        "engagement_rate / engagement_rate_target"
        in parse(sk.table(result).to_html()).titles["engagement_rate_attainment"]
    )
    line = next(x for x in str(sk.table(result)).splitlines() if x.startswith("acme"))
    assert "20,000" in line and "115.80%" in line and "€2,469.00" in line


def test_compare_columns_are_formatted_like_their_kpi() -> None:
    frame = pl.DataFrame(
        {
            "engagement_rate": [0.0579],
            "engagement_rate_prev": [0.05],
            "engagement_rate_change": [0.0079],
            "engagement_rate_change_rate": [0.158],
            "reach": [12_000],
            "reach_ly": [10_000],
            "reach_ly_change": [2_000],
            "reach_ly_change_rate": [0.2],
        }
    )
    rows = parse(sk.table(frame).to_html()).tables[0]
    assert [h.split("\n") for h in rows[0]] == [
        ["engagement_rate", "engagement · %"],
        ["engagement_rate_prev", "previous · %"],
        ["engagement_rate_change", "change · pp"],  # a change of a rate: percentage points
        ["engagement_rate_change_rate", "change · %"],
        ["reach", "awareness · count"],
        ["reach_ly", "a year before · count"],
        ["reach_ly_change", "change on a year before · count"],
        ["reach_ly_change_rate", "change on a year before · %"],
    ]
    assert rows[1] == ["5.79%", "5.00%", "0.790 pp", "15.80%", "12,000", "10,000", "2,000", "20.00%"]

"""Readers: cases a review found (each failed before its fix)."""

from __future__ import annotations

import codecs
import datetime as dt

import polars as pl
import pytest
import socialkpi as sk


def test_a_kept_row_from_a_later_file_is_in_the_frame(tmp_path):
    # the frame once left with misaligned chunks and lost its only row
    (tmp_path / "w1.csv").write_text("post_id,likes,Date exported\nsponsored_1,100,2026-01-07\n")
    (tmp_path / "w2.csv").write_text("post_id,likes,Date exported\nsponsored_1,180,2026-01-14\n")
    df = sk.read_posts([tmp_path / "w1.csv", tmp_path / "w2.csv"], snapshot="Date exported")
    assert df["likes"].to_list() == [180]
    (tmp_path / "a.csv").write_text("post_id,likes\n,10\n")
    (tmp_path / "b.csv").write_text("post_id,likes\np1,5\n")
    df = sk.read_posts([tmp_path / "a.csv", tmp_path / "b.csv"])
    assert df.to_dicts() == [{"post_id": "p1", "likes": 5}]
    report = sk.read_report(df)
    assert report is not None and report.rows_kept == 1 and report.rows_dropped == [("missing_key", 1)]


def test_cells_cut_inside_a_character_are_bad_cells_not_errors():
    assert sk.parse_dates(["2026-08-25", "2026-08-2€", "2026-08-1ä"]).to_list() == [
        dt.date(2026, 8, 25),
        None,
        None,
    ]
    assert sk.parse_dates(["2026-08-25", "2026-08-25T10:00:00.12345€"], time=True).to_list()[1] is None


def test_a_nul_in_a_header_does_not_abort(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "post_id,likes\np1,5\n".encode("utf-16-le"))
    # the wrong encoding: odd headers (no post_id), no crash
    frame = sk.read_posts(path, encoding="latin-1", defaults={"account_id": "a"})
    assert all("\x00" not in c for c in frame.columns)
    (tmp_path / "n.jsonl").write_text('{"post_id": "p1", "a\\u0000b": 1}\n')
    assert sk.read_posts(tmp_path / "n.jsonl").columns == ["post_id", "ab"]


def test_a_post_titled_summary_is_kept_and_the_total_row_dropped(tmp_path):
    (tmp_path / "l.csv").write_text(
        "Post title,Post link,Created date,Impressions,Likes,Comments,Reposts\n"
        "Summary,https://lnkd.in/1,08/25/2026,10,1,0,0\n"
        "Hello,https://lnkd.in/2,08/26/2026,20,2,0,0\n"
        "Total,,,30,3,0,0\n"
    )
    df = sk.read_posts(tmp_path / "l.csv")
    report = sk.read_report(df)
    assert report is not None and report.preset == "linkedin_posts"
    assert df["post_id"].to_list() == ["https://lnkd.in/1", "https://lnkd.in/2"]
    assert report.rows_dropped == [("total_row", 1)]


def test_day_order_and_decimal_mark_are_decided_for_the_whole_read(tmp_path):
    (tmp_path / "a.csv").write_text("post_id,published_at\np1,08/25/2026\np2,08/26/2026\n")
    (tmp_path / "b.csv").write_text("post_id,published_at\np3,09/05/2026\n")
    days = sk.read_posts([tmp_path / "a.csv", tmp_path / "b.csv"])["published_at"].dt.date().to_list()
    assert days == [dt.date(2026, 8, 25), dt.date(2026, 8, 26), dt.date(2026, 9, 5)]
    (tmp_path / "m.csv").write_text('post_id,spend,revenue\np1,"1.500","12,50"\np2,"2.000","3,75"\n')
    money = sk.read_posts(tmp_path / "m.csv")
    assert money["spend"].to_list() == [1500.0, 2000.0] and money["revenue"].to_list() == [12.5, 3.75]


def test_one_header_per_canonical_column(tmp_path):
    (tmp_path / "f.csv").write_text("A,B\n1,2\n")
    with pytest.raises(sk.SchemaError) as err:
        sk.read_posts(tmp_path / "f.csv", columns={"A": "likes", "B": "likes"})
    assert err.value.code == "duplicate_mapping"


def test_more_export_shapes(tmp_path):
    (tmp_path / "j.json").write_text('[{"post_id": "p1", "likes": "1.2K"}]')
    assert sk.read_posts(tmp_path / "j.json").to_dicts() == [{"post_id": "p1", "likes": 1200}]
    assert sk.parse_numbers(["(1,234)", "\u221212", "1\u00a0234"]).to_list() == [-1234.0, -12.0, 1234.0]
    assert sk.parse_numbers([1, 2.5, "3k"]).to_list() == [1.0, 2.5, 3000.0]
    got = sk.parse_dates(
        ["26 Agustus 2026, 10.30", "Selasa, 25 Agustus 2026 pukul 10.30", "25 Nop 2026 10:00"], time=True
    )
    assert got.to_list() == [
        dt.datetime(2026, 8, 26, 10, 30),
        dt.datetime(2026, 8, 25, 10, 30),
        dt.datetime(2026, 11, 25, 10),
    ]


def test_ga4_source_medium_is_split(tmp_path):
    (tmp_path / "g.csv").write_text(
        "# ----\n# Traffic acquisition: Session source / medium\n\n"
        "Date,Session source / medium,Sessions,Engaged sessions\n"
        "20260801,l.instagram.com / referral,10,5\n20260801,google / organic,7,3\n"
    )
    traffic = sk.read_traffic(tmp_path / "g.csv")
    assert traffic.select("source", "medium").rows() == [
        ("l.instagram.com", "referral"),
        ("google", "organic"),
    ]
    out = sk.compute(traffic=traffic, kpis=["referral_traffic"], by=["platform"])
    assert dict(out.iter_rows()) == {"google": 0, "instagram": 10}
    assert isinstance(traffic, pl.DataFrame)


def test_nested_negatives_are_bad_cells_not_a_crash():
    deep = "(" * 12000 + "1" + ")" * 12000
    assert sk.parse_numbers([deep, "\u2212" * 10000 + "1", "((1))", "(0)"]).to_list() == [
        None,
        None,
        None,
        0.0,
    ]


def test_each_column_keeps_its_own_day_order_and_decimal_mark(tmp_path):
    # a TikTok-style file (days first) and a Meta file (months first) with no telling cells
    (tmp_path / "t.csv").write_text("post_id,published_at\nt1,05/08/2026\n")
    (tmp_path / "m.csv").write_text(
        "Post ID,Page ID,Publish time,Reach,Reactions,Is crosspost\nm1,p,05/08/2026 10:00,1,1,No\n"
    )
    got = sk.read_posts([tmp_path / "t.csv", tmp_path / "m.csv"])["published_at"].to_list()
    assert got == [dt.datetime(2026, 8, 5), dt.datetime(2026, 5, 8, 10)]
    (tmp_path / "a.csv").write_text("post_id,spend\na1,3.75\na2,4.25\n")
    (tmp_path / "b.csv").write_text('post_id,spend\nb1,"12,50"\nb2,"1.500"\n')
    assert sk.read_posts([tmp_path / "a.csv", tmp_path / "b.csv"])["spend"].to_list() == [
        3.75,
        4.25,
        12.5,
        1500.0,
    ]


def test_rows_with_their_key_are_never_summary_or_description_rows(tmp_path):
    pl.DataFrame({"title": ["Summary", "x"], "post_id": [111, 112], "likes": [1, 2]}).write_ndjson(
        tmp_path / "k.jsonl"
    )
    assert sk.read_posts(tmp_path / "k.jsonl").height == 2
    (tmp_path / "d.csv").write_text(
        "Post ID,Page ID,Publish time,Reach,Impressions,Reactions\n"
        "m0,p,08/04/2026 10:00,Unavailable text here,Unavailable text here,\nm1,p,08/05/2026 10:00,10,20,3\n"
    )
    assert sk.read_posts(tmp_path / "d.csv").height == 2
    (tmp_path / "acc.csv").write_text("date,account_id,followers\n2026-01-01,acc1,100\nTotal,acc1,210\n")
    report = sk.read_report(sk.read_accounts(tmp_path / "acc.csv"))
    assert report is not None and report.rows_dropped == [("total_row", 1)] and report.cells_nulled == []


def test_a_single_year_with_december_stays_in_its_year():
    cells = ["05.01", "12.02", "03.03", "20.04", "24.05", "20.12"]
    assert {d.year for d in sk.parse_dates(cells, year=2026).to_list()} == {2026}


def test_decimals_and_wide_integers_read_as_numbers(tmp_path):
    import decimal

    assert sk.parse_numbers([decimal.Decimal("1.5")]).to_list() == [1.5]
    frame = pl.DataFrame({"post_id": ["p1"], "spend": [decimal.Decimal("12.50")]})
    frame.write_parquet(tmp_path / "bq.parquet")
    assert sk.read_posts(tmp_path / "bq.parquet")["spend"].to_list() == [12.5]


def test_an_excel_sheet_by_name_or_position(tmp_path):
    import xlsxwriter

    path = tmp_path / "linkedin.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Metrics").write_row(0, 0, ["Date", "Impressions"])
    posts = book.add_worksheet("All posts")
    posts.write_row(0, 0, ["Post title", "Post link", "Created date", "Impressions", "Likes", "Reposts"])
    posts.write_row(1, 0, ["Launch", "https://lnkd.in/a", "08/25/2026", "1,200", "30", "4"])
    book.close()
    for sheet in ("All posts", 2):
        frame = sk.read_posts(path, sheet=sheet, defaults={"account_id": "acme"})
        assert frame.select("post_id", "impressions", "shares").rows() == [("https://lnkd.in/a", 1200, 4)]
    first = sk.read_posts(path, defaults={"account_id": "acme"})  # the first sheet: metrics, no posts
    assert "post_id" not in first.columns and first.height == 0


def test_decimal_columns_work_in_compute_and_unreadable_types_are_schema_errors():
    import decimal

    posts = pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "account_id": ["x", "x"],
            "published_at": [dt.datetime(2026, 1, 5), dt.datetime(2026, 1, 6)],
            "clicks": [10, 0],
            "spend": [decimal.Decimal("12.50"), decimal.Decimal("2.50")],
        }
    )
    out = sk.compute(posts, kpis=["cost", "cpc"])
    assert out.row(0) == (15.0, 1.5)
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"post_id": ["a"], "account_id": ["x"], "likes": pa.array([1], pa.decimal256(40, 0))})
    with pytest.raises(sk.SchemaError) as err:
        sk.compute(table, kpis=["likes"])
    assert err.value.code == "unsupported_type"


def test_a_snapshot_or_day_header_that_is_also_mapped_still_orders_the_rows(tmp_path):
    # snapshot= naming a header that columns= (or a preset) maps to published_at was once
    # looked for under its own name, not found, and the last row read kept without a word
    path = tmp_path / "trending.csv"
    path.write_text("id,ch,day,views\na,c,2017-09-30,10\na,c,2017-09-01,5\nb,c,2017-09-02,7\n")
    columns = {"id": "post_id", "ch": "account_id", "day": "published_at", "views": "video_views"}
    posts = sk.read_posts(path, columns=columns, snapshot="day")
    assert posts.sort("post_id")["video_views"].to_list() == [10, 7]
    assert posts.sort("post_id")["published_at"].dt.date().to_list() == [
        dt.date(2017, 9, 30),
        dt.date(2017, 9, 2),
    ]
    report = sk.read_report(posts)
    assert report is not None and report.rows_dropped == [("older_snapshot", 1)]
    # daily= naming a mapped header: the days add up
    daily = sk.read_posts(path, columns=columns, daily="day")
    assert daily.sort("post_id")["video_views"].to_list() == [15, 7]
    # a preset's header as the snapshot stays the preset's published_at too
    studio = tmp_path / "studio.csv"
    studio.write_text(
        "Content,Video title,Video publish time,Views\n"
        "v1,First,Sep 1 2017,5\nv1,First,Sep 30 2017,10\nv2,Second,Sep 2 2017,7\n"
    )
    read = sk.read_posts(
        studio, preset="youtube_studio", snapshot="Video publish time", defaults={"account_id": "c"}
    )
    assert read.sort("post_id")["video_views"].to_list() == [10, 7]
    assert read["published_at"].null_count() == 0


def test_accounts_that_map_no_account_or_day_are_refused_or_warned(tmp_path):
    # an accounts export with neither an account nor a date once read without a word, and
    # failed only later, in compute
    path = tmp_path / "influencers.csv"
    path.write_text("rank,channel_info,followers\n1,cristiano,475.8m\n2,kyliejenner,366.2m\n")
    with pytest.raises(sk.SchemaError) as err:
        sk.read_accounts(path)
    assert err.value.code == "missing_keys"
    assert "account_id, date" in str(err.value)
    read = sk.read_accounts(path, columns={"channel_info": "account_id"})
    report = sk.read_report(read)
    assert report is not None and any("maps no date" in w for w in report.warnings)
    dated = sk.read_accounts(path, columns={"channel_info": "account_id"}, defaults={"date": "2026-01-31"})
    report = sk.read_report(dated)
    assert report is not None and not any("maps no" in w for w in report.warnings)
    assert dated["followers"].to_list() == [475_800_000, 366_200_000]


def test_the_read_report_says_columns_mapped_the_headers(tmp_path):
    path = tmp_path / "mapped.csv"
    path.write_text("id,ch,day,views\na,c,2017-09-30,10\n")
    read = sk.read_posts(path, columns={"id": "post_id", "ch": "account_id", "day": "published_at"})
    assert "none (headers mapped by columns=)" in repr(sk.read_report(read))
    (tmp_path / "plain.csv").write_text("post_id,account_id,published_at,likes\na,c,2017-09-30,10\n")
    assert "none (canonical headers)" in repr(sk.read_report(sk.read_posts(tmp_path / "plain.csv")))

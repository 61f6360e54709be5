"""The value parser (sk.parse_numbers / sk.parse_dates): numbers and dates as exports write them.

Property tests format a number in one of the styles exports use and parse it back. The number is
drawn as an integer mantissa and a count of decimals, so the expected value is exact (a Fraction,
rounded once to the nearest float), never derived from the engine's output.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import polars as pl
import pytest
import socialkpi as sk
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None)
MISSING = ["", "-", "–", "NaN", "nan", "NaN%", "undefined", "N/A"]


def digits(mantissa: int, decimals: int, *, group: str = "", point: str = ".") -> str:
    """mantissa / 10**decimals written with `point` as the decimal mark and `group` between
    thousands of the whole part."""
    s = str(mantissa).rjust(decimals + 1, "0")
    whole, frac = (s[:-decimals], s[-decimals:]) if decimals else (s, "")
    if group:
        whole = f"{int(whole):,}".replace(",", group)
    return whole + (point + frac if decimals else "")


def exact(mantissa: int, decimals: int, power: int = 0) -> Fraction:
    return Fraction(mantissa, 10**decimals) * Fraction(10) ** power


def expect(values: list[Fraction | None], counts: bool) -> list[float | int | None]:
    if counts and all(v is None or v.denominator == 1 for v in values):
        return [None if v is None else int(v) for v in values]
    return [None if v is None else float(v) for v in values]


def check_numbers(cells: list[tuple[str, Fraction | None]], counts: bool) -> None:
    texts = [t for t, _ in cells]
    got = sk.parse_numbers(texts, counts=counts)
    want = expect([v for _, v in cells], counts)
    assert got.to_list() == want, texts
    if counts and all(isinstance(v, int) or v is None for v in want):
        assert got.dtype == pl.Int64
    else:
        assert got.dtype == pl.Float64


def with_missing(cell: st.SearchStrategy[tuple[str, Fraction]]) -> st.SearchStrategy[list]:
    marker = st.sampled_from(MISSING).map(lambda m: (m, None))
    return st.lists(st.one_of(cell, cell, cell, marker), min_size=1, max_size=6)


# ---------------------------------------------------------------------------------------
# numbers


@st.composite
def plain(draw, counts: bool) -> tuple[str, Fraction]:
    m = draw(st.integers(0, 10**15))
    d = 0 if counts else draw(st.integers(0, 4))
    sign = draw(st.sampled_from(["", "-"]))
    value = exact(m, d)
    return sign + digits(m, d), -value if sign else value


@st.composite
def comma_thousands(draw, counts: bool) -> tuple[str, Fraction]:
    """1,234,567 (and 1,234.56 for amounts)."""
    m = draw(st.integers(0, 10**15))
    d = 0 if counts else draw(st.integers(0, 4))
    return digits(m, d, group=","), exact(m, d)


@st.composite
def dot_thousands_count(draw) -> tuple[str, Fraction]:
    """1.234.567: thousands with a point, as counts in a comma-decimal locale."""
    m = draw(st.integers(0, 10**15))
    return digits(m, 0, group="."), exact(m, 0)


@st.composite
def comma_decimal_amount(draw) -> tuple[str, Fraction]:
    """1.234,50: decimal comma with points between thousands (every cell shows the comma)."""
    m = draw(st.integers(0, 10**13))
    d = draw(st.sampled_from([1, 2, 4]))
    group = draw(st.sampled_from([".", ""]))
    return digits(m, d, group=group, point=","), exact(m, d)


SUFFIXES = [("k", 3), ("K", 3), ("m", 6), ("M", 6), ("b", 9), ("B", 9)]
INDONESIAN = [("rb", 3), ("ribu", 3), ("jt", 6), ("juta", 6), ("miliar", 9)]


@st.composite
def humanised(draw) -> tuple[str, Fraction]:
    """1.2K, 3.3k, 475.8m, 29.0b, 12 M: up to three digits before the mark."""
    d = draw(st.integers(0, 3))
    m = draw(st.integers(0, 1000 * 10**d - 1))
    word, power = draw(st.sampled_from(SUFFIXES))
    space = draw(st.sampled_from(["", " "]))
    return digits(m, d) + space + word, exact(m, d, power)


@st.composite
def indonesian(draw) -> tuple[str, Fraction]:
    """3,4 rb, 1,2 jt, 12 ribu, 2,75 miliar: a decimal comma."""
    d = draw(st.integers(0, 2))
    m = draw(st.integers(0, 1000 * 10**d - 1))
    word, power = draw(st.sampled_from(INDONESIAN))
    space = draw(st.sampled_from(["", " "]))
    return digits(m, d, point=",") + space + word, exact(m, d, power)


@st.composite
def percentage(draw, point: str) -> tuple[str, Fraction]:
    """1.39% is 0.0139."""
    d = draw(st.integers(0, 3))
    m = draw(st.integers(0, 10**6))
    space = draw(st.sampled_from(["", " "]))
    return digits(m, d, point=point) + space + "%", exact(m, d, -2)


@SETTINGS
@given(counts=st.booleans(), data=st.data())
def test_plain_numbers(counts, data):
    check_numbers(data.draw(with_missing(plain(counts))), counts)


@SETTINGS
@given(counts=st.booleans(), data=st.data())
def test_comma_thousands(counts, data):
    check_numbers(data.draw(with_missing(comma_thousands(counts))), counts)


@SETTINGS
@given(cells=with_missing(dot_thousands_count()))
def test_point_thousands_in_counts(cells):
    check_numbers(cells, counts=True)


@SETTINGS
@given(cells=with_missing(comma_decimal_amount()))
def test_decimal_comma_amounts(cells):
    check_numbers(cells, counts=False)


@SETTINGS
@given(counts=st.booleans(), cells=with_missing(humanised()))
def test_humanised_suffixes(counts, cells):
    check_numbers(cells, counts)


@SETTINGS
@given(counts=st.booleans(), cells=with_missing(indonesian()))
def test_indonesian_multipliers(counts, cells):
    check_numbers(cells, counts)


@SETTINGS
@given(point=st.sampled_from([".", ","]), data=st.data())
def test_percentages(point, data):
    check_numbers(data.draw(with_missing(percentage(point))), counts=False)


NUMBER_EXAMPLES = [
    # (cell, counts, expected)
    ("1,234", True, 1234),
    ("1,234", False, 1234.0),
    ("1.234", True, 1234),
    ("1.234", False, 1.234),  # an amount: a point is the decimal mark unless the column shows commas
    ("1.2K", True, 1200),
    ("3.3k", True, 3300),
    ("0.89k", True, 890),
    ("475.8m", True, 475_800_000),
    ("29.0b", True, 29_000_000_000),
    ("3,4 rb", True, 3400),
    ("1,2 jt", True, 1_200_000),
    ("12 ribu", True, 12_000),
    ("1,5 miliar", True, 1_500_000_000),
    ("1.39%", False, 0.0139),
    ("12%", False, 0.12),
    ("2.28E+11", True, 228_000_000_000),
    ("$1,234.50", False, 1234.5),
    ("Rp 1.500.000", True, 1_500_000),
    ("1.234,5", False, 1234.5),
    ("1,234.5", False, 1234.5),
    ("1,234,567", True, 1_234_567),
    ("1.234.567", True, 1_234_567),
    ("-12", True, -12),
    (" 1,234 ", True, 1234),
    ("abc", True, None),
    ("12x", True, None),
    ("1..2", False, None),
]


@pytest.mark.parametrize(("cell", "counts", "expected"), NUMBER_EXAMPLES)
def test_number_examples(cell, counts, expected):
    assert sk.parse_numbers([cell], counts=counts).to_list() == [expected]


@pytest.mark.parametrize("marker", MISSING)
@pytest.mark.parametrize("counts", [True, False])
def test_missing_markers_are_null(marker, counts):
    assert sk.parse_numbers([marker, "5"], counts=counts).to_list() == [None, 5]


def test_the_column_decides_the_decimal_mark():
    # a lone separator before three digits: the other cells of the column tell
    assert sk.parse_numbers(["1.234", "12,5"]).to_list() == [1234.0, 12.5]
    assert sk.parse_numbers(["1.234", "1.5"]).to_list() == [1.234, 1.5]
    assert sk.parse_numbers(["1,234", "0,75"]).to_list() == [1.234, 0.75]


def test_counts_are_integers_unless_fractional():
    assert sk.parse_numbers(["3.3k", "12"], counts=True).dtype == pl.Int64
    assert sk.parse_numbers(["1.39%"], counts=True).dtype == pl.Float64
    assert sk.parse_numbers(["12"]).dtype == pl.Float64


def test_a_polars_series_is_accepted():
    assert sk.parse_numbers(pl.Series(["1.2K", None]), counts=True).to_list() == [1200, None]


# ---------------------------------------------------------------------------------------
# dates

EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
EN_FULL = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]  # fmt: skip
ID_FULL = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember"]  # fmt: skip
EN_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ID_DAYS = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]

# style -> (format, needs year=, day_first=)
DATE_STYLES = {
    "iso": (lambda d: d.isoformat(), False, None),
    "dd/mm/yyyy": (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", False, None),
    "d/m/yyyy": (lambda d: f"{d.day}/{d.month}/{d.year}", False, None),
    "mm/dd/yyyy": (lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}", False, False),
    "dd.mm.yyyy": (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}", False, None),
    "yyyymmdd": (lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}", False, None),
    "x": (lambda d: f"{EN_DAYS[d.weekday()]}, {EN_MONTHS[d.month - 1]} {d.day}, {d.year}", False, None),
    "month d, yyyy": (lambda d: f"{EN_FULL[d.month - 1]} {d.day}, {d.year}", False, None),
    "d month yyyy": (lambda d: f"{d.day} {EN_FULL[d.month - 1]} {d.year}", False, None),
    "indonesian": (lambda d: f"{d.day} {ID_FULL[d.month - 1]} {d.year}", False, None),
    "indonesian weekday": (
        lambda d: f"{ID_DAYS[d.weekday()]}, {d.day} {ID_FULL[d.month - 1]} {d.year}",
        False,
        None,
    ),
    "dd.mm": (lambda d: f"{d.day:02d}.{d.month:02d}", True, None),
    "mon d": (lambda d: f"{EN_MONTHS[d.month - 1]} {d.day}", True, None),
}


@SETTINGS
@given(
    style=st.sampled_from(sorted(DATE_STYLES)),
    days=st.lists(st.dates(dt.date(1970, 1, 1), dt.date(2099, 12, 31)), min_size=1, max_size=5),
    missing=st.lists(st.sampled_from(["", "-", "N/A", "undefined"]), max_size=2),
)
def test_dates_in_export_styles(style, days, missing):
    fmt, yearless, day_first = DATE_STYLES[style]
    if yearless:  # a file without years holds one year's dates (December: see the next test)
        days = [
            d.replace(year=days[0].year) for d in days if not (d.month == 2 and d.day == 29) and d.month != 12
        ] or [dt.date(days[0].year, 3, 1)]
    cells = [fmt(d) for d in days] + missing
    year = days[0].year if yearless else None
    got = sk.parse_dates(cells, year=year, day_first=day_first)
    assert got.dtype == pl.Date
    assert got.to_list() == days + [None] * len(missing), cells


def test_yearless_dates_over_new_year_fall_in_two_years():
    # TikTok Studio's windows run over New Year; year= is the year of the January dates
    cells = ["28 December", "30 December", "31 December", "1 January", "3 January"]
    got = sk.parse_dates(cells, year=2026).to_list()
    assert got == [
        dt.date(2025, 12, 28),
        dt.date(2025, 12, 30),
        dt.date(2025, 12, 31),
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 3),
    ]
    # a whole year of months, or a column without December, stays in the year given
    whole = [f"1 {m}" for m in ["January", "April", "July", "October", "December"]]
    assert {d.year for d in sk.parse_dates(whole, year=2026).to_list()} == {2026}
    assert {d.year for d in sk.parse_dates(["1 January", "1 August"], year=2026).to_list()} == {2026}


@SETTINGS
@given(day=st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
def test_two_digit_years(day):
    got = sk.parse_dates([f"{day.day:02d}/{day.month:02d}/{day.year % 100:02d}"])
    assert got.to_list() == [day]


@SETTINGS
@given(
    moment=st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2099, 12, 31)).map(
        lambda t: t.replace(microsecond=0)
    )
)
def test_iso_datetimes_round_trip(moment):
    got = sk.parse_dates([moment.isoformat(sep=" "), moment.isoformat() + "Z"], time=True)
    assert got.dtype == pl.Datetime("us")
    assert got.to_list() == [moment, moment]


DATE_EXAMPLES = [
    # (cell, year, day_first, expected)
    ("2026-08-25", None, None, dt.date(2026, 8, 25)),
    ("25/08/2026", None, None, dt.date(2026, 8, 25)),
    ("08/25/2026", None, None, dt.date(2026, 8, 25)),  # 25 cannot be a month
    ("04/05/2026", None, None, dt.date(2026, 5, 4)),  # day first unless told
    ("04/05/2026", None, False, dt.date(2026, 4, 5)),
    ("25.08.2026", None, None, dt.date(2026, 8, 25)),
    ("20260825", None, None, dt.date(2026, 8, 25)),
    ("Tue, Aug 25, 2026", None, None, dt.date(2026, 8, 25)),
    ("Aug 25, 2026", None, None, dt.date(2026, 8, 25)),
    ("25 Agustus 2026", None, None, dt.date(2026, 8, 25)),
    ("Selasa, 25 Agu 2026", None, None, dt.date(2026, 8, 25)),
    ("1 Mei 2026", None, None, dt.date(2026, 5, 1)),
    ("25.08", 2026, None, dt.date(2026, 8, 25)),
    ("Aug 25", 2026, None, dt.date(2026, 8, 25)),
    ("August 25", 2026, None, dt.date(2026, 8, 25)),
    ("2026-08-25T10:30:00Z", None, None, dt.date(2026, 8, 25)),
]


@pytest.mark.parametrize(("cell", "year", "day_first", "expected"), DATE_EXAMPLES)
def test_date_examples(cell, year, day_first, expected):
    assert sk.parse_dates([cell], year=year, day_first=day_first).to_list() == [expected]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-08-25T10:30:00Z", dt.datetime(2026, 8, 25, 10, 30)),
        ("2026-08-25 10:30", dt.datetime(2026, 8, 25, 10, 30)),
        ("2026-08-25T01:00:00+02:00", dt.datetime(2026, 8, 24, 23, 0)),  # offsets move to UTC
        ("2026-08-25T10:00:00+0000", dt.datetime(2026, 8, 25, 10, 0)),
        ("08/25/2026 10:30", dt.datetime(2026, 8, 25, 10, 30)),
        ("Aug 25, 2026, 3:05 PM", dt.datetime(2026, 8, 25, 15, 5)),
    ],
)
def test_datetime_examples(cell, expected):
    assert sk.parse_dates([cell], time=True).to_list() == [expected]


@pytest.mark.parametrize("marker", MISSING)
def test_missing_dates_are_null(marker):
    assert sk.parse_dates([marker, "2026-08-25"]).to_list() == [None, dt.date(2026, 8, 25)]


def test_a_bad_date_among_good_ones_is_null():
    assert sk.parse_dates(["2026-08-25", "hello", "31/02/2026"]).to_list() == [
        dt.date(2026, 8, 25),
        None,
        None,
    ]


def test_a_column_of_no_dates_is_an_error():
    with pytest.raises(sk.KpiError) as info:
        sk.parse_dates(["hello", "soon"])
    assert info.value.code == "unparseable_dates"


def test_yearless_dates_need_a_year():
    with pytest.raises(sk.KpiError) as info:
        sk.parse_dates(["25.08", "26.08"])
    assert info.value.code == "missing_year"

//! Columns of text read as values, in parallel pieces: counts and amounts, dates and
//! datetimes, keys and dimensions (see `values` for one cell), with the cells that did not
//! read counted and sampled.

use super::presets::Value;
use super::values::{self, Cell, DayOrder, Decimal};
use crate::error::{Error, Result};
use crate::error::{QueryCode, SchemaCode};
use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

/// How a column's cells are written where a cell alone does not tell: which number comes
/// first in `04/05/2026`, and which mark is decimal in `1.500` (amounts). Decided from the
/// cells that do tell (`25/08/2026` says days first, `08/25/2026` months first, `12,50` a
/// decimal comma, `12.50` a point): the column's own first, then those of the read's other
/// files and columns, then the export's default (its preset's day order, else days first; a
/// decimal point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    pub order: DayOrder,
    pub decimal: Decimal,
}

/// What a column's cells say of their locale.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence {
    day_first: bool,
    month_first: bool,
    point: usize,
    comma: usize,
}

impl Evidence {
    /// The day order numeric dates show (ISO cells say nothing).
    pub fn of_dates(ca: &StringChunked) -> Evidence {
        let (day_first, month_first) = fold_text(
            ca,
            || (false, false),
            |(d, m), v| {
                let v = v.trim();
                if (d && m) || (v.len() >= 5 && v.as_bytes()[..4].iter().all(u8::is_ascii_digit)) {
                    return (d, m);
                }
                match values::numeric_fields(v) {
                    Some((a, b, _)) => (d || a > 12, m || b > 12),
                    None => (d, m),
                }
            },
            |a, b| (a.0 || b.0, a.1 || b.1),
        );
        Evidence {
            day_first,
            month_first,
            ..Evidence::default()
        }
    }

    /// The decimal mark amounts show.
    pub fn of_amounts(ca: &StringChunked) -> Evidence {
        let (point, comma) = fold_text(
            ca,
            || (0usize, 0usize),
            |(p, c), v| match values::decimal_evidence(v) {
                Some(Decimal::Point) => (p + 1, c),
                Some(Decimal::Comma) => (p, c + 1),
                None => (p, c),
            },
            |a, b| (a.0 + b.0, a.1 + b.1),
        );
        Evidence {
            point,
            comma,
            ..Evidence::default()
        }
    }

    /// Both columns' evidence together.
    pub fn and(self, other: Evidence) -> Evidence {
        Evidence {
            day_first: self.day_first || other.day_first,
            month_first: self.month_first || other.month_first,
            point: self.point + other.point,
            comma: self.comma + other.comma,
        }
    }

    fn order(&self) -> Option<DayOrder> {
        match (self.day_first, self.month_first) {
            (true, false) => Some(DayOrder::DayFirst),
            (false, true) => Some(DayOrder::MonthFirst),
            _ => None,
        }
    }

    fn decimal(&self) -> Option<Decimal> {
        match self.comma.cmp(&self.point) {
            std::cmp::Ordering::Greater => Some(Decimal::Comma),
            std::cmp::Ordering::Less => Some(Decimal::Point),
            std::cmp::Ordering::Equal => None,
        }
    }
}

impl Locale {
    /// A column's locale: what its own cells say, else what the wider read says, else the
    /// export's default order and a decimal point.
    pub fn decide(own: Evidence, wider: Evidence, default_order: DayOrder) -> Locale {
        Locale {
            order: own.order().or(wider.order()).unwrap_or(default_order),
            decimal: own.decimal().or(wider.decimal()).unwrap_or(Decimal::Point),
        }
    }
}

/// A parsed column and the cells it could not read.
pub struct Parsed {
    pub(super) series: Series,
    pub(super) bad: usize,
    pub(super) samples: Vec<String>,
}

impl Parsed {
    /// (column, cells that did not read, up to three of them)
    pub fn into_parts(self) -> (Series, usize, Vec<String>) {
        (self.series, self.bad, self.samples)
    }

    pub(super) fn kept(series: Series) -> Self {
        Parsed {
            series,
            bad: 0,
            samples: Vec::new(),
        }
    }
}

/// Rows per parallel piece of a column.
const PIECE: usize = 1 << 16;

/// Folds the non-null cells of a text column in parallel pieces: `f` folds a piece into `A`,
/// `merge` combines the pieces' results.
pub(super) fn fold_text<A: Send>(
    ca: &StringChunked,
    init: impl Fn() -> A + Sync,
    f: impl Fn(A, &str) -> A + Sync,
    merge: impl Fn(A, A) -> A + Sync,
) -> A {
    let n = ca.len();
    THREAD_POOL.install(|| {
        (0..n.div_ceil(PIECE))
            .into_par_iter()
            .map(|k| {
                let piece = ca.slice((k * PIECE) as i64, PIECE.min(n - k * PIECE));
                piece.iter().flatten().fold(init(), &f)
            })
            .reduce(&init, &merge)
    })
}

/// Runs `f` over a text column in parallel pieces into a primitive array with its validity
/// (each piece writes its own part of one buffer); also tells whether `all` holds for every
/// value read.
fn map_primitive<T: NumericNative>(
    ca: &StringChunked,
    f: impl Fn(&str) -> Cell<T> + Sync,
    all: impl Fn(T) -> bool + Sync,
) -> (Vec<T>, Bitmap, bool, usize, Vec<String>) {
    use polars_arrow::array::{Array, Utf8ViewArray};
    use polars_arrow::bitmap::MutableBitmap;
    let n = ca.len();
    let mut values = vec![T::default(); n];
    // the column's Arrow arrays cut into pieces of at most PIECE rows, each with its part of
    // the output buffer
    let mut arrays: Vec<Utf8ViewArray> = Vec::new();
    for arr in ca.downcast_iter() {
        let mut offset = 0;
        while offset < arr.len() {
            let len = PIECE.min(arr.len() - offset);
            arrays.push(arr.clone().sliced(offset, len));
            offset += len;
        }
    }
    let mut parts: Vec<(&Utf8ViewArray, &mut [T])> = Vec::with_capacity(arrays.len());
    let mut rest: &mut [T] = &mut values;
    for arr in &arrays {
        let (head, tail) = rest.split_at_mut(arr.len());
        parts.push((arr, head));
        rest = tail;
    }
    let pieces: Vec<(MutableBitmap, bool, usize, Vec<String>)> = THREAD_POOL.install(|| {
        parts
            .into_par_iter()
            .map(|(arr, out)| {
                let mut valid = MutableBitmap::with_capacity(out.len());
                let (mut holds, mut bad, mut samples) = (true, 0usize, Vec::new());
                let nulls = arr.validity().filter(|v| v.unset_bits() > 0);
                for (j, slot) in out.iter_mut().enumerate() {
                    let v = match nulls {
                        Some(bits) if !bits.get_bit(j) => None,
                        // SAFETY: `out` is this array's part of the buffer: j < arr.len()
                        _ => Some(unsafe { arr.value_unchecked(j) }),
                    };
                    let cell = v.map_or(Cell::Missing, &f);
                    valid.push(matches!(cell, Cell::Value(_)));
                    match cell {
                        Cell::Value(x) => {
                            *slot = x;
                            holds &= all(x);
                        }
                        Cell::Missing => {}
                        Cell::Bad => {
                            bad += 1;
                            if samples.len() < 3 {
                                samples.push(v.unwrap_or_default().to_string());
                            }
                        }
                    }
                }
                (valid, holds, bad, samples)
            })
            .collect()
    });
    let mut validity = MutableBitmap::with_capacity(n);
    let (mut holds, mut bad, mut samples) = (true, 0, Vec::new());
    for (v, h, b, s) in pieces {
        validity.extend_from_bitmap(&v.into());
        holds &= h;
        bad += b;
        for x in s {
            if samples.len() < 3 && !samples.contains(&x) {
                samples.push(x);
            }
        }
    }
    (values, validity.into(), holds, bad, samples)
}

pub(super) fn parse_column(
    s: &Series,
    value: Value,
    locale: &Locale,
    year: Option<i32>,
    header: &str,
    label: &str,
) -> Result<Parsed> {
    let name = s.name().clone();
    match value {
        Value::Key | Value::Text | Value::Platform => {
            if !matches!(s.dtype(), DataType::String) {
                return Ok(Parsed::kept(s.cast(&DataType::String)?));
            }
            let ca = s.str()?;
            let clean = |v: &str| {
                let t = v.trim();
                if values::is_missing(t) {
                    Cell::Missing
                } else {
                    Cell::Value(t.to_string())
                }
            };
            if value == Value::Platform {
                // few distinct names: each is matched once (`Twitter` -> `x`, `YouTube` -> `youtube`)
                let table = crate::sources::SourceTable::new(&[]);
                let distinct = fold_text(
                    ca,
                    PlHashSet::<String>::default,
                    |mut set, v| {
                        if !set.contains(v) {
                            set.insert(v.to_string());
                        }
                        set
                    },
                    |mut a, b| {
                        a.extend(b);
                        a
                    },
                );
                let names: PlHashMap<String, Option<String>> = distinct
                    .into_iter()
                    .map(|v| {
                        let name = match clean(&v) {
                            Cell::Value(t) => Some(table.platform(&t).map_or_else(|| t.to_lowercase(), str::to_string)),
                            _ => None,
                        };
                        (v, name)
                    })
                    .collect();
                if names.iter().all(|(k, v)| v.as_deref() == Some(k.as_str())) {
                    return Ok(Parsed::kept(s.clone()));
                }
                let mapped = ca
                    .iter()
                    .map(|v| v.and_then(|v| names.get(v).and_then(|n| n.as_deref())));
                return Ok(Parsed::kept(
                    StringChunked::from_iter_options(name, mapped).into_series(),
                ));
            }
            // most id and text columns need no change: keep their buffers
            // only the ends can need trimming: look at the first and last characters
            let padded = |v: &str| {
                v.chars().next().is_some_and(char::is_whitespace)
                    || v.chars().next_back().is_some_and(char::is_whitespace)
            };
            let untouched = fold_text(
                ca,
                || true,
                |a, v| a && !padded(v) && !values::is_missing(v),
                |a, b| a && b,
            );
            if untouched {
                return Ok(Parsed::kept(s.clone()));
            }
            let cleaned = ca.iter().map(|v| v.map(str::trim).filter(|t| !values::is_missing(t)));
            Ok(Parsed::kept(
                StringChunked::from_iter_options(name, cleaned).into_series(),
            ))
        }
        Value::Count | Value::Money => parse_numbers(s, value == Value::Count, locale.decimal),
        Value::Timestamp | Value::Date => parse_times(s, value == Value::Date, locale.order, year, header, label),
        Value::Flag => parse_flags(s, header, label),
    }
}

/// Yes/no columns (`sponsored`): Boolean. Integers 0 and 1 and text such as `0/1`,
/// `true/false`, `yes/no`, `Y/N` read; other cells are nulled and counted, and a column none of
/// whose cells reads is an error that shows some.
pub fn parse_flags(s: &Series, header: &str, label: &str) -> Result<Parsed> {
    let name = s.name().clone();
    let ca = match s.dtype() {
        DataType::Boolean => return Ok(Parsed::kept(s.clone())),
        DataType::Null => return Ok(Parsed::kept(s.cast(&DataType::Boolean)?)),
        DataType::String => s.str()?.clone(),
        // numbers (0/1 from Parquet or a spreadsheet) are read as their text
        dt if dt.is_integer() || dt.is_float() => s.cast(&DataType::String)?.str()?.clone(),
        other => {
            return Err(Error::schema(
                SchemaCode::NotAFlag,
                format!("column '{header}' of '{label}' holds {other} values, not yes/no"),
            ))
        }
    };
    let (mut bad, mut samples, mut read) = (0usize, Vec::new(), 0usize);
    let flags: BooleanChunked = ca
        .iter()
        .map(|v| match v.map_or(Cell::Missing, values::parse_flag) {
            Cell::Value(b) => {
                read += 1;
                Some(b)
            }
            Cell::Missing => None,
            Cell::Bad => {
                bad += 1;
                if samples.len() < 3 {
                    samples.push(v.unwrap_or_default().to_string());
                }
                None
            }
        })
        .collect();
    if read == 0 && bad > 0 {
        return Err(Error::schema(
            SchemaCode::UnparseableFlags,
            format!(
                "no value of '{header}' in '{label}' reads as yes or no (e.g. {}); supported: 0/1, true/false, yes/no, Y/N, sponsored/organic, paid/unpaid; map another column to 'sponsored' or convert it",
                quoted(&samples)
            ),
        ));
    }
    Ok(Parsed {
        series: flags.with_name(name).into_series(),
        bad,
        samples,
    })
}

/// A column that is no canonical one, as numbers when every cell present reads as a plain
/// number (see `values::is_number_cell`): Int64 when every value is whole, else Float64; None
/// (kept as text) otherwise. The decimal mark is the one the column's own cells show, else a
/// point.
pub fn numbers_if_all(s: &Series) -> Result<Option<Series>> {
    let Ok(ca) = s.str() else { return Ok(None) };
    // most text columns fail at their first cell: look at it before folding the column
    match ca.iter().flatten().find(|v| !values::is_missing(v)) {
        Some(first) if values::is_number_cell(first) => {}
        _ => return Ok(None),
    }
    let all = fold_text(
        ca,
        || true,
        |ok, v| ok && (values::is_missing(v) || values::is_number_cell(v)),
        |a, b| a && b,
    );
    if !all {
        return Ok(None);
    }
    let decimal = Evidence::of_amounts(ca).decimal().unwrap_or(Decimal::Point);
    let parsed = parse_numbers(s, false, decimal)?;
    if parsed.bad > 0 {
        return Ok(None);
    }
    Ok(Some(whole_as_int(parsed.series, true)?))
}

/// Counts and amounts: numbers as written in exports. Counts are Int64 when every value is
/// whole, amounts Float64.
/// `decimal`: the read's decimal mark (see `Locale`), for a lone separator before three
/// digits in amounts; in counts it is a thousands separator.
pub fn parse_numbers(s: &Series, count: bool, decimal: Decimal) -> Result<Parsed> {
    let name = s.name().clone();
    let floats = match s.dtype() {
        DataType::String => {
            let ca = s.str()?;
            let ambiguous = if count { None } else { Some(decimal) };
            let (vals, validity, whole, bad, samples) = map_primitive(
                ca,
                |v| values::parse_number(v, ambiguous),
                |v| v.fract() == 0.0 && v.abs() < 9.0e15,
            );
            let series = if count && whole {
                // converted in place (same size): a second buffer would cost its fresh pages
                let ints: Vec<i64> = vals.into_iter().map(|v| v as i64).collect();
                Int64Chunked::from_vec_validity(name, ints, Some(validity)).into_series()
            } else {
                Float64Chunked::from_vec_validity(name, vals, Some(validity)).into_series()
            };
            return Ok(Parsed { series, bad, samples });
        }
        DataType::Boolean => s.cast(&DataType::Int64)?,
        dt if dt.is_integer() => return Ok(Parsed::kept(s.cast(&DataType::Int64)?)),
        dt if dt.is_float() => {
            let f = s.cast(&DataType::Float64)?;
            let ca = f.f64()?;
            ca.apply(|v| v.filter(|x| !x.is_nan())).into_series()
        }
        DataType::Null => s.cast(&DataType::Float64)?,
        other => {
            return Err(Error::schema(
                SchemaCode::NotNumeric,
                format!("column '{name}' holds {other} values, not numbers"),
            ))
        }
    };
    Ok(Parsed::kept(whole_as_int(floats, count)?))
}

fn whole_as_int(s: Series, count: bool) -> Result<Series> {
    if !count || !matches!(s.dtype(), DataType::Float64) {
        return Ok(s);
    }
    let ca = s.f64()?;
    let whole = ca.iter().flatten().all(|v| v.fract() == 0.0 && v.abs() < 9.0e15);
    Ok(if whole { s.cast(&DataType::Int64)? } else { s })
}

/// Dates and datetimes as exports write them. A column none of whose cells reads is an error
/// that shows some; one whose dates lack a year needs `year=`.
pub fn parse_times(
    s: &Series,
    date_only: bool,
    order: DayOrder,
    year: Option<i32>,
    header: &str,
    label: &str,
) -> Result<Parsed> {
    let name = s.name().clone();
    match s.dtype() {
        DataType::Date => {
            return Ok(Parsed::kept(if date_only {
                s.clone()
            } else {
                s.cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
            }))
        }
        DataType::Datetime(_, tz) => {
            let naive = match tz {
                Some(_) => {
                    let phys = s.cast(&DataType::Datetime(TimeUnit::Microseconds, tz.clone()))?;
                    phys.to_physical_repr()
                        .into_owned()
                        .into_datetime(TimeUnit::Microseconds, None)
                }
                None => s.cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
            };
            return Ok(Parsed::kept(if date_only {
                naive.cast(&DataType::Date)?
            } else {
                naive
            }));
        }
        DataType::String => {}
        DataType::Null => {
            let dt = if date_only {
                DataType::Date
            } else {
                DataType::Datetime(TimeUnit::Microseconds, None)
            };
            return Ok(Parsed::kept(s.cast(&dt)?));
        }
        _ => {
            // numbers such as GA4's 20260825 read as text
            let text = s.cast(&DataType::String)?;
            return parse_times(&text, date_only, order, year, header, label);
        }
    }
    let ca = s.str()?;
    let roll = year.and_then(|_| new_year_turn(ca, order));
    let parse = |v: &str| match (values::parse_stamp(v, order, year), roll, year) {
        // yearless dates from before the turn of the year fall in the year before
        (Cell::Value(st), Some(from), Some(y)) if st.yearless && st.month >= from => {
            values::parse_stamp(v, order, Some(y - 1))
        }
        (cell, _, _) => cell,
    };
    let (series, read, bad, samples) = if date_only {
        let (vals, validity, _, bad, samples) = map_primitive(ca, |v| parse(v).map(|st| st.days()), |_| true);
        let read = validity.set_bits();
        let s = Int32Chunked::from_vec_validity(name, vals, Some(validity)).into_series();
        (s.into_date(), read, bad, samples)
    } else {
        let (vals, validity, _, bad, samples) = map_primitive(ca, |v| parse(v).map(|st| st.utc_micros()), |_| true);
        let read = validity.set_bits();
        let s = Int64Chunked::from_vec_validity(name, vals, Some(validity)).into_series();
        (s.into_datetime(TimeUnit::Microseconds, None), read, bad, samples)
    };
    if bad > 0 && year.is_none() {
        // is it only the year that is missing?
        let yearless = samples
            .iter()
            .any(|v| matches!(values::parse_stamp(v, order, Some(2000)), Cell::Value(st) if st.yearless));
        if yearless {
            return Err(Error::query(
                QueryCode::MissingYear,
                format!(
                    "dates in '{header}' of '{label}' have no year (e.g. {}); pass year=... (the year they fall in)",
                    quoted(&samples)
                ),
            ));
        }
    }
    if read == 0 && bad > 0 {
        return Err(Error::schema(
            SchemaCode::UnparseableDates,
            format!(
                "no value of '{header}' in '{label}' reads as a date (e.g. {}); supported: 2026-08-25, 25/08/2026, 08/25/2026, 25.08.2026, 25.08 (with year=), 20260825, Aug 25, 2026, Tue, Aug 25, 2026, 25 Agustus 2026; convert the column or map another one",
                quoted(&samples)
            ),
        ));
    }
    Ok(Parsed { series, bad, samples })
}

/// The first month of a yearless column's dates that lie before a turn of the year, when the
/// column runs over one (30 December ... 2 January: 12): it holds December and January dates
/// and its months leave a gap of six months or more inside the year, wider than the one
/// around New Year.
/// `year=` is then the year of the column's January dates.
fn new_year_turn(ca: &StringChunked, order: DayOrder) -> Option<u32> {
    let months: u16 = fold_text(
        ca,
        || 0u16,
        |m, v| match values::parse_stamp(v, order, Some(2000)) {
            Cell::Value(st) if st.yearless => m | (1 << st.month),
            _ => m,
        },
        |a, b| a | b,
    );
    // only a column that holds both December and January, and nothing from April to
    // September, runs over New Year (TikTok Studio's windows of up to 60 days)
    if months & (1 << 12) == 0 || months & (1 << 1) == 0 || (4..=9).any(|m| months & (1 << m) != 0) {
        return None;
    }
    let present: Vec<u32> = (1..=12).filter(|m| months & (1 << m) != 0).collect();
    let (first, last) = (*present.first()?, *present.last()?);
    let around = 12 - last + first - 1; // the gap that holds New Year
    let widest = present.windows(2).map(|w| (w[1] - w[0] - 1, w[1])).max()?;
    (widest.0 >= 6 && widest.0 > around).then_some(widest.1)
}

fn quoted(samples: &[String]) -> String {
    let q: Vec<String> = samples.iter().map(|s| format!("'{s}'")).collect();
    q.join(", ")
}

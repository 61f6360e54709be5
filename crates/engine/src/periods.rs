//! Days into periods: days since 1970-01-01 to civil dates and back, the start of the
//! period a day falls in (in the report's calendar, `plan::Calendar`), day ranges split into
//! the periods they overlap, and period codes for days read a batch at a time. The posts
//! pass, the other tables' states and the states' rollup all put days into periods here.

use crate::error::{Error, InputCode, Result};
use crate::plan::{Calendar, Period, Plan, PERIOD};
use polars::prelude::*;
use polars_buffer::Buffer;

/// The posts' day column (the day of `published_at` in the report's time zone).
pub const DAY: &str = "__day";
/// Days as i32 with this marking a missing day.
pub const NO_DAY: i32 = i32::MIN;
/// The days the calendar takes (about 2.9 million years on each side of 1970): inside them,
/// period starts, the next period and day counts between two of them stay far from the ends
/// of i32 (and from `NO_DAY`); a day outside is an error (`days`).
pub const DAYS: std::ops::RangeInclusive<i32> = -(1 << 30)..=(1 << 30);

/// A period code not given yet.
const NONE: u32 = u32::MAX;

/// (year, month, day) of days since 1970-01-01 (proleptic Gregorian).
pub fn civil(days: i32) -> (i64, u32, u32) {
    crate::plan::calendar::civil(i64::from(days))
}

/// Days since 1970-01-01 of a civil date inside [`DAYS`].
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i32 {
    crate::plan::calendar::days(y, m, d) as i32
}

/// The first day of the period that contains `day`, in the report's calendar (days inside
/// `DAYS`, so the start fits an i32).
pub fn period_start(day: i32, every: Period, calendar: Calendar) -> i32 {
    calendar.period_start(i64::from(day), every) as i32
}

/// The first day of the period after the one that starts on `start`.
pub fn next_period(start: i32, every: Period) -> i32 {
    let months = |n: u32| {
        let (y, m, _) = civil(start);
        let m0 = m - 1 + n;
        days_from_civil(y + i64::from(m0 / 12), m0 % 12 + 1, 1)
    };
    match every {
        Period::Day => start + 1,
        Period::Week => start + 7,
        Period::Month => months(1),
        Period::Quarter => months(3),
        Period::Year => months(12),
    }
}

/// Splits day ranges [start, end] (inclusive) into the periods they overlap: for each piece,
/// the range's index, the period's first day (None without periods) and the share of the
/// range's days inside the period.
pub fn split_by_period(
    ranges: &[(i32, i32)],
    every: Option<Period>,
    calendar: Calendar,
) -> (Vec<IdxSize>, Vec<Option<i32>>, Vec<f64>) {
    let (mut index, mut period, mut share) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &(start, end)) in ranges.iter().enumerate() {
        let days = f64::from(end - start + 1);
        let Some(every) = every else {
            index.push(i as IdxSize);
            period.push(None);
            share.push(1.0);
            continue;
        };
        let mut p = period_start(start, every, calendar);
        while p <= end {
            let next = next_period(p, every);
            let inside = (end.min(next - 1) - start.max(p) + 1).max(0);
            if inside > 0 {
                index.push(i as IdxSize);
                period.push(Some(p));
                share.push(f64::from(inside) / days);
            }
            p = next;
        }
    }
    (index, period, share)
}

/// Period codes across batches: each code's first day (None for rows without a day). Days
/// map to codes through a table around the first day seen (a hash map outside it).
pub struct Periods {
    every: Period,
    calendar: Calendar,
    base: Option<i32>,
    table: Vec<u32>,
    by_day: PlHashMap<i32, u32>,
    by_start: PlHashMap<Option<i32>, u32>,
    pub starts: Vec<Option<i32>>,
}

/// Days on each side of the first day that the table covers (about 90 years).
const SPAN: i32 = 1 << 15;

impl Periods {
    pub fn new(every: Period, calendar: Calendar) -> Self {
        Self {
            every,
            calendar,
            base: None,
            table: vec![NONE; 2 * SPAN as usize],
            by_day: PlHashMap::default(),
            by_start: PlHashMap::default(),
            starts: Vec::new(),
        }
    }

    fn code_of(&mut self, d: i32) -> u32 {
        let start = (d != NO_DAY).then(|| period_start(d, self.every, self.calendar));
        let next = self.starts.len() as u32;
        let c = *self.by_start.entry(start).or_insert(next);
        if c == next {
            self.starts.push(start);
        }
        c
    }

    pub fn encode(&mut self, days: &[i32]) -> Vec<u32> {
        let base = *self
            .base
            .get_or_insert_with(|| days.iter().copied().find(|&d| d != NO_DAY).unwrap_or(0) - SPAN);
        let mut out = Vec::with_capacity(days.len());
        for &d in days {
            let slot = i64::from(d) - i64::from(base);
            let code = if d != NO_DAY && (0..2 * i64::from(SPAN)).contains(&slot) {
                let c = self.table[slot as usize];
                if c == NONE {
                    let c = self.code_of(d);
                    self.table[slot as usize] = c;
                    c
                } else {
                    c
                }
            } else if let Some(&c) = self.by_day.get(&d) {
                c
            } else {
                let c = self.code_of(d);
                self.by_day.insert(d, c);
                c
            };
            out.push(code);
        }
        out
    }
}

/// A batch's Date column as days, `NO_DAY` where missing; a day outside the calendar's
/// (`DAYS`) is a `date_out_of_range` error.
pub fn days(column: &Column) -> Result<Buffer<i32>> {
    let s = column.as_materialized_series().to_physical_repr();
    let ca = s.i32()?;
    let single = (ca.chunks().len() == 1).then(|| ca.downcast_iter().next()).flatten();
    let out = match single {
        // one chunk without a missing day (as the posts pass makes them): its buffer, shared
        Some(arr) if arr.validity().is_none_or(|v| v.unset_bits() == 0) => arr.values().clone(),
        _ => days_with_gaps(ca),
    };
    check_in_calendar(column, ca)?;
    Ok(out)
}

/// The days of a column of several chunks or with missing days (`NO_DAY`).
fn days_with_gaps(ca: &Int32Chunked) -> Buffer<i32> {
    let mut out = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        match arr.validity().filter(|v| v.unset_bits() > 0) {
            Some(valid) => out.extend(
                arr.values()
                    .iter()
                    .zip(valid.iter())
                    .map(|(&d, present)| if present { d } else { NO_DAY }),
            ),
            None => out.extend_from_slice(arr.values()),
        }
    }
    out.into()
}

/// A `date_out_of_range` error when a present day of `column` lies outside the calendar's.
fn check_in_calendar(column: &Column, ca: &Int32Chunked) -> Result<()> {
    // the present days' extremes (polars' min and max skip missing ones)
    let (first, last) = (*DAYS.start(), *DAYS.end());
    let outside = ca.min().is_some_and(|d| d < first) || ca.max().is_some_and(|d| d > last);
    if outside {
        let name = match column.name().as_str() {
            DAY => "published_at",
            other => other,
        };
        return Err(Error::input(
            InputCode::DateOutOfRange,
            format!(
                "column '{name}' holds a date more than 2.9 million years from 1970, outside the calendar socialkpi puts periods in; such dates are usually a placeholder or a unit error: fix or filter them"
            ),
        ));
    }
    Ok(())
}

/// `df` with each row's period start (`PERIOD`, a date) from its `day` column (dates): each
/// distinct day is truncated once (polars' `dt.truncate` works row by row through calendar
/// arithmetic).
pub fn with_period(mut df: DataFrame, day: &str, plan: &Plan) -> Result<DataFrame> {
    let Some(every) = plan.every else {
        return Ok(df);
    };
    let days = days(df.column(day)?)?;
    let mut periods = Periods::new(every, plan.calendar);
    let codes = periods.encode(&days);
    df.with_column(period_column(
        codes.iter().map(|&c| periods.starts[c as usize]).collect(),
    )?)?;
    Ok(df)
}

/// The `PERIOD` column (dates) of period starts as days.
pub fn period_column(starts: Int32Chunked) -> Result<Column> {
    Ok(starts
        .into_series()
        .cast(&DataType::Date)?
        .with_name(PERIOD.into())
        .into_column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_where_polars_truncates() {
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(civil(day(2024, 2, 29)), (2024, 2, 29));
        // 2024-02-29 was a Thursday
        assert_eq!(
            period_start(day(2024, 2, 29), Period::Week, Calendar::default()),
            day(2024, 2, 26)
        );
        assert_eq!(
            period_start(day(2024, 2, 29), Period::Month, Calendar::default()),
            day(2024, 2, 1)
        );
        assert_eq!(
            period_start(day(2024, 5, 31), Period::Quarter, Calendar::default()),
            day(2024, 4, 1)
        );
        assert_eq!(
            period_start(day(2024, 12, 31), Period::Year, Calendar::default()),
            day(2024, 1, 1)
        );
        assert_eq!(
            period_start(day(1969, 12, 31), Period::Month, Calendar::default()),
            day(1969, 12, 1)
        );
        assert_eq!(
            period_start(day(1969, 12, 31), Period::Week, Calendar::default()),
            day(1969, 12, 29)
        );
        for d in -1000..1000 {
            let (y, m, dd) = civil(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn ranges_split_into_periods_by_their_days() {
        let day = |y, m, d| days_from_civil(y, m, d);
        // 30 days from 22 January: 10 in January, 20 in February
        let (index, period, share) = split_by_period(
            &[(day(2026, 1, 22), day(2026, 2, 20))],
            Some(Period::Month),
            Calendar::default(),
        );
        assert_eq!(index, vec![0, 0]);
        assert_eq!(period, vec![Some(day(2026, 1, 1)), Some(day(2026, 2, 1))]);
        assert_eq!(share, vec![10.0 / 30.0, 20.0 / 30.0]);
        let (_, period, share) = split_by_period(
            &[(day(2026, 3, 30), day(2026, 4, 2))],
            Some(Period::Quarter),
            Calendar::default(),
        );
        assert_eq!(period, vec![Some(day(2026, 1, 1)), Some(day(2026, 4, 1))]);
        assert_eq!(share, vec![0.5, 0.5]);
        assert_eq!(next_period(day(2026, 12, 1), Period::Month), day(2027, 1, 1));
        assert_eq!(split_by_period(&[(5, 5)], None, Calendar::default()).2, vec![1.0]);
    }

    #[test]
    fn periods_are_shared_by_their_days() {
        let mut p = Periods::new(Period::Month, Calendar::default());
        // 2026-01-01 is day 20454; 2026-01-31 20484; 2026-02-01 20485
        assert_eq!(p.encode(&[20_454, 20_484, NO_DAY, 20_485]), vec![0, 0, 1, 2]);
        assert_eq!(p.starts, vec![Some(20_454), None, Some(20_485)]);
    }
}

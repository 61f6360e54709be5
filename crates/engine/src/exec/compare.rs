//! Comparisons with earlier periods (docs/time.md): each period's KPIs beside those of the
//! previous period or of the same period a year before.
//!
//! The earlier values are not read off the finished table: the states of each source period
//! are relabelled with the period they are compared from, and the same `finalize` runs over
//! them, so a ratio is the ratio of the earlier period's sums and followers are the earlier
//! period's snapshots (its followers derived before relabelling, from the states' own
//! periods). The report's own rows are joined in as keys, so coverage decides, as it always
//! does, whether a flow of an earlier period with no rows is 0 or unknown.

use super::{finalize, finalize_with, Output};
use crate::error::{Error, QueryCode, Result};
use crate::plan::{Calendar, Period, Plan, PERIOD};
use crate::states::PartialStates;
use polars::prelude::*;

/// What each period is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The period before, at the same grain (calendar-aligned).
    Previous,
    /// The same month, quarter or year a year before; the same week number of the week-year
    /// (ISO weeks from Monday; week 53 against the previous year's week 52); the same date
    /// (Feb 29 against Feb 28).
    LastYear,
    /// The same weekday 52 weeks (364 days) before (`1d` and `1w`).
    LastYearWeekday,
}

impl Compare {
    pub const NAMES: [&'static str; 3] = ["previous", "last_year", "last_year_weekday"];

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "previous" => Ok(Self::Previous),
            "last_year" => Ok(Self::LastYear),
            "last_year_weekday" => Ok(Self::LastYearWeekday),
            other => Err(Error::query(
                QueryCode::UnknownCompare,
                format!(
                    "compare={other:?} is not a comparison; use \"previous\", \"last_year\" or \"last_year_weekday\" (or a list of them)"
                ),
            )),
        }
    }

    /// The names of the columns added for `kpi`: the earlier value, the difference and the
    /// relative change.
    pub fn columns(self, kpi: &str) -> [String; 3] {
        match self {
            Self::Previous => [
                format!("{kpi}_prev"),
                format!("{kpi}_change"),
                format!("{kpi}_change_rate"),
            ],
            Self::LastYear | Self::LastYearWeekday => [
                format!("{kpi}_ly"),
                format!("{kpi}_ly_change"),
                format!("{kpi}_ly_change_rate"),
            ],
        }
    }
}

/// The comparisons named, checked against the report's period (repeats count once).
pub fn parse_list(names: &[String], every: Option<Period>) -> Result<Vec<Compare>> {
    let mut out: Vec<Compare> = Vec::new();
    for name in names {
        let c = Compare::parse(name)?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Ok(out);
    }
    let invalid = |message: String| Err(Error::query(QueryCode::InvalidArgument, message));
    if out.contains(&Compare::LastYear) && out.contains(&Compare::LastYearWeekday) {
        return invalid(
            "compare takes \"last_year\" or \"last_year_weekday\", not both (both add the <kpi>_ly columns)".into(),
        );
    }
    match every {
        None => invalid(
            "compare needs a period: pass every=\"1d\", \"1w\", \"1mo\", \"1q\" or \"1y\", or a range (start=..., end=...: with every=None the report is those days, compared with as many days before them); with every=None and no range the report is one period and has none before it".into(),
        ),
        Some(Period::Month | Period::Quarter | Period::Year) if out.contains(&Compare::LastYearWeekday) => invalid(
            "compare=\"last_year_weekday\" is for every=\"1d\" or \"1w\"; use \"last_year\" for months, quarters and years".into(),
        ),
        Some(_) => Ok(out),
    }
}

/// `finalize` with, for each comparison, every KPI's earlier value, its change and its
/// relative change (change / |earlier|, null where the earlier value is 0 or null).
pub fn finalize_compared(plan: &Plan, states: PartialStates, compare: &[Compare]) -> Result<Output> {
    if compare.is_empty() {
        return finalize(plan, states);
    }
    let Some(every) = plan.every else {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            "compare needs a period (every=...)",
        ));
    };
    let mut output = finalize(plan, states.clone())?;
    let mut keys: Vec<String> = plan.by.clone();
    keys.push(PERIOD.to_string());
    let kpis: Vec<String> = plan.outputs.iter().map(|k| k.name().to_string()).collect();
    check_columns(&output.frame, &kpis, compare)?;
    let report_keys = output.frame.select(keys.iter().map(String::as_str))?;
    let mut earlier = Vec::with_capacity(compare.len());
    for &c in compare {
        let frame = finalize_with(plan, states.clone(), |tables| {
            relabel(tables, every, plan.calendar, c, &report_keys)
        })?
        .frame;
        earlier.push((c, frame));
    }
    output.frame = attach(output.frame, &keys, &kpis, earlier)?;
    Ok(output)
}

/// The columns `compare` adds are not already columns of the report (a KPI named `reach_prev`).
pub(super) fn check_columns(report: &DataFrame, kpis: &[String], compare: &[Compare]) -> Result<()> {
    for &c in compare {
        for kpi in kpis {
            for name in c.columns(kpi) {
                if report.column(&name).is_ok() {
                    return Err(Error::query(
                        QueryCode::InvalidArgument,
                        format!(
                            "compare adds the column '{name}', which is already a KPI of the report; rename that KPI"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The tables of states with each source period's rows under the periods compared with it,
/// and the report's own keys as a table of their own (so that each row of the report is a
/// row of the earlier values, with no states where the earlier period had none).
fn relabel(
    tables: Vec<DataFrame>,
    every: Period,
    calendar: Calendar,
    c: Compare,
    report_keys: &DataFrame,
) -> Result<Vec<DataFrame>> {
    let mut sources: Vec<i32> = Vec::new();
    for t in &tables {
        let days = t.column(PERIOD)?.cast(&DataType::Int32)?;
        sources.extend(days.i32()?.iter().flatten());
    }
    sources.sort_unstable();
    sources.dedup();
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for &s in &sources {
        for t in targets(s, every, calendar, c) {
            from.push(s);
            to.push(t);
        }
    }
    let mapping = relabelling(from, to)?;
    let mut out = Vec::with_capacity(tables.len() + 1);
    for t in tables {
        out.push(moved(t, &mapping)?.collect()?);
    }
    out.push(report_keys.clone());
    Ok(out)
}

/// The period a state's period is read as, in `relabelling` and `moved`.
const SOURCE: &str = "__source_period";

/// (source period, period it is read under) pairs as a frame of dates: a source may go under
/// several periods (a day under every window that holds it), or none.
pub(super) fn relabelling(from: Vec<i32>, to: Vec<i32>) -> Result<DataFrame> {
    let dates = |name: &str, v: Vec<i32>| -> Result<Column> {
        Ok(Int32Chunked::from_vec(name.into(), v)
            .into_series()
            .cast(&DataType::Date)?
            .into_column())
    };
    let height = from.len();
    Ok(DataFrame::new(height, vec![dates(SOURCE, from)?, dates(PERIOD, to)?])?)
}

/// A table's rows under the periods `relabelling` reads their period as (`PERIOD` replaced).
pub(super) fn moved(mut table: DataFrame, relabelling: &DataFrame) -> Result<LazyFrame> {
    table.rename(PERIOD, SOURCE.into())?;
    Ok(table
        .lazy()
        .join(
            relabelling.clone().lazy(),
            [col(SOURCE)],
            [col(SOURCE)],
            JoinArgs::new(JoinType::Inner),
        )
        .drop(Selector::ByName {
            names: [PlSmallStr::from(SOURCE)].into(),
            strict: true,
        }))
}

/// The source periods of a relabelling frame (as days).
#[cfg(test)]
pub(super) fn sources_of(relabelling: &DataFrame) -> Result<&Column> {
    Ok(relabelling.column(SOURCE)?)
}

/// The report with the earlier values joined on its keys, and the changes, each KPI's
/// columns together.
pub(super) fn attach(
    report: DataFrame,
    keys: &[String],
    kpis: &[String],
    earlier: Vec<(Compare, DataFrame)>,
) -> Result<DataFrame> {
    let schema = report.schema().clone();
    let mut lf = report.lazy();
    for (c, frame) in &earlier {
        let mut select: Vec<Expr> = Vec::new();
        for k in keys {
            let dtype = schema
                .get(k.as_str())
                .ok_or_else(|| Error::Internal(format!("report without its key {k}")))?;
            select.push(col(k.as_str()).cast(dtype.clone()));
        }
        for kpi in kpis {
            select.push(col(kpi.as_str()).alias(c.columns(kpi)[0].as_str()));
        }
        let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        let mut args = JoinArgs::new(JoinType::Left);
        args.nulls_equal = true;
        args.maintain_order = MaintainOrderJoin::Left;
        lf = lf.join(frame.clone().lazy().select(select), on.clone(), on, args);
    }
    let mut changes: Vec<Expr> = Vec::new();
    let mut order: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    for kpi in kpis {
        order.push(col(kpi.as_str()));
        for (c, _) in &earlier {
            let [before, change, rate] = c.columns(kpi);
            let difference = col(kpi.as_str()) - col(before.as_str());
            let base = col(before.as_str()).cast(DataType::Float64);
            let magnitude = when(base.clone().lt(lit(0.0)))
                .then(lit(0.0) - base.clone())
                .otherwise(base.clone());
            changes.push(difference.clone().alias(change.as_str()));
            changes.push(
                when(base.clone().eq(lit(0.0)).or(base.clone().is_null()))
                    .then(lit(NULL).cast(DataType::Float64))
                    .otherwise(difference.cast(DataType::Float64) / magnitude)
                    .alias(rate.as_str()),
            );
            order.extend([col(before.as_str()), col(change.as_str()), col(rate.as_str())]);
        }
    }
    Ok(lf.with_columns(changes).select(order).collect()?)
}

/// The periods (their first days, as days since 1970-01-01) that the period starting on
/// `source` is compared with.
fn targets(source: i32, every: Period, calendar: Calendar, c: Compare) -> Vec<i32> {
    let day = i64::from(source);
    let found: Vec<i64> = match (c, every) {
        (Compare::Previous, Period::Day) => vec![day + 1],
        (Compare::Previous, Period::Week) => vec![day + 7],
        (Compare::Previous, Period::Month) => vec![add_months(day, 1)],
        (Compare::Previous, Period::Quarter) => vec![add_months(day, 3)],
        (Compare::Previous, Period::Year) | (Compare::LastYear, Period::Month | Period::Quarter | Period::Year) => {
            vec![add_months(day, 12)]
        }
        (Compare::LastYear, Period::Day) => {
            let (y, m, d) = civil(day);
            match (m, d) {
                // Feb 29 is compared with by no day of the next year: its Feb 28 reads Feb 28
                (2, 29) => vec![],
                (2, 28) if is_leap(y + 1) => vec![days(y + 1, 2, 28), days(y + 1, 2, 29)],
                _ => vec![days(y + 1, m, d)],
            }
        }
        (Compare::LastYear, Period::Week) => {
            let (year, week) = calendar.week_number(day);
            let next = |w| calendar.week_of(year + 1, w);
            match week {
                53 => vec![],
                52 if calendar.weeks_in(year + 1) == 53 => vec![next(52), next(53)],
                w => vec![next(w)],
            }
        }
        (Compare::LastYearWeekday, _) => vec![day + 364],
    };
    found.into_iter().filter_map(|d| i32::try_from(d).ok()).collect()
}

pub(super) use crate::plan::calendar::{civil, days};

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_length(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The same day `n` months later (the month's last day where it is shorter).
pub(super) fn add_months(day: i64, n: i64) -> i64 {
    let (y, m, d) = civil(day);
    let index = y * 12 + i64::from(m) - 1 + n;
    let (y, m) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
    days(y, m, d.min(month_length(y, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i64, m: u32, d: u32) -> i32 {
        days(y, m, d) as i32
    }

    /// `targets` in the default calendar (ISO weeks, years from January).
    fn iso(source: i32, every: Period, c: Compare) -> Vec<i32> {
        targets(source, every, Calendar::default(), c)
    }

    fn monday(year: i64, week: i64) -> i32 {
        Calendar::default().week_of(year, week) as i32
    }

    #[test]
    fn calendar_arithmetic_round_trips() {
        assert_eq!(days(1970, 1, 1), 0);
        assert_eq!(days(2000, 3, 1), 11_017);
        for z in -800_000..800_000_i64 {
            let (y, m, d) = civil(z);
            assert_eq!(days(y, m, d), z);
        }
        assert_eq!(add_months(days(2026, 3, 31), -1), days(2026, 2, 28));
        assert_eq!(add_months(days(2024, 2, 29), -12), days(2023, 2, 28));
        assert_eq!(add_months(days(2026, 1, 15), -1), days(2025, 12, 15));
    }

    #[test]
    fn previous_periods_follow_the_calendar() {
        let p = Compare::Previous;
        assert_eq!(iso(date(2026, 2, 1), Period::Month, p), vec![date(2026, 3, 1)]);
        assert_eq!(iso(date(2025, 12, 1), Period::Month, p), vec![date(2026, 1, 1)]);
        assert_eq!(iso(date(2025, 10, 1), Period::Quarter, p), vec![date(2026, 1, 1)]);
        assert_eq!(iso(date(2026, 12, 28), Period::Week, p), vec![date(2027, 1, 4)]);
        assert_eq!(iso(date(2024, 2, 29), Period::Day, p), vec![date(2024, 3, 1)]);
        // fiscal quarters from April: Feb-Apr, ... with fiscal_year_start=2
        let feb = Calendar::parse("monday", "2").expect("a calendar");
        assert_eq!(
            targets(date(2025, 11, 1), Period::Quarter, feb, p),
            vec![date(2026, 2, 1)]
        );
        assert_eq!(targets(date(2025, 2, 1), Period::Year, feb, p), vec![date(2026, 2, 1)]);
    }

    #[test]
    fn last_year_pairs_feb_29_with_feb_28_and_week_53_with_week_52() {
        let ly = Compare::LastYear;
        assert_eq!(
            iso(date(2027, 2, 28), Period::Day, ly),
            vec![date(2028, 2, 28), date(2028, 2, 29)]
        );
        assert_eq!(iso(date(2028, 2, 29), Period::Day, ly), Vec::<i32>::new());
        assert_eq!(iso(date(2028, 3, 1), Period::Day, ly), vec![date(2029, 3, 1)]);
        // 2025-W52 is compared with by 2026-W52 and 2026-W53; 2026-W53 by nothing
        assert_eq!(
            iso(monday(2025, 52), Period::Week, ly),
            vec![monday(2026, 52), monday(2026, 53)]
        );
        assert_eq!(iso(monday(2026, 53), Period::Week, ly), Vec::<i32>::new());
        assert_eq!(iso(monday(2026, 10), Period::Week, ly), vec![monday(2027, 10)]);
        assert_eq!(iso(date(2025, 4, 1), Period::Quarter, ly), vec![date(2026, 4, 1)]);
        assert_eq!(
            iso(date(2025, 3, 5), Period::Day, Compare::LastYearWeekday),
            vec![date(2026, 3, 4)]
        );
    }

    #[test]
    fn last_year_of_weeks_from_another_weekday_is_the_same_week_number() {
        let sunday = Calendar::parse("sunday", "1").expect("a calendar");
        let ly = Compare::LastYear;
        // Sunday weeks: week 10 of 2025 starts on Sunday 2025-03-02, of 2026 on 2026-03-08
        // (2025 has 53 Sunday weeks, so the same week number is 53 weeks later)
        assert_eq!(sunday.week_of(2025, 10), days(2025, 3, 2));
        assert_eq!(
            targets(date(2025, 3, 2), Period::Week, sunday, ly),
            vec![date(2026, 3, 8)]
        );
        // every week of a week-year is compared with by the same week number a year later,
        // and week 53 (where there is one) compares with week 52
        for year in 2020..2030 {
            for w in 1..=sunday.weeks_in(year) {
                let start = sunday.week_of(year, w) as i32;
                let to = targets(start, Period::Week, sunday, ly);
                for t in &to {
                    let (y, n) = sunday.week_number(i64::from(*t));
                    assert_eq!(y, year + 1);
                    assert!(n == w || (w == 52 && n == 53), "{year} {w} -> {n}");
                }
                assert_eq!(to.is_empty(), w == 53);
            }
        }
    }

    #[test]
    fn bad_comparisons_are_typed_errors() {
        let code = |r: Result<Vec<Compare>>| r.err().map(|e| e.code());
        assert_eq!(
            code(parse_list(&["last_month".into()], Some(Period::Day))),
            Some("unknown_compare")
        );
        assert_eq!(code(parse_list(&["previous".into()], None)), Some("invalid_argument"));
        assert_eq!(
            code(parse_list(&["last_year_weekday".into()], Some(Period::Month))),
            Some("invalid_argument")
        );
        assert_eq!(
            code(parse_list(
                &["last_year".into(), "last_year_weekday".into()],
                Some(Period::Day)
            )),
            Some("invalid_argument")
        );
        assert_eq!(
            parse_list(&["previous".into(), "previous".into()], Some(Period::Day)).ok(),
            Some(vec![Compare::Previous])
        );
    }
}

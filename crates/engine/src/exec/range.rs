//! The report's range (docs/time.md): `start` / `end` bound the periods a report shows, while
//! comparisons and windows still read the states before `start`; `fill` gives every group
//! every period of the range.
//!
//! With a period (`every`), the report is finalized over all the states, as without a range,
//! and then keeps the periods that overlap [start, end], each whole: coverage, followers'
//! starts, comparisons and windows are what they are in the unbounded report. `fill` adds, for
//! each (group, period) of the range without states, a row of keys and no states, before
//! finalizing: each KPI then gives what it gives for a period without rows.
//!
//! Without a period, the report is one period: the days [start, end]. It is finalized from
//! daily (or finer-than-the-range) states restricted to those days and rolled up, and a
//! comparison is the same finalisation over the days compared with them.

use super::compare::{add_months, attach, civil, Compare};
use super::window::OverTime;
use super::{finalize, with_period, Output, ALL};
use crate::error::{Error, QueryCode, Result};
use crate::exec::accounts::{FIRST, FIRST_DAY, LAST, LAST_DAY};
use crate::plan::{Period, Plan, PERIOD};
use crate::states::{Block, PartialStates, Source};
use polars::prelude::*;

/// The most rows `fill=True` adds (groups x periods): a limit on the memory a range asks for.
pub const MAX_FILL_ROWS: usize = 5_000_000;

/// The longest range `fill=True` lays out, in days (about 10,000 years: any two dates).
const MAX_FILL_DAYS: i64 = 3_700_000;

/// `start`, `end` (days since 1970-01-01, inclusive, in the report's time zone) and `fill`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub start: Option<i32>,
    pub end: Option<i32>,
    pub fill: bool,
}

impl Range {
    /// The range asked for, checked: `start` not after `end`, `fill` only with a period.
    pub fn new(start: Option<i32>, end: Option<i32>, fill: bool, every: Option<Period>) -> Result<Self> {
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(Error::query(
                    QueryCode::StartAfterEnd,
                    format!(
                        "start={} is after end={}: the range runs from start to end, both included",
                        iso(s),
                        iso(e)
                    ),
                ));
            }
        }
        if fill && every.is_none() {
            return Err(Error::query(
                QueryCode::InvalidArgument,
                "fill=True gives every group every period of the range: pass every=\"1d\", \"1w\", \"1mo\", \"1q\" or \"1y\"",
            ));
        }
        Ok(Self { start, end, fill })
    }

    /// No bound and no fill: the report as it is.
    pub fn is_whole(&self) -> bool {
        self.start.is_none() && self.end.is_none() && !self.fill
    }

    /// A report of one period (`every=None`) over a part of the days: it is made from states
    /// finer than the range and rolled up.
    pub fn needs_periods(&self, every: Option<Period>) -> bool {
        every.is_none() && (self.start.is_some() || self.end.is_some())
    }
}

/// What a report asks of time besides its period: comparisons, a window and a range of days.
#[derive(Debug, Clone, Default)]
pub struct OverTimeAsked {
    pub compare: Vec<String>,
    pub window: Option<String>,
    pub range: Range,
}

impl OverTimeAsked {
    /// The period the report's states must have: a report of one period (`every=None`) over
    /// part of the days is made from daily states; any other from states of its own period.
    pub fn states_every(&self, every: Option<&str>) -> Result<Option<String>> {
        let asked = every.map(Period::parse).transpose()?;
        Ok(match self.range.needs_periods(asked) {
            true => Some("1d".to_string()),
            false => every.map(str::to_string),
        })
    }

    /// Checks what is asked against the report's plan `to` (before any table is read).
    fn checked(&self, to: &Plan) -> Result<Checked> {
        Ok(if self.range.needs_periods(to.every) {
            // a window needs a period: one period over a range takes none
            OverTime::parse(&[], self.window.as_deref(), None)?;
            Checked::OnePeriod(parse_compare(&self.compare, &self.range)?)
        } else {
            Checked::Periods(OverTime::parse(&self.compare, self.window.as_deref(), to.every)?)
        })
    }

    /// The report `to` from states: one period over the range from the states at `from`'s
    /// period, or `to`'s periods with their comparisons and windows. `states(plan)` makes or
    /// rolls up the states at a plan's grain; it is called once, after every check.
    pub fn finalize(
        &self,
        from: &Plan,
        to: &Plan,
        states: impl FnOnce(&Plan) -> Result<PartialStates>,
    ) -> Result<Output> {
        match self.checked(to)? {
            Checked::OnePeriod(compare) => {
                if from.every.is_none() {
                    return Err(Error::query(
                        QueryCode::NotInStates,
                        "states made with every=None hold one period: they give no range of days (make them with every=\"1d\")",
                    ));
                }
                finalize_range_as_one(from, to, states(from)?, &compare, &self.range)
            }
            Checked::Periods(over_time) => finalize_in_range(to, states(to)?, &over_time, &self.range),
        }
    }
}

/// What `OverTimeAsked` asks, checked for a report with or without periods.
enum Checked {
    OnePeriod(Vec<Compare>),
    Periods(OverTime),
}

/// A day as ISO text, for messages.
fn iso(day: i32) -> String {
    let (y, m, d) = civil(i64::from(day));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The comparisons of a report without a period but with a range (the same number of days
/// just before, or a year before); checked as `compare=` is checked with a period.
pub fn parse_compare(names: &[String], range: &Range) -> Result<Vec<Compare>> {
    let mut out: Vec<Compare> = Vec::new();
    for name in names {
        let c = Compare::parse(name)?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.contains(&Compare::LastYear) && out.contains(&Compare::LastYearWeekday) {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            "compare takes \"last_year\" or \"last_year_weekday\", not both (both add the <kpi>_ly columns)",
        ));
    }
    if !out.is_empty() && (range.start.is_none() || range.end.is_none()) {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            "compare with every=None compares the range start..end with the days before it: pass both start= and end= (or a period, every=...)",
        ));
    }
    Ok(out)
}

/// The KPIs over time as asked, bounded to the range (a report with a period).
pub fn finalize_in_range(
    plan: &Plan,
    mut states: PartialStates,
    over_time: &OverTime,
    range: &Range,
) -> Result<Output> {
    if range.is_whole() {
        return over_time.finalize(plan, states);
    }
    if plan.every.is_none() {
        return Err(Error::Internal("a range of periods without a period".into()));
    }
    if range.fill {
        if let Some(keys) = fill_keys(plan, &states, range)? {
            states.blocks.push(Block::new(Source::Posts, keys));
        }
    }
    let mut output = over_time.finalize(plan, states)?;
    let first = match range.start {
        Some(s) => Some(period_starts(plan, vec![s])?.first().copied().unwrap_or(s)),
        None => None,
    };
    let day = col(PERIOD).cast(DataType::Int32);
    let mut keep = lit(true);
    if let Some(first) = first {
        keep = keep.and(day.clone().gt_eq(lit(first)));
    }
    if let Some(end) = range.end {
        keep = keep.and(day.lt_eq(lit(end)));
    }
    output.frame = output.frame.lazy().filter(keep).collect()?;
    Ok(output)
}

/// The first days of the periods holding `days` (the engine's own calendar), in order, each
/// once.
fn period_starts(plan: &Plan, days: Vec<i32>) -> Result<Vec<i32>> {
    let n = days.len();
    let frame = DataFrame::new(
        n,
        vec![Int32Chunked::from_vec("__day".into(), days)
            .into_series()
            .cast(&DataType::Date)?
            .into_column()],
    )?;
    let periods = with_period(frame, "__day", plan)?;
    let mut starts: Vec<i32> = periods
        .column(PERIOD)?
        .cast(&DataType::Int32)?
        .i32()?
        .iter()
        .flatten()
        .collect();
    starts.sort_unstable();
    starts.dedup();
    Ok(starts)
}

/// The first and last period of any table's states (None: no states).
fn data_periods(states: &PartialStates) -> Result<Option<(i32, i32)>> {
    let mut span: Option<(i32, i32)> = None;
    for block in &states.blocks {
        let Ok(days) = block.frame.column(PERIOD) else {
            continue;
        };
        let days = days.cast(&DataType::Int32)?;
        let days = days.i32()?;
        if let (Some(lo), Some(hi)) = (days.min(), days.max()) {
            span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
    }
    Ok(span)
}

/// Every group of the states (the combinations of the `by` columns seen in any table) with
/// every period of the range, as a table of keys without states (None: nothing to fill).
fn fill_keys(plan: &Plan, states: &PartialStates, range: &Range) -> Result<Option<DataFrame>> {
    let data = data_periods(states)?;
    let (first, last) = match (range.start, range.end, data) {
        (Some(s), Some(e), _) => (s, e),
        (s, e, Some((data_first, data_last))) => (s.unwrap_or(data_first), e.unwrap_or(data_last)),
        _ => return Ok(None),
    };
    if first > last {
        return Ok(None);
    }
    if i64::from(last) - i64::from(first) >= MAX_FILL_DAYS {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            format!(
                "fill=True over {}..{} lays out more than {MAX_FILL_DAYS} days; narrow start/end",
                iso(first),
                iso(last)
            ),
        ));
    }
    let days: Vec<i32> = (first..=last).collect();
    let periods = period_starts(plan, days)?;
    let groups = groups(plan, states)?;
    let n_groups = groups.as_ref().map_or(1, DataFrame::height);
    if n_groups.saturating_mul(periods.len()) > MAX_FILL_ROWS {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            format!(
                "fill=True would give {n_groups} groups x {} periods, more than {MAX_FILL_ROWS} rows; narrow start/end, use a coarser every or fewer by columns",
                periods.len()
            ),
        ));
    }
    let periods = DataFrame::new(
        periods.len(),
        vec![Int32Chunked::from_vec(PERIOD.into(), periods)
            .into_series()
            .cast(&DataType::Date)?
            .into_column()],
    )?;
    let Some(groups) = groups else {
        return Ok(Some(periods));
    };
    let one = || lit(1_i32).alias("__one");
    let keys = groups
        .lazy()
        .with_column(one())
        .join(
            periods.lazy().with_column(one()),
            [col("__one")],
            [col("__one")],
            JoinArgs::new(JoinType::Inner),
        )
        .drop(Selector::ByName {
            names: [PlSmallStr::from("__one")].into(),
            strict: true,
        })
        .collect()?;
    Ok(Some(keys))
}

/// The distinct combinations of the `by` columns in the tables' states (None: no `by`). A
/// column typed differently in two tables (ids as numbers and as text) is taken as text.
fn groups(plan: &Plan, states: &PartialStates) -> Result<Option<DataFrame>> {
    if plan.by.is_empty() {
        return Ok(None);
    }
    let by: Vec<Expr> = plan.by.iter().map(|d| col(d.as_str())).collect();
    let mut found: Vec<DataFrame> = Vec::new();
    for block in &states.blocks {
        if plan.by.iter().all(|d| block.frame.column(d).is_ok()) {
            found.push(
                block
                    .frame
                    .clone()
                    .lazy()
                    .select(by.clone())
                    .unique(None, UniqueKeepStrategy::Any)
                    .collect()?,
            );
        }
    }
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let mut text: Vec<String> = Vec::new();
    for f in &found {
        for d in &plan.by {
            if f.column(d)?.dtype() != first.column(d)?.dtype() && !text.contains(d) {
                text.push(d.clone());
            }
        }
    }
    let casts: Vec<Expr> = text.iter().map(|d| col(d.as_str()).cast(DataType::String)).collect();
    let parts: Vec<LazyFrame> = found
        .into_iter()
        .map(|f| f.lazy().with_columns(casts.clone()))
        .collect();
    Ok(Some(
        concat(parts, UnionArgs::default())?
            .unique_stable(None, UniqueKeepStrategy::First)
            .collect()?,
    ))
}

/// A report without a period over the days [start, end] (each defaulting to the data's first
/// or last day) from states at `from`'s grain, and its comparisons with the same number of
/// days before, or the same days a year before. `to` is the report's plan (`every=None`).
pub fn finalize_range_as_one(
    from: &Plan,
    to: &Plan,
    states: PartialStates,
    compare: &[Compare],
    range: &Range,
) -> Result<Output> {
    let Some(span) = from.every else {
        return Err(Error::Internal(
            "a range of one period from states without periods".into(),
        ));
    };
    let Some((data_first, data_last)) = data_periods(&states)? else {
        return finalize(to, crate::states::roll_up(states, from, to)?);
    };
    let start = range.start.unwrap_or(data_first);
    // the data's last day: the last day of its last period
    let end = match range.end {
        Some(e) => e,
        None => last_day(from, data_last)?,
    };
    check_aligned(from, span, start, end)?;
    if compare.is_empty() {
        return finalize(to, restrict(from, to, states, start, end, None)?);
    }
    let mut output = finalize(to, restrict(from, to, states.clone(), start, end, None)?)?;
    // each row of the report is a row of the earlier values: a group without rows in the
    // earlier days gives what a KPI gives for a period without rows
    let report_keys = if to.by.is_empty() {
        df!(ALL => [true])?
    } else {
        output.frame.select(to.by.iter().map(String::as_str))?
    };
    let kpis: Vec<String> = to.outputs.iter().map(|k| k.name().to_string()).collect();
    for &c in compare {
        for kpi in &kpis {
            if let Some(name) = c.columns(kpi).into_iter().find(|n| kpis.contains(n)) {
                return Err(Error::query(
                    QueryCode::InvalidArgument,
                    format!("compare adds the column '{name}', which is already a KPI of the report; rename that KPI"),
                ));
            }
        }
    }
    let mut earlier = Vec::with_capacity(compare.len());
    for &c in compare {
        let (s, e) = earlier_days(c, start, end);
        check_aligned(from, span, s, e)?;
        let restricted = restrict(from, to, states.clone(), s, e, Some(report_keys.clone()))?;
        let frame = finalize(to, restricted)?.frame;
        earlier.push((c, with_range_key(frame)?));
    }
    let mut on: Vec<String> = to.by.clone();
    on.push(RANGE_KEY.to_string());
    let compared = attach(with_range_key(output.frame)?, &on, &kpis, earlier)?;
    output.frame = compared.drop(RANGE_KEY)?;
    Ok(output)
}

/// A constant key that the report's one row and its earlier values share (`by` may be empty).
const RANGE_KEY: &str = "__range";

fn with_range_key(frame: DataFrame) -> Result<DataFrame> {
    Ok(frame.lazy().with_column(lit(true).alias(RANGE_KEY)).collect()?)
}

/// The days compared with [start, end]: the same number of days just before; the same dates
/// a year before (Feb 29 as Feb 28); or 364 days before.
fn earlier_days(c: Compare, start: i32, end: i32) -> (i32, i32) {
    match c {
        Compare::Previous => {
            let length = end - start + 1;
            (start - length, start - 1)
        }
        Compare::LastYear => (year_before(start), year_before(end)),
        Compare::LastYearWeekday => (start - 364, end - 364),
    }
}

/// The same date a year before (Feb 29 as Feb 28).
fn year_before(day: i32) -> i32 {
    i32::try_from(add_months(i64::from(day), -12)).unwrap_or(i32::MIN)
}

/// The last day of the period of `from` starting on `period`.
fn last_day(from: &Plan, period: i32) -> Result<i32> {
    // the next period starts within 31 days of a month's start, 92 of a quarter's, 366 of a year's
    let reach = match from.every {
        Some(Period::Day) | None => 1,
        Some(Period::Week) => 7,
        Some(Period::Month) => 31,
        Some(Period::Quarter) => 92,
        Some(Period::Year) => 366,
    };
    let days: Vec<i32> = (period..=period + reach).collect();
    let starts = period_starts(from, days)?;
    Ok(starts.iter().copied().find(|&s| s > period).map_or(period, |s| s - 1))
}

/// States made per period (`every` coarser than a day) give a range of whole periods only.
fn check_aligned(from: &Plan, span: Period, start: i32, end: i32) -> Result<()> {
    if span == Period::Day {
        return Ok(());
    }
    let starts = period_starts(from, vec![start, end.saturating_add(1)])?;
    if starts.contains(&start) && starts.contains(&end.saturating_add(1)) {
        return Ok(());
    }
    Err(Error::query(
        QueryCode::NotInStates,
        format!(
            "states made with every=\"{}\" give a range of whole periods: {}..{} does not start and end on their boundaries; make the states with every=\"1d\"",
            Period::NAMES[span as usize],
            iso(start),
            iso(end)
        ),
    ))
}

/// The states of the days [start, end] rolled up into `to`'s one period (with `keys` as rows
/// of their own): an account's `followers_start` is its last snapshot before `start` (else
/// its first in the range), as for any period.
fn restrict(
    from: &Plan,
    to: &Plan,
    mut states: PartialStates,
    start: i32,
    end: i32,
    keys: Option<DataFrame>,
) -> Result<PartialStates> {
    let day = || col(PERIOD).cast(DataType::Int32);
    let within = day().gt_eq(lit(start)).and(day().lt_eq(lit(end)));
    for block in &mut states.blocks {
        let frame = std::mem::take(&mut block.frame);
        block.frame = if block.source == Source::Snapshots {
            snapshots_within(from, frame, start, within.clone())?
        } else {
            frame.lazy().filter(within.clone()).collect()?
        };
    }
    let mut rolled = crate::states::roll_up(states, from, to)?;
    if let Some(keys) = keys {
        rolled.blocks.push(Block::new(Source::Posts, keys));
    }
    Ok(rolled)
}

/// The snapshot states of the range, each account's first snapshot taken as its last before
/// `start` where it has one.
fn snapshots_within(from: &Plan, frame: DataFrame, start: i32, within: Expr) -> Result<DataFrame> {
    let account: Vec<Expr> = from.account_key.iter().map(|k| col(k.as_str())).collect();
    let before = frame
        .clone()
        .lazy()
        .filter(
            col(PERIOD)
                .cast(DataType::Int32)
                .lt(lit(start))
                .and(col(LAST).is_not_null()),
        )
        .group_by(account.clone())
        .agg([
            col(LAST).get(col(LAST_DAY).arg_max(), false).alias("__before"),
            col(LAST_DAY).max().alias("__before_day"),
        ]);
    let mut args = JoinArgs::new(JoinType::Left);
    args.nulls_equal = true;
    let names = frame.get_column_names_owned();
    let dtypes: Vec<(PlSmallStr, DataType)> = names
        .iter()
        .map(|n| Ok((n.clone(), frame.column(n)?.dtype().clone())))
        .collect::<Result<_>>()?;
    let out = frame
        .lazy()
        .filter(within)
        .join(before, account.clone(), account, args)
        .with_columns([
            when(col("__before").is_null())
                .then(col(FIRST))
                .otherwise(col("__before"))
                .alias(FIRST),
            when(col("__before").is_null())
                .then(col(FIRST_DAY))
                .otherwise(col("__before_day"))
                .alias(FIRST_DAY),
        ])
        .select(dtypes.into_iter().map(|(n, t)| col(n).cast(t)).collect::<Vec<_>>())
        .collect()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build, Dedupe, Request};

    fn plan(every: Option<&str>, by: &[&str]) -> Result<Plan> {
        let request = Request::new(
            vec!["reach".into()],
            by.iter().map(|s| s.to_string()).collect(),
            every.map(str::to_string),
            "UTC".into(),
            Dedupe::Error,
        );
        let posts: Vec<String> = ["post_id", "account_id", "platform", "published_at", "reach"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        build(&request, Some(&posts), None, None, None, None)
    }

    fn day(y: i64, m: u32, d: u32) -> i32 {
        super::super::compare::days(y, m, d) as i32
    }

    #[test]
    fn a_range_is_checked() {
        let code = |r: Result<Range>| r.err().map(|e| e.code());
        assert_eq!(
            code(Range::new(Some(10), Some(9), false, Some(Period::Day))),
            Some("start_after_end")
        );
        assert_eq!(code(Range::new(None, None, true, None)), Some("invalid_argument"));
        assert!(Range::new(Some(9), Some(9), true, Some(Period::Month)).is_ok());
        assert!(Range::default().is_whole());
        assert!(Range::new(Some(1), None, false, None).is_ok_and(|r| r.needs_periods(None)));
    }

    #[test]
    fn one_period_over_a_range_asks_for_daily_states_and_checks_before_reading() -> Result<()> {
        let asked = |start: Option<i32>, window: Option<&str>, compare: &[&str]| OverTimeAsked {
            compare: compare.iter().map(|c| c.to_string()).collect(),
            window: window.map(str::to_string),
            range: Range {
                start,
                end: None,
                fill: false,
            },
        };
        assert_eq!(asked(Some(5), None, &[]).states_every(None)?, Some("1d".to_string()));
        assert_eq!(
            asked(Some(5), None, &[]).states_every(Some("1mo"))?,
            Some("1mo".to_string())
        );
        assert_eq!(asked(None, None, &[]).states_every(None)?, None);
        // a window, or a comparison without both ends, is refused before any states are made
        let (daily, whole) = (plan(Some("1d"), &[])?, plan(None, &[])?);
        let never = |_: &Plan| -> Result<PartialStates> { Err(Error::Internal("states were made".into())) };
        let code = |r: Result<Output>| r.err().map(|e| e.code());
        assert_eq!(
            code(asked(Some(5), Some("28d"), &[]).finalize(&daily, &whole, never)),
            Some("invalid_argument")
        );
        assert_eq!(
            code(asked(Some(5), None, &["previous"]).finalize(&daily, &whole, never)),
            Some("invalid_argument")
        );
        // states of one period give no range of days
        assert_eq!(
            code(asked(Some(5), None, &[]).finalize(&whole, &whole, never)),
            Some("not_in_states")
        );
        Ok(())
    }

    #[test]
    fn periods_of_a_range_follow_the_calendar() -> Result<()> {
        let monthly = plan(Some("1mo"), &[])?;
        let days: Vec<i32> = (day(2026, 1, 15)..=day(2026, 3, 31)).collect();
        assert_eq!(
            period_starts(&monthly, days)?,
            vec![day(2026, 1, 1), day(2026, 2, 1), day(2026, 3, 1)]
        );
        assert_eq!(last_day(&monthly, day(2024, 2, 1))?, day(2024, 2, 29));
        let quarterly = plan(Some("1q"), &[])?;
        assert_eq!(last_day(&quarterly, day(2026, 10, 1))?, day(2026, 12, 31));
        assert!(check_aligned(&monthly, Period::Month, day(2026, 1, 1), day(2026, 2, 28)).is_ok());
        assert_eq!(
            check_aligned(&monthly, Period::Month, day(2026, 1, 2), day(2026, 2, 28))
                .err()
                .map(|e| e.code()),
            Some("not_in_states")
        );
        Ok(())
    }

    #[test]
    fn earlier_ranges_have_the_same_length_or_dates() {
        let (s, e) = (day(2026, 3, 1), day(2026, 3, 31));
        assert_eq!(
            earlier_days(Compare::Previous, s, e),
            (day(2026, 1, 29), day(2026, 2, 28))
        );
        assert_eq!(
            earlier_days(Compare::LastYear, day(2028, 2, 29), day(2028, 3, 1)),
            (day(2027, 2, 28), day(2027, 3, 1))
        );
        assert_eq!(earlier_days(Compare::LastYearWeekday, s, e), (s - 364, e - 364));
    }

    #[test]
    fn fill_gives_every_group_every_period() -> Result<()> {
        let p = plan(Some("1mo"), &["platform"])?;
        let posts = df!(
            "platform" => ["ig", "tt", "ig"],
            PERIOD => [day(2026, 1, 1), day(2026, 1, 1), day(2026, 3, 1)],
            "rows" => [1_i64, 2, 3],
        )?
        .lazy()
        .with_column(col(PERIOD).cast(DataType::Date))
        .collect()?;
        let states = PartialStates {
            blocks: vec![Block::new(Source::Posts, posts)],
            post_ids: None,
            coverage: super::super::stack_coverage(Vec::new())?,
            rows: Default::default(),
            warnings: Vec::new(),
            components: Vec::new(),
            platform_components: Vec::new(),
        };
        let range = Range::new(None, Some(day(2026, 4, 10)), true, p.every)?;
        let keys = fill_keys(&p, &states, &range)?.ok_or_else(|| Error::Internal("no keys".into()))?;
        // 2 platforms x January..April
        assert_eq!(keys.height(), 8);
        let too_many = Range::new(Some(day(1, 1, 1)), Some(day(9999, 12, 31)), true, Some(Period::Day))?;
        let daily = plan(Some("1d"), &["platform"])?;
        assert_eq!(
            fill_keys(&daily, &states, &too_many).err().map(|e| e.code()),
            Some("invalid_argument")
        );
        Ok(())
    }
}

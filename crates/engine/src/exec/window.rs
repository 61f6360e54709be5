//! Windows (docs/time.md): each period's KPIs over the trailing `n` days ending with the
//! period, or over the week, month, quarter or year to the period's last day. A period's window
//! is whole periods of the report's grain (`every="1w"` with `"4w"`, `every="1mo"` with
//! `"ytd"`): the grain must nest in the window.
//!
//! The states of every period of a window are summed under the window's label and the same
//! `finalize` runs over them, so a ratio is the ratio of the window's sums. Followers are
//! each account's last snapshot in the window, and `followers_start` its last snapshot before
//! the window (else its first in it), as for any period.
//!
//! A comparison of windows is the same computation over the earlier windows (the 28 days
//! before, the same days of last month, the same window a year before), labelled with the
//! report day they are compared with.

use super::compare::{add_months, attach, moved, relabelling, Compare};
use super::{accounts, finalize, finalize_with, output_keys, overflow, Output};
use crate::error::{Error, QueryCode, Result};
use crate::exec::accounts::{FIRST, FIRST_DAY, LAST, LAST_DAY};
use crate::plan::{Calendar, Period, Plan, PERIOD};
use crate::states::{PartialStates, Source};
use polars::prelude::*;

/// The longest trailing window, in days: a window's states are the daily states repeated once
/// per day of the window, so the length bounds the memory a window takes.
pub const MAX_DAYS: u32 = 366;

/// The most (day of the states, window holding it) pairs a report's windows sum over: a limit
/// on the memory windows take (a year of daily windows of 366 days pairs some 134,000; a range
/// of thousands of years filled day by day, billions).
pub const MAX_WINDOW_PAIRS: u64 = 40_000_000;

/// The column added beside `period_start`: the window's first day.
pub const WINDOW_START: &str = "window_start";

/// A window ending on each day of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The `n` days ending on the day.
    Trailing(u32),
    /// From the first day of the day's week, month, quarter or year.
    ToDate(Period),
}

impl Window {
    pub fn parse(text: &str) -> Result<Self> {
        let unknown = || {
            Error::query(
                QueryCode::UnknownWindow,
                format!("window={text:?} is not a window; use a trailing window such as \"7d\", \"28d\", \"90d\", \"4w\", \"13w\", or \"wtd\", \"mtd\", \"qtd\", \"ytd\" (to date)"),
            )
        };
        let to_date = match text {
            "wtd" => Some(Period::Week),
            "mtd" => Some(Period::Month),
            "qtd" => Some(Period::Quarter),
            "ytd" => Some(Period::Year),
            _ => None,
        };
        if let Some(every) = to_date {
            return Ok(Self::ToDate(every));
        }
        let (number, days_per) = if let Some(n) = text.strip_suffix('d') {
            (n, 1)
        } else if let Some(n) = text.strip_suffix('w') {
            (n, 7)
        } else {
            return Err(unknown());
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unknown());
        }
        let days = number
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(days_per))
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| {
                Error::query(
                    QueryCode::InvalidArgument,
                    format!("window={text:?}: a trailing window is 1 to {MAX_DAYS} days long"),
                )
            })?;
        Ok(Self::Trailing(days))
    }

    /// The first day of the window ending on `day` (days since 1970-01-01).
    fn start(self, day: i64, calendar: Calendar) -> i64 {
        match self {
            Self::Trailing(n) => day - i64::from(n) + 1,
            Self::ToDate(every) => calendar.period_start(day, every),
        }
    }

    /// The last day of the earlier window that `c` compares the window of the period that
    /// starts on `start` (and ends on `last`) with, at the grain `every`: at a day's grain,
    /// [`Self::compared_end`]; at a coarser grain, the end of the period that many periods
    /// before (windows stay whole periods).
    fn compared_end_of(self, start: i64, last: i64, c: Compare, every: Period, calendar: Calendar) -> i64 {
        let months = |n: i64| period_end(add_months(start, n), every, calendar);
        match (every, c, self) {
            (Period::Day, ..) => self.compared_end(last, c),
            (_, Compare::Previous, Self::Trailing(n)) => last - i64::from(n),
            (_, Compare::Previous, Self::ToDate(Period::Day | Period::Week)) => last - 7,
            (_, Compare::Previous, Self::ToDate(Period::Month)) => months(-1),
            (_, Compare::Previous, Self::ToDate(Period::Quarter)) => months(-3),
            (_, Compare::Previous, Self::ToDate(Period::Year)) | (_, Compare::LastYear, _) => months(-12),
            (_, Compare::LastYearWeekday, _) => last - 364,
        }
    }

    /// The last day of the earlier window that `c` compares the window ending on `day` with:
    /// the `n` days before a trailing window; the same days of the previous week, month,
    /// quarter or year for a to-date window (the same day of the month, its last day where
    /// the earlier month is shorter: March 31's month to date against all of February); the
    /// same date a year before (Feb 29 against Feb 28); 364 days before.
    fn compared_end(self, day: i64, c: Compare) -> i64 {
        match (c, self) {
            (Compare::Previous, Self::Trailing(n)) => day - i64::from(n),
            (Compare::Previous, Self::ToDate(Period::Day)) => day - 1,
            (Compare::Previous, Self::ToDate(Period::Week)) => day - 7,
            (Compare::Previous, Self::ToDate(Period::Month)) => add_months(day, -1),
            (Compare::Previous, Self::ToDate(Period::Quarter)) => add_months(day, -3),
            (Compare::Previous, Self::ToDate(Period::Year)) | (Compare::LastYear, _) => add_months(day, -12),
            (Compare::LastYearWeekday, _) => day - 364,
        }
    }
}

/// A window of the report: the report day it is labelled with, its first and its last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    label: i32,
    first: i64,
    last: i64,
}

/// A day as i32 (days far outside the calendar's range held at its ends).
fn day32(day: i64) -> i32 {
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN + 1 } else { i32::MAX })
}

/// The window named, checked against the report's period: a window is whole periods of the
/// report's grain (days in any window; weeks in trailing windows of whole weeks and in
/// `"wtd"`; months in `"mtd"`, `"qtd"`, `"ytd"`; quarters in `"qtd"`, `"ytd"`; years in
/// `"ytd"`).
pub fn parse(window: Option<&str>, every: Option<Period>) -> Result<Option<Window>> {
    let Some(text) = window else {
        return Ok(None);
    };
    let w = Window::parse(text)?;
    let rank = |p: Period| match p {
        Period::Day => 0,
        Period::Week => 1,
        Period::Month => 2,
        Period::Quarter => 3,
        Period::Year => 4,
    };
    let fits = match (every, w) {
        (Some(Period::Day), _) => true,
        (Some(Period::Week), Window::Trailing(n)) => n % 7 == 0,
        (Some(Period::Week), Window::ToDate(to)) => to == Period::Week,
        (Some(_), Window::Trailing(_)) => false,
        // months nest in quarters and years, quarters in years; weeks in none of them
        (Some(e), Window::ToDate(to)) => rank(e) <= rank(to) && to != Period::Week,
        (None, _) => false,
    };
    if !fits {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            format!("window={text:?} is not whole periods of every={}: a window sums whole periods of the report's grain; use every=\"1d\" (any window), \"1w\" (\"<n>w\", a trailing window of whole weeks, or \"wtd\"), \"1mo\" (\"mtd\", \"qtd\", \"ytd\"), \"1q\" (\"qtd\", \"ytd\") or \"1y\" (\"ytd\")", every.map_or("None".to_string(), |e| format!("{:?}", Period::NAMES[rank(e)])))),
        );
    }
    Ok(Some(w))
}

/// The last day of the period that starts on `start`.
fn period_end(start: i64, every: Period, calendar: Calendar) -> i64 {
    let next = match every {
        Period::Day => start + 1,
        Period::Week => start + 7,
        Period::Month => add_months(start, 1),
        Period::Quarter => add_months(start, 3),
        Period::Year => add_months(start, 12),
    };
    // (a period's start is the calendar's: fiscal quarters and years begin on a month's first)
    calendar.period_start(next, every) - 1
}

/// What a call asks over time: comparisons with earlier periods, a window, or both.
#[derive(Debug, Clone, Default)]
pub struct OverTime {
    compare: Vec<Compare>,
    window: Option<Window>,
}

impl OverTime {
    /// `compare=` and `window=` checked against the report's period.
    pub fn parse(compare: &[String], window: Option<&str>, every: Option<Period>) -> Result<Self> {
        let compare = super::compare::parse_list(compare, every)?;
        let window = parse(window, every)?;
        Ok(Self { compare, window })
    }

    /// The KPIs of the states, over time as asked.
    pub fn finalize(&self, plan: &Plan, states: PartialStates) -> Result<Output> {
        match self.window {
            Some(w) => finalize_windowed(plan, states, w, &self.compare),
            None => super::compare::finalize_compared(plan, states, &self.compare),
        }
    }
}

/// The report's rows (its groups and days) with the KPIs over the window ending on each day,
/// and the window's first day (`window_start`) after `period_start`; with `compare`, each
/// KPI's value over the earlier window and its changes.
pub fn finalize_windowed(
    plan: &Plan,
    mut states: PartialStates,
    window: Window,
    compare: &[Compare],
) -> Result<Output> {
    let Some(every) = plan.every else {
        return Err(Error::query(QueryCode::InvalidArgument, "a window needs every="));
    };
    if every == Period::Week && compare.contains(&Compare::LastYear) {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            "compare=\"last_year\" with a window at every=\"1w\" would not end on a week: use compare=\"last_year_weekday\" (52 weeks before)",
        ));
    }
    let mut keys: Vec<String> = plan.by.clone();
    keys.push(PERIOD.to_string());
    let report = finalize(plan, states.clone())?;
    let kpis: Vec<String> = plan.outputs.iter().map(|k| k.name().to_string()).collect();
    super::compare::check_columns(&report.frame, &kpis, compare)?;
    let report_keys = report.frame.select(keys.iter().map(String::as_str))?;
    let mut days: Vec<i32> = day_values(report_keys.column(PERIOD)?)?;
    days.sort_unstable();
    days.dedup();
    let snapshots = states
        .blocks
        .iter()
        .position(|b| b.source == Source::Snapshots)
        .map(|i| states.blocks.remove(i).frame);
    let mut sources: Vec<i32> = Vec::new();
    for frame in states.blocks.iter().map(|b| &b.frame).chain(snapshots.as_ref()) {
        sources.extend(day_values(frame.column(PERIOD)?)?);
    }
    sources.sort_unstable();
    sources.dedup();
    let calendar = plan.calendar;
    // each report period's window ends on the period's last day (`end`: that of an earlier
    // window, from the period's start and last day)
    let spans = |end: &dyn Fn(i64, i64) -> i64| -> Vec<Span> {
        days.iter()
            .map(|&d| {
                let start = i64::from(d);
                let last = end(start, period_end(start, every, calendar));
                Span {
                    label: d,
                    first: window.start(last, calendar),
                    last,
                }
            })
            .collect()
    };
    let inputs = Windowed {
        plan,
        states: &states,
        snapshots: snapshots.as_ref(),
        sources: &sources,
        report_keys: &report_keys,
        keys: &keys,
    };
    let mut output = inputs.values(&spans(&|_, last| last))?;
    let mut earlier = Vec::with_capacity(compare.len());
    for &c in compare {
        let compared = |start, last| window.compared_end_of(start, last, c, every, calendar);
        let frame = inputs.values(&spans(&compared))?.frame;
        earlier.push((c, frame));
    }
    let mut framed = if earlier.is_empty() {
        output.frame
    } else {
        attach(output.frame, &keys, &kpis, earlier)?
    };
    // the window's first day, after period_start
    let starts: Vec<Option<i32>> = day_values(framed.column(PERIOD)?)?
        .into_iter()
        .map(|d| i32::try_from(window.start(period_end(i64::from(d), every, calendar), calendar)).ok())
        .collect();
    let mut order: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    order.push(col(WINDOW_START));
    order.extend(
        framed
            .get_column_names()
            .into_iter()
            .filter(|n| !keys.iter().any(|k| k == n.as_str()))
            .map(|n| col(n.clone())),
    );
    framed.with_column(
        Int32Chunked::from_iter_options(WINDOW_START.into(), starts.into_iter())
            .into_series()
            .cast(&DataType::Date)?
            .into_column(),
    )?;
    output.frame = framed.lazy().select(order).collect()?;
    output.rows.stages.extend(report.rows.stages);
    Ok(output)
}

/// What every window of a report is computed from.
struct Windowed<'a> {
    plan: &'a Plan,
    /// The states but the snapshots.
    states: &'a PartialStates,
    snapshots: Option<&'a DataFrame>,
    /// The days the states hold, sorted.
    sources: &'a [i32],
    report_keys: &'a DataFrame,
    /// The report's keys: `by` and `PERIOD`.
    keys: &'a [String],
}

impl Windowed<'_> {
    /// The report's rows, in its order, with the KPIs over the windows (one a report day,
    /// sorted by their label).
    fn values(&self, spans: &[Span]) -> Result<Output> {
        let plan = self.plan;
        let mapping = mapping(self.sources, spans)?;
        let followers = self
            .snapshots
            .map(|s| windowed_followers(plan, s.clone(), spans))
            .transpose()?;
        let group_keys = output_keys(plan);
        let keys_table = self.report_keys.clone();
        let mut output = finalize_with(plan, self.states.clone(), |tables| {
            let mut out = Vec::with_capacity(tables.len() + 2);
            for t in tables {
                out.push(windowed_sums(t, &mapping, &group_keys)?);
            }
            out.extend(followers);
            out.push(keys_table);
            Ok(out)
        })?;
        let schema = self.report_keys.schema().clone();
        let mut select: Vec<Expr> = Vec::new();
        for k in self.keys {
            let dtype = schema
                .get(k.as_str())
                .ok_or_else(|| Error::Internal(format!("report without its key {k}")))?;
            select.push(col(k.as_str()).cast(dtype.clone()));
        }
        select.extend(plan.outputs.iter().map(|k| col(k.name())));
        let on: Vec<Expr> = self.keys.iter().map(|k| col(k.as_str())).collect();
        let mut args = JoinArgs::new(JoinType::Left);
        args.nulls_equal = true;
        args.maintain_order = MaintainOrderJoin::Left;
        output.frame = self
            .report_keys
            .clone()
            .lazy()
            .join(output.frame.lazy().select(select), on.clone(), on, args)
            .collect()?;
        Ok(output)
    }
}

/// A column of dates as days since 1970-01-01 (nulls left out).
fn day_values(column: &Column) -> Result<Vec<i32>> {
    Ok(column.cast(&DataType::Int32)?.i32()?.iter().flatten().collect())
}

/// (source day, report day) pairs: each day of the states under every report day whose
/// window holds it. The windows' first and last days rise with their labels (`spans` sorted
/// by label), so each source day's windows are one run of them.
fn mapping(sources: &[i32], spans: &[Span]) -> Result<DataFrame> {
    // each source day's windows, one run of them, found once: counted before any is laid out
    let runs: Vec<std::ops::Range<usize>> = sources
        .iter()
        .map(|&s| {
            let day = i64::from(s);
            let first = spans.partition_point(|w| w.last < day);
            first..first + spans[first..].partition_point(|w| w.first <= day)
        })
        .collect();
    let pairs: u64 = runs.iter().map(|r| r.len() as u64).sum();
    if pairs > MAX_WINDOW_PAIRS {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            format!(
                "the report's windows would sum {pairs} (day, window) pairs of states, more than the limit of {MAX_WINDOW_PAIRS}; narrow start/end, or use a shorter window or a coarser every"
            ),
        ));
    }
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (&s, run) in sources.iter().zip(runs) {
        for w in &spans[run] {
            from.push(s);
            to.push(w.label);
        }
    }
    relabelling(from, to)
}

/// A table of additive states summed over each window. Polars' sums wrap: a window holds each
/// of a group's days once, so the absolute values of the whole table bound every window's
/// sum, and must stay below 2^63 (as in a run; merged states need not have checked it).
fn windowed_sums(table: DataFrame, mapping: &DataFrame, keys: &[String]) -> Result<DataFrame> {
    let states: Vec<&str> = table
        .get_column_names()
        .into_iter()
        .map(|n| n.as_str())
        .filter(|n| !keys.iter().any(|k| k == n))
        .collect();
    overflow::check_table_sums(&table, &states, "the states summed over the windows")?;
    let sums: Vec<Expr> = states.iter().map(|&n| col(n).sum()).collect();
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    Ok(moved(table, mapping)?.group_by(group).agg(sums).collect()?)
}

/// `followers` and `followers_start` per group and window from the snapshots' daily states:
/// each account's last snapshot in the window, and its last before the window (else its
/// first in the window), each summed over accounts. Each is found by one sort of the
/// snapshots with the windows' days, not by repeating the snapshots once per window.
fn windowed_followers(plan: &Plan, snapshots: DataFrame, windows: &[Span]) -> Result<DataFrame> {
    let account = &plan.account_key;
    let attributes: Vec<String> = snapshots
        .get_column_names()
        .into_iter()
        .map(|n| n.to_string())
        .filter(|n| plan.by.contains(n) && !account.contains(n))
        .collect();
    let snaps = snapshots
        .with_row_index("__idx".into(), None)?
        .lazy()
        .with_columns([col(FIRST_DAY).cast(DataType::Date), col(LAST_DAY).cast(DataType::Date)]);
    // the windows: their label, last day, first day and the day before
    let date = |name: &str, v: Vec<i32>| -> Result<Column> {
        Ok(Int32Chunked::from_vec(name.into(), v)
            .into_series()
            .cast(&DataType::Date)?
            .into_column())
    };
    let column = |f: &dyn Fn(&Span) -> i32| windows.iter().map(f).collect::<Vec<i32>>();
    let windows = DataFrame::new(
        windows.len(),
        vec![
            date(PERIOD, column(&|w| w.label))?,
            date("__last", column(&|w| day32(w.last)))?,
            date("__first", column(&|w| day32(w.first)))?,
            date("__eve", column(&|w| day32(w.first - 1)))?,
        ],
    )?;
    // each account with each window that may hold one of its snapshots
    let acct: Vec<Expr> = account.iter().map(|k| col(k.as_str())).collect();
    let spans = snaps
        .clone()
        .group_by(acct.clone())
        .agg([col(FIRST_DAY).min().alias("__lo"), col(LAST_DAY).max().alias("__hi")]);
    let queries = spans
        .with_column(lit(1_i32).alias("__one"))
        .join(
            windows.lazy().with_column(lit(1_i32).alias("__one")),
            [col("__one")],
            [col("__one")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("__last").gt_eq(col("__lo")).and(col("__first").lt_eq(col("__hi"))))
        .collect()?
        .with_row_index("__qid".into(), None)?
        .lazy();
    let obs = |day: &str, keep: Expr| {
        snaps.clone().filter(keep).select(
            acct.iter()
                .cloned()
                .chain([col(day).alias("__day"), col("__idx")])
                .collect::<Vec<_>>(),
        )
    };
    let ask = |day: &str| {
        queries.clone().select(
            acct.iter()
                .cloned()
                .chain([col(day).alias("__day"), col("__qid")])
                .collect::<Vec<_>>(),
        )
    };
    let last = nearest(obs(LAST_DAY, lit(true)), ask("__last"), account, true)?;
    let before = nearest(obs(LAST_DAY, col(LAST).is_not_null()), ask("__eve"), account, true)?;
    let earliest = nearest(obs(FIRST_DAY, lit(true)), ask("__first"), account, false)?;
    let value = |idx: LazyFrame, columns: Vec<Expr>| {
        let args = JoinArgs::new(JoinType::Left);
        idx.join(snaps.clone().select(columns), [col("__idx")], [col("__idx")], args)
            .drop(Selector::ByName {
                names: [PlSmallStr::from("__idx")].into(),
                strict: true,
            })
    };
    let mut at_last = vec![col("__idx"), col(LAST_DAY).alias("__last_day"), col(LAST)];
    at_last.extend(attributes.iter().map(|a| col(a.as_str())));
    let last = value(last, at_last);
    let on = [col("__qid")];
    let before = value(before, vec![col("__idx"), col(LAST).alias("__before")]);
    let earliest = value(earliest, vec![col("__idx"), col(FIRST).alias("__earliest")]);
    let left = |a: LazyFrame, b: LazyFrame| a.join(b, on.clone(), on.clone(), JoinArgs::new(JoinType::Left));
    let keys = output_keys(plan);
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let joined = left(left(left(queries, last), before), earliest)
        // an account counts in a window that holds one of its snapshots
        .filter(col("__last_day").gt_eq(col("__first")))
        .with_column(
            when(col("__before").is_null())
                .then(col("__earliest"))
                .otherwise(col("__before"))
                .alias("__start"),
        );
    Ok(joined
        .group_by(group)
        .agg([
            col(LAST).sum().alias(accounts::FOLLOWERS),
            col("__start").sum().alias(accounts::FOLLOWERS_START),
        ])
        .collect()?)
}

/// For each query (`__qid`, an account and a `__day`), the row index (`__idx`) of the
/// account's observation nearest on or before the day (`before`), or on or after it: the
/// observations and queries sorted together by account and day, the index carried along and
/// kept where it belongs to the same account.
fn nearest(obs: LazyFrame, queries: LazyFrame, account: &[String], before: bool) -> Result<LazyFrame> {
    let strategy = if before {
        FillNullStrategy::Forward(None)
    } else {
        FillNullStrategy::Backward(None)
    };
    let obs = obs.with_columns([lit(NULL).cast(IDX_DTYPE).alias("__qid"), lit(0_i32).alias("__is_query")]);
    let queries = queries.with_columns([lit(NULL).cast(IDX_DTYPE).alias("__idx"), lit(1_i32).alias("__is_query")]);
    let mut columns: Vec<Expr> = account.iter().map(|k| col(k.as_str())).collect();
    columns.extend([col("__day"), col("__idx"), col("__qid"), col("__is_query")]);
    // on the same day an observation counts for the query: before it going forward, after it
    // going backward
    let tie = if before {
        col("__is_query")
    } else {
        lit(1_i32) - col("__is_query")
    };
    let mut order: Vec<String> = account.to_vec();
    order.extend(["__day".to_string(), "__tie".to_string()]);
    let mut carried = vec![col("__idx").fill_null_with_strategy(strategy).alias("__found")];
    let mut same = lit(true);
    for k in account {
        let name = format!("__carried_{k}");
        carried.push(
            when(col("__is_query").eq(lit(0)))
                .then(col(k.as_str()))
                .otherwise(lit(NULL))
                .fill_null_with_strategy(strategy)
                .alias(name.as_str()),
        );
        same = same.and(col(k.as_str()).eq_missing(col(name.as_str())));
    }
    Ok(concat(
        [obs.select(columns.clone()), queries.select(columns)],
        UnionArgs::default(),
    )?
    .with_column(tie.alias("__tie"))
    .sort(order, SortMultipleOptions::default())
    .with_columns(carried)
    .filter(col("__is_query").eq(lit(1)))
    .select([
        col("__qid"),
        when(same).then(col("__found")).otherwise(lit(NULL)).alias("__idx"),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::compare::sources_of;

    #[test]
    fn windows_parse_with_their_limits() {
        assert_eq!(Window::parse("28d").ok(), Some(Window::Trailing(28)));
        assert_eq!(Window::parse("13w").ok(), Some(Window::Trailing(91)));
        assert_eq!(Window::parse("mtd").ok(), Some(Window::ToDate(Period::Month)));
        let code = |t: &str| Window::parse(t).err().map(|e| e.code());
        assert_eq!(code("28"), Some("unknown_window"));
        assert_eq!(code("d"), Some("unknown_window"));
        assert_eq!(code("-3d"), Some("unknown_window"));
        assert_eq!(code("1mo"), Some("unknown_window"));
        assert_eq!(code("0d"), Some("invalid_argument"));
        assert_eq!(code("367d"), Some("invalid_argument"));
        assert_eq!(code("99999999999d"), Some("invalid_argument"));
        assert_eq!(
            parse(Some("7d"), Some(Period::Month)).err().map(|e| e.code()),
            Some("invalid_argument")
        );
    }

    #[test]
    fn windows_are_whole_periods_of_the_grain() {
        use Period::{Day, Month, Quarter, Week, Year};
        let fits = |w: &str, every: Period| parse(Some(w), Some(every)).is_ok();
        for w in ["7d", "10d", "4w", "wtd", "mtd", "qtd", "ytd"] {
            assert!(fits(w, Day), "{w}");
        }
        assert!(fits("4w", Week) && fits("28d", Week) && fits("wtd", Week));
        assert!(!fits("10d", Week) && !fits("mtd", Week) && !fits("ytd", Week));
        assert!(fits("mtd", Month) && fits("qtd", Month) && fits("ytd", Month));
        assert!(!fits("28d", Month) && !fits("wtd", Month));
        assert!(fits("qtd", Quarter) && fits("ytd", Quarter) && !fits("mtd", Quarter));
        assert!(fits("ytd", Year) && !fits("qtd", Year));
        assert!(parse(Some("ytd"), None).is_err());
    }

    #[test]
    fn a_period_ends_the_day_before_the_next_begins() {
        let c = Calendar::default();
        let day = |y, m, d| crate::plan::calendar::days(y, m, d);
        assert_eq!(period_end(day(2024, 2, 1), Period::Month, c), day(2024, 2, 29));
        assert_eq!(period_end(day(2025, 12, 29), Period::Week, c), day(2026, 1, 4));
        assert_eq!(period_end(day(2025, 10, 1), Period::Quarter, c), day(2025, 12, 31));
        assert_eq!(period_end(day(2025, 1, 1), Period::Year, c), day(2025, 12, 31));
        assert_eq!(period_end(day(2025, 3, 3), Period::Day, c), day(2025, 3, 3));
        // the ytd window of a month compared with the previous year's: both end on a month's end
        let ytd = Window::ToDate(Period::Year);
        let (start, last) = (day(2025, 3, 1), day(2025, 3, 31));
        assert_eq!(
            ytd.compared_end_of(start, last, Compare::Previous, Period::Month, c),
            day(2024, 3, 31)
        );
        let qtd = Window::ToDate(Period::Quarter);
        let (start, last) = (day(2025, 5, 1), day(2025, 5, 31));
        assert_eq!(
            qtd.compared_end_of(start, last, Compare::Previous, Period::Month, c),
            day(2025, 2, 28)
        );
        let weeks = Window::Trailing(28);
        let (start, last) = (day(2025, 3, 3), day(2025, 3, 9));
        assert_eq!(
            weeks.compared_end_of(start, last, Compare::Previous, Period::Week, c),
            day(2025, 2, 9)
        );
    }

    #[test]
    fn each_day_is_in_the_windows_that_hold_it() -> Result<()> {
        let w = Window::Trailing(3);
        let spans = |end: &dyn Fn(i64) -> i64| -> Vec<Span> {
            [0, 1, 2, 5, 9]
                .into_iter()
                .map(|d| {
                    let last = end(i64::from(d));
                    Span {
                        label: d,
                        first: w.start(last, Calendar::default()),
                        last,
                    }
                })
                .collect()
        };
        let pairs = |m: DataFrame| -> Result<Vec<(i32, i32)>> {
            Ok(day_values(sources_of(&m)?)?
                .into_iter()
                .zip(day_values(m.column(PERIOD)?)?)
                .collect())
        };
        let own = mapping(&[0, 1, 5], &spans(&|d| d))?;
        assert_eq!(pairs(own)?, vec![(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (5, 5)]);
        // the 3 days before: day 5's window before is 0..=2, day 9's 4..=6
        let before = mapping(&[0, 1, 5], &spans(&|d| w.compared_end(d, Compare::Previous)))?;
        assert_eq!(pairs(before)?, vec![(0, 5), (1, 5), (5, 9)]);
        Ok(())
    }

    #[test]
    fn compared_windows_end_on_the_same_days_of_the_earlier_period() {
        let d = |y, m, dd| crate::plan::calendar::days(y, m, dd);
        let mtd = Window::ToDate(Period::Month);
        let iso = Calendar::default();
        // month to date on March 10 against February 1-10; on March 31 against all February
        assert_eq!(mtd.compared_end(d(2026, 3, 10), Compare::Previous), d(2026, 2, 10));
        assert_eq!(mtd.compared_end(d(2026, 3, 31), Compare::Previous), d(2026, 2, 28));
        assert_eq!(mtd.start(d(2026, 2, 28), iso), d(2026, 2, 1));
        assert_eq!(mtd.compared_end(d(2024, 3, 30), Compare::Previous), d(2024, 2, 29));
        // a year before: the same date, Feb 29 against Feb 28
        assert_eq!(mtd.compared_end(d(2028, 2, 29), Compare::LastYear), d(2027, 2, 28));
        let ytd = Window::ToDate(Period::Year);
        assert_eq!(ytd.compared_end(d(2026, 5, 6), Compare::Previous), d(2025, 5, 6));
        assert_eq!(
            ytd.start(d(2026, 5, 6), Calendar::parse("monday", "april").expect("a calendar")),
            d(2026, 4, 1)
        );
        let qtd = Window::ToDate(Period::Quarter);
        assert_eq!(qtd.compared_end(d(2026, 5, 31), Compare::Previous), d(2026, 2, 28));
        let wtd = Window::ToDate(Period::Week);
        assert_eq!(wtd.compared_end(d(2026, 3, 5), Compare::Previous), d(2026, 2, 26));
        assert_eq!(
            wtd.start(d(2026, 3, 5), Calendar::parse("sunday", "1").expect("a calendar")),
            d(2026, 3, 1)
        );
        assert_eq!(
            Window::Trailing(28).compared_end(d(2026, 3, 5), Compare::LastYearWeekday),
            d(2025, 3, 6)
        );
    }
}

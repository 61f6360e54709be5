//! Windows (docs/time.md): each day's KPIs over the trailing `n` days ending that day, or over
//! the week, month, quarter or year to that day.
//!
//! The daily states of every day of a window are summed under the window's last day and the
//! same `finalize` runs over them, so a ratio is the ratio of the window's sums. Followers are
//! each account's last snapshot in the window, and `followers_start` its last snapshot before
//! the window (else its first in it), as for any period.

use super::compare::Compare;
use super::{finalize, finalize_with, output_keys, Output};
use crate::error::{Error, QueryCode, Result};
use crate::exec::accounts::{FIRST, FIRST_DAY, LAST, LAST_DAY};
use crate::plan::{Period, Plan, PERIOD};
use crate::states::{PartialStates, Source};
use polars::prelude::*;

/// The longest trailing window, in days: a window's states are the daily states repeated once
/// per day of the window, so the length bounds the memory a window takes.
pub const MAX_DAYS: u32 = 366;

/// The column added beside `period_start`: the window's first day.
pub const WINDOW_START: &str = "window_start";

const SOURCE: &str = "__source_day";

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
    fn start(self, day: i64) -> i64 {
        match self {
            Self::Trailing(n) => day - i64::from(n) + 1,
            Self::ToDate(every) => super::compare::period_start(day, every),
        }
    }
}

/// The window named, checked against the report's period (windows are per day).
pub fn parse(window: Option<&str>, every: Option<Period>) -> Result<Option<Window>> {
    let Some(text) = window else {
        return Ok(None);
    };
    let w = Window::parse(text)?;
    if every != Some(Period::Day) {
        return Err(Error::query(
            QueryCode::InvalidArgument,
            format!("window={text:?} gives each day's value over the window ending that day: pass every=\"1d\""),
        ));
    }
    Ok(Some(w))
}

/// What a call asks over time: comparisons with earlier periods, or a window.
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
        if window.is_some() && !compare.is_empty() {
            return Err(Error::query(
                QueryCode::InvalidArgument,
                "compare= and window= are not combined yet: compute the window, or the comparison, in its own call",
            ));
        }
        Ok(Self { compare, window })
    }

    /// The KPIs of the states, over time as asked.
    pub fn finalize(&self, plan: &Plan, states: PartialStates) -> Result<Output> {
        match self.window {
            Some(w) => finalize_windowed(plan, states, w),
            None => super::compare::finalize_compared(plan, states, &self.compare),
        }
    }
}

/// The report's rows (its groups and days) with the KPIs over the window ending on each day,
/// and the window's first day (`window_start`) after `period_start`.
pub fn finalize_windowed(plan: &Plan, mut states: PartialStates, window: Window) -> Result<Output> {
    if plan.every != Some(Period::Day) {
        return Err(Error::query(QueryCode::InvalidArgument, "a window needs every=\"1d\""));
    }
    let mut keys: Vec<String> = plan.by.clone();
    keys.push(PERIOD.to_string());
    let report = finalize(plan, states.clone())?;
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
    let mapping = mapping(&sources, &days, window)?;
    let followers = snapshots
        .map(|s| windowed_followers(plan, s, &days, window))
        .transpose()?;
    let group_keys = output_keys(plan);
    let keys_table = report_keys.clone();
    let mut output = finalize_with(plan, states, |tables| {
        let mut out = Vec::with_capacity(tables.len() + 2);
        for t in tables {
            out.push(windowed_sums(t, &mapping, &group_keys)?);
        }
        out.extend(followers);
        out.push(keys_table);
        Ok(out)
    })?;
    // the report's own rows, in its order, with the window's first day
    let schema = report.frame.schema().clone();
    let mut select: Vec<Expr> = Vec::new();
    for k in &keys {
        let dtype = schema
            .get(k.as_str())
            .ok_or_else(|| Error::Internal(format!("report without its key {k}")))?;
        select.push(col(k.as_str()).cast(dtype.clone()));
    }
    let kpis: Vec<String> = plan.outputs.iter().map(|k| k.name().to_string()).collect();
    select.extend(kpis.iter().map(|k| col(k.as_str())));
    let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let mut args = JoinArgs::new(JoinType::Left);
    args.nulls_equal = true;
    args.maintain_order = MaintainOrderJoin::Left;
    let mut order: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    order.push(col(WINDOW_START));
    order.extend(kpis.iter().map(|k| col(k.as_str())));
    let mut framed = report_keys
        .lazy()
        .join(output.frame.lazy().select(select), on.clone(), on, args)
        .collect()?;
    let starts: Vec<Option<i32>> = day_values(framed.column(PERIOD)?)?
        .into_iter()
        .map(|d| i32::try_from(window.start(i64::from(d))).ok())
        .collect();
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

/// A column of dates as days since 1970-01-01 (nulls left out).
fn day_values(column: &Column) -> Result<Vec<i32>> {
    Ok(column.cast(&DataType::Int32)?.i32()?.iter().flatten().collect())
}

/// (source day, report day) pairs: each day of the states under every report day whose
/// window holds it.
fn mapping(sources: &[i32], days: &[i32], window: Window) -> Result<DataFrame> {
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for &s in sources {
        let first = days.partition_point(|&d| d < s);
        for &d in &days[first..] {
            if window.start(i64::from(d)) > i64::from(s) {
                break;
            }
            from.push(s);
            to.push(d);
        }
    }
    let dates = |name: &str, v: Vec<i32>| -> Result<Column> {
        Ok(Int32Chunked::from_vec(name.into(), v)
            .into_series()
            .cast(&DataType::Date)?
            .into_column())
    };
    let height = from.len();
    Ok(DataFrame::new(height, vec![dates(SOURCE, from)?, dates(PERIOD, to)?])?)
}

/// A table's rows under each report day whose window holds them (`PERIOD` relabelled).
fn expand(mut table: DataFrame, mapping: &DataFrame) -> Result<LazyFrame> {
    table.rename(PERIOD, SOURCE.into())?;
    Ok(table
        .lazy()
        .join(
            mapping.clone().lazy(),
            [col(SOURCE)],
            [col(SOURCE)],
            JoinArgs::new(JoinType::Inner),
        )
        .drop(Selector::ByName {
            names: [PlSmallStr::from(SOURCE)].into(),
            strict: true,
        }))
}

/// A table of additive states summed over each window.
fn windowed_sums(table: DataFrame, mapping: &DataFrame, keys: &[String]) -> Result<DataFrame> {
    let sums: Vec<Expr> = table
        .get_column_names()
        .into_iter()
        .filter(|n| !keys.iter().any(|k| k == n.as_str()))
        .map(|n| col(n.clone()).sum())
        .collect();
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    Ok(expand(table, mapping)?.group_by(group).agg(sums).collect()?)
}

/// `followers` and `followers_start` per group and window from the snapshots' daily states:
/// each account's last snapshot in the window, and its last before the window (else its
/// first in the window), each summed over accounts. Each is found by one sort of the
/// snapshots with the windows' days, not by repeating the snapshots once per window.
fn windowed_followers(plan: &Plan, snapshots: DataFrame, days: &[i32], window: Window) -> Result<DataFrame> {
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
    // the windows: their last day, first day and the day before
    let date = |name: &str, v: Vec<i32>| -> Result<Column> {
        Ok(Int32Chunked::from_vec(name.into(), v)
            .into_series()
            .cast(&DataType::Date)?
            .into_column())
    };
    let first: Vec<i32> = days
        .iter()
        .map(|&d| i32::try_from(window.start(i64::from(d))).unwrap_or(i32::MIN + 1))
        .collect();
    let eve: Vec<i32> = first.iter().map(|&d| d - 1).collect();
    let windows = DataFrame::new(
        days.len(),
        vec![
            date(PERIOD, days.to_vec())?,
            date("__first", first)?,
            date("__eve", eve)?,
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
        .filter(col(PERIOD).gt_eq(col("__lo")).and(col("__first").lt_eq(col("__hi"))))
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
    let last = nearest(obs(LAST_DAY, lit(true)), ask(PERIOD), account, true)?;
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
            col(LAST).sum().alias("followers"),
            col("__start").sum().alias("followers_start"),
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
    fn each_day_is_in_the_windows_that_hold_it() -> Result<()> {
        let m = mapping(&[0, 1, 5], &[0, 1, 2, 5, 9], Window::Trailing(3))?;
        let pairs: Vec<(i32, i32)> = day_values(m.column(SOURCE)?)?
            .into_iter()
            .zip(day_values(m.column(PERIOD)?)?)
            .collect();
        assert_eq!(pairs, vec![(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (5, 5)]);
        Ok(())
    }
}

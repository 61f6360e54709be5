//! Account snapshots: semi-additive followers (last per account and period, then summed),
//! followers at the start of a period, followers-at-post, and account attributes.

use super::kernel::FollowerIndex;
use super::pass::{self, Dict, Pairs};
use super::{align_as_text, read_columns, RowAccount, ALL};
use crate::error::InputCode;
use crate::error::{Error, Result};
use crate::ingest;
use crate::plan::{AccountsPlan, Dedupe, Plan, PERIOD};
use crate::schema::{Source, StateColumn};
use polars::prelude::*;
use std::borrow::Cow;

const TABLE: &str = "accounts";
const DATE: &str = "date";

/// The accounts table reduced to the columns the plan reads, checked and de-duplicated.
pub(super) struct Snapshots {
    df: DataFrame,
    key: Vec<String>,
    /// Each row's account as a code: equal codes are one account, and (the rows being sorted
    /// by account and day) each account's rows are neighbours.
    accounts: Vec<u32>,
}

/// Each row's account as a code (the key columns through the pass's dictionaries, in order
/// of first appearance); all zero when the accounts have no key columns.
fn account_codes(df: &DataFrame, key: &[String]) -> Result<Vec<u32>> {
    let mut codes: Option<Vec<u32>> = None;
    let mut pairs = Pairs::default();
    for k in key {
        let column = df.column(k)?;
        let c = Dict::new(column.dtype(), false).encode(column)?;
        codes = Some(match codes {
            None => c,
            Some(prev) => pairs.combine(&prev, &c),
        });
    }
    Ok(codes.unwrap_or_else(|| vec![0; df.height()]))
}

/// How the snapshots are ordered: whether two share an account and a day, and whether each
/// account's rows are together and in date order. Each row becomes one integer of account
/// code and day; equal integers are neighbours once sorted (exports usually are sorted
/// already, which one look finds).
fn order(accounts: &[u32], days: &[i32]) -> (bool, bool) {
    // (codes come in order of first appearance: sorted integers are grouped accounts)
    let mut keys: Vec<u64> = accounts
        .iter()
        .zip(days)
        .map(|(&c, &d)| (u64::from(c) << 32) | u64::from((d as u32) ^ (1 << 31)))
        .collect();
    let sorted = keys.is_sorted();
    if !sorted {
        keys.sort_unstable();
    }
    (keys.windows(2).any(|w| w[0] == w[1]), sorted)
}

/// The runs of neighbouring rows of one account (and period, when given), each its first row
/// and length: the groups of rows sorted by account and day, found without hashing.
fn runs(accounts: &[u32], periods: Option<&[i32]>) -> Vec<[IdxSize; 2]> {
    let mut groups: Vec<[IdxSize; 2]> = Vec::new();
    let mut start = 0usize;
    for row in 1..=accounts.len() {
        let ends = row == accounts.len()
            || accounts[row] != accounts[row - 1]
            || periods.is_some_and(|p| p[row] != p[row - 1]);
        if ends {
            groups.push([start as IdxSize, (row - start) as IdxSize]);
            start = row;
        }
    }
    groups
}

/// The values at the rows where `keep` holds (all of them when there is no `keep`).
fn kept<'a, T: Copy>(values: &'a [T], keep: Option<&BooleanChunked>) -> Cow<'a, [T]> {
    match keep {
        None => Cow::Borrowed(values),
        Some(keep) => Cow::Owned(
            values
                .iter()
                .zip(keep.iter())
                .filter_map(|(&x, k)| k.unwrap_or(false).then_some(x))
                .collect(),
        ),
    }
}

/// Each run's first row, or its last.
fn run_rows(runs: &[[IdxSize; 2]], last: bool) -> Vec<IdxSize> {
    runs.iter()
        .map(|&[first, len]| if last { first + len - 1 } else { first })
        .collect()
}

/// The rows' period starts as days (the `PERIOD` column), when the plan has periods.
fn period_days(df: &DataFrame, with_periods: bool) -> Result<Option<Vec<i32>>> {
    if !with_periods {
        return Ok(None);
    }
    Ok(Some(pass::days(df.column(PERIOD)?)?.to_vec()))
}

impl Snapshots {
    pub(super) fn load(plan: &Plan, ap: &AccountsPlan, lf: LazyFrame, rows: &mut RowAccount) -> Result<Self> {
        let coerce = |c: &str, dtype: &DataType| -> Result<Expr> {
            Ok(match c {
                "followers" | "profile_visits" | "mentions" | "leads" => ingest::count_expr(c, dtype, TABLE)?,
                DATE => ingest::date_expr(c, dtype, TABLE)?,
                _ => col(c),
            })
        };
        let mut df = read_columns(lf, TABLE, &ap.columns, coerce, Vec::new())?;
        rows.read.push((TABLE.to_string(), df.height() as u64));

        for name in [DATE, "account_id"] {
            let n = df.column(name)?.null_count() as u64;
            if n > 0 {
                rows.drop(TABLE, &format!("missing {name}"), n);
                df = df.lazy().filter(col(name).is_not_null()).collect()?;
            }
        }
        for c in ["followers", "profile_visits", "mentions", "leads"] {
            if let Ok(column) = df.column(c) {
                if column.as_materialized_series().min::<f64>()?.is_some_and(|v| v < 0.0) {
                    return Err(Error::input(InputCode::NegativeValue, format!("column '{c}' of accounts has negative values; counts cannot be negative. Fix or filter those rows before computing")));
                }
            }
        }

        // One snapshot per account and day.
        let mut day_key: Vec<Expr> = plan.account_key.iter().map(|k| col(k.as_str())).collect();
        day_key.push(col(DATE));
        let mut accounts = account_codes(&df, &plan.account_key)?;
        let (repeats, sorted) = order(&accounts, &pass::days(df.column(DATE)?)?);
        if repeats {
            let repeats = df
                .clone()
                .lazy()
                .group_by(day_key.clone())
                .agg([len().alias("n")])
                .filter(col("n").gt(lit(1)))
                .collect()?;
            let extra: u64 =
                repeats.column("n")?.as_materialized_series().sum::<u64>().unwrap_or(0) - repeats.height() as u64;
            match plan.dedupe {
                Dedupe::Error => {
                    let example = repeats
                        .get_row(0)
                        .map(|r| {
                            r.0.iter()
                                .take(plan.account_key.len() + 1)
                                .map(|v| v.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    return Err(Error::input(
                        InputCode::DuplicateSnapshot,
                        format!("accounts has {extra} repeated snapshots of the same account and date (for example {example}); keep one row per account and day, or pass dedupe='last' to keep the last row"),
                    ));
                }
                Dedupe::Last => {
                    rows.drop(
                        TABLE,
                        "repeated account snapshot of one day (dedupe='last' kept the last row)",
                        extra,
                    );
                    df = df
                        .lazy()
                        .unique_stable_generic(Some(day_key), UniqueKeepStrategy::Last)
                        .collect()?;
                }
            }
        }
        // Each account's snapshots together and in date order: its first and last of a period
        // are the first and last rows.
        let mut lf = df.lazy();
        if !sorted {
            let mut by = plan.account_key.clone();
            by.push(DATE.to_string());
            lf = lf.sort(by, SortMultipleOptions::default().with_maintain_order(true));
        }
        let df = super::with_period(lf.collect()?, DATE, plan)?;
        if repeats || !sorted {
            accounts = account_codes(&df, &plan.account_key)?;
        }
        Ok(Self {
            df,
            key: plan.account_key.clone(),
            accounts,
        })
    }

    fn key_exprs(&self) -> Vec<Expr> {
        self.key.iter().map(|k| col(k.as_str())).collect()
    }

    /// The table as read (after checks and de-duplication).
    pub(super) fn frame(&self) -> &DataFrame {
        &self.df
    }

    /// The snapshots with a follower count: key columns, date and followers.
    pub(super) fn with_followers(&self) -> Result<DataFrame> {
        let mut columns = self.key_exprs();
        columns.extend([col(DATE), col("followers")]);
        let lf = self.df.clone().lazy();
        let lf = if self.df.column("followers")?.null_count() > 0 {
            lf.filter(col("followers").is_not_null())
        } else {
            lf
        };
        Ok(lf.select(columns).collect()?)
    }

    /// Each account's follower snapshots, for followers-at-post: `snapshots` from
    /// `with_followers`, `accounts` their account codes (below `codes`); a snapshot is read at
    /// most `max_staleness` days after its day.
    pub(super) fn follower_index(
        snapshots: &DataFrame,
        accounts: &[u32],
        codes: usize,
        max_staleness: Option<u32>,
    ) -> Result<FollowerIndex> {
        let days = pass::days(snapshots.column(DATE)?)?;
        let followers = snapshots
            .column("followers")?
            .as_materialized_series()
            .cast(&DataType::Float64)?;
        let mut rows: Vec<(u32, i32, f64)> = accounts
            .iter()
            .zip(days.iter())
            .zip(followers.f64()?.into_no_null_iter())
            .map(|((&a, &d), f)| (a, d, f))
            .collect();
        if !rows.is_sorted_by_key(|r| (r.0, r.1)) {
            rows.sort_unstable_by_key(|r| (r.0, r.1));
        }
        Ok(FollowerIndex::new(codes, &rows, max_staleness))
    }

    /// Joins account attributes (their value at the account's last snapshot) onto posts states.
    pub(super) fn join_attributes(&self, posts: LazyFrame, attributes: &[String]) -> Result<LazyFrame> {
        let aggs: Vec<Expr> = attributes.iter().map(|a| col(a.as_str()).last()).collect();
        let attrs = self.df.clone().lazy().group_by(self.key_exprs()).agg(aggs);
        let (posts, attrs) = self.align_keys(posts, attrs)?;
        let args = JoinArgs::new(JoinType::Left);
        Ok(posts.join(attrs, self.key_exprs(), self.key_exprs(), args))
    }

    /// A key typed differently in the two tables (numbers vs text) meets as text.
    fn align_keys(&self, left: LazyFrame, right: LazyFrame) -> Result<(LazyFrame, LazyFrame)> {
        align_as_text(left, right, &self.key)
    }

    /// The accounts' partial states: the flows summed per group and period (`a:rows`, `as:`,
    /// `an:`), and, when followers are read, each account's first and last snapshot per period
    /// (`followers` turns them into the groups' followers).
    pub(super) fn states(
        &self,
        plan: &Plan,
        ap: &AccountsPlan,
        keys: &[String],
    ) -> Result<(DataFrame, Option<DataFrame>)> {
        let flowing: Vec<&str> = [
            (ap.profile_visits, "profile_visits"),
            (ap.mentions, "mentions"),
            (ap.leads, "leads"),
        ]
        .iter()
        .filter(|(w, _)| *w)
        .map(|(_, c)| *c)
        .collect();
        let mut summed = flowing.clone();
        if ap.followers {
            summed.push("followers");
        }
        super::overflow::check_table_sums(&self.df, &summed, "accounts")?;
        let periods = period_days(&self.df, plan.every.is_some())?;
        let flows = self.flows(keys, &flowing, periods.as_deref())?;
        if !ap.followers {
            return Ok((flows, None));
        }
        Ok((flows, Some(self.first_and_last(keys, periods.as_deref())?)))
    }

    /// The account flows per group of `keys`: the rows, and each flow's sum with the count of
    /// rows that reported it. By account (and period), the groups are the sorted rows' runs;
    /// coarser groups add the runs up; groups by an account attribute, which may change
    /// within a run, group the rows.
    fn flows(&self, keys: &[String], flowing: &[&str], periods: Option<&[i32]>) -> Result<DataFrame> {
        let by_account = keys.iter().all(|k| self.key.contains(k) || k == PERIOD || k == ALL);
        if !by_account {
            return self.flows_grouped(keys, flowing);
        }
        let runs = runs(&self.accounts, periods);
        let mut columns = self.run_keys(&self.df, &run_rows(&runs, false), periods.is_some())?;
        let lengths = runs.iter().map(|[_, len]| i64::from(*len)).collect();
        let rows = Int64Chunked::from_vec(PlSmallStr::EMPTY, lengths);
        let groups = GroupsType::new_slice(runs, false, true);
        let keyed = columns.len();
        columns.push(
            rows.into_column()
                .with_name(StateColumn::Rows(Source::Accounts).name().into()),
        );
        for &c in flowing {
            let values = self.df.column(c)?;
            // SAFETY: the runs are in bounds: they partition the frame's rows
            let (sum, reported) = unsafe {
                (
                    values.agg_sum(&groups),
                    values.as_materialized_series().agg_valid_count(&groups),
                )
            };
            columns.push(sum.with_name(StateColumn::AccountSum(c.into()).name().into()));
            let reported = reported.cast(&DataType::Int64)?.into_column();
            columns.push(reported.with_name(StateColumn::AccountReported(c.into()).name().into()));
        }
        // the columns after the runs' keys are the states
        let states: Vec<Expr> = columns[keyed..].iter().map(|c| col(c.name().as_str())).collect();
        let mut frame = DataFrame::new_infer_height(columns)?.lazy();
        let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        if keys.iter().any(|k| k == ALL) {
            frame = frame.with_column(lit(true).alias(ALL));
        }
        if keys.iter().filter(|k| *k != ALL).count() == keyed {
            // each run is one account (and period): the runs are the groups
            return Ok(frame
                .select(group.into_iter().chain(states).collect::<Vec<_>>())
                .collect()?);
        }
        let added: Vec<Expr> = states.into_iter().map(|s| s.sum()).collect();
        Ok(frame.group_by(group).agg(added).collect()?)
    }

    /// `flows` grouped row by row (groups by an account attribute).
    fn flows_grouped(&self, keys: &[String], flowing: &[&str]) -> Result<DataFrame> {
        let mut base = self.df.clone().lazy();
        if keys.iter().any(|k| k == ALL) {
            base = base.with_column(lit(true).alias(ALL));
        }
        let mut aggs = vec![len()
            .cast(DataType::Int64)
            .alias(StateColumn::Rows(Source::Accounts).name())];
        for &c in flowing {
            aggs.push(col(c).sum().alias(StateColumn::AccountSum(c.into()).name()));
            let reported = col(c).count().cast(DataType::Int64);
            aggs.push(reported.alias(StateColumn::AccountReported(c.into()).name()));
        }
        let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        Ok(base.group_by(group).agg(aggs).collect()?)
    }

    /// Per account and period: the first and last snapshot with a follower count and their
    /// days; the grouping's account attributes take their value at the last one. The groups
    /// are the runs of the sorted rows that have a count.
    fn first_and_last(&self, keys: &[String], periods: Option<&[i32]>) -> Result<DataFrame> {
        let followers = self.df.column("followers")?;
        let counted = (followers.null_count() > 0).then(|| followers.is_not_null());
        let df = match &counted {
            Some(c) => Cow::Owned(self.df.filter(c)?),
            None => Cow::Borrowed(&self.df),
        };
        let accounts = kept(&self.accounts, counted.as_ref());
        let periods = periods.map(|p| kept(p, counted.as_ref()));
        let runs = runs(&accounts, periods.as_deref());
        let (firsts, lasts) = (run_rows(&runs, false), run_rows(&runs, true));
        let mut columns = self.run_keys(&df, &firsts, periods.is_some())?;
        let (day, count) = (df.column(DATE)?, df.column("followers")?);
        columns.push(day.take_slice(&firsts)?.with_name(FIRST_DAY.into()));
        columns.push(count.take_slice(&firsts)?.with_name(FIRST.into()));
        columns.push(day.take_slice(&lasts)?.with_name(LAST_DAY.into()));
        columns.push(count.take_slice(&lasts)?.with_name(LAST.into()));
        for d in keys
            .iter()
            .filter(|d| !self.key.contains(d) && *d != PERIOD && *d != ALL)
        {
            columns.push(df.column(d)?.take_slice(&lasts)?);
        }
        Ok(DataFrame::new_infer_height(columns)?)
    }

    /// The account key columns (and the period's) of the runs starting at `firsts`.
    fn run_keys(&self, df: &DataFrame, firsts: &[IdxSize], with_period: bool) -> Result<Vec<Column>> {
        let mut names: Vec<&str> = self.key.iter().map(String::as_str).collect();
        if with_period {
            names.push(PERIOD);
        }
        // (a gather: polars' first-of-group would join a text column's chunks whole first)
        names
            .into_iter()
            .map(|n| Ok(df.column(n)?.take_slice(firsts)?))
            .collect()
    }
}

/// The first and last follower count of each account and period, with their days (the
/// snapshots' partial states).
pub(crate) use crate::schema::{
    FIRST_FOLLOWERS as FIRST, FIRST_FOLLOWERS_DAY as FIRST_DAY, LAST_FOLLOWERS as LAST, LAST_FOLLOWERS_DAY as LAST_DAY,
};

/// The finalised snapshots of a group and period, which `last(followers)` and
/// `first(followers)` read: each account's last snapshot in the period, and its last before
/// it, summed over the accounts.
pub(crate) const FOLLOWERS: &str = "followers";
pub(crate) const FOLLOWERS_START: &str = "followers_start";

/// `followers` and `followers_start` per group of `keys` from the snapshots' states: each
/// account's last snapshot of the period, and its last before the period (the last of the
/// account's previous period with one, else the period's first), each summed over accounts.
pub(crate) fn followers(
    snapshots: &DataFrame,
    account_key: &[String],
    keys: &[String],
    every: bool,
) -> Result<DataFrame> {
    let account: Vec<Expr> = account_key.iter().map(|k| col(k.as_str())).collect();
    let mut accounts = snapshots.clone().lazy();
    if keys.iter().any(|k| k == ALL) {
        accounts = accounts.with_column(lit(true).alias(ALL));
    }
    let start = if every {
        let mut order = account_key.to_vec();
        order.push(PERIOD.to_string());
        accounts = accounts.sort(order, SortMultipleOptions::default());
        // the previous row is the account's previous period when it is the same account (a
        // shift over the whole sorted frame: a window per account costs seconds on millions)
        let same_account = account
            .iter()
            .map(|k| k.clone().eq_missing(k.clone().shift(lit(1))))
            .reduce(Expr::and)
            .unwrap_or_else(|| lit(true));
        let previous = when(same_account).then(col(LAST).shift(lit(1))).otherwise(lit(NULL));
        when(previous.clone().is_null()).then(col(FIRST)).otherwise(previous)
    } else {
        col(FIRST)
    };
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    Ok(accounts
        .with_column(start.alias("__start"))
        .group_by(group)
        .agg([
            col(LAST).sum().alias(FOLLOWERS),
            col("__start").sum().alias(FOLLOWERS_START),
        ])
        .collect()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_end_where_the_account_or_the_period_changes() {
        let accounts = [0, 0, 0, 1, 1, 2];
        let periods = [10, 10, 11, 11, 11, 11];
        assert_eq!(runs(&accounts, Some(&periods)), vec![[0, 2], [2, 1], [3, 2], [5, 1]]);
        assert_eq!(runs(&accounts, None), vec![[0, 3], [3, 2], [5, 1]]);
        assert!(runs(&[], None).is_empty());
    }

    /// Two accounts' sorted daily snapshots over two months, some without a follower count,
    /// one account whose snapshots of a month all lack one, and an attribute that changes.
    fn snapshots() -> Result<Snapshots> {
        let day = |m: u32, d: u32| crate::periods::days_from_civil(2025, m, d);
        let rows = [
            ("a", day(1, 30), Some(10), Some(1), "x", day(1, 1)),
            ("a", day(1, 31), None, None, "x", day(1, 1)),
            ("a", day(2, 1), Some(12), Some(3), "y", day(2, 1)),
            ("a", day(2, 2), Some(13), None, "z", day(2, 1)),
            ("b", day(1, 5), None, Some(4), "x", day(1, 1)),
            ("b", day(2, 5), Some(7), Some(5), "x", day(2, 1)),
        ];
        let date = |v: Vec<i32>, name: &str| -> Result<Column> {
            Ok(Int32Chunked::from_vec(name.into(), v)
                .into_series()
                .cast(&DataType::Date)?
                .into_column())
        };
        let df = DataFrame::new_infer_height(vec![
            Column::new("account_id".into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            date(rows.iter().map(|r| r.1).collect(), DATE)?,
            Column::new(
                "followers".into(),
                rows.iter().map(|r| r.2).collect::<Vec<Option<i64>>>(),
            ),
            Column::new(
                "profile_visits".into(),
                rows.iter().map(|r| r.3).collect::<Vec<Option<i64>>>(),
            ),
            Column::new("tier".into(), rows.iter().map(|r| r.4).collect::<Vec<_>>()),
            date(rows.iter().map(|r| r.5).collect(), PERIOD)?,
        ])?;
        let key = vec!["account_id".to_string()];
        let accounts = account_codes(&df, &key)?;
        Ok(Snapshots { df, key, accounts })
    }

    fn sorted(df: DataFrame, by: &[&str]) -> Result<DataFrame> {
        Ok(df.sort(by.to_vec(), SortMultipleOptions::default())?)
    }

    #[test]
    fn flows_by_account_from_runs_equal_the_rows_grouped() -> Result<()> {
        let s = snapshots()?;
        let periods = period_days(&s.df, true)?;
        for keys in [
            vec!["account_id", PERIOD],
            vec![PERIOD, "account_id"],
            vec![PERIOD],
            vec![ALL],
        ] {
            let keys: Vec<String> = keys.into_iter().map(String::from).collect();
            let by: Vec<&str> = keys.iter().map(String::as_str).collect();
            let from_runs = sorted(s.flows(&keys, &["profile_visits"], periods.as_deref())?, &by)?;
            let grouped = sorted(s.flows_grouped(&keys, &["profile_visits"])?, &by)?;
            assert!(from_runs.equals_missing(&grouped), "{keys:?}:\n{from_runs}\n{grouped}");
        }
        Ok(())
    }

    #[test]
    fn first_and_last_snapshots_from_runs_equal_the_rows_grouped() -> Result<()> {
        let s = snapshots()?;
        let periods = period_days(&s.df, true)?;
        let keys: Vec<String> = ["tier", PERIOD].into_iter().map(String::from).collect();
        let from_runs = sorted(s.first_and_last(&keys, periods.as_deref())?, &["account_id", PERIOD])?;
        let grouped =
            s.df.clone()
                .lazy()
                .filter(col("followers").is_not_null())
                .group_by([col("account_id"), col(PERIOD)])
                .agg([
                    col(DATE).first().alias(FIRST_DAY),
                    col("followers").first().alias(FIRST),
                    col(DATE).last().alias(LAST_DAY),
                    col("followers").last().alias(LAST),
                    col("tier").last(),
                ])
                .collect()?;
        let grouped = sorted(grouped, &["account_id", PERIOD])?;
        assert!(from_runs.equals_missing(&grouped), "\n{from_runs}\n{grouped}");
        // b has no count in January: no snapshot state there; a's February ends at "z"
        assert_eq!(from_runs.height(), 3);
        Ok(())
    }
}

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

const TABLE: &str = "accounts";
const DATE: &str = "date";

/// The accounts table reduced to the columns the plan reads, checked and de-duplicated.
pub(super) struct Snapshots {
    df: DataFrame,
    key: Vec<String>,
}

/// How the snapshots are ordered: whether two share an account and a day, and whether each
/// account's rows are together and in date order. The key columns become codes (through the
/// pass's dictionaries), each row one integer of code and day; equal integers are neighbours
/// once sorted (exports usually are sorted already, which one look finds).
fn order(df: &DataFrame, key: &[String]) -> Result<(bool, bool)> {
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
    let days = pass::days(df.column(DATE)?)?;
    let Some(codes) = codes else {
        return Ok((false, true));
    };
    // (codes come in order of first appearance: sorted integers are grouped accounts)
    let mut keys: Vec<u64> = codes
        .iter()
        .zip(&days)
        .map(|(&c, &d)| (u64::from(c) << 32) | u64::from((d as u32) ^ (1 << 31)))
        .collect();
    let sorted = keys.is_sorted();
    if !sorted {
        keys.sort_unstable();
    }
    Ok((keys.windows(2).any(|w| w[0] == w[1]), sorted))
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
        let (repeats, sorted) = order(&df, &plan.account_key)?;
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
        Ok(Self {
            df,
            key: plan.account_key.clone(),
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
            .zip(&days)
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
        let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        let mut base = self.df.clone().lazy();
        if keys.iter().any(|k| k == ALL) {
            base = base.with_column(lit(true).alias(ALL));
        }
        let summed = [
            (ap.profile_visits, "profile_visits"),
            (ap.mentions, "mentions"),
            (ap.leads, "leads"),
            (ap.followers, "followers"),
        ];
        let summed: Vec<&str> = summed.iter().filter(|(w, _)| *w).map(|(_, c)| *c).collect();
        super::overflow::check_table_sums(&self.df, &summed, "accounts")?;
        let mut aggs = vec![len()
            .cast(DataType::Int64)
            .alias(StateColumn::Rows(Source::Accounts).name())];
        // account flows: summed over the daily snapshots, with the count that reported one
        for (wanted, c) in [
            (ap.profile_visits, "profile_visits"),
            (ap.mentions, "mentions"),
            (ap.leads, "leads"),
        ] {
            if wanted {
                aggs.push(col(c).sum().alias(StateColumn::AccountSum(c.into()).name()));
                let reported = col(c).count().cast(DataType::Int64);
                aggs.push(reported.alias(StateColumn::AccountReported(c.into()).name()));
            }
        }
        let flows = base.clone().group_by(group).agg(aggs).collect()?;
        if !ap.followers {
            return Ok((flows, None));
        }
        // Per account and period: the first and last snapshot with a value and their days;
        // account attributes take their value at the last snapshot.
        let mut per_account: Vec<Expr> = self.key_exprs();
        if plan.every.is_some() {
            per_account.push(col(PERIOD));
        }
        let mut aggs = vec![
            col(DATE).first().alias(FIRST_DAY),
            col("followers").first().alias(FIRST),
            col(DATE).last().alias(LAST_DAY),
            col("followers").last().alias(LAST),
        ];
        for d in keys
            .iter()
            .filter(|d| !self.key.contains(d) && *d != PERIOD && *d != ALL)
        {
            aggs.push(col(d.as_str()).last().alias(d.as_str()));
        }
        let snapshots = base
            .filter(col("followers").is_not_null())
            .group_by(per_account)
            .agg(aggs)
            .collect()?;
        Ok((flows, Some(snapshots)))
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

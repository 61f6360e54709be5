//! Influencer contracts: fees and deliverables pro-rated by day into periods, the windows
//! that posts deliver on, and the per-contract status view.

use super::kernel::{self, WindowIndex, ACCOUNT};
use super::pass::{self, Dict, Pairs};
use super::{align_as_text, drop_rows, read_columns, RowAccount, ALL};
use crate::error::{Error, Result};
use crate::ingest;
use crate::plan::{ContractsPlan, Plan, PostsPlan};
use polars::prelude::*;

const TABLE: &str = "contracts";
const SHARE: &str = "__share";
const START: &str = "start";
const END: &str = "end";

/// The contracts table, read, checked and with its dates as Dates.
pub(super) struct Contracts {
    pub df: DataFrame,
    pub warnings: Vec<String>,
    /// The one currency of the fees, when the table says.
    pub currency: Option<String>,
}

/// The values of a text column (for messages).
fn distinct_text(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let values = df
        .column(name)?
        .as_materialized_series()
        .cast(&DataType::String)?
        .drop_nulls()
        .unique()?
        .sort(SortOptions::default())?;
    Ok(values.str()?.iter().flatten().map(str::to_string).collect())
}

/// A `currency` column must hold one currency: sums of several mean nothing.
/// The table's one currency (None without a currency column).
pub(super) fn check_currency(df: &DataFrame, table: &str) -> Result<Option<String>> {
    if df.column("currency").is_err() {
        return Ok(None);
    }
    let currencies = distinct_text(df, "currency")?;
    if currencies.len() > 1 {
        return Err(currency_error(table, &currencies));
    }
    Ok(currencies.into_iter().next())
}

/// More than one currency in a table's `currency` column.
pub(super) fn currency_error(table: &str, currencies: &[String]) -> Error {
    Error::input(
        "mixed_currency",
        format!(
            "the currency column of {table} holds {} currencies ({}); convert the amounts to one currency before computing",
            currencies.len(),
            currencies.join(", ")
        ),
    )
}

impl Contracts {
    /// Reads `columns` (None: all) of the contracts table and checks them.
    pub fn load(columns: Option<&[String]>, lf: LazyFrame, rows: &mut RowAccount) -> Result<Self> {
        let mut lf = lf;
        let names: Vec<String> = match columns {
            Some(c) => c.to_vec(),
            None => lf
                .collect_schema()
                .map_err(|e| Error::input("unreadable_table", format!("could not read the contracts table: {e}")))?
                .iter_names()
                .map(|n| n.to_string())
                .collect(),
        };
        let coerce = |c: &str, dtype: &DataType| -> Result<Expr> {
            Ok(match c {
                START | END => ingest::date_expr(c, dtype, TABLE)?,
                "fee" | "posts_agreed" => ingest::count_expr(c, dtype, TABLE)?,
                _ => col(c),
            })
        };
        let df = read_columns(lf, TABLE, &names, coerce, Vec::new())?;
        rows.read.push((TABLE.to_string(), df.height() as u64));
        let missing = col(START).is_null().or(col(END).is_null());
        let df = drop_rows(df, rows, TABLE, vec![("missing start or end", missing)])?;

        let reversed = df.clone().lazy().filter(col(END).lt(col(START))).collect()?;
        if reversed.height() > 0 {
            let example = reversed
                .get_row(0)
                .map(|r| {
                    df.get_column_names()
                        .iter()
                        .zip(r.0.iter())
                        .filter(|(n, _)| matches!(n.as_str(), "account_id" | "campaign" | START | END))
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            return Err(Error::input(
                "contract_dates",
                format!(
                    "contracts has {} agreements whose end is before their start (for example {example}); fix the dates (end is the last day of the agreement)",
                    reversed.height()
                ),
            ));
        }
        for c in ["fee", "posts_agreed"] {
            if let Ok(column) = df.column(c) {
                if column.as_materialized_series().min::<f64>()?.is_some_and(|v| v < 0.0) {
                    return Err(Error::input(
                        "negative_value",
                        format!(
                            "column '{c}' of contracts has negative values; fees and deliverables cannot be negative"
                        ),
                    ));
                }
            }
        }
        let currency = check_currency(&df, TABLE)?;
        let warnings = overlaps(&df)?.into_iter().collect();
        Ok(Self { df, warnings, currency })
    }

    fn ranges(&self) -> Result<Vec<(i32, i32)>> {
        let start = pass::days(self.df.column(START)?)?;
        let end = pass::days(self.df.column(END)?)?;
        Ok(start.into_iter().zip(end).collect())
    }

    /// Fees and posts agreed pro-rated into the output grain: `c:fee`, `c:agreed`, `c:rows`.
    pub fn states(&self, plan: &Plan, cp: &ContractsPlan, keys: &[String]) -> Result<DataFrame> {
        let (index, period, share) = kernel::split_by_period(&self.ranges()?, plan.every);
        let mut pieces = self.df.take(&IdxCa::from_vec("".into(), index))?;
        pieces.with_column(Column::new(SHARE.into(), share))?;
        if plan.every.is_some() {
            pieces.with_column(super::period_column(period.into_iter().collect())?)?;
        }
        let mut lf = pieces.lazy();
        if keys.iter().any(|k| k == ALL) {
            lf = lf.with_column(lit(true).alias(ALL));
        }
        let share = || col(SHARE);
        let mut aggs = vec![len().cast(DataType::Int64).alias("c:rows")];
        if cp.fee {
            aggs.push((col("fee").cast(DataType::Float64) * share()).sum().alias("c:fee"));
        }
        if cp.agreed {
            aggs.push(
                (col("posts_agreed").cast(DataType::Float64) * share())
                    .sum()
                    .alias("c:agreed"),
            );
        }
        let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        Ok(lf.group_by(group).agg(aggs).collect()?)
    }

    /// The distinct values of the columns posts are matched on.
    pub fn keys(&self, on: &[String]) -> Result<DataFrame> {
        let cols: Vec<Expr> = on.iter().map(|c| col(c.as_str())).collect();
        Ok(self
            .df
            .clone()
            .lazy()
            .select(cols)
            .unique_stable_generic(None, UniqueKeepStrategy::First)
            .collect()?)
    }

    /// The contract windows of each key. `keys` holds the matched columns (`on`) and each
    /// key's code (`kernel::ACCOUNT`, below `codes`); a contract that names a content type
    /// gets that type's code in `types` (the posts' dictionary of content types).
    pub fn windows(
        &self,
        on: &[String],
        keys: DataFrame,
        codes: usize,
        types: Option<&mut Dict>,
    ) -> Result<WindowIndex> {
        let mut right_cols: Vec<Expr> = on.iter().map(|c| col(c.as_str())).collect();
        right_cols.extend([col(START), col(END)]);
        if types.is_some() {
            right_cols.push(col("content_type"));
        }
        let (left, right) = align_as_text(keys.lazy(), self.df.clone().lazy().select(right_cols), on)?;
        let join_on: Vec<Expr> = on.iter().map(|c| col(c.as_str())).collect();
        let df = left
            .join(right, join_on.clone(), join_on, JoinArgs::new(JoinType::Inner))
            .sort([ACCOUNT], SortMultipleOptions::default())
            .collect()?;
        let type_codes: Vec<u32> = match types {
            Some(dict) => {
                let column = df.column("content_type")?;
                let codes = dict.encode(column)?;
                let present = column.as_materialized_series().is_not_null();
                codes
                    .into_iter()
                    .zip(present.downcast_iter().flat_map(|a| a.values_iter()))
                    .map(|(c, p)| if p { c } else { u32::MAX })
                    .collect()
            }
            None => vec![u32::MAX; df.height()],
        };
        let rows: Vec<(u32, i32, i32, u32)> = df
            .column(ACCOUNT)?
            .cast(&DataType::UInt32)?
            .u32()?
            .into_no_null_iter()
            .zip(df.column(START)?.cast(&DataType::Int32)?.i32()?.into_no_null_iter())
            .zip(df.column(END)?.cast(&DataType::Int32)?.i32()?.into_no_null_iter())
            .zip(type_codes)
            .map(|(((k, s), e), t)| (k, s, e, t))
            .collect();
        Ok(WindowIndex::new(codes, &rows))
    }
}

/// Overlapping agreements of the same account and campaign are allowed (both count); the
/// result says how many there are.
fn overlaps(df: &DataFrame) -> Result<Option<String>> {
    let key: Vec<&str> = ["account_id", "platform", "campaign"]
        .into_iter()
        .filter(|c| df.column(c).is_ok())
        .collect();
    if key.is_empty() || df.height() < 2 {
        return Ok(None);
    }
    let mut codes: Vec<Vec<u32>> = Vec::new();
    for c in &key {
        codes.push(pass::distinct_codes(df.column(c)?)?.0);
    }
    let groups = match codes.as_slice() {
        [a, b] => Pairs::default().combine(a, b),
        _ => codes.swap_remove(0),
    };
    let start = pass::days(df.column(START)?)?;
    let end = pass::days(df.column(END)?)?;
    let mut order: Vec<usize> = (0..df.height()).collect();
    order.sort_unstable_by_key(|&i| (groups[i], start[i]));
    let mut overlapping = 0usize;
    let mut reach: Option<(u32, i32)> = None;
    for &i in &order {
        let g = groups[i];
        match reach {
            Some((pg, last_end)) if pg == g => {
                if start[i] <= last_end {
                    overlapping += 1;
                }
                reach = Some((g, last_end.max(end[i])));
            }
            _ => reach = Some((g, end[i])),
        }
    }
    Ok((overlapping > 0).then(|| {
        format!(
            "{overlapping} contracts overlap an earlier contract of the same {}; both count in cost, posts_agreed and delivery_rate (a post still counts once)",
            key.join(" and ")
        )
    }))
}

/// One row per contract: its columns, then delivered, remaining, days_left, cost_per_post,
/// engagements and reach of the delivered posts up to `as_of` (days since 1970-01-01).
pub fn status(
    posts: LazyFrame,
    posts_plan: &PostsPlan,
    contracts: LazyFrame,
    as_of: i32,
    tz: Option<&str>,
) -> Result<DataFrame> {
    const ROW: &str = "__contract";
    let mut rows = RowAccount::default();
    let contracts = Contracts::load(None, contracts, &mut rows)?;
    for c in ["account_id", "posts_agreed"] {
        if contracts.df.column(c).is_err() {
            return Err(Error::schema(
                "missing_column",
                format!("column '{c}' is missing from contracts; contract_status needs account_id, start, end and posts_agreed"),
            ));
        }
    }
    let posts = super::posts::read_for_contracts(posts_plan, posts, tz)?;
    if let Some(id) = &posts_plan.post_id {
        // a post counted twice would be a deliverable counted twice
        if let Some(e) = super::posts::repeated_error(id, posts.clone(), None, &PlRandomState::default())? {
            return Err(e);
        }
    }
    let on: Vec<String> = posts_plan
        .contract_match
        .iter()
        .filter(|c| c.as_str() != "content_type")
        .cloned()
        .collect();
    let by_type = posts_plan.contract_match.iter().any(|c| c == "content_type");
    let table = contracts.df.clone().with_row_index(ROW.into(), None)?;
    let has_fee = table.column("fee").is_ok();
    let mut windows: Vec<Expr> = vec![col(ROW), col(START), col(END)];
    windows.extend(on.iter().map(|c| col(c.as_str())));
    if by_type {
        windows.push(col("content_type").alias("__contract_type"));
    }
    let (left, mut right) = align_as_text(table.clone().lazy().select(windows), posts, &on)?;
    let keys: Vec<Expr> = on.iter().map(|c| col(c.as_str())).collect();
    let day = col(super::posts::DAY);
    let mut inside = day
        .clone()
        .gt_eq(col(START))
        .and(day.clone().lt_eq(col(END)))
        .and(day.lt_eq(lit(as_of).cast(DataType::Date)));
    if by_type {
        let same = col("content_type")
            .cast(DataType::String)
            .eq(col("__contract_type").cast(DataType::String));
        inside = inside.and(col("__contract_type").is_null().or(same));
    }
    let total = |c: &str| {
        when(col(c).count().eq(lit(0)))
            .then(lit(NULL))
            .otherwise(col(c).sum())
            .alias(c)
    };
    let mut aggs = vec![len().cast(DataType::Int64).alias("delivered")];
    let posts_cols = right.collect_schema()?;
    for c in [super::posts::ENG, "reach"] {
        if posts_cols.get(c).is_some() {
            aggs.push(total(c));
        }
    }
    let delivered = left
        .join(right, keys.clone(), keys, JoinArgs::new(JoinType::Inner))
        .filter(inside)
        .group_by([col(ROW)])
        .agg(aggs);
    let delivered_n = col("delivered").fill_null(lit(0));
    let not_below_zero = |e: Expr| when(e.clone().lt(lit(0))).then(lit(0)).otherwise(e);
    let mut out = table
        .lazy()
        .join(delivered, [col(ROW)], [col(ROW)], JoinArgs::new(JoinType::Left))
        .sort([ROW], SortMultipleOptions::default())
        .with_columns([
            delivered_n.clone().alias("delivered"),
            not_below_zero(col("posts_agreed") - delivered_n.clone()).alias("remaining"),
            not_below_zero(col(END).cast(DataType::Int64) - lit(i64::from(as_of))).alias("days_left"),
        ]);
    if has_fee {
        out = out.with_column(
            when(delivered_n.eq(lit(0)))
                .then(lit(NULL).cast(DataType::Float64))
                .otherwise(col("fee").cast(DataType::Float64) / col("delivered").cast(DataType::Float64))
                .alias("cost_per_post"),
        );
    }
    let mut order: Vec<Expr> = contracts
        .df
        .get_column_names()
        .iter()
        .map(|c| col(c.as_str()))
        .collect();
    order.extend(["delivered", "remaining", "days_left"].map(col));
    if has_fee {
        order.push(col("cost_per_post"));
    }
    if posts_cols.get(super::posts::ENG).is_some() {
        order.push(col(super::posts::ENG).alias("engagements"));
    }
    if posts_cols.get("reach").is_some() {
        order.push(col("reach"));
    }
    Ok(out.select(order).collect()?)
}

//! Influencer contracts: fees and deliverables pro-rated by day into periods, the windows
//! that posts deliver on, and the per-contract status view.

use super::kernel::{self, WindowIndex, ACCOUNT};
use super::pass::{self, Dict, Pairs};
use super::{align_as_text, drop_rows, read_columns, RowAccount, ALL};
use crate::error::{Error, Result};
use crate::error::{InputCode, SchemaCode};
use crate::ingest;
use crate::plan::{Attribution, Calendar, ContractsPlan, Period, Plan, PostsPlan};
use crate::schema::{Source, StateColumn};
use polars::prelude::*;

const TABLE: &str = "contracts";
const SHARE: &str = "__share";
const START: &str = "start";
const END: &str = "end";
/// The posts' `sponsored` flag as a Boolean, matched against `true` on the contracts' side.
pub(super) const SPONSORED: &str = "__sponsored";
/// An end on or after 9999-01-01 (days since 1970-01-01) is how warehouses write "no end".
const OPEN_END: i32 = 2_932_532;
/// The most (contract, period) pieces a run splits contracts into (README, open-ended contracts).
const MAX_CONTRACT_PERIODS: u64 = 5_000_000;
/// A contract whose posts number more than this many times its `posts_agreed` is named in
/// a warning (README).
const OVER_DELIVERY: f64 = 1.5;
/// Contracts named in a warning; the rest are counted.
const NAMED: usize = 5;

/// A contract window as the posts pass looks posts up in it: (key code, start, end, content
/// type code or `u32::MAX` for any, the contract's row).
pub(super) type Window = (u32, i32, i32, u32, u32);

/// The posts' `sponsored` column as a Boolean: booleans as they are, numbers other than 0,
/// and the texts true/t/yes/y/1 (any case) are sponsored; null stays unknown (not delivered).
pub(super) fn sponsored_flag(dtype: &DataType) -> Result<Expr> {
    let c = col("sponsored");
    Ok(match dtype {
        DataType::Boolean => c,
        DataType::Null => lit(NULL).cast(DataType::Boolean),
        d if d.is_primitive_numeric() => c.neq(lit(0)),
        DataType::String => {
            let text = c.cast(DataType::String).str().to_lowercase().str().strip_chars(lit(NULL));
            let yes = ["true", "t", "yes", "y", "1"].map(|v| text.clone().eq(lit(v)));
            yes.into_iter().reduce(Expr::or).unwrap_or_else(|| lit(false))
        }
        other => {
            return Err(Error::schema(
                SchemaCode::NotBoolean,
                format!("column 'sponsored' of posts holds {other} values, not a yes/no flag; make it Boolean (or 0/1) to tie sponsored posts to contracts"),
            ))
        }
    })
}

/// The number of `every` periods that days `start..=end` overlap.
fn periods_in(start: i32, end: i32, every: Period, calendar: Calendar) -> u64 {
    let (first, last) = (
        kernel::period_start(start, every, calendar),
        kernel::period_start(end, every, calendar),
    );
    let months = |day: i32| {
        let (y, m, _) = kernel::civil(day);
        y * 12 + i64::from(m) - 1
    };
    let n = match every {
        Period::Day => i64::from(last) - i64::from(first),
        Period::Week => (i64::from(last) - i64::from(first)) / 7,
        Period::Month => months(last) - months(first),
        Period::Quarter => (months(last) - months(first)) / 3,
        Period::Year => kernel::civil(last).0 - kernel::civil(first).0,
    };
    u64::try_from(n + 1).unwrap_or(0)
}

/// A day (since 1970-01-01) as text.
fn date_text(day: i32) -> String {
    let (y, m, d) = kernel::civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The last day (in the report's time zone) of the posts' `published_at`, when they have one.
/// Parquet files (`parquet`) are read a slice of row groups at a time.
pub(super) fn last_post_day(
    mut posts: LazyFrame,
    parquet: Option<&[ingest::ParquetFile]>,
    tz: Option<&str>,
) -> Result<Option<i32>> {
    let schema = posts.collect_schema()?;
    let Some(dtype) = schema.get("published_at") else {
        return Ok(None);
    };
    let day = ingest::day_expr("published_at", dtype, tz, "posts")?;
    let last_of = |lf: LazyFrame| -> Result<Option<i32>> {
        let last = super::collect(lf.select([day.clone().max().cast(DataType::Int32).alias(END)]))?;
        Ok(last.column(END)?.i32()?.get(0))
    };
    let Some(files) = parquet else {
        return last_of(posts);
    };
    let source = std::sync::Arc::new(ingest::parquet::ParquetSource::new(files.to_vec())?);
    let mut last = None;
    for slice in source.slices() {
        last = last.max(last_of(source.lazy(Some(slice)))?);
    }
    Ok(last)
}

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
        InputCode::MixedCurrency,
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
                .map_err(|e| {
                    Error::input(
                        InputCode::UnreadableTable,
                        format!("could not read the contracts table: {e}"),
                    )
                })?
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
                InputCode::ContractDates,
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
                        InputCode::NegativeValue,
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

    /// Whether a contract ends on or after 9999-01-01 (open-ended).
    pub fn has_open_ends(&self) -> Result<bool> {
        Ok(self.ranges()?.iter().any(|r| r.1 >= OPEN_END))
    }

    /// Open-ended contracts (an end on or after 9999-01-01) run through the last day the
    /// inputs hold: the last post's day (`last_post`), or the latest start or closed end of
    /// the contracts, whichever is later (and never before their own start). Their fees and
    /// posts agreed are pro-rated over that window, so that the work and the result's rows
    /// follow the data, not the year 9999.
    pub fn close_open_ends(&mut self, last_post: Option<i32>) -> Result<()> {
        let ranges = self.ranges()?;
        let open = ranges.iter().filter(|r| r.1 >= OPEN_END).count();
        if open == 0 {
            return Ok(());
        }
        let known = ranges
            .iter()
            .flat_map(|&(s, e)| [Some(s), (e < OPEN_END).then_some(e)])
            .flatten()
            .chain(last_post)
            .max();
        let ends: Vec<i32> = ranges
            .iter()
            .map(|&(s, e)| if e >= OPEN_END { known.unwrap_or(s).max(s) } else { e })
            .collect();
        let through = known.map_or_else(|| "their start".to_string(), date_text);
        let ends = Int32Chunked::from_vec(END.into(), ends)
            .into_series()
            .cast(&DataType::Date)?;
        self.df.with_column(ends.into_column())?;
        self.warnings.push(format!(
            "{open} contracts are open-ended (an end in the year 9999): they run through {through}, the last day of the posts or contracts, for pro-rating and delivery"
        ));
        Ok(())
    }

    /// Fees and posts agreed pro-rated into the output grain: `c:fee`, `c:agreed`, `c:rows`.
    pub fn states(&self, plan: &Plan, cp: &ContractsPlan, keys: &[String]) -> Result<DataFrame> {
        let ranges = self.ranges()?;
        if let Some(every) = plan.every {
            let pieces: u64 = ranges
                .iter()
                .map(|&(s, e)| periods_in(s, e, every, plan.calendar))
                .sum();
            if pieces > MAX_CONTRACT_PERIODS {
                let (s, e) = ranges
                    .iter()
                    .copied()
                    .max_by_key(|&(s, e)| i64::from(e) - i64::from(s))
                    .unwrap_or_default();
                return Err(Error::input(
                    InputCode::ContractSpan,
                    format!(
                        "the contracts span {pieces} (contract, period) pairs at every={:?}, more than the limit of {MAX_CONTRACT_PERIODS} (the longest runs {}..{}); use a coarser every=, or check the ends (write 9999-12-31 for an open-ended contract)",
                        Period::NAMES[every as usize],
                        date_text(s),
                        date_text(e)
                    ),
                ));
            }
        }
        let (index, period, share) = kernel::split_by_period(&ranges, plan.every, plan.calendar);
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
        let mut aggs = vec![len()
            .cast(DataType::Int64)
            .alias(StateColumn::Rows(Source::Contracts).name())];
        if cp.fee {
            let fee = (col("fee").cast(DataType::Float64) * share()).sum();
            aggs.push(fee.alias(StateColumn::Fee.name()));
        }
        if cp.agreed {
            aggs.push(
                (col("posts_agreed").cast(DataType::Float64) * share())
                    .sum()
                    .alias(StateColumn::Agreed.name()),
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
    ) -> Result<(WindowIndex, Vec<Window>)> {
        const ROW: &str = "__contract";
        let mut right_cols: Vec<Expr> = on.iter().map(|c| col(c.as_str())).collect();
        right_cols.extend([col(START), col(END), col(ROW)]);
        if types.is_some() {
            right_cols.push(col("content_type"));
        }
        let right = self.df.clone().lazy().with_row_index(ROW, None).select(right_cols);
        let (left, right) = align_as_text(keys.lazy(), right, on)?;
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
        let contract = df.column(ROW)?.cast(&DataType::UInt32)?;
        let windows = rows
            .iter()
            .zip(contract.u32()?.into_no_null_iter())
            .map(|(&(k, s, e, t), c)| (k, s, e, t, c))
            .collect();
        Ok((WindowIndex::new(codes, &rows), windows))
    }

    /// The warning naming the contracts of the keys (account, and platform and campaign
    /// when matched) whose posts inside the contract windows (`delivered`, per key code; a
    /// post counts once, as in `delivery_rate`) number more than 1.5 times what the key's
    /// contracts agreed.
    pub fn over_delivered(
        &self,
        windows: &[Window],
        delivered: &[u64],
        attribution: Attribution,
    ) -> Result<Option<String>> {
        let Ok(agreed) = self.df.column("posts_agreed") else {
            return Ok(None);
        };
        let agreed: Vec<Option<f64>> = agreed
            .as_materialized_series()
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .collect();
        // per key: the posts agreed by its contracts, and the contracts (rows) in input order
        let mut keys: std::collections::BTreeMap<u32, (f64, Vec<u32>)> = Default::default();
        for &(k, _, _, _, c) in windows {
            let entry = keys.entry(k).or_default();
            entry.0 += agreed.get(c as usize).copied().flatten().unwrap_or(0.0);
            entry.1.push(c);
        }
        let mut over: Vec<(u32, f64, Vec<u32>)> = keys
            .into_iter()
            .filter_map(|(k, (a, mut rows))| {
                let posts = delivered.get(k as usize).copied().unwrap_or(0) as f64;
                rows.sort_unstable();
                (a > 0.0 && posts > OVER_DELIVERY * a).then_some((k, a, rows))
            })
            .collect();
        if over.is_empty() {
            return Ok(None);
        }
        over.sort_by_key(|(_, _, rows)| rows.first().copied());
        let contracts: usize = over.iter().map(|o| o.2.len()).sum();
        let mut named = Vec::new();
        for (k, a, rows) in over.iter().take(NAMED) {
            let spans = rows
                .iter()
                .map(|&r| self.span(r as usize))
                .collect::<Result<Vec<_>>>()?;
            named.push(format!(
                "{}: {} posts for {a} agreed in {}",
                self.describe(rows[0] as usize)?,
                delivered.get(*k as usize).copied().unwrap_or(0),
                spans.join(", ")
            ));
        }
        if over.len() > NAMED {
            named.push(format!("and {} more", over.len() - NAMED));
        }
        let hint = match attribution {
            Attribution::Account => "posts that are no deliverables may be counted: add a campaign column to posts and contracts, or a sponsored column to posts",
            Attribution::Sponsored => "check that these accounts' sponsored posts belong to these contracts (a campaign column in both tables ties them exactly) and the posts agreed",
            Attribution::Campaign => "check the posts agreed and the campaigns of the posts",
        };
        let whose = match attribution {
            Attribution::Campaign => "accounts and campaigns",
            _ => "accounts",
        };
        Ok(Some(format!(
            "delivery_rate: {} {whose} have more than {OVER_DELIVERY} times the posts their {contracts} contracts agreed inside the contract windows ({}); {hint}",
            over.len(),
            named.join("; ")
        )))
    }

    /// A contract's window as text.
    fn span(&self, row: usize) -> Result<String> {
        let text = |c: &str| -> Result<String> {
            let s = self.df.column(c)?.as_materialized_series().cast(&DataType::String)?;
            Ok(s.str()?.get(row).unwrap_or("null").to_string())
        };
        Ok(format!("{}..{}", text(START)?, text(END)?))
    }

    /// A contract's key in words: its account, platform and campaign.
    fn describe(&self, row: usize) -> Result<String> {
        let mut parts = Vec::new();
        for c in ["account_id", "platform", "campaign"] {
            if let Ok(column) = self.df.column(c) {
                let text = column.as_materialized_series().cast(&DataType::String)?;
                parts.push(format!("{c}={}", text.str()?.get(row).unwrap_or("null")));
            }
        }
        Ok(parts.join(" "))
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

/// One row per contract: its columns, then its status and delivery up to `as_of` (days since
/// 1970-01-01): status, delivered, expected_by_now, pace, behind, on_track, remaining,
/// days_left, fee_to_date and cost_per_post (with a fee), engagements and reach of the
/// delivered posts, and the attribution that tied posts to contracts (README, Contracts).
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
                SchemaCode::MissingColumn,
                format!("column '{c}' is missing from contracts; contract_status needs account_id, start, end and posts_agreed"),
            ));
        }
    }
    let posts = super::posts::read_for_contracts(posts_plan, posts, tz)?;
    if let Some(id) = &posts_plan.post_id {
        // a post counted twice would be a deliverable counted twice
        if let Some(e) = super::posts::repeated_error(id, posts.clone(), None, &crate::ids::IdHasher::for_run(), None)?
        {
            return Err(e);
        }
    }
    // only sponsored posts deliver when no campaign ties them (a null flag is not sponsored)
    let posts = match posts_plan.attribution {
        Attribution::Sponsored => posts.filter(col(SPONSORED)),
        _ => posts,
    };
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

    // the schedule: the share of the window's days up to as_of (both ends inclusive)
    let delivered_n = col("delivered").fill_null(lit(0));
    let not_below_zero = |e: Expr| when(e.clone().lt(lit(0))).then(lit(0)).otherwise(e);
    let days = |c: &str| col(c).cast(DataType::Int64);
    let today = || lit(i64::from(as_of));
    let upcoming = || today().lt(days(START));
    let open = || days(END).gt_eq(lit(i64::from(OPEN_END)));
    let window_days = || (days(END) - days(START) + lit(1i64)).cast(DataType::Float64);
    let elapsed = || {
        when(upcoming())
            .then(lit(0i64))
            .when(today().gt(days(END)))
            .then(days(END) - days(START) + lit(1i64))
            .otherwise(today() - days(START) + lit(1i64))
            .cast(DataType::Float64)
    };
    let null_f64 = || lit(NULL).cast(DataType::Float64);
    // agreed x elapsed / days: exact when the share of an integer count is whole
    let expected = when(upcoming())
        .then(lit(0.0))
        .when(open())
        .then(null_f64())
        .otherwise(col("posts_agreed").cast(DataType::Float64) * elapsed() / window_days());
    let delivered_f = || delivered_n.clone().cast(DataType::Float64);
    let mut out = table
        .lazy()
        .join(delivered, [col(ROW)], [col(ROW)], JoinArgs::new(JoinType::Left))
        .sort([ROW], SortMultipleOptions::default())
        .with_columns([
            when(upcoming())
                .then(lit("upcoming"))
                .when(today().gt(days(END)).and(open().not()))
                .then(lit("ended"))
                .otherwise(lit("running"))
                .alias("status"),
            delivered_n.clone().alias("delivered"),
            expected.alias("expected_by_now"),
            when(upcoming())
                .then(lit(NULL).cast(DataType::Int64))
                .otherwise(not_below_zero(col("posts_agreed") - delivered_n.clone()))
                .alias("remaining"),
            when(open())
                .then(lit(NULL).cast(DataType::Int64))
                .otherwise(not_below_zero(days(END) - today()))
                .alias("days_left"),
        ])
        .with_columns([
            when(col("expected_by_now").gt(lit(0.0)))
                .then(delivered_f() / col("expected_by_now"))
                .otherwise(null_f64())
                .alias("pace"),
            // (expected_by_now is never negative: the cast rounds it down)
            not_below_zero(col("expected_by_now").cast(DataType::Int64) - delivered_n.clone()).alias("behind"),
        ])
        .with_column(col("behind").eq(lit(0i64)).alias("on_track"));
    if has_fee {
        // the fee earned by as_of, pro-rated like cost (an open-ended contract: the whole fee)
        let fee = || col("fee").cast(DataType::Float64);
        out = out
            .with_column(
                when(open())
                    .then(fee())
                    .otherwise(fee() * elapsed() / window_days())
                    .alias("fee_to_date"),
            )
            .with_column(
                when(delivered_n.clone().eq(lit(0)))
                    .then(null_f64())
                    .otherwise(col("fee_to_date") / delivered_f())
                    .alias("cost_per_post"),
            );
    }
    let mut order: Vec<Expr> = contracts
        .df
        .get_column_names()
        .iter()
        .map(|c| col(c.as_str()))
        .collect();
    order.extend(
        [
            "status",
            "delivered",
            "expected_by_now",
            "pace",
            "behind",
            "on_track",
            "remaining",
            "days_left",
        ]
        .map(col),
    );
    if has_fee {
        order.extend(["fee_to_date", "cost_per_post"].map(col));
    }
    if posts_cols.get(super::posts::ENG).is_some() {
        order.push(col(super::posts::ENG).alias("engagements"));
    }
    if posts_cols.get("reach").is_some() {
        order.push(col("reach"));
    }
    order.push(lit(posts_plan.attribution.name()).alias("attribution"));
    Ok(out.select(order).collect()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_in_counts_the_pieces_that_split_by_period_makes() -> Result<()> {
        // around month, quarter and year ends, a leap day and a week boundary
        let ranges = [(0, 0), (-3, 40), (58, 425), (10_956, 11_400), (19_000, 19_000 + 800)];
        let calendars = [
            Calendar::default(),
            Calendar::parse("sunday", "4")?,
            Calendar::parse("thursday", "11")?,
        ];
        for calendar in calendars {
            for every in [Period::Day, Period::Week, Period::Month, Period::Quarter, Period::Year] {
                for &(s, e) in &ranges {
                    let (index, _, _) = kernel::split_by_period(&[(s, e)], Some(every), calendar);
                    let n = periods_in(s, e, every, calendar);
                    assert_eq!(n, index.len() as u64, "{s}..{e} at {every:?} in {calendar:?}");
                }
            }
        }
        // the count of an open end is arithmetic, not a walk over the days
        assert_eq!(
            periods_in(0, OPEN_END + 364, Period::Day, Calendar::default()),
            (OPEN_END + 365) as u64
        );
        Ok(())
    }

    #[test]
    fn open_ends_close_at_the_last_day_the_inputs_hold() -> Result<()> {
        let df = df!(
            START => [0i32, 10, 20],
            END => [5i32, OPEN_END + 364, OPEN_END],
        )?
        .lazy()
        .with_columns([col(START).cast(DataType::Date), col(END).cast(DataType::Date)])
        .collect()?;
        let mut c = Contracts {
            df,
            warnings: Vec::new(),
            currency: None,
        };
        assert!(c.has_open_ends()?);
        c.close_open_ends(Some(15))?;
        // the latest start (20) is later than the last post (15): open ends close there
        assert_eq!(c.ranges()?, vec![(0, 5), (10, 20), (20, 20)]);
        assert!(!c.has_open_ends()?);
        assert_eq!(c.warnings.len(), 1);
        Ok(())
    }

    #[test]
    fn over_delivery_is_judged_per_key_over_all_its_contracts() -> Result<()> {
        let df = df!(
            "account_id" => ["a", "b", "a"],
            START => [0i32, 0, 10],
            END => [20i32, 20, 30],
            "posts_agreed" => [1i64, 4, 2],
        )?
        .lazy()
        .with_columns([col(START).cast(DataType::Date), col(END).cast(DataType::Date)])
        .collect()?;
        let c = Contracts {
            df,
            warnings: Vec::new(),
            currency: None,
        };
        // key 0 is a (contracts 0 and 2, 3 agreed), key 1 is b (4 agreed)
        let windows: Vec<Window> = vec![
            (0, 0, 20, u32::MAX, 0),
            (0, 10, 30, u32::MAX, 2),
            (1, 0, 20, u32::MAX, 1),
        ];
        // 4.5 posts for a would be the limit: 4 is not above it, nor are 6 of b's
        assert_eq!(c.over_delivered(&windows, &[4, 6], Attribution::Sponsored)?, None);
        let warning = c
            .over_delivered(&windows, &[5, 7], Attribution::Account)?
            .unwrap_or_default();
        assert!(warning.starts_with("delivery_rate: 2 accounts have more than 1.5 times the posts their 3 contracts"));
        assert!(
            warning.contains("account_id=a: 5 posts for 3 agreed in 1970-01-01..1970-01-21, 1970-01-11..1970-01-31")
        );
        assert!(warning.contains("account_id=b: 7 posts for 4 agreed in 1970-01-01..1970-01-21"));
        Ok(())
    }

    #[test]
    fn sponsored_flags_read_as_an_analyst_means_them() -> Result<()> {
        let df = df!(
            "n" => [Some(1i64), Some(0), Some(2), None],
            "t" => [Some(" Yes"), Some("no"), Some("TRUE"), None],
        )?;
        for (name, expected) in [
            ("n", [Some(true), Some(false), Some(true), None]),
            ("t", [Some(true), Some(false), Some(true), None]),
        ] {
            let dtype = df.column(name)?.dtype().clone();
            let flag = df
                .clone()
                .lazy()
                .select([col(name).alias("sponsored")])
                .select([sponsored_flag(&dtype)?.alias("f")])
                .collect()?;
            assert_eq!(flag.column("f")?.bool()?.iter().collect::<Vec<_>>(), expected, "{name}");
        }
        assert!(sponsored_flag(&DataType::Date).is_err());
        Ok(())
    }
}

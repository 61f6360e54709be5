//! Posts -> additive partial states at the output grain: the needed columns are read a slice
//! (or a streamed batch) at a time and added by the kernel's pass (see `pass`). The readers of
//! slices (and of their columns from Parquet pages) and of the rows `dedupe="last"` keeps are
//! in `read`; the ways batches reach the pass (slices, CSV blocks, a polars stream, the parts
//! of `dedupe="last"`) in `feed`; the repeat check's re-read of the ids in `repeats`.

mod feed;
mod read;
mod repeats;

use super::accounts::Snapshots;
use super::contracts::{self, Contracts, Window};
use super::dedupe::Kept;
use super::derived;
use super::kernel::{FollowerIndex, WindowIndex, ACCOUNT, NO_DAY};
use super::parquet::Indexed;
use super::pass::{self, Dict, Grouping, Pairs, Periods};
use super::spill;
use super::states::States;
use super::{
    collect, first_u64, followers_at_post_names, nonnull_name, ratio_names, select_columns, sum_name, RowAccount, ALL,
};
use crate::error::{Error, Result};
use crate::error::{InputCode, SchemaCode};
use crate::ids::IdHasher;
use crate::ingest;
use crate::plan::{Attribution, CustomState, Dedupe, Metric, Plan, PostsPlan, StateKind, TextTest, PERIOD};
use crate::schema::{Source, StateColumn};
use polars::prelude::*;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;
use read::{last_rows, PageRead, SliceReader};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

pub(super) use crate::periods::DAY;
pub(crate) use crate::plan::ENG;
pub(super) use repeats::repeated_error;
/// Per-post engagement rate (eng / reach where reach > 0).
const PER_POST_ENGAGEMENT_RATE: &str = "__per_post_engagement_rate";
// Rows of a group without a follower snapshot by their day.
use crate::schema::WITHOUT_FOLLOWERS as NO_FOLLOWERS_AT_POST;
// Rows of a group whose last snapshot by their day is older than `max_staleness`.
use crate::schema::WITH_STALE_FOLLOWERS as STALE_FOLLOWERS_AT_POST;
pub(super) const TABLE: &str = "posts";

fn metric_column(m: &Metric) -> &str {
    match m {
        Metric::Column(c) => c.as_str(),
        Metric::Eng => ENG,
    }
}

/// The smallest present value of a count column, or, when no value is negative, a number that
/// is not negative either. The sign bits of the whole values buffer are or-ed first, the slots
/// under nulls with them (one vectorised pass, memory-bound); only when one is set does the
/// minimum over the present values decide.
/// Also returns the or of the bits: for integers without a sign bit, the or of their
/// magnitudes, which bounds their sums (`overflow::bound`).
fn lower_bound<T>(ca: &ChunkedArray<T>, bits: impl Fn(T::Native) -> u64) -> (Option<T::Native>, u64)
where
    T: PolarsNumericType,
    ChunkedArray<T>: ChunkAgg<T::Native>,
{
    let signs = ca
        .downcast_iter()
        .map(|a| a.values().iter().fold(0u64, |acc, &v| acc | bits(v)))
        .fold(0u64, |a, b| a | b);
    if signs >> 63 == 0 {
        (Some(T::Native::default()), signs)
    } else {
        (ca.min(), signs)
    }
}

/// The negative values of a column (error path only).
fn negatives(lf: LazyFrame, column: &str) -> u64 {
    collect(lf.select([col(column).lt(lit(0)).sum().cast(DataType::UInt64).alias("n")]))
        .map(|df| first_u64(&df, "n"))
        .unwrap_or(0)
}

/// The error of a column with `n` negative values.
fn negative_error(column: &str, n: u64) -> Error {
    Error::input(
        InputCode::NegativeValue,
        format!("column '{column}' of posts has {n} negative values; counts cannot be negative. Fix or filter those rows before computing"),
    )
}

/// Reads the columns the plan needs: counts coerced, times reduced to days in the report zone.
fn read(tz: Option<&str>, pp: &PostsPlan, mut lf: LazyFrame) -> Result<LazyFrame> {
    let mut extra = Vec::new();
    if pp.attribution == Attribution::Sponsored {
        if let Some(dtype) = lf.collect_schema()?.get("sponsored") {
            extra.push(contracts::sponsored_flag(dtype)?.alias(contracts::SPONSORED));
        }
    }
    let coerce = |c: &str, dtype: &DataType| -> Result<Expr> {
        Ok(if pp.count_columns.iter().any(|k| k == c) {
            ingest::count_expr(c, dtype, TABLE)?
        } else if c == "published_at" {
            ingest::day_expr(c, dtype, tz, TABLE)?.alias(DAY)
        } else if matches!(dtype, DataType::List(_)) {
            // ids, keys and dimensions are compared whole: a list is none of them
            return Err(Error::schema(
                SchemaCode::UnsupportedType,
                format!("column '{c}' of posts holds lists ({dtype}), which cannot be an id, a key or a dimension; explode it, or join its values into text first, e.g. pl.col('{c}').list.join(',')"),
            ));
        } else if c == "sponsored" && (dtype.is_integer() || dtype.is_float()) {
            // 0/1 integers: the yes/no they mean (the formulas see it as one, see plan)
            col(c).neq(lit(0))
        } else {
            col(c)
        })
    };
    select_columns(lf, TABLE, &pp.columns, coerce, extra)
}

/// Adds what each post adds up besides its columns: its engagements, its engagement rate by
/// reach, and the computed columns of formulas (in Int64 or Float64, as the states add, or
/// Boolean for conditions).
fn prepare(pp: &PostsPlan, mut batch: DataFrame) -> Result<DataFrame> {
    let mut quotients = Cow::Borrowed(pp.custom.quotients.as_slice());
    if let Some(eng) = derived::engagements(&batch, &pp.components, &pp.platform_components)? {
        batch.with_column(eng.into_column())?;
        if pp.per_post_engagement_rate {
            // eng / reach where reach > 0 (reach is never negative: the pass fails then)
            quotients.to_mut().push((
                PER_POST_ENGAGEMENT_RATE.to_string(),
                ENG.to_string(),
                "reach".to_string(),
            ));
        }
    }
    for q in derived::quotients(&batch, &quotients)? {
        batch.with_column(q.into_column())?;
    }
    if pp.custom.computed.is_empty() {
        return Ok(batch);
    }
    let mut lf = super::with_levels(batch.lazy(), &pp.custom.computed);
    let schema = lf.collect_schema()?;
    let casts: Vec<Expr> = pp
        .custom
        .computed
        .iter()
        .filter_map(|(name, _, _)| {
            let dtype = schema.get(name.as_str())?;
            let target = if pp.custom.conditions.contains(name) {
                DataType::Boolean
            } else if dtype.is_integer() || dtype.is_bool() || matches!(dtype, DataType::Null) {
                DataType::Int64
            } else {
                DataType::Float64
            };
            (dtype != &target).then(|| col(name.as_str()).cast(target))
        })
        .collect();
    if !casts.is_empty() {
        lf = lf.with_columns(casts);
    }
    Ok(lf.collect()?)
}

/// The posts columns of `contract_status`: the contract match, the day, engagements, reach.
pub(super) fn read_for_contracts(pp: &PostsPlan, lf: LazyFrame, tz: Option<&str>) -> Result<LazyFrame> {
    Ok(prepare(pp, collect(read(tz, pp, lf)?)?)?.lazy())
}

/// The states each batch adds to: which sums, counts and followers-at-post sums.
fn state_ops(pp: &PostsPlan) -> Vec<CustomState> {
    let column = |m: &Metric| metric_column(m).to_string();
    let mut ops = Vec::new();
    for m in &pp.sums {
        ops.push(CustomState {
            column: column(m),
            kind: StateKind::Sum {
                sum: sum_name(m),
                count: Some(nonnull_name(m)),
                mask: None,
                filter: None,
            },
        });
    }
    for (a, b) in &pp.ratios {
        // rule 1: both sums over the rows where both inputs are present
        let (n, d) = ratio_names(a, b);
        ops.push(CustomState {
            column: column(a),
            kind: StateKind::Sum {
                sum: n,
                count: None,
                mask: Some(column(b)),
                filter: None,
            },
        });
        ops.push(CustomState {
            column: column(b),
            kind: StateKind::Sum {
                sum: d,
                count: None,
                mask: Some(column(a)),
                filter: None,
            },
        });
    }
    if pp.per_post_engagement_rate {
        ops.push(CustomState {
            column: PER_POST_ENGAGEMENT_RATE.into(),
            kind: StateKind::Sum {
                sum: StateColumn::PerPostEngagementRate.name(),
                count: Some(StateColumn::PerPostEngagementRateCount.name()),
                mask: None,
                filter: None,
            },
        });
    }
    for m in &pp.at_followers {
        let (num, den) = followers_at_post_names(m);
        ops.push(CustomState {
            column: column(m),
            kind: StateKind::AtFollowers { num, den },
        });
    }
    ops.extend(pp.custom.states.iter().cloned());
    ops
}

/// A key of one or more columns as one code per row: the first column's codes, combined
/// with each next column's through a `Pairs` of its own.
#[derive(Clone)]
struct Key {
    dicts: Vec<usize>,
    pairs: Vec<Pairs>,
}

impl Key {
    fn new(dicts: Vec<usize>) -> Self {
        let pairs = (1..dicts.len()).map(|_| Pairs::default()).collect();
        Self { dicts, pairs }
    }

    /// The key's codes of a batch's rows: those of its one column as they are (no copy), or
    /// its columns' codes combined.
    fn codes<'a>(&mut self, codes: &'a [Vec<u32>]) -> Cow<'a, [u32]> {
        let Some((&first, rest)) = self.dicts.split_first() else {
            return Cow::Borrowed(&[]);
        };
        let mut out = Cow::Borrowed(codes[first].as_slice());
        for (pairs, &d) in self.pairs.iter_mut().zip(rest) {
            out = Cow::Owned(pairs.combine(&out, &codes[d]));
        }
        out
    }

    fn len(&self, dicts: &[Dict]) -> usize {
        match (self.pairs.last(), self.dicts.first()) {
            (Some(p), _) => p.len(),
            (None, Some(&a)) => dicts[a].len(),
            _ => 0,
        }
    }
}

/// What ties a post to a contract window: its key's codes (account, and platform and campaign
/// when matched) looked up in the windows, the dictionary of content types when a window
/// names one, and whether only sponsored posts deliver (no campaign ties them).
struct Delivery {
    key: Key,
    types: Option<usize>,
    index: WindowIndex,
    sponsored_only: bool,
}

/// A batch's followers-at-post (NaN where unknown), the rows where it is unknown, and for
/// each of those whether its account has a snapshot by then (a stale one) or none yet.
fn followers_at_post(
    key: &mut Key,
    index: &FollowerIndex,
    codes: &[Vec<u32>],
    days: &[i32],
) -> (Vec<f64>, Vec<u32>, Vec<bool>) {
    let accounts = key.codes(codes);
    let followers_at_post = pass::followers_at(index, &accounts, days);
    let unknown: Vec<u32> = (0..followers_at_post.len() as u32)
        .filter(|&r| followers_at_post[r as usize].is_nan())
        .collect();
    // (only the posts without followers are looked at again)
    let stale = unknown
        .iter()
        .map(|&r| index.has_snapshot_by(accounts[r as usize], days.get(r as usize).copied().unwrap_or(NO_DAY)))
        .collect();
    (followers_at_post, unknown, stale)
}

/// The column `name` as a batch of `rows` rows read it from its pages (None: it did not).
fn from_pages<'a>(pages: &'a [(String, Indexed)], name: &str, rows: usize) -> Result<Option<&'a Indexed>> {
    match pages.iter().find(|(read, _)| read == name) {
        Some((_, indexed)) if indexed.indices().len() == rows => Ok(Some(indexed)),
        Some(_) => Err(Error::Internal(format!(
            "column '{name}' read from pages has another length"
        ))),
        None => Ok(None),
    }
}

/// Codes of the `only` dictionaries' columns of a frame, or of those read from pages
/// (`pages`; empty for the others). The dictionaries encode their columns on polars'
/// threads, side by side.
fn encode(
    dicts: &mut [Dict],
    names: &[String],
    frame: &DataFrame,
    pages: &[(String, Indexed)],
    only: &[usize],
) -> Result<Vec<Vec<u32>>> {
    let work: Vec<(usize, &mut Dict)> = dicts.iter_mut().enumerate().filter(|(i, _)| only.contains(i)).collect();
    let encoded: Vec<(usize, Result<Vec<u32>>)> = THREAD_POOL.install(|| {
        work.into_par_iter()
            .map(|(i, dict)| {
                let codes = from_pages(pages, &names[i], frame.height()).and_then(|read| match read {
                    Some(indexed) => dict.encode_indexed(indexed),
                    None => frame
                        .column(&names[i])
                        .map_err(Error::from)
                        .and_then(|c| dict.encode(c)),
                });
                (i, codes)
            })
            .collect()
    });
    let mut codes = vec![Vec::new(); dicts.len()];
    for (i, c) in encoded {
        codes[i] = c?;
    }
    Ok(codes)
}

/// The repeat check's id column, how it hashes the ids, and each batch's hashes split into parts.
type IdCheck = (String, IdHasher, spill::IdHashes);

/// A batch's followers-at-post (NaN where unknown) and the rows where it is unknown.
type AtPost = (Vec<f64>, Vec<u32>);

/// A batch's groups, how many groups there are, its followers-at-post, and the condition
/// columns of its text tests.
type Grouped = (Vec<u32>, usize, Option<AtPost>, Vec<Column>);

/// The followers-at-post lookup a fresh pass builds from the snapshots, as `memo` keeps it:
/// the account key's dictionaries after the snapshots' accounts took their codes, the key,
/// and the index.
pub(in crate::exec) struct FollowerLookup {
    dicts: Vec<(usize, Dict)>,
    key: Key,
    index: Arc<FollowerIndex>,
}

/// Everything the posts pass keeps between batches.
struct PostsPass {
    names: Vec<String>,
    dicts: Vec<Dict>,
    /// Dictionaries of the grain columns, in grain order.
    grain: Vec<usize>,
    periods: Option<Periods>,
    grouping: Grouping,
    followers: Option<(Key, Arc<FollowerIndex>)>,
    contracts: Option<Delivery>,
    /// The contract windows (for the over-delivery warning).
    windows: Vec<Window>,
    states: States,
    rows: Vec<i64>,
    no_followers_at_post: Vec<i64>,
    stale_followers_at_post: Vec<i64>,
    delivered: Vec<i64>,
    /// Delivered posts per contract key (the over-delivery check).
    delivered_keys: Vec<u64>,
    read: u64,
    id: Option<IdCheck>,
    /// Smallest value of each count column that must not be negative.
    mins: Vec<(String, f64)>,
    currencies: Option<BTreeSet<String>>,
}

impl PostsPass {
    fn codes_of(&mut self, frame: &DataFrame, only: &[usize]) -> Result<Vec<Vec<u32>>> {
        encode(&mut self.dicts, &self.names, frame, &[], only)
    }

    /// The checks of a batch (negative counts, currencies, id hashes for the repeat check).
    /// `magnitudes`: for each Int64 count column without negative values, the or of its
    /// values (the states' overflow bound reads it instead of a pass of its own).
    fn check(
        batch: &DataFrame,
        mins: &mut [(String, f64)],
        currencies: &mut Option<BTreeSet<String>>,
        id: &mut Option<IdCheck>,
        id_hashes: Option<Vec<Vec<u64>>>,
        magnitudes: &mut Vec<(String, u64)>,
    ) -> Result<()> {
        for (c, min) in mins.iter_mut() {
            // on the typed array (SIMD, no conversion)
            let values = batch.column(c)?.as_materialized_series();
            let m = match values.dtype() {
                DataType::Int64 => {
                    let (m, or) = lower_bound(values.i64()?, |v| v as u64);
                    if or >> 63 == 0 {
                        magnitudes.push((c.clone(), or));
                    }
                    m.map(|v| v as f64)
                }
                _ => lower_bound(values.f64()?, f64::to_bits).0,
            };
            if let Some(m) = m {
                *min = min.min(m);
            }
        }
        if let Some(set) = currencies {
            let values = batch
                .column("currency")?
                .as_materialized_series()
                .cast(&DataType::String)?;
            for v in values.unique()?.str()?.iter().flatten() {
                set.insert(v.to_string());
            }
        }
        if let Some((id, hasher, hashes)) = id {
            // split now, beside the grouping, so that the check at the end only looks up
            hashes.push(match id_hashes {
                Some(read) => read,
                None => crate::ids::split_id_hashes(batch.column(id.as_str())?, hasher)?,
            })?;
        }
        Ok(())
    }

    /// Adds a batch as read; `pp` prepares it (see `prepare`) beside the checks and the grouping.
    /// `read`: what was read of the batch from its pages (those columns are not in `batch`).
    fn add(&mut self, batch: DataFrame, pp: &PostsPlan, read: PageRead) -> Result<()> {
        let n = batch.height();
        if n == 0 {
            return Ok(());
        }
        self.read += n as u64;
        let PostsPass {
            names,
            dicts,
            grain,
            periods,
            grouping,
            followers,
            contracts,
            states,
            rows,
            no_followers_at_post,
            stale_followers_at_post,
            delivered,
            delivered_keys,
            id,
            mins,
            currencies,
            ..
        } = self;
        let PageRead { id_hashes, keys } = read;
        // the checks run beside the grouping, the states after it, all on polars' threads
        let grouped = || -> Result<Grouped> {
            let all: Vec<usize> = (0..dicts.len()).collect();
            // the text tests (which read no codes) beside the codes and the days
            let text_test = |t: &TextTest| match from_pages(&keys, &t.column, n)? {
                Some(read) => derived::text_test_indexed(t, read),
                None => derived::text_test(t, batch.column(&t.column)?),
            };
            let ((codes, tested), days) = rayon::join(
                || {
                    rayon::join(
                        || encode(dicts, names, &batch, &keys, &all),
                        || pp.custom.text_tests.iter().map(text_test).collect::<Result<Vec<_>>>(),
                    )
                },
                || match batch.column(DAY) {
                    Ok(c) => pass::days(c),
                    Err(_) => Ok(Default::default()),
                },
            );
            let (codes, tested, days) = (codes?, tested?, days?);
            // the groups, followers-at-post and delivery side by side: each reads the codes
            let ((groups, ng), (at_post, delivery)) = rayon::join(
                || {
                    let period_codes = periods.as_mut().map(|p| p.encode(&days));
                    let mut parts: Vec<&[u32]> = grain.iter().map(|&i| codes[i].as_slice()).collect();
                    if let Some(p) = &period_codes {
                        parts.push(p);
                    }
                    (grouping.groups(&parts, n), grouping.len())
                },
                || {
                    rayon::join(
                        || {
                            followers
                                .as_mut()
                                .map(|(key, index)| followers_at_post(key, index, &codes, &days))
                        },
                        || {
                            contracts.as_mut().map(|d| -> Result<_> {
                                let keys = d.key.codes(&codes);
                                let types = d.types.map(|t| codes[t].as_slice());
                                let sponsored = match d.sponsored_only {
                                    // (a null flag is not sponsored)
                                    true => Some(super::states::truth(batch.column(contracts::SPONSORED)?)?),
                                    false => None,
                                };
                                let rows = pass::delivered_rows(&d.index, &keys, &days, types, sponsored.as_ref());
                                Ok((keys, rows))
                            })
                        },
                    )
                },
            );
            pass::count_into(rows, ng, &groups, |_| true);
            let followers_at_post = at_post.map(|(followers_at_post, unknown, stale)| {
                no_followers_at_post.resize(ng, 0);
                stale_followers_at_post.resize(ng, 0);
                for (&r, &stale) in unknown.iter().zip(&stale) {
                    let counts = match stale {
                        true => &mut *stale_followers_at_post,
                        false => &mut *no_followers_at_post,
                    };
                    counts[groups[r as usize] as usize] += 1;
                }
                (followers_at_post, unknown)
            });
            if let Some((keys, rows)) = delivery.transpose()? {
                pass::count_delivered(delivered, delivered_keys, ng, &groups, &keys, &rows);
            }
            Ok((groups, ng, followers_at_post, tested))
        };
        let mut magnitudes = Vec::new();
        let (checked, (grouped, prepared)) = THREAD_POOL.install(|| {
            rayon::join(
                || Self::check(&batch, mins, currencies, id, id_hashes, &mut magnitudes),
                || rayon::join(grouped, || prepare(pp, batch.clone())),
            )
        });
        checked?;
        let (groups, ng, followers_at_post, tested) = grouped?;
        let mut batch = prepared?;
        for condition in tested {
            batch.with_column(condition)?;
        }
        // each post's engagements inside the Int64 range (their components' magnitudes tell)
        if let Some(or) = derived::check_engagements(&batch, &pp.components, &pp.platform_components, &magnitudes)? {
            magnitudes.push((ENG.to_string(), or));
        }
        let (followers_at_post, unknown) = match &followers_at_post {
            Some((followers_at_post, unknown)) => (Some(followers_at_post.as_slice()), unknown.as_slice()),
            None => (None, &[][..]),
        };
        THREAD_POOL.install(|| states.add(&batch, &groups, ng, followers_at_post, unknown, &magnitudes))
    }

    /// The states frame: one row per group with its keys.
    fn finish(self, grain_names: &[String], with_period: bool) -> Result<DataFrame> {
        let ng = if self.read == 0 { 0 } else { self.grouping.len() };
        let split = if ng == 0 {
            vec![Vec::new(); grain_names.len() + usize::from(with_period)]
        } else {
            self.grouping.split()
        };
        let mut columns = Vec::new();
        for (j, (&d, name)) in self.grain.iter().zip(grain_names).enumerate() {
            columns.push(
                self.dicts[d]
                    .take(&split[j])?
                    .with_name(name.as_str().into())
                    .into_column(),
            );
        }
        if let (Some(p), true) = (&self.periods, with_period) {
            let starts = split[grain_names.len()].iter().map(|&c| p.starts[c as usize]).collect();
            columns.push(super::period_column(starts)?);
        }
        if columns.is_empty() {
            columns.push(Column::new(ALL.into(), vec![true; ng]));
        }
        let sized = |mut v: Vec<i64>| {
            v.resize(ng, 0);
            v
        };
        let states = self.states.finish(ng, &self.rows)?;
        columns.push(Column::new(
            StateColumn::Rows(Source::Posts).name().into(),
            sized(self.rows),
        ));
        if self.followers.is_some() {
            columns.push(Column::new(
                NO_FOLLOWERS_AT_POST.into(),
                sized(self.no_followers_at_post),
            ));
            columns.push(Column::new(
                STALE_FOLLOWERS_AT_POST.into(),
                sized(self.stale_followers_at_post),
            ));
        }
        if self.contracts.is_some() {
            columns.push(Column::new(StateColumn::Delivered.name().into(), sized(self.delivered)));
        }
        columns.extend(states);
        Ok(DataFrame::new(ng, columns)?)
    }
}

/// Whether a key column is typed differently in posts and another table (they then meet as text).
fn differs(posts: &Schema, other: &DataFrame, name: &str) -> bool {
    other.schema().get(name).is_some_and(|t| Some(t) != posts.get(name))
}

/// The posts' partial states at the output grain `keys`, from one streaming pass. (The
/// snapshots and contracts are the lookups of followers-at-post and delivery; `slices`, when
/// given, the row ranges the table is read by, and `parquet` the files they are row groups of.)
/// With `keep_post_ids`, the ids are hashed as states keep them, and their distinct hashes
/// come with the states when the pass checked them all in memory (None otherwise).
#[allow(clippy::too_many_arguments)]
pub(super) fn states(
    plan: &Plan,
    pp: &PostsPlan,
    lf: LazyFrame,
    accounts: &super::Loaded,
    contracts: Option<&Contracts>,
    slices: Option<&[(i64, usize)]>,
    parquet: Option<&[crate::ingest::ParquetFile]>,
    csv: Option<&[ingest::csv::CsvFile]>,
    interrupted: super::Interrupt<'_>,
    keys: &[String],
    rows: &mut RowAccount,
    memory_limit: Option<u64>,
    keep_post_ids: bool,
) -> Result<(DataFrame, Option<Vec<u64>>)> {
    let started = std::time::Instant::now();
    let snapshots = accounts.snapshots.as_deref();
    let mut lf = read(plan.tz.as_deref(), pp, lf)?;
    // the columns of a batch once prepared
    let schema = prepare(pp, DataFrame::empty_with_schema(lf.collect_schema()?.as_ref()))?
        .schema()
        .as_ref()
        .clone();
    let grain = pass_grain(plan, pp);
    let names = coded_columns(plan, pp, &grain);
    // (the hashes that states keep of their posts, when they are kept, else the run's own)
    let hasher = if keep_post_ids {
        IdHasher::Stable
    } else {
        IdHasher::for_run()
    };
    // Slices are read on threads of their own, one ahead of the pass (memory holds two): the
    // first one starts now, while the pass's lookups are built.
    let reads_slices = slices.filter(|_| plan.dedupe == Dedupe::Error);
    // (the columns of text tests are read from pages like keys, though not encoded)
    let mut page_keys = names.clone();
    for t in &pp.custom.text_tests {
        crate::plan::push_unique(&mut page_keys, t.column.clone());
    }
    let reader = SliceReader::new(plan, pp, &lf, reads_slices.and(parquet), &page_keys, &hasher)?;
    let pending = reads_slices.and_then(|s| s.first()).map(|&s| reader.start(s));
    let ids = spill::IdHashes::new(memory_limit);
    let mut pass = PostsPass::new(plan, pp, &schema, &grain, names, snapshots, contracts, (&hasher, ids))?;
    let followers_at_post_needed = pass.look_up_followers(plan, pp, snapshots, accounts.made.as_deref())?;
    let prepared = pass.prepare_states(pp, &schema)?;
    pass.look_up_contracts(pp, contracts)?;
    // CSV files are read by blocks (and their ids again by blocks, should hashes repeat)
    let csv = csv.filter(|_| reads_slices.is_none() && plan.dedupe == Dedupe::Error);
    let blocks = csv.map(|files| ingest::csv::CsvBlocks::new(files.to_vec()));
    let asked = slices.map(<[_]>::len).or(blocks.as_ref().map(|b| b.count()));
    // (the check of spilled hashes, and the parts of dedupe='last', read them all again:
    // Ctrl-C is asked meanwhile, as between slices and blocks; posts streamed by polars are
    // never asked)
    let stop = || asked.is_some_and(|n| interrupted(n, n));
    let mut negative: Option<Vec<(String, u64)>> = None;
    let mut pass = match (&pp.post_id, plan.dedupe) {
        (Some(id), Dedupe::Last) => {
            let reading = std::time::Instant::now();
            let last = last_rows(plan, pp, id, &lf, slices, parquet, interrupted, memory_limit)?;
            let read = last.read();
            rows.read.push((TABLE.to_string(), read));
            let last = last.finish()?;
            if let Kept::Parts(parts) = &last {
                rows.stages.push(("posts_dedupe_write_s".into(), parts.writing));
            }
            rows.stages
                .push(("posts_dedupe_read_s".into(), reading.elapsed().as_secs_f64()));
            let kept = match last {
                Kept::Memory(df) => {
                    let kept = df.height() as u64;
                    lf = df.lazy();
                    pass = pass.add_stream(&lf, &prepared)?;
                    kept
                }
                Kept::Parts(parts) => {
                    let taking = std::time::Instant::now();
                    let (kept, counted, adding) = pass.add_parts(*parts, &prepared, &stop)?;
                    // (the parts' reading and keeping, without the pass's own work)
                    let parts_s = taking.elapsed().as_secs_f64() - adding;
                    rows.stages.push(("posts_dedupe_parts_s".into(), parts_s));
                    negative = Some(counted);
                    kept
                }
            };
            rows.drop(
                TABLE,
                "duplicate post_id (dedupe='last' kept the last row)",
                read.saturating_sub(kept),
            );
            pass
        }
        _ => match (reads_slices, blocks) {
            (Some(slices), _) => pass.add_slices(slices, pending, &reader, &prepared, interrupted)?,
            (None, Some(blocks)) => pass.add_blocks(blocks, (plan.tz.as_deref(), pp), &prepared, interrupted)?,
            (None, None) => pass.add_stream(&lf, &prepared)?,
        },
    };
    let checked = std::time::Instant::now();
    let post_ids = pass.check_repeats(&lf, csv, keep_post_ids, &stop)?;
    rows.stages
        .push(("posts_repeat_check_s".into(), checked.elapsed().as_secs_f64()));
    let count_negatives = |c: &str| match &negative {
        Some(counted) => counted.iter().find(|(name, _)| name == c).map_or(0, |(_, n)| *n),
        None => negatives(lf.clone(), c),
    };
    pass.check_table(&count_negatives, contracts)?;
    if plan.dedupe == Dedupe::Error {
        rows.read.push((TABLE.to_string(), pass.read));
    }
    if let Some(c) = contracts.filter(|_| pp.delivered) {
        let warning = c.over_delivered(&pass.windows, &pass.delivered_keys, pp.attribution)?;
        rows.warnings.extend(warning);
    }
    let df = pass.finish(&grain, plan.every.is_some())?;
    rows.stages
        .push(("posts_pass_s".into(), started.elapsed().as_secs_f64()));
    let df = drop_ungrouped(plan, pp, df, followers_at_post_needed, rows)?;
    let started = std::time::Instant::now();
    let df = roll_up(plan, pp, df, grain, keys, snapshots)?;
    rows.stages
        .push(("posts_rollup_s".into(), started.elapsed().as_secs_f64()));
    Ok((df, post_ids))
}

/// The grain of the pass: the dimensions (and the account when account attributes are
/// joined later).
fn pass_grain(plan: &Plan, pp: &PostsPlan) -> Vec<String> {
    let mut grain: Vec<String> = pp.dims.clone();
    if !pp.attribute_dims.is_empty() {
        for k in &plan.account_key {
            if !grain.contains(k) {
                grain.push(k.clone());
            }
        }
    }
    grain
}

/// Whether the pass looks up each post's followers.
fn needs_followers_at_post(pp: &PostsPlan) -> bool {
    !pp.at_followers.is_empty() || pp.custom.followers_at_post
}

/// The columns the pass encodes to codes: the grain, the account key of followers-at-post,
/// and what ties a post to its contract.
fn coded_columns(plan: &Plan, pp: &PostsPlan, grain: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut extra: Vec<&String> = grain.iter().collect();
    if needs_followers_at_post(pp) {
        extra.extend(&plan.account_key);
    }
    if pp.delivered {
        extra.extend(&pp.contract_match);
    }
    for k in extra {
        if !names.contains(k) {
            names.push(k.clone());
        }
    }
    names
}

impl PostsPass {
    /// An empty pass over batches of `schema`, grouping by `grain` and encoding `names`.
    #[allow(clippy::too_many_arguments)]
    fn new(
        plan: &Plan,
        pp: &PostsPlan,
        schema: &Schema,
        grain: &[String],
        names: Vec<String>,
        snapshots: Option<&Snapshots>,
        contracts: Option<&Contracts>,
        (hasher, ids): (&IdHasher, spill::IdHashes),
    ) -> Result<Self> {
        let mut dicts = Vec::new();
        for name in &names {
            let dtype = schema.get(name.as_str()).ok_or_else(|| {
                Error::schema(
                    SchemaCode::MissingColumn,
                    format!("column '{name}' is missing from posts"),
                )
            })?;
            // a key compared with the snapshots' or contracts' of another type is compared as text
            let force_text = snapshots
                .is_some_and(|s| plan.account_key.contains(name) && differs(schema, s.frame(), name))
                || contracts.is_some_and(|c| pp.contract_match.contains(name) && differs(schema, &c.df, name));
            dicts.push(Dict::new(dtype, force_text));
        }
        Ok(PostsPass {
            grain: grain
                .iter()
                .map(|g| names.iter().position(|n| n == g).unwrap_or(0))
                .collect(),
            names,
            dicts,
            periods: plan.every.map(|every| Periods::new(every, plan.calendar)),
            grouping: Grouping::new(grain.len() + usize::from(plan.every.is_some())),
            followers: None,
            contracts: None,
            windows: Vec::new(),
            states: States::default(),
            rows: Vec::new(),
            no_followers_at_post: Vec::new(),
            stale_followers_at_post: Vec::new(),
            delivered: Vec::new(),
            delivered_keys: Vec::new(),
            read: 0,
            id: match (&pp.post_id, plan.dedupe) {
                (Some(id), Dedupe::Error) => Some((id.clone(), hasher.clone(), ids)),
                _ => None,
            },
            mins: pp
                .count_columns
                .iter()
                .filter(|c| !pp.signed_columns.contains(c))
                .map(|c| (c.clone(), f64::INFINITY))
                .collect(),
            currencies: pp.currency.then(BTreeSet::new),
        })
    }

    /// The dictionary of a coded column.
    fn index(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).unwrap_or(0)
    }

    /// A key over coded columns.
    fn key(&self, columns: &[String]) -> Key {
        Key::new(columns.iter().map(|c| self.index(c)).collect())
    }

    /// Followers-at-post looks rows up by codes: the accounts of the snapshots take their
    /// codes first (in a fresh pass, so the same codes in every run of the request), or the
    /// memo's lookup when an earlier run made it. Whether the pass looks followers up.
    fn look_up_followers(
        &mut self,
        plan: &Plan,
        pp: &PostsPlan,
        snapshots: Option<&Snapshots>,
        made: Option<&super::memo::Made>,
    ) -> Result<bool> {
        if !needs_followers_at_post(pp) {
            return Ok(false);
        }
        let snaps = snapshots.ok_or_else(|| Error::Internal("followers-at-post without snapshots".into()))?;
        let k = self.key(&plan.account_key);
        let kept = made.and_then(|m| m.followers.get()).filter(|kept| {
            // (the memo is per request, not per posts schema: a key typed otherwise in these
            // posts is coded otherwise)
            kept.dicts.len() == k.dicts.len()
                && kept
                    .dicts
                    .iter()
                    .zip(&k.dicts)
                    .all(|((i, d), &j)| *i == j && d.same_kind(&self.dicts[j]))
        });
        if let Some(kept) = kept {
            for (i, dict) in &kept.dicts {
                self.dicts[*i] = dict.clone();
            }
            self.followers = Some((kept.key.clone(), kept.index.clone()));
            return Ok(true);
        }
        let mut k = k;
        let frame = snaps.with_followers()?;
        let codes = self.codes_of(&frame, &k.dicts)?;
        let accounts = k.codes(&codes);
        let index = Arc::new(Snapshots::follower_index(
            &frame,
            &accounts,
            k.len(&self.dicts),
            plan.max_staleness,
        )?);
        if let Some(m) = made {
            let dicts = k.dicts.iter().map(|&i| (i, self.dicts[i].clone())).collect();
            let _ = m.followers.set(FollowerLookup {
                dicts,
                key: k.clone(),
                index: index.clone(),
            });
        }
        self.followers = Some((k, index));
        Ok(true)
    }

    /// The states the pass adds up, and the plan batches are prepared by: the linear columns
    /// that the states add up from their terms, the quotients they divide as they add, and
    /// the conditions of text tests (made by the pass) are not computed.
    fn prepare_states(&mut self, pp: &PostsPlan, schema: &Schema) -> Result<Arc<PostsPlan>> {
        let integral = self.followers.as_ref().is_some_and(|(_, index)| index.integral());
        let custom = &pp.custom;
        let quotients: Vec<_> = custom
            .quotients
            .iter()
            .filter(|(q, _, _)| !custom.computed_reads.contains(q))
            .cloned()
            .collect();
        self.states = States::new(state_ops(pp), schema, integral, &custom.linear, &quotients)?;
        let reads = self.states.reads();
        let unread = |name: &String| custom.linear.iter().any(|(l, _)| l == name) && !reads.contains(&name.as_str());
        // text tests are made by the pass (`derived::text_test`), not by polars
        let tested = |name: &String| custom.text_tests.iter().any(|t| t.condition == *name);
        let mut prepared = pp.clone();
        prepared
            .custom
            .computed
            .retain(|(name, _, _)| !unread(name) && !tested(name));
        prepared
            .custom
            .quotients
            .retain(|(q, _, _)| reads.contains(&q.as_str()) || custom.computed_reads.contains(q));
        Ok(Arc::new(prepared))
    }

    /// Delivery looks rows up by codes: the keys of the contracts take their codes first.
    fn look_up_contracts(&mut self, pp: &PostsPlan, contracts: Option<&Contracts>) -> Result<()> {
        if !pp.delivered {
            return Ok(());
        }
        let c = contracts.ok_or_else(|| Error::Internal("delivery without contracts".into()))?;
        let on: Vec<String> = pp
            .contract_match
            .iter()
            .filter(|m| *m != "content_type")
            .cloned()
            .collect();
        let mut k = self.key(&on);
        let seeds = c.keys(&on)?;
        let codes = self.codes_of(&seeds, &k.dicts)?;
        let seeded = k.codes(&codes);
        let mut frame = seeds;
        frame.with_column(Column::new(ACCOUNT.into(), seeded.into_owned()))?;
        let types = pp
            .contract_match
            .iter()
            .position(|m| m == "content_type")
            .map(|_| self.index("content_type"));
        let n_keys = k.len(&self.dicts);
        let type_dict = types.map(|t| &mut self.dicts[t]);
        let (index, windows) = c.windows(&on, frame, n_keys, type_dict)?;
        self.contracts = Some(Delivery {
            key: k,
            types,
            index,
            sponsored_only: pp.attribution == Attribution::Sponsored,
        });
        self.windows = windows;
        self.delivered_keys = vec![0; n_keys];
        Ok(())
    }

    /// Repeated ids, once the table is read: a batch's error first, then the ids read again
    /// only when their hashes repeat (`stop`: asked while spilled hashes are checked). Gives
    /// the ids' distinct hashes in order when `keep` (see `spill::IdHashes::repeated_and_kept`).
    fn check_repeats(
        &mut self,
        lf: &LazyFrame,
        csv: Option<&[ingest::csv::CsvFile]>,
        keep: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<u64>>> {
        let Some((id, hasher, hashes)) = self.id.take() else {
            return Ok(None);
        };
        let (candidates, kept) = hashes.repeated_and_kept(keep, stop)?;
        if !candidates.is_empty() {
            if let Some(e) = repeated_error(&id, lf.clone(), Some(candidates), &hasher, csv)? {
                return Err(e);
            }
        }
        Ok(kept)
    }

    /// The checks of the whole table, once it is read and its ids checked: negative counts
    /// (`negatives` counts a column's), and one currency (the contracts' fees' too).
    fn check_table(&mut self, negatives: &dyn Fn(&str) -> u64, contracts: Option<&Contracts>) -> Result<()> {
        for (c, min) in &self.mins {
            if *min < 0.0 {
                return Err(negative_error(c, negatives(c)));
            }
        }
        if let Some(mut set) = self.currencies.take() {
            if set.len() > 1 {
                return Err(super::contracts::currency_error(
                    TABLE,
                    &set.into_iter().collect::<Vec<_>>(),
                ));
            }
            // spend and contract fees add up only in one currency
            if let Some(fees) = contracts.and_then(|c| c.currency.clone()) {
                if set.iter().any(|c| *c != fees) {
                    set.insert(fees);
                    let both = set.into_iter().collect::<Vec<_>>();
                    return Err(super::contracts::currency_error("posts and contracts", &both));
                }
            }
        }
        Ok(())
    }
}

/// Rows without a time, or without the account they are grouped by, have no group: they
/// are dropped and counted by reason, as are the posts without followers-at-post.
fn drop_ungrouped(
    plan: &Plan,
    pp: &PostsPlan,
    mut df: DataFrame,
    followers_at_post: bool,
    rows: &mut RowAccount,
) -> Result<DataFrame> {
    let mut missing: Vec<(&str, Expr)> = Vec::new();
    if plan.every.is_some() {
        // (with every=None such posts still count; they only miss followers-at-post)
        missing.push(("missing published_at", col(PERIOD).is_null()));
    }
    if plan.by.iter().any(|d| d == "account_id") && pp.dims.iter().any(|d| d == "account_id") {
        missing.push(("missing account_id", col("account_id").is_null()));
    }
    let posts_rows = StateColumn::Rows(Source::Posts).name();
    for (reason, is_missing) in &missing {
        let n = sum_u64(df.clone().lazy().filter(is_missing.clone()), &posts_rows)?;
        if n > 0 {
            rows.drop(TABLE, reason, n);
            df = df.lazy().filter(is_missing.clone().not()).collect()?;
        }
    }
    if followers_at_post {
        rows.drop(
            TABLE,
            "no follower snapshot on or before the post's day (left out of followers-at-post KPIs only)",
            sum_u64(df.clone().lazy(), NO_FOLLOWERS_AT_POST)?,
        );
        if let Some(days) = plan.max_staleness {
            rows.drop(
                TABLE,
                &format!("stale_followers: the last follower snapshot is more than max_staleness={days} days before the post's day (left out of followers-at-post KPIs only)"),
                sum_u64(df.clone().lazy(), STALE_FOLLOWERS_AT_POST)?,
            );
        }
    }
    Ok(df)
}

/// The states at the pass's grain, with account attributes joined, rolled up to the output
/// grain `keys`: coarser groups are sums of finer ones.
fn roll_up(
    plan: &Plan,
    pp: &PostsPlan,
    df: DataFrame,
    mut grain: Vec<String>,
    keys: &[String],
    snapshots: Option<&Snapshots>,
) -> Result<DataFrame> {
    let mut out = df.lazy();
    if !pp.attribute_dims.is_empty() {
        let snaps = snapshots.ok_or_else(|| Error::Internal("account attributes without snapshots".into()))?;
        out = snaps.join_attributes(out, &pp.attribute_dims)?;
    }
    if plan.every.is_some() {
        grain.push(PERIOD.to_string());
    }
    if grain.is_empty() {
        grain.push(ALL.to_string());
    }
    if grain.as_slice() != keys {
        let names: Vec<PlSmallStr> = out
            .collect_schema()?
            .iter_names()
            .filter(|n| StateColumn::parse(n).is_some())
            .cloned()
            .collect();
        let sums: Vec<Expr> = names.iter().map(|n| col(n.clone()).sum()).collect();
        if keys.iter().any(|k| k == ALL) {
            out = out.with_column(lit(true).alias(ALL));
        }
        let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        out = out.group_by(group).agg(sums);
    }
    Ok(out.collect()?)
}

fn sum_u64(lf: LazyFrame, column: &str) -> Result<u64> {
    let df = lf.select([col(column).sum().cast(DataType::UInt64)]).collect()?;
    Ok(first_u64(&df, column))
}

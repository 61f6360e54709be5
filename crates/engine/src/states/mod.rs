//! Partial states: what a run aggregates from each table at its grain, kept so that states of
//! disjoint inputs merge, roll up to coarser groups and periods, and finalize into the KPIs
//! exactly as a run over all the inputs would (docs/states.md).
//!
//! Each table's states are a block: one row per group and period of the request. Every state
//! column of a block is a sum (counts, metric sums, pro-rated amounts), so blocks merge and
//! roll up by adding, except the follower snapshots: those are kept per account, as the first
//! and last snapshot of each period with their days, and merge by taking the earlier first and
//! the later last.

mod file;
mod post_ids;
mod rows;
mod shared;
mod spec;

pub use file::{from_parts, load, save, to_frame, to_frame_without_ids, SCHEMA_VERSION};
pub use post_ids::{check_lists, shared_hashes, PostIds};
pub use rows::{stack_coverage, RowAccount};
pub use spec::{Spec, Tables};

use crate::error::{Error, InputCode, QueryCode, Result};
use crate::ids::{mix, stable_hash};
use crate::ingest::collect;
use crate::periods::with_period;
use crate::plan::{output_keys, Period, Plan, ALL, PERIOD};
use crate::schema::{
    FIRST_FOLLOWERS as FIRST, FIRST_FOLLOWERS_DAY as FIRST_DAY, LAST_FOLLOWERS as LAST, LAST_FOLLOWERS_DAY as LAST_DAY,
};
use polars::prelude::*;
use std::collections::BTreeSet;

pub use crate::schema::{Combine, Source, StateColumn};

/// One table's states.
#[derive(Debug, Clone)]
pub struct Block {
    pub source: Source,
    /// Fingerprints of the whole tables the block was made from (posts: none). A table passed
    /// whole beside each part of the posts is counted once: a merge keeps one block of a
    /// fingerprint.
    pub fingerprints: BTreeSet<u64>,
    pub frame: DataFrame,
}

impl Block {
    pub fn new(source: Source, frame: DataFrame) -> Self {
        Self {
            source,
            fingerprints: BTreeSet::new(),
            frame,
        }
    }
}

/// A run's states: one block per table, and what the run read and noticed.
#[derive(Debug, Clone)]
pub struct PartialStates {
    pub blocks: Vec<Block>,
    /// The posts' ids as `post_id_hash` values (None: the posts have no ids).
    pub post_ids: Option<PostIds>,
    /// The days each table covered: table, account_id, first, last.
    pub coverage: DataFrame,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    pub components: Vec<String>,
    pub platform_components: Vec<(String, Vec<String>)>,
}

impl PartialStates {
    /// A copy of the states without the post ids (8 bytes a post): the blocks' frames are
    /// shared, not copied.
    pub fn without_post_ids(&self) -> PartialStates {
        PartialStates {
            blocks: self.blocks.clone(),
            post_ids: None,
            coverage: self.coverage.clone(),
            rows: self.rows.clone(),
            warnings: self.warnings.clone(),
            components: self.components.clone(),
            platform_components: self.platform_components.clone(),
        }
    }
}

/// States and the request they were made for: what `sk.partial` returns.
#[derive(Debug, Clone)]
pub struct States {
    pub spec: Spec,
    pub states: PartialStates,
}

/// The sorted, distinct hashes of a column of post ids (nulls left out).
pub fn post_id_hashes(ids: &Column) -> Result<Vec<u64>> {
    use rayon::prelude::*;
    let text = ids.as_materialized_series().cast(&DataType::String)?;
    let ca = text.str()?;
    let chunks: Vec<Vec<u64>> = polars_core::runtime::THREAD_POOL.install(|| {
        ca.downcast_iter()
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|arr| {
                let mut out = Vec::with_capacity(arr.len());
                crate::ids::stable_hashes(arr.iter().flatten().map(str::as_bytes), |h| out.push(h));
                out
            })
            .collect()
    });
    let mut out: Vec<u64> = chunks.concat();
    out.par_sort_unstable();
    out.dedup();
    Ok(out)
}

/// An order-independent fingerprint of a table's rows: the wrapping sum of each row's hash,
/// with the column names. A row's hash mixes its cells' hashes (`cell_hashes`), so the
/// fingerprint is stable across processes and does not depend on row order or chunking.
pub fn fingerprint(df: &DataFrame) -> Result<u64> {
    use rayon::prelude::*;
    let mut names = Vec::new();
    for c in df.columns() {
        names.extend_from_slice(c.name().as_bytes());
        names.push(0xff);
    }
    let columns: Vec<Vec<u64>> = polars_core::runtime::THREAD_POOL.install(|| {
        df.columns()
            .par_iter()
            .map(|c| cell_hashes(c.as_materialized_series()))
            .collect::<Result<_>>()
    })?;
    let rows = (0..df.height()).fold(0u64, |total, i| {
        let row = columns
            .iter()
            .fold(0x9e37_79b9_7f4a_7c15_u64, |h, c| mix(h.rotate_left(5) ^ c[i]));
        total.wrapping_add(row)
    });
    Ok(stable_hash(&names).wrapping_add(rows))
}

/// One hash per cell of a column, by the value's physical representation (numbers as their
/// 64-bit value, text as its bytes, null as a value of its own).
fn cell_hashes(s: &Series) -> Result<Vec<u64>> {
    const NULL: u64 = 0x6e75_6c6c;
    let physical = s.to_physical_repr();
    let dtype = physical.dtype().clone();
    Ok(if dtype.is_float() {
        let f = physical.cast(&DataType::Float64)?;
        f.f64()?.iter().map(|v| v.map_or(NULL, |v| mix(v.to_bits()))).collect()
    } else if dtype.is_integer() || dtype.is_bool() {
        let i = physical.cast(&DataType::Int64)?;
        i.i64()?
            .iter()
            .map(|v| v.map_or(NULL, |v| mix(v as u64 ^ 0x1234_5678)))
            .collect()
    } else {
        let t = physical.cast(&DataType::String)?;
        t.str()?
            .iter()
            .map(|v| v.map_or(NULL, |v| stable_hash(v.as_bytes())))
            .collect()
    })
}

/// The tables a part's states were made from, for `identify`.
#[derive(Default)]
pub struct Made {
    pub posts: Option<LazyFrame>,
    pub accounts: Option<LazyFrame>,
    pub contracts: Option<LazyFrame>,
    pub traffic: Option<LazyFrame>,
    pub conversions: Option<LazyFrame>,
    /// The accounts table's fingerprint when it is known already (`exec::AccountsMemo`).
    pub accounts_fingerprint: Option<u64>,
}

/// Marks states with what identifies their inputs: each small table's fingerprint on its
/// blocks, and the posts' id hashes (when the posts have ids).
pub fn identify(states: &mut PartialStates, plan: &Plan, made: Made) -> Result<()> {
    let fingerprint_of =
        |lf: &Option<LazyFrame>| -> Result<Option<u64>> { lf.clone().map(|lf| fingerprint(&collect(lf)?)).transpose() };
    let accounts = match made.accounts_fingerprint {
        Some(print) => Some(print),
        None => fingerprint_of(&made.accounts)?,
    };
    let contracts = fingerprint_of(&made.contracts)?;
    let traffic = fingerprint_of(&made.traffic)?;
    let conversions = fingerprint_of(&made.conversions)?;
    for b in &mut states.blocks {
        let print = match b.source {
            Source::Posts => None,
            Source::Accounts | Source::Snapshots => accounts,
            Source::Contracts => contracts,
            Source::Traffic => traffic,
            Source::Conversions => conversions,
        };
        b.fingerprints = print.into_iter().collect();
    }
    // the pass hands the hashes over when it checked them all in memory; else they are read here
    if states.post_ids.is_some() {
        return Ok(());
    }
    let id = plan.posts.as_ref().and_then(|pp| pp.post_id.clone());
    if let (Some(lf), Some(id)) = (made.posts, id) {
        let ids = collect(lf.select([col(id.as_str())]))?;
        states.post_ids = Some(PostIds::new(post_id_hashes(ids.column(id.as_str())?)?));
    }
    Ok(())
}

/// Whether states at `from` roll up exactly into `to` (None: one period).
pub fn rolls_up(from: Option<Period>, to: Option<Period>) -> bool {
    use Period::*;
    match (from, to) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(f), Some(t)) if f == t => true,
        (Some(Day), Some(_)) => true,
        (Some(Month), Some(Quarter | Year)) | (Some(Quarter), Some(Year)) => true,
        _ => false,
    }
}

/// Blocks of one source at `from`'s grain, combined into one block at `to`'s grain (`to`'s
/// dimensions a subset of `from`'s, its period one that `from`'s rolls up into).
fn regroup(source: Source, frames: Vec<DataFrame>, from: &Plan, to: &Plan) -> Result<DataFrame> {
    let mut frame = stack(frames)?;
    if from.every.is_some() && to.every.is_some() && (from.every != to.every || from.calendar != to.calendar) {
        // coarser periods from the finer periods' starts
        frame.rename(PERIOD, "__day".into())?;
        frame = with_period(frame, "__day", to)?.drop("__day")?;
    }
    // (the frame stays for the overflow check; its columns are shared, not copied)
    let mut lf = frame.clone().lazy();
    if source == Source::Snapshots {
        return regroup_snapshots(lf, to);
    }
    let from_keys = output_keys(from);
    let to_keys = output_keys(to);
    if to_keys.iter().any(|k| k == ALL) && !from_keys.iter().any(|k| k == ALL) {
        lf = lf.with_column(lit(true).alias(ALL));
    }
    let schema = lf.collect_schema()?;
    // every state column but the snapshots' adds up (docs/states.md)
    let mut sums: Vec<Expr> = Vec::new();
    let mut integers: Vec<&str> = Vec::new();
    for name in schema.iter_names() {
        if from_keys.iter().any(|k| k == name.as_str()) || to_keys.iter().any(|k| k == name.as_str()) {
            continue;
        }
        match StateColumn::parse(name) {
            Some(c) if c.combine() == Combine::Sum => {
                sums.push(col(name.clone()).sum());
                integers.extend((schema.get(name) == Some(&DataType::Int64)).then_some(name.as_str()));
            }
            _ => {
                return Err(Error::Internal(format!(
                    "column '{name}' of the {} states is no state that adds up",
                    source.name()
                )))
            }
        }
    }
    // polars' sums wrap: no group's may pass the Int64 range, as in a run (`crate::overflow`)
    let what = format!("the {} states", source.name());
    crate::overflow::check_table_sums(&frame, &integers, &what)?;
    let group: Vec<Expr> = to_keys.iter().map(|k| col(k.as_str())).collect();
    Ok(lf.group_by(group).agg(sums).collect()?)
}

/// Blocks of one grain merged: only rows of periods that more than one block reaches can
/// share a group, so those are regrouped and the others stacked as they are (parts split by
/// time, the usual case, share only the days at their edges). A block that reaches no shared
/// period is kept whole; a row without a period is regrouped.
fn merge_by_period(source: Source, frames: Vec<DataFrame>, from: &Plan, to: &Plan) -> Result<DataFrame> {
    let mut days_of: Vec<Series> = Vec::with_capacity(frames.len());
    let mut spans: Vec<(i64, i64)> = Vec::with_capacity(frames.len());
    for f in &frames {
        let days = f
            .column(PERIOD)?
            .as_materialized_series()
            .to_physical_repr()
            .cast(&DataType::Int64)?;
        if let (Some(first), Some(last)) = (days.min::<i64>()?, days.max::<i64>()?) {
            spans.push((first, last));
        }
        days_of.push(days);
    }
    let shared = shared_days(spans);
    let columns = frames.first().map(|f| f.get_column_names_owned()).unwrap_or_default();
    let (mut alone, mut together) = (Vec::with_capacity(frames.len() + 1), Vec::new());
    for (f, days) in frames.into_iter().zip(&days_of) {
        let days = days.i64()?;
        let near = match (days.min(), days.max()) {
            (Some(first), Some(last)) => {
                let from = shared.partition_point(|&(_, end)| end < first);
                let until = shared.partition_point(|&(start, _)| start <= last);
                &shared[from..until.max(from)]
            }
            _ => &shared[..0],
        };
        if near.is_empty() && days.null_count() == 0 {
            alone.push(f);
            continue;
        }
        let inside = |d: i64| {
            let i = near.partition_point(|&(_, end)| end < d);
            i < near.len() && near[i].0 <= d
        };
        let mask: BooleanChunked = days.iter().map(|d| Some(d.is_none_or(inside))).collect();
        together.push(f.filter(&mask)?);
        alone.push(f.filter(&!&mask)?);
    }
    if !together.is_empty() {
        // the shared days' rows in one chunk: grouping reads a column of many chunks slower
        let mut shared_rows = stack(together)?;
        shared_rows.rechunk_mut_par();
        alone.push(regroup(source, vec![shared_rows], from, to)?.select(columns)?);
    }
    stack(alone)
}

/// The days that two or more of the spans (first, last) share, as spans.
fn shared_days(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut shared: Vec<(i64, i64)> = Vec::new();
    let mut reach: Option<i64> = None;
    for (first, last) in spans {
        if let Some(r) = reach.filter(|&r| r >= first) {
            let span = (first, last.min(r));
            match shared.last_mut() {
                Some(prev) if prev.1 >= span.0 - 1 => prev.1 = prev.1.max(span.1),
                _ => shared.push(span),
            }
        }
        reach = Some(reach.map_or(last, |r| r.max(last)));
    }
    shared
}

/// Snapshot states per account at `to`'s period: the earliest first, the latest last, the
/// attributes `to` groups by at the latest snapshot.
fn regroup_snapshots(lf: LazyFrame, to: &Plan) -> Result<DataFrame> {
    let mut group: Vec<Expr> = to.account_key.iter().map(|k| col(k.as_str())).collect();
    if to.every.is_some() {
        group.push(col(PERIOD));
    }
    // the values at the earliest first and latest last day (no sort inside the groups)
    let at = |value: &str, day: Expr| col(value).get(day, false);
    let mut aggs = vec![
        at(FIRST, col(FIRST_DAY).arg_min()).alias(FIRST),
        col(FIRST_DAY).min().alias(FIRST_DAY),
        at(LAST, col(LAST_DAY).arg_max()).alias(LAST),
        col(LAST_DAY).max().alias(LAST_DAY),
    ];
    for d in to
        .by
        .iter()
        .filter(|d| !to.account_key.contains(d) && d.as_str() != PERIOD)
    {
        aggs.push(at(d, col(LAST_DAY).arg_max()).alias(d.as_str()));
    }
    Ok(lf.group_by(group).agg(aggs).collect()?)
}

/// Frames of one block's columns stacked (a column two parts type differently, ids as numbers
/// in one and text in the other, takes their common supertype).
fn stack(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut frames = frames.into_iter();
    let Some(mut out) = frames.next() else {
        return Err(Error::Internal("no states to stack".into()));
    };
    for f in frames {
        let mut f = f.select(out.get_column_names_owned())?;
        for name in out.get_column_names_owned() {
            let (left, right) = (out.column(&name)?.dtype().clone(), f.column(&name)?.dtype().clone());
            if left != right {
                let common = polars_core::utils::try_get_supertype(&left, &right)?;
                let (l, r) = (out.column(&name)?.cast(&common)?, f.column(&name)?.cast(&common)?);
                out.with_column(l)?;
                f.with_column(r)?;
            }
        }
        out.vstack_mut(&f)?;
    }
    Ok(out)
}

impl States {
    /// These states with each whole table's block shared with states of the same table and
    /// request in this process (see `shared`): made or loaded states go through it.
    pub fn sharing_blocks(mut self) -> Result<Self> {
        let request = self.spec.request_hash()?;
        shared::share_blocks(&mut self.states.blocks, request);
        Ok(self)
    }

    /// The plan of the states' own request.
    pub fn plan(&self) -> Result<Plan> {
        self.spec.plan(&self.spec.request(None, None, None))
    }

    /// These states with the post ids of their posts, which travelled apart from them (the
    /// parts of a Dask or Spark run): sorted, distinct hashes, as `post_ids` gives them.
    pub fn with_post_ids(&self, sorted: polars_buffer::Buffer<u64>) -> Result<States> {
        if self.states.post_ids.is_some() {
            return Err(Error::query(
                QueryCode::InvalidArgument,
                "these states keep their post ids already",
            ));
        }
        // (the engine's own `post_ids` gives them in order: another order is a mistake)
        let ids = PostIds::checked_sorted(sorted).map_err(|why| Error::query(QueryCode::InvalidArgument, why))?;
        let mut out = self.clone();
        out.states.post_ids = Some(ids);
        Ok(out)
    }

    /// States of disjoint inputs made with the same spec, combined as if their inputs had
    /// been one: blocks added, follower snapshots combined per account, a whole small table
    /// counted once, and a post in two of them an error. The parts are read, not copied.
    pub fn merge(parts: &[&States]) -> Result<States> {
        let Some((first, rest)) = parts.split_first() else {
            return Err(Error::query(
                QueryCode::InvalidArgument,
                "merge needs at least one States",
            ));
        };
        for other in rest {
            if let Some(part) = first.spec.difference(&other.spec) {
                return Err(Error::query(
                    QueryCode::StatesMismatch,
                    format!("states made for different requests do not merge: they differ in {part}"),
                ));
            }
        }
        if rest.is_empty() {
            return Ok((*first).clone());
        }
        let plan = first.plan()?;
        let all: Vec<&PartialStates> = parts.iter().map(|s| &s.states).collect();
        let post_ids = merge_post_ids(&all)?;
        let mut merged = combine_parts(
            all.into_iter().map(PartialStates::without_post_ids).collect(),
            &plan,
            &plan,
        )?;
        merged.post_ids = post_ids;
        Ok(States {
            spec: first.spec.clone(),
            states: merged,
        })
    }

    /// The states at coarser dimensions and period, checked against what the states can give.
    /// Finalizing reads blocks only: the post ids (8 bytes a post) are not copied.
    pub fn rollup(&self, to: &Plan) -> Result<PartialStates> {
        let from = self.plan()?;
        let states = self.states.without_post_ids();
        if from.by == to.by && from.every == to.every && from.calendar == to.calendar {
            return Ok(states);
        }
        combine_parts(vec![states], &from, to)
    }

    /// Newer states (the same spec) in place of these for every period the newer ones cover
    /// (the periods of their posts, or of any table when they have none); the other periods
    /// stay as they were.
    pub fn update(self, newer: States) -> Result<States> {
        if let Some(part) = self.spec.difference(&newer.spec) {
            return Err(Error::query(
                QueryCode::StatesMismatch,
                format!("states made for a different request cannot update these: they differ in {part}"),
            ));
        }
        let plan = self.plan()?;
        let covered = covered_periods(&newer.states)?;
        let keep = |frame: DataFrame, inside: bool| -> Result<DataFrame> {
            let Some(covered) = &covered else {
                // one period: the newer states replace all of it
                return Ok(if inside { frame } else { frame.clear() });
            };
            let within = col(PERIOD).is_in(lit(covered.clone()).implode(false), false);
            Ok(frame
                .lazy()
                .filter(if inside { within } else { within.not() })
                .collect()?)
        };
        let mut older = self.states;
        for b in &mut older.blocks {
            b.frame = keep(std::mem::take(&mut b.frame), false)?;
            b.fingerprints.clear();
        }
        let mut newer_states = newer.states;
        for b in &mut newer_states.blocks {
            b.frame = keep(std::mem::take(&mut b.frame), true)?;
            b.fingerprints.clear();
        }
        let post_ids = match (&older.post_ids, &newer_states.post_ids) {
            (Some(a), Some(b)) => Some(PostIds::union(&[a, b])),
            (one, other) => one.clone().or_else(|| other.clone()),
        };
        let mut merged = combine_parts(vec![older, newer_states], &plan, &plan)?;
        merged.post_ids = post_ids;
        Ok(States {
            spec: self.spec,
            states: merged,
        })
    }
}

/// The periods that states hold posts in (or any rows, without posts); None: one period.
fn covered_periods(states: &PartialStates) -> Result<Option<Series>> {
    let posts: Vec<&Block> = states.blocks.iter().filter(|b| b.source == Source::Posts).collect();
    let blocks: Vec<&Block> = if posts.is_empty() {
        states.blocks.iter().collect()
    } else {
        posts
    };
    let mut periods: Option<Series> = None;
    for b in blocks {
        let Ok(p) = b.frame.column(PERIOD) else {
            return Ok(None);
        };
        let p = p.as_materialized_series().clone();
        periods = Some(match periods {
            None => p,
            Some(mut all) => {
                all.append(&p)?;
                all
            }
        });
    }
    Ok(match periods {
        Some(p) => Some(p.unique()?),
        None => None,
    })
}

/// The posts' ids of parts, checked to be disjoint (a post in two parts is an error).
fn merge_post_ids(parts: &[&PartialStates]) -> Result<Option<PostIds>> {
    // (a part that keeps none, its posts without a post_id column or their ids travelling
    // apart, cannot be checked; the others' ids are kept for the merges to come)
    let lists: Vec<&PostIds> = parts.iter().filter_map(|p| p.post_ids.as_ref()).collect();
    if lists.is_empty() {
        return Ok(None);
    }
    let (ids, repeated) = PostIds::combine(&lists);
    if repeated > 0 {
        return Err(Error::input(
            InputCode::OverlappingPosts,
            format!("{repeated} posts are in more than one of the states merged (by post_id); states must come from disjoint posts. Merge states of different files, months or partitions, or use States.update to replace the periods newer posts cover"),
        ));
    }
    Ok(Some(ids))
}

/// A typed error unless two parts' blocks of a source have the same state columns: a part
/// whose table lacked a column (posts without `saves`) made no states of it, and its
/// KPIs would otherwise depend on the order the parts are merged in.
fn same_columns(source: Source, one: &DataFrame, other: &DataFrame) -> Result<()> {
    let names = |f: &DataFrame| -> BTreeSet<String> { f.get_column_names().iter().map(|n| n.to_string()).collect() };
    let (a, b) = (names(one), names(other));
    if a == b {
        return Ok(());
    }
    let only: Vec<String> = a.symmetric_difference(&b).cloned().collect();
    Err(Error::query(
        QueryCode::StatesMismatch,
        format!(
            "the {} states merged were made from tables with different columns: some parts have states {} and others not (a column their {} table lacked); give every part's table the same columns (a missing one as nulls)",
            source.name(),
            only.join(", "),
            source.table()
        ),
    ))
}

/// Parts' blocks combined source by source at `to`'s grain: a small table's block whose
/// tables are already counted is left out, and so are its rows read and dropped.
fn combine_parts(parts: Vec<PartialStates>, from: &Plan, to: &Plan) -> Result<PartialStates> {
    let mut kept: Vec<(Source, BTreeSet<u64>, Vec<DataFrame>)> = Vec::new();
    let mut rows = RowAccount::default();
    let mut warnings: Vec<String> = Vec::new();
    let mut coverage: Vec<DataFrame> = Vec::new();
    let mut components = Vec::new();
    let mut platform_components = Vec::new();
    for part in parts {
        let mut skipped_tables: Vec<&'static str> = Vec::new();
        for block in part.blocks {
            let slot = kept.iter_mut().find(|(s, _, _)| *s == block.source);
            match slot {
                None => kept.push((block.source, block.fingerprints, vec![block.frame])),
                Some((_, seen, frames)) => {
                    if let Some(first) = frames.first() {
                        same_columns(block.source, first, &block.frame)?;
                    }
                    if block.fingerprints.is_empty() || seen.is_disjoint(&block.fingerprints) {
                        seen.extend(block.fingerprints);
                        frames.push(block.frame);
                    } else if block.fingerprints.is_subset(seen) {
                        skipped_tables.push(block.source.table());
                    } else if seen.is_subset(&block.fingerprints) {
                        *seen = block.fingerprints;
                        *frames = vec![block.frame];
                    } else {
                        return Err(Error::input(
                            InputCode::OverlappingStates,
                            format!("the {} states merged share some of the tables they were made from but not all; merge states made from whole tables or from disjoint parts of them", block.source.table()),
                        ));
                    }
                }
            }
        }
        let counts = |table: &str| !skipped_tables.contains(&table);
        rows.read.extend(part.rows.read.into_iter().filter(|(t, _)| counts(t)));
        rows.dropped
            .extend(part.rows.dropped.into_iter().filter(|(t, _, _)| counts(t)));
        for w in part.warnings {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        coverage.push(part.coverage);
        if components.is_empty() {
            components = part.components;
            platform_components = part.platform_components;
        }
    }
    rows.read = sum_by(rows.read.into_iter().map(|(t, n)| ((t, String::new()), n)))
        .into_iter()
        .map(|((t, _), n)| (t, n))
        .collect();
    rows.dropped = sum_by(rows.dropped.into_iter().map(|(t, r, n)| ((t, r), n)))
        .into_iter()
        .map(|((t, r), n)| (t, r, n))
        .collect();
    kept.sort_by_key(|(s, _, _)| *s);
    let mut blocks = Vec::with_capacity(kept.len());
    for (source, fingerprints, frames) in kept {
        let same_grain = from.by == to.by && from.every == to.every && from.calendar == to.calendar;
        let frame = if frames.len() == 1 && same_grain {
            frames.into_iter().next().unwrap_or_default()
        } else if same_grain && to.every.is_some() {
            merge_by_period(source, frames, from, to)?
        } else {
            regroup(source, frames, from, to)?
        };
        blocks.push(Block {
            source,
            fingerprints,
            frame,
        });
    }
    Ok(PartialStates {
        blocks,
        post_ids: None,
        coverage: merge_coverage(coverage)?,
        rows,
        warnings,
        components,
        platform_components,
    })
}

/// One run's states at `from`'s grain rolled up into `to`'s (dimensions among `from`'s, a
/// period that `from`'s rolls up into): a range of days made one period (exec/range.rs).
pub(crate) fn roll_up(states: PartialStates, from: &Plan, to: &Plan) -> Result<PartialStates> {
    combine_parts(vec![states], from, to)
}

/// Counts summed by key, in order of first appearance.
fn sum_by<K: PartialEq>(items: impl Iterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut out: Vec<(K, u64)> = Vec::new();
    for (k, n) in items {
        match out.iter_mut().find(|(seen, _)| *seen == k) {
            Some((_, total)) => *total += n,
            None => out.push((k, n)),
        }
    }
    out
}

/// Coverage frames combined: each table's (and account's) earliest first and latest last day.
fn merge_coverage(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let frame = stack_coverage(frames)?;
    Ok(frame
        .lazy()
        .group_by_stable([col("table"), col("account_id")])
        .agg([col("first").min(), col("last").max()])
        .sort(
            ["table", "account_id"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build, Dedupe, Request};

    fn plan(every: Option<&str>, by: &[&str]) -> Result<Plan> {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let request = Request::new(
            names(&["followers"]),
            names(by),
            every.map(str::to_string),
            "UTC".into(),
            Dedupe::Error,
        );
        let posts = names(&["post_id", "account_id", "published_at"]);
        let accounts = names(&["account_id", "date", "followers", "tier"]);
        build(&request, Some(&posts), Some(&accounts), None, None, None)
    }

    fn days(v: &[i32]) -> Result<Column> {
        Ok(Column::new("d".into(), v).cast(&DataType::Date)?)
    }

    #[test]
    fn snapshots_roll_up_to_the_earliest_first_and_latest_last() -> Result<()> {
        // one account, three days of one month, in no order; its tier changed on the last day
        let daily = df!(
            "account_id" => ["a", "a", "a"],
            PERIOD => days(&[20_000, 19_998, 19_999])?.take_materialized_series(),
            FIRST_DAY => days(&[20_000, 19_998, 19_999])?.take_materialized_series(),
            FIRST => [30_i64, 10, 20],
            LAST_DAY => days(&[20_000, 19_998, 19_999])?.take_materialized_series(),
            LAST => [31_i64, 11, 21],
            "tier" => ["gold", "silver", "silver"],
        )?;
        let (from, to) = (plan(Some("1d"), &["tier"])?, plan(Some("1mo"), &["tier"])?);
        let monthly = regroup(Source::Snapshots, vec![daily], &from, &to)?;
        assert_eq!(monthly.height(), 1);
        let value = |c: &str| monthly.column(c).and_then(|c| c.get(0)).map(|v| v.to_string());
        assert_eq!(value(FIRST)?, "10");
        assert_eq!(value(LAST)?, "31");
        assert_eq!(value("tier")?, "\"gold\"");
        Ok(())
    }

    fn part(fingerprints: &[u64], rows: i64) -> Result<PartialStates> {
        let mut block = Block::new(Source::Accounts, df!(ALL => [true], "a:rows" => [rows])?);
        block.fingerprints = fingerprints.iter().copied().collect();
        Ok(PartialStates {
            blocks: vec![block],
            post_ids: None,
            coverage: stack_coverage(Vec::new())?,
            rows: RowAccount::default(),
            warnings: Vec::new(),
            components: Vec::new(),
            platform_components: Vec::new(),
        })
    }

    fn rows_after(parts: Vec<PartialStates>) -> Result<i64> {
        let p = plan(None, &[])?;
        let merged = combine_parts(parts, &p, &p)?;
        let total = merged.blocks[0].frame.column("a:rows")?.i64()?.get(0).unwrap_or(-1);
        Ok(total)
    }

    #[test]
    fn a_small_table_counts_once_however_its_parts_are_merged() -> Result<()> {
        // the same table beside two parts: once
        assert_eq!(rows_after(vec![part(&[1], 5)?, part(&[1], 5)?])?, 5);
        // two halves of a table: both
        assert_eq!(rows_after(vec![part(&[1], 5)?, part(&[2], 7)?])?, 12);
        // a half already merged in, then the merged whole: the whole
        assert_eq!(rows_after(vec![part(&[1], 5)?, part(&[1, 2], 12)?])?, 12);
        // the whole, then a half of it: the whole
        assert_eq!(rows_after(vec![part(&[1, 2], 12)?, part(&[2], 7)?])?, 12);
        // sharing one table but not the other: an error
        let err = rows_after(vec![part(&[1, 2], 12)?, part(&[2, 3], 9)?]).err();
        assert_eq!(err.map(|e| e.code()), Some("overlapping_states"));
        Ok(())
    }

    #[test]
    fn id_hashes_are_stable_and_spread() {
        // fixed values: a states file made by another process or version must agree
        assert_eq!(stable_hash(b"post-1"), 11_001_945_624_404_742_661);
        assert_eq!(stable_hash(b""), 17_665_956_581_633_026_203);
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        assert_ne!(stable_hash(b"post-1"), stable_hash(b"post-2"));
        let hashes: BTreeSet<u64> = (0..10_000).map(|i| stable_hash(format!("p{i}").as_bytes())).collect();
        assert_eq!(hashes.len(), 10_000);
    }

    #[test]
    fn fingerprints_ignore_row_order_but_not_content() -> Result<()> {
        let a = df!("account_id" => ["x", "y"], "followers" => [Some(1_i64), None])?;
        let b = df!("account_id" => ["y", "x"], "followers" => [None, Some(1_i64)])?;
        let c = df!("account_id" => ["x", "y"], "followers" => [Some(2_i64), None])?;
        assert_eq!(fingerprint(&a)?, fingerprint(&b)?);
        assert_ne!(fingerprint(&a)?, fingerprint(&c)?);
        Ok(())
    }

    #[test]
    fn sorted_lists_merge_into_their_sorted_union_with_repeats() {
        use post_ids::merge_sorted;
        // a generator of well-spread values (the post ids' hashes are)
        let mut state = 7_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix(state)
        };
        let mut lists: Vec<Vec<u64>> = (0..40)
            .map(|k| {
                let mut l: Vec<u64> = (0..(k * 97) % 5000).map(|_| next()).collect();
                l.sort_unstable();
                l
            })
            .collect();
        // repeats across lists, the ends of the range, an empty list, values bunched at one end
        lists[3].extend([0, u64::MAX]);
        lists[5].extend([0, 1 << 62, u64::MAX]);
        lists[7] = lists[9].clone();
        lists[11] = Vec::new();
        lists[13] = (0..30_000).collect();
        lists[17] = (10..20).collect();
        for l in &mut lists {
            l.sort_unstable();
        }
        let expected = |lists: &[Vec<u64>]| {
            let mut all: Vec<u64> = lists.concat();
            all.sort_unstable();
            all
        };
        let views: Vec<&[u64]> = lists.iter().map(Vec::as_slice).collect();
        assert!(views.iter().map(|l| l.len()).sum::<usize>() >= 1 << 16);
        assert_eq!(merge_sorted(&views), expected(&lists));
        // more values than the threads' ranges hold: ranges of their own size
        let mut many: Vec<Vec<u64>> = (0..12)
            .map(|_| {
                let mut l: Vec<u64> = (0..60_000).map(|_| next()).collect();
                l.sort_unstable();
                l
            })
            .collect();
        many[4] = many[2].clone();
        let views_of_many: Vec<&[u64]> = many.iter().map(Vec::as_slice).collect();
        assert_eq!(merge_sorted(&views_of_many), expected(&many));
        // few values (one range), one list, none
        assert_eq!(merge_sorted(&views[..4]), expected(&lists[..4]));
        assert_eq!(merge_sorted(&views[5..6]), lists[5]);
        assert_eq!(merge_sorted(&[]), Vec::<u64>::new());
    }

    #[test]
    fn blocks_merge_by_period_as_one_regrouping_would() -> Result<()> {
        let p = plan(Some("1d"), &["account_id"])?;
        let block = |accounts: &[&str], days: &[Option<i32>], rows: &[i64]| -> Result<DataFrame> {
            let days = Column::new(PERIOD.into(), days).cast(&DataType::Date)?;
            Ok(df!("account_id" => accounts, PERIOD => days.take_materialized_series(), "rows" => rows)?)
        };
        // the first two share day 3; the third shares nothing; the fourth has a row without
        // a period, as the first does
        let frames = vec![
            block(&["a", "a", "b", "a"], &[Some(1), Some(3), Some(3), None], &[1, 2, 3, 4])?,
            block(&["a", "b", "b"], &[Some(3), Some(3), Some(5)], &[10, 20, 30])?,
            block(&["a", "b"], &[Some(8), Some(9)], &[100, 200])?,
            block(&["a", "c"], &[None, Some(6)], &[1000, 2000])?,
        ];
        let sorted = |f: DataFrame| -> Result<DataFrame> {
            Ok(f.sort(
                ["account_id", PERIOD],
                SortMultipleOptions::default().with_nulls_last(true),
            )?)
        };
        let merged = sorted(merge_by_period(Source::Posts, frames.clone(), &p, &p)?)?;
        let regrouped = sorted(regroup(Source::Posts, frames, &p, &p)?.select(merged.get_column_names_owned())?)?;
        assert_eq!(merged.height(), 8);
        assert!(merged.equals_missing(&regrouped));
        Ok(())
    }

    #[test]
    fn shared_days_are_where_spans_overlap() {
        assert_eq!(shared_days(vec![(1, 5), (5, 9), (9, 12)]), vec![(5, 5), (9, 9)]);
        assert_eq!(shared_days(vec![(1, 3), (4, 9)]), vec![]);
        assert_eq!(shared_days(vec![(1, 10), (2, 3), (5, 6)]), vec![(2, 3), (5, 6)]);
        assert_eq!(shared_days(vec![(1, 10), (2, 7), (5, 12)]), vec![(2, 10)]);
    }

    #[test]
    fn periods_roll_up_only_into_coarser_calendar_periods() {
        use Period::*;
        assert!(rolls_up(Some(Day), Some(Month)));
        assert!(rolls_up(Some(Day), Some(Week)));
        assert!(rolls_up(Some(Month), Some(Year)));
        assert!(rolls_up(Some(Week), None));
        assert!(!rolls_up(Some(Week), Some(Month)));
        assert!(!rolls_up(Some(Month), Some(Week)));
        assert!(!rolls_up(None, Some(Day)));
        assert!(!rolls_up(Some(Year), Some(Quarter)));
    }
}

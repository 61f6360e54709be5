//! The readers that feed the posts pass (`super`): the table read a slice at a time, each
//! slice on a thread of its own one ahead of the pass (`SliceReader`, `each_slice`); the id and
//! key columns of slices of Parquet files read from their pages beside polars' read of the other
//! columns (`FromPages`, `PageRead`); and the rows `dedupe="last"` keeps (`last_rows`).

use crate::error::{Error, Result};
use crate::exec::dedupe::LastRows;
use crate::exec::parquet::{Indexed, RowGroups};
use crate::exec::{collect, Interrupt};
use crate::ids::IdHasher;
use crate::ingest;
use crate::plan::{Dedupe, Plan, PostsPlan};
use polars::prelude::*;
use std::sync::Arc;

/// A slice's batch as read, with what was read of it from its pages.
pub(super) type SliceRead = std::thread::JoinHandle<Result<(DataFrame, PageRead)>>;

/// Reads the posts a slice at a time, each on a thread of its own.
pub(super) struct SliceReader<'a> {
    pp: &'a PostsPlan,
    tz: Option<&'a str>,
    lf: LazyFrame,
    /// When the slices are whole row groups of Parquet files, the ids of the repeat check and
    /// the key columns are read from their pages beside polars' read of the other columns.
    from_pages: Option<Arc<FromPages>>,
    /// A slice of Parquet files is read by socialkpi (owned reads, never mapped: a file cut
    /// short meanwhile is an error, not SIGBUS), only the columns the batch's plan reads.
    source: Option<Arc<ingest::parquet::ParquetSource>>,
    hasher: IdHasher,
}

impl<'a> SliceReader<'a> {
    /// `parquet`: the files the slices are row groups of (None: not read by slices of files).
    pub(super) fn new(
        plan: &'a Plan,
        pp: &'a PostsPlan,
        lf: &LazyFrame,
        parquet: Option<&[crate::ingest::ParquetFile]>,
        names: &[String],
        hasher: &IdHasher,
    ) -> Result<Self> {
        let mut lf = lf.clone();
        let (from_pages, source) = match parquet {
            Some(files) => (
                FromPages::plan(plan, pp, &*lf.collect_schema()?, names, files).map(Arc::new),
                Some(Arc::new(ingest::parquet::ParquetSource::new(files.to_vec())?)),
            ),
            None => (None, None),
        };
        Ok(Self {
            pp,
            tz: plan.tz.as_deref(),
            lf,
            from_pages,
            source,
            hasher: hasher.clone(),
        })
    }

    /// Starts reading a slice (offset, rows) on a thread of its own.
    pub(super) fn start(&self, (offset, len): (i64, usize)) -> SliceRead {
        let raw = match &self.source {
            Some(source) => super::read(self.tz, self.pp, source.lazy(Some((offset.max(0) as u64, len)))),
            None => Ok(self.lf.clone().slice(offset, len as IdxSize)),
        };
        let (pages, hasher) = (self.from_pages.clone(), self.hasher.clone());
        std::thread::spawn(move || -> Result<(DataFrame, PageRead)> {
            let raw = raw?;
            let Some(pages) = pages else {
                return Ok((collect(raw)?, PageRead::default()));
            };
            let batches = raw.clone().drop(by_name(pages.columns(), true, false));
            std::thread::scope(|scope| {
                let read = scope.spawn(|| pages.read(&raw, (offset, len), &hasher));
                let batch = collect(batches);
                match read.join() {
                    Ok(read) => Ok((batch?, read?)),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        })
    }
}

/// Reads slices one at a time, the next one while `each` takes this one (`pending`: the first
/// one's read); Ctrl-C is asked between them.
pub(super) fn each_slice(
    slices: &[(i64, usize)],
    mut pending: Option<SliceRead>,
    reader: &SliceReader,
    interrupted: Interrupt<'_>,
    mut each: impl FnMut(DataFrame, PageRead) -> Result<()>,
) -> Result<()> {
    for i in 0..slices.len() {
        let (batch, read) = match pending.take().map(|h| h.join()) {
            Some(Ok(batch)) => batch?,
            // a panic in the reader (polars' own Ctrl-C abort among them) goes on to
            // the binding, which turns it into the right exception
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => return Err(Error::Internal("a posts slice was not read".into())),
        };
        if interrupted(i, slices.len()) {
            return Err(Error::Interrupted);
        }
        if let Some(&next) = slices.get(i + 1) {
            pending = Some(reader.start(next));
        }
        each(batch, read)?;
    }
    Ok(())
}

/// The rows of the table (`lf`, read) for `dedupe="last"`, in input order: in memory while
/// they fit `memory_limit`, in parts on disk past it (see `dedupe`). Slices are read as the
/// pass reads them (Ctrl-C asked between them); any other table streams through polars.
#[allow(clippy::too_many_arguments)]
pub(super) fn last_rows(
    plan: &Plan,
    pp: &PostsPlan,
    id: &str,
    lf: &LazyFrame,
    slices: Option<&[(i64, usize)]>,
    parquet: Option<&[crate::ingest::ParquetFile]>,
    interrupted: Interrupt<'_>,
    memory_limit: Option<u64>,
) -> Result<LastRows> {
    let mut last = LastRows::new(id, lf.clone().collect_schema()?, memory_limit);
    if let Some(slices) = slices {
        // (no columns from pages: every column of a row goes with it)
        let reader = SliceReader::new(plan, pp, lf, parquet, &[], &IdHasher::for_run())?;
        let pending = slices.first().map(|&s| reader.start(s));
        each_slice(slices, pending, &reader, interrupted, |batch, _| last.push(batch))?;
        return Ok(last);
    }
    // in input order: which row is last depends on it
    ingest::sink_into(lf.clone(), true, last, |last, batch| last.push(batch))
}

/// The columns a slice reads from its Parquet pages instead of through polars (`parquet`).
struct FromPages {
    groups: RowGroups,
    /// The id column of the repeat check, read as hashes.
    id: Option<String>,
    /// Key columns (only encoded to codes), read as dictionary values and row indices.
    keys: Vec<String>,
}

/// What a slice read from its pages: its ids' hashes and its key columns.
#[derive(Default)]
pub(super) struct PageRead {
    pub(super) id_hashes: Option<Vec<Vec<u64>>>,
    pub(super) keys: Vec<(String, Indexed)>,
}

impl FromPages {
    /// The id when a batch needs it for nothing but the repeat check, and the text key
    /// columns (`keys`) that a batch only encodes; at least one column stays with polars
    /// (it carries the batch's height). None when there are none, or the files cannot be read.
    fn plan(
        plan: &Plan,
        pp: &PostsPlan,
        schema: &Schema,
        keys: &[String],
        files: &[crate::ingest::ParquetFile],
    ) -> Option<Self> {
        let text = |c: &String| schema.get(c) == Some(&DataType::String);
        let read = batch_reads(pp);
        let id = pp.post_id.clone().filter(|id| {
            plan.dedupe == Dedupe::Error && text(id) && !keys.contains(id) && !read.contains(&id.as_str())
        });
        // (the id as a key stays with polars: the repeat check reads it from the batch)
        let mut keys: Vec<String> = keys
            .iter()
            .filter(|k| text(k) && !read.contains(&k.as_str()) && Some(*k) != pp.post_id.as_ref())
            .cloned()
            .collect();
        if id.is_none() && keys.is_empty() {
            return None;
        }
        let groups = RowGroups::new(files);
        keys.retain(|k| groups.flat_text(k));
        let mut id = id.filter(|id| groups.flat_text(id));
        if schema.len() <= keys.len() + usize::from(id.is_some()) && keys.pop().is_none() {
            id = None;
        }
        (id.is_some() || !keys.is_empty()).then_some(Self { groups, id, keys })
    }

    fn columns(&self) -> Vec<&str> {
        self.id.iter().chain(&self.keys).map(String::as_str).collect()
    }

    /// Reads a slice's columns from their pages; where a chunk cannot be read there, that
    /// column of the slice is read through polars (`slice`: the slice's rows) instead.
    fn read(&self, slice: &LazyFrame, (offset, len): (i64, usize), hasher: &IdHasher) -> Result<PageRead> {
        let at = u64::try_from(offset).ok();
        let through_polars = |column: &str| -> Result<Column> {
            let df = collect(slice.clone().select([col(column)]))?;
            Ok(df.column(column)?.clone())
        };
        let id_hashes = |id: &str| -> Result<Vec<Vec<u64>>> {
            let mut parts = crate::ids::hash_parts(len);
            let pages = at.and_then(|at| {
                self.groups
                    .for_each_hash(id, at, len, hasher, |h| crate::ids::push_part(&mut parts, h))
            });
            match pages {
                Some(()) => Ok(parts),
                None => crate::ids::split_id_hashes(&through_polars(id)?, hasher),
            }
        };
        let indexed = |k: &String| -> Result<(String, Indexed)> {
            let indexed = match at.and_then(|at| self.groups.indexed(k, at, len)) {
                Some(indexed) => indexed,
                None => Indexed::rows(through_polars(k)?),
            };
            Ok((k.clone(), indexed))
        };
        // the ids on a thread of their own, beside the keys
        std::thread::scope(|scope| {
            let ids = self.id.as_deref().map(|id| scope.spawn(move || id_hashes(id)));
            let keys = self.keys.iter().map(indexed).collect::<Result<Vec<_>>>();
            let id_hashes = match ids.map(|h| h.join()) {
                Some(Ok(hashes)) => Some(hashes?),
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => None,
            };
            Ok(PageRead { id_hashes, keys: keys? })
        })
    }
}

/// The columns a batch reads as values, not only as codes: counts, engagement components,
/// formula columns, the platform of per-platform components, the currency.
fn batch_reads(pp: &PostsPlan) -> Vec<&str> {
    let mut out: Vec<&str> = [&pp.count_columns, &pp.components, &pp.custom.numeric, &pp.custom.plain]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !pp.platform_components.is_empty() {
        out.push("platform");
    }
    if pp.currency {
        out.push("currency");
    }
    out
}

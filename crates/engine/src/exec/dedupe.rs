//! `dedupe="last"` in a fixed memory budget (`memory_limit`): the last row of each post, in
//! input order, whatever the number of posts.
//!
//! The posts come in batches, in input order. While the batches held fit the budget they stay
//! in memory, and the last row of each post is kept from the whole table at the end, as
//! before. Once they pass it, the batches held are split into `PARTS` parts by the top bits of
//! their ids' hashes, each part's rows appended (a record batch) to an Arrow IPC file of its
//! own in a temporary folder (`spill::SpillDir`), and dropped; and so on as the posts go. Rows
//! without an id are no repeats of anything: they go to a file of their own, kept whole.
//!
//! A post's rows all land in one part, and each part's file holds its rows in input order
//! (batches are split in order, rows within a batch keep theirs), so a post's last row in its
//! part's file is its last row in the table. At the end each part's file is read back in
//! steps of about a quarter of the budget: the rows kept so far and the next rows, of which
//! the last row of each post is kept (`keep_last`). Should the rows kept outgrow a quarter of
//! the budget (a part of too many posts), the part is split again, into `FANOUT` files by the
//! next bits of its hashes, and each of those taken in turn; a part whose posts share all 64
//! bits of their hash (in practice one post, repeated) goes on in steps, the rows kept being
//! its few posts. Each part's rows kept then go to the posts pass, as one more batch.
//!
//! Exact: the rows kept are those `keep_last` keeps from the whole table in memory.

use super::spill::SpillDir;
use crate::error::{Error, InputCode, Result};
use crate::ids::IdHasher;
use polars::prelude::*;
use polars_arrow::io::ipc;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;

/// The top bits of the hashes that split the rows into parts.
const PART_BITS: u32 = 8;
const PARTS: usize = 1 << PART_BITS;

/// Files a part too large is split into, by its hashes' next bits.
const FANOUT_BITS: u32 = 4;
const FANOUT: usize = 1 << FANOUT_BITS;

const WHAT: &str = "dedupe='last'";

/// The bytes a frame takes: polars' estimate of its values, and the 16-byte views of its
/// text, which that leaves out.
fn bytes_of(df: &DataFrame) -> u64 {
    let views = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::String | DataType::Binary))
        .count();
    (df.estimated_size() + 16 * views * df.height()) as u64
}

/// Keeps the last row of each post of a table in memory; rows without an id are all kept
/// (they are not repeats of each other).
pub(super) fn keep_last(id: &str, df: DataFrame) -> Result<DataFrame> {
    if df.column(id)?.null_count() == 0 {
        return Ok(df.unique_stable(Some(&[id.to_string()]), UniqueKeepStrategy::Last, None)?);
    }
    let with_id = df.clone().lazy().filter(col(id).is_not_null()).collect()?;
    let with_id = with_id.unique_stable(Some(&[id.to_string()]), UniqueKeepStrategy::Last, None)?;
    Ok(concat(
        [with_id.lazy(), df.lazy().filter(col(id).is_null())],
        UnionArgs::default(),
    )?
    .collect()?)
}

/// The posts' rows, given in input order, held in memory up to the budget and in parts on
/// disk past it.
pub(super) struct LastRows {
    id: String,
    /// Bytes the rows held may take (None: no limit, everything in memory).
    limit: Option<u64>,
    schema: SchemaRef,
    hasher: IdHasher,
    held: Vec<DataFrame>,
    held_bytes: u64,
    read: u64,
    parts: Option<Parts>,
    /// Seconds spent writing parts.
    writing: f64,
}

/// The last row of each post: the table in memory, or its parts on disk.
pub(super) enum Kept {
    Memory(DataFrame),
    // (boxed: the parts' buffers and folder are large beside a frame)
    Parts(Box<Parts>),
}

impl LastRows {
    /// Rows of `schema` whose posts are told apart by `id`.
    pub fn new(id: &str, schema: SchemaRef, limit: Option<u64>) -> Self {
        Self {
            id: id.to_string(),
            limit,
            schema,
            hasher: IdHasher::for_run(),
            held: Vec::new(),
            held_bytes: 0,
            read: 0,
            parts: None,
            writing: 0.0,
        }
    }

    /// Adds the next batch of rows; past the budget, the batches held go to the parts' files.
    pub fn push(&mut self, batch: DataFrame) -> Result<()> {
        if batch.height() == 0 {
            return Ok(());
        }
        self.read += batch.height() as u64;
        self.held_bytes += bytes_of(&batch);
        self.held.push(batch);
        if self.limit.is_some_and(|limit| self.held_bytes > limit) {
            self.flush()?;
        }
        Ok(())
    }

    /// The rows given.
    pub fn read(&self) -> u64 {
        self.read
    }

    fn flush(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        let flushed = self.write_held();
        self.writing += started.elapsed().as_secs_f64();
        flushed
    }

    fn write_held(&mut self) -> Result<()> {
        let parts = match self.parts.take() {
            Some(parts) => parts,
            None => Parts::new(
                &self.id,
                self.schema.clone(),
                self.limit.unwrap_or(super::MEMORY_LIMIT),
                self.hasher.clone(),
            )?,
        };
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let parts = self.parts.insert(parts);
        parts.append(held)
    }

    /// The last row of each post, once every batch is given.
    pub fn finish(mut self) -> Result<Kept> {
        if self.parts.is_none() {
            let mut all = DataFrame::empty_with_schema(&self.schema);
            for batch in std::mem::take(&mut self.held) {
                all.vstack_mut_owned(batch)?;
            }
            all.rechunk_mut_par();
            return Ok(Kept::Memory(keep_last(&self.id, all)?));
        }
        self.flush()?;
        let mut parts = self
            .parts
            .take()
            .ok_or_else(|| Error::Internal("dedupe='last' lost its parts".into()))?;
        parts.close()?;
        parts.writing = self.writing;
        Ok(Kept::Parts(Box::new(parts)))
    }
}

/// An Arrow IPC file being written, a record batch at a time, and the rows and bytes (in
/// memory) of each batch. (IPC: the columns' buffers as they are, no encoding either way.)
struct PartFile {
    path: PathBuf,
    writer: Option<ipc::write::FileWriter<BufWriter<File>>>,
    batches: Vec<(usize, u64)>,
}

/// A part's file read back, a record batch at a time, in the table's types.
struct PartReader {
    batches: ipc::read::FileReader<BufReader<File>>,
    schema: SchemaRef,
}

impl PartReader {
    /// The next `n` record batches as one frame.
    fn next(&mut self, n: usize) -> Result<DataFrame> {
        let mut out = DataFrame::empty_with_schema(&self.schema);
        for _ in 0..n {
            let batch = self
                .batches
                .next()
                .ok_or_else(|| Error::Internal("a part of dedupe='last' ended early".into()))??;
            let mut df = DataFrame::from(batch);
            // the table's own types again (text was written as large strings, categories as text)
            for (name, dtype) in self.schema.iter() {
                if df.column(name)?.dtype() != dtype {
                    let cast = df.column(name)?.cast(dtype)?;
                    df.with_column(cast)?;
                }
            }
            out.vstack_mut_owned(df)?;
        }
        out.rechunk_mut_par();
        Ok(out)
    }
}

impl PartFile {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            writer: None,
            batches: Vec::new(),
        }
    }

    /// Appends rows as a record batch.
    fn write(&mut self, dir: &SpillDir, rows: &DataFrame) -> Result<()> {
        if rows.height() == 0 {
            return Ok(());
        }
        let path = self.path.clone();
        let unwritable = |e: PolarsError| dir.unwritable(&path, &std::io::Error::other(e.to_string()));
        // categories as text (the file format keeps one dictionary a column for good)
        let mut rows = rows.clone();
        for c in rows.columns().to_vec() {
            if matches!(c.dtype(), DataType::Categorical(..) | DataType::Enum(..)) {
                rows.with_column(c.cast(&DataType::String)?)?;
            }
        }
        rows.rechunk_mut_par();
        self.batches.push((rows.height(), bytes_of(&rows)));
        // text as large strings: the values of these rows only, not the buffers their views
        // share with the rest of their batch
        for batch in rows.iter_chunks(CompatLevel::oldest(), false) {
            let writer = match &mut self.writer {
                Some(writer) => writer,
                None => {
                    let file = File::create(&path).map_err(|e| dir.unwritable(&path, &e))?;
                    let options = ipc::write::WriteOptions { compression: None };
                    let writer = ipc::write::FileWriter::try_new(
                        BufWriter::new(file),
                        Arc::new(batch.schema().clone()),
                        None,
                        options,
                    )
                    .map_err(unwritable)?;
                    self.writer.insert(writer)
                }
            };
            writer.write(&batch, None).map_err(unwritable)?;
        }
        Ok(())
    }

    /// Writes the file's footer and closes it.
    fn close(&mut self, dir: &SpillDir) -> Result<()> {
        if let Some(mut writer) = self.writer.take() {
            let unwritable = |e: std::io::Error| dir.unwritable(&self.path, &e);
            writer
                .finish()
                .map_err(|e| unwritable(std::io::Error::other(e.to_string())))?;
            use std::io::Write;
            writer.into_inner().flush().map_err(unwritable)?;
        }
        Ok(())
    }

    /// Record batches taken together, in order, of about `bytes` each (at least one a step).
    fn steps(&self, bytes: u64) -> Vec<usize> {
        let mut out: Vec<(usize, u64)> = Vec::new();
        for &(_, size) in &self.batches {
            match out.last_mut() {
                Some((n, b)) if *b + size <= bytes => {
                    *n += 1;
                    *b += size;
                }
                _ => out.push((1, size)),
            }
        }
        out.into_iter().map(|(n, _)| n).collect()
    }

    /// Reads the file back (once closed); None when no row was written.
    fn reader(&self, schema: &SchemaRef) -> Result<Option<PartReader>> {
        if self.batches.is_empty() {
            return Ok(None);
        }
        let unreadable = |why: String| {
            Error::input(
                InputCode::UnreadableFile,
                format!(
                    "{WHAT} could not read back its temporary file {} ({why}); it may have been removed while the run went on",
                    self.path.display()
                ),
            )
        };
        let mut file = BufReader::new(File::open(&self.path).map_err(|e| unreadable(e.to_string()))?);
        let metadata = ipc::read::read_file_metadata(&mut file).map_err(|e| unreadable(e.to_string()))?;
        Ok(Some(PartReader {
            batches: ipc::read::FileReader::new(file, metadata, None, None),
            schema: schema.clone(),
        }))
    }
}

/// Rows reordered by part (`rows_by_part`), and where each part's rows start: part `p` is
/// rows `starts[p]..starts[p + 1]` (the rows without an id last).
fn by_part(rows: &DataFrame, (parts, no_id): (Vec<Vec<IdxSize>>, Vec<IdxSize>)) -> Result<(DataFrame, Vec<usize>)> {
    let mut order: Vec<IdxSize> = Vec::with_capacity(rows.height());
    let mut starts = Vec::with_capacity(parts.len() + 2);
    for p in parts.into_iter().chain(std::iter::once(no_id)) {
        starts.push(order.len());
        order.extend(p);
    }
    starts.push(order.len());
    let mut reordered = rows.take(&IdxCa::from_vec("".into(), order))?;
    reordered.rechunk_mut_par();
    Ok((reordered, starts))
}

/// The rows of a table split by their ids' hashes into parts, each an Arrow IPC file, and the
/// rows without an id in a file of their own.
pub(super) struct Parts {
    id: String,
    schema: SchemaRef,
    budget: u64,
    hasher: IdHasher,
    /// (before the folder: the files are closed before it is removed)
    files: Vec<PartFile>,
    no_id: PartFile,
    /// Seconds spent writing the files.
    pub writing: f64,
    dir: SpillDir,
}

impl Parts {
    fn new(id: &str, schema: SchemaRef, budget: u64, hasher: IdHasher) -> Result<Self> {
        let dir = SpillDir::for_run(WHAT)?;
        Ok(Self {
            id: id.to_string(),
            schema,
            budget,
            hasher,
            files: (0..PARTS).map(|p| PartFile::new(dir.part(p))).collect(),
            no_id: PartFile::new(dir.file("no-id")),
            writing: 0.0,
            dir,
        })
    }

    /// Appends batches (in input order) to the parts' files, a record batch per part and
    /// batch; each batch is dropped once written (memory holds one reordered copy at a time).
    fn append(&mut self, batches: Vec<DataFrame>) -> Result<()> {
        for b in batches {
            let split = rows_by_part(b.column(&self.id)?, &self.hasher, 0, PART_BITS)?;
            let (rows, starts) = by_part(&b, split)?;
            drop(b);
            for p in 0..=PARTS {
                let file = self.files.get_mut(p).unwrap_or(&mut self.no_id);
                let (from, to) = (starts[p], starts[p + 1]);
                file.write(&self.dir, &rows.slice(from as i64, to - from))?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        for f in self.files.iter_mut().chain(std::iter::once(&mut self.no_id)) {
            f.close(&self.dir)?;
        }
        Ok(())
    }

    /// Gives each part's last rows of its posts to `each`, then the rows without an id (in
    /// steps); `stop` is asked between parts (Ctrl-C: `Error::Interrupted`). Each part's file
    /// is removed once taken. Returns the rows given.
    pub fn for_each(mut self, stop: &dyn Fn() -> bool, each: &mut dyn FnMut(DataFrame) -> Result<()>) -> Result<u64> {
        let files = std::mem::take(&mut self.files);
        let mut given = 0u64;
        let mut give = |rows: DataFrame| -> Result<()> {
            given += rows.height() as u64;
            each(rows)
        };
        for file in &files {
            if stop() {
                return Err(Error::Interrupted);
            }
            self.take_part(file, PART_BITS, &mut give)?;
            let _ = std::fs::remove_file(&file.path);
        }
        if let Some(mut reader) = self.no_id.reader(&self.schema)? {
            for step in self.no_id.steps(self.budget / 4) {
                if stop() {
                    return Err(Error::Interrupted);
                }
                give(reader.next(step)?)?;
            }
        }
        Ok(given)
    }

    /// The last rows of the posts of a part's file whose hashes share their top `used` bits.
    fn take_part(&self, file: &PartFile, used: u32, give: &mut dyn FnMut(DataFrame) -> Result<()>) -> Result<()> {
        let Some(mut reader) = file.reader(&self.schema)? else {
            return Ok(());
        };
        let quarter = self.budget / 4;
        let steps = file.steps(quarter);
        let mut kept: Option<DataFrame> = None;
        for (i, &step) in steps.iter().enumerate() {
            let rows = reader.next(step)?;
            let rows = match kept.take() {
                Some(mut k) => {
                    k.vstack_mut_owned(rows)?;
                    k
                }
                None => rows,
            };
            let last = rows.unique_stable(Some(std::slice::from_ref(&self.id)), UniqueKeepStrategy::Last, None)?;
            if i + 1 < steps.len() && used < 64 && bytes_of(&last) > quarter {
                // too many posts for a quarter of the budget: split by the next bits
                drop((reader, last));
                return self.split(file, used, give);
            }
            kept = Some(last);
        }
        match kept {
            Some(k) => give(k),
            None => Ok(()),
        }
    }

    /// Splits a part's file by its hashes' next `FANOUT_BITS` bits into files beside it, each
    /// then taken (and removed) in turn.
    fn split(&self, file: &PartFile, used: u32, give: &mut dyn FnMut(DataFrame) -> Result<()>) -> Result<()> {
        let Some(mut reader) = file.reader(&self.schema)? else {
            return Ok(());
        };
        let mut pieces: Vec<PartFile> = (0..FANOUT)
            .map(|k| {
                let mut name = file.path.as_os_str().to_owned();
                name.push(format!(".{k:x}"));
                PartFile::new(PathBuf::from(name))
            })
            .collect();
        for step in file.steps(self.budget / 4) {
            let rows = reader.next(step)?;
            let split = rows_by_part(rows.column(&self.id)?, &self.hasher, used, FANOUT_BITS)?;
            let (rows, starts) = by_part(&rows, split)?;
            for (k, piece) in pieces.iter_mut().enumerate() {
                let (from, to) = (starts[k], starts[k + 1]);
                piece.write(&self.dir, &rows.slice(from as i64, to - from))?;
            }
        }
        drop(reader);
        let _ = std::fs::remove_file(&file.path);
        for piece in &mut pieces {
            piece.close(&self.dir)?;
        }
        for piece in &pieces {
            let taken = self.take_part(piece, used + FANOUT_BITS, give);
            let _ = std::fs::remove_file(&piece.path);
            taken?;
        }
        Ok(())
    }
}

/// The rows of each part of a column of ids, by the `bits` bits of their hashes below the top
/// `used` ones, in row order; and the rows without an id.
fn rows_by_part(column: &Column, hasher: &IdHasher, used: u32, bits: u32) -> Result<(Vec<Vec<IdxSize>>, Vec<IdxSize>)> {
    use polars_arrow::array::Array;
    let n = 1usize << bits;
    let mut parts: Vec<Vec<IdxSize>> = (0..n).map(|_| Vec::with_capacity(column.len() / n + 16)).collect();
    let mut no_id = Vec::new();
    let s = column.as_materialized_series().cast(&DataType::String)?;
    let mut row: IdxSize = 0;
    for arr in s.str()?.downcast_iter() {
        let valid = arr.validity().filter(|v| v.unset_bits() > 0);
        for j in 0..arr.len() {
            if valid.is_some_and(|v| !v.get_bit(j)) {
                no_id.push(row);
            } else {
                let h = crate::ids::id_hash(arr, j, hasher);
                let p = ((h << used) >> (64 - bits)) as usize;
                parts[p].push(row);
            }
            row += 1;
        }
    }
    Ok((parts, no_id))
}

/// Where the parts' files of a run are (tests).
#[cfg(test)]
fn folder(rows: &LastRows) -> Option<PathBuf> {
    rows.parts.as_ref().map(|p| p.dir.path().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches of posts: ids `p{i}` with a value, some repeated far apart, some null.
    fn batches(n_batches: usize, per: usize, id_of: impl Fn(usize) -> Option<String>) -> Result<Vec<DataFrame>> {
        (0..n_batches)
            .map(|b| {
                let rows: Vec<usize> = (b * per..(b + 1) * per).collect();
                let ids: Vec<Option<String>> = rows.iter().map(|&i| id_of(i)).collect();
                let values: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
                let days: Vec<i32> = rows.iter().map(|&i| (i % 50) as i32).collect();
                Ok(DataFrame::new(
                    per,
                    vec![
                        Column::new("post_id".into(), ids),
                        Column::new("likes".into(), values),
                        Column::new("day".into(), days).cast(&DataType::Date)?,
                        Column::new(
                            "platform".into(),
                            rows.iter().map(|i| format!("pl{}", i % 3)).collect::<Vec<_>>(),
                        )
                        .cast(&DataType::from_categories(Categories::global()))?,
                    ],
                )?)
            })
            .collect()
    }

    /// The rows kept, through `LastRows` with `limit`, sorted; and whether they were spilled.
    fn kept(batches: &[DataFrame], limit: Option<u64>) -> Result<(DataFrame, bool, u64)> {
        let schema = batches[0].schema().clone();
        let mut rows = LastRows::new("post_id", schema, limit);
        let mut dirs = Vec::new();
        for b in batches {
            rows.push(b.clone())?;
            dirs.extend(folder(&rows));
        }
        let read = rows.read();
        let (out, spilled) = match rows.finish()? {
            Kept::Memory(df) => (df, false),
            Kept::Parts(parts) => {
                let mut out: Vec<DataFrame> = Vec::new();
                let given = parts.for_each(&|| false, &mut |df| {
                    out.push(df);
                    Ok(())
                })?;
                let mut all = DataFrame::empty_with_schema(batches[0].schema());
                for df in out {
                    all.vstack_mut_owned(df)?;
                }
                assert_eq!(given, all.height() as u64);
                (all, true)
            }
        };
        assert!(dirs.iter().all(|d| !d.exists()), "the parts' folder is removed");
        let sorted = out.sort(["likes"], SortMultipleOptions::default())?;
        Ok((sorted, spilled, read))
    }

    fn want(batches: &[DataFrame]) -> Result<DataFrame> {
        let mut all = DataFrame::empty_with_schema(batches[0].schema());
        for b in batches {
            all.vstack_mut(b)?;
        }
        Ok(keep_last("post_id", all)?.sort(["likes"], SortMultipleOptions::default())?)
    }

    #[test]
    fn spilled_parts_keep_the_same_last_rows_as_memory() -> Result<()> {
        // 40 batches of 2,000: ids repeat within a batch, across batches far apart, and
        // every 97th row has no id
        let data = batches(40, 2000, |i| match i {
            i if i % 97 == 0 => None,
            i if i % 5 == 0 => Some(format!("p{}", i % 7919)),
            i => Some(format!("p{i}")),
        })?;
        let want = want(&data)?;
        let (memory, spilled, read) = kept(&data, None)?;
        assert!(!spilled);
        assert_eq!(read, 80_000);
        assert!(memory.equals_missing(&want));
        // a budget of a few batches: written to parts, each part read in one step
        let (parts, spilled, _) = kept(&data, Some(200_000))?;
        assert!(spilled);
        assert!(parts.equals_missing(&want), "{parts} {want}");
        // a budget smaller than one part: the parts are read in steps and split again
        let (tiny, spilled, _) = kept(&data, Some(4_000))?;
        assert!(spilled);
        assert!(tiny.equals_missing(&want));
        Ok(())
    }

    #[test]
    fn one_post_repeated_everywhere_keeps_its_last_row() -> Result<()> {
        // every row the same post (hashes share all their bits: steps, no split), and an
        // integer id
        let data = batches(30, 1000, |_| Some("same".into()))?;
        let (tiny, spilled, _) = kept(&data, Some(4_000))?;
        assert!(spilled);
        assert_eq!(tiny.height(), 1);
        assert!(tiny.equals_missing(&want(&data)?));
        let ints: Vec<DataFrame> = data
            .iter()
            .map(|b| {
                let mut b = b.clone();
                let id = Column::new(
                    "post_id".into(),
                    b.column("likes")?.i64()?.apply_values(|v| v % 1000).into_series(),
                );
                b.with_column(id)?;
                Ok(b)
            })
            .collect::<Result<_>>()?;
        let (tiny, _, _) = kept(&ints, Some(4_000))?;
        assert_eq!(tiny.height(), 1000);
        assert!(tiny.equals_missing(&want(&ints)?));
        Ok(())
    }

    #[test]
    fn a_stopped_run_is_interrupted_and_leaves_no_file() -> Result<()> {
        let data = batches(10, 2000, |i| Some(format!("p{i}")))?;
        let mut rows = LastRows::new("post_id", data[0].schema().clone(), Some(1));
        for b in &data {
            rows.push(b.clone())?;
        }
        let dir = folder(&rows).ok_or_else(|| Error::Internal("not spilled".into()))?;
        assert!(dir.exists());
        let Kept::Parts(parts) = rows.finish()? else {
            return Err(Error::Internal("not spilled".into()));
        };
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let stop = || asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 3;
        let got = parts.for_each(&stop, &mut |_| Ok(()));
        assert!(matches!(got, Err(Error::Interrupted)));
        assert!(!dir.exists());
        Ok(())
    }
}

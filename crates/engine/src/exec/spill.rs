//! The `post_id` repeat check in a fixed memory budget (`memory_limit`).
//!
//! The posts pass hashes each id to 8 bytes and splits a batch's hashes into parts by their top
//! bits (`ids::split_id_hashes`). While the hashes held fit the budget they stay in memory
//! and are checked part by part at the end (`ids::repeated_hashes`), as fast as before. Once
//! they pass it, the batches held are appended to one temporary file per part and dropped, and
//! so on as the pass goes; at the end each part's file is checked on its own, in a table that
//! fits its thread's share of the budget. A part too large for that table is split again, into
//! `FANOUT` files by the next bits of its hashes, and each of those checked in turn (a part
//! whose hashes share all but a few bits has few distinct values, which fit any table).
//!
//! Exact: equal ids have equal hashes, so every repeat is found; a repeated hash is only a
//! candidate, checked against the ids themselves (`posts::repeated_error`). The candidates come
//! in pages of at most `PAGE` hashes (those past the first page in a file too), so the check of
//! a table passed twice, where every post is a candidate, stays in the budget as well.
//!
//! The files live in a folder of their own under the system's temporary folder
//! (`std::env::temp_dir`: `TMPDIR` on Unix), removed when the check is dropped: at the end of
//! the run, on an error, or when Ctrl-C stops it.

use crate::error::{Error, InputCode, Result};
use crate::ids::{self as kernel, PART_BITS};
use polars::prelude::PlHashSet;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The default budget of the repeat check: 256 MB, the hashes of some 25 million posts
/// (README, docs/scale.md).
pub const MEMORY_LIMIT: u64 = 256_000_000;

/// Candidates checked against the ids at a time.
const PAGE: usize = 1 << 20;

/// Files a part too large for its table is split into, by its hashes' next bits.
const FANOUT_BITS: u32 = 4;
const FANOUT: usize = 1 << FANOUT_BITS;

/// Parts checked between two questions of `stop`.
const CHECK_GROUP: usize = 16;

/// How many hashes ahead a table slot is prefetched.
const PREFETCH_AHEAD: usize = 16;

/// Hashes read from a file at a time, and buffered for each file a part is split into.
const READ_CHUNK: usize = 1 << 14;
const WRITE_CHUNK: usize = 1 << 10;

/// A folder of temporary files, removed with everything in it when dropped.
pub(super) struct SpillDir {
    path: PathBuf,
    /// What writes there, for the errors (the post_id check, dedupe='last').
    what: &'static str,
}

impl SpillDir {
    fn new() -> Result<Self> {
        Self::for_run("the post_id check")
    }

    /// A new folder for `what` of this run.
    pub(super) fn for_run(what: &'static str) -> Result<Self> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut last = None;
        for _ in 0..16 {
            let run = RUNS.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("socialkpi-spill-{}-{nanos}-{run}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path, what }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(unwritable_by(what, &path, &e)),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("no free name"));
        Err(unwritable_by(what, &base, &e))
    }

    pub(super) fn part(&self, p: usize) -> PathBuf {
        self.path.join(format!("part-{p:03}"))
    }

    /// A file of the folder.
    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The error of a file of the folder that could not be written.
    pub(super) fn unwritable(&self, path: &Path, e: &std::io::Error) -> Error {
        unwritable_by(self.what, path, e)
    }

    #[cfg(test)]
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        // (nothing to report from a drop: a folder left behind is named for what it is)
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn unwritable(path: &Path, e: &std::io::Error) -> Error {
    unwritable_by("the post_id check", path, e)
}

fn unwritable_by(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::input(
        InputCode::UnwritableFile,
        format!(
            "{what} could not write its temporary files under {} ({e}); free some disk space there, point TMPDIR at a folder with room, or raise memory_limit=",
            path.display()
        ),
    )
}

fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    Error::input(
        InputCode::UnreadableFile,
        format!(
            "the post_id check could not read back its temporary file {} ({e}); it may have been removed while the run went on",
            path.display()
        ),
    )
}

/// Appends hashes to a file (created when missing).
fn append(path: &Path, slices: &[&[u64]]) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| unwritable(path, &e))?;
    for s in slices.iter().filter(|s| !s.is_empty()) {
        let bytes: Vec<u8> = s.iter().flat_map(|h| h.to_le_bytes()).collect();
        file.write_all(&bytes).map_err(|e| unwritable(path, &e))?;
    }
    Ok(())
}

/// Calls `f` with a file's hashes, a chunk at a time.
fn read_chunks(path: &Path, buf: &mut Vec<u8>, mut f: impl FnMut(&[u64]) -> Result<()>) -> Result<()> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        // a part no batch wrote to
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unreadable(path, &e)),
    };
    buf.resize(READ_CHUNK * 8, 0);
    let mut hashes = Vec::with_capacity(READ_CHUNK);
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(unreadable(path, &e)),
            }
        }
        if filled % 8 != 0 {
            return Err(unreadable(path, &std::io::Error::other("cut short")));
        }
        hashes.clear();
        hashes.extend(buf[..filled].chunks_exact(8).map(|b| {
            let mut le = [0u8; 8];
            le.copy_from_slice(b);
            u64::from_le_bytes(le)
        }));
        if !hashes.is_empty() {
            f(&hashes)?;
        }
        if filled < buf.len() {
            return Ok(());
        }
    }
}

fn file_hashes(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len() / 8),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(unreadable(path, &e)),
    }
}

/// The hashes of the posts' ids seen so far, in memory up to the budget and in files past it.
pub(super) struct IdHashes {
    /// Bytes the check may hold (None: no limit, everything in memory).
    limit: Option<u64>,
    /// Batches held, each split into parts (`ids::split_id_hashes`).
    batches: Vec<Vec<Vec<u64>>>,
    /// Bytes the batches held take.
    held: u64,
    spill: Option<SpillDir>,
}

impl IdHashes {
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            batches: Vec::new(),
            held: 0,
            spill: None,
        }
    }

    /// Adds a batch's hashes, split into parts; past the budget, the batches held go to files.
    pub fn push(&mut self, split: Vec<Vec<u64>>) -> Result<()> {
        self.held += split.iter().map(|p| 8 * p.capacity() as u64).sum::<u64>();
        self.batches.push(split);
        if self.limit.is_some_and(|limit| self.held > limit) {
            self.flush()?;
        }
        Ok(())
    }

    /// Whether the hashes went to files.
    #[cfg(test)]
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Appends the batches held to their parts' files and drops them.
    fn flush(&mut self) -> Result<()> {
        let dir = match self.spill.take() {
            Some(dir) => dir,
            None => SpillDir::new()?,
        };
        let batches = std::mem::take(&mut self.batches);
        self.held = 0;
        let written = (0..1usize << PART_BITS).try_for_each(|p| {
            let slices: Vec<&[u64]> = batches.iter().filter_map(|b| b.get(p)).map(Vec::as_slice).collect();
            match slices.iter().any(|s| !s.is_empty()) {
                true => append(&dir.part(p), &slices),
                false => Ok(()),
            }
        });
        self.spill = Some(dir);
        written
    }

    /// The hashes seen more than once: the candidates of the repeat check. `stop` is asked
    /// between groups of parts of spilled hashes (Ctrl-C: `Error::Interrupted`).
    pub fn repeated(mut self, stop: &dyn Fn() -> bool) -> Result<Candidates> {
        if self.spill.is_none() {
            let mut found: Vec<u64> = kernel::repeated_hashes(&self.batches).into_iter().collect();
            found.sort_unstable();
            return Ok(Candidates {
                memory: found,
                next: 0,
                file: None,
            });
        }
        self.flush()?;
        let dir = self
            .spill
            .take()
            .ok_or_else(|| Error::Internal("spilled hashes without a folder".into()))?;
        let threads = THREAD_POOL.current_num_threads().max(1) as u64;
        let share = self.limit.unwrap_or(MEMORY_LIMIT) / threads;
        let sink = Mutex::new(Sink {
            first: Vec::new(),
            rest: None,
            rest_path: dir.path.join("candidates"),
        });
        // a group of parts at a time, Ctrl-C asked between them (on the calling thread)
        let parts = 1usize << PART_BITS;
        for group in (0..parts).step_by(CHECK_GROUP) {
            if stop() {
                return Err(Error::Interrupted);
            }
            THREAD_POOL.install(|| {
                (group..(group + CHECK_GROUP).min(parts))
                    .into_par_iter()
                    .map_init(
                        || Checker::new(share),
                        |checker, p| {
                            let path = dir.part(p);
                            let checked = checker.part(&path, PART_BITS, &sink);
                            // a part's file goes once it is checked: the disk it takes is freed
                            let _ = std::fs::remove_file(&path);
                            checked
                        },
                    )
                    .collect::<Result<()>>()
            })?;
        }
        let sink = sink
            .into_inner()
            .map_err(|_| Error::Internal("the candidates of the post_id check were lost".into()))?;
        let file = match sink.rest {
            Some(file) => {
                drop(file);
                let reader = File::open(&sink.rest_path).map_err(|e| unreadable(&sink.rest_path, &e))?;
                Some((reader, dir))
            }
            None => None,
        };
        let mut memory = sink.first;
        memory.sort_unstable();
        Ok(Candidates { memory, next: 0, file })
    }
}

impl IdHashes {
    /// The candidates of the repeat check and, when `keep` and the hashes stayed in memory,
    /// the distinct hashes in order: what states keep of their posts (with `IdHasher::Stable`).
    /// A part holds the hashes of its top bits, so the parts' sorted hashes, one part after
    /// another, are in order; sorting a part finds its repeats as well.
    pub fn repeated_and_kept(self, keep: bool, stop: &dyn Fn() -> bool) -> Result<(Candidates, Option<Vec<u64>>)> {
        if !keep || self.spill.is_some() {
            return Ok((self.repeated(stop)?, None));
        }
        let parts: Vec<(Vec<u64>, Vec<u64>)> = THREAD_POOL.install(|| {
            (0..1usize << PART_BITS)
                .into_par_iter()
                .map(|p| {
                    let mut hashes: Vec<u64> = self
                        .batches
                        .iter()
                        .filter_map(|b| b.get(p))
                        .flatten()
                        .copied()
                        .collect();
                    hashes.sort_unstable();
                    let mut repeated = Vec::new();
                    hashes.dedup_by(|later, kept| {
                        let same = later == kept;
                        if same && repeated.last() != Some(kept) {
                            repeated.push(*kept);
                        }
                        same
                    });
                    (hashes, repeated)
                })
                .collect()
        });
        drop(self);
        let kept: Vec<u64> = parts.iter().flat_map(|(hashes, _)| hashes.iter().copied()).collect();
        let memory: Vec<u64> = parts.into_iter().flat_map(|(_, repeated)| repeated).collect();
        Ok((
            Candidates {
                memory,
                next: 0,
                file: None,
            },
            Some(kept),
        ))
    }
}

/// Where the checked parts' candidates go: the first page in memory, the rest to a file.
struct Sink {
    first: Vec<u64>,
    rest: Option<File>,
    rest_path: PathBuf,
}

impl Sink {
    fn push(&mut self, found: &[u64]) -> Result<()> {
        let room = PAGE.saturating_sub(self.first.len()).min(found.len());
        self.first.extend_from_slice(&found[..room]);
        let more = &found[room..];
        if more.is_empty() {
            return Ok(());
        }
        let path = &self.rest_path;
        if self.rest.is_none() {
            self.rest = Some(File::create(path).map_err(|e| unwritable(path, &e))?);
        }
        if let Some(file) = &mut self.rest {
            let bytes: Vec<u8> = more.iter().flat_map(|h| h.to_le_bytes()).collect();
            file.write_all(&bytes).map_err(|e| unwritable(path, &e))?;
        }
        Ok(())
    }
}

/// A thread's check of parts: an open-addressing table of the distinct hashes of a part (at
/// most half full), which may take its share of the budget.
struct Checker {
    /// Distinct hashes the table may hold (a power of two).
    most: usize,
    table: Vec<u64>,
    /// One bit a slot: the slot's hash was reported already.
    reported: Vec<u64>,
    read: Vec<u8>,
    found: Vec<u64>,
}

impl Checker {
    fn new(share: u64) -> Self {
        // a slot takes 8 bytes and a bit, at half load: 2 x (8 + 1/8) bytes a distinct hash;
        // the read and split buffers take some 0.25 MB beside it
        let room = share.saturating_sub(1 << 18) / 17;
        let most = (room.max(1 << 10) as usize).next_power_of_two() / 2;
        Self {
            most: most.max(1 << 9),
            table: Vec::new(),
            reported: Vec::new(),
            read: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Checks a part's file whose hashes share their top `used` bits.
    fn part(&mut self, path: &Path, used: u32, sink: &Mutex<Sink>) -> Result<()> {
        let n = file_hashes(path)?;
        // hashes that share all but `64 - used` bits have at most 2^(64 - used) values
        let distinct_at_most = match 64 - used {
            bits if bits < 63 => n.min(1 << bits),
            _ => n,
        };
        if distinct_at_most <= self.most as u64 {
            return self.scan(path, distinct_at_most as usize, sink);
        }
        self.split(path, used, sink)
    }

    /// The repeated hashes of a file whose distinct hashes fit the table.
    fn scan(&mut self, path: &Path, distinct: usize, sink: &Mutex<Sink>) -> Result<()> {
        let size = (2 * distinct).next_power_of_two().max(16);
        let bits = size.trailing_zeros();
        self.table.clear();
        self.table.resize(size, 0);
        self.reported.clear();
        self.reported.resize(size.div_ceil(64), 0);
        let (table, reported, found) = (&mut self.table, &mut self.reported, &mut self.found);
        // 0 marks an empty slot; the hash 0 itself is counted beside the table
        let mut zeros = 0u64;
        let mut read = std::mem::take(&mut self.read);
        let slot_of = |h: u64| (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
        let scanned = read_chunks(path, &mut read, |hashes| {
            for (j, &h) in hashes.iter().enumerate() {
                // the table outgrows the core's cache: each slot is asked for a few hashes ahead
                if let Some(&ahead) = hashes.get(j + PREFETCH_AHEAD) {
                    kernel::prefetch(&table[slot_of(ahead)]);
                }
                if h == 0 {
                    zeros += 1;
                    if zeros == 2 {
                        found.push(0);
                    }
                    continue;
                }
                // the hashes of a part share their top bits: mixed, all of them place a hash
                if let Some(slot) = kernel::place(table, slot_of(h), h) {
                    if reported[slot / 64] >> (slot % 64) & 1 == 0 {
                        reported[slot / 64] |= 1 << (slot % 64);
                        found.push(h);
                    }
                }
            }
            if found.len() >= PAGE / 16 {
                let mut sink = sink
                    .lock()
                    .map_err(|_| Error::Internal("the post_id check failed".into()))?;
                sink.push(found.as_slice())?;
                found.clear();
            }
            Ok(())
        });
        self.read = read;
        scanned?;
        let mut sink = sink
            .lock()
            .map_err(|_| Error::Internal("the post_id check failed".into()))?;
        sink.push(&self.found)?;
        self.found.clear();
        Ok(())
    }

    /// Splits a file by its hashes' next `FANOUT_BITS` bits into files beside it, each then
    /// checked (and removed) in turn.
    fn split(&mut self, path: &Path, used: u32, sink: &Mutex<Sink>) -> Result<()> {
        let shift = 64 - used - FANOUT_BITS;
        let piece = |k: usize| {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{k:x}"));
            PathBuf::from(name)
        };
        let mut buffers: Vec<Vec<u64>> = (0..FANOUT).map(|_| Vec::with_capacity(WRITE_CHUNK)).collect();
        let mut read = std::mem::take(&mut self.read);
        let written = read_chunks(path, &mut read, |hashes| {
            for &h in hashes {
                let k = (h >> shift) as usize & (FANOUT - 1);
                buffers[k].push(h);
                if buffers[k].len() == WRITE_CHUNK {
                    append(&piece(k), &[buffers[k].as_slice()])?;
                    buffers[k].clear();
                }
            }
            Ok(())
        });
        self.read = read;
        written?;
        for (k, b) in buffers.iter().enumerate() {
            append(&piece(k), &[b.as_slice()])?;
        }
        drop(buffers);
        let _ = std::fs::remove_file(path);
        for k in 0..FANOUT {
            let checked = self.part(&piece(k), used + FANOUT_BITS, sink);
            let _ = std::fs::remove_file(piece(k));
            checked?;
        }
        Ok(())
    }
}

/// The hashes seen more than once, a page at a time.
pub(super) struct Candidates {
    /// The first page (all of them when they are few), sorted.
    memory: Vec<u64>,
    /// Where the next page of `memory` starts.
    next: usize,
    /// The others, in a file (and the folder it is in, removed when done).
    file: Option<(File, SpillDir)>,
}

impl Candidates {
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.file.is_none()
    }

    /// The next page of candidates (None when all were given).
    pub fn next_page(&mut self) -> Result<Option<PlHashSet<u64>>> {
        if self.next < self.memory.len() {
            let end = (self.next + PAGE).min(self.memory.len());
            let page = self.memory[self.next..end].iter().copied().collect();
            self.next = end;
            return Ok(Some(page));
        }
        let Some((file, dir)) = &mut self.file else {
            return Ok(None);
        };
        let path = dir.path.join("candidates");
        let mut bytes = vec![0u8; PAGE * 8];
        let mut filled = 0;
        while filled < bytes.len() {
            match file.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(unreadable(&path, &e)),
            }
        }
        if filled == 0 {
            self.file = None;
            return Ok(None);
        }
        Ok(Some(
            bytes[..filled - filled % 8]
                .chunks_exact(8)
                .map(|b| {
                    let mut le = [0u8; 8];
                    le.copy_from_slice(b);
                    u64::from_le_bytes(le)
                })
                .collect(),
        ))
    }

    /// Whether the candidates take more than one page (asked before the first).
    pub fn paged(&self) -> bool {
        self.memory.len() > PAGE || self.file.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes spread over every part, as the ids' hashes are.
    fn spread(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x5555
    }

    fn split(batch: &[u64]) -> Vec<Vec<u64>> {
        let mut out = kernel::hash_parts(batch.len());
        for &h in batch {
            kernel::push_part(&mut out, h);
        }
        out
    }

    fn all(mut c: Candidates) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        while let Some(page) = c.next_page()? {
            out.extend(page);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn check(limit: Option<u64>, batches: &[Vec<u64>]) -> Result<(Vec<u64>, bool, Vec<PathBuf>)> {
        let mut ids = IdHashes::new(limit);
        let mut dirs = Vec::new();
        for b in batches {
            ids.push(split(b))?;
            if let Some(d) = &ids.spill {
                dirs.push(d.path.clone());
            }
        }
        let spilled = ids.spilled();
        Ok((all(ids.repeated(&|| false)?)?, spilled, dirs))
    }

    #[test]
    fn spilled_hashes_find_the_same_repeats_as_memory() -> Result<()> {
        // 200 batches; repeats inside a batch, across batches far apart, a hash three times, 0
        let mut batches: Vec<Vec<u64>> = (0..200u64)
            .map(|b| (b * 1000..b * 1000 + 1000).map(spread).collect())
            .collect();
        batches[0].push(spread(5));
        batches[3].push(spread(5));
        batches[199].extend([spread(17), spread(199_999), 0]);
        batches[100].extend([0, spread(17)]);
        let mut want = vec![spread(5), spread(17), spread(199_999), 0];
        want.sort_unstable();
        let (memory, spilled, _) = check(None, &batches)?;
        assert!(!spilled);
        assert_eq!(memory, want);
        // a budget of a few batches: spilled, each part's table of its own
        let (on_disk, spilled, dirs) = check(Some(100_000), &batches)?;
        assert!(spilled);
        assert_eq!(on_disk, want);
        // the smallest table (512 distinct hashes) for parts of some 780: split again
        assert!(200_000 / 256 > Checker::new(0).most);
        let (tiny, _, _) = check(Some(1), &batches)?;
        assert_eq!(tiny, want);
        // the folders are gone
        assert!(!dirs.is_empty() && dirs.iter().all(|d| !d.exists()));
        Ok(())
    }

    #[test]
    fn kept_hashes_are_the_distinct_ones_in_order_with_the_same_repeats() -> Result<()> {
        let mut batches: Vec<Vec<u64>> = (0..50u64)
            .map(|b| (b * 1000..b * 1000 + 1000).map(spread).collect())
            .collect();
        batches[0].extend([spread(5), 0]);
        batches[49].extend([spread(5), spread(5), spread(49_999), 0]);
        let mut ids = IdHashes::new(None);
        for b in &batches {
            ids.push(split(b))?;
        }
        let (candidates, kept) = ids.repeated_and_kept(true, &|| false)?;
        let mut want: Vec<u64> = batches.concat();
        want.sort_unstable();
        want.dedup();
        assert_eq!(kept, Some(want));
        let mut repeats = vec![spread(5), spread(49_999), 0];
        repeats.sort_unstable();
        assert_eq!(all(candidates)?, repeats);
        // not kept when not asked, nor once spilled (the repeats are the same)
        let (memory, spilled, _) = check(Some(1), &batches)?;
        assert!(spilled);
        assert_eq!(memory, repeats);
        let mut ids = IdHashes::new(Some(1));
        ids.push(split(&batches[0]))?;
        assert!(ids.repeated_and_kept(true, &|| false)?.1.is_none());
        let mut ids = IdHashes::new(None);
        ids.push(split(&batches[0]))?;
        assert!(ids.repeated_and_kept(false, &|| false)?.1.is_none());
        Ok(())
    }

    #[test]
    fn a_stopped_check_is_interrupted_and_leaves_no_file() -> Result<()> {
        let batch: Vec<u64> = (0..50_000).map(spread).collect();
        let mut ids = IdHashes::new(Some(1));
        ids.push(split(&batch))?;
        let dir = ids.spill.as_ref().map(|d| d.path.clone());
        assert!(dir.as_ref().is_some_and(|d| d.exists()));
        let asked = std::sync::atomic::AtomicUsize::new(0);
        // stopped at the third group of parts
        let stop = || asked.fetch_add(1, Ordering::Relaxed) == 2;
        assert!(matches!(ids.repeated(&stop), Err(Error::Interrupted)));
        assert!(dir.is_some_and(|d| !d.exists()));
        Ok(())
    }

    #[test]
    fn hashes_that_differ_only_in_low_bits_are_told_apart() -> Result<()> {
        // one part, every hash sharing its top 60 bits: at most 16 values, read in one table
        let base = 0xABCD_EF01_2345_6780u64;
        let batch: Vec<u64> = (0..5000u64).map(|i| base | (i % 16)).chain([base | 1]).collect();
        let (got, spilled, _) = check(Some(1), &[batch])?;
        assert!(spilled);
        assert_eq!(got, (0..16).map(|i| base | i).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn many_candidates_come_in_pages() -> Result<()> {
        // a table passed twice: every hash a candidate, more than a page of them
        let n = PAGE as u64 + 5000;
        let batch: Vec<u64> = (0..n).map(spread).collect();
        let (got, _, dirs) = check(Some(1 << 20), &[batch.clone(), batch.clone()])?;
        let mut want = batch;
        want.sort_unstable();
        assert_eq!(got, want);
        assert!(dirs.iter().all(|d| !d.exists()));
        let mut ids = IdHashes::new(Some(1 << 20));
        ids.push(split(&want))?;
        ids.push(split(&want))?;
        let mut c = ids.repeated(&|| false)?;
        assert!(c.paged());
        assert!(c.next_page()?.is_some_and(|p| p.len() == PAGE));
        assert!(c.next_page()?.is_some_and(|p| p.len() == 5000));
        assert!(c.next_page()?.is_none());
        Ok(())
    }
}

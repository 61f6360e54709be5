//! The ways rows reach the posts pass (`super::PostsPass`): Parquet slices (and frames in
//! memory) a slice at a time, CSV blocks, a polars stream, and the parts of `dedupe="last"`.

use super::read::{each_slice, PageRead, SliceRead, SliceReader};
use super::{negatives, read, PostsPass};
use crate::error::{Error, Result};
use crate::exec::{collect, dedupe, Interrupt};
use crate::ingest;
use crate::plan::PostsPlan;
use polars::prelude::*;
use std::sync::Arc;

/// What adding the parts of `dedupe="last"` gave: the rows added, the negative values of
/// each count column that has some, and the seconds the adding took.
type PartsAdded = (u64, Vec<(String, u64)>, f64);

impl PostsPass {
    /// Tables that read a slice cheaply (Parquet row groups, frames in memory) are read one
    /// slice at a time, the next one while this one is added (`pending`: the first one's read).
    pub(super) fn add_slices(
        mut self,
        slices: &[(i64, usize)],
        pending: Option<SliceRead>,
        reader: &SliceReader,
        prepared: &PostsPlan,
        interrupted: Interrupt<'_>,
    ) -> Result<Self> {
        each_slice(slices, pending, reader, interrupted, |batch, read| {
            self.add(batch, prepared, read)
        })?;
        Ok(self)
    }

    /// Adds the last rows of the posts of each part (`dedupe::Parts`), as batches; returns the
    /// rows added, the negative values of each count column that has some, and the seconds
    /// the adding took.
    pub(super) fn add_parts(
        &mut self,
        parts: dedupe::Parts,
        prepared: &PostsPlan,
        stop: &dyn Fn() -> bool,
    ) -> Result<PartsAdded> {
        let mut negative: Vec<(String, u64)> = Vec::new();
        let mut adding = 0.0;
        let added = parts.for_each(stop, &mut |batch| {
            let started = std::time::Instant::now();
            self.add(batch.clone(), prepared, PageRead::default())?;
            adding += started.elapsed().as_secs_f64();
            // (the table is not held: the negative values are counted as the batches go,
            // once there are some; the error says how many)
            for (c, min) in &self.mins {
                if *min < 0.0 {
                    let n = negatives(batch.clone().lazy(), c);
                    match negative.iter_mut().find(|(name, _)| name == c) {
                        Some((_, count)) => *count += n,
                        None => negative.push((c.clone(), n)),
                    }
                }
            }
            Ok(())
        })?;
        Ok((added, negative, adding))
    }

    /// CSV files are read a block at a time (`ingest::csv`), the next block on a thread of its
    /// own while this one is added: memory holds some three blocks, whatever the files' size.
    pub(super) fn add_blocks(
        mut self,
        mut blocks: ingest::csv::CsvBlocks,
        (tz, pp): (Option<&str>, &PostsPlan),
        prepared: &PostsPlan,
        interrupted: Interrupt<'_>,
    ) -> Result<Self> {
        let count = blocks.count();
        let (send, receive) = std::sync::mpsc::sync_channel::<Result<DataFrame>>(1);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || loop {
                let batch = match blocks.next_block() {
                    Ok(Some(lf)) => read(tz, pp, lf).and_then(collect),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let failed = batch.is_err();
                // (a pass that stopped drops the receiver: the reader stops too)
                if send.send(batch).is_err() || failed {
                    return;
                }
            });
            let mut added = || -> Result<()> {
                for (i, batch) in receive.iter().enumerate() {
                    if interrupted(i, count) {
                        return Err(Error::Interrupted);
                    }
                    self.add(batch?, prepared, PageRead::default())?;
                }
                Ok(())
            };
            let added = added();
            drop(receive);
            // a panic in the reader (polars' own Ctrl-C abort among them) goes on to the binding
            if let Err(panic) = reader.join() {
                std::panic::resume_unwind(panic);
            }
            added
        })?;
        Ok(self)
    }

    /// Any other table streams through polars' engine into the pass.
    pub(super) fn add_stream(self, lf: &LazyFrame, prepared: &Arc<PostsPlan>) -> Result<Self> {
        let pp = Arc::clone(prepared);
        ingest::sink_into(lf.clone(), false, self, move |pass, batch| {
            pass.add(batch, &pp, PageRead::default())
        })
    }
}

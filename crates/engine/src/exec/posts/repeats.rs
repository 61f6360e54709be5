//! The repeat check's re-read of the ids (`repeated_error`): when the hashes of the posts' ids
//! say there may be repeats, the ids themselves are read again (a stream of them, or the CSV
//! files a block at a time) to find the rows that repeat an earlier row's id.

use crate::error::{Error, InputCode, Result};
use crate::exec::{collect, spill};
use crate::ids::IdHasher;
use crate::ingest;
use polars::prelude::*;

/// The repeat check's error, from the ids themselves (read again: only when the hashes of
/// the stream say there may be repeats). `candidates`: those hashes, checked a page at a time
/// over a stream of the ids (of `csv`, the table's CSV files, read again a block at a time,
/// when given); None: the ids are hashed and checked here, all in memory.
pub(in crate::exec) fn repeated_error(
    id: &str,
    lf: LazyFrame,
    candidates: Option<spill::Candidates>,
    hasher: &IdHasher,
    csv: Option<&[ingest::csv::CsvFile]>,
) -> Result<Option<Error>> {
    let error = |repeated: u64, examples: Vec<String>, at_least: bool| {
        Error::input(
            InputCode::DuplicatePostId,
            format!(
                "posts has {}{repeated} repeated post_id rows (for example {}); each post must appear once. Pass dedupe='last' to keep the last row of each post, or remove the repeats",
                if at_least { "at least " } else { "" },
                examples.join(", ")
            ),
        )
    };
    let Some(mut candidates) = candidates else {
        let ids = collect(lf.select([col(id)]))?;
        let (repeated, examples) = crate::ids::repeated_ids(ids.column(id)?, None, hasher)?;
        return Ok((repeated > 0).then(|| error(repeated, examples, false)));
    };
    // many candidates: the first page with real repeats makes the error (a page of equal
    // hashes of different ids only is all but impossible, but then the next page is read)
    let paged = candidates.paged();
    while let Some(page) = candidates.next_page()? {
        let (repeated, examples) = repeats_among(id, lf.clone(), csv, page, hasher)?;
        if repeated > 0 {
            return Ok(Some(error(repeated, examples, paged)));
        }
    }
    Ok(None)
}

/// Rows whose id repeats an earlier row's among the ids of hashes `page`, and up to three
/// such ids, from a stream of the ids (only those of the page are kept).
fn repeats_among(
    id: &str,
    lf: LazyFrame,
    csv: Option<&[ingest::csv::CsvFile]>,
    page: PlHashSet<u64>,
    hasher: &IdHasher,
) -> Result<(u64, Vec<String>)> {
    use polars_arrow::array::Array;
    let name = id.to_string();
    let hasher = hasher.clone();
    let count = move |seen: &mut PlHashMap<String, u64>, batch: DataFrame| -> Result<()> {
        let s = batch.column(&name)?.as_materialized_series().cast(&DataType::String)?;
        for arr in s.str()?.downcast_iter() {
            for j in 0..arr.len() {
                if arr.is_valid(j) && page.contains(&crate::ids::id_hash(arr, j, &hasher)) {
                    match seen.get_mut(arr.value(j)) {
                        Some(n) => *n += 1,
                        None => {
                            seen.insert(arr.value(j).to_string(), 1);
                        }
                    }
                }
            }
        }
        Ok(())
    };
    let seen = match csv {
        Some(files) => {
            let mut seen = PlHashMap::default();
            let mut blocks = ingest::csv::CsvBlocks::new(files.to_vec());
            while let Some(block) = blocks.next_block()? {
                count(&mut seen, collect(block.select([col(id)]))?)?;
            }
            seen
        }
        None => ingest::sink_into(lf.select([col(id)]), false, PlHashMap::default(), count)?,
    };
    let mut repeated: Vec<(String, u64)> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort_unstable();
    let extra = repeated.iter().map(|(_, n)| n - 1).sum();
    Ok((extra, repeated.into_iter().take(3).map(|(v, _)| v).collect()))
}

//! Ids and the repeats among them: each id's hash (through its Arrow view when it is short),
//! the hashes seen more than once (split into parts that stay in cache), and the real ids
//! behind them. The posts pass checks its ids with them, and the readers find repeated rows.

use crate::error::Result;
use polars::prelude::*;
use polars_arrow::array::{Array, PrimitiveArray, Utf8ViewArray, View};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;
use std::hash::BuildHasher;

/// How a run hashes its ids. `Run`: polars' random state of this process, for a repeat check
/// and nothing else (short ids are hashed through their view, one integer). `Stable`:
/// `stable_hash`, the hash that states keep of each post (docs/states.md), for a run that
/// keeps its posts' ids: its repeat check's hashes are then the states' own, and the ids
/// need not be read and hashed a second time.
#[derive(Clone)]
pub enum IdHasher {
    Run(PlRandomState),
    Stable,
}

impl IdHasher {
    /// A random state of this process: for a repeat check only.
    pub fn for_run() -> Self {
        Self::Run(PlRandomState::default())
    }

    /// The hash of a text by its view: with `Run`, text of up to 12 bytes through the view
    /// (one integer) and longer text through its bytes (`text`, asked for only then).
    #[inline]
    pub fn text<'a>(&self, view: &View, text: impl FnOnce() -> &'a str) -> u64 {
        match self {
            Self::Run(state) => match inline_key(view) {
                Some(key) => state.hash_one(key),
                None => state.hash_one(text()),
            },
            Self::Stable => stable_hash(text().as_bytes()),
        }
    }
}

/// The hash socialkpi keeps of a post id (docs/states.md): FNV-1a over the id's UTF-8 bytes,
/// then SplitMix64's finaliser (FNV's low bits mix poorly). Stable across processes and
/// versions, so states made anywhere merge.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// `stable_hash` of each text in turn, four at a time: FNV-1a's loop over a text's bytes is
/// one multiply waiting for the one before, and four texts side by side keep the multiplier
/// busy (the ids of a Parquet page, 3-4 times as fast as one after the other).
pub fn stable_hashes<'a>(texts: impl IntoIterator<Item = &'a [u8]>, mut f: impl FnMut(u64)) {
    let mut four: [&[u8]; 4] = [&[]; 4];
    let mut held = 0;
    for text in texts {
        four[held] = text;
        held += 1;
        if held == 4 {
            four_hashes(four).into_iter().for_each(&mut f);
            held = 0;
        }
    }
    four[..held].iter().for_each(|text| f(stable_hash(text)));
}

/// `stable_hash` of four texts, their common length side by side.
fn four_hashes(texts: [&[u8]; 4]) -> [u64; 4] {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let common = texts.iter().map(|t| t.len()).min().unwrap_or(0);
    let [a, b, c, d] = texts.map(|t| t.split_at(common));
    let mut h = [0xcbf2_9ce4_8422_2325_u64; 4];
    for (((&x, &y), &z), &w) in a.0.iter().zip(b.0).zip(c.0).zip(d.0) {
        h[0] = (h[0] ^ u64::from(x)).wrapping_mul(PRIME);
        h[1] = (h[1] ^ u64::from(y)).wrapping_mul(PRIME);
        h[2] = (h[2] ^ u64::from(z)).wrapping_mul(PRIME);
        h[3] = (h[3] ^ u64::from(w)).wrapping_mul(PRIME);
    }
    for (h, rest) in h.iter_mut().zip([a.1, b.1, c.1, d.1]) {
        for &byte in rest {
            *h = (*h ^ u64::from(byte)).wrapping_mul(PRIME);
        }
    }
    h.map(mix)
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from any 64-bit value.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Calls `f` with the hash of each non-null id of a batch, in row order (for the repeat check
/// at the end); equal ids always take the same hash.
pub fn for_each_id_hash(column: &Column, hasher: &IdHasher, mut f: impl FnMut(u64)) -> Result<()> {
    let s = column.as_materialized_series().cast(&DataType::String)?;
    for arr in s.str()?.downcast_iter() {
        if let IdHasher::Stable = hasher {
            stable_hashes(arr.iter().flatten().map(str::as_bytes), &mut f);
            continue;
        }
        let valid = arr.validity().filter(|v| v.unset_bits() > 0);
        for j in 0..arr.len() {
            if valid.is_some_and(|v| !v.get_bit(j)) {
                continue;
            }
            f(id_hash(arr, j, hasher));
        }
    }
    Ok(())
}

/// The stable hash (`stable_hash`, the one states keep) of each row's id, in row order, null
/// where the id is null: a cluster run sets aside the rows of the posts found in more than
/// one of its parts by these.
pub fn stable_id_hashes(column: &Column) -> Result<UInt64Chunked> {
    let s = column.as_materialized_series().cast(&DataType::String)?;
    let chunks = s.str()?.downcast_iter().map(|arr| {
        // every slot hashed four at a time (`stable_hashes`), a null's masked after
        let mut hashes = Vec::with_capacity(arr.len());
        stable_hashes(arr.values_iter().map(str::as_bytes), |h| hashes.push(h));
        PrimitiveArray::new(ArrowDataType::UInt64, hashes.into(), arr.validity().cloned())
    });
    Ok(UInt64Chunked::from_chunk_iter(column.name().clone(), chunks))
}

/// The hash of a text array's value at `j`, as `for_each_id_hash` computes it.
#[inline]
pub fn id_hash(arr: &Utf8ViewArray, j: usize, hasher: &IdHasher) -> u64 {
    hasher.text(&arr.views()[j], || arr.value(j))
}

/// A text of up to 12 bytes as one integer: its view with the bytes past the text masked.
#[inline]
pub fn inline_key(view: &View) -> Option<u128> {
    (view.length <= View::MAX_INLINE_SIZE).then(|| {
        let bits = 32 + 8 * view.length;
        if bits >= 128 {
            view.as_u128()
        } else {
            view.as_u128() & ((1u128 << bits) - 1)
        }
    })
}

/// Rows whose id repeats an earlier row's, and up to three repeated ids (nulls never repeat).
/// `candidates` are the hashes (`split_id_hashes` with `hasher`) seen more than once when a
/// pass already knows them; otherwise they are found here. An equal hash may be a collision:
/// only the real values behind the candidates count.
pub fn repeated_ids(
    column: &Column,
    candidates: Option<&PlHashSet<u64>>,
    hasher: &IdHasher,
) -> Result<(u64, Vec<String>)> {
    let found;
    let candidates = match candidates {
        Some(c) => c,
        None => {
            found = repeated_hashes(&[split_id_hashes(column, hasher)?]);
            &found
        }
    };
    if candidates.is_empty() {
        return Ok((0, Vec::new()));
    }
    let s = column.as_materialized_series().cast(&DataType::String)?;
    let mut seen: PlHashMap<&str, u64> = PlHashMap::default();
    for arr in s.str()?.downcast_iter() {
        for j in 0..arr.len() {
            if arr.is_valid(j) && candidates.contains(&id_hash(arr, j, hasher)) {
                *seen.entry(arr.value(j)).or_insert(0) += 1;
            }
        }
    }
    let mut repeated: Vec<(&str, u64)> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort_unstable();
    let extra = repeated.iter().map(|(_, n)| n - 1).sum();
    Ok((extra, repeated.iter().take(3).map(|(v, _)| (*v).to_string()).collect()))
}

/// The top bits that split hashes into parts for `repeated_hashes`.
pub const PART_BITS: u32 = 8;

/// The part of a hash: its top bits.
fn part(h: u64) -> usize {
    (h >> (64 - PART_BITS)) as usize
}

/// Puts a hash into its part (`hash_parts`).
#[inline]
pub fn push_part(parts: &mut [Vec<u64>], h: u64) {
    parts[part(h)].push(h);
}

/// A batch's hashes split by their top bits (see `repeated_hashes`).
#[cfg(test)]
fn split_hashes(batch: &[u64]) -> Vec<Vec<u64>> {
    let mut out = hash_parts(batch.len());
    for &h in batch {
        push_part(&mut out, h);
    }
    out
}

/// The hashes of a batch's non-null ids (see `id_hash`), split by their top bits.
pub fn split_id_hashes(column: &Column, hasher: &IdHasher) -> Result<Vec<Vec<u64>>> {
    let mut out = hash_parts(column.len());
    for_each_id_hash(column, hasher, |h| push_part(&mut out, h))?;
    Ok(out)
}

/// Empty parts for about `n` hashes.
pub fn hash_parts(n: usize) -> Vec<Vec<u64>> {
    let parts = 1usize << PART_BITS;
    (0..parts)
        .map(|_| Vec::with_capacity(n / parts + n / (4 * parts)))
        .collect()
}

/// Hashes that occur more than once, from batches split into parts (`split_id_hashes`,
/// `push_part`): each part's set, which stays in cache, is checked on its own (in parallel).
pub fn repeated_hashes(split: &[Vec<Vec<u64>>]) -> PlHashSet<u64> {
    THREAD_POOL.install(|| {
        (0..1usize << PART_BITS)
            .into_par_iter()
            .map_init(Vec::new, |table, b| {
                let hashes: Vec<&[u64]> = split.iter().map(|p| p[b].as_slice()).collect();
                repeats(table, &hashes)
            })
            .flatten_iter()
            .collect()
    })
}

/// The hashes (of `batches`) that repeat an earlier one. The hashes are random already, so
/// they index an open-addressing table (`table`, reused) directly, by the bits below the
/// part's: no hashing again, one probe at about half load. The table outgrows the core's
/// cache, so each slot is prefetched a few hashes ahead.
fn repeats(table: &mut Vec<u64>, batches: &[&[u64]]) -> Vec<u64> {
    const AHEAD: usize = 16;
    let n: usize = batches.iter().map(|b| b.len()).sum();
    let size = (2 * n).next_power_of_two().max(16);
    table.clear();
    table.resize(size, 0);
    let (mask, shift) = (size - 1, 64 - PART_BITS - size.trailing_zeros());
    let slot_of = |h: u64| (h >> shift) as usize & mask;
    // 0 marks an empty slot; the hash 0 itself is counted beside the table
    let (mut zeros, mut out) = (0usize, Vec::new());
    for batch in batches {
        for (j, &h) in batch.iter().enumerate() {
            if let Some(&ahead) = batch.get(j + AHEAD) {
                prefetch(&table[slot_of(ahead)]);
            }
            if h == 0 {
                zeros += 1;
                if zeros == 2 {
                    out.push(0);
                }
                continue;
            }
            if place(table, slot_of(h), h).is_some() {
                out.push(h);
            }
        }
    }
    out
}

/// Places a hash other than 0 in an open-addressing table whose length is a power of two (0
/// marks an empty slot), probing on from `slot`: the slot of an equal hash already there, or
/// None when the hash took an empty one.
#[inline]
pub fn place(table: &mut [u64], mut slot: usize, h: u64) -> Option<usize> {
    let mask = table.len() - 1;
    loop {
        match table[slot] {
            0 => {
                table[slot] = h;
                return None;
            }
            seen if seen == h => return Some(slot),
            _ => slot = (slot + 1) & mask,
        }
    }
}

/// Asks the processor to bring the cache line of `at` in (a hint: nothing else changes).
#[inline]
pub fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault; `at` is a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(at).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// How many rows repeat an earlier row's value of `column` (nulls never repeat): the posts
/// pass's hashing and collision check, for readers that resolve repeats only when there are.
pub fn repeated_rows(column: &Column) -> Result<u64> {
    const PIECE: usize = 1 << 18;
    let hasher = IdHasher::for_run();
    let s = column.as_materialized_series().cast(&DataType::String)?;
    let ca = s.str()?;
    let n = ca.len();
    // hashed in parallel pieces: a reader meets a whole file at once
    let hashes: Vec<Vec<Vec<u64>>> = polars_core::runtime::THREAD_POOL.install(|| {
        (0..n.div_ceil(PIECE))
            .into_par_iter()
            .map(|k| {
                let piece = ca.slice((k * PIECE) as i64, PIECE.min(n - k * PIECE));
                split_id_hashes(&piece.into_series().into_column(), &hasher)
            })
            .collect::<Result<_>>()
    })?;
    let candidates = repeated_hashes(&hashes);
    Ok(repeated_ids(column, Some(&candidates), &hasher)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rows_stable_hash_is_its_id_texts_with_nulls_kept() -> Result<()> {
        let ids = Column::new("post_id".into(), [Some("a"), None, Some("post-17")]);
        let hashes = stable_id_hashes(&ids)?;
        let want = [Some(stable_hash(b"a")), None, Some(stable_hash(b"post-17"))];
        assert_eq!(hashes.iter().collect::<Vec<_>>(), want);
        // numbers are hashed as their text, as the repeat check reads them
        let numbers = stable_id_hashes(&Column::new("post_id".into(), [17i64]))?;
        assert_eq!(numbers.get(0), Some(stable_hash(b"17")));
        Ok(())
    }

    #[test]
    fn stable_hashes_four_at_a_time_equal_one_at_a_time() {
        // lengths that differ inside a four and leave 0 to 3 texts over, ASCII and not
        let texts: Vec<String> = (0..23).map(|n| "é".repeat(n % 3) + &"p".repeat(n * 7 % 13)).collect();
        for count in 0..texts.len() {
            let mut four = Vec::new();
            stable_hashes(texts[..count].iter().map(|t| t.as_bytes()), |h| four.push(h));
            let one: Vec<u64> = texts[..count].iter().map(|t| stable_hash(t.as_bytes())).collect();
            assert_eq!(four, one, "{count} texts");
        }
    }

    #[test]
    fn repeated_hashes_are_found_within_and_across_batches() {
        // hashes spread over every part, a few of them repeated
        let spread = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let first: Vec<u64> = (0..5_000).map(spread).chain([spread(7), spread(7)]).collect();
        let second: Vec<u64> = (4_990..9_000).map(spread).collect();
        let split = [split_hashes(&first), split_hashes(&second)];
        assert_eq!(split[0].iter().map(Vec::len).sum::<usize>(), first.len());
        for (b, hashes) in split[0].iter().enumerate() {
            assert!(hashes.iter().all(|&h| part(h) == b));
        }
        let mut got: Vec<u64> = repeated_hashes(&split).into_iter().collect();
        got.sort_unstable();
        let mut want: Vec<u64> = (4_990..5_000).map(spread).chain([spread(7)]).collect();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn repeats_probe_past_taken_slots_and_count_zero() {
        // equal top bits (one slot) and different low bits: each probes past the others
        let crowded: Vec<u64> = (1..=40u64).collect();
        let mut table = vec![5; 3];
        let mut got = repeats(&mut table, &[&crowded, &[0, 7, 40, 0, 0, 41]]);
        got.sort_unstable();
        assert_eq!(got, vec![0, 7, 40]);
        // the table is reused, cleared
        assert_eq!(repeats(&mut table, &[&[3, 4]]), Vec::<u64>::new());
    }

    #[test]
    fn repeated_ids_are_found_and_nulls_are_not_repeats() -> Result<()> {
        let ids = Column::new(
            "post_id".into(),
            [Some("a"), None, Some("b"), Some("a"), None, Some("a")],
        );
        for hasher in [IdHasher::for_run(), IdHasher::Stable] {
            assert_eq!(repeated_ids(&ids, None, &hasher)?, (2, vec!["a".to_string()]));
            let unique = Column::new("post_id".into(), (0..100_000_i64).collect::<Vec<_>>());
            assert_eq!(repeated_ids(&unique, None, &hasher)?.0, 0);
        }
        Ok(())
    }
}

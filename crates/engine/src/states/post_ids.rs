//! The posts' id hashes that states keep: sorted runs, one per part made, disjoint from each
//! other. A merge checks that the parts' runs share no hash and keeps the runs as they are,
//! shared with the parts (a merge of 100 parts of a million posts wrote 800 MB of merged
//! hashes before, most of its time); the one sorted list is made only when the states are
//! written out (`States.frame`, `save`) or refreshed (`update`).

use polars_buffer::Buffer;
use rayon::prelude::*;

/// Post id hashes in sorted, disjoint runs (Arrow buffers: shared, not copied, with the
/// arrays they cross the boundary in).
#[derive(Debug, Clone, Default)]
pub struct PostIds {
    runs: Vec<Buffer<u64>>,
}

impl PostIds {
    /// One run of sorted hashes.
    pub fn new(sorted: Vec<u64>) -> Self {
        Self {
            runs: vec![sorted.into()],
        }
    }

    /// Hashes from outside the engine's own runs (a file written by another tool), in any
    /// order, put in order here and checked to be there once each. Err: what is wrong with
    /// them, in words.
    pub fn checked(mut hashes: Vec<u64>) -> Result<Self, String> {
        if !hashes.is_sorted() {
            hashes.sort_unstable();
        }
        Self::checked_sorted(hashes.into())
    }

    /// Hashes from outside that must come sorted and once each (another process), kept as
    /// they are (no copy).
    pub fn checked_sorted(hashes: Buffer<u64>) -> Result<Self, String> {
        if let Some(w) = hashes.windows(2).find(|w| w[0] >= w[1]) {
            return Err(match w[0] == w[1] {
                true => format!("the post id hash {} is there twice", w[0]),
                false => "the post id hashes are not sorted".to_string(),
            });
        }
        Ok(Self { runs: vec![hashes] })
    }

    pub fn len(&self) -> usize {
        self.runs.iter().map(|r| r.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every hash, sorted: one run as it is (shared), several merged.
    pub fn sorted(&self) -> Buffer<u64> {
        match self.runs.as_slice() {
            [one] => one.clone(),
            runs => merge_sorted(&runs.iter().map(|r| &r[..]).collect::<Vec<_>>()).into(),
        }
    }

    /// The distinct hashes of all `parts` in one run (a refresh: posts re-synced are in both).
    pub fn union(parts: &[&PostIds]) -> PostIds {
        let runs: Vec<&[u64]> = parts.iter().flat_map(|p| p.runs.iter().map(|r| &r[..])).collect();
        let mut ids = merge_sorted(&runs);
        ids.dedup();
        PostIds::new(ids)
    }

    /// The runs of all `parts` kept side by side, and how many hashes are in more than one
    /// part (the merge's overlap check).
    pub fn combine(parts: &[&PostIds]) -> (PostIds, usize) {
        let runs: Vec<Buffer<u64>> = parts.iter().flat_map(|p| p.runs.iter().cloned()).collect();
        let repeated = repeats(&runs.iter().map(|r| &r[..]).collect::<Vec<_>>());
        (PostIds { runs }, repeated)
    }
}

/// Sorted lists of hashes made apart (the parts of a Dask or Spark run, each checked by its
/// own run): how many hashes are in more than one list, and, when `keep`, all of them in one
/// sorted list (repeats kept, so that the caller's error can count them).
pub fn check_lists(lists: &[&[u64]], keep: bool) -> (usize, Option<Vec<u64>>) {
    if !keep {
        return (repeats(lists), None);
    }
    let all = merge_sorted(lists);
    (all.windows(2).filter(|w| w[0] == w[1]).count(), Some(all))
}

/// Values a range holds, about: its runs are merged inside the core's cache.
const RANGE: usize = 1 << 16;

/// Sorted lists cut into ranges of values: where each range starts in each list
/// (`cuts[list][range]`, with the list's end last). Post id hashes spread evenly over the 64
/// bits, so equal ranges of values hold about equally many.
fn cut(lists: &[&[u64]]) -> Vec<Vec<usize>> {
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let threads = polars_core::runtime::THREAD_POOL.current_num_threads();
    // at least a few ranges per thread, so that an uneven spread still keeps the threads busy
    let ranges: u128 = if total < RANGE {
        1
    } else {
        (threads * 4).max(total / RANGE).max(1) as u128
    };
    let bounds: Vec<u64> = (1..ranges)
        .map(|r| ((u128::from(u64::MAX) + 1) * r / ranges) as u64)
        .collect();
    lists
        .iter()
        .map(|l| {
            std::iter::once(0)
                .chain(bounds.iter().map(|&b| l.partition_point(|&v| v < b)))
                .chain(std::iter::once(l.len()))
                .collect()
        })
        .collect()
}

/// The pieces of range `r` of each list.
fn pieces<'a>(lists: &'a [&'a [u64]], cuts: &'a [Vec<usize>], r: usize) -> impl Iterator<Item = &'a [u64]> + 'a {
    lists.iter().zip(cuts).map(move |(l, c)| &l[c[r]..c[r + 1]])
}

/// Sorted lists merged into one sorted list, repeats kept: each range's pieces copied into
/// its place in the output, where a stable sort merges the sorted runs, in parallel.
pub(super) fn merge_sorted(lists: &[&[u64]]) -> Vec<u64> {
    let cuts = cut(lists);
    let ranges = cuts.first().map_or(0, |c| c.len() - 1);
    let mut out = vec![0u64; lists.iter().map(|l| l.len()).sum()];
    let mut places: Vec<(usize, &mut [u64])> = Vec::with_capacity(ranges);
    let mut rest: &mut [u64] = &mut out;
    for r in 0..ranges {
        let size: usize = cuts.iter().map(|c| c[r + 1] - c[r]).sum();
        let (place, after) = rest.split_at_mut(size);
        places.push((r, place));
        rest = after;
    }
    polars_core::runtime::THREAD_POOL.install(|| {
        places.into_par_iter().for_each(|(r, place)| {
            let mut at = 0;
            for piece in pieces(lists, &cuts, r) {
                place[at..at + piece.len()].copy_from_slice(piece);
                at += piece.len();
            }
            place.sort();
        })
    });
    out
}

/// The distinct values found more than once among sorted lists (each list's values once
/// each: in more than one list), in order.
pub fn shared_hashes(lists: &[&[u64]]) -> Vec<u64> {
    each_range(lists, |merged| {
        let mut shared: Vec<u64> = merged.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        shared.dedup();
        shared
    })
    .concat()
}

/// How many values of sorted lists repeat a value before them (in any list).
fn repeats(lists: &[&[u64]]) -> usize {
    each_range(lists, |merged| merged.windows(2).filter(|w| w[0] == w[1]).count())
        .into_iter()
        .sum()
}

/// `f` of each range of values of sorted lists, the range's pieces merged (in order), in
/// parallel, in a buffer each thread reuses, so that no list of them all is written; the
/// results in the ranges' order.
fn each_range<T: Send>(lists: &[&[u64]], f: impl Fn(&[u64]) -> T + Sync) -> Vec<T> {
    let cuts = cut(lists);
    let ranges = cuts.first().map_or(0, |c| c.len() - 1);
    polars_core::runtime::THREAD_POOL.install(|| {
        (0..ranges)
            .into_par_iter()
            .map_init(Vec::new, |buffer: &mut Vec<u64>, r| {
                buffer.clear();
                for piece in pieces(lists, &cuts, r) {
                    buffer.extend_from_slice(piece);
                }
                buffer.sort();
                f(buffer)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_from_outside_are_sorted_or_refused_and_never_twice() {
        assert_eq!(
            PostIds::checked(vec![3, 1, 2]).map(|p| p.sorted().to_vec()),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(
            PostIds::checked_sorted(vec![1, 2, 3].into()).map(|p| p.sorted().to_vec()),
            Ok(vec![1, 2, 3])
        );
        let unsorted = PostIds::checked_sorted(vec![3, 1, 2].into()).map(|p| p.sorted().to_vec());
        assert!(unsorted.is_err_and(|why| why.contains("not sorted")));
        for twice in [
            PostIds::checked(vec![1, 2, 2, 5]),
            PostIds::checked_sorted(vec![1, 2, 2, 5].into()),
        ] {
            assert!(twice
                .map(|p| p.sorted().to_vec())
                .is_err_and(|why| why.contains("2 is there twice")));
        }
        assert!(PostIds::checked_sorted(Vec::new().into()).is_ok_and(|p| p.is_empty()));
    }

    #[test]
    fn lists_made_apart_count_their_shared_hashes_with_or_without_the_list() {
        let spread = |k: u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut a: Vec<u64> = (0..200_000).map(spread).collect();
        let mut b: Vec<u64> = (199_990..300_000).map(spread).collect();
        let mut c: Vec<u64> = (300_000..300_010).map(spread).collect();
        for l in [&mut a, &mut b, &mut c] {
            l.sort_unstable();
        }
        let lists = [&a[..], &b[..], &c[..]];
        assert_eq!(check_lists(&lists, false), (10, None));
        let (shared, all) = check_lists(&lists, true);
        let mut expected: Vec<u64> = [&a[..], &b[..], &c[..]].concat();
        expected.sort_unstable();
        assert_eq!((shared, all), (10, Some(expected)));
        assert_eq!(check_lists(&[&a[..], &c[..]], false), (0, None));
        assert_eq!(check_lists(&[], true), (0, Some(Vec::new())));
        // which hashes: the ten b shares with a, in order, once each
        let mut want: Vec<u64> = (199_990..200_000).map(spread).collect();
        want.sort_unstable();
        assert_eq!(shared_hashes(&lists), want);
        assert_eq!(shared_hashes(&[&a[..], &b[..], &b[..]]).len(), b.len());
        assert!(shared_hashes(&[&a[..], &c[..]]).is_empty());
        assert!(shared_hashes(&[]).is_empty());
    }

    #[test]
    fn runs_combine_by_reference_and_count_the_hashes_in_two() {
        let spread = |i: u64| crate::ids::mix(i);
        let sorted = |range: std::ops::Range<u64>| {
            let mut v: Vec<u64> = range.map(spread).collect();
            v.sort_unstable();
            v
        };
        let (a, b, c) = (
            PostIds::new(sorted(0..50_000)),
            PostIds::new(sorted(50_000..90_000)),
            PostIds::new(sorted(89_990..200_000)),
        );
        let (ab, repeated) = PostIds::combine(&[&a, &b]);
        assert_eq!((ab.len(), repeated), (90_000, 0));
        assert!(std::ptr::eq(ab.runs[0].as_ptr(), a.runs[0].as_ptr()));
        assert_eq!(ab.sorted().to_vec(), sorted(0..90_000));
        // merged again with a part that shares ten hashes: counted across the runs
        let (all, repeated) = PostIds::combine(&[&ab, &c]);
        assert_eq!((all.runs.len(), repeated), (3, 10));
        // a refresh's union: the distinct hashes of both, in one run
        let union = PostIds::union(&[&all, &c]);
        assert_eq!((union.runs.len(), union.sorted().to_vec()), (1, sorted(0..200_000)));
        let (none, repeated) = PostIds::combine(&[]);
        assert_eq!((none.len(), repeated, none.sorted().to_vec()), (0, 0, Vec::new()));
    }
}

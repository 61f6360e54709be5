//! One copy of a whole table's block per process. The blocks of the tables passed whole beside
//! each part of the posts (accounts, contracts, traffic, conversions) are the same in every
//! part made from the same table and request: states made or loaded in one process share one
//! copy of such a block, so that 100 parts of a year's daily states by account hold the
//! accounts' 1.7 million account-days once, not 100 times. The copies are held weakly: a block
//! goes when the last states holding it go, and nothing else in the process sees this.

use super::Block;
use polars::prelude::*;
use polars_core::series::SeriesTrait;
use std::sync::{Mutex, Weak};

/// What makes a block: its table, the request (a hash of the spec) and the tables'
/// fingerprints.
#[derive(PartialEq, Eq)]
struct Key {
    source: &'static str,
    request: u64,
    fingerprints: Vec<u64>,
}

/// A block some states hold: its columns, weakly.
struct Held {
    key: Key,
    height: usize,
    columns: Vec<Weak<dyn SeriesTrait>>,
}

impl Held {
    fn alive(&self) -> bool {
        self.columns.iter().all(|c| c.strong_count() > 0)
    }

    /// The block's frame, when it is still held and has the shape of `like`.
    fn frame(&self, like: &DataFrame) -> Option<DataFrame> {
        if self.height != like.height() || self.columns.len() != like.width() {
            return None;
        }
        let columns = self
            .columns
            .iter()
            .zip(like.columns())
            .map(|(held, c)| {
                let series = Series(held.upgrade()?);
                (series.name() == c.name() && series.dtype() == c.dtype()).then(|| series.into_column())
            })
            .collect::<Option<Vec<Column>>>()?;
        DataFrame::new(self.height, columns).ok()
    }
}

static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

/// Replaces each whole table's block (one with fingerprints) by the copy that states of the
/// same table and `request` (a hash of their spec) already hold in this process, if any, and
/// notes the others as held.
pub(super) fn share_blocks(blocks: &mut [Block], request: u64) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(Held::alive);
    for block in blocks.iter_mut().filter(|b| !b.fingerprints.is_empty()) {
        let key = Key {
            source: block.source.name(),
            request,
            fingerprints: block.fingerprints.iter().copied().collect(),
        };
        match held.iter().filter(|h| h.key == key).find_map(|h| h.frame(&block.frame)) {
            Some(frame) => block.frame = frame,
            None => held.push(Held {
                key,
                height: block.frame.height(),
                columns: block
                    .frame
                    .columns()
                    .iter()
                    .map(|c| std::sync::Arc::downgrade(&c.as_materialized_series().0))
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Source;

    fn block(values: &[i64], print: u64) -> crate::error::Result<Block> {
        let frame = DataFrame::new(values.len(), vec![Column::new("a:rows".into(), values)])?;
        let mut block = Block::new(Source::Accounts, frame);
        block.fingerprints.insert(print);
        Ok(block)
    }

    fn same(a: &Block, b: &Block) -> bool {
        let buffer = |b: &Block| b.frame.columns()[0].as_materialized_series().0.clone();
        std::sync::Arc::ptr_eq(&buffer(a), &buffer(b))
    }

    #[test]
    fn blocks_of_one_table_and_request_are_shared_while_held() -> crate::error::Result<()> {
        let print = 0x5eed_0001;
        let mut first = vec![block(&[1, 2, 3], print)?];
        share_blocks(&mut first, 7);
        let mut second = vec![block(&[1, 2, 3], print)?];
        share_blocks(&mut second, 7);
        assert!(same(&first[0], &second[0]));
        // another request, another table, or posts (no fingerprint): their own copy
        let mut other = vec![block(&[1, 2, 3], print)?, block(&[1, 2, 3], print + 1)?];
        share_blocks(&mut other, 8);
        assert!(!same(&first[0], &other[0]) && !same(&first[0], &other[1]));
        let mut posts = vec![block(&[1, 2, 3], print)?];
        posts[0].fingerprints.clear();
        share_blocks(&mut posts, 7);
        assert!(!same(&first[0], &posts[0]));
        // once no states hold it, the block is gone: the next states keep their own
        drop((first, second));
        let mut third = vec![block(&[1, 2, 3], print)?];
        let fresh = third[0].frame.columns()[0].as_materialized_series().0.clone();
        share_blocks(&mut third, 7);
        assert!(std::sync::Arc::ptr_eq(
            &fresh,
            &third[0].frame.columns()[0].as_materialized_series().0
        ));
        Ok(())
    }
}

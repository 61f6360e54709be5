//! Post ids hashed straight from a Parquet file's pages, for the repeat check.
//!
//! The repeat check needs only each id's hash. Read through polars, every id is first decoded
//! into an Arrow view (16 bytes a row) and then hashed from it: for 20M ids that was about
//! 0.3 s of the funnel report's wall time, which reads the ids for nothing else. Here the
//! id column's pages are decompressed and each value is hashed where it lies in the page, to
//! the same hash as `pass::id_hash` gives its view (so the exact check of the candidates at the
//! end, which reads the ids through polars, finds the same ones).
//!
//! Only flat text columns in plain or dictionary encoding are read this way; a file, page or
//! value this does not know (nested or non-text ids, other encodings, text that is not UTF-8,
//! rows that are not whole row groups) gives `None`, and the caller reads those ids through
//! polars, which also reports any error in them.

use std::fs::File;
use std::hash::BuildHasher;
use std::io::{Cursor, Read, Seek, SeekFrom};

use polars::prelude::PlRandomState;
use polars_arrow::array::View;
use polars_buffer::Buffer;
use polars_parquet::parquet::compression::DecompressionContext;
use polars_parquet::parquet::encoding::hybrid_rle::{HybridRleChunk, HybridRleDecoder};
use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::metadata::{ColumnChunkMetadata, FileMetadata};
use polars_parquet::parquet::page::{split_buffer, DataPage, Page};
use polars_parquet::parquet::read::{decompress, read_metadata, PageReader};
use polars_parquet::parquet::schema::types::PhysicalType;

use super::pass;

/// A row group (file, group within it) and where its rows start in the whole table.
struct Group {
    file: usize,
    group: usize,
    start: u64,
    rows: usize,
}

/// The id column of a table of Parquet files: the files' metadata and their row groups in
/// row order.
pub(super) struct IdPages {
    column: String,
    files: Vec<(String, FileMetadata)>,
    groups: Vec<Group>,
}

impl IdPages {
    /// None unless every file holds `column` as flat text (a byte array, at most optional).
    pub fn new(paths: &[String], column: &str) -> Option<Self> {
        let (mut files, mut groups) = (Vec::new(), Vec::new());
        let mut start = 0u64;
        for (file, path) in paths.iter().enumerate() {
            let metadata = read_metadata(&mut File::open(path).ok()?).ok()?;
            for (group, meta) in metadata.row_groups.iter().enumerate() {
                let mut chunks = meta.columns_under_root_iter(column)?;
                let leaf = &chunks.next()?.descriptor().descriptor;
                let flat = chunks.next().is_none() && leaf.max_rep_level == 0 && leaf.max_def_level <= 1;
                if !flat || leaf.primitive_type.physical_type != PhysicalType::ByteArray {
                    return None;
                }
                let rows = meta.num_rows();
                groups.push(Group {
                    file,
                    group,
                    start,
                    rows,
                });
                start += rows as u64;
            }
            files.push((path.clone(), metadata));
        }
        Some(Self {
            column: column.to_string(),
            files,
            groups,
        })
    }

    /// Calls `f` with the hash of every non-null id in rows `offset..offset + len`, which must
    /// be whole row groups. None (and perhaps some calls made) when they cannot be read here.
    pub fn for_each_hash(&self, offset: u64, len: usize, state: &PlRandomState, mut f: impl FnMut(u64)) -> Option<()> {
        let first = self.groups.iter().position(|g| g.start == offset)?;
        let mut covered = 0usize;
        let mut open: Option<(usize, File)> = None;
        for g in self.groups[first..]
            .iter()
            .take_while(|g| g.start < offset + len as u64)
        {
            let (path, metadata) = &self.files[g.file];
            let chunk = metadata.row_groups[g.group]
                .columns_under_root_iter(&self.column)?
                .next()?;
            let file = match &mut open {
                Some((i, file)) if *i == g.file => file,
                _ => &mut open.insert((g.file, File::open(path).ok()?)).1,
            };
            let range = chunk.byte_range();
            let mut bytes = vec![0u8; usize::try_from(range.end - range.start).ok()?];
            file.seek(SeekFrom::Start(range.start)).ok()?;
            file.read_exact(&mut bytes).ok()?;
            hash_chunk(bytes, chunk, state, &mut f)?;
            covered += g.rows;
        }
        (covered == len).then_some(())
    }
}

/// The hash of a text value's bytes, equal to `pass::id_hash` of the same text in a view
/// (None when the bytes are not UTF-8, which polars would refuse).
pub(super) fn bytes_hash(value: &[u8], state: &PlRandomState) -> Option<u64> {
    let text = if value.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        unsafe { std::str::from_utf8_unchecked(value) }
    } else {
        std::str::from_utf8(value).ok()?
    };
    Some(pass::text_hash(&View::new_from_bytes(value, 0, 0), || text, state))
}

/// The high bit of each of the 12 text bytes of an inline view's key.
const NOT_ASCII: u128 = 0x8080_8080_8080_8080_8080_8080 << 32;

/// Calls `f` with the hash (`bytes_hash`) of each of the `n` values of a plain-encoded byte
/// array section: each a 4-byte little-endian length, then its bytes.
fn plain_hashes(values: &[u8], n: usize, state: &PlRandomState, mut f: impl FnMut(u64)) -> Option<()> {
    let mut at = 0usize;
    for _ in 0..n {
        let length = u32::from_le_bytes(*values.get(at..)?.first_chunk::<4>()?) as usize;
        let end = at.checked_add(4 + length).filter(|&end| end <= values.len())?;
        // Short text: the length and the 12 bytes after it are, in memory, the text's inline
        // view, which is its key (`pass::inline_key`) once the bytes past the text are masked.
        let word = values.get(at..).and_then(|rest| rest.first_chunk::<16>());
        let key = match word {
            Some(word) if length <= View::MAX_INLINE_SIZE as usize && cfg!(target_endian = "little") => {
                let bits = 32 + 8 * length;
                let word = u128::from_le_bytes(*word);
                Some(if bits >= 128 {
                    word
                } else {
                    word & ((1u128 << bits) - 1)
                })
                .filter(|k| k & NOT_ASCII == 0)
            }
            _ => None,
        };
        f(match key {
            Some(key) => state.hash_one(key),
            None => bytes_hash(&values[at + 4..end], state)?,
        });
        at = end;
    }
    Some(())
}

/// How many of a page's `n` definition levels (bit width 1) say "present".
fn present(levels: &[u8], n: usize) -> Option<usize> {
    let mut decoder = HybridRleDecoder::new(levels, 1, n);
    let mut ones = 0usize;
    let mut unpacked = Vec::new();
    while let Some(chunk) = decoder.next_chunk().ok()? {
        match chunk {
            HybridRleChunk::Rle(level, length) => ones += if level == 1 { length } else { 0 },
            HybridRleChunk::Bitpacked(bits) => {
                unpacked.clear();
                bits.collect_into(&mut unpacked);
                ones += unpacked.iter().filter(|&&level| level == 1).count();
            }
        }
    }
    Some(ones)
}

/// The non-null values a data page holds.
fn values_in(page: &DataPage, optional: bool, levels: &[u8]) -> Option<usize> {
    let n = page.num_values();
    match (page.null_count(), optional) {
        (Some(nulls), _) => n.checked_sub(nulls),
        // (v1 pages: the levels of old writers may be bit-packed without a length; not read here)
        (None, true) if page.definition_level_encoding() == Encoding::Rle => present(levels, n),
        (None, true) => None,
        (None, false) => Some(n),
    }
}

/// Hashes the ids of one column chunk (its bytes as in the file).
fn hash_chunk(
    bytes: Vec<u8>,
    chunk: &ColumnChunkMetadata,
    state: &PlRandomState,
    f: &mut impl FnMut(u64),
) -> Option<()> {
    let optional = chunk.descriptor().descriptor.max_def_level == 1;
    let max_page = bytes.len().max(1 << 20) * 64;
    let pages = PageReader::new(Cursor::new(Buffer::from(bytes)), chunk, Vec::new(), max_page);
    let (mut scratch, mut context) = (Vec::new(), DecompressionContext::Unset);
    let mut dictionary: Vec<u64> = Vec::new();
    for page in pages {
        match decompress(page.ok()?, &mut scratch, &mut context).ok()? {
            Page::Dict(page) => {
                dictionary.clear();
                plain_hashes(&page.buffer, page.num_values, state, |h| dictionary.push(h))?;
            }
            Page::Data(page) => {
                let split = split_buffer(&page).ok()?;
                let n = values_in(&page, optional, split.def)?;
                match page.encoding() {
                    Encoding::Plain => plain_hashes(split.values, n, state, &mut *f)?,
                    Encoding::PlainDictionary | Encoding::RleDictionary if n > 0 => {
                        let (&bits, indices) = split.values.split_first()?;
                        for i in HybridRleDecoder::new(indices, u32::from(bits), n).collect().ok()? {
                            f(*dictionary.get(i as usize)?);
                        }
                    }
                    Encoding::PlainDictionary | Encoding::RleDictionary => {}
                    _ => return None,
                }
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn bytes_hash_as_the_views_do() -> crate::error::Result<()> {
        let state = PlRandomState::default();
        let texts: Vec<String> = (0..20).map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)).collect();
        let texts: Vec<&str> = texts
            .iter()
            .map(String::as_str)
            .chain(["", "p0", "twelve bytes", "thirteen byte"])
            .collect();
        let column = Column::new("id".into(), &texts);
        let mut viewed = Vec::new();
        pass::for_each_id_hash(&column, &state, |h| viewed.push(h))?;
        let direct: Vec<Option<u64>> = texts.iter().map(|t| bytes_hash(t.as_bytes(), &state)).collect();
        assert_eq!(direct, viewed.into_iter().map(Some).collect::<Vec<_>>());
        assert_eq!(bytes_hash(&[0xff, 0xfe], &state), None);
        Ok(())
    }

    #[test]
    fn plain_values_and_levels() {
        let state = PlRandomState::default();
        // short and long, ASCII and not, and short ones in the section's last 16 bytes
        let values = ["a", "", "twelve bytes", "thirteen byte", "é", "p123", "bcd"];
        let mut section = Vec::new();
        for v in values {
            section.extend_from_slice(&(v.len() as u32).to_le_bytes());
            section.extend_from_slice(v.as_bytes());
        }
        let mut seen = Vec::new();
        assert_eq!(plain_hashes(&section, values.len(), &state, |h| seen.push(h)), Some(()));
        let expected: Vec<u64> = values.iter().filter_map(|v| bytes_hash(v.as_bytes(), &state)).collect();
        assert_eq!(seen, expected);
        // one value too many runs past the section
        assert_eq!(plain_hashes(&section, values.len() + 1, &state, |_| ()), None);
        // levels: an RLE run of five 1s ((5 << 1) | 0, value 1), then eight bit-packed levels
        // ((1 << 1) | 1: one group of 8) 0b1011_0001
        assert_eq!(present(&[10, 1, 3, 0b1011_0001], 13), Some(9));
    }
}

//! Text columns read straight from a Parquet file's pages: the post ids of the repeat check
//! as hashes, and key columns (accounts, platforms) as dictionary values and row indices.
//!
//! Read through polars, every text value is first decoded into an Arrow view (16 bytes a
//! row). The repeat check then only hashes each id, and a key column is only looked up, row by
//! row, in its dictionary (`pass::Dict`): for 20M posts the ids cost about 0.3 s of the funnel
//! report's wall time and the account and platform lookups about an eighth of its samples.
//! Here a column chunk's pages are decompressed and walked: an id is hashed where it lies in
//! the page (to the same hash as `ids::id_hash` gives its view, so the exact check of the
//! candidates at the end, which reads the ids through polars, finds the same ones), and a
//! dictionary-encoded key gives its dictionary once and each row's index into it.
//!
//! Only flat text columns in plain or dictionary encoding are read this way; a column, page or
//! value this does not know (nested or non-text columns, other encodings, text that is not
//! UTF-8, rows that are not whole row groups) gives `None`, and the caller reads that column
//! through polars, which also reports any error in it.

use std::hash::BuildHasher;
use std::io::Cursor;

use crate::ids::IdHasher;
use polars::prelude::{Column, IntoColumn, StringChunked};
use polars_arrow::array::{MutableBinaryViewArray, View};
use polars_buffer::Buffer;
use polars_parquet::parquet::compression::DecompressionContext;
use polars_parquet::parquet::encoding::hybrid_rle::{HybridRleChunk, HybridRleDecoder};
use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::metadata::ColumnChunkMetadata;
use polars_parquet::parquet::page::{split_buffer, DataPage, Page};
use polars_parquet::parquet::read::{decompress, PageReader};

use crate::ingest::parquet::{row_groups, Group};
use crate::ingest::ParquetFile;
use polars_parquet::parquet::schema::types::PhysicalType;

/// Marks a null row in `Indexed::indices`.
pub(super) const NULL: u32 = u32::MAX;

/// The row groups of a table of Parquet files, in row order, with the files' metadata.
pub(super) struct RowGroups {
    files: Vec<ParquetFile>,
    groups: Vec<Group>,
}

/// A text column as values and each row's index into them (`NULL`: a null row). Every index
/// is `NULL` or one of the values': `RowGroups::indexed` checks each page's as it reads it, so
/// those who read an `Indexed` need not check again.
pub(super) struct Indexed {
    values: Column,
    indices: Vec<u32>,
}

impl Indexed {
    /// A column's values as they are, each row its own value.
    pub fn rows(values: Column) -> Self {
        let indices = (0..values.len() as u32).collect();
        Self { values, indices }
    }

    /// Values and each row's index into them, checked (`RowGroups::indexed` checks as it reads).
    #[cfg(test)]
    pub fn new(values: Column, indices: Vec<u32>) -> crate::error::Result<Self> {
        match indices.iter().all(|&i| i == NULL || (i as usize) < values.len()) {
            true => Ok(Self { values, indices }),
            false => Err(crate::error::Error::Internal("a row's index is past its values".into())),
        }
    }

    pub fn values(&self) -> &Column {
        &self.values
    }

    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
}

/// A data page's present values: plain-encoded, or indices into the chunk's dictionary.
enum Present<'a> {
    Plain(&'a [u8]),
    /// Indices into the dictionary, as the page holds them (`push_indices` decodes them).
    Indices(Runs<'a>),
}

/// A page's dictionary indices: their bit width and their RLE / bit-packed runs.
#[derive(Clone, Copy)]
struct Runs<'a> {
    bits: u32,
    runs: &'a [u8],
}

impl Runs<'_> {
    /// Appends the page's `n` indices to `out`, reserving room once: polars' `collect` grows
    /// its vector past its capacity on a page's last bit-packed run, a copy of the page.
    fn push_indices(self, out: &mut Vec<u32>, n: usize) -> Option<()> {
        let start = out.len();
        // (bit-packed runs are unpacked 32 at a time, into the room past the end)
        out.reserve(n + 32);
        for chunk in HybridRleDecoder::new(self.runs, self.bits, n).into_chunk_iter() {
            match chunk.ok()? {
                HybridRleChunk::Rle(value, size) => out.resize(out.len() + size, value),
                HybridRleChunk::Bitpacked(decoder) => decoder.collect_into(out),
            }
        }
        // as many as the page's levels or header say
        (out.len() - start == n).then_some(())
    }
}

/// A chunk's page: its dictionary (plain-encoded values and their number) or a data page.
enum PageValues<'a> {
    Dictionary(&'a [u8], usize),
    Data(DataValues<'a>),
}

/// A data page: its rows, how many of them are present, their definition levels when the
/// column is optional, and the present values.
struct DataValues<'a> {
    rows: usize,
    present: usize,
    levels: Option<&'a [u8]>,
    values: Present<'a>,
}

impl RowGroups {
    pub fn new(files: &[ParquetFile]) -> Self {
        let groups = row_groups(files);
        Self {
            files: files.to_vec(),
            groups,
        }
    }

    /// Whether every row group holds `column` as flat text (a byte array, at most optional).
    pub fn flat_text(&self, column: &str) -> bool {
        self.groups.iter().all(|g| {
            self.chunk(g, column).is_some_and(|chunk| {
                let leaf = &chunk.descriptor().descriptor;
                leaf.max_rep_level == 0
                    && leaf.max_def_level <= 1
                    && leaf.primitive_type.physical_type == PhysicalType::ByteArray
            })
        })
    }

    fn chunk(&self, g: &Group, column: &str) -> Option<&ColumnChunkMetadata> {
        let mut chunks = self.files[g.file].metadata.row_groups[g.group].columns_under_root_iter(column)?;
        let chunk = chunks.next()?;
        chunks.next().is_none().then_some(chunk)
    }

    /// Calls `f` with the bytes (as in the file, read into a buffer of their own: files are
    /// never mapped) and metadata of each chunk of `column` in rows `offset..offset + len`,
    /// which must be whole row groups. None when they cannot be read, or when a file changed
    /// meanwhile (the caller then reads the column through `ingest::parquet`, which says so).
    fn for_each_chunk(
        &self,
        column: &str,
        offset: u64,
        len: usize,
        mut f: impl FnMut(Vec<u8>, &ColumnChunkMetadata) -> Option<()>,
    ) -> Option<()> {
        let first = self.groups.iter().position(|g| g.start == offset)?;
        let mut covered = 0usize;
        let mut read_from: Vec<usize> = Vec::new();
        for g in self.groups[first..]
            .iter()
            .take_while(|g| g.start < offset + len as u64)
        {
            let chunk = self.chunk(g, column)?;
            let file = &self.files[g.file];
            let bytes = file.read_range(chunk.byte_range()).ok()?;
            if read_from.last() != Some(&g.file) {
                read_from.push(g.file);
            }
            f(bytes, chunk)?;
            covered += g.rows;
        }
        // the bytes were all read before this check: unchanged files gave the right ones
        read_from.iter().all(|&i| self.files[i].unchanged()).then_some(())?;
        (covered == len).then_some(())
    }

    /// Calls `f` with the hash (`bytes_hash`) of every non-null value of `column` in rows
    /// `offset..offset + len`. None (and perhaps some calls made) when they cannot be read here.
    pub fn for_each_hash(
        &self,
        column: &str,
        offset: u64,
        len: usize,
        hasher: &IdHasher,
        mut f: impl FnMut(u64),
    ) -> Option<()> {
        self.for_each_chunk(column, offset, len, |bytes, chunk| {
            let (mut dictionary, mut indices) = (Vec::<u64>::new(), Vec::new());
            walk(bytes, chunk, |page| match page {
                PageValues::Dictionary(values, n) => {
                    dictionary.clear();
                    plain_hashes(values, n, hasher, |h| dictionary.push(h))
                }
                PageValues::Data(DataValues {
                    present,
                    values: Present::Plain(values),
                    ..
                }) => plain_hashes(values, present, hasher, &mut f),
                PageValues::Data(DataValues {
                    present,
                    values: Present::Indices(runs),
                    ..
                }) => {
                    indices.clear();
                    runs.push_indices(&mut indices, present)?;
                    for &i in &indices {
                        f(*dictionary.get(i as usize)?);
                    }
                    Some(())
                }
            })
        })
    }

    /// `column` in rows `offset..offset + len` as values and row indices: the dictionaries of
    /// its chunks (and the values of any plain pages) once, and each row's index.
    pub fn indexed(&self, column: &str, offset: u64, len: usize) -> Option<Indexed> {
        let mut values = MutableBinaryViewArray::<str>::new();
        let mut indices: Vec<u32> = Vec::with_capacity(len);
        let mut present_indices: Vec<u32> = Vec::new();
        self.for_each_chunk(column, offset, len, |bytes, chunk| {
            // where this chunk's dictionary starts among the values, and its size
            let (mut base, mut size) = (0u32, 0u32);
            walk(bytes, chunk, |page| {
                let page = match page {
                    PageValues::Dictionary(section, n) => {
                        base = u32::try_from(values.len()).ok()?;
                        size = u32::try_from(n).ok()?;
                        return push_values(&mut values, section, n);
                    }
                    PageValues::Data(page) => page,
                };
                let levels = match page.levels.filter(|_| page.present < page.rows) {
                    Some(levels) => Some(levels),
                    None if page.present == page.rows => None,
                    None => return None,
                };
                // the index of each present value, in turn: straight into `indices` when
                // every row is present, else into `present_indices`, spread over the rows after
                let present = match levels {
                    Some(_) => {
                        present_indices.clear();
                        &mut present_indices
                    }
                    None => &mut indices,
                };
                let from = present.len();
                match page.values {
                    Present::Indices(runs) => {
                        runs.push_indices(present, page.present)?;
                        for i in &mut present[from..] {
                            if *i >= size {
                                return None;
                            }
                            *i += base;
                        }
                    }
                    Present::Plain(section) => {
                        let start = u32::try_from(values.len()).ok()?;
                        push_values(&mut values, section, page.present)?;
                        present.extend(start..u32::try_from(values.len()).ok()?);
                    }
                }
                if present.len() - from != page.present {
                    return None;
                }
                if let Some(levels) = levels {
                    let mut next = present_indices.iter().copied();
                    for level in HybridRleDecoder::new(levels, 1, page.rows).collect().ok()? {
                        indices.push(if level == 1 { next.next()? } else { NULL });
                    }
                }
                Some(())
            })
        })?;
        if indices.len() != len {
            return None;
        }
        let values = StringChunked::with_chunk(column.into(), values.freeze()).into_column();
        Some(Indexed { values, indices })
    }
}

/// The hash of a text value's bytes, equal to `ids::id_hash` of the same text in a view
/// (None when the bytes are not UTF-8, which polars would refuse).
pub(super) fn bytes_hash(value: &[u8], hasher: &IdHasher) -> Option<u64> {
    let text = if value.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        unsafe { std::str::from_utf8_unchecked(value) }
    } else {
        std::str::from_utf8(value).ok()?
    };
    Some(hasher.text(&View::new_from_bytes(value, 0, 0), || text))
}

/// Calls `f` with each of the `n` values of a plain-encoded byte array section (each a 4-byte
/// little-endian length, then its bytes), and where its length starts.
fn plain_values<'a>(values: &'a [u8], n: usize, mut f: impl FnMut(usize, &'a [u8]) -> Option<()>) -> Option<()> {
    let mut at = 0usize;
    for _ in 0..n {
        let length = u32::from_le_bytes(*values.get(at..)?.first_chunk::<4>()?) as usize;
        let end = at.checked_add(4 + length).filter(|&end| end <= values.len())?;
        f(at, &values[at + 4..end])?;
        at = end;
    }
    Some(())
}

/// Appends the `n` values of a plain-encoded byte array section (None unless all are UTF-8).
fn push_values(out: &mut MutableBinaryViewArray<str>, section: &[u8], n: usize) -> Option<()> {
    plain_values(section, n, |_, v| {
        out.push_value(std::str::from_utf8(v).ok()?);
        Some(())
    })
}

/// The high bit of each of the 12 text bytes of an inline view's key.
const NOT_ASCII: u128 = 0x8080_8080_8080_8080_8080_8080 << 32;

/// Calls `f` with the hash (`bytes_hash`) of each of the `n` values of a plain-encoded byte
/// array section.
fn plain_hashes(values: &[u8], n: usize, hasher: &IdHasher, mut f: impl FnMut(u64)) -> Option<()> {
    let IdHasher::Run(state) = hasher else {
        // the page's values, checked UTF-8, then their stable hashes four at a time
        let mut texts: Vec<&[u8]> = Vec::with_capacity(n);
        plain_values(values, n, |_, value| {
            if !value.is_ascii() {
                std::str::from_utf8(value).ok()?;
            }
            texts.push(value);
            Some(())
        })?;
        crate::ids::stable_hashes(texts, f);
        return Some(());
    };
    plain_values(values, n, |at, value| {
        // Short ASCII text: its length and the 12 bytes after it are, in memory, the text's
        // inline view (on little-endian machines), whose key `ids::inline_key` takes as it is.
        let inline = cfg!(target_endian = "little")
            .then(|| {
                values
                    .get(at..)
                    .and_then(|rest| rest.first_chunk::<16>())
                    .and_then(|word| crate::ids::inline_key(&View::from(u128::from_ne_bytes(*word))))
                    .filter(|key| key & NOT_ASCII == 0)
                    .map(|key| state.hash_one(key))
            })
            .flatten();
        f(match inline {
            Some(hash) => hash,
            None => bytes_hash(value, hasher)?,
        });
        Some(())
    })
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

/// Walks one column chunk (its bytes as in the file), page by page.
fn walk(bytes: Vec<u8>, chunk: &ColumnChunkMetadata, mut f: impl FnMut(PageValues<'_>) -> Option<()>) -> Option<()> {
    let optional = chunk.descriptor().descriptor.max_def_level == 1;
    let max_page = bytes.len().max(1 << 20) * 64;
    let pages = PageReader::new(Cursor::new(Buffer::from(bytes)), chunk, Vec::new(), max_page);
    let (mut scratch, mut context) = (Vec::new(), DecompressionContext::Unset);
    for page in pages {
        match decompress(page.ok()?, &mut scratch, &mut context).ok()? {
            Page::Dict(page) => f(PageValues::Dictionary(&page.buffer, page.num_values))?,
            Page::Data(page) => {
                let split = split_buffer(&page).ok()?;
                let present = values_in(&page, optional, split.def)?;
                let values = match page.encoding() {
                    Encoding::Plain => Present::Plain(split.values),
                    Encoding::PlainDictionary | Encoding::RleDictionary if present == 0 => {
                        Present::Indices(Runs { bits: 0, runs: &[] })
                    }
                    Encoding::PlainDictionary | Encoding::RleDictionary => {
                        let (&bits, runs) = split.values.split_first()?;
                        Present::Indices(Runs {
                            bits: u32::from(bits),
                            runs,
                        })
                    }
                    _ => return None,
                };
                f(PageValues::Data(DataValues {
                    rows: page.num_values(),
                    present,
                    levels: optional.then_some(split.def),
                    values,
                }))?;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_from_its_pages() -> std::result::Result<(), Box<dyn std::error::Error>> {
        use polars::prelude::{DataFrame, ParquetWriter};
        let texts: Vec<Option<String>> = (0..1000)
            .map(|i| {
                (i % 13 != 0).then(|| {
                    if i % 3 == 0 {
                        format!("a long text value {}", i % 7)
                    } else {
                        format!("v{}", i % 5)
                    }
                })
            })
            .collect();
        let column = Column::new("t".into(), &texts);
        let mut df = DataFrame::new(texts.len(), vec![column.clone()])?;
        let path = std::env::temp_dir().join(format!("socialkpi-pages-{}.parquet", std::process::id()));
        let file = std::fs::File::create(&path)?;
        ParquetWriter::new(file)
            .with_row_group_size(Some(300))
            .finish(&mut df)?;
        let files = crate::ingest::Table::Files(vec![path.to_string_lossy().to_string()]).parquet_files();
        let groups = RowGroups::new(&files.ok_or("metadata")?);
        assert!(groups.flat_text("t") && !groups.flat_text("missing"));
        // the second row group (polars evens the groups out: 333 rows each, about)
        let (start, rows) = (groups.groups[1].start, groups.groups[1].rows);
        assert!(groups.indexed("t", start + 1, rows).is_none(), "not whole row groups");
        let indexed = groups.indexed("t", start, rows).ok_or("pages")?;
        let back: Vec<Option<&str>> = indexed
            .indices
            .iter()
            .map(|&i| {
                (i != NULL)
                    .then(|| indexed.values.str().ok().and_then(|v| v.get(i as usize)))
                    .flatten()
            })
            .collect();
        let from = start as usize;
        let want: Vec<Option<&str>> = texts[from..from + rows].iter().map(|t| t.as_deref()).collect();
        assert_eq!(back, want);
        for hasher in [IdHasher::for_run(), IdHasher::Stable] {
            let (mut direct, mut viewed) = (Vec::new(), Vec::new());
            assert!(groups
                .for_each_hash("t", 0, 1000, &hasher, |h| direct.push(h))
                .is_some());
            crate::ids::for_each_id_hash(&column, &hasher, |h| viewed.push(h))?;
            assert_eq!(direct, viewed);
        }
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn bytes_hash_as_the_views_do() -> crate::error::Result<()> {
        let texts: Vec<String> = (0..20).map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)).collect();
        let texts: Vec<&str> = texts
            .iter()
            .map(String::as_str)
            .chain(["", "p0", "twelve bytes", "thirteen byte"])
            .collect();
        let column = Column::new("id".into(), &texts);
        for hasher in [IdHasher::for_run(), IdHasher::Stable] {
            let mut viewed = Vec::new();
            crate::ids::for_each_id_hash(&column, &hasher, |h| viewed.push(h))?;
            let direct: Vec<Option<u64>> = texts.iter().map(|t| bytes_hash(t.as_bytes(), &hasher)).collect();
            assert_eq!(direct, viewed.into_iter().map(Some).collect::<Vec<_>>());
            assert_eq!(bytes_hash(&[0xff, 0xfe], &hasher), None);
        }
        // the stable hash is the states' hash of each id's bytes
        let stable: Vec<Option<u64>> = texts
            .iter()
            .map(|t| bytes_hash(t.as_bytes(), &IdHasher::Stable))
            .collect();
        let kept: Vec<Option<u64>> = texts
            .iter()
            .map(|t| Some(crate::ids::stable_hash(t.as_bytes())))
            .collect();
        assert_eq!(stable, kept);
        Ok(())
    }

    #[test]
    fn plain_values_and_levels() {
        // short and long, ASCII and not, and short ones in the section's last 16 bytes
        let values = ["a", "", "twelve bytes", "thirteen byte", "é", "p123", "bcd"];
        let mut section = Vec::new();
        for v in values {
            section.extend_from_slice(&(v.len() as u32).to_le_bytes());
            section.extend_from_slice(v.as_bytes());
        }
        for hasher in [IdHasher::for_run(), IdHasher::Stable] {
            let mut seen = Vec::new();
            assert_eq!(
                plain_hashes(&section, values.len(), &hasher, |h| seen.push(h)),
                Some(())
            );
            let expected: Vec<u64> = values
                .iter()
                .filter_map(|v| bytes_hash(v.as_bytes(), &hasher))
                .collect();
            assert_eq!(seen, expected);
            // one value too many runs past the section
            assert_eq!(plain_hashes(&section, values.len() + 1, &hasher, |_| ()), None);
        }
        // levels: an RLE run of five 1s ((5 << 1) | 0, value 1), then eight bit-packed levels
        // ((1 << 1) | 1: one group of 8) 0b1011_0001
        assert_eq!(present(&[10, 1, 3, 0b1011_0001], 13), Some(9));
    }
}

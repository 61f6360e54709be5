//! CSV files of posts read a block of whole rows at a time, with owned reads. polars' scan of
//! a local CSV file maps the file whole, and every page it has read stays in the process's
//! memory until the file ends: a 2 GB file of 20 million posts ends the pass with 2 GB more.
//! Here the bytes of a block (some 64 MB) are read into memory of socialkpi's own, cut after a
//! row's end, and parsed by polars' CSV reader with the schema of the file's scan, so each
//! value reads exactly as the scan reads it.

use super::{slice_rows, Error, Result};
use crate::error::InputCode;
use polars::prelude::*;
use std::io::{Read, Seek, SeekFrom};

/// polars' quote character and line end (the scan sets neither: its defaults).
const QUOTE: u8 = b'"';
const LINE_END: u8 = b'\n';

/// The reader of one CSV file as `scan` reads it: the separator by the extension, dates
/// parsed, types inferred from the first 10,000 rows.
pub(crate) fn reader(path: &str) -> LazyCsvReader {
    csv_options(LazyCsvReader::new(PlRefPath::new(path)), path)
        .with_has_header(true)
        .with_infer_schema_length(Some(10_000))
        .with_glob(true)
}

/// The options every read of a file's bytes shares with the scan of the file.
fn csv_options(reader: LazyCsvReader, path: &str) -> LazyCsvReader {
    let separator = if path.to_lowercase().ends_with(".tsv") {
        b'\t'
    } else {
        b','
    };
    reader.with_separator(separator).with_try_parse_dates(true)
}

/// Whether `path` is read as CSV (by its extension).
pub(crate) fn is_csv(path: &str) -> bool {
    let lower = path.to_lowercase();
    lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".txt")
}

/// A CSV file read by blocks: the schema its scan reads it with, and where its rows start.
#[derive(Clone, Debug)]
pub struct CsvFile {
    path: String,
    schema: SchemaRef,
    /// Where the rows start: past the header's line.
    rows_at: u64,
    /// The file's size when it was opened.
    size: u64,
}

impl CsvFile {
    /// The file, read with `schema` (the table's, as its scan reads every file of it); None
    /// when it cannot be opened or its first line is empty (the scan then reads it).
    pub fn open(path: &str, schema: SchemaRef) -> Option<Self> {
        let mut file = std::fs::File::open(path).ok()?;
        let size = file.metadata().ok()?.len();
        // the header's line: read until a row ends (a header may be long, and quoted)
        let mut head = Vec::new();
        let rows_at = loop {
            let before = head.len();
            (&mut file).take(1 << 16).read_to_end(&mut head).ok()?;
            if let Some(end) = row_end(&head, 0) {
                break end as u64;
            }
            if head.len() == before {
                break head.len() as u64;
            }
        };
        // (polars would skip an empty first line to find the header: the scan reads those)
        let first = head.first().copied();
        if matches!(first, None | Some(LINE_END) | Some(b'\r')) {
            return None;
        }
        Some(Self {
            path: path.to_string(),
            schema,
            rows_at,
            size,
        })
    }

    /// The blocks the file is read in: block `k` holds the rows that start in its `k`th
    /// `bytes` of rows.
    fn blocks(&self, bytes: u64) -> u64 {
        self.size.saturating_sub(self.rows_at).div_ceil(bytes.max(1))
    }

    /// A block's rows, to be read by polars as the scan of the whole file reads them.
    fn scan(&self, rows: Vec<u8>) -> Result<LazyFrame> {
        if rows.is_empty() {
            // (polars' reader takes no bytes as an error)
            return Ok(DataFrame::empty_with_schema(&self.schema).lazy());
        }
        let sources = ScanSources::Buffers(std::sync::Arc::new([polars_buffer::Buffer::from(rows)]));
        Ok(csv_options(LazyCsvReader::new_with_sources(sources), &self.path)
            .with_has_header(false)
            .with_schema(Some(self.schema.clone()))
            .finish()?)
    }
}

/// The end (one past its line end) of the first row that ends at or after `at`, in `bytes`
/// that begin with a row; None when no row ends there within `bytes`. A line end inside quotes
/// belongs to its field: as polars' reader splits rows, each quote character toggles between
/// inside and outside (a doubled quote inside a quoted field toggles twice).
pub(crate) fn row_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut from = at.min(bytes.len());
    let mut quotes = memchr::memchr_iter(QUOTE, &bytes[..from]).count();
    loop {
        let end = from + memchr::memchr(LINE_END, &bytes[from..])?;
        quotes += memchr::memchr_iter(QUOTE, &bytes[from..end]).count();
        if quotes % 2 == 0 {
            return Some(end + 1);
        }
        from = end + 1;
    }
}

fn unreadable(path: &str, e: std::io::Error) -> Error {
    Error::input(InputCode::UnreadableFile, format!("'{path}' could not be read: {e}"))
}

/// Bytes of rows a block starts (some 64 MB: 64 bytes for each row of a Parquet slice;
/// `SOCIALKPI_BATCH_ROWS` makes them small for tests too).
fn block_bytes() -> u64 {
    (slice_rows() as u64).saturating_mul(64)
}

/// Reads CSV files block after block, each block's bytes read once, in order.
pub struct CsvBlocks {
    files: Vec<CsvFile>,
    bytes: u64,
    /// The file being read, its next block, and the bytes read past the last block's rows
    /// (they begin with a row), with the file offset they start at.
    at: usize,
    block: u64,
    open: Option<std::fs::File>,
    rest: Vec<u8>,
    rest_at: u64,
}

impl CsvBlocks {
    pub fn new(files: Vec<CsvFile>) -> Self {
        Self::with_block_bytes(files, block_bytes())
    }

    fn with_block_bytes(files: Vec<CsvFile>, bytes: u64) -> Self {
        Self {
            files,
            bytes: bytes.max(1),
            at: 0,
            block: 0,
            open: None,
            rest: Vec::new(),
            rest_at: 0,
        }
    }

    /// Blocks in all (a block may hold no rows: a row longer than a block runs past the next
    /// block's start, and that block starts none).
    pub fn count(&self) -> usize {
        let all: u64 = self.files.iter().map(|f| f.blocks(self.bytes)).sum();
        usize::try_from(all).unwrap_or(usize::MAX)
    }

    /// The next block's rows as polars reads them; None after the last block.
    pub fn next_block(&mut self) -> Result<Option<LazyFrame>> {
        match self.next_bytes()? {
            Some((file, rows)) => self.files[file].scan(rows).map(Some),
            None => Ok(None),
        }
    }

    /// The next block's file and bytes: whole rows, those that start in the block's range of
    /// the file.
    fn next_bytes(&mut self) -> Result<Option<(usize, Vec<u8>)>> {
        loop {
            let Some(file) = self.files.get(self.at) else {
                return Ok(None);
            };
            let blocks = file.blocks(self.bytes);
            if self.block >= blocks {
                self.at += 1;
                self.block = 0;
                self.open = None;
                continue;
            }
            let path = file.path.clone();
            if self.open.is_none() {
                let mut f = std::fs::File::open(&path).map_err(|e| unreadable(&path, e))?;
                f.seek(SeekFrom::Start(file.rows_at))
                    .map_err(|e| unreadable(&path, e))?;
                self.open = Some(f);
                self.rest.clear();
                self.rest_at = file.rows_at;
            }
            let (at, last) = (self.at, self.block + 1 == blocks);
            let end = file.rows_at + (self.block + 1) * self.bytes;
            self.block += 1;
            let rows = self.cut(end, last).map_err(|e| unreadable(&path, e))?;
            return Ok(Some((at, rows)));
        }
    }

    /// The rows of the bytes kept and read on that start before file offset `end` (the last
    /// block: every row to the file's end, should the file have grown).
    fn cut(&mut self, end: u64, last: bool) -> std::io::Result<Vec<u8>> {
        let Some(file) = self.open.as_mut() else {
            return Ok(Vec::new());
        };
        let mut buf = std::mem::take(&mut self.rest);
        if last {
            file.read_to_end(&mut buf)?;
            self.open = None;
            return Ok(buf);
        }
        if self.rest_at >= end {
            // a row begun in an earlier block's range runs past this one's: no row starts here
            self.rest = buf;
            return Ok(Vec::new());
        }
        // the rows that start before `end`: up to the end of the row holding byte end - 1
        let at = (end - 1 - self.rest_at) as usize;
        let mut want = (end - self.rest_at) as usize;
        let cut = loop {
            if buf.len() < want {
                let read = Read::by_ref(file)
                    .take((want - buf.len()) as u64)
                    .read_to_end(&mut buf)?;
                if read == 0 {
                    break buf.len();
                }
                continue;
            }
            match row_end(&buf, at) {
                Some(cut) => break cut,
                // the row runs on: read another part of a block
                None => want = buf.len() + (self.bytes as usize / 16).max(1 << 16),
            }
        };
        self.rest = buf.split_off(cut);
        self.rest_at += cut as u64;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_ends_at_the_first_line_end_outside_quotes() {
        let bytes = b"a,b\n1,\"x\ny\"\n2,\"z\"\"\n\"\n3,w";
        assert_eq!(row_end(bytes, 0), Some(4));
        // the line end inside "x\ny" belongs to the field
        assert_eq!(row_end(bytes, 4), Some(12));
        assert_eq!(row_end(bytes, 5), Some(12));
        assert_eq!(row_end(bytes, 11), Some(12));
        // a doubled quote inside a quoted field, then a line end inside it
        assert_eq!(row_end(bytes, 12), Some(21));
        // the last row has no line end
        assert_eq!(row_end(bytes, 21), None);
        assert_eq!(row_end(bytes, 100), None);
        assert_eq!(row_end(b"", 0), None);
        // an open quote: no row ends
        assert_eq!(row_end(b"1,\"abc\n2,d\n", 0), None);
    }

    fn written(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("socialkpi-csv-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join(name);
        std::fs::write(&path, text).ok();
        path.to_string_lossy().into_owned()
    }

    fn schema_of(path: &str) -> SchemaRef {
        reader(path)
            .finish()
            .and_then(|mut lf| lf.collect_schema())
            .unwrap_or_default()
    }

    fn read_all(blocks: &mut CsvBlocks) -> (DataFrame, usize) {
        let mut frames = Vec::new();
        let mut n = 0;
        while let Some(lf) = blocks.next_block().ok().flatten() {
            n += 1;
            frames.push(lf);
        }
        let df = concat(frames, UnionArgs::default())
            .and_then(|lf| lf.collect())
            .unwrap_or_default();
        (df, n)
    }

    #[test]
    fn blocks_of_any_size_read_the_rows_the_scan_reads() {
        let mut text = String::from("id,note,n,at\n");
        for i in 0..200 {
            let note = match i % 4 {
                0 => "\"two\nlines\"".to_string(),
                1 => "\"a \"\"quote\"\", a comma\"".to_string(),
                2 => String::new(),
                _ => format!("plain{i}"),
            };
            text.push_str(&format!("p{i},{note},{},2025-01-{:02}T10:00:00\n", i * 3, 1 + i % 28));
        }
        text.push_str("p200,\"last row\",1,2025-02-01T00:00:00");
        let path = written("rows.csv", &text);
        let whole = reader(&path).finish().and_then(|lf| lf.collect());
        let Ok(whole) = whole else {
            panic!("the scan reads the file");
        };
        assert_eq!(whole.height(), 201);
        let Some(file) = CsvFile::open(&path, schema_of(&path)) else {
            panic!("the file opens");
        };
        for bytes in [1, 7, 30, 64, 100, 1000, 1 << 20] {
            let mut blocks = CsvBlocks::with_block_bytes(vec![file.clone(), file.clone()], bytes);
            let count = blocks.count();
            let (df, n) = read_all(&mut blocks);
            assert_eq!(n, count, "blocks of {bytes} bytes");
            let twice = whole.vstack(&whole).unwrap_or_default();
            assert!(df.equals_missing(&twice), "blocks of {bytes} bytes");
        }
    }

    #[test]
    fn a_file_of_a_header_only_has_no_blocks() {
        let path = written("header.csv", "id,n\n");
        let Some(file) = CsvFile::open(&path, schema_of(&path)) else {
            panic!("the file opens");
        };
        let mut blocks = CsvBlocks::with_block_bytes(vec![file], 4);
        assert_eq!(blocks.count(), 0);
        assert!(matches!(blocks.next_block(), Ok(None)));
        let blank = written("blank.csv", "\nid,n\n1,2\n");
        assert!(CsvFile::open(&blank, schema_of(&blank)).is_none());
    }
}

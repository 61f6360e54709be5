//! Parquet files read by socialkpi itself, with reads into memory it owns, never mapped.
//!
//! polars memory-maps the local files it scans, and a mapped file that another program
//! truncates while it is read kills the process with SIGBUS (a notebook kernel dies with the
//! analyst's work). Here each column chunk that a read needs is read (`pread`) into a buffer of
//! its own and decoded by polars' own Parquet decoder, one slice of row groups at a time, so
//! memory holds the chunks of the slice being read, not the file. A file that shrinks, or
//! changes at all while it is read (it is another file, or its size or modification time differ
//! from when its footer was read), is `unreadable_file`.
//!
//! To the rest of the engine a table of Parquet files is a `LazyFrame` (`ParquetSource::lazy`):
//! an empty frame of the files' schema that a function maps to the rows read, with projection
//! pushdown allowed, so that polars hands the function the columns its plan reads and only
//! those are read.

use std::fs::File;
use std::sync::Arc;

use polars::io::parquet::metadata::FileMetadataRef;
use polars::prelude::*;
use polars_arrow::datatypes::ArrowSchema;
use rayon::prelude::*;

use crate::error::{raised, Error, InputCode, Result, SchemaCode};

/// What identifies a file's content while it is read: the file itself (device and inode, where
/// the system has them), its size and its modification time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    file: (u64, u64),
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let file = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let file = (0, 0);
        Stamp {
            file,
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// A Parquet file of a table: its path, its metadata (read once, from its footer) and what
/// identifies its content then. It is opened again for each read, and each read is checked
/// against that: a table of many files holds no file open between reads.
#[derive(Clone)]
pub struct ParquetFile {
    pub path: String,
    pub metadata: FileMetadataRef,
    stamp: Stamp,
}

impl std::fmt::Debug for ParquetFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetFile").field("path", &self.path).finish()
    }
}

/// The error of a file that changed (or shrank) while it was read.
fn changed_error(path: &str) -> Error {
    Error::input(
        InputCode::UnreadableFile,
        format!("'{path}' changed while socialkpi read it (truncated, rewritten or still being written by another program); compute again once the file is written"),
    )
}

/// Reads `len` bytes at `offset` into a buffer of its own (an error when the file is shorter).
fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(len)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::OutOfMemory, "no memory for a column chunk"))?;
    buffer.resize(len, 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut buffer, offset)?;
    }
    #[cfg(not(unix))]
    {
        // (each read opens the file anew: no other read moves this handle's position)
        use std::io::{Read, Seek, SeekFrom};
        let mut handle = file;
        handle.seek(SeekFrom::Start(offset))?;
        handle.read_exact(&mut buffer)?;
    }
    Ok(buffer)
}

impl ParquetFile {
    /// Opens a Parquet file and reads its footer; None when it does not end with a whole
    /// footer or changes while read. (polars' own footer reader panics on a file that shrinks
    /// while it reads it, slicing past what it read.)
    pub fn open(path: &str) -> Option<Self> {
        let file = File::open(path).ok()?;
        let stamp = Stamp::of(&file.metadata().ok()?);
        let size = stamp.len;
        let end = read_at(&file, size.checked_sub(8)?, 8).ok()?;
        // the footer: its metadata, then the metadata's length and the magic (8 bytes)
        let len = u64::from(u32::from_le_bytes([end[0], end[1], end[2], end[3]])) + 8;
        if &end[4..] != b"PAR1" || len + 4 > size {
            return None;
        }
        let footer = read_at(&file, size - len, usize::try_from(len).ok()?).ok()?;
        if footer[footer.len() - 8..] != end[..] {
            return None;
        }
        let metadata =
            polars_parquet::parquet::read::deserialize_metadata(polars_buffer::Buffer::from_vec(footer)).ok()?;
        let found = ParquetFile {
            path: path.to_string(),
            metadata: Arc::new(metadata),
            stamp,
        };
        found.unchanged().then_some(found)
    }

    /// Whether the file at the path is the one whose footer was read, as it was then.
    pub fn unchanged(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|meta| Stamp::of(&meta) == self.stamp)
    }

    /// The bytes of `range` (a column chunk), read now; an error when the file is shorter or
    /// is no longer the one whose footer was read.
    pub fn read_range(&self, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
        let len = range
            .end
            .checked_sub(range.start)
            .filter(|_| range.end <= self.stamp.len)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                Error::input(
                    InputCode::UnreadableFile,
                    format!(
                        "'{}' is not a valid Parquet file: its footer places a column past the file's end",
                        self.path
                    ),
                )
            })?;
        let file = File::open(&self.path).map_err(|_| changed_error(&self.path))?;
        let same = file.metadata().is_ok_and(|meta| Stamp::of(&meta) == self.stamp);
        if !same {
            return Err(changed_error(&self.path));
        }
        read_at(&file, range.start, len).map_err(|_| changed_error(&self.path))
    }
}

/// A row group (file, group within it) and where its rows start in the whole table.
#[derive(Clone, Copy)]
pub struct Group {
    pub file: usize,
    pub group: usize,
    pub start: u64,
    pub rows: usize,
}

/// The row groups of `files` read as one table, in order, each with its first row.
pub fn row_groups(files: &[ParquetFile]) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut start = 0u64;
    for (file, f) in files.iter().enumerate() {
        for (group, meta) in f.metadata.row_groups.iter().enumerate() {
            let rows = meta.num_rows();
            groups.push(Group {
                file,
                group,
                start,
                rows,
            });
            start += rows as u64;
        }
    }
    groups
}

/// A table of Parquet files read with owned reads (see the module's comment).
pub struct ParquetSource {
    files: Vec<ParquetFile>,
    groups: Vec<Group>,
    arrow: ArrowSchema,
    schema: SchemaRef,
}

impl ParquetSource {
    /// The table of these files, which must have the same columns of the same types.
    pub fn new(files: Vec<ParquetFile>) -> Result<Self> {
        let mut schemas = Vec::with_capacity(files.len());
        for f in &files {
            let arrow = polars_parquet::read::schema::infer_schema_with_options(&f.metadata, &None).map_err(|e| {
                Error::input(
                    InputCode::UnreadableFile,
                    format!("could not read the schema of '{}': {e}", f.path),
                )
            })?;
            let schema = Schema::from_arrow_schema(&arrow);
            schemas.push((arrow, schema));
        }
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let polars_schemas: Vec<&Schema> = schemas.iter().map(|(_, s)| s).collect();
        super::same_schemas(&paths, &polars_schemas)?;
        let (arrow, schema) = schemas
            .into_iter()
            .next()
            .ok_or_else(|| Error::input(InputCode::FileNotFound, "no files were given"))?;
        let groups = row_groups(&files);
        Ok(Self {
            files,
            groups,
            arrow,
            schema: Arc::new(schema),
        })
    }

    /// The table's columns and their types, as polars reads them.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Row ranges (offset, length) of whole row groups, each of at least the rows of a batch
    /// (`SOCIALKPI_BATCH_ROWS`, a million by default) but the last.
    pub fn slices(&self) -> Vec<(u64, usize)> {
        let rows = super::slice_rows();
        let mut out: Vec<(u64, usize)> = Vec::new();
        for g in &self.groups {
            match out.last_mut() {
                Some((_, len)) if *len < rows => *len += g.rows,
                _ => out.push((g.start, g.rows)),
            }
        }
        out
    }

    /// Rows `offset..offset + len` of `columns` (all rows with `rows` None). Row groups are
    /// read and decoded in parallel, each column chunk from a buffer of its own.
    pub fn read(&self, columns: &[PlSmallStr], rows: Option<(u64, usize)>) -> Result<DataFrame> {
        let total: u64 = self.groups.iter().map(|g| g.rows as u64).sum();
        let (offset, len) = match rows {
            Some((offset, len)) => (offset.min(total), (len as u64).min(total - offset.min(total)) as usize),
            None => (0, total as usize),
        };
        let end = offset + len as u64;
        let groups: Vec<Group> = self
            .groups
            .iter()
            .filter(|g| g.rows > 0 && g.start < end && g.start + g.rows as u64 > offset)
            .copied()
            .collect();
        let mut fields = Vec::with_capacity(columns.len());
        for c in columns {
            let field = self.arrow.get(c.as_str()).ok_or_else(|| {
                Error::schema(
                    SchemaCode::MissingColumn,
                    format!("column '{c}' is missing from the file"),
                )
            })?;
            fields.push(field);
        }
        let tasks: Vec<(usize, usize)> = (0..groups.len())
            .flat_map(|g| (0..fields.len()).map(move |c| (g, c)))
            .collect();
        let decoded: Vec<Column> = polars_core::runtime::THREAD_POOL.install(|| {
            tasks
                .par_iter()
                .map(|&(g, c)| self.decode(&groups[g], fields[c]))
                .collect::<Result<Vec<_>>>()
        })?;
        // every read is followed by this check: a file that changed meanwhile is an error
        let mut checked: Vec<usize> = groups.iter().map(|g| g.file).collect();
        checked.dedup();
        for f in checked {
            if !self.files[f].unchanged() {
                return Err(changed_error(&self.files[f].path));
            }
        }
        let first = groups.first().map_or(offset, |g| g.start);
        let height: usize = groups.iter().map(|g| g.rows).sum();
        let mut out = Vec::with_capacity(fields.len());
        for c in 0..fields.len() {
            let mut parts = decoded.iter().skip(c).step_by(fields.len().max(1));
            let mut column = match parts.next() {
                Some(part) => part.clone(),
                None => Column::full_null(columns[c].clone(), 0, &DataType::from_arrow_field(fields[c])),
            };
            for part in parts {
                column.append(part)?;
            }
            out.push(column);
        }
        let df = if out.is_empty() {
            DataFrame::empty_with_height(height)
        } else {
            DataFrame::new(height, out)?
        };
        Ok(df.slice((offset - first) as i64, len))
    }

    /// One column of one row group, decoded from a buffer of its chunks' bytes.
    fn decode(&self, g: &Group, field: &polars_arrow::datatypes::Field) -> Result<Column> {
        let file = &self.files[g.file];
        let meta = &file.metadata.row_groups[g.group];
        let Some(chunks) = meta.columns_under_root_iter(&field.name) else {
            let dtype = DataType::from_arrow_field(field);
            return Ok(Column::full_null(field.name.clone(), g.rows, &dtype));
        };
        let mut bytes = Vec::new();
        for chunk in chunks {
            let range = chunk.byte_range();
            bytes.push((chunk, polars_buffer::Buffer::from_vec(file.read_range(range)?)));
        }
        // a chunk rewritten under the reader can be anything; polars' decoder may panic on it
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> PolarsResult<Series> {
            let (arrays, _) = polars::io::prelude::_internal::to_deserializer(bytes, field.clone(), None)?;
            Series::try_from((field, arrays))
        }));
        let undecodable = |why: String| {
            if file.unchanged() {
                Error::input(
                    InputCode::UnreadableFile,
                    format!("column '{}' of '{}' could not be decoded: {why}", field.name, file.path),
                )
            } else {
                changed_error(&file.path)
            }
        };
        match decoded {
            Ok(Ok(series)) if series.len() == g.rows => Ok(series.into_column()),
            Ok(Ok(series)) => Err(undecodable(format!(
                "{} rows where its footer says {}",
                series.len(),
                g.rows
            ))),
            Ok(Err(e)) => Err(undecodable(e.to_string())),
            Err(_) => Err(undecodable("the decoder failed".into())),
        }
    }

    /// The rows (all with `rows` None) as a lazy frame: polars hands the read the columns its
    /// plan needs (projection pushdown through the map), and nothing is read until collected.
    pub fn lazy(self: &Arc<Self>, rows: Option<(u64, usize)>) -> LazyFrame {
        let source = Arc::clone(self);
        let read = move |df: DataFrame| -> PolarsResult<DataFrame> {
            let names: Vec<PlSmallStr> = df.get_column_names_owned();
            source.read(&names, rows).map_err(|e| match e {
                Error::Input { code, message } => raised(code, &message),
                other => PolarsError::ComputeError(other.to_string().into()),
            })
        };
        DataFrame::empty_with_schema(&self.schema).lazy().map(
            read,
            OptFlags::PROJECTION_PUSHDOWN,
            None,
            Some("socialkpi parquet read"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(
        name: &str,
        rows: usize,
        group: usize,
    ) -> std::result::Result<(String, DataFrame), Box<dyn std::error::Error>> {
        let ids: Vec<String> = (0..rows).map(|i| format!("p{i}")).collect();
        let likes: Vec<Option<i64>> = (0..rows).map(|i| (i % 7 != 0).then_some(i as i64)).collect();
        let mut df = DataFrame::new(
            rows,
            vec![
                Column::new("post_id".into(), &ids),
                Column::new("likes".into(), &likes),
                Column::new("reach".into(), (0..rows as i64).collect::<Vec<_>>()),
            ],
        )?;
        let path = std::env::temp_dir().join(format!("socialkpi-owned-{name}-{}.parquet", std::process::id()));
        ParquetWriter::new(std::fs::File::create(&path)?)
            .with_row_group_size(Some(group))
            .finish(&mut df)?;
        Ok((path.to_string_lossy().to_string(), df))
    }

    #[test]
    fn reads_what_polars_reads() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let (path, df) = written("reads", 1000, 128)?;
        let source = Arc::new(ParquetSource::new(vec![ParquetFile::open(&path).ok_or("footer")?])?);
        assert_eq!(source.schema().as_ref(), df.schema().as_ref());
        let all = source.read(&["likes".into(), "post_id".into()], None)?;
        assert!(all.equals_missing(&df.select(["likes", "post_id"])?));
        // any rows, group boundaries or not
        let part = source.read(&["reach".into()], Some((100, 300)))?;
        assert!(part.equals_missing(&df.select(["reach"])?.slice(100, 300)));
        // the lazy frame reads only the columns its plan asks for
        let lazy = source.lazy(Some((0, 500))).select([col("likes").sum()]);
        let want = df.clone().lazy().slice(0, 500).select([col("likes").sum()]).collect()?;
        assert!(lazy.collect()?.equals_missing(&want));
        let counted = source.lazy(None).select([len()]).collect()?;
        assert_eq!(counted.column("len")?.get(0)?, AnyValue::UInt32(1000));
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn a_file_that_shrinks_while_read_is_unreadable() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let (path, _) = written("shrinks", 1000, 100)?;
        let source = ParquetSource::new(vec![ParquetFile::open(&path).ok_or("footer")?])?;
        let size = std::fs::metadata(&path)?.len();
        std::fs::OpenOptions::new().write(true).open(&path)?.set_len(size / 2)?;
        let read = source.read(&["post_id".into(), "likes".into()], None);
        assert_eq!(read.err().map(|e| e.code()), Some("unreadable_file"));
        // and through the lazy frame, typed too
        let lazy = Arc::new(source).lazy(None).select([col("likes")]).collect();
        let err = lazy.map_err(Error::from).err().map(|e| e.code());
        assert_eq!(err, Some("unreadable_file"));
        // a file cut short before it is opened has no footer
        assert!(ParquetFile::open(&path).is_none());
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn a_file_replaced_while_read_is_unreadable() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let (path, _) = written("replaced", 500, 100)?;
        let source = ParquetSource::new(vec![ParquetFile::open(&path).ok_or("footer")?])?;
        assert_eq!(source.slices().iter().map(|s| s.1).sum::<usize>(), 500);
        let (other, _) = written("other", 500, 100)?;
        std::fs::rename(&other, &path)?;
        let read = source.read(&["likes".into()], Some((0, 100)));
        assert_eq!(read.err().map(|e| e.code()), Some("unreadable_file"));
        std::fs::remove_file(&path)?;
        Ok(())
    }
}

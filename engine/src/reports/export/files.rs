//! The files an export writes: a table of typed columns (text, or a 64-bit integer: an amount
//! in minor units or Unix seconds), as CSV (a header, then one line per row; an empty field for
//! no value) or as Parquet (every column optional, text as UTF-8, pages compressed with zstd,
//! a row group per [`ROW_GROUP_ROWS`] rows), each synced before it counts as written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::ExportError;

/// Rows a Parquet row group holds: what a reader takes in one read, and what this writer holds
/// in memory before it writes them.
const ROW_GROUP_ROWS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
}

pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// One field of a row, of its column's kind, or no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Integer(i64),
    Empty,
}

/// A table being written to its file.
pub struct TableFile {
    file_name: String,
    rows: u64,
    writer: Writer,
}

enum Writer {
    Csv(BufWriter<File>),
    Parquet(Box<ParquetTable>),
}

impl TableFile {
    /// Creates `<name>.<format>` in `dir`, its header (CSV) or schema (Parquet) from `columns`.
    pub fn create(
        dir: &Path,
        name: &str,
        columns: &'static [Column],
        format: Format,
    ) -> Result<TableFile, ExportError> {
        let file_name = format!("{name}.{}", format.extension());
        let io = |error| ExportError::Write { file: file_name.clone(), error };
        let file = File::create(dir.join(&file_name)).map_err(io)?;
        let writer = match format {
            Format::Csv => {
                let mut out = BufWriter::new(file);
                let header: Vec<&str> = columns.iter().map(|column| column.name).collect();
                writeln!(out, "{}", header.join(",")).map_err(io)?;
                Writer::Csv(out)
            }
            Format::Parquet => {
                let table = ParquetTable::create(file, name, columns)
                    .map_err(|error| ExportError::Parquet { file: file_name.clone(), error })?;
                Writer::Parquet(Box::new(table))
            }
        };
        Ok(TableFile { file_name, rows: 0, writer })
    }

    pub fn row(&mut self, cells: Vec<Cell>) -> Result<(), ExportError> {
        match &mut self.writer {
            Writer::Csv(out) => {
                let fields: Vec<String> = cells.iter().map(csv_field).collect();
                writeln!(out, "{}", fields.join(","))
                    .map_err(|error| ExportError::Write { file: self.file_name.clone(), error })?;
            }
            Writer::Parquet(table) => table
                .push(cells)
                .map_err(|error| ExportError::Parquet { file: self.file_name.clone(), error })?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Writes what is buffered, closes and syncs the file; answers its name and rows.
    pub fn finish(self) -> Result<(String, u64), ExportError> {
        let TableFile { file_name, rows, writer } = self;
        let io = |error| ExportError::Write { file: file_name.clone(), error };
        let file = match writer {
            Writer::Csv(out) => out.into_inner().map_err(|error| io(error.into_error()))?,
            Writer::Parquet(table) => table
                .close()
                .map_err(|error| ExportError::Parquet { file: file_name.clone(), error })?,
        };
        file.sync_all().map_err(io)?;
        Ok((file_name, rows))
    }
}

/// A field as CSV writes it: quoted only if it holds a comma, a quote or a line break.
fn csv_field(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) if text.contains([',', '"', '\n', '\r']) => {
            format!("\"{}\"", text.replace('"', "\"\""))
        }
        Cell::Text(text) => text.clone(),
        Cell::Integer(value) => value.to_string(),
        Cell::Empty => String::new(),
    }
}

/// A Parquet file and the rows of its next row group, column by column.
struct ParquetTable {
    writer: SerializedFileWriter<File>,
    columns: Vec<Buffered>,
    rows: usize,
}

/// A column's values and, per row, whether it has one (its definition level).
enum Buffered {
    Text(Vec<ByteArray>, Vec<i16>),
    Integer(Vec<i64>, Vec<i16>),
}

impl ParquetTable {
    fn create(file: File, name: &str, columns: &[Column]) -> Result<ParquetTable, String> {
        let fields: Vec<String> = columns
            .iter()
            .map(|column| match column.kind {
                Kind::Text => format!("OPTIONAL BYTE_ARRAY {} (UTF8);", column.name),
                Kind::Integer => format!("OPTIONAL INT64 {};", column.name),
            })
            .collect();
        let schema = parse_message_type(&format!("message {name} {{ {} }}", fields.join(" ")))
            .map_err(|error| error.to_string())?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(properties))
            .map_err(|error| error.to_string())?;
        let columns = columns
            .iter()
            .map(|column| match column.kind {
                Kind::Text => Buffered::Text(Vec::new(), Vec::new()),
                Kind::Integer => Buffered::Integer(Vec::new(), Vec::new()),
            })
            .collect();
        Ok(ParquetTable { writer, columns, rows: 0 })
    }

    fn push(&mut self, cells: Vec<Cell>) -> Result<(), String> {
        if cells.len() != self.columns.len() {
            return Err(format!(
                "a row of {} fields for {} columns",
                cells.len(),
                self.columns.len()
            ));
        }
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            match (column, cell) {
                (Buffered::Text(values, defined), Cell::Text(text)) => {
                    values.push(ByteArray::from(text.into_bytes()));
                    defined.push(1);
                }
                (Buffered::Integer(values, defined), Cell::Integer(value)) => {
                    values.push(value);
                    defined.push(1);
                }
                (Buffered::Text(_, defined) | Buffered::Integer(_, defined), Cell::Empty) => {
                    defined.push(0);
                }
                (_, cell) => return Err(format!("{cell:?} in a column of another kind")),
            }
        }
        self.rows += 1;
        if self.rows == ROW_GROUP_ROWS {
            self.write_row_group()?;
        }
        Ok(())
    }

    fn write_row_group(&mut self) -> Result<(), String> {
        let error = |error: parquet::errors::ParquetError| error.to_string();
        let mut group = self.writer.next_row_group().map_err(error)?;
        for column in &mut self.columns {
            let mut writer = group.next_column().map_err(error)?.ok_or("a column too many")?;
            match column {
                Buffered::Text(values, defined) => {
                    writer.typed::<ByteArrayType>().write_batch(values, Some(defined), None)
                }
                Buffered::Integer(values, defined) => {
                    writer.typed::<Int64Type>().write_batch(values, Some(defined), None)
                }
            }
            .map_err(error)?;
            writer.close().map_err(error)?;
            match column {
                Buffered::Text(values, defined) => (values.clear(), defined.clear()),
                Buffered::Integer(values, defined) => (values.clear(), defined.clear()),
            };
        }
        group.close().map_err(error)?;
        self.rows = 0;
        Ok(())
    }

    fn close(mut self: Box<Self>) -> Result<File, String> {
        if self.rows > 0 {
            self.write_row_group()?;
        }
        self.writer.into_inner().map_err(|error| error.to_string())
    }
}

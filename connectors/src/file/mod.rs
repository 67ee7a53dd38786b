//! The `file` connector: a directory of JSON-lines or CSV files as a
//! source, and as a sink.
//!
//! **Source.** Each file is a partition, named by its file name; its offset
//! is the number of bytes read, and a file is read whole in the one epoch
//! that first sees it. So the offsets of an epoch are `{file: size}` for
//! every file read so far, `plan_epoch` takes the files not in `from`
//! (oldest modification time first, then by name, at most
//! `max.files.per.epoch`), and `read` reads exactly the first `size` bytes of
//! the files in `to` but not in `from`: a replay reads the same bytes even
//! if a file has grown since. Files become visible by *rename*: names that
//! start with `.` or `_`, or end with `.tmp`, `.partial` or `_COPYING_` are
//! never read, and neither are empty files, so a writer writes under such a
//! name and renames when done. Subdirectories are not read.
//!
//! A look at the source (an ad-hoc `SELECT`) reads the newest file, the
//! last in that order, up to the rows it asks for.
//!
//! **Sink.** One file per epoch, `part-<epoch, 20 digits>.<jsonl|csv>`,
//! written to `.part-….tmp`, fsynced and renamed; a replayed epoch rewrites
//! the same file, so the directory holds each epoch once.

mod sink;
mod source;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use eddy_catalog::{SinkDef, SourceDef};
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{
    EngineError, Result, Sink, SinkConnector, SinkContext, Source, SourceConnector, SourceContext,
};

use crate::format::{
    BadRecordHandler, CSV_DELIMITER_OPTION, DEAD_LETTER_TABLE_OPTION, FORMAT_OPTION, Format,
    ON_ERROR_OPTION, OnError, RecordDecoder,
};
use crate::option_reader::OptionReader;

pub use sink::FileSink;
pub use source::FileSource;

/// Metadata column: the name of the file a row comes from (TEXT).
pub const FILE_COLUMN: &str = "_file";
/// Metadata column: the 1-based line number of a row in its file (BIGINT).
pub const LINE_COLUMN: &str = "_line";

const PATH_OPTION: OptionSpec =
    OptionSpec::new("path", OptionValue::Text, "the directory of the files").required();
const CSV_HEADER_OPTION: OptionSpec = OptionSpec::new(
    "csv.header",
    OptionValue::Bool,
    "source: skip the first line of each file; sink: write a header line (default false)",
);

static SOURCE_OPTIONS: &[OptionSpec] = &[
    PATH_OPTION,
    FORMAT_OPTION,
    OptionSpec::new(
        "glob",
        OptionValue::Text,
        "only file names matching this pattern (* and ?) are read (default '*')",
    ),
    CSV_DELIMITER_OPTION,
    CSV_HEADER_OPTION,
    ON_ERROR_OPTION,
    DEAD_LETTER_TABLE_OPTION,
    OptionSpec::new(
        "max.files.per.epoch",
        OptionValue::Integer {
            min: 1,
            max: 1_000_000,
        },
        "at most this many new files are read in one epoch (default 1000)",
    ),
];

static SINK_OPTIONS: &[OptionSpec] = &[
    PATH_OPTION,
    FORMAT_OPTION,
    CSV_DELIMITER_OPTION,
    CSV_HEADER_OPTION,
];

/// A file source's options, parsed and defaulted.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    pub dir: PathBuf,
    pub format: Format,
    pub glob: String,
    pub header: bool,
    pub on_error: OnError,
    pub max_files_per_epoch: usize,
}

impl FileSourceConfig {
    pub fn parse(def: &SourceDef) -> Result<FileSourceConfig> {
        let options = OptionReader::new(format!("file source '{}'", def.name), &def.options);
        let format = Format::from_options(&options)?;
        let header = options.bool("csv.header")?.unwrap_or(false);
        if header && format == Format::Json {
            return Err(EngineError::Config(
                "option 'csv.header' needs format = 'csv'".into(),
            ));
        }
        Ok(FileSourceConfig {
            dir: parse_path(&options)?,
            format,
            glob: options.get("glob").unwrap_or("*").to_string(),
            header,
            on_error: OnError::from_options(&options, &def.name)?,
            max_files_per_epoch: options.i64("max.files.per.epoch")?.unwrap_or(1000).max(1)
                as usize,
        })
    }
}

fn parse_path(options: &OptionReader<'_>) -> Result<PathBuf> {
    let path = options.required("path")?;
    if path.trim().is_empty() {
        return Err(EngineError::Config(
            "option 'path' must name a directory".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

/// Where each column of a file source's schema comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnSource {
    /// Column `i` of the decoded payload.
    Payload(usize),
    File,
    Line,
}

/// Splits `schema` into the payload schema (what the decoder reads) and the
/// origin of every declared column.
pub fn split_schema(schema: &SchemaRef) -> Result<(SchemaRef, Vec<ColumnSource>)> {
    let mut payload = Vec::new();
    let mut layout = Vec::new();
    for field in schema.fields() {
        let expect = |ty: DataType, sql: &str| {
            if field.data_type() == &ty {
                Ok(())
            } else {
                Err(EngineError::Config(format!(
                    "metadata column {} must be declared {sql}",
                    field.name()
                )))
            }
        };
        match field.name().as_str() {
            FILE_COLUMN => {
                expect(DataType::Utf8, "TEXT")?;
                layout.push(ColumnSource::File);
            }
            LINE_COLUMN => {
                expect(DataType::Int64, "BIGINT")?;
                layout.push(ColumnSource::Line);
            }
            _ => {
                layout.push(ColumnSource::Payload(payload.len()));
                payload.push(field.clone());
            }
        }
    }
    Ok((std::sync::Arc::new(Schema::new(payload)), layout))
}

/// Whether a file name is never read: hidden, or still being written.
pub fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('_')
        || name.ends_with(".tmp")
        || name.ends_with(".partial")
        || name.ends_with("_COPYING_")
}

/// Shell-style match of a whole file name: `*` any run of characters, `?`
/// one character, anything else itself.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and the name position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `connector = 'file'` for sources.
pub struct FileSourceConnector;

impl SourceConnector for FileSourceConnector {
    fn name(&self) -> &'static str {
        "file"
    }

    fn options(&self) -> &'static [OptionSpec] {
        SOURCE_OPTIONS
    }

    fn side_tables(&self, def: &SourceDef) -> Result<Vec<(String, SchemaRef)>> {
        crate::format::dead_letter_side_tables(def)
    }

    fn validate(&self, def: &SourceDef, schema: &SchemaRef) -> Result<()> {
        let config = FileSourceConfig::parse(def)?;
        let (payload, _) = split_schema(schema)?;
        RecordDecoder::new(config.format, payload).map(|_| ())
    }

    fn create(
        &self,
        def: &SourceDef,
        schema: SchemaRef,
        ctx: SourceContext,
    ) -> Result<Box<dyn Source>> {
        let config = FileSourceConfig::parse(def)?;
        let handler = BadRecordHandler::new(config.on_error.clone(), &def.name, &ctx)?
            .with_location_labels("file", "line");
        Ok(Box::new(FileSource::new(schema, config, handler)?))
    }
}

/// A file sink's options, parsed and defaulted.
#[derive(Debug, Clone)]
pub struct FileSinkConfig {
    pub dir: PathBuf,
    pub format: Format,
    pub header: bool,
}

impl FileSinkConfig {
    pub fn parse(def: &SinkDef) -> Result<FileSinkConfig> {
        let options = OptionReader::new(format!("file sink '{}'", def.name), &def.options);
        let format = Format::from_options(&options)?;
        let header = options.bool("csv.header")?.unwrap_or(false);
        if header && format == Format::Json {
            return Err(EngineError::Config(
                "option 'csv.header' needs format = 'csv'".into(),
            ));
        }
        Ok(FileSinkConfig {
            dir: parse_path(&options)?,
            format,
            header,
        })
    }
}

/// `connector = 'file'` for sinks.
pub struct FileSinkConnector;

impl SinkConnector for FileSinkConnector {
    fn name(&self) -> &'static str {
        "file"
    }

    fn options(&self) -> &'static [OptionSpec] {
        SINK_OPTIONS
    }

    fn validate(&self, def: &SinkDef, _ctx: &SinkContext) -> Result<()> {
        FileSinkConfig::parse(def).map(|_| ())
    }

    fn create(&self, def: &SinkDef, _ctx: SinkContext) -> Result<Box<dyn Sink>> {
        Ok(Box::new(FileSink::new(FileSinkConfig::parse(def)?)))
    }
}

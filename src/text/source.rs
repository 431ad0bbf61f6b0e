//! The inputs of a run turned into documents, one at a time: files (.txt, .html/.htm,
//! .jsonl), directories (recursively, in sorted order) and `-` for stdin (JSONL or text).
//!
//! Reading is lazy and bounded: a JSONL file or stream is read a record at a time, and no
//! file, record or stdin text over the size limit is held in memory. A bad input yields an
//! error item naming it, and the reader goes on to the next.
use super::error::{IngestError, Reason};
use serde::Deserialize;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The default size limit for one file, record or stdin text: 10 MB.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1000 * 1000;

/// How a document's bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Html,
}

/// Fields a JSONL record gives; they win over what ingest detects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    pub title: Option<String>,
    pub date: Option<String>,
    pub url: Option<String>,
    pub outlet: Option<String>,
}

/// One page to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The id it asks for (file stem or JSONL `id`), before [`Ids`] makes it unique.
    pub id: String,
    /// Where it came from: a path, `path:line`, `-` or `-:line`.
    pub source: String,
    pub format: Format,
    pub bytes: Vec<u8>,
    pub given: Given,
}

/// The documents of a list of inputs, in order.
pub struct Sources {
    pending: VecDeque<Pending>,
    jsonl: Option<JsonLines>,
    max_bytes: u64,
}

enum Pending {
    Path(PathBuf),
    Stdin,
    Failed(IngestError),
}

struct JsonLines {
    name: String,
    reader: Box<dyn BufRead + Send>,
    line: usize,
}

#[derive(Deserialize)]
struct Record {
    id: Option<serde_json::Value>,
    text: Option<String>,
    title: Option<String>,
    date: Option<String>,
    url: Option<String>,
    outlet: Option<String>,
}

impl Sources {
    /// Expands `inputs` (files, directories, `-`); documents bigger than `max_bytes` are
    /// refused.
    pub fn new(inputs: &[PathBuf], max_bytes: u64) -> Self {
        let mut pending = VecDeque::new();
        for input in inputs {
            if input.as_os_str() == "-" {
                pending.push_back(Pending::Stdin);
            } else if input.is_dir() {
                expand_dir(input, &mut pending);
            } else {
                pending.push_back(Pending::Path(input.clone()));
            }
        }
        Self {
            pending,
            jsonl: None,
            max_bytes,
        }
    }

    /// About how many documents these inputs hold (a file is one, a JSONL file one per
    /// non-blank line), for progress bars; None when stdin is among them.
    pub fn estimate(&self) -> Option<u64> {
        let mut total = 0;
        for p in &self.pending {
            total += match p {
                Pending::Stdin => return None,
                Pending::Failed(_) => 1,
                Pending::Path(path) if extension(path) == "jsonl" => {
                    count_records(path).unwrap_or(1)
                }
                Pending::Path(_) => 1,
            };
        }
        Some(total)
    }

    fn open(&mut self, path: &Path) -> Option<Result<Document, IngestError>> {
        let source = path.display().to_string();
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.clone());
        let ext = extension(path);
        // A JSONL file's ids are its records'; any other file's is its stem.
        let known = (ext != "jsonl").then_some(id.as_str());
        let fail = |reason| {
            let e = IngestError::new(&source, reason);
            Some(Err(match known {
                Some(id) => e.with_id(id),
                None => e,
            }))
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return fail(Reason::Io(e.to_string())),
        };
        if ext == "jsonl" {
            return match File::open(path) {
                Ok(f) => {
                    self.jsonl = Some(JsonLines {
                        name: source,
                        reader: Box::new(BufReader::new(f)),
                        line: 0,
                    });
                    None
                }
                Err(e) => fail(Reason::Io(e.to_string())),
            };
        }
        if meta.len() > self.max_bytes {
            return fail(Reason::TooLarge {
                size: meta.len(),
                limit: self.max_bytes,
            });
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return fail(Reason::Io(e.to_string())),
        };
        let format = match ext.as_str() {
            "html" | "htm" | "xhtml" => Format::Html,
            "txt" | "text" => Format::Text,
            _ => sniff(&bytes),
        };
        Some(Ok(Document {
            id,
            source,
            format,
            bytes,
            given: Given::default(),
        }))
    }

    fn stdin(&mut self) -> Option<Result<Document, IngestError>> {
        let mut reader = BufReader::new(io::stdin());
        let first = match reader.fill_buf() {
            Ok(buf) => buf.iter().find(|b| !b.is_ascii_whitespace()).copied(),
            Err(e) => return Some(Err(IngestError::new("-", Reason::Io(e.to_string())))),
        };
        if first == Some(b'{') {
            self.jsonl = Some(JsonLines {
                name: "-".to_string(),
                reader: Box::new(reader),
                line: 0,
            });
            return None;
        }
        let mut bytes = Vec::new();
        if let Err(e) = reader
            .take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
        {
            return Some(Err(IngestError::new("-", Reason::Io(e.to_string()))));
        }
        if bytes.len() as u64 > self.max_bytes {
            return Some(Err(IngestError::new(
                "-",
                Reason::TooLarge {
                    size: bytes.len() as u64,
                    limit: self.max_bytes,
                },
            )));
        }
        Some(Ok(Document {
            id: "stdin".to_string(),
            source: "-".to_string(),
            format: sniff(&bytes),
            bytes,
            given: Given::default(),
        }))
    }

    fn next_record(&mut self) -> Option<Result<Document, IngestError>> {
        let max_bytes = self.max_bytes;
        let jl = self.jsonl.as_mut()?;
        let mut buf = Vec::new();
        loop {
            jl.line += 1;
            let source = format!("{}:{}", jl.name, jl.line);
            buf.clear();
            match read_bounded_line(&mut jl.reader, max_bytes, &mut buf) {
                Err(e) => {
                    self.jsonl = None;
                    return Some(Err(IngestError::new(&source, Reason::Io(e.to_string()))));
                }
                Ok(None) => {
                    self.jsonl = None;
                    return None;
                }
                Ok(Some(size)) if size > max_bytes => {
                    return Some(Err(IngestError::new(
                        &source,
                        Reason::TooLarge {
                            size,
                            limit: max_bytes,
                        },
                    )));
                }
                Ok(Some(_)) => {}
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(record(&source, jl.line, &jl.name, &buf));
        }
    }
}

impl Iterator for Sources {
    type Item = Result<Document, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.jsonl.is_some() {
                if let Some(item) = self.next_record() {
                    return Some(item);
                }
                continue;
            }
            let item = match self.pending.pop_front()? {
                Pending::Path(p) => self.open(&p),
                Pending::Stdin => self.stdin(),
                Pending::Failed(e) => Some(Err(e)),
            };
            if item.is_some() {
                return item;
            }
        }
    }
}

fn record(source: &str, line: usize, name: &str, buf: &[u8]) -> Result<Document, IngestError> {
    let value: serde_json::Value = serde_json::from_slice(buf)
        .map_err(|e| IngestError::new(source, Reason::Json(e.to_string())))?;
    if !value.is_object() {
        return Err(IngestError::new(
            source,
            Reason::Json(
                "a record must be an object such as {\"id\": \"a1\", \"text\": \"…\"}".into(),
            ),
        ));
    }
    let r: Record = serde_json::from_value(value)
        .map_err(|e| IngestError::new(source, Reason::Json(e.to_string())))?;
    let text = r
        .text
        .ok_or_else(|| IngestError::new(source, Reason::Json("no \"text\" string".into())))?;
    let id = match r.id {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        None | Some(serde_json::Value::Null) => {
            let stem = Path::new(name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| s != "-")
                .unwrap_or_else(|| "stdin".to_string());
            format!("{stem}-{line}")
        }
        Some(other) => {
            return Err(IngestError::new(
                source,
                Reason::Json(format!("\"id\" must be a string or a number, not {other}")),
            ))
        }
    };
    let bytes = text.into_bytes();
    Ok(Document {
        id,
        source: source.to_string(),
        format: sniff(&bytes),
        bytes,
        given: Given {
            title: r.title.filter(|s| !s.trim().is_empty()),
            date: r.date.filter(|s| !s.trim().is_empty()),
            url: r.url.filter(|s| !s.trim().is_empty()),
            outlet: r.outlet.filter(|s| !s.trim().is_empty()),
        },
    })
}

/// Reads one line into `buf`, keeping at most `limit` bytes; returns the line's full
/// length (so the caller can refuse it) or `None` at the end of input.
fn read_bounded_line(
    reader: &mut dyn BufRead,
    limit: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    let mut size = 0u64;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(size));
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = limit.saturating_sub(buf.len() as u64) as usize;
        buf.extend_from_slice(&chunk[..take.min(room)]);
        size += take as u64;
        reader.consume(take);
        if done {
            return Ok(Some(size - 1));
        }
    }
}

/// Non-blank lines of a file, read in blocks.
fn count_records(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let (mut count, mut blank) = (0u64, true);
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(count + u64::from(!blank));
        }
        for &b in chunk {
            if b == b'\n' {
                count += u64::from(!blank);
                blank = true;
            } else if !b.is_ascii_whitespace() {
                blank = false;
            }
        }
        let n = chunk.len();
        reader.consume(n);
    }
}

fn expand_dir(dir: &Path, pending: &mut VecDeque<Pending>) {
    let walk = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if matches!(
                    extension(e.path()).as_str(),
                    "txt" | "html" | "htm" | "jsonl"
                ) {
                    pending.push_back(Pending::Path(e.into_path()));
                }
            }
            Ok(_) => {}
            Err(err) => {
                let path = err.path().unwrap_or(dir).display().to_string();
                pending.push_back(Pending::Failed(IngestError::new(
                    &path,
                    Reason::Io(err.to_string()),
                )));
            }
        }
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// HTML if the text opens with a tag.
fn sniff(bytes: &[u8]) -> Format {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[start..bytes.len().min(start + 256)]).to_lowercase();
    let head = head.trim_start_matches('\u{feff}');
    if head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.starts_with("<?xml")
        || (head.starts_with('<')
            && (head.contains("<p") || head.contains("<div") || head.contains("<body")))
    {
        Format::Html
    } else {
        Format::Text
    }
}

/// Article ids, made unique within a run.
#[derive(Debug, Default)]
pub struct Ids {
    used: HashSet<String>,
}

impl Ids {
    /// `wanted` if it is free, else `wanted-2`, `wanted-3`, …; the bool says whether it
    /// had to be changed.
    pub fn claim(&mut self, wanted: &str) -> (String, bool) {
        if self.used.insert(wanted.to_string()) {
            return (wanted.to_string(), false);
        }
        let id = (2..)
            .map(|n| format!("{wanted}-{n}"))
            .find(|c| !self.used.contains(c))
            .expect("some suffix is free");
        self.used.insert(id.clone());
        (id, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines_report_their_full_length() {
        let mut r: &[u8] = b"abcdef\nxy\nlast";
        let mut buf = Vec::new();
        assert_eq!(read_bounded_line(&mut r, 3, &mut buf).unwrap(), Some(6));
        assert_eq!(buf, b"abc");
        buf.clear();
        assert_eq!(read_bounded_line(&mut r, 3, &mut buf).unwrap(), Some(2));
        assert_eq!(buf, b"xy\n");
        buf.clear();
        assert_eq!(read_bounded_line(&mut r, 10, &mut buf).unwrap(), Some(4));
        assert_eq!(buf, b"last");
        buf.clear();
        assert_eq!(read_bounded_line(&mut r, 10, &mut buf).unwrap(), None);
    }

    #[test]
    fn clashing_ids_get_suffixes() {
        let mut ids = Ids::default();
        assert_eq!(ids.claim("a"), ("a".to_string(), false));
        assert_eq!(ids.claim("a"), ("a-2".to_string(), true));
        assert_eq!(ids.claim("a-2"), ("a-2-2".to_string(), true));
        assert_eq!(ids.claim("a"), ("a-3".to_string(), true));
    }

    #[test]
    fn sniffs_html() {
        assert_eq!(sniff(b"  <!DOCTYPE html><p>x"), Format::Html);
        assert_eq!(sniff(b"<div>x</div>"), Format::Html);
        assert_eq!(sniff(b"<ARN> bukan tag"), Format::Text);
        assert_eq!(sniff(b"Teks biasa"), Format::Text);
    }
}

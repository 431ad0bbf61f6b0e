//! Why a document could not be ingested. Both the reader of inputs (`source.rs`) and the
//! ingest stage (`ingest.rs`) fail with these, so they live apart from either.
use super::clean::Dropped;
use super::decode;

/// Why a document could not be ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("cannot read it: {0}")]
    Io(String),
    #[error("it is {size} bytes, over the limit of {limit} (raise the limit with --max-size)")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Decode(#[from] decode::DecodeError),
    #[error("not a valid JSONL record: {0}")]
    Json(String),
    #[error("no article text is left once the boilerplate is removed ({} lines or sentences dropped; --explain shows why)", dropped.len())]
    NoText {
        /// What was dropped, with the rule that took each.
        dropped: Vec<Dropped>,
    },
    #[error("no article body found: no block of the page reads as prose (the best candidate, {element}, has {words} words, {link_pct}% of them in links)")]
    NoBody {
        element: String,
        words: usize,
        link_pct: u32,
    },
}

/// A document that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input}: {reason}")]
pub struct IngestError {
    /// The path, `path:line` or `-` it came from.
    pub input: String,
    pub reason: Reason,
    /// The id the document would have had, where it is known without reading it (a file's
    /// stem), so a batch run claims the same ids whether or not it could be read.
    pub id: Option<String>,
}

impl IngestError {
    pub fn new(source: &str, reason: Reason) -> Self {
        Self {
            input: source.to_string(),
            reason,
            id: None,
        }
    }

    /// The same error, for the document that would have had the id `id`.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }
}

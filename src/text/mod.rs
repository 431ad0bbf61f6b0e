//! Text handling: the ingest stage (scraped pages in, [`article::Article`]s out) and the one
//! sentence splitter every stage shares.
//!
//! Ingest runs `source` (inputs to documents) → `decode` (bytes to UTF-8) → `html` (HTML to
//! lines) → `clean` (boilerplate rules, title, repeats) → `dateline`, `meta` and `dates`
//! (dateline, outlet, publication date) → `segment` (sentences, given [`SentenceId`]s), tied together in
//! `ingest`; `error` says why a document could not be ingested. No import runs in a circle:
//! `clean` and `meta` share `dateline`, `source` and `ingest` share `error`.
pub mod article;
pub mod clean;
pub mod dateline;
pub mod dates;
pub mod decode;
pub mod error;
pub mod html;
pub mod ingest;
pub mod lang;
pub mod meta;
pub mod segment;
pub mod sentence_id;
pub mod source;

pub use article::{Article, Paragraph, Sentence};
pub use ingest::{ingest, IngestError, Ingested};
pub use sentence_id::{SentenceId, SentenceIdError};
pub use source::{Document, Ids, Sources};

//! Text handling: the ingest stage (scraped pages in, [`article::Article`]s out) and the one
//! sentence splitter every stage shares.
//!
//! Ingest runs `source` (inputs to documents) → `decode` (bytes to UTF-8) → `html` (HTML to
//! lines) → `clean` (boilerplate rules, title, repeats) → `meta` and `dates` (dateline,
//! outlet, publication date) → `segment` (sentences with ids), tied together in `ingest`.
pub mod article;
pub mod clean;
pub mod dates;
pub mod decode;
pub mod html;
pub mod ingest;
pub mod lang;
pub mod meta;
pub mod segment;
pub mod source;

pub use article::{Article, Paragraph, Sentence};
pub use ingest::{ingest, IngestError, Ingested};
pub use source::{Document, Ids, Sources};

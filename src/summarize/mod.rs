//! Summaries that cite their sources: sentence embeddings (`embed`), the extractive
//! summariser (`extractive`), the cross-article overview (`overview`) and the citation
//! check (`cite`).
pub mod abstractive;
pub mod bert;
pub mod cite;
pub mod embed;
pub mod extractive;
pub mod features;
pub mod files;
pub mod llm;
pub mod nli;
pub mod overview;
pub mod scorer;
pub mod standalone;

pub use embed::{EmbedError, Embedder};
pub use extractive::{select, ExtractiveSettings};

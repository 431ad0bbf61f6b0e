//! Summaries that cite their sources: sentence embeddings first (`embed`); the extractive
//! and LLM summarisers and the citation check build on them.
pub mod embed;

pub use embed::{EmbedError, Embedder};

//! Summaries that cite their sources: sentence embeddings (`embed`) and the extractive
//! summariser (`extractive`); the LLM summariser and the citation check build on them.
pub mod embed;
pub mod extractive;

pub use embed::{EmbedError, Embedder};
pub use extractive::{select, ExtractiveSettings, Pick};

//! Text handling shared by the stages: the one sentence splitter.
pub mod segment;

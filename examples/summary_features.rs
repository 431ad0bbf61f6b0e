//! The extractive scorer's features for articles, for `benches/train_scorer.py`: the
//! training script reads the numbers warta itself computes, so there is one definition of
//! each feature (`src/summarize/features.rs`) and nothing to keep in step.
//!
//! Reads `warta ingest` JSONL (one article per line) and writes one JSON line per article:
//! `{"id", "sentences": [{"id", "text"}], "features": [[...], ...], "names": [...],
//! "similarity": [[...], ...]}` (the sentences' cosine similarities, for tuning the
//! redundancy penalty of the selection). The
//! text is taken as English (as `warta summarize` does); the title, when there is one, is
//! embedded with the sentences.
//!
//! ```sh
//! cargo run --release --example summary_features -- MODEL_DIR < articles.jsonl > features.jsonl
//! ```
use std::io::{BufRead, Write};

use anyhow::Context;
use warta::summarize::features::{self, SentenceView};
use warta::summarize::Embedder;
use warta::text::Article;

fn main() -> anyhow::Result<()> {
    let model = std::env::args()
        .nth(1)
        .context("usage: summary_features MODEL_DIR < articles.jsonl")?;
    let embedder = Embedder::load(model.as_ref(), &candle_core::Device::Cpu)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let a: Article =
            serde_json::from_str(&line).with_context(|| format!("stdin line {}", n + 1))?;
        let texts: Vec<&str> = a.sentences().map(|s| s.text.as_str()).collect();
        let title = a.title.as_deref().filter(|t| !t.trim().is_empty());
        let mut embeddings =
            embedder.embed(&texts.iter().copied().chain(title).collect::<Vec<_>>())?;
        let title_embedding = title.and_then(|_| embeddings.pop());
        let views = SentenceView::list(a.places(), &texts, &embeddings);
        let f = features::features(&views, title_embedding.as_deref());
        let sentences: Vec<serde_json::Value> = a
            .sentences()
            .map(|s| serde_json::json!({"id": s.id, "text": s.text}))
            .collect();
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "id": a.id,
                "sentences": sentences,
                "features": f,
                "similarity": similarity(&embeddings),
                "names": features::NAMES,
            }),
        )?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The cosine similarity of every pair of sentences, to 4 decimals.
fn similarity(embeddings: &[Vec<f32>]) -> Vec<Vec<f32>> {
    embeddings
        .iter()
        .map(|a| {
            embeddings
                .iter()
                .map(|b| (warta::summarize::embed::cosine(a, b) * 1e4).round() / 1e4)
                .collect()
        })
        .collect()
}

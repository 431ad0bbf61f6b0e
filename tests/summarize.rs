//! The summarize stage on the real all-MiniLM-L6-v2: sentence embeddings against
//! sentence-transformers' reference values (tests/fixtures/minilm_reference.json, written by
//! tests/fixtures/make_embedding_reference.py), and the extractive summariser on them. Also
//! the tiny random checkpoint tests/fixtures/bert-tiny (written by
//! tests/fixtures/make_bert_fixture.py) against its own reference.json. Both encoders are
//! checked: the host one the CPU runs, and candle-transformers' one other devices run.
mod common;

use std::path::Path;

use candle_core::Device;
use serde::Deserialize;
use warta::summarize::embed::{cosine, Backend, Embedder};
use warta::summarize::{select, ExtractiveSettings};

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

fn read_reference(relative: &str) -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn reference() -> Reference {
    read_reference("tests/fixtures/minilm_reference.json")
}

const BACKENDS: [Backend; 2] = [Backend::Host, Backend::Candle];

#[test]
fn embeddings_match_sentence_transformers_within_1e_4() {
    let r = reference();
    assert_eq!(Backend::for_device(&Device::Cpu), Backend::Host);
    for backend in BACKENDS {
        let model = Embedder::load_with(common::minilm(), &Device::Cpu, backend).unwrap();
        assert_eq!(model.dim(), 384);
        assert_eq!(model.max_tokens(), r.max_seq_length);
        let worst = assert_within_1e_4(&model, &r);
        eprintln!("{backend:?}: largest difference from sentence-transformers: {worst:e}");
    }
}

#[test]
fn the_tiny_bert_fixture_matches_sentence_transformers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert-tiny");
    let r = read_reference("tests/fixtures/bert-tiny/reference.json");
    for backend in BACKENDS {
        let model = Embedder::load_with(&dir, &Device::Cpu, backend).unwrap();
        assert_eq!(model.dim(), 64);
        assert_eq!(model.max_tokens(), r.max_seq_length);
        let worst = assert_within_1e_4(&model, &r);
        eprintln!(
            "bert-tiny, {backend:?}: largest difference from sentence-transformers: {worst:e}"
        );
    }
}

#[test]
fn the_pooling_mode_of_sentence_transformers_6_is_read() {
    // sentence-transformers 6 saves the pooling mode as one string.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert-tiny");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("1_Pooling")).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "modules.json",
        "sentence_bert_config.json",
        "tokenizer.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let pooling = |mode: &str| {
        std::fs::write(
            dir.join("1_Pooling/config.json"),
            format!("{{\"embedding_dimension\": 64, \"pooling_mode\": \"{mode}\", \"include_prompt\": true}}"),
        )
        .unwrap();
    };
    pooling("mean");
    let r = read_reference("tests/fixtures/bert-tiny/reference.json");
    assert_within_1e_4(&Embedder::load(dir, &Device::Cpu).unwrap(), &r);
    pooling("max");
    let e = Embedder::load(dir, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("1_Pooling") && e.contains("max"), "{e}");
}

/// Embeds the reference sentences with `model` and checks every value against
/// sentence-transformers' (and that every vector is normalised); the largest difference.
fn assert_within_1e_4(model: &Embedder, r: &Reference) -> f32 {
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let got = model.embed(&texts).unwrap();
    assert_eq!(got.len(), r.embeddings.len());
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(&r.embeddings).enumerate() {
        assert_eq!(g.len(), w.len());
        let diff = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-4,
            "sentence {i} {:?}: max abs diff {diff}",
            texts[i]
        );
        worst = worst.max(diff);
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "sentence {i} is not normalised: {norm}"
        );
    }
    worst
}

#[test]
fn batching_does_not_change_embeddings_and_similar_sentences_are_close() {
    let r = reference();
    let model = Embedder::load(common::minilm(), &Device::Cpu).unwrap();
    let all: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let together = model.embed(&all).unwrap();
    for (i, text) in all.iter().enumerate().step_by(5) {
        let alone = model.embed(&[text]).unwrap();
        let diff = alone[0]
            .iter()
            .zip(&together[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "{text:?} alone differs by {diff}");
    }
    // Each distinct text is embedded once; a repeat gets the same vector.
    let twice = model.embed(&[all[0], all[1], all[0]]).unwrap();
    assert_eq!(twice[0], twice[2]);
    assert_eq!(twice[0], together[0]);
    let v = model
        .embed(&[
            "Russia demands binding security guarantees from the West.",
            "Moscow wants legally binding security guarantees from Western countries.",
            "The price of chili peppers rose in the market.",
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
    assert!(model.embed(&[]).unwrap().is_empty());
}

/// An English article as translation would give it: the gist first, a repeat of it, an
/// off-topic line, and details.
const ARTICLE: &[&str] = &[
    "Russia's foreign minister said on Monday that Moscow still sees a chance to reach a deal with the West on security guarantees.",
    "Sergei Lavrov told President Vladimir Putin that diplomatic talks with the United States and NATO should continue.",
    "Russia's foreign minister said on Monday that Moscow still sees a chance of a deal with the West on security guarantees.",
    "The weather in Moscow was cold and snowy.",
    "Moscow has demanded that NATO rule out membership for Ukraine and pull back forces from Eastern Europe.",
    "Washington and NATO rejected the key demands but offered talks on arms control.",
    "Putin said the West had ignored Russia's main security concerns.",
    "Photo: Reuters.",
];

#[test]
fn the_extractive_summary_covers_the_article_without_repeats() {
    let model = Embedder::load(common::minilm(), &Device::Cpu).unwrap();
    let emb = model.embed(ARTICLE).unwrap();
    let chosen = select(ARTICLE, &emb, &ExtractiveSettings::default());
    assert_eq!(chosen.len(), 3, "{chosen:?}");
    assert!(
        chosen.windows(2).all(|w| w[0] < w[1]),
        "not in reading order: {chosen:?}"
    );
    assert!(chosen.contains(&0), "the lead is missing: {chosen:?}");
    assert!(
        !chosen.contains(&2),
        "the lead's near-copy was chosen: {chosen:?}"
    );
    assert!(
        !chosen.contains(&3) && !chosen.contains(&7),
        "off-topic or chrome: {chosen:?}"
    );
    let words: usize = chosen
        .iter()
        .map(|&i| ARTICLE[i].split_whitespace().count())
        .sum();
    assert!(words <= 80, "{words} words");
    // Embedding one sentence at a time gives the same summary.
    let one_by_one: Vec<Vec<f32>> = ARTICLE
        .iter()
        .map(|s| model.embed(&[s]).unwrap().remove(0))
        .collect();
    let again: Vec<usize> = select(ARTICLE, &one_by_one, &ExtractiveSettings::default());
    assert_eq!(again, chosen);
}

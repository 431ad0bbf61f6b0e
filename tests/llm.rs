//! The instruction LLM on candle against HF transformers' greedy generate, on the tiny Qwen2
//! checkpoint written by tests/fixtures/make_qwen2_fixture.py: the ChatML prompt text, its
//! token ids and every generated id must be identical.
use std::path::Path;

use candle_core::{DType, Device};
use serde::Deserialize;
use warta::summarize::llm::{chat_prompt, Llm, Message};

#[derive(Deserialize)]
struct Case {
    messages: Vec<Message>,
    prompt: String,
    prompt_ids: Vec<u32>,
    generated: Vec<u32>,
}

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/qwen2-tiny"
    ))
}

#[test]
fn greedy_generation_is_token_identical_to_hf() {
    let r: Reference =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap())
            .unwrap();
    let mut llm = Llm::load(fixture(), &Device::Cpu, DType::F32).unwrap();
    assert!(!r.cases.is_empty());
    for (i, case) in r.cases.iter().enumerate() {
        assert_eq!(
            chat_prompt(&case.messages),
            case.prompt,
            "case {i}: chat template"
        );
        let ids = llm.encode(&case.prompt).unwrap();
        assert_eq!(ids, case.prompt_ids, "case {i}: prompt ids");
        let got = llm.complete(&ids, 40).unwrap();
        assert_eq!(got, case.generated, "case {i}: generated ids");
    }
    // The same again: the KV cache is cleared between completions.
    let again = llm.complete(&r.cases[0].prompt_ids, 40).unwrap();
    assert_eq!(again, r.cases[0].generated);
}

#[test]
fn an_unquantized_gguf_file_gives_the_same_ids_and_a_quantized_one_loads_and_repeats() {
    let r: Reference =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap())
            .unwrap();
    let mut f32 = Llm::load(&fixture().join("model-f32.gguf"), &Device::Cpu, DType::F32).unwrap();
    for (i, case) in r.cases.iter().enumerate() {
        let got = f32.complete(&case.prompt_ids, 40).unwrap();
        assert_eq!(got, case.generated, "case {i}: GGUF F32 against HF");
    }
    let mut q8 = Llm::load(&fixture().join("model-q8_0.gguf"), &Device::Cpu, DType::F32).unwrap();
    let a = q8.complete(&r.cases[0].prompt_ids, 40).unwrap();
    let b = q8.complete(&r.cases[0].prompt_ids, 40).unwrap();
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "greedy decoding of a quantized model repeats");
    assert!(a.iter().all(|&t| (t as usize) < 700));
}

#[test]
fn a_broken_gguf_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture().join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    let bad = dir.path().join("model.gguf");
    std::fs::write(&bad, b"GGUF but not really").unwrap();
    let err = Llm::load(&bad, &Device::Cpu, DType::F32)
        .err()
        .expect("an error");
    let msg = err.to_string();
    assert!(msg.contains("model.gguf") && msg.contains("GGUF"), "{msg}");
}

/// The NLI cross-encoder against HF's probabilities on the tiny BERT classifier written by
/// tests/fixtures/make_nli_fixture.py.
#[test]
fn nli_probabilities_match_hf_within_1e_5() {
    #[derive(Deserialize)]
    struct NliReference {
        pairs: Vec<(String, String)>,
        probabilities: Vec<Vec<f32>>,
        entailment_index: usize,
    }
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nli-tiny"
    ));
    let r: NliReference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let nli = warta::summarize::nli::Nli::load(dir, &Device::Cpu).unwrap();
    let pairs: Vec<(&str, &str)> = r
        .pairs
        .iter()
        .map(|(p, h)| (p.as_str(), h.as_str()))
        .collect();
    let got = nli.probabilities(&pairs).unwrap();
    assert_eq!(got.len(), r.probabilities.len(), "one result per pair");
    assert!(!got.is_empty());
    for (i, (g, w)) in got.iter().zip(&r.probabilities).enumerate() {
        assert_eq!(g.len(), w.len(), "pair {i}: one probability per label");
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() < 1e-5, "pair {i}: {g:?} vs {w:?}");
        }
    }
    let e = nli.entailment(&pairs).unwrap();
    assert_eq!(e[1], got[1][r.entailment_index]);
}

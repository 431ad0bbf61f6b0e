//! The vocabulary shortlist (`translate::shortlist`, `--shortlist`) on the fixture
//! checkpoints: what restricting each sentence to its candidates may change and what it may
//! not, on every precision's host path and on the device-generic path.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use warta::device::Precision;
use warta::generate::GenerationConfig;
use warta::translate::marian::{MarianModel, Paths};
use warta::translate::shortlist::Shortlist;
use warta::translate::tokenizer::MarianTokenizer;

fn fixture_dir(name: &str) -> PathBuf {
    Path::new("tests/fixtures").join(name)
}

fn fixture_ids(name: &str) -> Vec<Vec<u32>> {
    let path = fixture_dir(name).join("reference.json");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tok = MarianTokenizer::from_dir(&fixture_dir(name)).unwrap();
    r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| tok.encode(v.as_str().unwrap()))
        .collect()
}

/// Every way the CPU can run a model: the packed host projections in each precision, and
/// the device-generic candle path (what a GPU runs).
fn models(name: &str) -> Vec<(String, MarianModel, GenerationConfig)> {
    let dir = fixture_dir(name);
    let mut out = Vec::new();
    for p in [
        Precision::Float(DType::F32),
        Precision::Int8,
        Precision::Bf16Cpu,
    ] {
        let (m, _, g) = MarianModel::load(&dir, &Device::Cpu, p).unwrap();
        out.push((p.as_str().to_string(), m, g));
    }
    let (m, _, g) =
        MarianModel::load_with_paths(&dir, &Device::Cpu, DType::F32, Paths::Generic).unwrap();
    out.push(("f32 generic".into(), m, g));
    out
}

fn with_beams(gen: &GenerationConfig, beams: usize) -> GenerationConfig {
    let mut g = gen.clone();
    g.num_beams = Some(beams);
    g
}

/// `ids` with the special tokens and every `stride`-th id of the vocabulary, sorted.
fn candidates_with(ids: &[u32], vocab: usize, stride: usize, specials: &[u32]) -> Vec<u32> {
    let mut c: Vec<u32> = ids.iter().chain(specials).copied().collect();
    c.extend((0..vocab as u32).step_by(stride));
    c.sort_unstable();
    c.dedup();
    c
}

/// A candidate's logit has the bits it has without the shortlist (int8, bf16; f32 within
/// an ulp or so), so a greedy translation whose every token is a candidate comes out token
/// for token the same; and as the
/// log-softmax is taken over fewer tokens, each token's log-probability can only rise.
#[test]
fn a_shortlist_holding_every_greedy_choice_changes_no_token() {
    for name in ["marian-shared", "marian-separate"] {
        let inputs = fixture_ids(name);
        let tok = MarianTokenizer::from_dir(&fixture_dir(name)).unwrap();
        let specials = [tok.eos_id(), tok.unk_id(), tok.pad_id()];
        for (what, model, gen) in models(name) {
            let vocab = model.target_vocab_size().unwrap();
            let g = with_beams(&gen, 1);
            let decoding = model.decoding(&g).unwrap();
            let full = model.translate_resolved(&inputs, &decoding).unwrap();
            let candidates: Vec<Vec<u32>> = full
                .iter()
                .map(|h| candidates_with(&h.tokens, vocab, 97, &specials))
                .collect();
            let short = model
                .translate_within(&inputs, &decoding, Some(&candidates))
                .unwrap();
            for (i, (a, b)) in full.iter().zip(&short).enumerate() {
                assert_eq!(a.tokens, b.tokens, "{name} {what}: input {i}");
                assert!(
                    b.mean_logprob >= a.mean_logprob,
                    "{name} {what}: input {i}: {} < {}",
                    b.mean_logprob,
                    a.mean_logprob
                );
            }
        }
    }
}

/// With every id a candidate nothing changes at all, beams and scores included.
#[test]
fn the_whole_vocabulary_as_candidates_is_no_shortlist() {
    let name = "marian-shared";
    let inputs = fixture_ids(name);
    for (what, model, gen) in models(name) {
        let vocab = model.target_vocab_size().unwrap() as u32;
        let decoding = model.decoding(&with_beams(&gen, 4)).unwrap();
        let full = model.translate_resolved(&inputs, &decoding).unwrap();
        let all = vec![(0..vocab).collect::<Vec<u32>>(); inputs.len()];
        let short = model
            .translate_within(&inputs, &decoding, Some(&all))
            .unwrap();
        assert_eq!(full, short, "{what}");
    }
}

/// Each sentence keeps to its own candidates, never its batch's: it comes out the same alone
/// as among others with other candidates, greedy and with beams, and every token it makes
/// is one of its candidates (its source tokens, the specials and a thin spread of the
/// vocabulary: a shortlist tight enough to change the output).
#[test]
fn each_sentence_keeps_to_its_own_candidates_whatever_its_batch() {
    let name = "marian-shared";
    let inputs = fixture_ids(name);
    let tok = MarianTokenizer::from_dir(&fixture_dir(name)).unwrap();
    let specials = [tok.eos_id(), tok.unk_id(), tok.pad_id()];
    for (what, model, gen) in models(name) {
        let vocab = model.target_vocab_size().unwrap();
        let candidates: Vec<Vec<u32>> = inputs
            .iter()
            .enumerate()
            .map(|(i, ids)| candidates_with(ids, vocab, 50 + i, &specials))
            .collect();
        for beams in [1, 4] {
            let decoding = model.decoding(&with_beams(&gen, beams)).unwrap();
            let batch = model
                .translate_within(&inputs, &decoding, Some(&candidates))
                .unwrap();
            let mut changed = 0;
            let full = model.translate_resolved(&inputs, &decoding).unwrap();
            for (i, ids) in inputs.iter().enumerate() {
                let alone = model
                    .translate_within(
                        std::slice::from_ref(ids),
                        &decoding,
                        Some(std::slice::from_ref(&candidates[i])),
                    )
                    .unwrap();
                // The tokens, as without a shortlist; the scores within what batching
                // moves them without one (a few ulp in f32's hidden states, which can tip
                // an int8 activation's rounding: 5e-4 on one of these inputs).
                assert_eq!(
                    alone[0].tokens, batch[i].tokens,
                    "{what}, {beams} beam(s): input {i}"
                );
                let tol = 1e-3;
                assert!(
                    (alone[0].score - batch[i].score).abs() <= tol,
                    "{what}, {beams} beam(s): input {i}: {} vs {}",
                    alone[0].score,
                    batch[i].score
                );
                for t in &batch[i].tokens {
                    assert!(
                        candidates[i].binary_search(t).is_ok(),
                        "{what}, {beams} beam(s): input {i} made {t}, not a candidate"
                    );
                }
                changed += usize::from(full[i].tokens != batch[i].tokens);
            }
            // The copy-task fixture strays from its source often enough that a shortlist
            // this thin changes some translations: the restriction is real.
            assert!(changed > 0, "{what}, {beams} beam(s): nothing changed");
        }
    }
}

/// Candidate lists must match the inputs one for one, and name ids of the vocabulary.
#[test]
fn bad_candidate_lists_are_errors() {
    let dir = fixture_dir("marian-shared");
    let (model, _, gen) = MarianModel::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let inputs = fixture_ids("marian-shared");
    let decoding = model.decoding(&gen).unwrap();
    let vocab = model.target_vocab_size().unwrap() as u32;
    let err = model
        .translate_within(&inputs[..2], &decoding, Some(&[vec![0, 1]]))
        .unwrap_err();
    assert!(
        err.to_string().contains("1 candidate lists for 2 inputs"),
        "{err}"
    );
    let err = model
        .translate_within(&inputs[..1], &decoding, Some(&[vec![0, vocab]]))
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("candidate id {vocab}")),
        "{err}"
    );
    let err = model
        .translate_within(&inputs[..2], &decoding, Some(&[vec![0, 1], vec![]]))
        .unwrap_err();
    assert!(
        err.to_string().contains("input 1 has no candidate"),
        "{err}"
    );
}

/// A table read for another model's vocabulary size is refused, not looked up with ids
/// that mean other tokens.
#[test]
fn a_table_read_for_another_vocabulary_is_refused() {
    let dir = fixture_dir("marian-shared");
    let t = warta::translate::Translator::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let vocab = t.target_vocab().unwrap();
    let s = Shortlist::parse("\t▁the\n", Path::new("t.vmap"), t.tokenizer(), vocab + 1).unwrap();
    let err = t.with_shortlist(Some(s)).err().unwrap().to_string();
    assert!(err.contains(&format!("model has {vocab}")), "{err}");
}

/// The translator looks each sentence's candidates up in the table, and says so in its
/// setup (a translation cache's key), which changes with the table's contents.
#[test]
fn a_translator_with_a_shortlist_uses_it_and_keys_its_cache_by_it() {
    let name = "marian-shared";
    let dir = fixture_dir(name);
    let plain = warta::translate::Translator::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let vocab = plain.target_vocab().unwrap();
    let tok = plain.tokenizer();
    // Only the always-line: each sentence may use its own source tokens and these few.
    let table = "\t▁the ▁a .\n";
    let s = Shortlist::parse(table, Path::new("t.vmap"), tok, vocab).unwrap();
    let other = Shortlist::parse("\t▁the .\n", Path::new("u.vmap"), tok, vocab).unwrap();
    let line = "Rusia dan AS bertemu di Jenewa pada 10 Januari 2022.";
    let ids = tok.encode(line);
    let allowed = s.candidates(&ids);
    let setup_plain = plain.setup().unwrap();
    let short = warta::translate::Translator::load(&dir, &Device::Cpu, DType::F32)
        .unwrap()
        .with_retry(false)
        .with_shortlist(Some(s))
        .unwrap();
    let out = short.translate(&[line]).unwrap();
    // What the model gives that sentence within its candidates, with the translator's
    // settings; and something else without them.
    let (model, _, _) = MarianModel::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let within = model
        .translate_within(
            std::slice::from_ref(&ids),
            short.decoding(),
            Some(std::slice::from_ref(&allowed)),
        )
        .unwrap();
    assert_eq!(out[0].text, tok.decode(&within[0].tokens));
    assert_ne!(out[0].text, plain.translate(&[line]).unwrap()[0].text);
    let setup = short.setup().unwrap();
    assert_ne!(setup, setup_plain);
    assert!(setup.contains("shortlist=vmap1:"), "{setup}");
    let short_other = warta::translate::Translator::load(&dir, &Device::Cpu, DType::F32)
        .unwrap()
        .with_retry(false)
        .with_shortlist(Some(other))
        .unwrap();
    assert_ne!(short_other.setup().unwrap(), setup);
}

//! Parity of our Marian model and decoding loop with HF transformers `generate`.
//!
//! Each fixture directory (`tests/fixtures/marian-shared`, `tests/fixtures/marian-separate`,
//! plus any listed in `WARTA_MARIAN_FIXTURES`, colon-separated) holds a small checkpoint and
//! `reference.json` written by `tests/fixtures/make_fixtures.py`: for every recorded decoding
//! setting, HF's outputs for each input alone ("single") and for all inputs in one padded
//! batch. We require, for every setting:
//! - one sentence at a time: the same token ids as HF's single run, `sequences_scores` (beam)
//!   and the mean raw log-prob within [`SCORE_TOL`];
//! - all inputs in one padded batch: the same as HF's *single* runs (padding must not change
//!   anything); where HF's own batch output differs from its singles, that is reported.
//!
//! Every fixture is checked twice: on the CPU's host fast paths, and on the device-generic
//! paths (candle's ops) that a GPU takes, forced on the CPU ([`Paths::Generic`]).
//!
//! `WARTA_PARITY_DEVICE=cuda` runs the parity check on a GPU instead (generic paths only): this
//! test binary, built with `--features cuda`, is what `scripts/gpu-check.sh` carries to a GPU
//! machine, beside references HF made on that GPU (`make_fixtures.py --device cuda --out`).
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde::Deserialize;
use warta::generate::{EarlyStopping, GenerationConfig, Hypothesis};
use warta::translate::marian::{MarianModel, Paths};
use warta::translate::tokenizer::MarianTokenizer;

const SCORE_TOL: f64 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    settings: Vec<Setting>,
}

#[derive(Deserialize)]
struct Setting {
    name: String,
    generate_kwargs: serde_json::Map<String, serde_json::Value>,
    single: Vec<Case>,
    batch: Vec<Case>,
    #[serde(default)]
    batch_differs_from_single: Vec<usize>,
}

#[derive(Deserialize)]
struct Case {
    input_ids: Vec<u32>,
    /// Decoder start first, cut after EOS.
    output_ids_trimmed: Vec<u32>,
    mean_logprob: f64,
    #[serde(default)]
    sequences_score: Option<f64>,
    /// `tokenizer.decode(output_ids, skip_special_tokens=True)`, when recorded.
    #[serde(default)]
    text: Option<String>,
}

fn apply_kwargs(
    base: &GenerationConfig,
    kwargs: &serde_json::Map<String, serde_json::Value>,
) -> GenerationConfig {
    let mut g = base.clone();
    let usize_of = |v: &serde_json::Value| v.as_u64().map(|n| n as usize);
    for (k, v) in kwargs {
        match k.as_str() {
            "num_beams" => g.num_beams = usize_of(v),
            "length_penalty" => g.length_penalty = v.as_f64(),
            "no_repeat_ngram_size" => g.no_repeat_ngram_size = usize_of(v),
            "min_new_tokens" => g.min_new_tokens = usize_of(v),
            "max_new_tokens" => g.max_new_tokens = usize_of(v),
            "max_length" => g.max_length = usize_of(v),
            "min_length" => g.min_length = usize_of(v),
            "early_stopping" => {
                g.early_stopping = Some(match v {
                    serde_json::Value::Bool(true) => EarlyStopping::True,
                    serde_json::Value::Bool(false) => EarlyStopping::False,
                    serde_json::Value::String(s) if s == "never" => EarlyStopping::Never,
                    other => panic!("unexpected early_stopping {other}"),
                })
            }
            "do_sample" | "output_scores" | "return_dict_in_generate" => {}
            other => panic!("reference uses generate kwarg {other:?} the test does not map"),
        }
    }
    g
}

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![fixture_dir("marian-shared"), fixture_dir("marian-separate")];
    if let Ok(extra) = std::env::var("WARTA_MARIAN_FIXTURES") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    dirs
}

/// Compares one of our hypotheses with HF's reference; returns a description of any mismatch.
fn compare(ours: &Hypothesis, want: &Case, tok: Option<&MarianTokenizer>) -> Option<String> {
    let want_tokens = &want.output_ids_trimmed[1..];
    if ours.tokens != want_tokens {
        return Some(format!(
            "ids differ\n      ours {:?}\n      hf   {:?}",
            ours.tokens, want_tokens
        ));
    }
    if let Some(s) = want.sequences_score {
        if (ours.score as f64 - s).abs() > SCORE_TOL {
            return Some(format!("sequences_score {} vs hf {s}", ours.score));
        }
    }
    if (ours.mean_logprob as f64 - want.mean_logprob).abs() > SCORE_TOL {
        return Some(format!(
            "mean_logprob {} vs hf {}",
            ours.mean_logprob, want.mean_logprob
        ));
    }
    if let (Some(tok), Some(text)) = (tok, &want.text) {
        let ours_text = tok.decode(&ours.tokens);
        if &ours_text != text {
            return Some(format!("text {ours_text:?} vs hf {text:?}"));
        }
    }
    None
}

struct Tally {
    passed: usize,
    failures: Vec<String>,
}

/// The device the parity check runs on: `WARTA_PARITY_DEVICE`, or the CPU.
fn parity_device() -> Device {
    let Ok(name) = std::env::var("WARTA_PARITY_DEVICE") else {
        return Device::Cpu;
    };
    let choice: warta::device::DeviceChoice = name
        .parse()
        .unwrap_or_else(|e| panic!("WARTA_PARITY_DEVICE={name}: {e}"));
    let (device, _) = warta::device::select(choice, warta::device::DTypeChoice::F32)
        .unwrap_or_else(|e| panic!("WARTA_PARITY_DEVICE={name}: {e}"));
    device
}

fn check_fixture(dir: &Path, device: &Device, paths: Paths, tally: &mut Tally) {
    let reference: Reference = serde_json::from_str(
        &std::fs::read_to_string(dir.join("reference.json")).expect("read reference.json"),
    )
    .expect("parse reference.json");
    let (model, _cfg, gen) = match MarianModel::load_with_paths(dir, device, DType::F32, paths) {
        Ok(m) => m,
        Err(e) => {
            tally
                .failures
                .push(format!("{}: cannot load the model: {e}", dir.display()));
            return;
        }
    };
    // Texts are compared too: a fixture's tokenizer must load.
    let tok = match MarianTokenizer::from_dir(dir) {
        Ok(t) => Some(t),
        Err(e) => {
            tally
                .failures
                .push(format!("{}: cannot load the tokenizer: {e}", dir.display()));
            return;
        }
    };
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let name = format!(
        "{name} ({paths:?} paths on {})",
        warta::device::describe(device)
    );
    let (passed, failed) = (tally.passed, tally.failures.len());
    for setting in &reference.settings {
        let g = apply_kwargs(&gen, &setting.generate_kwargs);
        if !setting.batch_differs_from_single.is_empty() {
            eprintln!(
                "note: {name}/{}: HF's own padded batch differs from its singles for inputs {:?}",
                setting.name, setting.batch_differs_from_single
            );
        }
        let inputs: Vec<Vec<u32>> = setting.single.iter().map(|c| c.input_ids.clone()).collect();
        for (i, case) in setting.single.iter().enumerate() {
            let ours = model
                .translate_batch(std::slice::from_ref(&case.input_ids), &g)
                .expect("translate one");
            match compare(&ours[0], case, tok.as_ref()) {
                None => tally.passed += 1,
                Some(m) => tally
                    .failures
                    .push(format!("{name}/{} single #{i}: {m}", setting.name)),
            }
        }
        let ours = model.translate_batch(&inputs, &g).expect("translate batch");
        assert_eq!(ours.len(), inputs.len());
        for (i, (h, case)) in ours.iter().zip(&setting.single).enumerate() {
            match compare(h, case, tok.as_ref()) {
                None => tally.passed += 1,
                Some(m) => tally
                    .failures
                    .push(format!("{name}/{} padded batch #{i}: {m}", setting.name)),
            }
        }
        assert_eq!(setting.batch.len(), inputs.len());
    }
    // One line per fixture, for scripts/gpu-check.sh's report.
    eprintln!(
        "parity: {name}: {} passed, {} failed",
        tally.passed - passed,
        tally.failures.len() - failed
    );
}

#[test]
fn marian_matches_hf_generate() {
    let mut tally = Tally {
        passed: 0,
        failures: Vec::new(),
    };
    let mut checked = 0;
    let dirs = fixture_dirs();
    let device = parity_device();
    // The CPU's host paths, and the device-generic ones a GPU takes, run here too; a GPU takes
    // only the generic ones.
    let paths: &[Paths] = if device.is_cpu() {
        &[Paths::Host, Paths::Generic]
    } else {
        &[Paths::Generic]
    };
    for dir in &dirs {
        // A fixture without its reference is a broken fixture, not one to skip.
        assert!(
            dir.join("reference.json").exists(),
            "{}: no reference.json (run tests/fixtures/make_fixtures.py)",
            dir.display()
        );
        checked += 1;
        for &p in paths {
            check_fixture(dir, &device, p, &mut tally);
        }
    }
    eprintln!(
        "parity: {} comparisons passed, {} failed, over {checked} fixture(s)",
        tally.passed,
        tally.failures.len()
    );
    for f in &tally.failures {
        eprintln!("  FAIL {f}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} parity failures",
        tally.failures.len()
    );
    // Something was compared: every fixture, each with cases.
    assert_eq!(checked, dirs.len());
    assert!(
        tally.passed >= 4 * dirs.len(),
        "only {} comparisons",
        tally.passed
    );
}

/// A segment is translated sentence by sentence (a sentence longer than the model's input
/// cut by the project's splitter into pieces that each fit), and the translations are joined
/// in order: the result is exactly the units translated one at a time, whatever the
/// batching.
#[test]
fn translator_translates_sentence_by_sentence_and_joins_them_in_order() {
    use warta::translate::{chunk, Translator};

    let dir = fixture_dir("marian-shared");
    let mut translator = Translator::load(&dir, &Device::Cpu, DType::F32)
        .expect("load marian-shared")
        .with_batch_size(3);
    translator
        .configure(|g| {
            g.num_beams = Some(1);
            g.max_new_tokens = Some(24);
        })
        .expect("greedy, 24 tokens");
    let max_source = 128; // the fixture's max_position_embeddings
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles/000_cfc653e25564df65.txt"),
    )
    .expect("seed page");
    let long = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(translator.tokenizer().encode(&long).len() > 3 * max_source);

    let out = translator
        .translate(&["Rusia", &long, ""])
        .expect("translate");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].pieces, 1);
    assert_eq!(out[2].pieces, 0);
    assert_eq!(out[2].text, "");

    let fits = |s: &str| translator.tokenizer().encode(s).len() <= max_source;
    let pieces = chunk::units(&long, &fits);
    assert_eq!(
        pieces.len(),
        warta::text::segment::sentences(&long).len(),
        "every sentence of the seed page fits the model"
    );
    assert_eq!(out[1].pieces, pieces.len());
    let words: Vec<&str> = pieces
        .iter()
        .flat_map(|r| long[r.clone()].split_whitespace())
        .collect();
    assert_eq!(
        words,
        long.split_whitespace().collect::<Vec<_>>(),
        "pieces lose or reorder text"
    );
    let one_by_one: Vec<String> = pieces
        .iter()
        .map(|r| {
            translator.translate(&[&long[r.clone()]]).expect("piece")[0]
                .text
                .clone()
        })
        .collect();
    assert_eq!(out[1].text, one_by_one.join(" "));

    // Segments tokenized on another thread (as the batch runner's reader does while the
    // model works) translate exactly as the translator's own tokenizing does.
    let encoder = translator.encoder();
    let segments = ["Rusia".to_string(), long.clone(), "  ".to_string()];
    let sources = std::thread::spawn(move || {
        segments
            .iter()
            .map(|s| encoder.encode(s))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let ahead = translator.translate_sources(sources).expect("translate");
    assert_eq!(ahead, out);
}

/// A fixture's directory. Relative: cargo runs a test from the package root, and a test
/// binary carried to a GPU machine (`scripts/gpu-check.sh`) is run from the root of the
/// repo's copy there.
fn fixture_dir(name: &str) -> PathBuf {
    Path::new("tests/fixtures").join(name)
}

fn fixture_translator(name: &str) -> warta::translate::Translator {
    warta::translate::Translator::load(&fixture_dir(name), &Device::Cpu, DType::F32)
        .expect("load fixture")
}

/// The reference inputs of a fixture, as its tokenizer encodes them.
fn fixture_ids(name: &str) -> Vec<Vec<u32>> {
    let tok = MarianTokenizer::from_dir(&fixture_dir(name)).unwrap();
    fixture_inputs(name).iter().map(|t| tok.encode(t)).collect()
}

fn fixture_inputs(name: &str) -> Vec<String> {
    let path = fixture_dir(name).join("reference.json");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// One line of 40 sentences comes out as its 40 sentences' translations, each what the
/// sentence gives alone, whatever the generation limit; what a limit below a sentence's
/// length still cuts is flagged, and never silently.
#[test]
fn a_line_of_forty_sentences_loses_none_of_them() {
    use warta::translate::Flag;
    let sentences: Vec<String> = fixture_inputs("marian-shared")
        .into_iter()
        .filter(|s| s.ends_with('.') && !s.starts_with(">>") && s.split_whitespace().count() >= 4)
        .collect();
    let forty: Vec<&str> = sentences
        .iter()
        .cycle()
        .take(40)
        .map(String::as_str)
        .collect();
    let line = forty.join(" ");
    assert_eq!(warta::text::segment::sentences(&line).len(), 40);
    for limit in [100, 64, 8] {
        let mut t = fixture_translator("marian-shared").with_batch_size(8);
        t.configure(|g| {
            g.num_beams = Some(1);
            g.max_new_tokens = Some(limit);
        })
        .expect("greedy, limited");
        let whole = t.translate(&[&line]).expect("translate").remove(0);
        let alone = t.translate(&forty).expect("translate");
        let joined: Vec<&str> = alone.iter().map(|a| a.text.as_str()).collect();
        assert_eq!(whole.text, joined.join(" "), "limit {limit}");
        assert_eq!(whole.pieces, alone.iter().map(|a| a.pieces).sum::<usize>());
        let cut = alone.iter().any(|a| a.flags.contains(&Flag::Truncated));
        assert_eq!(whole.flags.contains(&Flag::Truncated), cut, "limit {limit}");
        // The copy-task model gives about as many words as it reads: nothing is lost to
        // the limit, or what is lost is flagged.
        let words_in = line.split_whitespace().count();
        let words_out = whole.text.split_whitespace().count();
        if limit >= 64 {
            assert!(!cut, "limit {limit}: {:?}", whole.flags);
            assert!(words_out * 10 >= words_in * 9, "{words_out} of {words_in}");
        } else {
            assert!(cut, "a limit of {limit} tokens cuts some sentence");
            assert!(words_out * 2 >= words_in, "{words_out} of {words_in}");
        }
    }
}

/// A sentence the fixture model loops on under greedy search is retried with beams and
/// `no_repeat_ngram_size`; what comes out either no longer loops or says it does.
#[test]
fn a_looping_greedy_translation_is_caught() {
    use warta::translate::{quality, Flag};
    let inputs = fixture_inputs("marian-separate");
    let mut t = fixture_translator("marian-separate");
    t.configure(|g| g.num_beams = Some(1)).expect("greedy");
    // Inputs the reference records as greedy loops ("… menteri luar negeri … sisisi…",
    // "… tidak tidak tidak tidak tidak").
    let looping = [&inputs[6], &inputs[11]];
    let raw = MarianModel::load(&fixture_dir("marian-separate"), &Device::Cpu, DType::F32)
        .expect("load")
        .0;
    let tok = t.tokenizer();
    for input in looping {
        let hyp = &raw
            .translate_batch(&[tok.encode(input)], t.generation())
            .expect("greedy")[0];
        assert!(
            quality::loops(&tok.decode(&hyp.tokens)),
            "the greedy output loops"
        );
        let out = t.translate(&[input]).expect("translate").remove(0);
        assert!(
            !quality::loops(&out.text) || out.flags.contains(&Flag::Repetition),
            "{:?} {:?}",
            out.text,
            out.flags
        );
        // The beam retry cures it: what comes out loops no more than the source does.
        assert!(!out.flags.contains(&Flag::Repetition), "{:?}", out.text);
    }
}

#[test]
fn a_language_code_applies_to_every_sentence_and_alone_is_nothing() {
    let t = fixture_translator("marian-shared");
    let both = t
        .translate(&[">>ind<<Rusia menyerang. Ukraina bertahan."])
        .expect("translate")
        .remove(0);
    let one = t
        .translate(&[">>ind<< Rusia menyerang.", ">>ind<< Ukraina bertahan."])
        .expect("translate");
    assert_eq!(both.pieces, 2);
    // The code reaches the second sentence, with or without a space after it.
    let encoder = t.encoder();
    let spaced = encoder.encode(">>ind<< Rusia menyerang. Ukraina bertahan.");
    assert_eq!(
        encoder.encode(">>ind<<Rusia menyerang. Ukraina bertahan."),
        spaced
    );
    assert_ne!(encoder.encode("Rusia menyerang. Ukraina bertahan."), spaced);
    assert_eq!(both.text, format!("{} {}", one[0].text, one[1].text));
    let alone = t.translate(&[" >>eng<< "]).expect("translate").remove(0);
    assert_eq!((alone.text.as_str(), alone.pieces), ("", 0));
    assert!(alone.flags.is_empty(), "{:?}", alone.flags);
}

/// A checkpoint whose generation_config.json allows fewer tokens than its decoder holds:
/// a sentence cut there is translated again with the whole budget, as if the limit had
/// been the decoder's from the start.
#[test]
fn a_sentence_cut_at_the_checkpoints_limit_gets_the_whole_budget() {
    use warta::translate::{Flag, Translator};
    let src = fixture_dir("marian-shared");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let config_path = dir.path().join("generation_config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["max_length"] = 6.into();
    std::fs::write(&config_path, config.to_string()).unwrap();

    let sentence = fixture_inputs("marian-shared")
        .into_iter()
        .max_by_key(|s| s.len())
        .unwrap();
    let mut short = Translator::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    short.configure(|g| g.num_beams = Some(1)).unwrap();
    let mut whole = Translator::load(&src, &Device::Cpu, DType::F32).unwrap();
    whole.configure(|g| g.num_beams = Some(1)).unwrap();
    let mut flag_only = Translator::load(dir.path(), &Device::Cpu, DType::F32)
        .unwrap()
        .with_retry(false);
    flag_only.configure(|g| g.num_beams = Some(1)).unwrap();
    let cut = flag_only.translate(&[&sentence]).unwrap().remove(0);
    // A translation cache must not serve one to the other.
    assert_ne!(flag_only.setup().unwrap(), short.setup().unwrap());
    assert!(cut.flags.contains(&Flag::Truncated), "{cut:?}");
    let retried = short.translate(&[&sentence]).unwrap().remove(0);
    let want = whole.translate(&[&sentence]).unwrap().remove(0);
    assert!(!retried.flags.contains(&Flag::Truncated), "{retried:?}");
    assert_eq!(retried.text, want.text);
}

/// `low_score` is the segment's verdict on its mean, the same whether it was translated
/// now or read back from a cache (which keeps only the segment's score).
#[test]
fn low_score_is_judged_on_the_segments_mean() {
    use warta::translate::Flag;
    let inputs = fixture_inputs("marian-shared");
    let t = fixture_translator("marian-shared");
    let alone = t
        .translate(&inputs.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    // The least and the most sure of the fixture's sentences, made into one segment.
    let by_score = |a: &&warta::translate::Translation, b: &&warta::translate::Translation| {
        a.score.total_cmp(&b.score)
    };
    let worst = alone
        .iter()
        .filter(|a| a.tokens > 0)
        .min_by(by_score)
        .unwrap();
    let best = alone
        .iter()
        .filter(|a| a.tokens > 0)
        .max_by(by_score)
        .unwrap();
    let wi = alone.iter().position(|a| std::ptr::eq(a, worst)).unwrap();
    let bi = alone.iter().position(|a| std::ptr::eq(a, best)).unwrap();
    let segment = format!("{} {}", inputs[wi].trim(), inputs[bi].trim());
    let joined = t.translate(&[&segment]).unwrap().remove(0);
    assert_eq!(joined.pieces, 2, "{segment}");
    assert!(
        worst.score < joined.score,
        "{} {}",
        worst.score,
        joined.score
    );
    let threshold = (worst.score + joined.score) / 2.0;
    let t = t.with_min_score(threshold);
    let sure = t.translate(&[&segment]).unwrap().remove(0);
    assert!(!sure.flags.contains(&Flag::LowScore), "{:?}", sure.flags);
    let unsure = t.translate(&[&inputs[wi]]).unwrap().remove(0);
    assert!(unsure.flags.contains(&Flag::LowScore), "{:?}", unsure.flags);
}

/// A copy of the fixture checkpoint `name` in a new directory, its generation_config.json
/// edited by `edit`.
fn fixture_with_generation(
    name: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> tempfile::TempDir {
    let src = fixture_dir(name);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let path = dir.path().join("generation_config.json");
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::Value::Object(config).to_string()).unwrap();
    dir
}

/// Whether `err` is the decoding-settings error naming `setting`, and says so.
fn names_setting(err: &warta::translate::TranslateError, setting: &str) -> bool {
    use warta::generate::GenerationConfigError;
    use warta::translate::TranslateError;
    matches!(
        err,
        TranslateError::Decoding {
            source: GenerationConfigError::Invalid { setting: s, .. },
            ..
        } if *s == setting
    ) && err.to_string().contains(setting)
}

/// Decoding settings are resolved when the translator is configured: a setting no decoding
/// can run with fails there, with an error naming it, and never at a batch; the translator
/// keeps the settings it had.
#[test]
fn a_bad_decoding_setting_fails_when_configured_not_at_the_first_batch() {
    let mut t = fixture_translator("marian-shared");
    let before = t.translate(&["Rusia menyerang."]).expect("translate");
    assert_eq!(t.decoding().settings.num_beams, 4);

    let err = t.configure(|g| g.num_beams = Some(0)).unwrap_err();
    assert!(names_setting(&err, "num_beams"), "{err:?}");
    let err = t.configure(|g| g.max_new_tokens = Some(0)).unwrap_err();
    assert!(names_setting(&err, "max_new_tokens"), "{err:?}");
    let err = t.configure(|g| g.do_sample = Some(true)).unwrap_err();
    assert!(names_setting(&err, "do_sample"), "{err:?}");
    // Still configured as before the refused edits.
    assert_eq!(t.decoding().settings.num_beams, 4);
    assert_eq!(t.generation().num_beams, Some(4));
    assert_eq!(
        t.translate(&["Rusia menyerang."]).expect("translate"),
        before
    );

    // A checkpoint whose own settings cannot decode fails to load, naming the setting.
    let dir = fixture_with_generation("marian-shared", |g| {
        g.insert("num_beams".into(), 0.into());
    });
    let err = warta::translate::Translator::load(dir.path(), &Device::Cpu, DType::F32)
        .err()
        .expect("num_beams 0 is refused at load");
    assert!(names_setting(&err, "num_beams"), "{err:?}");
}

/// A checkpoint that leaves `num_beams` unset decodes greedily (HF's default), and the
/// translator says so: 1 beam, not "unset".
#[test]
fn unset_beams_resolve_to_greedy() {
    let dir = fixture_with_generation("marian-shared", |g| {
        g.remove("num_beams");
    });
    let mut t =
        warta::translate::Translator::load(dir.path(), &Device::Cpu, DType::F32).expect("load");
    assert_eq!(t.generation().num_beams, None);
    assert_eq!(t.decoding().settings.num_beams, 1);
    let unset = t.translate(&["Rusia menyerang."]).expect("translate");
    t.configure(|g| g.num_beams = Some(1)).expect("greedy");
    assert_eq!(t.decoding().settings.num_beams, 1);
    assert_eq!(
        t.translate(&["Rusia menyerang."]).expect("translate"),
        unset
    );
}

/// `--dtype int8` and CPU `--dtype bf16` on the copy-task fixtures, beside f32: the share of
/// the reference inputs translated identically, greedy and with 4 beams (each input alone,
/// as the parity test runs them). The shares are printed for the record.
///
/// - marian-copy-trained, trained until it copies: issue 16 asks 95 %, and int8 reaches it
///   (26 and 25 of 26), bf16 too.
/// - The parity fixtures, trained a few hundred steps, loop on some inputs to the length
///   limit through many near-ties, and rounding flips one now and then: int8 reaches 21-25
///   of 26, bf16 25-26 (CTranslate2's int8 agrees with its own float32 on 13 to 22 of
///   these, BENCHMARKS.md). Their floors are what warta reaches, so a change that makes
///   either worse fails.
#[test]
fn int8_and_bf16_translate_most_fixture_inputs_as_f32_does() {
    use warta::device::Precision;
    // (fixture, whose reference inputs, int8's floor, bf16's floor)
    let cases = [
        ("marian-copy-trained", "marian-shared", 0.95, 0.95),
        ("marian-shared", "marian-shared", 0.8, 0.95),
        ("marian-separate", "marian-separate", 0.8, 0.95),
    ];
    for (name, inputs_of, int8_floor, bf16_floor) in cases {
        let dir = fixture_dir(name);
        let (f32_model, _, gen) = MarianModel::load(&dir, &Device::Cpu, DType::F32).unwrap();
        let inputs = fixture_ids(inputs_of);
        for (precision, floor) in [
            (Precision::Int8, int8_floor),
            (Precision::Bf16Cpu, bf16_floor),
        ] {
            let (low_model, _, _) = MarianModel::load(&dir, &Device::Cpu, precision).unwrap();
            let what = precision.as_str();
            for beams in [1, 4] {
                let mut g = gen.clone();
                g.num_beams = Some(beams);
                let mut same = 0;
                for ids in &inputs {
                    let a = f32_model
                        .translate_batch(std::slice::from_ref(ids), &g)
                        .unwrap();
                    let b = low_model
                        .translate_batch(std::slice::from_ref(ids), &g)
                        .unwrap();
                    if a[0].tokens == b[0].tokens {
                        same += 1;
                    }
                }
                let share = same as f64 / inputs.len() as f64;
                eprintln!(
                    "{name}, {beams} beam(s): {what} = f32 on {same} of {}",
                    inputs.len()
                );
                assert!(
                    share >= floor,
                    "{name}, {what}, {beams} beams: {same} of {}",
                    inputs.len()
                );
            }
        }
    }
}

/// Batching never changes a result in int8 or CPU bf16 either: every fixture input gets the
/// same tokens alone as in one padded batch of all of them, greedy and with 4 beams. The
/// whole model, where the projection tests hold only the kernels' bits: a cross-attention
/// that ignored the padding mask on the host path fails this.
#[test]
fn int8_and_bf16_translate_each_input_alone_as_in_a_batch() {
    use warta::device::Precision;
    let name = "marian-shared";
    let dir = fixture_dir(name);
    let inputs = fixture_ids(name);
    for precision in [Precision::Int8, Precision::Bf16Cpu] {
        let (model, _, gen) = MarianModel::load(&dir, &Device::Cpu, precision).unwrap();
        for beams in [1, 4] {
            let mut g = gen.clone();
            g.num_beams = Some(beams);
            let batch = model.translate_batch(&inputs, &g).unwrap();
            for (i, ids) in inputs.iter().enumerate() {
                let alone = model
                    .translate_batch(std::slice::from_ref(ids), &g)
                    .unwrap();
                assert_eq!(
                    alone[0].tokens,
                    batch[i].tokens,
                    "{} input {i}, {beams} beam(s)",
                    precision.as_str()
                );
            }
        }
    }
}

/// Where int8 and f32 part ways: every fixture input decoded greedily by f32, and both models
/// fed f32's tokens step by step. int8 must pick f32's token at nearly every step, and may
/// differ only where f32 itself barely prefers its token (its top two logits within
/// `NEAR_TIE`). This is why whole sentences still differ (BENCHMARKS.md): these small models
/// loop to the length limit, passing many near-ties on the way, and rounding the weights
/// alone (activations left in f32) already flips some of them. With the keys and values in
/// f16 (`Precision::kv_dtype`) int8 departs at 8 of 799 and 6 of 821 steps (4 and 6 with
/// them in f32), the widest margin unchanged: at most 1.5 % of the steps, all near-ties.
/// marian-copy-trained, which copies instead of looping, passes no near-tie: int8 picks
/// f32's token at all of its 642 steps.
#[test]
fn int8_departs_from_f32_only_at_near_ties() {
    use warta::device::Precision;
    use warta::generate::Decoder;
    // Largest f32 margin (top logit minus the runner-up) at a step int8 decides otherwise;
    // measured 0.083 (on logits near 8).
    const NEAR_TIE: f32 = 0.2;
    let top_two = |row: &[f32]| {
        let (mut best, mut top, mut second) = (0, f32::MIN, f32::MIN);
        for (i, &v) in row.iter().enumerate() {
            if v > top {
                (best, top, second) = (i, v, top);
            } else if v > second {
                second = v;
            }
        }
        (best, top - second)
    };
    // (fixture, whose reference inputs)
    for (name, inputs_of) in [
        ("marian-shared", "marian-shared"),
        ("marian-separate", "marian-separate"),
        ("marian-copy-trained", "marian-shared"),
    ] {
        let dir = fixture_dir(name);
        let (f32_model, cfg, gen) = MarianModel::load(&dir, &Device::Cpu, DType::F32).unwrap();
        let (int8_model, _, _) = MarianModel::load(&dir, &Device::Cpu, Precision::Int8).unwrap();
        let mut g = gen.clone();
        g.num_beams = Some(1);
        let (mut steps, mut flips, mut widest) = (0usize, 0usize, 0f32);
        for ids in fixture_ids(inputs_of) {
            let path = f32_model
                .translate_batch(std::slice::from_ref(&ids), &g)
                .unwrap()
                .remove(0)
                .tokens;
            let input = candle_core::Tensor::new(ids.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let mut states: Vec<_> = [&f32_model, &int8_model]
                .iter()
                .map(|m| {
                    let enc = m.encode(&input, None).unwrap();
                    m.start_decoding(&enc, None).unwrap()
                })
                .collect();
            let mut token = cfg.decoder_start_token_id;
            for &next in &path {
                let (f, _) = states[0].step_host(&[token]).unwrap();
                let (q, _) = states[1].step_host(&[token]).unwrap();
                let ((f_pick, margin), (q_pick, _)) = (top_two(&f), top_two(&q));
                token = next;
                // A step decided by the logits processors (the end forced at the length
                // limit, a banned token) is not the model's choice.
                if f_pick as u32 != next {
                    continue;
                }
                steps += 1;
                if f_pick != q_pick {
                    flips += 1;
                    widest = widest.max(margin);
                }
            }
        }
        eprintln!(
            "{name}: int8 picks f32's token at {} of {steps} steps; widest f32 margin it departs at {widest}",
            steps - flips
        );
        assert!(steps > 200, "{name}: only {steps} steps compared");
        assert!(
            widest < NEAR_TIE,
            "{name}: int8 departs where f32's margin is {widest}"
        );
        assert!(
            flips * 200 <= steps * 3,
            "{name}: int8 departs at {flips} of {steps} steps"
        );
    }
}

/// The int8 and CPU-bf16 models' logits beside f32's on a fixed batch (the reference
/// inputs, padded), teacher-forced along f32's greedy tokens for 8 steps: the largest
/// difference, printed for the record, stays a small part of the logits' own spread.
#[test]
fn int8_and_bf16_logits_stay_close_to_f32() {
    use warta::device::Precision;
    use warta::generate::Decoder;
    let name = "marian-shared";
    let dir = fixture_dir(name);
    let (f32_model, cfg, _) = MarianModel::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let inputs = fixture_ids(name);
    let (ids, mask) = f32_model.pad_batch(&inputs).unwrap();
    for precision in [Precision::Int8, Precision::Bf16Cpu] {
        let (low_model, _, _) = MarianModel::load(&dir, &Device::Cpu, precision).unwrap();
        let mut states: Vec<_> = [&f32_model, &low_model]
            .iter()
            .map(|m| {
                let enc = m.encode(&ids, mask.as_ref()).unwrap();
                m.start_decoding(&enc, mask.clone()).unwrap()
            })
            .collect();
        let mut tokens = vec![cfg.decoder_start_token_id; inputs.len()];
        let (mut worst, mut spread) = (0f32, 0f32);
        for _ in 0..8 {
            let (f, vocab) = states[0].step_host(&tokens).unwrap();
            let (q, _) = states[1].step_host(&tokens).unwrap();
            for (a, b) in f.iter().zip(&q) {
                worst = worst.max((a - b).abs());
            }
            let (lo, hi) = f
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            spread = spread.max(hi - lo);
            tokens = f
                .chunks(vocab)
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .fold(
                            (0, f32::MIN),
                            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                        )
                        .0 as u32
                })
                .collect();
        }
        let what = precision.as_str();
        eprintln!("largest {what} logit difference: {worst} (f32 logits span {spread})");
        assert!(
            worst > 0.0,
            "{what} computed exactly what f32 did: not converted?"
        );
        assert!(
            worst < 0.05 * spread,
            "{what}: {worst} against a span of {spread}"
        );
    }
}

/// The half-precision path a GPU takes (`--dtype f16` / `bf16` on CUDA): the device-generic
/// model in f16 and bf16, run here on the CPU. Every input translates with a finite score,
/// alone and in a padded batch, and most as in f32. Unlike f32 (where the parity test holds
/// a padded batch to each sentence alone exactly), f16 here gives 24 of 26 inputs the same
/// tokens batched as alone and bf16 all 26: the floor pins that, and a broken mask (padding
/// leaking into every padded row) fails it. The two f16 departures are rounding, not the
/// mask: fed the same tokens, the batched and lone logits differ by at most 0.023 (f16's step
/// near a logit of 8 is 0.008), and the two part at steps 86 and 123 where the lone run's top
/// two logits are 0.016 apart and exactly tied.
#[test]
fn half_precision_on_the_generic_path_keeps_masks_and_mostly_agrees_with_f32() {
    let name = "marian-shared";
    let dir = fixture_dir(name);
    let inputs = fixture_ids(name);
    let (f32_model, _, gen) =
        MarianModel::load_with_paths(&dir, &Device::Cpu, DType::F32, Paths::Generic).unwrap();
    let mut g = gen.clone();
    g.num_beams = Some(1);
    let want: Vec<Vec<u32>> = inputs
        .iter()
        .map(|ids| {
            f32_model
                .translate_batch(std::slice::from_ref(ids), &g)
                .unwrap()[0]
                .tokens
                .clone()
        })
        .collect();
    for dtype in [DType::F16, DType::BF16] {
        let (model, _, _) =
            MarianModel::load_with_paths(&dir, &Device::Cpu, dtype, Paths::Generic).unwrap();
        let alone: Vec<Hypothesis> = inputs
            .iter()
            .map(|ids| {
                model
                    .translate_batch(std::slice::from_ref(ids), &g)
                    .unwrap()[0]
                    .clone()
            })
            .collect();
        let batched = model.translate_batch(&inputs, &g).unwrap();
        let (mut same, mut as_alone) = (0, 0);
        for (i, (a, b)) in alone.iter().zip(&batched).enumerate() {
            assert!(
                !a.tokens.is_empty() && a.score.is_finite(),
                "{dtype:?} #{i}"
            );
            assert!(
                !b.tokens.is_empty() && b.score.is_finite(),
                "{dtype:?} #{i}"
            );
            same += usize::from(a.tokens == want[i]);
            as_alone += usize::from(a.tokens == b.tokens);
        }
        let n = inputs.len();
        eprintln!("{dtype:?}: {same} of {n} as in f32, {as_alone} of {n} batched as alone");
        assert!(same * 10 >= n * 6, "{dtype:?}: {same} of {n} as in f32");
        assert!(
            as_alone * 10 >= n * 8,
            "{dtype:?}: {as_alone} of {n} batched as alone"
        );
    }
}

//! The `warta` binary as a user runs it: exit statuses, stdout/stderr discipline, formats,
//! bad input, long input, offline errors. Uses the small fixture checkpoints.
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference(model: &str) -> Value {
    let text = std::fs::read_to_string(fixture(model).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The input sentences of a reference file.
fn reference_inputs(r: &Value) -> Vec<&str> {
    r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// The recorded HF outputs of one setting, by name.
fn setting<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no setting {name} in reference.json"))
}

/// A `warta` command with an empty hub cache, offline, so nothing can leak in from the machine.
fn warta(cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("warta").unwrap();
    cmd.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", cache)
        .env_remove("HF_HUB_CACHE")
        .env_remove("WARTA_LOG")
        .current_dir(cache);
    cmd
}

/// Runs `warta ARGS --model <fixture>` on `stdin`, with an empty offline cache.
fn run_on_fixture(
    cache: &Path,
    args: &[&str],
    model: &str,
    stdin: impl Into<Vec<u8>>,
) -> std::process::Output {
    warta(cache)
        .args(args)
        .arg("--model")
        .arg(fixture(model))
        .write_stdin(stdin)
        .output()
        .unwrap()
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn translate_text_matches_hf_greedy_line_for_line() {
    let tmp = tempfile::tempdir().unwrap();
    let r = reference("marian-shared");
    let greedy = setting(&r, "greedy");
    let inputs = reference_inputs(&r);
    let mut stdin = inputs.join("\n");
    stdin.push_str("\n\n"); // a trailing empty line gives an empty line
    let out = warta(tmp.path())
        .args(["translate", "--model"])
        .arg(fixture("marian-shared"))
        // (Without retries: HF's own greedy output loops on one input, and warta would
        // translate that one again with beams.)
        .args(["--beams", "1", "--batch-size", "7", "--no-retry"])
        .args(max_new_tokens_flag(greedy))
        .write_stdin(stdin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), inputs.len() + 1);
    for (i, rec) in greedy["single"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            lines[i],
            rec["text"].as_str().unwrap(),
            "input {i}: {}",
            inputs[i]
        );
    }
    assert_eq!(lines[inputs.len()], "");
}

/// `--max-new-tokens` as the reference setting used it, if it set one.
fn max_new_tokens_flag(setting: &Value) -> Vec<String> {
    let kw = &setting["generate_kwargs"];
    match kw.get("max_new_tokens").and_then(Value::as_u64) {
        Some(n) => vec!["--max-new-tokens".into(), n.to_string()],
        None => vec![],
    }
}

#[test]
fn translate_jsonl_keeps_ids_and_reports_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let input = "{\"id\": \"a\", \"text\": \"Rusia\"}\n{\"id\": 7, \"text\": \"kata Lavrov.\"}\n";
    let out = run_on_fixture(
        tmp.path(),
        &["translate", "--format", "jsonl", "--beams", "2"],
        "marian-separate",
        input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs: Vec<Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["id"], "a");
    assert_eq!(recs[1]["id"], 7);
    assert_eq!(recs[1]["text"], "kata Lavrov.");
    for r in &recs {
        assert!(
            r["translation"].as_str().is_some_and(|t| !t.is_empty()),
            "{r}"
        );
        let s = r["score"].as_f64().unwrap();
        assert!(s < 0.0 && s > -20.0, "{r}");
    }
}

#[test]
fn invalid_utf8_line_is_reported_and_the_rest_translated() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("in.txt");
    std::fs::write(&file, b"Rusia\nbad \xff\xfe line\nkata Lavrov.\n").unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--beams", "1", "--model"])
        .arg(fixture("marian-shared"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in.txt:2"), "{stderr}");
    assert!(stderr.contains("UTF-8"), "{stderr}");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 3);
    assert!(
        !lines[0].is_empty() && lines[1].is_empty() && !lines[2].is_empty(),
        "{lines:?}"
    );
}

#[test]
fn empty_input_gives_empty_output_and_success() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_on_fixture(tmp.path(), &["translate"], "marian-shared", "");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_input_file_is_reported_and_the_others_translated() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ok.txt");
    std::fs::write(&file, "Rusia\n").unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--beams", "1", "--model"])
        .arg(fixture("marian-shared"))
        .arg(tmp.path().join("missing.txt"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.txt"));
    assert_eq!(stdout_lines(&out).len(), 1);
}

#[test]
fn a_line_longer_than_the_model_is_split_not_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let r = reference("marian-shared");
    let inputs = reference_inputs(&r);
    // One sentence of far more than max_position_embeddings tokens.
    let long: String = inputs
        .iter()
        .filter(|s| !s.starts_with(">>"))
        .map(|s| s.trim_end_matches(['.', '!', '?', '"', '”']).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let out = run_on_fixture(
        tmp.path(),
        &["translate", "--beams", "1"],
        "marian-shared",
        format!("{long}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("<stdin>:1") && stderr.contains("pieces"),
        "{stderr}"
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    // The copy-task model roughly reproduces its input. Truncating the line to the model's
    // 128 source positions would leave well under half of its words.
    let words_in = long.split_whitespace().count();
    let words_out = lines[0].split_whitespace().count();
    assert!(
        words_out * 2 >= words_in,
        "{words_out} words out of {words_in}: {}",
        lines[0]
    );
}

#[test]
fn a_translation_cut_at_the_limit_is_flagged_and_reported_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let input = concat!(
        r#"{"id": "a", "text": "Rusia"}"#,
        "\n",
        r#"{"id": "b", "text": "Amerika Serikat bereaksi negatif terhadap permintaan utama Rusia."}"#,
        "\n"
    );
    let out = run_on_fixture(
        tmp.path(),
        &[
            "-v",
            "translate",
            "--format",
            "jsonl",
            "--beams",
            "1",
            "--max-new-tokens",
            "3",
        ],
        "marian-shared",
        input,
    );
    assert!(out.status.success());
    let records: Vec<serde_json::Value> = stdout_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["flags"], serde_json::json!([]));
    let flags = records[1]["flags"].as_array().unwrap();
    assert!(flags.contains(&serde_json::json!("truncated")), "{flags:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("<stdin>:2: translation flagged: truncated")
            && !stderr.contains("<stdin>:1:"),
        "{stderr}"
    );
    assert!(stderr.contains("1 flagged"), "{stderr}");
}

#[test]
fn tokenize_prints_hf_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let r = reference("marian-separate");
    let greedy = setting(&r, "greedy");
    let inputs = reference_inputs(&r);
    let out = run_on_fixture(
        tmp.path(),
        &["tokenize"],
        "marian-separate",
        inputs.join("\n") + "\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    for (i, rec) in greedy["single"].as_array().unwrap().iter().enumerate() {
        let ids: Vec<String> = rec["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(lines[i], ids.join(" "), "input {i}");
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_in_a_cpu_build_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_on_fixture(
        tmp.path(),
        &["translate", "--device", "cuda"],
        "marian-shared",
        "Rusia\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--features cuda") && stderr.contains("--device cpu"),
        "{stderr}"
    );
}

/// `warta shortlist` learns a table from parallel text (here the separate-vocabulary
/// fixture's inputs and its own greedy translations of them), and `translate --shortlist`
/// uses it: each line's translation is made of the candidates the table gives it, and the
/// fixture's reference inputs still translate. A table that is missing or for another model,
/// and files whose lines do not pair up, are errors naming the file.
#[test]
fn shortlist_learns_a_table_that_translate_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let r = reference("marian-separate");
    let inputs = reference_inputs(&r);
    let src = tmp.path().join("src.txt");
    std::fs::write(&src, inputs.join("\n") + "\n").unwrap();
    // The inputs' greedy translations, with the table at `shortlist` when given.
    let greedy = |shortlist: Option<&Path>| {
        let mut args = vec!["translate", "--beams", "1", "--no-retry"];
        if let Some(s) = shortlist {
            args.extend(["--shortlist", s.to_str().unwrap()]);
        }
        let out = run_on_fixture(
            tmp.path(),
            &args,
            "marian-separate",
            inputs.join("\n") + "\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_lines(&out)
    };
    let a = greedy(None);
    let tgt = tmp.path().join("tgt.txt");
    std::fs::write(&tgt, a.join("\n") + "\n").unwrap();
    let table = warta(tmp.path())
        .args([
            "shortlist",
            "--per-source",
            "20",
            "--frequent",
            "10",
            "--source",
        ])
        .arg(&src)
        .arg("--target")
        .arg(&tgt)
        .arg("--model")
        .arg(fixture("marian-separate"))
        .output()
        .unwrap();
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let text = String::from_utf8(table.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The every-sentence line (10 tokens) first, then one rule a source token, each with at
    // most 20 targets.
    assert!(lines.len() > 50, "{text}");
    assert!(lines[0].starts_with('\t'));
    assert_eq!(lines[0].split_whitespace().count(), 10);
    for l in &lines[1..] {
        let (key, targets) = l.split_once('\t').unwrap();
        assert!(!key.is_empty() && !key.contains(' '), "{l}");
        assert!((1..=20).contains(&targets.split(' ').count()), "{l}");
    }
    let vmap = tmp.path().join("t.vmap");
    std::fs::write(&vmap, &table.stdout).unwrap();
    let b = greedy(Some(&vmap));
    assert_eq!(a.len(), b.len());
    // Learnt from these very translations, the table holds most of their tokens.
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(same * 2 >= a.len(), "{same} of {}", a.len());
    // A table of one every-sentence token leaves each sentence its own tokens (as the
    // target vocabulary spells them) and ".": most translations change (which tokens come
    // out is held by tests/shortlist.rs, on the model's ids).
    let tight = tmp.path().join("tight.vmap");
    std::fs::write(&tight, "\t.\n").unwrap();
    let c = greedy(Some(&tight));
    let changed = c.iter().zip(&a).filter(|(x, y)| x != y).count();
    assert!(changed * 2 > a.len(), "{changed} of {} changed", a.len());

    let missing = run_on_fixture(
        tmp.path(),
        &["translate", "--shortlist", "no-such.vmap"],
        "marian-separate",
        "Rusia\n",
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such.vmap"));
    let foreign = tmp.path().join("foreign.vmap");
    std::fs::write(&foreign, "\tzzz yyy\n").unwrap();
    let out = run_on_fixture(
        tmp.path(),
        &["translate", "--shortlist", foreign.to_str().unwrap()],
        "marian-separate",
        "Rusia\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("foreign.vmap") && stderr.contains("warta shortlist"),
        "{stderr}"
    );

    let short_tgt = tmp.path().join("short.txt");
    std::fs::write(&short_tgt, "one line\n").unwrap();
    let out = warta(tmp.path())
        .args(["shortlist", "--source"])
        .arg(&src)
        .arg("--target")
        .arg(&short_tgt)
        .arg("--model")
        .arg(fixture("marian-separate"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("short.txt") && stderr.contains("pair up"),
        "{stderr}"
    );
}

#[test]
fn f16_on_cpu_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_on_fixture(
        tmp.path(),
        &["translate", "--device", "cpu", "--dtype", "f16"],
        "marian-shared",
        "Rusia\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dtype f32"));
}

#[test]
fn an_uncached_repo_offline_names_repo_file_and_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--model", "Helsinki-NLP/opus-mt-id-en"])
        .write_stdin("Rusia\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Helsinki-NLP/opus-mt-id-en"), "{stderr}");
    assert!(stderr.contains("config.json"), "{stderr}");
    assert!(stderr.contains("warta models fetch"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_default_model_comes_from_local_models_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("marian-shared");
    std::fs::write(
        tmp.path().join("models.toml"),
        format!("[translation]\nmodel = {:?}\n", model.display().to_string()),
    )
    .unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--beams", "1"])
        .write_stdin("Rusia\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_lines(&out).len(), 1);
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--beams", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn batch_size_does_not_change_beam_search_results() {
    let tmp = tempfile::tempdir().unwrap();
    let r = reference("marian-separate");
    let inputs = reference_inputs(&r);
    let run = |batch: &str| {
        let out = warta(tmp.path())
            .args([
                "translate",
                "--beams",
                "4",
                "--batch-size",
                batch,
                "--model",
            ])
            .arg(fixture("marian-separate"))
            .write_stdin(inputs.join("\n") + "\n")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_lines(&out)
    };
    let one = run("1");
    assert_eq!(one.len(), inputs.len());
    assert_eq!(one, run("5"));
    assert_eq!(one, run("64"));
}

/// Copies a fixture checkpoint into `dir` so a test can damage it.
fn copy_fixture(name: &str, dir: &Path) -> PathBuf {
    let dst = dir.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    dst
}

#[test]
fn a_config_missing_a_field_names_the_file_and_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let model = copy_fixture("marian-shared", tmp.path());
    let path = model.join("config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg.as_object_mut().unwrap().remove("d_model");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--model"])
        .arg(&model)
        .write_stdin("Rusia\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config.json") && stderr.contains("d_model"),
        "{stderr}"
    );
}

#[test]
fn a_truncated_weights_file_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let model = copy_fixture("marian-separate", tmp.path());
    let path = model.join("pytorch_model.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--model"])
        .arg(&model)
        .write_stdin("Rusia\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pytorch_model.bin"), "{stderr}");
}

#[test]
fn models_list_shows_the_python_layout_cache_and_fetch_offline_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = tmp.path().join("hub/models--Helsinki-NLP--opus-mt-id-en");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    std::fs::write(repo.join("blobs/abc123"), "{}").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        "../../blobs/abc123",
        repo.join("snapshots").join(commit).join("config.json"),
    )
    .unwrap();
    #[cfg(not(unix))]
    std::fs::write(
        repo.join("snapshots").join(commit).join("config.json"),
        "{}",
    )
    .unwrap();
    let out = warta(tmp.path()).args(["models", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Helsinki-NLP/opus-mt-id-en") && stdout.contains(commit),
        "{stdout}"
    );
    assert!(
        stdout.contains("config.json") && stdout.contains("main"),
        "{stdout}"
    );

    let out = warta(tmp.path())
        .args(["models", "fetch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HF_HUB_OFFLINE") || stderr.contains("offline"),
        "{stderr}"
    );
    assert!(stderr.contains("Helsinki-NLP/opus-mt-id-en"), "{stderr}");
}

/// Runs `warta ingest ARGS` in `dir` with `stdin`.
fn ingest_in(dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    warta(dir)
        .arg("ingest")
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap()
}

fn articles(out: &std::process::Output) -> Vec<Value> {
    stdout_lines(out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const PAGE: &str = "Judul Berita Contoh\n\nJAKARTA - Presiden tiba di istana pada pagi hari ini bersama rombongan menteri.\n\nBACA JUGA: Berita lain\n";

#[test]
fn ingest_writes_one_article_a_line_with_the_issue_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = warta(dir.path())
        .arg("ingest")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arts = articles(&out);
    assert_eq!(arts.len(), 5);
    let keys: Vec<&str> = arts[3]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "id",
        "source",
        "title",
        "date",
        "outlet",
        "author",
        "dateline",
        "paragraphs",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert_eq!(arts[3]["id"], "003_f4c10fb78911145e");
    assert_eq!(arts[3]["date"], "2022-12-07T21:24:00+07:00");
    let s = &arts[3]["paragraphs"][0]["sentences"][0];
    assert_eq!(s["id"], "003_f4c10fb78911145e:1");
    assert_eq!(s["start"], 0);
    assert!(s["text"].as_str().unwrap().starts_with("MOSKOW - Masalah"));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ingest_json_format_is_one_array_and_explain_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), PAGE).unwrap();
    let out = ingest_in(dir.path(), &["a.txt", "--format", "json", "--explain"], "");
    assert_eq!(out.status.code(), Some(0));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["title"], "Judul Berita Contoh");
    assert_eq!(all[0]["dateline"], "JAKARTA");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a.txt line 1: title:"), "{err}");
    assert!(
        err.contains("a.txt line 5: related-link: \"BACA JUGA: Berita lain\""),
        "{err}"
    );
}

#[test]
fn explain_shows_what_was_cut_from_a_one_line_record_and_why_an_empty_one_failed() {
    let dir = tempfile::tempdir().unwrap();
    let body = "Presiden tiba di istana pada pagi hari ini bersama rombongan menteri. \
                Dia menyampaikan pidato singkat di depan para wartawan yang menunggu.";
    let records = [
        serde_json::json!({"id": "a", "text": format!("Your email address will not be published. {body}")}),
        serde_json::json!({"id": "b", "text": "Your email address will not be published. Baca juga: Berita Lain Hari Ini."}),
    ];
    let input: String = records.iter().map(|r| format!("{r}\n")).collect();
    let out = ingest_in(dir.path(), &["-", "--explain"], &input);
    assert_eq!(out.status.code(), Some(3));
    let arts = articles(&out);
    assert_eq!(arts.len(), 1);
    assert_eq!(arts[0]["text"], body);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("-:1 line 1: comment-section: \"Your email address will not be published.\""),
        "{err}"
    );
    assert!(
        err.contains("only this sentence of the paragraph is dropped"),
        "{err}"
    );
    // The record that ended up empty says so, and --explain shows what took its text.
    assert!(err.contains("-:2: no article text is left"), "{err}");
    assert!(
        err.contains("-:2 line 1: comment-section: \"Your email address will not be published. Baca juga: Berita Lain Hari Ini.\""),
        "{err}"
    );
}

#[test]
fn a_page_without_an_article_body_is_reported_with_exit_status_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("footer.html"),
        "<html><body><div class=\"links\"><a href=\"/a\">About Us</a> <a href=\"/b\">Advertise</a> \
         <a href=\"/c\">Career</a></div></body></html>",
    )
    .unwrap();
    std::fs::write(dir.path().join("good.txt"), PAGE).unwrap();
    let out = ingest_in(dir.path(), &["footer.html", "good.txt"], "");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(articles(&out).len(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("footer.html: no article body found"), "{err}");
    assert!(err.contains("<div class=\"links\">"), "{err}");
}

#[test]
fn ingest_reports_bad_inputs_and_ingests_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("good.txt"), PAGE).unwrap();
    std::fs::write(d.join("empty.txt"), "").unwrap();
    std::fs::write(
        d.join("binary.txt"),
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
    )
    .unwrap();
    std::fs::write(d.join("big.txt"), "kata ".repeat(400)).unwrap();
    let out = ingest_in(
        d,
        &[
            "empty.txt",
            "binary.txt",
            "missing.txt",
            "big.txt",
            "good.txt",
            "--max-size",
            "1KB",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(3));
    let arts = articles(&out);
    assert_eq!(arts.len(), 1);
    assert_eq!(arts[0]["id"], "good");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty.txt: there is no text"), "{err}");
    assert!(
        err.contains("binary.txt: this looks like a binary file"),
        "{err}"
    );
    assert!(err.contains("missing.txt: cannot read it"), "{err}");
    assert!(
        err.contains("big.txt: it is 2000 bytes, over the limit of 1000"),
        "{err}"
    );
}

#[test]
fn ingest_reads_jsonl_from_stdin_and_makes_clashing_ids_unique() {
    let dir = tempfile::tempdir().unwrap();
    let body = "Presiden tiba di istana pada pagi hari ini bersama rombongan menteri.";
    let stdin = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "x", "text": body, "title": "Diberikan", "date": "2022-01-05", "outlet": "Kabar", "url": "https://contoh.id/x"}),
        serde_json::json!({"id": "x", "text": body}),
    );
    let out = ingest_in(dir.path(), &["-"], &stdin);
    assert_eq!(out.status.code(), Some(0));
    let arts = articles(&out);
    assert_eq!(arts.len(), 2);
    assert_eq!(arts[0]["id"], "x");
    assert_eq!(arts[0]["source"], "-:1");
    assert_eq!(arts[0]["title"], "Diberikan");
    assert_eq!(arts[0]["date"], "2022-01-05");
    assert_eq!(arts[0]["outlet"], "Kabar");
    assert_eq!(arts[0]["url"], "https://contoh.id/x");
    assert_eq!(arts[1]["id"], "x-2");
    assert_eq!(arts[1]["paragraphs"][0]["sentences"][0]["id"], "x-2:1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the id \"x\" is already taken"), "{err}");
}

#[test]
fn ingest_reads_plain_text_and_html_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = ingest_in(dir.path(), &["-"], PAGE);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(articles(&out)[0]["id"], "stdin");
    let html = "<html><body><article><h1>Judul</h1><p>Presiden tiba di istana pada pagi hari ini bersama rombongan.</p></article></body></html>";
    let out = ingest_in(dir.path(), &["-"], html);
    let a = &articles(&out)[0];
    assert_eq!(a["title"], "Judul");
    assert_eq!(
        a["paragraphs"][0]["sentences"][0]["text"],
        "Presiden tiba di istana pada pagi hari ini bersama rombongan."
    );
}

#[test]
fn an_error_names_its_cause_once() {
    let cache = tempfile::tempdir().unwrap();
    let out = warta(cache.path())
        .args(["translate", "--models", "no-such-models.toml"])
        .write_stdin("Halo.\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-models.toml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// A misspelt `--device` or `--dtype` is a usage error (exit 2, as README says), named
/// with the values that would do; it fails before any model is looked for.
#[test]
fn a_misspelt_device_or_dtype_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, hint) in [("--device", "gpx", "cuda:N"), ("--dtype", "f64", "bf16")] {
        let out = warta(dir.path())
            .args(["translate", flag, value, "missing.txt"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(value) && err.contains(hint), "{err}");
    }
}

/// `models fetch` fetches every model models.toml names, the LLM too when the summariser
/// kind is extractive (so an offline machine prepared with it can run `--summarizer llm`).
#[test]
fn models_fetch_tries_every_named_model() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models.toml");
    std::fs::write(
        &models,
        "[translation]\nmodel = \"org/translator\"\n[embedding]\nmodel = \"org/embedder\"\n\
         [summarizer]\nkind = \"extractive\"\nmodel = \"org/writer\"\n[citation]\nnli = \"org/judge\"\n",
    )
    .unwrap();
    let out = warta(tmp.path())
        .args(["models", "fetch", "--models"])
        .arg(&models)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (role, model) in [
        ("translation", "org/translator"),
        ("embedding", "org/embedder"),
        ("summarizer", "org/writer"),
        ("nli", "org/judge"),
    ] {
        assert!(
            stderr.contains(&format!("{role} model {model}")),
            "{role}: {stderr}"
        );
    }
}

/// The settings stage checks flags against each other and the models file before anything is
/// loaded: a revision for a directory, or a revision that contradicts the one the model names.
#[test]
fn a_revision_that_cannot_apply_is_refused_before_loading() {
    let tmp = tempfile::tempdir().unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--revision", "v2", "--model"])
        .arg(fixture("marian-shared"))
        .write_stdin("Rusia\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--revision v2") && err.contains("directory"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = warta(tmp.path())
        .args(["translate", "--model", "org/name@v1", "--revision", "v2"])
        .write_stdin("Rusia\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("org/name@v1") && err.contains("v2"), "{err}");
    // Refused by the rule, not by a failed lookup of either revision in the empty cache.
    assert!(!err.contains("warta models fetch"), "{err}");
}

/// A checkpoint whose generation_config.json no decoding can run with (`num_beams: 0`) is
/// refused when the translator is set up, exit 1, naming the setting, with nothing on
/// stdout: no line is translated (or failed) first.
#[test]
fn a_checkpoint_with_a_bad_decoding_setting_is_refused_before_any_line() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("marian-zero-beams");
    std::fs::create_dir(&model).unwrap();
    for entry in std::fs::read_dir(fixture("marian-shared")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    let path = model.join("generation_config.json");
    let mut generation: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    generation["num_beams"] = 0.into();
    std::fs::write(&path, generation.to_string()).unwrap();
    let out = warta(tmp.path())
        .args(["translate", "--model"])
        .arg(&model)
        .write_stdin("Rusia\nkata Lavrov.\n")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("num_beams"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

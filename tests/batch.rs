//! Batch runs of `warta brief --out DIR` on a generated corpus, with the fixture translation
//! checkpoint and the tiny embedding checkpoint: a run killed with SIGKILL at any moment
//! and started again ends with the briefing of an uninterrupted run; three shards merged
//! give the briefing of one run; broken records land in errors.jsonl with exit status 3;
//! a directory holding another run's articles is refused.
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use warta::brief::Briefing;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Writes models.toml (fixture Marian, tiny BERT, extractive) into `dir`.
fn models_toml(dir: &Path) -> PathBuf {
    let path = dir.join("models.toml");
    std::fs::write(
        &path,
        format!(
            "[translation]\nmodel = {:?}\n[embedding]\nmodel = {:?}\n[summarizer]\nkind = \"extractive\"\n",
            root().join("tests/fixtures/marian-shared"),
            root().join("tests/fixtures/bert-tiny"),
        ),
    )
    .unwrap();
    path
}

/// `n` articles as JSONL, made of the seed pages' paragraphs (so some paragraphs appear in
/// several articles, as agency copy does), plus `broken` bad records.
fn corpus(dir: &Path, n: usize, broken: bool) -> PathBuf {
    let mut pool: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(root().join("examples/articles")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        pool.extend(
            text.lines()
                .filter(|l| l.len() > 80 && l.len() < 400)
                .map(String::from),
        );
    }
    pool.sort();
    let mut lines = Vec::new();
    for i in 0..n {
        let paragraphs: Vec<&str> = (0..3)
            .map(|k| pool[(i * 7 + k * 13) % pool.len()].as_str())
            .collect();
        let date = (i % 4 != 0).then(|| format!("2022-12-{:02}", 1 + i % 9));
        lines.push(
            serde_json::json!({
                "id": format!("berita-{i:03}"),
                "title": format!("Berita nomor {i}"),
                "date": date,
                "text": paragraphs.join("\n\n"),
            })
            .to_string(),
        );
        if broken && i % 10 == 5 {
            lines.push(serde_json::json!({"id": format!("kosong-{i}"), "text": "  "}).to_string());
            lines.push("[1, 2, 3]".to_string());
        }
    }
    let path = dir.join("corpus.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// A new directory holding models.toml and a corpus of `n` articles (see [`corpus`]).
fn workdir(n: usize, broken: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    models_toml(dir.path());
    if n > 0 {
        corpus(dir.path(), n, broken);
    }
    dir
}

fn warta(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::cargo_bin("warta").unwrap();
    cmd.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", dir.join("hf"))
        .env_remove("HF_HUB_CACHE")
        .current_dir(dir);
    cmd
}

/// `warta -v brief CORPUS --out OUT --models models.toml EXTRA`.
fn brief(dir: &Path, out: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = warta(dir);
    cmd.args([
        "-v",
        "brief",
        "corpus.jsonl",
        "--out",
        out,
        "--models",
        "models.toml",
    ])
    .args(extra);
    cmd
}

/// Runs `cmd`, checks its exit status, returns its stderr.
fn run(mut cmd: std::process::Command, status: i32) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(status), "{err}");
    err
}

/// `warta merge ARGS` in `dir`.
fn merge(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = warta(dir);
    cmd.arg("merge").args(args);
    cmd
}

/// The briefing in `dir/out`, with what may differ between runs taken out: the time it
/// was made and the last digits of scores.
fn briefing(dir: &Path, out: &str) -> Briefing {
    let text = std::fs::read_to_string(dir.join(out).join("briefing.json")).unwrap();
    let mut b: Briefing = serde_json::from_str(&text).unwrap();
    b.generated_at.clear();
    let round = |x: &mut f32| *x = (*x * 1e4).round() / 1e4;
    for a in &mut b.articles {
        a.sentences.iter_mut().for_each(|s| round(&mut s.score));
        for s in &mut a.summary {
            s.support.iter_mut().for_each(round);
        }
        a.citation_quality.precision.iter_mut().for_each(round);
        a.citation_quality.recall.iter_mut().for_each(round);
    }
    for s in &mut b.overview {
        s.support.iter_mut().for_each(round);
    }
    b
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Waits until `path` has at least `n` lines, then kills `child` with SIGKILL; false when
/// the child finished first.
fn kill_after(child: &mut Child, path: &Path, n: usize) -> bool {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let have = std::fs::read(path)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0);
        if have >= n {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            return true;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_run_killed_at_any_moment_resumes_to_the_briefing_of_an_uninterrupted_run() {
    let n = 60;
    let dir = workdir(n, false);
    let d = dir.path();
    run(brief(d, "clean", &["--no-cache"]), 0);
    let clean = briefing(d, "clean");
    assert_eq!(clean.articles.len(), n);

    // Small batches, so articles finish one after another; killed before the first record,
    // after a few, and after half, each time started again with the same command.
    let args = ["--batch-size", "1"];
    let records = d.join("out/articles.jsonl");
    let mut kills = 0;
    for at in [0, 3, n / 2] {
        let mut child = brief(d, "out", &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = if at == 0 {
            std::thread::sleep(Duration::from_millis(150));
            let running = child.try_wait().unwrap().is_none();
            if running {
                child.kill().unwrap();
                child.wait().unwrap();
            }
            running
        } else {
            kill_after(&mut child, &records, at)
        };
        if killed {
            kills += 1;
            assert!(
                !d.join("out/briefing.json").exists(),
                "killed before the end"
            );
        }
        // Whatever was cut off, every whole line is a record, and none is doubled.
        let ids: Vec<String> = lines(&records)
            .iter()
            .filter(|l| l.ends_with('}'))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "a doubled record");
    }
    assert!(kills >= 2, "the runs finished before they could be killed");
    let err = run(brief(d, "out", &args), 0);
    assert!(err.contains("skipped as done"), "{err}");
    let recorded = lines(&records);
    assert_eq!(
        recorded.len(),
        n,
        "one record per article, none lost, none doubled"
    );
    let resumed = briefing(d, "out");
    assert_eq!(resumed, clean);
    // No temporary file is left beside the results.
    let names: Vec<String> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");

    // Run again when all is done: nothing is briefed again, and the briefing is the same.
    let err = run(brief(d, "out", &args), 0);
    assert!(
        err.contains(&format!("0 articles briefed, {n} skipped as done")),
        "{err}"
    );
    assert_eq!(briefing(d, "out"), clean);
}

#[test]
fn three_shards_merged_give_the_briefing_of_one_run() {
    let dir = workdir(30, true);
    let d = dir.path();
    run(brief(d, "single", &[]), 3);
    let single = briefing(d, "single");
    assert_eq!(single.articles.len(), 30);
    assert!(!single.overview.is_empty());

    let mut sizes = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = format!("shard{k}");
        // Each shard keeps its own cache next to its output.
        let status = brief(d, &out, &["--shard", &shard])
            .output()
            .unwrap()
            .status;
        assert!(matches!(status.code(), Some(0) | Some(3)), "{status}");
        sizes.push(lines(&d.join(&out).join("articles.jsonl")).len());
    }
    assert_eq!(sizes.iter().sum::<usize>(), 30, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s > 0), "{sizes:?}");

    // A shard missing is refused with its name.
    let err = run(merge(d, &["shard1", "shard3", "--out", "merged"]), 1);
    assert!(err.contains("shard 2/3 is missing"), "{err}");
    // A shard given twice is refused, naming both.
    std::fs::create_dir(d.join("shard1-again")).unwrap();
    for entry in std::fs::read_dir(d.join("shard1")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), d.join("shard1-again").join(entry.file_name())).unwrap();
        }
    }
    let err = run(
        merge(
            d,
            &[
                "shard1",
                "shard1-again",
                "shard2",
                "shard3",
                "--out",
                "merged",
            ],
        ),
        1,
    );
    assert!(
        err.contains("are both shard 1/3") && err.contains("shard1-again"),
        "{err}"
    );
    // A shard whose run did not finish is refused, naming it.
    let manifest = d.join("shard1-again/run.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(m["complete"], serde_json::Value::Bool(true));
    m["complete"] = false.into();
    std::fs::write(&manifest, m.to_string()).unwrap();
    let err = run(
        merge(d, &["shard1-again", "shard2", "shard3", "--out", "merged"]),
        1,
    );
    assert!(
        err.contains("has not finished") && err.contains("shard1-again"),
        "{err}"
    );
    assert!(!d.join("merged").exists(), "a refused merge writes nothing");

    run(
        merge(d, &["shard3", "shard1", "shard2", "--out", "merged"]),
        3,
    );
    assert_eq!(briefing(d, "merged"), single);
    let mut single_errors = lines(&d.join("single/errors.jsonl"));
    let mut merged_errors = lines(&d.join("merged/errors.jsonl"));
    single_errors.sort();
    merged_errors.sort();
    assert_eq!(merged_errors, single_errors);
    // The merged pages are those of the single run, byte for byte.
    for name in ["briefing.md", "briefing.html"] {
        let page = |out: &str| std::fs::read_to_string(d.join(out).join(name)).unwrap();
        assert_eq!(page("merged"), page("single"), "{name}");
    }

    // A shard's errors.jsonl that cannot be read is named in the error.
    let errors = d.join("shard2/errors.jsonl");
    std::fs::remove_file(&errors).unwrap();
    std::fs::create_dir(&errors).unwrap();
    let err = run(
        merge(d, &["shard1", "shard2", "shard3", "--out", "again"]),
        1,
    );
    assert!(err.contains("shard2/errors.jsonl: "), "{err}");
}

#[test]
fn broken_records_are_reported_and_the_rest_briefed() {
    let dir = workdir(12, true);
    let d = dir.path();
    let err = run(brief(d, "out", &[]), 3);
    assert!(
        err.contains("12 articles briefed, 0 skipped as done, 2 failed"),
        "{err}"
    );
    let errors: Vec<serde_json::Value> = lines(&d.join("out/errors.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["id"], "kosong-5");
    assert_eq!(errors[0]["source"], "corpus.jsonl:7");
    assert!(
        errors[1]["error"]
            .as_str()
            .unwrap()
            .contains("must be an object"),
        "{errors:?}"
    );
    assert_eq!(briefing(d, "out").articles.len(), 12);

    // Only broken records: nothing could be done, exit status 1.
    std::fs::write(d.join("corpus.jsonl"), "{\"id\": 1, \"text\": \"\"}\n").unwrap();
    let err = run(brief(d, "none", &[]), 1);
    assert!(err.contains("nothing to brief"), "{err}");
    assert_eq!(lines(&d.join("none/errors.jsonl")).len(), 1);
    // A shard left with only broken records still finishes (exit 3), so a merge can go on;
    // the merge of nothing but that is what has nothing to brief.
    run(brief(d, "shard", &["--shard", "1/1"]), 3);
    let err = run(merge(d, &["shard", "--out", "merged"]), 1);
    assert!(err.contains("nothing to merge"), "{err}");
    let err = run(merge(d, &["shard", "--out", "shard"]), 1);
    assert!(err.contains("its own"), "{err}");
}

#[test]
fn a_page_with_no_article_body_lands_in_errors_jsonl_and_is_never_briefed() {
    let dir = workdir(3, false);
    let d = dir.path();
    std::fs::write(
        d.join("footer.html"),
        "<html><body><nav><a href=\"/\">Beranda</a></nav><div class=\"footer\">\
         <a href=\"/a\">About Us</a> - <a href=\"/b\">Advertise</a> <a href=\"/c\">Policy</a> \
         <a href=\"/d\">Career</a></div></body></html>",
    )
    .unwrap();
    let mut cmd = warta(d);
    cmd.args([
        "brief",
        "corpus.jsonl",
        "footer.html",
        "--out",
        "out",
        "--models",
        "models.toml",
    ]);
    run(cmd, 3);
    let errors = lines(&d.join("out/errors.jsonl"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e: serde_json::Value = serde_json::from_str(&errors[0]).unwrap();
    assert_eq!(e["id"], "footer");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("no article body found"),
        "{e}"
    );
    let b = briefing(d, "out");
    assert_eq!(b.articles.len(), 3);
}

#[test]
fn an_input_that_could_not_be_read_keeps_its_id_so_a_rerun_briefs_the_right_articles() {
    let dir = workdir(0, false);
    let d = dir.path();
    let seed =
        std::fs::read_to_string(root().join("examples/articles/003_f4c10fb78911145e.txt")).unwrap();
    let other =
        std::fs::read_to_string(root().join("examples/articles/001_bf2339ed88d635b3.txt")).unwrap();
    // Two pages with the same file name; the first is over the size limit of the first run.
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::create_dir_all(d.join("b")).unwrap();
    std::fs::write(
        d.join("a/berita.txt"),
        format!("{seed}\n{}", "x ".repeat(4000)),
    )
    .unwrap();
    std::fs::write(d.join("b/berita.txt"), &other).unwrap();
    let brief_ab = |extra: &[&str]| {
        let mut cmd = warta(d);
        cmd.args([
            "-v",
            "brief",
            "a",
            "b",
            "--out",
            "out",
            "--models",
            "models.toml",
        ])
        .args(extra);
        cmd
    };
    let err = run(brief_ab(&["--max-size", "6000"]), 3);
    assert!(err.contains("over the limit"), "{err}");
    let errors = lines(&d.join("out/errors.jsonl"));
    assert!(errors[0].contains("\"id\":\"berita\""), "{errors:?}");
    // Run again with room for it: the page that failed is briefed under its own id, and the
    // other, finished as berita-2, is not briefed again.
    let again = brief_ab(&[]);
    let err = run(again, 0);
    assert!(
        err.contains("1 articles briefed, 1 skipped as done"),
        "{err}"
    );
    let b = briefing(d, "out");
    let mut got: Vec<(String, String)> = b
        .articles
        .iter()
        .map(|a| (a.id.clone(), a.source.clone()))
        .collect();
    got.sort();
    let want = |id: &str, p: &str| (id.to_string(), p.to_string());
    assert_eq!(
        got,
        [
            want("berita", "a/berita.txt"),
            want("berita-2", "b/berita.txt")
        ]
    );
}

#[test]
fn a_directory_holding_another_runs_articles_is_refused() {
    let dir = workdir(3, false);
    let d = dir.path();
    run(brief(d, "out", &[]), 0);
    let err = run(brief(d, "out", &["--sentences", "2"]), 1);
    assert!(
        err.contains("other settings") && err.contains("run.json"),
        "{err}"
    );
    let err = run(brief(d, "out", &["--shard", "1/2"]), 1);
    assert!(err.contains("other shard"), "{err}");
    // Another dtype changes translations: its records are not mixed in, and the cache
    // made in f32 does not answer for it.
    let err = run(brief(d, "out", &["--dtype", "bf16"]), 1);
    assert!(err.contains("other dtype"), "{err}");
    let cache = d.join("out/cache.sqlite");
    let err = run(
        brief(
            d,
            "bf16",
            &["--dtype", "bf16", "--cache", cache.to_str().unwrap()],
        ),
        0,
    );
    assert!(err.contains("cache 0 hits of"), "{err}");
    let again = run(brief(d, "f32", &["--cache", cache.to_str().unwrap()]), 0);
    assert!(
        again.contains(" hits of") && !again.contains("cache 0 hits of"),
        "{again}"
    );
    // int8 likewise: recorded as such, and never answered from the f32 cache.
    let err = run(
        brief(
            d,
            "int8",
            &["--dtype", "int8", "--cache", cache.to_str().unwrap()],
        ),
        0,
    );
    assert!(err.contains("cache 0 hits of"), "{err}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("int8/run.json")).unwrap()).unwrap();
    assert_eq!(manifest["dtype"], "int8");
    assert!(manifest.get("shortlist").is_none());
    // A vocabulary shortlist changes translations too: recorded by its digest, refused
    // beside records made without it, and never answered from their cache.
    std::fs::write(d.join("t.vmap"), "\t▁the .\n").unwrap();
    let err = run(brief(d, "out", &["--shortlist", "t.vmap"]), 1);
    assert!(err.contains("other shortlist"), "{err}");
    let err = run(
        brief(
            d,
            "short",
            &["--shortlist", "t.vmap", "--cache", cache.to_str().unwrap()],
        ),
        0,
    );
    assert!(err.contains("cache 0 hits of"), "{err}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("short/run.json")).unwrap()).unwrap();
    assert!(
        manifest["shortlist"]
            .as_str()
            .unwrap()
            .starts_with("vmap1:"),
        "{manifest}"
    );
}

#[test]
fn progress_is_a_log_line_in_a_log_and_bars_on_a_terminal() {
    let dir = workdir(6, false);
    let d = dir.path();
    // Not a terminal: a line per interval with the figures.
    let mut cmd = brief(d, "log", &["--batch-size", "1"]);
    cmd.env("WARTA_PROGRESS_SECS", "0");
    let err = run(cmd, 0);
    let line = err
        .lines()
        .find(|l| l.contains("/6 articles ("))
        .unwrap_or_else(|| panic!("no progress line in\n{err}"));
    assert!(
        line.contains("sentences") && line.contains("tokens/s") && line.contains("cache"),
        "{line}"
    );
    // Without -v, the summary still ends the log.
    let mut quiet = warta(d);
    quiet.args([
        "brief",
        "corpus.jsonl",
        "--out",
        "plain",
        "--models",
        "models.toml",
    ]);
    let err = run(quiet, 0);
    assert!(
        err.contains("done in") && err.contains("6 articles briefed"),
        "{err}"
    );
    // A terminal (through script(1)): indicatif's bars.
    let exe = assert_cmd::cargo::cargo_bin("warta");
    let command = format!(
        "{} brief corpus.jsonl --out tty --models models.toml --batch-size 1",
        exe.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", d.join("hf"))
        .current_dir(d)
        .output()
        .expect("script(1), from util-linux, runs a command on a terminal");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(
        screen.contains("articles") && screen.contains("ETA"),
        "{screen}"
    );
    assert!(
        screen.contains("tokens/s") && screen.contains("cache"),
        "{screen}"
    );
    // -q on the same terminal: no bars (README: "-q hides progress bars"), and it still works.
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &command.replace("--out tty", "--out tty-quiet -q"),
            "/dev/null",
        ])
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", d.join("hf"))
        .current_dir(d)
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(d.join("tty-quiet/briefing.json").is_file(), "{screen}");
    assert!(
        !screen.contains("ETA") && !screen.contains("tokens/s"),
        "{screen}"
    );
}

/// run.json and briefing.json record the beams the translations used: for a checkpoint
/// that leaves `num_beams` unset, HF's default of 1, not null.
#[test]
fn run_json_records_the_resolved_beams_when_the_checkpoint_leaves_them_unset() {
    let dir = workdir(2, false);
    let d = dir.path();
    // The fixture checkpoint without num_beams in generation_config.json.
    let model = d.join("marian-unset-beams");
    std::fs::create_dir(&model).unwrap();
    for entry in std::fs::read_dir(root().join("tests/fixtures/marian-shared")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    let path = model.join("generation_config.json");
    let mut generation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(generation
        .as_object_mut()
        .unwrap()
        .remove("num_beams")
        .is_some());
    std::fs::write(&path, generation.to_string()).unwrap();
    std::fs::write(
        d.join("models.toml"),
        format!(
            "[translation]\nmodel = {:?}\n[embedding]\nmodel = {:?}\n[summarizer]\nkind = \"extractive\"\n",
            model,
            root().join("tests/fixtures/bert-tiny"),
        ),
    )
    .unwrap();

    run(brief(d, "out", &[]), 0);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/run.json")).unwrap()).unwrap();
    assert_eq!(manifest["settings"]["beams"], 1, "{manifest}");
    assert_eq!(briefing(d, "out").settings.beams, Some(1));
    // The resolved settings themselves: what every batch decoded with.
    let decoding = &manifest["decoding"];
    assert_eq!(decoding["num_beams"], 1, "{manifest}");
    assert!(decoding["max_length"].as_u64().unwrap() > 1, "{manifest}");
    assert!(manifest["generation"]["num_beams"].is_null(), "{manifest}");
}

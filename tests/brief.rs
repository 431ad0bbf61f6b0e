//! `warta brief` end to end on examples/articles, with the fixture translation checkpoint
//! and the real all-MiniLM-L6-v2: every summary sentence cites, every citation resolves to
//! a sentence of the right article, the Markdown footnotes and the JSON agree, and the
//! overview cites several articles.
mod common;

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;
use warta::brief::Briefing;

fn models_toml(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("models.toml");
    std::fs::write(
        &path,
        format!(
            "[translation]\nmodel = {:?}\n[embedding]\nmodel = {:?}\n[summarizer]\nkind = \"extractive\"\n",
            root.join("tests/fixtures/marian-shared"),
            common::minilm()
        ),
    )
    .unwrap();
    path
}

fn warta(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("warta").unwrap();
    cmd.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", dir.join("hf"))
        .env_remove("HF_HUB_CACHE")
        .current_dir(dir);
    cmd
}

#[test]
fn brief_cites_every_summary_sentence_and_the_markdown_agrees_with_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    let out = warta(dir.path())
        .args(["brief", "--out", "out", "--models"])
        .arg(&models)
        .arg(&articles)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let json = std::fs::read_to_string(dir.path().join("out/briefing.json")).unwrap();
    let b: Briefing = serde_json::from_str(&json).unwrap();
    assert_eq!(b.articles.len(), 5);
    assert_eq!(
        b.models.embedding.id,
        common::minilm().display().to_string()
    );
    // Dated articles first, oldest first.
    let dates: Vec<Option<&str>> = b.articles.iter().map(|a| a.date.as_deref()).collect();
    assert_eq!(dates[0], Some("2021-12-23T12:30:00+07:00"));
    assert!(dates[3].is_none() && dates[4].is_none());

    let mut cited: BTreeSet<String> = BTreeSet::new();
    for a in &b.articles {
        assert!(!a.summary.is_empty() && a.summary.len() <= 3, "{}", a.id);
        let words: usize = a
            .summary
            .iter()
            .map(|s| s.text.split_whitespace().count())
            .sum();
        assert!(words <= 80, "{}: {words} words", a.id);
        for s in &a.summary {
            assert!(!s.citations.is_empty(), "an uncited sentence in {}", a.id);
            assert_eq!(s.citations.len(), s.support.len());
            for id in &s.citations {
                let (owner, sentence) = b.sentence(id).expect("the citation resolves");
                assert_eq!(owner.id, a.id, "{id} cites another article");
                assert_eq!(sentence.translation, s.text);
                cited.insert(id.clone());
            }
        }
        assert_eq!(a.citation_quality.recall, 1.0);
        assert_eq!(a.citation_quality.precision, 1.0);
    }
    assert!(
        (3..=6).contains(&b.overview.len()),
        "{} overview sentences",
        b.overview.len()
    );
    let mut overview_articles = BTreeSet::new();
    for s in &b.overview {
        assert!(!s.citations.is_empty());
        for id in &s.citations {
            let (owner, _) = b.sentence(id).expect("the citation resolves");
            overview_articles.insert(owner.id.clone());
            cited.insert(id.clone());
        }
    }
    assert!(overview_articles.len() >= 2, "{overview_articles:?}");

    // Every citation is a footnote in the Markdown, defined once as the English sentence
    // and the Indonesian original.
    let md = std::fs::read_to_string(dir.path().join("out/briefing.md")).unwrap();
    let defined: Vec<&str> = md.lines().filter(|l| l.starts_with("[^")).collect();
    assert_eq!(defined.len(), cited.len());
    for id in &cited {
        let (_, s) = b.sentence(id).unwrap();
        let def: Vec<&&str> = defined
            .iter()
            .filter(|l| l.starts_with(&format!("[^{id}]: ")))
            .collect();
        assert_eq!(def.len(), 1, "{id} is defined {} times", def.len());
        let plain = def[0].replace('\\', "");
        assert!(
            plain.contains(&s.translation) && plain.contains(&s.text),
            "{plain}"
        );
        assert!(md.contains(&format!("[^{id}]")));
    }
}

#[test]
fn brief_reports_a_bad_input_and_briefs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    std::fs::write(dir.path().join("empty.txt"), "").unwrap();
    let page =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles/003_f4c10fb78911145e.txt");
    let out = warta(dir.path())
        .args(["brief", "--out", "out", "--sentences", "2", "--models"])
        .arg(&models)
        .arg("empty.txt")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty.txt: there is no text"));
    let b: Briefing = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/briefing.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(b.articles.len(), 1);
    assert_eq!(b.articles[0].summary.len(), 2);
}

#[test]
fn summarize_takes_english_as_it_is_and_the_llm_summariser_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    std::fs::write(
        dir.path().join("en.jsonl"),
        concat!(
            r#"{"id": "e1", "text": "Russia demands binding security guarantees from the West. Moscow says talks with NATO must continue. The weather in Moscow was cold."}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = warta(dir.path())
        .args(["summarize", "en.jsonl", "--out", "out", "--models"])
        .arg(&models)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Briefing = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/briefing.json")).unwrap(),
    )
    .unwrap();
    assert!(b.models.translation.is_none());
    let a = &b.articles[0];
    assert!(a.sentences.iter().all(|s| s.text == s.translation));
    assert_eq!(
        a.summary[0].text,
        "Russia demands binding security guarantees from the West."
    );

    let out = warta(dir.path())
        .args([
            "summarize",
            "en.jsonl",
            "--out",
            "out2",
            "--summarizer",
            "llm",
            "--models",
        ])
        .arg(&models)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--summarizer extractive"));
    assert!(!dir.path().join("out2").exists());
}

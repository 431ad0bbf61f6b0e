//! `warta brief` end to end on examples/articles, with the fixture translation checkpoint
//! and the real all-MiniLM-L6-v2: every summary sentence cites, every citation resolves to
//! a sentence of the right article, the Markdown footnotes and the JSON agree, and the
//! overview cites several articles.
mod common;

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;
use warta::brief::Briefing;
use warta::text::SentenceId;

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

/// Runs `warta brief examples/articles --out out` in a new directory and checks it succeeded.
fn brief_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    let out = warta(dir.path())
        .args(["brief", "--out", "out", "--models"])
        .arg(&models)
        .arg(&articles)
        .output()
        .unwrap();
    exited(&out, 0);
    assert!(out.stdout.is_empty(), "stdout carries no data for brief");
    dir
}

/// Runs `warta summarize en.jsonl --out out --models MODELS ARGS` (after writing [`en_jsonl`]
/// to en.jsonl) in `dir`; checks it succeeded and returns its stderr and the briefing.
fn summarize_en(dir: &Path, models: &Path, args: &[&str]) -> (String, Briefing) {
    std::fs::write(dir.join("en.jsonl"), en_jsonl()).unwrap();
    summarize(dir, models, Path::new("en.jsonl"), args)
}

/// Runs `warta summarize INPUT --out out --models MODELS ARGS` in `dir`; checks it
/// succeeded and returns its stderr and the briefing.
fn summarize(dir: &Path, models: &Path, input: &Path, args: &[&str]) -> (String, Briefing) {
    let out = warta(dir)
        .arg("summarize")
        .arg(input)
        .args(["--out", "out", "--models"])
        .arg(models)
        .args(args)
        .output()
        .unwrap();
    let err = exited(&out, 0);
    let b = serde_json::from_str(&std::fs::read_to_string(dir.join("out/briefing.json")).unwrap())
        .unwrap();
    (err, b)
}

/// Checks that the run exited with `status`; its stderr.
fn exited(out: &std::process::Output, status: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(status), "{err}");
    err
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
    let dir = brief_examples();
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

    let mut cited: BTreeSet<SentenceId> = BTreeSet::new();
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
        // Each extractive sentence is its cited sentence: nothing was judged.
        assert!(a.summary.iter().all(|s| s.judged == [false]));
        assert_eq!(a.citation_quality.recall, None);
        assert_eq!(a.citation_quality.precision, None);
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
    let err = exited(&out, 3);
    assert!(err.contains("empty.txt: there is no text"), "{err}");
    let b: Briefing = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/briefing.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(b.articles.len(), 1);
    assert_eq!(b.articles[0].summary.len(), 2);
    // The failed input is recorded in errors.jsonl.
    let errors = std::fs::read_to_string(dir.path().join("out/errors.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = errors
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{errors}");
    assert_eq!(records[0]["id"], "empty");
    assert_eq!(records[0]["source"], "empty.txt");
    assert!(records[0]["error"]
        .as_str()
        .unwrap()
        .contains("there is no text"));
}

#[test]
fn summarize_takes_english_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let b = summarize_en(dir.path(), &models, &[]).1;
    assert!(b.models.translation.is_none());
    let a = &b.articles[0];
    assert!(a.sentences.iter().all(|s| s.text == s.translation));
    assert_eq!(
        a.summary[0].text,
        "Russia demands binding security guarantees from the West."
    );
}

/// A short English article for `warta summarize` and the library tests.
const EN_TEXT: &str = "Russia demands binding security guarantees from the West. Moscow says talks with NATO must continue. The weather in Moscow was cold and snowy all week.";

/// [`EN_TEXT`] as one JSONL record with the id `e1`.
fn en_jsonl() -> String {
    format!("{}\n", serde_json::json!({"id": "e1", "text": EN_TEXT}))
}

/// [`EN_TEXT`] ingested as the article `e1`.
fn en_article() -> warta::text::Article {
    let doc = warta::text::source::Document {
        id: "e1".into(),
        source: "e1".into(),
        format: warta::text::source::Format::Text,
        bytes: EN_TEXT.as_bytes().to_vec(),
        given: Default::default(),
    };
    warta::text::ingest(&doc, "e1").unwrap().article
}

/// The provenance the library tests record: MiniLM, an LLM summariser, maybe an NLI model.
fn llm_models(nli: Option<&str>) -> warta::brief::Models {
    use warta::brief::{ModelRef, Models, SummarizerRef};
    let model = |id: &str| ModelRef {
        id: id.into(),
        revision: None,
    };
    Models {
        translation: None,
        embedding: model("minilm"),
        summarizer: SummarizerRef {
            kind: "llm".into(),
            id: None,
            revision: None,
        },
        nli: nli.map(model),
    }
}

#[test]
fn a_garbage_llm_falls_back_to_the_extractive_summary_with_a_warning() {
    garbage_llm_falls_back("qwen2-tiny");
}

#[test]
fn a_gguf_summariser_runs_from_models_toml() {
    garbage_llm_falls_back("qwen2-tiny/model-q8_0.gguf");
}

fn garbage_llm_falls_back(llm: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = dir.path().join("models.toml");
    std::fs::write(
        &models,
        format!(
            "[translation]\nmodel = {:?}\n[embedding]\nmodel = {:?}\n[summarizer]\nkind = \"llm\"\nmodel = {:?}\n",
            root.join("tests/fixtures/marian-shared"),
            common::minilm(),
            root.join("tests/fixtures").join(llm),
        ),
    )
    .unwrap();
    let (err, b) = summarize_en(dir.path(), &models, &["--sentences", "2"]);
    assert!(
        err.contains("e1: ") && err.contains("using the extractive summary"),
        "{err}"
    );
    assert_eq!(b.models.summarizer.kind, "llm");
    let a = &b.articles[0];
    assert_eq!(a.summary.len(), 2);
    for s in &a.summary {
        assert_eq!(s.citations.len(), 1);
        let (owner, sentence) = b.sentence(&s.citations[0]).unwrap();
        assert_eq!(owner.id, "e1");
        assert_eq!(sentence.translation, s.text);
    }
}

/// Stands in for the LLM with a fixed reply.
struct Scripted(&'static str);

impl warta::summarize::abstractive::SummaryWriter for Scripted {
    fn write(
        &mut self,
        messages: &[warta::summarize::llm::Message],
        _max_new_tokens: usize,
    ) -> Result<String, warta::summarize::llm::LlmError> {
        assert!(messages[1].content.contains("[1] Russia demands"));
        Ok(self.0.to_string())
    }
}

#[test]
fn an_llm_summary_keeps_its_supported_sentences_and_replaces_the_rest() {
    use warta::pipeline::{brief, BriefSettings, Engines};

    let article = en_article();
    let embedder =
        warta::summarize::Embedder::load(common::minilm(), &candle_core::Device::Cpu).unwrap();
    let mut writer = Scripted(
        "Russia wants binding security guarantees from the West [1]. Bananas are yellow [3]. \
         Moscow insists talks with NATO continue [2][9].",
    );
    let models = llm_models(None);
    let b = brief(
        vec![article],
        Engines {
            translator: None,
            embedder: &embedder,
            writer: Some(&mut writer),
            nli: None,
            cache: None,
        },
        models,
        &BriefSettings::default(),
        "now".into(),
    )
    .unwrap();
    let s = &b.articles[0].summary;
    let texts: Vec<&str> = s.iter().map(|x| x.text.as_str()).collect();
    // The two supported sentences the model wrote, then one from the extractive summary in
    // place of the unsupported one.
    assert_eq!(
        texts[0],
        "Russia wants binding security guarantees from the West."
    );
    assert_eq!(s[0].citations, vec!["e1:1"]);
    assert_eq!(texts[1], "Moscow insists talks with NATO continue.");
    assert_eq!(s[1].citations, vec!["e1:2"]);
    assert!(!texts.iter().any(|t| t.contains("Bananas")));
    assert_eq!(s.len(), 3);
    assert_eq!(s[2].citations, vec!["e1:3"]);
    assert!(s.iter().all(|x| x.support.iter().all(|&v| v >= 0.6)));
}

/// A WebDriver session on Debian's headless Chromium, through chromedriver.
struct Browser {
    driver: std::process::Child,
    base: String,
    session: String,
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=412,915"]}}}});
        let mut session = None;
        for _ in 0..100 {
            if let Ok(r) = ureq::post(&format!("{base}/session")).send_json(caps.clone()) {
                let v: serde_json::Value = r.into_json().unwrap();
                session = v["value"]["sessionId"].as_str().map(str::to_string);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let session = session.expect("a WebDriver session on /usr/bin/chromium");
        Browser {
            driver,
            base,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r = match body {
            Some(b) => ureq::request(method, &url).send_json(b),
            None => ureq::request(method, &url).call(),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: serde_json::Value = r.into_json().unwrap();
        v["value"].clone()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(serde_json::json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|e| e.as_str())
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn the_html_briefing_opens_a_citations_sentence_when_tapped() {
    let dir = brief_examples();
    let b: Briefing = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/briefing.json")).unwrap(),
    )
    .unwrap();
    let html = dir.path().join("out/briefing.html");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page must not reach the network"
    );

    let browser = Browser::start();
    browser.call(
        "POST",
        "/url",
        Some(serde_json::json!({"url": format!("file://{}", html.display())})),
    );
    let card = browser.find("#card");
    let displayed = |b: &Browser| b.call("GET", &format!("/element/{card}/displayed"), None);
    assert_eq!(
        displayed(&browser),
        false,
        "the card is closed until a citation is tapped"
    );
    // Every citation link points at a sentence the page lists.
    let links = browser.call(
        "POST",
        "/elements",
        Some(serde_json::json!({"using": "css selector", "value": "a.cite"})),
    );
    let n = links.as_array().unwrap().len();
    assert!(n >= b.articles.len(), "{n} citation links");
    // Tap the first summary citation of the last article: the card shows its sentence.
    let link = browser.find("article:last-of-type a.cite");
    let id = browser.call("GET", &format!("/element/{link}/attribute/data-id"), None);
    let id = id.as_str().unwrap().to_string();
    browser.call(
        "POST",
        &format!("/element/{link}/click"),
        Some(serde_json::json!({})),
    );
    assert_eq!(displayed(&browser), true);
    let shown = browser.call("GET", &format!("/element/{card}/text"), None);
    let shown = shown.as_str().unwrap();
    let (_, sentence) = id
        .parse::<SentenceId>()
        .ok()
        .and_then(|id| b.sentence(&id))
        .expect("the tapped citation resolves");
    assert!(shown.contains(&sentence.translation), "{shown:?}");
    assert!(shown.contains(&sentence.text), "{shown:?}");
    // A screenshot of the page as a phone shows it, to look at.
    let png = browser.call("GET", "/screenshot", None);
    let bytes = base64_decode(png.as_str().unwrap());
    assert!(bytes.starts_with(b"\x89PNG"));
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/briefing-phone.png");
    std::fs::write(&shot, bytes).unwrap();
}

/// Standard base64, as WebDriver returns screenshots.
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| value(c) as u32).collect();
        let n = v.iter().fold(0u32, |acc, x| acc << 6 | x) << (6 * (4 - v.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..v.len() - 1]);
    }
    out
}

#[test]
fn brief_with_default_models_offline_and_nothing_cached_says_how_to_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    let out = warta(dir.path())
        .args(["brief", "--out", "out"])
        .arg(&articles)
        .output()
        .unwrap();
    let err = exited(&out, 1);
    assert!(err.contains("Helsinki-NLP/opus-mt-id-en"), "{err}");
    assert!(err.contains("warta models fetch"), "{err}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_nli_model_in_models_toml_judges_the_llms_citations() {
    use warta::pipeline::{brief, BriefSettings, Engines};
    use warta::summarize::nli::Nli;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let nli = Nli::load(
        &root.join("tests/fixtures/nli-tiny"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let article = en_article();
    let sentences: Vec<String> = article.sentences().map(|s| s.text.clone()).collect();
    let embedder =
        warta::summarize::Embedder::load(common::minilm(), &candle_core::Device::Cpu).unwrap();
    let reply = "Russia wants binding security guarantees from the West [1]. Moscow insists talks with NATO continue [2].";
    let mut writer = Scripted(reply);
    let models = llm_models(Some("nli-tiny"));
    let settings = BriefSettings::default();
    let b = brief(
        vec![article],
        Engines {
            translator: None,
            embedder: &embedder,
            writer: Some(&mut writer),
            nli: Some(&nli),
            cache: None,
        },
        models,
        &settings,
        "now".into(),
    )
    .unwrap();
    assert_eq!(b.settings.support_threshold, settings.nli_threshold);
    // What the random NLI model says about each written sentence decides whether it stays.
    let written = [
        (
            "Russia wants binding security guarantees from the West.",
            0usize,
        ),
        ("Moscow insists talks with NATO continue.", 1usize),
    ];
    let summary = &b.articles[0].summary;
    for (text, cited) in written {
        let p = nli.entailment(&[(&sentences[cited], text)]).unwrap()[0];
        let kept = summary.iter().find(|s| s.text == text);
        if p >= settings.nli_threshold {
            let kept = kept.unwrap_or_else(|| panic!("{text:?} (entailment {p}) was dropped"));
            assert_eq!(kept.support, vec![p]);
        } else {
            assert!(kept.is_none(), "{text:?} (entailment {p}) was kept");
        }
    }
    // Whatever was dropped was replaced: the summary is full and every sentence cites.
    assert_eq!(summary.len(), 3);
    assert!(summary.iter().all(|s| !s.citations.is_empty()));
}

/// With `[citation] nli`, the NLI model judges what is not its own sentence: here an
/// overview sentence's citation of a second article reporting the same fact. Extractive
/// summary sentences cite themselves and are not judged, and say so.
#[test]
fn the_nli_model_named_in_models_toml_is_used_and_recorded() {
    use warta::summarize::nli::Nli;
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let nli_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nli-tiny");
    let mut text = std::fs::read_to_string(&models).unwrap();
    text.push_str(&format!("[citation]\nnli = {nli_dir:?}\n"));
    std::fs::write(&models, text).unwrap();
    let second = "Russia demanded binding security guarantees from the West on Monday. \
                  Officials in Kyiv met allies in Brussels. Prices of grain rose again this week.";
    std::fs::write(
        dir.path().join("two.jsonl"),
        format!(
            "{}\n{}\n",
            serde_json::json!({"id": "e1", "text": EN_TEXT}),
            serde_json::json!({"id": "e2", "text": second})
        ),
    )
    .unwrap();
    let (_, b) = summarize(dir.path(), &models, Path::new("two.jsonl"), &[]);
    assert_eq!(
        b.models.nli.as_ref().unwrap().id,
        nli_dir.display().to_string()
    );
    assert_eq!(b.settings.support_threshold, 0.5);
    for a in &b.articles {
        assert!(a.summary.iter().all(|s| s.judged.iter().all(|j| !j)));
        assert_eq!(a.citation_quality.precision, None);
        assert_eq!(a.citation_quality.judged, 0);
    }
    // The overview sentence on the guarantees is one article's sentence; the other
    // article's report of it was judged by the NLI model, and its verdict decided.
    let nli = Nli::load(&nli_dir, &candle_core::Device::Cpu).unwrap();
    let sentence = |id: &str| {
        b.articles
            .iter()
            .flat_map(|a| &a.sentences)
            .find(|s| s.id == id)
            .unwrap()
            .translation
            .clone()
    };
    let statement = b
        .overview
        .iter()
        .find(|s| s.text.contains("security guarantees"))
        .expect("the shared fact is in the overview");
    assert_eq!(statement.judged.iter().filter(|j| !**j).count(), 1);
    let own = &statement.citations[statement.judged.iter().position(|j| !j).unwrap()];
    let other_id = if own.article == "e1" { "e2:1" } else { "e1:1" };
    let p = nli
        .entailment(&[(&sentence(other_id), &statement.text)])
        .unwrap()[0];
    match statement.citations.iter().position(|c| c == other_id) {
        Some(k) => {
            assert!(p >= 0.5, "kept with entailment {p}");
            assert!(statement.judged[k]);
            assert_eq!(statement.support[k], p);
        }
        None => assert!(p < 0.5, "dropped with entailment {p}"),
    }
}

#[test]
fn a_second_run_takes_every_translation_from_the_cache_and_gives_the_same_briefing() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    let run = |out: &str, extra: &[&str]| {
        let res = warta(dir.path())
            .args(["-v", "brief", "--out", out, "--models"])
            .arg(&models)
            .arg(&articles)
            .args(extra)
            .output()
            .unwrap();
        let err = exited(&res, 0);
        let mut b: Briefing = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(out).join("briefing.json")).unwrap(),
        )
        .unwrap();
        b.generated_at.clear();
        (err, b)
    };
    let (first, b1) = run("out", &[]);
    assert!(
        first.contains("95 sentences, 95 translated") && first.contains("cache 0 hits of 95"),
        "{first}"
    );
    assert!(dir.path().join("out/cache.sqlite").exists());
    // Another output directory with the same cache: every translation is a hit, and the
    // model translates nothing.
    let (second, b2) = run("again", &["--cache", "out/cache.sqlite"]);
    assert!(
        second.contains("95 sentences, 0 translated, ")
            && second.contains("0 tokens/s, cache 95 hits of 95 (100%)"),
        "{second}"
    );
    // The flags come back from the cache with the translations.
    let flagged = |log: &str| {
        let at = log.find(" flagged,").expect("a flagged count");
        log[..at].rsplit(' ').next().unwrap().to_string()
    };
    assert_eq!(flagged(&first), flagged(&second));
    assert!(!dir.path().join("again/cache.sqlite").exists());
    assert_eq!(b1, b2);
    // --no-cache translates again and touches no cache.
    let (third, b3) = run("third", &["--no-cache"]);
    assert!(
        third.contains("95 translated") && third.contains("no cache lookups"),
        "{third}"
    );
    assert!(!dir.path().join("third/cache.sqlite").exists());
    assert_eq!(b1, b3);
}

/// A generation limit too small for the seed sentences: every translation it cuts is
/// flagged in briefing.json, reported on stderr with its article's file, and a summary or
/// overview sentence resting on one is marked in the Markdown and HTML briefings.
#[test]
fn flagged_translations_are_marked_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    let res = warta(dir.path())
        .args([
            "-v",
            "brief",
            "--out",
            "out",
            "--max-new-tokens",
            "3",
            "--models",
        ])
        .arg(&models)
        .arg(&articles)
        .output()
        .unwrap();
    let err = exited(&res, 0);
    assert!(
        err.contains("000_cfc653e25564df65.txt: sentence ")
            && err.contains("translation flagged: truncated"),
        "{err}"
    );
    let b: Briefing = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/briefing.json")).unwrap(),
    )
    .unwrap();
    let truncated = warta::translate::Flag::Truncated;
    let sentences: Vec<_> = b.articles.iter().flat_map(|a| &a.sentences).collect();
    let cut = sentences
        .iter()
        .filter(|s| s.flags.contains(&truncated))
        .count();
    assert!(cut * 2 > sentences.len(), "{cut} of {}", sentences.len());
    let log_count: usize = {
        let at = err.find(" flagged,").expect("a flagged count");
        err[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(log_count >= cut, "{log_count} flagged, {cut} truncated");
    // Every statement's flags are its cited sentences' flags.
    let marked: Vec<_> = b
        .articles
        .iter()
        .flat_map(|a| a.summary.iter().map(move |s| (a, s)))
        .filter(|(a, s)| {
            let mut expect: Vec<_> = s
                .citations
                .iter()
                .flat_map(|id| a.sentence(id).unwrap().flags.clone())
                .collect();
            expect.sort();
            expect.dedup();
            assert_eq!(s.flags, expect, "{}", s.text);
            !s.flags.is_empty()
        })
        .collect();
    assert!(!marked.is_empty());
    let md = std::fs::read_to_string(dir.path().join("out/briefing.md")).unwrap();
    assert_eq!(
        md.matches("⚠ *(Translation flagged:").count(),
        marked.len() + b.overview.iter().filter(|s| !s.flags.is_empty()).count(),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("out/briefing.html")).unwrap();
    assert!(
        html.contains("<span class=\"flag\" tabindex=\"0\" role=\"note\" title=\"Translation flagged: the translation stopped at the length limit"),
        "{html}"
    );
}

/// An article that gives no summary (here: no sentence has English text) is that
/// article's failure, with the reason, not a silent gap in the briefing.
#[test]
fn an_article_without_a_summary_fails_with_the_reason() {
    use warta::pipeline::{articles::brief_window, BriefSettings, Engines};
    let embedder =
        warta::summarize::Embedder::load(common::minilm(), &candle_core::Device::Cpu).unwrap();
    let good = en_article();
    let mut blank = en_article();
    blank.id = "blank".into();
    for p in &mut blank.paragraphs {
        for s in &mut p.sentences {
            s.text = " ".into();
        }
    }
    let (records, _) = brief_window(
        &[blank, good],
        &mut Engines {
            translator: None,
            embedder: &embedder,
            writer: None,
            nli: None,
            cache: None,
        },
        &BriefSettings::default(),
        &mut Default::default(),
    )
    .unwrap();
    let err = records[0].as_ref().unwrap_err().to_string();
    assert!(err.starts_with("no summary: "), "{err}");
    assert!(err.contains("English translation"), "{err}");
    assert!(!records[1].as_ref().unwrap().brief.summary.is_empty());
}

/// `summarize` translates nothing, so its models file needs no [translation]; a command
/// that translates says what to add.
#[test]
fn summarize_needs_no_translation_model() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models.toml");
    std::fs::write(
        &models,
        format!("[embedding]\nmodel = {:?}\n", common::minilm()),
    )
    .unwrap();
    let (_, b) = summarize_en(dir.path(), &models, &[]);
    assert!(!b.articles[0].summary.is_empty());
    std::fs::write(dir.path().join("id.txt"), "Rusia menyerang.\n").unwrap();
    let out = warta(dir.path())
        .args(["translate", "id.txt", "--models"])
        .arg(&models)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no [translation] section"), "{err}");
    assert!(err.contains("--model"), "{err}");
}

/// The overview shows sentences of many articles side by side, so each must stand alone:
/// on English articles of our own (one an English rendering of seed 002, whose quotes
/// "However, I suggest we continue…" the overview used to pick), no overview sentence
/// opens with a connective, has a bare pronoun subject, speaks in the first person or
/// quotes without naming the speaker.
#[test]
fn every_overview_sentence_stands_alone() {
    use warta::summarize::standalone::leans;
    let dir = tempfile::tempdir().unwrap();
    let models = models_toml(dir.path());
    let english = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/english");
    let (_, b) = summarize(dir.path(), &models, &english, &[]);
    assert_eq!(b.articles.len(), 3);
    assert!(b.overview.len() >= 3, "{:?}", b.overview);
    for s in &b.overview {
        assert_eq!(leans(&s.text), None, "{:?}", s.text);
    }
    // Every article's sentences that lean have been met: each summary that holds one
    // still has an overview candidate that stands alone, or none.
    let leaning: Vec<&str> = b
        .articles
        .iter()
        .flat_map(|a| &a.sentences)
        .map(|s| s.translation.as_str())
        .filter(|t| leans(t).is_some())
        .collect();
    assert!(
        leaning.len() >= 6,
        "the articles test what they should: {leaning:?}"
    );
}

/// Every model a run needs is looked for before any is loaded: `--summarizer llm` with no
/// `[summarizer] model` fails on that, not on the translation model named before it (here a
/// directory that does not exist).
#[test]
fn a_missing_summariser_model_fails_before_any_model_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models.toml");
    std::fs::write(
        &models,
        format!(
            "[translation]\nmodel = \"./no-such-model\"\n[embedding]\nmodel = {:?}\n",
            common::minilm()
        ),
    )
    .unwrap();
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/articles");
    let out = warta(dir.path())
        .args(["brief", "--summarizer", "llm", "--out", "out", "--models"])
        .arg(&models)
        .arg(&articles)
        .output()
        .unwrap();
    let err = exited(&out, 1);
    assert!(err.contains("[summarizer]"), "{err}");
    assert!(!err.contains("no-such-model"), "{err}");
    assert!(!dir.path().join("out/articles.jsonl").exists());
}

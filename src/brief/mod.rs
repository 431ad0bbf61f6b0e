//! Rendering: a [`Briefing`] into `briefing.json`, `briefing.md` and `briefing.html` in an
//! output directory.
pub mod briefing;
pub mod html;
pub mod markdown;

pub use briefing::{
    ArticleBrief, Briefing, ModelRef, Models, SentenceOut, Settings, SummarizerRef,
};

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use crate::output::{write_atomic, WriteError};

/// Writes `briefing.json`, `briefing.md` and `briefing.html` into `dir`, each atomically.
pub fn write(dir: &Path, b: &Briefing) -> Result<(), WriteError> {
    let mut json = serde_json::to_string_pretty(b).expect("a briefing always serialises");
    json.push('\n');
    write_atomic(&dir.join("briefing.json"), json.as_bytes())?;
    write_pages(dir, b)
}

/// Writes `briefing.md` and `briefing.html` into `dir`, each atomically. They show only
/// summaries and cited sentences, so `b` may hold only those.
pub fn write_pages(dir: &Path, b: &Briefing) -> Result<(), WriteError> {
    write_atomic(&dir.join("briefing.md"), markdown::render(b).as_bytes())?;
    write_atomic(&dir.join("briefing.html"), html::render(b).as_bytes())
}

/// Writes `briefing.json` as [`write`] does, for the briefing `shell` with `articles` in
/// place of its own, taking them one at a time so they need not all be in memory.
pub fn write_json(
    w: &mut dyn Write,
    shell: &Briefing,
    articles: &mut dyn Iterator<Item = std::io::Result<ArticleBrief>>,
) -> std::io::Result<()> {
    let empty = Briefing {
        articles: Vec::new(),
        ..shell.clone()
    };
    let json = serde_json::to_string_pretty(&empty).expect("a briefing always serialises");
    let marker = "\"articles\": []";
    let at = json.find(marker).expect("the articles field is written");
    w.write_all(&json.as_bytes()[..at])?;
    w.write_all(b"\"articles\": [")?;
    let mut any = false;
    for a in articles {
        let a = serde_json::to_string_pretty(&a?).expect("an article always serialises");
        w.write_all(if any { b",\n" } else { b"\n" })?;
        for (i, line) in a.lines().enumerate() {
            if i > 0 {
                w.write_all(b"\n")?;
            }
            w.write_all(b"    ")?;
            w.write_all(line.as_bytes())?;
        }
        any = true;
    }
    w.write_all(if any { b"\n  ]" } else { b"]" })?;
    w.write_all(&json.as_bytes()[at + marker.len()..])?;
    w.write_all(b"\n")
}

/// Each sentence of the briefing by id.
pub(crate) fn sentences_by_id(b: &Briefing) -> HashMap<&str, &SentenceOut> {
    b.articles
        .iter()
        .flat_map(|a| a.sentences.iter())
        .map(|s| (s.id.as_str(), s))
        .collect()
}

/// Every cited sentence id, in order of first use (overview, then each article's summary).
pub(crate) fn cited_ids(b: &Briefing) -> Vec<String> {
    let mut seen = HashSet::new();
    b.overview
        .iter()
        .chain(b.articles.iter().flat_map(|a| a.summary.iter()))
        .flat_map(|s| s.citations.iter())
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// A distinct label for each id: `base(id)`, with `-2`, `-3`, … added where two ids would
/// give the same label (compared case-insensitively when `fold_case`, as Markdown
/// footnote labels are).
pub(crate) fn labels(
    ids: &[String],
    base: fn(&str) -> String,
    fold_case: bool,
) -> HashMap<String, String> {
    let norm = |l: &str| {
        if fold_case {
            l.to_lowercase()
        } else {
            l.to_string()
        }
    };
    let mut taken = HashSet::new();
    let mut out = HashMap::new();
    for id in ids {
        let first = base(id);
        let label = std::iter::once(first.clone())
            .chain((2..).map(|n| format!("{first}-{n}")))
            .find(|l| !taken.contains(&norm(l)))
            .expect("some suffix is free");
        taken.insert(norm(&label));
        out.insert(id.clone(), label);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summarize::cite::{CitationQuality, Statement};

    fn briefing(ids: &[&str], text: &str) -> Briefing {
        let articles = ids
            .iter()
            .map(|id| {
                let article = id.rsplit_once(':').unwrap().0.to_string();
                ArticleBrief {
                    id: article.clone(),
                    source: "s".into(),
                    title: None,
                    title_en: None,
                    date: None,
                    outlet: None,
                    sentences: vec![SentenceOut {
                        id: id.to_string(),
                        text: text.into(),
                        translation: text.into(),
                        score: 0.0,
                    }],
                    summary: vec![Statement {
                        text: text.into(),
                        citations: vec![id.to_string()],
                        support: vec![1.0],
                    }],
                    citation_quality: CitationQuality {
                        precision: 1.0,
                        recall: 1.0,
                    },
                }
            })
            .collect();
        Briefing {
            generated_at: "now".into(),
            models: Models {
                translation: None,
                embedding: ModelRef {
                    id: "e".into(),
                    revision: None,
                },
                summarizer: SummarizerRef {
                    kind: "extractive".into(),
                    id: None,
                    revision: None,
                },
                nli: None,
            },
            settings: Settings {
                sentences: 3,
                max_words: 80,
                support_threshold: 0.6,
                beams: None,
            },
            articles,
            overview: Vec::new(),
        }
    }

    #[test]
    fn streamed_json_is_the_pretty_json() {
        for ids in [&[][..], &["a:1"][..], &["a:1", "b:1", "c:1"][..]] {
            let b = briefing(ids, "Teks \"x\"\nbaris.");
            let mut streamed = Vec::new();
            let mut articles = b.articles.clone().into_iter().map(Ok);
            write_json(&mut streamed, &b, &mut articles).unwrap();
            let mut whole = serde_json::to_string_pretty(&b).unwrap();
            whole.push('\n');
            assert_eq!(String::from_utf8(streamed).unwrap(), whole);
        }
    }

    #[test]
    fn ids_that_would_share_a_label_get_distinct_ones() {
        let b = briefing(&["a b:1", "a-b:1", "Berita:1", "berita:1"], "Teks.");
        let md = markdown::render(&b);
        for label in [
            "[^a-b:1]: ",
            "[^a-b:1-2]: ",
            "[^Berita:1]: ",
            "[^berita:1-2]: ",
        ] {
            assert_eq!(md.matches(label).count(), 1, "{label} in\n{md}");
        }
        let html = html::render(&b);
        assert!(html.contains("id=\"s-a-b:1\"") && html.contains("id=\"s-a-b:1-2\""));
        assert!(html.contains("id=\"s-Berita:1\"") && html.contains("id=\"s-berita:1\""));
    }

    #[test]
    fn article_text_cannot_break_out_of_the_page_or_the_markdown() {
        let nasty = "<!--<script>alert(1)</script> & \"quote\"\n# heading\n- item";
        let b = briefing(&["x:1"], nasty);
        let html = html::render(&b);
        assert!(!html.contains("<!--") && !html.contains("alert(1)</script>"));
        assert_eq!(
            html.matches("<script").count(),
            2,
            "only the page's own two scripts"
        );
        let md = markdown::render(&b);
        assert!(!md
            .lines()
            .any(|l| l.starts_with("# heading") || l.starts_with("- item")));
    }
}

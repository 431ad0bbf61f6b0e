//! Rendering: a briefing into `briefing.json`, `briefing.md` and `briefing.html` in an
//! output directory, written article by article as the articles come, so a briefing of a
//! million articles is never held in memory.
pub mod briefing;
pub mod html;
pub mod json;
mod labels;
pub mod markdown;

pub use briefing::{
    day_range, sentence_in, ArticleBrief, Briefing, ModelRef, Models, SentenceOut, Settings,
    SummarizerRef,
};

use std::collections::HashSet;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::output::{AtomicFile, WriteError};
use crate::summarize::cite::Statement;
use crate::text::SentenceId;

/// What the pages need before the first article.
pub struct Head<'a> {
    /// The briefing without its articles (its overview, models, settings and time).
    pub shell: &'a Briefing,
    /// How many articles will come.
    pub articles: usize,
    /// The first and last day they are dated, when any is.
    pub range: Option<(String, String)>,
}

impl<'a> Head<'a> {
    /// The head of a briefing held whole.
    pub fn of(b: &'a Briefing) -> Self {
        Self {
            shell: b,
            articles: b.articles.len(),
            range: b.date_range(),
        }
    }

    /// The days the articles span, as the pages say it: one day, `FROM to TO`, or
    /// `undated`.
    pub fn span(&self) -> String {
        match &self.range {
            Some((from, to)) if from == to => from.clone(),
            Some((from, to)) => format!("{from} to {to}"),
            None => "undated".to_string(),
        }
    }
}

/// Copies a writer's scratch file, from its start, to the end of `out`.
fn append(out: &mut impl Write, scratch: BufWriter<File>) -> io::Result<()> {
    let mut file = scratch.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    io::copy(&mut file, out).map(drop)
}

/// Why a statement is marked: the reasons of its flags, or None when it has none.
pub(crate) fn flag_reason(flags: &[crate::translate::Flag]) -> Option<String> {
    (!flags.is_empty()).then(|| {
        let reasons: Vec<&str> = flags.iter().map(|f| f.reason()).collect();
        format!("Translation flagged: {}.", reasons.join("; "))
    })
}

/// A sentence id hashed, for the sets of the ids the overview cites: an overview can cite
/// a sentence of every article, so they are not kept whole. (Two ids of one hash, a
/// chance of about n²/2⁶⁵, would share a footnote and a number.)
pub(crate) fn key(id: &SentenceId) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The ids the overview cites, each once, in order of first citation: the order in which
/// [`Writer::overview_source`] takes their sentences.
pub fn overview_sources(overview: &[Statement]) -> impl Iterator<Item = &SentenceId> {
    let mut seen = HashSet::new();
    overview
        .iter()
        .flat_map(|s| s.citations.iter())
        .filter(move |id| seen.insert(*id))
}

/// The three briefing files of a directory, being written.
pub struct Writer<'a> {
    dir: PathBuf,
    json: json::JsonWriter<'a, AtomicFile>,
    markdown: markdown::MarkdownWriter<AtomicFile>,
    html: html::HtmlWriter<AtomicFile>,
}

const JSON: &str = "briefing.json";
const MARKDOWN: &str = "briefing.md";
const HTML: &str = "briefing.html";

impl<'a> Writer<'a> {
    /// Starts the files in `dir`; `ids` are the ids of all the articles to come, in order.
    pub fn create<'i>(
        dir: &Path,
        head: &Head<'a>,
        ids: impl Iterator<Item = &'i str> + Clone,
    ) -> Result<Self, WriteError> {
        let fail = |name: &'static str| move |source| fail(&dir.join(name), source);
        let scratch = |name: &'static str| tempfile::tempfile_in(dir).map_err(fail(name));
        let file = AtomicFile::create(&dir.join(JSON))?;
        let json = json::JsonWriter::new(file, head.shell).map_err(fail(JSON))?;
        let file = AtomicFile::create(&dir.join(MARKDOWN))?;
        let markdown = markdown::MarkdownWriter::new(file, head, ids.clone(), scratch(MARKDOWN)?)
            .map_err(fail(MARKDOWN))?;
        let file = AtomicFile::create(&dir.join(HTML))?;
        let scratch = [
            scratch(HTML)?,
            scratch(HTML)?,
            scratch(HTML)?,
            scratch(HTML)?,
        ];
        let html = html::HtmlWriter::new(file, head, ids, scratch).map_err(fail(HTML))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            json,
            markdown,
            html,
        })
    }

    /// Writes the source of a sentence the overview cites: each that is known, in the order
    /// of [`overview_sources`], before the first article.
    pub fn overview_source(&mut self, s: &SentenceOut) -> Result<(), WriteError> {
        let dir = &self.dir;
        self.markdown
            .overview_source(s)
            .map_err(|e| fail(&dir.join(MARKDOWN), e))?;
        self.html
            .overview_source(s)
            .map_err(|e| fail(&dir.join(HTML), e))
    }

    /// Writes the next article into each file.
    pub fn article(&mut self, a: &ArticleBrief) -> Result<(), WriteError> {
        let dir = &self.dir;
        self.json.article(a).map_err(|e| fail(&dir.join(JSON), e))?;
        self.markdown
            .article(a)
            .map_err(|e| fail(&dir.join(MARKDOWN), e))?;
        self.html.article(a).map_err(|e| fail(&dir.join(HTML), e))
    }

    /// Finishes the files and puts each in place.
    pub fn finish(self) -> Result<(), WriteError> {
        let dir = &self.dir;
        let done = |file: std::io::Result<AtomicFile>, name: &str| {
            file.map_err(|e| fail(&dir.join(name), e))?.commit()
        };
        done(self.json.finish(), JSON)?;
        done(self.markdown.finish(), MARKDOWN)?;
        done(self.html.finish(), HTML)
    }
}

fn fail(path: &Path, source: std::io::Error) -> WriteError {
    WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `briefing.json`, `briefing.md` and `briefing.html` of `b` into `dir`, each
/// atomically.
pub fn write(dir: &Path, b: &Briefing) -> Result<(), WriteError> {
    let head = Head::of(b);
    let mut writer = Writer::create(dir, &head, b.articles.iter().map(|a| a.id.as_str()))?;
    for id in overview_sources(&b.overview) {
        if let Some((_, s)) = b.sentence(id) {
            writer.overview_source(s)?;
        }
    }
    for a in &b.articles {
        writer.article(a)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summarize::cite::{CitationQuality, Statement};

    fn briefing(ids: &[&str], text: &str) -> Briefing {
        let articles = ids
            .iter()
            .map(|id| {
                let id: SentenceId = id.parse().unwrap();
                let article = id.article.clone();
                ArticleBrief {
                    id: article.clone(),
                    source: "s".into(),
                    title: None,
                    title_en: None,
                    date: None,
                    outlet: None,
                    sentences: vec![SentenceOut {
                        id: id.clone(),
                        text: text.into(),
                        translation: text.into(),
                        score: 0.0,
                        flags: Vec::new(),
                    }],
                    summary: vec![Statement {
                        text: text.into(),
                        citations: vec![id],
                        support: vec![1.0],
                        judged: vec![false],
                        flags: Vec::new(),
                    }],
                    citation_quality: CitationQuality {
                        precision: None,
                        recall: None,
                        judged: 0,
                    },
                }
            })
            .collect();
        Briefing::for_tests(articles)
    }

    /// The three files `write` makes of `b`: JSON, Markdown, HTML.
    fn files(b: &Briefing) -> [String; 3] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), b).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.len(),
            3,
            "no scratch or temporary file is left: {names:?}"
        );
        [JSON, MARKDOWN, HTML].map(|n| std::fs::read_to_string(dir.path().join(n)).unwrap())
    }

    #[test]
    fn streamed_json_is_the_pretty_json() {
        for ids in [&[][..], &["a:1"][..], &["a:1", "b:1", "c:1"][..]] {
            for statements in [0, 1, 2] {
                let mut b = briefing(ids, "Teks \"x\"\nbaris.");
                b.overview = (0..statements)
                    .map(|i| Statement {
                        text: format!("Overview {i}."),
                        citations: ids.iter().map(|id| id.parse().unwrap()).collect(),
                        support: vec![0.5; ids.len()],
                        judged: vec![true; ids.len()],
                        flags: Vec::new(),
                    })
                    .collect();
                let mut whole = serde_json::to_string_pretty(&b).unwrap();
                whole.push('\n');
                assert_eq!(files(&b)[0], whole);
            }
        }
    }

    #[test]
    fn each_cited_sentence_is_listed_once_in_order_of_first_use() {
        let mut b = briefing(&["a:1", "b:1", "c:1"], "Teks.");
        b.articles[1].sentences[0].translation = "Second.".into();
        b.articles[2].sentences[0].translation = "Third.".into();
        b.overview = vec![Statement {
            text: "Shared.".into(),
            citations: vec![SentenceId::new("c", 1), SentenceId::new("b", 1)],
            support: vec![1.0, 1.0],
            judged: vec![false, true],
            flags: Vec::new(),
        }];
        let [_, md, html] = files(&b);
        // Markdown: one note each, the overview's first (c, b), then a's.
        let notes: Vec<&str> = md.lines().filter(|l| l.starts_with("[^")).collect();
        assert_eq!(
            notes,
            [
                "[^c:1]: Third. — *Teks.*",
                "[^b:1]: Second. — *Teks.*",
                "[^a:1]: Teks. — *Teks.*"
            ]
        );
        assert!(md.contains("- Shared.[^c:1][^b:1]\n"), "{md}");
        // HTML: numbers by first use, the same number wherever a sentence is cited again.
        assert!(html.contains("<li>Shared.<a class=\"cite\" href=\"#s-c:1\" data-id=\"c:1\">[1]</a><a class=\"cite\" href=\"#s-b:1\" data-id=\"b:1\">[2]</a></li>"), "{html}");
        assert!(html.contains("data-id=\"a:1\">[3]</a>"));
        assert_eq!(html.matches("data-id=\"b:1\">[2]</a>").count(), 2);
        let sources: Vec<&str> = html
            .match_indices("<li id=\"s-")
            .map(|(i, _)| &html[i + 10..i + 13])
            .collect();
        assert_eq!(sources, ["c:1", "b:1", "a:1"]);
        let data = html
            .split("id=\"sentences\">")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next()
            .unwrap();
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["b:1"]["en"], "Second.");
        assert_eq!(data.as_object().unwrap().len(), 3);
    }

    #[test]
    fn ids_that_would_share_a_label_get_distinct_ones() {
        let b = briefing(&["a b:1", "a-b:1", "Berita:1", "berita:1"], "Teks.");
        let [_, md, html] = files(&b);
        for label in [
            "[^a-b:1]: ",
            "[^a-b:1-2]: ",
            "[^Berita:1]: ",
            "[^berita:1-2]: ",
        ] {
            assert_eq!(md.matches(label).count(), 1, "{label} in\n{md}");
        }
        assert!(html.contains("id=\"s-a-b:1\"") && html.contains("id=\"s-a-b:1-2\""));
        assert!(html.contains("id=\"s-Berita:1\"") && html.contains("id=\"s-berita:1\""));
    }

    #[test]
    fn article_text_cannot_break_out_of_the_page_or_the_markdown() {
        let nasty = "<!--<script>alert(1)</script> & \"quote\"\n# heading\n- item";
        let b = briefing(&["x:1"], nasty);
        let [_, md, html] = files(&b);
        assert!(!html.contains("<!--") && !html.contains("alert(1)</script>"));
        assert_eq!(
            html.matches("<script").count(),
            2,
            "only the page's own two scripts"
        );
        assert!(!md
            .lines()
            .any(|l| l.starts_with("# heading") || l.starts_with("- item")));
    }
}

//! `briefing.html`: one self-contained page (no network: inline CSS and script), readable
//! on a phone. A timeline lists the articles by date; the overview and each article's
//! summary follow. A citation is a link to its sentence in the sources list at the end;
//! with script on, hovering or tapping it opens a card with the sentence in English and
//! Indonesian.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use super::labels::Labels;
use super::{ArticleBrief, Head, SentenceOut};
use crate::text::SentenceId;

/// Text escaped for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The element id of a cited sentence (`s-` and the sentence id, with anything outside
/// letters, digits, `-`, `_`, `:` and `.` replaced by `-`).
pub fn anchor(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("s-{safe}")
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --accent: #1f6feb; --muted: #6e7781; --card: #fff; --line: #d0d7de; }
@media (prefers-color-scheme: dark) { :root { --card: #161b22; --line: #30363d; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 46rem; padding: 1rem; font: 17px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.6rem; margin: .2rem 0; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .2rem; }
.meta { color: var(--muted); font-size: .9rem; }
ol.timeline { list-style: none; padding: 0 0 0 1rem; border-left: 3px solid var(--accent); }
ol.timeline li { margin: .4rem 0; } ol.timeline time { display: inline-block; min-width: 6.5rem; font-variant-numeric: tabular-nums; color: var(--muted); }
a.cite { text-decoration: none; font-size: .75em; vertical-align: super; padding: 0 .15em; color: var(--accent); }
#card { position: fixed; left: .5rem; right: .5rem; bottom: .5rem; max-width: 40rem; margin: 0 auto; background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .8rem 1rem; box-shadow: 0 4px 18px rgba(0,0,0,.25); }
#card[hidden] { display: none; } #card .id { color: var(--muted); font-size: .8rem; } #card .src { font-style: italic; }
ol.sources li { margin: .5rem 0; } ol.sources .src { font-style: italic; color: var(--muted); }
ol.sources li:target { background: rgba(31,111,235,.12); }
.flag { color: #bf8700; cursor: help; padding: 0 .2em; }
"#;

const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('sentences').textContent);
  var card = document.getElementById('card');
  function show(link) {
    var s = data[link.dataset.id];
    if (!s) return;
    card.querySelector('.id').textContent = link.dataset.id;
    card.querySelector('.en').textContent = s.en;
    card.querySelector('.src').textContent = s.id;
    card.hidden = false;
  }
  document.querySelectorAll('a.cite').forEach(function (a) {
    a.addEventListener('mouseenter', function () { show(a); });
    a.addEventListener('click', function (e) { e.preventDefault(); show(a); });
  });
  document.querySelectorAll('.flag').forEach(function (f) {
    function why(e) {
      if (e) e.preventDefault();
      card.querySelector('.id').textContent = '';
      card.querySelector('.en').textContent = f.dataset.why;
      card.querySelector('.src').textContent = '';
      card.hidden = false;
    }
    f.addEventListener('mouseenter', function () { why(); });
    f.addEventListener('click', why);
  });
  card.addEventListener('click', function () { card.hidden = true; });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') card.hidden = true; });
})();
"#;

/// Marks a statement whose translation is flagged: a sign, with the reason shown on hover
/// (its title) and on tap (the card).
fn mark(flags: &[crate::translate::Flag], text: &mut String) {
    if let Some(why) = super::flag_reason(flags) {
        let _ = write!(
            text,
            "<span class=\"flag\" tabindex=\"0\" role=\"note\" title=\"{0}\" data-why=\"{0}\">⚠</span>",
            esc(&why)
        );
    }
}

/// Writes `briefing.html` to `out` as the articles come. The timeline goes straight out;
/// the overview (which follows it), the articles, the sources list and the sentences' data
/// go to scratch files until [`HtmlWriter::finish`] puts the page together, so no article
/// is held.
pub struct HtmlWriter<W: Write> {
    out: W,
    overview: BufWriter<File>,
    articles: BufWriter<File>,
    sources: BufWriter<File>,
    data: BufWriter<File>,
    anchors: Labels,
    /// The numbers of the sentences the overview cites (by [`super::key`]), and the next
    /// number.
    numbers: HashMap<u64, usize>,
    next: usize,
    /// Whether the sentences' data has an entry yet.
    data_started: bool,
}

impl<W: Write> HtmlWriter<W> {
    /// Writes everything before the first article. `ids` are the ids of all the articles
    /// to come; `scratch` are four scratch files.
    pub fn new<'a>(
        mut out: W,
        head: &Head,
        ids: impl Iterator<Item = &'a str>,
        scratch: [File; 4],
    ) -> io::Result<Self> {
        let n = head.articles;
        write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Briefing · {range}</title><style>{STYLE}</style></head><body>\
             <header><h1>Briefing</h1><p class=\"meta\">{n} article{} · {range}</p></header>\
             <section><h2>Timeline</h2><ol class=\"timeline\">",
            if n == 1 { "" } else { "s" },
            range = esc(&head.span()),
        )?;
        let [overview, articles, sources, data] = scratch.map(BufWriter::new);
        let mut me = Self {
            out,
            overview,
            articles,
            sources,
            data,
            anchors: Labels::new(ids, anchor, false),
            numbers: HashMap::new(),
            next: 1,
            data_started: false,
        };
        if !head.shell.overview.is_empty() {
            me.overview.write_all(b"<section><h2>Overview</h2><ul>")?;
            for s in &head.shell.overview {
                let mut text = format!("<li>{}", esc(&s.text));
                for id in &s.citations {
                    let n = match me.numbers.get(&super::key(id)) {
                        Some(&n) => n,
                        None => {
                            let n = me.number(None)?;
                            me.numbers.insert(super::key(id), n);
                            n
                        }
                    };
                    me.cite(id, n, &mut text);
                }
                mark(&s.flags, &mut text);
                text.push_str("</li>");
                me.overview.write_all(text.as_bytes())?;
            }
            me.overview.write_all(b"</ul></section>")?;
        }
        Ok(me)
    }

    /// Lists a sentence the overview cites among the sources: each once, in order of
    /// first citation, before the first article.
    pub fn overview_source(&mut self, s: &SentenceOut) -> io::Result<()> {
        self.source(s)
    }

    /// Writes the next article.
    pub fn article(&mut self, a: &ArticleBrief) -> io::Result<()> {
        let day = a.day().unwrap_or("undated");
        let (anchor, heading) = (esc(&anchor(&a.id)), esc(a.heading()));
        write!(
            self.out,
            "<li><time>{}</time> <a href=\"#a-{anchor}\">{heading}</a></li>",
            esc(day)
        )?;
        let mut text = format!("<article id=\"a-{anchor}\"><h3>{heading}</h3>");
        let meta: Vec<String> = a.byline().map(esc).collect();
        if !meta.is_empty() {
            let _ = write!(text, "<p class=\"meta\">{}</p>", meta.join(" · "));
        }
        text.push_str("<p>");
        let mut numbers: HashMap<&SentenceId, usize> = HashMap::new();
        for (i, s) in a.summary.iter().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(&esc(&s.text));
            for id in &s.citations {
                let n = match self.numbers.get(&super::key(id)).or(numbers.get(id)) {
                    Some(&n) => n,
                    None => {
                        let n = self.number(a.sentence(id))?;
                        numbers.insert(id, n);
                        n
                    }
                };
                self.cite(id, n, &mut text);
            }
            mark(&s.flags, &mut text);
        }
        text.push_str("</p></article>");
        self.articles.write_all(text.as_bytes())
    }

    /// Puts the page together; returns the finished output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"</ol></section>")?;
        super::append(&mut self.out, self.overview)?;
        self.out.write_all(b"<section><h2>Articles</h2>")?;
        super::append(&mut self.out, self.articles)?;
        self.out
            .write_all(b"</section><section><h2>Sources</h2><ol class=\"sources\">")?;
        super::append(&mut self.out, self.sources)?;
        self.out.write_all(
            b"</ol></section><div id=\"card\" role=\"dialog\" hidden><div class=\"id\"></div>\
              <div class=\"en\"></div><div class=\"src\"></div></div>\
              <script type=\"application/json\" id=\"sentences\">{",
        )?;
        super::append(&mut self.out, self.data)?;
        writeln!(
            self.out,
            "}}</script><script>{SCRIPT}</script></body></html>"
        )?;
        Ok(self.out)
    }

    /// The next number, for a sentence cited for the first time; the sentence (when it is
    /// known) is listed among the sources.
    fn number(&mut self, sentence: Option<&SentenceOut>) -> io::Result<usize> {
        let n = self.next;
        self.next += 1;
        if let Some(s) = sentence {
            self.source(s)?;
        }
        Ok(n)
    }

    /// Lists a sentence among the sources, and its card's data.
    fn source(&mut self, s: &SentenceOut) -> io::Result<()> {
        write!(
            self.sources,
            "<li id=\"{}\">{}<br><span class=\"src\">{}</span></li>",
            esc(&self.anchors.label(&s.id)),
            esc(&s.translation),
            esc(&s.text)
        )?;
        // Inside <script>, "</script" and "<!--" change how the page is parsed; with <, >
        // and & written as JSON escapes, no text can.
        let entry = format!(
            "{}{}:{}",
            if self.data_started { "," } else { "" },
            serde_json::Value::from(s.id.to_string()),
            serde_json::json!({"en": s.translation, "id": s.text})
        )
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
        self.data.write_all(entry.as_bytes())?;
        self.data_started = true;
        Ok(())
    }

    fn cite(&mut self, id: &SentenceId, n: usize, text: &mut String) {
        let _ = write!(
            text,
            "<a class=\"cite\" href=\"#{}\" data-id=\"{}\">[{n}]</a>",
            esc(&self.anchors.label(id)),
            esc(&id.to_string())
        );
    }
}

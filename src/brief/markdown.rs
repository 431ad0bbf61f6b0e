//! `briefing.md`: a title, the date range, the overview, then each article's English
//! title, outlet, date and summary. Citations are Markdown footnotes `[^{sentence id}]`,
//! each defined once at the end as the English sentence followed by the Indonesian
//! original.
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use super::labels::Labels;
use super::{ArticleBrief, Head, SentenceOut};
use crate::text::SentenceId;

/// Text with Markdown's active characters escaped and its whitespace (line breaks
/// included) collapsed, so no text can start a heading, list or rule.
fn escape(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A footnote label for a sentence id: the id itself, with anything a label cannot hold
/// (spaces, brackets, carets) replaced by `-`.
pub fn label(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_whitespace() || matches!(c, '[' | ']' | '^') {
                '-'
            } else {
                c
            }
        })
        .collect()
}

/// Marks a statement whose translation is flagged: a sign and the reason, in words.
fn mark(flags: &[crate::translate::Flag], text: &mut String) {
    if let Some(why) = super::flag_reason(flags) {
        let _ = write!(text, " ⚠ *({})*", escape(&why));
    }
}

/// Writes `briefing.md` to `out` as the articles come. Footnote definitions go to a
/// scratch file until [`MarkdownWriter::finish`] appends them, so no article is held.
pub struct MarkdownWriter<W: Write> {
    out: W,
    notes: BufWriter<File>,
    labels: Labels,
    /// The sentences the overview cites, by [`super::key`] (their notes come before the
    /// articles').
    overview: HashSet<u64>,
}

impl<W: Write> MarkdownWriter<W> {
    /// Writes everything before the first article. `ids` are the ids of all the articles
    /// to come; `notes` is a scratch file.
    pub fn new<'a>(
        mut out: W,
        head: &Head,
        ids: impl Iterator<Item = &'a str>,
        notes: File,
    ) -> io::Result<Self> {
        let n = head.articles;
        let plural = if n == 1 { "article" } else { "articles" };
        writeln!(out, "# Briefing\n")?;
        writeln!(out, "{n} {plural}, {}\n", head.span())?;
        let mut me = Self {
            out,
            notes: BufWriter::new(notes),
            labels: Labels::new(ids, label, true),
            overview: HashSet::new(),
        };
        let overview = &head.shell.overview;
        if !overview.is_empty() {
            let mut text = String::from("## Overview\n\n");
            for s in overview {
                text.push_str("- ");
                text.push_str(&escape(&s.text));
                for id in &s.citations {
                    me.overview.insert(super::key(id));
                    me.cite(id, None, &mut text)?;
                }
                mark(&s.flags, &mut text);
                text.push('\n');
            }
            writeln!(me.out, "{text}")?;
        }
        writeln!(me.out, "## Articles\n")?;
        Ok(me)
    }

    /// Writes the note of a sentence the overview cites: each once, in order of first
    /// citation, before the first article.
    pub fn overview_source(&mut self, s: &SentenceOut) -> io::Result<()> {
        let label = self.labels.label(&s.id);
        self.note(&label, s)
    }

    /// Writes the next article.
    pub fn article(&mut self, a: &ArticleBrief) -> io::Result<()> {
        let mut text = format!("### {}\n\n", escape(a.heading()));
        let meta: Vec<String> = a.byline().map(escape).collect();
        if !meta.is_empty() {
            let _ = writeln!(text, "*{}*\n", meta.join(" · "));
        }
        let mut seen = HashSet::new();
        for (i, s) in a.summary.iter().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(&escape(&s.text));
            for id in &s.citations {
                let fresh = !self.overview.contains(&super::key(id)) && seen.insert(id);
                let sentence = fresh.then(|| a.sentence(id)).flatten();
                self.cite(id, sentence, &mut text)?;
            }
            mark(&s.flags, &mut text);
        }
        text.push_str("\n\n");
        self.out.write_all(text.as_bytes())
    }

    /// Appends the footnote definitions; returns the finished output.
    pub fn finish(mut self) -> io::Result<W> {
        super::append(&mut self.out, self.notes)?;
        Ok(self.out)
    }

    /// Writes the footnote reference for `id` into `text`, and its definition when this is
    /// its first use (`sentence` is then the sentence, when known).
    fn cite(
        &mut self,
        id: &SentenceId,
        sentence: Option<&SentenceOut>,
        text: &mut String,
    ) -> io::Result<()> {
        let label = self.labels.label(id);
        let _ = write!(text, "[^{label}]");
        match sentence {
            Some(s) => self.note(&label, s),
            None => Ok(()),
        }
    }

    /// Writes the footnote definition of `s`.
    fn note(&mut self, label: &str, s: &SentenceOut) -> io::Result<()> {
        writeln!(
            self.notes,
            "[^{label}]: {} — *{}*",
            escape(&s.translation),
            escape(&s.text)
        )
    }
}

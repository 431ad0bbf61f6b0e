//! `briefing.md`: a title, the date range, the overview, then each article's English
//! title, outlet, date and summary. Citations are Markdown footnotes `[^{sentence id}]`,
//! each defined once at the end as the English sentence followed by the Indonesian
//! original.
use std::fmt::Write;

use super::briefing::Briefing;

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

/// Renders the briefing as Markdown.
pub fn render(b: &Briefing) -> String {
    let used = super::cited_ids(b);
    let labels = super::labels(&used, label, true);
    let sentences = super::sentences_by_id(b);
    let mut out = String::new();
    let cite = |ids: &[String], out: &mut String| {
        for id in ids {
            let _ = write!(out, "[^{}]", labels[id]);
        }
    };
    let _ = writeln!(out, "# Briefing\n");
    let n = b.articles.len();
    let plural = if n == 1 { "article" } else { "articles" };
    match b.date_range() {
        Some((from, to)) if from == to => {
            let _ = writeln!(out, "{n} {plural}, {from}\n");
        }
        Some((from, to)) => {
            let _ = writeln!(out, "{n} {plural}, {from} to {to}\n");
        }
        None => {
            let _ = writeln!(out, "{n} {plural}, undated\n");
        }
    }
    if !b.overview.is_empty() {
        let _ = writeln!(out, "## Overview\n");
        for s in &b.overview {
            let _ = write!(out, "- {}", escape(&s.text));
            cite(&s.citations, &mut out);
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Articles\n");
    for a in &b.articles {
        let _ = writeln!(out, "### {}\n", escape(a.heading()));
        let meta: Vec<String> = a.byline().map(escape).collect();
        if !meta.is_empty() {
            let _ = writeln!(out, "*{}*\n", meta.join(" · "));
        }
        for (i, s) in a.summary.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&escape(&s.text));
            cite(&s.citations, &mut out);
        }
        out.push_str("\n\n");
    }
    for id in &used {
        if let Some(s) = sentences.get(id.as_str()) {
            let _ = writeln!(
                out,
                "[^{}]: {} — *{}*",
                labels[id],
                escape(&s.translation),
                escape(&s.text)
            );
        }
    }
    out
}

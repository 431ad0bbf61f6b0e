//! The article as every later stage sees it: cleaned text, metadata, and sentences with
//! stable ids. Ingest makes it; translation, summaries and briefings read it and cite its
//! sentence ids. This is also the record `warta ingest` writes, one per line.
use serde::{Deserialize, Serialize};

use super::sentence_id::SentenceId;

/// One ingested article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Unique within a run: the file stem or the JSONL `id`.
    pub id: String,
    /// Where it came from: a path, `path:line` for a JSONL record, or `-` for stdin.
    pub source: String,
    pub title: Option<String>,
    /// ISO 8601: `2022-12-07T21:24:00+07:00` when the page gives a time and zone,
    /// `2022-12-07` when it gives a day only, null when it gives none for this article.
    pub date: Option<String>,
    pub outlet: Option<String>,
    pub author: Option<String>,
    /// The dateline city ("MOSKOW -" gives "MOSKOW").
    pub dateline: Option<String>,
    /// The page address, when the input names one.
    pub url: Option<String>,
    /// The cleaned body: paragraphs joined by a blank line. Sentence ranges index into it.
    pub text: String,
    pub paragraphs: Vec<Paragraph>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paragraph {
    pub sentences: Vec<Sentence>,
}

/// A sentence: its id (`{article id}:{n}`, n from 1 in reading order), its text and its
/// byte range in [`Article::text`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    pub id: SentenceId,
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Article {
    /// All sentences in reading order.
    pub fn sentences(&self) -> impl Iterator<Item = &Sentence> {
        self.paragraphs.iter().flat_map(|p| p.sentences.iter())
    }

    /// Where each sentence stands, in reading order: its paragraph's index, and whether it
    /// opens that paragraph.
    pub fn places(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        self.paragraphs
            .iter()
            .enumerate()
            .flat_map(|(p, para)| (0..para.sentences.len()).map(move |k| (p, k == 0)))
    }
}

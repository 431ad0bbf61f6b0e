//! The id of a sentence, `{article id}:{n}`: how a summary cites its source, from ingest
//! to the footnote. Ingest gives it; the sentences, the citations of summaries and the
//! overview, the records and the renderers carry it typed, and find its sentence by its
//! number (`brief::sentence_in`). Only the files hold it as text (the JSON schemas hold a
//! string, the pages a label): this is the one place that writes that text and the one
//! that reads it back.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A sentence of an article: the article's id and the sentence's number, from 1 in
/// reading order (sentence `n` is the article's `n - 1`th, counting from 0).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SentenceId {
    pub article: String,
    pub n: usize,
}

/// Why a text is not a sentence id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentenceIdError {
    #[error("{0:?} is not a sentence id: it has no `:` before the sentence's number")]
    NoNumber(String),
    #[error("{0:?} is not a sentence id: what follows its last `:` is not a number from 1 (written without leading zeros)")]
    BadNumber(String),
}

impl SentenceId {
    pub fn new(article: impl Into<String>, n: usize) -> Self {
        Self {
            article: article.into(),
            n,
        }
    }

    /// Where the sentence stands among its article's sentences, from 0.
    pub fn index(&self) -> Option<usize> {
        self.n.checked_sub(1)
    }
}

impl fmt::Display for SentenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.article, self.n)
    }
}

/// `text` split as a sentence id: the article (all before the last `:`, which an article
/// id may itself hold) and the number after it.
fn split(text: &str) -> Result<(&str, usize), SentenceIdError> {
    let (article, n) = text
        .rsplit_once(':')
        .ok_or_else(|| SentenceIdError::NoNumber(text.to_string()))?;
    // Digits only ("+1" is no id) and no leading zero: the text is the one ingest writes.
    let canonical = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
    match n.parse() {
        Ok(n) if canonical => Ok((article, n)),
        _ => Err(SentenceIdError::BadNumber(text.to_string())),
    }
}

impl FromStr for SentenceId {
    type Err = SentenceIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        split(text).map(|(article, n)| Self::new(article, n))
    }
}

/// An id and its text compare equal when the text is the id written out.
impl PartialEq<str> for SentenceId {
    fn eq(&self, text: &str) -> bool {
        split(text).is_ok_and(|(article, n)| article == self.article && n == self.n)
    }
}

impl PartialEq<&str> for SentenceId {
    fn eq(&self, text: &&str) -> bool {
        *self == **text
    }
}

impl PartialEq<String> for SentenceId {
    fn eq(&self, text: &String) -> bool {
        *self == **text
    }
}

impl Serialize for SentenceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SentenceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_text_and_back() {
        for (text, article, n) in [
            ("a:1", "a", 1),
            ("berita-7:12", "berita-7", 12),
            ("batch.jsonl:3:1", "batch.jsonl:3", 1),
            ("urn:x::2", "urn:x:", 2),
            (":4", "", 4),
            ("Berita é:10", "Berita é", 10),
        ] {
            let id: SentenceId = text.parse().unwrap();
            assert_eq!(id, SentenceId::new(article, n), "{text}");
            assert_eq!(id.to_string(), text);
            assert_eq!(id, text);
            assert_eq!(id.index(), Some(n - 1));
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            assert_eq!(serde_json::from_str::<SentenceId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn text_that_is_not_an_id_is_refused_naming_it() {
        for text in [
            "a", "a:", "a:x", "a:+1", "a:01", "a:0", "a:1 ", "a:-1", "a:1:b",
        ] {
            let e = text.parse::<SentenceId>().unwrap_err();
            assert!(e.to_string().contains(&format!("{text:?}")), "{e}");
            assert_ne!(SentenceId::new("a", 1), text);
            assert!(
                serde_json::from_str::<SentenceId>(&serde_json::to_string(text).unwrap()).is_err()
            );
        }
        assert_eq!(
            "a".parse::<SentenceId>(),
            Err(SentenceIdError::NoNumber("a".into()))
        );
        assert_ne!(SentenceId::new("a", 1), "b:1");
        assert_ne!(SentenceId::new("a", 1), "a:2");
    }

    #[test]
    fn ids_order_by_article_then_number() {
        let mut ids: Vec<SentenceId> = ["b:1", "a:10", "a:2"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        ids.sort();
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["a:2", "a:10", "b:1"]);
    }
}

//! The briefing as data: what `briefing.json` holds and what the Markdown and HTML
//! renderers read. The schema is documented in `docs/briefing.md`.
use serde::{Deserialize, Serialize};

use crate::summarize::cite::{CitationQuality, Statement};
use crate::text::SentenceId;
use crate::translate::Flag;

/// A model as the briefing records it: repo id (or directory) and revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub id: String,
    pub revision: Option<String>,
}

/// The summariser: its kind, and its model when it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummarizerRef {
    pub kind: String,
    pub id: Option<String>,
    pub revision: Option<String>,
}

/// Which models made the briefing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Models {
    /// None when the input was already English (`warta summarize`).
    pub translation: Option<ModelRef>,
    pub embedding: ModelRef,
    pub summarizer: SummarizerRef,
    /// The NLI cross-encoder that judged citations; None when embeddings did.
    #[serde(default)]
    pub nli: Option<ModelRef>,
}

/// The settings that shaped the briefing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub sentences: usize,
    pub max_words: usize,
    pub support_threshold: f32,
    /// The beams the translations used, as resolved (1 when nothing set it); None without
    /// translation.
    pub beams: Option<u32>,
}

/// One source sentence with its English translation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceOut {
    pub id: SentenceId,
    pub text: String,
    pub translation: String,
    /// The translation's mean log-probability per token (0 for text that was not
    /// translated). JSON has no NaN: one is written as null and read back as NaN, so a
    /// record with such a score never stops the assembly of a briefing.
    #[serde(deserialize_with = "null_as_nan")]
    pub score: f32,
    /// What is wrong with the translation, if anything (see [`Flag`]): a summary or
    /// overview sentence resting on it is marked.
    #[serde(default)]
    pub flags: Vec<Flag>,
}

fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

/// One article in the briefing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleBrief {
    pub id: String,
    pub source: String,
    pub title: Option<String>,
    pub title_en: Option<String>,
    pub date: Option<String>,
    pub outlet: Option<String>,
    pub sentences: Vec<SentenceOut>,
    pub summary: Vec<Statement>,
    /// ALCE citation precision and recall of `summary`, judged by the support check.
    pub citation_quality: CitationQuality,
}

/// The sentence of `sentences` (an article's, in order) with this id, found by its
/// number: at its place when they are all the article's sentences, else (a record
/// lightened to a few) by a binary search. None when it names none of them.
pub fn sentence_in<'a>(sentences: &'a [SentenceOut], id: &SentenceId) -> Option<&'a SentenceOut> {
    let at = |i: usize| Some(&sentences[i]).filter(|s| s.id == *id);
    id.index()
        .filter(|&i| i < sentences.len())
        .and_then(at)
        .or_else(|| {
            let i = sentences.binary_search_by_key(&id.n, |s| s.id.n);
            i.ok().and_then(at)
        })
}

impl ArticleBrief {
    /// The sentence with this id (see [`sentence_in`]); None when it names no sentence of
    /// this article's.
    pub fn sentence(&self, id: &SentenceId) -> Option<&SentenceOut> {
        sentence_in(&self.sentences, id)
    }

    /// The heading the pages show: the English title, else the original, else the id.
    pub fn heading(&self) -> &str {
        self.title_en
            .as_deref()
            .or(self.title.as_deref())
            .unwrap_or(&self.id)
    }

    /// The outlet and the date, where known, for the line under the heading.
    pub fn byline(&self) -> impl Iterator<Item = &str> {
        [self.outlet.as_deref(), self.date.as_deref()]
            .into_iter()
            .flatten()
    }

    /// The day it is dated (YYYY-MM-DD), when it is.
    pub fn day(&self) -> Option<&str> {
        self.date.as_deref().and_then(|d| d.get(..10))
    }
}

/// A briefing of many articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Briefing {
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub models: Models,
    pub settings: Settings,
    /// Ordered by date (undated last), then id.
    pub articles: Vec<ArticleBrief>,
    pub overview: Vec<Statement>,
}

impl Briefing {
    /// The sentence a citation names, with its article.
    pub fn sentence(&self, id: &SentenceId) -> Option<(&ArticleBrief, &SentenceOut)> {
        self.articles
            .iter()
            .filter(|a| a.id == id.article)
            .find_map(|a| a.sentence(id).map(|s| (a, s)))
    }

    /// The first and last day the articles are dated (YYYY-MM-DD), when any is dated.
    pub fn date_range(&self) -> Option<(String, String)> {
        day_range(self.articles.iter().filter_map(|a| a.day()))
    }
}

/// The first and last of `days` (YYYY-MM-DD), when there is any.
pub fn day_range<'a>(days: impl Iterator<Item = &'a str> + Clone) -> Option<(String, String)> {
    Some((days.clone().min()?.to_string(), days.max()?.to_string()))
}

#[cfg(test)]
impl Briefing {
    /// A briefing of `articles` with an extractive summariser and default settings, no
    /// overview: what the tests of this module and of the renderers start from.
    pub(crate) fn for_tests(articles: Vec<ArticleBrief>) -> Self {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_that_is_not_a_number_round_trips_through_json() {
        let s = SentenceOut {
            id: SentenceId::new("a", 1),
            text: "Halo.".into(),
            translation: "Hello.".into(),
            score: f32::NAN,
            flags: vec![Flag::LowScore],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"score\":null"), "{json}");
        let back: SentenceOut = serde_json::from_str(&json).unwrap();
        assert!(back.score.is_nan());
        assert_eq!(back.flags, [Flag::LowScore]);
    }

    #[test]
    fn a_sentence_is_found_by_its_number_in_a_whole_article_or_a_lightened_one() {
        let out = |n| SentenceOut {
            id: SentenceId::new("a:b", n),
            text: format!("Kalimat {n}."),
            translation: format!("Sentence {n}."),
            score: 0.0,
            flags: Vec::new(),
        };
        let mut a = ArticleBrief {
            id: "a:b".into(),
            source: "s".into(),
            title: None,
            title_en: None,
            date: None,
            outlet: None,
            sentences: (1..=5).map(out).collect(),
            summary: Vec::new(),
            citation_quality: CitationQuality {
                precision: None,
                recall: None,
                judged: 0,
            },
        };
        let id = |article: &str, n| SentenceId::new(article, n);
        for n in 1..=5 {
            assert_eq!(
                a.sentence(&id("a:b", n)).unwrap().text,
                format!("Kalimat {n}.")
            );
        }
        for missing in [
            id("a:b", 6),
            id("a:b", 0),
            id("a", 1),
            id("b", 1),
            id("a:b:1", 1),
        ] {
            assert!(a.sentence(&missing).is_none(), "{missing}");
        }
        a.sentences.retain(|s| s.id.n % 2 == 0);
        assert_eq!(a.sentence(&id("a:b", 4)).unwrap().text, "Kalimat 4.");
        assert!(a.sentence(&id("a:b", 3)).is_none() && a.sentence(&id("a:b", 5)).is_none());
        let b = Briefing::for_tests(vec![a]);
        let (owner, s) = b.sentence(&id("a:b", 2)).unwrap();
        assert_eq!((owner.id.as_str(), s.text.as_str()), ("a:b", "Kalimat 2."));
        assert!(b.sentence(&id("a", 2)).is_none());
    }
}

//! Citation labels: the Markdown footnote label or HTML element id of each cited sentence.
//! A label is the sentence id's text with what the format cannot hold replaced, so two ids
//! can give one label (`a b:1` and `a-b:1`); then the later-cited id gets `-2` added (`-3`,
//! …).
//!
//! Deciding that needs no table of every cited id. A cited [`SentenceId`] names a sentence
//! of one of the articles: its text is the article's id, `:` and a number (from 1, without
//! leading zeros). A label maps that text character by character, so two sentence ids give
//! one label only when their articles' ids do. The articles' labels are compared once, up
//! front; only the ids of articles whose labels collide (rare) are remembered and numbered
//! in order of first use. Every other id is its own label, which nothing else can take: it
//! ends in `:` and a number as a sentence id writes it, and an added suffix does not. (So
//! the labels are distinct as long as every cited id names an article given to
//! [`Labels::new`], as every citation of a briefing does.)
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::text::SentenceId;

pub(crate) struct Labels {
    base: fn(&str) -> String,
    /// Labels compared case-insensitively (as Markdown compares footnote labels).
    fold_case: bool,
    /// Hashes of the article labels that two or more articles share.
    crowded: HashSet<u64>,
    /// The labels given so far to ids that had to be checked, and those labels.
    given: HashMap<SentenceId, String>,
    taken: HashSet<String>,
}

impl Labels {
    /// Labels for the sentences of the articles with `ids`, made by `base`.
    pub fn new<'a>(
        ids: impl Iterator<Item = &'a str>,
        base: fn(&str) -> String,
        fold_case: bool,
    ) -> Self {
        let mut labels = Self {
            base,
            fold_case,
            crowded: HashSet::new(),
            given: HashMap::new(),
            taken: HashSet::new(),
        };
        let mut keys: Vec<u64> = ids.map(|id| labels.article_key(id)).collect();
        keys.sort_unstable();
        labels.crowded = keys
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        labels
    }

    /// The label of sentence `id`: the same each time it is asked for.
    pub fn label(&mut self, id: &SentenceId) -> String {
        if let Some(label) = self.given.get(id) {
            return label.clone();
        }
        let first = (self.base)(&id.to_string());
        if !self.crowded.contains(&self.article_key(&id.article)) {
            return first;
        }
        let label = std::iter::once(first.clone())
            .chain((2..).map(|n| format!("{first}-{n}")))
            .find(|l| !self.taken.contains(&self.normal(l)))
            .expect("some suffix is free");
        self.taken.insert(self.normal(&label));
        self.given.insert(id.clone(), label.clone());
        label
    }

    /// What the labels of an article's sentences start with, hashed as they compare.
    fn article_key(&self, article: &str) -> u64 {
        let mut h = DefaultHasher::new();
        self.normal(&(self.base)(&format!("{article}:")))
            .hash(&mut h);
        h.finish()
    }

    fn normal(&self, label: &str) -> String {
        if self.fold_case {
            label.to_lowercase()
        } else {
            label.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brief::{html::anchor, markdown::label};
    use proptest::prelude::*;

    /// Labels as a table of every id gives them: in order, the first of `base`, `base-2`,
    /// … that no earlier id took.
    fn reference(ids: &[SentenceId], base: fn(&str) -> String, fold_case: bool) -> Vec<String> {
        let norm = |l: &str| {
            if fold_case {
                l.to_lowercase()
            } else {
                l.to_string()
            }
        };
        let mut taken = HashSet::new();
        let mut given: HashMap<&SentenceId, String> = HashMap::new();
        ids.iter()
            .map(|id| {
                given
                    .entry(id)
                    .or_insert_with(|| {
                        let first = base(&id.to_string());
                        let label = std::iter::once(first.clone())
                            .chain((2..).map(|n| format!("{first}-{n}")))
                            .find(|l| !taken.contains(&norm(l)))
                            .unwrap();
                        taken.insert(norm(&label));
                        label
                    })
                    .clone()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn labels_are_those_of_a_table_of_every_id(
            articles in prop::collection::hash_set("[aAbB -\\[\\]:1é]{1,4}", 1..8),
            picks in prop::collection::vec((0usize..8, 1usize..12), 1..30),
        ) {
            let articles: Vec<String> = articles.into_iter().collect();
            // Sentence ids of those articles.
            let ids: Vec<SentenceId> = picks
                .iter()
                .map(|&(a, n)| SentenceId::new(&articles[a % articles.len()], n))
                .collect();
            for (base, fold) in [(label as fn(&str) -> String, true), (anchor, false)] {
                let mut labels = Labels::new(articles.iter().map(String::as_str), base, fold);
                let got: Vec<String> = ids.iter().map(|id| labels.label(id)).collect();
                prop_assert_eq!(&got, &reference(&ids, base, fold));
            }
        }
    }

    #[test]
    fn ids_that_would_share_a_label_get_distinct_ones() {
        let articles = ["a b", "a-b", "Berita", "berita"];
        let mut labels = Labels::new(articles.into_iter(), label, true);
        let got: Vec<String> = ["a b:1", "a-b:1", "Berita:1", "berita:1", "a b:1", "a b:2"]
            .iter()
            .map(|id| labels.label(&id.parse().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                "a-b:1",
                "a-b:1-2",
                "Berita:1",
                "berita:1-2",
                "a-b:1",
                "a-b:2"
            ]
        );
    }
}

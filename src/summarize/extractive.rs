//! The extractive summariser: per article, the few sentences that best cover it, in
//! reading order. Each summary sentence is the English translation of one source sentence,
//! so it cites exactly that sentence.
//!
//! A sentence's relevance is the learned scorer's probability that it belongs in a summary
//! (`scorer.rs`: position, length, centrality, closeness to the title and the lead, names
//! and numbers, and whether it leans on its neighbours). Sentences are then taken greedily
//! by maximal marginal relevance, so a second sentence that says what the first said loses
//! to one that adds something, until the sentence count or the word budget is reached.
//! Everything here is plain arithmetic on embeddings: deterministic, and independent of how
//! sentences were batched through the embedding model.
use super::embed::cosine;
use super::features::SentenceView;
use super::scorer::Scorer;

/// How many sentences, and how they are weighed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExtractiveSettings {
    /// At most this many summary sentences (`--sentences`, default 3).
    pub sentences: usize,
    /// At most about this many words in all (default 80).
    pub max_words: usize,
    /// How much similarity to sentences already taken counts against a candidate (0: only
    /// near-copies are skipped; on the tuning sets any weight above 0 lowered ROUGE, see
    /// BENCHMARKS.md).
    pub redundancy_weight: f32,
    /// Sentences shorter than this many words are not taken (datelines, fragments).
    pub min_words: usize,
}

impl Default for ExtractiveSettings {
    fn default() -> Self {
        Self {
            sentences: 3,
            max_words: 80,
            redundancy_weight: 0.0,
            min_words: 4,
        }
    }
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Chooses summary sentences from `texts` (in reading order, as one paragraph, no title)
/// with their `embeddings`; returns their indices in reading order.
pub fn select(
    texts: &[&str],
    embeddings: &[Vec<f32>],
    settings: &ExtractiveSettings,
) -> Vec<usize> {
    let views = SentenceView::list((0..texts.len()).map(|i| (0, i == 0)), texts, embeddings);
    select_preferring(&views, None, &vec![false; views.len()], settings)
}

/// Chooses summary sentences from an article's `sentences` (in reading order, with the
/// title's embedding when it has one), taking a sentence whose translation is `flagged`
/// only when no unflagged sentence can take its place; returns their indices in reading
/// order.
pub fn select_preferring(
    sentences: &[SentenceView],
    title: Option<&[f32]>,
    flagged: &[bool],
    settings: &ExtractiveSettings,
) -> Vec<usize> {
    let clean = |i: usize| !flagged.get(i).copied().unwrap_or(false);
    let n = sentences.len();
    if n == 0 || settings.sentences == 0 {
        return Vec::new();
    }
    let texts: Vec<&str> = sentences.iter().map(|s| s.text).collect();
    let sim = |i: usize, j: usize| cosine(sentences[i].embedding, sentences[j].embedding);
    let relevance: Vec<f32> = Scorer::builtin()
        .score(sentences, title)
        .into_iter()
        .map(|z| 1.0 / (1.0 + (-z).exp()))
        .collect();

    let eligible = |i: usize| words(texts[i]) >= settings.min_words;
    let mut chosen: Vec<usize> = Vec::new();
    let mut used_words = 0;
    while chosen.len() < settings.sentences {
        let best = (0..n)
            .filter(|&i| eligible(i) && !chosen.contains(&i))
            .filter(|&i| used_words + words(texts[i]) <= settings.max_words)
            // A near-copy of a chosen sentence adds nothing.
            .filter(|&i| chosen.iter().all(|&p| sim(i, p) < 0.95))
            .map(|i| {
                let redundancy = chosen.iter().map(|&p| sim(i, p)).fold(0.0f32, f32::max);
                (i, relevance[i] - settings.redundancy_weight * redundancy)
            })
            // Unflagged first, then the highest score; a tie goes to the earlier sentence.
            .max_by(|a, b| {
                clean(a.0)
                    .cmp(&clean(b.0))
                    .then(a.1.total_cmp(&b.1))
                    .then(b.0.cmp(&a.0))
            });
        let Some((i, _)) = best else {
            break;
        };
        used_words += words(texts[i]);
        chosen.push(i);
    }
    // An article whose every sentence is over the word budget, or shorter than the
    // minimum, still gets its best one (the longest-enough when there is one).
    if chosen.is_empty() {
        let pool: Vec<usize> = if (0..n).any(eligible) {
            (0..n).filter(|&i| eligible(i)).collect()
        } else {
            (0..n).filter(|&i| !texts[i].trim().is_empty()).collect()
        };
        if let Some(i) = pool.into_iter().max_by(|&a, &b| {
            clean(a)
                .cmp(&clean(b))
                .then(relevance[a].total_cmp(&relevance[b]))
                .then(b.cmp(&a))
        }) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit vectors along a few axes, mixed: sentences about the same topic point the same
    /// way.
    fn emb(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    const T: &str = "one two three four five";

    fn views<'a>(texts: &[&'a str], e: &'a [Vec<f32>]) -> Vec<SentenceView<'a>> {
        SentenceView::list((0..texts.len()).map(|i| (0, i == 0)), texts, e)
    }

    #[test]
    fn takes_likely_sentences_in_reading_order_and_skips_repeats() {
        let texts = [T; 5];
        let e = vec![
            emb(&[1.0, 0.1, 0.0]), // lead, on topic A
            emb(&[1.0, 0.1, 0.0]), // the same again
            emb(&[0.7, 0.7, 0.0]), // topic A and B
            emb(&[0.2, 1.0, 0.0]), // topic B
            emb(&[0.0, 0.0, 1.0]), // off-topic, last
        ];
        let s = ExtractiveSettings {
            sentences: 2,
            ..Default::default()
        };
        let picks: Vec<usize> = select(&texts, &e, &s);
        assert_eq!(picks.len(), 2);
        assert_eq!(picks[0], 0, "the lead is taken: {picks:?}");
        assert!(!picks.contains(&1), "a repeat was chosen: {picks:?}");
        assert!(
            !picks.contains(&4),
            "the off-topic sentence was chosen: {picks:?}"
        );
        assert!(picks.windows(2).all(|w| w[0] < w[1]));
        // With a heavy redundancy weight, what is least like the lead comes second.
        let wary = ExtractiveSettings {
            redundancy_weight: 5.0,
            ..s
        };
        assert_eq!(select(&texts, &e, &wary), [0, 4]);
    }

    #[test]
    fn keeps_to_the_word_budget_and_skips_fragments() {
        let long = "word ".repeat(50);
        let texts = [long.as_str(), long.as_str(), "Jakarta.", T];
        let e = vec![
            emb(&[1.0, 0.0]),
            emb(&[0.9, 0.3]),
            emb(&[1.0, 0.0]),
            emb(&[0.5, 0.5]),
        ];
        let picks = select(&texts, &e, &ExtractiveSettings::default());
        let total: usize = picks.iter().map(|&p| words(texts[p])).sum();
        assert!(total <= 80, "{total} words");
        assert!(!picks.contains(&2));
        assert_eq!(picks.len(), 2);
    }

    #[test]
    fn an_article_of_long_sentences_still_gets_one() {
        let long = "word ".repeat(120);
        let picks = select(
            &[long.as_str()],
            &[emb(&[1.0])],
            &ExtractiveSettings::default(),
        );
        assert_eq!(picks.len(), 1);
        assert!(select(&[], &[], &ExtractiveSettings::default()).is_empty());
    }

    #[test]
    fn a_flagged_translation_is_taken_only_when_nothing_else_can_be() {
        let texts = [T, T, T, T];
        let e = vec![
            emb(&[1.0, 0.0, 0.0]),
            emb(&[0.0, 1.0, 0.0]),
            emb(&[0.0, 0.0, 1.0]),
            emb(&[1.0, 1.0, 0.0]),
        ];
        let s = ExtractiveSettings {
            sentences: 2,
            ..ExtractiveSettings::default()
        };
        let plain = select(&texts, &e, &s);
        assert!(plain.contains(&0), "the lead is chosen: {plain:?}");
        let flagged = [true, false, false, false];
        let picks = select_preferring(&views(&texts, &e), None, &flagged, &s);
        assert_eq!(picks.len(), 2);
        assert!(!picks.contains(&0), "{picks:?}");
        // With no other choice, the flagged one is still a summary.
        let picks = select_preferring(&views(&texts[..1], &e[..1]), None, &flagged[..1], &s);
        assert_eq!(picks, [0]);
        // Only fragments: the best one still.
        let picks = select(
            &["Ya.", "Tidak."],
            &[emb(&[1.0]), emb(&[1.0])],
            &ExtractiveSettings::default(),
        );
        assert_eq!(picks.len(), 1);
    }
}

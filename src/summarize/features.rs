//! What the extractive scorer knows about a sentence: one vector of features per sentence,
//! computed here and nowhere else, so the scorer's training script (which reads them from
//! `examples/summary_features.rs`) and `warta` see the same numbers.
//!
//! The features are chosen to carry across languages and outlets, since the scorer is
//! trained on Indonesian and English news and runs on English translations: where the
//! sentence stands (in the article, in its paragraph), how long it is, how central it is
//! (mean cosine similarity of its embedding to the others'), how close it is to the title
//! and to the lead, whether it carries numbers and names, and whether it leans on its
//! neighbours (a quotation, a first-person speaker, an opening connective, a question).
//! The last three use short closed-class word lists for English (shared with
//! `standalone.rs`) and Indonesian, the two languages a briefing's sentences come in.
use super::embed::cosine;
use super::standalone;

/// The names of the features, in vector order (the weights file lists them, so a
/// mismatch between it and this code is caught at load).
pub const NAMES: [&str; 20] = [
    "first",
    "inverse_position",
    "relative_position",
    "paragraph_first",
    "inverse_paragraph",
    "log_words",
    "short",
    "centrality",
    "centrality_z",
    "title_similarity",
    "has_title",
    "lead_similarity",
    "digits",
    "capitalised_share",
    "opens_with_quote",
    "has_quote",
    "question_or_colon",
    "lowercase_start",
    "first_person",
    "opening_connective",
];

/// A sentence of an article as the scorer sees it.
pub struct SentenceView<'a> {
    pub text: &'a str,
    pub embedding: &'a [f32],
    /// Its paragraph's index in the article, and whether it opens that paragraph.
    pub paragraph: usize,
    pub paragraph_first: bool,
}

impl<'a> SentenceView<'a> {
    /// Views of an article's sentences: `places` (paragraph index, opens it) from
    /// `Article::places`, with their texts and embeddings, in reading order.
    pub fn list(
        places: impl Iterator<Item = (usize, bool)>,
        texts: &[&'a str],
        embeddings: &'a [Vec<f32>],
    ) -> Vec<SentenceView<'a>> {
        places
            .zip(texts.iter().zip(embeddings))
            .map(
                |((paragraph, paragraph_first), (text, embedding))| SentenceView {
                    text,
                    embedding,
                    paragraph,
                    paragraph_first,
                },
            )
            .collect()
    }
}

/// Indonesian first-person pronouns (the English ones are `standalone.rs`'s).
const FIRST_PERSON_ID: &[&str] = &["saya", "kami", "kita", "aku"];

/// Indonesian connectives that open a sentence by pointing back at the one before (the
/// English ones are `standalone.rs`'s).
const CONNECTIVES_ID: &[&str] = &[
    "namun",
    "tetapi",
    "tapi",
    "sementara",
    "selain",
    "oleh",
    "karena",
    "meski",
    "meskipun",
    "padahal",
    "bahkan",
    "lalu",
    "kemudian",
    "sedangkan",
    "dan",
];

fn first_person(w: &str) -> bool {
    standalone::FIRST_PERSON.contains(&w) || FIRST_PERSON_ID.contains(&w)
}

fn connective(w: &str) -> bool {
    standalone::CONNECTIVES.contains(&w) || CONNECTIVES_ID.contains(&w)
}

const QUOTES: &[char] = &[
    '"', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}', '\u{ab}', '\u{bb}',
];

/// The feature vectors of an article's sentences (in reading order), with its title's
/// embedding when it has a title.
pub fn features(sentences: &[SentenceView], title: Option<&[f32]>) -> Vec<[f32; NAMES.len()]> {
    let n = sentences.len();
    let centrality: Vec<f32> = (0..n)
        .map(|i| {
            if n < 2 {
                return 1.0;
            }
            let sum: f32 = (0..n)
                .filter(|&j| j != i)
                .map(|j| cosine(sentences[i].embedding, sentences[j].embedding))
                .sum();
            sum / (n - 1) as f32
        })
        .collect();
    let mean = centrality.iter().sum::<f32>() / n.max(1) as f32;
    let sd = (centrality.iter().map(|c| (c - mean).powi(2)).sum::<f32>() / n.max(1) as f32).sqrt();
    sentences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let words: Vec<&str> = s.text.split_whitespace().collect();
            let bare: Vec<String> = words.iter().map(|w| bare_lower(w)).collect();
            let capitalised = words
                .iter()
                .skip(1)
                .filter(|w| {
                    w.chars()
                        .find(|c| c.is_alphanumeric())
                        .is_some_and(char::is_uppercase)
                })
                .count();
            let first_char = s.text.trim_start().chars().next();
            let last_char = s.text.trim_end().chars().last();
            [
                f32::from(u8::from(i == 0)),
                1.0 / (i as f32 + 1.0),
                if n > 1 {
                    i as f32 / (n - 1) as f32
                } else {
                    0.0
                },
                f32::from(u8::from(s.paragraph_first)),
                1.0 / (s.paragraph as f32 + 1.0),
                ((words.len() as f32 + 1.0).ln() / 61f32.ln()).min(1.2),
                f32::from(u8::from(words.len() < 8)),
                centrality[i],
                if n >= 3 && sd > 1e-6 {
                    ((centrality[i] - mean) / sd).clamp(-3.0, 3.0)
                } else {
                    0.0
                },
                title.map_or(0.0, |t| cosine(t, s.embedding)),
                f32::from(u8::from(title.is_some())),
                if i == 0 {
                    1.0
                } else {
                    cosine(sentences[0].embedding, s.embedding)
                },
                f32::from(u8::from(s.text.chars().any(|c| c.is_ascii_digit()))),
                capitalised as f32 / words.len().saturating_sub(1).max(1) as f32,
                f32::from(u8::from(first_char.is_some_and(|c| QUOTES.contains(&c)))),
                f32::from(u8::from(s.text.contains(QUOTES))),
                f32::from(u8::from(matches!(last_char, Some('?' | ':')))),
                f32::from(u8::from(
                    first_char.is_some_and(|c| !c.is_uppercase() && !QUOTES.contains(&c)),
                )),
                f32::from(u8::from(bare.iter().any(|w| first_person(w)))),
                f32::from(u8::from(bare.first().is_some_and(|w| connective(w)))),
            ]
        })
        .collect()
}

/// A word lowercased without the punctuation around it ("However," → "however").
fn bare_lower(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(text: &'a str, e: &'a [f32], paragraph: usize, first: bool) -> SentenceView<'a> {
        SentenceView {
            text,
            embedding: e,
            paragraph,
            paragraph_first: first,
        }
    }

    fn at(name: &str) -> usize {
        NAMES.iter().position(|n| *n == name).unwrap()
    }

    #[test]
    fn features_describe_position_voice_and_content() {
        let a = [1.0, 0.0];
        let b = [0.6, 0.8];
        let s = [
            view(
                "President Joko Widodo opened 12 new ports on Monday.",
                &a,
                0,
                true,
            ),
            view("However, I suggest we continue this effort.", &b, 0, false),
            view("\"Not now,\" he said.", &b, 1, true),
        ];
        let f = features(&s, Some(&a));
        assert_eq!(f.len(), 3);
        assert_eq!(f[0][at("first")], 1.0);
        assert_eq!(f[1][at("first")], 0.0);
        assert_eq!(f[2][at("relative_position")], 1.0);
        assert_eq!(f[2][at("paragraph_first")], 1.0);
        assert_eq!(f[2][at("inverse_paragraph")], 0.5);
        assert_eq!(f[0][at("digits")], 1.0);
        assert!(f[0][at("capitalised_share")] > 0.3);
        assert_eq!(f[0][at("title_similarity")], 1.0);
        assert!((f[1][at("lead_similarity")] - 0.6).abs() < 1e-6);
        assert_eq!(f[1][at("opening_connective")], 1.0);
        assert_eq!(f[1][at("first_person")], 1.0);
        assert_eq!(f[0][at("first_person")], 0.0);
        assert_eq!(f[2][at("opens_with_quote")], 1.0);
        assert_eq!(f[2][at("short")], 1.0);
        let untitled = features(&s, None);
        assert_eq!(untitled[0][at("has_title")], 0.0);
        assert_eq!(untitled[0][at("title_similarity")], 0.0);
        assert!(features(&[], None).is_empty());
    }
}

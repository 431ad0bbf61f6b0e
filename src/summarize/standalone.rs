//! Whether an English sentence can stand alone, out of its article: the overview shows
//! sentences of many articles side by side, so one that leans on the sentence before it
//! ("However, …", "He added …") or speaks in someone's voice without saying whose
//! ("I suggest we continue …") means nothing there.
//!
//! A sentence leans on its context when it opens with a connective that points back, when
//! its subject is a bare pronoun, when it speaks in the first person outside quotation
//! marks, or when it quotes without naming the speaker. These are closed classes of
//! English words (connectives, pronouns, reporting verbs), not phrases of any page. When
//! an article's chosen sentence cannot stand alone, [`stand_in`] finds the nearby sentence
//! that reports the same thing and says who: the overview takes that one instead.
use super::embed::cosine;

/// Why a sentence cannot stand alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leans {
    /// It opens with a connective that points back ("However", "Meanwhile").
    Connective,
    /// Its subject is a bare pronoun ("He", "They", "This").
    Pronoun,
    /// It speaks in the first person outside quotation marks.
    FirstPerson,
    /// It quotes someone without saying who.
    UnattributedQuote,
}

/// One-word connectives that point back at the sentence before.
pub(crate) const CONNECTIVES: &[&str] = &[
    "however",
    "but",
    "meanwhile",
    "therefore",
    "thus",
    "hence",
    "also",
    "moreover",
    "furthermore",
    "besides",
    "nevertheless",
    "nonetheless",
    "still",
    "instead",
    "so",
    "and",
    "then",
    "yet",
    "otherwise",
    "likewise",
    "similarly",
    "additionally",
    "consequently",
    "accordingly",
    "previously",
    "earlier",
    "later",
    "afterwards",
];

/// Connectives of several words.
const CONNECTIVE_PHRASES: &[&str] = &[
    "in addition",
    "on the other hand",
    "even so",
    "as a result",
    "because of this",
    "despite this",
    "after that",
    "in fact",
    "in turn",
    "for that reason",
    "at the same time",
];

/// Pronouns that, as a subject, need the sentence before to say who or what.
const PRONOUNS: &[&str] = &[
    "he", "she", "it", "they", "this", "that", "these", "those", "his", "her", "its", "their",
    "him", "them",
];

pub(crate) const FIRST_PERSON: &[&str] = &[
    "i", "we", "me", "us", "my", "our", "ours", "i'm", "we're", "i've", "we've", "i'd", "we'd",
    "i'll", "we'll",
];

/// Verbs and phrases that report speech.
const REPORTING: &[&str] = &[
    "said",
    "says",
    "say",
    "told",
    "tells",
    "stated",
    "states",
    "added",
    "adds",
    "explained",
    "explains",
    "asked",
    "stressed",
    "noted",
    "warned",
    "claimed",
    "announced",
    "urged",
    "insisted",
    "argued",
    "according",
    "quoted",
    "wrote",
    "remarked",
    "declared",
    "confirmed",
    "continued",
];

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}')
}

/// Lowercased words without the punctuation around them.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The text outside quotation marks (an unclosed quote runs to the end).
fn outside_quotes(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in text.chars() {
        if is_quote(c) {
            inside = !inside;
            out.push(' ');
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// Why `text` cannot stand alone, or None when it can.
pub fn leans(text: &str) -> Option<Leans> {
    let text = text.trim();
    let has_quote = text.chars().any(is_quote);
    let outside = outside_quotes(text);
    let out_words = words(&outside);
    let all_words = words(text);
    let first = all_words.first().map(String::as_str).unwrap_or("");
    let opening = all_words
        .iter()
        .take(6)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if CONNECTIVES.contains(&first)
        || CONNECTIVE_PHRASES
            .iter()
            .any(|p| opening == *p || opening.starts_with(&format!("{p} ")))
    {
        return Some(Leans::Connective);
    }
    if has_quote {
        // A quotation needs its speaker named outside it: a reporting verb next to a
        // name or a noun phrase, not "he said".
        let reported = out_words.iter().any(|w| REPORTING.contains(&w.as_str()));
        let named = outside
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .any(|w| {
                w.chars().next().is_some_and(char::is_uppercase)
                    && !PRONOUNS.contains(&w.to_lowercase().as_str())
                    && !FIRST_PERSON.contains(&w.to_lowercase().as_str())
            })
            || out_words.iter().any(|w| w == "the" || w == "a");
        if !(reported && named) {
            return Some(Leans::UnattributedQuote);
        }
        // The words around the quotation are judged on their own below.
    }
    let subject = out_words.first().map(String::as_str).unwrap_or("");
    if PRONOUNS.contains(&subject) {
        return Some(Leans::Pronoun);
    }
    if out_words.iter().any(|w| FIRST_PERSON.contains(&w.as_str())) {
        return Some(Leans::FirstPerson);
    }
    None
}

/// How close a sentence nearby must be to stand in for one that cannot stand alone: it
/// reports the same thing.
const SAME_THING: f32 = 0.5;

/// The sentence to show in place of sentence `i`: `i` itself when it stands alone, else
/// the nearest sentence (the one before first, up to two away) that stands alone and
/// either reports speech or says much the same; None when there is none.
pub fn stand_in(texts: &[&str], embeddings: &[Vec<f32>], i: usize) -> Option<usize> {
    if leans(texts[i]).is_none() {
        return Some(i);
    }
    let near = [i.checked_sub(1), Some(i + 1), i.checked_sub(2), Some(i + 2)];
    near.into_iter()
        .flatten()
        .filter(|&j| j < texts.len())
        .find(|&j| {
            leans(texts[j]).is_none()
                && (words(texts[j])
                    .iter()
                    .any(|w| REPORTING.contains(&w.as_str()))
                    || cosine(&embeddings[i], &embeddings[j]) >= SAME_THING)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_that_lean_on_their_context_are_found() {
        for (text, why) in [
            (
                "However, I suggest we continue this effort at this stage.",
                Leans::Connective,
            ),
            ("In addition, the bank cut its rate.", Leans::Connective),
            ("He said the talks would go on.", Leans::Pronoun),
            ("They were evacuated on Monday.", Leans::Pronoun),
            (
                "I do not think our possibilities are exhausted.",
                Leans::FirstPerson,
            ),
            (
                "\"We want to do it in January,\" he said.",
                Leans::UnattributedQuote,
            ),
            ("\"There is always a chance.\"", Leans::UnattributedQuote),
        ] {
            assert_eq!(leans(text), Some(why), "{text}");
        }
        for text in [
            "Russian Foreign Minister Sergei Lavrov said talks with the West should continue.",
            "\"We want to do it in January,\" Lavrov told reporters in Moscow.",
            "\"There is always a chance,\" the minister said.",
            "There were 12 deaths in the floods, the agency said.",
            "The central bank held its rate at 5.75 percent on Thursday.",
        ] {
            assert_eq!(leans(text), None, "{text}");
        }
    }

    #[test]
    fn a_quote_gives_way_to_the_sentence_that_says_who_said_it() {
        let texts = [
            "Russian Foreign Minister Sergei Lavrov told President Vladimir Putin on Monday that Moscow should keep talking with the West.",
            "\"I do not think our possibilities are exhausted.\"",
            "However, I suggest we continue these efforts at this stage.",
            "The Kremlin published the meeting on its website.",
        ];
        let e = vec![
            vec![1.0, 0.0],
            vec![0.9, 0.1],
            vec![0.8, 0.2],
            vec![0.0, 1.0],
        ];
        assert_eq!(stand_in(&texts, &e, 0), Some(0));
        assert_eq!(stand_in(&texts, &e, 1), Some(0));
        // Two away, and the sentence between leans too: still the one that says who.
        assert_eq!(stand_in(&texts, &e, 2), Some(0));
        // Nothing nearby says the same or reports speech: no stand-in.
        let alone = ["He left.", "The weather was cold in Moscow."];
        let e = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        assert_eq!(stand_in(&alone, &e, 0), None);
    }
}

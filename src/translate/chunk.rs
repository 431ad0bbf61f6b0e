//! Cutting a line into the units the model translates.
//!
//! OPUS-MT models are trained on single sentences: a longer input makes them skip text even
//! within their limits, and a packed input runs into the generation limit. So the unit is the
//! sentence (from the project's one splitter, [`crate::text::segment`]); only a sentence too
//! long for the model's input is cut further, at clauses, then words and, as a last resort,
//! between characters. Nothing is truncated and nothing is packed back together.
use std::ops::Range;

use crate::text::segment;

/// The units of `text` in order: its sentences, each cut further until it satisfies
/// `fits`. Together they cover all its non-whitespace text.
pub fn units(text: &str, fits: &dyn Fn(&str) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for s in segment::sentences(text) {
        cut(text, s, fits, 0, &mut out);
    }
    out
}

/// One level finer than `text` as a whole, for a unit whose translation still hit the
/// generation limit: its clauses, or else its words in two halves; empty when it is one
/// word.
pub fn finer(text: &str) -> Vec<Range<usize>> {
    let clauses = segment::clauses(text);
    if clauses.len() > 1 {
        return clauses;
    }
    let words = segment::words(text);
    if words.len() < 2 {
        return Vec::new();
    }
    let half = words.len() / 2;
    vec![
        words[0].start..words[half - 1].end,
        words[half].start..words[words.len() - 1].end,
    ]
}

/// Cuts `r` into units that fit, going one level finer each time: clauses, words, characters.
fn cut(
    text: &str,
    r: Range<usize>,
    fits: &dyn Fn(&str) -> bool,
    level: u8,
    out: &mut Vec<Range<usize>>,
) {
    if fits(&text[r.clone()]) {
        out.push(r);
        return;
    }
    let local = &text[r.clone()];
    let parts: Vec<Range<usize>> = match level {
        0 => segment::clauses(local),
        1 => segment::words(local),
        _ => return cut_chars(text, r, fits, out),
    };
    if parts.len() <= 1 {
        return cut(text, r, fits, level + 1, out);
    }
    for p in parts {
        cut(
            text,
            r.start + p.start..r.start + p.end,
            fits,
            level + 1,
            out,
        );
    }
}

/// The last resort: the longest character prefixes that fit (at least one character each).
fn cut_chars(
    text: &str,
    r: Range<usize>,
    fits: &dyn Fn(&str) -> bool,
    out: &mut Vec<Range<usize>>,
) {
    let mut start = r.start;
    while start < r.end {
        let bounds: Vec<usize> = text[start..r.end]
            .char_indices()
            .map(|(b, c)| start + b + c.len_utf8())
            .collect();
        // Binary search for the longest prefix that fits; one character always goes.
        let (mut lo, mut hi) = (0usize, bounds.len() - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(&text[start..bounds[mid]]) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        out.push(start..bounds[lo]);
        start = bounds[lo];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_at_most(n: usize) -> impl Fn(&str) -> bool {
        move |s: &str| s.split_whitespace().count() <= n && s.chars().count() <= 40
    }

    #[test]
    fn every_sentence_is_a_unit_and_none_are_packed() {
        let t = "Satu kalimat pendek.";
        assert_eq!(units(t, &words_at_most(10)), vec![0..t.len()]);
        let t = "Satu. Dua tiga.";
        assert_eq!(units(t, &words_at_most(10)), vec![0..5, 6..t.len()]);
    }

    #[test]
    fn finer_goes_to_clauses_then_halves_of_words() {
        let t = "Ini kalimat kedua, yang agak panjang";
        let parts: Vec<&str> = finer(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(parts, ["Ini kalimat kedua,", "yang agak panjang"]);
        let t = "satu dua tiga empat lima";
        let parts: Vec<&str> = finer(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(parts, ["satu dua", "tiga empat lima"]);
        assert!(finer("satu").is_empty());
    }

    #[test]
    fn cuts_at_sentences_then_clauses_then_words_and_loses_nothing() {
        let t = "Ini kalimat pertama. Ini kalimat kedua, yang agak panjang sekali, dan terus berlanjut tanpa henti.";
        let fits = words_at_most(4);
        let pieces = units(t, &fits);
        for p in &pieces {
            assert!(fits(&t[p.clone()]), "{:?}", &t[p.clone()]);
        }
        let joined: Vec<&str> = pieces.iter().map(|p| &t[p.clone()]).collect();
        assert_eq!(
            joined.join(" ").split_whitespace().collect::<Vec<_>>(),
            t.split_whitespace().collect::<Vec<_>>()
        );
        assert_eq!(joined[0], "Ini kalimat pertama.");
        assert_eq!(joined[1], "Ini kalimat kedua,");
    }

    #[test]
    fn an_overlong_word_is_cut_between_characters() {
        let t = "a".repeat(100);
        let pieces = units(&t, &words_at_most(1));
        assert_eq!(pieces, vec![0..40, 40..80, 80..100]);
    }
}

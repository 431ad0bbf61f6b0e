//! Cutting a line that is too long for the model into pieces that fit.
//!
//! A Marian model has a fixed number of source positions. A longer line is never truncated:
//! it is cut at sentence boundaries, a sentence that is still too long at clause boundaries,
//! a clause at word boundaries and, as a last resort, a word between characters. Neighbouring
//! pieces are then packed back together while they fit, so the model sees as much context as
//! it can. The cuts come from the project's one splitter, [`crate::text::segment`].
use std::ops::Range;

use crate::text::segment;

/// Ranges of `text` that each satisfy `fits`, in order, covering all non-whitespace text.
pub fn split_to_fit(text: &str, fits: &dyn Fn(&str) -> bool) -> Vec<Range<usize>> {
    let mut units = Vec::new();
    for s in segment::sentences(text) {
        cut(text, s, fits, 0, &mut units);
    }
    pack(text, &units, fits)
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

/// Joins neighbouring units while the joined text still fits.
fn pack(text: &str, units: &[Range<usize>], fits: &dyn Fn(&str) -> bool) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for u in units {
        if let Some(last) = out.last_mut() {
            if fits(&text[last.start..u.end]) {
                last.end = u.end;
                continue;
            }
        }
        out.push(u.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_at_most(n: usize) -> impl Fn(&str) -> bool {
        move |s: &str| s.split_whitespace().count() <= n && s.chars().count() <= 40
    }

    #[test]
    fn short_text_is_one_piece() {
        let t = "Satu kalimat pendek.";
        assert_eq!(split_to_fit(t, &words_at_most(10)), vec![0..t.len()]);
    }

    #[test]
    fn cuts_at_sentences_then_clauses_then_words_and_loses_nothing() {
        let t = "Ini kalimat pertama. Ini kalimat kedua, yang agak panjang sekali, dan terus berlanjut tanpa henti.";
        let fits = words_at_most(4);
        let pieces = split_to_fit(t, &fits);
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
        let pieces = split_to_fit(&t, &words_at_most(1));
        assert_eq!(pieces, vec![0..40, 40..80, 80..100]);
    }
}

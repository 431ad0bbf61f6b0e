//! Checks on a finished translation: the ways a hypothesis goes wrong without a word.
//!
//! A translation that stopped at the generation limit, one that loops, one far longer or
//! shorter than its source, an empty one, or one the model itself scores low would be cited
//! by a briefing as if it said what the Indonesian says. Each is named by a [`Flag`], which
//! the translator uses to retry and every output carries.
use serde::{Deserialize, Serialize};

/// What is wrong with a translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Generation stopped at its length limit: the end of the source may be missing.
    Truncated,
    /// The hypothesis repeats a word, a few words or a few characters in a loop.
    Repetition,
    /// Far longer or shorter, in tokens, than a translation of its source should be.
    LengthRatio,
    /// Nothing came out of a source with text in it.
    Empty,
    /// The model's mean log-probability of its own output is below the threshold.
    LowScore,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Truncated => "truncated",
            Flag::Repetition => "repetition",
            Flag::LengthRatio => "length_ratio",
            Flag::Empty => "empty",
            Flag::LowScore => "low_score",
        }
    }

    /// The reason, in words, for a reader of the briefing or the log.
    pub fn reason(self) -> &'static str {
        match self {
            Flag::Truncated => "the translation stopped at the length limit and may miss the end",
            Flag::Repetition => "the translation repeats itself in a loop",
            Flag::LengthRatio => "the translation is far longer or shorter than its source",
            Flag::Empty => "the model gave no translation",
            Flag::LowScore => "the model is unsure of this translation",
        }
    }

    /// Flags that a retry with other decoding settings may cure.
    pub fn is_degenerate(self) -> bool {
        matches!(self, Flag::Repetition | Flag::LengthRatio | Flag::Empty)
    }
}

/// `flags` with their reasons, for a log line: "truncated (the translation stopped …); …".
pub fn describe(flags: &[Flag]) -> String {
    flags
        .iter()
        .map(|f| format!("{} ({})", f.as_str(), f.reason()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The same word (or two to four words) this many times in a row is a loop. On the fixture
/// checkpoints (copy-task models, `tests/fixtures`), healthy outputs repeat a word at most
/// three times ("Moskow Moskow Moskow", copied from a stutter in the source) and the loops
/// the greedy and beam searches fall into repeat it 4, 5, 8, 22 and 58 times.
pub const REPEATS: usize = 4;
/// The same one to three characters this many times in a row is a loop within a word
/// ("eeeeeeee…", "sisisisi…"; no word of either language has a run this long).
pub const CHAR_REPEATS: usize = 10;
/// Target tokens per source token above which a translation has run on. Healthy fixture
/// outputs measure 0.7-1.3 (a copy model); every run-on loop measured 2.2 or more. A real
/// Indonesian-English model writes about as many subword tokens as it reads (English words
/// are shorter; Indonesian affixes split into more pieces).
pub const MAX_RATIO: f32 = 2.0;
/// Target tokens per source token below which text is missing (a half-length translation
/// of a long sentence already drops clauses).
pub const MIN_RATIO: f32 = 0.4;
/// Below this many source tokens, the ratio says nothing: "Rusia" is one token, "Russia"
/// may be two, and a heading's translation may be a single word.
pub const RATIO_MIN_SOURCE: usize = 8;
/// The default `--min-score`: mean log-probability per generated token. Every fixture
/// output scores above -1.2; a real model's fluent translations score above about -1.
pub const DEFAULT_MIN_SCORE: f32 = -1.5;

/// What a translation of `source_tokens` source tokens (EOS excluded) that generated
/// `generated` tokens (EOS excluded) with mean log-probability `mean_logprob` and reads as
/// `text` is flagged with; `hit_limit` when generation stopped at its length limit, and
/// `source_text` to compare repetitions against (a source that repeats a word may be
/// translated with it repeated).
pub fn assess(
    source_text: &str,
    source_tokens: usize,
    text: &str,
    generated: usize,
    hit_limit: bool,
    mean_logprob: f32,
    min_score: f32,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    if source_tokens == 0 {
        return flags;
    }
    if hit_limit {
        flags.push(Flag::Truncated);
    }
    if text.trim().is_empty() {
        flags.push(Flag::Empty);
        return flags;
    }
    if loops_beyond(source_text, text) {
        flags.push(Flag::Repetition);
    }
    let ratio = generated as f32 / source_tokens as f32;
    let short = ratio < MIN_RATIO && !hit_limit;
    if source_tokens >= RATIO_MIN_SOURCE && (ratio > MAX_RATIO || short) {
        flags.push(Flag::LengthRatio);
    }
    if is_low(mean_logprob, min_score) {
        flags.push(Flag::LowScore);
    }
    flags
}

/// Whether a mean log-probability is below `min_score` (or not a number at all).
pub fn is_low(mean_logprob: f32, min_score: f32) -> bool {
    !mean_logprob.is_finite() || mean_logprob < min_score
}

/// Whether `text` holds a loop: one to four words repeated [`REPEATS`] times in a row, or
/// one to three characters repeated [`CHAR_REPEATS`] times. Only runs with a letter in
/// them count: "0 0 0 0", "* * * *" and "10000000000" are text, not a model stuck.
pub fn loops(text: &str) -> bool {
    let (words, chars) = longest_runs(text);
    words >= REPEATS || chars >= CHAR_REPEATS
}

/// Whether `text` loops more than `source` does: a loop the source has (a chant, a
/// stutter written out) may be translated as one, but not made longer.
fn loops_beyond(source: &str, text: &str) -> bool {
    let (words, chars) = longest_runs(text);
    let (src_words, src_chars) = longest_runs(source);
    words >= REPEATS && words > src_words || chars >= CHAR_REPEATS && chars > src_chars
}

/// The most times one run of one to four words, and of one to three characters, stands
/// in a row in `text` (case ignored; runs without a letter not counted).
fn longest_runs(text: &str) -> (usize, usize) {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let chars: Vec<char> = lower.chars().collect();
    let word_runs = (1..=4)
        .map(|n| {
            longest_run(&words, n, |w: &[&str]| {
                w.iter().any(|w| w.chars().any(char::is_alphabetic))
            })
        })
        .max()
        .unwrap_or(0);
    let char_runs = (1..=3)
        .map(|n| longest_run(&chars, n, |c: &[char]| c.iter().any(|c| c.is_alphabetic())))
        .max()
        .unwrap_or(0);
    (word_runs, char_runs)
}

/// The most times a run of `n` items that passes `counts` follows itself in a row.
fn longest_run<T: PartialEq>(items: &[T], n: usize, counts: impl Fn(&[T]) -> bool) -> usize {
    let mut best = 0;
    let mut i = 0;
    while i + n <= items.len() {
        let unit = &items[i..i + n];
        let mut k = 1;
        while i + (k + 1) * n <= items.len() && items[i + k * n..i + (k + 1) * n] == *unit {
            k += 1;
        }
        if k > 1 && k > best && counts(unit) {
            best = k;
        }
        // A run of k units ends where the next could start a longer one.
        i += if k > 1 { (k - 1) * n + 1 } else { 1 };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_of_words_and_characters_are_found_and_stutters_are_not() {
        assert!(loops("kata Ryabkov tidak tidak tidak tidak tidak"));
        assert!(loops("the talks the talks the talks the talks ended"));
        assert!(loops("eeeeeeeeeeeeeeeeeeeeeeeeeeeeee"));
        assert!(loops("bolehsisisisisisisisisisisisisisisi"));
        assert!(!loops("Moskow Moskow Moskow menghendaki jaminan"));
        assert!(!loops("He said it was very, very important."));
        assert!(!loops("Jakarta, 2022-02-14: 1000 troops."));
        // Runs without a letter are text.
        for text in [
            "0 0 0 0 0",
            "2000 2000 2000 2000",
            "* * * * *",
            "----------",
            "IDR 10000000000",
        ] {
            assert!(!loops(text), "{text}");
        }
    }

    #[test]
    fn a_loop_in_the_source_excuses_only_as_long_a_loop() {
        let chant = "Hidup hidup hidup hidup Indonesia!";
        assert!(!loops_beyond(
            chant,
            "Long live long live long live long live Indonesia!"
        ));
        assert!(loops_beyond(
            chant,
            "Live live live live live live live live Indonesia!"
        ));
        assert!(loops_beyond(
            "Dia berkata tidak.",
            "He said no no no no no."
        ));
    }

    #[test]
    fn flags_follow_the_measured_thresholds() {
        let src = "Menteri Luar Negeri Rusia Sergey Lavrov mengatakan hal itu.";
        let ok = "Russian Foreign Minister Sergey Lavrov said so.";
        assert!(assess(src, 14, ok, 12, false, -0.3, DEFAULT_MIN_SCORE).is_empty());
        assert_eq!(
            assess(src, 14, ok, 12, true, -0.3, DEFAULT_MIN_SCORE),
            [Flag::Truncated]
        );
        assert_eq!(
            assess(src, 14, " ", 0, false, -0.3, DEFAULT_MIN_SCORE),
            [Flag::Empty]
        );
        assert_eq!(
            assess(src, 14, ok, 40, false, -0.3, DEFAULT_MIN_SCORE),
            [Flag::LengthRatio]
        );
        assert_eq!(
            assess(src, 14, "Russian.", 3, false, -0.3, DEFAULT_MIN_SCORE),
            [Flag::LengthRatio]
        );
        // A short source says nothing by its ratio.
        assert!(assess("Rusia", 1, "Russia", 3, false, -0.1, DEFAULT_MIN_SCORE).is_empty());
        assert_eq!(
            assess(src, 14, ok, 12, false, -2.0, DEFAULT_MIN_SCORE),
            [Flag::LowScore]
        );
        assert_eq!(
            assess(src, 14, ok, 12, false, f32::NAN, DEFAULT_MIN_SCORE),
            [Flag::LowScore]
        );
        // A source that repeats itself may be translated repeating itself.
        let chant = "Hidup hidup hidup hidup!";
        assert!(assess(chant, 8, "Live live live live!", 8, false, -0.2, -1.5).is_empty());
    }
}

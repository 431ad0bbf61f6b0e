//! The vocabulary shortlist (`--shortlist FILE`, off by default): the target tokens a
//! sentence may produce, looked up from its source tokens in a table, so that the output
//! projection (30 of the 52 million multiplies a token of the full-size opus-mt shape costs)
//! runs over a batch's candidates alone (the union of its sentences'). Marian and Bergamot
//! call this a lexical shortlist, CTranslate2 a vocabulary map (`use_vmap`).
//!
//! **It changes output.** A token outside a sentence's candidates can never be chosen, and
//! the log-softmax is taken over the candidates alone, so scores (and the `low_score` flag
//! built on them) read higher than without. With a table made from enough text the best
//! token is nearly always a candidate; `BENCHMARKS.md` gives the share of sentences that
//! come out the same on data the table was not made from.
//!
//! Each sentence is restricted to its own candidates, never to its batch's: a sentence's
//! tokens do not depend on what it was batched with, as without a shortlist (short of an
//! exact tie in f32, whose logits may move by an ulp with the batch's columns).
//!
//! The file is CTranslate2's vocabulary-map format, one rule a line:
//! `src_1 src_2 ... src_n<TAB>tgt_1 tgt_2 ... tgt_k`, tokens spelt as the model's vocabularies
//! spell them. A rule whose source n-gram occurs in a sentence makes its targets candidates;
//! a line with nothing before the tab lists tokens every sentence may use. The model's end,
//! unknown and padding tokens are always candidates, and so are the sentence's own source
//! tokens, as the target vocabulary spells them where it has them (the same ids with one
//! shared vocabulary): names and numbers are copied through whether or not the table has
//! seen them. [`build`] makes a table from line-aligned
//! parallel text (`warta shortlist`).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::tokenizer::MarianTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum ShortlistError {
    #[error("cannot read the shortlist {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the shortlist {path} names no target token of this model's vocabulary \
         ({lines} lines): was it made for another model? Make one with `warta shortlist`"
    )]
    Foreign { path: PathBuf, lines: usize },
    #[error("the shortlist {path} is empty: make one with `warta shortlist`")]
    Empty { path: PathBuf },
    #[error(
        "the shortlist was read for a vocabulary of {table} target tokens, and the model \
         has {model}: load it with this model's tokenizer"
    )]
    Model { table: usize, model: usize },
    #[error("the shortlist {path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// A shortlist table resolved against one model's vocabularies.
#[derive(Debug, Clone)]
pub struct Shortlist {
    /// Source-id n-gram to target ids.
    rules: HashMap<Vec<u32>, Vec<u32>>,
    /// The longest n-gram a rule has.
    longest: usize,
    /// Candidates of every sentence: the always-line's and the special tokens.
    always: Vec<u32>,
    /// Per source id: the target id of the same token, `u32::MAX` where the target
    /// vocabulary lacks it (the identity with one shared vocabulary).
    copy: Vec<u32>,
    /// Target ids at or past this are not the model's (a vocabulary larger than its
    /// output projection); never candidates.
    target_vocab: usize,
    /// What the table read, for the log.
    pub stats: ShortlistStats,
    /// Names the file's contents in a translation cache's key.
    digest: String,
}

/// What [`Shortlist::load`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShortlistStats {
    pub rules: usize,
    /// Rules skipped because a source token of theirs is not in the source vocabulary.
    pub unknown_sources: usize,
    /// Target tokens skipped because the target vocabulary lacks them.
    pub unknown_targets: usize,
}

impl Shortlist {
    /// Reads a table in the vocabulary-map format for `tokenizer`'s model, whose output
    /// projection has `target_vocab` columns.
    pub fn load(
        path: &Path,
        tokenizer: &MarianTokenizer,
        target_vocab: usize,
    ) -> Result<Self, ShortlistError> {
        let text = std::fs::read_to_string(path).map_err(|source| ShortlistError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, tokenizer, target_vocab)
    }

    /// [`Self::load`] of a table already read; `path` names it in errors.
    pub fn parse(
        text: &str,
        path: &Path,
        tokenizer: &MarianTokenizer,
        target_vocab: usize,
    ) -> Result<Self, ShortlistError> {
        let sources = tokenizer.source_vocab();
        let targets = tokenizer.target_vocab();
        let mut stats = ShortlistStats::default();
        let mut rules: HashMap<Vec<u32>, Vec<u32>> = HashMap::new();
        let mut always = vec![tokenizer.eos_id(), tokenizer.unk_id(), tokenizer.pad_id()];
        let mut known_targets = 0usize;
        let mut lines = 0usize;
        // A file saved with a byte-order mark: the first key is not "\u{feff}".
        let text_body = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, line) in text_body.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            lines += 1;
            let bad = |message: &str| ShortlistError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message: message.into(),
            };
            let Some((key, values)) = line.split_once('\t') else {
                return Err(bad(
                    "no tab between the source tokens and the target tokens",
                ));
            };
            if values.contains('\t') {
                return Err(bad("a second tab: tokens are separated by spaces"));
            }
            let key: Option<Vec<u32>> = key
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(|t| sources.get(t).copied())
                .collect();
            let Some(key) = key else {
                stats.unknown_sources += 1;
                continue;
            };
            let mut ids = Vec::new();
            for t in values.split(' ').filter(|t| !t.is_empty()) {
                match targets.get(t) {
                    Some(&id) => ids.push(id),
                    None => stats.unknown_targets += 1,
                }
            }
            known_targets += ids.len();
            if key.is_empty() {
                always.extend(ids);
            } else {
                stats.rules += 1;
                rules.entry(key).or_default().extend(ids);
            }
        }
        if lines == 0 {
            return Err(ShortlistError::Empty {
                path: path.to_path_buf(),
            });
        }
        // Only the lines kept count: a table for another source language that shares the
        // target vocabulary keeps nothing.
        if known_targets == 0 {
            return Err(ShortlistError::Foreign {
                path: path.to_path_buf(),
                lines,
            });
        }
        for v in rules.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        always.sort_unstable();
        always.dedup();
        let mut copy = vec![u32::MAX; sources.values().max().map_or(0, |&m| m as usize + 1)];
        for (token, &id) in sources {
            if let Some(&t) = targets.get(token.as_str()) {
                copy[id as usize] = t;
            }
        }
        // The file's contents and the version of the rules above that read it (bumped
        // when they change what a table allows).
        let digest = format!(
            "vmap1:{:016x}{:08x}:{}",
            fnv1a64(text.as_bytes()),
            crc32fast::hash(text.as_bytes()),
            text.len()
        );
        Ok(Self {
            longest: rules.keys().map(Vec::len).max().unwrap_or(0),
            rules,
            always,
            copy,
            target_vocab,
            stats,
            digest,
        })
    }

    /// The sorted target ids a sentence of `source_ids` may produce.
    pub fn candidates(&self, source_ids: &[u32]) -> Vec<u32> {
        let mut out = self.always.clone();
        for n in 1..=self.longest.min(source_ids.len()) {
            for gram in source_ids.windows(n) {
                if let Some(t) = self.rules.get(gram) {
                    out.extend_from_slice(t);
                }
            }
        }
        out.extend(
            source_ids
                .iter()
                .filter_map(|&s| self.copy.get(s as usize).copied()),
        );
        out.retain(|&t| (t as usize) < self.target_vocab);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The size of the target vocabulary the table was read for.
    pub fn target_vocab(&self) -> usize {
        self.target_vocab
    }

    /// The table's contents as a translation cache's key names them.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// FNV-1a, 64 bits: with the CRC-32 beside it, a digest two different tables do not share
/// by accident (a shared one would serve one table's cached translations for the other's).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The sorted ids of all `candidates` lists together: what a batch's output projection
/// runs over.
pub fn union(candidates: &[Vec<u32>]) -> Vec<u32> {
    let mut union: Vec<u32> = candidates.iter().flatten().copied().collect();
    union.sort_unstable();
    union.dedup();
    union
}

/// How [`build`] makes a table.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Most target tokens a source token lists (Bergamot's shortlists: 50).
    pub per_source: usize,
    /// The most frequent target tokens, allowed in every sentence (Bergamot: 100).
    pub frequent: usize,
    /// Rounds of IBM Model 1's expectation-maximisation.
    pub iterations: usize,
    /// A target token is listed under a source token only when `t(target | source)` is at
    /// least this.
    pub min_probability: f32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            per_source: 50,
            frequent: 100,
            iterations: 5,
            min_probability: 1e-3,
        }
    }
}

/// Interns token strings as dense ids.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, token: String) -> u32 {
        if let Some(&id) = self.ids.get(&token) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(token.clone(), id);
        self.names.push(token);
        id
    }
}

/// A shortlist table, in the vocabulary-map format, from sentence pairs given as token
/// strings (the model's source pieces, its target pieces).
///
/// The lexical probabilities `t(target | source)` are IBM Model 1's (Brown et al. 1993),
/// learnt by expectation-maximisation with a null source word that takes the target tokens
/// no source word explains; each source token lists its `per_source` most probable targets.
/// Rules are single tokens; the format's n-gram rules are read but not made. The output is
/// sorted, so the same text gives the same file. It holds every distinct co-occurring pair
/// of a source and a target token in memory twice (probability and count), about 50 bytes
/// a pair: a few hundred thousand sentence pairs fit in a few GiB, millions do not (learn
/// from a sample of them).
pub fn build(pairs: &[(Vec<String>, Vec<String>)], opts: &BuildOptions) -> String {
    let mut src = Interner::default();
    let mut tgt = Interner::default();
    let null = u32::MAX;
    let corpus: Vec<(Vec<u32>, Vec<u32>)> = pairs
        .iter()
        .map(|(s, t)| {
            let mut s: Vec<u32> = s.iter().map(|w| src.id(w.clone())).collect();
            s.push(null);
            (s, t.iter().map(|w| tgt.id(w.clone())).collect())
        })
        .collect();
    // t(e | f), keyed (f, e), starting uniform over the pairs that co-occur. Sums in f64:
    // a frequent source token's total passes f32's 2^24, past which its small shares
    // would be lost.
    let mut prob: HashMap<(u32, u32), f64> = HashMap::new();
    for (s, t) in &corpus {
        for &f in s {
            for &e in t {
                prob.insert((f, e), 1.0);
            }
        }
    }
    let mut counts: HashMap<(u32, u32), f64> = HashMap::with_capacity(prob.len());
    let mut totals: HashMap<u32, f64> = HashMap::new();
    for _ in 0..opts.iterations {
        counts.clear();
        totals.clear();
        for (s, t) in &corpus {
            for &e in t {
                let z: f64 = s.iter().map(|&f| prob[&(f, e)]).sum();
                if z <= 0.0 {
                    continue;
                }
                for &f in s {
                    let c = prob[&(f, e)] / z;
                    *counts.entry((f, e)).or_default() += c;
                    *totals.entry(f).or_default() += c;
                }
            }
        }
        for (&(f, e), p) in prob.iter_mut() {
            let total = totals.get(&f).copied().unwrap_or(0.0);
            *p = if total > 0.0 {
                counts.get(&(f, e)).copied().unwrap_or(0.0) / total
            } else {
                0.0
            };
        }
    }
    let mut by_source: HashMap<u32, Vec<(f64, u32)>> = HashMap::new();
    for (&(f, e), &p) in &prob {
        if f != null && p >= f64::from(opts.min_probability) {
            by_source.entry(f).or_default().push((p, e));
        }
    }
    let mut lines: Vec<String> = by_source
        .into_iter()
        .map(|(f, mut es)| {
            // Most probable first; equal ones by spelling, so the file is reproducible.
            es.sort_by(|a, b| {
                b.0.total_cmp(&a.0)
                    .then_with(|| tgt.names[a.1 as usize].cmp(&tgt.names[b.1 as usize]))
            });
            es.truncate(opts.per_source);
            let targets: Vec<&str> = es
                .iter()
                .map(|&(_, e)| tgt.names[e as usize].as_str())
                .collect();
            format!("{}\t{}", src.names[f as usize], targets.join(" "))
        })
        .collect();
    lines.sort_unstable();
    let mut freq: HashMap<u32, usize> = HashMap::new();
    for (_, t) in &corpus {
        for &e in t {
            *freq.entry(e).or_default() += 1;
        }
    }
    let mut freq: Vec<(usize, &str)> = freq
        .into_iter()
        .map(|(e, n)| (n, tgt.names[e as usize].as_str()))
        .collect();
    freq.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    freq.truncate(opts.frequent);
    let mut out = String::new();
    if !freq.is_empty() {
        let always: Vec<&str> = freq.iter().map(|&(_, e)| e).collect();
        out.push('\t');
        out.push_str(&always.join(" "));
        out.push('\n');
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(name: &str) -> MarianTokenizer {
        MarianTokenizer::from_dir(&Path::new("tests/fixtures").join(name)).unwrap()
    }

    /// Ids of the shared-vocabulary fixture: `</s>` 0, `<unk>` 1, `<pad>` 802, "." 91,
    /// "▁the" 188, "▁Rusia" 268, "▁Lavrov" 294, "▁AS" 309, "▁di" 666, "▁kata" 733.
    #[test]
    fn candidates_are_the_rules_the_sentence_matches_and_what_every_sentence_gets() {
        let tok = tokenizer("marian-shared");
        let table = "\t.\n\
                     ▁Rusia\t▁the ▁Lavrov no-such-target\n\
                     \n\
                     ▁di ▁AS\t▁kata\n\
                     no-such-source\t▁the\n";
        let s = Shortlist::parse(table, Path::new("t.vmap"), &tok, 803).unwrap();
        assert_eq!(
            s.stats,
            ShortlistStats {
                rules: 2,
                unknown_sources: 1,
                unknown_targets: 1
            }
        );
        // The always-line, the specials, the unigram and bigram rules, and (one shared
        // vocabulary) the sentence's own tokens.
        assert_eq!(
            s.candidates(&[268, 666, 309, 0]),
            [0, 1, 91, 188, 268, 294, 309, 666, 733, 802]
        );
        // "▁di ▁AS" is a bigram: the two apart, or in the other order, do not match it.
        assert_eq!(s.candidates(&[309, 666, 0]), [0, 1, 91, 309, 666, 802]);
        // Ids past the model's output projection are never candidates.
        let narrow = Shortlist::parse(table, Path::new("t.vmap"), &tok, 300).unwrap();
        assert_eq!(
            narrow.candidates(&[268, 666, 309, 0]),
            [0, 1, 91, 188, 268, 294]
        );
        // The digest follows the contents.
        assert_ne!(
            s.digest(),
            Shortlist::parse("\t▁the\n", Path::new("t.vmap"), &tok, 803)
                .unwrap()
                .digest()
        );
    }

    /// With separate vocabularies the table's two columns are read in their own
    /// vocabularies, and a sentence's own tokens are copied through as the target one
    /// spells them: "▁Rusia" is 557 in the source vocabulary and 307 in the target one,
    /// "▁Lavrov" 212 and 377; a source token the target vocabulary lacks adds nothing.
    #[test]
    fn separate_vocabularies_copy_tokens_through_by_their_spelling() {
        let tok = tokenizer("marian-separate");
        let target = tok.target_vocab();
        let lacking = tok
            .source_vocab()
            .iter()
            .find(|(t, _)| !target.contains_key(t.as_str()))
            .map(|(_, &id)| id)
            .expect("a source token the target vocabulary lacks");
        let s = Shortlist::parse("▁Rusia\t▁Lavrov\n", Path::new("t.vmap"), &tok, 638).unwrap();
        assert_eq!(s.candidates(&[557, 0]), [0, 1, 307, 377, 637]);
        assert_eq!(s.candidates(&[212, lacking, 0]), [0, 1, 377, 637]);
    }

    #[test]
    fn a_malformed_or_foreign_table_is_an_error_naming_the_file() {
        let tok = tokenizer("marian-shared");
        let err = Shortlist::parse("\t.\n▁Rusia ▁the\n", Path::new("x/t.vmap"), &tok, 803)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/t.vmap, line 2") && err.contains("no tab"),
            "{err}"
        );
        let err = Shortlist::parse("▁Rusia\tzzz yyy\n", Path::new("x/t.vmap"), &tok, 803)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/t.vmap") && err.contains("another model"),
            "{err}"
        );
        let err = Shortlist::load(Path::new("no/such.vmap"), &tok, 803)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no/such.vmap"), "{err}");
        let err = Shortlist::parse("▁Rusia\t▁the\t.\n", Path::new("t.vmap"), &tok, 803)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("second tab"),
            "{err}"
        );
        let err = Shortlist::parse("\n\r\n", Path::new("t.vmap"), &tok, 803)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.vmap is empty"), "{err}");
        // Another source language with this target vocabulary: every key unknown, so
        // nothing is kept, though its targets are this model's.
        let err = Shortlist::parse("zzz\t▁the .\nyyy\t▁the\n", Path::new("t.vmap"), &tok, 803)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another model"), "{err}");
    }

    /// A byte-order mark and CRLF line ends are read through: the every-sentence line
    /// that opens the file is still one.
    #[test]
    fn a_bom_and_crlf_are_read_through() {
        let tok = tokenizer("marian-shared");
        let s = Shortlist::parse(
            "\u{feff}\t▁the\r\n▁Rusia\t.\r\n",
            Path::new("t.vmap"),
            &tok,
            803,
        )
        .unwrap();
        assert_eq!(s.stats.rules, 1);
        assert_eq!(s.candidates(&[268, 0]), [0, 1, 91, 188, 268, 802]);
    }

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    /// IBM Model 1 finds each word's translation from co-occurrence alone: "rumah" is
    /// always beside "house", "besar" beside "big", though neither pair is ever alone.
    #[test]
    fn model_one_learns_word_translations_from_pairs() {
        let pairs = vec![
            (toks("rumah besar"), toks("big house")),
            (toks("rumah kecil"), toks("small house")),
            (toks("mobil besar"), toks("big car")),
            (toks("mobil kecil"), toks("small car")),
            (toks("rumah"), toks("house")),
        ];
        let opts = BuildOptions {
            per_source: 1,
            frequent: 2,
            iterations: 10,
            min_probability: 0.0,
        };
        let table = build(&pairs, &opts);
        let lines: Vec<&str> = table.lines().collect();
        // The two most frequent targets, most frequent first; then one rule per source
        // word, sorted.
        assert_eq!(
            lines,
            [
                "\thouse big",
                "besar\tbig",
                "kecil\tsmall",
                "mobil\tcar",
                "rumah\thouse",
            ]
        );
        // The same pairs give the same bytes.
        assert_eq!(build(&pairs, &opts), table);
    }

    #[test]
    fn per_source_and_probability_floor_bound_the_lists() {
        let pairs = vec![(toks("a"), toks("x y z")), (toks("a"), toks("x"))];
        let opts = BuildOptions {
            per_source: 2,
            frequent: 0,
            iterations: 3,
            min_probability: 0.0,
        };
        let table = build(&pairs, &opts);
        assert_eq!(table, "a\tx y\n");
        let high_floor = BuildOptions {
            min_probability: 0.9,
            ..opts
        };
        // Nothing reaches the floor: no rule at all.
        assert_eq!(build(&pairs, &high_floor), "");
    }
}

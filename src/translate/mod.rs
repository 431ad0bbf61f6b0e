//! Translation: Indonesian segments in, English segments out.
//!
//! [`Translator`] joins the Marian tokenizer ([`tokenizer`]) and model ([`marian`]) with the
//! shared decoding loop ([`crate::generate`]). The sentence is the unit: a segment is cut
//! into its sentences, and a sentence longer than the model's input into pieces ([`chunk`]),
//! never truncated. It batches units by length across segments so batches stay full, runs
//! several batches at once (one per thread), checks every result ([`quality`]), retries what
//! stopped at the length limit or degenerated, and flags what is still wrong. Batching never
//! changes a result: the model masks padding, and batches are independent.
pub(crate) mod activation;
pub(crate) mod attend;
pub mod bf16;
pub mod chunk;
pub mod int8;
pub mod marian;
pub mod project;
pub mod quality;
pub mod shortlist;
mod spm;
pub(crate) mod tiles;
pub mod tokenizer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use rayon::prelude::*;

use crate::device::Precision;
use crate::generate::{GenerationConfig, GenerationConfigError};
use crate::text::segment;
use crate::weights::Checkpoint;
use marian::{Decoding, MarianModel};
pub use quality::Flag;
use shortlist::Shortlist;
use tokenizer::MarianTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::TokenizerError),
    #[error(transparent)]
    Model(#[from] marian::MarianError),
    #[error("model {model}: {source}")]
    Decoding {
        model: String,
        source: GenerationConfigError,
    },
    #[error(transparent)]
    Shortlist(#[from] shortlist::ShortlistError),
    #[error("model {model} failed while translating: {source}")]
    Inference {
        model: String,
        source: candle_core::Error,
    },
}

/// One translated segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub text: String,
    /// Mean log-probability of the generated tokens (over all units); 0 for an empty segment.
    pub score: f32,
    /// How many units the segment was cut into: its sentences, and the pieces of any
    /// sentence too long for the model's input (0 when it was empty). A unit split finer
    /// on a retry still counts once.
    pub pieces: usize,
    /// Sentences too long for the model's input, cut at clauses or words to fit.
    pub oversized: usize,
    /// Generated tokens, the end-of-sequence tokens included.
    pub tokens: usize,
    /// What is still wrong with the translation after the retries, sorted, each once.
    pub flags: Vec<Flag>,
}

/// One unit the model translates: a sentence, or a piece of one too long for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unit {
    text: String,
    ids: Vec<u32>,
}

/// A segment made ready for the model: its units (none when it is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    units: Vec<Unit>,
    oversized: usize,
}

/// Makes segments into [`Source`]s with a translator's tokenizer and length limit. It is
/// cheap to clone and works on any thread, so a batch runner can tokenize the next articles
/// while the model translates these.
#[derive(Clone)]
pub struct Encoder {
    tokenizer: Arc<MarianTokenizer>,
    /// Longest source, in tokens with `</s>`, that the model takes.
    max_source_tokens: usize,
}

impl Encoder {
    pub fn encode(&self, segment: &str) -> Source {
        // A target-language token (">>eng<<" for a multilingual model) applies to every
        // unit of the segment.
        let (lang, seg) = language_token(segment);
        let with_lang = |s: &str| prefixed(lang, s);
        let mut oversized = 0;
        let fits = |s: &str| self.tokenizer.encode(&with_lang(s)).len() <= self.max_source_tokens;
        let units = segment::sentences(seg)
            .into_iter()
            .flat_map(|r| {
                let sentence = with_lang(&seg[r.clone()]);
                let ids = self.tokenizer.encode(&sentence);
                if ids.len() <= self.max_source_tokens {
                    return vec![Unit {
                        text: sentence,
                        ids,
                    }];
                }
                oversized += 1;
                let bare = &seg[r];
                chunk::units(bare, &fits)
                    .into_iter()
                    .map(|p| self.unit(&with_lang(&bare[p])))
                    .collect()
            })
            .collect();
        Source { units, oversized }
    }

    fn unit(&self, text: &str) -> Unit {
        Unit {
            text: text.to_string(),
            ids: self.tokenizer.encode(text),
        }
    }
}

/// The target-language token opening `text` (">>eng<<"), if any, and the rest, trimmed.
/// The code ends at the first "<<", as the tokenizer reads it, so a space after it is
/// optional (">>ind<<Rusia").
fn language_token(text: &str) -> (Option<&str>, &str) {
    let text = text.trim();
    match text.strip_prefix(">>").and_then(|t| t.find("<<")) {
        Some(end) => {
            let code_end = end + 2 + 2;
            (Some(&text[..code_end]), text[code_end..].trim())
        }
        None => (None, text),
    }
}

fn prefixed(lang: Option<&str>, text: &str) -> String {
    match lang {
        Some(l) => format!("{l} {text}"),
        None => text.to_string(),
    }
}

/// A unit's translation as it stands.
#[derive(Debug, Clone)]
struct Done {
    text: String,
    /// Sum of the generated tokens' log-probabilities, and their number.
    logprob: f64,
    tokens: usize,
    flags: Vec<Flag>,
}

/// A translator's decoding settings: as given, and what they and the retries' variants
/// resolve to for its model, worked out once when they are set ([`Translator::configure`]).
#[derive(Debug, Clone)]
struct Settings {
    /// The checkpoint's generation_config.json with the caller's edits.
    given: GenerationConfig,
    /// What every unit is first translated with.
    first: Decoding,
    /// A unit cut at the length limit is translated again with the decoder's whole budget:
    /// `None` when the limit in force is the user's, or already the whole budget.
    whole_budget: Option<Decoding>,
    /// A degenerate greedy translation is translated again with beams and
    /// `no_repeat_ngram_size` (after `whole_budget`'s limit): `None` when `first` has beams.
    beam_retry: Option<Decoding>,
}

impl Settings {
    /// Resolves `given` for `model`; `checkpoint` is the checkpoint's own settings (a length
    /// limit that differs from theirs is the user's choice, which a retry keeps).
    fn new(
        model: &MarianModel,
        given: GenerationConfig,
        checkpoint: &GenerationConfig,
    ) -> Result<Self, GenerationConfigError> {
        let first = model.decoding(&given)?;
        // The model's whole budget, when the limit in force is the checkpoint's own and
        // below what the decoder can hold.
        let full = model.max_positions();
        let user_limited = given.max_new_tokens.is_some()
            && given.max_new_tokens != checkpoint.max_new_tokens
            || given.max_length.is_some() && given.max_length != checkpoint.max_length;
        let mut in_force = given.clone();
        let whole_budget = if !user_limited && first.settings.max_length < full {
            in_force.max_new_tokens = None;
            in_force.max_length = Some(full);
            Some(model.decoding(&in_force)?)
        } else {
            None
        };
        let beam_retry = if first.settings.num_beams <= 1 {
            let mut beams = in_force;
            beams.num_beams = Some(4);
            beams.no_repeat_ngram_size = Some(3);
            Some(model.decoding(&beams)?)
        } else {
            None
        };
        Ok(Self {
            given,
            first,
            whole_budget,
            beam_retry,
        })
    }
}

pub struct Translator {
    model: MarianModel,
    encoder: Encoder,
    settings: Settings,
    /// The checkpoint's own settings: a length limit below theirs is the user's choice.
    checkpoint_generation: GenerationConfig,
    min_score: f32,
    /// Whether what is cut or degenerate is translated again (else only flagged).
    retry: bool,
    batch_size: usize,
    name: String,
    /// Each sentence's candidate target tokens, when a shortlist is given (off by default:
    /// it changes output).
    shortlist: Option<Arc<Shortlist>>,
}

/// How many candidates a batch's shortlist gives, at debug level (the benchmarks read it):
/// per batch, the union the output projection runs over, and per sentence.
fn log_candidates(candidates: &[Vec<u32>]) {
    if !tracing::enabled!(tracing::Level::DEBUG) || candidates.is_empty() {
        return;
    }
    let union = shortlist::union(candidates);
    let each: usize = candidates.iter().map(Vec::len).sum();
    tracing::debug!(
        "shortlist: {} sentences, {} candidates in the batch, {:.1} a sentence",
        candidates.len(),
        union.len(),
        each as f64 / candidates.len() as f64
    );
}

/// The version of how a segment is cut into units, translated and joined: bumped when a
/// change gives a segment a different translation, so cached ones from before are not
/// served as if this version had made them.
pub const SCHEME: &str = "units=sentences.1";

/// How many times a unit still cut at the length limit is split finer and translated again.
const FINER_ROUNDS: usize = 3;

impl Translator {
    /// Loads a model directory (config.json, generation_config.json, weights, tokenizer
    /// files). The checkpoint's decoding settings are resolved here: one no decoding can run
    /// with is a [`TranslateError::Decoding`].
    /// `precision`: a float `DType`, or [`Precision::Int8`] (CPU) for int8 projections.
    pub fn load(
        dir: &Path,
        device: &Device,
        precision: impl Into<Precision>,
    ) -> Result<Self, TranslateError> {
        let checkpoint = Checkpoint::find(dir).map_err(marian::MarianError::from)?;
        Self::from_checkpoint(&checkpoint, device, precision)
    }

    /// Loads a checkpoint: its weights, and config.json, generation_config.json and the
    /// tokenizer files from its directory.
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        device: &Device,
        precision: impl Into<Precision>,
    ) -> Result<Self, TranslateError> {
        let dir = checkpoint.dir.as_path();
        let (model, config, generation) =
            MarianModel::from_checkpoint(checkpoint, device, precision)?;
        let tokenizer = MarianTokenizer::from_dir(dir)?;
        let name = dir.display().to_string();
        let settings =
            Settings::new(&model, generation.clone(), &generation).map_err(|source| {
                TranslateError::Decoding {
                    model: name.clone(),
                    source,
                }
            })?;
        Ok(Self {
            model,
            encoder: Encoder {
                tokenizer: Arc::new(tokenizer),
                max_source_tokens: config.max_position_embeddings,
            },
            checkpoint_generation: generation,
            settings,
            min_score: quality::DEFAULT_MIN_SCORE,
            retry: true,
            batch_size: 32,
            name,
            shortlist: None,
        })
    }

    /// The name used in errors (the model's repo id or directory).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Restricts each sentence's output to its candidates in `shortlist` (see
    /// [`shortlist`]): faster, and a change of output.
    /// A table read for another vocabulary size is a [`shortlist::ShortlistError::Model`].
    pub fn with_shortlist(mut self, shortlist: Option<Shortlist>) -> Result<Self, TranslateError> {
        if let Some(s) = &shortlist {
            let model = self.target_vocab()?;
            if s.target_vocab() != model {
                return Err(shortlist::ShortlistError::Model {
                    table: s.target_vocab(),
                    model,
                }
                .into());
            }
        }
        self.shortlist = shortlist.map(Arc::new);
        Ok(self)
    }

    /// The digest of the shortlist in use, if any (see [`Shortlist::digest`]).
    pub fn shortlist_digest(&self) -> Option<&str> {
        self.shortlist.as_deref().map(Shortlist::digest)
    }

    /// The target vocabulary of the model's output projection.
    pub fn target_vocab(&self) -> Result<usize, TranslateError> {
        self.model
            .target_vocab_size()
            .map_err(|e| TranslateError::Model(e.into()))
    }

    /// Mean log-probability per token below which a translation is flagged `low_score`.
    pub fn with_min_score(mut self, min_score: f32) -> Self {
        self.min_score = min_score;
        self
    }

    /// Whether a translation cut at the length limit or degenerate is translated again
    /// (the default), or only flagged: then every unit's output is exactly what the
    /// decoding settings give, as HF `generate` would.
    pub fn with_retry(mut self, retry: bool) -> Self {
        self.retry = retry;
        self
    }

    /// The threshold of the `low_score` flag.
    pub fn min_score(&self) -> f32 {
        self.min_score
    }

    /// The decoding settings as given; starts as the checkpoint's generation_config.json.
    pub fn generation(&self) -> &GenerationConfig {
        &self.settings.given
    }

    /// What the decoding settings resolve to for this model: the values translations use
    /// (the number of beams even when the checkpoint leaves it unset, ...).
    pub fn decoding(&self) -> &Decoding {
        &self.settings.first
    }

    /// Edits the decoding settings (a user's flags over the checkpoint's) and resolves them
    /// once, here: a setting no decoding can run with is a [`TranslateError::Decoding`]
    /// naming it, and the translator keeps the settings it had.
    pub fn configure(
        &mut self,
        edit: impl FnOnce(&mut GenerationConfig),
    ) -> Result<(), TranslateError> {
        let mut given = self.settings.given.clone();
        edit(&mut given);
        self.settings =
            Settings::new(&self.model, given, &self.checkpoint_generation).map_err(|source| {
                TranslateError::Decoding {
                    model: self.name.clone(),
                    source,
                }
            })?;
        Ok(())
    }

    /// Everything of this translator that decides what a segment becomes, as one string
    /// (a translation cache's key): the model's name, the decoding settings, whether
    /// retries run, and the version of how segments are cut and joined ([`SCHEME`]).
    /// The weights' dtype is the loader's to add.
    pub fn setup(&self) -> Result<String, serde_json::Error> {
        let mut setup = format!(
            "{}|{}|retry={}|{SCHEME}",
            self.name,
            serde_json::to_string(&self.settings.given)?,
            self.retry
        );
        if let Some(s) = &self.shortlist {
            setup.push_str("|shortlist=");
            setup.push_str(s.digest());
        }
        Ok(setup)
    }

    pub fn tokenizer(&self) -> &MarianTokenizer {
        &self.encoder.tokenizer
    }

    /// What makes segments ready for this translator, on any thread.
    pub fn encoder(&self) -> Encoder {
        self.encoder.clone()
    }

    /// Translates `segments`, one [`Translation`] per segment in the same order.
    pub fn translate(&self, segments: &[&str]) -> Result<Vec<Translation>, TranslateError> {
        self.translate_sources(segments.iter().map(|s| self.encoder.encode(s)).collect())
    }

    /// Translates segments made ready by [`Translator::encoder`], one [`Translation`] per
    /// segment in the same order. Every unit of every segment is translated in one set of
    /// length-sorted batches; then units cut at the length limit or degenerate are retried
    /// (see [`Translator::settle`]) and the units are joined back into their segments.
    pub fn translate_sources(
        &self,
        sources: Vec<Source>,
    ) -> Result<Vec<Translation>, TranslateError> {
        let mut owner = Vec::new();
        let mut units = Vec::new();
        let mut counts = Vec::with_capacity(sources.len());
        let mut oversized = Vec::with_capacity(sources.len());
        for (i, s) in sources.into_iter().enumerate() {
            counts.push(s.units.len());
            oversized.push(s.oversized);
            owner.extend(std::iter::repeat_n(i, s.units.len()));
            units.extend(s.units);
        }
        let done = self.settle(units, FINER_ROUNDS)?;
        let mut out: Vec<Translation> = counts
            .iter()
            .zip(oversized)
            .map(|(&pieces, oversized)| Translation {
                text: String::new(),
                score: 0.0,
                pieces,
                oversized,
                tokens: 0,
                flags: Vec::new(),
            })
            .collect();
        let mut logprob = vec![0f64; out.len()];
        for (seg, d) in owner.into_iter().zip(done) {
            let t = &mut out[seg];
            if !d.text.is_empty() {
                if !t.text.is_empty() {
                    t.text.push(' ');
                }
                t.text.push_str(&d.text);
            }
            logprob[seg] += d.logprob;
            t.tokens += d.tokens;
            t.flags.extend(d.flags);
        }
        for (t, lp) in out.iter_mut().zip(logprob) {
            // A unit's low score alone does not flag its segment: the segment's mean does,
            // as it does for a segment read back from the cache.
            t.flags.retain(|f| *f != Flag::LowScore);
            if t.tokens > 0 {
                t.score = (lp / t.tokens as f64) as f32;
                if quality::is_low(t.score, self.min_score) {
                    t.flags.push(Flag::LowScore);
                }
            }
            t.flags.sort();
            t.flags.dedup();
        }
        Ok(out)
    }

    /// Translates `units` and mends what came out wrong: a unit that stopped at the length
    /// limit is translated again with the model's whole budget (unless the user set a lower
    /// limit: theirs is kept), and, still cut, split finer and translated piece by piece,
    /// up to `rounds` times; a degenerate greedy translation is retried with beam search
    /// and `no_repeat_ngram_size`, and kept only when the retry is better. What is still
    /// wrong stays flagged.
    fn settle(&self, units: Vec<Unit>, rounds: usize) -> Result<Vec<Done>, TranslateError> {
        let settings = &self.settings;
        let mut done = self.run(&units, &settings.first)?;
        if !self.retry {
            return Ok(done);
        }
        if let Some(whole) = &settings.whole_budget {
            self.retry(&units, &mut done, whole, |d| {
                d.flags.contains(&Flag::Truncated)
            })?;
        }
        if let Some(beams) = &settings.beam_retry {
            self.retry(&units, &mut done, beams, |d| {
                d.flags.iter().any(|f| f.is_degenerate())
            })?;
        }

        // Still cut: split finer and translate the pieces (they may be split again).
        if rounds == 0 {
            return Ok(done);
        }
        let mut cut = Vec::new();
        let mut pieces = Vec::new();
        for (i, d) in done.iter().enumerate() {
            if !d.flags.contains(&Flag::Truncated) {
                continue;
            }
            let (lang, text) = language_token(&units[i].text);
            let parts = chunk::finer(text);
            if parts.is_empty() {
                continue;
            }
            cut.push((i, parts.len()));
            pieces.extend(
                parts
                    .into_iter()
                    .map(|r| self.encoder.unit(&prefixed(lang, &text[r]))),
            );
        }
        if cut.is_empty() {
            return Ok(done);
        }
        let mut finer = self.settle(pieces, rounds - 1)?.into_iter();
        for (i, n) in cut {
            let parts: Vec<Done> = finer.by_ref().take(n).collect();
            done[i] = Done {
                text: parts
                    .iter()
                    .map(|p| p.text.as_str())
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                logprob: parts.iter().map(|p| p.logprob).sum(),
                tokens: parts.iter().map(|p| p.tokens).sum(),
                flags: parts.into_iter().flat_map(|p| p.flags).collect(),
            };
        }
        Ok(done)
    }

    /// Translates again, with `decoding`, the units whose translation `wrong` picks, and
    /// keeps a retry that has fewer flags.
    fn retry(
        &self,
        units: &[Unit],
        done: &mut [Done],
        decoding: &Decoding,
        wrong: impl Fn(&Done) -> bool,
    ) -> Result<(), TranslateError> {
        let picked: Vec<usize> = (0..units.len()).filter(|&i| wrong(&done[i])).collect();
        if picked.is_empty() {
            return Ok(());
        }
        let again: Vec<Unit> = picked.iter().map(|&i| units[i].clone()).collect();
        for (i, d) in picked.into_iter().zip(self.run(&again, decoding)?) {
            if d.flags.len() < done[i].flags.len() {
                done[i] = d;
            }
        }
        Ok(())
    }

    /// Translates `units` with `decoding` in length-sorted batches and checks each result.
    fn run(&self, units: &[Unit], decoding: &Decoding) -> Result<Vec<Done>, TranslateError> {
        // A sentence repeated across lines (a dateline, an agency's boilerplate) is
        // translated once.
        let mut first: HashMap<&[u32], usize> = HashMap::new();
        let mut unique: Vec<Unit> = Vec::new();
        let slot: Vec<usize> = units
            .iter()
            .map(|u| {
                *first.entry(&u.ids).or_insert_with(|| {
                    unique.push(u.clone());
                    unique.len() - 1
                })
            })
            .collect();
        if unique.len() < units.len() {
            let done = self.run(&unique, decoding)?;
            return Ok(slot.into_iter().map(|i| done[i].clone()).collect());
        }
        let fail = |source| TranslateError::Inference {
            model: self.name.clone(),
            source,
        };
        let resolved = &decoding.settings;
        // Longest first, so each batch holds sources of similar length and little padding.
        let mut order: Vec<usize> = (0..units.len()).collect();
        order.sort_by_key(|&p| std::cmp::Reverse(units[p].ids.len()));
        let mut outputs: Vec<Option<crate::generate::Hypothesis>> = vec![None; units.len()];
        let mut batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        // A remainder of a few units rides with the batch before it (the shortest units)
        // rather than costing a decoding pass of its own: on a CPU a step costs nearly as
        // much for two rows as for thirty.
        if let [.., before, last] = batches.as_slice() {
            if last.len() <= self.batch_size / 8 {
                let start = order.len() - last.len() - before.len();
                batches.truncate(batches.len() - 2);
                batches.push(&order[start..]);
            }
        }
        // Several batches at a time, one per thread of rayon's pool (up to four, as each
        // holds its own decoder state): each keeps a core busy through its serial
        // stretches (copies, the beam step), and an idle thread helps with the others'
        // matrix products. Batches are independent, so the output is the same.
        let in_flight = rayon::current_num_threads().clamp(1, 4);
        for group in batches.chunks(in_flight) {
            let done: Vec<Vec<crate::generate::Hypothesis>> = group
                .par_iter()
                .map(|b| {
                    let inputs: Vec<Vec<u32>> = b.iter().map(|&p| units[p].ids.clone()).collect();
                    let candidates: Option<Vec<Vec<u32>>> = self
                        .shortlist
                        .as_ref()
                        .map(|s| inputs.iter().map(|ids| s.candidates(ids)).collect());
                    if let Some(c) = &candidates {
                        log_candidates(c);
                    }
                    self.model
                        .translate_within(&inputs, decoding, candidates.as_deref())
                        .map_err(fail)
                })
                .collect::<Result<_, _>>()?;
            for (batch, hyps) in group.iter().zip(done) {
                for (&p, h) in batch.iter().zip(hyps) {
                    outputs[p] = Some(h);
                }
            }
        }
        Ok(units
            .iter()
            .zip(outputs)
            .map(|(u, hyp)| {
                let hyp = hyp.unwrap_or_else(|| crate::generate::Hypothesis {
                    tokens: Vec::new(),
                    score: 0.0,
                    mean_logprob: 0.0,
                });
                let text = self.encoder.tokenizer.decode(&hyp.tokens);
                let ended = hyp
                    .tokens
                    .last()
                    .is_some_and(|t| resolved.eos_token_ids.contains(t));
                // Stopped at the limit: no EOS, or one in the last position, where a forced
                // EOS (Marian's `forced_eos_token_id`) cannot be told from a natural one.
                // A length the settings force (min = max) is what was asked for.
                let forced = resolved.min_length >= resolved.max_length;
                let hit_limit =
                    !forced && resolved.prompt_len + hyp.tokens.len() >= resolved.max_length;
                let generated = hyp.tokens.len() - usize::from(ended);
                let flags = quality::assess(
                    &u.text,
                    u.ids.len().saturating_sub(1),
                    &text,
                    generated,
                    hit_limit,
                    hyp.mean_logprob,
                    self.min_score,
                );
                Done {
                    text,
                    logprob: hyp.mean_logprob as f64 * hyp.tokens.len() as f64,
                    tokens: hyp.tokens.len(),
                    flags,
                }
            })
            .collect())
    }
}

//! The Marian (OPUS-MT) tokenizer in pure Rust, id for id the same as transformers'
//! `MarianTokenizer` (the slow, sentencepiece-based one).
//!
//! A Marian model directory holds two sentencepiece models (`source.spm`, `target.spm`) and
//! a `vocab.json` (plus `target_vocab.json` when source and target vocabularies differ)
//! whose ids are NOT the spm ids: pieces are always mapped by their string, and pieces the
//! vocabulary lacks become `<unk>`. On top of sentencepiece, `MarianTokenizer` adds:
//!
//! - special-token splitting: `</s>`, `<unk>` and `<pad>` written in the text become their
//!   own ids, and the text between them is encoded piece by piece;
//! - a leading `>>xx<<` language code in each such stretch is kept as one token;
//! - a `</s>` appended to every encoding;
//! - decoding with special tokens skipped, through the source spm when the vocabulary is
//!   shared and through the target spm when it is separate (transformers' choice), then
//!   U+2581 to space and Python's `str.strip()`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::spm::{EncodedPiece, SpmModel};

const SOURCE_SPM: &str = "source.spm";
const TARGET_SPM: &str = "target.spm";
const VOCAB: &str = "vocab.json";
const TARGET_VOCAB: &str = "target_vocab.json";
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
const SPACE_SYMBOL: char = '\u{2581}';

/// Why a model directory's tokenizer files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(
        "tokenizer file {path} is missing: a Marian model directory needs source.spm, \
         target.spm and vocab.json (and target_vocab.json when tokenizer_config.json says \
         \"separate_vocabs\": true); download the complete model repository"
    )]
    MissingFile { path: PathBuf },
    #[error("cannot read tokenizer file {path}: {source}; check its permissions")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid sentencepiece model ({reason}); the file is corrupt or \
         truncated, download it again"
    )]
    CorruptSpm { path: PathBuf, reason: String },
    #[error(
        "{path} is not valid JSON of the expected shape ({source}); it must map token \
         strings to integer ids (tokenizer_config.json: an object); download it again"
    )]
    BadJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} lacks the special token {token:?}, which MarianTokenizer requires; \
         the vocabulary does not belong to a Marian model, or the file is incomplete"
    )]
    MissingSpecialToken { path: PathBuf, token: String },
}

/// A vocabulary file in its file order (transformers inverts it in that order, so when two
/// strings share an id the later one decodes).
struct OrderedVocab(Vec<(String, u32)>);

impl<'de> Deserialize<'de> for OrderedVocab {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedVocab;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping token strings to ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedVocab, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) = m.next_entry::<String, u32>()? {
                    out.push((k, v));
                }
                Ok(OrderedVocab(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The parts of `tokenizer_config.json` that change tokenization.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    separate_vocabs: Option<bool>,
    unk_token: Option<TokenSpec>,
    eos_token: Option<TokenSpec>,
    pad_token: Option<TokenSpec>,
    clean_up_tokenization_spaces: Option<bool>,
}

/// A special token as a plain string or as a serialized `AddedToken`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TokenSpec {
    Plain(String),
    Added { content: String },
}

impl TokenSpec {
    fn content(self) -> String {
        match self {
            Self::Plain(s) | Self::Added { content: s } => s,
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TokenizerError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            TokenizerError::MissingFile {
                path: path.to_path_buf(),
            }
        } else {
            TokenizerError::Read {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })
}

fn load_spm(path: &Path) -> Result<SpmModel, TokenizerError> {
    SpmModel::from_bytes(&read(path)?).map_err(|e| TokenizerError::CorruptSpm {
        path: path.to_path_buf(),
        reason: e.0,
    })
}

fn load_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TokenizerError> {
    serde_json::from_slice(&read(path)?).map_err(|e| TokenizerError::BadJson {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Python's `str.isspace()`, which `str.strip()` uses.
fn py_is_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// transformers' `clean_up_tokenization`.
fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// Source-side text to ids and target-side ids to text, as transformers' `MarianTokenizer`.
///
/// Immutable after loading, so one instance can be shared by many threads.
#[derive(Clone)]
pub struct MarianTokenizer {
    source_spm: SpmModel,
    target_spm: SpmModel,
    separate_vocabs: bool,
    /// vocab.json: token string to id.
    encoder: HashMap<String, u32>,
    /// Source spm id to vocab id, so that encoding needs no string lookups for known pieces.
    source_piece_ids: Vec<u32>,
    /// Target-side id to token string (target_vocab.json when separate, else vocab.json).
    decoder: HashMap<u32, String>,
    /// The special tokens (eos, unk, pad) as strings with their ids, split out of the text.
    specials: Vec<(String, u32)>,
    /// Ids dropped by `decode`: the special tokens' ids.
    skip_ids: HashSet<u32>,
    eos_id: u32,
    unk_id: u32,
    pad_id: u32,
    source_vocab_size: usize,
    target_vocab_size: usize,
    clean_up_tokenization_spaces: bool,
}

impl fmt::Debug for MarianTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarianTokenizer")
            .field("source_pieces", &self.source_spm.len())
            .field("target_pieces", &self.target_spm.len())
            .field("separate_vocabs", &self.separate_vocabs)
            .field("source_vocab_size", &self.source_vocab_size)
            .field("target_vocab_size", &self.target_vocab_size)
            .field("eos_id", &self.eos_id)
            .field("unk_id", &self.unk_id)
            .field("pad_id", &self.pad_id)
            .finish_non_exhaustive()
    }
}

impl MarianTokenizer {
    /// Reads source.spm, target.spm, vocab.json (+ target_vocab.json if the vocabularies are
    /// separate) and, when present, tokenizer_config.json from a model directory.
    ///
    /// The vocabularies are separate when tokenizer_config.json says `"separate_vocabs":
    /// true`; when it does not say, when target_vocab.json exists.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let config_path = dir.join(TOKENIZER_CONFIG);
        let config: TokenizerConfig = if config_path.exists() {
            load_json(&config_path)?
        } else {
            TokenizerConfig::default()
        };
        let target_vocab_path = dir.join(TARGET_VOCAB);
        let separate_vocabs = config
            .separate_vocabs
            .unwrap_or_else(|| target_vocab_path.exists());
        let source_spm = load_spm(&dir.join(SOURCE_SPM))?;
        let target_spm = load_spm(&dir.join(TARGET_SPM))?;
        let vocab_path = dir.join(VOCAB);
        let vocab: OrderedVocab = load_json(&vocab_path)?;
        let target_vocab: Option<OrderedVocab> = if separate_vocabs {
            Some(load_json(&target_vocab_path)?)
        } else {
            None
        };

        let encoder: HashMap<String, u32> = vocab.0.iter().cloned().collect();
        let token = |spec: Option<TokenSpec>, default: &str| {
            spec.map_or_else(|| default.to_string(), TokenSpec::content)
        };
        let unk = token(config.unk_token, "<unk>");
        let eos = token(config.eos_token, "</s>");
        let pad = token(config.pad_token, "<pad>");
        let Some(&unk_id) = encoder.get(&unk) else {
            return Err(TokenizerError::MissingSpecialToken {
                path: vocab_path,
                token: unk,
            });
        };
        // transformers adds a special token missing from the vocabulary after its end.
        let mut next_id = encoder.len() as u32;
        let mut id_or_added = |t: &str| {
            encoder.get(t).copied().unwrap_or_else(|| {
                next_id += 1;
                next_id - 1
            })
        };
        let eos_id = id_or_added(&eos);
        let pad_id = id_or_added(&pad);
        let mut specials: Vec<(String, u32)> = Vec::new();
        for (t, id) in [(eos, eos_id), (unk, unk_id), (pad, pad_id)] {
            if !t.is_empty() && !specials.iter().any(|(s, _)| *s == t) {
                specials.push((t, id));
            }
        }
        let skip_ids = specials.iter().map(|&(_, id)| id).collect();

        // transformers' `vocab_size` is `len(encoder)`: distinct strings.
        let source_vocab_size = encoder.len();
        let (decoder_entries, target_vocab_size) = match &target_vocab {
            Some(t) => (
                &t.0,
                t.0.iter().map(|(s, _)| s).collect::<HashSet<_>>().len(),
            ),
            None => (&vocab.0, source_vocab_size),
        };
        let decoder = decoder_entries
            .iter()
            .map(|(s, id)| (*id, s.clone()))
            .collect();

        let mut tok = Self {
            source_spm,
            target_spm,
            separate_vocabs,
            encoder,
            source_piece_ids: Vec::new(),
            decoder,
            specials,
            skip_ids,
            eos_id,
            unk_id,
            pad_id,
            source_vocab_size,
            target_vocab_size,
            clean_up_tokenization_spaces: config.clean_up_tokenization_spaces.unwrap_or(false),
        };
        tok.source_piece_ids = (0..tok.source_spm.len() as u32)
            .map(|id| {
                tok.source_spm
                    .id_to_piece(id)
                    .map_or(tok.unk_id, |p| tok.token_id(p))
            })
            .collect();
        Ok(tok)
    }

    /// transformers' `_convert_token_to_id_with_added_voc`: special tokens first, then the
    /// vocabulary, else `<unk>`.
    fn token_id(&self, token: &str) -> u32 {
        if let Some(&(_, id)) = self.specials.iter().find(|(s, _)| s == token) {
            return id;
        }
        self.encoder.get(token).copied().unwrap_or(self.unk_id)
    }

    /// The earliest special token in `text` (the longest one if several start there).
    fn next_special(&self, text: &str) -> Option<(usize, usize, u32)> {
        let mut best: Option<(usize, usize, u32)> = None;
        for (s, id) in &self.specials {
            if let Some(at) = text.find(s.as_str()) {
                let better = match best {
                    None => true,
                    Some((b_at, b_len, _)) => at < b_at || (at == b_at && s.len() > b_len),
                };
                if better {
                    best = Some((at, s.len(), *id));
                }
            }
        }
        best
    }

    /// Walks the tokens of `text` (without the final `</s>`), calling `f(token, id)`.
    fn walk(&self, text: &str, mut f: impl FnMut(&[u8], u32)) {
        let mut normalized = Vec::new();
        let mut pieces = Vec::new();
        let mut rest = text;
        loop {
            let (chunk, special) = match self.next_special(rest) {
                Some((at, len, id)) => (&rest[..at], Some((&rest[at..at + len], id))),
                None => (rest, None),
            };
            if !chunk.is_empty() {
                self.walk_chunk(chunk, &mut normalized, &mut pieces, &mut f);
            }
            match special {
                Some((s, id)) => {
                    f(s.as_bytes(), id);
                    rest = &rest[chunk.len() + s.len()..];
                }
                None => break,
            }
        }
    }

    /// One stretch of text between special tokens: `_tokenize` (language code, then spm).
    fn walk_chunk(
        &self,
        chunk: &str,
        normalized: &mut Vec<u8>,
        pieces: &mut Vec<EncodedPiece>,
        f: &mut impl FnMut(&[u8], u32),
    ) {
        let mut chunk = chunk;
        if chunk.starts_with(">>") {
            if let Some(end) = chunk.find("<<") {
                let code = &chunk[..end + 2];
                f(code.as_bytes(), self.token_id(code));
                chunk = &chunk[end + 2..];
            }
        }
        self.source_spm.encode(chunk, normalized, pieces);
        let unk_spm_id = self.source_spm.unk_id();
        for &p in pieces.iter() {
            let bytes = self.source_spm.piece_bytes(normalized, p);
            let id = if p.id == unk_spm_id {
                // An unknown run: transformers looks its surface up in the vocabulary.
                std::str::from_utf8(bytes).map_or(self.unk_id, |s| self.token_id(s))
            } else {
                self.source_piece_ids
                    .get(p.id as usize)
                    .copied()
                    .unwrap_or(self.unk_id)
            };
            f(bytes, id);
        }
    }

    /// Source ids for one segment, `</s>` appended, exactly as HF `tokenizer(text)["input_ids"]`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        self.walk(text, |_, id| ids.push(id));
        ids.push(self.eos_id);
        ids
    }

    /// Source pieces (strings) before id mapping, for debugging; as HF `tokenize(text)`
    /// (no `</s>`).
    pub fn encode_pieces(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(text, |piece, _| {
            out.push(String::from_utf8_lossy(piece).into_owned())
        });
        out
    }

    /// Target-side pieces of `text` (the target spm's, as HF `text_target` tokenizes it),
    /// without `</s>`: what a shortlist table is built from.
    pub fn encode_target_pieces(&self, text: &str) -> Vec<String> {
        let mut normalized = Vec::new();
        let mut pieces = Vec::new();
        self.target_spm.encode(text, &mut normalized, &mut pieces);
        pieces
            .iter()
            .map(|&p| {
                String::from_utf8_lossy(self.target_spm.piece_bytes(&normalized, p)).into_owned()
            })
            .collect()
    }

    /// The source vocabulary (vocab.json): token string to id.
    pub fn source_vocab(&self) -> &HashMap<String, u32> {
        &self.encoder
    }

    /// The target vocabulary (target_vocab.json when separate, else vocab.json): token
    /// string to id (a string listed under several ids: the lowest).
    pub fn target_vocab(&self) -> HashMap<&str, u32> {
        let mut entries: Vec<(u32, &str)> = self
            .decoder
            .iter()
            .map(|(&id, s)| (id, s.as_str()))
            .collect();
        entries.sort_unstable();
        let mut out = HashMap::with_capacity(entries.len());
        for (id, s) in entries {
            out.entry(s).or_insert(id);
        }
        out
    }

    /// Target ids to text, special tokens skipped, as HF `decode(ids, skip_special_tokens=True)`.
    ///
    /// Ids that neither the target vocabulary nor the decoding spm know (transformers raises
    /// an `IndexError` for them) are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let spm = if self.separate_vocabs {
            &self.target_spm
        } else {
            &self.source_spm
        };
        let mut out = String::new();
        let mut run: Vec<&str> = Vec::with_capacity(ids.len());
        for id in ids {
            if self.skip_ids.contains(id) {
                continue;
            }
            let token = match self.decoder.get(id) {
                Some(t) => t.as_str(),
                None => match spm.id_to_piece(*id) {
                    Some(p) => p,
                    None => continue,
                },
            };
            if self.specials.iter().any(|(s, _)| s == token) {
                // A special token's string under a non-special id (separate vocabularies
                // whose special ids differ): transformers writes it out, then a space.
                spm.decode_pieces(&run, &mut out);
                out.push_str(token);
                out.push(' ');
                run.clear();
            } else {
                run.push(token);
            }
        }
        spm.decode_pieces(&run, &mut out);
        let out = out.replace(SPACE_SYMBOL, " ");
        let out = out.trim_matches(py_is_space);
        if self.clean_up_tokenization_spaces {
            clean_up_tokenization(out)
        } else {
            out.to_string()
        }
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Entries in vocab.json (transformers' `vocab_size`).
    pub fn source_vocab_size(&self) -> usize {
        self.source_vocab_size
    }

    /// Entries in target_vocab.json when the vocabularies are separate, else in vocab.json.
    pub fn target_vocab_size(&self) -> usize {
        self.target_vocab_size
    }

    /// Whether source and target have their own vocabularies.
    pub fn separate_vocabs(&self) -> bool {
        self.separate_vocabs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace() {
        for c in [
            '\t', '\n', '\u{1c}', '\u{1f}', ' ', '\u{85}', '\u{a0}', '\u{3000}',
        ] {
            assert!(py_is_space(c), "{c:?}");
        }
        for c in [
            '\u{1b}', '\u{200b}', '\u{180e}', '\u{feff}', 'a', '\u{2581}',
        ] {
            assert!(!py_is_space(c), "{c:?}");
        }
    }

    #[test]
    fn clean_up_matches_transformers() {
        assert_eq!(
            clean_up_tokenization("a . b , c ' d do n't I 'm"),
            "a. b, c'd don't I'm"
        );
    }

    #[test]
    fn ordered_vocab_keeps_file_order() {
        let v: OrderedVocab = serde_json::from_str(r#"{"b": 1, "a": 0, "c": 1}"#).unwrap();
        assert_eq!(v.0, vec![("b".into(), 1), ("a".into(), 0), ("c".into(), 1)]);
        assert!(serde_json::from_str::<OrderedVocab>(r#"{"a": "x"}"#).is_err());
    }
}

//! sentencepiece's text normalizer, with the exact semantics of its `normalizer.cc`.
//!
//! The rules live in the model's `precompiled_charsmap`: a darts-clone double-array trie over
//! raw UTF-8 bytes whose values point into a table of NUL-terminated replacement strings.
//! sentencepiece takes, at each position, the LONGEST rule that matches the bytes there (the
//! `tokenizers` crate's `Precompiled` works per grapheme and disagrees on combining marks,
//! ZWJ sequences and variation selectors, hence this module). Around the rules it trims and
//! collapses plain spaces (U+0020 only, after the rules ran), adds the dummy prefix and
//! escapes spaces as U+2581. User-defined pieces are matched first and passed through
//! unnormalized, as sentencepiece's prefix matcher does.

use super::proto::{NormalizerSpec, ProtoError};
use super::trie::ByteTrie;

/// U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's visible space.
pub(crate) const SPACE_SYMBOL: &str = "\u{2581}";
const SPACE_BYTES: &[u8] = SPACE_SYMBOL.as_bytes();
const REPLACEMENT_CHAR: &[u8] = "\u{FFFD}".as_bytes();
/// darts-clone result buffer size used by sentencepiece (`kMaxTrieResultsSize`).
const MAX_TRIE_RESULTS: usize = 32;

/// A read-only darts-clone double array (`Darts::DoubleArray`), as stored in the charsmap.
#[derive(Debug, Clone, Default)]
struct DoubleArray {
    units: Vec<u32>,
}

impl DoubleArray {
    fn has_leaf(unit: u32) -> bool {
        (unit >> 8) & 1 == 1
    }
    fn value(unit: u32) -> u32 {
        unit & 0x7fff_ffff
    }
    fn label(unit: u32) -> u32 {
        unit & (0x8000_0000 | 0xff)
    }
    fn offset(unit: u32) -> usize {
        ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
    }

    /// The longest key that is a prefix of `key`, among the first `MAX_TRIE_RESULTS`
    /// matches as sentencepiece sees them: `(length, value)`.
    fn longest_prefix(&self, key: &[u8]) -> Option<(usize, u32)> {
        let mut node = 0usize;
        let mut unit = *self.units.first()?;
        node ^= Self::offset(unit);
        let mut best = None;
        let mut found = 0usize;
        for (i, &b) in key.iter().enumerate() {
            node ^= usize::from(b);
            unit = *self.units.get(node)?;
            if Self::label(unit) != u32::from(b) {
                break;
            }
            node ^= Self::offset(unit);
            if Self::has_leaf(unit) {
                if found < MAX_TRIE_RESULTS {
                    let leaf = *self.units.get(node)?;
                    best = Some((i + 1, Self::value(leaf)));
                }
                found += 1;
            }
        }
        best
    }
}

/// One model's normalizer (or denormalizer).
#[derive(Debug, Clone)]
pub(crate) struct Normalizer {
    trie: Option<DoubleArray>,
    /// NUL-separated replacement strings the trie values index into.
    replacements: Vec<u8>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    treat_whitespace_as_suffix: bool,
    /// User-defined pieces: matched before the rules and copied through unchanged.
    user_defined: Option<ByteTrie>,
}

impl Normalizer {
    pub(crate) fn new(
        spec: &NormalizerSpec,
        treat_whitespace_as_suffix: bool,
        user_defined: Option<ByteTrie>,
    ) -> Result<Self, ProtoError> {
        let (trie, replacements) = if spec.precompiled_charsmap.is_empty() {
            (None, Vec::new())
        } else {
            let (t, r) = decode_charsmap(&spec.precompiled_charsmap)?;
            (Some(t), r)
        };
        Ok(Self {
            trie,
            replacements,
            add_dummy_prefix: spec.add_dummy_prefix,
            remove_extra_whitespaces: spec.remove_extra_whitespaces,
            escape_whitespaces: spec.escape_whitespaces,
            treat_whitespace_as_suffix,
            user_defined,
        })
    }

    /// The normalized form of the character(s) at the start of `input` and how many input
    /// bytes it replaces (sentencepiece's `NormalizePrefix`). `input` must not be empty.
    fn normalize_prefix<'a>(&'a self, input: &'a [u8]) -> (&'a [u8], usize) {
        if let Some(ud) = &self.user_defined {
            if let Some(len) = ud.longest_prefix_len(input) {
                return (&input[..len], len);
            }
        }
        if let Some(trie) = &self.trie {
            if let Some((len, value)) = trie.longest_prefix(input) {
                let start = (value as usize).min(self.replacements.len());
                let rest = &self.replacements[start..];
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                return (&rest[..end], len);
            }
        }
        match decode_utf8(input) {
            Some(len) => (&input[..len], len),
            None => (REPLACEMENT_CHAR, 1),
        }
    }

    /// Normalizes `input` into `out` (cleared first), as sentencepiece's `Normalize`.
    pub(crate) fn normalize(&self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let mut input = input;
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (sp, n) = self.normalize_prefix(input);
                if sp != b" " {
                    break;
                }
                input = &input[n..];
            }
        }
        if input.is_empty() {
            return;
        }
        out.reserve(input.len() * 3);
        let space: &[u8] = if self.escape_whitespaces {
            SPACE_BYTES
        } else {
            b" "
        };
        if !self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
        let mut is_prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut sp, n) = self.normalize_prefix(input);
            if is_prev_space {
                while let Some(rest) = sp.strip_prefix(b" ") {
                    sp = rest;
                }
            }
            if !sp.is_empty() {
                for &b in sp {
                    if self.escape_whitespaces && b == b' ' {
                        out.extend_from_slice(SPACE_BYTES);
                    } else {
                        out.push(b);
                    }
                }
                is_prev_space = sp.ends_with(b" ");
            }
            input = &input[n..];
            if !self.remove_extra_whitespaces {
                is_prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        if self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
    }
}

/// Splits the charsmap blob: `<u32 LE trie size><double array><replacement strings>`.
fn decode_charsmap(blob: &[u8]) -> Result<(DoubleArray, Vec<u8>), ProtoError> {
    if blob.len() <= 4 {
        return Err(ProtoError(
            "the normalizer's precompiled_charsmap is broken (too short)".into(),
        ));
    }
    let trie_size = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if trie_size >= blob.len() {
        return Err(ProtoError(format!(
            "the normalizer's trie size {trie_size} exceeds its charsmap of {} bytes",
            blob.len()
        )));
    }
    let rest = &blob[4..];
    if trie_size > rest.len() {
        return Err(ProtoError(
            "the normalizer's trie runs past its charsmap".into(),
        ));
    }
    let units = rest[..trie_size]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((DoubleArray { units }, rest[trie_size..].to_vec()))
}

/// The length of the valid UTF-8 character at the start of `s`, by sentencepiece's rules
/// (no overlongs, no surrogates, nothing past U+10FFFF); `None` when it is malformed.
pub(crate) fn decode_utf8(s: &[u8]) -> Option<usize> {
    let b0 = *s.first()?;
    let trail = |i: usize| s.get(i).is_some_and(|&b| b & 0xc0 == 0x80);
    let cont = |i: usize| u32::from(s[i] & 0x3f);
    let valid = |cp: u32| cp < 0xd800 || (0xe000..=0x10ffff).contains(&cp);
    if b0 < 0x80 {
        return Some(1);
    }
    if b0 & 0xe0 == 0xc0 && trail(1) {
        let cp = (u32::from(b0 & 0x1f) << 6) | cont(1);
        if cp >= 0x80 {
            return Some(2);
        }
    } else if b0 & 0xf0 == 0xe0 && trail(1) && trail(2) {
        let cp = (u32::from(b0 & 0x0f) << 12) | (cont(1) << 6) | cont(2);
        if cp >= 0x800 && valid(cp) {
            return Some(3);
        }
    } else if b0 & 0xf8 == 0xf0 && trail(1) && trail(2) && trail(3) {
        let cp = (u32::from(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
        if cp >= 0x10000 && valid(cp) {
            return Some(4);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Normalizer {
        Normalizer::new(&NormalizerSpec::default(), false, None).unwrap()
    }

    fn norm(n: &Normalizer, s: &str) -> String {
        let mut out = Vec::new();
        n.normalize(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn whitespace_without_rules() {
        let n = plain();
        assert_eq!(norm(&n, "  a   b  "), "▁a▁b");
        assert_eq!(norm(&n, "   "), "");
        // Only U+0020 is collapsed when there are no rules: a tab stays.
        assert_eq!(norm(&n, "a\t b"), "▁a\t▁b");
    }

    #[test]
    fn utf8_validation_follows_sentencepiece() {
        assert_eq!(decode_utf8("é".as_bytes()), Some(2));
        assert_eq!(decode_utf8("😀".as_bytes()), Some(4));
        assert_eq!(decode_utf8(&[0xc0, 0x80]), None); // overlong
        assert_eq!(decode_utf8(&[0xed, 0xa0, 0x80]), None); // surrogate
        assert_eq!(decode_utf8(&[0xe2, 0x96]), None); // truncated
    }

    #[test]
    fn broken_charsmap_is_an_error() {
        let spec = NormalizerSpec {
            precompiled_charsmap: vec![0xff, 0, 0, 0, 1],
            ..NormalizerSpec::default()
        };
        assert!(Normalizer::new(&spec, false, None).is_err());
    }
}

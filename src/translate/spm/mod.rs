//! A sentencepiece unigram model: encode text to pieces and decode pieces to text exactly as
//! the sentencepiece library (`SentencePieceProcessor`) does for Marian's `.spm` files.
//!
//! Encoding is normalization (see [`normalizer`]), then sentencepiece's optimized Viterbi
//! over the UTF-8 bytes with its precise arithmetic and tie-breaking, then the merge of runs
//! of unknown characters into one `<unk>` piece (or byte pieces when the model has byte
//! fallback). Decoding follows `SentencePieceProcessor::Decode`: control pieces vanish,
//! unknown pieces are copied or shown as the unknown surface, the first space is dropped,
//! byte pieces are reassembled into UTF-8.

use std::collections::HashMap;

mod normalizer;
mod proto;
mod trie;

use normalizer::{decode_utf8, Normalizer, SPACE_SYMBOL};
use proto::{parse_model, PieceType, ProtoError, MODEL_TYPE_UNIGRAM};
use trie::ByteTrie;

/// sentencepiece's `kUnkPenalty`: an unknown character scores this much below the rarest piece.
const UNK_PENALTY: f32 = 10.0;
const DEFAULT_UNK_SURFACE: &str = " \u{2047} ";

#[derive(Debug, Clone)]
struct Piece {
    text: String,
    score: f32,
    kind: PieceType,
}

/// One piece of an encoding: a span of the normalized text and its spm id. Byte-fallback
/// pieces carry the byte piece's id and an empty span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodedPiece {
    pub start: u32,
    pub end: u32,
    pub id: u32,
}

#[derive(Debug, Clone, Copy)]
struct BestPath {
    score: f32,
    /// Start of the last piece of the best path ending here; -1 when none yet.
    start: i64,
    id: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct SpmModel {
    pieces: Vec<Piece>,
    /// `PieceToId`: control/unknown/byte pieces take precedence over normal ones.
    piece_ids: HashMap<String, u32>,
    trie: ByteTrie,
    normalizer: Normalizer,
    denormalizer: Option<Normalizer>,
    unk_id: u32,
    min_score: f32,
    max_score: f32,
    byte_fallback: bool,
    /// Byte value to byte piece id, when the model has byte fallback.
    byte_ids: Vec<u32>,
    unk_surface: String,
    /// Whether decoding drops the space at the start (add_dummy_prefix or
    /// remove_extra_whitespaces).
    strip_bos_space: bool,
    remove_extra_whitespaces: bool,
}

/// `<0x41>` -> 0x41.
fn byte_of_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// sentencepiece's `OneCharLen`: the UTF-8 length announced by a lead byte.
#[inline]
fn one_char_len(b: u8) -> usize {
    match b >> 4 {
        0xc | 0xd => 2,
        0xe => 3,
        0xf => 4,
        _ => 1,
    }
}

impl SpmModel {
    /// Loads a serialized `ModelProto`.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, ProtoError> {
        let proto = parse_model(bytes)?;
        if proto.trainer.model_type != MODEL_TYPE_UNIGRAM {
            return Err(ProtoError(format!(
                "model type {} is not supported (only unigram models, type 1, are: Marian uses unigram)",
                proto.trainer.model_type
            )));
        }
        let mut pieces = Vec::with_capacity(proto.pieces.len());
        let mut normal: HashMap<String, u32> = HashMap::new();
        let mut reserved: HashMap<String, u32> = HashMap::new();
        let mut unk_id = None;
        let mut byte_ids = Vec::new();
        let mut min_score = f32::MAX;
        // sentencepiece starts from FLT_MIN, the smallest positive float, not from -FLT_MAX.
        let mut max_score = f32::MIN_POSITIVE;
        for (i, p) in proto.pieces.into_iter().enumerate() {
            let id = u32::try_from(i).map_err(|_| ProtoError("too many pieces".into()))?;
            if p.piece.is_empty() {
                return Err(ProtoError(format!("piece {id} is empty")));
            }
            let is_normal = matches!(
                p.kind,
                PieceType::Normal | PieceType::UserDefined | PieceType::Unused
            );
            let map = if is_normal {
                &mut normal
            } else {
                &mut reserved
            };
            if map.insert(p.piece.clone(), id).is_some() {
                return Err(ProtoError(format!("piece {:?} is defined twice", p.piece)));
            }
            match p.kind {
                PieceType::Unknown => {
                    if unk_id.is_some() {
                        return Err(ProtoError("more than one unknown piece".into()));
                    }
                    unk_id = Some(id);
                }
                PieceType::Byte => {
                    if !proto.trainer.byte_fallback {
                        return Err(ProtoError(format!(
                            "byte piece {:?} although byte_fallback is off",
                            p.piece
                        )));
                    }
                    let b = byte_of_piece(&p.piece).ok_or_else(|| {
                        ProtoError(format!("byte piece {:?} is invalid", p.piece))
                    })?;
                    byte_ids.push((b, id));
                }
                PieceType::Normal => {
                    min_score = min_score.min(p.score);
                    max_score = max_score.max(p.score);
                }
                _ => {}
            }
            pieces.push(Piece {
                text: p.piece,
                score: p.score,
                kind: p.kind,
            });
        }
        let unk_id = unk_id.ok_or_else(|| ProtoError("the model has no unknown piece".into()))?;
        let byte_ids = if proto.trainer.byte_fallback {
            let mut table = vec![u32::MAX; 256];
            for (b, id) in byte_ids {
                table[usize::from(b)] = id;
            }
            if table.contains(&u32::MAX) {
                return Err(ProtoError(
                    "byte_fallback is on but not all 256 byte pieces exist".into(),
                ));
            }
            table
        } else {
            Vec::new()
        };
        let trie = ByteTrie::build(
            pieces
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    matches!(
                        p.kind,
                        PieceType::Normal | PieceType::UserDefined | PieceType::Unused
                    )
                })
                .map(|(i, p)| (p.text.as_bytes(), i as u32)),
        );
        let user_defined: Vec<&[u8]> = pieces
            .iter()
            .filter(|p| p.kind == PieceType::UserDefined)
            .map(|p| p.text.as_bytes())
            .collect();
        let matcher = (!user_defined.is_empty())
            .then(|| ByteTrie::build(user_defined.into_iter().map(|k| (k, 0))));
        let normalizer = Normalizer::new(
            &proto.normalizer,
            proto.trainer.treat_whitespace_as_suffix,
            matcher,
        )?;
        let denormalizer = match &proto.denormalizer {
            Some(spec) if !spec.precompiled_charsmap.is_empty() => {
                Some(Normalizer::new(spec, false, None)?)
            }
            _ => None,
        };
        let mut piece_ids = normal;
        piece_ids.extend(reserved);
        Ok(Self {
            pieces,
            piece_ids,
            trie,
            normalizer,
            denormalizer,
            unk_id,
            min_score,
            max_score,
            byte_fallback: proto.trainer.byte_fallback,
            byte_ids,
            unk_surface: proto
                .trainer
                .unk_surface
                .unwrap_or_else(|| DEFAULT_UNK_SURFACE.to_string()),
            strip_bos_space: proto.normalizer.add_dummy_prefix
                || proto.normalizer.remove_extra_whitespaces,
            remove_extra_whitespaces: proto.normalizer.remove_extra_whitespaces,
        })
    }

    pub(crate) fn unk_id(&self) -> u32 {
        self.unk_id
    }

    pub(crate) fn len(&self) -> usize {
        self.pieces.len()
    }

    /// `IdToPiece`.
    pub(crate) fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|p| p.text.as_str())
    }

    /// `PieceToId`: unknown strings give the unknown piece's id.
    pub(crate) fn piece_to_id(&self, piece: &str) -> u32 {
        self.piece_ids.get(piece).copied().unwrap_or(self.unk_id)
    }

    fn kind(&self, id: u32) -> PieceType {
        self.pieces
            .get(id as usize)
            .map_or(PieceType::Normal, |p| p.kind)
    }

    /// The text of an encoded piece: its span of `normalized`, or a byte piece's name.
    pub(crate) fn piece_bytes<'a>(&'a self, normalized: &'a [u8], p: EncodedPiece) -> &'a [u8] {
        if self.kind(p.id) == PieceType::Byte {
            self.pieces[p.id as usize].text.as_bytes()
        } else {
            &normalized[p.start as usize..p.end as usize]
        }
    }

    /// Normalizes `text` into `normalized` and writes its pieces to `out` (both cleared),
    /// as `SentencePieceProcessor::Encode`.
    pub(crate) fn encode(&self, text: &str, normalized: &mut Vec<u8>, out: &mut Vec<EncodedPiece>) {
        out.clear();
        self.normalizer.normalize(text.as_bytes(), normalized);
        if normalized.is_empty() {
            return;
        }
        let best = self.viterbi(normalized);
        // Backtrack, then emit in order, merging runs of unknowns.
        let mut path: Vec<EncodedPiece> = Vec::new();
        let mut end = normalized.len();
        while end > 0 {
            let node = best[end];
            if node.start < 0 {
                // Unreachable with a well-formed model; never loop forever on a broken one.
                break;
            }
            let start = node.start as usize;
            path.push(EncodedPiece {
                start: start as u32,
                end: end as u32,
                id: node.id,
            });
            end = start;
        }
        let mut prev_unk = false;
        for p in path.into_iter().rev() {
            let is_unk = p.id == self.unk_id;
            if is_unk && self.byte_fallback {
                for &b in &normalized[p.start as usize..p.end as usize] {
                    out.push(EncodedPiece {
                        start: p.start,
                        end: p.start,
                        id: self.byte_ids[usize::from(b)],
                    });
                }
            } else if is_unk && prev_unk {
                if let Some(last) = out.last_mut() {
                    last.end = p.end;
                }
            } else {
                out.push(p);
            }
            prev_unk = is_unk;
        }
    }

    /// sentencepiece's `EncodeOptimized`: scores are summed and compared as f32 (checked
    /// against the sentencepiece library on exact ties, where summing or comparing in f64
    /// picks another segmentation), and ties keep the earlier start.
    fn viterbi(&self, norm: &[u8]) -> Vec<BestPath> {
        let size = norm.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            BestPath {
                score: 0.0,
                start: -1,
                id: self.unk_id,
            };
            size + 1
        ];
        let mut pos = 0;
        while pos < size {
            let till_here = best[pos].score;
            let mblen = one_char_len(norm[pos]).min(size - pos);
            let mut has_single_node = false;
            self.trie.for_each_prefix(&norm[pos..], |len, id| {
                let piece = &self.pieces[id as usize];
                if piece.kind == PieceType::Unused {
                    return;
                }
                let score = if piece.kind == PieceType::UserDefined {
                    (f64::from(len as f32 * self.max_score) - 0.1) as f32
                } else {
                    piece.score
                };
                let candidate = score + till_here;
                let target = &mut best[pos + len];
                if target.start == -1 || candidate > target.score {
                    target.score = candidate;
                    target.start = pos as i64;
                    target.id = id;
                }
                if len == mblen {
                    has_single_node = true;
                }
            });
            if !has_single_node {
                let candidate = unk_score + till_here;
                let target = &mut best[pos + mblen];
                if target.start == -1 || candidate > target.score {
                    target.score = candidate;
                    target.start = pos as i64;
                    target.id = self.unk_id;
                }
            }
            pos += mblen;
        }
        best
    }

    /// `SentencePieceProcessor::DecodePieces` of piece strings, appended to `out`.
    pub(crate) fn decode_pieces(&self, pieces: &[&str], out: &mut String) {
        let mut text: Vec<u8> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        for &piece in pieces {
            let id = self.piece_to_id(piece);
            let kind = self.kind(id);
            if kind == PieceType::Byte {
                if let Some(b) = byte_of_piece(piece) {
                    bytes.push(b);
                }
                continue;
            }
            flush_bytes(&mut bytes, &mut text);
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            bos_ws_seen = false;
            match kind {
                PieceType::Control => {}
                PieceType::Unknown => {
                    if self.id_to_piece(id) == Some(piece) {
                        text.extend_from_slice(self.unk_surface.as_bytes());
                    } else {
                        text.extend_from_slice(piece.as_bytes());
                    }
                }
                _ => {
                    let mut piece = piece;
                    if is_bos_ws && self.strip_bos_space {
                        if let Some(rest) = piece.strip_prefix(SPACE_SYMBOL) {
                            piece = rest;
                            bos_ws_seen = !self.remove_extra_whitespaces;
                        }
                    }
                    text.extend_from_slice(piece.replace(SPACE_SYMBOL, " ").as_bytes());
                }
            }
        }
        flush_bytes(&mut bytes, &mut text);
        if let Some(d) = &self.denormalizer {
            let mut denorm = Vec::new();
            d.normalize(&text, &mut denorm);
            text = denorm;
        }
        out.push_str(&String::from_utf8_lossy(&text));
    }
}

/// Appends a run of byte pieces as UTF-8, one U+FFFD per malformed byte.
fn flush_bytes(bytes: &mut Vec<u8>, text: &mut Vec<u8>) {
    let mut rest: &[u8] = bytes;
    while !rest.is_empty() {
        match decode_utf8(rest) {
            Some(n) => {
                text.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            None => {
                text.extend_from_slice("\u{FFFD}".as_bytes());
                rest = &rest[1..];
            }
        }
    }
    bytes.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_piece_names() {
        assert_eq!(byte_of_piece("<0x41>"), Some(0x41));
        assert_eq!(byte_of_piece("<0xff>"), Some(0xff));
        assert_eq!(byte_of_piece("<0x4>"), None);
        assert_eq!(byte_of_piece("<unk>"), None);
    }

    #[test]
    fn malformed_bytes_become_replacement_characters() {
        let mut text = Vec::new();
        let mut bytes = vec![0xe2, 0x96, 0x81, 0xff, b'a'];
        flush_bytes(&mut bytes, &mut text);
        assert_eq!(String::from_utf8(text).unwrap(), "▁\u{FFFD}a");
        assert!(bytes.is_empty());
    }
}

//! A minimal reader for sentencepiece's `ModelProto` (the `.spm` / `.model` files).
//!
//! Only the fields the encoder and decoder need are kept: the pieces with their scores and
//! types, the normalizer and denormalizer specs, and the few trainer options that change how
//! text is encoded (model type, whitespace as suffix, byte fallback, unknown surface).
//! Everything else is skipped by wire type, so newer sentencepiece files still load. The
//! protobuf wire format is small enough that a hand-written reader beats a code generator
//! and its build step.

/// What went wrong while reading a model file; the caller adds the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtoError(pub String);

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ProtoError> {
    Err(ProtoError(msg.into()))
}

/// `ModelProto.SentencePiece.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_wire(v: u64) -> Self {
        match v {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            // 1, and (as protobuf does for an unknown enum value) anything else.
            _ => Self::Normal,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PieceProto {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// `TrainerSpec.ModelType`.
pub(crate) const MODEL_TYPE_UNIGRAM: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrainerSpec {
    pub model_type: u64,
    pub treat_whitespace_as_suffix: bool,
    pub byte_fallback: bool,
    pub unk_surface: Option<String>,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        Self {
            model_type: MODEL_TYPE_UNIGRAM,
            treat_whitespace_as_suffix: false,
            byte_fallback: false,
            unk_surface: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NormalizerSpec {
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        // The proto2 defaults.
        Self {
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ModelProto {
    pub pieces: Vec<PieceProto>,
    pub trainer: TrainerSpec,
    pub normalizer: NormalizerSpec,
    pub denormalizer: Option<NormalizerSpec>,
}

/// One field read off the wire.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut out = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return err("truncated varint");
            };
            self.pos += 1;
            if shift < 64 {
                out |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        err("varint longer than 10 bytes")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return err(format!(
                "field of {n} bytes runs past the end of its message"
            ));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next (field number, value), or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtoError("length does not fit in memory".into()))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => return err(format!("unsupported wire type {w} for field {number}")),
        };
        Ok(Some((number, value)))
    }
}

fn string(bytes: &[u8], what: &str) -> Result<String, ProtoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError(format!("{what} is not UTF-8")))
}

fn bytes_of<'a>(v: Value<'a>, what: &str) -> Result<&'a [u8], ProtoError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => err(format!("{what} has the wrong wire type")),
    }
}

fn varint_of(v: Value<'_>, what: &str) -> Result<u64, ProtoError> {
    match v {
        Value::Varint(x) => Ok(x),
        _ => err(format!("{what} has the wrong wire type")),
    }
}

fn parse_piece(buf: &[u8]) -> Result<PieceProto, ProtoError> {
    let mut r = Reader::new(buf);
    let mut piece = PieceProto {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    while let Some((n, v)) = r.field()? {
        match n {
            1 => piece.piece = string(bytes_of(v, "piece")?, "a piece")?,
            2 => match v {
                Value::Fixed32(bits) => piece.score = f32::from_bits(bits),
                _ => return err("piece score has the wrong wire type"),
            },
            3 => piece.kind = PieceType::from_wire(varint_of(v, "piece type")?),
            _ => {}
        }
    }
    Ok(piece)
}

fn parse_trainer(buf: &[u8]) -> Result<TrainerSpec, ProtoError> {
    let mut r = Reader::new(buf);
    let mut t = TrainerSpec::default();
    while let Some((n, v)) = r.field()? {
        match n {
            3 => t.model_type = varint_of(v, "model_type")?,
            24 => t.treat_whitespace_as_suffix = varint_of(v, "treat_whitespace_as_suffix")? != 0,
            35 => t.byte_fallback = varint_of(v, "byte_fallback")? != 0,
            44 => t.unk_surface = Some(string(bytes_of(v, "unk_surface")?, "unk_surface")?),
            _ => {}
        }
    }
    Ok(t)
}

fn parse_normalizer(buf: &[u8]) -> Result<NormalizerSpec, ProtoError> {
    let mut r = Reader::new(buf);
    let mut s = NormalizerSpec::default();
    while let Some((n, v)) = r.field()? {
        match n {
            2 => s.precompiled_charsmap = bytes_of(v, "precompiled_charsmap")?.to_vec(),
            3 => s.add_dummy_prefix = varint_of(v, "add_dummy_prefix")? != 0,
            4 => s.remove_extra_whitespaces = varint_of(v, "remove_extra_whitespaces")? != 0,
            5 => s.escape_whitespaces = varint_of(v, "escape_whitespaces")? != 0,
            _ => {}
        }
    }
    Ok(s)
}

/// Parses a serialized `ModelProto`.
pub(crate) fn parse_model(buf: &[u8]) -> Result<ModelProto, ProtoError> {
    let mut r = Reader::new(buf);
    let mut m = ModelProto::default();
    while let Some((n, v)) = r.field()? {
        match n {
            1 => m.pieces.push(parse_piece(bytes_of(v, "pieces")?)?),
            2 => m.trainer = parse_trainer(bytes_of(v, "trainer_spec")?)?,
            3 => m.normalizer = parse_normalizer(bytes_of(v, "normalizer_spec")?)?,
            5 => m.denormalizer = Some(parse_normalizer(bytes_of(v, "denormalizer_spec")?)?),
            _ => {}
        }
    }
    if m.pieces.is_empty() {
        return err("the model has no pieces");
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: u64, wire: u64) -> u8 {
        u8::try_from((field << 3) | wire).unwrap()
    }

    #[test]
    fn reads_pieces_and_skips_unknown_fields() {
        // piece "ab", score -1.5, type CONTROL; an unknown fixed64 field; trainer byte_fallback.
        let mut piece = vec![key(1, 2), 2, b'a', b'b', key(2, 5)];
        piece.extend_from_slice(&(-1.5f32).to_le_bytes());
        piece.extend_from_slice(&[key(3, 0), 3]);
        let mut buf = vec![key(1, 2), u8::try_from(piece.len()).unwrap()];
        buf.extend_from_slice(&piece);
        buf.push(key(9, 1));
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&[key(2, 2), 3, 0x98, 0x02, 1]); // field 35 varint 1
        let m = parse_model(&buf).unwrap();
        assert_eq!(m.pieces.len(), 1);
        assert_eq!(m.pieces[0].piece, "ab");
        assert_eq!(m.pieces[0].score, -1.5);
        assert_eq!(m.pieces[0].kind, PieceType::Control);
        assert!(m.trainer.byte_fallback);
        assert!(m.normalizer.add_dummy_prefix);
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(parse_model(&[key(1, 2), 10, b'a']).is_err());
        assert!(parse_model(&[0x80]).is_err());
        assert!(parse_model(&[]).is_err());
    }
}

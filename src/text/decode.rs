//! Bytes as scrapers save them turned into clean UTF-8 lines: byte-order marks dropped,
//! CRLF and lone CR made LF, legacy single-byte pages (Windows-1252 / Latin-1, or what an
//! HTML page declares) decoded, and binary files refused before anything reads them as text.
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// Why bytes could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("there is no text (it is empty or only whitespace)")]
    Empty,
    #[error("there is no text (not one letter or digit)")]
    NoLetters,
    #[error("this looks like a binary file, not text or HTML (it holds {0})")]
    Binary(&'static str),
}

/// Decoded text and how it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// The encoding's name when it was not UTF-8 (callers warn about legacy encodings).
    pub legacy_encoding: Option<&'static str>,
}

/// Decodes `bytes`; `html` says whether a `<meta charset>` may name the encoding.
pub fn decode(bytes: &[u8], html: bool) -> Result<Decoded, DecodeError> {
    let (text, legacy_encoding) = if let Some((enc, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        let legacy = (enc != UTF_8).then(|| enc.name());
        (text.into_owned(), legacy)
    } else {
        if let Some(why) = binary_sign(bytes) {
            return Err(DecodeError::Binary(why));
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_string(), None),
            Err(_) => {
                let enc = html
                    .then(|| declared_charset(bytes))
                    .flatten()
                    .filter(|e| *e != UTF_8 && *e != UTF_16LE && *e != UTF_16BE)
                    .unwrap_or(WINDOWS_1252);
                let (text, _) = enc.decode_without_bom_handling(bytes);
                (text.into_owned(), Some(enc.name()))
            }
        }
    };
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if text.trim().is_empty() {
        return Err(DecodeError::Empty);
    }
    if !text.chars().any(char::is_alphanumeric) {
        return Err(DecodeError::NoLetters);
    }
    Ok(Decoded {
        text,
        legacy_encoding,
    })
}

/// A reason to think `bytes` are not text: NUL bytes, or many control characters.
fn binary_sign(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Some("NUL bytes");
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    (control * 10 > head.len()).then_some("many control characters")
}

/// The encoding an HTML page names in its first 4 KiB (`<meta charset=…>` or
/// `content="text/html; charset=…"`).
fn declared_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let label: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
        .collect();
    Encoding::for_label(label.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bom_and_normalises_line_ends() {
        let d = decode(b"\xEF\xBB\xBFsatu\r\ndua\rtiga\n", false).unwrap();
        assert_eq!(d.text, "satu\ndua\ntiga\n");
        assert_eq!(d.legacy_encoding, None);
    }

    #[test]
    fn reads_legacy_pages_as_windows_1252_or_as_declared() {
        let d = decode(b"Caf\xe9 \x93kutip\x94", false).unwrap();
        assert_eq!(d.text, "Café “kutip”");
        assert_eq!(d.legacy_encoding, Some("windows-1252"));
        let page = b"<html><head><meta charset=\"iso-8859-2\"></head><body>\xb1</body></html>";
        let d = decode(page, true).unwrap();
        assert!(d.text.contains('ą'), "{}", d.text);
        assert_eq!(d.legacy_encoding, Some("ISO-8859-2"));
    }

    #[test]
    fn reads_utf16_with_bom() {
        let bytes: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Rusia".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(&bytes, false).unwrap().text, "Rusia");
    }

    #[test]
    fn refuses_empty_and_binary_input() {
        assert_eq!(decode(b" \n\r\n ", false), Err(DecodeError::Empty));
        assert_eq!(decode(b"", false), Err(DecodeError::Empty));
        assert_eq!(decode(b"\xFF\xFE\x00", false), Err(DecodeError::NoLetters));
        assert_eq!(decode(b"... ---", false), Err(DecodeError::NoLetters));
        assert!(matches!(
            decode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false),
            Err(DecodeError::Binary(_))
        ));
    }
}

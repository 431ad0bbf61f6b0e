//! One finished article as `articles.jsonl` stores it: the article's part of the briefing
//! and what the cross-article overview needs from it (its candidate sentences with their
//! embeddings), so the briefing can be assembled from these records alone, after a crash,
//! or from the records of many shards.
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::brief::ArticleBrief;
use crate::text::SentenceId;

/// A line of `articles.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleRecord {
    #[serde(flatten)]
    pub brief: ArticleBrief,
    /// The article's overview candidates: its extractive summary sentences.
    pub candidates: Vec<Candidate>,
}

/// An overview candidate: a sentence id and the embedding of its English text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub sentence: SentenceId,
    /// Little-endian float32s in base64: exact, and a quarter the size of JSON numbers.
    #[serde(serialize_with = "to_base64", deserialize_with = "from_base64")]
    pub embedding: Vec<f32>,
}

fn to_base64<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    s.serialize_str(&STANDARD.encode(bytes))
}

fn from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    let text = String::deserialize(d)?;
    let bytes = STANDARD
        .decode(text.as_bytes())
        .map_err(serde::de::Error::custom)?;
    if bytes.len() % 4 != 0 {
        return Err(serde::de::Error::custom(
            "an embedding's length is not a whole number of float32s",
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summarize::cite::CitationQuality;

    #[test]
    fn a_record_survives_a_round_trip_exactly() {
        let r = ArticleRecord {
            brief: ArticleBrief {
                id: "a".into(),
                source: "a.txt".into(),
                title: Some("Judul".into()),
                title_en: Some("Title".into()),
                date: None,
                outlet: None,
                sentences: Vec::new(),
                summary: Vec::new(),
                citation_quality: CitationQuality {
                    precision: Some(1.0),
                    recall: Some(0.5),
                    judged: 2,
                },
            },
            candidates: vec![Candidate {
                sentence: SentenceId::new("a", 1),
                embedding: vec![0.1, -3.5e-8, f32::MAX, 1.0 / 3.0],
            }],
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"id\":\"a\"") && !line.contains("\"brief\""));
        let back: ArticleRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        let encoded = STANDARD.encode(
            r.candidates[0]
                .embedding
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        // Two bytes are half a float; text that is not base64 is no embedding either.
        for bad in ["AAA=", "not base64!"] {
            let line = line.replace(&encoded, bad);
            assert!(
                serde_json::from_str::<ArticleRecord>(&line).is_err(),
                "{bad}"
            );
        }
    }
}

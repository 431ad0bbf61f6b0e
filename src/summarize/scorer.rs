//! The learned sentence scorer of the extractive summariser: a logistic regression over
//! the features of `features.rs`, its weights in `scorer.json` (built into the binary),
//! trained by `benches/train_scorer.py` to predict which sentences a greedy ROUGE oracle
//! takes for an article's reference summary. The file says what it was trained on.
//!
//! A logistic model is small enough to read: each weight says how much a feature moves a
//! sentence towards the summary, and `warta` needs nothing but a dot product per sentence.
use std::sync::OnceLock;

use serde::Deserialize;

use super::features::{self, SentenceView, NAMES};

/// The committed weights.
const WEIGHTS_JSON: &str = include_str!("scorer.json");

/// A trained scorer: standardised features (`(x - mean) / scale`) weighed and summed.
#[derive(Debug, Clone, Deserialize)]
pub struct Scorer {
    pub features: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// What it was trained on and how (for people; not read).
    #[serde(default)]
    pub trained_on: serde_json::Value,
}

impl Scorer {
    /// The weights built into the binary.
    pub fn builtin() -> &'static Scorer {
        static SCORER: OnceLock<Scorer> = OnceLock::new();
        SCORER.get_or_init(|| {
            // The file is tested (`the_builtin_weights_fit_the_features`): a failure here
            // is a build defect, not bad input.
            Scorer::parse(WEIGHTS_JSON).expect("src/summarize/scorer.json is valid")
        })
    }

    /// Reads weights, checking they are for these features, in this order.
    pub fn parse(json: &str) -> Result<Scorer, String> {
        let s: Scorer = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if s.features != NAMES {
            return Err(format!(
                "the weights are for the features {:?}, not {:?}",
                s.features, NAMES
            ));
        }
        let n = NAMES.len();
        if s.mean.len() != n || s.scale.len() != n || s.weights.len() != n {
            return Err(format!("expected {n} means, scales and weights"));
        }
        Ok(s)
    }

    /// The log-odds that each sentence belongs in the summary.
    pub fn score(&self, sentences: &[SentenceView], title: Option<&[f32]>) -> Vec<f32> {
        features::features(sentences, title)
            .iter()
            .map(|f| {
                self.bias
                    + f.iter()
                        .zip(&self.mean)
                        .zip(&self.scale)
                        .zip(&self.weights)
                        .map(|(((x, m), s), w)| w * (x - m) / s.max(1e-6))
                        .sum::<f32>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_weights_fit_the_features() {
        let s = Scorer::builtin();
        assert_eq!(s.weights.len(), NAMES.len());
        assert!(s.weights.iter().all(|w| w.is_finite()));
        let wrong = WEIGHTS_JSON.replacen("\"first\"", "\"firsts\"", 1);
        assert!(Scorer::parse(&wrong).unwrap_err().contains("features"));
    }

    #[test]
    fn the_lead_outscores_a_later_fragment_in_a_voice() {
        // Whatever the training found, a full opening sentence with names and numbers
        // should beat a short first-person aside at the end that opens with "However".
        let a = [1.0, 0.0, 0.0];
        let b = [0.8, 0.6, 0.0];
        let c = [0.0, 0.6, 0.8];
        let lead =
            "President Joko Widodo opened 12 new ports in Sulawesi on Monday, the ministry said.";
        let mid =
            "The ports will handle cargo for the nickel industry and the fisheries of the region.";
        let aside = "However, I think so.";
        let views = [
            SentenceView {
                text: lead,
                embedding: &a,
                paragraph: 0,
                paragraph_first: true,
            },
            SentenceView {
                text: mid,
                embedding: &b,
                paragraph: 1,
                paragraph_first: true,
            },
            SentenceView {
                text: aside,
                embedding: &c,
                paragraph: 2,
                paragraph_first: true,
            },
        ];
        let s = Scorer::builtin().score(&views, None);
        assert!(s[0] > s[2], "{s:?}");
        assert!(s[1] > s[2], "{s:?}");
    }
}

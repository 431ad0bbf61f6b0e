//! The citation check: every summary sentence must cite sentences that support it, and
//! nothing uncited or unsupported reaches a briefing.
//!
//! Support comes from a [`Judge`]: by default the cosine similarity of sentence embeddings
//! (the summary sentence against a cited sentence, or against the mean of several cited
//! sentences for joint support); with an NLI cross-encoder named in models.toml, the
//! probability that the cited sentences entail the summary sentence. A sentence supports
//! itself (the extractive summary's case) without asking the judge. A citation whose
//! support is below the judge's threshold is removed; a statement left with no supporting
//! citation is dropped, and the caller replaces it from the extractive summary.
//!
//! Citation recall and precision follow the ALCE benchmark's definitions, with this support
//! check standing in for its NLI model: a statement counts for recall when its citations
//! together support it; a citation counts for precision when its statement is supported and
//! the citation either supports the statement alone or is needed by the others.
use super::embed::cosine;
use super::nli::{Nli, NliError};
use serde::{Deserialize, Serialize};

use crate::text::SentenceId;

/// Support at or above which a citation is kept, with embedding similarity.
pub const DEFAULT_THRESHOLD: f32 = 0.6;
/// Entailment probability at or above which a citation is kept, with an NLI model.
pub const DEFAULT_NLI_THRESHOLD: f32 = 0.5;

/// A summary or overview sentence with the sentence ids it cites and each citation's
/// support. `briefing.json` holds each citation as the id's text (`"article:n"`);
/// `ArticleBrief::sentence` finds the sentence of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub text: String,
    pub citations: Vec<SentenceId>,
    pub support: Vec<f32>,
    /// Per citation: whether the judge measured its support. A statement that is its cited
    /// sentence (an extractive summary's) cites itself, support 1 by construction: false.
    /// (Empty in records written before this was kept.)
    #[serde(default)]
    pub judged: Vec<bool>,
    /// What is wrong with the translations it rests on (its cited sentences'), if anything:
    /// the briefing marks the statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<crate::translate::Flag>,
}

/// A cited sentence: its id, its English text and its embedding.
#[derive(Debug, Clone)]
pub struct Cited<'a> {
    pub id: SentenceId,
    pub text: &'a str,
    pub embedding: &'a [f32],
}

/// A statement before the check: its embedding and its cited sentences.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    pub text: String,
    pub embedding: &'a [f32],
    pub cited: Vec<Cited<'a>>,
}

/// ALCE citation precision and recall over the statements whose support was judged;
/// None when there were none (every statement is the sentence it cites).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CitationQuality {
    pub precision: Option<f32>,
    pub recall: Option<f32>,
    /// How many statements the figures rest on: those with a citation the judge measured.
    #[serde(default)]
    pub judged: usize,
}

/// What decides whether cited sentences support a statement.
#[derive(Clone, Copy)]
pub enum Judge<'a> {
    Embedding { threshold: f32 },
    Nli { model: &'a Nli, threshold: f32 },
}

impl Judge<'_> {
    pub fn threshold(&self) -> f32 {
        match self {
            Judge::Embedding { threshold } | Judge::Nli { threshold, .. } => *threshold,
        }
    }

    /// How well `cited` together support `statement`.
    pub fn support(&self, statement: &Draft, cited: &[&Cited]) -> Result<f32, NliError> {
        if cited.is_empty() {
            return Ok(0.0);
        }
        if cited.iter().any(|c| cites_itself(statement, c)) {
            return Ok(1.0);
        }
        match self {
            Judge::Embedding { .. } => {
                let vectors: Vec<&[f32]> = cited.iter().map(|c| c.embedding).collect();
                Ok(cosine(statement.embedding, &mean(&vectors)))
            }
            Judge::Nli { model, .. } => {
                let premise = cited.iter().map(|c| c.text).collect::<Vec<_>>().join(" ");
                Ok(model.entailment(&[(&premise, &statement.text)])?[0])
            }
        }
    }

    fn supported(&self, statement: &Draft, cited: &[&Cited]) -> Result<bool, NliError> {
        Ok(!cited.is_empty() && self.support(statement, cited)? >= self.threshold())
    }
}

/// Whether `c` is the statement's own sentence: its support is 1 without asking a judge.
fn cites_itself(statement: &Draft, c: &Cited) -> bool {
    c.text.trim() == statement.text.trim()
}

fn mean(vectors: &[&[f32]]) -> Vec<f32> {
    let dim = vectors.first().map_or(0, |v| v.len());
    let mut out = vec![0.0; dim];
    for v in vectors {
        for (o, x) in out.iter_mut().zip(v.iter()) {
            *o += x;
        }
    }
    out
}

/// Keeps the citations that support each draft and the drafts that keep one; returns the
/// checked statements and the indices of the drafts that were dropped.
pub fn check(drafts: &[Draft], judge: &Judge) -> Result<(Vec<Statement>, Vec<usize>), NliError> {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let mut citations: Vec<&SentenceId> = Vec::new();
        let mut support = Vec::new();
        let mut judged = Vec::new();
        for c in &d.cited {
            if citations.contains(&&c.id) {
                continue;
            }
            let s = judge.support(d, &[c])?;
            if s >= judge.threshold() {
                citations.push(&c.id);
                support.push(s);
                judged.push(!cites_itself(d, c));
            }
        }
        if citations.is_empty() {
            dropped.push(i);
        } else {
            kept.push(Statement {
                text: d.text.clone(),
                citations: citations.into_iter().cloned().collect(),
                support,
                judged,
                flags: Vec::new(),
            });
        }
    }
    Ok((kept, dropped))
}

/// ALCE citation recall and precision of `drafts` as they stand (call it on the checked
/// statements' drafts to score what a briefing shows). Only statements with a citation
/// other than themselves count: one that is its cited sentence is supported by
/// construction and says nothing about the check. With none, the figures are None.
pub fn quality(drafts: &[Draft], judge: &Judge) -> Result<CitationQuality, NliError> {
    let drafts: Vec<&Draft> = drafts
        .iter()
        .filter(|d| d.cited.iter().any(|c| !cites_itself(d, c)))
        .collect();
    let mut recalled = 0usize;
    let mut relevant = 0usize;
    let mut citations = 0usize;
    for d in drafts.iter().copied() {
        let all: Vec<&Cited> = d.cited.iter().collect();
        citations += all.len();
        if !judge.supported(d, &all)? {
            continue;
        }
        recalled += 1;
        for k in 0..all.len() {
            let alone = judge.supported(d, &all[k..=k])?;
            let others: Vec<&Cited> = all
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .map(|(_, c)| *c)
                .collect();
            let needed = !judge.supported(d, &others)?;
            if alone || needed {
                relevant += 1;
            }
        }
    }
    Ok(CitationQuality {
        recall: (!drafts.is_empty()).then(|| recalled as f32 / drafts.len() as f32),
        precision: (citations > 0).then(|| relevant as f32 / citations as f32),
        judged: drafts.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[f32] = &[1.0, 0.0, 0.0];
    const A2: &[f32] = &[0.9, 0.1, 0.0];
    const B: &[f32] = &[0.0, 1.0, 0.0];
    const C: &[f32] = &[0.0, 0.0, 1.0];

    fn draft<'a>(e: &'a [f32], cited: &[(&str, &'a [f32])]) -> Draft<'a> {
        Draft {
            text: "s".into(),
            embedding: e,
            cited: cited
                .iter()
                .map(|(i, e)| Cited {
                    id: i.parse().unwrap(),
                    text: "other",
                    embedding: e,
                })
                .collect(),
        }
    }

    fn judge(threshold: f32) -> Judge<'static> {
        Judge::Embedding { threshold }
    }

    #[test]
    fn drops_unsupported_citations_and_statements() {
        let drafts = [
            draft(A, &[("x:1", A2), ("x:2", C)]),
            draft(B, &[("x:3", C)]),
            draft(A, &[("x:1", A), ("x:1", A)]),
        ];
        let (kept, dropped) = check(&drafts, &judge(0.6)).unwrap();
        assert_eq!(dropped, vec![1]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].citations, vec!["x:1"]);
        assert!(kept[0].support[0] > 0.9);
        assert_eq!(
            kept[1].citations,
            vec!["x:1"],
            "a repeated citation is kept once"
        );
    }

    #[test]
    fn a_statement_holds_its_citations_as_the_ids_text() {
        let s = Statement {
            text: "s".into(),
            citations: vec![SentenceId::new("a:b", 2), SentenceId::new("c", 10)],
            support: vec![1.0, 0.75],
            judged: vec![false, true],
            flags: Vec::new(),
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["citations"], serde_json::json!(["a:b:2", "c:10"]));
        assert_eq!(
            serde_json::from_value::<Statement>(json.clone()).unwrap(),
            s
        );
        let mut bad = json;
        bad["citations"] = serde_json::json!(["a:b:2", "c"]);
        let e = serde_json::from_value::<Statement>(bad).unwrap_err();
        assert!(e.to_string().contains("\"c\" is not a sentence id"), "{e}");
    }

    #[test]
    fn alce_precision_and_recall() {
        // Supported alone by its one citation: recall 1, precision 1.
        assert_eq!(
            quality(&[draft(A, &[("x:1", A)])], &judge(0.6)).unwrap(),
            CitationQuality {
                precision: Some(1.0),
                recall: Some(1.0),
                judged: 1,
            }
        );
        // Supported, with one irrelevant extra citation: precision 1/2.
        let q = quality(&[draft(A, &[("x:1", A), ("x:2", C)])], &judge(0.6)).unwrap();
        assert_eq!(q.recall, Some(1.0));
        assert_eq!(q.precision, Some(0.5));
        // Needs both citations together (neither alone): both are relevant.
        let ab: Vec<f32> = vec![0.7, 0.7, 0.0];
        let q = quality(&[draft(&ab, &[("x:1", A), ("x:2", B)])], &judge(0.8)).unwrap();
        assert_eq!((q.recall, q.precision), (Some(1.0), Some(1.0)));
        // Not supported at all: recall 0 and its citations do not count as precise.
        let q = quality(
            &[draft(B, &[("x:1", C)]), draft(A, &[("x:2", A)])],
            &judge(0.6),
        )
        .unwrap();
        assert_eq!((q.recall, q.precision), (Some(0.5), Some(0.5)));
        assert_eq!(quality(&[], &judge(0.6)).unwrap().recall, None);
    }

    #[test]
    fn a_statement_citing_itself_is_not_judged_and_not_counted() {
        let mut own = draft(B, &[("x:1", C)]);
        own.cited[0].text = "s";
        // Its embedding says nothing in support, but it is its own sentence.
        let (kept, _) = check(std::slice::from_ref(&own), &judge(0.6)).unwrap();
        assert_eq!(
            (kept[0].support.as_slice(), kept[0].judged.as_slice()),
            (&[1.0][..], &[false][..])
        );
        let q = quality(std::slice::from_ref(&own), &judge(0.6)).unwrap();
        assert_eq!((q.precision, q.recall, q.judged), (None, None, 0));
        // Beside a judged statement, only that one counts.
        let other = draft(A, &[("x:2", C)]);
        let q = quality(&[own, other], &judge(0.6)).unwrap();
        assert_eq!((q.recall, q.judged), (Some(0.0), 1));
        let (kept, _) = check(&[draft(A, &[("x:2", A2)])], &judge(0.6)).unwrap();
        assert_eq!(kept[0].judged, [true]);
    }
}

//! A batch's output projection restricted to its sentences' shortlist candidates
//! (`translate::shortlist`): the projection runs over the union of the batch's candidates
//! only, and each row's logits go back to their vocabulary ids with every other id at -inf,
//! so the one decoding loop sees full-vocabulary rows as always (its logits processors
//! index them by id). It is also told each row's candidates ([`Restricted::support`]), and
//! takes the log-sum-exp and the argmax or top-k over those alone, not over the -inf
//! between them.
//!
//! A row keeps to its own sentence's candidates, never its batch's: what a sentence becomes
//! does not depend on its batchmates. A candidate's logit has the bits it has without the
//! shortlist in int8 and CPU bf16 (each column is summed alone, in integers or in a fixed
//! order), and in f32 comes within an ulp or so (gemm may sum a column otherwise in a panel
//! of another width): a restricted step chooses as the full one does whenever the full
//! choice is a candidate, short of an exact tie in f32.
use std::sync::Arc;

use candle_core::Tensor;
use rayon::prelude::*;

use super::model::MarianModel;
use crate::generate::PARALLEL_MIN;
use crate::translate::project::Projection;

pub(super) struct Restricted {
    /// The output projection over the batch's candidates, in id order.
    head: Projection,
    bias: Option<Tensor>,
    /// The full vocabulary: the width of the rows handed to the decoding loop.
    vocab: usize,
    /// Per sentence: its candidates, as (column of `head`, vocabulary id).
    allowed: Vec<Vec<(u32, u32)>>,
    /// Per sentence: its candidates' vocabulary ids, sorted (what the loop is told).
    ids: Vec<Arc<[u32]>>,
    /// The sentence of each current row (beams and dropped rows follow `select_rows`).
    sentence_of: Vec<usize>,
}

impl Restricted {
    /// For a batch whose sentence `i` may produce the ids `candidates[i]` (sorted and made
    /// unique here: the loop is told them as a sorted support).
    pub(super) fn new(model: &MarianModel, candidates: &[Vec<u32>]) -> candle_core::Result<Self> {
        let vocab = model.target_vocab_size()?;
        if let Some(i) = candidates.iter().position(Vec::is_empty) {
            candle_core::bail!("shortlist: input {i} has no candidate token");
        }
        let union = crate::translate::shortlist::union(candidates);
        if let Some(&bad) = union.iter().find(|&&id| id as usize >= vocab) {
            candle_core::bail!("shortlist: candidate id {bad} of a vocabulary of {vocab}");
        }
        let (head, bias) = model.head_over(&union)?;
        let ids: Vec<Arc<[u32]>> = candidates
            .iter()
            .map(|c| {
                let mut ids = c.clone();
                ids.sort_unstable();
                ids.dedup();
                Arc::from(ids)
            })
            .collect();
        let allowed = ids
            .iter()
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        // Present: the union holds every sentence's ids.
                        let col = union.binary_search(id).unwrap_or_default();
                        (col as u32, *id)
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            head,
            bias,
            vocab,
            allowed,
            ids,
            sentence_of: (0..candidates.len()).collect(),
        })
    }

    /// Full-vocabulary logits rows for the decoder's hidden states `x`: each row's
    /// candidates' logits, -inf elsewhere.
    pub(super) fn logits_host(
        &self,
        model: &MarianModel,
        x: &Tensor,
    ) -> candle_core::Result<(Vec<f32>, usize)> {
        let (compact, cols) = model.project_host(&self.head, self.bias.as_ref(), x)?;
        let rows = self.sentence_of.len();
        if compact.len() != rows * cols {
            candle_core::bail!("shortlist: {} logits for {rows} rows", compact.len());
        }
        let mut out = vec![f32::NEG_INFINITY; rows * self.vocab];
        let fill = |(r, row): (usize, &mut [f32])| {
            let compact = &compact[r * cols..(r + 1) * cols];
            for &(col, id) in &self.allowed[self.sentence_of[r]] {
                row[id as usize] = compact[col as usize];
            }
        };
        if out.len() >= PARALLEL_MIN {
            out.par_chunks_mut(self.vocab).enumerate().for_each(fill);
        } else {
            out.chunks_mut(self.vocab).enumerate().for_each(fill);
        }
        Ok((out, self.vocab))
    }

    /// Each current row's candidates: the ids outside which its logits are -inf.
    pub(super) fn support(&self) -> Vec<Arc<[u32]>> {
        self.sentence_of
            .iter()
            .map(|&s| Arc::clone(&self.ids[s]))
            .collect()
    }

    /// The rows' sentences after the decoder's rows became `rows` of the current ones.
    pub(super) fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
        let next = rows
            .iter()
            .map(|&r| self.sentence_of.get(r).copied())
            .collect::<Option<Vec<_>>>();
        match next {
            Some(next) => {
                self.sentence_of = next;
                Ok(())
            }
            None => candle_core::bail!("shortlist: a selected row past the batch"),
        }
    }
}

//! The decoding state of one batch: the cross-attention keys/values computed once from the
//! encoder, the self-attention KV cache that grows a position a step, and the bookkeeping
//! that lets beam search reorder and drop rows without copying either more than it must.
//!
//! Plain tensors and row indices: what the model computes with them is in [`super::model`],
//! and the [`crate::generate::Decoder`] glue in [`super`].
use candle_core::{DType, Device, Tensor};

use super::Paths;
use crate::translate::project::cpu_f32;

/// Keys and values of one attention layer, `[rows or groups, heads, positions, head_dim]`.
pub(super) type KeyValues = (Tensor, Tensor);

/// Per-batch decoding state, for every decoder layer.
///
/// Rows are grouped: every `per_group` consecutive rows belong to one sentence and share its
/// cross-attention keys/values (`[groups, heads, src_len, head_dim]`), so beams never copy
/// encoder states. Row selections that break that layout (never produced by the search loop)
/// fall back to one group per row.
pub(super) struct DecoderCache {
    /// Per decoder layer: cross-attention keys and values, one entry per group.
    pub(super) cross: Vec<KeyValues>,
    /// Additive source key mask per group, `[groups, 1, 1, src_len]`; `None` without padding.
    pub(super) cross_mask: Option<Tensor>,
    /// Group of each current row.
    row_group: Vec<usize>,
    pub(super) per_group: usize,
    /// Per decoder layer: self-attention keys and values `[rows, heads, t, head_dim]`.
    pub(super) self_cache: Vec<Option<KeyValues>>,
    /// Rows of `self_cache` that the current rows continue, when beam search reordered or
    /// dropped rows since the last step; applied by the next step as it appends (one copy
    /// of the cache a step instead of a reorder and an append).
    pub(super) cache_order: Option<Vec<usize>>,
    /// Tokens consumed so far (the position of the next one).
    pub(super) position: usize,
}

impl DecoderCache {
    /// The state before the first step: one row (and group) per sentence, the
    /// cross-attention keys/values of each decoder layer, empty self-attention caches.
    pub(super) fn new(cross: Vec<KeyValues>, cross_mask: Option<Tensor>, rows: usize) -> Self {
        let layers = cross.len();
        Self {
            cross,
            cross_mask,
            row_group: (0..rows).collect(),
            per_group: 1,
            self_cache: vec![None; layers],
            cache_order: None,
            position: 0,
        }
    }

    /// How many rows the state holds now.
    pub(super) fn rows(&self) -> usize {
        self.row_group.len()
    }

    /// After a step: the position advances, and the reordering the step applied is done.
    pub(super) fn advance(&mut self) {
        self.position += 1;
        self.cache_order = None;
    }

    fn select_groups(&mut self, groups: &[usize], device: &Device) -> candle_core::Result<()> {
        let n = self.cross.first().map_or(0, |(k, _)| k.dim(0).unwrap_or(0));
        if groups.len() == n && groups.iter().enumerate().all(|(i, &g)| i == g) {
            return Ok(());
        }
        let idx = Tensor::from_vec(
            groups.iter().map(|&g| g as u32).collect::<Vec<_>>(),
            groups.len(),
            device,
        )?;
        for (k, v) in self.cross.iter_mut() {
            *k = k.index_select(&idx, 0)?;
            *v = v.index_select(&idx, 0)?;
        }
        if let Some(m) = self.cross_mask.as_mut() {
            *m = m.index_select(&idx, 0)?;
        }
        Ok(())
    }

    /// Keeps `rows` of the current rows, in that order ([`crate::generate::Decoder::select_rows`]).
    pub(super) fn select_rows(
        &mut self,
        rows: &[usize],
        device: &Device,
    ) -> candle_core::Result<()> {
        if rows.is_empty() {
            candle_core::bail!("select_rows: no rows left");
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.row_group.len()) {
            candle_core::bail!("select_rows: row {bad} of {}", self.row_group.len());
        }
        let identity =
            rows.len() == self.row_group.len() && rows.iter().enumerate().all(|(i, &r)| i == r);
        if identity {
            return Ok(());
        }
        // Self-attention caches follow the rows, at the next step's append.
        if self.self_cache.iter().any(Option::is_some) {
            self.cache_order = Some(match &self.cache_order {
                Some(earlier) => rows.iter().map(|&r| earlier[r]).collect(),
                None => rows.to_vec(),
            });
        }
        // Cross-attention keys/values follow the groups.
        let new_groups: Vec<usize> = rows.iter().map(|&r| self.row_group[r]).collect();
        let per = new_groups
            .iter()
            .take_while(|&&g| g == new_groups[0])
            .count();
        let blocked = new_groups.len().is_multiple_of(per)
            && new_groups.chunks(per).all(|c| c.iter().all(|&g| g == c[0]));
        if blocked {
            let kept: Vec<usize> = new_groups.chunks(per).map(|c| c[0]).collect();
            self.select_groups(&kept, device)?;
            self.per_group = per;
            self.row_group = (0..rows.len()).map(|i| i / per).collect();
        } else {
            self.select_groups(&new_groups, device)?;
            self.per_group = 1;
            self.row_group = (0..rows.len()).collect();
        }
        Ok(())
    }
}

/// The self-attention cache after one step: row `r` of the result is row `order[r]` of
/// `cache` (`[rows, heads, t, head_dim]`; row `r` itself without `order`) followed by row `r`
/// of `new` (`[rows', heads, 1, head_dim]`).
///
/// HF reorders the whole cache after each beam step and then concatenates the new position,
/// two full copies a step, a tenth of beam search's time on CPU. Here one pass writes each
/// row's selected history and its new position once; other devices and dtypes take
/// `index_select` and `cat`, which give the same values.
pub(super) fn append_step(
    cache: &Tensor,
    order: Option<&[usize]>,
    new: &Tensor,
    paths: Paths,
) -> candle_core::Result<Tensor> {
    let (rows, heads, t, dh) = cache.dims4()?;
    let (new_rows, new_heads, one, new_dh) = new.dims4()?;
    if (new_heads, one, new_dh) != (heads, 1, dh)
        || order.map_or(new_rows != rows, |o| o.len() != new_rows)
    {
        candle_core::bail!(
            "append_step: cache {:?}, new {:?}, order of {:?} rows",
            cache.dims(),
            new.dims(),
            order.map(<[usize]>::len)
        );
    }
    if let Some(&bad) = order.and_then(|o| o.iter().find(|&&r| r >= rows)) {
        candle_core::bail!("append_step: row {bad} of a cache of {rows}");
    }
    let fallback = || -> candle_core::Result<Tensor> {
        let kept = match order {
            Some(o) => {
                let idx: Vec<u32> = o.iter().map(|&r| r as u32).collect();
                cache.index_select(&Tensor::from_vec(idx, o.len(), cache.device())?, 0)?
            }
            None => cache.clone(),
        };
        Tensor::cat(&[&kept, new], 2)
    };
    if paths == Paths::Generic
        || !cache.device().is_cpu()
        || cache.dtype() != DType::F32
        || new.dtype() != DType::F32
    {
        return fallback();
    }
    let new = new.contiguous()?;
    let (cache_storage, cache_layout) = cache.storage_and_layout();
    let (new_storage, new_layout) = new.storage_and_layout();
    let (Some(old), Some(fresh)) = (
        cpu_f32(&cache_storage, cache_layout),
        cpu_f32(&new_storage, new_layout),
    ) else {
        drop((cache_storage, new_storage));
        return fallback();
    };
    let history = t * dh;
    let mut out = Vec::with_capacity(new_rows * heads * (history + dh));
    for r in 0..new_rows {
        let from = order.map_or(r, |o| o[r]);
        for h in 0..heads {
            let at = (from * heads + h) * history;
            out.extend_from_slice(&old[at..at + history]);
            let at = (r * heads + h) * dh;
            out.extend_from_slice(&fresh[at..at + dh]);
        }
    }
    drop((cache_storage, new_storage));
    Tensor::from_vec(out, (new_rows, heads, t + 1, dh), cache.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-copy cache append gives what reordering with `index_select` and then `cat`
    /// gives: rows kept, repeated, dropped and swapped, a strided new position, and f64
    /// (which takes that path itself).
    #[test]
    fn append_step_equals_index_select_then_cat() {
        let dev = Device::Cpu;
        let (rows, heads, t, dh) = (4, 3, 5, 2);
        let cache = Tensor::arange(0f32, (rows * heads * t * dh) as f32, &dev)
            .unwrap()
            .reshape((rows, heads, t, dh))
            .unwrap();
        for order in [
            None,
            Some(vec![0, 1, 2, 3]),
            Some(vec![2, 2, 0]),
            Some(vec![3, 1]),
        ] {
            let n = order.as_ref().map_or(rows, Vec::len);
            // A [n, heads, 1, dh] view that is not contiguous, as the step's keys are.
            let new = (Tensor::arange(0f32, (n * dh * heads) as f32, &dev).unwrap() - 100.0)
                .unwrap()
                .reshape((n, 1, dh, heads))
                .unwrap()
                .permute((0, 3, 1, 2))
                .unwrap();
            let kept = match &order {
                Some(o) => {
                    let idx: Vec<u32> = o.iter().map(|&r| r as u32).collect();
                    let idx = Tensor::from_vec(idx, o.len(), &dev).unwrap();
                    cache.index_select(&idx, 0).unwrap()
                }
                None => cache.clone(),
            };
            let want = Tensor::cat(&[&kept, &new], 2).unwrap();
            for dtype in [DType::F32, DType::F64] {
                let got = append_step(
                    &cache.to_dtype(dtype).unwrap(),
                    order.as_deref(),
                    &new.to_dtype(dtype).unwrap(),
                    Paths::Host,
                )
                .unwrap();
                assert_eq!(got.dims(), want.dims());
                let got = got.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
                assert_eq!(
                    got.to_vec1::<f32>().unwrap(),
                    want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    "order {order:?}, {dtype:?}"
                );
            }
        }
        let new = Tensor::zeros((2, heads, 1, dh), DType::F32, &dev).unwrap();
        assert!(append_step(&cache, Some(&[0, 4]), &new, Paths::Host).is_err());
        assert!(append_step(&cache, None, &new, Paths::Host).is_err());
    }
}

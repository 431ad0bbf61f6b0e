//! The decoding state of one batch: the cross-attention keys/values computed once from the
//! encoder, the self-attention KV cache that grows a position a step, and the bookkeeping
//! that lets beam search reorder and drop rows without copying either more than it must.
//!
//! Plain tensors and row indices: what the model computes with them is in [`super::model`],
//! and the [`crate::generate::Decoder`] glue in [`super`].
use candle_core::{DType, Device, Tensor};
use half::f16;

use super::Paths;
use crate::translate::attend::KvElem;
use crate::translate::project::{cpu_f32, cpu_slice};

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
    /// Per decoder layer: self-attention keys and values.
    pub(super) self_cache: Vec<Option<SelfKv>>,
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

/// Positions a host cache that is not being reordered reserves at a time: greedy steps then
/// write their position in place, and copy the cache once every this many steps. Beam search
/// reorders (and so copies) the cache at nearly every step, so a reordered cache gets no
/// room to spare, which would only be memory.
const RESERVE: usize = 16;

/// One decoder layer's self-attention keys and values, each `[rows, heads, capacity,
/// head_dim]`, of which the first `len` positions are filled.
///
/// HF reorders the whole cache after each beam step and then concatenates the new position,
/// two full copies a step, a tenth of beam search's time on CPU. On the host path a step
/// without reordering writes its position in place, and a step that reorders or runs out of
/// room writes each row's selected history and its new position once, in one pass; there the
/// cache is f32 or f16 ([`crate::device::Precision::kv_dtype`]). Other devices and dtypes
/// take `index_select` and `cat` (capacity = `len`), which give the same values.
#[derive(Debug, Clone)]
pub(super) struct SelfKv {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl SelfKv {
    /// The filled positions, `[rows, heads, len, head_dim]` each: views, not copies.
    pub(super) fn views(&self) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.k.narrow(2, 0, self.len)?,
            self.v.narrow(2, 0, self.len)?,
        ))
    }

    /// The whole keys and values (`[rows, heads, capacity, head_dim]`) and how many
    /// positions are filled.
    pub(super) fn parts(&self) -> (&Tensor, &Tensor, usize) {
        (&self.k, &self.v, self.len)
    }

    /// The cache after one step: row `r` is row `order[r]` of `prev` (row `r` itself
    /// without `order`) followed by row `r` of `k` and `v` (`[rows', heads, 1, head_dim]`).
    /// On the host path from f32 `k` and `v`, the cache holds `kv` (f32 or f16); elsewhere
    /// their own dtype.
    pub(super) fn append(
        prev: Option<SelfKv>,
        order: Option<&[usize]>,
        k: &Tensor,
        v: &Tensor,
        paths: Paths,
        kv: DType,
    ) -> candle_core::Result<SelfKv> {
        let host = paths == Paths::Host
            && k.device().is_cpu()
            && [k, v].iter().all(|t| t.dtype() == DType::F32)
            && matches!(kv, DType::F32 | DType::F16)
            && prev
                .as_ref()
                .is_none_or(|p| p.k.dtype() == kv && p.v.dtype() == kv);
        let Some(prev) = prev else {
            if order.is_some() {
                candle_core::bail!("append: an order for an empty cache");
            }
            if !host {
                return Ok(SelfKv {
                    k: k.contiguous()?,
                    v: v.contiguous()?,
                    len: 1,
                });
            }
            return Ok(SelfKv {
                k: gather(None, 0, None, k, kv)?,
                v: gather(None, 0, None, v, kv)?,
                len: 1,
            });
        };
        for (cache, new) in [(&prev.k, k), (&prev.v, v)] {
            check_step(cache, order, new)?;
        }
        let len = prev.len;
        if !host {
            let (pk, pv) = prev.views()?;
            let step = |cache: &Tensor, new: &Tensor| -> candle_core::Result<Tensor> {
                let kept = match order {
                    Some(o) => {
                        let idx: Vec<u32> = o.iter().map(|&r| r as u32).collect();
                        cache.index_select(&Tensor::from_vec(idx, o.len(), cache.device())?, 0)?
                    }
                    None => cache.clone(),
                };
                Tensor::cat(&[&kept, &new.contiguous()?], 2)
            };
            return Ok(SelfKv {
                k: step(&pk, k)?,
                v: step(&pv, v)?,
                len: len + 1,
            });
        }
        if order.is_none() && len < prev.k.dim(2)? {
            prev.k.slice_set(&to_kv(k, kv)?, 2, len)?;
            prev.v.slice_set(&to_kv(v, kv)?, 2, len)?;
            return Ok(SelfKv {
                len: len + 1,
                ..prev
            });
        }
        Ok(SelfKv {
            k: gather(Some(&prev.k), len, order, k, kv)?,
            v: gather(Some(&prev.v), len, order, v, kv)?,
            len: len + 1,
        })
    }
}

/// `t` contiguous in `dtype`, as the cache and cross-attention store keys and values: host
/// f32 narrowed to f16 by [`KvElem::extend_narrowed`] (held to f16's finite range), any
/// other tensor by candle's `to_dtype` (a clone where the dtype is already `dtype`).
pub(super) fn to_kv(t: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    match dtype {
        DType::F16 if t.dtype() == DType::F32 => {
            let t = t.contiguous()?;
            let (storage, layout) = t.storage_and_layout();
            let Some(values) = cpu_f32(&storage, layout) else {
                candle_core::bail!("to_kv: keys not on the host");
            };
            let mut narrow = Vec::with_capacity(values.len());
            f16::extend_narrowed(&mut narrow, values);
            drop(storage);
            Tensor::from_vec(narrow, t.dims(), t.device())
        }
        _ => t.to_dtype(dtype)?.contiguous(),
    }
}

/// Checks a step's new position `[rows', heads, 1, head_dim]` against a cache `[rows, heads,
/// capacity, head_dim]` and the rows `order` takes from it.
fn check_step(cache: &Tensor, order: Option<&[usize]>, new: &Tensor) -> candle_core::Result<()> {
    let (rows, heads, _, dh) = cache.dims4()?;
    let (new_rows, new_heads, one, new_dh) = new.dims4()?;
    if (new_heads, one, new_dh) != (heads, 1, dh)
        || order.map_or(new_rows != rows, |o| o.len() != new_rows)
    {
        candle_core::bail!(
            "append: cache {:?}, new {:?}, order of {:?} rows",
            cache.dims(),
            new.dims(),
            order.map(<[usize]>::len)
        );
    }
    if let Some(&bad) = order.and_then(|o| o.iter().find(|&&r| r >= rows)) {
        candle_core::bail!("append: row {bad} of a cache of {rows}");
    }
    Ok(())
}

/// A new host cache `[rows', heads, capacity', head_dim]` in `kv` (f32 or f16; capacity' is
/// `len + 1` for a reordered cache, else a multiple of [`RESERVE`]): for each row `r`, the
/// first `len` positions of row `order[r]` of `cache` (row `r` without `order`), then row `r`
/// of `new` (f32), then zeros.
fn gather(
    cache: Option<&Tensor>,
    len: usize,
    order: Option<&[usize]>,
    new: &Tensor,
    kv: DType,
) -> candle_core::Result<Tensor> {
    match kv {
        DType::F16 => gather_as::<f16>(cache, len, order, new),
        _ => gather_as::<f32>(cache, len, order, new),
    }
}

/// [`gather`] into a cache of `E`.
fn gather_as<E: KvElem>(
    cache: Option<&Tensor>,
    len: usize,
    order: Option<&[usize]>,
    new: &Tensor,
) -> candle_core::Result<Tensor> {
    let (rows, heads, _, dh) = new.dims4()?;
    let cap = if order.is_some() {
        len + 1
    } else {
        (len + 1).next_multiple_of(RESERVE)
    };
    let new = new.contiguous()?;
    let (new_storage, new_layout) = new.storage_and_layout();
    let Some(fresh) = cpu_f32(&new_storage, new_layout) else {
        candle_core::bail!("append: new position not on the host in f32");
    };
    let old_cap = cache.map(|c| c.dim(2)).transpose()?;
    let guard = cache.map(Tensor::storage_and_layout);
    let old = match &guard {
        None => None,
        Some((storage, layout)) => match cpu_slice::<E>(storage, layout) {
            Some(s) => Some(s),
            None => candle_core::bail!("append: cache not on the host in {:?}", E::DTYPE),
        },
    };
    let mut out = Vec::with_capacity(rows * heads * cap * dh);
    for r in 0..rows {
        let from = order.map_or(r, |o| o[r]);
        for h in 0..heads {
            if let (Some(old), Some(old_cap)) = (old, old_cap) {
                let at = (from * heads + h) * old_cap * dh;
                out.extend_from_slice(&old[at..at + len * dh]);
            }
            let at = (r * heads + h) * dh;
            E::extend_narrowed(&mut out, &fresh[at..at + dh]);
            out.resize(out.len() + (cap - len - 1) * dh, E::zero());
        }
    }
    drop(guard);
    drop(new_storage);
    Tensor::from_vec(out, (rows, heads, cap, dh), new.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What HF computes: reorder with `index_select`, then `cat` the new position.
    fn reference(cache: &Tensor, order: Option<&[usize]>, new: &Tensor) -> Tensor {
        let kept = match order {
            Some(o) => {
                let idx: Vec<u32> = o.iter().map(|&r| r as u32).collect();
                let idx = Tensor::from_vec(idx, o.len(), cache.device()).unwrap();
                cache.index_select(&idx, 0).unwrap()
            }
            None => cache.clone(),
        };
        Tensor::cat(&[&kept, &new.contiguous().unwrap()], 2).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    /// The host cache (in place, gathered, grown past its reserve, in f32 and in f16) and the
    /// generic one give what reordering with `index_select` and then `cat` gives, step after
    /// step: rows kept, repeated, dropped and swapped, strided new positions, and f64 (which
    /// takes the generic path itself). The f16 cache holds the same values narrowed.
    #[test]
    fn cache_steps_equal_index_select_then_cat() {
        let dev = Device::Cpu;
        let (heads, dh) = (3, 2);
        // Rows per step and the order each step applies (None: no reordering).
        let orders: Vec<Option<Vec<usize>>> = [
            vec![None; 3],
            vec![Some(vec![0, 1, 2, 3]), Some(vec![2, 2, 0])],
            vec![None; 12],
            vec![Some(vec![1, 0, 2]), Some(vec![2, 1]), None, None],
        ]
        .concat();
        for (dtype, paths, kv) in [
            (DType::F32, Paths::Host, DType::F32),
            (DType::F32, Paths::Host, DType::F16),
            (DType::F32, Paths::Generic, DType::F32),
            (DType::F64, Paths::Host, DType::F64),
        ] {
            // What an f16 cache holds of the reference: each value rounded by `half` (all
            // are within f16's range here).
            let stored = |t: &Tensor| match kv {
                DType::F16 => flat(t)
                    .into_iter()
                    .map(|x| f16::from_f32(x).to_f32())
                    .collect(),
                _ => flat(t),
            };
            let mut rows = 4;
            let mut cache: Option<SelfKv> = None;
            let mut want: Option<(Tensor, Tensor)> = None;
            for (step, order) in std::iter::once(None).chain(orders.clone()).enumerate() {
                let n = order.as_ref().map_or(rows, Vec::len);
                // A [n, heads, 1, dh] view that is not contiguous, as the step's keys are.
                let new = |shift: f64| {
                    (Tensor::arange(0f32, (n * dh * heads) as f32, &dev).unwrap()
                        + (shift + 100.0 * step as f64))
                        .unwrap()
                        .reshape((n, 1, dh, heads))
                        .unwrap()
                        .permute((0, 3, 1, 2))
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap()
                };
                let (k, v) = (new(0.0), new(0.5));
                want = Some(match want {
                    None => (k.contiguous().unwrap(), v.contiguous().unwrap()),
                    Some((wk, wv)) => (
                        reference(&wk, order.as_deref(), &k),
                        reference(&wv, order.as_deref(), &v),
                    ),
                });
                cache = Some(SelfKv::append(cache, order.as_deref(), &k, &v, paths, kv).unwrap());
                let (gk, gv) = cache.as_ref().unwrap().views().unwrap();
                let (wk, wv) = want.as_ref().unwrap();
                let case = format!("step {step}, {dtype:?}, {paths:?}, {kv:?}");
                assert_eq!(gk.dtype(), kv, "{case}");
                assert_eq!(gk.dims(), wk.dims(), "{case}");
                assert_eq!(flat(&gk), stored(wk), "{case}");
                assert_eq!(flat(&gv), stored(wv), "{case}");
                rows = n;
            }
            // 19 steps: the host cache grew past one reserve.
            assert_eq!(cache.as_ref().unwrap().len, 1 + orders.len());
        }
    }

    #[test]
    fn a_step_that_does_not_fit_the_cache_is_refused() {
        let dev = Device::Cpu;
        let one = Tensor::zeros((4, 3, 1, 2), DType::F32, &dev).unwrap();
        let cache =
            || Some(SelfKv::append(None, None, &one, &one, Paths::Host, DType::F32).unwrap());
        let two = Tensor::zeros((2, 3, 1, 2), DType::F32, &dev).unwrap();
        assert!(
            SelfKv::append(cache(), Some(&[0, 4]), &two, &two, Paths::Host, DType::F32).is_err()
        );
        assert!(SelfKv::append(cache(), None, &two, &two, Paths::Host, DType::F32).is_err());
        let wide = Tensor::zeros((4, 3, 1, 3), DType::F32, &dev).unwrap();
        assert!(SelfKv::append(cache(), None, &wide, &wide, Paths::Host, DType::F32).is_err());
        assert!(SelfKv::append(None, Some(&[0]), &one, &one, Paths::Host, DType::F32).is_err());
    }
}

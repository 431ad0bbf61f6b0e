//! The building blocks of the Marian model: linear layers laid out for the device, multi-head
//! attention (full, cached a step at a time, and cross), the post-norm encoder and decoder
//! layers with their feed-forward blocks and layer norms, token embeddings and sinusoidal
//! positions. Each knows its own weights under the prefix it is given; which prefix is
//! which is [`super::model`]'s.
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{layer_norm, Activation, LayerNorm, VarBuilder};

use super::config::MarianConfig;
use super::state::{to_kv, KeyValues, SelfKv};
use super::Paths;
use crate::device::Precision;
use crate::translate::activation;
use crate::translate::attend::{attend_step, KvElem, StepKeys, StepQueries};
use crate::translate::project::{cpu_f32, cpu_slice, Projection};

/// HF `nn.LayerNorm`'s default epsilon, which Marian uses everywhere.
const LAYER_NORM_EPS: f64 = 1e-5;

/// HF `MarianSinusoidalPositionalEmbedding.create_weight`: for position `p` and `i < dim/2`,
/// column `i` holds `sin(p / 10000^(2i/dim))` and column `dim/2 + i` the matching cosine
/// (not interleaved). Computed in f64 like numpy, then rounded to f32.
pub fn sinusoidal_positions(
    n_pos: usize,
    dim: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let sentinel = dim.div_ceil(2);
    let mut out = vec![0f32; n_pos * dim];
    for pos in 0..n_pos {
        let row = &mut out[pos * dim..(pos + 1) * dim];
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[sentinel + j / 2] = angle.cos() as f32;
            }
        }
    }
    Tensor::from_vec(out, (n_pos, dim), device)
}

/// The `[n_pos, dim]` positions of an encoder or decoder: its `embed_positions.weight` (under
/// `vb`) when the checkpoint stores it, otherwise the sinusoids computed.
pub(super) fn positions(n_pos: usize, dim: usize, vb: &VarBuilder) -> candle_core::Result<Tensor> {
    const NAME: &str = "embed_positions.weight";
    if vb.contains_tensor(NAME) {
        vb.get((n_pos, dim), NAME)
    } else {
        sinusoidal_positions(n_pos, dim, vb.device())?.to_dtype(vb.dtype())
    }
}

/// A linear layer's weights as HF stores them (`[out, in]` and `[out]`), while the model is
/// built: several projections of the same input are fused into one (`q|k|v`, one matmul
/// instead of three) and the query's is scaled before [`Dense::new`] lays them out for the
/// device, once.
struct LinearWeights {
    w: Tensor,
    bias: Tensor,
}

impl LinearWeights {
    fn load(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            w: vb.get((out_dim, in_dim), "weight")?,
            bias: vb.get(out_dim, "bias")?,
        })
    }

    /// One layer computing the concatenated outputs of `parts`.
    fn fuse(parts: &[LinearWeights]) -> candle_core::Result<Self> {
        let ws: Vec<&Tensor> = parts.iter().map(|p| &p.w).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|p| &p.bias).collect();
        Ok(Self {
            w: Tensor::cat(&ws, 0)?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    /// The same layer with outputs multiplied by `factor` (folds attention's query scaling
    /// into the projection).
    fn scaled(self, factor: f64) -> candle_core::Result<Self> {
        Ok(Self {
            w: (self.w * factor)?,
            bias: (self.bias * factor)?,
        })
    }
}

/// How the layers are built: the activation of their feed-forward blocks, and what their
/// projections compute in (the dtype's panels or matrices, or int8).
#[derive(Debug, Clone, Copy)]
pub(super) struct Build {
    pub activation: Activation,
    pub precision: Precision,
    pub paths: Paths,
}

impl Build {
    /// A projection of `w` (`[out, in]`) as these settings lay it out.
    pub(super) fn projection(&self, w: &Tensor) -> candle_core::Result<Projection> {
        match self.paths {
            Paths::Generic => Projection::matrix(w),
            Paths::Host => Projection::build(w, self.precision),
        }
    }

    /// What the decoder's keys and values are stored in: [`Precision::kv_dtype`] on the host
    /// paths (whose attention reads f16), the tensors' dtype on candle's.
    pub(super) fn kv_dtype(&self) -> DType {
        match self.paths {
            Paths::Host => self.precision.kv_dtype(),
            Paths::Generic => self.precision.dtype(),
        }
    }
}

/// A linear layer, its weight laid out for the device by [`Projection`] (panels on the CPU).
#[derive(Debug, Clone)]
struct Dense {
    wt: Projection,
    bias: Tensor,
}

impl Dense {
    fn new(weights: LinearWeights, build: Build) -> candle_core::Result<Self> {
        Ok(Self {
            wt: build.projection(&weights.w)?,
            bias: weights.bias,
        })
    }

    fn load(
        in_dim: usize,
        out_dim: usize,
        build: Build,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        Self::new(LinearWeights::load(in_dim, out_dim, vb)?, build)
    }

    fn out_dim(&self) -> candle_core::Result<usize> {
        self.wt.cols()
    }

    /// `x @ w + b` for `x: [.., in]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let in_dim = dims[dims.len() - 1];
        let rows = x.elem_count() / in_dim.max(1);
        let y = self
            .wt
            .forward(&x.reshape((rows, in_dim))?, Some(&self.bias))?;
        let mut out_dims = dims.to_vec();
        let last = out_dims.len() - 1;
        out_dims[last] = self.out_dim()?;
        y.reshape(out_dims)
    }
}

/// Multi-head attention. Self-attention projects `q|k|v` in one matmul; cross-attention
/// projects `q` from the decoder and `k|v` (once per batch) from the encoder.
#[derive(Debug, Clone)]
struct Attention {
    /// `q|k|v` for self-attention, `q` alone for cross-attention.
    q_or_qkv: Dense,
    /// `k|v` for cross-attention.
    kv: Option<Dense>,
    out_proj: Dense,
    d_model: usize,
    num_heads: usize,
    head_dim: usize,
    /// Whether the cache append takes its host path or candle's ops.
    paths: Paths,
    /// What the keys and values are stored in ([`Build::kv_dtype`]).
    kv_dtype: DType,
}

impl Attention {
    fn new(
        d_model: usize,
        num_heads: usize,
        cross: bool,
        build: Build,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let head_dim = d_model / num_heads;
        let scaling = (head_dim as f64).powf(-0.5);
        // HF scales the scores `q k^T`; scaling the query projection is the same product.
        let q = LinearWeights::load(d_model, d_model, vb.pp("q_proj"))?.scaled(scaling)?;
        let k = LinearWeights::load(d_model, d_model, vb.pp("k_proj"))?;
        let v = LinearWeights::load(d_model, d_model, vb.pp("v_proj"))?;
        let (q_or_qkv, kv) = if cross {
            (
                Dense::new(q, build)?,
                Some(Dense::new(LinearWeights::fuse(&[k, v])?, build)?),
            )
        } else {
            (Dense::new(LinearWeights::fuse(&[q, k, v])?, build)?, None)
        };
        Ok(Self {
            q_or_qkv,
            kv,
            out_proj: Dense::load(d_model, d_model, build, vb.pp("out_proj"))?,
            d_model,
            num_heads,
            head_dim,
            paths: build.paths,
            kv_dtype: build.kv_dtype(),
        })
    }

    /// Column `part` (of `d_model` columns) of `x: [b, s, n * d_model]` as
    /// `[b, heads, s, head_dim]`, contiguous.
    fn heads_of(&self, x: &Tensor, part: usize) -> candle_core::Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        x.narrow(2, part * self.d_model, self.d_model)?
            .reshape((b, s, self.num_heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Cross-attention keys and values of `kv` (`[b, s, d_model]`), each `[b, heads, s, dh]`.
    fn project_kv(&self, kv: &Tensor) -> candle_core::Result<KeyValues> {
        let Some(proj) = &self.kv else {
            candle_core::bail!("project_kv on a self-attention layer");
        };
        let kv = proj.forward(kv)?;
        Ok((
            to_kv(&self.heads_of(&kv, 0)?, self.kv_dtype)?,
            to_kv(&self.heads_of(&kv, 1)?, self.kv_dtype)?,
        ))
    }

    /// `softmax(q k^T + mask) v` for `q: [b, h, t, dh]`, `k, v: [b, h, s, dh]`, `mask`
    /// broadcastable to `[b, h, t, s]`. `q` already carries the `1/sqrt(head_dim)` scaling.
    fn attend(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let scores = q.matmul(&k.t()?)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        probs.matmul(v)
    }

    /// A decoder step's attention on the host (`translate/attend.rs`) when this layer
    /// takes the host path and every tensor is on the host and contiguous (`q` and `mask`
    /// f32, `k` and `v` f32 or f16); `None` otherwise. `q: [rows, n · d_model]` holds the
    /// scaled queries in its first `d_model` columns; `k, v: [groups, heads, cap, head_dim]`
    /// hold `len` filled positions; `mask` is `[groups, 1, 1, len]`; every `per` consecutive
    /// rows share a group.
    fn attend_host(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        len: usize,
        mask: Option<&Tensor>,
        per: usize,
    ) -> candle_core::Result<Option<Tensor>> {
        if self.paths != Paths::Host {
            return Ok(None);
        }
        let out = match k.dtype() {
            DType::F32 => self.attend_host_as::<f32>(q, k, v, len, mask, per)?,
            DType::F16 => self.attend_host_as::<half::f16>(q, k, v, len, mask, per)?,
            _ => None,
        };
        let rows = q.dim(0)?;
        out.map(|out| Tensor::from_vec(out, (rows, self.d_model), q.device()))
            .transpose()
    }

    /// [`Self::attend_host`] with keys and values of `E`.
    fn attend_host_as<E: KvElem>(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        len: usize,
        mask: Option<&Tensor>,
        per: usize,
    ) -> candle_core::Result<Option<Vec<f32>>> {
        let (rows, stride) = q.dims2()?;
        let (groups, _, cap, _) = k.dims4()?;
        let [q_guard, mask_guard] = [Some(q), mask].map(|t| t.map(Tensor::storage_and_layout));
        let [k_guard, v_guard] = [k, v].map(Tensor::storage_and_layout);
        let q_data = q_guard.as_ref().and_then(|(s, l)| cpu_f32(s, l));
        let mask = mask_guard.as_ref().map(|(s, l)| cpu_f32(s, l));
        let (k, v) = (
            cpu_slice::<E>(&k_guard.0, k_guard.1),
            cpu_slice::<E>(&v_guard.0, v_guard.1),
        );
        let (Some(q_data), Some(k), Some(v)) = (q_data, k, v) else {
            return Ok(None);
        };
        let mask = match mask {
            None => None,
            Some(Some(m)) => Some(m),
            Some(None) => return Ok(None),
        };
        attend_step(
            StepQueries {
                data: q_data,
                rows,
                stride,
            },
            StepKeys {
                k,
                v,
                groups,
                cap,
                len,
                mask,
            },
            self.num_heads,
            self.head_dim,
            per,
        )
        .map(Some)
    }

    /// Encoder self-attention over `x: [b, s, d_model]` with an additive key mask `[b,1,1,s]`.
    fn forward_full(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (b, s, d) = x.dims3()?;
        let qkv = self.q_or_qkv.forward(x)?;
        let q = self.heads_of(&qkv, 0)?;
        let k = self.heads_of(&qkv, 1)?;
        let v = self.heads_of(&qkv, 2)?;
        let out = Self::attend(&q, &k, &v, mask)?
            .transpose(1, 2)?
            .reshape((b, s, d))?;
        self.out_proj.forward(&out)
    }

    /// One decoder step of self-attention: `x: [rows, d_model]`, the cache grows by one.
    /// `order`, when given, is the row of the cache each row continues (beam search's
    /// reordering since the last step), applied in the same copy that appends.
    fn forward_cached(
        &self,
        x: &Tensor,
        cache: &mut Option<SelfKv>,
        order: Option<&[usize]>,
    ) -> candle_core::Result<Tensor> {
        let (rows, d) = x.dims2()?;
        let qkv = self.q_or_qkv.forward(x)?;
        let qkv3 = qkv.reshape((rows, 1, 3 * d))?;
        let k = self.heads_of(&qkv3, 1)?;
        let v = self.heads_of(&qkv3, 2)?;
        let kv = SelfKv::append(cache.take(), order, &k, &v, self.paths, self.kv_dtype)?;
        let (ck, cv, len) = kv.parts();
        let out = match self.attend_host(&qkv, ck, cv, len, None, 1)? {
            Some(out) => out,
            None => {
                let q = self.heads_of(&qkv3, 0)?;
                let (k, v) = kv.views()?;
                let (k, v) = (k.to_dtype(q.dtype())?, v.to_dtype(q.dtype())?);
                Self::attend(&q, &k, &v, None)?.reshape((rows, d))?
            }
        };
        *cache = Some(kv);
        self.out_proj.forward(&out)
    }

    /// One decoder step of cross-attention. `x: [rows, d_model]` with `rows = groups * per`;
    /// every `per` consecutive rows share the keys/values of one group (`[groups, h, s, dh]`),
    /// so beams of a sentence attend to one copy of its encoder states.
    fn forward_cross(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        per: usize,
    ) -> candle_core::Result<Tensor> {
        let (rows, d) = x.dims2()?;
        let groups = rows / per;
        let q = self.q_or_qkv.forward(x)?;
        if let Some(out) = self.attend_host(&q, k, v, k.dim(2)?, mask, per)? {
            return self.out_proj.forward(&out);
        }
        let q = q.reshape((groups, per, self.num_heads, self.head_dim))?;
        let q = if per == 1 {
            q.reshape((groups, self.num_heads, 1, self.head_dim))?
        } else {
            q.transpose(1, 2)?.contiguous()?
        };
        let (k, v) = (k.to_dtype(q.dtype())?, v.to_dtype(q.dtype())?);
        let out = Self::attend(&q, &k, &v, mask)?;
        let out = if per == 1 {
            out.reshape((rows, d))?
        } else {
            out.transpose(1, 2)?.reshape((rows, d))?
        };
        self.out_proj.forward(&out)
    }
}

/// One encoder block (`model.encoder.layers.N`): self-attention, then the feed-forward
/// block, each followed by its residual and layer norm.
#[derive(Debug, Clone)]
pub(super) struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

impl EncoderLayer {
    pub(super) fn new(
        cfg: &MarianConfig,
        build: Build,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            self_attn: Attention::new(
                d,
                cfg.encoder_attention_heads,
                false,
                build,
                vb.pp("self_attn"),
            )?,
            self_attn_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("self_attn_layer_norm"))?,
            ffn: FeedForward::load(d, cfg.encoder_ffn_dim, build, &vb)?,
            final_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("final_layer_norm"))?,
        })
    }

    pub(super) fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let h = self.self_attn.forward_full(x, mask)?;
        let x = self.self_attn_layer_norm.forward(&(x + h)?)?;
        let h = self.ffn.forward(&x)?;
        self.final_layer_norm.forward(&(x + h)?)
    }
}

/// The feed-forward block of a layer (`fc1`, the activation, `fc2`). On the host path the
/// activation is one vectorised pass (`translate/activation.rs`); candle's op elsewhere.
#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Dense,
    fc2: Dense,
    activation: Activation,
    /// The activation on host rows, when the host path runs it (decided at load).
    host: Option<fn(&mut [f32])>,
}

impl FeedForward {
    fn load(d: usize, ffn_dim: usize, build: Build, vb: &VarBuilder) -> candle_core::Result<Self> {
        let host: Option<fn(&mut [f32])> = match build.activation {
            _ if build.paths != Paths::Host => None,
            Activation::Silu | Activation::Swish => Some(activation::silu),
            Activation::Gelu => Some(activation::gelu_erf),
            Activation::NewGelu | Activation::GeluPytorchTanh => Some(activation::gelu_tanh),
            Activation::Relu => Some(activation::relu),
            _ => None,
        };
        Ok(Self {
            fc1: Dense::load(d, ffn_dim, build, vb.pp("fc1"))?,
            fc2: Dense::load(ffn_dim, d, build, vb.pp("fc2"))?,
            activation: build.activation,
            host,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.fc1.forward(x)?;
        let h = match self.host {
            Some(f) if h.device().is_cpu() && h.dtype() == DType::F32 => {
                let mut values = h.flatten_all()?.to_vec1::<f32>()?;
                f(&mut values);
                Tensor::from_vec(values, h.shape(), h.device())?
            }
            _ => self.activation.forward(&h)?,
        };
        self.fc2.forward(&h)
    }
}

/// One decoder block (`model.decoder.layers.N`): self-attention, cross-attention to the
/// encoder states, then the feed-forward block, each followed by its residual and layer
/// norm.
#[derive(Debug, Clone)]
pub(super) struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

impl DecoderLayer {
    pub(super) fn new(
        cfg: &MarianConfig,
        build: Build,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        let h = cfg.decoder_attention_heads;
        Ok(Self {
            self_attn: Attention::new(d, h, false, build, vb.pp("self_attn"))?,
            self_attn_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("self_attn_layer_norm"))?,
            encoder_attn: Attention::new(d, h, true, build, vb.pp("encoder_attn"))?,
            encoder_attn_layer_norm: layer_norm(
                d,
                LAYER_NORM_EPS,
                vb.pp("encoder_attn_layer_norm"),
            )?,
            ffn: FeedForward::load(d, cfg.decoder_ffn_dim, build, &vb)?,
            final_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("final_layer_norm"))?,
        })
    }

    /// Cross-attention keys and values of `encoder_states` (`[b, s, d_model]`), computed once
    /// per batch.
    pub(super) fn project_cross_kv(
        &self,
        encoder_states: &Tensor,
    ) -> candle_core::Result<KeyValues> {
        self.encoder_attn.project_kv(encoder_states)
    }

    /// One decoder step of this layer for `x: [rows, d_model]`: self-attention over `cache`
    /// (which grows by one position, its rows taken in `order` when given), cross-attention
    /// to `cross` (shared by every `per` consecutive rows, `mask` over its padding), the
    /// feed-forward block; each followed by its residual and layer norm.
    pub(super) fn step(
        &self,
        x: Tensor,
        cache: &mut Option<SelfKv>,
        order: Option<&[usize]>,
        cross: &KeyValues,
        mask: Option<&Tensor>,
        per: usize,
    ) -> candle_core::Result<Tensor> {
        let (ck, cv) = cross;
        let h = self.self_attn.forward_cached(&x, cache, order)?;
        let x = self.self_attn_layer_norm.forward(&(x + h)?)?;
        let h = self.encoder_attn.forward_cross(&x, ck, cv, mask, per)?;
        let x = self.encoder_attn_layer_norm.forward(&(x + h)?)?;
        let h = self.ffn.forward(&x)?;
        self.final_layer_norm.forward(&(x + h)?)
    }
}

/// A token embedding table, either as stored (`[vocab, d]`) or as the transposed output
/// projection (`[d, vocab]`) when the two are tied, so tied weights are held once.
#[derive(Debug, Clone)]
pub(super) enum Embedding {
    Rows(Tensor),
    /// The output projection's columns (tied embeddings).
    Cols(Projection),
}

impl Embedding {
    /// The embeddings of `ids` (`[n]`), `[n, d]`.
    pub(super) fn lookup(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Rows(t) => t.index_select(ids, 0),
            Embedding::Cols(p) => p.columns(ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_have_sin_then_cos() {
        let t = sinusoidal_positions(5, 6, &Device::Cpu).unwrap();
        let v = t.to_vec2::<f32>().unwrap();
        assert_eq!(v[0], vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let p = 3f64;
        for i in 0..3 {
            let a = p / 10000f64.powf((2 * i) as f64 / 6.0);
            assert!((v[3][i] as f64 - a.sin()).abs() < 1e-6);
            assert!((v[3][3 + i] as f64 - a.cos()).abs() < 1e-6);
        }
    }
}

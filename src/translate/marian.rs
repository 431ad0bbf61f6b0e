//! The Marian (OPUS-MT) encoder-decoder on candle, built for fast batched translation.
//!
//! This exists instead of candle-transformers' `marian` because translation needs what that
//! one lacks: a key-padding mask (a padded batch must translate exactly like one sentence at a
//! time), an encoder without hidden state, cross-attention keys/values computed once per batch,
//! a self-attention KV cache whose rows can be reordered and dropped, and beam search (the
//! shared loop in [`crate::generate`]). The architecture and weight names follow HF
//! transformers' `modeling_marian.py` (post-layer-norm blocks, sinusoidal positions with the
//! sines in the first half and the cosines in the second, `final_logits_bias`).
//!
//! Tensors in, tensors out: tokenisation lives in [`super::tokenizer`]. Entry points:
//! [`MarianModel::new`] (from a `VarBuilder`), [`MarianModel::load`] (from a checkpoint
//! directory) and [`MarianModel::translate_batch`].
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{layer_norm, Activation, LayerNorm, VarBuilder};
use serde::Deserialize;

use super::project::{cpu_f32, Projection};
use crate::generate::{
    self, host_rows, Decoder, GenerationConfig, GenerationConfigError, Hypothesis,
    ResolvedGeneration, TokenIds,
};

/// HF `nn.LayerNorm`'s default epsilon, which Marian uses everywhere.
const LAYER_NORM_EPS: f64 = 1e-5;

#[derive(Debug, thiserror::Error)]
pub enum MarianError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    #[error("no weights in {0}: expected model.safetensors or pytorch_model.bin")]
    NoWeights(PathBuf),
    #[error(transparent)]
    Generation(#[from] GenerationConfigError),
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
}

fn default_activation() -> String {
    "gelu".to_string()
}

fn default_true() -> bool {
    true
}

/// Every field of a Marian `config.json` that inference uses. The shape fields and the special
/// token ids are required (real OPUS-MT configs always have them); the rest take HF's
/// defaults. Unknown keys (dropout rates, `architectures`, ...) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MarianConfig {
    pub vocab_size: usize,
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    /// HF `ACT2FN` name: `swish`/`silu`, `gelu`, `gelu_new`, `relu`, ...
    #[serde(default = "default_activation")]
    pub activation_function: String,
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by `sqrt(d_model)`.
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default = "default_true")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    pub pad_token_id: u32,
    pub eos_token_id: TokenIds,
    pub decoder_start_token_id: u32,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub forced_eos_token_id: Option<TokenIds>,
    /// Legacy BART-era key found in old OPUS-MT configs. HF's Marian ignores it (its blocks are
    /// always post-norm) and so do we; it is kept for completeness.
    #[serde(default)]
    pub normalize_before: Option<bool>,
    /// Legacy key, ignored by HF's Marian like `normalize_before`.
    #[serde(default)]
    pub normalize_embedding: Option<bool>,
    /// Legacy key; Marian positions are always static sinusoids.
    #[serde(default)]
    pub static_position_embeddings: Option<bool>,
    #[serde(default)]
    pub model_type: Option<String>,
}

impl MarianConfig {
    /// Reads `config.json`; a missing or malformed field is reported with the file's path.
    pub fn from_file(path: &Path) -> Result<Self, MarianError> {
        let text = std::fs::read_to_string(path).map_err(|source| MarianError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses the text of a `config.json` (`path` only names it in errors).
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, MarianError> {
        let cfg: Self = serde_json::from_str(text).map_err(|source| MarianError::Config {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()
            .map_err(|message| MarianError::InvalidConfig {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.encoder_attention_heads == 0
            || !self.d_model.is_multiple_of(self.encoder_attention_heads)
        {
            return Err(format!(
                "d_model ({}) is not divisible by encoder_attention_heads ({})",
                self.d_model, self.encoder_attention_heads
            ));
        }
        if self.decoder_attention_heads == 0
            || !self.d_model.is_multiple_of(self.decoder_attention_heads)
        {
            return Err(format!(
                "d_model ({}) is not divisible by decoder_attention_heads ({})",
                self.d_model, self.decoder_attention_heads
            ));
        }
        self.activation()?;
        Ok(())
    }

    /// `decoder_vocab_size`, defaulting to `vocab_size` as HF does.
    pub fn decoder_vocab_size(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    /// Rows of the output projection: HF uses `vocab_size` when the embeddings are shared.
    pub fn target_vocab_size(&self) -> usize {
        if self.share_encoder_decoder_embeddings {
            self.vocab_size
        } else {
            self.decoder_vocab_size()
        }
    }

    /// The candle activation matching HF's `ACT2FN[activation_function]`.
    pub fn activation(&self) -> Result<Activation, String> {
        match self.activation_function.as_str() {
            "gelu" | "gelu_python" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::NewGelu),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            "sigmoid" => Ok(Activation::Sigmoid),
            other => Err(format!("unsupported activation_function {other:?}")),
        }
    }

    /// The generation settings `config.json` itself implies (its special tokens), used to fill
    /// what a `GenerationConfig` leaves unset.
    pub fn generation_defaults(&self) -> GenerationConfig {
        GenerationConfig {
            eos_token_id: Some(self.eos_token_id.clone()),
            pad_token_id: Some(self.pad_token_id),
            bos_token_id: self.bos_token_id,
            decoder_start_token_id: Some(self.decoder_start_token_id),
            ..GenerationConfig::default()
        }
    }
}

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

/// A linear layer, its weight laid out for the device by [`Projection`] (panels on the CPU).
#[derive(Debug, Clone)]
struct Dense {
    wt: Projection,
    bias: Tensor,
}

impl Dense {
    fn new(weights: LinearWeights) -> candle_core::Result<Self> {
        Ok(Self {
            wt: Projection::from_rows(&weights.w)?,
            bias: weights.bias,
        })
    }

    fn load(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Self::new(LinearWeights::load(in_dim, out_dim, vb)?)
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
}

impl Attention {
    fn new(
        d_model: usize,
        num_heads: usize,
        cross: bool,
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
                Dense::new(q)?,
                Some(Dense::new(LinearWeights::fuse(&[k, v])?)?),
            )
        } else {
            (Dense::new(LinearWeights::fuse(&[q, k, v])?)?, None)
        };
        Ok(Self {
            q_or_qkv,
            kv,
            out_proj: Dense::load(d_model, d_model, vb.pp("out_proj"))?,
            d_model,
            num_heads,
            head_dim,
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
    fn project_kv(&self, kv: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let Some(proj) = &self.kv else {
            candle_core::bail!("project_kv on a self-attention layer");
        };
        let kv = proj.forward(kv)?;
        Ok((self.heads_of(&kv, 0)?, self.heads_of(&kv, 1)?))
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
        cache: &mut Option<(Tensor, Tensor)>,
        order: Option<&[usize]>,
    ) -> candle_core::Result<Tensor> {
        let (rows, d) = x.dims2()?;
        let qkv = self.q_or_qkv.forward(x)?.reshape((rows, 1, 3 * d))?;
        let q = self.heads_of(&qkv, 0)?;
        let k = self.heads_of(&qkv, 1)?;
        let v = self.heads_of(&qkv, 2)?;
        let (k, v) = match cache.take() {
            None => (k, v),
            Some((pk, pv)) => (append_step(&pk, order, &k)?, append_step(&pv, order, &v)?),
        };
        let out = Self::attend(&q, &k, &v, None)?.reshape((rows, d))?;
        *cache = Some((k, v));
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
        let q = self
            .q_or_qkv
            .forward(x)?
            .reshape((groups, per, self.num_heads, self.head_dim))?;
        let q = if per == 1 {
            q.reshape((groups, self.num_heads, 1, self.head_dim))?
        } else {
            q.transpose(1, 2)?.contiguous()?
        };
        let out = Self::attend(&q, k, v, mask)?;
        let out = if per == 1 {
            out.reshape((rows, d))?
        } else {
            out.transpose(1, 2)?.reshape((rows, d))?
        };
        self.out_proj.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    final_layer_norm: LayerNorm,
    activation: Activation,
}

impl EncoderLayer {
    fn new(
        cfg: &MarianConfig,
        activation: Activation,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            self_attn: Attention::new(d, cfg.encoder_attention_heads, false, vb.pp("self_attn"))?,
            self_attn_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("self_attn_layer_norm"))?,
            fc1: Dense::load(d, cfg.encoder_ffn_dim, vb.pp("fc1"))?,
            fc2: Dense::load(cfg.encoder_ffn_dim, d, vb.pp("fc2"))?,
            final_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("final_layer_norm"))?,
            activation,
        })
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let h = self.self_attn.forward_full(x, mask)?;
        let x = self.self_attn_layer_norm.forward(&(x + h)?)?;
        let h = self
            .fc2
            .forward(&self.activation.forward(&self.fc1.forward(&x)?)?)?;
        self.final_layer_norm.forward(&(x + h)?)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    final_layer_norm: LayerNorm,
    activation: Activation,
}

impl DecoderLayer {
    fn new(
        cfg: &MarianConfig,
        activation: Activation,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        let h = cfg.decoder_attention_heads;
        Ok(Self {
            self_attn: Attention::new(d, h, false, vb.pp("self_attn"))?,
            self_attn_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("self_attn_layer_norm"))?,
            encoder_attn: Attention::new(d, h, true, vb.pp("encoder_attn"))?,
            encoder_attn_layer_norm: layer_norm(
                d,
                LAYER_NORM_EPS,
                vb.pp("encoder_attn_layer_norm"),
            )?,
            fc1: Dense::load(d, cfg.decoder_ffn_dim, vb.pp("fc1"))?,
            fc2: Dense::load(cfg.decoder_ffn_dim, d, vb.pp("fc2"))?,
            final_layer_norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("final_layer_norm"))?,
            activation,
        })
    }
}

/// A Marian translation model: encoder, decoder and output projection, immutable after
/// loading. Decoding state lives in [`MarianDecoderState`], so one model serves many batches.
#[derive(Debug, Clone)]
pub struct MarianModel {
    cfg: MarianConfig,
    encoder_embed: Embedding,
    decoder_embed: Embedding,
    encoder_positions: Tensor,
    decoder_positions: Tensor,
    embed_scale: f64,
    encoder_layers: Vec<EncoderLayer>,
    decoder_layers: Vec<DecoderLayer>,
    /// The output projection, transposed: `[d_model, target_vocab]` (as panels on the CPU in
    /// f32); also the decoder's embeddings (and the encoder's) when they are tied to it.
    lm_head_t: Projection,
    /// `[target_vocab]`; `None` when all zeros (as in OPUS-MT checkpoints), since adding it
    /// changes no logit but costs a pass over (and a fresh allocation of) `[rows, vocab]`
    /// every step.
    final_logits_bias: Option<Tensor>,
    device: Device,
    dtype: DType,
}

/// First of `names` present in `vb`.
fn first_present<'n>(vb: &VarBuilder, names: &[&'n str]) -> Option<&'n str> {
    names.iter().copied().find(|n| vb.contains_tensor(n))
}

/// Loads the first of `names` present, or fails naming all of them.
fn get_first(
    vb: &VarBuilder,
    shape: (usize, usize),
    names: &[&str],
) -> candle_core::Result<(Tensor, String)> {
    match first_present(vb, names) {
        Some(n) => Ok((vb.get(shape, n)?, n.to_string())),
        None => candle_core::bail!("missing weight: none of {names:?} is in the checkpoint"),
    }
}

/// Tied copies stored separately (old `pytorch_model.bin` files keep every copy): when they are
/// equal, keep one tensor so the memory is paid once, as HF's tying does. Returns the tensor
/// to use and whether it is `kept`.
fn dedupe(kept: &Tensor, candidate: Tensor) -> candle_core::Result<(Tensor, bool)> {
    if kept.shape() == candidate.shape()
        && kept
            .ne(&candidate)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()?
            == 0.0
    {
        Ok((kept.clone(), true))
    } else {
        Ok((candidate, false))
    }
}

/// A token embedding table, either as stored (`[vocab, d]`) or as the transposed output
/// projection (`[d, vocab]`) when the two are tied, so tied weights are held once.
#[derive(Debug, Clone)]
enum Embedding {
    Rows(Tensor),
    /// The output projection's columns (tied embeddings).
    Cols(Projection),
}

impl Embedding {
    /// The embeddings of `ids` (`[n]`), `[n, d]`.
    fn lookup(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Rows(t) => t.index_select(ids, 0),
            Embedding::Cols(p) => p.columns(ids),
        }
    }
}

impl MarianModel {
    /// Builds the model from HF-named weights (`model.shared.weight`,
    /// `model.encoder.layers.N.self_attn.q_proj.weight`, `lm_head.weight`, ...).
    ///
    /// Tied and shared embeddings are resolved the way HF's loader does for consistent
    /// checkpoints: each role (encoder embedding, decoder embedding, output projection) uses
    /// its own tensor when the checkpoint has it and otherwise any tied copy that is present
    /// (`model.shared.weight`, the other embedding, `lm_head.weight`), so files that store
    /// only one of the copies load too. Positions come from the checkpoint when stored,
    /// otherwise they are computed; a missing `final_logits_bias` is zeros.
    pub fn new(cfg: &MarianConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        let activation = cfg.activation().map_err(candle_core::Error::Msg)?;
        let d = cfg.d_model;
        let share = cfg.share_encoder_decoder_embeddings;
        let tie = cfg.tie_word_embeddings;
        let target_vocab = cfg.target_vocab_size();

        const SHARED: &str = "model.shared.weight";
        const ENC: &str = "model.encoder.embed_tokens.weight";
        const DEC: &str = "model.decoder.embed_tokens.weight";
        const HEAD: &str = "lm_head.weight";

        let mut enc_names = vec![ENC];
        if share {
            enc_names.extend([SHARED, DEC]);
            if tie {
                enc_names.push(HEAD);
            }
        }
        let (encoder_embed, enc_name) = get_first(&vb, (cfg.vocab_size, d), &enc_names)?;

        let mut dec_names = vec![DEC];
        if share {
            dec_names.extend([SHARED, ENC]);
        }
        if tie {
            dec_names.push(HEAD);
        }
        let (decoder_embed, dec_name) = get_first(&vb, (target_vocab, d), &dec_names)?;
        let (decoder_embed, enc_is_dec) = if dec_name == enc_name {
            (encoder_embed.clone(), true)
        } else {
            dedupe(&encoder_embed, decoder_embed)?
        };

        let mut head_names = vec![HEAD];
        if tie {
            head_names.push(DEC);
            if share {
                head_names.extend([SHARED, ENC]);
            }
        }
        let (lm_head, head_name) = get_first(&vb, (target_vocab, d), &head_names)?;
        let (lm_head, dec_is_head) = if head_name == dec_name {
            (decoder_embed.clone(), true)
        } else {
            dedupe(&decoder_embed, lm_head)?
        };
        let lm_head_t = Projection::from_rows(&lm_head)?;
        drop(lm_head);
        let (encoder_embed, decoder_embed) = match (enc_is_dec, dec_is_head) {
            (true, true) => (
                Embedding::Cols(lm_head_t.clone()),
                Embedding::Cols(lm_head_t.clone()),
            ),
            (true, false) => (
                Embedding::Rows(decoder_embed.clone()),
                Embedding::Rows(decoder_embed),
            ),
            (false, true) => (
                Embedding::Rows(encoder_embed),
                Embedding::Cols(lm_head_t.clone()),
            ),
            (false, false) => (
                Embedding::Rows(encoder_embed),
                Embedding::Rows(decoder_embed),
            ),
        };

        let final_logits_bias = if vb.contains_tensor("final_logits_bias") {
            let bias = vb
                .get((1, target_vocab), "final_logits_bias")?
                .reshape(target_vocab)?;
            // Skipped when every entry is exactly zero: `x + 0.0 == x` for every logit (a
            // NaN or infinity makes the sum nonzero, so such a bias is kept and applied).
            let magnitude = bias
                .to_dtype(DType::F32)?
                .abs()?
                .sum_all()?
                .to_scalar::<f32>()?;
            (magnitude != 0.0).then_some(bias)
        } else {
            None
        };

        let positions = |name: &str| -> candle_core::Result<Tensor> {
            let n = cfg.max_position_embeddings;
            if vb.contains_tensor(name) {
                vb.get((n, d), name)
            } else {
                sinusoidal_positions(n, d, vb.device())?.to_dtype(vb.dtype())
            }
        };
        let encoder_positions = positions("model.encoder.embed_positions.weight")?;
        let decoder_positions = positions("model.decoder.embed_positions.weight")?;

        let encoder_layers = (0..cfg.encoder_layers)
            .map(|i| EncoderLayer::new(cfg, activation, vb.pp(format!("model.encoder.layers.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let decoder_layers = (0..cfg.decoder_layers)
            .map(|i| DecoderLayer::new(cfg, activation, vb.pp(format!("model.decoder.layers.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;

        Ok(Self {
            cfg: cfg.clone(),
            encoder_embed,
            decoder_embed,
            encoder_positions,
            decoder_positions,
            embed_scale: if cfg.scale_embedding {
                (d as f64).sqrt()
            } else {
                1.0
            },
            encoder_layers,
            decoder_layers,
            lm_head_t,
            final_logits_bias,
            device: vb.device().clone(),
            dtype: vb.dtype(),
        })
    }

    /// Loads `config.json`, the generation settings and the weights of a checkpoint directory.
    ///
    /// Weights: the directory's `*.safetensors` (or `model.safetensors.index.json`), else
    /// `pytorch_model.bin` (zip or legacy format) or its index, read by [`crate::weights`].
    pub fn load(
        dir: &Path,
        device: &Device,
        dtype: DType,
    ) -> Result<(Self, MarianConfig, GenerationConfig), MarianError> {
        let cfg = MarianConfig::from_file(&dir.join("config.json"))?;
        let mut gen = GenerationConfig::from_model_dir(dir)?;
        gen.fill_special_tokens_from(&cfg.generation_defaults());
        let files = Self::weight_files(dir)?;
        let vb = crate::weights::load_var_builder(&files, dtype, device)?;
        let model = Self::new(&cfg, vb)?;
        Ok((model, cfg, gen))
    }

    /// The weight files of a checkpoint directory, safetensors first.
    pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, MarianError> {
        let read_dir = std::fs::read_dir(dir).map_err(|source| MarianError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut safetensors: Vec<PathBuf> = read_dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        safetensors.sort();
        if !safetensors.is_empty() {
            return Ok(safetensors);
        }
        for name in [
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "pytorch_model.bin.index.json",
        ] {
            let p = dir.join(name);
            if p.exists() {
                return Ok(vec![p]);
            }
        }
        Err(MarianError::NoWeights(dir.to_path_buf()))
    }

    pub fn config(&self) -> &MarianConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Right-pads `input_ids` with the pad id: the `[batch, max_len]` ids and, when any row
    /// is padded, the additive key mask `[batch, 1, 1, max_len]` (0 for tokens, -inf for pads).
    pub fn pad_batch(
        &self,
        input_ids: &[Vec<u32>],
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let b = input_ids.len();
        let s = input_ids.iter().map(Vec::len).max().unwrap_or(0);
        if b == 0 || s == 0 || input_ids.iter().any(Vec::is_empty) {
            candle_core::bail!("translate: every input needs at least one token");
        }
        let mut ids = Vec::with_capacity(b * s);
        let mut mask = Vec::with_capacity(b * s);
        let mut padded = false;
        for row in input_ids {
            ids.extend_from_slice(row);
            mask.extend(std::iter::repeat_n(0f32, row.len()));
            let pad = s - row.len();
            padded |= pad > 0;
            ids.extend(std::iter::repeat_n(self.cfg.pad_token_id, pad));
            mask.extend(std::iter::repeat_n(f32::NEG_INFINITY, pad));
        }
        let ids = Tensor::from_vec(ids, (b, s), &self.device)?;
        let mask = if padded {
            Some(Tensor::from_vec(mask, (b, 1, 1, s), &self.device)?.to_dtype(self.dtype)?)
        } else {
            None
        };
        Ok((ids, mask))
    }

    /// Encoder states `[batch, seq, d_model]` for right-padded `ids` and their key mask.
    pub fn encode(&self, ids: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (b, s) = ids.dims2()?;
        if s > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "input of {s} tokens exceeds max_position_embeddings ({})",
                self.cfg.max_position_embeddings
            );
        }
        let x =
            self.encoder_embed
                .lookup(&ids.flatten_all()?)?
                .reshape((b, s, self.cfg.d_model))?;
        let x = (x * self.embed_scale)?;
        let mut x = x.broadcast_add(&self.encoder_positions.i(..s)?)?;
        for layer in &self.encoder_layers {
            x = layer.forward(&x, mask)?;
        }
        Ok(x)
    }

    /// Decoding state for a batch: cross-attention keys/values of every decoder layer,
    /// computed once from `encoder_states`, and empty self-attention caches.
    pub fn start_decoding(
        &self,
        encoder_states: &Tensor,
        mask: Option<Tensor>,
    ) -> candle_core::Result<MarianDecoderState<'_>> {
        let b = encoder_states.dim(0)?;
        let cross = self
            .decoder_layers
            .iter()
            .map(|l| l.encoder_attn.project_kv(encoder_states))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(MarianDecoderState {
            model: self,
            cross,
            cross_mask: mask,
            row_group: (0..b).collect(),
            per_group: 1,
            self_cache: vec![None; self.decoder_layers.len()],
            cache_order: None,
            position: 0,
        })
    }

    /// The concrete settings `gen` gives for this model (its special tokens filled in, its
    /// positions capping a default length) and the decoder start token: worked out once, when
    /// a translator is configured, and handed to every batch. A setting no decoding can run
    /// with is a [`GenerationConfigError::Invalid`] naming it.
    pub fn decoding(&self, gen: &GenerationConfig) -> Result<Decoding, GenerationConfigError> {
        let mut gen = gen.clone();
        gen.fill_special_tokens_from(&self.cfg.generation_defaults());
        let settings = gen.resolve(1, Some(self.cfg.max_position_embeddings))?;
        let start = gen
            .decoder_start()
            .unwrap_or(self.cfg.decoder_start_token_id);
        Ok(Decoding { settings, start })
    }

    /// The most positions the decoder has: no translation can be longer.
    pub fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    /// Translates a batch of token-id sequences (source ids ending in EOS, as the tokenizer
    /// produces them) with settings resolved by [`MarianModel::decoding`]. Pads internally;
    /// returns one hypothesis per input, in order. A padded batch gives the same result as
    /// each sentence alone.
    pub fn translate_resolved(
        &self,
        input_ids: &[Vec<u32>],
        decoding: &Decoding,
    ) -> candle_core::Result<Vec<Hypothesis>> {
        if input_ids.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, mask) = self.pad_batch(input_ids)?;
        let encoded = self.encode(&ids, mask.as_ref())?;
        let mut state = self.start_decoding(&encoded, mask)?;
        let prompts = vec![vec![decoding.start]; input_ids.len()];
        generate::generate(&mut state, &prompts, &decoding.settings)
    }

    /// [`MarianModel::translate_resolved`] for one-off calls: resolves `gen` for this batch
    /// alone. A translator resolves its settings once instead.
    pub fn translate_batch(
        &self,
        input_ids: &[Vec<u32>],
        gen: &GenerationConfig,
    ) -> Result<Vec<Hypothesis>, MarianError> {
        let decoding = self.decoding(gen)?;
        Ok(self.translate_resolved(input_ids, &decoding)?)
    }
}

/// Decoding settings resolved for one model ([`MarianModel::decoding`]): what every batch
/// decodes with, so a bad setting fails when the settings are made, not at a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoding {
    /// The lengths, beams and token rules of each `generate` call.
    pub settings: ResolvedGeneration,
    /// The decoder prompt each row starts with (`decoder_start_token_id`).
    pub start: u32,
}

/// Per-batch decoding state of a [`MarianModel`]; implements [`Decoder`].
///
/// Rows are grouped: every `per_group` consecutive rows belong to one sentence and share its
/// cross-attention keys/values (`[groups, heads, src_len, head_dim]`), so beams never copy
/// encoder states. Row selections that break that layout (never produced by the search loop)
/// fall back to one group per row.
pub struct MarianDecoderState<'a> {
    model: &'a MarianModel,
    /// Per decoder layer: cross-attention keys and values, one entry per group.
    cross: Vec<(Tensor, Tensor)>,
    /// Additive source key mask per group, `[groups, 1, 1, src_len]`; `None` without padding.
    cross_mask: Option<Tensor>,
    /// Group of each current row.
    row_group: Vec<usize>,
    per_group: usize,
    /// Per decoder layer: self-attention keys and values `[rows, heads, t, head_dim]`.
    self_cache: Vec<Option<(Tensor, Tensor)>>,
    /// Rows of `self_cache` that the current rows continue, when beam search reordered or
    /// dropped rows since the last step; applied by the next step as it appends (one copy
    /// of the cache a step instead of a reorder and an append).
    cache_order: Option<Vec<usize>>,
    /// Tokens consumed so far (the position of the next one).
    position: usize,
}

impl MarianDecoderState<'_> {
    fn select_groups(&mut self, groups: &[usize]) -> candle_core::Result<()> {
        let n = self.cross.first().map_or(0, |(k, _)| k.dim(0).unwrap_or(0));
        if groups.len() == n && groups.iter().enumerate().all(|(i, &g)| i == g) {
            return Ok(());
        }
        let idx = Tensor::from_vec(
            groups.iter().map(|&g| g as u32).collect::<Vec<_>>(),
            groups.len(),
            &self.model.device,
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
}

impl MarianDecoderState<'_> {
    /// The decoder's last hidden states for one token per row, `[rows, d_model]`.
    fn hidden(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
        let m = self.model;
        let rows = tokens.len();
        if rows != self.row_group.len() {
            candle_core::bail!("step: {rows} tokens for {} rows", self.row_group.len());
        }
        if self.position >= m.cfg.max_position_embeddings {
            candle_core::bail!(
                "decoding past max_position_embeddings ({})",
                m.cfg.max_position_embeddings
            );
        }
        let ids = Tensor::from_vec(tokens.to_vec(), rows, &m.device)?;
        let x = (m.decoder_embed.lookup(&ids)? * m.embed_scale)?;
        let pos = m.decoder_positions.i(self.position..self.position + 1)?;
        let mut x = x.broadcast_add(&pos)?;
        for ((layer, cache), (ck, cv)) in m
            .decoder_layers
            .iter()
            .zip(self.self_cache.iter_mut())
            .zip(self.cross.iter())
        {
            let h = layer
                .self_attn
                .forward_cached(&x, cache, self.cache_order.as_deref())?;
            x = layer.self_attn_layer_norm.forward(&(x + h)?)?;
            let h = layer.encoder_attn.forward_cross(
                &x,
                ck,
                cv,
                self.cross_mask.as_ref(),
                self.per_group,
            )?;
            x = layer.encoder_attn_layer_norm.forward(&(x + h)?)?;
            let h = layer
                .fc2
                .forward(&layer.activation.forward(&layer.fc1.forward(&x)?)?)?;
            x = layer.final_layer_norm.forward(&(x + h)?)?;
        }
        self.position += 1;
        self.cache_order = None;
        Ok(x)
    }
}

impl Decoder for MarianDecoderState<'_> {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
        let x = self.hidden(tokens)?;
        let m = self.model;
        m.lm_head_t.forward(&x, m.final_logits_bias.as_ref())
    }

    /// On the CPU the output projection writes the host rows directly, without a tensor to
    /// copy out of (28 MB a step at beam 4, batch 32).
    fn step_host(&mut self, tokens: &[u32]) -> candle_core::Result<(Vec<f32>, usize)> {
        let x = self.hidden(tokens)?;
        let m = self.model;
        let vocab = m.lm_head_t.cols()?;
        match m.lm_head_t.forward_host(&x, m.final_logits_bias.as_ref())? {
            Some(rows) => Ok((rows, vocab)),
            None => host_rows(&m.lm_head_t.forward(&x, m.final_logits_bias.as_ref())?),
        }
    }

    fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
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
            self.select_groups(&kept)?;
            self.per_group = per;
            self.row_group = (0..rows.len()).map(|i| i / per).collect();
        } else {
            self.select_groups(&new_groups)?;
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
fn append_step(
    cache: &Tensor,
    order: Option<&[usize]>,
    new: &Tensor,
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
    if !cache.device().is_cpu() || cache.dtype() != DType::F32 || new.dtype() != DType::F32 {
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
        assert!(append_step(&cache, Some(&[0, 4]), &new).is_err());
        assert!(append_step(&cache, None, &new).is_err());
    }

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

    #[test]
    fn missing_field_names_file_and_field() {
        let err = MarianConfig::from_json_str(
            r#"{"vocab_size": 10, "encoder_layers": 1}"#,
            Path::new("/x/config.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/x/config.json"), "{err}");
        assert!(err.contains("missing field"), "{err}");
    }

    #[test]
    fn opus_mt_config_parses() {
        let text = r#"{
          "_name_or_path": "Helsinki-NLP/opus-mt-id-en", "activation_dropout": 0.0,
          "activation_function": "swish", "add_bias_logits": false, "architectures": ["MarianMTModel"],
          "attention_dropout": 0.0, "bad_words_ids": [[54795]], "bos_token_id": 0,
          "classif_dropout": 0.0, "d_model": 512, "decoder_attention_heads": 8,
          "decoder_ffn_dim": 2048, "decoder_layers": 6, "decoder_start_token_id": 54795,
          "decoder_vocab_size": 54796, "dropout": 0.1, "encoder_attention_heads": 8,
          "encoder_ffn_dim": 2048, "encoder_layers": 6, "eos_token_id": 0,
          "forced_eos_token_id": 0, "init_std": 0.02, "is_encoder_decoder": true,
          "max_length": 512, "max_position_embeddings": 512, "model_type": "marian",
          "normalize_before": false, "normalize_embedding": false, "num_beams": 4,
          "num_hidden_layers": 6, "pad_token_id": 54795, "scale_embedding": true,
          "share_encoder_decoder_embeddings": true, "static_position_embeddings": true,
          "transformers_version": "4.22.0.dev0", "use_cache": true, "vocab_size": 54796
        }"#;
        let cfg = MarianConfig::from_json_str(text, Path::new("config.json")).unwrap();
        assert_eq!(cfg.activation().unwrap(), Activation::Silu);
        assert_eq!(cfg.target_vocab_size(), 54796);
        assert_eq!(cfg.eos_token_id, TokenIds::One(0));
        let bad = text.replace("\"swish\"", "\"mystery\"");
        assert!(MarianConfig::from_json_str(&bad, Path::new("config.json")).is_err());
    }
}

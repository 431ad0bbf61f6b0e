//! The Marian model as its weights are named: [`MarianModel`] holds `model.encoder`,
//! `model.decoder` (each its embeddings, positions and layers), `lm_head` and
//! `final_logits_bias`, as candle-transformers' `marian.rs` does, and builds each part from
//! the `VarBuilder` prefix of the same name. Which stored tensor serves which embedding
//! (they may be tied, shared, or stored more than once) is decided in one function,
//! [`tied_embeddings`].
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;

use super::config::MarianConfig;
use super::layers::{positions, Build, DecoderLayer, Embedding, EncoderLayer};
use super::state::{DecoderCache, KeyValues};
use super::{MarianError, Paths};
use crate::device::Precision;
use crate::generate::{self, GenerationConfig};
use crate::translate::project::Projection;

/// A Marian translation model: encoder, decoder and output projection, immutable after
/// loading. Decoding state lives in [`super::MarianDecoderState`], so one model serves many
/// batches.
#[derive(Debug, Clone)]
pub struct MarianModel {
    pub(super) cfg: MarianConfig,
    /// `model.encoder`.
    encoder: Encoder,
    /// `model.decoder`.
    decoder: Decoder,
    /// `lm_head`, transposed: `[d_model, target_vocab]` (as panels on the CPU in f32); also
    /// the decoder's embeddings (and the encoder's) when they are tied to it.
    lm_head_t: Projection,
    /// `final_logits_bias`, `[target_vocab]`; `None` when all zeros (as in OPUS-MT
    /// checkpoints), since adding it changes no logit but costs a pass over (and a fresh
    /// allocation of) `[rows, vocab]` every step.
    final_logits_bias: Option<Tensor>,
    pub(super) device: Device,
    dtype: DType,
}

/// `model.encoder` or `model.decoder`: token embeddings, positions, and layers of type `L`.
#[derive(Debug, Clone)]
struct Stack<L> {
    embed_tokens: Embedding,
    /// `embed_positions.weight`, or the sinusoids it holds.
    embed_positions: Tensor,
    /// `sqrt(d_model)` with `scale_embedding`, else 1.
    embed_scale: f64,
    layers: Vec<L>,
}

/// `model.encoder`.
type Encoder = Stack<EncoderLayer>;
/// `model.decoder`.
type Decoder = Stack<DecoderLayer>;

impl<L> Stack<L> {
    /// The stack under `vb` (`model.encoder` or `model.decoder`) with `n` layers made by
    /// `layer` from `layers.N`, and its token embeddings resolved already.
    fn new(
        cfg: &MarianConfig,
        n: usize,
        embed_tokens: Embedding,
        vb: VarBuilder,
        layer: impl Fn(VarBuilder) -> candle_core::Result<L>,
    ) -> candle_core::Result<Self> {
        let layers = (0..n)
            .map(|i| layer(vb.pp(format!("layers.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            embed_tokens,
            embed_positions: positions(cfg.max_position_embeddings, cfg.d_model, &vb)?,
            embed_scale: embed_scale(cfg),
            layers,
        })
    }
}

/// `sqrt(d_model)` when the config scales embeddings, else 1.
fn embed_scale(cfg: &MarianConfig) -> f64 {
    if cfg.scale_embedding {
        (cfg.d_model as f64).sqrt()
    } else {
        1.0
    }
}

impl Encoder {
    /// Encoder states `[batch, seq, d_model]` for right-padded `ids` (`[batch, seq]`) and
    /// their key mask.
    fn forward(
        &self,
        ids: &Tensor,
        mask: Option<&Tensor>,
        d_model: usize,
    ) -> candle_core::Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let x = self
            .embed_tokens
            .lookup(&ids.flatten_all()?)?
            .reshape((b, s, d_model))?;
        let x = (x * self.embed_scale)?;
        let mut x = x.broadcast_add(&self.embed_positions.i(..s)?)?;
        for layer in &self.layers {
            x = layer.forward(&x, mask)?;
        }
        Ok(x)
    }
}

impl Decoder {
    /// The last hidden states `[rows, d_model]` for one token per row of `cache`, which
    /// grows by one position.
    fn step(
        &self,
        tokens: &[u32],
        cache: &mut DecoderCache,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let rows = tokens.len();
        let ids = Tensor::from_vec(tokens.to_vec(), rows, device)?;
        let x = (self.embed_tokens.lookup(&ids)? * self.embed_scale)?;
        let pos = self.embed_positions.i(cache.position..cache.position + 1)?;
        let mut x = x.broadcast_add(&pos)?;
        for ((layer, self_cache), cross) in self
            .layers
            .iter()
            .zip(cache.self_cache.iter_mut())
            .zip(cache.cross.iter())
        {
            x = layer.step(
                x,
                self_cache,
                cache.cache_order.as_deref(),
                cross,
                cache.cross_mask.as_ref(),
                cache.per_group,
            )?;
        }
        cache.advance();
        Ok(x)
    }
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

/// [`get_first`] when another role already read a tensor as `prev` (its name and value):
/// the same name of the same shape is that tensor, not read again (a 112 MB embedding read
/// twice more was most of the peak memory of loading), and an equal tensor under another
/// name is kept once ([`dedupe`]). `true` says the result is `prev`.
fn get_first_or(
    vb: &VarBuilder,
    shape: (usize, usize),
    names: &[&str],
    prev: (&str, &Tensor),
) -> candle_core::Result<(Tensor, String, bool)> {
    match first_present(vb, names) {
        Some(n) if n == prev.0 && prev.1.dims() == [shape.0, shape.1] => {
            Ok((prev.1.clone(), n.to_string(), true))
        }
        Some(n) => {
            let (t, same) = dedupe(prev.1, vb.get(shape, n)?)?;
            Ok((t, n.to_string(), same))
        }
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

/// Which stored tensor each embedding role uses: the encoder's and decoder's token
/// embeddings and the transposed output projection, each held once however many roles
/// share it.
struct TiedEmbeddings {
    encoder: Embedding,
    decoder: Embedding,
    lm_head_t: Projection,
}

/// Resolves tied and shared embeddings the way HF's loader does for consistent checkpoints:
/// each role (encoder embedding, decoder embedding, output projection) uses its own tensor
/// when the checkpoint has it and otherwise any tied copy that is present
/// (`model.shared.weight`, the other embedding, `lm_head.weight`), so files that store only
/// one of the copies load too; copies stored separately but equal are held once.
fn tied_embeddings(
    cfg: &MarianConfig,
    build: Build,
    vb: &VarBuilder,
) -> candle_core::Result<TiedEmbeddings> {
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
    let (encoder_embed, enc_name) = get_first(vb, (cfg.vocab_size, d), &enc_names)?;

    let mut dec_names = vec![DEC];
    if share {
        dec_names.extend([SHARED, ENC]);
    }
    if tie {
        dec_names.push(HEAD);
    }
    let (decoder_embed, dec_name, enc_is_dec) = get_first_or(
        vb,
        (target_vocab, d),
        &dec_names,
        (&enc_name, &encoder_embed),
    )?;

    let mut head_names = vec![HEAD];
    if tie {
        head_names.push(DEC);
        if share {
            head_names.extend([SHARED, ENC]);
        }
    }
    let (lm_head, _, dec_is_head) = get_first_or(
        vb,
        (target_vocab, d),
        &head_names,
        (&dec_name, &decoder_embed),
    )?;
    let lm_head_t = build.projection(&lm_head)?;
    drop(lm_head);
    let (encoder, decoder) = match (enc_is_dec, dec_is_head) {
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
    Ok(TiedEmbeddings {
        encoder,
        decoder,
        lm_head_t,
    })
}

/// `final_logits_bias` (`[1, target_vocab]` stored) as `[target_vocab]`, or `None` when the
/// checkpoint has none or it is all zeros.
fn final_logits_bias(cfg: &MarianConfig, vb: &VarBuilder) -> candle_core::Result<Option<Tensor>> {
    let target_vocab = cfg.target_vocab_size();
    if !vb.contains_tensor("final_logits_bias") {
        return Ok(None);
    }
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
    Ok((magnitude != 0.0).then_some(bias))
}

impl MarianModel {
    /// Builds the model from HF-named weights (`model.shared.weight`,
    /// `model.encoder.layers.N.self_attn.q_proj.weight`, `lm_head.weight`, ...).
    ///
    /// Tied and shared embeddings are resolved by `tied_embeddings`. Positions come from
    /// the checkpoint when stored, otherwise they are computed; a missing
    /// `final_logits_bias` is zeros.
    pub fn new(cfg: &MarianConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Self::new_with_paths(cfg, vb.dtype().into(), Paths::Host, vb)
    }

    /// [`Self::new`] with the projections in `precision` (int8 quantises every projection,
    /// the output projection and the embeddings tied to it included, from the f32 weights
    /// `vb` gives) and the given [`Paths`]: `Generic` builds the model other devices run (candle's matmul for every projection, its ops for the cache), on the CPU
    /// too, so the tests hold that code to HF as well.
    pub fn new_with_paths(
        cfg: &MarianConfig,
        precision: Precision,
        paths: Paths,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        let activation = cfg.activation().map_err(candle_core::Error::Msg)?;
        let build = Build {
            activation,
            precision,
            paths,
        };
        let tied = tied_embeddings(cfg, build, &vb)?;
        Ok(Self {
            cfg: cfg.clone(),
            encoder: Encoder::new(
                cfg,
                cfg.encoder_layers,
                tied.encoder,
                vb.pp("model.encoder"),
                |vb| EncoderLayer::new(cfg, build, vb),
            )?,
            decoder: Decoder::new(
                cfg,
                cfg.decoder_layers,
                tied.decoder,
                vb.pp("model.decoder"),
                |vb| DecoderLayer::new(cfg, build, vb),
            )?,
            lm_head_t: tied.lm_head_t,
            final_logits_bias: final_logits_bias(cfg, &vb)?,
            device: vb.device().clone(),
            dtype: vb.dtype(),
        })
    }

    /// Loads `config.json`, the generation settings and the weights of a checkpoint directory
    /// (its weight files as [`crate::weights::Checkpoint::find`] picks them).
    pub fn load(
        dir: &Path,
        device: &Device,
        precision: impl Into<Precision>,
    ) -> Result<(Self, MarianConfig, GenerationConfig), MarianError> {
        let checkpoint = crate::weights::Checkpoint::find(dir)?;
        Self::from_checkpoint(&checkpoint, device, precision)
    }

    /// Loads `config.json` and the generation settings of `checkpoint.dir`, and the
    /// checkpoint's weights (safetensors, `pytorch_model.bin` in either format, or shards).
    pub fn from_checkpoint(
        checkpoint: &crate::weights::Checkpoint,
        device: &Device,
        precision: impl Into<Precision>,
    ) -> Result<(Self, MarianConfig, GenerationConfig), MarianError> {
        Self::from_checkpoint_with_paths(checkpoint, device, precision.into(), Paths::Host)
    }

    /// [`Self::load`] taking the given [`Paths`] (the tests run both).
    pub fn load_with_paths(
        dir: &Path,
        device: &Device,
        precision: impl Into<Precision>,
        paths: Paths,
    ) -> Result<(Self, MarianConfig, GenerationConfig), MarianError> {
        let checkpoint = crate::weights::Checkpoint::find(dir)?;
        Self::from_checkpoint_with_paths(&checkpoint, device, precision.into(), paths)
    }

    fn from_checkpoint_with_paths(
        checkpoint: &crate::weights::Checkpoint,
        device: &Device,
        precision: Precision,
        paths: Paths,
    ) -> Result<(Self, MarianConfig, GenerationConfig), MarianError> {
        let dir = &checkpoint.dir;
        let cfg = MarianConfig::from_file(&dir.join("config.json"))?;
        let mut gen = GenerationConfig::from_model_dir(dir)?;
        gen.fill_special_tokens_from(&cfg.generation_defaults());
        let vb = checkpoint.var_builder(precision.dtype(), device)?;
        let model = Self::new_with_paths(&cfg, precision, paths, vb)?;
        Ok((model, cfg, gen))
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

    /// The output projection's width: the target vocabulary.
    pub fn target_vocab_size(&self) -> candle_core::Result<usize> {
        self.lm_head_t.cols()
    }

    /// The most positions the decoder has: no translation can be longer.
    pub fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings
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
        let (_, s) = ids.dims2()?;
        if s > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "input of {s} tokens exceeds max_position_embeddings ({})",
                self.cfg.max_position_embeddings
            );
        }
        self.encoder.forward(ids, mask, self.cfg.d_model)
    }

    /// Cross-attention keys/values of every decoder layer for `encoder_states`, computed
    /// once per batch.
    pub(super) fn cross_key_values(
        &self,
        encoder_states: &Tensor,
    ) -> candle_core::Result<Vec<KeyValues>> {
        self.decoder
            .layers
            .iter()
            .map(|l| l.project_cross_kv(encoder_states))
            .collect()
    }

    /// The decoder's last hidden states for one token per row of `cache`, `[rows, d_model]`.
    pub(super) fn decoder_step(
        &self,
        tokens: &[u32],
        cache: &mut DecoderCache,
    ) -> candle_core::Result<Tensor> {
        let rows = tokens.len();
        if rows != cache.rows() {
            candle_core::bail!("step: {rows} tokens for {} rows", cache.rows());
        }
        if cache.position >= self.cfg.max_position_embeddings {
            candle_core::bail!(
                "decoding past max_position_embeddings ({})",
                self.cfg.max_position_embeddings
            );
        }
        self.decoder.step(tokens, cache, &self.device)
    }

    /// Next-token logits `[rows, target_vocab]` of the decoder's hidden states `x`.
    pub(super) fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.lm_head_t.forward(x, self.final_logits_bias.as_ref())
    }

    /// [`Self::logits`] as f32 host rows and the vocabulary size. On the CPU the output
    /// projection writes the host rows directly, without a tensor to copy out of (28 MB a
    /// step at beam 4, batch 32).
    pub(super) fn logits_host(&self, x: &Tensor) -> candle_core::Result<(Vec<f32>, usize)> {
        self.project_host(&self.lm_head_t, self.final_logits_bias.as_ref(), x)
    }

    /// `x @ head + bias` as f32 host rows and their width: written directly on the CPU,
    /// copied out of a tensor elsewhere.
    pub(super) fn project_host(
        &self,
        head: &Projection,
        bias: Option<&Tensor>,
        x: &Tensor,
    ) -> candle_core::Result<(Vec<f32>, usize)> {
        match head.forward_host(x, bias)? {
            Some(rows) => Ok((rows, head.cols()?)),
            None => generate::host_rows(&head.forward(x, bias)?),
        }
    }

    /// The output projection and `final_logits_bias` over the sorted target ids `ids`
    /// alone, in that order (a batch's shortlist candidates).
    pub(super) fn head_over(
        &self,
        ids: &[u32],
    ) -> candle_core::Result<(Projection, Option<Tensor>)> {
        let head = self.lm_head_t.select_columns(ids)?;
        let bias = match &self.final_logits_bias {
            Some(b) => Some(b.index_select(&Tensor::new(ids, b.device())?, 0)?),
            None => None,
        };
        Ok((head, bias))
    }
}

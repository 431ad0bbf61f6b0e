//! BERT's encoder on the CPU in f32, for the sentence embedder (`embed.rs`): token vectors
//! of a group of sentences, computed on host slices.
//!
//! Why not candle-transformers' `BertModel`, which `embed.rs` still runs on other devices:
//! on the CPU it took 3.5x sentence-transformers' time for the same sentences (issue 14).
//! A profile of `warta summarize` had a fifth of its samples in candle's thread-pool
//! barriers (one per small op), 17 % in a scalar `erf` (the GELU), 8 % in a scalar `exp`
//! (the softmax), and its matmuls on padded batches. Here:
//!
//! - the sentences' tokens are packed one after another, with no padding (every op but
//!   attention works row by row, and attention runs per sentence), so nothing is computed
//!   for padding and no mask is needed;
//! - the dense layers are [`Panels`] (`translate/project.rs`, the project's one way to do a
//!   projection on the CPU), with `q|k|v` fused into one and the query pre-scaled;
//! - attention runs per sentence and head on slices; softmax, GELU and layer norm are row
//!   loops written to vectorise, dispatched at run time to the widest SIMD the CPU has;
//! - GELU is BERT's exact one, `x/2 (1 + erf(x/√2))`, vectorised (`translate/activation.rs`,
//!   shared with the translator).
//!
//! Each sentence's vectors depend only on its own tokens: how sentences are grouped changes
//! which gemm call a row goes through, never what is computed for it.
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};

use crate::generate::logits::{exp_nonpositive, row_max_lanes, LANES};
use crate::translate::activation;
use crate::translate::project::Panels;

/// A layer norm's scale and shift.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

/// One encoder layer.
struct Layer {
    /// `q|k|v`, the query scaled by `1/sqrt(head_dim)`.
    qkv: Panels,
    qkv_bias: Vec<f32>,
    attn_out: Panels,
    attn_out_bias: Vec<f32>,
    attn_norm: Norm,
    up: Panels,
    up_bias: Vec<f32>,
    down: Panels,
    down_bias: Vec<f32>,
    out_norm: Norm,
}

/// A BERT encoder (embeddings and layers, no pooler) with its weights in host memory.
pub struct Bert {
    /// `[vocab, hidden]`.
    word: Vec<f32>,
    /// `[max_positions, hidden]`.
    position: Vec<f32>,
    /// Token type 0's embedding (sentence-transformers passes only type 0).
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
}

/// A weight as host values.
fn host(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
}

fn norm(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Norm> {
    // candle's loader, for the old `gamma`/`beta` names as well.
    let ln = candle_nn::layer_norm(size, eps, vb)?;
    Ok(Norm {
        gamma: host(ln.weight())?,
        beta: match ln.bias() {
            Some(b) => host(b)?,
            None => vec![0.0; size],
        },
        eps: eps as f32,
    })
}

/// A dense layer's weight (`[out, in]`, scaled by `scale`) and bias.
fn dense(
    in_dim: usize,
    out_dim: usize,
    scale: f32,
    vb: VarBuilder,
) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
    let mut w = host(&vb.get((out_dim, in_dim), "weight")?)?;
    let mut b = host(&vb.get(out_dim, "bias")?)?;
    if scale != 1.0 {
        w.iter_mut().chain(&mut b).for_each(|x| *x *= scale);
    }
    Ok((w, b))
}

impl Layer {
    fn load(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let (h, ff) = (cfg.hidden_size, cfg.intermediate_size);
        let head_dim = h / cfg.num_attention_heads;
        let att = vb.pp("attention");
        let (mut w, mut b) = dense(
            h,
            h,
            1.0 / (head_dim as f32).sqrt(),
            att.pp("self").pp("query"),
        )?;
        for part in ["key", "value"] {
            let (pw, pb) = dense(h, h, 1.0, att.pp("self").pp(part))?;
            w.extend(pw);
            b.extend(pb);
        }
        let (ow, ob) = dense(h, h, 1.0, att.pp("output").pp("dense"))?;
        let (uw, ub) = dense(h, ff, 1.0, vb.pp("intermediate").pp("dense"))?;
        let (dw, db) = dense(ff, h, 1.0, vb.pp("output").pp("dense"))?;
        Ok(Self {
            qkv: Panels::from_host_rows(&w, 3 * h, h)?,
            qkv_bias: b,
            attn_out: Panels::from_host_rows(&ow, h, h)?,
            attn_out_bias: ob,
            attn_norm: norm(h, cfg.layer_norm_eps, att.pp("output").pp("LayerNorm"))?,
            up: Panels::from_host_rows(&uw, ff, h)?,
            up_bias: ub,
            down: Panels::from_host_rows(&dw, h, ff)?,
            down_bias: db,
            out_norm: norm(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }
}

impl Bert {
    /// Loads the encoder from a BERT checkpoint's weights (at the root, under `bert.`, or
    /// under the config's `model_type`, as candle-transformers looks for them).
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || h % heads != 0 {
            candle_core::bail!("BERT: hidden size {h} is not a multiple of {heads} heads");
        }
        let mut prefixes = vec![String::new(), "bert.".to_string()];
        prefixes.extend(cfg.model_type.as_ref().map(|m| format!("{m}.")));
        let Some(prefix) = prefixes
            .iter()
            .find(|p| vb.contains_tensor(&format!("{p}embeddings.word_embeddings.weight")))
        else {
            candle_core::bail!("BERT: no embeddings.word_embeddings.weight in the checkpoint");
        };
        let vb = match prefix.strip_suffix('.') {
            Some(p) => vb.pp(p),
            None => vb,
        };
        let emb = vb.pp("embeddings");
        let get = |name: &str, rows: usize| -> candle_core::Result<Vec<f32>> {
            host(&emb.pp(name).get((rows, h), "weight")?)
        };
        let token_types = get("token_type_embeddings", cfg.type_vocab_size.max(1))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(cfg, vb.pp("encoder").pp("layer").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            word: get("word_embeddings", cfg.vocab_size)?,
            position: get("position_embeddings", cfg.max_position_embeddings)?,
            token_type: token_types[..h].to_vec(),
            embed_norm: norm(h, cfg.layer_norm_eps, emb.pp("LayerNorm"))?,
            layers,
            hidden: h,
            heads,
            head_dim: h / heads,
            act: cfg.hidden_act,
        })
    }

    /// The width of a token vector.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The last layer's token vectors of `sentences` (token ids each, starting at position
    /// 0, token type 0, all attended to), packed: sentence after sentence, `[tokens, hidden]`.
    pub fn forward(&self, sentences: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        let h = self.hidden;
        let vocab = self.word.len() / h;
        let positions = self.position.len() / h;
        let total: usize = sentences.iter().map(|s| s.len()).sum();
        let mut x = Vec::with_capacity(total * h);
        for ids in sentences {
            if ids.len() > positions {
                candle_core::bail!("BERT: {} tokens, {positions} positions", ids.len());
            }
            for (p, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= vocab {
                    candle_core::bail!("BERT: token id {id} of a vocabulary of {vocab}");
                }
                let word = &self.word[id * h..(id + 1) * h];
                let pos = &self.position[p * h..(p + 1) * h];
                x.extend(
                    word.iter()
                        .zip(pos)
                        .zip(&self.token_type)
                        .map(|((w, p), t)| w + t + p),
                );
            }
        }
        add_norm(&mut x, None, &self.embed_norm);
        // One buffer per kind of activation, reused by every layer.
        let (mut qkv, mut ctx, mut y, mut f) =
            (Vec::new(), vec![0f32; total * h], Vec::new(), Vec::new());
        let mut scratch = Vec::new();
        for layer in &self.layers {
            layer
                .qkv
                .forward_into(&x, Some(&layer.qkv_bias), &mut qkv)?;
            let mut start = 0;
            for ids in sentences {
                let s = ids.len();
                attend(
                    &qkv[start * 3 * h..(start + s) * 3 * h],
                    &mut ctx[start * h..(start + s) * h],
                    self.heads,
                    self.head_dim,
                    &mut scratch,
                );
                start += s;
            }
            layer
                .attn_out
                .forward_into(&ctx, Some(&layer.attn_out_bias), &mut y)?;
            add_norm(&mut x, Some(&y), &layer.attn_norm);
            layer.up.forward_into(&x, Some(&layer.up_bias), &mut f)?;
            activate(&mut f, self.act);
            layer
                .down
                .forward_into(&f, Some(&layer.down_bias), &mut y)?;
            add_norm(&mut x, Some(&y), &layer.out_norm);
        }
        Ok(x)
    }
}

/// Self-attention of one sentence: `softmax(q k^T) v` per head, from its rows of `qkv`
/// (`[s, 3 * hidden]`, the query pre-scaled) into `ctx` (`[s, hidden]`). `scratch` holds a
/// head's keys transposed and a row of scores, both padded to whole vectors of `LANES`
/// (zero keys, and scores of `-inf`, which softmax makes 0), so that every loop over the
/// keys runs in whole vectors.
#[multiversion::multiversion(targets = "simd")]
fn attend(qkv: &[f32], ctx: &mut [f32], heads: usize, head_dim: usize, scratch: &mut Vec<f32>) {
    let h = heads * head_dim;
    let s = ctx.len() / h;
    let padded = s.div_ceil(LANES) * LANES;
    scratch.clear();
    scratch.resize((head_dim + 1) * padded, 0.0);
    let (kt, scores) = scratch.split_at_mut(head_dim * padded);
    for head in 0..heads {
        let col = head * head_dim;
        // Keys as `[head_dim, padded]`, so a row of scores is a sum of scaled key rows.
        for (j, row) in qkv.chunks_exact(3 * h).enumerate() {
            for (d, &k) in row[h + col..h + col + head_dim].iter().enumerate() {
                kt[d * padded + j] = k;
            }
        }
        for (q_row, out) in qkv.chunks_exact(3 * h).zip(ctx.chunks_exact_mut(h)) {
            let q = &q_row[col..col + head_dim];
            // A vector of keys at a time, its scores summed over the head in a register.
            for (b, block) in scores.chunks_exact_mut(LANES).enumerate() {
                let mut acc = [0f32; LANES];
                for (&qd, kd) in q.iter().zip(kt.chunks_exact(padded)) {
                    let k: &[f32; LANES] = kd[b * LANES..(b + 1) * LANES]
                        .try_into()
                        .expect("LANES keys");
                    for i in 0..LANES {
                        acc[i] += qd * k[i];
                    }
                }
                block.copy_from_slice(&acc);
            }
            scores[s..].fill(f32::NEG_INFINITY);
            softmax_in_place(scores);
            let out = &mut out[col..col + head_dim];
            match head_dim {
                16 => weigh_values::<16>(scores, qkv, 2 * h + col, 3 * h, out),
                32 => weigh_values::<32>(scores, qkv, 2 * h + col, 3 * h, out),
                64 => weigh_values::<64>(scores, qkv, 2 * h + col, 3 * h, out),
                _ => {
                    out.fill(0.0);
                    for (&p, row) in scores.iter().zip(qkv.chunks_exact(3 * h)) {
                        let v = &row[2 * h + col..2 * h + col + head_dim];
                        out.iter_mut().zip(v).for_each(|(o, &v)| *o += p * v);
                    }
                }
            }
        }
    }
}

/// `out = sum_j p_j v_j` over the value rows `v_j` (`N` values at `offset` in each row of
/// `stride` of `qkv`), in an accumulator of fixed width that stays in registers.
#[inline(always)]
fn weigh_values<const N: usize>(
    probs: &[f32],
    qkv: &[f32],
    offset: usize,
    stride: usize,
    out: &mut [f32],
) {
    let mut acc = [0f32; N];
    for (&p, row) in probs.iter().zip(qkv.chunks_exact(stride)) {
        let v: &[f32; N] = row[offset..offset + N].try_into().expect("N values");
        for i in 0..N {
            acc[i] += p * v[i];
        }
    }
    out.copy_from_slice(&acc);
}

/// `softmax` of a row, in place.
#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let max = row_max_lanes(row);
    row.iter_mut().for_each(|x| *x = exp_nonpositive(*x - max));
    let sum = lane_sum(row, |x| x);
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

/// `sum(f(x))` over `row`, in `LANES` fixed lanes (a fixed order, so it vectorises).
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += f(c[i]);
        }
    }
    let rest: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    acc.iter().sum::<f32>() + rest
}

/// Each row of `x` (`[rows, hidden]`) becomes `layer_norm(x + y)` (`layer_norm(x)` without
/// `y`).
#[multiversion::multiversion(targets = "simd")]
fn add_norm(x: &mut [f32], y: Option<&[f32]>, norm: &Norm) {
    let h = norm.gamma.len();
    for (r, row) in x.chunks_exact_mut(h).enumerate() {
        if let Some(y) = y {
            row.iter_mut()
                .zip(&y[r * h..(r + 1) * h])
                .for_each(|(a, &b)| *a += b);
        }
        let mean = lane_sum(row, |v| v) / h as f32;
        let var = lane_sum(row, |v| (v - mean) * (v - mean)) / h as f32;
        let inv = 1.0 / (var + norm.eps).sqrt();
        row.iter_mut()
            .zip(&norm.gamma)
            .zip(&norm.beta)
            .for_each(|((v, &g), &b)| *v = (*v - mean) * inv * g + b);
    }
}

/// The feed-forward activation, in place.
fn activate(x: &mut [f32], act: HiddenAct) {
    match act {
        HiddenAct::Gelu => activation::gelu_erf(x),
        HiddenAct::GeluApproximate => activation::gelu_tanh(x),
        HiddenAct::Relu => activation::relu(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The vectorised activations against candle's (libm's erf, tanh), over the range a
    /// dense layer gives and past it.
    #[test]
    fn activations_match_candle() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 / 100.0).collect();
        let t = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
        for (act, want) in [
            (HiddenAct::Gelu, t.gelu_erf().unwrap()),
            (HiddenAct::GeluApproximate, t.gelu().unwrap()),
            (HiddenAct::Relu, t.relu().unwrap()),
        ] {
            let want = want.to_vec1::<f32>().unwrap();
            let mut got = xs.clone();
            activate(&mut got, act);
            for ((x, g), w) in xs.iter().zip(&got).zip(&want) {
                assert!(
                    (g - w).abs() <= 3e-7 * x.abs().max(1.0),
                    "{act:?}({x}) = {g}, want {w}"
                );
            }
        }
    }

    /// Attention against a plain f64 computation, for sentences shorter and longer than a
    /// vector of keys, and the head widths with a fixed accumulator and one without.
    #[test]
    fn attention_matches_a_plain_computation() {
        let mut scratch = Vec::new();
        for (heads, head_dim) in [(12, 32), (4, 16), (2, 64), (3, 24)] {
            let h = heads * head_dim;
            for s in [1, 5, 16, 17, 40] {
                // Fixed values (unseeded randn failed the bound once in a run of the suite).
                let qkv = crate::translate::tiles::test_values(s * 3 * h, (s * h) as u64);
                let mut ctx = vec![f32::NAN; s * h];
                attend(&qkv, &mut ctx, heads, head_dim, &mut scratch);
                let at = |i: usize, part: usize, head: usize, d: usize| {
                    qkv[i * 3 * h + part * h + head * head_dim + d] as f64
                };
                for head in 0..heads {
                    for i in 0..s {
                        let scores: Vec<f64> = (0..s)
                            .map(|j| {
                                (0..head_dim)
                                    .map(|d| at(i, 0, head, d) * at(j, 1, head, d))
                                    .sum()
                            })
                            .collect();
                        let max = scores.iter().copied().fold(f64::MIN, f64::max);
                        let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                        let sum: f64 = e.iter().sum();
                        for d in 0..head_dim {
                            let want: f64 = (0..s).map(|j| e[j] / sum * at(j, 2, head, d)).sum();
                            let got = ctx[i * h + head * head_dim + d] as f64;
                            assert!(
                                (got - want).abs() < 1e-5,
                                "{heads} x {head_dim}, {s} tokens: {got}, want {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Softmax and layer norm against candle's.
    #[test]
    fn softmax_and_layer_norm_match_candle() {
        let dev = Device::Cpu;
        for n in [1, 7, 16, 33, 384] {
            let x = Tensor::randn(0f32, 3.0, (5, n), &dev).unwrap();
            let want = candle_nn::ops::softmax_last_dim(&x)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (row, want) in x.to_vec2::<f32>().unwrap().iter_mut().zip(&want) {
                softmax_in_place(row);
                for (g, w) in row.iter().zip(want) {
                    assert!((g - w).abs() < 1e-6, "softmax of {n}: {g}, want {w}");
                }
            }
            let gamma = Tensor::randn(1f32, 0.1, n, &dev).unwrap();
            let beta = Tensor::randn(0f32, 0.1, n, &dev).unwrap();
            let y = Tensor::randn(0f32, 1.0, (5, n), &dev).unwrap();
            let ln = candle_nn::LayerNorm::new(gamma.clone(), beta.clone(), 1e-12);
            let want = candle_core::Module::forward(&ln, &(&x + &y).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let mut got = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let norm = Norm {
                gamma: gamma.to_vec1().unwrap(),
                beta: beta.to_vec1().unwrap(),
                eps: 1e-12,
            };
            add_norm(&mut got, Some(&y), &norm);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "layer norm of {n}: {g}, want {w}");
            }
        }
    }
}

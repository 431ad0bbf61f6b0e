//! The abstractive summariser's model: a Qwen2-family instruction LLM (Qwen2.5-Instruct) on
//! candle, driven by the project's one decoding loop with greedy search, so runs repeat.
//!
//! The network is candle-transformers' Qwen2, or its quantized twin for GGUF files (as
//! llama.cpp writes them: F32, F16, Q8_0, Q4_K, …). This file reads the checkpoint (an HF
//! directory with config.json in transformers 4 or 5 form and safetensors through our
//! loader, or a `.gguf` file with tokenizer.json beside it), formats chats as Qwen's ChatML
//! template does, and adapts the model to [`Decoder`]. Greedy decoding of one prompt at a
//! time keeps every row's KV cache its own; the summariser calls it once per article.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::Activation;
use candle_transformers::models::{quantized_qwen2, qwen2};
use serde::Deserialize;

use super::files::{self, read_json, ModelFileError};
use crate::generate::{self, Decoder, GenerationConfig};
use crate::weights::Checkpoint;

/// Why the LLM could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(transparent)]
    File(#[from] ModelFileError),
    #[error("{path} is not a valid GGUF file: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("the LLM failed: {0}")]
    Model(#[from] candle_core::Error),
    #[error("the LLM tokenizer failed: {0}")]
    Tokenize(String),
    #[error(transparent)]
    Generation(#[from] generate::GenerationConfigError),
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// The chat as Qwen's ChatML template renders it, ready for the assistant's reply.
pub fn chat_prompt(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str("<|im_start|>");
        out.push_str(&m.role);
        out.push('\n');
        out.push_str(&m.content);
        out.push_str("<|im_end|>\n");
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

/// config.json of a Qwen2 checkpoint, as transformers 4 (`rope_theta`) or 5
/// (`rope_parameters`) writes it.
#[derive(Deserialize)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    max_position_embeddings: usize,
    sliding_window: Option<usize>,
    max_window_layers: Option<usize>,
    #[serde(default)]
    tie_word_embeddings: bool,
    rope_theta: Option<f64>,
    rope_parameters: Option<RopeParameters>,
    rms_norm_eps: f64,
    #[serde(default)]
    use_sliding_window: bool,
    hidden_act: Activation,
}

#[derive(Deserialize)]
struct RopeParameters {
    rope_theta: Option<f64>,
}

impl RawConfig {
    fn into_candle(self) -> qwen2::Config {
        qwen2::Config {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            num_key_value_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            max_position_embeddings: self.max_position_embeddings,
            // Without sliding-window attention the window is the whole context.
            sliding_window: match (self.use_sliding_window, self.sliding_window) {
                (true, Some(w)) => w,
                _ => self.max_position_embeddings,
            },
            max_window_layers: self.max_window_layers.unwrap_or(self.num_hidden_layers),
            tie_word_embeddings: self.tie_word_embeddings,
            rope_theta: self
                .rope_parameters
                .and_then(|r| r.rope_theta)
                .or(self.rope_theta)
                .unwrap_or(10_000.0),
            rms_norm_eps: self.rms_norm_eps,
            use_sliding_window: self.use_sliding_window,
            hidden_act: self.hidden_act,
        }
    }
}

/// The network: full-precision weights, or GGUF (possibly quantized) ones.
enum Network {
    Full(qwen2::ModelForCausalLM),
    Gguf(quantized_qwen2::ModelWeights),
}

impl Network {
    /// Logits of the last position, `[rows, vocab]`.
    fn forward(&mut self, input: &Tensor, offset: usize) -> candle_core::Result<Tensor> {
        match self {
            Network::Full(m) => m.forward(input, offset)?.squeeze(1),
            Network::Gguf(m) => m.forward(input, offset),
        }
    }

    fn clear_kv_cache(&mut self) {
        match self {
            Network::Full(m) => m.clear_kv_cache(),
            Network::Gguf(m) => m.clear_kv_cache(),
        }
    }
}

/// A loaded instruction LLM.
pub struct Llm {
    model: Network,
    tokenizer: tokenizers::Tokenizer,
    generation: GenerationConfig,
    max_positions: usize,
    device: Device,
}

impl Llm {
    /// Loads a Qwen2-family checkpoint: an HF directory, or a `.gguf` file with
    /// tokenizer.json (and optionally generation_config.json) in its directory.
    pub fn load(path: &Path, device: &Device, dtype: DType) -> Result<Self, LlmError> {
        let checkpoint = if path.extension().is_some_and(|x| x == "gguf") {
            Checkpoint::gguf(path)
        } else {
            files::find(path)?
        };
        Self::from_checkpoint(&checkpoint, device, dtype)
    }

    /// Loads a checkpoint: HF weights, or one GGUF file, with tokenizer.json (and the
    /// configs) from its directory.
    pub fn from_checkpoint(
        checkpoint: &Checkpoint,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, LlmError> {
        let dir = checkpoint.dir.as_path();
        let gguf = checkpoint.gguf_file();
        let tokenizer = files::tokenizer(dir, None)?;
        let has_generation = dir.join("generation_config.json").exists();
        let (model, max_positions, generation) = if let Some(path) = gguf {
            let mut file = std::fs::File::open(path).map_err(|source| ModelFileError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let content =
                candle_core::quantized::gguf_file::Content::read(&mut file).map_err(|e| {
                    LlmError::Gguf {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    }
                })?;
            let max_positions = content
                .metadata
                .get("qwen2.context_length")
                .and_then(|v| v.to_u32().ok())
                .map_or(32_768, |v| v as usize);
            let eos = content
                .metadata
                .get("tokenizer.ggml.eos_token_id")
                .and_then(|v| v.to_u32().ok());
            let model = quantized_qwen2::ModelWeights::from_gguf(content, &mut file, device)?;
            let mut generation = if has_generation || dir.join("config.json").exists() {
                GenerationConfig::from_model_dir(dir)?
            } else {
                GenerationConfig::default()
            };
            if generation.eos_token_id.is_none() {
                generation.eos_token_id = eos.map(generate::TokenIds::One);
            }
            (Network::Gguf(model), max_positions, generation)
        } else {
            let raw: RawConfig = read_json(&dir.join("config.json"), "Qwen2 config.json")?;
            let max_positions = raw.max_position_embeddings;
            let config = raw.into_candle();
            let generation = GenerationConfig::from_model_dir(dir)?;
            let vb = files::weights(checkpoint, dtype, device)?;
            let model = qwen2::ModelForCausalLM::new(&config, vb)?;
            (Network::Full(model), max_positions, generation)
        };
        Ok(Self {
            model,
            tokenizer,
            generation,
            max_positions,
            device: device.clone(),
        })
    }

    /// The token ids of a prompt text (special tokens written in it are recognised).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| LlmError::Tokenize(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| LlmError::Tokenize(e.to_string()))
    }

    /// Greedy completion of `prompt` (token ids), at most `max_new_tokens` new tokens,
    /// stopping at the checkpoint's end-of-sequence tokens. Returns the generated ids
    /// (with the end token when one was generated).
    pub fn complete(
        &mut self,
        prompt: &[u32],
        max_new_tokens: usize,
    ) -> Result<Vec<u32>, LlmError> {
        let mut cfg = self.generation.clone();
        cfg.num_beams = Some(1);
        cfg.do_sample = Some(false);
        cfg.max_new_tokens = Some(max_new_tokens);
        let resolved = cfg.resolve(prompt.len(), Some(self.max_positions))?;
        self.model.clear_kv_cache();
        let mut decoder = Qwen2Decoder {
            model: &mut self.model,
            offset: 0,
            device: &self.device,
        };
        decoder.prefill(&prompt[..prompt.len().saturating_sub(1)])?;
        let hyp = generate::generate(&mut decoder, &[prompt.to_vec()], &resolved)?;
        Ok(hyp.into_iter().next().map(|h| h.tokens).unwrap_or_default())
    }

    /// Runs a chat: formats it, completes it, and returns the reply's text.
    pub fn chat(
        &mut self,
        messages: &[Message],
        max_new_tokens: usize,
    ) -> Result<String, LlmError> {
        let prompt = self.encode(&chat_prompt(messages))?;
        let ids = self.complete(&prompt, max_new_tokens)?;
        self.decode(&ids)
    }
}

/// candle's Qwen2 as a [`Decoder`] for one row.
struct Qwen2Decoder<'a> {
    model: &'a mut Network,
    offset: usize,
    device: &'a Device,
}

impl Qwen2Decoder<'_> {
    /// Feeds all but the last prompt token, as the decoding loop expects.
    fn prefill(&mut self, tokens: &[u32]) -> candle_core::Result<()> {
        if !tokens.is_empty() {
            let input = Tensor::new(tokens, self.device)?.unsqueeze(0)?;
            self.model.forward(&input, self.offset)?;
            self.offset += tokens.len();
        }
        Ok(())
    }
}

impl Decoder for Qwen2Decoder<'_> {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Tensor> {
        if tokens.len() != 1 {
            candle_core::bail!("the Qwen2 decoder runs one row at a time");
        }
        let input = Tensor::new(tokens, self.device)?.unsqueeze(0)?;
        let logits = self.model.forward(&input, self.offset)?;
        self.offset += 1;
        Ok(logits)
    }

    fn select_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
        if rows != [0] {
            candle_core::bail!("the Qwen2 decoder runs one row at a time");
        }
        Ok(())
    }
}

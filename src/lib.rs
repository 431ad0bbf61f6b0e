//! warta: scraped Indonesian news pages in, cited English briefings out.
//!
//! The library is the pipeline; each module is one stage or one piece of shared machinery:
//!
//! - [`config`]: `models.toml` read once into typed settings.
//! - [`hub`]: a model spec (local directory or hub repo id) resolved to local files, with the
//!   same cache as Python's `huggingface_hub` (settings, spec, cache layout, download).
//! - [`device`]: `--device` / `--dtype` turned into a candle `Device` and `DType`.
//! - [`weights`]: which weight files a checkpoint has ([`weights::Checkpoint`], asked by the
//!   hub and every model loader), and safetensors and both `pytorch_model.bin` formats loaded
//!   into a `VarBuilder`.
//! - [`text`]: the ingest stage (scraped pages in, [`text::Article`]s with sentence ids out)
//!   and the one sentence splitter every stage shares.
//! - [`translate`]: the Marian tokenizer and model, and the [`translate::Translator`] that
//!   turns Indonesian segments into English.
//! - [`summarize`]: sentence embeddings, the extractive summariser, the cross-article
//!   overview and the citation check.
//! - [`brief`]: the briefing as data, rendered to `briefing.json` and `briefing.md`.
//! - [`pipeline`]: the runner, the one place that knows the order of the stages.
//! - [`output`]: the one place that writes result files, atomically.
//! - [`generate`]: the one decoding loop (greedy and beam search) every decoder uses.
//!
//! `ARCHITECTURE.md` maps the files of each module and which one owns each concern.
pub mod brief;
pub mod config;
pub mod device;
pub mod generate;
pub mod hub;
pub mod output;
pub mod pipeline;
pub mod summarize;
pub mod text;
pub mod translate;
pub mod weights;

//! The pipeline: the one place that knows the order of the stages. Ingested articles are
//! briefed a window at a time (`articles`: translated, embedded, summarised, checked) into
//! records, and the records are assembled into the briefing (`assemble`: order, overview,
//! files). `run` drives a whole batch run: streamed, resumable, sharded, with progress; its
//! output directory's `run.json` is the `manifest`, and its `journal` holds the directory's
//! lock and the record and error lines, recovered after a crash.
//!
//! Translations go through the translation cache (`cache`) when there is one, and each
//! distinct sentence of a window is translated once.
pub mod articles;
pub mod assemble;
pub mod cache;
mod candidates;
pub mod journal;
pub mod manifest;
pub mod progress;
pub mod record;
pub mod run;
pub mod shard;

use std::path::PathBuf;

use crate::brief::{Briefing, Models, Settings};
use crate::output::WriteError;
use crate::summarize::abstractive::SummaryWriter;
use crate::summarize::cite::{self, Judge};
use crate::summarize::embed::{EmbedError, Embedder};
use crate::summarize::extractive::ExtractiveSettings;
use crate::summarize::nli::{Nli, NliError};
use crate::summarize::overview::OverviewSettings;
use crate::text::Article;
use crate::translate::{TranslateError, Translator};
use cache::{CacheError, TranslationCache};
pub use record::ArticleRecord;

/// Why a briefing could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Translate(Box<TranslateError>),
    #[error(transparent)]
    Embed(Box<EmbedError>),
    #[error(transparent)]
    Nli(Box<NliError>),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: not an article record: {message}")]
    Record {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "the article {id:?} is in both {first} and {second} (were both made with the same \
         --shard count, from the same inputs?)"
    )]
    Duplicate {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("no summary: {0}")]
    NoSummary(String),
    #[error("{0}")]
    Run(String),
}

impl PipelineError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<NliError> for PipelineError {
    fn from(e: NliError) -> Self {
        Self::Nli(Box::new(e))
    }
}

impl From<TranslateError> for PipelineError {
    fn from(e: TranslateError) -> Self {
        Self::Translate(Box::new(e))
    }
}

impl From<EmbedError> for PipelineError {
    fn from(e: EmbedError) -> Self {
        Self::Embed(Box::new(e))
    }
}

/// What shapes a briefing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BriefSettings {
    pub extractive: ExtractiveSettings,
    pub overview: OverviewSettings,
    pub support_threshold: f32,
    /// Entailment probability needed when an NLI model judges support.
    pub nli_threshold: f32,
    /// Most tokens the LLM may write per article.
    pub llm_max_new_tokens: usize,
}

impl Default for BriefSettings {
    fn default() -> Self {
        Self {
            extractive: ExtractiveSettings::default(),
            overview: OverviewSettings::default(),
            support_threshold: cite::DEFAULT_THRESHOLD,
            nli_threshold: cite::DEFAULT_NLI_THRESHOLD,
            llm_max_new_tokens: 256,
        }
    }
}

/// The models a briefing runs on.
pub struct Engines<'a> {
    /// None when the articles are English already (their translation is their text).
    pub translator: Option<&'a Translator>,
    pub embedder: &'a Embedder,
    /// The LLM that writes summaries; None for extractive summaries.
    pub writer: Option<&'a mut dyn SummaryWriter>,
    /// An NLI cross-encoder for the citation check; None to judge by embeddings.
    pub nli: Option<&'a Nli>,
    /// The translation cache; None to translate everything.
    pub cache: Option<&'a mut TranslationCache>,
}

/// The judge of citations: the NLI model when there is one, else embeddings.
pub fn judge<'a>(nli: Option<&'a Nli>, settings: &BriefSettings) -> Judge<'a> {
    match nli {
        Some(model) => Judge::Nli {
            model,
            threshold: settings.nli_threshold,
        },
        None => Judge::Embedding {
            threshold: settings.support_threshold,
        },
    }
}

/// The briefing's record of its settings.
pub fn briefing_settings(
    translator: Option<&Translator>,
    settings: &BriefSettings,
    nli: bool,
) -> Settings {
    Settings {
        sentences: settings.extractive.sentences,
        max_words: settings.extractive.max_words,
        support_threshold: if nli {
            settings.nli_threshold
        } else {
            settings.support_threshold
        },
        // The beams translations use, resolved: the checkpoint's or HF's default of 1 when
        // nothing sets it.
        beams: translator.map(|t| t.decoding().settings.num_beams as u32),
    }
}

/// Makes the briefing of `articles` in memory: translated (unless English already),
/// summarised (by the LLM when there is one, else extractively), every citation checked.
/// An article that fails fails the briefing; [`run`] is the batch runner that goes on.
pub fn brief(
    articles: Vec<Article>,
    mut engines: Engines,
    models: Models,
    settings: &BriefSettings,
    generated_at: String,
) -> Result<Briefing, PipelineError> {
    let (records, _) =
        articles::brief_window(&articles, &mut engines, settings, &mut Default::default())?;
    let records: Vec<ArticleRecord> = records.into_iter().collect::<Result<_, _>>()?;
    let judge = judge(engines.nli, settings);
    assemble::briefing(
        records,
        &judge,
        &settings.overview,
        models,
        briefing_settings(engines.translator, settings, engines.nli.is_some()),
        generated_at,
    )
}

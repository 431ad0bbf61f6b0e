//! `warta brief` (Indonesian pages -> cited English briefing) and `warta summarize` (the
//! same for text that is already English, without translating).
//!
//! Both load the models and hand the inputs to the batch runner (`pipeline::run`), which
//! streams them through ingest and the models into `--out`: `articles.jsonl` as articles
//! finish, then `briefing.json`, `briefing.md` and `briefing.html`. Inputs that fail are
//! reported on stderr and in `errors.jsonl`, and the rest go on (exit status 3). Run again
//! after a crash, the same command skips what is finished.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::common::{DecodingArgs, ModelArgs, RuntimeArgs};
use super::setup::{Role, Runtime, Setup};
use super::Outcome;
use warta::brief::{Models, SummarizerRef};
use warta::config::SummarizerKind;
use warta::pipeline::cache::TranslationCache;
use warta::pipeline::run::{Manifest, RunOptions};
use warta::pipeline::shard::Shard;
use warta::pipeline::{self, BriefSettings, Engines};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummarizerChoice {
    /// Pick the sentences that best cover each article (needs only the embedding model).
    Extractive,
    /// Write summaries with the instruction LLM of the models file.
    Llm,
}

/// What `brief` and `summarize` share.
#[derive(Debug, Args)]
pub struct BriefCommon {
    /// Files (.txt, .html, .jsonl), directories, or `-` for stdin.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Directory for briefing.json, briefing.md and briefing.html.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Summary sentences per article.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub sentences: u32,
    /// Summariser (default: `[summarizer] kind` of the models file).
    #[arg(long, value_enum)]
    pub summarizer: Option<SummarizerChoice>,
    /// Refuse inputs bigger than this (as for `warta ingest`).
    #[arg(long, value_name = "SIZE", default_value_t = warta::text::source::DEFAULT_MAX_BYTES, value_parser = super::ingest::parse_size)]
    pub max_size: u64,
    /// Take only shard K of N (by article id hash), for a run spread over N machines;
    /// combine the shards' --out directories with `warta merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

#[derive(Debug, Args)]
pub struct BriefArgs {
    #[command(flatten)]
    pub common: BriefCommon,
    /// Translation cache (default: cache.sqlite in --out).
    #[arg(long, value_name = "PATH", conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Translate everything again; read and write no cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub decoding: DecodingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub common: BriefCommon,
    /// Models file (default: ./models.toml when present, else the built-in one).
    #[arg(long, value_name = "PATH")]
    pub models: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn run_brief(args: BriefArgs) -> anyhow::Result<Outcome> {
    let cache = (!args.no_cache).then(|| {
        args.cache
            .clone()
            .unwrap_or_else(|| args.common.out.join("cache.sqlite"))
    });
    let setup = Setup::from_model_args(&args.model)?;
    run(
        &args.common,
        &setup,
        Some(&args.decoding),
        &args.runtime,
        cache.as_deref(),
    )
}

pub fn run_summarize(args: SummarizeArgs) -> anyhow::Result<Outcome> {
    let setup = Setup::new(args.models.as_deref(), None)?;
    run(&args.common, &setup, None, &args.runtime, None)
}

fn run(
    common: &BriefCommon,
    setup: &Setup,
    decoding: Option<&DecodingArgs>,
    runtime: &RuntimeArgs,
    cache_path: Option<&std::path::Path>,
) -> anyhow::Result<Outcome> {
    let kind = common
        .summarizer
        .unwrap_or(match setup.config().summarizer.kind {
            SummarizerKind::Extractive => SummarizerChoice::Extractive,
            SummarizerKind::Llm => SummarizerChoice::Llm,
        });
    // A model the run needs and cannot find fails here, before anything slow is loaded.
    if kind == SummarizerChoice::Llm {
        setup.resolve(Role::Summarizer)?;
    }
    let runtime = Runtime::new(runtime)?;
    let translator = decoding
        .map(|decoding| setup.translator(decoding, &runtime))
        .transpose()?;
    let (embedder, embedding) = setup.embedder(&runtime.device)?;
    let mut llm = match kind {
        SummarizerChoice::Extractive => None,
        SummarizerChoice::Llm => Some(setup.llm(&runtime)?),
    };
    let nli = setup.judge(&runtime.device)?;
    let models = Models {
        translation: translator.as_ref().map(|(_, m)| m.reference.clone()),
        embedding: embedding.reference,
        summarizer: match &llm {
            Some((_, m)) => SummarizerRef {
                kind: "llm".into(),
                id: Some(m.reference.id.clone()),
                revision: m.reference.revision.clone(),
            },
            None => SummarizerRef {
                kind: "extractive".into(),
                id: None,
                revision: None,
            },
        },
        nli: nli.as_ref().map(|(_, m)| m.reference.clone()),
    };
    let mut settings = BriefSettings::default();
    settings.extractive.sentences = common.sentences as usize;
    // The cache key's setup: the model (id and revision) and its decoding settings.
    let mut cache = match (&translator, cache_path) {
        (Some((t, _)), Some(path)) => {
            // A translation depends on the dtype as well as the model and its settings.
            let setup = format!("{}|{}", t.setup()?, runtime.precision.cache_name());
            Some(TranslationCache::open(path, &setup)?)
        }
        _ => None,
    };
    let engines = Engines {
        translator: translator.as_ref().map(|(t, _)| t),
        embedder: &embedder,
        writer: llm
            .as_mut()
            .map(|(l, _)| l as &mut dyn warta::summarize::abstractive::SummaryWriter),
        nli: nli.as_ref().map(|(n, _)| n),
        cache: cache.as_mut(),
    };
    let manifest = Manifest {
        settings: pipeline::briefing_settings(engines.translator, &settings, nli.is_some()),
        pipeline: settings.clone(),
        generation: engines
            .translator
            .map(|t| serde_json::to_value(t.generation()))
            .transpose()?,
        decoding: engines
            .translator
            .map(|t| serde_json::to_value(&t.decoding().settings))
            .transpose()?,
        dtype: engines
            .translator
            .map(|_| runtime.precision.as_str().to_string()),
        shortlist: engines
            .translator
            .and_then(|t| t.shortlist_digest().map(str::to_string)),
        models,
        shard: common.shard.map(|s| s.to_string()),
        complete: false,
    };
    let options = RunOptions {
        inputs: common.inputs.clone(),
        max_size: common.max_size,
        out: common.out.clone(),
        shard: common.shard,
        // Windows of many batches, so length-sorted batches come out full.
        window: runtime.batch_size * 16,
        progress_interval: std::time::Duration::from_secs_f64(progress_seconds()?),
        bars: super::progress_shown(),
    };
    let report = pipeline::run::run(&options, engines, manifest, &settings, now_rfc3339())?;
    tracing::info!(
        "{} articles briefed into {}",
        report.briefed,
        common.out.display()
    );
    Ok(Outcome::from_failures(report.counts.failed as usize))
}

/// Seconds between progress lines when stderr is not a terminal: `WARTA_PROGRESS_SECS`,
/// else 10.
fn progress_seconds() -> anyhow::Result<f64> {
    match std::env::var("WARTA_PROGRESS_SECS") {
        Err(_) => Ok(10.0),
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .with_context(|| format!("WARTA_PROGRESS_SECS={v:?} is not a number of seconds")),
    }
}

pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(now.as_secs() as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

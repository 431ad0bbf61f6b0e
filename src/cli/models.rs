//! `warta models fetch|list`, and the model lookup every model-running subcommand shares.
//!
//! Each role (translation, embedding, summariser) needs its own set of files from its repo;
//! the lists live here, and [`warta::hub`] turns a spec into local files.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::common::ModelArgs;
use super::Outcome;
use warta::config::ModelsConfig;
use warta::hub::{self, HubSettings, ModelSpec};
use warta::weights::Checkpoint;

/// Files a Marian translation model must have, besides its weights.
pub const MARIAN_FILES: &[&str] = &["config.json", "source.spm", "target.spm", "vocab.json"];
/// Files a Marian model may have.
pub const MARIAN_OPTIONAL: &[&str] = &[
    "generation_config.json",
    "target_vocab.json",
    "tokenizer_config.json",
];
/// The tokenizer alone.
const MARIAN_TOKENIZER_FILES: &[&str] = &["source.spm", "target.spm", "vocab.json"];
/// A sentence-transformers embedding model.
const EMBEDDING_FILES: &[&str] = &["config.json", "tokenizer.json"];
const EMBEDDING_OPTIONAL: &[&str] = &[
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer_config.json",
];
/// An instruction LLM.
const LLM_FILES: &[&str] = &["config.json", "tokenizer.json"];
const LLM_OPTIONAL: &[&str] = &["generation_config.json", "tokenizer_config.json"];

/// A model found on disk.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The directory holding its files and the weight files the hub picked (none for the
    /// tokenizer alone; for a GGUF summariser, the `.gguf` file).
    pub checkpoint: Checkpoint,
    /// `repo@commit` or the directory, for logs and provenance.
    pub name: String,
}

fn spec_from(model: &str, revision: Option<&str>) -> anyhow::Result<ModelSpec> {
    let spec: ModelSpec = model.parse()?;
    Ok(match (spec, revision) {
        (ModelSpec::Repo { id, .. }, Some(rev)) => ModelSpec::repo(&id, Some(rev))?,
        (spec, _) => spec,
    })
}

/// The translation model of this run, with its weights, ready to load.
pub fn resolve_translation(args: &ModelArgs) -> anyhow::Result<Resolved> {
    resolve_role(args, MARIAN_FILES, MARIAN_OPTIONAL, true)
}

/// The translation model's tokenizer files only.
pub fn resolve_tokenizer(args: &ModelArgs) -> anyhow::Result<Resolved> {
    resolve_role(
        args,
        MARIAN_TOKENIZER_FILES,
        &["target_vocab.json", "tokenizer_config.json"],
        false,
    )
}

/// The sentence-embedding model of this run (`[embedding]` of the models file), with its
/// weights.
pub fn resolve_embedding(args: &ModelArgs) -> anyhow::Result<Resolved> {
    let (cfg, _) = args.models_config()?;
    resolve_spec(
        &cfg.embedding.model,
        cfg.embedding.revision.as_deref(),
        EMBEDDING_FILES,
        EMBEDDING_OPTIONAL,
        true,
    )
}

/// The NLI cross-encoder of this run (`[citation] nli` of the models file), if any.
pub fn resolve_nli(args: &ModelArgs) -> anyhow::Result<Option<Resolved>> {
    let (cfg, _) = args.models_config()?;
    cfg.citation
        .nli
        .as_deref()
        .map(|m| {
            resolve_spec(
                m,
                cfg.citation.revision.as_deref(),
                &["config.json", "tokenizer.json"],
                &["tokenizer_config.json"],
                true,
            )
        })
        .transpose()
}

/// The summariser LLM of this run (`[summarizer] model` of the models file), with its
/// weights.
pub fn resolve_summarizer(args: &ModelArgs) -> anyhow::Result<Resolved> {
    let (cfg, source) = args.models_config()?;
    let Some(model) = cfg.summarizer.model.as_deref() else {
        anyhow::bail!(
            "the LLM summariser needs a model: set `model` under [summarizer] in {source}"
        );
    };
    // A local GGUF file is used as it is; tokenizer.json must sit beside it.
    let path = std::path::Path::new(model);
    if path.extension().is_some_and(|x| x == "gguf") {
        anyhow::ensure!(
            path.is_file(),
            "the [summarizer] model {model} (in {source}) is not a file"
        );
        return Ok(Resolved {
            checkpoint: Checkpoint::gguf(path),
            name: model.to_string(),
        });
    }
    resolve_spec(
        model,
        cfg.summarizer.revision.as_deref(),
        LLM_FILES,
        LLM_OPTIONAL,
        true,
    )
}

fn resolve_role(
    args: &ModelArgs,
    files: &[&str],
    optional: &[&str],
    weights: bool,
) -> anyhow::Result<Resolved> {
    let (model, revision) = args.translation_spec()?;
    resolve_spec(&model, revision.as_deref(), files, optional, weights)
}

fn resolve_spec(
    model: &str,
    revision: Option<&str>,
    files: &[&str],
    optional: &[&str],
    weights: bool,
) -> anyhow::Result<Resolved> {
    let spec = spec_from(model, revision)?;
    let settings = HubSettings::from_env();
    let found = if weights {
        hub::resolve_with_weights(&spec, &settings, files, optional)?
    } else {
        hub::resolve(&spec, &settings, files, optional)?
    };
    Ok(Resolved {
        name: found.provenance(),
        checkpoint: found.checkpoint,
    })
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download every model the models file names into the hub cache (for offline use).
    Fetch {
        /// Models file (default: ./models.toml when present, else the built-in one).
        #[arg(long, value_name = "PATH")]
        models: Option<PathBuf>,
    },
    /// Show the models in the hub cache.
    List,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<Outcome> {
    let settings = HubSettings::from_env();
    match args.command {
        ModelsCommand::Fetch { models } => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let (cfg, source) = ModelsConfig::locate(models.as_deref(), &cwd)?;
            tracing::info!("fetching the models named in {source}");
            fetch_all(&cfg, &settings)
        }
        ModelsCommand::List => {
            list(&settings)?;
            Ok(Outcome::Done)
        }
    }
}

/// One model of the set to fetch, with the files its role needs.
struct Wanted<'a> {
    role: &'static str,
    model: &'a str,
    revision: Option<&'a str>,
    files: &'static [&'static str],
    optional: &'static [&'static str],
}

fn fetch_all(cfg: &ModelsConfig, settings: &HubSettings) -> anyhow::Result<Outcome> {
    let mut wanted = Vec::new();
    if let Some(t) = &cfg.translation {
        wanted.push(Wanted {
            role: "translation",
            model: &t.model,
            revision: t.revision.as_deref(),
            files: MARIAN_FILES,
            optional: MARIAN_OPTIONAL,
        });
    }
    wanted.push(Wanted {
        role: "embedding",
        model: &cfg.embedding.model,
        revision: cfg.embedding.revision.as_deref(),
        files: EMBEDDING_FILES,
        optional: EMBEDDING_OPTIONAL,
    });
    // Every model the file names, the LLM too when `kind` is extractive: a machine prepared
    // with `models fetch` then also runs `--summarizer llm` offline.
    if let Some(model) = &cfg.summarizer.model {
        wanted.push(Wanted {
            role: "summarizer",
            model,
            revision: cfg.summarizer.revision.as_deref(),
            files: LLM_FILES,
            optional: LLM_OPTIONAL,
        });
    }
    if let Some(model) = &cfg.citation.nli {
        wanted.push(Wanted {
            role: "nli",
            model,
            revision: cfg.citation.revision.as_deref(),
            files: &["config.json", "tokenizer.json"],
            optional: &["tokenizer_config.json"],
        });
    }
    let mut failures = 0;
    let total = wanted.len();
    for w in wanted {
        let (role, model) = (w.role, w.model);
        let result = spec_from(model, w.revision)
            .and_then(|spec| Ok(hub::fetch(&spec, settings, w.files, w.optional)?));
        match result {
            Ok(found) => println!(
                "{role}\t{}\t{}",
                found.provenance(),
                found.checkpoint.dir.display()
            ),
            Err(e) => {
                failures += 1;
                tracing::error!("{role} model {model}: {e:#}");
            }
        }
    }
    if failures == total {
        anyhow::bail!("no model could be fetched");
    }
    Ok(Outcome::from_failures(failures))
}

fn list(settings: &HubSettings) -> anyhow::Result<()> {
    let repos = hub::list_cached(settings)?;
    if repos.is_empty() {
        tracing::warn!("no models in the cache at {}", settings.cache_dir.display());
    }
    for repo in repos {
        for snap in &repo.snapshots {
            let size: u64 = snap.files.iter().map(|f| f.size).sum();
            let refs = if snap.refs.is_empty() {
                "-".to_string()
            } else {
                snap.refs.join(",")
            };
            let files: Vec<&str> = snap.files.iter().map(|f| f.name.as_str()).collect();
            println!(
                "{}\t{}\t{}\t{:.1} MB\t{}",
                repo.id,
                refs,
                snap.commit,
                size as f64 / 1e6,
                files.join(",")
            );
        }
    }
    Ok(())
}

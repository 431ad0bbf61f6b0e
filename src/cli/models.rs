//! `warta models fetch|list`: the models file's models downloaded into the hub cache for
//! offline use, and what the cache holds.
//!
//! Which files each model needs is its [`Role`]'s to say (`setup.rs`), the same lists a run
//! resolves with.
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::setup::{Role, Setup};
use super::Outcome;
use warta::hub::{self, HubSettings};

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
    match args.command {
        ModelsCommand::Fetch { models } => {
            let setup = Setup::new(models.as_deref(), None)?;
            tracing::info!("fetching the models named in {}", setup.source());
            fetch_all(&setup)
        }
        ModelsCommand::List => {
            list(&HubSettings::from_env())?;
            Ok(Outcome::Done)
        }
    }
}

/// Every model the models file names, each with the files its role needs; the LLM too when
/// `kind` is extractive, so a machine prepared with `models fetch` also runs
/// `--summarizer llm` offline.
fn fetch_all(setup: &Setup) -> anyhow::Result<Outcome> {
    let (mut failures, mut total) = (0, 0);
    for role in Role::MODELS {
        match setup.fetch(role) {
            Ok(None) => continue,
            Ok(Some(found)) => println!(
                "{}\t{}\t{}",
                role.name(),
                found.name,
                found.checkpoint.dir.display()
            ),
            Err(e) => {
                failures += 1;
                tracing::error!("{e:#}");
            }
        }
        total += 1;
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

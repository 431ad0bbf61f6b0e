//! `warta merge DIR... --out DIR`: the briefing of a run spread over machines, made from
//! the shards' output directories. Each shard's `articles.jsonl` holds its finished
//! articles with what the overview needs, so the merged briefing is the one a single
//! machine would have made; the shards' `errors.jsonl` are joined.
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::common::ModelArgs;
use super::Outcome;
use warta::pipeline::assemble;
use warta::pipeline::run::Manifest;
use warta::pipeline::shard::Shard;
use warta::summarize::nli::Nli;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' --out directories.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Directory for the merged briefing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Models file naming the NLI model, when the shards judged citations with one.
    #[arg(long, value_name = "PATH")]
    pub models: Option<PathBuf>,
}

pub fn run(args: MergeArgs) -> anyhow::Result<Outcome> {
    // Every directory: a finished run with the same models and settings.
    let mut manifests = Vec::new();
    let same = |a: &PathBuf, b: &PathBuf| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    for dir in &args.dirs {
        anyhow::ensure!(
            !same(dir, &args.out),
            "--out {} is one of the directories to merge; give the merged briefing its own",
            args.out.display()
        );
        let m = Manifest::read(dir)?.with_context(|| {
            format!(
                "{} has no run.json: it is not the --out directory of `warta brief`",
                dir.display()
            )
        })?;
        anyhow::ensure!(
            m.complete,
            "the run in {} has not finished: run its command again to finish it",
            dir.display()
        );
        if let Some(first) = manifests.first() {
            let diff = m.differences(first, false);
            anyhow::ensure!(
                diff.is_empty(),
                "{} was briefed with other {} than {} (see their run.json)",
                dir.display(),
                diff.join(" and "),
                args.dirs[0].display()
            );
        }
        manifests.push(m);
    }
    check_shards(&args.dirs, &manifests)?;
    let manifest = manifests.swap_remove(0);

    let nli = match &manifest.models.nli {
        None => None,
        Some(recorded) => {
            let model = ModelArgs {
                model: None,
                revision: None,
                models: args.models.clone(),
            };
            let m = super::models::resolve_nli(&model)?.with_context(|| {
                format!(
                    "the shards' citations were judged by the NLI model {}; pass --models \
                     with a models file naming it under [citation]",
                    recorded.id
                )
            })?;
            let named = super::brief::model_ref(&m.name);
            anyhow::ensure!(
                &named == recorded,
                "the models file names the NLI model {} but the shards used {}",
                m.name,
                recorded.id
            );
            Some(
                Nli::from_checkpoint(&m.checkpoint, &candle_core::Device::Cpu)
                    .with_context(|| format!("cannot load the NLI model {}", m.name))?,
            )
        }
    };
    let judge = warta::pipeline::judge(nli.as_ref(), &manifest.pipeline);
    let files: Vec<PathBuf> = args.dirs.iter().map(|d| d.join("articles.jsonl")).collect();
    let briefed = assemble::write_from_files(
        &files,
        &args.out,
        &judge,
        &manifest.pipeline.overview,
        manifest.models.clone(),
        manifest.settings.clone(),
        super::brief::now_rfc3339(),
    )?;
    if briefed == 0 {
        anyhow::bail!("no shard briefed any article, so there is nothing to merge");
    }
    // The shards' errors, joined a line at a time.
    let mut failures = 0;
    warta::output::write_atomic_with(&args.out.join("errors.jsonl"), |w| {
        for dir in &args.dirs {
            let path = dir.join("errors.jsonl");
            // A shard's file that cannot be read is named in the error.
            let shard =
                |e: std::io::Error| std::io::Error::other(format!("{}: {e}", path.display()));
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(shard(e)),
            };
            for line in std::io::BufReader::new(file).lines() {
                writeln!(w, "{}", line.map_err(shard)?)?;
                failures += 1;
            }
        }
        Ok(())
    })
    .context("cannot join the shards' errors.jsonl")?;
    Manifest {
        shard: None,
        ..manifest
    }
    .write(&args.out)?;
    tracing::info!(
        "{briefed} articles from {} directories merged into {}",
        args.dirs.len(),
        args.out.display()
    );
    Ok(Outcome::from_failures(failures))
}

/// Shards of one split, each once, none missing; or runs that were not sharded at all.
fn check_shards(dirs: &[PathBuf], manifests: &[Manifest]) -> anyhow::Result<()> {
    let shards: Vec<Option<Shard>> = manifests
        .iter()
        .map(|m| m.shard.as_deref().map(str::parse).transpose())
        .collect::<Result<_, String>>()
        .map_err(anyhow::Error::msg)?;
    if shards.iter().all(Option::is_none) {
        return Ok(());
    }
    let mut seen: Vec<Option<&PathBuf>> = Vec::new();
    let mut count = None;
    for (dir, shard) in dirs.iter().zip(&shards) {
        let Some(s) = shard else {
            anyhow::bail!(
                "{} is a whole run, not a shard; merge only the shards of one run",
                dir.display()
            );
        };
        let n = *count.get_or_insert(s.count);
        anyhow::ensure!(
            s.count == n,
            "{} is shard {s} but {} is of {n} shards",
            dir.display(),
            dirs[0].display()
        );
        seen.resize(n as usize, None);
        if let Some(other) = seen[s.index as usize - 1] {
            anyhow::bail!(
                "{} and {} are both shard {s}",
                other.display(),
                dir.display()
            );
        }
        seen[s.index as usize - 1] = Some(dir);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(k, _)| format!("{}/{}", k + 1, seen.len()))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{} {} missing: pass every shard's directory",
        if missing.len() == 1 {
            "shard"
        } else {
            "shards"
        },
        missing.join(", ") + if missing.len() == 1 { " is" } else { " are" }
    );
    Ok(())
}

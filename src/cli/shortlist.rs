//! `warta shortlist`: makes a vocabulary shortlist table (`translate --shortlist`) for a
//! model from line-aligned parallel text, written to stdout.
//!
//! The source lines are split with the model's source tokenizer and the target lines with
//! its target tokenizer; the table lists, for each source token, the target tokens IBM
//! Model 1 finds most probable beside it, and the most frequent target tokens for every
//! sentence (`warta::translate::shortlist::build`). A pair that fails to read (bad UTF-8)
//! is reported by file and line and left out; files of different lengths are an error, as
//! their lines cannot be paired.
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::common::ModelArgs;
use super::input::Lines;
use super::setup::{Role, Setup};
use super::Outcome;
use warta::translate::shortlist::{self, BuildOptions};
use warta::translate::tokenizer::MarianTokenizer;

#[derive(Debug, Args)]
pub struct ShortlistArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Source-language text, one sentence (or segment) a line.
    #[arg(long, value_name = "FILE")]
    pub source: PathBuf,
    /// Its translations, line for line (a reference translation, or the model's own
    /// output from `warta translate`).
    #[arg(long, value_name = "FILE")]
    pub target: PathBuf,
    /// Most target tokens listed for a source token.
    #[arg(long, value_name = "N", default_value_t = BuildOptions::default().per_source)]
    pub per_source: usize,
    /// How many of the most frequent target tokens every sentence may use.
    #[arg(long, value_name = "N", default_value_t = BuildOptions::default().frequent)]
    pub frequent: usize,
    /// Rounds of IBM Model 1's expectation-maximisation.
    #[arg(long, value_name = "N", default_value_t = BuildOptions::default().iterations)]
    pub iterations: usize,
    /// Least probability t(target | source) a listed target token has.
    #[arg(long, value_name = "P", default_value_t = BuildOptions::default().min_probability)]
    pub min_probability: f32,
}

/// The lines of one file, `None` for a line that could not be read (reported).
fn read_lines(path: &PathBuf) -> anyhow::Result<Vec<Option<String>>> {
    let mut lines = Lines::new(std::slice::from_ref(path));
    let mut out = Vec::new();
    for line in lines.by_ref() {
        out.push(match line.text {
            Ok(t) => Some(t),
            Err(why) => {
                tracing::error!("{}:{}: {why}", line.source, line.number);
                None
            }
        });
    }
    if let Some((name, e)) = lines.failed.into_iter().next() {
        anyhow::bail!("cannot read {name}: {e}");
    }
    Ok(out)
}

pub fn run(args: ShortlistArgs) -> anyhow::Result<Outcome> {
    let model = Setup::from_model_args(&args.model)?.resolve(Role::Tokenizer)?;
    let tokenizer = MarianTokenizer::from_dir(&model.checkpoint.dir)
        .with_context(|| format!("cannot load the tokenizer of {}", model.name))?;
    let source = read_lines(&args.source)?;
    let target = read_lines(&args.target)?;
    if source.len() != target.len() {
        anyhow::bail!(
            "{} has {} lines and {} has {}: the lines of the two files must pair up",
            args.source.display(),
            source.len(),
            args.target.display(),
            target.len()
        );
    }
    let failures = source.iter().chain(&target).filter(|l| l.is_none()).count();
    let pairs: Vec<(Vec<String>, Vec<String>)> = source
        .iter()
        .zip(&target)
        .filter_map(|(s, t)| Some((s.as_deref()?, t.as_deref()?)))
        .filter(|(s, t)| !s.trim().is_empty() && !t.trim().is_empty())
        .map(|(s, t)| {
            (
                tokenizer.encode_pieces(s),
                tokenizer.encode_target_pieces(t),
            )
        })
        .collect();
    if pairs.is_empty() {
        anyhow::bail!(
            "{} and {} have no pair of non-empty lines to learn from",
            args.source.display(),
            args.target.display()
        );
    }
    tracing::info!("learning a shortlist from {} sentence pairs", pairs.len());
    let opts = BuildOptions {
        per_source: args.per_source,
        frequent: args.frequent,
        iterations: args.iterations,
        min_probability: args.min_probability,
    };
    let table = shortlist::build(&pairs, &opts);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(table.as_bytes())?;
    out.flush()?;
    Ok(Outcome::from_failures(failures))
}

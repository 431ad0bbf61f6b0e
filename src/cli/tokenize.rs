//! `warta tokenize`: the source token ids of each input line, as the model sees them.
//!
//! For checking tokenizer parity by hand and for debugging a translation: one line of
//! space-separated ids (with the appended `</s>`) per input line.
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::common::ModelArgs;
use super::input::Lines;
use super::setup::{Role, Setup};
use super::Outcome;
use warta::translate::tokenizer::MarianTokenizer;

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input files; stdin when none or `-`.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: TokenizeArgs) -> anyhow::Result<Outcome> {
    let model = Setup::from_model_args(&args.model)?.resolve(Role::Tokenizer)?;
    let tokenizer = MarianTokenizer::from_dir(&model.checkpoint.dir)
        .with_context(|| format!("cannot load the tokenizer of {}", model.name))?;
    let mut lines = Lines::new(&args.files);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failures = 0;
    for line in lines.by_ref() {
        match &line.text {
            Ok(text) => {
                let ids: Vec<String> = tokenizer.encode(text).iter().map(u32::to_string).collect();
                writeln!(out, "{}", ids.join(" "))?;
            }
            Err(why) => {
                failures += 1;
                tracing::error!("{}:{}: {why}", line.source, line.number);
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(Outcome::from_failures(failures + lines.failed.len()))
}

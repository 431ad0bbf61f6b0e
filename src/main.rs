//! The `warta` binary: parse arguments, set up logging, dispatch to a subcommand, and map the
//! result to an exit status in one place (0 done, 3 some inputs failed, 1 nothing could be
//! done, 2 usage error). A closed stdout (`warta ... | head`) is not an error.
mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "warta",
    version,
    about = "Indonesian news pages to cited English briefings, on local models"
)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Translate segments (one per line, or JSONL records) from Indonesian to English.
    Translate(cli::translate::TranslateArgs),
    /// Print the source token ids of each input line.
    Tokenize(cli::tokenize::TokenizeArgs),
    /// Make a vocabulary shortlist (`translate --shortlist`) from parallel text.
    Shortlist(cli::shortlist::ShortlistArgs),
    /// Brief Indonesian pages: ingest, translate, summarise with citations, check, render.
    Brief(cli::brief::BriefArgs),
    /// Brief text that is already English (no translation).
    Summarize(cli::brief::SummarizeArgs),
    /// Combine the output directories of a sharded `brief` run into one briefing.
    Merge(cli::merge::MergeArgs),
    /// Read scraped pages into clean articles with sentence ids (JSONL on stdout).
    Ingest(cli::ingest::IngestArgs),
    /// Fetch or list the models named in models.toml.
    Models(cli::models::ModelsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::set_quiet(cli.quiet);
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,progress=info",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARTA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .init();

    let result = match cli.command {
        Command::Translate(a) => cli::translate::run(a),
        Command::Tokenize(a) => cli::tokenize::run(a),
        Command::Shortlist(a) => cli::shortlist::run(a),
        Command::Ingest(a) => cli::ingest::run(a),
        Command::Brief(a) => cli::brief::run_brief(a),
        Command::Summarize(a) => cli::brief::run_summarize(a),
        Command::Merge(a) => cli::merge::run(a),
        Command::Models(a) => cli::models::run(a),
    };
    match result {
        Ok(cli::Outcome::Done) => ExitCode::SUCCESS,
        Ok(cli::Outcome::SomeFailed) => ExitCode::from(3),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes in one line, each said once: many errors name their cause in
/// their own message already.
fn report(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

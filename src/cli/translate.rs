//! `warta translate`: one segment per line (or JSONL records) in, translations out.
//!
//! Input is streamed in blocks so memory stays bounded on any input size; each block is
//! translated in length-sorted batches and written in input order before the next is read.
//! A line that cannot be read is reported with its file and line number and the others go on.
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::common::{DecodingArgs, ModelArgs, RuntimeArgs};
use super::input::{Line, Lines};
use super::setup::{Runtime, Setup};
use super::Outcome;
use warta::translate::{quality, Flag};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One segment per line; one translation per line.
    Text,
    /// `{"id", "text"}` per line; `{"id", "text", "translation", "score", "flags"}` per line
    /// out.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub decoding: DecodingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Input and output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Input files; stdin when none or `-`.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct InRecord {
    id: serde_json::Value,
    text: String,
}

#[derive(Serialize)]
struct OutRecord<'a> {
    id: &'a serde_json::Value,
    text: &'a str,
    translation: &'a str,
    score: f32,
    /// What is wrong with the translation (empty when nothing is): see [`Flag`].
    flags: &'a [Flag],
}

/// A line ready to translate, or the reason it cannot be.
struct Item {
    line: Line,
    id: Option<serde_json::Value>,
    text: Result<String, String>,
}

pub fn run(args: TranslateArgs) -> anyhow::Result<Outcome> {
    let runtime = Runtime::new(&args.runtime)?;
    let setup = Setup::from_model_args(&args.model)?;
    let (translator, model) = setup.translator(&args.decoding, &runtime)?;
    tracing::info!(
        "translating with {} on {} ({})",
        model.name,
        warta::device::describe(&runtime.device),
        runtime.precision.as_str()
    );

    let block = runtime.batch_size * 8;
    let progress = super::common::progress_spinner("lines");
    let started = Instant::now();
    let mut lines = Lines::new(&args.files);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failures = 0usize;
    let mut flagged = 0usize;
    let (mut done, mut tokens) = (0usize, 0usize);
    loop {
        let items: Vec<Item> = lines
            .by_ref()
            .take(block)
            .map(|l| prepare(l, args.format))
            .collect();
        if items.is_empty() {
            break;
        }
        let texts: Vec<&str> = items
            .iter()
            .map(|it| it.text.as_deref().unwrap_or(""))
            .collect();
        let translations = translator.translate(&texts)?;
        for (item, tr) in items.iter().zip(&translations) {
            match &item.text {
                Err(why) => {
                    failures += 1;
                    tracing::error!("{}:{}: {why}", item.line.source, item.line.number);
                    if args.format == Format::Text {
                        // Keep one output line per input line.
                        writeln!(out)?;
                    }
                    continue;
                }
                Ok(text) => {
                    let at = format!("{}:{}", item.line.source, item.line.number);
                    if tr.oversized > 0 {
                        tracing::warn!(
                            "{at}: {} sentence(s) longer than the model's input, so cut at clause or word boundaries (the line was translated in {} pieces)",
                            tr.oversized,
                            tr.pieces
                        );
                    }
                    if !tr.flags.is_empty() {
                        flagged += 1;
                        tracing::warn!(
                            "{at}: translation flagged: {}",
                            quality::describe(&tr.flags)
                        );
                    }
                    match args.format {
                        Format::Text => writeln!(out, "{}", tr.text)?,
                        Format::Jsonl => {
                            let rec = OutRecord {
                                id: item.id.as_ref().unwrap_or(&serde_json::Value::Null),
                                text,
                                translation: &tr.text,
                                score: tr.score,
                                flags: &tr.flags,
                            };
                            serde_json::to_writer(&mut out, &rec)?;
                            writeln!(out)?;
                        }
                    }
                }
            }
            tokens += tr.tokens;
        }
        out.flush()?;
        done += items.len();
        progress.set_position(done as u64);
        progress.set_message(format!(
            "{:.0} tokens/s",
            tokens as f64 / started.elapsed().as_secs_f64().max(1e-9)
        ));
    }
    progress.finish_and_clear();
    failures += lines.failed.len();
    tracing::info!(
        "{done} lines, {tokens} tokens in {:.3}s, {failures} failed, {flagged} flagged",
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::from_failures(failures))
}

fn prepare(line: Line, format: Format) -> Item {
    let parsed = match (&line.text, format) {
        (Err(e), _) => (None, Err(e.clone())),
        (Ok(t), Format::Text) => (None, Ok(t.clone())),
        (Ok(t), Format::Jsonl) if t.trim().is_empty() => (None, Err("empty line".into())),
        (Ok(t), Format::Jsonl) => match serde_json::from_str::<InRecord>(t) {
            Ok(r) => (Some(r.id), Ok(r.text)),
            Err(e) => (None, Err(format!("not a {{\"id\", \"text\"}} record: {e}"))),
        },
    };
    Item {
        line,
        id: parsed.0,
        text: parsed.1,
    }
}

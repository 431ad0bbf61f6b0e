//! `warta ingest`: scraped pages in, cleaned articles with sentence ids out.
//!
//! Articles are written to stdout as they are made (JSONL, or one JSON array), so memory
//! stays bounded however many there are; errors, warnings and `--explain` go to stderr.
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::common::progress_spinner;
use super::Outcome;
use warta::text::clean::Dropped;
use warta::text::ingest::Reason;
use warta::text::{ingest, Ids, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IngestFormat {
    /// One article a line.
    Jsonl,
    /// One JSON array of articles.
    Json,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files (.txt, .html, .htm, .jsonl), directories (read recursively), or `-` for stdin.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: IngestFormat,
    /// Print on stderr every line that is not article text and the rule that took it.
    #[arg(long)]
    pub explain: bool,
    /// Refuse files, JSONL records or stdin texts bigger than this (e.g. 10MB, 512KB, 2000000).
    #[arg(long, value_name = "SIZE", default_value_t = warta::text::source::DEFAULT_MAX_BYTES, value_parser = parse_size)]
    pub max_size: u64,
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 10MB"))?;
    Ok((n * factor as f64) as u64)
}

pub fn run(args: IngestArgs) -> anyhow::Result<Outcome> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let progress = progress_spinner("articles");
    let mut ids = Ids::default();
    let mut failures = 0usize;
    let mut written = 0usize;
    if args.format == IngestFormat::Json {
        write!(out, "[")?;
    }
    for doc in Sources::new(&args.inputs, args.max_size) {
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                failures += 1;
                progress.suspend(|| tracing::error!("{e}"));
                continue;
            }
        };
        let (id, renamed) = ids.claim(&doc.id);
        if renamed {
            progress.suspend(|| {
                tracing::warn!(
                    "{}: the id {:?} is already taken in this run; using {id:?}",
                    doc.source,
                    doc.id
                )
            });
        }
        match ingest(&doc, &id) {
            Ok(ingested) => {
                progress.suspend(|| {
                    for w in &ingested.warnings {
                        tracing::warn!("{w}");
                    }
                    if args.explain {
                        explain(&doc.source, &ingested.notes, &ingested.dropped);
                    }
                });
                let json = serde_json::to_string(&ingested.article)?;
                match args.format {
                    IngestFormat::Jsonl => writeln!(out, "{json}")?,
                    IngestFormat::Json => {
                        let sep = if written == 0 { "\n" } else { ",\n" };
                        write!(out, "{sep}{json}")?;
                    }
                }
                written += 1;
                progress.inc(1);
            }
            Err(e) => {
                failures += 1;
                progress.suspend(|| {
                    tracing::error!("{e}");
                    if let (true, Reason::NoText { dropped }) = (args.explain, &e.reason) {
                        explain(&doc.source, &[], dropped);
                    }
                });
            }
        }
    }
    if args.format == IngestFormat::Json {
        writeln!(out, "{}]", if written == 0 { "" } else { "\n" })?;
    }
    out.flush()?;
    progress.finish_and_clear();
    tracing::info!("{written} articles ingested, {failures} inputs failed");
    Ok(Outcome::from_failures(failures))
}

/// `--explain`: how the page was read, then every line or sentence that is not body text
/// and the rule that took it.
fn explain(source: &str, notes: &[String], dropped: &[Dropped]) {
    for n in notes {
        eprintln!("{source}: {n}");
    }
    for d in dropped {
        eprintln!(
            "{source} line {}: {}: {:?} ({})",
            d.line, d.rule, d.text, d.why
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_with_units() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("512 KiB"), Ok(524_288));
        assert_eq!(parse_size("2000"), Ok(2000));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}

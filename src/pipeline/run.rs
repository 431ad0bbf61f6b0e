//! The batch runner behind `warta brief --out DIR`: reads inputs as a stream, briefs them a
//! window at a time, and appends each finished article to `DIR/articles.jsonl` as it is
//! done, so memory stays bounded and a crash loses nothing finished.
//!
//! Reading and ingesting run on one thread and writing on a tokio task, both beside the
//! models, which work on the calling thread (their own thread pools do the maths). Bounded
//! channels between them keep the reader a little ahead and no further.
//!
//! The output directory:
//! - `run.json`: the models and settings of the run (a resumed run or a merge must match
//!   them) and whether it finished;
//! - `articles.jsonl`: one record per finished article, appended and flushed as each
//!   finishes. A run started again skips the articles recorded there, and cuts off a line
//!   torn by a crash;
//! - `errors.jsonl`: one record per input that failed in this run;
//! - `briefing.json`, `.md`, `.html`: assembled from `articles.jsonl` at the end, each
//!   written to a temporary name and renamed into place.
use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::assemble;
use super::progress::{Counts, Progress};
use super::shard::Shard;
use super::{articles, BriefSettings, Engines, PipelineError};
use crate::brief::{Models, Settings};
use crate::text::{ingest, Article, Ids, Sources};

/// What a run reads and where it writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub inputs: Vec<PathBuf>,
    pub max_size: u64,
    pub out: PathBuf,
    pub shard: Option<Shard>,
    /// Articles are briefed together until they hold about this many segments.
    pub window: usize,
    /// How often a log line reports progress when stderr is not a terminal.
    pub progress_interval: Duration,
}

/// `run.json`: what made the records of an output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: Models,
    pub settings: Settings,
    pub pipeline: BriefSettings,
    /// The translation model's decoding settings (None without translation).
    pub generation: Option<serde_json::Value>,
    /// `K/N` for a shard of a run spread over machines.
    pub shard: Option<String>,
    /// Whether the run finished and its briefing was written.
    pub complete: bool,
}

impl Manifest {
    pub const FILE: &'static str = "run.json";

    /// Reads `dir/run.json`; None when there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>, PipelineError> {
        let path = dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PipelineError::Run(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PipelineError::Io { path, source: e }),
        }
    }

    pub fn write(&self, dir: &Path) -> Result<(), PipelineError> {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest serialises");
        json.push('\n');
        Ok(crate::output::write_atomic(
            &dir.join(Self::FILE),
            json.as_bytes(),
        )?)
    }

    /// The top-level fields in which `other` differs, `complete` (and `shard`, unless
    /// `with_shard`) aside.
    pub fn differences(&self, other: &Manifest, with_shard: bool) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.models != other.models {
            out.push("models");
        }
        if self.settings != other.settings || self.pipeline != other.pipeline {
            out.push("settings");
        }
        if self.generation != other.generation {
            out.push("decoding settings");
        }
        if with_shard && self.shard != other.shard {
            out.push("shard");
        }
        out
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub counts: Counts,
    /// Articles in the briefing (those of earlier runs included).
    pub briefed: usize,
    /// The summary line logged at the end.
    pub summary: String,
}

enum Item {
    Article(Box<Article>),
    Failed(String),
    Skipped,
    /// The reader is done: how many documents it took for this shard.
    End(u64),
}

enum Line {
    Article(String),
    Error(String),
}

/// One line of errors.jsonl: the article id (when it got one), its source and the error.
pub fn error_line(id: Option<&str>, source: &str, error: &str) -> String {
    let mut line = serde_json::json!({"id": id, "source": source, "error": error}).to_string();
    line.push('\n');
    line
}

/// Runs a batch: every input not already finished in `opts.out` is briefed and recorded,
/// then the briefing is assembled from all the records there.
pub fn run(
    opts: &RunOptions,
    mut engines: Engines,
    manifest: Manifest,
    settings: &BriefSettings,
    generated_at: String,
) -> Result<RunReport, PipelineError> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|e| PipelineError::Io {
        path: out.clone(),
        source: e,
    })?;
    let articles_path = out.join("articles.jsonl");
    let errors_path = out.join("errors.jsonl");
    if let Some(old) = Manifest::read(out)? {
        let diff = old.differences(&manifest, true);
        if !diff.is_empty() && articles_path.exists() {
            return Err(PipelineError::Run(format!(
                "{} holds articles briefed with other {} (see its run.json); pass another \
                 --out, or delete its articles.jsonl and run.json to start over",
                out.display(),
                diff.join(" and ")
            )));
        }
    }
    manifest.write(out)?;
    let finished = recover(&articles_path)?;
    if !finished.is_empty() {
        tracing::info!(
            "{}: {} articles are finished already and will be skipped",
            articles_path.display(),
            finished.len()
        );
    }
    // Failures are found again by this run, so the file starts empty.
    crate::output::write_atomic(&errors_path, b"")?;

    let sources = Sources::new(&opts.inputs, opts.max_size);
    let estimate = sources
        .estimate()
        .map(|n| opts.shard.map_or(n, |s| n.div_ceil(u64::from(s.count))));
    let mut progress = Progress::new(estimate, opts.progress_interval);
    let mut counts = Counts::default();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Run(format!("cannot start the I/O runtime: {e}")))?;
    let (item_tx, mut item_rx) = mpsc::channel::<Item>(256);
    let (line_tx, line_rx) = mpsc::channel::<Line>(256);
    let shard = opts.shard;
    runtime.spawn_blocking(move || read(sources, shard, finished, item_tx));
    let writer = runtime.spawn(write(articles_path.clone(), errors_path.clone(), line_rx));

    let result = (|| -> Result<(), PipelineError> {
        let mut window: Vec<Article> = Vec::new();
        let mut segments = 0;
        let send = |line: Line| {
            line_tx
                .blocking_send(line)
                .map_err(|_| PipelineError::Run("the output writer stopped".into()))
        };
        loop {
            let item = item_rx.blocking_recv();
            let end = match item {
                Some(Item::Article(a)) => {
                    segments += a.sentences().count() + usize::from(a.title.is_some());
                    window.push(*a);
                    false
                }
                Some(Item::Failed(line)) => {
                    counts.failed += 1;
                    send(Line::Error(line))?;
                    false
                }
                Some(Item::Skipped) => {
                    counts.skipped += 1;
                    false
                }
                Some(Item::End(n)) => {
                    progress.set_total(n);
                    false
                }
                None => true,
            };
            if !window.is_empty() && (segments >= opts.window || end) {
                let (records, c) = articles::brief_window(&window, &mut engines, settings)?;
                for (a, r) in window.iter().zip(records) {
                    match r {
                        Ok(r) => {
                            let mut line = serde_json::to_string(&r).expect("a record serialises");
                            line.push('\n');
                            send(Line::Article(line))?;
                            counts.articles += 1;
                        }
                        Err(e) => {
                            tracing::error!("{}: {e}", a.source);
                            send(Line::Error(error_line(
                                Some(&a.id),
                                &a.source,
                                &e.to_string(),
                            )))?;
                            counts.failed += 1;
                        }
                    }
                }
                counts.segments += c.segments as u64;
                counts.translated += c.translated as u64;
                counts.tokens += c.tokens as u64;
                if let Some(cache) = engines.cache.as_deref() {
                    counts.cache_hits = cache.hits as u64;
                    counts.cache_misses = cache.misses as u64;
                }
                window.clear();
                segments = 0;
            }
            progress.update(&counts);
            if end {
                return Ok(());
            }
        }
    })();
    drop(line_tx);
    drop(item_rx);
    let written = runtime
        .block_on(writer)
        .map_err(|e| PipelineError::Run(format!("the output writer failed: {e}")))?;
    result?;
    written?;
    let summary = progress.finish(&counts);

    let recorded = recover(&articles_path)?.len();
    if recorded == 0 && (counts.failed > 0 || opts.shard.is_none()) {
        return Err(PipelineError::Run(format!(
            "no input could be briefed, so there is nothing to brief{}",
            if counts.failed > 0 {
                format!(" (see {})", errors_path.display())
            } else {
                String::new()
            }
        )));
    }
    let judge = super::judge(engines.nli, settings);
    let briefed = assemble::write_from_files(
        &[articles_path],
        out,
        &judge,
        &settings.overview,
        manifest.models.clone(),
        manifest.settings.clone(),
        generated_at,
    )?;
    Manifest {
        complete: true,
        ..manifest
    }
    .write(out)?;
    Ok(RunReport {
        counts,
        briefed,
        summary,
    })
}

/// The reader: documents in input order, with ids claimed as a single run claims them,
/// those of other shards and those finished already passed over, the rest ingested.
fn read(sources: Sources, shard: Option<Shard>, finished: HashSet<String>, tx: mpsc::Sender<Item>) {
    let takes = |key: &str| shard.is_none_or(|s| s.takes(key));
    let mut ids = Ids::default();
    let mut taken = 0u64;
    for doc in sources {
        let item = match doc {
            Err(e) if takes(&e.input) => {
                tracing::error!("{e}");
                Item::Failed(error_line(None, &e.input, &e.reason.to_string()))
            }
            Err(_) => continue,
            Ok(doc) => {
                let (id, renamed) = ids.claim(&doc.id);
                if !takes(&id) {
                    continue;
                }
                if renamed {
                    tracing::warn!("{}: the id {:?} is taken; using {id:?}", doc.source, doc.id);
                }
                if finished.contains(&id) {
                    Item::Skipped
                } else {
                    match ingest(&doc, &id) {
                        Ok(got) => {
                            for w in &got.warnings {
                                tracing::warn!("{w}");
                            }
                            Item::Article(Box::new(got.article))
                        }
                        Err(e) => {
                            tracing::error!("{e}");
                            Item::Failed(error_line(Some(&id), &e.input, &e.reason.to_string()))
                        }
                    }
                }
            }
        };
        taken += 1;
        if tx.blocking_send(item).is_err() {
            return;
        }
    }
    let _ = tx.blocking_send(Item::End(taken));
}

/// The writer: each line appended to its file and flushed before the next.
async fn write(
    articles: PathBuf,
    errors: PathBuf,
    mut rx: mpsc::Receiver<Line>,
) -> Result<(), PipelineError> {
    let open = |path: PathBuf| async move {
        tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .map(|f| (f, path.clone()))
            .map_err(|e| PipelineError::Io { path, source: e })
    };
    let (mut a, a_path) = open(articles).await?;
    let (mut e, e_path) = open(errors).await?;
    while let Some(line) = rx.recv().await {
        let (file, path, text) = match &line {
            Line::Article(t) => (&mut a, &a_path, t),
            Line::Error(t) => (&mut e, &e_path, t),
        };
        let done = async {
            file.write_all(text.as_bytes()).await?;
            file.flush().await
        };
        done.await.map_err(|source| PipelineError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The ids recorded in `articles.jsonl` (none when it does not exist). A last line cut
/// short by a crash is cut off, with a warning; any other line that is not a record is an
/// error.
pub fn recover(path: &Path) -> Result<HashSet<String>, PipelineError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let io = |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(io(e)),
    };
    let mut reader = BufReader::new(file);
    let mut ids = HashSet::new();
    let mut line = String::new();
    let mut good = 0u64;
    for number in 1.. {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        let whole = line.ends_with('\n');
        match serde_json::from_str::<Id>(&line) {
            Ok(r) if whole => {
                ids.insert(r.id);
                good += n as u64;
            }
            _ if line.trim().is_empty() && whole => good += n as u64,
            _ if !whole => {
                tracing::warn!(
                    "{}: line {number} was cut short by an interrupted run; it is dropped \
                     and its article briefed again",
                    path.display()
                );
                let mut file = reader.into_inner();
                file.set_len(good).map_err(io)?;
                file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
                file.flush().map_err(io)?;
                return Ok(ids);
            }
            Err(e) => {
                return Err(PipelineError::Record {
                    path: path.to_path_buf(),
                    line: number,
                    message: e.to_string(),
                })
            }
            Ok(_) => unreachable!("a whole line that parses is taken above"),
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_cut_off_and_whole_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("articles.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n{\"id\":\"c\",\"sen",
        )
        .unwrap();
        let ids = recover(&path).unwrap();
        assert_eq!(ids, HashSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n"
        );
        // A bad line that is not the last is damage, not a crash: an error naming it.
        std::fs::write(&path, "{\"id\":\"a\"}\nnot json\n{\"id\":\"b\"}\n").unwrap();
        let e = recover(&path).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(recover(&dir.path().join("none.jsonl")).unwrap().is_empty());
    }
}

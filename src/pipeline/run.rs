//! The batch runner behind `warta brief --out DIR`: reads inputs as a stream, briefs them a
//! window at a time, and appends each finished article to `DIR/articles.jsonl` as it is
//! done, so memory stays bounded and a crash loses nothing finished.
//!
//! Reading, ingesting and tokenizing run on one thread and writing on a tokio task, both
//! beside the models, which work on the calling thread (their own thread pools do the
//! maths). Bounded channels between them keep the reader a little ahead and no further.
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
use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::assemble;
use super::progress::{Counts, Progress};
use super::record::ArticleRecord;
use super::shard::Shard;
use super::{articles, BriefSettings, Engines, PipelineError};
use crate::brief::{Models, Settings};
use crate::text::{ingest, Article, Ids, Sources};
use crate::translate::{Encoder, Source, Translator};

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
    /// Whether progress bars may be drawn on a terminal (`-q` says no).
    pub bars: bool,
}

/// `run.json`: what made the records of an output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: Models,
    pub settings: Settings,
    pub pipeline: BriefSettings,
    /// The translation model's decoding settings (None without translation).
    pub generation: Option<serde_json::Value>,
    /// The translation model's dtype (`f32`, `bf16`, …; None without translation): it
    /// changes translations, so records made in another one are not mixed in.
    #[serde(default)]
    pub dtype: Option<String>,
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
            Err(e) => Err(PipelineError::io(&path, e)),
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
        if self.dtype != other.dtype {
            out.push("dtype");
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
}

enum Item {
    /// An article, and its segments made ready for the translator (when there is one).
    Article(Box<Article>, Vec<Source>),
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
    std::fs::create_dir_all(out).map_err(|e| PipelineError::io(out, e))?;
    let articles_path = out.join("articles.jsonl");
    let errors_path = out.join("errors.jsonl");
    let _lock = lock(out)?;
    let finished = recover(&articles_path)?;
    if let Some(old) = Manifest::read(out)? {
        let diff = old.differences(&manifest, true);
        if !diff.is_empty() && !finished.is_empty() {
            return Err(PipelineError::Run(format!(
                "{} holds articles briefed with other {} (see its run.json); pass another \
                 --out, or delete its articles.jsonl and run.json to start over",
                out.display(),
                diff.join(" and ")
            )));
        }
    }
    manifest.write(out)?;
    crate::output::remove_temporaries(out);
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
    let mut progress = Progress::new(estimate, opts.progress_interval, opts.bars);
    let mut counts = Counts::default();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Run(format!("cannot start the I/O runtime: {e}")))?;
    let (item_tx, mut item_rx) = mpsc::channel::<Item>(256);
    let (line_tx, line_rx) = mpsc::channel::<Line>(256);
    let shard = opts.shard;
    let finished_before = finished.len();
    let encoder = engines.translator.map(Translator::encoder);
    runtime.spawn_blocking(move || read(sources, shard, finished, encoder, item_tx));
    let writer = runtime.spawn(write(articles_path.clone(), errors_path.clone(), line_rx));

    let result = (|| -> Result<(), PipelineError> {
        let mut window: Vec<Article> = Vec::new();
        let mut encoded: HashMap<String, Source> = HashMap::new();
        let mut segments = 0;
        let send = |line: Line| {
            line_tx
                .blocking_send(line)
                .map_err(|_| PipelineError::Run("the output writer stopped".into()))
        };
        let mut ended = false;
        loop {
            let item = item_rx.blocking_recv();
            let end = match item {
                Some(Item::Article(a, sources)) => {
                    let mut sources = sources.into_iter();
                    for text in articles::segments(&a) {
                        segments += 1;
                        if let Some(source) = sources.next() {
                            encoded.entry(text.to_string()).or_insert(source);
                        }
                    }
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
                    ended = true;
                    false
                }
                // The reader stopped without saying it was done: it failed, and the run
                // must not pass for finished (what is recorded stays for the next run).
                None if !ended => {
                    return Err(PipelineError::Run(
                        "reading the inputs stopped unexpectedly; run the same command again \
                         to go on"
                            .into(),
                    ))
                }
                None => true,
            };
            if !window.is_empty() && (segments >= opts.window || end) {
                let (records, c) =
                    articles::brief_window(&window, &mut engines, settings, &mut encoded)?;
                for (a, r) in window.iter().zip(records) {
                    match r.map_err(|e| e.to_string()).and_then(|r| record_line(&r)) {
                        Ok(line) => {
                            send(Line::Article(line))?;
                            counts.articles += 1;
                        }
                        Err(e) => {
                            tracing::error!("{}: {e}", a.source);
                            send(Line::Error(error_line(Some(&a.id), &a.source, &e)))?;
                            counts.failed += 1;
                        }
                    }
                }
                counts.segments += c.segments as u64;
                counts.translated += c.translated as u64;
                counts.tokens += c.tokens as u64;
                counts.flagged += c.flagged as u64;
                if let Some(cache) = engines.cache.as_deref() {
                    counts.cache_hits = cache.hits as u64;
                    counts.cache_misses = cache.misses as u64;
                }
                window.clear();
                encoded.clear();
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
    // The reader may be blocked reading a pipe that never ends; it is not waited for.
    runtime.shutdown_background();
    // When the writer failed, its error (a path and a cause) is the one to report.
    written?;
    result?;
    progress.finish(&counts);

    // A shard may be left with nothing (few articles, many shards, or all of its inputs
    // broken); it still finishes, so the merge can go on.
    let recorded = finished_before as u64 + counts.articles;
    if recorded == 0 && opts.shard.is_none() {
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
    Ok(RunReport { counts, briefed })
}

/// The reader: documents in input order, with ids claimed as a single run claims them,
/// those of other shards and those finished already passed over, the rest ingested and
/// their segments tokenized for the translator (`encoder`), all while the models work.
fn read(
    sources: Sources,
    shard: Option<Shard>,
    finished: HashSet<String>,
    encoder: Option<Encoder>,
    tx: mpsc::Sender<Item>,
) {
    let takes = |key: &str| shard.is_none_or(|s| s.takes(key));
    let mut ids = Ids::default();
    let mut taken = 0u64;
    for doc in sources {
        let item = match doc {
            // A document that could not be read still claims the id it would have had, so
            // the ids of the others do not depend on whether it could be read this time.
            Err(e) => {
                let id = e.id.as_deref().map(|wanted| ids.claim(wanted).0);
                if !takes(id.as_deref().unwrap_or(&e.input)) {
                    continue;
                }
                tracing::error!("{e}");
                Item::Failed(error_line(id.as_deref(), &e.input, &e.reason.to_string()))
            }
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
                            let sources = match &encoder {
                                Some(e) => articles::segments(&got.article)
                                    .map(|s| e.encode(s))
                                    .collect(),
                                None => Vec::new(),
                            };
                            Item::Article(Box::new(got.article), sources)
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
            .map_err(|e| PipelineError::io(&path, e))
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
        done.await.map_err(|e| PipelineError::io(path, e))?;
        // Flushed lines survive a killed process; once the queue is empty (about once a
        // window), they are also made to survive a lost machine.
        if rx.is_empty() {
            for (file, path) in [(&a, &a_path), (&e, &e_path)] {
                file.sync_data()
                    .await
                    .map_err(|e| PipelineError::io(path, e))?;
            }
        }
    }
    Ok(())
}

/// A record as one line of articles.jsonl, checked to read back (a float that JSON cannot
/// hold, such as NaN, would otherwise make the file unreadable at the end of the run).
fn record_line(r: &ArticleRecord) -> Result<String, String> {
    let mut line = serde_json::to_string(r).map_err(|e| e.to_string())?;
    serde_json::from_str::<ArticleRecord>(&line)
        .map_err(|e| format!("its record does not read back ({e}); it is left out"))?;
    line.push('\n');
    Ok(line)
}

/// Holds `dir/.lock` for the run, so two runs never write one directory at once.
fn lock(dir: &Path) -> Result<std::fs::File, PipelineError> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| PipelineError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(PipelineError::Run(format!(
            "another warta run is writing {} (it holds {}); wait for it, or stop it first",
            dir.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(PipelineError::io(&path, e)),
    }
}

/// The ids recorded in `articles.jsonl` (none when it does not exist). A last line cut
/// short by a crash is cut off, with a warning; any other line that is not a record is an
/// error.
pub fn recover(path: &Path) -> Result<HashSet<String>, PipelineError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let io = |e| PipelineError::io(path, e);
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

    #[test]
    fn a_second_run_in_the_same_directory_is_refused_while_the_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let e = lock(dir.path()).unwrap_err().to_string();
        assert!(e.contains("another warta run"), "{e}");
        drop(held);
        assert!(lock(dir.path()).is_ok());
    }
}

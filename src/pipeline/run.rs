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
//!   them) and whether it finished ([`super::manifest`]);
//! - `articles.jsonl`: one record per finished article, appended and flushed as each
//!   finishes. A run started again skips the articles recorded there, and cuts off a line
//!   torn by a crash ([`super::journal`]);
//! - `errors.jsonl`: one record per input that failed in this run ([`super::journal`]);
//! - `briefing.json`, `.md`, `.html`: assembled from `articles.jsonl` at the end, each
//!   written to a temporary name and renamed into place.
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::assemble;
use super::journal::{error_line, record_line, Journal, LineWriter};
use super::progress::{Counts, Progress};
use super::shard::Shard;
use super::{articles, BriefSettings, Engines, PipelineError};
use crate::text::{ingest, Article, Ids, Sources};
use crate::translate::{Encoder, Source, Translator};

/// `run.json`, here for the callers that name it as the runner's.
pub use super::manifest::Manifest;

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
    let (journal, finished) = Journal::open(out)?;
    manifest.claim(out, !finished.is_empty())?;
    crate::output::remove_temporaries(out);
    if !finished.is_empty() {
        tracing::info!(
            "{}: {} articles are finished already and will be skipped",
            journal.articles().display(),
            finished.len()
        );
    }
    // Failures are found again by this run, so the file starts empty.
    journal.clear_errors()?;

    let sources = Sources::new(&opts.inputs, opts.max_size);
    let estimate = sources
        .estimate()
        .map(|n| opts.shard.map_or(n, |s| n.div_ceil(u64::from(s.count))));
    let mut progress = Progress::new(estimate, opts.progress_interval, opts.bars);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Run(format!("cannot start the I/O runtime: {e}")))?;
    let (item_tx, item_rx) = mpsc::channel::<Item>(256);
    let shard = opts.shard;
    let finished_before = finished.len();
    let encoder = engines.translator.map(Translator::encoder);
    runtime.spawn_blocking(move || read(sources, shard, finished, encoder, item_tx));
    let lines = journal.writer(&runtime);

    let mut briefer = Briefer {
        engines: &mut engines,
        settings,
        window_segments: opts.window,
        window: Vec::new(),
        encoded: HashMap::new(),
        segments: 0,
        counts: Counts::default(),
    };
    let result = briefer.take(item_rx, &lines, &mut progress);
    let counts = briefer.counts;
    let written = lines.finish(&runtime);
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
                format!(" (see {})", journal.errors().display())
            } else {
                String::new()
            }
        )));
    }
    let judge = super::judge(engines.nli, settings);
    let briefed = assemble::write_from_files(
        &[journal.articles().to_path_buf()],
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

/// The loop on the calling thread: it fills a window with the reader's articles, briefs
/// it with the models when it holds enough segments (and at the end), and hands each
/// article's record, or its failure, to the journal.
struct Briefer<'r, 'e> {
    engines: &'r mut Engines<'e>,
    settings: &'r BriefSettings,
    /// A window is briefed once it holds this many segments.
    window_segments: usize,
    window: Vec<Article>,
    /// The window's segments made ready for the translator by the reader.
    encoded: HashMap<String, Source>,
    /// How many segments the window holds.
    segments: usize,
    counts: Counts,
}

impl Briefer<'_, '_> {
    /// Takes the reader's items until it is done; an error when it stopped without saying
    /// so, or when a window or the journal failed.
    fn take(
        &mut self,
        mut items: mpsc::Receiver<Item>,
        lines: &LineWriter,
        progress: &mut Progress,
    ) -> Result<(), PipelineError> {
        let mut ended = false;
        loop {
            let end = match items.blocking_recv() {
                Some(Item::Article(a, sources)) => {
                    self.add(*a, sources);
                    false
                }
                Some(Item::Failed(line)) => {
                    self.counts.failed += 1;
                    lines.error(line)?;
                    false
                }
                Some(Item::Skipped) => {
                    self.counts.skipped += 1;
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
            if !self.window.is_empty() && (self.segments >= self.window_segments || end) {
                self.brief_window(lines)?;
            }
            progress.update(&self.counts);
            if end {
                return Ok(());
            }
        }
    }

    /// Adds an article to the window, with its segments made ready for the translator.
    fn add(&mut self, a: Article, sources: Vec<Source>) {
        let mut sources = sources.into_iter();
        for text in articles::segments(&a) {
            self.segments += 1;
            if let Some(source) = sources.next() {
                self.encoded.entry(text.to_string()).or_insert(source);
            }
        }
        self.window.push(a);
    }

    /// Briefs the window, hands each article's record line (or its error line) to the
    /// journal, counts what it cost, and empties it.
    fn brief_window(&mut self, lines: &LineWriter) -> Result<(), PipelineError> {
        let (records, c) =
            articles::brief_window(&self.window, self.engines, self.settings, &mut self.encoded)?;
        let counts = &mut self.counts;
        for (a, r) in self.window.iter().zip(records) {
            match r.map_err(|e| e.to_string()).and_then(|r| record_line(&r)) {
                Ok(line) => {
                    lines.article(line)?;
                    counts.articles += 1;
                }
                Err(e) => {
                    tracing::error!("{}: {e}", a.source);
                    lines.error(error_line(Some(&a.id), &a.source, &e))?;
                    counts.failed += 1;
                }
            }
        }
        counts.segments += c.segments as u64;
        counts.translated += c.translated as u64;
        counts.tokens += c.tokens as u64;
        counts.flagged += c.flagged as u64;
        if let Some(cache) = self.engines.cache.as_deref() {
            counts.cache_hits = cache.hits as u64;
            counts.cache_misses = cache.misses as u64;
        }
        self.window.clear();
        self.encoded.clear();
        self.segments = 0;
        Ok(())
    }
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

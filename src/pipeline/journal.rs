//! The journal of an output directory: what a run has finished and what failed, kept so
//! a crash loses nothing finished. It holds `.lock` (two runs never write one directory
//! at once), recovers `articles.jsonl` after a crash (a torn last line is cut off), and
//! appends each article's record line to `articles.jsonl` and each failure's line to
//! `errors.jsonl` from a writer task, flushed line by line.
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::record::ArticleRecord;
use super::PipelineError;

/// An output directory's journal, held (locked) for one run.
pub struct Journal {
    articles: PathBuf,
    errors: PathBuf,
    /// Held until the journal is dropped: the directory is this run's.
    _lock: File,
}

impl Journal {
    /// Takes `dir`'s lock (refused while another run holds it) and recovers its
    /// `articles.jsonl`; returns the journal and the ids of the articles recorded there.
    pub fn open(dir: &Path) -> Result<(Self, HashSet<String>), PipelineError> {
        let lock = lock(dir)?;
        let articles = dir.join("articles.jsonl");
        let finished = recover(&articles)?;
        let journal = Self {
            articles,
            errors: dir.join("errors.jsonl"),
            _lock: lock,
        };
        Ok((journal, finished))
    }

    /// `articles.jsonl`: one record per finished article.
    pub fn articles(&self) -> &Path {
        &self.articles
    }

    /// `errors.jsonl`: one line per input that failed in this run.
    pub fn errors(&self) -> &Path {
        &self.errors
    }

    /// Empties `errors.jsonl`: failures are found again by each run.
    pub fn clear_errors(&self) -> Result<(), PipelineError> {
        Ok(crate::output::write_atomic(&self.errors, b"")?)
    }

    /// Starts the task on `runtime` that appends lines to the journal's files.
    pub fn writer(&self, runtime: &Runtime) -> LineWriter {
        let (tx, rx) = mpsc::channel::<Line>(256);
        let task = runtime.spawn(write(self.articles.clone(), self.errors.clone(), rx));
        LineWriter { tx, task }
    }
}

enum Line {
    Article(String),
    Error(String),
}

/// The sending end of the journal's writer task.
pub struct LineWriter {
    tx: mpsc::Sender<Line>,
    task: JoinHandle<Result<(), PipelineError>>,
}

impl LineWriter {
    /// Appends a line (of [`record_line`]) to `articles.jsonl`.
    pub fn article(&self, line: String) -> Result<(), PipelineError> {
        self.send(Line::Article(line))
    }

    /// Appends a line (of [`error_line`]) to `errors.jsonl`.
    pub fn error(&self, line: String) -> Result<(), PipelineError> {
        self.send(Line::Error(line))
    }

    fn send(&self, line: Line) -> Result<(), PipelineError> {
        self.tx
            .blocking_send(line)
            .map_err(|_| PipelineError::Run("the output writer stopped".into()))
    }

    /// Waits for every line sent to be written; the writer's error, when it failed.
    pub fn finish(self, runtime: &Runtime) -> Result<(), PipelineError> {
        drop(self.tx);
        runtime
            .block_on(self.task)
            .map_err(|e| PipelineError::Run(format!("the output writer failed: {e}")))?
    }
}

/// One line of errors.jsonl: the article id (when it got one), its source and the error.
pub fn error_line(id: Option<&str>, source: &str, error: &str) -> String {
    let mut line = serde_json::json!({"id": id, "source": source, "error": error}).to_string();
    line.push('\n');
    line
}

/// A record as one line of articles.jsonl, checked to read back (a float that JSON cannot
/// hold, such as NaN, would otherwise make the file unreadable at the end of the run).
pub fn record_line(r: &ArticleRecord) -> Result<String, String> {
    let mut line = serde_json::to_string(r).map_err(|e| e.to_string())?;
    serde_json::from_str::<ArticleRecord>(&line)
        .map_err(|e| format!("its record does not read back ({e}); it is left out"))?;
    line.push('\n');
    Ok(line)
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

/// Holds `dir/.lock` for the run, so two runs never write one directory at once.
fn lock(dir: &Path) -> Result<File, PipelineError> {
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
        let (journal, finished) = Journal::open(dir.path()).unwrap();
        assert!(finished.is_empty());
        let e = Journal::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("another warta run"), "{e}");
        drop(journal);
    }
}

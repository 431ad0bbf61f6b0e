//! The last stage: finished article records (from one run's `articles.jsonl`, or from many
//! shards') become the briefing. Articles are put in briefing order, the overview is
//! chosen from their candidate sentences and checked, and the files are written.
//!
//! Nothing grows with the articles' text. A first pass over the records keeps, per
//! article, only what sorting needs (its id and day) and where its line starts, and
//! appends its candidates' embeddings to a scratch file, which the overview reads a block
//! at a time. A second pass reads the records again one at a time, in briefing order,
//! and writes each into the three files as it comes.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::candidates::{self, CandidateWriter};
use super::record::ArticleRecord;
use super::PipelineError;
use crate::brief::{self, ArticleBrief, Briefing, Head, Models, SentenceOut, Settings};
use crate::summarize::cite::{self, Cited, Draft, Judge, Statement};
use crate::summarize::overview::{self, InMemory, OverviewPick, OverviewSettings};

/// The order the briefing shows: by day, undated last, then by id.
pub fn order_key(b: &ArticleBrief) -> (bool, Option<&str>, &str) {
    (b.date.is_none(), b.day(), &b.id)
}

/// The overview statements of `picks`, checked, with the articles they name found by
/// `record` (index in briefing order to its record).
fn checked_overview<'a>(
    picks: &[OverviewPick],
    record: &dyn Fn(usize) -> &'a ArticleRecord,
    judge: &Judge,
) -> Result<Vec<Statement>, PipelineError> {
    let candidate = |a: usize, c: usize| &record(a).candidates[c];
    // The English text of each candidate.
    let text = |a: usize, c: usize| -> &str {
        let id = &candidate(a, c).sentence;
        record(a)
            .brief
            .sentences
            .iter()
            .find(|s| &s.id == id)
            .map_or("", |s| s.translation.as_str())
    };
    let drafts: Vec<Draft> = picks
        .iter()
        .map(|p| Draft {
            text: text(p.article, p.sentence).to_string(),
            embedding: &candidate(p.article, p.sentence).embedding,
            cited: p
                .cites
                .iter()
                .map(|&(a, c)| Cited {
                    id: candidate(a, c).sentence.clone(),
                    text: text(a, c),
                    embedding: &candidate(a, c).embedding,
                })
                .collect(),
        })
        .collect();
    Ok(cite::check(&drafts, judge)?.0)
}

/// The briefing of `records`, all in memory.
pub fn briefing(
    mut records: Vec<ArticleRecord>,
    judge: &Judge,
    overview_settings: &OverviewSettings,
    models: Models,
    settings: Settings,
    generated_at: String,
) -> Result<Briefing, PipelineError> {
    records.sort_by(|a, b| order_key(&a.brief).cmp(&order_key(&b.brief)));
    let mut dim = None;
    let mut owner = Vec::new();
    let mut data = Vec::new();
    for (a, r) in records.iter().enumerate() {
        candidates::check_length(&mut dim, r)
            .map_err(|e| PipelineError::Run(format!("article {}: {e}", r.brief.id)))?;
        for (c, candidate) in r.candidates.iter().enumerate() {
            owner.push((a, c));
            data.extend_from_slice(&candidate.embedding);
        }
    }
    let rows = InMemory {
        dim: dim.unwrap_or(0),
        data: &data,
    };
    let picks = overview::overview(&owner, &rows, overview_settings)
        .expect("rows in memory are always read");
    let overview = checked_overview(&picks, &|a| &records[a], judge)?;
    Ok(Briefing {
        generated_at,
        models,
        settings,
        articles: records.into_iter().map(|r| r.brief).collect(),
        overview,
    })
}

/// An article as assembly keeps it between passes: what orders it, where its record is,
/// and where its candidates are in the scratch file.
struct Entry {
    undated: bool,
    day: Option<Box<str>>,
    id: Box<str>,
    file: usize,
    offset: u64,
    first_row: usize,
    rows: usize,
}

impl Entry {
    fn key(&self) -> (bool, Option<&str>, &str) {
        (self.undated, self.day.as_deref(), &self.id)
    }
}

/// Writes `briefing.json`, `briefing.md` and `briefing.html` into `out` from the records in
/// `files`; returns how many articles the briefing holds.
pub fn write_from_files(
    files: &[PathBuf],
    out: &Path,
    judge: &Judge,
    overview_settings: &OverviewSettings,
    models: Models,
    settings: Settings,
    generated_at: String,
) -> Result<usize, PipelineError> {
    // First pass: what sorting needs, where each record is, and the candidates.
    let scratch = |e| PipelineError::io(out, e);
    std::fs::create_dir_all(out).map_err(scratch)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut embeddings = CandidateWriter::new(out).map_err(scratch)?;
    let mut dim = None;
    for (f, path) in files.iter().enumerate() {
        for_each_record(path, |line, offset, record| {
            candidates::check_length(&mut dim, &record).map_err(|message| {
                PipelineError::Record {
                    path: path.clone(),
                    line,
                    message,
                }
            })?;
            let b = &record.brief;
            entries.push(Entry {
                undated: b.date.is_none(),
                day: b.day().map(Into::into),
                id: b.id.as_str().into(),
                file: f,
                offset,
                first_row: embeddings.push(&record).map_err(scratch)?,
                rows: record.candidates.len(),
            });
            Ok(())
        })?;
    }
    refuse_duplicates(&entries, files)?;
    entries.sort_by(|a, b| a.key().cmp(&b.key()));

    // The overview, from the candidates in briefing order.
    let rows = embeddings
        .finish()
        .and_then(|f| f.reordered(out, entries.iter().map(|e| (e.first_row, e.rows))))
        .map_err(scratch)?;
    let owner: Vec<(usize, usize)> = entries
        .iter()
        .enumerate()
        .flat_map(|(a, e)| (0..e.rows).map(move |c| (a, c)))
        .collect();
    let picks = overview::overview(&owner, &rows, overview_settings).map_err(scratch)?;
    drop((owner, rows));
    let mut records = Records::open(files)?;
    let named: BTreeSet<usize> = picks
        .iter()
        .flat_map(|p| p.cites.iter().map(|&(a, _)| a))
        .collect();
    let mut named_records = HashMap::new();
    for a in named {
        named_records.insert(a, lighten(records.read(&entries[a])?));
    }
    let overview = checked_overview(&picks, &|a| &named_records[&a], judge)?;
    let cites: HashSet<&String> = overview.iter().flat_map(|s| &s.citations).collect();
    let cited: HashMap<String, SentenceOut> = named_records
        .into_values()
        .flat_map(|r| r.brief.sentences)
        .filter(|s| cites.contains(&s.id))
        .map(|s| (s.id.clone(), s))
        .collect();
    drop(cites);

    // Second pass: the files, article by article in order.
    let shell = Briefing {
        generated_at,
        models,
        settings,
        articles: Vec::new(),
        overview,
    };
    let days = entries.iter().filter_map(|e| e.day.as_deref());
    let head = Head {
        shell: &shell,
        articles: entries.len(),
        range: days
            .clone()
            .min()
            .zip(days.max())
            .map(|(from, to)| (from.to_string(), to.to_string())),
        cited: &cited,
    };
    let mut writer = brief::Writer::create(out, &head, entries.iter().map(|e| &*e.id))?;
    for e in &entries {
        writer.article(&records.read(e)?.brief)?;
    }
    writer.finish()?;
    Ok(entries.len())
}

/// An error when two records have one id.
fn refuse_duplicates(entries: &[Entry], files: &[PathBuf]) -> Result<(), PipelineError> {
    let mut by_id: Vec<usize> = (0..entries.len()).collect();
    by_id.sort_by(|&a, &b| entries[a].id.cmp(&entries[b].id).then(a.cmp(&b)));
    match by_id
        .windows(2)
        .find(|w| entries[w[0]].id == entries[w[1]].id)
    {
        Some(w) => Err(PipelineError::Duplicate {
            id: entries[w[0]].id.to_string(),
            first: files[entries[w[0]].file].clone(),
            second: files[entries[w[1]].file].clone(),
        }),
        None => Ok(()),
    }
}

/// The record files, read a record at a time wherever it is.
struct Records<'a> {
    paths: &'a [PathBuf],
    readers: Vec<BufReader<File>>,
    line: String,
}

impl<'a> Records<'a> {
    fn open(paths: &'a [PathBuf]) -> Result<Self, PipelineError> {
        let readers = paths
            .iter()
            .map(|p| {
                File::open(p)
                    .map(BufReader::new)
                    .map_err(|e| PipelineError::io(p, e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            paths,
            readers,
            line: String::new(),
        })
    }

    fn read(&mut self, e: &Entry) -> Result<ArticleRecord, PipelineError> {
        let path = &self.paths[e.file];
        let reader = &mut self.readers[e.file];
        self.line.clear();
        reader
            .seek(SeekFrom::Start(e.offset))
            .and_then(|_| reader.read_line(&mut self.line))
            .map_err(|err| PipelineError::io(path, err))?;
        serde_json::from_str(&self.line).map_err(|err| {
            PipelineError::Run(format!(
                "{}: the record of {} changed while the briefing was assembled: {err}",
                path.display(),
                e.id
            ))
        })
    }
}

/// Calls `each` with every record of an `articles.jsonl` file, its line number and the
/// offset its line starts at. A line that is not a record is an error naming the file and
/// the line.
pub fn for_each_record(
    path: &Path,
    mut each: impl FnMut(usize, u64, ArticleRecord) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let mut reader = BufReader::new(File::open(path).map_err(|e| PipelineError::io(path, e))?);
    let mut line = String::new();
    let mut offset = 0u64;
    for number in 1.. {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| PipelineError::io(path, e))?;
        if n == 0 {
            break;
        }
        if !line.trim().is_empty() {
            let record = serde_json::from_str::<ArticleRecord>(&line).map_err(|e| {
                PipelineError::Record {
                    path: path.to_path_buf(),
                    line: number,
                    message: if line.ends_with('\n') {
                        e.to_string()
                    } else {
                        "the last line is cut short: the run that wrote it was interrupted \
                         (run the same command again to finish it)"
                            .to_string()
                    },
                }
            })?;
            each(number, offset, record)?;
        }
        offset += n as u64;
    }
    Ok(())
}

/// The record with only the sentences the overview uses: its candidates.
fn lighten(mut r: ArticleRecord) -> ArticleRecord {
    let keep: HashSet<&str> = r.candidates.iter().map(|c| c.sentence.as_str()).collect();
    let sentences = std::mem::take(&mut r.brief.sentences)
        .into_iter()
        .filter(|s| keep.contains(s.id.as_str()))
        .collect();
    r.brief.sentences = sentences;
    r
}

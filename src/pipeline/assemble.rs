//! The last stage: finished article records (from one run's `articles.jsonl`, or from many
//! shards') become the briefing. Articles are put in briefing order, the overview is
//! chosen from their candidate sentences and checked, and the files are written.
//!
//! Nothing grows with the articles' text. A first pass over the records keeps, per
//! article, only what sorting needs (its id and day) and where its line starts, and
//! appends its candidates' embeddings to a scratch file, which the overview reads a block
//! at a time. A second pass reads the records again one at a time, in briefing order,
//! and writes each into the three files as it comes.
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::candidates::{self, CandidateWriter};
use super::record::ArticleRecord;
use super::PipelineError;
use crate::brief::{self, ArticleBrief, Briefing, Head, Models, Settings};
use crate::summarize::cite::{self, Cited, Draft, Judge, Statement};
use crate::summarize::overview::{self, InMemory, OverviewPick, OverviewSettings};
use crate::text::SentenceId;

/// The order the briefing shows: by day, undated last, then by id.
pub fn order_key(b: &ArticleBrief) -> (bool, Option<&str>, &str) {
    (b.date.is_none(), b.day(), &b.id)
}

/// Citations checked at once: a fact can be reported by every article of a run, so they
/// are checked a batch at a time, with only the batch's records in memory.
const CHECK_BATCH: usize = 256;

/// The overview statements of `picks`, checked, and for each the candidates (article
/// index in briefing order, candidate index) its citations are. `load` reads an article's
/// record.
#[allow(clippy::type_complexity)]
fn checked_overview(
    picks: &[OverviewPick],
    load: &mut dyn FnMut(usize) -> Result<ArticleRecord, PipelineError>,
    judge: &Judge,
) -> Result<(Vec<Statement>, Vec<Vec<(usize, usize)>>), PipelineError> {
    let mut statements = Vec::new();
    let mut sources = Vec::new();
    for p in picks {
        let own = load(p.article)?;
        let (text, embedding) = candidate(&own, p.sentence);
        let mut statement = Statement {
            text: text.to_string(),
            citations: Vec::new(),
            support: Vec::new(),
            judged: Vec::new(),
            flags: flags_of(&own, p.sentence).to_vec(),
        };
        let mut cited = Vec::new();
        for batch in p.cites.chunks(CHECK_BATCH) {
            let mut records = HashMap::new();
            for &(a, _) in batch {
                if let std::collections::hash_map::Entry::Vacant(e) = records.entry(a) {
                    e.insert(lighten(load(a)?));
                }
            }
            let draft = Draft {
                text: statement.text.clone(),
                embedding,
                cited: batch
                    .iter()
                    .map(|&(a, c)| {
                        let (text, embedding) = candidate(&records[&a], c);
                        Cited {
                            id: records[&a].candidates[c].sentence.clone(),
                            text,
                            embedding,
                        }
                    })
                    .collect(),
            };
            let Some(checked) = cite::check(&[draft], judge)?.0.pop() else {
                continue;
            };
            // The citations kept, in order, and the candidates they are.
            let mut batch = batch.iter();
            for id in &checked.citations {
                let found = batch.find(|&&(a, c)| &records[&a].candidates[c].sentence == id);
                if let Some(&(a, c)) = found {
                    statement.flags.extend_from_slice(flags_of(&records[&a], c));
                }
                cited.extend(found.copied());
            }
            statement.citations.extend(checked.citations);
            statement.support.extend(checked.support);
            statement.judged.extend(checked.judged);
        }
        if !statement.citations.is_empty() {
            statement.flags.sort();
            statement.flags.dedup();
            statements.push(statement);
            sources.push(cited);
        }
    }
    Ok((statements, sources))
}

/// What is wrong with a candidate's translation.
fn flags_of(r: &ArticleRecord, c: usize) -> &[crate::translate::Flag] {
    r.brief
        .sentence(&r.candidates[c].sentence)
        .map_or(&[], |s| s.flags.as_slice())
}

/// A candidate's English text and embedding.
fn candidate(r: &ArticleRecord, c: usize) -> (&str, &[f32]) {
    let candidate = &r.candidates[c];
    let text = r
        .brief
        .sentence(&candidate.sentence)
        .map_or("", |s| s.translation.as_str());
    (text, &candidate.embedding)
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
    let (overview, _) = checked_overview(&picks, &mut |a| Ok(records[a].clone()), judge)?;
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
            let (undated, day, id) = order_key(&record.brief);
            entries.push(Entry {
                undated,
                day: day.map(Into::into),
                id: id.into(),
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
    let (overview, sources) = checked_overview(&picks, &mut |a| records.read(&entries[a]), judge)?;
    drop(picks);

    // Second pass: the files, article by article in order.
    let shell = Briefing {
        generated_at,
        models,
        settings,
        articles: Vec::new(),
        overview,
    };
    let head = Head {
        shell: &shell,
        articles: entries.len(),
        range: brief::day_range(entries.iter().filter_map(|e| e.day.as_deref())),
    };
    let mut writer = brief::Writer::create(out, &head, entries.iter().map(|e| &*e.id))?;
    // The sentences the overview cites, each once, in order of first citation.
    let mut seen = HashSet::new();
    for &(a, c) in sources.iter().flatten() {
        if seen.insert((a, c)) {
            let record = records.read(&entries[a])?;
            if let Some(s) = record.brief.sentence(&record.candidates[c].sentence) {
                writer.overview_source(s)?;
            }
        }
    }
    drop((seen, sources));
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
        let changed = |why: String| {
            PipelineError::Run(format!(
                "{}: the record of {} changed while the briefing was assembled ({why}); \
                 run the command again",
                path.display(),
                e.id
            ))
        };
        let record: ArticleRecord =
            serde_json::from_str(&self.line).map_err(|err| changed(err.to_string()))?;
        if *record.brief.id != *e.id || record.candidates.len() != e.rows {
            return Err(changed(format!("found {} there", record.brief.id)));
        }
        Ok(record)
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
    let keep: HashSet<&SentenceId> = r.candidates.iter().map(|c| &c.sentence).collect();
    let sentences = std::mem::take(&mut r.brief.sentences)
        .into_iter()
        .filter(|s| keep.contains(&s.id))
        .collect();
    r.brief.sentences = sentences;
    r
}

//! The last stage: finished article records (from one run's `articles.jsonl`, or from many
//! shards') become the briefing. Articles are put in briefing order, the overview is
//! chosen from their candidate sentences and checked, and the files are written.
//!
//! Records are read twice rather than held: the first pass keeps each article's summary,
//! cited sentences and candidates (a few kilobytes) and where its line starts; the second
//! streams `briefing.json` article by article in order. The Markdown and HTML pages show
//! only summaries and cited sentences, so they are rendered from what the first pass kept.
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::record::ArticleRecord;
use super::PipelineError;
use crate::brief::{self, ArticleBrief, Briefing, Models, Settings};
use crate::summarize::cite::{self, Cited, Draft, Judge, Statement};
use crate::summarize::overview::{self, ArticleSentences, OverviewSettings};

/// The order the briefing shows: by day, undated last, then by id.
pub fn order_key(b: &ArticleBrief) -> (bool, Option<&str>, &str) {
    (b.date.is_none(), b.day(), &b.id)
}

/// The checked overview of `records`, which are in briefing order.
pub fn overview(
    records: &[ArticleRecord],
    judge: &Judge,
    settings: &OverviewSettings,
) -> Result<Vec<Statement>, PipelineError> {
    let parts: Vec<ArticleSentences> = records
        .iter()
        .map(|r| ArticleSentences {
            embeddings: r
                .candidates
                .iter()
                .map(|c| c.embedding.as_slice())
                .collect(),
        })
        .collect();
    let picks = overview::overview(&parts, settings);
    drop(parts);
    let embedding = |a: usize, c: usize| records[a].candidates[c].embedding.as_slice();
    // The English text of each candidate.
    let text = |a: usize, c: usize| -> &str {
        let id = &records[a].candidates[c].sentence;
        records[a]
            .brief
            .sentences
            .iter()
            .find(|s| &s.id == id)
            .map_or("", |s| s.translation.as_str())
    };
    let cited = |a: usize, c: usize| Cited {
        id: records[a].candidates[c].sentence.clone(),
        text: text(a, c),
        embedding: embedding(a, c),
    };
    let drafts: Vec<Draft> = picks
        .iter()
        .map(|p| Draft {
            text: text(p.article, p.sentence).to_string(),
            embedding: embedding(p.article, p.sentence),
            cited: p.cites.iter().map(|&(a, c)| cited(a, c)).collect(),
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
    let overview = overview(&records, judge, overview_settings)?;
    Ok(Briefing {
        generated_at,
        models,
        settings,
        articles: records.into_iter().map(|r| r.brief).collect(),
        overview,
    })
}

/// Where a record's line starts.
struct Place {
    file: usize,
    offset: u64,
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
    // First pass: what the overview and the pages need, and where each record is.
    let mut light: Vec<ArticleRecord> = Vec::new();
    let mut places: Vec<Place> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (f, path) in files.iter().enumerate() {
        for_each_record(path, |offset, record| {
            if let Some(&first) = seen.get(&record.brief.id) {
                return Err(PipelineError::Duplicate {
                    id: record.brief.id.clone(),
                    first: files[first].clone(),
                    second: path.clone(),
                });
            }
            seen.insert(record.brief.id.clone(), f);
            places.push(Place { file: f, offset });
            light.push(lighten(record));
            Ok(())
        })?;
    }
    drop(seen);
    let mut order: Vec<usize> = (0..light.len()).collect();
    order.sort_by(|&a, &b| order_key(&light[a].brief).cmp(&order_key(&light[b].brief)));
    let mut slots: Vec<Option<ArticleRecord>> = light.into_iter().map(Some).collect();
    let light: Vec<ArticleRecord> = order.iter().filter_map(|&i| slots[i].take()).collect();
    let places: Vec<Place> = {
        let mut p: Vec<Option<Place>> = places.into_iter().map(Some).collect();
        order.iter().filter_map(|&i| p[i].take()).collect()
    };
    let overview = overview(&light, judge, overview_settings)?;
    let shell = Briefing {
        generated_at,
        models,
        settings,
        articles: Vec::new(),
        overview,
    };

    // Second pass: briefing.json, article by article in order.
    let mut readers: Vec<BufReader<File>> = files
        .iter()
        .map(|p| {
            File::open(p)
                .map(BufReader::new)
                .map_err(|e| PipelineError::io(p, e))
        })
        .collect::<Result<_, _>>()?;
    let mut articles = places.iter().map(|p| {
        let reader = &mut readers[p.file];
        reader.seek(SeekFrom::Start(p.offset))?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        serde_json::from_str::<ArticleRecord>(&line)
            .map(|r| r.brief)
            .map_err(std::io::Error::other)
    });
    crate::output::write_atomic_with(&out.join("briefing.json"), |w| {
        brief::write_json(w, &shell, &mut articles)
    })?;
    let n = places.len();
    let pages = Briefing {
        articles: light.into_iter().map(|r| r.brief).collect(),
        ..shell
    };
    brief::write_pages(out, &pages)?;
    Ok(n)
}

/// Calls `each` with every record of an `articles.jsonl` file and the offset its line starts
/// at. A line that is not a record is an error naming the file and the line.
pub fn for_each_record(
    path: &Path,
    mut each: impl FnMut(u64, ArticleRecord) -> Result<(), PipelineError>,
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
            each(offset, record)?;
        }
        offset += n as u64;
    }
    Ok(())
}

/// The record with only the sentences the pages and the overview use: those its summary
/// cites and its candidates.
fn lighten(mut r: ArticleRecord) -> ArticleRecord {
    let keep: HashSet<&str> = r
        .brief
        .summary
        .iter()
        .flat_map(|s| s.citations.iter().map(String::as_str))
        .chain(r.candidates.iter().map(|c| c.sentence.as_str()))
        .collect();
    let sentences = std::mem::take(&mut r.brief.sentences)
        .into_iter()
        .filter(|s| keep.contains(s.id.as_str()))
        .collect();
    r.brief.sentences = sentences;
    r
}

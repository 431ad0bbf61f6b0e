//! The per-article stage: a window of articles is translated together (sentences and
//! titles of all of them in length-sorted batches, each distinct segment once, the cache
//! first), then each article on its own is embedded, summarised and checked, giving one
//! [`ArticleRecord`] per article.
//!
//! Everything after translation looks at one article only, and its embeddings are computed
//! from that article alone, so a record does not depend on which other articles shared
//! its window, its run or its shard.
use std::collections::HashMap;

use super::cache::Cached;
use super::record::{ArticleRecord, Candidate};
use super::{BriefSettings, Engines, PipelineError};
use crate::brief::{self, ArticleBrief, SentenceOut};
use crate::summarize::abstractive::{self, SummaryWriter, Written};
use crate::summarize::cite::{self, Cited, Draft, Judge, Statement};
use crate::summarize::extractive;
use crate::summarize::features::SentenceView;
use crate::summarize::standalone;
use crate::text::Article;
use crate::translate::{Source, Translator};

/// What a window cost: segments sent to the model and tokens it generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub segments: usize,
    pub translated: usize,
    pub tokens: usize,
    /// Sentences whose translation is flagged.
    pub flagged: usize,
}

/// What an article gives the translator: its sentences, then its title.
pub fn segments(a: &Article) -> impl Iterator<Item = &str> {
    a.sentences()
        .map(|s| s.text.as_str())
        .chain(a.title.as_deref())
}

/// Briefs a window of articles. `encoded` may hold segments made ready for the translator
/// already (by the batch runner's reader, while the model worked on the window before);
/// those it lacks are encoded here. The outer error stops the run (the cache failed); an
/// inner one is that article's alone.
#[allow(clippy::type_complexity)]
pub fn brief_window(
    articles: &[Article],
    engines: &mut Engines,
    settings: &BriefSettings,
    encoded: &mut HashMap<String, Source>,
) -> Result<(Vec<Result<ArticleRecord, PipelineError>>, WindowCounts), PipelineError> {
    let mut counts = WindowCounts::default();
    let segments: Vec<Vec<&str>> = articles.iter().map(|a| segments(a).collect()).collect();
    // All the window's segments at once; if the model fails on the batch, article by
    // article, so one article the model cannot take fails alone.
    let all: Vec<&str> = segments.concat();
    counts.segments = all.len();
    let translated: Vec<Result<Vec<Cached>, PipelineError>> = match engines.translator {
        None => segments
            .iter()
            .map(|s| {
                Ok(s.iter()
                    .map(|s| Cached {
                        translation: s.to_string(),
                        score: 0.0,
                        flags: Vec::new(),
                    })
                    .collect())
            })
            .collect(),
        Some(t) => match translate(t, engines.cache.as_deref_mut(), &all, encoded, &mut counts) {
            Ok(done) => {
                let mut done = done.into_iter();
                segments
                    .iter()
                    .map(|s| Ok(done.by_ref().take(s.len()).collect()))
                    .collect()
            }
            Err(PipelineError::Cache(e)) => return Err(PipelineError::Cache(e)),
            Err(e) if articles.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!("a batch failed ({e}); translating its articles one by one");
                let mut out = Vec::new();
                for s in &segments {
                    match translate(t, engines.cache.as_deref_mut(), s, encoded, &mut counts) {
                        Err(PipelineError::Cache(e)) => return Err(PipelineError::Cache(e)),
                        r => out.push(r),
                    }
                }
                out
            }
        },
    };
    // Each flagged sentence is reported with its article's source, as the translate
    // command reports a line.
    for (a, t) in articles.iter().zip(&translated) {
        let Ok(t) = t else { continue };
        for (s, tr) in a.sentences().zip(t).filter(|(_, tr)| !tr.flags.is_empty()) {
            counts.flagged += 1;
            tracing::warn!(
                "{}: sentence {}: translation flagged: {}",
                a.source,
                s.id,
                crate::translate::quality::describe(&tr.flags)
            );
        }
        // The title's translation follows the sentences'.
        let title = a.title.as_ref().and_then(|_| t.get(a.sentences().count()));
        if let Some(tr) = title.filter(|tr| !tr.flags.is_empty()) {
            tracing::warn!(
                "{}: title: translation flagged: {}",
                a.source,
                crate::translate::quality::describe(&tr.flags)
            );
        }
    }
    let judge = super::judge(engines.nli, settings);
    let mut records = Vec::with_capacity(articles.len());
    for (a, t) in articles.iter().zip(translated) {
        records.push(t.and_then(|t| brief_article(a, t, engines, &judge, settings)));
    }
    Ok((records, counts))
}

/// One translated article: embedded, summarised (by the LLM when there is one, filled up
/// from the extractive summary), and every citation checked.
fn brief_article(
    a: &Article,
    translated: Vec<Cached>,
    engines: &mut Engines,
    judge: &Judge,
    settings: &BriefSettings,
) -> Result<ArticleRecord, PipelineError> {
    let mut translated = translated.into_iter();
    let sentences: Vec<SentenceOut> = a
        .sentences()
        .map(|s| {
            let t = translated.next();
            SentenceOut {
                id: s.id.clone(),
                text: s.text.clone(),
                translation: t
                    .as_ref()
                    .map(|t| t.translation.clone())
                    .unwrap_or_default(),
                score: t.as_ref().map_or(0.0, |t| t.score),
                flags: t.map(|t| t.flags).unwrap_or_default(),
            }
        })
        .collect();
    let title_en = a
        .title
        .as_ref()
        .map(|_| translated.next().map(|t| t.translation).unwrap_or_default());
    let english: Vec<&str> = sentences.iter().map(|s| s.translation.as_str()).collect();
    // The title is embedded with the sentences, in one call, for the scorer.
    let title_text = title_en.as_deref().filter(|t| !t.trim().is_empty());
    let mut embeddings = engines.embedder.embed(
        &english
            .iter()
            .copied()
            .chain(title_text)
            .collect::<Vec<_>>(),
    )?;
    let title_embedding = title_text.and_then(|_| embeddings.pop());
    let cite_of = |i: usize| Cited {
        id: sentences[i].id.clone(),
        text: english[i],
        embedding: &embeddings[i],
    };

    let flagged: Vec<bool> = sentences.iter().map(|s| !s.flags.is_empty()).collect();
    let views = SentenceView::list(a.places(), &english, &embeddings);
    let chosen = extractive::select_preferring(
        &views,
        title_embedding.as_deref(),
        &flagged,
        &settings.extractive,
    );
    let extractive_drafts: Vec<Draft> = chosen
        .iter()
        .map(|&i| Draft {
            text: english[i].to_string(),
            embedding: &embeddings[i],
            cited: vec![cite_of(i)],
        })
        .collect();
    let written = match engines.writer.as_deref_mut() {
        Some(w) if !english.is_empty() => llm_summary(w, &a.id, &english, settings),
        _ => None,
    };
    let written_emb: Vec<Vec<f32>> = match &written {
        Some(w) => {
            let t: Vec<&str> = w.iter().map(|x| x.text.as_str()).collect();
            engines.embedder.embed(&t)?
        }
        None => Vec::new(),
    };
    let mut drafts: Vec<Draft> = Vec::new();
    if let Some(w) = &written {
        let llm_drafts: Vec<Draft> = w
            .iter()
            .zip(&written_emb)
            .map(|(x, e)| Draft {
                text: x.text.clone(),
                embedding: e,
                cited: x.cites.iter().map(|&i| cite_of(i)).collect(),
            })
            .collect();
        // Keep the supported sentences, each with only its supporting citations.
        drafts = supported(llm_drafts, judge)?.1;
        if drafts.is_empty() {
            tracing::warn!(
                "{}: no sentence the LLM wrote is cited and supported; using the extractive summary",
                a.id
            );
        }
    }
    // Fill up (or make up) the summary from the extractive one.
    for d in extractive_drafts {
        if drafts.len() >= settings.extractive.sentences {
            break;
        }
        let id = &d.cited[0].id;
        if !drafts.iter().any(|x| x.cited.iter().any(|c| &c.id == id)) {
            drafts.push(d);
        }
    }
    let (mut summary, kept) = supported(drafts, judge)?;
    // An article without a summary is a failure to report, never a silent gap.
    if summary.is_empty() {
        let reason = if english.iter().all(|e| e.trim().is_empty()) {
            "none of its sentences has an English translation"
        } else {
            "no sentence could be chosen and cited"
        };
        return Err(PipelineError::NoSummary(reason.into()));
    }
    // A statement's flags are its cited sentences'.
    for (s, d) in summary.iter_mut().zip(&kept) {
        s.flags = d
            .cited
            .iter()
            .filter_map(|c| brief::sentence_in(&sentences, &c.id))
            .flat_map(|x| x.flags.iter().copied())
            .collect();
        s.flags.sort();
        s.flags.dedup();
    }
    // Quality of what the briefing shows: the kept statements with their kept citations.
    let citation_quality = cite::quality(&kept, judge)?;
    // The overview's candidates: the chosen sentences that stand alone out of the
    // article, or the nearby ones that say who said them.
    let mut stand_ins: Vec<usize> = chosen
        .iter()
        .filter_map(|&i| standalone::stand_in(&english, &embeddings, i))
        .collect();
    stand_ins.sort_unstable();
    stand_ins.dedup();
    let candidates = stand_ins
        .into_iter()
        .map(|i| Candidate {
            sentence: sentences[i].id.clone(),
            embedding: embeddings[i].clone(),
        })
        .collect();
    Ok(ArticleRecord {
        brief: ArticleBrief {
            id: a.id.clone(),
            source: a.source.clone(),
            title: a.title.clone(),
            title_en,
            date: a.date.clone(),
            outlet: a.outlet.clone(),
            sentences,
            summary,
            citation_quality,
        },
        candidates,
    })
}

/// The statements the check keeps, and their drafts, each with only the citations that
/// support it.
fn supported<'a>(
    drafts: Vec<Draft<'a>>,
    judge: &Judge,
) -> Result<(Vec<Statement>, Vec<Draft<'a>>), PipelineError> {
    let (kept, dropped) = cite::check(&drafts, judge)?;
    let drafts = drafts
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, d)| d)
        .zip(&kept)
        .map(|(mut d, k)| {
            d.cited.retain(|c| k.citations.contains(&c.id));
            d
        })
        .collect();
    Ok((kept, drafts))
}

/// Translates `segments`: each distinct one once, and only those the cache lacks. A cache
/// that cannot be written is a warning: the run goes on without caching this window.
fn translate(
    translator: &Translator,
    cache: Option<&mut super::cache::TranslationCache>,
    segments: &[&str],
    encoded: &mut HashMap<String, Source>,
    counts: &mut WindowCounts,
) -> Result<Vec<Cached>, PipelineError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<&str> = Vec::new();
    for s in segments {
        index.entry(s).or_insert_with(|| {
            unique.push(s);
            unique.len() - 1
        });
    }
    let mut cache = cache;
    let mut found: Vec<Option<Cached>> = match cache.as_deref_mut() {
        Some(c) => c.get(&unique)?,
        None => vec![None; unique.len()],
    };
    // The low-score flag follows this run's threshold.
    for c in found.iter_mut().flatten() {
        if crate::translate::quality::is_low(c.score, translator.min_score()) {
            c.flags.push(crate::translate::Flag::LowScore);
            c.flags.sort();
        }
    }
    let missing: Vec<usize> = (0..unique.len()).filter(|&i| found[i].is_none()).collect();
    let texts: Vec<&str> = missing.iter().map(|&i| unique[i]).collect();
    tracing::debug!(
        "translating {} distinct segments of {} ({} from the cache)",
        texts.len(),
        segments.len(),
        unique.len() - texts.len()
    );
    let encoder = translator.encoder();
    let sources = texts
        .iter()
        .map(|s| encoded.remove(*s).unwrap_or_else(|| encoder.encode(s)))
        .collect();
    let fresh = translator.translate_sources(sources)?;
    counts.translated += texts.len();
    counts.tokens += fresh.iter().map(|t| t.tokens).sum::<usize>();
    let fresh: Vec<Cached> = fresh
        .into_iter()
        .map(|t| Cached {
            translation: t.text,
            score: t.score,
            flags: t.flags,
        })
        .collect();
    if let Some(c) = cache {
        let entries: Vec<(&str, &Cached)> = texts.iter().copied().zip(&fresh).collect();
        if let Err(e) = c.put(&entries) {
            tracing::warn!(
                "{e}; going on without caching these {} translations",
                entries.len()
            );
        }
    }
    for (i, t) in missing.into_iter().zip(fresh) {
        found[i] = Some(t);
    }
    Ok(segments
        .iter()
        .map(|s| found[index[s]].clone().unwrap_or_default())
        .collect())
}

/// The LLM's summary of one article, as sentences with the indices they cite; None (with a
/// warning) when the model fails or writes nothing readable.
fn llm_summary(
    writer: &mut dyn SummaryWriter,
    id: &str,
    english: &[&str],
    settings: &BriefSettings,
) -> Option<Vec<Written>> {
    let n = settings.extractive.sentences;
    let reply = match writer.write(
        &abstractive::messages(english, n),
        settings.llm_max_new_tokens,
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("{id}: the LLM failed ({e}); using the extractive summary");
            return None;
        }
    };
    let mut written = abstractive::parse(&reply, english.len());
    written.truncate(n);
    if written.is_empty() {
        tracing::warn!("{id}: the LLM wrote nothing readable; using the extractive summary");
        return None;
    }
    Some(written)
}

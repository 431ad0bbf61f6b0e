//! The pipeline runner: the one place that knows the order of the stages. Ingested
//! articles are translated (sentences and titles, batched across articles), embedded,
//! summarised, checked, and gathered into a [`Briefing`].
//!
//! Translations go through the translation cache (`cache`) when there is one, and each
//! distinct sentence is translated once per run. This runner holds a run's articles in
//! memory; streaming, resuming and sharding come with the batch-run work.
pub mod cache;

use std::collections::HashMap;

use crate::brief::{ArticleBrief, Briefing, Models, SentenceOut, Settings};
use crate::summarize::abstractive::{self, SummaryWriter, Written};
use crate::summarize::cite::{self, Cited, Draft, Judge};
use crate::summarize::embed::{EmbedError, Embedder};
use crate::summarize::extractive::{self, ExtractiveSettings};
use crate::summarize::nli::{Nli, NliError};
use crate::summarize::overview::{self, ArticleSentences, OverviewSettings};
use crate::text::Article;
use crate::translate::{TranslateError, Translator};
use cache::{CacheError, TranslationCache};

/// Why a briefing could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Translate(Box<TranslateError>),
    #[error(transparent)]
    Embed(Box<EmbedError>),
    #[error(transparent)]
    Nli(Box<NliError>),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl From<NliError> for PipelineError {
    fn from(e: NliError) -> Self {
        Self::Nli(Box::new(e))
    }
}

impl From<TranslateError> for PipelineError {
    fn from(e: TranslateError) -> Self {
        Self::Translate(Box::new(e))
    }
}

impl From<EmbedError> for PipelineError {
    fn from(e: EmbedError) -> Self {
        Self::Embed(Box::new(e))
    }
}

/// What shapes a briefing.
#[derive(Debug, Clone, PartialEq)]
pub struct BriefSettings {
    pub extractive: ExtractiveSettings,
    pub overview: OverviewSettings,
    pub support_threshold: f32,
    /// Entailment probability needed when an NLI model judges support.
    pub nli_threshold: f32,
    /// Most tokens the LLM may write per article.
    pub llm_max_new_tokens: usize,
}

impl Default for BriefSettings {
    fn default() -> Self {
        Self {
            extractive: ExtractiveSettings::default(),
            overview: OverviewSettings::default(),
            support_threshold: cite::DEFAULT_THRESHOLD,
            nli_threshold: cite::DEFAULT_NLI_THRESHOLD,
            llm_max_new_tokens: 256,
        }
    }
}

/// The models a briefing runs on.
pub struct Engines<'a> {
    /// None when the articles are English already (their translation is their text).
    pub translator: Option<&'a Translator>,
    pub embedder: &'a Embedder,
    /// The LLM that writes summaries; None for extractive summaries.
    pub writer: Option<&'a mut dyn SummaryWriter>,
    /// An NLI cross-encoder for the citation check; None to judge by embeddings.
    pub nli: Option<&'a Nli>,
    /// The translation cache; None to translate everything.
    pub cache: Option<&'a mut TranslationCache>,
}

/// Makes the briefing of `articles`: translated (unless English already), summarised
/// (by the LLM when there is one, else extractively), every citation checked.
pub fn brief(
    mut articles: Vec<Article>,
    engines: Engines,
    models: Models,
    settings: &BriefSettings,
    generated_at: String,
) -> Result<Briefing, PipelineError> {
    let Engines {
        translator,
        embedder,
        writer,
        nli,
        cache,
    } = engines;
    let judge = match nli {
        Some(model) => Judge::Nli {
            model,
            threshold: settings.nli_threshold,
        },
        None => Judge::Embedding {
            threshold: settings.support_threshold,
        },
    };
    // By date, undated last, then by id: the order the briefing shows.
    articles.sort_by(|a, b| {
        (
            a.date.is_none(),
            a.date.as_deref().and_then(|d| d.get(..10)),
            &a.id,
        )
            .cmp(&(
                b.date.is_none(),
                b.date.as_deref().and_then(|d| d.get(..10)),
                &b.id,
            ))
    });

    // Every sentence and title of every article, translated in one batched call.
    let mut segments: Vec<&str> = Vec::new();
    for a in &articles {
        segments.extend(a.sentences().map(|s| s.text.as_str()));
        segments.extend(a.title.as_deref());
    }
    let translated: Vec<(String, f32)> = match translator {
        Some(t) => translate(t, cache, &segments)?,
        None => segments.iter().map(|s| (s.to_string(), 0.0)).collect(),
    };
    let mut next = translated.into_iter();
    let mut briefs: Vec<ArticleBrief> = Vec::new();
    for a in &articles {
        let sentences: Vec<SentenceOut> = a
            .sentences()
            .map(|s| {
                let (translation, score) = next.next().unwrap_or_default();
                SentenceOut {
                    id: s.id.clone(),
                    text: s.text.clone(),
                    translation,
                    score,
                }
            })
            .collect();
        let title_en = a.title.as_ref().map(|_| next.next().unwrap_or_default().0);
        briefs.push(ArticleBrief {
            id: a.id.clone(),
            source: a.source.clone(),
            title: a.title.clone(),
            title_en,
            date: a.date.clone(),
            outlet: a.outlet.clone(),
            sentences,
            summary: Vec::new(),
            citation_quality: cite::CitationQuality {
                precision: 1.0,
                recall: 1.0,
            },
        });
    }

    // Embeddings of every English sentence, in one batched call.
    let english: Vec<&str> = briefs
        .iter()
        .flat_map(|b| b.sentences.iter().map(|s| s.translation.as_str()))
        .collect();
    tracing::info!("embedding {} sentences", english.len());
    let flat = embedder.embed(&english)?;
    let mut embeddings: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut at = 0;
    for b in &briefs {
        embeddings.push(flat[at..at + b.sentences.len()].to_vec());
        at += b.sentences.len();
    }

    // Per article: the extractive summary (each sentence citing its source), or the LLM's
    // with what fails the check replaced from it; then checked.
    let english: Vec<Vec<String>> = briefs
        .iter()
        .map(|b| b.sentences.iter().map(|s| s.translation.clone()).collect())
        .collect();
    let cite_of = |a: usize, i: usize| Cited {
        id: briefs[a].sentences[i].id.clone(),
        text: &english[a][i],
        embedding: &embeddings[a][i],
    };
    let mut picks: Vec<Vec<usize>> = Vec::new();
    let mut summaries = Vec::new();
    let mut writer = writer;
    for (a, b) in briefs.iter().enumerate() {
        let emb = &embeddings[a];
        let texts: Vec<&str> = english[a].iter().map(String::as_str).collect();
        let chosen = extractive::select(&texts, emb, &settings.extractive);
        let extractive_drafts: Vec<Draft> = chosen
            .iter()
            .map(|&i| Draft {
                text: english[a][i].clone(),
                embedding: &emb[i],
                cited: vec![cite_of(a, i)],
            })
            .collect();
        let written = match writer.as_deref_mut() {
            Some(w) if !texts.is_empty() => llm_summary(w, b, &texts, settings)?,
            _ => None,
        };
        let written_emb: Vec<Vec<f32>> = match &written {
            Some(w) => {
                let t: Vec<&str> = w.iter().map(|x| x.text.as_str()).collect();
                embedder.embed(&t)?
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
                    cited: x.cites.iter().map(|&i| cite_of(a, i)).collect(),
                })
                .collect();
            // Keep the supported sentences, each with only its supporting citations.
            let (kept, dropped) = cite::check(&llm_drafts, &judge)?;
            let survivors = llm_drafts
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, d)| d);
            for (mut d, k) in survivors.zip(&kept) {
                d.cited.retain(|c| k.citations.contains(&c.id));
                drafts.push(d);
            }
            if drafts.is_empty() {
                tracing::warn!(
                    "{}: no sentence the LLM wrote is cited and supported; using the extractive summary",
                    b.id
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
        let (kept, dropped) = cite::check(&drafts, &judge)?;
        // Quality of what the briefing shows: the kept statements with their kept citations.
        let kept_drafts: Vec<Draft> = drafts
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
        summaries.push((kept, cite::quality(&kept_drafts, &judge)?));
        picks.push(chosen);
    }

    // The overview across articles, checked the same way.
    let parts: Vec<ArticleSentences> = embeddings
        .iter()
        .zip(&picks)
        .map(|(e, p)| ArticleSentences {
            embeddings: e,
            summary: p,
        })
        .collect();
    let chosen = overview::overview(&parts, &settings.overview);
    let drafts: Vec<Draft> = chosen
        .iter()
        .map(|o| Draft {
            text: english[o.article][o.sentence].clone(),
            embedding: &embeddings[o.article][o.sentence],
            cited: o.cites.iter().map(|&(a, s)| cite_of(a, s)).collect(),
        })
        .collect();
    let (overview, _) = cite::check(&drafts, &judge)?;
    drop(drafts);
    for (b, (summary, quality)) in briefs.iter_mut().zip(summaries) {
        b.summary = summary;
        b.citation_quality = quality;
    }

    Ok(Briefing {
        generated_at,
        models,
        settings: Settings {
            sentences: settings.extractive.sentences,
            max_words: settings.extractive.max_words,
            support_threshold: judge.threshold(),
            beams: translator.and_then(|t| t.generation().num_beams.map(|b| b as u32)),
        },
        articles: briefs,
        overview,
    })
}

/// Translates `segments`: each distinct one once, and only those the cache lacks.
fn translate(
    translator: &Translator,
    cache: Option<&mut TranslationCache>,
    segments: &[&str],
) -> Result<Vec<(String, f32)>, PipelineError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<&str> = Vec::new();
    for s in segments {
        index.entry(s).or_insert_with(|| {
            unique.push(s);
            unique.len() - 1
        });
    }
    let mut cache = cache;
    let mut found: Vec<Option<(String, f32)>> = match cache.as_deref_mut() {
        Some(c) => c.get(&unique)?,
        None => vec![None; unique.len()],
    };
    let missing: Vec<usize> = (0..unique.len()).filter(|&i| found[i].is_none()).collect();
    let texts: Vec<&str> = missing.iter().map(|&i| unique[i]).collect();
    tracing::info!(
        "translating {} distinct segments of {} ({} from the cache)",
        texts.len(),
        segments.len(),
        unique.len() - texts.len()
    );
    let fresh = translator.translate(&texts)?;
    if let Some(c) = cache {
        let entries: Vec<(&str, &str, f32)> = texts
            .iter()
            .zip(&fresh)
            .map(|(s, t)| (*s, t.text.as_str(), t.score))
            .collect();
        c.put(&entries)?;
        tracing::info!("translation cache: {} hits, {} misses", c.hits, c.misses);
    }
    for (i, t) in missing.into_iter().zip(fresh) {
        found[i] = Some((t.text, t.score));
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
    b: &ArticleBrief,
    english: &[&str],
    settings: &BriefSettings,
) -> Result<Option<Vec<Written>>, PipelineError> {
    let n = settings.extractive.sentences;
    let reply = match writer.write(
        &abstractive::messages(english, n),
        settings.llm_max_new_tokens,
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(
                "{}: the LLM failed ({e}); using the extractive summary",
                b.id
            );
            return Ok(None);
        }
    };
    let mut written = abstractive::parse(&reply, english.len());
    written.truncate(n);
    if written.is_empty() {
        tracing::warn!(
            "{}: the LLM wrote nothing readable; using the extractive summary",
            b.id
        );
        return Ok(None);
    }
    Ok(Some(written))
}

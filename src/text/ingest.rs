//! One scraped page in, one [`Article`] out: decode, read the HTML if it is HTML, drop the
//! boilerplate, keep one body, read the metadata, split sentences and give them ids.
//!
//! This is the ingest stage's entry point; [`super::source::Sources`] supplies the
//! documents and the caller makes ids unique. It never panics on input: whatever is wrong
//! comes back as an [`IngestError`] naming the source.
use super::article::{Article, Paragraph, Sentence};
use super::clean::{self, Dropped};
use super::source::{Document, Format};
use super::{dates, decode, html, meta, segment};

/// Why a document could not be ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("cannot read it: {0}")]
    Io(String),
    #[error("it is {size} bytes, over the limit of {limit} (raise the limit with --max-size)")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Decode(#[from] decode::DecodeError),
    #[error("not a valid JSONL record: {0}")]
    Json(String),
    #[error("no article text is left once the boilerplate is removed ({dropped} lines dropped; --explain shows why)")]
    NoText { dropped: usize },
}

/// A document that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input}: {reason}")]
pub struct IngestError {
    /// The path, `path:line` or `-` it came from.
    pub input: String,
    pub reason: Reason,
    /// The id the document would have had, where it is known without reading it (a file's
    /// stem), so a batch run claims the same ids whether or not it could be read.
    pub id: Option<String>,
}

impl IngestError {
    pub fn new(source: &str, reason: Reason) -> Self {
        Self {
            input: source.to_string(),
            reason,
            id: None,
        }
    }

    /// The same error, for the document that would have had the id `id`.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }
}

/// An ingested article with what ingest has to say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub article: Article,
    /// The lines that are not body text, with the rule that took each.
    pub dropped: Vec<Dropped>,
    /// Things a user should know (a legacy encoding, a given date that could not be read).
    pub warnings: Vec<String>,
}

/// Ingests `doc` under the article id `id`.
pub fn ingest(doc: &Document, id: &str) -> Result<Ingested, IngestError> {
    let fail = |reason| IngestError::new(&doc.source, reason);
    let decoded =
        decode::decode(&doc.bytes, doc.format == Format::Html).map_err(|e| fail(e.into()))?;
    let mut warnings = Vec::new();
    if let Some(enc) = decoded.legacy_encoding {
        warnings.push(format!(
            "{}: not UTF-8; read as {enc}, check the text for wrong characters",
            doc.source
        ));
    }
    let (lines, page) = match doc.format {
        Format::Html => {
            let page = html::extract(&decoded.text);
            (clean::lines(&page.lines.join("\n"), false), Some(page))
        }
        Format::Text => (clean::lines(&decoded.text, true), None),
    };
    let cleaned = clean::clean(&lines, page.as_ref().and_then(|p| p.title.as_deref()));
    if cleaned.paragraphs.is_empty() {
        return Err(fail(Reason::NoText {
            dropped: cleaned.dropped.len(),
        }));
    }

    // The body text, its paragraphs and sentences.
    let mut text = String::new();
    let mut paragraphs = Vec::new();
    let mut n = 0;
    for p in &cleaned.paragraphs {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let offset = text.len();
        text.push_str(&p.text);
        let sentences = segment::sentences(&p.text)
            .into_iter()
            .map(|r| {
                n += 1;
                Sentence {
                    id: format!("{id}:{n}"),
                    text: p.text[r.clone()].to_string(),
                    start: offset + r.start,
                    end: offset + r.end,
                }
            })
            .collect();
        paragraphs.push(Paragraph { sentences });
    }

    // Metadata: given fields, then the page's own markup, then what the text shows.
    let page_meta =
        |f: fn(&html::HtmlPage) -> &Option<String>| page.as_ref().and_then(|p| f(p).clone());
    let dateline = meta::dateline(&cleaned.paragraphs[0].text);
    if let Some(given) = &doc.given.date {
        if dates::parse_labelled(given).is_none() {
            warnings.push(format!(
                "{}: could not read the given date {given:?} as a date; using what the page shows",
                doc.source
            ));
        }
    }
    let markup_dates = page.iter().flat_map(|p| p.dates.iter());
    let date = doc
        .given
        .date
        .iter()
        .chain(markup_dates)
        .find_map(|d| dates::parse_labelled(d).map(|(d, _)| d))
        .or_else(|| cleaned.header_dates.first().cloned())
        .or_else(|| meta::body_date(&cleaned.paragraphs))
        .map(|d| d.iso());
    let article = Article {
        id: id.to_string(),
        source: doc.source.clone(),
        title: doc.given.title.clone().or(cleaned.title.clone()),
        date,
        outlet: doc
            .given
            .outlet
            .clone()
            .or(page_meta(|p| &p.outlet))
            .or(dateline.outlet)
            .or_else(|| meta::site_name(&cleaned.dropped)),
        author: cleaned.author.clone().or(page_meta(|p| &p.author)),
        dateline: dateline.city,
        url: doc.given.url.clone().or(page_meta(|p| &p.url)),
        text,
        paragraphs,
    };
    Ok(Ingested {
        article,
        dropped: cleaned.dropped,
        warnings,
    })
}

//! One scraped page in, one [`Article`] out: decode, read the HTML if it is HTML, drop the
//! boilerplate, keep one body, read the metadata, split sentences and give them ids.
//!
//! This is the ingest stage's entry point; [`super::source::Sources`] supplies the
//! documents and the caller makes ids unique. It never panics on input: whatever is wrong
//! comes back as an [`IngestError`] naming the source.
use super::article::{Article, Paragraph, Sentence};
use super::clean::{self, Dropped};
use super::dates::PageDate;
pub use super::error::{IngestError, Reason};
use super::sentence_id::SentenceId;
use super::source::{Document, Format};
use super::{dateline, dates, decode, html, lang, meta, segment};

/// An ingested article with what ingest has to say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub article: Article,
    /// The lines that are not body text, with the rule that took each.
    pub dropped: Vec<Dropped>,
    /// Things a user should know (a legacy encoding, a given date that could not be read).
    pub warnings: Vec<String>,
    /// How the page's body, headline and date were found (`--explain`).
    pub notes: Vec<String>,
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
    if let Some(no) = page.as_ref().and_then(|p| p.no_body.clone()) {
        return Err(fail(Reason::NoBody {
            element: no.element,
            words: no.words,
            link_pct: (no.link_share * 100.0).round() as u32,
        }));
    }
    let cleaned = clean::clean(&lines, page.as_ref().and_then(|p| p.title.as_deref()));
    if cleaned.paragraphs.is_empty() {
        return Err(fail(Reason::NoText {
            dropped: cleaned.dropped,
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
                    id: SentenceId::new(id, n),
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
    let dateline = dateline::dateline(&cleaned.paragraphs[0].text);
    if let Some(given) = &doc.given.date {
        if dates::parse_labelled(given).is_none() {
            warnings.push(format!(
                "{}: could not read the given date {given:?} as a date; using what the page shows",
                doc.source
            ));
        }
    }
    // The publication date: given, then the page's cascade (HTML), then the date lines
    // above the article, the day in the address, and the day the body reports from.
    let mut notes = page.as_ref().map(|p| p.notes.clone()).unwrap_or_default();
    let given_date = doc
        .given
        .date
        .as_deref()
        .and_then(|d| dates::parse_labelled(d).map(|(d, _)| d));
    let url = doc.given.url.clone().or(page_meta(|p| &p.url));
    let mut found = page
        .as_ref()
        .and_then(|p| p.published.clone())
        .or_else(|| cleaned.header_dates.first().cloned())
        .or_else(|| {
            let day = url.as_deref().and_then(dates::from_url)?;
            notes.push(format!(
                "published: {}, the day in the page's address",
                day.iso()
            ));
            Some(day)
        })
        .or_else(|| meta::body_date(&cleaned.paragraphs));
    let zoneless = |d: &&mut PageDate| d.time.is_some() && d.offset_minutes.is_none();
    if let Some(d) = found
        .as_mut()
        .filter(zoneless)
        .filter(|_| given_date.is_none())
    {
        // A time without a zone is read in the zone the page prints its times in, else,
        // on an Indonesian page, in WIB, the zone of Jakarta, where the national press
        // publishes.
        let printed = page
            .as_ref()
            .and_then(|p| p.zone)
            .or_else(|| dates::printed_zone(cleaned.dropped.iter().map(|d| d.text.as_str())));
        let zone = printed
            .map(|z| (z, "the zone the page prints its times in"))
            .or_else(|| {
                // The text, not `<html lang>`: pages in Indonesian declare "en" too.
                lang::is_indonesian(&text).then_some((
                    7 * 60,
                    "WIB, as the page is in Indonesian and gives no zone",
                ))
            });
        if let Some((zone, why)) = zone {
            d.offset_minutes = Some(zone);
            notes.push(format!("the publication time {} is read in {why}", d.iso()));
        }
    }
    let date = given_date.or(found).map(|d| d.iso());
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
        url,
        text,
        paragraphs,
    };
    Ok(Ingested {
        article,
        dropped: cleaned.dropped,
        warnings,
        notes,
    })
}

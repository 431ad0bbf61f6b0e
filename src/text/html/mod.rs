//! The article inside an HTML page: its body as lines, its headline, its publication time,
//! and what else the page's markup says (site name, author, address).
//!
//! Parsing is html5ever's (through `scraper`), so broken markup reads as browsers read it.
//! The page is read once into text blocks ([`blocks`]) and its markup once ([`markup`]);
//! then [`body`] scores the blocks to find the element holding the article, [`headline`]
//! picks the headline the page's statements agree on, and [`published`] runs the date
//! cascade. What comes out is lines, the same as a text page, so one set of cleaning rules
//! serves both; every decision made here is told in [`HtmlPage::notes`] for `--explain`.
mod blocks;
mod body;
mod flatten;
mod headline;
mod markup;
mod published;

pub use body::NoBody;

use crate::text::dates::{self, PageDate};
use scraper::Html;

/// What an HTML page gives.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HtmlPage {
    /// The article's body, one block a line.
    pub lines: Vec<String>,
    /// Why the page has no article body, when it has none (`lines` is then empty).
    pub no_body: Option<NoBody>,
    pub title: Option<String>,
    pub published: Option<PageDate>,
    /// The zone the page prints its times in, as minutes east of UTC, when it prints one.
    pub zone: Option<i32>,
    pub outlet: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    /// How the body, headline and date were found, and which blocks of the body's element
    /// were left out and why.
    pub notes: Vec<String>,
}

/// Reads `html` into its article and metadata.
pub fn extract(html: &str) -> HtmlPage {
    let flat = flatten::flatten_deep(html);
    let doc = Html::parse_document(flat.as_deref().unwrap_or(html));
    let m = markup::read(&doc);
    let blocks = blocks::blocks(&doc);
    let mut notes = Vec::new();

    let url = m
        .canonical
        .clone()
        .or_else(|| m.meta(&["og:url", "twitter:url"]).map(str::to_string))
        .filter(|u| u.starts_with("http"));
    let (lines, no_body, body_blocks) = match body::find(&doc, &blocks) {
        Ok(b) => {
            notes.push(format!(
                "body: {} ({} words of prose in {} blocks)",
                b.element,
                b.words,
                b.blocks.len()
            ));
            for &(i, why) in &b.left_out {
                notes.push(format!("left out of the body, {why}: {:?}", blocks[i].text));
            }
            let lines = b.blocks.iter().map(|&i| blocks[i].text.clone()).collect();
            (lines, None, b.blocks)
        }
        Err(e) => (Vec::new(), Some(e), Vec::new()),
    };
    let body_start = body_blocks.first().copied();
    let headline = headline::find(&doc, &m, &blocks, &body_blocks, url.as_deref());
    if let Some(h) = &headline {
        notes.push(format!("headline: {:?}, {}", h.text, h.why));
    }
    let published = published::find(
        &m,
        &blocks,
        headline.as_ref().and_then(|h| h.block),
        body_start,
    );
    if let Some(p) = &published {
        notes.push(format!("published: {}, {}", p.date.iso(), p.why));
    }
    let zone = dates::printed_zone(blocks.iter().map(|b| b.text.as_str()));

    let outlet = m
        .meta(&["og:site_name", "application-name"])
        .map(str::to_string)
        .or_else(|| m.ld.publisher.clone());
    let author =
        m.ld.author
            .clone()
            .or_else(|| m.meta(&["author", "article:author"]).map(str::to_string))
            .filter(|a| !a.starts_with("http"));
    HtmlPage {
        lines,
        no_body,
        title: headline.map(|h| h.text),
        published: published.map(|p| p.date),
        zone,
        outlet,
        author,
        url,
        notes,
    }
}

/// Whitespace runs (including no-break spaces) as one space, trimmed.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head>
        <title>Rusia Minta Jaminan | Kabar Contoh</title>
        <meta property="og:site_name" content="Kabar Contoh">
        <meta property="article:published_time" content="2022-02-14T10:00:00+07:00">
        <meta name="author" content="Budi Santoso">
        <link rel="canonical" href="https://contoh.id/a/1">
        <script>var x = "Jangan dibaca.";</script></head>
        <body><nav><ul><li>Beranda</li><li>Politik</li></ul></nav>
        <div class="sidebar"><p>Terpopuler hari ini</p></div>
        <div class="content"><h1>Rusia Minta Jaminan</h1>
          <p>JAKARTA - Paragraf pertama yang cukup panjang untuk menjadi isi berita ini.</p>
          <figure><img src="a.jpg"><figcaption>Foto: AFP</figcaption></figure>
          <p>Paragraf kedua yang juga cukup panjang<br>dengan baris baru &amp; entitas di dalamnya.</p>
          <aside><p>BACA JUGA: Berita lain</p></aside>
        </div><footer><p>Hak cipta</p></footer></body></html>"#;

    #[test]
    fn takes_the_main_text_and_the_metadata() {
        let page = extract(PAGE);
        assert_eq!(
            page.lines,
            vec![
                "Rusia Minta Jaminan",
                "JAKARTA - Paragraf pertama yang cukup panjang untuk menjadi isi berita ini.",
                "Foto: AFP",
                "Paragraf kedua yang juga cukup panjang",
                "dengan baris baru & entitas di dalamnya.",
            ]
        );
        assert_eq!(page.outlet.as_deref(), Some("Kabar Contoh"));
        assert_eq!(
            page.published.map(|d| d.iso()).as_deref(),
            Some("2022-02-14T10:00:00+07:00")
        );
        assert_eq!(page.author.as_deref(), Some("Budi Santoso"));
        assert_eq!(page.url.as_deref(), Some("https://contoh.id/a/1"));
        assert_eq!(page.title.as_deref(), Some("Rusia Minta Jaminan"));
        assert!(page.notes.iter().any(|n| n.starts_with("body: <")));
    }

    #[test]
    fn prefers_a_marked_article_element() {
        let side = "Menteri itu mengatakan bahwa pemerintah akan melanjutkan upaya ini dengan \
                    bantuan dari para mitra di daerah.";
        let story = "Isi berita yang sebenarnya ada di sini dan cukup panjang untuk dibaca.";
        let page = extract(&format!(
            "<body><div><p>{side}</p></div><article><p>{story}</p></article></body>"
        ));
        assert_eq!(page.lines, vec![story]);
    }

    #[test]
    fn finds_the_body_when_every_paragraph_has_its_own_wrapper() {
        let body: String = (1..=6)
            .map(|i| format!("<div dir=\"ltr\"><p>Paragraf nomor {i} berisi berita yang cukup panjang.</p></div>"))
            .collect();
        let page = extract(&format!(
            "<body><div class=\"side\"><p>Paling banyak dibaca</p><ul><li><a href=\"/1\">Judul berita yang lain di situs ini</a></li>\
             <li><a href=\"/2\">Judul berita kedua yang juga lain</a></li></ul></div><main><div class=\"story\">{body}</div></main></body>"
        ));
        assert_eq!(page.lines.len(), 6, "{:?}", page.lines);
        assert!(page.lines[5].starts_with("Paragraf nomor 6"));
    }

    #[test]
    fn flattens_pathologically_deep_pages_and_keeps_their_text() {
        let deep = format!(
            "<html><body>{}<p>Isi berita yang cukup panjang untuk dibaca orang.</p>{}</body></html>",
            "<div>".repeat(5000),
            "</div>".repeat(5000)
        );
        let flat = flatten::flatten_deep(&deep).expect("deeper than the limit");
        assert_eq!(flat.matches("<div>").count(), flatten::MAX_DEPTH - 2);
        assert_eq!(
            extract(&deep).lines,
            vec!["Isi berita yang cukup panjang untuk dibaca orang."]
        );
        assert_eq!(flatten::flatten_deep(PAGE), None);
    }

    #[test]
    fn survives_broken_markup() {
        let page = extract("<p>Satu <b>dua tiga empat lima enam tujuh delapan.</p><p>tiga");
        assert_eq!(
            page.lines,
            vec!["Satu dua tiga empat lima enam tujuh delapan.", "tiga"]
        );
    }

    #[test]
    fn a_page_without_prose_has_no_body() {
        let page =
            extract("<body><div><a href='/'>Beranda</a> <a href='/p'>Politik</a></div></body>");
        assert!(page.lines.is_empty());
        assert_eq!(page.no_body.map(|n| n.words), Some(2));
    }
}

//! The article inside an HTML page: its text as lines, plus what the page's metadata says
//! (title, date, site name, author, address).
//!
//! Parsing is html5ever's (through `scraper`), so broken markup reads as browsers read it.
//! The main text is the element whose paragraphs hold the most text (an `<article>` or
//! `itemprop="articleBody"` when the page marks one); navigation, scripts, forms, asides and
//! figures are skipped. What comes out is lines, the same as a text page, so one set of
//! cleaning rules serves both.
use scraper::{ElementRef, Html, Node, Selector};
use std::collections::{HashMap, HashSet};

/// What an HTML page gives.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HtmlPage {
    /// The page's `<h1>` then the main text, one block a line.
    pub lines: Vec<String>,
    /// The headline: `<h1>`, else `og:title`, JSON-LD `headline` or `<title>`.
    pub title: Option<String>,
    /// Publication dates the markup gives, most trusted first (`article:published_time`,
    /// JSON-LD `datePublished`, other meta tags, `<time>`), as written.
    pub dates: Vec<String>,
    pub outlet: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
}

/// What a page's JSON-LD (schema.org `NewsArticle` and kin) says.
#[derive(Debug, Default)]
struct LinkedData {
    headline: Option<String>,
    date: Option<String>,
    author: Option<String>,
    publisher: Option<String>,
}

/// Elements whose text is never article text.
const SKIPPED: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "button",
    "select",
    "iframe",
    "svg",
    "figure",
    "figcaption",
    "head",
    "title",
    "menu",
];

/// Elements that start and end a line of text.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "blockquote",
    "pre",
    "td",
    "th",
    "tr",
    "section",
    "article",
    "main",
    "dd",
    "dt",
    "ul",
    "ol",
    "table",
    "body",
    "hr",
    "address",
];

/// Reads `html` into lines and metadata.
pub fn extract(html: &str) -> HtmlPage {
    let flat = flatten_deep(html);
    let doc = Html::parse_document(flat.as_deref().unwrap_or(html));
    let meta = |selectors: &[&str], attr: &str| {
        selectors.iter().find_map(|s| {
            let sel = Selector::parse(s).ok()?;
            doc.select(&sel)
                .find_map(|e| e.value().attr(attr).map(collapse))
                .filter(|v| !v.is_empty())
        })
    };
    let first_text = |selector: &str| {
        let sel = Selector::parse(selector).ok()?;
        doc.select(&sel)
            .map(|e| collapse(&e.text().collect::<String>()))
            .find(|t| !t.is_empty())
    };
    let ld = linked_data(&doc);
    let h1 = first_text("h1");
    let title = h1
        .clone()
        .or_else(|| {
            meta(
                &["meta[property='og:title']", "meta[name='twitter:title']"],
                "content",
            )
        })
        .or_else(|| ld.headline.clone())
        .or_else(|| first_text("title"));
    let dates = [
        meta(&["meta[property='article:published_time']"], "content"),
        ld.date.clone(),
        meta(
            &[
                "meta[itemprop='datePublished']",
                "meta[name='pubdate']",
                "meta[name='publishdate']",
                "meta[name='publish-date']",
                "meta[name='date']",
            ],
            "content",
        ),
        meta(
            &[
                "article time[datetime]",
                "time[pubdate]",
                "time[itemprop='datePublished']",
            ],
            "datetime",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let outlet = meta(
        &[
            "meta[property='og:site_name']",
            "meta[name='application-name']",
        ],
        "content",
    )
    .or_else(|| ld.publisher.clone());
    let author = ld
        .author
        .clone()
        .or_else(|| {
            meta(
                &["meta[name='author']", "meta[property='article:author']"],
                "content",
            )
        })
        .filter(|a| !a.starts_with("http"));
    let url = meta(&["link[rel='canonical']"], "href")
        .or_else(|| meta(&["meta[property='og:url']"], "content"));

    let mut lines = Vec::new();
    if let Some(h) = &h1 {
        lines.push(h.clone());
    }
    if let Some(main) = main_element(&doc) {
        let mut current = String::new();
        walk(main, &mut current, &mut lines);
        flush(&mut current, &mut lines);
    }
    HtmlPage {
        lines,
        title,
        dates,
        outlet,
        author,
        url,
    }
}

/// Reads the first JSON-LD object that describes an article (looking inside arrays and
/// `@graph`). Malformed JSON-LD is ignored.
fn linked_data(doc: &Html) -> LinkedData {
    fn text(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(collapse(s)).filter(|s| !s.is_empty()),
            serde_json::Value::Object(o) => o.get("name").and_then(text),
            serde_json::Value::Array(a) => a.iter().find_map(text),
            _ => None,
        }
    }
    fn find(v: &serde_json::Value, depth: usize) -> Option<LinkedData> {
        if depth > 8 {
            return None;
        }
        match v {
            serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, depth + 1)),
            serde_json::Value::Object(o) => {
                if o.contains_key("datePublished") || o.contains_key("headline") {
                    return Some(LinkedData {
                        headline: o.get("headline").and_then(text),
                        date: o.get("datePublished").and_then(text),
                        author: o.get("author").and_then(text),
                        publisher: o.get("publisher").and_then(text),
                    });
                }
                o.get("@graph").and_then(|g| find(g, depth + 1))
            }
            _ => None,
        }
    }
    let Ok(sel) = Selector::parse("script[type='application/ld+json']") else {
        return LinkedData::default();
    };
    doc.select(&sel)
        .filter_map(|e| serde_json::from_str(&e.text().collect::<String>()).ok())
        .find_map(|v: serde_json::Value| find(&v, 0))
        .unwrap_or_default()
}

/// Deeper than this, start and end tags are dropped and their text kept, as browsers stop
/// nesting (Chromium at 512). The HTML parser's scope checks cost time in proportion to the
/// depth, so a page nested 100,000 levels deep would otherwise take minutes.
const MAX_DEPTH: usize = 512;

/// Elements that never hold children or close themselves; they do not add depth.
const NO_DEPTH: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "tr", "td", "th",
];

/// `html` with the tags below [`MAX_DEPTH`] removed, or `None` when it is not that deep.
/// The depth is estimated from start and end tags alone; it only needs to be right for
/// well-nested pages, since real pages are nowhere near the limit.
fn flatten_deep(html: &str) -> Option<String> {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut dropped = 0usize;
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + off;
        let Some(len) = bytes[start..].iter().position(|&b| b == b'>') else {
            break;
        };
        let end = start + len + 1;
        let tag = &html[start + 1..end - 1];
        i = end;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty()
            || !tag
                .trim_start_matches('/')
                .starts_with(|c: char| c.is_ascii_alphabetic())
        {
            continue;
        }
        if !closing && matches!(name.as_str(), "script" | "style" | "textarea" | "title") {
            // Raw text: skip to its end tag.
            let close = format!("</{name}");
            i = bytes[end..]
                .windows(close.len())
                .position(|w| w.eq_ignore_ascii_case(close.as_bytes()))
                .map_or(bytes.len(), |p| end + p);
            continue;
        }
        if NO_DEPTH.contains(&name.as_str()) || tag.ends_with('/') {
            continue;
        }
        let drop_tag = if closing {
            if dropped > 0 {
                dropped -= 1;
                true
            } else {
                depth = depth.saturating_sub(1);
                false
            }
        } else if depth >= MAX_DEPTH {
            dropped += 1;
            true
        } else {
            depth += 1;
            false
        };
        if drop_tag {
            let o = out.get_or_insert_with(|| String::with_capacity(html.len()));
            o.push_str(&html[copied..start]);
            copied = end;
        }
    }
    out.map(|mut o| {
        o.push_str(&html[copied..]);
        o
    })
}

/// The element that holds the article: a marked one, else the one whose `<p>` children
/// hold the most text, else `<body>`.
fn main_element(doc: &Html) -> Option<ElementRef<'_>> {
    for s in ["[itemprop='articleBody']", "article"] {
        let sel = Selector::parse(s).ok()?;
        if let Some(e) = doc
            .select(&sel)
            .max_by_key(|e| paragraph_text_len(*e))
            .filter(|e| paragraph_text_len(*e) > 0)
        {
            return Some(e);
        }
    }
    let p = Selector::parse("p").ok()?;
    // Every element holding paragraphs, in document order, with the paragraph text under
    // it and its depth.
    let mut order: HashMap<ego_tree::NodeId, usize> = HashMap::new();
    let mut holders: Vec<(ego_tree::NodeId, usize, usize)> = Vec::new();
    let mut total = 0;
    for para in doc.select(&p) {
        if inside_skipped(para) {
            continue;
        }
        let len = para.text().map(str::len).sum::<usize>();
        total += len;
        let ancestors: Vec<_> = para.ancestors().collect();
        for (up, node) in ancestors.iter().enumerate() {
            let depth = ancestors.len() - up;
            let at = *order.entry(node.id()).or_insert_with(|| {
                holders.push((node.id(), 0, depth));
                holders.len() - 1
            });
            holders[at].1 += len;
        }
    }
    // The direct parent of most of the paragraph text, when one holds at least half of it;
    // else (each paragraph wrapped in its own element) the deepest element holding at
    // least 60%. A tie goes to the earlier element.
    let parents: HashSet<ego_tree::NodeId> = doc
        .select(&p)
        .filter_map(|para| para.parent().map(|n| n.id()))
        .collect();
    let best_parent = holders
        .iter()
        .enumerate()
        .filter(|(_, h)| parents.contains(&h.0) && h.1 * 2 >= total && total > 0)
        .max_by_key(|&(at, h)| (h.1, std::cmp::Reverse(at)));
    let deepest = holders
        .iter()
        .enumerate()
        .filter(|(_, h)| h.1 * 10 >= total * 6 && total > 0)
        .max_by_key(|&(at, h)| (h.2, std::cmp::Reverse(at)));
    let best = best_parent
        .or(deepest)
        .and_then(|(_, h)| doc.tree.get(h.0))
        .and_then(ElementRef::wrap);
    best.or_else(|| {
        let body = Selector::parse("body").ok()?;
        doc.select(&body).next()
    })
}

fn paragraph_text_len(e: ElementRef) -> usize {
    let Ok(p) = Selector::parse("p") else {
        return 0;
    };
    e.select(&p)
        .filter(|p| !inside_skipped(*p))
        .map(|p| p.text().map(str::len).sum::<usize>())
        .sum()
}

fn inside_skipped(e: ElementRef) -> bool {
    e.ancestors().any(|a| match a.value() {
        Node::Element(el) => SKIPPED.contains(&el.name()),
        _ => false,
    })
}

/// Appends the text under `e` to `lines`, one block element a line. Iterative, so deeply
/// nested markup cannot overflow the stack.
fn walk(e: ElementRef, current: &mut String, lines: &mut Vec<String>) {
    enum Step<'a> {
        Enter(ego_tree::NodeRef<'a, Node>),
        Leave,
    }
    let mut stack: Vec<Step> = e.children().rev().map(Step::Enter).collect();
    while let Some(step) = stack.pop() {
        let node = match step {
            Step::Leave => {
                flush(current, lines);
                continue;
            }
            Step::Enter(node) => node,
        };
        match node.value() {
            Node::Text(t) => current.push_str(t),
            Node::Element(el) => {
                let name = el.name();
                if SKIPPED.contains(&name) || name == "h1" {
                    continue;
                }
                if name == "br" {
                    flush(current, lines);
                    continue;
                }
                let block = BLOCKS.contains(&name);
                if block {
                    flush(current, lines);
                    stack.push(Step::Leave);
                }
                stack.extend(node.children().rev().map(Step::Enter));
            }
            _ => {}
        }
    }
}

fn flush(current: &mut String, lines: &mut Vec<String>) {
    let line = collapse(current);
    if !line.is_empty() {
        lines.push(line);
    }
    current.clear();
}

/// Whitespace runs (including no-break spaces) as one space, trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head>
        <title>Judul | Situs</title>
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
          <p>Paragraf kedua<br>dengan baris baru &amp; entitas.</p>
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
                "Paragraf kedua",
                "dengan baris baru & entitas.",
            ]
        );
        assert_eq!(page.outlet.as_deref(), Some("Kabar Contoh"));
        assert_eq!(page.dates, vec!["2022-02-14T10:00:00+07:00"]);
        assert_eq!(page.author.as_deref(), Some("Budi Santoso"));
        assert_eq!(page.url.as_deref(), Some("https://contoh.id/a/1"));
        assert_eq!(page.title.as_deref(), Some("Rusia Minta Jaminan"));
    }

    #[test]
    fn reads_json_ld() {
        let page = extract(
            r#"<html><head><script type="application/ld+json">
            {"@context":"https://schema.org","@graph":[{"@type":"WebSite","name":"X"},
             {"@type":"NewsArticle","headline":"Judul LD","datePublished":"2022-03-10T14:05:00+07:00",
              "author":[{"@type":"Person","name":"Ahmad"}],"publisher":{"name":"Republika"}}]}
            </script></head><body><p>Isi.</p></body></html>"#,
        );
        assert_eq!(page.title.as_deref(), Some("Judul LD"));
        assert_eq!(page.dates, vec!["2022-03-10T14:05:00+07:00"]);
        assert_eq!(page.author.as_deref(), Some("Ahmad"));
        assert_eq!(page.outlet.as_deref(), Some("Republika"));
    }

    #[test]
    fn finds_the_body_when_every_paragraph_has_its_own_wrapper() {
        let body: String = (1..=6)
            .map(|i| format!("<div dir=\"ltr\"><p>Paragraf nomor {i} berisi berita yang cukup panjang.</p></div>"))
            .collect();
        let page = extract(&format!(
            "<body><div class=\"side\"><p>Paling banyak dibaca hari ini di situs kami</p></div><main><div class=\"story\">{body}</div></main></body>"
        ));
        assert_eq!(page.lines.len(), 6, "{:?}", page.lines);
        assert!(page.lines[5].starts_with("Paragraf nomor 6"));
    }

    #[test]
    fn prefers_a_marked_article_element() {
        let page = extract(
            "<body><div><p>Menu satu dua tiga empat lima enam tujuh delapan sembilan</p></div>\
             <article><p>Isi.</p></article></body>",
        );
        assert_eq!(page.lines, vec!["Isi."]);
    }

    #[test]
    fn flattens_pathologically_deep_pages_and_keeps_their_text() {
        let deep = format!(
            "<html><body>{}<p>Isi berita.</p>{}</body></html>",
            "<div>".repeat(5000),
            "</div>".repeat(5000)
        );
        let flat = flatten_deep(&deep).expect("deeper than the limit");
        assert_eq!(flat.matches("<div>").count(), MAX_DEPTH - 2);
        assert_eq!(extract(&deep).lines, vec!["Isi berita."]);
        assert_eq!(flatten_deep(PAGE), None);
    }

    #[test]
    fn survives_broken_markup() {
        let page = extract("<p>Satu <b>dua</p><p>tiga");
        assert_eq!(page.lines, vec!["Satu dua", "tiga"]);
    }
}

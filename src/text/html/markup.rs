//! What a page says about itself in markup a reader never sees: `<meta>` tags under their
//! many names, schema.org JSON-LD, the `<title>`, `<time datetime>` and microdata
//! `itemprop`s, and (when asked) the labels of its navigation.
//!
//! Read once per page; the headline, date and outlet are decided from it elsewhere.
use scraper::{Html, Selector};

/// What a page's JSON-LD (schema.org `NewsArticle` and kin) says about its article.
#[derive(Debug, Default, Clone)]
pub struct LinkedData {
    pub headline: Option<String>,
    pub published: Option<String>,
    pub created: Option<String>,
    pub modified: Option<String>,
    pub author: Option<String>,
    pub publisher: Option<String>,
}

/// A `<time>` element or an element marked `itemprop="datePublished"` and kin.
#[derive(Debug, Clone)]
pub struct TimeMark {
    /// `datetime` or `content`.
    pub value: String,
    /// `itemprop`, lower case, when given.
    pub itemprop: Option<String>,
    /// Whether it carries the old `pubdate` attribute.
    pub pubdate: bool,
}

/// The page's own statements about itself.
#[derive(Debug, Default, Clone)]
pub struct Markup {
    /// `(key, content)` of every `<meta>` with a `name`, `property` or `itemprop`, the key
    /// in lower case, in page order.
    pub metas: Vec<(String, String)>,
    pub ld: LinkedData,
    /// The `<title>`.
    pub title: Option<String>,
    pub times: Vec<TimeMark>,
    /// `<link rel="canonical">`.
    pub canonical: Option<String>,
}

impl Markup {
    /// The content of the first non-empty `<meta>` under any of `keys` (lower case), in
    /// the order of `keys`.
    pub fn meta(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| {
            self.metas
                .iter()
                .find(|(key, v)| key == k && !v.is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    /// Every non-empty `<meta>` content under `key`.
    pub fn metas<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.metas
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("the selectors here are valid")
}

/// Reads the markup of `doc`.
pub fn read(doc: &Html) -> Markup {
    let collapse = super::collapse;
    let mut metas = Vec::new();
    for e in doc.select(&selector("meta")) {
        let v = e.value();
        let Some(content) = v.attr("content") else {
            continue;
        };
        for key in [v.attr("name"), v.attr("property"), v.attr("itemprop")]
            .into_iter()
            .flatten()
        {
            metas.push((key.trim().to_ascii_lowercase(), collapse(content)));
        }
    }
    let mut times = Vec::new();
    for e in doc.select(&selector(
        "time[datetime], [itemprop][datetime], [itemprop][content]",
    )) {
        let v = e.value();
        if v.name() == "meta" {
            continue;
        }
        let Some(value) = v.attr("datetime").or(v.attr("content")) else {
            continue;
        };
        let itemprop = v.attr("itemprop").map(|p| p.trim().to_ascii_lowercase());
        if v.name() != "time" && !itemprop.as_deref().is_some_and(|p| p.starts_with("date")) {
            continue;
        }
        times.push(TimeMark {
            value: collapse(value),
            itemprop,
            pubdate: v.attr("pubdate").is_some(),
        });
    }
    let title = doc
        .select(&selector("title"))
        .map(|e| collapse(&e.text().collect::<String>()))
        .find(|t| !t.is_empty());
    let canonical = doc
        .select(&selector("link[rel='canonical']"))
        .find_map(|e| e.value().attr("href").map(collapse))
        .filter(|h| !h.is_empty());
    Markup {
        metas,
        ld: linked_data(doc),
        title,
        times,
        canonical,
    }
}

/// The texts of the links inside navigation: `<nav>`, `role="navigation"`, or an element
/// whose class or id says menu, nav or breadcrumb. (One pass over the elements: a CSS
/// selector with `[class*=…] a` checks every link's ancestors, and cost a tenth of ingest.)
pub fn nav_labels(doc: &Html) -> Vec<String> {
    let is_nav = |el: &scraper::node::Element| {
        el.name() == "nav"
            || el.attr("role") == Some("navigation")
            || [el.attr("class"), el.attr("id")]
                .into_iter()
                .flatten()
                .any(|v| {
                    ["menu", "nav", "breadcrumb"]
                        .iter()
                        .any(|w| contains_ignore_case(v, w))
                })
    };
    let mut labels = Vec::new();
    for node in doc.tree.root().descendants() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        // The outermost navigation element only, so no link is read twice.
        let outer = is_nav(el)
            && !node
                .ancestors()
                .any(|a| a.value().as_element().is_some_and(is_nav));
        if !outer {
            continue;
        }
        for a in node.descendants().filter_map(scraper::ElementRef::wrap) {
            if a.value().name() == "a" {
                let t = super::collapse(&a.text().collect::<String>());
                if !t.is_empty() && t.split_whitespace().count() <= 4 {
                    labels.push(t);
                }
            }
        }
    }
    labels
}

/// Whether `haystack` contains the lower-case ASCII `needle`, in any case.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Reads the first JSON-LD object that describes an article (looking inside arrays and
/// `@graph`). Malformed JSON-LD is ignored.
fn linked_data(doc: &Html) -> LinkedData {
    use serde_json::Value;
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(super::collapse(s)).filter(|s| !s.is_empty()),
            Value::Object(o) => o.get("name").and_then(text),
            Value::Array(a) => a.iter().find_map(text),
            _ => None,
        }
    }
    fn find(v: &Value, depth: usize) -> Option<LinkedData> {
        if depth > 8 {
            return None;
        }
        match v {
            Value::Array(a) => a.iter().find_map(|x| find(x, depth + 1)),
            Value::Object(o) => {
                if o.contains_key("datePublished") || o.contains_key("headline") {
                    return Some(LinkedData {
                        headline: o.get("headline").and_then(text),
                        published: o.get("datePublished").and_then(text),
                        created: o.get("dateCreated").and_then(text),
                        modified: o.get("dateModified").and_then(text),
                        author: o.get("author").and_then(text),
                        publisher: o.get("publisher").and_then(text),
                    });
                }
                o.get("@graph").and_then(|g| find(g, depth + 1))
            }
            _ => None,
        }
    }
    doc.select(&selector("script[type='application/ld+json']"))
        .filter_map(|e| {
            // Some sites put raw line breaks inside JSON strings; JSON forbids them.
            let raw: String = e
                .text()
                .collect::<String>()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            serde_json::from_str(&raw).ok()
        })
        .find_map(|v: Value| find(&v, 0))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metas_json_ld_times_and_navigation() {
        let doc = Html::parse_document(
            r#"<html lang="id"><head><title> Judul | Situs </title>
            <meta property="og:title" content="Judul">
            <meta name="PubDate" content="2022-03-10 14:05:00">
            <script type="application/ld+json">{"@graph":[{"@type":"WebSite","name":"X"},
              {"@type":"NewsArticle","headline":"Judul LD","datePublished":"2022-03-10T14:05:00+07:00",
               "dateModified":"2022-03-10T15:00:00+07:00","author":[{"name":"Ahmad"}],
               "publisher":{"name":"Republika"}}]}</script></head>
            <body><nav><a href="/">Beranda</a><a href="/p">Politik</a></nav>
            <time datetime="2022-03-10T14:05" pubdate>10 Maret</time>
            <span itemprop="dateModified" content="2022-03-11">x</span></body></html>"#,
        );
        let m = read(&doc);
        assert_eq!(m.title.as_deref(), Some("Judul | Situs"));
        assert_eq!(m.meta(&["og:title"]), Some("Judul"));
        assert_eq!(m.meta(&["pubdate"]), Some("2022-03-10 14:05:00"));
        assert_eq!(m.ld.headline.as_deref(), Some("Judul LD"));
        assert_eq!(m.ld.published.as_deref(), Some("2022-03-10T14:05:00+07:00"));
        assert_eq!(m.ld.modified.as_deref(), Some("2022-03-10T15:00:00+07:00"));
        assert_eq!(m.ld.author.as_deref(), Some("Ahmad"));
        assert_eq!(m.ld.publisher.as_deref(), Some("Republika"));
        assert_eq!(m.times.len(), 2);
        assert!(m.times[0].pubdate);
        assert_eq!(m.times[1].itemprop.as_deref(), Some("datemodified"));
        assert_eq!(nav_labels(&doc), ["Beranda", "Politik"]);
    }
}

//! The headline, decided by agreement between what the page says in several places.
//!
//! Pages state their headline in `og:title`, `twitter:title`, a `title` meta, JSON-LD
//! `headline` and `<title>`, each maybe with the site's name before or after it ("… -
//! Kompas.com Regional", "KapanLagi.com: …"), and show it in a heading that is often not
//! the first `<h1>` (which may be the site's logo or the section's name). So:
//!
//! 1. Each stated title is cut at its separators (" - ", " | ", ": ", " :: ", …) into
//!    variants: the whole, and every run of its parts. Parts made only of the site's name
//!    (`og:site_name`, the host's labels, the publisher) are marked as the site's.
//! 2. A visible heading (`h1`-`h3`, or an element marked as the title by `itemprop` or
//!    its class) is scored by how well it agrees with each statement (word overlap, Dice,
//!    against the statement's best variant), summed over statements. The heading most
//!    agreed with is the headline, as the page shows it.
//! 3. When no heading agrees, the variant the statements agree on is the headline, the
//!    site's name left out.
//! 4. A page that states nothing gets the first heading near the body that is not a
//!    section or site name (a navigation label, the site's own name, a single word outside
//!    the article).
use super::blocks::Block;
use super::markup::{self, Markup};
use scraper::Html;
use std::collections::HashSet;

/// The headline and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    pub text: String,
    /// The heading block it is, when it is shown on the page.
    pub block: Option<usize>,
    /// How it was decided, for `--explain`.
    pub why: String,
}

/// A heading agreeing with a statement at least this much (Dice over words) counts as
/// the same title.
const AGREE: f32 = 0.6;

/// Separators between a title and the site's or section's name.
const SEPARATORS: &[&str] = &[
    " | ", " - ", " – ", " — ", " :: ", " » ", " · ", " / ", ": ",
];

fn tokens(s: &str) -> HashSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn dice(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * a.intersection(b).count() as f32 / (a.len() + b.len()) as f32
}

/// A stated title and its variants.
struct Statement {
    source: &'static str,
    variants: Vec<Variant>,
}

struct Variant {
    text: String,
    tokens: HashSet<String>,
    /// Some part of it is the site's name.
    has_site: bool,
    /// All of it is the site's name.
    all_site: bool,
}

/// The parts of `title` between separators.
fn parts(title: &str) -> Vec<&str> {
    let mut parts = vec![title];
    for sep in SEPARATORS {
        parts = parts
            .into_iter()
            .flat_map(|p| p.split(sep))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
    }
    parts
}

fn statement(source: &'static str, title: &str, site: &HashSet<String>) -> Statement {
    let is_site = |p: &str| {
        let t = tokens(p);
        !t.is_empty() && t.iter().all(|w| site.contains(w))
    };
    let ps = parts(title);
    let site_part: Vec<bool> = ps.iter().map(|p| is_site(p)).collect();
    let mut variants = vec![Variant {
        text: title.to_string(),
        tokens: tokens(title),
        has_site: site_part.iter().any(|&s| s),
        all_site: site_part.iter().all(|&s| s),
    }];
    // Every run of parts, cut from the title itself so its own separators stay.
    if ps.len() > 1 && ps.len() <= 6 {
        for i in 0..ps.len() {
            for j in i..ps.len() {
                if i == 0 && j == ps.len() - 1 {
                    continue;
                }
                let (Some(start), Some(end)) = (offset(title, ps[i]), offset(title, ps[j])) else {
                    continue;
                };
                let text = title[start..end + ps[j].len()].trim().to_string();
                variants.push(Variant {
                    tokens: tokens(&text),
                    text,
                    has_site: site_part[i..=j].iter().any(|&s| s),
                    all_site: site_part[i..=j].iter().all(|&s| s),
                });
            }
        }
    }
    Statement { source, variants }
}

/// Where `part` (a sub-slice of `whole`) starts in `whole`.
fn offset(whole: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

/// How well `t` agrees with `s`: the best Dice over `s`'s variants that are not all the
/// site's name.
fn agreement(t: &HashSet<String>, s: &Statement) -> f32 {
    s.variants
        .iter()
        .filter(|v| !v.all_site)
        .map(|v| dice(t, &v.tokens))
        .fold(0.0, f32::max)
}

/// The words of the site's name: `og:site_name`, `application-name`, the publisher, the
/// Twitter handle and the labels of the page's host.
fn site_words(m: &Markup, url: Option<&str>) -> HashSet<String> {
    let mut words = HashSet::new();
    let names = [
        m.meta(&["og:site_name"]),
        m.meta(&["application-name"]),
        m.meta(&["twitter:site"]),
        m.ld.publisher.as_deref(),
    ];
    for n in names.into_iter().flatten() {
        words.extend(tokens(n));
    }
    if let Some(host) = url.and_then(host) {
        words.extend(tokens(&host));
    }
    // What every domain name carries.
    for w in [
        "www", "com", "co", "id", "net", "org", "online", "news", "tv",
    ] {
        words.insert(w.to_string());
    }
    words
}

/// How a block shows a title: its heading level (`h1`-`h3`), or 7 for an element the page
/// marks as a title (`itemprop="headline"`, or a class or id naming a title, headline or
/// "judul"), ranked after the headings.
fn shown_level(doc: &Html, b: &Block) -> Option<u8> {
    if let Some(h) = b.heading.filter(|&h| h <= 3) {
        return Some(h);
    }
    let node = doc.tree.get(b.parent)?;
    let marked = std::iter::once(node)
        .chain(node.ancestors())
        .take(2)
        .any(|n| {
            n.value().as_element().is_some_and(|el| {
                el.attr("itemprop").is_some_and(|p| p.contains("headline"))
                    || [el.attr("class"), el.attr("id")]
                        .into_iter()
                        .flatten()
                        .any(|v| {
                            let v = v.to_ascii_lowercase();
                            v.contains("title") || v.contains("headline") || v.contains("judul")
                        })
            })
        });
    marked.then_some(7)
}

/// The host of an `http(s)://` address.
pub fn host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("//"))?;
    let host = rest.split(['/', '?', '#', ':']).next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Decides the headline of a page from its `markup`, its `blocks` and where its body
/// is (`body`, the indices of its blocks).
pub fn find(
    doc: &Html,
    m: &Markup,
    blocks: &[Block],
    body: &[usize],
    url: Option<&str>,
) -> Option<Headline> {
    let site = site_words(m, url);
    let stated: Vec<(&'static str, Option<&str>)> = vec![
        ("og:title", m.meta(&["og:title"])),
        ("twitter:title", m.meta(&["twitter:title"])),
        ("title meta", m.meta(&["title", "headline", "dc.title"])),
        ("JSON-LD headline", m.ld.headline.as_deref()),
        ("<title>", m.title.as_deref()),
    ];
    let statements: Vec<Statement> = stated
        .into_iter()
        .filter_map(|(source, t)| t.map(|t| statement(source, &super::collapse(t), &site)))
        .filter(|s| !s.variants[0].tokens.is_empty())
        .collect();

    // 2. The visible heading most agreed with.
    let best_heading = blocks
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((i, b, shown_level(doc, b)?)))
        .filter(|&(_, b, level)| b.words <= if level <= 3 { 40 } else { 25 })
        .map(|(i, b, level)| {
            let t = tokens(&b.text);
            let scores: Vec<f32> = statements.iter().map(|s| agreement(&t, s)).collect();
            let support: f32 = scores.iter().sum();
            let agreeing = scores.iter().filter(|&&a| a >= AGREE).count();
            (i, b, level, support, agreeing)
        })
        .filter(|&(_, _, _, _, agreeing)| agreeing > 0)
        .max_by(|a, b| a.3.total_cmp(&b.3).then(b.2.cmp(&a.2)).then(b.0.cmp(&a.0)));
    if let Some((i, b, level, _, agreeing)) = best_heading {
        let shown = match level {
            1..=6 => format!("<h{level}>"),
            _ => "element marked as the title".to_string(),
        };
        return Some(Headline {
            text: b.text.clone(),
            block: Some(i),
            why: format!(
                "the {shown} that {agreeing} of the page's {} stated titles agree with",
                statements.len()
            ),
        });
    }

    // 3. The variant the statements agree on.
    let best_variant = statements
        .iter()
        .flat_map(|s| s.variants.iter().map(move |v| (s.source, v)))
        .filter(|(_, v)| !v.all_site && !v.tokens.is_empty())
        .map(|(source, v)| {
            let support: f32 = statements.iter().map(|s| agreement(&v.tokens, s)).sum();
            let score = support - if v.has_site { 0.5 } else { 0.0 };
            (source, v, score)
        })
        .max_by(|a, b| {
            a.2.total_cmp(&b.2)
                .then(a.1.tokens.len().cmp(&b.1.tokens.len()))
        });
    // A single statement is trusted over the page's headings only when no heading near
    // the body could be the headline.
    let agreed = best_variant.filter(|_| statements.len() >= 2);
    if let Some((source, v, _)) = agreed {
        return Some(Headline {
            text: v.text.clone(),
            block: None,
            why: format!("the title stated in {source}, agreed by the page's other statements"),
        });
    }

    // 4. The first heading near the body that is not a section or site name.
    let nav: HashSet<String> = markup::nav_labels(doc)
        .iter()
        .map(|l| l.to_lowercase())
        .collect();
    let inside = |i: usize| body.binary_search(&i).is_ok();
    let near = |i: usize| match (body.first(), body.last()) {
        (Some(&first), Some(&last)) => i + 15 >= first && i <= last,
        _ => true,
    };
    let heading = blocks
        .iter()
        .enumerate()
        .filter(|&(i, b)| b.heading.is_some_and(|h| h <= 2) && near(i) && b.words <= 40)
        .filter(|&(i, b)| {
            let t = tokens(&b.text);
            // One word is a section's name, unless it stands in the article itself.
            (b.words >= 2 || inside(i))
                && !t.iter().all(|w| site.contains(w))
                && !nav.contains(&b.text.to_lowercase())
        })
        .min_by_key(|(i, b)| (b.heading, *i));
    if let Some((i, b)) = heading {
        return Some(Headline {
            text: b.text.clone(),
            block: Some(i),
            why: format!(
                "the first <h{}> near the body that is not a section or site name",
                b.heading.unwrap_or(1)
            ),
        });
    }
    best_variant.map(|(source, v, _)| Headline {
        text: v.text.clone(),
        block: None,
        why: format!("the title stated in {source}, the site's name left out"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{blocks::blocks, markup};
    use super::*;

    fn headline(html: &str) -> Option<String> {
        let doc = Html::parse_document(html);
        let m = markup::read(&doc);
        let b = blocks(&doc);
        find(&doc, &m, &b, &[], m.canonical.as_deref()).map(|h| h.text)
    }

    #[test]
    fn a_section_name_in_h1_loses_to_the_heading_the_metadata_agrees_with() {
        let got = headline(
            r#"<html><head><meta property="og:title" content="Polisi Tangkap Pencuri Motor - Kabar.com Regional">
            <meta property="og:site_name" content="KABAR.com">
            <title>Polisi Tangkap Pencuri Motor - Kabar.com Regional</title>
            <link rel="canonical" href="http://regional.kabar.com/read/1"></head>
            <body><h1>Regional</h1><h2>Polisi Tangkap Pencuri Motor</h2><p>Isi.</p></body></html>"#,
        );
        assert_eq!(got.as_deref(), Some("Polisi Tangkap Pencuri Motor"));
    }

    #[test]
    fn the_shown_heading_keeps_a_prefix_the_metadata_leaves_out() {
        let got = headline(
            r#"<html><head><meta property="og:title" content="KPK Periksa Pejabat">
            <title>KPK Periksa Pejabat | Kabar Online</title></head>
            <body><h1>Kabar Online</h1><h1>In Picture: KPK Periksa Pejabat</h1></body></html>"#,
        );
        assert_eq!(got.as_deref(), Some("In Picture: KPK Periksa Pejabat"));
    }

    #[test]
    fn a_title_shown_in_a_marked_element_keeps_its_prefix() {
        let got = headline(
            r#"<html><head><meta property="og:title" content="KPK Periksa Pejabat">
            <title>KPK Periksa Pejabat | Kabar Online</title></head>
            <body><div class="item-title"><span>In Picture: KPK Periksa Pejabat</span></div>
            <div class="related-title"><a href="/x">KPK Periksa Saksi Lain</a></div></body></html>"#,
        );
        assert_eq!(got.as_deref(), Some("In Picture: KPK Periksa Pejabat"));
    }

    #[test]
    fn without_a_matching_heading_the_statements_agree_without_the_site_name() {
        let got = headline(
            r#"<html><head><meta property="og:site_name" content="KapanLagi.com">
            <meta property="og:title" content="KapanLagi.com: Brandon Makin Dekat Dengan Sivia">
            <title>Brandon Salim | Brandon Makin Dekat Dengan Sivia - KapanLagi.com</title></head>
            <body><div class="t">Brandon Makin Dekat Dengan Sivia</div></body></html>"#,
        );
        assert_eq!(got.as_deref(), Some("Brandon Makin Dekat Dengan Sivia"));
    }

    #[test]
    fn without_statements_the_first_heading_that_is_not_a_section_name() {
        let got = headline(
            r#"<html><body><nav><a href="/r">Regional</a><a href="/n">Nasional Kini</a></nav>
            <h1>Nasional Kini</h1><h1>Banjir Rendam Ratusan Rumah</h1><p>Isi.</p></body></html>"#,
        );
        assert_eq!(got.as_deref(), Some("Banjir Rendam Ratusan Rumah"));
    }

    #[test]
    fn splits_titles_into_variants_that_keep_their_own_separators() {
        let site: HashSet<String> = ["kompas", "com"].iter().map(|s| s.to_string()).collect();
        let s = statement("t", "Menag: Sidang Isbat Digelar - Kompas.com", &site);
        let texts: Vec<&str> = s.variants.iter().map(|v| v.text.as_str()).collect();
        assert!(texts.contains(&"Menag: Sidang Isbat Digelar"), "{texts:?}");
        assert!(texts.contains(&"Sidang Isbat Digelar"), "{texts:?}");
        assert!(s
            .variants
            .iter()
            .any(|v| v.text == "Kompas.com" && v.all_site));
    }
}

//! Which element of a page holds the article, found by scoring, not by layout.
//!
//! Every block of text is read as prose or not: prose has enough words outside links, few
//! links, and the density of function words (or the closing punctuation) of running text
//! (see [`crate::text::lang`]). A block scores its prose words, less its link words and a
//! quarter of its other words, and gives the score to its element and the one holding
//! it, half of it one level up and less further up. The element with the best score holds the article (inside
//! the `<article>` or `articleBody` the page marks, when that holds much of its prose): the one right above the
//! paragraphs, not a wrapper holding the story and a sidebar. Its parent is then taken as
//! well when what it adds is more of the article: no prose and few links (a dateline in
//! bold beside the text), or more prose with few links (a story split over several
//! elements); never beyond an element the page marks as its article. This is the idea of
//! Mozilla's Readability (content scores climbing to parents, link density as a penalty)
//! and of jusText and trafilatura (paragraphs told from boilerplate by length, link
//! density and stop words), fitted to warta's blocks.
//!
//! Inside the chosen element, link lists and, when the article has text of its own, photo
//! captions are left out; what is left goes on, as lines, to the cleaning rules. A page with
//! no prose anywhere has no article body, and says what the best candidate was.
use super::blocks::Block;
use crate::text::lang;
use ego_tree::NodeId;
use scraper::Html;
use std::collections::HashMap;

/// The article's body on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// Indices of the body's blocks in the page's blocks, in reading order.
    pub blocks: Vec<usize>,
    /// The element holding it, as `<div class="…">`.
    pub element: String,
    /// Prose words in it.
    pub words: usize,
    /// Blocks inside the element left out of the body, with why.
    pub left_out: Vec<(usize, &'static str)>,
}

/// Why a page has no article body: the best candidate it had.
#[derive(Debug, Clone, PartialEq)]
pub struct NoBody {
    /// The element with the most text, as `<div class="…">`, or "the page" when it has no
    /// text at all.
    pub element: String,
    pub words: usize,
    /// The share of those words inside links, 0 to 1.
    pub link_share: f32,
}

/// A block of at least this many words outside links can be prose.
const MIN_PROSE_WORDS: usize = 8;
/// A block with more of its words inside links than this is not prose.
const MAX_PROSE_LINK_SHARE: f32 = 0.35;
/// Function-word density above which a block reads as running text. News prose measures
/// 0.25-0.5 in both languages; headlines, menus and tag lists 0-0.15.
const MIN_PROSE_DENSITY: f32 = 0.15;
/// Weight of words that are neither prose nor links (labels, dates, short lines).
const OTHER_WEIGHT: f32 = 0.25;
/// The best element's parent is taken too when it adds at most this many link words per
/// word of prose it adds (or, adding none, per word of prose the best element has).
const CLIMB_LINKS: f32 = 0.25;
/// The element the page marks as its article is where the body is looked for when it
/// holds at least this share of the page's prose (teaser cards are `<article>`s too).
const MARKED_SHARE: f32 = 0.4;
/// Captions stay in the body only when the article's own prose is shorter than this.
const CAPTION_ONLY_BELOW: usize = 25;

/// Whether a block reads as prose.
pub fn is_prose(b: &Block) -> bool {
    let own = b.words - b.link_words;
    if b.chrome || b.heading.is_some() || own < MIN_PROSE_WORDS {
        return false;
    }
    if b.link_share() > MAX_PROSE_LINK_SHARE {
        return false;
    }
    let ends_sentence = b
        .text
        .trim_end_matches(['"', '”', '’', '\'', ')'])
        .ends_with(['.', '!', '?', '…']);
    ends_sentence || lang::function_word_density(&b.text) >= MIN_PROSE_DENSITY
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Words under the element: in prose blocks outside links, in links, and the rest.
    prose: usize,
    links: usize,
    other: usize,
    /// The blocks' scores, each weighted by how far up from its block the element is
    /// (see [`decay`]).
    near: f32,
    depth: usize,
    /// Marked as the article by the page (`<article>`, `itemprop="articleBody"`).
    marked: bool,
}

impl Tally {
    /// How likely the element is the article's own: mostly the prose right inside it.
    fn score(&self) -> f32 {
        self.near
    }
}

/// A block's score: its prose words, less its link words and a quarter of its other words.
fn block_score(b: &Block, prose: bool) -> f32 {
    let own = (b.words - b.link_words) as f32;
    let links = b.link_words as f32;
    if prose {
        own - links
    } else if b.heading.is_some() {
        -links
    } else {
        -links - OTHER_WEIGHT * own
    }
}

/// The weight of a block's score `up` levels above its own element: whole for the element
/// and the one holding it (a `<p>` and its container), half one level up, less further
/// (Readability's weights, counted from the paragraph's container).
fn decay(up: usize) -> f32 {
    match up {
        0 | 1 => 1.0,
        2 => 0.5,
        n => 1.0 / (3 * (n - 1)) as f32,
    }
}

/// Whether the page marks `el` as its article.
fn marked(el: &scraper::node::Element) -> bool {
    el.name() == "article"
        || el
            .attr("itemprop")
            .is_some_and(|p| p.split_whitespace().any(|p| p == "articleBody"))
}

/// Finds the article body among `blocks` of `doc`.
pub fn find(doc: &Html, blocks: &[Block]) -> Result<Body, NoBody> {
    let prose: Vec<bool> = blocks.iter().map(is_prose).collect();
    let mut tallies: HashMap<NodeId, Tally> = HashMap::new();
    for (b, &good) in blocks.iter().zip(&prose) {
        if b.chrome {
            continue;
        }
        let Some(parent) = doc.tree.get(b.parent) else {
            continue;
        };
        let chain: Vec<_> = std::iter::once(parent).chain(parent.ancestors()).collect();
        let depth = chain.len();
        let score = block_score(b, good);
        for (up, node) in chain.into_iter().enumerate() {
            let t = tallies.entry(node.id()).or_insert_with(|| Tally {
                marked: node.value().as_element().is_some_and(marked),
                ..Tally::default()
            });
            t.depth = depth - up;
            t.near += decay(up) * score;
            if good {
                t.prose += b.words - b.link_words;
                t.links += b.link_words;
            } else if b.heading.is_some() {
                t.links += b.link_words;
            } else {
                t.links += b.link_words;
                t.other += b.words - b.link_words;
            }
        }
    }
    // Where the page marks its article, the body is inside it.
    let page_prose = tallies.values().map(|t| t.prose).max().unwrap_or(0);
    let scope = tallies
        .iter()
        .filter(|(_, t)| t.marked && t.prose as f32 >= MARKED_SHARE * page_prose as f32)
        .max_by_key(|(id, t)| (t.prose, std::cmp::Reverse(**id)))
        .map(|(id, _)| *id);
    // The best score; a tie goes to the deeper element (it holds the same prose with less
    // around it), then to the earlier one.
    let best = tallies
        .iter()
        .filter(|(id, t)| t.prose > 0 && scope.is_none_or(|m| within(doc, **id, m)))
        .max_by(|a, b| {
            a.1.score()
                .total_cmp(&b.1.score())
                .then(a.1.depth.cmp(&b.1.depth))
                .then(b.0.cmp(a.0))
        })
        .map(|(id, t)| (*id, *t));
    if tracing::enabled!(tracing::Level::DEBUG) {
        let mut all: Vec<_> = tallies.iter().collect();
        all.sort_by(|a, b| b.1.score().total_cmp(&a.1.score()));
        for (id, t) in all.iter().take(8) {
            tracing::debug!(
                "body candidate {:.1} {t:?} {}",
                t.score(),
                describe(doc, **id)
            );
        }
    }
    let Some((mut best, mut tally)) = best else {
        return Err(no_body(doc, blocks));
    };
    // The parent is taken too when what it adds is more of the article: more prose with
    // few links (the story split over several elements), or no prose and few links (a
    // dateline in bold beside the text, a sign-off). Below it, lists are pruned.
    while let Some(up) = doc.tree.get(best).and_then(|n| n.parent()) {
        if tally.marked {
            // The page says this is its article; nothing around it is.
            break;
        }
        let Some(t) = tallies.get(&up.id()).filter(|_| up.value().is_element()) else {
            break;
        };
        let added_links = (t.links - tally.links) as f32;
        let added_prose = t.prose - tally.prose;
        let per = if added_prose > 0 {
            added_prose
        } else {
            tally.prose
        };
        if added_links > CLIMB_LINKS * per as f32 {
            break;
        }
        best = up.id();
        tally = *t;
    }
    // Inside it, an element of links without prose, or with more links than prose, is a
    // list of other articles, tags or sharing: all of it is left out.
    // So is one the page names as chrome (Readability's negative class names) that holds
    // a small share of the prose. Neither is ever one holding half the prose or more.
    let pruned = |id: NodeId| {
        let Some(t) = tallies.get(&id) else {
            return false;
        };
        let minor = t.prose * 2 < tally.prose;
        let links = (t.prose == 0 && t.links > t.other) || (t.prose > 0 && t.links > t.prose);
        minor && (links || named_chrome(doc, id))
    };

    let inside: Vec<usize> = (0..blocks.len())
        .filter(|&i| !blocks[i].chrome && within(doc, blocks[i].parent, best))
        .collect();
    let own_prose: usize = inside
        .iter()
        .filter(|&&i| prose[i] && !blocks[i].caption)
        .map(|&i| blocks[i].words - blocks[i].link_words)
        .sum();
    let mut body = Body {
        blocks: Vec::new(),
        element: describe(doc, best),
        words: tally.prose,
        left_out: Vec::new(),
    };
    for i in inside {
        let b = &blocks[i];
        let in_list = doc.tree.get(b.parent).is_some_and(|n| {
            std::iter::once(n)
                .chain(n.ancestors())
                .take_while(|a| a.id() != best)
                .any(|a| pruned(a.id()))
        });
        if in_list {
            body.left_out.push((
                i,
                "inside an element of links or one named as chrome (sharing, related, newsletter…)",
            ));
        } else if b.link_words > 0 && b.link_share() > 0.5 {
            body.left_out
                .push((i, "mostly links: a list of other articles, tags or sharing"));
        } else if b.caption && own_prose >= CAPTION_ONLY_BELOW {
            body.left_out.push((i, "a photo caption"));
        } else {
            body.blocks.push(i);
        }
    }
    Ok(body)
}

/// Words in class names and ids that name the site's chrome: sharing, comments, related
/// and popular lists, newsletters, ads, ratings, tags. A class or id part equal to one of
/// `CHROME_NAMES`, or starting with one of `CHROME_PREFIXES`, names chrome.
const CHROME_NAMES: &[&str] = &["ad", "ads", "tag", "tags", "nav", "vote", "iklan", "menu"];
const CHROME_PREFIXES: &[&str] = &[
    "comment",
    "komentar",
    "share",
    "sharing",
    "social",
    "sosmed",
    "related",
    "terkait",
    "newsletter",
    "subscri",
    "langganan",
    "promo",
    "banner",
    "advert",
    "sponsor",
    "widget",
    "sidebar",
    "footer",
    "rating",
    "popular",
    "populer",
    "terpopuler",
    "trending",
    "recommend",
    "rekomendasi",
    "bacajuga",
    "outbrain",
    "taboola",
    "breadcrumb",
    "gallery-list",
    "hashtag",
];

/// Whether the element's class or id names it as chrome.
fn named_chrome(doc: &Html, id: NodeId) -> bool {
    let Some(el) = doc
        .tree
        .get(id)
        .and_then(|n| n.value().as_element().cloned())
    else {
        return false;
    };
    let named = [el.attr("class"), el.attr("id")]
        .into_iter()
        .flatten()
        .flat_map(|v| v.split(|c: char| c.is_whitespace() || c == '-' || c == '_'))
        .map(str::to_ascii_lowercase)
        .any(|part| {
            let part = part.trim_end_matches(|c: char| c.is_ascii_digit());
            CHROME_NAMES.contains(&part) || CHROME_PREFIXES.iter().any(|p| part.starts_with(p))
        });
    named
}

/// Whether `node` is `ancestor` or inside it.
fn within(doc: &Html, node: NodeId, ancestor: NodeId) -> bool {
    node == ancestor
        || doc
            .tree
            .get(node)
            .is_some_and(|n| n.ancestors().any(|a| a.id() == ancestor))
}

/// The best candidate of a page without prose: the element holding the most text.
fn no_body(doc: &Html, blocks: &[Block]) -> NoBody {
    let mut per: HashMap<NodeId, (usize, usize)> = HashMap::new();
    for b in blocks.iter().filter(|b| !b.chrome) {
        let e = per.entry(b.parent).or_default();
        e.0 += b.words;
        e.1 += b.link_words;
    }
    match per
        .into_iter()
        .max_by_key(|&(id, (words, _))| (words, std::cmp::Reverse(id)))
    {
        Some((id, (words, links))) => NoBody {
            element: describe(doc, id),
            words,
            link_share: links as f32 / words.max(1) as f32,
        },
        None => NoBody {
            element: "the page".to_string(),
            words: 0,
            link_share: 0.0,
        },
    }
}

/// `<div id="x" class="y">`: how a user finds the element in the page's source.
pub fn describe(doc: &Html, id: NodeId) -> String {
    let Some(el) = doc
        .tree
        .get(id)
        .and_then(|n| n.value().as_element().cloned())
    else {
        return "the page".to_string();
    };
    let mut s = format!("<{}", el.name());
    for attr in ["id", "class", "itemprop"] {
        if let Some(v) = el.attr(attr) {
            let v = super::collapse(v);
            let v: String = v.chars().take(60).collect();
            s.push_str(&format!(" {attr}=\"{v}\""));
        }
    }
    s.push('>');
    s
}

#[cfg(test)]
mod tests {
    use super::super::blocks::blocks;
    use super::*;

    fn body_text(html: &str) -> Result<Vec<String>, NoBody> {
        let doc = Html::parse_document(html);
        let b = blocks(&doc);
        find(&doc, &b).map(|body| body.blocks.iter().map(|&i| b[i].text.clone()).collect())
    }

    const P1: &str = "Menteri itu mengatakan bahwa pemerintah akan melanjutkan upaya ini dengan bantuan dari para mitra.";
    const P2: &str = "Dia juga menyebutkan bahwa anggaran untuk program tersebut sudah disiapkan sejak awal tahun.";

    #[test]
    fn takes_text_between_line_breaks_over_a_sidebar_of_headlines() {
        let sidebar: String = (0..12)
            .map(|i| format!("<li><a href='/{i}'>Judul berita lain nomor {i} yang cukup panjang sekali</a></li>"))
            .collect();
        let got = body_text(&format!(
            "<body><div class='side'><h3>Terkait</h3><ul>{sidebar}</ul></div>\
             <div class='story'><br><br>{P1}<br><br>{P2}<br><br></div>\
             <div class='footer'><a href='/a'>About Us</a> - <a href='/b'>Advertise</a></div></body>"
        ))
        .unwrap();
        assert_eq!(got, [P1, P2]);
    }

    #[test]
    fn leaves_out_link_lists_and_captions_inside_the_article() {
        let got = body_text(&format!(
            "<body><article><figure><img src='a.jpg'><figcaption>Suasana rapat di gedung DPR \
             pada hari Senin yang lalu.</figcaption></figure><p>{P1}</p>\
             <p>Baca juga: <a href='/x'>Judul berita lain yang juga panjang</a></p><p>{P2}</p>\
             <p>{P1} {P2}</p></article></body>"
        ))
        .unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], P1);
    }

    #[test]
    fn a_photo_page_keeps_its_caption() {
        let got = body_text(
            "<body><div class='gallery'><figure><img src='a.jpg'><figcaption>Petugas PLN \
             memeriksa gardu induk yang baru diresmikan di Jakarta.</figcaption></figure></div>\
             </body>",
        )
        .unwrap();
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn a_page_of_links_has_no_body_and_says_what_it_had() {
        let err = body_text(
            "<body><div class='footer'><a href='/a'>About Us</a> - <a href='/b'>Advertise</a> \
             <a href='/c'>Policy</a> <a href='/d'>Career</a> <a href='/e'>Contact Us</a></div></body>",
        )
        .unwrap_err();
        assert_eq!(err.element, "<div class=\"footer\">");
        assert_eq!(err.words, 8);
        assert!(err.link_share > 0.8);
    }
}

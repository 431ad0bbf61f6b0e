//! An HTML page as the reader sees it: a list of text blocks in reading order, each with
//! how much of it is link text, where it sits in the tree, and whether it is a heading, a
//! caption or inside the site's chrome (navigation, header, footer, asides, forms, hidden).
//!
//! Every later decision (which element holds the article, which heading is the headline,
//! which date line sits under it) is made on these blocks, so the page's tree is walked
//! once. The walk is iterative: deeply nested markup cannot overflow the stack.
use std::collections::{HashMap, HashSet};

use ego_tree::{NodeId, NodeRef};
use scraper::{Html, Node};

/// One block of text: the text between two block boundaries (a block element's start or
/// end, or a `<br>`).
#[derive(Debug, Clone)]
pub struct Block {
    /// The text, whitespace collapsed.
    pub text: String,
    pub words: usize,
    /// Words inside links (`<a href>`).
    pub link_words: usize,
    /// The nearest block element holding the text.
    pub parent: NodeId,
    /// 1 for `<h1>` ... 6 for `<h6>`.
    pub heading: Option<u8>,
    /// Inside navigation, a page header or footer, an aside, a form, a menu, or hidden.
    pub chrome: bool,
    /// Inside a `<figure>` or `<figcaption>`, or short text beside an image: a caption.
    pub caption: bool,
}

impl Block {
    pub fn link_share(&self) -> f32 {
        if self.words == 0 {
            return 0.0;
        }
        self.link_words as f32 / self.words as f32
    }
}

/// Elements that hold no readable text.
const UNREAD: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "head", "title", "iframe", "select",
    "option", "button", "textarea", "input", "object", "embed", "canvas", "video", "audio", "map",
    "math",
];

/// Elements whose text is the site's, not the article's.
const CHROME: &[&str] = &["nav", "header", "footer", "aside", "form", "menu", "dialog"];

/// ARIA roles of the same.
const CHROME_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "menu",
    "menubar",
    "dialog",
];

/// Elements that flow inside a line of text; every other element starts and ends a block.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "dfn", "em", "font", "i", "img",
    "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
    "time", "tt", "u", "var", "wbr", "ins", "del", "nobr",
];

/// Whether any element under `node` starts a block of its own.
fn holds_blocks(node: NodeRef<'_, Node>) -> bool {
    node.descendants().skip(1).any(|d| {
        d.value()
            .as_element()
            .is_some_and(|e| !INLINE.contains(&e.name()) && !UNREAD.contains(&e.name()))
    })
}

/// Whether the element is hidden from readers.
fn hidden(el: &scraper::node::Element) -> bool {
    if el.attr("hidden").is_some() || el.attr("aria-hidden") == Some("true") {
        return true;
    }
    el.attr("style").is_some_and(|s| {
        // Most styles say neither word: only those are read closely.
        let lower = s.to_ascii_lowercase();
        (lower.contains("none") || lower.contains("hidden")) && {
            let s: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
            s.contains("display:none") || s.contains("visibility:hidden")
        }
    })
}

fn is_chrome(el: &scraper::node::Element) -> bool {
    CHROME.contains(&el.name())
        || el
            .attr("role")
            .is_some_and(|r| CHROME_ROLES.contains(&r.trim().to_ascii_lowercase().as_str()))
        || hidden(el)
}

/// The blocks of `doc`'s `<body>` (or of the whole document when it has none), in reading
/// order.
pub fn blocks(doc: &Html) -> Vec<Block> {
    let root = doc.tree.root();
    let start = root
        .descendants()
        .find(|n| n.value().as_element().is_some_and(|e| e.name() == "body"))
        .unwrap_or(root);

    struct Open {
        id: NodeId,
        heading: Option<u8>,
        chrome: bool,
        caption: bool,
    }
    enum Step<'a> {
        Enter(NodeRef<'a, Node>),
        LeaveBlock,
        LeaveLink,
    }
    let mut out = Vec::new();
    let mut pictured_parents = Vec::new();
    let mut text = String::new();
    let mut link_words = 0usize;
    let mut links = 0usize;
    // The open block elements, innermost last; the root stands for the document.
    let mut open = vec![Open {
        id: start.id(),
        heading: None,
        chrome: false,
        caption: false,
    }];
    let flush = |text: &mut String, link_words: &mut usize, open: &[Open], out: &mut Vec<Block>| {
        let collapsed = super::collapse(text);
        text.clear();
        let words = collapsed.split_whitespace().count();
        let linked = std::mem::take(link_words).min(words);
        if words == 0 {
            return;
        }
        let top = open.last().expect("the root is never closed");
        out.push(Block {
            text: collapsed,
            words,
            link_words: linked,
            parent: top.id,
            heading: open.iter().rev().find_map(|o| o.heading),
            chrome: open.iter().any(|o| o.chrome),
            caption: open.iter().any(|o| o.caption),
        });
    };
    let mut stack: Vec<Step> = start.children().rev().map(Step::Enter).collect();
    while let Some(step) = stack.pop() {
        let node = match step {
            Step::LeaveBlock => {
                flush(&mut text, &mut link_words, &open, &mut out);
                open.pop();
                continue;
            }
            Step::LeaveLink => {
                links -= 1;
                continue;
            }
            Step::Enter(node) => node,
        };
        match node.value() {
            Node::Text(t) => {
                if links > 0 {
                    link_words += t.split_whitespace().count();
                }
                text.push_str(t);
            }
            Node::Element(el) => {
                let name = el.name();
                if UNREAD.contains(&name) {
                    continue;
                }
                if name == "br" || name == "hr" {
                    flush(&mut text, &mut link_words, &open, &mut out);
                    continue;
                }
                if matches!(name, "td" | "th") && !holds_blocks(node) {
                    // A row of cells of plain text ("Penulis | : | Nama") reads as one line;
                    // a cell holding paragraphs (a layout table) is a block like any other.
                    text.push(' ');
                    stack.extend(node.children().rev().map(Step::Enter));
                    continue;
                }
                if INLINE.contains(&name) {
                    if hidden(el) {
                        continue;
                    }
                    if name == "a" && el.attr("href").is_some() {
                        links += 1;
                        stack.push(Step::LeaveLink);
                    }
                    stack.extend(node.children().rev().map(Step::Enter));
                    continue;
                }
                flush(&mut text, &mut link_words, &open, &mut out);
                let heading = match name.as_bytes() {
                    [b'h', d @ b'1'..=b'6'] => Some(d - b'0'),
                    _ => None,
                };
                // (A paragraph with an image inline is text with a picture in it.)
                let pictured = name != "p"
                    && node.children().any(|c| {
                        c.value()
                            .as_element()
                            .is_some_and(|e| matches!(e.name(), "img" | "picture"))
                    });
                if pictured {
                    pictured_parents.push(node.id());
                }
                open.push(Open {
                    id: node.id(),
                    heading,
                    chrome: is_chrome(el),
                    caption: matches!(name, "figure" | "figcaption"),
                });
                stack.push(Step::LeaveBlock);
                stack.extend(node.children().rev().map(Step::Enter));
            }
            _ => {}
        }
    }
    flush(&mut text, &mut link_words, &open, &mut out);
    // Short text beside an image in the same element is the image's caption.
    if !pictured_parents.is_empty() {
        let pictured: HashSet<NodeId> = pictured_parents.into_iter().collect();
        let mut words: HashMap<NodeId, usize> = HashMap::new();
        for b in out.iter().filter(|b| pictured.contains(&b.parent)) {
            *words.entry(b.parent).or_default() += b.words;
        }
        for b in &mut out {
            if words.get(&b.parent).is_some_and(|&w| w <= CAPTION_WORDS) {
                b.caption = true;
            }
        }
    }
    out
}

/// Text beside an image is its caption when the element holding both has at most this
/// many words; an article body with an image among its paragraphs has more.
const CAPTION_WORDS: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_block_elements_and_line_breaks_and_counts_link_words() {
        let doc = Html::parse_document(
            "<body><nav><a href='/'>Beranda</a></nav><div class='x'><b>JAKARTA</b> - Isi satu \
             <a href='/a'>tautan dua</a>.<br><br>Isi dua.<h2>Sub judul</h2></div>\
             <figure><figcaption>Foto: AFP</figcaption></figure>\
             <p style='display: none'>tersembunyi</p><script>var x</script>\
             <div class='pic'><img src='a.jpg'><span>Galaxy S6 Edge (ist)</span></div>\
             <table><tr><td>Penulis</td><td>:</td><td>Budi</td></tr>\
             <tr><td><p>Sel tata letak</p></td></tr></table></body>",
        );
        let b = blocks(&doc);
        let texts: Vec<&str> = b.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Beranda",
                "JAKARTA - Isi satu tautan dua.",
                "Isi dua.",
                "Sub judul",
                "Foto: AFP",
                "tersembunyi",
                "Galaxy S6 Edge (ist)",
                "Penulis : Budi",
                "Sel tata letak"
            ]
        );
        assert!(b[0].chrome && !b[1].chrome);
        assert_eq!((b[1].words, b[1].link_words), (6, 2));
        assert_eq!(b[1].parent, b[2].parent);
        assert_eq!(b[3].heading, Some(2));
        assert!(b[4].caption);
        assert!(b[5].chrome, "hidden text is chrome");
        assert!(b[6].caption, "short text beside an image is its caption");
        assert!(!b[1].caption);
        let doc = Html::parse_document(
            "<body><p><img src='a.jpg'>Presiden meresmikan bendungan itu pada hari Senin.</p></body>",
        );
        assert!(
            !blocks(&doc)[0].caption,
            "a paragraph with an inline image is text"
        );
    }
}

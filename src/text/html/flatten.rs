//! Pathologically deep pages made shallow before they are parsed.
//!
//! The HTML parser's scope checks cost time in proportion to the nesting depth, so a page
//! nested 100,000 levels deep would take minutes. Below [`MAX_DEPTH`] the tags are dropped
//! and their text kept, as browsers stop nesting (Chromium at 512).

/// Deeper than this, start and end tags are dropped and their text kept, as browsers stop
/// nesting (Chromium at 512). The HTML parser's scope checks cost time in proportion to the
/// depth, so a page nested 100,000 levels deep would otherwise take minutes.
pub const MAX_DEPTH: usize = 512;

/// Elements that never hold children or close themselves; they do not add depth.
const NO_DEPTH: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "tr", "td", "th",
];

/// `html` with the tags below [`MAX_DEPTH`] removed, or `None` when it is not that deep.
/// The depth is estimated from start and end tags alone; it only needs to be right for
/// well-nested pages, since real pages are nowhere near the limit.
pub fn flatten_deep(html: &str) -> Option<String> {
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
        let bare = tag.trim_start_matches('/');
        if !bare.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let name = &bare[..bare
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(bare.len())];
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if !closing && (is("script") || is("style") || is("textarea") || is("title")) {
            // Raw text: skip to its end tag.
            i = end;
            loop {
                let Some(p) = bytes[i..].iter().position(|&b| b == b'<') else {
                    i = bytes.len();
                    break;
                };
                let at = i + p;
                let rest = &bytes[at + 1..];
                if rest.first() == Some(&b'/')
                    && rest.len() > name.len()
                    && rest[1..=name.len()].eq_ignore_ascii_case(name.as_bytes())
                {
                    i = at;
                    break;
                }
                i = at + 1;
            }
            continue;
        }
        if NO_DEPTH.iter().any(|n| is(n)) || tag.ends_with('/') {
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

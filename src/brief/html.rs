//! `briefing.html`: one self-contained page (no network: inline CSS and script), readable
//! on a phone. A timeline lists the articles by date; the overview and each article's
//! summary follow. A citation is a link to its sentence in the sources list at the end;
//! with script on, hovering or tapping it opens a card with the sentence in English and
//! Indonesian.
use std::fmt::Write;

use super::briefing::Briefing;

/// Text escaped for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The element id of a cited sentence (`s-` and the sentence id, with anything outside
/// letters, digits, `-`, `_`, `:` and `.` replaced by `-`).
pub fn anchor(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("s-{safe}")
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --accent: #1f6feb; --muted: #6e7781; --card: #fff; --line: #d0d7de; }
@media (prefers-color-scheme: dark) { :root { --card: #161b22; --line: #30363d; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 46rem; padding: 1rem; font: 17px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.6rem; margin: .2rem 0; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .2rem; }
.meta { color: var(--muted); font-size: .9rem; }
ol.timeline { list-style: none; padding: 0 0 0 1rem; border-left: 3px solid var(--accent); }
ol.timeline li { margin: .4rem 0; } ol.timeline time { display: inline-block; min-width: 6.5rem; font-variant-numeric: tabular-nums; color: var(--muted); }
a.cite { text-decoration: none; font-size: .75em; vertical-align: super; padding: 0 .15em; color: var(--accent); }
#card { position: fixed; left: .5rem; right: .5rem; bottom: .5rem; max-width: 40rem; margin: 0 auto; background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .8rem 1rem; box-shadow: 0 4px 18px rgba(0,0,0,.25); }
#card[hidden] { display: none; } #card .id { color: var(--muted); font-size: .8rem; } #card .src { font-style: italic; }
ol.sources li { margin: .5rem 0; } ol.sources .src { font-style: italic; color: var(--muted); }
ol.sources li:target { background: rgba(31,111,235,.12); }
"#;

const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('sentences').textContent);
  var card = document.getElementById('card');
  function show(link) {
    var s = data[link.dataset.id];
    if (!s) return;
    card.querySelector('.id').textContent = link.dataset.id;
    card.querySelector('.en').textContent = s.en;
    card.querySelector('.src').textContent = s.id;
    card.hidden = false;
  }
  document.querySelectorAll('a.cite').forEach(function (a) {
    a.addEventListener('mouseenter', function () { show(a); });
    a.addEventListener('click', function (e) { e.preventDefault(); show(a); });
  });
  card.addEventListener('click', function () { card.hidden = true; });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') card.hidden = true; });
})();
"#;

/// Renders the briefing as one HTML page.
pub fn render(b: &Briefing) -> String {
    let used = super::cited_ids(b);
    let anchors = super::labels(&used, anchor, false);
    let sentences = super::sentences_by_id(b);
    let number: std::collections::HashMap<&str, usize> = used
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i + 1))
        .collect();
    let cite = |ids: &[String], out: &mut String| {
        for id in ids {
            let n = number.get(id.as_str()).copied().unwrap_or(0);
            let _ = write!(
                out,
                "<a class=\"cite\" href=\"#{}\" data-id=\"{}\">[{n}]</a>",
                esc(&anchors[id]),
                esc(id)
            );
        }
    };
    let mut body = String::new();
    let n = b.articles.len();
    let range = match b.date_range() {
        Some((from, to)) if from == to => from,
        Some((from, to)) => format!("{from} to {to}"),
        None => "undated".to_string(),
    };
    let _ = write!(
        body,
        "<header><h1>Briefing</h1><p class=\"meta\">{n} article{} · {}</p></header>",
        if n == 1 { "" } else { "s" },
        esc(&range)
    );
    body.push_str("<section><h2>Timeline</h2><ol class=\"timeline\">");
    for a in &b.articles {
        let day = a.day().unwrap_or("undated");
        let _ = write!(
            body,
            "<li><time>{}</time> <a href=\"#a-{}\">{}</a></li>",
            esc(day),
            esc(&anchor(&a.id)),
            esc(a.heading())
        );
    }
    body.push_str("</ol></section>");
    if !b.overview.is_empty() {
        body.push_str("<section><h2>Overview</h2><ul>");
        for s in &b.overview {
            let _ = write!(body, "<li>{}", esc(&s.text));
            cite(&s.citations, &mut body);
            body.push_str("</li>");
        }
        body.push_str("</ul></section>");
    }
    body.push_str("<section><h2>Articles</h2>");
    for a in &b.articles {
        let _ = write!(
            body,
            "<article id=\"a-{}\"><h3>{}</h3>",
            esc(&anchor(&a.id)),
            esc(a.heading())
        );
        let meta: Vec<String> = a.byline().map(esc).collect();
        if !meta.is_empty() {
            let _ = write!(body, "<p class=\"meta\">{}</p>", meta.join(" · "));
        }
        body.push_str("<p>");
        for (i, s) in a.summary.iter().enumerate() {
            if i > 0 {
                body.push(' ');
            }
            body.push_str(&esc(&s.text));
            cite(&s.citations, &mut body);
        }
        body.push_str("</p></article>");
    }
    body.push_str("</section><section><h2>Sources</h2><ol class=\"sources\">");
    let mut data = serde_json::Map::new();
    for id in &used {
        if let Some(s) = sentences.get(id.as_str()) {
            let _ = write!(
                body,
                "<li id=\"{}\">{}<br><span class=\"src\">{}</span></li>",
                esc(&anchors[id]),
                esc(&s.translation),
                esc(&s.text)
            );
            data.insert(
                id.clone(),
                serde_json::json!({"en": s.translation, "id": s.text}),
            );
        }
    }
    body.push_str("</ol></section>");
    // Inside <script>, "</script" and "<!--" change how the page is parsed; with <, > and &
    // written as JSON escapes, no text can.
    let json = serde_json::Value::Object(data)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Briefing · {}</title><style>{STYLE}</style></head><body>{body}\
         <div id=\"card\" role=\"dialog\" hidden><div class=\"id\"></div><div class=\"en\"></div>\
         <div class=\"src\"></div></div>\
         <script type=\"application/json\" id=\"sentences\">{json}</script>\
         <script>{SCRIPT}</script></body></html>\n",
        esc(&range)
    )
}

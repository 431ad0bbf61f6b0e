//! When the article was published, by a cascade over what the page states and shows.
//!
//! 1. **Stated**: JSON-LD `datePublished`, `article:published_time`, then the many `<meta>`
//!    names sites use (`pubdate`, `publishdate`, `content_PublishedDate`, `dc.date`,
//!    `date`, …), then `<time>` marked `pubdate` or `itemprop="datePublished"`. Modified,
//!    updated and created times are never the publication time.
//! 2. **Shown**: the date line near the headline (a short block right under it, or just
//!    above it, before the article's prose begins), in Indonesian or English. A line
//!    labelled "Diperbarui"/"Updated" is passed over, and so are dates further away
//!    (sidebars, lists of other articles).
//! 3. **Reconciled**: the stated time wins, the shown line checks it. When a stated time
//!    with no zone agrees with the shown one, it takes the shown zone. When the page's
//!    stated times read the wall clock the page shows but mark it UTC (a stated time whose
//!    clock equals the shown line's while their instants differ), every stated time in
//!    that zone is read in the shown zone instead. An instant stated in UTC and shown in
//!    WIB is the same instant, and stays as stated. A shown time completes a stated day.
//! 4. **The address**: the day in the page's URL, when nothing else gives one.
use super::blocks::Block;
use super::body;
use super::markup::Markup;
use crate::text::dates::{self, PageDate};

/// The publication time and how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub date: PageDate,
    /// For `--explain`.
    pub why: String,
}

/// `<meta>` names (lower case) that state the publication time, most trusted first.
const META_PUBLISHED: &[&str] = &[
    "article:published_time",
    "og:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "published_time",
    "published-date",
    "published_date",
    "publication_date",
    "content_publisheddate",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "date",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
    "article_date_original",
    "original-publish-date",
    "pub_date",
    "release_date",
    "cxenseparse:recs:publishtime",
];

/// `<meta>` names of other times of the article: never the publication time, but they
/// show how the page writes its times.
const META_OTHER: &[&str] = &[
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "datecreated",
    "last-modified",
    "dc.date.modified",
    "dcterms.modified",
];

/// How many blocks under the headline (and above it) may hold its date line.
const BELOW: usize = 8;
const ABOVE: usize = 3;
/// A block longer than this is prose, and a date in it is something the article tells.
const DATE_LINE_WORDS: usize = 25;

/// Every stated time: `(where, value as written, is it the publication time)`.
fn stated(m: &Markup) -> Vec<(String, PageDate, bool)> {
    let mut out = Vec::new();
    let mut push = |label: String, value: &str, published: bool| {
        if let Some(d) = dates::parse(value) {
            out.push((label, d, published));
        }
    };
    if let Some(v) = &m.ld.published {
        push("JSON-LD datePublished".into(), v, true);
    }
    for key in META_PUBLISHED {
        for v in m.metas(key) {
            push(format!("<meta {key}>"), v, true);
        }
    }
    for t in &m.times {
        let prop = t.itemprop.as_deref().unwrap_or("");
        let published = t.pubdate || prop == "datepublished";
        let label = if prop.is_empty() {
            "<time>".to_string()
        } else {
            format!("<… itemprop={prop}>")
        };
        if published || prop.starts_with("date") {
            push(label, &t.value, published);
        }
    }
    if let Some(v) = &m.ld.created {
        push("JSON-LD dateCreated".into(), v, false);
    }
    if let Some(v) = &m.ld.modified {
        push("JSON-LD dateModified".into(), v, false);
    }
    for key in META_OTHER {
        for v in m.metas(key) {
            push(format!("<meta {key}>"), v, false);
        }
    }
    out
}

/// The date line near the headline (block `headline`), or, without one, just above the
/// body (block `body_start`).
fn shown(blocks: &[Block], headline: Option<usize>, body_start: Option<usize>) -> Option<PageDate> {
    static UPDATED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(diperbarui|pembaruan|updated?|last updated|modified)\b")
            .expect("valid")
    });
    let order: Vec<usize> = match (headline, body_start) {
        (Some(h), _) => {
            // Under the headline, up to where the article's prose begins.
            let below = (h + 1..(h + 1 + BELOW).min(blocks.len()))
                .take_while(|&i| !body::is_prose(&blocks[i]));
            below.chain((h.saturating_sub(ABOVE)..h).rev()).collect()
        }
        (None, Some(b)) => (b.saturating_sub(BELOW)..(b + ABOVE).min(blocks.len())).collect(),
        (None, None) => return None,
    };
    let mut day_only = None;
    for i in order {
        let b = &blocks[i];
        if b.words > DATE_LINE_WORDS || b.link_share() > 0.5 {
            continue;
        }
        for (range, d) in dates::find_all(&b.text) {
            if UPDATED.is_match(&b.text[..range.start]) {
                continue;
            }
            if d.time.is_some() {
                return Some(d);
            }
            day_only.get_or_insert(d);
        }
    }
    day_only
}

/// Decides when the article was published.
pub fn find(
    m: &Markup,
    blocks: &[Block],
    headline: Option<usize>,
    body_start: Option<usize>,
) -> Option<Published> {
    let mut stated = stated(m);
    let shown = shown(blocks, headline, body_start);

    // The page's stated times may write its wall clock marked as another zone.
    let mut notes = Vec::new();
    if let Some(s) = shown.as_ref().filter(|s| s.offset_minutes.is_some()) {
        // (A time of a later edit says nothing of how the publication time is written.)
        let edited = |label: &str| {
            let l = label.to_lowercase();
            l.contains("modified") || l.contains("updated")
        };
        let mislabelled = stated.iter().find(|(label, d, _)| {
            !edited(label)
                && d.offset_minutes.is_some()
                && d.offset_minutes != s.offset_minutes
                && d.wall_minute() == s.wall_minute()
                && d.instant_minute() != s.instant_minute()
        });
        if let Some((label, d, _)) = mislabelled {
            let wrong = d.offset_minutes;
            notes.push(format!(
                "the page's stated times carry the wrong zone ({label} {} is the {} shown on the page), so they are read in the shown zone",
                d.iso(),
                s.iso()
            ));
            for (_, d, _) in stated.iter_mut() {
                if d.offset_minutes == wrong {
                    d.offset_minutes = s.offset_minutes;
                }
            }
        }
    }

    let first = stated.iter().find(|(_, _, published)| *published);
    let (mut date, mut why) = match (first, &shown) {
        (Some((label, d, _)), _) => (d.clone(), format!("stated in {label}")),
        (None, Some(s)) => (s.clone(), "the date line near the headline".to_string()),
        // The date lines of the cleaned text and the day in the address come next, in
        // ingest, which sees both.
        (None, None) => return None,
    };
    if let Some(s) = shown.as_ref().filter(|s| s.date == date.date) {
        if date.time.is_none() && s.time.is_some() {
            date = s.clone();
            why.push_str(", with the time of the date line near the headline");
        } else if date.offset_minutes.is_none()
            && s.offset_minutes.is_some()
            && date.wall_minute() == s.wall_minute()
        {
            date.offset_minutes = s.offset_minutes;
            why.push_str(", in the zone of the date line near the headline");
        }
    }
    notes.insert(0, why);
    Some(Published {
        date,
        why: notes.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{blocks::blocks, markup};
    use super::*;
    use scraper::Html;

    fn published(html: &str, headline: Option<usize>) -> Option<String> {
        let doc = Html::parse_document(html);
        let m = markup::read(&doc);
        let b = blocks(&doc);
        find(&m, &b, headline, None).map(|p| p.date.iso())
    }

    #[test]
    fn stated_metadata_wins_and_modified_times_never_do() {
        let got = published(
            r#"<html><head><meta property="article:modified_time" content="2022-03-11T10:00:00+07:00">
            <meta name="publishdate" content="2022-03-10T14:05:00+07:00"></head><body><h1>J</h1></body></html>"#,
            Some(0),
        );
        assert_eq!(got.as_deref(), Some("2022-03-10T14:05:00+07:00"));
    }

    #[test]
    fn a_wall_clock_marked_utc_is_read_in_the_shown_zone() {
        let got = published(
            r#"<html><head><meta name="pubdate" content="2016-02-23 T16:00:20Z">
            <meta itemprop="dateCreated" content="2016-02-23 T15:32:01Z"></head>
            <body><h1>Judul</h1><div>Selasa, 23/02/2016 15:32 WIB</div></body></html>"#,
            Some(0),
        );
        assert_eq!(got.as_deref(), Some("2016-02-23T16:00:20+07:00"));
    }

    #[test]
    fn a_later_edit_time_never_relabels_the_zone() {
        // The edit time's wall clock matches the shown line; the publication time is an
        // honest UTC instant and stays one.
        let got = published(
            r#"<html><head><meta property="article:published_time" content="2016-02-23T08:32:00Z">
            <meta property="article:modified_time" content="2016-02-23T15:32:00Z"></head>
            <body><h1>Judul</h1><div>Selasa, 23/02/2016 15:32 WIB</div></body></html>"#,
            Some(0),
        );
        assert_eq!(got.as_deref(), Some("2016-02-23T08:32:00Z"));
    }

    #[test]
    fn a_utc_instant_that_the_page_shows_in_wib_stays_as_stated() {
        let html = r#"<html><head><script type="application/ld+json">
            {"@type":"NewsArticle","datePublished":"2016-02-16T02:10:56Z"}</script></head>
            <body><h1>Judul</h1><p>on 16 Feb 2016 at 09:10 WIB</p></body></html>"#;
        assert_eq!(
            published(html, Some(0)).as_deref(),
            Some("2016-02-16T02:10:56Z")
        );
    }

    #[test]
    fn a_stated_time_without_zone_takes_the_shown_zone() {
        let html = r#"<html><body><h1>Judul</h1>
            <time itemprop="datePublished" datetime="2016-02-16 09:10:56">on 16 Feb 2016 at 09:10 WIB</time>
            </body></html>"#;
        assert_eq!(
            published(html, Some(0)).as_deref(),
            Some("2016-02-16T09:10:56+07:00")
        );
    }

    #[test]
    fn the_date_line_under_the_headline_and_not_the_sidebar() {
        let html = r#"<html><body><div class="side"><span>Kamis, 05 November 2015 16:09 WIB</span>
            <h4><a href="/x">Berita lain</a></h4></div>
            <h1>Judul Berita</h1><div>Diperbarui Kamis, 5 November 2015 - 18:00 wib</div>
            <div>Kamis, 5 November 2015 - 15:56 wib</div><p>Isi.</p></body></html>"#;
        assert_eq!(
            published(html, Some(2)).as_deref(),
            Some("2015-11-05T15:56:00+07:00")
        );
    }

    #[test]
    fn the_address_is_left_to_ingest_which_sees_the_text_too() {
        let html = r#"<html><head><link rel="canonical" href="http://x.com/read/2015/11/04/2104/judul"></head>
            <body><h1>Judul</h1><p>Isi.</p></body></html>"#;
        assert_eq!(published(html, Some(0)), None);
    }
}

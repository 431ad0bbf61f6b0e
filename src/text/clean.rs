//! Boilerplate removal: which lines of a page are the article, and which are site chrome.
//!
//! The decisions live in one table, [`RULES`]: a pattern, the part of the page it applies to,
//! what it does, and why. `warta ingest --explain` prints, for every line that is not body
//! text, the rule that took it. Beyond the table, three steps use the page's own structure:
//! the title is the header line repeated most (or the last one above the body), lines that
//! repeat the title are dropped, and a paragraph that repeats earlier text is kept once (which
//! also removes a body printed twice).
//!
//! Rules remove at the grain of what they match. A line goes whole only when it is all
//! boilerplate: one sentence a rule takes, a caption, or a paragraph every sentence of which
//! some rule takes. Inside a paragraph of article text only the matching sentences go (and
//! `Strip` rules cut a trailing credit or the date opening the first paragraph), so a
//! whole article on one line (a JSONL record, a flattened scrape) never goes with one
//! sentence of chrome. Quoted speech is never chrome. A section start (comment section,
//! syndication notice) that opens a paragraph after the first starts its section as a
//! line would. Short lines after the last paragraph of prose that end no sentence (widget
//! titles and buttons) go last. Every removal, at any grain, is in [`Cleaned::dropped`].
//!
//! A page has two parts. The header runs from the top to the first line of prose (a line of
//! eight words or more that ends a sentence, or a long one) that no rule drops; the body is
//! the rest. Quoted speech and datelines are body text and stay. In the header, a date under
//! a headline that is not this article's title belongs to a list of other articles and is
//! not taken as this article's date.
use super::dates::{self, PageDate};
use super::segment;
use regex::Regex;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::LazyLock;

/// One line of the page (after hard-wrapped lines are joined), with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub text: String,
}

/// Where on the page a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Anywhere,
    /// Above the first line of prose.
    Header,
    /// From the first line of prose on.
    Body,
}

/// What a rule does with a line it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Drop this line.
    Drop,
    /// Drop this line and the lines after it up to the next line of prose (a "Baca Juga"
    /// or "Terpopuler" label and the headlines listed under it).
    DropList,
    /// Drop this line and every line after it (comment sections, push-notification blurbs).
    Cut,
    /// Remove the part the pattern's `cut` (or `agency`, `credit`) group matches and go on
    /// with the rest.
    Strip,
    /// The line is the publication date: metadata, not body.
    Date,
    /// The line names the author (and maybe the date): metadata, not body.
    Byline,
}

#[derive(Debug, Clone, Copy)]
pub enum Test {
    /// A regular expression, searched in the line.
    Pattern(&'static str),
    /// A regular expression, searched in a line of at most this many characters. (The
    /// length is checked apart: a bounded repetition of a Unicode class in the pattern
    /// would cost milliseconds to compile at every start.)
    Short(&'static str, usize),
    /// The line is a breadcrumb trail: two to six short section names joined by `>`, `»`,
    /// `›` or ` / `.
    Breadcrumb,
    /// The whole line is one date.
    OnlyDate,
    /// The line is a byline: "Name - date", "Oleh: Name".
    Byline,
    /// The line is a photo caption or credit (see [`is_photo_credit`]).
    PhotoCredit,
    /// A date (maybe labelled, maybe after the outlet's name) opening the article's first
    /// paragraph, before its first sentence (see [`leading_date`]).
    LeadingDate,
    /// Every line (the header's last resort).
    Always,
}

/// One boilerplate rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub zone: Zone,
    pub test: Test,
    pub action: Action,
    pub why: &'static str,
}

/// The boilerplate rules, tried in order; the first that matches a line decides
/// (a `Strip` rule edits the line and lets the later rules look at what is left).
pub static RULES: &[Rule] = &[
    Rule {
        name: "related-list",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(\S+\.(co|com|id|net|org)\S*\s+)?(baca juga|lihat juga|simak juga|berita terkait|artikel terkait|artikel selanjutnya|artikel lainnya|berita lainnya|berita lain|berita populer|berita terpopuler|terpopuler|populer|most viewed|most popular|trending|terkini|berita terkini|topik terkait|tag|tags|topik|rekomendasi|pilihan editor|pilihan redaksi|lainnya|terkait|paling banyak dibaca|video pilihan|forum|halaman)\s*:?$",
        ),
        action: Action::DropList,
        why: "a list of other articles or tags: the label and the lines under it, up to the next paragraph",
    },
    Rule {
        name: "tags",
        zone: Zone::Anywhere,
        test: Test::Pattern(r"(?i)^(tags?|topik terkait|topik)\s*:?\s+[^.!?]{1,80}$"),
        action: Action::Drop,
        why: "the article's tags",
    },
    Rule {
        name: "related-link",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(baca juga|lihat juga|simak juga|tonton juga|artikel terkait|berita terkait|baca selengkapnya|read also|also read|related|pilihan editor|rekomendasi)\s*[:：\-–]\s*\S",
        ),
        action: Action::Drop,
        why: "a link to another article",
    },
    Rule {
        name: "site-chrome",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(headline news|berita utama|breaking news|loading|loading\.\.\.|memuat\.*|ketik untuk mencari|ketik dan tekan enter|cari|cari berita|search|menu|home|beranda|masuk|daftar|login|logout|comscore|to top|back to top|kembali ke atas|advertisement|iklan|scroll to continue with content|scroll untuk melanjutkan|lanjutkan membaca|read more|selengkapnya|lihat semua|print|cetak|copy link|salin tautan|url telah tercopy|ikuti kami|follow us|whatsapp|facebook|twitter|telegram|line|email)\s*:?$",
        ),
        action: Action::Drop,
        why: "a navigation, search or widget label, not article text",
    },
    Rule {
        name: "channel-promo",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^((follow|ikuti|cek|simak|baca|dapatkan)\b.{0,80}\b(google news|whatsapp channel|saluran whatsapp)\b.{0,30}|lewati\b.{0,60}\blanjutkan membaca|akhir dari\b.{0,40})$",
        ),
        action: Action::Drop,
        why: "a pointer to the site's channels, or a skip link",
    },
    Rule {
        name: "share-bar",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(bagikan|share|bagikan artikel ini|share this article)\s*:?(\s+(facebook|twitter|whatsapp|telegram|line|linkedin|email|e-mail|copy link|salin tautan|url telah tercopy|x))*\s*$",
        ),
        action: Action::Drop,
        why: "share buttons",
    },
    Rule {
        name: "breadcrumb",
        zone: Zone::Anywhere,
        test: Test::Breadcrumb,
        action: Action::Drop,
        why: "a breadcrumb trail of site sections",
    },
    Rule {
        name: "comment-section",
        zone: Zone::Body,
        test: Test::Pattern(
            r"(?i)^((tinggalkan (komentar|balasan)|leave a (reply|comment)|your email address will not be published|alamat email anda tidak akan dipublikasikan|%d (blogger menyukai ini|bloggers like this)|bagaimana tanggapan anda mengenai artikel ini|posting komentar|post a comment|tulis komentar|lihat semua komentar|lihat komentar|bergabunglah dalam diskusi)\b.*|(no comments|[0-9]+ (comments?|komentar)|comments?|komentar|share this|bagikan ini|like this|suka ini)\s*:?)$",
        ),
        action: Action::Cut,
        why: "the start of the comment section; it and everything after it are dropped",
    },
    Rule {
        name: "push-notification",
        zone: Zone::Body,
        test: Test::Pattern(
            r"(?i)^(cara untuk mendapatkan berita terbaru|ikuti langkah berikut( ini)? untuk mendapatkan notifikasi|aktifkan notifikasi|izinkan notifikasi|narahubung|kontak media)\b",
        ),
        action: Action::Cut,
        why: "instructions for browser notifications or a press-release contact block; they and everything after them are dropped",
    },
    Rule {
        name: "syndication-footer",
        zone: Zone::Body,
        test: Test::Pattern(
            r"(?i)^(artikel ini telah (tayang|terbit|dimuat) di|simak breaking news dan berita pilihan|dapatkan update berita pilihan|ikuti (berita|kami|saluran|update)\b.{0,60}\b(whatsapp|google news|telegram)|dilarang keras (mengambil|menyalin)|baca juga artikel terkait)",
        ),
        action: Action::Cut,
        why: "the site's syndication, channel or copyright notice; it and everything after it are dropped",
    },
    Rule {
        name: "site-footer",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)(^(powered by|didukung oleh|all rights reserved|redaksi \||pedoman media siber)\b|^(copyright|hak cipta)\b.{0,20}(©|\(c\)|[0-9]{4}|dilindungi|reserved)|(©|\(c\))\s*[0-9]{4}|\ball rights reserved\b)",
        ),
        action: Action::Drop,
        why: "the site's footer",
    },
    Rule {
        name: "pagination",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^((halaman|page)\s*:?(\s*[0-9]+)+(\s+(selanjutnya|berikutnya|next))?|(halaman|page)\s+(selanjutnya|berikutnya|sebelumnya|next|previous)|selanjutnya|berikutnya|sebelumnya|load more|muat lebih banyak)\s*$",
        ),
        action: Action::Drop,
        why: "page navigation",
    },
    Rule {
        name: "video-embed",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(\[(gambas|vidio|video|embed)[^\]]*\]|(simak|tonton|saksikan|lihat)\s+(juga\s+)?(video|vidio)\b.*)$",
        ),
        action: Action::Drop,
        why: "an embedded video or a pointer to one",
    },
    Rule {
        name: "paywall",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(your premium period|berlangganan sekarang|langganan sekarang|subscribe now|sudah berlangganan|masuk untuk membaca)",
        ),
        action: Action::Drop,
        why: "a subscription notice",
    },
    Rule {
        name: "sign-off-line",
        zone: Zone::Body,
        test: Test::Short(
            r"^([(\[]\s*[A-Za-z][A-Za-z0-9]{1,7}(?:\s*/\s*[A-Za-z][A-Za-z0-9]{0,7}){0,3}\s*[)\]]|\(\s*\S+\.(id|com|co)\s*[-–]\s*[\p{L} ]{2,}\))$",
            60,
        ),
        action: Action::Drop,
        why: "an editor's or agency's sign-off such as \"(FJR)\"",
    },
    Rule {
        name: "sign-off",
        zone: Zone::Body,
        test: Test::Pattern(
            r"[.!?…”’]\s*(?P<cut>[(\[]\s*[A-Za-z][A-Za-z0-9]{1,7}(?:\s*/\s*[A-Za-z][A-Za-z0-9]{0,7}){0,3}\s*[)\]])$",
        ),
        action: Action::Strip,
        why: "an editor's or agency's sign-off after the last sentence, such as \"(ARN)\"",
    },
    Rule {
        name: "credit-tail",
        zone: Zone::Body,
        test: Test::Pattern(
            r"(?i)(?:(?P<agency>/\s*(?:afp|reuters|ap|antara|getty images|epa|epa-efe|tass|sputnik|anadolu|xinhua|ist|istimewa|dok)\b[^.!?/]{0,40})|(?P<credit>\(\s*(?-i:\p{Lu})[^()/]*(?:/[^()/]*\p{L}[^()/]*){1,3}\))|[.!?…”’\x22]\s*(?P<cut>\(?(?:foto|photo|ilustrasi)\s*:[^()]{0,80}\)?))\s*$",
        ),
        action: Action::Strip,
        why: "a photo or agency credit closing the paragraph, such as \"/AFP\" or \"(REUTERS/Name)\"",
    },
    Rule {
        name: "leading-date",
        zone: Zone::Body,
        test: Test::LeadingDate,
        action: Action::Strip,
        why: "the publication date printed before the article's first sentence: kept as metadata",
    },
    Rule {
        name: "photo-credit",
        zone: Zone::Anywhere,
        test: Test::PhotoCredit,
        action: Action::Drop,
        why: "a photo caption or credit",
    },
    Rule {
        name: "author-line",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(oleh|penulis|reporter|wartawan|pewarta|kontributor|author|by)\s*[:：]",
        ),
        action: Action::Byline,
        why: "the author's credit: kept as metadata",
    },
    Rule {
        name: "credit-line",
        zone: Zone::Anywhere,
        test: Test::Short(
            r"(?i)^((editor|penyunting|redaktur|sumber|source|fotografer|videografer|redaksi)\s*[:：]\s*\S.*|(editor|penyunting|redaktur|fotografer|videografer)\s+(?-i:\p{Lu}[\p{L}.']*(?:\s+\p{Lu}[\p{L}.']*){0,3})\s*|tim riset\b.*)$",
            80,
        ),
        action: Action::Drop,
        why: "an editor, source or research credit",
    },
    Rule {
        name: "caps-label",
        zone: Zone::Body,
        test: Test::Short(r"^[\p{Lu}0-9][\p{Lu}0-9 &.,'/-]*$", 61),
        action: Action::Drop,
        why: "a short label in capitals between paragraphs (a widget title or a credit)",
    },
    Rule {
        name: "date-line",
        zone: Zone::Header,
        test: Test::OnlyDate,
        action: Action::Date,
        why: "the publication date above the article: kept as metadata",
    },
    Rule {
        name: "byline",
        zone: Zone::Header,
        test: Test::Byline,
        action: Action::Byline,
        why: "the author (and date) above the article: kept as metadata",
    },
    Rule {
        name: "sidebar-date",
        zone: Zone::Body,
        test: Test::OnlyDate,
        action: Action::Drop,
        why: "a date alone between paragraphs belongs to a sidebar or a related link, not to this article (unless it follows a line ending in a colon: a timeline)",
    },
    Rule {
        name: "header-line",
        zone: Zone::Header,
        test: Test::Always,
        action: Action::Drop,
        why: "a short line above the article that is not its title: a section name, menu entry or caption",
    },
];

/// "3. Perjalanan kereta terganggu": an item of the article's own numbered list.
static NUMBERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{1,2}[.)]\s+\p{Lu}").expect("valid"));

static GLUED_RANK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{1,2}\p{Lu}").expect("valid"));

static COMPILED: LazyLock<Vec<Option<Regex>>> = LazyLock::new(|| {
    RULES
        .iter()
        .map(|r| match r.test {
            Test::Pattern(p) | Test::Short(p, _) => {
                Some(Regex::new(p).expect("rule patterns are valid"))
            }
            _ => None,
        })
        .collect()
});

/// Explains a line that is not body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub line: usize,
    pub text: String,
    /// A rule name from [`RULES`], or "title", "title-repeat", "repeat".
    pub rule: &'static str,
    pub why: Cow<'static, str>,
}

/// A page cut into metadata lines and body paragraphs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cleaned {
    pub title: Option<String>,
    /// Dates given above the article, in page order.
    pub header_dates: Vec<PageDate>,
    pub author: Option<String>,
    pub paragraphs: Vec<Line>,
    /// Every non-blank line that is not in `paragraphs`, in page order.
    pub dropped: Vec<Dropped>,
}

/// Splits `text` into lines and collapses whitespace. A dateline alone on its line
/// ("Jakarta, CNN Indonesia --") is joined to the paragraph after it; with `unwrap`,
/// hard-wrapped lines are joined too (plain text only: HTML blocks are never wrapped).
pub fn lines(text: &str, unwrap: bool) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let mut previous_blank = true;
    let mut pending_dateline = false;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if t.is_empty() {
            previous_blank = true;
            continue;
        }
        if let Some(last) = out.last_mut() {
            if pending_dateline || (unwrap && !previous_blank && is_wrapped(&last.text, &t)) {
                last.text.push(' ');
                last.text.push_str(&t);
                pending_dateline = false;
                previous_blank = false;
                continue;
            }
        }
        pending_dateline = super::dateline::is_dateline_only(&t);
        out.push(Line {
            number: i + 1,
            text: t,
        });
        previous_blank = false;
    }
    out
}

/// A line that stops mid-sentence followed by one that starts in lower case was wrapped.
fn is_wrapped(line: &str, next: &str) -> bool {
    let ends_open = !line.ends_with(|c: char| {
        matches!(
            c,
            '.' | '!' | '?' | '…' | ':' | ';' | '"' | '”' | '’' | ')' | ']'
        )
    });
    let first = next.split_whitespace().next().unwrap_or("");
    ends_open
        && line.split_whitespace().nth(4).is_some()
        && next.split_whitespace().nth(1).is_some()
        && next.starts_with(char::is_lowercase)
        && !super::dateline::is_domain(first)
}

/// Whether a line reads as article prose.
fn is_prose(text: &str) -> bool {
    let words = text.split_whitespace().count();
    let ends_sentence = text
        .trim_end_matches(['"', '”', '’', '\'', ')'])
        .ends_with(['.', '!', '?', '…']);
    (words >= 8 && ends_sentence) || words >= 30
}

/// Reads a byline into an author (when it names a person rather than the site) and maybe
/// a date: "Marcheilla Ariesta - 23 Desember 2021 12:30 WIB", "Penulis: Ahmad | Editor: Budi",
/// "Oleh: Ahmad", "Kompas.com - 10/03/2022, 14:05 WIB".
pub fn byline(text: &str) -> Option<(Option<String>, Option<PageDate>)> {
    static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(oleh|penulis|reporter|wartawan|pewarta|kontributor|author|by)\s*[:：]?\s+(?P<name>\p{Lu}[\p{L}.'’ ,]+?)\s*$")
            .expect("valid")
    });
    static DATED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?P<name>\p{Lu}[\p{L}.'’]*(?: \p{Lu}[\p{L}.'’]*)*)\s*[-–—|,/]\s*(?P<date>.+)$",
        )
        .expect("valid")
    });
    let person = |name: &str| {
        let name = name.trim().trim_end_matches(',').trim();
        let outlet_like = super::dateline::is_domain(name)
            || (!name.contains(' ') && !name.chars().any(char::is_lowercase));
        (!name.is_empty() && !outlet_like).then(|| name.to_string())
    };
    // "Penulis: A | Editor: B": the first part that names an author.
    for part in text.split('|') {
        // (Lengths are checked here, not in the patterns: see [`Test::Short`].)
        if let Some(c) = LABELLED
            .captures(part.trim())
            .filter(|c| c["name"].chars().count() <= 80)
        {
            return Some((person(&c["name"]), None));
        }
    }
    let c = DATED
        .captures(text)
        .filter(|c| c["name"].split_whitespace().count() <= 5)?;
    let date = dates::parse(&c["date"])?;
    Some((person(&c["name"]), Some(date)))
}

/// A photo caption or credit: "Foto: …", "©…", "(Foto: Istimewa)" at the end,
/// "… ANTARA FOTO/Hafidz Mubarak A/foc.", "…(KOMPAS.com/GARRY LOTULUNG)", "… Lavrov./AFP",
/// or a caption ending in a "(Photographer/Agency/…)" credit.
pub fn is_photo_credit(text: &str) -> bool {
    static CREDIT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"(?i)(^(©|foto\s*:|photo\s*:|gambar\s*:|ilustrasi\s*:|sumber foto\s*:|keterangan gambar|\((foto|photo)\s*:)",
            r"|\bantara foto/|\bfoto/\s*(?-i:\p{Lu})|[.!?]\s*(foto|photo)\s*:",
            r"|/\s*(afp|reuters|ap|antara|getty images|epa|epa-efe|tass|sputnik|anadolu|xinhua|ist|istimewa|shutterstock|dok|net)\s*\)?\s*$",
            r"|\((foto|photo|dok)\s*[:.][^()]*\)\s*$)",
        ))
        .expect("valid")
    });
    // An agency or photographer credit closing the line, not a sentence: "TEMPO/Imam
    // Sukamto", "(KOMPAS.com/GARRY LOTULUNG)", "…/foc.", standing at the start, after a
    // sentence or in brackets ("… perusahaan Jawa Pos Grup/JPNN." is a sentence's end).
    static TAIL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[.!?(]\s*)\p{Lu}[\p{L}0-9.-]*(?: \p{Lu}[\p{L}0-9.-]*)?/\s*\p{Lu}[\p{L}.'-]*(?:\s+\p{Lu}[\p{L}.'-]*){0,3}(?:/[a-z]{2,5}\.?)?\)?$")
            .expect("valid")
    });
    static CAPTION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\((?:[^()/]*\p{L}[^()/]*/){2,}[^()/]*\p{L}[^()/]*\)\s*$").expect("valid")
    });
    CREDIT.is_match(text) || TAIL.is_match(text) || CAPTION.is_match(text)
}

/// A sentence that is nothing but a credit ("TEMPO/Imam Sukamto", "(REUTERS / Danny
/// Moloshok)", "Foto: dok. pribadi"), not a sentence of prose that ends in one ("Hal itu
/// dikatakan Sergei Lavrov./AFP"): credits are names, so at most one word in it starts in
/// lower case, unless a credit label opens it.
fn is_credit_only(sentence: &str) -> bool {
    static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(©|\(?\s*(foto|photo|gambar|ilustrasi|sumber foto|keterangan gambar|dok)\s*[:.])")
            .expect("valid")
    });
    let lower = sentence
        .split_whitespace()
        .filter(|w| !w.contains('/') && w.starts_with(char::is_lowercase))
        .count();
    is_photo_credit(sentence) && (lower <= 1 || LABELLED.is_match(sentence))
}

/// Whether a header line could be a headline: a few words, not a sentence, caption, credit
/// or label.
fn is_title_like(text: &str) -> bool {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(ilustrasi|foto|editor|penulis|reporter|redaksi|bagikan|share)\b|\b(editor|penulis|reporter|redaksi)\b\s*[:：]")
            .expect("valid")
    });
    static NAME_DASH_OUTLET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\p{Lu}[\p{L}.']+( \p{Lu}[\p{L}.']+){0,3}\s+[-–—]\s+\S+$").expect("valid")
    });
    let words = text.split_whitespace().count();
    (2..=30).contains(&words)
        && !text.ends_with(['.', ',', ':', ';', ')'])
        && !text.contains('|')
        && !NAME_DASH_OUTLET.is_match(text)
        && !is_photo_credit(text)
        && !LABEL.is_match(text)
        && !super::dateline::is_dateline_only(text)
}

fn matches(index: usize, text: &str) -> bool {
    match RULES[index].test {
        Test::Pattern(_) => COMPILED[index].as_ref().is_some_and(|re| re.is_match(text)),
        Test::Short(_, max) => {
            text.chars().count() <= max
                && COMPILED[index].as_ref().is_some_and(|re| re.is_match(text))
        }
        Test::Breadcrumb => text.contains(['>', '»', '›', '/']) && is_breadcrumb(text),
        // Cheap checks first: a date line has a digit and few words, a byline few words, a
        // credit a slash, colon, bracket or © (or the label "Keterangan gambar"); most text is
        // none of these.
        Test::OnlyDate => {
            text.bytes().any(|b| b.is_ascii_digit())
                && text.split_whitespace().nth(14).is_none()
                && dates::parse_labelled(text).is_some()
        }
        Test::Byline => text.split_whitespace().nth(25).is_none() && byline(text).is_some(),
        Test::PhotoCredit => {
            let caption_label = text
                .get(..17)
                .is_some_and(|h| h.eq_ignore_ascii_case("keterangan gambar"));
            (text.contains(['/', ':', '©', '(']) || caption_label) && is_photo_credit(text)
        }
        Test::LeadingDate => leading_date(text).is_some(),
        Test::Always => true,
    }
}

/// "Beranda > Berita > Politik", "News / Regional": short section names joined by
/// separators.
fn is_breadcrumb(text: &str) -> bool {
    let parts: Vec<&str> = text
        .split(['>', '»', '›'])
        .flat_map(|p| p.split(" / "))
        .map(str::trim)
        .collect();
    (2..=6).contains(&parts.len())
        && parts.iter().all(|p| {
            (1..=30).contains(&p.chars().count())
                && p.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '.' | '&' | '\'' | ' ' | '-'))
        })
}

/// The part a `Strip` rule cuts from `text`, when it matches.
fn strip_range(index: usize, text: &str) -> Option<Range<usize>> {
    match RULES[index].test {
        Test::Pattern(_) => {
            let c = COMPILED[index].as_ref()?.captures(text)?;
            ["cut", "agency", "credit"]
                .iter()
                .find_map(|g| c.name(g))
                .map(|m| m.range())
        }
        _ => None,
    }
}

/// The first rule of `zone` (and of every zone) that takes `text` whole; `Strip` rules
/// and the header's last resort aside.
fn rule_for(text: &str, zone: Zone) -> Option<&'static Rule> {
    RULES.iter().enumerate().find_map(|(i, r)| {
        let applies = r.zone == Zone::Anywhere || r.zone == zone;
        (applies
            && r.action != Action::Strip
            && !matches!(r.test, Test::Always)
            && matches(i, text))
        .then_some(r)
    })
}

/// The rule each sentence (`ranges` of `text`) is taken by, if any; quoted speech is never
/// taken. The quotation state is carried along, so a long line costs one pass.
fn sentence_rules(text: &str, ranges: &[Range<usize>], zone: Zone) -> Vec<Option<&'static Rule>> {
    let mut quotes = Quotation::default();
    let mut at = 0;
    ranges
        .iter()
        .map(|r| {
            quotes.read(&text[at..r.start]);
            at = r.start;
            let quoted = quotes.open || text[r.clone()].starts_with(['“', '"']);
            quotes.sentences += usize::from(quotes.open);
            if quoted {
                None
            } else {
                rule_for(&text[r.clone()], zone)
            }
        })
        .collect()
}

/// Whether reading has entered quoted speech, which may run over several sentences ("“A.
/// B,” ujar Sudin."). A straight quote opens only at the start of a word and closes an open
/// one (so the inch mark in `5"` changes nothing); a blank line ends a quotation, and so
/// does [`Quotation::MAX_SENTENCES`] sentences without a closing mark (a quote left open by
/// a typo must not shield the rest of a whole article on one line).
#[derive(Default)]
struct Quotation {
    open: bool,
    sentences: usize,
}

impl Quotation {
    /// Longer than any quotation in the seeds and the development pages (five sentences).
    const MAX_SENTENCES: usize = 8;

    fn read(&mut self, text: &str) {
        let mut previous = ' ';
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let next = chars.peek().copied().unwrap_or(' ');
            match c {
                '“' => self.set(true),
                '”' => self.set(false),
                '"' if self.open => self.set(false),
                '"' if (previous.is_whitespace() || previous == '(') && !next.is_whitespace() => {
                    self.set(true)
                }
                '\n' if next == '\n' => self.set(false),
                _ => {}
            }
            previous = c;
        }
        if self.sentences >= Self::MAX_SENTENCES {
            self.set(false);
        }
    }

    fn set(&mut self, open: bool) {
        self.open = open;
        self.sentences = 0;
    }
}

/// Where a label and what it labels (another article's headline, a name) end inside
/// `sentence`, when flattening glued them to the article's next sentence: "Baca juga:
/// Arema Batal Kontrak Yanto Basna “Untuk Christovel Sibi, kami …”", "Penulis: Dwi
/// Widijatmiko Bukan hanya karena …". The sentence starts at an opening quote after the
/// first word, or with the capitalised words just before the first word of running text (a
/// lower-case word that is not a connective a headline uses, or any lower-case word before
/// another). When in doubt, headline words stay with the sentence: article text is never
/// cut. A sentence that is all label and headline ends at its end.
pub fn headline_end(sentence: &str) -> usize {
    const CONNECTIVES: &[&str] = &[
        "dan", "di", "ke", "dari", "untuk", "dengan", "atau", "vs", "atas", "pada", "dalam",
        "yang", "the", "of", "and", "in", "to", "for", "on", "at", "by", "a",
    ];
    let label_end = label(sentence).unwrap_or(0);
    let words: Vec<(usize, &str)> = segment::words(&sentence[label_end..])
        .into_iter()
        .map(|r| {
            (
                label_end + r.start,
                &sentence[label_end + r.start..label_end + r.end],
            )
        })
        .collect();
    let letters = |w: &str| {
        w.trim_start_matches(|c: char| !c.is_alphanumeric())
            .to_string()
    };
    let lower = |w: &str| letters(w).starts_with(char::is_lowercase);
    for (i, &(at, w)) in words.iter().enumerate() {
        if i > 0 && w.starts_with(['"', '“']) {
            return at;
        }
        if !lower(w) {
            continue;
        }
        let bare: String = letters(w)
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        let next_lower = words.get(i + 1).is_some_and(|&(_, n)| lower(n));
        if CONNECTIVES.contains(&bare.as_str()) && !next_lower {
            continue;
        }
        // The capitalised words just before it open the sentence.
        let mut start = i;
        let capitalised =
            |w: &str| letters(w).starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit());
        while start > 0 && capitalised(words[start - 1].1) {
            start -= 1;
        }
        return if start == 0 {
            label_end
        } else {
            words[start].0
        };
    }
    sentence.len()
}

/// The end of a label opening `text` ("Baca juga:", "SIMAK JUGA -", "Penulis:"): at most
/// three words, then a colon or a dash with space before it (the hyphen in "Anak-anak"
/// joins a word).
fn label(text: &str) -> Option<usize> {
    let end = text.char_indices().find_map(|(i, c)| {
        let spaced_dash = matches!(c, '-' | '–' | '—') && text[..i].ends_with(char::is_whitespace);
        (matches!(c, ':' | '：') || spaced_dash).then_some(i)
    })?;
    let head = &text[..end];
    let ok = (1..=3).contains(&head.split_whitespace().count())
        && !head.contains(['.', ',', '(', '"', '“']);
    ok.then(|| end + text[end..].chars().next().map_or(1, char::len_utf8))
}

/// The rule that takes a whole line: for a line of one sentence, the rule that matches it;
/// for a caption (two sentences at most, with a photo credit), the photo-credit rule; for a
/// longer line, a rule only when every one of its sentences is taken by some rule. One
/// sentence of chrome never takes a paragraph with it.
fn line_rule(text: &str, zone: Zone) -> Option<&'static Rule> {
    let whole = rule_for(text, zone);
    let sentences = segment::sentences(text);
    if sentences.len() <= 1 {
        return whole;
    }
    let caption = whole.is_some_and(|r| matches!(r.test, Test::PhotoCredit))
        && sentences.len() <= 2
        && text.split_whitespace().count() <= 60
        && sentences
            .last()
            .is_some_and(|r| is_credit_only(&text[r.clone()]));
    if caption {
        return whole;
    }
    let first = rule_for(&text[sentences[0].clone()], zone)?;
    let all = sentence_rules(text, &sentences, zone)
        .iter()
        .all(Option::is_some);
    all.then(|| whole.unwrap_or(first))
}

/// "Rabu, 07 Desember 2022 - 21:24 WIB MOSKOW - Rusia …", "Kabar.com - 10/03/2022, 14:05
/// WIB Jakarta - …": a date opening a line of prose, with what stands before it (a label
/// or the outlet's name, a few words) and the separator after it. The rest must start
/// with a capital and read as prose.
pub fn leading_date(text: &str) -> Option<(Range<usize>, PageDate)> {
    const SEPARATORS: &[char] = &['-', '–', '—', '|', ',', ':', '●', '•', '·'];
    // A dateline stands within the first few words; only they are searched, so a whole
    // article on one line costs no more than a paragraph.
    let mut head_end = text.len().min(200);
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let head = &text[..head_end];
    let (range, date) = dates::find_all(head).into_iter().next()?;
    let before = text[..range.start]
        .trim()
        .trim_end_matches(SEPARATORS)
        .trim();
    let labelled = dates::parse_labelled(&text[..range.end]).is_some();
    if !(before.is_empty() || labelled || super::dateline::is_domain(before)) {
        return None;
    }
    let after = &text[range.end..];
    let rest = after.trim_start_matches(|c: char| c.is_whitespace() || SEPARATORS.contains(&c));
    // A comma alone can end a sentence's opening date ("Senin (7/3/2022), Presiden …"):
    // it marks a dateline only after a label or the outlet's name.
    let separators = &after[..after.len() - rest.len()];
    let separated = separators.contains(|c: char| SEPARATORS.contains(&c) && c != ',')
        || (separators.contains(',') && !before.is_empty());
    let chrome = separated || date.time.is_some();
    (chrome && rest.starts_with(char::is_uppercase) && is_prose(rest))
        .then(|| (0..text.len() - rest.len(), date))
}

fn key(text: &str) -> String {
    text.to_lowercase()
}

/// Sorts a page's lines into title, metadata, body paragraphs and dropped lines.
/// `known_title` is the title the page's markup gives (an HTML `<h1>`), if any.
pub fn clean(lines: &[Line], known_title: Option<&str>) -> Cleaned {
    let mut out = Cleaned::default();
    let drops_anywhere = |text: &str| line_rule(text, Zone::Anywhere).is_some();
    let meta_line = |text: &str| dates::parse_labelled(text).is_some() || byline(text).is_some();
    // Where the body starts; a page with no prose at all is all body.
    // The known title can read as prose ("Mengapa Jakarta tenggelam?") but is not the body.
    let known = |text: &str| known_title.is_some_and(|t| key(t) == key(text));
    let body_start = lines
        .iter()
        .position(|l| {
            is_prose(&l.text) && !drops_anywhere(&l.text) && !meta_line(&l.text) && !known(&l.text)
        })
        .unwrap_or(0);
    let header = &lines[..body_start];

    // The header: what each rule takes, then the title from what no rule took.
    let decisions: Vec<Option<&Rule>> = header
        .iter()
        .map(|line| {
            RULES
                .iter()
                .enumerate()
                .find(|(i, r)| {
                    matches!(r.zone, Zone::Anywhere | Zone::Header)
                        && r.action != Action::Strip
                        && !matches!(r.test, Test::Always)
                        && matches(*i, &line.text)
                })
                .map(|(_, r)| r)
        })
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for l in lines {
        *counts.entry(key(&l.text)).or_default() += 1;
    }
    let count = |t: &str| counts.get(&key(t)).copied().unwrap_or(0);
    // The title: a headline of four words or more (so not a section label, site name or an
    // author's name), printed most often, then the one nearest the body.
    out.title = match known_title {
        Some(t) => Some(t.to_string()),
        None => header
            .iter()
            .enumerate()
            .filter(|&(i, l)| decisions[i].is_none() && is_title_like(&l.text))
            .max_by_key(|&(i, l)| (l.text.split_whitespace().count() >= 4, count(&l.text), i))
            .map(|(_, l)| l.text.clone()),
    };
    let is_title = |t: &str| {
        out.title
            .as_deref()
            .is_some_and(|title| key(title) == key(t))
    };
    let header_line = RULES
        .iter()
        .find(|r| matches!(r.test, Test::Always))
        .expect("the table has a last-resort header rule");
    // A date printed under a headline that is not the title dates another article when
    // it comes before the title, or when the header has two or more such pairs (a list).
    let under_headline = |i: usize| {
        i > 0
            && decisions[i].is_some_and(|r| r.action == Action::Date)
            && decisions[i - 1].is_none()
            && !is_title(&header[i - 1].text)
            && is_title_like(&header[i - 1].text)
    };
    let title_at = header.iter().position(|l| is_title(&l.text));
    let listed_dates = (0..header.len()).filter(|&i| under_headline(i)).count() >= 2;
    let listed = |i: usize| under_headline(i) && (listed_dates || title_at.is_some_and(|t| t > i));
    let mut title_seen = false;
    let mut listing = false;
    for (i, line) in header.iter().enumerate() {
        let dropped = match decisions[i] {
            None if is_title(&line.text) => {
                let first = !std::mem::replace(&mut title_seen, true);
                if first {
                    drop(line, "title", "the article's title: kept as metadata")
                } else {
                    drop(line, "title-repeat", "the title printed again")
                }
            }
            None => drop(line, header_line.name, header_line.why),
            Some(rule) if rule.action == Action::Date => match dates::parse_labelled(&line.text) {
                Some(_) if listing || listed(i) => drop(
                    line,
                    "list-date",
                    "the date of another article listed above this one",
                ),
                Some((_, true)) => drop(
                    line,
                    "updated-date",
                    "when the article was last updated, not when it was published",
                ),
                Some((date, false)) => {
                    out.header_dates.push(date);
                    drop(line, rule.name, rule.why)
                }
                None => drop(line, rule.name, rule.why),
            },
            Some(rule) if rule.action == Action::Byline => {
                if let Some((name, date)) = byline(&line.text) {
                    if out.author.is_none() {
                        out.author = name;
                    }
                    out.header_dates.extend(date);
                }
                drop(line, rule.name, rule.why)
            }
            Some(rule) => {
                if rule.action == Action::DropList {
                    listing = true;
                }
                drop(line, rule.name, rule.why)
            }
        };
        if decisions[i].is_none() && is_title(&line.text) {
            listing = false;
        }
        out.dropped.push(dropped);
    }

    // The body: rules, then repeats.
    let mut seen_paragraphs: HashSet<String> = HashSet::new();
    let mut seen_sentences: HashSet<String> = HashSet::new();
    let mut cut: Option<(usize, &'static str)> = None;
    let mut list: Option<(usize, &'static str)> = None;
    let mut timeline = false;
    for line in &lines[body_start..] {
        if let Some((at, name)) = cut {
            let why = format!("after line {at}, where the {name} starts");
            out.dropped.push(drop(line, name, why));
            continue;
        }
        if let Some((at, name)) = list {
            // A new section (a comment section, another list) ends the list.
            let ruled = RULES.iter().enumerate().any(|(i, r)| {
                matches!(r.zone, Zone::Anywhere | Zone::Body)
                    && matches!(r.action, Action::Cut | Action::DropList)
                    && matches(i, &line.text)
            });
            // "3Siapa …": a ranked headline whose number lost its space stays in the list.
            let ranked = GLUED_RANK.is_match(&line.text);
            if (is_prose(&line.text) && !ranked) || ruled || NUMBERED.is_match(&line.text) {
                list = None;
            } else {
                let why = format!("listed under the label on line {at}");
                out.dropped.push(drop(line, name, why));
                continue;
            }
        }
        // A date alone under "Berikut kronologinya:" starts a timeline: its dates are
        // article text, not sidebar dates.
        if dates::parse_labelled(&line.text).is_some()
            && (timeline || out.paragraphs.last().is_some_and(|p| p.text.ends_with(':')))
        {
            timeline = true;
            out.paragraphs.push(line.clone());
            continue;
        }
        let first = out.paragraphs.is_empty();
        let mut text = line.text.clone();
        let mut decided = line_rule(&text, Zone::Body);
        if decided.is_none() {
            // Cut what the strip rules cut, then look at what is left.
            let before = text.len();
            for (i, rule) in RULES.iter().enumerate() {
                let opening_only = matches!(rule.test, Test::LeadingDate);
                if rule.action != Action::Strip || (opening_only && !first) {
                    continue;
                }
                let range = if opening_only {
                    leading_date(&text).map(|(range, date)| {
                        out.header_dates.push(date);
                        range
                    })
                } else {
                    strip_range(i, &text)
                };
                let Some(range) = range else {
                    continue;
                };
                out.dropped.push(Dropped {
                    line: line.number,
                    text: text[range.clone()].trim().to_string(),
                    rule: rule.name,
                    why: Cow::Borrowed(rule.why),
                });
                text = format!("{} {}", &text[..range.start], &text[range.end..])
                    .trim()
                    .to_string();
            }
            if text.len() != before {
                decided = line_rule(&text, Zone::Body);
            }
        }
        if let Some(rule) = decided {
            match rule.action {
                Action::Cut => cut = Some((line.number, rule.name)),
                Action::DropList => list = Some((line.number, rule.name)),
                Action::Byline => {
                    if let Some((Some(name), _)) = byline(&text) {
                        out.author.get_or_insert(name);
                    }
                }
                _ => {}
            }
            out.dropped.push(drop(line, rule.name, rule.why));
            continue;
        }
        // Inside a paragraph, only the sentences a rule takes go; quoted speech is never
        // chrome. A section start (comment section, syndication notice) opening a
        // paragraph after the article's first one starts its section, as a line would.
        let ranges = segment::sentences(&text);
        if ranges.len() > 1 {
            let rules = sentence_rules(&text, &ranges, Zone::Body);
            if let Some(rule) = rules[0].filter(|r| r.action == Action::Cut && !first) {
                cut = Some((line.number, rule.name));
                out.dropped.push(drop(line, rule.name, rule.why));
                continue;
            }
            let mut kept: Vec<&str> = Vec::new();
            for (r, rule) in ranges.into_iter().zip(rules) {
                let sentence = &text[r.clone()];
                let Some(rule) = rule else {
                    kept.push(sentence);
                    continue;
                };
                if rule.action == Action::Cut && !kept.is_empty() {
                    // After the article's text, a section start ends it, here as on a line.
                    cut = Some((line.number, rule.name));
                    out.dropped.push(Dropped {
                        line: line.number,
                        text: text[r.start..].to_string(),
                        rule: rule.name,
                        why: Cow::Owned(format!(
                            "{}; from this sentence to the end of the paragraph",
                            rule.why.split(';').next().unwrap_or(rule.why)
                        )),
                    });
                    break;
                }
                let mut gone = sentence;
                if label(sentence).is_some() {
                    // A label and what it labels may have been glued to a sentence.
                    let end = headline_end(sentence);
                    gone = sentence[..end].trim_end();
                    if end < sentence.len() {
                        kept.push(sentence[end..].trim_start());
                    }
                }
                if rule.action == Action::Byline {
                    if let Some((Some(name), _)) = byline(gone) {
                        out.author.get_or_insert(name);
                    }
                }
                out.dropped.push(Dropped {
                    line: line.number,
                    text: gone.to_string(),
                    rule: rule.name,
                    why: Cow::Owned(format!(
                        "{}; only this sentence of the paragraph is dropped",
                        rule.why.split(';').next().unwrap_or(rule.why)
                    )),
                });
            }
            text = kept.join(" ");
        }
        if text.is_empty() {
            continue;
        }
        let k = key(&text);
        if is_title(&text) {
            out.dropped
                .push(drop(line, "title-repeat", "the title printed again"));
            continue;
        }
        let sentences: Vec<String> = segment::sentences(&text)
            .into_iter()
            .map(|r| key(&text[r]))
            .collect();
        if seen_paragraphs.contains(&k) || sentences.iter().all(|s| seen_sentences.contains(s)) {
            out.dropped.push(drop(
                line,
                "repeat",
                "a paragraph printed earlier on the page",
            ));
            continue;
        }
        seen_paragraphs.insert(k);
        seen_sentences.extend(sentences);
        out.paragraphs.push(Line {
            number: line.number,
            text,
        });
    }
    trim_trailing_labels(&mut out);
    out.dropped.sort_by_key(|d| d.line);
    out
}

/// Short lines after the last paragraph of prose that end no sentence, or are written in
/// capitals or Title Case ("Jangan Lewatkan!", "More Photos", "Credits (2)", "KONTAK: …"), are the titles and buttons of the widgets
/// under an article, not its text. Items of a list the article introduces with a colon,
/// and numbered items, stay.
fn trim_trailing_labels(out: &mut Cleaned) {
    let Some(last_prose) = out.paragraphs.iter().rposition(|p| is_prose(&p.text)) else {
        return;
    };
    // Items after a line ending in a colon are what it introduces.
    let introduction = out.paragraphs[last_prose..]
        .iter()
        .position(|p| p.text.ends_with(':'))
        .map(|i| last_prose + i);
    let label = |at: usize| {
        let t = &out.paragraphs[at].text;
        let ends = t
            .trim_end_matches(['"', '”', '’', '\'', ')'])
            .ends_with(['.', '!', '?', '…']);
        let shouting = t.chars().any(char::is_alphabetic) && !t.chars().any(char::is_lowercase);
        let titled = t.split_whitespace().count() >= 2
            && t.split_whitespace()
                .all(|w| w.starts_with(|c: char| c.is_uppercase() || !c.is_alphabetic()));
        let introduced = introduction.is_some_and(|i| i < at);
        let listed = introduced || NUMBERED.is_match(t);
        t.split_whitespace().count() <= 8 && (!ends || shouting || titled) && !listed
    };
    let mut from = out.paragraphs.len();
    while from > last_prose + 1 && label(from - 1) {
        from -= 1;
    }
    for p in out.paragraphs.drain(from..) {
        out.dropped.push(Dropped {
            line: p.number,
            text: p.text,
            rule: "trailing-label",
            why: Cow::Borrowed(
                "a short line after the article's last paragraph that ends no sentence: a widget's title or button",
            ),
        });
    }
}

fn drop(line: &Line, rule: &'static str, why: impl Into<Cow<'static, str>>) -> Dropped {
    Dropped {
        line: line.number,
        text: line.text.clone(),
        rule,
        why: why.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> Cleaned {
        clean(&lines(text, true), None)
    }

    fn rule_of(c: &Cleaned, text: &str) -> &'static str {
        c.dropped
            .iter()
            .find(|d| d.text == text)
            .unwrap_or_else(|| panic!("{text:?} was not dropped: {c:#?}"))
            .rule
    }

    const BODY: &str =
        "Menteri Luar Negeri Rusia Sergey Lavrov mengatakan hal itu pada hari Senin di Moskow.";

    #[test]
    fn every_pattern_compiles_and_the_header_rule_is_last() {
        assert_eq!(COMPILED.len(), RULES.len());
        assert!(matches!(RULES.last().unwrap().test, Test::Always));
    }

    #[test]
    fn finds_title_date_and_byline_in_the_header() {
        let c = page(&format!(
            "Loading\n\nPolitik\n\nJudul Berita Ini Panjang\nBudi Santoso - 23 Desember 2021 12:30 WIB\nJudul Berita Ini Panjang\n{BODY}\n"
        ));
        assert_eq!(c.title.as_deref(), Some("Judul Berita Ini Panjang"));
        assert_eq!(c.author.as_deref(), Some("Budi Santoso"));
        assert_eq!(c.header_dates[0].iso(), "2021-12-23T12:30:00+07:00");
        assert_eq!(rule_of(&c, "Loading"), "site-chrome");
        assert_eq!(rule_of(&c, "Politik"), "header-line");
        assert_eq!(c.paragraphs.len(), 1);
    }

    #[test]
    fn cuts_the_comment_section_and_keeps_quotes() {
        let c = page(&format!(
            "{BODY}\n\n“Kami siap,” kata Lavrov.\n\nTinggalkan Komentar\n\nIni komentar pembaca yang panjang sekali dan tidak boleh masuk berita.\n"
        ));
        assert_eq!(c.paragraphs.len(), 2);
        assert_eq!(c.paragraphs[1].text, "“Kami siap,” kata Lavrov.");
        assert_eq!(rule_of(&c, "Tinggalkan Komentar"), "comment-section");
        assert_eq!(
            rule_of(
                &c,
                "Ini komentar pembaca yang panjang sekali dan tidak boleh masuk berita."
            ),
            "comment-section"
        );
    }

    #[test]
    fn strips_sign_offs_and_drops_repeats() {
        let c = page(&format!(
            "{BODY}\nKedua kalinya dia berkata bahwa semuanya baik-baik saja. (ARN)\n{BODY}\n(ian)\n"
        ));
        assert_eq!(c.paragraphs.len(), 2);
        assert_eq!(
            c.paragraphs[1].text,
            "Kedua kalinya dia berkata bahwa semuanya baik-baik saja."
        );
        assert_eq!(rule_of(&c, "(ARN)"), "sign-off");
        assert_eq!(rule_of(&c, "(ian)"), "sign-off-line");
        assert_eq!(rule_of(&c, BODY), "repeat");
    }

    #[test]
    fn a_body_printed_twice_with_other_line_breaks_is_kept_once() {
        let a =
            "Kalimat pertama di sini cukup panjang untuk prosa. Kalimat kedua juga ada di sini.";
        let c = page(&format!(
            "{a}\nKalimat ketiga menutup berita ini dengan baik sekali.\n{a} Kalimat ketiga menutup berita ini dengan baik sekali.\n"
        ));
        assert_eq!(c.paragraphs.len(), 2);
    }

    #[test]
    fn joins_hard_wrapped_lines() {
        let l = lines(
            "Ini adalah sebuah kalimat yang\ndipotong oleh pengikis.\n\nBaris baru.",
            true,
        );
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0].text,
            "Ini adalah sebuah kalimat yang dipotong oleh pengikis."
        );
        assert_eq!(l[1].number, 4);
    }

    const S1: &str =
        "Menteri Luar Negeri Rusia Sergey Lavrov mengatakan hal itu pada hari Senin di Moskow.";
    const S2: &str = "Dia menambahkan bahwa pembicaraan akan dilanjutkan pekan depan di Jenewa.";
    const S3: &str = "Amerika Serikat belum memberikan tanggapan resmi atas pernyataan tersebut.";

    fn one_line(text: &str) -> Cleaned {
        clean(&lines(text, false), None)
    }

    #[test]
    fn one_sentence_of_chrome_never_takes_a_one_line_article_with_it() {
        for (chrome, rule, at_start) in [
            (
                "Your email address will not be published.",
                "comment-section",
                true,
            ),
            (
                "Baca juga: Rusia Tolak Tuduhan Barat.",
                "related-link",
                true,
            ),
            (
                "©2015 The Hollywood Reporter. All rights reserved.",
                "site-footer",
                false,
            ),
            (
                "Artikel ini telah tayang di Kabar.com dengan judul Rusia.",
                "syndication-footer",
                false,
            ),
        ] {
            let text = if at_start {
                format!("{chrome} {S1} {S2} {S3}")
            } else {
                format!("{S1} {S2} {S3} {chrome}")
            };
            let c = one_line(&text);
            assert_eq!(c.paragraphs.len(), 1, "{chrome}: {c:#?}");
            assert_eq!(c.paragraphs[0].text, format!("{S1} {S2} {S3}"), "{chrome}");
            assert!(
                c.dropped.iter().all(|d| d.rule == rule),
                "{chrome}: {:?}",
                c.dropped
            );
            // A section start after the article's text ends the paragraph there.
            let grain = if at_start || rule != "syndication-footer" {
                "only this sentence"
            } else {
                "to the end of the paragraph"
            };
            assert!(c.dropped[0].why.contains(grain), "{:?}", c.dropped);
        }
    }

    #[test]
    fn a_trailing_credit_and_a_leading_date_are_cut_from_the_sentence_they_touch() {
        let c = one_line(&format!("{S1} {S2} Hal itu dikatakan Sergei Lavrov./AFP"));
        assert_eq!(
            c.paragraphs[0].text,
            format!("{S1} {S2} Hal itu dikatakan Sergei Lavrov.")
        );
        assert_eq!(rule_of(&c, "/AFP"), "credit-tail");

        let c = one_line(&format!(
            "{S1} Suasana sidang di Jakarta, Senin (15/2). (REUTERS / Danny Moloshok)"
        ));
        assert!(c.paragraphs[0].text.ends_with("Senin (15/2)."));
        assert_eq!(rule_of(&c, "(REUTERS / Danny Moloshok)"), "credit-tail");

        let c = one_line(&format!(
            "Rabu, 07 Desember 2022 - 21:24 WIB MOSKOW - {S1} {S2}"
        ));
        assert_eq!(c.paragraphs[0].text, format!("MOSKOW - {S1} {S2}"));
        assert_eq!(c.header_dates[0].iso(), "2022-12-07T21:24:00+07:00");
        assert_eq!(
            rule_of(&c, "Rabu, 07 Desember 2022 - 21:24 WIB"),
            "leading-date"
        );
        // A date that is part of the first sentence stays.
        let own = format!("Pada 17 Desember 2021, Kementerian merilis data baru. {S2}");
        assert_eq!(one_line(&own).paragraphs[0].text, own);
    }

    #[test]
    fn a_label_glued_to_a_sentence_takes_only_itself_and_its_headline() {
        let cases = [
            (
                "SIMAK JUGA: Arema Batal Kontrak Yanto Basna \"Untuk Christovel Sibi, kami tidak pertahankan dia.\"",
                "\"Untuk Christovel Sibi, kami tidak pertahankan dia.\"",
            ),
            (
                "SIMAK JUGA: PREVIEW Liga 1: Arema – Persiba Sebaliknya, Persiba mengandalkan serangan balik.",
                "Persiba Sebaliknya, Persiba mengandalkan serangan balik.",
            ),
            (
                "Baca juga: Kisah Cinta Olga dengan Sang Suami Ketua Umum PAN menambahkan bahwa hal ini harus diatur.",
                "Sang Suami Ketua Umum PAN menambahkan bahwa hal ini harus diatur.",
            ),
            ("Baca juga: Kisah Cinta Olga dengan Sang Suami", ""),
        ];
        for (sentence, rest) in cases {
            assert_eq!(
                &sentence[headline_end(sentence)..].trim(),
                &rest,
                "{sentence}"
            );
        }
        let c = one_line(&format!(
            "{S1} Penulis: Dwi Widijatmiko Bukan hanya karena timnya kalah dari Arsenal. {S2}"
        ));
        assert_eq!(
            c.paragraphs[0].text,
            format!("{S1} Dwi Widijatmiko Bukan hanya karena timnya kalah dari Arsenal. {S2}")
        );
        assert_eq!(rule_of(&c, "Penulis:"), "author-line");
    }

    #[test]
    fn quoted_speech_is_never_chrome() {
        let quote = "“Kami tidak akan tinggal diam. Tinggalkan komentar di media sosial tidak cukup,” ujar Sudin.";
        let c = one_line(&format!("{S1} {quote}"));
        assert_eq!(c.paragraphs[0].text, format!("{S1} {quote}"));
        assert!(c.dropped.is_empty(), "{:?}", c.dropped);
    }

    #[test]
    fn a_paragraph_of_nothing_but_chrome_goes_whole() {
        let c = page(&format!(
            "{S1}\n\nBaca juga: Rusia Tolak Tuduhan. Simak juga: Harga Minyak Naik.\n\n{S2}\n"
        ));
        assert_eq!(c.paragraphs.len(), 2);
        assert_eq!(
            rule_of(
                &c,
                "Baca juga: Rusia Tolak Tuduhan. Simak juga: Harga Minyak Naik."
            ),
            "related-link"
        );
    }

    #[test]
    fn a_section_start_opening_a_later_paragraph_starts_its_section() {
        let c = page(&format!(
            "{S1}\n\nSimak breaking news dan berita pilihan kami di ponselmu. Pastikan kamu sudah memasang aplikasinya ya.\n\nKomentar pembaca di bawah ini.\n"
        ));
        assert_eq!(c.paragraphs.len(), 1);
        assert_eq!(
            rule_of(&c, "Komentar pembaca di bawah ini."),
            "syndication-footer"
        );
    }

    #[test]
    fn widget_labels_after_the_last_paragraph_go_and_list_items_stay() {
        let c = page(&format!(
            "{S1}\n\n{S2}\n\nJangan Lewatkan!\n\nMore Photos\n\nCredits (2)\n"
        ));
        assert_eq!(c.paragraphs.len(), 2);
        for label in ["Jangan Lewatkan!", "More Photos", "Credits (2)"] {
            assert_eq!(rule_of(&c, label), "trailing-label");
        }
        let c = page(&format!(
            "{S1}\n\nBerikut caranya:\n\nCuci tangan\n\nPakai masker\n"
        ));
        assert_eq!(c.paragraphs.len(), 4, "{:?}", c.dropped);
        let c = page(&format!("{S1}\n\nSemoga bermanfaat.\n"));
        assert_eq!(c.paragraphs.len(), 2);
    }

    #[test]
    fn a_sentence_ending_in_an_organisations_name_with_a_slash_is_not_a_credit() {
        let line = "Uang itu untuk membayar jasa pengacara perusahaan Jawa Pos Grup/JPNN.";
        let c = page(&format!(
            "{S1}\n\n{line}\n\nSuasana rapat di DPR. TEMPO/Imam Sukamto\n"
        ));
        assert_eq!(c.paragraphs.len(), 2, "{:?}", c.dropped);
        assert_eq!(c.paragraphs[1].text, line);
        assert_eq!(
            rule_of(&c, "Suasana rapat di DPR. TEMPO/Imam Sukamto"),
            "photo-credit"
        );
    }

    #[test]
    fn a_sentence_opening_with_a_credit_word_is_not_a_credit() {
        let c = page(&format!("{S1}\n\nSumber daya alam Indonesia sangat kaya.\n\nHak cipta lagu itu dipegang label rekaman.\n"));
        assert_eq!(c.paragraphs.len(), 3, "{:?}", c.dropped);
        let c = page(&format!(
            "{S1}\n\nSumber: Reuters\n\nHak cipta © 2022 Kabar\n"
        ));
        assert_eq!(c.paragraphs.len(), 1);
    }

    #[test]
    fn a_copyright_line_goes_whole_and_leaves_no_label_behind() {
        for footer in [
            "Copyright © 2024 Kabar.com. All rights reserved.",
            "Hak cipta © 2022 Kabar",
        ] {
            let c = page(&format!("{S1}\n\n{S2}\n\n{footer}\n"));
            assert_eq!(c.paragraphs.len(), 2, "{footer}: {:?}", c.dropped);
            assert_eq!(rule_of(&c, footer), "site-footer");
            let c = one_line(&format!("{S1} {S2} {footer}"));
            assert_eq!(c.paragraphs[0].text, format!("{S1} {S2}"), "{footer}");
        }
    }

    #[test]
    fn a_caption_credit_never_takes_a_paragraph_of_prose() {
        let lavrov = format!("{S1} Hal itu dikatakan Sergei Lavrov./AFP");
        let c = page(&format!("{S2}\n\n{lavrov}\n"));
        assert_eq!(
            c.paragraphs[1].text,
            format!("{S1} Hal itu dikatakan Sergei Lavrov.")
        );
        assert_eq!(rule_of(&c, "/AFP"), "credit-tail");
        let photos = "Polisi menemukan ponsel yang berisi foto/video korban di rumah itu. Kasus ini masih diselidiki oleh kepolisian setempat.";
        let c = page(&format!("{S2}\n\n{photos}\n"));
        assert_eq!(c.paragraphs.len(), 2, "{:?}", c.dropped);
        assert_eq!(c.paragraphs[1].text, photos);
        // A caption of its own still goes.
        let caption = "Suasana rapat di DPR. TEMPO/Imam Sukamto";
        let c = page(&format!("{S2}\n\n{caption}\n"));
        assert_eq!(rule_of(&c, caption), "photo-credit");
    }

    #[test]
    fn a_sentence_that_opens_like_a_credit_stays() {
        for sentence in [
            "TNI/Polri siap mengamankan jalannya pemilihan umum di seluruh wilayah Indonesia.",
            "Fotografer Reuters Willy Kurniawan mengabadikan momen itu dari atas gedung.",
            "Anak-anak bermain di halaman sekolah setiap pagi sebelum pelajaran dimulai.",
        ] {
            let text = format!("{S1} {sentence} {S2}");
            let c = one_line(&text);
            assert_eq!(c.paragraphs[0].text, text, "{:?}", c.dropped);
            let c = one_line(&format!("{sentence} {S1}"));
            assert_eq!(
                c.paragraphs[0].text,
                format!("{sentence} {S1}"),
                "{:?}",
                c.dropped
            );
        }
        assert_eq!(label("Anak-anak bermain di halaman"), None);
        assert_eq!(label("SIMAK JUGA - Rusia"), Some(12));
        assert_eq!(label("Baca juga: Rusia"), Some(10));
    }

    #[test]
    fn quotation_state_survives_stray_and_unclosed_quotes() {
        // An opening quote with no close ends with its paragraph; a stray straight quote
        // inside a word does not flip the state for the rest of a long line.
        let c = one_line(&format!(
            "{S1} Dia menyebut rumah itu 5\" lebih tinggi dari yang lain. {S2} Baca juga: Rusia Tolak Tuduhan."
        ));
        assert_eq!(
            rule_of(&c, "Baca juga: Rusia Tolak Tuduhan."),
            "related-link"
        );
        // The sentence that opens a quotation is itself quoted speech.
        let quote =
            "“Tinggalkan komentar di media sosial tidak cukup. Kami akan melapor,” ujar Sudin.";
        let c = one_line(&format!("{S1} {quote}"));
        assert_eq!(
            c.paragraphs[0].text,
            format!("{S1} {quote}"),
            "{:?}",
            c.dropped
        );
    }

    #[test]
    fn a_date_that_opens_a_sentence_of_prose_stays_in_it() {
        let own = format!(
            "Senin (7/3/2022), Presiden Joko Widodo meresmikan bendungan baru di Jawa Tengah. {S2}"
        );
        let c = one_line(&own);
        assert_eq!(c.paragraphs[0].text, own, "{:?}", c.dropped);
        assert!(c.header_dates.is_empty());
        let own = format!("7 Maret 2022, hari yang tidak akan dilupakan warga desa itu. {S2}");
        assert_eq!(one_line(&own).paragraphs[0].text, own);
        // With a time or an outlet, it is the page's dateline.
        let c = one_line(&format!(
            "Kabar.com, 10/03/2022, 14:05 WIB Jakarta - {S1} {S2}"
        ));
        assert_eq!(c.paragraphs[0].text, format!("Jakarta - {S1} {S2}"));
    }

    #[test]
    fn a_section_start_inside_a_paragraph_takes_the_rest_of_it() {
        let c = one_line(&format!(
            "{S1} {S2} Artikel ini telah tayang di Kabar.com dengan judul Rusia. Klik di sini untuk membaca selengkapnya dan berlangganan."
        ));
        assert_eq!(
            c.paragraphs[0].text,
            format!("{S1} {S2}"),
            "{:?}",
            c.dropped
        );
    }

    #[test]
    fn lyrics_introduced_with_a_colon_stay() {
        let c = page(&format!(
            "{S1}\n\nBerikut lirik lagu tersebut:\n\nDi Sini Senang\n\nDi Sana Senang\n\nDi Mana Mana Hatiku Senang\n"
        ));
        assert_eq!(c.paragraphs.len(), 5, "{:?}", c.dropped);
    }

    #[test]
    fn a_page_without_prose_is_all_body() {
        let c = page("Rusia menyerang.\nUkraina bertahan.");
        assert_eq!(c.title, None);
        assert_eq!(c.paragraphs.len(), 2);
    }
}

//! Boilerplate removal: which lines of a page are the article, and which are site chrome.
//!
//! The decisions live in one table, [`RULES`]: a pattern, the part of the page it applies to,
//! what it does, and why. `warta ingest --explain` prints, for every line that is not body
//! text, the rule that took it. Beyond the table, three steps use the page's own structure:
//! the title is the header line repeated most (or the last one above the body), lines that
//! repeat the title are dropped, and a paragraph that repeats earlier text is kept once (which
//! also removes a body printed twice).
//!
//! A page has two parts. The header runs from the top to the first line of prose (a line of
//! eight words or more that ends a sentence, or a long one) that no rule drops; the body is
//! the rest. Quoted speech and datelines are body text and stay.
use super::dates::{self, PageDate};
use super::segment;
use regex::Regex;
use std::borrow::Cow;
use std::collections::HashSet;
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
    /// Drop this line and every line after it (comment sections, push-notification blurbs).
    Cut,
    /// Remove the part the pattern's `cut` group matches and go on with the rest.
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
    /// The whole line is one date.
    OnlyDate,
    /// The line is a byline: "Name - date", "Oleh: Name".
    Byline,
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
        name: "site-chrome",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(headline news|berita utama|breaking news|loading|loading\.\.\.|memuat\.*|ketik untuk mencari|ketik dan tekan enter|cari|search|menu|home|beranda|comscore|to top|back to top|kembali ke atas|share|bagikan|share this article|advertisement|iklan|scroll to continue with content|scroll untuk melanjutkan|lanjutkan membaca|read more|selengkapnya|tags?|topik|topics?|terpopuler|populer|trending|terkini|berita terkini|print|cetak|copy link|salin tautan|ikuti kami|follow us|whatsapp|facebook|twitter|telegram|line|email)\s*:?$",
        ),
        action: Action::Drop,
        why: "a navigation, search or widget label, not article text",
    },
    Rule {
        name: "related-link",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(baca juga|lihat juga|simak juga|tonton juga|artikel terkait|berita terkait|baca selengkapnya|read also|also read|related)\s*[:：\-–]",
        ),
        action: Action::Drop,
        why: "a link to another article",
    },
    Rule {
        name: "comment-section",
        zone: Zone::Body,
        test: Test::Pattern(
            r"(?i)^((tinggalkan (komentar|balasan)|leave a (reply|comment)|your email address will not be published|alamat email anda tidak akan dipublikasikan|%d (blogger menyukai ini|bloggers like this)|bagaimana tanggapan anda mengenai artikel ini|posting komentar|post a comment|tulis komentar)\b.*|(no comments|\d+ (comments?|komentar)|comments?|komentar|share this|bagikan ini|like this|suka ini)\s*:?)$",
        ),
        action: Action::Cut,
        why: "the start of the comment section; it and everything after it are dropped",
    },
    Rule {
        name: "push-notification",
        zone: Zone::Body,
        test: Test::Pattern(
            r"(?i)^(cara untuk mendapatkan berita terbaru|ikuti langkah berikut( ini)? untuk mendapatkan notifikasi|aktifkan notifikasi|izinkan notifikasi)",
        ),
        action: Action::Cut,
        why: "instructions for browser notifications; they and everything after them are dropped",
    },
    Rule {
        name: "site-footer",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(powered by|didukung oleh|copyright|hak cipta|all rights reserved|\(c\)\s*\d{4}|©\s*\d{4})\b",
        ),
        action: Action::Drop,
        why: "the site's footer",
    },
    Rule {
        name: "sign-off-line",
        zone: Zone::Body,
        test: Test::Pattern(r"^\(\s*[A-Za-z]{2,8}(?:\s*/\s*[A-Za-z]{2,8}){0,3}\s*\)$"),
        action: Action::Drop,
        why: "an editor's or agency's sign-off such as \"(FJR)\"",
    },
    Rule {
        name: "sign-off",
        zone: Zone::Body,
        test: Test::Pattern(
            r"[.!?…”’]\s*(?P<cut>\(\s*[A-Za-z]{2,8}(?:\s*/\s*[A-Za-z]{2,8}){0,3}\s*\))$",
        ),
        action: Action::Strip,
        why: "an editor's or agency's sign-off after the last sentence, such as \"(ARN)\"",
    },
    Rule {
        name: "photo-credit",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)(^(©|foto\s*:|photo\s*:|gambar\s*:|ilustrasi\s*:|sumber foto\s*:|\((foto|photo)\s*:)|/\s*(afp|reuters|ap|antara|antara foto|getty images|epa|epa-efe|tass|sputnik|anadolu|xinhua|ist|istimewa|shutterstock|dok|net)\s*\)?\s*$)",
        ),
        action: Action::Drop,
        why: "a photo caption or credit",
    },
    Rule {
        name: "photo-caption",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"\((?:[^()/]*\p{L}[^()/]*/){2,}[^()/]*\p{L}[^()/]*\)\s*$",
        ),
        action: Action::Drop,
        why: "a photo caption ending in a credit (Photographer/Agency/…)",
    },
    Rule {
        name: "credit-line",
        zone: Zone::Anywhere,
        test: Test::Pattern(
            r"(?i)^(editor|penyunting|redaktur|sumber|source)\s*[:：]\s*\S.{0,60}$",
        ),
        action: Action::Drop,
        why: "an editor or source credit",
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
        why: "a date alone between paragraphs belongs to a sidebar or a related link, not to this article",
    },
    Rule {
        name: "header-line",
        zone: Zone::Header,
        test: Test::Always,
        action: Action::Drop,
        why: "a short line above the article that is not its title: a section name, menu entry or caption",
    },
];

static COMPILED: LazyLock<Vec<Option<Regex>>> = LazyLock::new(|| {
    RULES
        .iter()
        .map(|r| match r.test {
            Test::Pattern(p) => Some(Regex::new(p).expect("rule patterns are valid")),
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
    /// Sign-offs removed from the body ("ARN", "FJR").
    pub sign_offs: Vec<String>,
    pub paragraphs: Vec<Line>,
    /// Every non-blank line that is not in `paragraphs`, in page order.
    pub dropped: Vec<Dropped>,
}

/// Splits `text` into lines, joins hard-wrapped ones and collapses whitespace.
pub fn lines(text: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let mut previous_blank = true;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if t.is_empty() {
            previous_blank = true;
            continue;
        }
        if let Some(last) = out.last_mut().filter(|_| !previous_blank) {
            if is_wrapped(&last.text, &t) {
                last.text.push(' ');
                last.text.push_str(&t);
                continue;
            }
        }
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
    ends_open && line.split_whitespace().count() >= 5 && next.starts_with(char::is_lowercase)
}

/// Whether a line reads as article prose.
fn is_prose(text: &str) -> bool {
    let words = text.split_whitespace().count();
    let ends_sentence = text
        .trim_end_matches(['"', '”', '’', '\'', ')'])
        .ends_with(['.', '!', '?', '…']);
    (words >= 8 && ends_sentence) || words >= 30
}

/// Reads "Name - date", "Name | date" or "Oleh: Name" into an author and maybe a date.
pub fn byline(text: &str) -> Option<(String, Option<PageDate>)> {
    static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(oleh|penulis|reporter|wartawan|pewarta|author|by)\s*[:：]?\s+(?P<name>\p{Lu}[\p{L}.'’ ]{1,60})$")
            .expect("valid")
    });
    static DATED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?P<name>\p{Lu}[\p{L}.'’]*(?: \p{Lu}[\p{L}.'’]*){0,4})\s*[-–—|,/]\s*(?P<date>.+)$",
        )
        .expect("valid")
    });
    if let Some(c) = LABELLED.captures(text) {
        return Some((c["name"].trim().to_string(), None));
    }
    let c = DATED.captures(text)?;
    let date = dates::parse(&c["date"])?;
    Some((c["name"].trim().to_string(), Some(date)))
}

fn matches(index: usize, text: &str) -> bool {
    match RULES[index].test {
        Test::Pattern(_) => COMPILED[index].as_ref().is_some_and(|re| re.is_match(text)),
        Test::OnlyDate => dates::parse(text).is_some(),
        Test::Byline => byline(text).is_some(),
        Test::Always => true,
    }
}

fn key(text: &str) -> String {
    text.to_lowercase()
}

/// Sorts a page's lines into title, metadata, body paragraphs and dropped lines.
pub fn clean(lines: &[Line]) -> Cleaned {
    let mut out = Cleaned::default();
    let drops_anywhere = |text: &str| {
        RULES
            .iter()
            .enumerate()
            .any(|(i, r)| r.zone == Zone::Anywhere && r.action != Action::Strip && matches(i, text))
    };
    let meta_line = |text: &str| dates::parse(text).is_some() || byline(text).is_some();
    // Where the body starts; a page with no prose at all is all body.
    let body_start = lines
        .iter()
        .position(|l| is_prose(&l.text) && !drops_anywhere(&l.text) && !meta_line(&l.text))
        .unwrap_or(0);

    // The header: rules first, then the title from what no rule took.
    let mut candidates = Vec::new();
    for line in &lines[..body_start] {
        let decided = RULES.iter().enumerate().find(|(i, r)| {
            matches!(r.zone, Zone::Anywhere | Zone::Header)
                && r.action != Action::Strip
                && !matches!(r.test, Test::Always)
                && matches(*i, &line.text)
        });
        match decided {
            Some((_, rule)) => {
                match rule.action {
                    Action::Date => out.header_dates.extend(dates::parse(&line.text)),
                    Action::Byline => {
                        if let Some((name, date)) = byline(&line.text) {
                            out.author.get_or_insert(name);
                            out.header_dates.extend(date);
                        }
                    }
                    _ => {}
                }
                out.dropped.push(drop(line, rule.name, rule.why));
            }
            None => candidates.push(line),
        }
    }
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for l in lines {
        *counts.entry(key(&l.text)).or_default() += 1;
    }
    let count = |t: &str| counts.get(&key(t)).copied().unwrap_or(0);
    let title = candidates
        .iter()
        .enumerate()
        .max_by_key(|(i, l)| (count(&l.text), l.text.split_whitespace().count() >= 3, *i))
        .map(|(_, l)| l.text.clone());
    let header_line = RULES
        .iter()
        .find(|r| matches!(r.test, Test::Always))
        .expect("the table has a last-resort header rule");
    for line in candidates {
        if title.as_deref().is_some_and(|t| key(t) == key(&line.text)) {
            let first = !out.dropped.iter().any(|d| d.rule == "title");
            out.dropped.push(if first {
                drop(line, "title", "the article's title: kept as metadata")
            } else {
                drop(line, "title-repeat", "the title printed again")
            });
        } else {
            out.dropped
                .push(drop(line, header_line.name, header_line.why));
        }
    }
    out.title = title;

    // The body: rules, then repeats.
    let mut seen_paragraphs: HashSet<String> = HashSet::new();
    let mut seen_sentences: HashSet<String> = HashSet::new();
    let mut cut: Option<(usize, &'static str)> = None;
    for line in &lines[body_start..] {
        if let Some((at, name)) = cut {
            out.dropped.push(Dropped {
                line: line.number,
                text: line.text.clone(),
                rule: name,
                why: Cow::Owned(format!("after line {at}, where the {name} starts")),
            });
            continue;
        }
        let mut text = line.text.clone();
        let mut decided = None;
        for (i, rule) in RULES.iter().enumerate() {
            if !matches!(rule.zone, Zone::Anywhere | Zone::Body) || !matches(i, &text) {
                continue;
            }
            if rule.action == Action::Strip {
                if let Some(m) = COMPILED[i]
                    .as_ref()
                    .and_then(|re| re.captures(&text))
                    .and_then(|c| c.name("cut"))
                {
                    out.sign_offs.push(sign_off_letters(m.as_str()));
                    out.dropped.push(Dropped {
                        line: line.number,
                        text: m.as_str().to_string(),
                        rule: rule.name,
                        why: Cow::Borrowed(rule.why),
                    });
                    text = text[..m.start()].trim_end().to_string();
                }
                continue;
            }
            decided = Some(rule);
            break;
        }
        if let Some(rule) = decided {
            if rule.name == "sign-off-line" {
                out.sign_offs.push(sign_off_letters(&text));
            }
            if rule.action == Action::Cut {
                cut = Some((line.number, rule.name));
            }
            out.dropped.push(drop(line, rule.name, rule.why));
            continue;
        }
        let k = key(&text);
        if out.title.as_deref().is_some_and(|t| key(t) == k) {
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
    out.dropped.sort_by_key(|d| d.line);
    out
}

fn drop(line: &Line, rule: &'static str, why: &'static str) -> Dropped {
    Dropped {
        line: line.number,
        text: line.text.clone(),
        rule,
        why: Cow::Borrowed(why),
    }
}

fn sign_off_letters(s: &str) -> String {
    s.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> Cleaned {
        clean(&lines(text))
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
        assert_eq!(c.sign_offs, vec!["ARN", "ian"]);
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
        let l = lines("Ini adalah sebuah kalimat yang\ndipotong oleh pengikis.\n\nBaris baru.");
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0].text,
            "Ini adalah sebuah kalimat yang dipotong oleh pengikis."
        );
        assert_eq!(l[1].number, 4);
    }

    #[test]
    fn a_page_without_prose_is_all_body() {
        let c = page("Rusia menyerang.\nUkraina bertahan.");
        assert_eq!(c.title, None);
        assert_eq!(c.paragraphs.len(), 2);
    }
}

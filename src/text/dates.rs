//! Dates as Indonesian and English news pages write them, turned into ISO 8601.
//!
//! Pages print dates in many shapes ("Rabu, 07 Desember 2022 - 21:24 WIB", "23 Desember 2021
//! 12:30 WIB", "Monday 14 February 2022", "Jul 7, 2022", "(7/12/2022)", "2022-02-14T10:00Z").
//! This module only reads them; deciding whether a date belongs to the article is ingest's
//! job. Numeric dates are read day first, as Indonesian writes them.
use chrono::{Datelike, NaiveDate, Weekday};
use regex::Regex;
use std::sync::LazyLock;

/// A date read from a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageDate {
    pub date: NaiveDate,
    /// Hour, minute and second, when given.
    pub time: Option<(u32, u32, u32)>,
    /// Offset from UTC in minutes, when a zone (WIB, WITA, WIT, GMT, UTC, +07:00) is given.
    pub offset_minutes: Option<i32>,
    /// The weekday the page names, if any.
    pub weekday: Option<Weekday>,
}

impl PageDate {
    /// ISO 8601: the day alone, or day and time, with the offset when the page gave a zone.
    pub fn iso(&self) -> String {
        let day = self.date.format("%Y-%m-%d").to_string();
        let Some((h, m, sec)) = self.time else {
            return day;
        };
        let zone = match self.offset_minutes {
            None => String::new(),
            Some(0) => "Z".to_string(),
            Some(off) => {
                let sign = if off < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60)
            }
        };
        format!("{day}T{h:02}:{m:02}:{sec:02}{zone}")
    }

    /// False when the page names a weekday that the date does not fall on.
    pub fn weekday_agrees(&self) -> bool {
        self.weekday.is_none_or(|w| w == self.date.weekday())
    }
}

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("senin", Weekday::Mon),
    ("selasa", Weekday::Tue),
    ("rabu", Weekday::Wed),
    ("kamis", Weekday::Thu),
    ("jumat", Weekday::Fri),
    ("jum'at", Weekday::Fri),
    ("sabtu", Weekday::Sat),
    ("minggu", Weekday::Sun),
    ("ahad", Weekday::Sun),
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

const MONTHS: &[(&str, u32)] = &[
    ("januari", 1),
    ("january", 1),
    ("jan", 1),
    ("februari", 2),
    ("pebruari", 2),
    ("february", 2),
    ("feb", 2),
    ("maret", 3),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("mei", 5),
    ("may", 5),
    ("juni", 6),
    ("june", 6),
    ("jun", 6),
    ("juli", 7),
    ("july", 7),
    ("jul", 7),
    ("agustus", 8),
    ("august", 8),
    ("agu", 8),
    ("agt", 8),
    ("ags", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("oktober", 10),
    ("october", 10),
    ("okt", 10),
    ("oct", 10),
    ("november", 11),
    ("nopember", 11),
    ("nov", 11),
    ("desember", 12),
    ("december", 12),
    ("des", 12),
    ("dec", 12),
];

fn alternation(words: impl Iterator<Item = &'static str>) -> String {
    let mut v: Vec<&str> = words.collect();
    // Longest first, so "juni" wins over "jun".
    v.sort_by_key(|w| std::cmp::Reverse(w.len()));
    v.iter()
        .map(|w| regex::escape(w))
        .collect::<Vec<_>>()
        .join("|")
}

/// The date forms, each matching one whole date with its optional weekday and time.
static FORMS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let wd = alternation(WEEKDAYS.iter().map(|w| w.0));
    let mon = alternation(MONTHS.iter().map(|m| m.0));
    let weekday = format!(r"(?:(?P<wd>{wd})\.?\s*,?\s*)?");
    let time = r"(?:\s*(?:[-–—|,]|pukul|jam|at)?\s*(?P<h>[01]?\d|2[0-3])[:.](?P<mi>[0-5]\d)(?::(?P<s>[0-5]\d))?\s*(?P<ampm>[ap]\.?m\.?)?\s*(?P<zone>WIB|WITA|WIT|GMT|UTC)?)?";
    let forms = [
        // 07 Desember 2022 - 21:24 WIB; Monday 14 February 2022
        format!(r"(?i){weekday}(?P<d>\d{{1,2}})\s+(?P<mon>{mon})\.?\s+(?P<y>\d{{4}}){time}"),
        // Jul 7, 2022
        format!(r"(?i){weekday}(?P<mon>{mon})\.?\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}}){time}"),
        // (7/12/2022), 07-12-2022: day first
        format!(r"(?i){weekday}\(?(?P<d>\d{{1,2}})[/.-](?P<m>\d{{1,2}})[/.-](?P<y>\d{{4}})\)?{time}"),
        // 2022-12-07, 2022-12-07T21:24:00+07:00, 2022/11/21 14:05:33
        r"(?P<y>\d{4})[-/](?P<m>\d{2})[-/](?P<d>\d{2})(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?(?P<iso>Z|[+-]\d{2}:?\d{2})?)?".to_string(),
    ];
    forms
        .iter()
        .map(|f| Regex::new(f).expect("date patterns are valid"))
        .collect()
});

/// Reads `s` as a date when the whole of it (after trimming spaces and brackets) is one.
pub fn parse(s: &str) -> Option<PageDate> {
    let s = s
        .trim()
        .trim_matches(|c: char| c.is_whitespace() || c == '|');
    WHOLE.iter().find_map(|re| from_captures(&re.captures(s)?))
}

/// The forms anchored at both ends, for [`parse`]: most lines fail at their first
/// characters instead of being searched through.
static WHOLE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    FORMS
        .iter()
        .map(|re| {
            let p = re.as_str();
            // Keep the (?i) flag in front of the anchor.
            let anchored = match p.strip_prefix("(?i)") {
                Some(rest) => format!("(?i)^(?:{rest})$"),
                None => format!("^(?:{p})$"),
            };
            Regex::new(&anchored).expect("date patterns are valid")
        })
        .collect()
});

/// Reads a date line that may carry a label or a place: "Diterbitkan 10 Mar 2022, 09:00
/// WIB", "Posted on 10 Maret 2022 by admin", "Jakarta ● Thu, March 10, 2022". The flag says
/// the label marks an update ("Diperbarui", "Updated"), not the publication.
pub fn parse_labelled(s: &str) -> Option<(PageDate, bool)> {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:(?P<upd>diperbarui|updated(?: on)?|update|last updated|pembaruan)|posted(?: on)?|published(?: on)?|diterbitkan|dipublikasikan|terbit|dimuat|tanggal|tgl\.?)\s*[:：]?\s*")
            .expect("valid")
    });
    static PLACE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*\p{Lu}[\p{L} ]{1,30}?\s*[●•·|]\s*").expect("valid"));
    static BY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\s+(?:by|oleh)\s+\S.{0,40}$").expect("valid"));
    if let Some(d) = parse(s) {
        return Some((d, false));
    }
    let (rest, updated) = match LABEL.captures(s) {
        Some(c) => (&s[c.get(0)?.end()..], c.name("upd").is_some()),
        None => (s, false),
    };
    let rest = PLACE.find(rest).map_or(rest, |m| &rest[m.end()..]);
    let rest = BY.find(rest).map_or(rest, |m| &rest[..m.start()]);
    parse(rest).map(|d| (d, updated))
}

/// Every date written in `s`, in order, with its byte range.
pub fn find_all(s: &str) -> Vec<(std::ops::Range<usize>, PageDate)> {
    let mut found: Vec<(std::ops::Range<usize>, PageDate)> = Vec::new();
    for re in FORMS.iter() {
        for caps in re.captures_iter(s) {
            let m = caps.get(0).expect("group 0 always matches");
            if found
                .iter()
                .any(|(r, _)| r.start < m.end() && m.start() < r.end)
            {
                continue;
            }
            if let Some(d) = from_captures(&caps) {
                found.push((m.range(), d));
            }
        }
    }
    found.sort_by_key(|(r, _)| r.start);
    found
}

fn from_captures(caps: &regex::Captures) -> Option<PageDate> {
    let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
    let month = match caps.name("mon") {
        Some(m) => {
            let m = m.as_str().to_lowercase();
            MONTHS.iter().find(|(n, _)| *n == m)?.1
        }
        None => num("m")?,
    };
    let year = i32::try_from(num("y")?).ok()?;
    if !(1900..=2200).contains(&year) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, num("d")?)?;
    let pm = caps
        .name("ampm")
        .map(|m| m.as_str().to_lowercase().starts_with('p'));
    let time = num("h")
        .zip(num("mi"))
        .and_then(|(h, m)| match pm {
            None => Some((h, m)),
            Some(_) if !(1..=12).contains(&h) => None,
            Some(true) => Some((h % 12 + 12, m)),
            Some(false) => Some((h % 12, m)),
        })
        .map(|(h, m)| (h, m, num("s").unwrap_or(0)))
        .filter(|&(h, m, s)| h < 24 && m < 60 && s < 60);
    let offset_minutes = if let Some(z) = caps.name("zone") {
        Some(match z.as_str().to_uppercase().as_str() {
            "WIB" => 7 * 60,
            "WITA" => 8 * 60,
            "WIT" => 9 * 60,
            _ => 0,
        })
    } else if let Some(z) = caps.name("iso") {
        let z = z.as_str();
        if z == "Z" {
            Some(0)
        } else {
            let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i32 = digits.get(..2)?.parse().ok()?;
            let m: i32 = digits.get(2..4)?.parse().ok()?;
            Some(if z.starts_with('-') { -1 } else { 1 } * (h * 60 + m))
        }
    } else {
        None
    };
    let weekday = caps.name("wd").and_then(|w| {
        let w = w.as_str().to_lowercase();
        WEEKDAYS.iter().find(|(n, _)| *n == w).map(|&(_, d)| d)
    });
    Some(PageDate {
        date,
        time,
        offset_minutes: offset_minutes.filter(|_| time.is_some()),
        weekday,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<String> {
        parse(s).map(|d| d.iso())
    }

    #[test]
    fn reads_the_forms_news_pages_use() {
        let cases = [
            (
                "Rabu, 07 Desember 2022 - 21:24 WIB",
                "2022-12-07T21:24:00+07:00",
            ),
            ("23 Desember 2021 12:30 WIB", "2021-12-23T12:30:00+07:00"),
            ("Monday 14 February 2022", "2022-02-14"),
            ("Jul 7, 2022", "2022-07-07"),
            ("(7/12/2022)", "2022-12-07"),
            ("Kamis, 23 Desember 2021", "2021-12-23"),
            (
                "Jumat, 4 Maret 2022 | 10:05 WITA",
                "2022-03-04T10:05:00+08:00",
            ),
            (
                "Sabtu, 5 Mar 2022 pukul 08.15 WIT",
                "2022-03-05T08:15:00+09:00",
            ),
            ("2022-02-14T10:00:00Z", "2022-02-14T10:00:00Z"),
            ("2022-02-14T17:00:00+07:00", "2022-02-14T17:00:00+07:00"),
            ("2022-02-14", "2022-02-14"),
            ("14 Feb 2022 10:00", "2022-02-14T10:00:00"),
            ("Sept 1, 2021", "2021-09-01"),
            ("March 10, 2022 at 2:05 pm", "2022-03-10T14:05:00"),
            ("March 10, 2022 12:30 a.m.", "2022-03-10T00:30:00"),
        ];
        for (text, want) in cases {
            assert_eq!(iso(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn reads_labelled_date_lines() {
        let read = |s: &str| parse_labelled(s).map(|(d, updated)| (d.iso(), updated));
        let day = |s: &str, u| Some((s.to_string(), u));
        assert_eq!(
            read("Diterbitkan 10 Mar 2022, 09:00 WIB"),
            day("2022-03-10T09:00:00+07:00", false)
        );
        assert_eq!(
            read("Diperbarui 10 Mar 2022, 12:00 WIB"),
            day("2022-03-10T12:00:00+07:00", true)
        );
        assert_eq!(
            read("Posted on 10 Maret 2022 by admin"),
            day("2022-03-10", false)
        );
        assert_eq!(
            read("Jakarta ● Thu, March 10, 2022"),
            day("2022-03-10", false)
        );
        assert_eq!(
            read("2022/11/21 14:05:33"),
            day("2022-11-21T14:05:33", false)
        );
        assert_eq!(read("Posted on Tuesday"), None);
    }

    #[test]
    fn refuses_what_is_not_one_whole_date() {
        for text in [
            "31 Februari 2022",
            "(01/02)",
            "Pada 17 Desember 2021, Kementerian merilis",
            "13/13/2022",
            "Desember 2021",
            "",
        ] {
            assert_eq!(iso(text), None, "{text}");
        }
    }

    #[test]
    fn finds_dates_inside_sentences_and_checks_weekdays() {
        let s = "kata dia, Rabu (7/12/2022). Lalu Kamis, 23 Desember 2021 juga.";
        let found = find_all(s);
        assert_eq!(found.len(), 2);
        assert_eq!(&s[found[0].0.clone()], "Rabu (7/12/2022)");
        assert!(found[0].1.weekday_agrees());
        assert_eq!(found[1].1.iso(), "2021-12-23");
        assert!(found[1].1.weekday_agrees());
        assert!(!parse("Senin, 7 Desember 2022").unwrap().weekday_agrees());
    }
}

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

    /// The wall-clock minute: the day and the hour and minute, whatever the zone.
    pub fn wall_minute(&self) -> Option<(NaiveDate, u32, u32)> {
        self.time.map(|(h, m, _)| (self.date, h, m))
    }

    /// The instant in minutes since the epoch, when the page gives a time and a zone.
    pub fn instant_minute(&self) -> Option<i64> {
        let (h, m, _) = self.time?;
        let offset = i64::from(self.offset_minutes?);
        let days = i64::from(self.date.num_days_from_ce());
        Some(days * 1440 + i64::from(h) * 60 + i64::from(m) - offset)
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
    let time = r"(?:\s*(?:[-–—|,]|pukul|jam|at)?\s*(?P<h>[01]?[0-9]|2[0-3])[:.](?P<mi>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?\s*(?P<ampm>[ap]\.?m\.?)?\s*(?P<zone>WIB|WITA|WIT|GMT|UTC)?)?";
    let forms = [
        // 07 Desember 2022 - 21:24 WIB; Monday 14 February 2022
        format!(r"(?i){weekday}(?P<d>[0-9]{{1,2}})\s+(?P<mon>{mon})\.?\s+(?P<y>[0-9]{{4}}){time}"),
        // Jul 7, 2022
        format!(r"(?i){weekday}(?P<mon>{mon})\.?\s+(?P<d>[0-9]{{1,2}}),?\s+(?P<y>[0-9]{{4}}){time}"),
        // (7/12/2022), 07-12-2022: day first
        format!(r"(?i){weekday}\(?(?P<d>[0-9]{{1,2}})[/.-](?P<m>[0-9]{{1,2}})[/.-](?P<y>[0-9]{{4}})\)?{time}"),
        // 2022-12-07, 2022-12-07T21:24:00+07:00, 2022/11/21 14:05:33, 2015-11-05 T10:08:58Z
        r"(?P<y>[0-9]{4})[-/](?P<m>[0-9]{2})[-/](?P<d>[0-9]{2})(?:(?:\s?T|\s+)(?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.[0-9]+)?)?\s?(?P<iso>Z|[+-][0-9]{2}:?[0-9]{2})?)?".to_string(),
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

/// The day in a page address: `/2015/11/04/`, `/2015-11-04`, `/20151104/`. Only four-digit
/// years are read, so "16/02/15" in an address is not guessed at.
pub fn from_url(url: &str) -> Option<PageDate> {
    static URL_DATE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"/((?:19|20)[0-9]{2})(?:([/_-])([0-9]{1,2})([/_-])([0-9]{1,2})|([0-9]{2})([0-9]{2}))(?:[/_.-]|$)",
        )
        .expect("valid")
    });
    let path = url.split(['?', '#']).next()?;
    URL_DATE.captures_iter(path).find_map(|c| {
        if c.get(2).is_some() && c.get(2).map(|m| m.as_str()) != c.get(4).map(|m| m.as_str()) {
            return None;
        }
        let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        let year = i32::try_from(n(1)?).ok()?;
        let (month, day) = (n(3).or(n(6))?, n(5).or(n(7))?);
        Some(PageDate {
            date: NaiveDate::from_ymd_opt(year, month, day)?,
            time: None,
            offset_minutes: None,
            weekday: None,
        })
    })
}

/// The zone the page prints its times in ("14:38 WIB"), when it prints one more often than
/// any other, as minutes east of UTC.
pub fn printed_zone<'a>(texts: impl IntoIterator<Item = &'a str>) -> Option<i32> {
    static TIME_ZONE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:[01]?[0-9]|2[0-3])[:.][0-5][0-9](?::[0-5][0-9])?\s*(WIB|WITA|WIT)\b")
            .expect("valid")
    });
    let mut counts = [0usize; 3];
    for t in texts {
        for c in TIME_ZONE.captures_iter(t) {
            match c[1].to_ascii_uppercase().as_str() {
                "WIB" => counts[0] += 1,
                "WITA" => counts[1] += 1,
                _ => counts[2] += 1,
            }
        }
    }
    let (best, &n) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))?;
    let unique = counts.iter().filter(|&&c| c == n).count() == 1;
    (n > 0 && unique).then(|| (7 + best as i32) * 60)
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
    fn reads_days_from_addresses() {
        let day = |u: &str| from_url(u).map(|d| d.iso());
        assert_eq!(
            day("http://regional.kabar.com/read/2015/11/04/21040031/Polisi.Tangkap").as_deref(),
            Some("2015-11-04")
        );
        assert_eq!(
            day("https://x.id/berita/2022-03-10-judul").as_deref(),
            Some("2022-03-10")
        );
        assert_eq!(
            day("https://x.id/20220310/judul").as_deref(),
            Some("2022-03-10")
        );
        assert_eq!(day("https://x.id/berita/16/02/15/o2l07x284-judul"), None);
        assert_eq!(day("https://x.id/read/2436773/judul"), None);
        assert_eq!(day("https://x.id/2022/13/45/judul"), None);
        assert_eq!(day("https://x.id/2022/03-10/judul"), None);
    }

    #[test]
    fn reads_iso_forms_with_a_space_before_the_time_or_zone() {
        assert_eq!(
            iso("2015-11-05 T10:08:58Z").as_deref(),
            Some("2015-11-05T10:08:58Z")
        );
        assert_eq!(
            iso("2016-02-16 09:10:56").as_deref(),
            Some("2016-02-16T09:10:56")
        );
        assert_eq!(
            iso("2016-02-16 09:10:56 +0700").as_deref(),
            Some("2016-02-16T09:10:56+07:00")
        );
    }

    #[test]
    fn the_printed_zone_is_the_one_printed_most() {
        assert_eq!(
            printed_zone(["Selasa 14:38 WIB", "Rabu 10:00 wib", "08.15 WITA"]),
            Some(420)
        );
        assert_eq!(printed_zone(["14:38 WIB", "08.15 WITA"]), None);
        assert_eq!(printed_zone(["WIB saja"]), None);
    }

    #[test]
    fn instants_compare_across_zones_and_wall_clocks_within_one() {
        let utc = parse("2016-02-16T02:10:56Z").unwrap();
        let wib = parse("16 Feb 2016 09:10 WIB").unwrap();
        assert_eq!(utc.instant_minute(), wib.instant_minute());
        assert_ne!(utc.wall_minute(), wib.wall_minute());
        assert_eq!(parse("16 Feb 2016 09:10").unwrap().instant_minute(), None);
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

//! What a page says about its article beyond the text: the outlet's own name from its
//! footer, and a date written in the body when the header gives none. (The dateline is
//! `dateline.rs`'s.)
//!
//! Every reading here is conservative: a value the page does not clearly give stays `None`.
use super::clean::{Dropped, Line};
use super::dateline::is_domain;
use super::dates::{self, PageDate};
use regex::Regex;
use std::sync::LazyLock;

/// The site's own name from its footer ("Powered by Medcom.id"), when it is a domain and
/// not the publishing software's.
pub fn site_name(dropped: &[Dropped]) -> Option<String> {
    static POWERED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(?:powered by|didukung oleh)\s+(?P<name>\S+)$").expect("valid")
    });
    const SOFTWARE: &[&str] = &["wordpress", "blogger", "blogspot", "ghost", "medium", "wix"];
    dropped.iter().find_map(|d| {
        let c = POWERED.captures(&d.text)?;
        let name = c["name"].trim_end_matches('.');
        let lower = name.to_lowercase();
        (is_domain(name) && !SOFTWARE.iter().any(|s| lower.contains(s))).then(|| name.to_string())
    })
}

/// A date the body gives as the day of the report, Indonesian style: a weekday with the
/// date after it ("Rabu (7/12/2022)", "Kamis, 23 Desember 2021"), the weekday agreeing with
/// the date. Taken only when every such date in the body is the same day.
pub fn body_date(paragraphs: &[Line]) -> Option<PageDate> {
    let mut found: Vec<PageDate> = paragraphs
        .iter()
        .flat_map(|p| dates::find_all(&p.text))
        .map(|(_, d)| d)
        .filter(|d| d.weekday.is_some() && d.weekday_agrees())
        .collect();
    let first = found.first()?.date;
    if found.iter().any(|d| d.date != first) {
        return None;
    }
    let mut d = found.swap_remove(0);
    d.weekday = None;
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_dates_must_agree() {
        let p = |t: &str| Line {
            number: 1,
            text: t.to_string(),
        };
        let one = [
            p("kata dia, Rabu (7/12/2022)."),
            p("Dia menambahkan, Rabu (7/12/2022)."),
        ];
        assert_eq!(body_date(&one).unwrap().iso(), "2022-12-07");
        let two = [
            p("kata dia, Rabu (7/12/2022)."),
            p("Kamis, 23 Desember 2021 lalu."),
        ];
        assert_eq!(body_date(&two), None);
        assert_eq!(body_date(&[p("Pada 17 Desember 2021, dia pergi.")]), None);
    }
}

//! The dateline at the head of an article ("MOSKOW -", "Rusia, ARRAHMAHNEWS.COM –",
//! "Moskow:", "Jakarta (ANTARA) -"): its city and outlet, and whether a line is nothing
//! but one. Both the cleaner (which must not drop a dateline's paragraph) and the
//! metadata reader use it, so it is its own room.
//!
//! Every reading here is conservative: a value the page does not clearly give stays `None`.
use regex::Regex;
use std::sync::LazyLock;

/// The dateline at the head of the first paragraph.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dateline {
    pub city: Option<String>,
    pub outlet: Option<String>,
}

/// Places printed as datelines that are more than one word or not in capitals, so a
/// two-word capitalised head ("POROS PERLAWANAN –") that is not one of them reads as an
/// outlet. Single capitalised words ("MOSKOW -") read as places without being listed.
const PLACES: &[&str] = &[
    "jakarta",
    "jakarta pusat",
    "jakarta selatan",
    "jakarta barat",
    "jakarta timur",
    "jakarta utara",
    "bandar lampung",
    "banda aceh",
    "kuala lumpur",
    "bandar seri begawan",
    "new york",
    "new delhi",
    "hong kong",
    "tel aviv",
    "abu dhabi",
    "buenos aires",
    "rio de janeiro",
    "den haag",
    "los angeles",
    "san francisco",
    "washington dc",
    "palangka raya",
    "tanjung pinang",
    "pangkal pinang",
    "tanjung selor",
    "sungai penuh",
    "kota kinabalu",
    "phnom penh",
    "ho chi minh",
    "addis ababa",
    "cape town",
    "st petersburg",
    "saint petersburg",
    "sankt peterburg",
    "moskow",
    "moskwa",
    "moscow",
    "kyiv",
    "kiev",
    "beijing",
    "washington",
    "london",
    "paris",
    "berlin",
    "tokyo",
    "seoul",
    "canberra",
    "singapura",
    "bangkok",
    "manila",
    "hanoi",
    "teheran",
    "tehran",
    "riyadh",
    "kairo",
    "ankara",
    "brussel",
    "brussels",
    "jenewa",
    "wina",
    "roma",
    "madrid",
    "surabaya",
    "bandung",
    "medan",
    "semarang",
    "yogyakarta",
    "makassar",
    "denpasar",
    "palembang",
    "pekanbaru",
    "pontianak",
    "balikpapan",
    "samarinda",
    "manado",
    "kupang",
    "jayapura",
    "ambon",
    "mataram",
    "padang",
    "malang",
    "solo",
    "bogor",
    "depok",
    "tangerang",
    "bekasi",
    "batam",
    "jambi",
    "bengkulu",
    "kendari",
    "palu",
    "gorontalo",
    "mamuju",
    "ternate",
    "sofifi",
    "manokwari",
    "sorong",
    "merauke",
    "serang",
    "cilegon",
    "cirebon",
    "tasikmalaya",
    "sukabumi",
    "kediri",
    "jember",
    "banyuwangi",
    "rusia",
    "ukraina",
    "amerika serikat",
    "as",
    "china",
    "tiongkok",
    "jepang",
    "inggris",
    "prancis",
    "jerman",
    "iran",
    "irak",
    "suriah",
    "israel",
    "palestina",
    "gaza",
    "tepi barat",
    "arab saudi",
    "turki",
    "mesir",
    "india",
    "pakistan",
    "afghanistan",
    "korea selatan",
    "korea utara",
    "australia",
    "malaysia",
    "thailand",
    "filipina",
    "vietnam",
    "myanmar",
    "kamboja",
    "belanda",
    "belgia",
    "swiss",
    "italia",
    "spanyol",
    "kanada",
    "brasil",
    "meksiko",
    "vatikan",
    "qatar",
    "yaman",
    "lebanon",
    "yordania",
    "taiwan",
    "timor leste",
    "brunei",
    "polandia",
    "finlandia",
    "swedia",
    "norwegia",
    "denmark",
    "austria",
    "yunani",
    "portugal",
    "irlandia",
    "skotlandia",
];

fn is_place(s: &str) -> bool {
    let s = s.to_lowercase();
    PLACES.contains(&s.as_str())
        || ["barat", "timur", "utara", "selatan", "tengah", "pusat"]
            .iter()
            .any(|d| s.ends_with(&format!(" {d}")) && s.split_whitespace().count() <= 3)
        || s.starts_with("kota ")
        || s.starts_with("kabupaten ")
}

/// "KOMPAS.com", "REPUBLIKA.CO.ID", "Medcom.id".
pub fn is_domain(s: &str) -> bool {
    static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^[\p{L}0-9-]+(\.[\p{L}0-9-]+)*\.(com|co\.id|id|net|org|news|tv|co|info|or\.id|go\.id)$")
            .expect("valid")
    });
    DOMAIN.is_match(s)
}

fn is_caps(s: &str) -> bool {
    s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase)
}

static HEAD: LazyLock<Regex> = LazyLock::new(|| {
    // Lengths (a head of 60 characters at most, an agency of 20) are checked in
    // `read_head`: bounded repetitions of Unicode classes are slow to compile.
    Regex::new(r#"^(?P<head>[\p{L}0-9.,' ]{2,}?)\s*(?:\((?P<agency>[\p{L}.]{2,})\)\s*)?(?P<sep>-{1,2}|–|—|:)(?:\s+[\p{Lu}0-9“"]|\s*$)"#)
        .expect("valid")
});

/// Reads the dateline at the start of `paragraph`.
pub fn dateline(paragraph: &str) -> Dateline {
    HEAD.captures(paragraph)
        .and_then(|c| read_head(&c))
        .unwrap_or_default()
}

/// Whether `line` is a dateline and nothing else ("Jakarta, CNN Indonesia --"), as pages
/// print it on a line of its own above the first paragraph.
pub fn is_dateline_only(line: &str) -> bool {
    HEAD.captures(line).is_some_and(|c| {
        c.get(0).is_some_and(|m| m.end() == line.len())
            && &c["sep"] != ":"
            && read_head(&c).is_some()
    })
}

fn read_head(c: &regex::Captures) -> Option<Dateline> {
    let head = c["head"].trim();
    let agency_len = c.name("agency").map_or(0, |a| a.as_str().chars().count());
    if c["head"].chars().count() > 60 || agency_len > 20 {
        return None;
    }
    let parts: Vec<&str> = head.split(',').map(str::trim).collect();
    let short = |p: &str| {
        !p.is_empty()
            && p.split_whitespace().count() <= 4
            && (is_domain(p)
                || p.split_whitespace()
                    .all(|w| w.starts_with(|ch: char| ch.is_uppercase() || ch.is_ascii_digit())))
    };
    if parts.len() > 2 || !parts.iter().all(|p| short(p)) {
        return None;
    }
    let first = parts[0];
    let plausible = parts
        .iter()
        .any(|p| is_caps(p) || is_place(p) || is_domain(p));
    if !plausible || (&c["sep"] == ":" && !(is_caps(first) || is_place(first))) {
        return None;
    }
    let mut out = Dateline::default();
    match parts.get(1) {
        // "TEMPO.CO, Jakarta -": the outlet first, then the city.
        Some(second) if is_domain(first) => {
            out.outlet = Some(first.to_string());
            out.city = Some(second.to_string());
        }
        // "JAKARTA, KOMPAS.com -", "Jakarta, CNN Indonesia --".
        Some(second) => {
            out.city = Some(first.to_string());
            out.outlet = Some(second.to_string());
        }
        None => {
            let unknown_name = c.name("agency").is_none()
                && first.split_whitespace().count() >= 2
                && !is_place(first);
            if is_domain(first) || unknown_name {
                out.outlet = Some(first.to_string());
            } else {
                out.city = Some(first.to_string());
            }
        }
    }
    if let Some(agency) = c.name("agency") {
        out.outlet.get_or_insert(agency.as_str().to_string());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dl(s: &str) -> (Option<String>, Option<String>) {
        let d = dateline(s);
        (d.city, d.outlet)
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn reads_datelines() {
        assert_eq!(dl("MOSKOW - Masalah jaminan"), (some("MOSKOW"), None));
        assert_eq!(dl("Moskow: Menteri Luar Negeri"), (some("Moskow"), None));
        assert_eq!(
            dl("Rusia, ARRAHMAHNEWS.COM – Amerika Serikat"),
            (some("Rusia"), some("ARRAHMAHNEWS.COM"))
        );
        assert_eq!(
            dl("Kyiv, Reuters - Pasukan"),
            (some("Kyiv"), some("Reuters"))
        );
        assert_eq!(
            dl("POROS PERLAWANAN – Menlu Rusia"),
            (None, some("POROS PERLAWANAN"))
        );
        assert_eq!(
            dl("JAKARTA, KOMPAS.com - Presiden"),
            (some("JAKARTA"), some("KOMPAS.com"))
        );
        assert_eq!(
            dl("Jakarta (ANTARA) - Presiden"),
            (some("Jakarta"), some("ANTARA"))
        );
        assert_eq!(
            dl("BANDAR LAMPUNG - Gubernur"),
            (some("BANDAR LAMPUNG"), None)
        );
    }

    #[test]
    fn leaves_ordinary_sentences_alone() {
        for s in [
            "Presiden Rusia, Vladimir Putin - yang hadir - berkata",
            "Lavrov: Kami siap",
            "Menurut dia, hal itu - katanya - benar",
            "Rusia masih memiliki kesempatan",
        ] {
            assert_eq!(dl(s), (None, None), "{s}");
        }
    }
}

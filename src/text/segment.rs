//! The project's one sentence splitter, for Indonesian news text.
//!
//! Translation uses it to cut lines longer than a model's input into sentences and clauses;
//! ingest uses it to give every sentence its id. It returns byte ranges into the text it is
//! given, so nothing is lost, added or reordered: the text between two ranges is whitespace.
use std::ops::Range;

/// Abbreviations that stand before a name, a number or a place (titles, "No.", "Rp.",
/// "Jl.", month names): a period after them never ends a sentence. Compared without the
/// final period, case-sensitively, as they appear in news text.
const PREFIX_ABBREVIATIONS: &[&str] = &[
    "Dr", "dr", "drg", "Prof", "Ir", "Drs", "Dra", "H", "Hj", "KH", "Sdr", "Sdri", "Bpk", "Tn",
    "Ny", "Nn", "Mr", "Mrs", "Ms", "St", "Yth", "Pdt", "Mgr", "No", "no", "Nomor", "Nmr", "Jl",
    "Jln", "Kec", "Kab", "Kel", "Prov", "Rp", "Gen", "Jend", "Brigjen", "Mayjen", "Letjen", "Kol",
    "Pol", "Kapt", "Lt", "a.l", "vs", "hlm", "tgl", "Tel", "Telp", "Tlp", "Jan", "Feb", "Mar",
    "Apr", "Jun", "Jul", "Agu", "Agt", "Aug", "Sep", "Sept", "Okt", "Oct", "Nov", "Des", "Dec",
    "psl", "Kav", "Ust", "Ustaz", "Ustadz", "PT", "CV", "UD", "Inf", "Dg", "Th", "Thn", "Purn",
    "s.d", "s/d", "e.g", "i.e", "cf", "Bp", "Komjen", "Irjen", "Kombes", "AKBP", "Ipda", "Iptu",
    "Aiptu", "Bripka", "Brigpol", "Serka", "Sertu", "Koptu", "Praka", "Pratu", "Muh", "Moh", "Mhd",
    "Abd", "Drh", "Kp", "Ds", "Dsn", "Gg", "a.n", "pk", "Pk", "Faks", "Fax", "Hp", "Ket",
];

/// Abbreviations that close a phrase ("dll.", "Tbk.", degrees after a name): a period after
/// them ends the sentence only when a capitalised word follows, as any period does.
const SUFFIX_ABBREVIATIONS: &[&str] = &[
    "dll", "dsb", "dst", "dkk", "etc", "al", "Inc", "Ltd", "Co", "Corp", "Tbk", "Jr", "Sr", "S.H",
    "S.E", "S.Pd", "S.Sos", "S.Kom", "S.T", "S.Ag", "S.Ip", "M.Si", "M.Sc", "M.A", "M.H", "M.M",
    "M.Kom", "M.Pd", "Ph.D", "Sp.A", "Sp.PD",
];

const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '»'];
const OPENERS: &[char] = &['"', '\'', '“', '‘', '(', '[', '«'];

/// Sentence ranges of `text`, in reading order, each trimmed of surrounding whitespace.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while let Some(c) = text[pos..].chars().next() {
        if is_terminator(c) {
            // Take the whole run of terminators and closing quotes.
            let run_end = text[pos..]
                .find(|ch: char| !(is_terminator(ch) || CLOSERS.contains(&ch)))
                .map_or(text.len(), |n| pos + n);
            if is_boundary(text, pos, run_end, start) {
                push_trimmed(text, start..run_end, &mut out);
                start = run_end;
            }
            pos = run_end;
            continue;
        }
        if c == '©'
            && text[..pos].ends_with(char::is_whitespace)
            && text[start..pos].split_whitespace().nth(2).is_some()
        {
            // A copyright notice starts a sentence of its own, whatever stands before it;
            // a word or two before it ("Copyright ©", "Hak cipta ©") are its own label.
            push_trimmed(text, start..pos, &mut out);
            start = pos;
        }
        if c == '\n' && text[pos + 1..].starts_with('\n') {
            // A blank line always ends a sentence.
            push_trimmed(text, start..pos, &mut out);
            start = pos;
        }
        pos += c.len_utf8();
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Clause ranges of `text`: cuts after `,` `;` `:` followed by whitespace. For lines that
/// are still too long for a model after sentence splitting.
pub fn clauses(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = text.char_indices().peekable();
    while let Some((b, c)) = it.next() {
        if matches!(c, ',' | ';' | ':') && it.peek().is_some_and(|&(_, n)| n.is_whitespace()) {
            let end = b + c.len_utf8();
            push_trimmed(text, start..end, &mut out);
            start = end;
        }
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

/// Word ranges of `text` (whitespace-separated), the last resort for splitting.
pub fn words(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (b, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(s..b);
                start = None;
            }
            (false, None) => start = Some(b),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

fn push_trimmed(text: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.trim();
    if !trimmed.is_empty() {
        out.push(r.start + lead..r.start + lead + trimmed.len());
    }
}

/// Whether the run of terminators and closers `text[i..j]` ends a sentence that began at
/// byte `start`.
fn is_boundary(text: &str, i: usize, j: usize, start: usize) -> bool {
    // Must be followed by whitespace (or the end); "3.5", "a.l.", "x.com" are not ends.
    let rest = &text[j..];
    let Some(next) = rest.chars().next() else {
        return true;
    };
    if !next.is_whitespace() {
        return false;
    }
    // The next visible character must start a sentence: not a lowercase letter
    // ("?” tanya dia", "... lalu"); a copyright sign does ("… reports. ©2015 …").
    match rest.chars().find(|c| !c.is_whitespace()) {
        None => return true,
        Some(f) if f.is_lowercase() => return false,
        Some(f)
            if !(f.is_alphanumeric() || OPENERS.contains(&f) || matches!(f, '-' | '—' | '©')) =>
        {
            return false
        }
        _ => {}
    }
    // A single period (perhaps inside brackets, "(Purn.)") after a title, an initial or a
    // list number is not an end.
    if text[i..j].starts_with('.') && text[i + 1..j].chars().all(|c| c == ')' || c == ']') {
        let word_start = text[..i]
            .char_indices()
            .rev()
            .find(|&(_, c)| c.is_whitespace() || OPENERS.contains(&c))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let word = &text[word_start..i];
        if SUFFIX_ABBREVIATIONS.contains(&word) {
            // "Tbk. (PTBA)", "dkk. (2021)": a bracket after a closing abbreviation continues.
            return !rest.trim_start().starts_with('(');
        }
        if PREFIX_ABBREVIATIONS.contains(&word) || is_initials(word) {
            return false;
        }
        // "1. Akses pengaturan", "Caranya: 2. Klik": a small number opening a sentence or
        // following a colon is a list marker.
        let before = text.get(start..i).unwrap_or("");
        if (1..=3).contains(&word.len()) && word.chars().all(|c| c.is_ascii_digit()) {
            if let Some(lead) = before.strip_suffix(word).map(str::trim_end) {
                if lead.is_empty() || lead.ends_with(':') {
                    return false;
                }
            }
        }
    }
    true
}

/// "H", "B", "A.S", "J.K": one capital letter, or capitals joined by periods.
fn is_initials(word: &str) -> bool {
    !word.is_empty()
        && word.split('.').all(|part| {
            let mut cs = part.chars();
            matches!((cs.next(), cs.next()), (Some(c), None) if c.is_uppercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(t: &str) -> Vec<&str> {
        sentences(t).into_iter().map(|r| &t[r]).collect()
    }

    #[test]
    fn splits_plain_sentences_and_keeps_abbreviations() {
        assert_eq!(
            split("Menlu Retno tiba. Dr. Ahmad menyambutnya di Jl. Sudirman no. 5! Harga naik 3.5 persen?"),
            vec!["Menlu Retno tiba.", "Dr. Ahmad menyambutnya di Jl. Sudirman no. 5!", "Harga naik 3.5 persen?"]
        );
    }

    #[test]
    fn a_copyright_notice_is_a_sentence_of_its_own() {
        assert_eq!(
            split("It has not commented. ©2015 The Reporter. All rights reserved."),
            vec![
                "It has not commented.",
                "©2015 The Reporter.",
                "All rights reserved."
            ]
        );
    }

    #[test]
    fn quotes_with_attribution_stay_together() {
        assert_eq!(
            split("“Kami siap,” kata Lavrov. “Benarkah?” tanya dia. Lalu pergi."),
            vec![
                "“Kami siap,” kata Lavrov.",
                "“Benarkah?” tanya dia.",
                "Lalu pergi."
            ]
        );
    }

    #[test]
    fn clauses_and_words_cover_the_text() {
        let t = "satu, dua; tiga: empat";
        let c: Vec<&str> = clauses(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(c, vec!["satu,", "dua;", "tiga:", "empat"]);
        let w: Vec<&str> = words(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(w, vec!["satu,", "dua;", "tiga:", "empat"]);
    }
}

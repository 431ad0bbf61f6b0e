//! Function words of Indonesian and English: how running prose is told from menus, labels
//! and lists of headlines, and whether a text is Indonesian.
//!
//! Prose is dense with short grammatical words ("yang", "dan", "di", "the", "of"); a menu,
//! a tag list or a headline has few of them. This is the stop-word density that jusText
//! and trafilatura use to tell paragraphs from boilerplate, with lists for the two
//! languages warta reads.

/// The most frequent Indonesian function words (conjunctions, prepositions, pronouns,
/// particles and auxiliaries), lower case.
const INDONESIAN: &[&str] = &[
    "yang",
    "dan",
    "di",
    "ke",
    "dari",
    "ini",
    "itu",
    "dengan",
    "untuk",
    "pada",
    "dalam",
    "tidak",
    "akan",
    "juga",
    "adalah",
    "ada",
    "oleh",
    "karena",
    "sebagai",
    "atau",
    "bisa",
    "sudah",
    "telah",
    "saat",
    "lebih",
    "para",
    "tersebut",
    "mereka",
    "kami",
    "kita",
    "ia",
    "dia",
    "saya",
    "namun",
    "bahwa",
    "hal",
    "agar",
    "jika",
    "bagi",
    "hingga",
    "sebuah",
    "seperti",
    "masih",
    "belum",
    "harus",
    "secara",
    "menjadi",
    "dapat",
    "lagi",
    "tak",
    "pun",
    "maka",
    "serta",
    "antara",
    "kepada",
    "tetapi",
    "tapi",
    "sehingga",
    "setelah",
    "sejak",
    "sedang",
    "yaitu",
    "yakni",
    "tentang",
    "terhadap",
    "melalui",
    "sampai",
    "ketika",
    "sangat",
    "lalu",
    "kemudian",
    "pernah",
    "hanya",
    "bukan",
    "begitu",
    "sebelum",
    "selama",
    "atas",
    "sendiri",
    "anda",
    "nya",
    "si",
    "sang",
    "apa",
    "siapa",
    "mana",
    "bagaimana",
    "mengapa",
    "kata",
    "ujar",
    "ungkap",
    "jelas",
    "tambah",
    "menurut",
    "sementara",
    "meski",
    "walau",
];

/// The most frequent English function words, lower case.
const ENGLISH: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "was", "on", "with", "as",
    "by", "he", "she", "at", "from", "his", "her", "be", "have", "has", "had", "are", "were",
    "said", "which", "an", "this", "they", "their", "not", "but", "or", "been", "will", "would",
    "who", "its", "we", "after", "also", "than", "more", "into", "about", "when", "there", "one",
    "all", "our", "can", "if", "so", "no", "what", "up", "out", "over", "could", "them", "you",
    "i", "him", "says", "some", "while", "since", "because", "only", "other", "new",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Shares of the words of `text` that are Indonesian and English function words, and the
/// number of words.
pub fn function_word_shares(text: &str) -> (f32, f32, usize) {
    let (mut id, mut en, mut n) = (0usize, 0usize, 0usize);
    for w in words(text) {
        n += 1;
        id += usize::from(INDONESIAN.contains(&w.as_str()));
        en += usize::from(ENGLISH.contains(&w.as_str()));
    }
    if n == 0 {
        return (0.0, 0.0, 0);
    }
    (id as f32 / n as f32, en as f32 / n as f32, n)
}

/// The share of `text`'s words that are function words of either language: about 0.3-0.5
/// in news prose, under 0.15 in menus, tag lists and headlines.
pub fn function_word_density(text: &str) -> f32 {
    let (id, en, _) = function_word_shares(text);
    id.max(en)
}

/// Whether `text` (a few sentences at least) reads as Indonesian rather than English.
pub fn is_indonesian(text: &str) -> bool {
    let (id, en, n) = function_word_shares(text);
    n >= 8 && id >= 0.1 && id > en
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_dense_with_function_words_and_menus_are_not() {
        let prose = "Menteri itu mengatakan bahwa pemerintah akan melanjutkan upaya ini dengan \
                     bantuan dari para mitra di daerah.";
        let menu = "Beranda Politik Ekonomi Olahraga Teknologi Hiburan Gaya Hidup Otomotif";
        let english = "The minister said that the government would continue the effort with \
                       the help of its partners in the regions.";
        assert!(function_word_density(prose) >= 0.3);
        assert!(function_word_density(menu) < 0.15);
        assert!(function_word_density(english) >= 0.3);
        assert!(is_indonesian(prose));
        assert!(!is_indonesian(english));
        assert!(!is_indonesian(menu));
    }
}

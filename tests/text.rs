//! The sentence splitter on hard cases from Indonesian news text, and properties that must
//! hold for any text: splitting never loses, adds or reorders text.
use proptest::prelude::*;
use warta::text::segment::sentences;

/// Expected sentences; the input is them joined by one space.
const CASES: &[&[&str]] = &[
    // Titles and other abbreviations that stand before a name, a number or a place.
    &["Dr. Ahmad tiba di Jakarta."],
    &["Prof. Dr. Ir. Budi Santoso memberi kuliah umum."],
    &["H. Agus Salim adalah tokoh bangsa."],
    &["Hj. Siti Aminah hadir dalam acara itu."],
    &["Kantornya berada di Jl. Sudirman No. 5 Jakarta."],
    &["Harga tiket Rp. 50.000 per orang."],
    &["Surat itu bernomor No. 12 tahun 2022."],
    &["Dia lahir pada 5 Jan. 1990 di Bandung."],
    &["Rapat digelar 17 Des. 2021 di Istana."],
    &["Rapat diadakan 1 Sept. 2021 di Bogor."],
    &["Sdr. Andi diminta hadir."],
    &["Menurut Brigjen. Pol. Ahmad, pelaku ditangkap."],
    &["Mereka menunjuk a.l. Jakarta, Bandung dan Surabaya."],
    &["Kasus itu ditangani Kec. Menteng dan Kab. Bogor."],
    &["Gedung itu terletak di Kel. Gambir, Kec. Gambir."],
    &["Ia dipanggil Bpk. Harun oleh warga."],
    &["Pertemuan Mr. Blinken dan Mr. Lavrov berlangsung di Jenewa."],
    &["Kantor itu di Jln. Merdeka Barat No. 9.", "Dekat Monas."],
    &["Nomor teleponnya Telp. 021-5555."],
    &["Tim itu menang 3-0 vs. Malaysia."],
    &["Rapat dipimpin Ny. Ani.", "Semua hadir."],
    &["No. 1 di dunia adalah dia."],
    &["Kantornya di Jl. Jend. Sudirman Kav. 52-53, Jakarta."],
    &["Ceramah Ust. Abdul Somad dihadiri ribuan orang."],
    &["Danrem Kol. Inf. Budi Santoso meninjau lokasi."],
    &["Saham PT. Bank Central Asia naik."],
    &["Pameran berlangsung 1 s.d. 3 Maret di Jakarta."],
    &["Aturan itu ada di UU No. 16 Th. 2012 tentang Industri Pertahanan."],
    &["Rumahnya di Jl. Dg. Tata, Makassar."],
    &["Laksamana Muda (Purn.) Agus Setiadji hadir."],
    &["Kota-kota besar, e.g. Tokyo, makin padat."],
    &["Kapolda Irjen. Pol. Fadil Imran memimpin apel."],
    &["Ketua RT Muh. Arif dan Abd. Rahman hadir di Gg. Mawar."],
    &["Surat itu ditujukan a.n. Budi kepada Kp. Sukamaju."],
    &["PT Bukit Asam Tbk. (PTBA) menyiapkan dana.", "Proyek dimulai tahun ini."],
    &["Penelitian Santoso dkk. (2021) menunjukkan hal serupa."],
    &["Hubungi Faks. (021) 345 2842 untuk informasi."],
    // Abbreviations that close a phrase end a sentence before a capital.
    &["Ada buah, sayur, dll.", "Semua dijual murah."],
    &["Kota itu punya taman, museum, dsb. yang ramai."],
    &["Yusril Ihza Mahendra S.H. hadir di sidang."],
    &["Pengacaranya adalah Budi S.H., M.H. dari Jakarta."],
    &["Saham PT Bank Mandiri Tbk. naik tajam."],
    &["Sahamnya dimiliki PT Astra Tbk.", "Harga naik."],
    &["Penelitian itu ditulis Smith dkk.", "Hasilnya jelas."],
    &["Dia meraih gelar Ph.D.", "Kemudian dia pulang."],
    // AS and Menlu are written without periods; "AS." ends a sentence.
    &["Menlu AS Antony Blinken tiba di Jakarta.", "Dia bertemu Menlu Retno."],
    &["Pasukan AS mundur.", "Rusia maju."],
    &["Rusia menuntut jaminan dari AS.", "Washington menolak."],
    // Initials.
    &["Susilo B. Yudhoyono berpidato."],
    &["J. K. Rowling menulis buku baru."],
    &["Soekarno, M. Hatta, dan Sjahrir hadir."],
    &["Menlu Retno L.P. Marsudi tiba di Jenewa."],
    &["Menurut U.S. Navy, kapal itu berlayar."],
    &["Pejabat A.S. Kirby berbicara."],
    // Decimals and thousands.
    &["Inflasi naik 3,5 persen.", "Ekonomi tumbuh 5.01 persen."],
    &["Sebanyak 7.500 personel dikerahkan."],
    &["Harga cabai Rp15.600 per kilogram.", "Harga beras stabil."],
    &["Nilai ekspor mencapai US$1,2 miliar."],
    &["Utang naik menjadi Rp7.000,5 triliun."],
    &["Suhu mencapai 40.5 derajat.", "Warga mengungsi."],
    &["Sebanyak 1.234.567 pemilih terdaftar."],
    &["Harga emas US$1.800,50 per ons.", "Naik tipis."],
    &["Pertumbuhan kuartal III-2022 mencapai 5,72%.", "Ini tertinggi."],
    &["Nilai tukar Rp14.500/US$.", "Rupiah melemah."],
    // Times.
    &["Rapat dimulai pukul 21.15 WIB.", "Semua hadir."],
    &["Artikel terbit 21:24 WIB di situs itu."],
    &["Gempa terjadi pukul 08.30.", "Tidak ada korban."],
    &["Pertandingan digelar pukul 19.00 WIB."],
    // Dates.
    &["Pembicaraan terjadi Selasa (01/02).", "Hasilnya negatif."],
    &["Dia berbicara Rabu (7/12/2022).", "Lalu pergi."],
    &["Data per 01.02.2022 menunjukkan kenaikan."],
    &["Pada 17 Des. 2021, draf itu dirilis."],
    &["Kami bertemu 23/12/2021 di Moskow.", "Hasilnya baik."],
    // URLs and e-mail addresses.
    &["Informasi ada di www.kompas.com.", "Silakan cek."],
    &["Kunjungi https://m.medcom.id/berita/123.html untuk detail."],
    &["Kirim surat ke redaksi@tempo.co.id.", "Kami akan membalas."],
    &["Situs Detik.com melaporkan hal itu."],
    &["Hal itu dilaporkan Kompas.com.", "Dia menambahkan detail."],
    &["Lihat https://contoh.id/a?b=1.2&c=3 sekarang."],
    // Ellipses.
    &["Dia berkata... lalu terdiam."],
    &["Tunggu dulu...", "Kami akan datang."],
    &["Dia ragu… kemudian setuju."],
    &["Semua selesai…", "Besok kita mulai lagi."],
    &["“Saya tidak tahu...” katanya pelan."],
    &["“Kami... kami tidak tahu,” katanya."],
    // Quotations and their attributions.
    &["“Kami siap,” kata Lavrov."],
    &["“Kami siap,” kata Lavrov.", "“Benarkah?” tanya wartawan."],
    &["“Apakah Anda yakin?” tanya dia."],
    &["“Kami menolak!” seru para demonstran."],
    &["\"Kami siap berunding,\" ujar Menlu Rusia."],
    &["“Situasinya aman.”", "Polisi lalu pergi."],
    &["“Situasinya aman.", "Semua terkendali,” kata Kapolri."],
    &["Dia menyebutnya “keputusan bersejarah.”", "Banyak yang setuju."],
    &["Lavrov menambahkan: \"Selalu ada peluang.\""],
    &["“...dan itu penting,” katanya."],
    &["Putin menentang “ekspansi NATO,” tetapi mendukung dialog."],
    &["‘Kami siap,’ kata dia.", "Lalu dia pergi."],
    &["«Ini penting,» katanya."],
    &["Dia berkata, “Saya lelah.”", "Lalu dia tidur."],
    &["Ia bertanya, “Kapan?”", "Tidak ada jawaban."],
    &["Apa kata dia?", "“Tidak ada,” jawabnya."],
    &["Mereka menyanyikan lagu “Indonesia Raya”.", "Acara selesai."],
    &["Dr. Tedros dari WHO mengatakan, “Pandemi belum usai.”", "Dia mendesak vaksinasi."],
    &["“Jika dan ketika kami mendengar bahwa Barat tertarik, kami akan kembali ke topik,” tambah diplomat itu."],
    // Sentences that start with a digit, and numbered lists.
    &["Rusia mengerahkan pasukan.", "100 ribu tentara berada di perbatasan."],
    &["Kecelakaan terjadi tahun 1990.", "20 tahun kemudian, jalan diperbaiki."],
    &["2022 adalah tahun sulit.", "2023 lebih baik."],
    &["Korban bertambah.", "5 orang meninggal."],
    &["1. Akses pengaturan browser Anda."],
    &["Langkahnya: 1. Buka aplikasi.", "2. Klik tombol."],
    &["Dia lahir tahun 1990.", "Kini dia menjabat."],
    // Questions and exclamations.
    &["Apakah ini benar?", "Ya, benar!"],
    &["Mengapa?", "Karena perlu."],
    &["Hebat sekali!!", "Semua bertepuk tangan."],
    &["Benarkah?!", "Tidak mungkin."],
    // Brackets, dashes, datelines.
    &["Dia hadir (bersama istrinya).", "Acara dimulai."],
    &["Keputusan itu final.", "(ARN)"],
    &["Organisasi Keamanan dan Kerja Sama Eropa (OSCE) bertemu."],
    &["MOSKOW - Masalah itu dibahas lagi.", "Namun belum ada hasil."],
    &["JAKARTA, KOMPAS.com - Presiden tiba di istana."],
    &["Moskow: Menteri Lavrov berharap negosiasi dimulai."],
    &["Presiden Jokowi — yang hadir — memberi sambutan."],
    &["Ekspansi lebih lanjut NATO .", "Hal itu diungkapkan."],
    // Symbols and scores.
    &["Harga naik 5%.", "Itu tinggi."],
    &["Suhunya 30°C.", "Panas sekali."],
    &["Skor akhir 2-1.", "Timnas menang."],
    &["Dia mengutip Matius 5:9.", "Damai itu penting."],
    &["Lokasi: Gedung DPR, Senayan."],
    &["Ayat (1) huruf a.", "Pasal 5 ayat (2)."],
];

/// Inputs where the whitespace between sentences is not one space.
const SPACED: &[(&str, &[&str])] = &[
    (
        "Satu kalimat.  Dua kalimat.",
        &["Satu kalimat.", "Dua kalimat."],
    ),
    (
        "Baris pertama.\nBaris kedua.",
        &["Baris pertama.", "Baris kedua."],
    ),
    (
        "Paragraf satu tanpa titik\n\nParagraf dua",
        &["Paragraf satu tanpa titik", "Paragraf dua"],
    ),
    (
        "Kalimat ini\ndipotong baris.",
        &["Kalimat ini\ndipotong baris."],
    ),
    (
        "  Spasi di depan.\tTab di tengah.  ",
        &["Spasi di depan.", "Tab di tengah."],
    ),
    ("Tanpa tanda akhir", &["Tanpa tanda akhir"]),
    ("", &[]),
    (" \n ", &[]),
];

fn split(text: &str) -> Vec<&str> {
    sentences(text).into_iter().map(|r| &text[r]).collect()
}

#[test]
fn hard_cases_split_as_a_reader_would() {
    let mut failures = Vec::new();
    for want in CASES {
        let text = want.join(" ");
        let got = split(&text);
        if got != *want {
            failures.push(format!("{text:?}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    for (text, want) in SPACED {
        let got = split(text);
        if got != *want {
            failures.push(format!("{text:?}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(
        CASES.len() + SPACED.len() >= 100,
        "the table should hold at least 100 cases"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Checks what must hold for any text: ranges in order, on character boundaries, trimmed,
/// not empty, and only whitespace between and around them.
fn covers_text(text: &str) -> Result<(), TestCaseError> {
    let ranges = sentences(text);
    let mut at = 0;
    for r in &ranges {
        prop_assert!(r.start >= at && r.start < r.end && r.end <= text.len());
        prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        prop_assert!(text[at..r.start].chars().all(char::is_whitespace));
        let s = &text[r.clone()];
        prop_assert_eq!(s.trim(), s);
        at = r.end;
    }
    prop_assert!(text[at..].chars().all(char::is_whitespace));
    let visible: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let kept: String = ranges
        .iter()
        .flat_map(|r| text[r.clone()].chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    prop_assert_eq!(visible, kept);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn splitting_loses_nothing_on_any_text(text in any::<String>()) {
        covers_text(&text)?;
    }

    #[test]
    fn splitting_loses_nothing_on_news_like_text(
        text in proptest::string::string_regex(
            r#"([A-Za-z]{1,8}|[0-9]{1,4}|[.,:;!?…"“”'‘’()\-—/@%]|Rp|Dr\.|dll\.|A\.S\.| |\n| \n\n){0,60}"#
        ).expect("valid strategy")
    ) {
        covers_text(&text)?;
    }

    /// Sentences that end in an ordinary word (four letters or more, so no abbreviation
    /// such as "no." or "dll.") split back into exactly themselves.
    #[test]
    fn joined_sentences_split_back(parts in proptest::collection::vec("[A-Z][a-z]{2,9}( [a-z]{2,9}){0,5} [a-z]{4,9}[.!?]", 1..8)) {
        let text = parts.join(" ");
        prop_assert_eq!(split(&text), parts.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

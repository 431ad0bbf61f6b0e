//! The ingest stage on the five seed pages (golden files, read line by line before they were
//! committed) and on HTML, JSONL and legacy-encoded input.
use std::path::{Path, PathBuf};
use warta::text::source::{Document, Format, Given};
use warta::text::{ingest, Sources};

/// Relative, so the sources in the golden files read the same in every checkout (tests run
/// in the package root).
const ARTICLES: &str = "examples/articles";
const GOLDEN: &str = "tests/golden/ingest";

/// What a golden file holds for one page: the metadata, the sentences (a blank line between
/// paragraphs) and every dropped line with the rule that dropped it.
fn render(path: &Path) -> String {
    let mut docs = Sources::new(&[path.to_path_buf()], 10_000_000);
    let doc = docs.next().expect("one document").expect("readable");
    let ingested = ingest(&doc, &doc.id).expect("ingested");
    let a = &ingested.article;
    let show = |v: &Option<String>| {
        v.as_deref()
            .map_or("null".to_string(), |s| format!("{s:?}"))
    };
    let mut out = format!(
        "id: {}\nsource: {}\ntitle: {}\ndate: {}\noutlet: {}\nauthor: {}\ndateline: {}\nurl: {}\n\n# sentences\n",
        a.id,
        a.source,
        show(&a.title),
        show(&a.date),
        show(&a.outlet),
        show(&a.author),
        show(&a.dateline),
        show(&a.url)
    );
    for (i, p) in a.paragraphs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for s in &p.sentences {
            out.push_str(&format!("{} [{}..{}] {}\n", s.id, s.start, s.end, s.text));
        }
    }
    out.push_str("\n# dropped lines\n");
    for d in &ingested.dropped {
        out.push_str(&format!("{}: {}: {:?}\n", d.line, d.rule, d.text));
    }
    out
}

#[test]
fn seed_pages_match_their_golden_files() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(ARTICLES)
        .expect("examples/articles exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 5);
    let bless = std::env::var_os("WARTA_BLESS").is_some();
    for page in pages {
        let got = render(&page);
        let golden = Path::new(GOLDEN).join(format!(
            "{}.txt",
            page.file_stem().unwrap().to_string_lossy()
        ));
        if bless {
            std::fs::create_dir_all(GOLDEN).unwrap();
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (WARTA_BLESS=1 writes it)", golden.display()));
        assert!(
            got == want,
            "{} differs from {}:\n{got}",
            page.display(),
            golden.display()
        );
    }
}

#[test]
fn sentence_ranges_point_into_the_cleaned_text() {
    for doc in Sources::new(&[PathBuf::from(ARTICLES)], 10_000_000) {
        let doc = doc.unwrap();
        let a = ingest(&doc, &doc.id).unwrap().article;
        let mut n = 0;
        for s in a.sentences() {
            n += 1;
            assert_eq!(s.id, format!("{}:{n}", a.id));
            assert_eq!(&a.text[s.start..s.end], s.text);
        }
        assert!(n > 10, "{} has only {n} sentences", a.id);
    }
}

fn text_doc(id: &str, text: &str) -> Document {
    Document {
        id: id.to_string(),
        source: format!("{id}.txt"),
        format: Format::Text,
        bytes: text.as_bytes().to_vec(),
        given: Given::default(),
    }
}

#[test]
fn given_fields_win_over_detected_ones() {
    let mut doc = text_doc(
        "a",
        "Judul Terdeteksi Di Sini\nRabu, 07 Desember 2022 - 21:24 WIB\nJAKARTA, KOMPAS.com - Presiden tiba di istana pada pagi hari ini bersama rombongan.\n",
    );
    let detected = ingest(&doc, "a").unwrap().article;
    assert_eq!(detected.title.as_deref(), Some("Judul Terdeteksi Di Sini"));
    assert_eq!(detected.date.as_deref(), Some("2022-12-07T21:24:00+07:00"));
    assert_eq!(detected.outlet.as_deref(), Some("KOMPAS.com"));
    assert_eq!(detected.dateline.as_deref(), Some("JAKARTA"));
    doc.given = Given {
        title: Some("Judul Resmi".into()),
        date: Some("2022-12-08".into()),
        url: Some("https://contoh.id/1".into()),
        outlet: Some("Kompas".into()),
    };
    let given = ingest(&doc, "a").unwrap().article;
    assert_eq!(given.title.as_deref(), Some("Judul Resmi"));
    assert_eq!(given.date.as_deref(), Some("2022-12-08"));
    assert_eq!(given.outlet.as_deref(), Some("Kompas"));
    assert_eq!(given.url.as_deref(), Some("https://contoh.id/1"));
}

#[test]
fn a_sidebar_date_is_not_the_article_date() {
    let doc = text_doc(
        "b",
        "Judul Berita\n\nMenteri itu tiba di Moskow pada hari Selasa untuk pembicaraan penting.\n\nJul 7, 2022\n\nDia kembali ke Jakarta setelah pertemuan itu berakhir dengan baik.\n",
    );
    let got = ingest(&doc, "b").unwrap();
    assert_eq!(got.article.date, None);
    assert!(got
        .dropped
        .iter()
        .any(|d| d.rule == "sidebar-date" && d.text == "Jul 7, 2022"));
}

#[test]
fn html_pages_give_their_article_and_metadata() {
    let html = r#"<html><head><meta property="og:site_name" content="Kabar">
        <meta property="article:published_time" content="2022-02-14T10:00:00+07:00"></head>
        <body><nav>Beranda Politik</nav><article><h1>Rusia Minta Jaminan Keamanan</h1>
        <p>MOSKOW - Rusia meminta jaminan keamanan yang mengikat dari Barat, kata Lavrov.</p>
        <p>BACA JUGA: Berita lain</p>
        <p>“Kami menunggu jawaban,” kata dia kepada wartawan di Moskow pada hari Senin.</p>
        </article><footer>Hak cipta</footer></body></html>"#;
    let doc = Document {
        id: "h".into(),
        source: "h.html".into(),
        format: Format::Html,
        bytes: html.as_bytes().to_vec(),
        given: Given::default(),
    };
    let a = ingest(&doc, "h").unwrap().article;
    assert_eq!(a.title.as_deref(), Some("Rusia Minta Jaminan Keamanan"));
    assert_eq!(a.outlet.as_deref(), Some("Kabar"));
    assert_eq!(a.date.as_deref(), Some("2022-02-14T10:00:00+07:00"));
    assert_eq!(a.dateline.as_deref(), Some("MOSKOW"));
    let texts: Vec<&str> = a.sentences().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "MOSKOW - Rusia meminta jaminan keamanan yang mengikat dari Barat, kata Lavrov.",
            "“Kami menunggu jawaban,” kata dia kepada wartawan di Moskow pada hari Senin."
        ]
    );
}

#[test]
fn legacy_encodings_are_decoded_with_a_warning() {
    let mut doc = text_doc("c", "");
    doc.bytes =
        b"Caf\xe9 itu ramai sekali pada malam hari, kata pemiliknya kepada wartawan.".to_vec();
    let got = ingest(&doc, "c").unwrap();
    assert!(got.article.text.starts_with("Café"));
    assert!(
        got.warnings[0].contains("windows-1252"),
        "{:?}",
        got.warnings
    );
}

#[test]
fn pages_with_nothing_but_chrome_are_errors() {
    let doc = text_doc("d", "Loading\n\nKetik untuk mencari\n");
    let err = ingest(&doc, "d").unwrap_err();
    assert!(
        err.to_string().starts_with("d.txt: no article text"),
        "{err}"
    );
}

#[test]
fn jsonl_records_are_read_one_at_a_time_and_bad_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"id": "x", "text": "Kalimat pertama ini cukup panjang untuk menjadi sebuah berita."}"#,
            "\n\n",
            "not json\n",
            r#"{"id": 7, "text": "Berita kedua juga cukup panjang untuk dibaca oleh pembaca.", "title": "T"}"#,
            "\n",
            r#"{"id": "y"}"#,
            "\n",
            r#"{"text": "Tanpa id, berita ini tetap dibaca dan diberi nomor baris."}"#,
            "\n",
        ),
    )
    .unwrap();
    let items: Vec<_> = Sources::new(&[path], 1_000_000).collect();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0].as_ref().unwrap().id, "x");
    let bad = items[1].as_ref().unwrap_err().to_string();
    assert!(bad.contains("batch.jsonl:3"), "{bad}");
    assert_eq!(items[2].as_ref().unwrap().id, "7");
    assert_eq!(items[2].as_ref().unwrap().given.title.as_deref(), Some("T"));
    assert!(items[3]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("\"text\""));
    assert_eq!(items[4].as_ref().unwrap().id, "batch-6");
}

#[test]
fn oversized_records_are_refused_without_stopping_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let long = "a".repeat(5000);
    std::fs::write(
        &path,
        format!("{{\"id\": \"big\", \"text\": \"{long}\"}}\n{{\"id\": \"ok\", \"text\": \"Pendek.\"}}\n"),
    )
    .unwrap();
    let items: Vec<_> = Sources::new(&[path], 1000).collect();
    assert!(items[0]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("over the limit of 1000"));
    assert_eq!(items[1].as_ref().unwrap().id, "ok");
}

/// What one unseen-style page must give: its metadata, text that must be gone, and text
/// that must stay.
struct Expect {
    file: &'static str,
    title: &'static str,
    date: Option<&'static str>,
    outlet: Option<&'static str>,
    author: Option<&'static str>,
    dateline: Option<&'static str>,
    gone: &'static [&'static str],
    kept: &'static [&'static str],
}

/// Pages in the styles of other outlets (Kompas, Tempo, Detik, CNN Indonesia, Republika,
/// Liputan6), written to test ingest on chrome the seed pages do not have.
const PAGES: &[Expect] = &[
    Expect {
        file: "01_kompas.txt",
        title: "Harga Minyak Goreng Curah Naik Lagi, Pedagang di Pasar Kramat Jati Mengeluh",
        date: Some("2022-03-10T14:05:00+07:00"),
        outlet: Some("KOMPAS.com"),
        author: Some("Ahmad Naufal Dzulfaroh"),
        dateline: Some("JAKARTA"),
        gone: &["GARRY LOTULUNG", "ADVERTISEMENT", "WhatsApp", "telah tayang", "Banjir Rendam", "minyak goreng\n"],
        kept: &["\"Kami minta masyarakat tidak panik... stok aman sampai Lebaran,\" ujar"],
    },
    Expect {
        file: "03_tempo.txt",
        title: "KPK Periksa Dua Saksi Kasus Suap Pengadaan Satelit Kemhan",
        date: Some("2022-03-10T14:05:00+07:00"),
        outlet: Some("TEMPO.CO"),
        author: None,
        dateline: Some("Jakarta"),
        gone: &["Imam Sukamto", "Pilihan Editor", "Berita Terkait", "Terpopuler", "Selanjutnya"],
        kept: &["Laksamana Muda (Purn.) Agus Purwoto"],
    },
    Expect {
        file: "07_detik.html",
        title: "Gempa M 5,6 Guncang Cianjur, Warga Berhamburan Keluar Rumah",
        date: Some("2022-11-21T14:05:33+07:00"),
        outlet: Some("detiknews"),
        author: Some("Rahmat Fiansyah"),
        dateline: Some("Jakarta"),
        gone: &["Bagikan", "SCROLL", "Gambas", "Simak Video", "(rfs/imk)", "Halaman", "Tag ", "Pertalite"],
        kept: &["\"Saya lagi di lantai 3, tiba-tiba meja bergoyang."],
    },
    Expect {
        file: "08_cnn.html",
        title: "Jokowi Resmikan Tol Cibitung-Cilincing Seksi 4",
        date: Some("2022-08-05T10:30:00+07:00"),
        outlet: Some("CNN Indonesia"),
        author: None,
        dateline: Some("Jakarta"),
        gone: &["Lihat Juga", "ADVERTISEMENT", "(fby/sfr)", "Jasa Marga", "Laily Rachev"],
        kept: &["Jakarta, CNN Indonesia -- Presiden Joko Widodo (Jokowi) meresmikan"],
    },
    Expect {
        file: "09_republika.html",
        title: "Menag: Sidang Isbat Awal Ramadhan Digelar 1 April",
        date: Some("2022-03-10T14:05:00+07:00"),
        outlet: Some("REPUBLIKA.CO.ID"),
        author: Some("Fuji E Permana"),
        dateline: Some("JAKARTA"),
        gone: &["BACA JUGA", "Halaman", "Doa Berbuka", "Copyright"],
        kept: &["“Dengan demikian, kemungkinan awal Ramadhan jatuh bersamaan,” ujarnya."],
    },
    Expect {
        file: "19_bodytraps.txt",
        title: "DPR Kritik Kebijakan Impor Beras",
        date: Some("2022-03-08T10:15:00+07:00"),
        outlet: None,
        author: None,
        dateline: Some("JAKARTA"),
        gone: &["(ANT)", "Foto: Ketua Komisi"],
        kept: &[
            "“Tidak.”",
            "Komentar Menteri Perdagangan itu memicu",
            "Loading data gudang Bulog",
            "Baca juga buku putih Kementan",
            "Berikut kronologinya:\n\nSenin, 7 Maret 2022\n\nRapat kerja digelar tertutup.\n\nSelasa, 8 Maret 2022",
            "Tinggalkan komentar di media sosial tidak cukup",
        ],
    },
    Expect {
        file: "22_liputan6.txt",
        title: "Sri Mulyani Pastikan Subsidi Energi Tak Dipangkas",
        date: Some("2022-03-10T09:00:00+07:00"),
        outlet: Some("Liputan6.com"),
        author: None,
        dateline: Some("Jakarta"),
        gone: &["Tira Santia", "Dok Kemenkeu", "Pertalite", "Simak video", "Halaman"],
        kept: &["\"Subsidi tetap kami jaga."],
    },
    Expect {
        file: "23_sidebar_first.txt",
        title: "Polisi Amankan Pengedar Sabu di Depok",
        date: None,
        outlet: None,
        author: None,
        dateline: Some("DEPOK"),
        gone: &["Banjir Rendam", "Harga Cabai"],
        kept: &["DEPOK - Satresnarkoba Polres Metro Depok"],
    },
    Expect {
        file: "07_bbc.html",
        title: "Krisis iklim: Mengapa Jakarta tenggelam lebih cepat dari kota lain?",
        date: Some("2023-03-08T01:20:31Z"),
        outlet: Some("BBC News Indonesia"),
        author: Some("BBC News Indonesia"),
        dateline: None,
        gone: &["Rebecca Henschke", "Lewati", "Gempa Turki", "Keterangan gambar", "Berita terkait", "Perubahan iklim"],
        kept: &[
            "Di Muara Baru, Jakarta Utara, Rasdiono menunjuk",
            "In an interview with the BBC, a World Bank official said",
            "Rasdiono sendiri tidak berencana pindah.",
        ],
    },
    Expect {
        file: "02_suara.txt",
        title: "5 Fakta Banjir Semarang, Ribuan Warga Mengungsi dan Kereta Tertahan",
        date: Some("2023-02-14T06:30:00+07:00"),
        outlet: Some("Suara.com"),
        author: Some("Aldi Ramadhan"),
        dateline: None,
        gone: &["Home > News", "Jalur Pantura Semarang-Demak Lumpuh Total", "# banjir", "Cuaca Ekstrem"],
        kept: &["1. Ribuan warga mengungsi", "3. Perjalanan kereta terganggu", "5. Pemkot tetapkan tanggap darurat"],
    },
    Expect {
        file: "15_sidebar_one.txt",
        title: "Pemerintah Kaji Ulang Tarif KRL untuk Warga Mampu",
        date: None,
        outlet: None,
        author: None,
        dateline: None,
        gone: &["Harga Emas Antam"],
        kept: &["Kementerian Perhubungan sedang mengkaji skema tarif KRL"],
    },
    Expect {
        file: "04_kumparan.txt",
        title: "Wawancara Khusus Menteri ESDM: Subsidi BBM Harus Tepat Sasaran",
        date: None,
        outlet: None,
        author: None,
        dateline: None,
        gone: &["Gubernur Bali", "Jamal Ramadhan", "#energi", "Budi S:"],
        kept: &["Tanya: Anggaran subsidi energi tahun ini berapa, Pak?", "Jawab: Itu mengikuti harga minyak dunia."],
    },
];

#[test]
fn pages_in_other_outlets_styles_give_their_metadata_and_body() {
    let mut failures = Vec::new();
    for e in PAGES {
        let path = Path::new("tests/pages").join(e.file);
        let doc = Sources::new(&[path], 10_000_000).next().unwrap().unwrap();
        let a = ingest(&doc, &doc.id).unwrap().article;
        let got = (
            a.title.as_deref(),
            a.date.as_deref(),
            a.outlet.as_deref(),
            a.author.as_deref(),
            a.dateline.as_deref(),
        );
        let want = (Some(e.title), e.date, e.outlet, e.author, e.dateline);
        if got != want {
            failures.push(format!("{}: metadata {got:?}, want {want:?}", e.file));
        }
        let text = format!("{}\n", a.text);
        for g in e.gone {
            if text.contains(g) {
                failures.push(format!("{}: {g:?} should be gone", e.file));
            }
        }
        for k in e.kept {
            if !text.contains(k) {
                failures.push(format!("{}: {k:?} should be kept", e.file));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// On any page, ingest either fails cleanly or gives sentences that are exactly their
    /// ranges of the cleaned text, in order, with ids numbered from 1.
    #[test]
    fn ingested_sentences_are_their_ranges_in_order(
        text in proptest::string::string_regex(
            r#"([A-Za-z]{1,9}|[0-9]{1,4}|[.,:;!?…"“”()\-—/]|BACA JUGA:|Foto:|\(ARN\)|Rabu, 07 Desember 2022|Jul 7, 2022| |\n|\n\n){0,80}"#
        ).unwrap(),
        html in proptest::bool::ANY,
    ) {
        let doc = Document {
            id: "p".into(),
            source: "p".into(),
            format: if html { Format::Html } else { Format::Text },
            bytes: text.into_bytes(),
            given: Given::default(),
        };
        if let Ok(got) = ingest(&doc, "p") {
            let a = got.article;
            let mut at = 0;
            for (n, s) in a.sentences().enumerate() {
                proptest::prop_assert_eq!(&s.id, &format!("p:{}", n + 1));
                proptest::prop_assert!(s.start >= at && s.end > s.start);
                proptest::prop_assert_eq!(&a.text[s.start..s.end], s.text.as_str());
                at = s.end;
            }
        }
    }
}

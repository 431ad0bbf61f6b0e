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
    let mut blessed = Vec::new();
    for page in pages {
        let got = render(&page);
        let golden = Path::new(GOLDEN).join(format!(
            "{}.txt",
            page.file_stem().unwrap().to_string_lossy()
        ));
        if bless {
            std::fs::create_dir_all(GOLDEN).unwrap();
            std::fs::write(&golden, &got).unwrap();
            blessed.push(golden.display().to_string());
            continue;
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
    // Writing goldens is never a pass: they are to be read line by line, then the test run
    // again without WARTA_BLESS.
    assert!(
        !bless,
        "WARTA_BLESS rewrote {blessed:?}: review them, then run the tests without it"
    );
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

fn html_doc(id: &str, html: &str) -> Document {
    Document {
        id: id.to_string(),
        source: format!("{id}.html"),
        format: Format::Html,
        bytes: html.as_bytes().to_vec(),
        given: Given::default(),
    }
}

/// Paragraphs of prose for the test pages below.
const PROSE: [&str; 3] = [
    "Penyidik polisi melimpahkan tersangka anggota kelompok bersenjata itu ke kejaksaan pada hari Rabu.",
    "Polisi juga menyerahkan senjata api dan puluhan butir amunisi yang disita dari rumahnya.",
    "Kepala satuan reserse mengatakan bahwa berkas perkara itu akan segera dilimpahkan ke pengadilan.",
];

fn story() -> String {
    PROSE.iter().map(|p| format!("<p>{p}</p>")).collect()
}

/// A sidebar of other articles' headlines with their view counts and times, as portals
/// print them.
fn most_read() -> String {
    let items: String = (1..=8)
        .map(|i| {
            format!(
                "<li><a href=\"/read/{i}\">Judul berita lain nomor {i} yang banyak dibaca</a>\
                 <span>telah dilihat {i}8352 kali</span><span>Kamis, 05 November 2015 16:0{i} WIB</span></li>"
            )
        })
        .collect();
    format!("<div class=\"box\"><h3>Terpopuler</h3><ul>{items}</ul></div>")
}

#[test]
fn a_section_name_in_h1_is_never_the_headline() {
    let html = format!(
        r#"<html><head><meta property="og:title" content="Polisi Limpahkan Tersangka ke Kejaksaan - Kabar.com Regional">
        <meta property="og:site_name" content="KABAR.com">
        <title>Polisi Limpahkan Tersangka ke Kejaksaan - Kabar.com Regional</title>
        <link rel="canonical" href="http://regional.kabar.com/read/2015/11/04/21040031/polisi"></head>
        <body><h1>Regional</h1><ul class="breadcrumb"><li><a href="/">News</a></li><li><a href="/r">Regional</a></li></ul>
        <h2>Polisi Limpahkan Tersangka ke Kejaksaan</h2><div class="date">Rabu, 4 November 2015 | 21:04 WIB</div>
        <div class="read">{}</div>{}</body></html>"#,
        story(),
        most_read()
    );
    let a = ingest(&html_doc("k", &html), "k").unwrap().article;
    assert_eq!(
        a.title.as_deref(),
        Some("Polisi Limpahkan Tersangka ke Kejaksaan")
    );
    assert_eq!(a.date.as_deref(), Some("2015-11-04T21:04:00+07:00"));
    assert_eq!(a.text, PROSE.join("\n\n"));
}

#[test]
fn a_date_only_in_meta_is_read_and_a_zoneless_time_on_an_indonesian_page_is_wib() {
    let page = |meta: &str| {
        format!(
            r#"<html><head><meta name="{meta}" content="2016-02-16 14:38:00"></head>
            <body><h1>Polisi Limpahkan Tersangka</h1><article>{}</article></body></html>"#,
            story()
        )
    };
    for meta in [
        "content_PublishedDate",
        "pubdate",
        "dc.date.issued",
        "publishdate",
    ] {
        let got = ingest(&html_doc("m", &page(meta)), "m").unwrap();
        assert_eq!(
            got.article.date.as_deref(),
            Some("2016-02-16T14:38:00+07:00"),
            "{meta}"
        );
        assert!(
            got.notes
                .iter()
                .any(|n| n.contains("WIB, as the page is in Indonesian")),
            "{:?}",
            got.notes
        );
    }
}

#[test]
fn the_day_in_the_address_when_nothing_else_gives_one() {
    let html = format!(
        r#"<html><head><link rel="canonical" href="https://kabar.id/berita/2017/02/17/judul-berita"></head>
        <body><h1>Judul Berita</h1><article>{}</article></body></html>"#,
        story()
    );
    let a = ingest(&html_doc("u", &html), "u").unwrap().article;
    assert_eq!(a.date.as_deref(), Some("2017-02-17"));
    // A date line the text opens with is more precise than the address and comes first.
    let html = format!(
        r#"<html><head><link rel="canonical" href="https://kabar.id/berita/2017/02/17/judul-berita"></head>
        <body><h1>Judul Berita</h1><article><p>Kabar.id - 16/02/2017, 23:05 WIB Jakarta - {}</p>{}</article></body></html>"#,
        PROSE[0],
        story()
    );
    let got = ingest(&html_doc("u", &html), "u").unwrap();
    assert_eq!(
        got.article.date.as_deref(),
        Some("2017-02-16T23:05:00+07:00"),
        "{:?}",
        got.notes
    );
}

#[test]
fn stated_times_are_checked_against_the_date_line_under_the_headline() {
    // A wall clock marked UTC (the page's other stated time is the shown 15:32 WIB).
    let html = format!(
        r#"<html><head><meta name="pubdate" content="2016-02-23 T16:00:20Z">
        <meta itemprop="dateCreated" content="2016-02-23 T15:32:01Z"></head>
        <body><h1>Gardu Induk Baru Beroperasi</h1><div>Selasa, 23/02/2016 15:32 WIB</div>
        <div class="text">{}</div></body></html>"#,
        story()
    );
    let a = ingest(&html_doc("d", &html), "d").unwrap().article;
    assert_eq!(a.date.as_deref(), Some("2016-02-23T16:00:20+07:00"));
    // An instant given in UTC that the page shows in WIB stays that instant.
    let html = format!(
        r#"<html><head><script type="application/ld+json">{{"@type":"NewsArticle",
        "headline":"Tri Dorong Ekosistem Digital","datePublished":"2016-02-16T02:10:56Z"}}</script></head>
        <body><h1>Tri Dorong Ekosistem Digital</h1><p>on 16 Feb 2016 at 09:10 WIB</p>
        <article>{}</article></body></html>"#,
        story()
    );
    let a = ingest(&html_doc("l", &html), "l").unwrap().article;
    assert_eq!(a.date.as_deref(), Some("2016-02-16T02:10:56Z"));
    // An update line under the headline and a sidebar of timestamps are passed over.
    let html = format!(
        r#"<html><body>{}<h1>Sering Depresi, Hati-Hati Diabetes!</h1>
        <div>Diperbarui Kamis, 5 November 2015 - 18:00 wib</div>
        <div class="meta"><time>Kamis, 5 November 2015 - 15:56 wib</time></div>
        <div class="isi">{}</div></body></html>"#,
        most_read(),
        story()
    );
    let a = ingest(&html_doc("o", &html), "o").unwrap().article;
    assert_eq!(a.date.as_deref(), Some("2015-11-05T15:56:00+07:00"));
}

#[test]
fn a_footer_only_page_is_an_error_that_names_its_best_candidate() {
    let html = r#"<html><head><title>Kabar</title></head><body>
        <div class="footer-links"><a href="/a">About Us</a> - <a href="/b">Advertise</a>
        <a href="/c">Policy</a> <a href="/d">Career</a> <a href="/e">Contact Us</a>
        <a href="/f">Site Map</a></div></body></html>"#;
    let err = ingest(&html_doc("f", html), "f").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("f.html: no article body found"), "{msg}");
    assert!(msg.contains("<div class=\"footer-links\">"), "{msg}");
    assert!(msg.contains("10 words, 90% of them in links"), "{msg}");
}

#[test]
fn a_photo_page_with_a_one_line_caption_is_an_article_with_a_short_body() {
    let caption = "Petugas memeriksa gardu induk yang baru diresmikan di Jakarta, Selasa (23/2).";
    let html = format!(
        r#"<html><head><meta property="og:title" content="Gardu Induk Baru Diresmikan"></head>
        <body><h1>Gardu Induk Baru Diresmikan</h1><div class="gallery"><figure>
        <img src="a.jpg"><figcaption>{caption}</figcaption></figure></div>
        <div class="share"><a href="/fb">Facebook</a> <a href="/tw">Twitter</a></div></body></html>"#
    );
    let a = ingest(&html_doc("p", &html), "p").unwrap().article;
    assert_eq!(a.text, caption);
}

#[test]
fn most_read_lists_tags_share_bars_and_related_links_stay_out_of_the_body() {
    let html = format!(
        r#"<html><body><article class="main"><h1>Polisi Limpahkan Tersangka</h1>
        <div class="body">{}<p>Baca juga: <a href="/x">Polisi Sita Senjata Api Ilegal di Aceh</a></p>
        <div class="tags"><a href="/t/1">polisi</a> <a href="/t/2">aceh</a></div>
        <div class="social-share"><a href="/fb">Facebook</a> <a href="/tw">Twitter</a> <a href="/c">Copy Link</a></div>
        </div>{}<div class="newsletter"><p>Jangan sampai ketinggalan berita terkini, langganan newsletter kami sekarang!</p></div>
        </article></body></html>"#,
        story(),
        most_read()
    );
    let got = ingest(&html_doc("c", &html), "c").unwrap();
    assert_eq!(got.article.text, PROSE.join("\n\n"));
    assert!(
        got.notes
            .iter()
            .any(|n| n.starts_with("left out of the body")),
        "{:?}",
        got.notes
    );
}

#[test]
fn a_one_line_record_keeps_every_sentence_with_chrome_at_either_end() {
    let body = PROSE.join(" ");
    for text in [
        format!("Your email address will not be published. {body}"),
        format!("{body} ©2015 The Hollywood Reporter. All rights reserved."),
        format!("{body} Hal itu disampaikan kepada Sergei Lavrov./AFP"),
        format!("Rabu, 4 November 2015 - 21:04 WIB {body} Baca juga: Polisi Sita Senjata Api"),
    ] {
        let got = ingest(&text_doc("j", &text), "j").unwrap();
        for p in PROSE {
            assert!(got.article.text.contains(p), "{text}\n{:?}", got.dropped);
        }
        assert!(!got.dropped.is_empty(), "{text}");
    }
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

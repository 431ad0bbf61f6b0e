//! Any bytes, read as a text page and as an HTML page, must ingest or fail cleanly: no
//! panic, and every sentence's range must point at its text in the cleaned body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warta::text::source::{Document, Format, Given};
use warta::text::{ingest, segment};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Text, Format::Html] {
        let doc = Document {
            id: "f".into(),
            source: "fuzz".into(),
            format,
            bytes: data.to_vec(),
            given: Given::default(),
        };
        if let Ok(got) = ingest(&doc, "f") {
            let a = got.article;
            for s in a.sentences() {
                assert_eq!(&a.text[s.start..s.end], s.text);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let mut at = 0;
        for r in segment::sentences(text) {
            assert!(r.start >= at && r.end <= text.len());
            assert!(text[at..r.start].chars().all(char::is_whitespace));
            at = r.end;
        }
        warta::text::dates::find_all(text);
    }
});

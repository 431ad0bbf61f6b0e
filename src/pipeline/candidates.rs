//! The overview candidates' embeddings of all the articles of a briefing, kept in a scratch
//! file rather than in memory: appended as the records are read, put in briefing order
//! once the articles are sorted, and read back a block of rows at a time by the overview.
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::record::ArticleRecord;
use crate::summarize::overview::Rows;

const F32: usize = std::mem::size_of::<f32>();

/// Checks that every candidate embedding of `record` has the length of those before
/// (`dim`, set by the first).
pub fn check_length(dim: &mut Option<usize>, record: &ArticleRecord) -> Result<(), String> {
    for c in &record.candidates {
        let expected = *dim.get_or_insert(c.embedding.len());
        if c.embedding.len() != expected {
            return Err(format!(
                "the embedding of {} has {} numbers where the others have {expected}",
                c.sentence,
                c.embedding.len()
            ));
        }
    }
    Ok(())
}

/// Embeddings being appended to a scratch file.
pub struct CandidateWriter {
    out: BufWriter<File>,
    dim: usize,
    rows: usize,
}

impl CandidateWriter {
    /// A scratch file in `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::new(tempfile::tempfile_in(dir)?),
            dim: 0,
            rows: 0,
        })
    }

    /// Appends `record`'s candidates (of one length, see [`check_length`]); returns the
    /// row of its first.
    pub fn push(&mut self, record: &ArticleRecord) -> io::Result<usize> {
        let first = self.rows;
        for c in &record.candidates {
            self.dim = c.embedding.len();
            self.append(&c.embedding, 1)?;
        }
        Ok(first)
    }

    /// Appends `count` rows held in `rows`.
    fn append(&mut self, rows: &[f32], count: usize) -> io::Result<()> {
        for x in rows {
            self.out.write_all(&x.to_le_bytes())?;
        }
        self.rows += count;
        Ok(())
    }

    pub fn finish(self) -> io::Result<CandidateFile> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(CandidateFile {
            file,
            dim: self.dim,
            rows: self.rows,
            bytes: RefCell::new(Vec::new()),
        })
    }
}

/// Embeddings in a scratch file, `dim` little-endian float32s a row.
pub struct CandidateFile {
    file: File,
    dim: usize,
    rows: usize,
    /// Reused for reading.
    bytes: RefCell<Vec<u8>>,
}

impl CandidateFile {
    /// The rows again, in a new scratch file in `dir`, in the order of `spans` (first row,
    /// number of rows).
    pub fn reordered(
        &self,
        dir: &Path,
        spans: impl Iterator<Item = (usize, usize)>,
    ) -> io::Result<CandidateFile> {
        let mut out = CandidateWriter::new(dir)?;
        out.dim = self.dim;
        let mut rows = Vec::new();
        for (first, count) in spans {
            rows.resize(count * self.dim, 0.0);
            self.read(first, &mut rows)?;
            out.append(&rows, count)?;
        }
        out.finish()
    }
}

impl Rows for CandidateFile {
    fn dim(&self) -> usize {
        self.dim
    }

    fn count(&self) -> usize {
        self.rows
    }

    fn read(&self, start: usize, out: &mut [f32]) -> io::Result<()> {
        let mut bytes = self.bytes.borrow_mut();
        bytes.resize(out.len() * F32, 0);
        let mut file = &self.file;
        file.seek(SeekFrom::Start((start * self.dim * F32) as u64))?;
        file.read_exact(&mut bytes)?;
        for (x, b) in out.iter_mut().zip(bytes.chunks_exact(F32)) {
            *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::Candidate;

    fn record(embeddings: &[&[f32]]) -> ArticleRecord {
        let mut r: ArticleRecord = serde_json::from_str(
            r#"{"id":"a","source":"a","title":null,"title_en":null,"date":null,"outlet":null,
                "sentences":[],"summary":[],"citation_quality":{"precision":1,"recall":1},
                "candidates":[]}"#,
        )
        .unwrap();
        r.candidates = embeddings
            .iter()
            .enumerate()
            .map(|(i, e)| Candidate {
                sentence: crate::text::SentenceId::new("a", i + 1),
                embedding: e.to_vec(),
            })
            .collect();
        r
    }

    #[test]
    fn rows_come_back_exactly_and_in_the_new_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = CandidateWriter::new(dir.path()).unwrap();
        let a = record(&[&[1.0, 2.0], &[3.0, f32::MIN_POSITIVE]]);
        let b = record(&[&[-0.5, 1e30]]);
        assert_eq!(w.push(&a).unwrap(), 0);
        assert_eq!(w.push(&b).unwrap(), 2);
        let file = w.finish().unwrap();
        assert_eq!((file.dim(), file.count()), (2, 3));
        let mut out = vec![0.0; 4];
        file.read(1, &mut out).unwrap();
        assert_eq!(out, [3.0, f32::MIN_POSITIVE, -0.5, 1e30]);
        let b_first = file
            .reordered(dir.path(), [(2, 1), (0, 2)].into_iter())
            .unwrap();
        let mut all = vec![0.0; 6];
        b_first.read(0, &mut all).unwrap();
        assert_eq!(all, [-0.5, 1e30, 1.0, 2.0, 3.0, f32::MIN_POSITIVE]);
        assert!(file.read(2, &mut out).is_err(), "past the end");
        // Scratch files are unlinked: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_embedding_of_another_length_is_refused() {
        let mut dim = None;
        check_length(&mut dim, &record(&[&[1.0, 2.0]])).unwrap();
        let err = check_length(&mut dim, &record(&[&[1.0, 2.0], &[1.0]])).unwrap_err();
        assert!(
            err.contains("a:2 has 1 numbers where the others have 2"),
            "{err}"
        );
    }
}

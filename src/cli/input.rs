//! Reading input lines from files or stdin, for the line-oriented subcommands.
//!
//! Lines are read as bytes so that one line of invalid UTF-8 is reported by file and line
//! number and the others still go through; a file that cannot be opened is reported and the
//! other files are still read.
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

/// One input line: where it came from and its text, or why it has none.
#[derive(Debug)]
pub struct Line {
    pub source: String,
    /// 1-based line number within `source`.
    pub number: usize,
    pub text: Result<String, String>,
}

/// Reads the lines of `files` in order (stdin when empty or `-`), calling `on_open_error`
/// for a file that cannot be opened and going on with the next.
pub struct Lines {
    pending: std::vec::IntoIter<PathBuf>,
    current: Option<(String, Box<dyn BufRead>, usize)>,
    buf: Vec<u8>,
    /// Files that could not be opened or read, with the reason.
    pub failed: Vec<(String, io::Error)>,
}

impl Lines {
    pub fn new(files: &[PathBuf]) -> Self {
        let files = if files.is_empty() {
            vec![PathBuf::from("-")]
        } else {
            files.to_vec()
        };
        Self {
            pending: files.into_iter(),
            current: None,
            buf: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn open_next(&mut self) -> bool {
        for path in self.pending.by_ref() {
            if path.as_os_str() == "-" {
                self.current = Some(("<stdin>".into(), Box::new(BufReader::new(io::stdin())), 0));
                return true;
            }
            let name = path.display().to_string();
            match File::open(&path) {
                Ok(f) => {
                    self.current = Some((name, Box::new(BufReader::new(f)), 0));
                    return true;
                }
                Err(e) => {
                    tracing::error!("{name}: cannot open: {e}");
                    self.failed.push((name, e));
                }
            }
        }
        false
    }
}

impl Iterator for Lines {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        loop {
            if self.current.is_none() && !self.open_next() {
                return None;
            }
            let (name, reader, number) = self.current.as_mut()?;
            self.buf.clear();
            match reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.current = None;
                }
                Ok(_) => {
                    *number += 1;
                    let mut bytes = self.buf.as_slice();
                    if let Some(b) = bytes.strip_suffix(b"\n") {
                        bytes = b;
                    }
                    if let Some(b) = bytes.strip_suffix(b"\r") {
                        bytes = b;
                    }
                    let text = match std::str::from_utf8(bytes) {
                        Ok(s) => Ok(s.to_string()),
                        Err(e) => Err(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
                    };
                    return Some(Line {
                        source: name.clone(),
                        number: *number,
                        text,
                    });
                }
                Err(e) => {
                    let name = name.clone();
                    tracing::error!("{name}: read failed: {e}");
                    self.failed.push((name, e));
                    self.current = None;
                }
            }
        }
    }
}

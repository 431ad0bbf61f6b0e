//! `briefing.json` written article by article: byte for byte what serde's pretty printer
//! makes of the whole [`Briefing`], without the articles ever being in memory together.
use std::io::{self, Write};

use super::{ArticleBrief, Briefing};

/// Writes `briefing.json` to `out` as the articles come.
pub struct JsonWriter<W: Write> {
    out: W,
    /// What follows the articles.
    tail: String,
    any: bool,
}

impl<W: Write> JsonWriter<W> {
    /// Writes everything before the first article of `shell` (whose own articles are not
    /// written).
    pub fn new(mut out: W, shell: &Briefing) -> io::Result<Self> {
        let empty = Briefing {
            articles: Vec::new(),
            ..shell.clone()
        };
        let json = serde_json::to_string_pretty(&empty).expect("a briefing always serialises");
        let marker = "\"articles\": []";
        let at = json.find(marker).expect("the articles field is written");
        out.write_all(&json.as_bytes()[..at])?;
        out.write_all(b"\"articles\": [")?;
        Ok(Self {
            out,
            tail: json[at + marker.len()..].to_string(),
            any: false,
        })
    }

    /// Writes the next article.
    pub fn article(&mut self, a: &ArticleBrief) -> io::Result<()> {
        let a = serde_json::to_string_pretty(a).expect("an article always serialises");
        self.out.write_all(if self.any { b",\n" } else { b"\n" })?;
        for (i, line) in a.lines().enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(b"    ")?;
            self.out.write_all(line.as_bytes())?;
        }
        self.any = true;
        Ok(())
    }

    /// Closes the list and the object; returns the finished output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(if self.any { b"\n  ]" } else { b"]" })?;
        self.out.write_all(self.tail.as_bytes())?;
        self.out.write_all(b"\n")?;
        Ok(self.out)
    }
}

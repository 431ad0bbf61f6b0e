//! `briefing.json` written article by article: byte for byte what serde's pretty printer
//! makes of the whole [`Briefing`], without the articles ever being in memory together.
use std::io::{self, Write};

use serde::Serialize;

use super::{ArticleBrief, Briefing};
use crate::summarize::cite::Statement;

/// Writes `briefing.json` to `out` as the articles come; the overview, which follows
/// them, a statement at a time at the end.
pub struct JsonWriter<'a, W: Write> {
    out: W,
    overview: &'a [Statement],
    /// What comes between the articles and the overview, and after the overview.
    between: String,
    end: String,
    any: bool,
}

impl<'a, W: Write> JsonWriter<'a, W> {
    /// Writes everything before the first article of `shell` (whose own articles are not
    /// written).
    pub fn new(mut out: W, shell: &'a Briefing) -> io::Result<Self> {
        let empty = Briefing {
            generated_at: shell.generated_at.clone(),
            models: shell.models.clone(),
            settings: shell.settings.clone(),
            articles: Vec::new(),
            overview: Vec::new(),
        };
        let json = serde_json::to_string_pretty(&empty).expect("a briefing always serialises");
        let (articles, overview) = ("\"articles\": []", "\"overview\": []");
        let at = json.find(articles).expect("the articles field is written");
        let (head, rest) = (&json[..at], &json[at + articles.len()..]);
        let at = rest
            .find(overview)
            .expect("the overview follows the articles");
        out.write_all(head.as_bytes())?;
        out.write_all(b"\"articles\": [")?;
        Ok(Self {
            out,
            overview: &shell.overview,
            between: format!("{}\"overview\": [", &rest[..at]),
            end: rest[at + overview.len()..].to_string(),
            any: false,
        })
    }

    /// Writes the next article.
    pub fn article(&mut self, a: &ArticleBrief) -> io::Result<()> {
        item(&mut self.out, a, self.any)?;
        self.any = true;
        Ok(())
    }

    /// Closes the articles, writes the overview and closes the object; returns the
    /// finished output.
    pub fn finish(mut self) -> io::Result<W> {
        close(&mut self.out, self.any)?;
        self.out.write_all(self.between.as_bytes())?;
        for (i, s) in self.overview.iter().enumerate() {
            item(&mut self.out, s, i > 0)?;
        }
        close(&mut self.out, !self.overview.is_empty())?;
        self.out.write_all(self.end.as_bytes())?;
        self.out.write_all(b"\n")?;
        Ok(self.out)
    }
}

/// Writes one item of a list that is a field of the top-level object, as serde's pretty
/// printer does.
fn item(out: &mut impl Write, value: &impl Serialize, after_another: bool) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("briefing items always serialise");
    out.write_all(if after_another { b",\n" } else { b"\n" })?;
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        out.write_all(b"    ")?;
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Closes such a list.
fn close(out: &mut impl Write, any: bool) -> io::Result<()> {
    out.write_all(if any { b"\n  ]" } else { b"]" })
}

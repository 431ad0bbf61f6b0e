//! Rendering: a [`Briefing`] into `briefing.json`, `briefing.md` and `briefing.html` in an
//! output directory.
pub mod briefing;
pub mod html;
pub mod markdown;

pub use briefing::{
    ArticleBrief, Briefing, ModelRef, Models, SentenceOut, Settings, SummarizerRef,
};

use std::path::Path;

use crate::output::{write_atomic, WriteError};

/// Writes `briefing.json`, `briefing.md` and `briefing.html` into `dir`, each atomically.
pub fn write(dir: &Path, b: &Briefing) -> Result<(), WriteError> {
    let mut json = serde_json::to_string_pretty(b).expect("a briefing always serialises");
    json.push('\n');
    write_atomic(&dir.join("briefing.json"), json.as_bytes())?;
    write_atomic(&dir.join("briefing.md"), markdown::render(b).as_bytes())?;
    write_atomic(&dir.join("briefing.html"), html::render(b).as_bytes())
}

//! The subcommands, one file each. Each turns its parsed flags into validated settings once,
//! runs the library, and reports an [`Outcome`]; `main` maps outcomes and errors to exit codes.
pub mod brief;
pub mod common;
pub mod ingest;
pub mod input;
pub mod merge;
pub mod models;
pub mod setup;
pub mod shortlist;
pub mod tokenize;
pub mod translate;

/// Whether `-q` was given: only errors on stderr, no progress bars. Set once by `main`
/// before any subcommand runs.
static QUIET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn set_quiet(quiet: bool) {
    let _ = QUIET.set(quiet);
}

/// Whether progress may be drawn: not with `-q`.
pub fn progress_shown() -> bool {
    !QUIET.get().copied().unwrap_or(false)
}

/// How a subcommand ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was done: exit status 0.
    Done,
    /// Some inputs failed and were reported on stderr; the rest is done: exit status 3.
    SomeFailed,
}

impl Outcome {
    pub fn from_failures(failures: usize) -> Self {
        if failures == 0 {
            Outcome::Done
        } else {
            Outcome::SomeFailed
        }
    }
}

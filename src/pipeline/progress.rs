//! Where a batch run is: on a terminal, indicatif bars on stderr (articles with ETA, and a
//! line of sentences, tokens/s and cache hits); otherwise a log line every few seconds, so
//! a job's log shows it moving. At the end, one summary line of the same figures.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The log target of progress lines and the summary, which the binary shows at its default
/// verbosity (other info lines need `-v`), so a batch job's log shows where the run is.
pub const TARGET: &str = "progress";

/// What a run has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Articles briefed in this run.
    pub articles: u64,
    /// Articles found finished by an earlier run and skipped.
    pub skipped: u64,
    /// Inputs that failed (each in errors.jsonl).
    pub failed: u64,
    /// Sentences and titles of the articles briefed.
    pub segments: u64,
    /// Segments the model translated (the rest came from the cache or repeated others).
    pub translated: u64,
    /// Tokens the model generated.
    pub tokens: u64,
    /// Sentences whose translation is flagged (cut, degenerate or scored low).
    pub flagged: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

impl Counts {
    fn done(&self) -> u64 {
        self.articles + self.skipped + self.failed
    }

    fn line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let lookups = self.cache_hits + self.cache_misses;
        let cache = if lookups == 0 {
            "no cache lookups".to_string()
        } else {
            format!(
                "cache {} hits of {lookups} ({:.0}%)",
                self.cache_hits,
                100.0 * self.cache_hits as f64 / lookups as f64
            )
        };
        format!(
            "{} sentences, {} translated, {} flagged, {:.0} tokens/s, {cache}",
            self.segments,
            self.translated,
            self.flagged,
            self.tokens as f64 / secs
        )
    }
}

/// Reports a run's progress on stderr.
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    started: Instant,
    last_log: Instant,
    interval: Duration,
    total: Option<u64>,
}

impl Progress {
    /// Bars when stderr is a terminal and `bars` allows them, else log lines every
    /// `interval` (shown at the log level the caller set); `total` is how many articles the
    /// run is expected to see, when known.
    pub fn new(total: Option<u64>, interval: Duration, bars: bool) -> Self {
        let bars = (bars && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let articles = multi.add(ProgressBar::new(total.unwrap_or(0)));
            articles.set_style(
                ProgressStyle::with_template(
                    "{prefix:>9} [{bar:30}] {pos}/{len} articles · {elapsed_precise} · ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            articles.set_prefix("briefing");
            let status = multi.add(ProgressBar::new_spinner());
            status.set_style(
                ProgressStyle::with_template("{prefix:>9} {msg}").expect("a valid template"),
            );
            status.set_prefix("");
            (multi, articles, status)
        });
        Self {
            bars,
            started: Instant::now(),
            last_log: Instant::now(),
            interval,
            total,
        }
    }

    /// The exact number of articles, once the inputs have all been read.
    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
        if let Some((_, bar, _)) = &self.bars {
            bar.set_length(total);
        }
    }

    /// Shows `counts`: on the bars at once, in the log at most once per interval.
    pub fn update(&mut self, counts: &Counts) {
        let elapsed = self.started.elapsed();
        match &self.bars {
            Some((_, bar, status)) => {
                bar.set_position(counts.done());
                status.set_message(format!(
                    "{} failed · {} skipped as done · {}",
                    counts.failed,
                    counts.skipped,
                    counts.line(elapsed)
                ));
            }
            None if self.last_log.elapsed() >= self.interval => {
                self.last_log = Instant::now();
                let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
                let eta = self
                    .eta(counts, elapsed)
                    .map(|s| format!(", ETA {}", human(s)))
                    .unwrap_or_default();
                tracing::info!(
                    target: TARGET,
                    "{}{of} articles ({} failed, {} skipped as done), {}{eta}",
                    counts.done(),
                    counts.failed,
                    counts.skipped,
                    counts.line(elapsed)
                );
            }
            None => {}
        }
    }

    /// Seconds left at the rate of the articles briefed in this run.
    fn eta(&self, counts: &Counts, elapsed: Duration) -> Option<Duration> {
        let left = self.total?.checked_sub(counts.done())?;
        let rate = counts.articles as f64 / elapsed.as_secs_f64();
        (rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / rate))
    }

    /// Clears the bars and logs the summary line.
    pub fn finish(self, counts: &Counts) {
        if let Some((multi, bar, status)) = self.bars {
            bar.finish_and_clear();
            status.finish_and_clear();
            let _ = multi.clear();
        }
        let elapsed = self.started.elapsed();
        let summary = format!(
            "done in {}: {} articles briefed, {} skipped as done, {} failed; {}",
            human(elapsed),
            counts.articles,
            counts.skipped,
            counts.failed,
            counts.line(elapsed)
        );
        tracing::info!(target: TARGET, "{summary}");
    }
}

/// A duration as "1h 02m", "3m 04s" or "5.2s".
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_gives_every_figure() {
        let c = Counts {
            articles: 7,
            skipped: 2,
            failed: 1,
            segments: 120,
            translated: 30,
            tokens: 600,
            flagged: 4,
            cache_hits: 90,
            cache_misses: 30,
        };
        let line = c.line(Duration::from_secs(2));
        assert_eq!(
            line,
            "120 sentences, 30 translated, 4 flagged, 300 tokens/s, cache 90 hits of 120 (75%)"
        );
        assert_eq!(human(Duration::from_secs(3725)), "1h 02m");
        assert_eq!(human(Duration::from_secs(184)), "3m 04s");
    }
}

//! Flag groups shared by the subcommands that run models, and their one-time validation.
//!
//! `translate`, `brief` and `summarize` flatten these groups; clap parses them and the
//! settings stage (`setup.rs`: [`super::setup::Setup`] and [`super::setup::Runtime`]) turns
//! them into settings once, so nothing further down reads flags.
use std::path::PathBuf;

use clap::Args;

use warta::device::{self, DTypeChoice, DeviceChoice};
use warta::generate::GenerationConfig;

/// Which model to use and where the models file is.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Model directory or hub repo id (default: `[translation] model` of the models file).
    #[arg(long, value_name = "DIR|REPO")]
    pub model: Option<String>,
    /// Revision (branch, tag or commit) of a hub repo id.
    #[arg(long, value_name = "R")]
    pub revision: Option<String>,
    /// Models file (default: ./models.toml when present, else the built-in one).
    #[arg(long, value_name = "PATH")]
    pub models: Option<PathBuf>,
}

/// Decoding flags; each one not given keeps the checkpoint's generation_config.json value.
#[derive(Debug, Args, Clone, Default)]
pub struct DecodingArgs {
    /// Beam size (1 = greedy).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub beams: Option<u32>,
    /// Most tokens to generate per sentence (each sentence of a line is translated alone).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_new_tokens: Option<u32>,
    /// Fewest tokens to generate before the end-of-sequence token is allowed.
    #[arg(long, value_name = "N")]
    pub min_new_tokens: Option<u32>,
    /// Beam score = sum of log-probabilities / length^F.
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub length_penalty: Option<f64>,
    /// Never repeat an n-gram of this size (0 = off).
    #[arg(long, value_name = "N")]
    pub no_repeat_ngram_size: Option<u32>,
    /// Flag a translation `low_score` when the model's mean log-probability per token is
    /// below this.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = warta::translate::quality::DEFAULT_MIN_SCORE)]
    pub min_score: f32,
    /// Only flag a translation cut at the length limit or degenerate; do not translate it
    /// again (split finer, or with beams). Each sentence's output is then exactly what the
    /// decoding settings give, as HF `generate` would.
    #[arg(long)]
    pub no_retry: bool,
    /// Restrict each sentence's output to the target tokens this table lists for its source
    /// tokens (CTranslate2's vocabulary-map format; make one with `warta shortlist`).
    /// Faster, and it changes output: off unless given.
    #[arg(long, value_name = "FILE")]
    pub shortlist: Option<std::path::PathBuf>,
}

impl DecodingArgs {
    pub fn apply(&self, gen: &mut GenerationConfig) {
        if let Some(b) = self.beams {
            gen.num_beams = Some(b as usize);
        }
        if let Some(n) = self.max_new_tokens {
            gen.max_new_tokens = Some(n as usize);
        }
        if let Some(n) = self.min_new_tokens {
            gen.min_new_tokens = Some(n as usize);
        }
        if let Some(f) = self.length_penalty {
            gen.length_penalty = Some(f);
        }
        if let Some(n) = self.no_repeat_ngram_size {
            gen.no_repeat_ngram_size = Some(n as usize);
        }
    }
}

/// Where and how fast to compute.
#[derive(Debug, Args, Clone)]
pub struct RuntimeArgs {
    /// Segments per model batch.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Compute threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// auto, cpu, cuda[:N] or metal[:N] (a misspelt one is a usage error).
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    pub device: DeviceChoice,
    /// f32, f16, bf16, or int8 (CPU: the translation model's projections in int8, the rest
    /// in f32; bf16 on the CPU likewise, its projections in bf16). A misspelt one is a
    /// usage error.
    #[arg(long, value_name = "DTYPE", default_value = "f32")]
    pub dtype: DTypeChoice,
}

impl RuntimeArgs {
    /// Sets the compute thread count; call before any model work starts.
    pub fn apply_threads(&self) {
        // candle's CPU kernels size their thread pools from this variable. Without it,
        // candle works out its default (the physical cores) again on every call, which
        // reads /proc/cpuinfo: thousands of times a second in a batch run, a third of its
        // time in system calls. So the default is worked out once and set.
        let n = match self.threads {
            Some(n) => Some(n as usize),
            None if std::env::var_os("RAYON_NUM_THREADS").is_none() => {
                Some(candle_core::utils::get_num_threads())
            }
            None => None,
        };
        if let Some(n) = n {
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        }
        // candle runs element-wise ops on its own pool, whose idle workers spin for a while
        // before sleeping; matmuls run on the rayon pool. With both pools on few cores the
        // spinning workers take the cores the matmul needs (a quarter of all CPU time at
        // beam 4 on 2 cores, see BENCHMARKS.md), so idle workers sleep at once unless the
        // user chose otherwise.
        if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
            std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0");
        }
    }

    /// Keeps freed tensor memory in the process instead of handing it back to the OS.
    ///
    /// Every decoder step allocates and frees tensors of tens of MB (the logits of a beam batch
    /// alone are 28 MB). glibc serves allocations that large with fresh `mmap`s and unmaps
    /// them on free, so every step faulted the same memory back in: at beam 4 on 2 cores
    /// a sixth of all samples were page faults and half the run was system time. With the
    /// mmap threshold raised they come from the heap and are reused; peak memory is unchanged
    /// (BENCHMARKS.md).
    pub fn tune_allocator(&self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            // Setting the mmap threshold leaves the trim threshold at its 128 KB default, so
            // every large free at the top of the heap was handed back and faulted in again
            // on the next step (570,000 page faults for 300 small articles).
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            // The trim threshold governs only the main heap. A thread other than the main
            // one allocates from its own arena, made of 64 MB heaps that glibc unmaps once
            // empty, so the batches decoded on rayon's workers still faulted their logits
            // (28 MB a step) back in: 630,000 page faults and a seventh of all CPU time at
            // beam 4 (and most of the system time of `brief`). One arena for all threads
            // keeps that memory too; tensors are allocated a few times per operation, so the
            // shared lock costs nothing measurable.
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }

    pub fn device(&self) -> anyhow::Result<(candle_core::Device, device::Precision)> {
        Ok(device::select(self.device, self.dtype)?)
    }
}

/// A counter on stderr for work of unknown length; hidden when stderr is not a terminal,
/// and with `-q`.
pub fn progress_spinner(unit: &'static str) -> indicatif::ProgressBar {
    let target = if super::progress_shown() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(None, target);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {{pos}} {unit} [{{elapsed_precise}}] {{msg}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

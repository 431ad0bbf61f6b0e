//! The CLI's settings stage: parsed flags turned once into validated settings that build the
//! models.
//!
//! It exists so that nothing below the subcommands reads a flag, the environment or the models
//! file: clap's structs (in each subcommand's file and in `common.rs`) only parse; a [`Setup`]
//! reads `models.toml` and the hub settings once, checks the rules that span flags, resolves
//! each model by its [`Role`] (which knows the files that role needs, for loading and for
//! `warta models fetch` alike) and loads the translator, the embedder, the NLI judge and the
//! LLM the same way for every subcommand. A [`Runtime`] is the device, dtype and batch size,
//! settled once before any model work starts. This is ripgrep's low-args/high-args split.
use std::path::Path;

use anyhow::Context;
use candle_core::Device;

use super::common::{DecodingArgs, ModelArgs, RuntimeArgs};
use warta::brief::ModelRef;
use warta::config::{ConfigSource, ModelsConfig};
use warta::device::Precision;
use warta::hub::{self, HubSettings, ModelFiles, ModelSpec, Want};
use warta::summarize::llm::Llm;
use warta::summarize::nli::Nli;
use warta::summarize::Embedder;
use warta::translate::shortlist::Shortlist;
use warta::translate::Translator;
use warta::weights::Checkpoint;

/// What a model is used for; each role needs its own files from its repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Marian translation model (`[translation]`, or `--model`).
    Translation,
    /// The translation model's tokenizer alone (`warta tokenize`).
    Tokenizer,
    /// The sentence-embedding model (`[embedding]`).
    Embedding,
    /// The instruction LLM (`[summarizer] model`).
    Summarizer,
    /// The NLI cross-encoder that judges citations (`[citation] nli`).
    Nli,
}

impl Role {
    /// Every role that has a model of its own, in the order `models fetch` fetches them.
    pub const MODELS: [Role; 4] = [
        Role::Translation,
        Role::Embedding,
        Role::Summarizer,
        Role::Nli,
    ];

    /// The role's name in logs and in `models fetch` output.
    pub fn name(self) -> &'static str {
        match self {
            Role::Translation => "translation",
            Role::Tokenizer => "tokenizer",
            Role::Embedding => "embedding",
            Role::Summarizer => "summarizer",
            Role::Nli => "nli",
        }
    }

    /// The files this role needs from its model's repo.
    fn files(self) -> Want<'static> {
        match self {
            Role::Translation => Want {
                files: &["config.json", "source.spm", "target.spm", "vocab.json"],
                optional: &[
                    "generation_config.json",
                    "target_vocab.json",
                    "tokenizer_config.json",
                ],
                weights: true,
            },
            Role::Tokenizer => Want {
                files: &["source.spm", "target.spm", "vocab.json"],
                optional: &["target_vocab.json", "tokenizer_config.json"],
                weights: false,
            },
            // A sentence-transformers model.
            Role::Embedding => Want {
                files: &["config.json", "tokenizer.json"],
                optional: &[
                    "modules.json",
                    "sentence_bert_config.json",
                    "1_Pooling/config.json",
                    "tokenizer_config.json",
                ],
                weights: true,
            },
            Role::Summarizer => Want {
                files: &["config.json", "tokenizer.json"],
                optional: &["generation_config.json", "tokenizer_config.json"],
                weights: true,
            },
            Role::Nli => Want {
                files: &["config.json", "tokenizer.json"],
                optional: &["tokenizer_config.json"],
                weights: true,
            },
        }
    }
}

/// A model found on disk.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its directory and weight files, as the hub found them (for a GGUF summariser, the
    /// `.gguf` file).
    pub checkpoint: Checkpoint,
    /// `repo@commit` or the directory, for logs.
    pub name: String,
    /// The same as the briefing records it.
    pub reference: ModelRef,
}

impl Resolved {
    fn from_files(found: ModelFiles) -> Self {
        let reference = match (&found.spec, &found.commit) {
            (ModelSpec::Repo { id, .. }, commit) => ModelRef {
                id: id.clone(),
                revision: commit.clone(),
            },
            (spec, _) => ModelRef {
                id: spec.to_string(),
                revision: None,
            },
        };
        Self {
            name: found.provenance(),
            checkpoint: found.checkpoint,
            reference,
        }
    }
}

/// The model a role uses: a spec string as written and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Choice {
    model: String,
    revision: Option<String>,
}

/// The models file, the hub settings and the model flags, read and checked once.
#[derive(Debug)]
pub struct Setup {
    config: ModelsConfig,
    source: ConfigSource,
    hub: HubSettings,
    /// `--model`/`--revision`, which replace `[translation]`.
    flags: Option<ModelArgs>,
}

impl Setup {
    /// Reads the models file (`--models`, else `./models.toml`, else the built-in one) and the
    /// hub environment, and checks the model flags against them.
    pub fn new(models: Option<&Path>, flags: Option<&ModelArgs>) -> anyhow::Result<Self> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let (config, source) = ModelsConfig::locate(models, &cwd)?;
        tracing::debug!("models from {source}");
        let setup = Self {
            config,
            source,
            hub: HubSettings::from_env(),
            flags: flags.cloned(),
        };
        setup.check_flags()?;
        Ok(setup)
    }

    /// For the subcommands that take `--model`, `--revision` and `--models`.
    pub fn from_model_args(args: &ModelArgs) -> anyhow::Result<Self> {
        Self::new(args.models.as_deref(), Some(args))
    }

    pub fn config(&self) -> &ModelsConfig {
        &self.config
    }

    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// The rules that span flags and the models file.
    fn check_flags(&self) -> anyhow::Result<()> {
        let Some(flags) = &self.flags else {
            return Ok(());
        };
        let Some(revision) = &flags.revision else {
            return Ok(());
        };
        let Some(choice) = self.choice(Role::Translation) else {
            return Ok(());
        };
        match choice.model.parse::<ModelSpec>()? {
            // A revision names a commit of a hub repo; a directory has none.
            ModelSpec::Dir(dir) => anyhow::bail!(
                "--revision {revision} applies to a hub repo id, but the translation model is \
                 the directory {}: leave out --revision",
                dir.display()
            ),
            ModelSpec::Repo {
                id,
                revision: named,
            } if choice.model.contains('@') && &named != revision => {
                anyhow::bail!(
                    "the translation model {id}@{named} names its revision, and --revision says \
                     {revision}: give one of them"
                )
            }
            _ => Ok(()),
        }
    }

    /// The model a role uses, or None when the models file names none for it.
    fn choice(&self, role: Role) -> Option<Choice> {
        let flags = self.flags.as_ref();
        match role {
            Role::Translation | Role::Tokenizer => match flags.and_then(|f| f.model.clone()) {
                Some(model) => Some(Choice {
                    model,
                    revision: flags.and_then(|f| f.revision.clone()),
                }),
                None => self.config.translation.as_ref().map(|t| Choice {
                    model: t.model.clone(),
                    revision: flags
                        .and_then(|f| f.revision.clone())
                        .or(t.revision.clone()),
                }),
            },
            Role::Embedding => Some(Choice {
                model: self.config.embedding.model.clone(),
                revision: self.config.embedding.revision.clone(),
            }),
            Role::Summarizer => self.config.summarizer.model.as_ref().map(|m| Choice {
                model: m.clone(),
                revision: self.config.summarizer.revision.clone(),
            }),
            Role::Nli => self.config.citation.nli.as_ref().map(|m| Choice {
                model: m.clone(),
                revision: self.config.citation.revision.clone(),
            }),
        }
    }

    /// What to tell the user when the models file names no model for a role.
    fn missing(&self, role: Role) -> anyhow::Error {
        let source = &self.source;
        match role {
            Role::Translation | Role::Tokenizer => anyhow::anyhow!(
                "{source} has no [translation] section: add one (model = \"Helsinki-NLP/opus-mt-id-en\") or pass --model"
            ),
            Role::Summarizer => anyhow::anyhow!(
                "the LLM summariser needs a model: set `model` under [summarizer] in {source}"
            ),
            Role::Nli => anyhow::anyhow!("{source} names no NLI model under [citation]"),
            Role::Embedding => anyhow::anyhow!("{source} names no embedding model"),
        }
    }

    /// Whether the models file (or the flags) names a model for this role.
    fn has(&self, role: Role) -> bool {
        self.choice(role).is_some()
    }

    /// The role's model on disk, with the files the role needs (and its weights): a local
    /// directory, or the hub cache (downloading what is missing unless offline).
    pub fn resolve(&self, role: Role) -> anyhow::Result<Resolved> {
        let choice = self.choice(role).ok_or_else(|| self.missing(role))?;
        // A local GGUF summariser is used as it is; tokenizer.json must sit beside it.
        let path = Path::new(&choice.model);
        if role == Role::Summarizer && path.extension().is_some_and(|x| x == "gguf") {
            anyhow::ensure!(
                path.is_file(),
                "the [summarizer] model {} (in {}) is not a file",
                choice.model,
                self.source
            );
            return Ok(Resolved {
                checkpoint: Checkpoint::gguf(path),
                name: choice.model.clone(),
                reference: ModelRef {
                    id: choice.model.clone(),
                    revision: None,
                },
            });
        }
        let spec = spec_from(&choice.model, choice.revision.as_deref())?;
        let found = hub::resolve_files(&spec, &self.hub, role.files())?;
        Ok(Resolved::from_files(found))
    }

    /// `warta models fetch` for one role: the files it needs, downloaded into the cache.
    /// None when the models file names no model for it.
    pub fn fetch(&self, role: Role) -> anyhow::Result<Option<Resolved>> {
        let Some(choice) = self.choice(role) else {
            return Ok(None);
        };
        let spec = spec_from(&choice.model, choice.revision.as_deref())?;
        let files = role.files();
        let found = hub::fetch(&spec, &self.hub, files.files, files.optional)
            .with_context(|| format!("{} model {}", role.name(), choice.model))?;
        Ok(Some(Resolved::from_files(found)))
    }

    /// The translator with the decoding flags applied, and its model.
    pub fn translator(
        &self,
        decoding: &DecodingArgs,
        runtime: &Runtime,
    ) -> anyhow::Result<(Translator, Resolved)> {
        let m = self.resolve(Role::Translation)?;
        let mut t = Translator::from_checkpoint(&m.checkpoint, &runtime.device, runtime.precision)
            .with_context(|| format!("cannot load the translation model {}", m.name))?
            .with_name(m.name.clone())
            .with_batch_size(runtime.batch_size)
            .with_min_score(decoding.min_score)
            .with_retry(!decoding.no_retry);
        t.configure(|g| decoding.apply(g))
            .with_context(|| format!("the decoding settings of {}", m.name))?;
        if let Some(path) = &decoding.shortlist {
            let s = Shortlist::load(path, t.tokenizer(), t.target_vocab()?)?;
            let st = &s.stats;
            tracing::info!(
                "shortlist {}: {} rules ({} skipped for a source token the model lacks, \
                 {} target tokens it lacks)",
                path.display(),
                st.rules,
                st.unknown_sources,
                st.unknown_targets
            );
            t = t.with_shortlist(Some(s))?;
        }
        if runtime.precision.converts_weights() {
            release_freed();
        }
        if runtime.precision == Precision::Bf16Cpu {
            if let Some(why) = warta::translate::bf16::Kernel::slow_here() {
                tracing::warn!("--dtype bf16: {why}");
            }
        }
        Ok((t, m))
    }

    /// The sentence embedder and its model.
    pub fn embedder(&self, device: &Device) -> anyhow::Result<(Embedder, Resolved)> {
        let m = self.resolve(Role::Embedding)?;
        let e = Embedder::from_checkpoint(&m.checkpoint, device)
            .with_context(|| format!("cannot load the embedding model {}", m.name))?;
        Ok((e, m))
    }

    /// The summariser LLM and its model.
    pub fn llm(&self, runtime: &Runtime) -> anyhow::Result<(Llm, Resolved)> {
        let m = self.resolve(Role::Summarizer)?;
        let llm = Llm::from_checkpoint(&m.checkpoint, &runtime.device, runtime.precision.dtype())
            .with_context(|| format!("cannot load the summariser LLM {}", m.name))?;
        Ok((llm, m))
    }

    /// The NLI judge and its model, when the models file names one.
    pub fn judge(&self, device: &Device) -> anyhow::Result<Option<(Nli, Resolved)>> {
        if !self.has(Role::Nli) {
            return Ok(None);
        }
        let m = self.resolve(Role::Nli)?;
        let nli = Nli::from_checkpoint(&m.checkpoint, device)
            .with_context(|| format!("cannot load the NLI model {}", m.name))?;
        Ok(Some((nli, m)))
    }
}

/// A spec string with a separate revision: `@rev` written in the string wins (as the models
/// file documents), else the separate revision, else the default branch.
fn spec_from(model: &str, revision: Option<&str>) -> anyhow::Result<ModelSpec> {
    let spec: ModelSpec = model.parse()?;
    Ok(match (spec, revision) {
        (ModelSpec::Repo { id, .. }, Some(rev)) if !model.contains('@') => {
            ModelSpec::repo(&id, Some(rev))?
        }
        (spec, _) => spec,
    })
}

/// Hands the heap memory freed while loading back to the OS. The allocator keeps what is
/// freed (`RuntimeArgs::tune_allocator`), and an int8 model is built from f32 weights that
/// are freed once quantised: without this they stayed resident beside it.
fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where and how the models compute, settled once before any model work starts.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub device: Device,
    /// The translation model's; the other models compute in its float dtype
    /// ([`Precision::dtype`]: f32 beside int8).
    pub precision: Precision,
    /// Segments per model batch.
    pub batch_size: usize,
}

impl Runtime {
    /// Sets the thread count and the allocator, then picks the device and dtype.
    pub fn new(args: &RuntimeArgs) -> anyhow::Result<Self> {
        args.apply_threads();
        args.tune_allocator();
        let (device, precision) = args.device()?;
        Ok(Self {
            device,
            precision,
            batch_size: args.batch_size as usize,
        })
    }
}

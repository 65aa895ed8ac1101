//! Parallax core: the `Engine` trait, the one generation loop, sampling, stop strings, the GGUF
//! tokenizer and chat template, the per-engine worker runtime and the model catalog.
//! No engine lives here; backends are their own crates.

pub mod arch;
pub mod catalog;
pub mod chat;
pub mod device;
pub mod discover;
pub mod engine;
pub mod error;
pub mod figures;
pub mod generate;
pub mod gguf_meta;
pub mod heap;
pub mod live;
pub mod local_models;
pub mod pretokenize;
pub mod prompt_cache;
pub mod reasoning;
pub mod routing;
pub mod runtime;
pub mod sampling;
pub mod stop;
pub mod strftime;
pub mod structured;
pub mod synthetic;
pub mod tokenizer;
pub mod tools;

pub use arch::{Family, ModelDesc};
pub use chat::{ChatMessage, ChatTemplate};
pub use engine::{batch_positions, Engine, LoadedModel, MemoryReport, ModelInfo, SlotTokens, Slots};
pub use error::{Error, Result};
pub use generate::{
    generate, Event, FinishReason, Flow, GenerateRequest, GenerationResult, Logprobs, Prompt, Timings, TokenLogprob,
    Usage, MAX_TOP_LOGPROBS,
};
pub use gguf_meta::{GgufHeader, GgufPart, SplitName, TensorEntry};
pub use live::{LiveGeneration, LiveStatus};
pub use prompt_cache::PromptCache;
pub use routing::{RoutingCounts, RoutingLog};
pub use runtime::{slots_for_memory, EngineHandle, EventSender, GenerationStream, DEFAULT_SLOTS};
pub use sampling::SamplingParams;
pub use structured::OutputFormat;
pub use tokenizer::Tokenizer;

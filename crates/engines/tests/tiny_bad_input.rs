//! Broken copies of a tiny model (bytes patched in place, so the file stays a valid GGUF):
//! each engine refuses them with an error that names the problem.

use std::path::{Path, PathBuf};

fn tiny(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../models/tiny/{family}.gguf"))
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} not in file", String::from_utf8_lossy(needle)))
}

/// A copy of `family`'s GGUF with `edit` applied to its bytes.
fn patched(family: &str, edit: impl FnOnce(&mut Vec<u8>)) -> tempfile::NamedTempFile {
    let mut bytes = std::fs::read(tiny(family)).expect("run `make models`");
    edit(&mut bytes);
    let f = tempfile::Builder::new().suffix(".gguf").tempfile().expect("tempfile");
    std::fs::write(f.path(), &bytes).expect("write");
    f
}

fn errors(path: &Path) -> Vec<String> {
    let gguf = parallax_gguf::load(path, "broken").err().map(|e| e.to_string());
    let mlx = parallax_mlx::load(path, "broken").err().map(|e| e.to_string());
    vec![
        gguf.unwrap_or_else(|| "gguf engine loaded it".into()),
        mlx.unwrap_or_else(|| "mlx engine loaded it".into()),
    ]
}

#[test]
fn a_missing_tensor_is_named() {
    let f = patched("qwen2", |b| {
        let at = find(b, b"blk.1.attn_v.weight");
        b[at + 11..at + 12].copy_from_slice(b"x");
    });
    for e in errors(f.path()) {
        assert!(e.contains("`blk.1.attn_v.weight` is missing"), "{e}");
    }
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    // attn_k of layer 0 is [64, 32]: swap to [32, 64] (same bytes, wrong shape).
    let f = patched("llama3", |b| {
        let name = b"blk.0.attn_k.weight";
        let dims = find(b, name) + name.len() + 4;
        let (d0, d1) = (b[dims..dims + 8].to_vec(), b[dims + 8..dims + 16].to_vec());
        b[dims..dims + 8].copy_from_slice(&d1);
        b[dims + 8..dims + 16].copy_from_slice(&d0);
    });
    for e in errors(f.path()) {
        assert!(
            e.contains("blk.0.attn_k.weight") && e.contains("[32, 64]") && e.contains("[64, 32]"),
            "{e}"
        );
    }
}

#[test]
fn an_unknown_pre_tokenizer_is_named() {
    let f = patched("qwen2", |b| {
        let value = find(b, b"tokenizer.ggml.pre") + "tokenizer.ggml.pre".len() + 4 + 8;
        b[value..value + 5].copy_from_slice(b"qwen9");
    });
    for e in errors(f.path()) {
        assert!(e.contains("pre-tokenizer `qwen9`"), "{e}");
    }
}

#[test]
fn an_unknown_architecture_is_named_with_the_supported_ones() {
    let f = patched("qwen2", |b| {
        let value = find(b, b"general.architecture") + "general.architecture".len() + 4 + 8;
        b[value..value + 5].copy_from_slice(b"mamba");
    });
    for e in errors(f.path()) {
        assert!(
            e.contains("`mamba`") && e.contains("qwen3") && e.contains("gemma2"),
            "{e}"
        );
    }
}

/// The byte offset of a u32 metadata value named `key`.
fn u32_value(b: &[u8], key: &str) -> usize {
    find(b, key.as_bytes()) + key.len() + 4
}

#[test]
fn more_experts_used_than_there_are_is_named() {
    let f = patched("mixtral", |b| {
        let at = u32_value(b, "llama.expert_used_count");
        b[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
    });
    for e in errors(f.path()) {
        assert!(
            e.contains("`llama.expert_used_count` (9) is greater than `llama.expert_count` (8)"),
            "{e}"
        );
    }
}

#[test]
fn an_expert_tensor_holding_another_expert_count_is_named() {
    // expert_count 16 → 4: the router and every stacked tensor then hold more experts than
    // the header says.
    let f = patched("qwen3moe", |b| {
        let at = u32_value(b, "qwen3moe.expert_count");
        b[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
    });
    for e in errors(f.path()) {
        assert!(
            e.contains("tensor `blk.0.ffn_gate_inp.weight` holds 16 experts, but `expert_count` says 4"),
            "{e}"
        );
    }
}

//! Synthetic model shapes for `parallax bench --synthetic`: the layer count, sizes, experts and
//! quantization of a real model family, scaled down to fit one machine. A runtime's speed
//! depends on the bytes it reads per token (the active experts' bytes for a mixture of
//! experts), not on the weight values, so a random-weight model of a shape measures the
//! runtimes honestly; its answers are noise, and the report says so.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The architecture a shape is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeArch {
    /// `llama` (with experts: Mixtral's layout).
    Llama,
    Qwen3Moe,
    /// `gpt-oss`: biased attention with sinks, a 128-token window on every other layer, biased
    /// router and experts, the experts in MXFP4 as GPT-OSS ships them (the rest in the shape's
    /// `quant`).
    GptOss,
}

/// Bytes of 32 MXFP4 weights (GPT-OSS's experts).
const MXFP4_BLOCK_BYTES: u64 = 17;

/// Weight formats a synthetic model can be written in: those both engines read the same way
/// (MLX maps them exactly), so the comparison is of runtimes, not of formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShapeQuant {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl ShapeQuant {
    /// Bytes per 32 weights.
    pub fn block_bytes(self) -> u64 {
        match self {
            ShapeQuant::Q4_0 => 18,
            ShapeQuant::Q4_1 => 20,
            ShapeQuant::Q8_0 => 34,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "Q4_0" => Some(ShapeQuant::Q4_0),
            "Q4_1" => Some(ShapeQuant::Q4_1),
            "Q8_0" => Some(ShapeQuant::Q8_0),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub name: String,
    /// The real model whose proportions it keeps.
    pub like: String,
    pub arch: ShapeArch,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// The dense MLP's inner size, or one expert's.
    pub ff: usize,
    /// 0 for a dense model.
    pub experts: usize,
    pub experts_used: usize,
    pub quant: ShapeQuant,
    /// Vocabulary size (the tokenizer's, set when it is known).
    pub vocab: usize,
}

/// The vocabulary the presets assume (SmolLM2's tokenizer, which the synthetic files carry).
const VOCAB: usize = 49_152;

/// Presets: hidden 1024 and 8 layers, experts' total equal across the MoE shapes and the dense
/// one, so the MoE-vs-dense comparison holds total parameters fixed.
pub fn presets() -> Vec<Shape> {
    let base = Shape {
        name: String::new(),
        like: String::new(),
        arch: ShapeArch::Llama,
        layers: 8,
        hidden: 1024,
        heads: 16,
        kv_heads: 4,
        head_dim: 64,
        ff: 0,
        experts: 0,
        experts_used: 0,
        quant: ShapeQuant::Q4_0,
        vocab: VOCAB,
    };
    vec![
        Shape {
            name: "qwen3-moe-small".into(),
            like: "Qwen3-30B-A3B: 128 experts, top-8, expert inner size 3/8 of hidden".into(),
            arch: ShapeArch::Qwen3Moe,
            ff: 384,
            experts: 64,
            experts_used: 8,
            ..base.clone()
        },
        Shape {
            name: "mixtral-small".into(),
            like: "Mixtral 8x7B: 8 experts, top-2, expert inner size 3.5x hidden".into(),
            ff: 3072,
            experts: 8,
            experts_used: 2,
            ..base.clone()
        },
        Shape {
            name: "gpt-oss-small".into(),
            like: "GPT-OSS 20B: 32 experts, top-4, expert inner size = hidden, experts in MXFP4".into(),
            arch: ShapeArch::GptOss,
            ff: 1024,
            experts: 24,
            experts_used: 3,
            ..base.clone()
        },
        // Llama 3's dense shapes (the GPU comparison's models); the vocabulary is the tokenizer
        // file's the writer is given.
        Shape {
            name: "llama-1b".into(),
            like: "Llama 3.2 1B".into(),
            layers: 16,
            hidden: 2048,
            heads: 32,
            kv_heads: 8,
            head_dim: 64,
            ff: 8192,
            ..base.clone()
        },
        Shape {
            name: "llama-8b".into(),
            like: "Llama 3.1 8B".into(),
            layers: 32,
            hidden: 4096,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            ff: 14_336,
            ..base.clone()
        },
        Shape {
            name: "dense-small".into(),
            like: "a dense Llama with the MoE shapes' total parameters".into(),
            ff: 24_576,
            ..base
        },
    ]
}

impl Shape {
    /// A preset by name, with `key=value` overrides after commas:
    /// `qwen3-moe-small,layers=4,experts=32,used=4,hidden=768,ff=256,quant=Q8_0`.
    pub fn parse(spec: &str) -> Result<Shape> {
        let bad = |why: String| Error::InvalidParameter {
            param: "synthetic",
            reason: format!("shape `{spec}`: {why}"),
        };
        let mut parts = spec.split(',');
        let name = parts.next().unwrap_or_default().trim();
        let mut shape = presets().into_iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<String> = presets().into_iter().map(|s| s.name).collect();
            bad(format!("unknown shape; known: {}", names.join(", ")))
        })?;
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not key=value")))?;
            if key == "quant" {
                shape.quant =
                    ShapeQuant::parse(value).ok_or_else(|| bad(format!("quant `{value}`: Q4_0, Q4_1 or Q8_0")))?;
                continue;
            }
            let n: usize = value
                .parse()
                .map_err(|_| bad(format!("`{key}={value}` is not a whole number")))?;
            match key {
                "layers" => shape.layers = n,
                "hidden" => shape.hidden = n,
                "heads" => shape.heads = n,
                "kv_heads" => shape.kv_heads = n,
                "head_dim" => shape.head_dim = n,
                "ff" => shape.ff = n,
                "experts" => shape.experts = n,
                "used" => shape.experts_used = n,
                other => return Err(bad(format!("unknown key `{other}`"))),
            }
        }
        shape.validate().map_err(bad)?;
        Ok(shape)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let sizes = [
            self.layers,
            self.hidden,
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.ff,
        ];
        if sizes.contains(&0) {
            return Err("every size must be positive".into());
        }
        if !self.hidden.is_multiple_of(32)
            || !self.ff.is_multiple_of(32)
            || !(self.heads * self.head_dim).is_multiple_of(32)
        {
            return Err("hidden, ff and heads × head_dim must be multiples of 32 (one quantization block)".into());
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "{} heads do not group into {} KV heads",
                self.heads, self.kv_heads
            ));
        }
        match (self.arch, self.experts) {
            (ShapeArch::Qwen3Moe, 0) => return Err("a Qwen3-MoE shape needs experts".into()),
            (ShapeArch::GptOss, 0) => return Err("a GPT-OSS shape needs experts".into()),
            (_, 0) => {}
            (_, e) if self.experts_used == 0 || self.experts_used > e => {
                return Err(format!("{} experts used of {e}", self.experts_used));
            }
            _ => {}
        }
        Ok(())
    }

    /// Total and per-token (active) weight parameters. The token embedding counts once in
    /// the total (tied with the output, which every token reads whole).
    pub fn params(&self) -> (u64, u64) {
        let (h, l) = (self.hidden as u64, self.layers as u64);
        let q = (self.heads * self.head_dim) as u64;
        let kv = (self.kv_heads * self.head_dim) as u64;
        let attn = h * q * 2 + h * kv * 2;
        let mlp = 3 * h * self.ff as u64;
        let (ffn_total, ffn_active) = match self.experts {
            0 => (mlp, mlp),
            e => (
                mlp * e as u64 + h * e as u64,
                mlp * self.experts_used as u64 + h * e as u64,
            ),
        };
        let output = h * self.vocab as u64;
        (l * (attn + ffn_total) + output, l * (attn + ffn_active) + output)
    }

    /// The file's size, near enough (quantized matrices, f32 norms and router; GPT-OSS's
    /// experts in MXFP4).
    pub fn file_bytes(&self) -> u64 {
        let (total, _) = self.params();
        let experts = match self.arch {
            ShapeArch::GptOss => 3 * (self.hidden * self.ff * self.experts * self.layers) as u64,
            _ => 0,
        };
        (total - experts) / 32 * self.quant.block_bytes() + experts / 32 * MXFP4_BLOCK_BYTES
    }

    /// One line for the report: the sizes, and the parameters in all and per token.
    pub fn describe(&self) -> String {
        let (total, active) = self.params();
        let experts = match self.experts {
            0 => "dense".to_owned(),
            e => format!("{e} experts, {} used", self.experts_used),
        };
        let quant = match self.arch {
            ShapeArch::GptOss => format!("{:?} (experts MXFP4)", self.quant),
            _ => format!("{:?}", self.quant),
        };
        format!(
            "{}: {} layers, hidden {}, {}/{} heads of {}, ff {}, {experts}, {quant}; {:.0}M parameters, {:.0}M active per token (like {})",
            self.name,
            self.layers,
            self.hidden,
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.ff,
            total as f64 / 1e6,
            active as f64 / 1e6,
            self.like
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moe_presets_and_the_dense_one_hold_equal_mlp_parameters() {
        let p = presets();
        let dense = p.iter().find(|s| s.name == "dense-small").expect("the dense preset");
        let mlp = |s: &Shape| 3 * s.hidden * s.ff * s.experts.max(1) * s.layers;
        for moe in p.iter().filter(|s| s.experts > 0) {
            assert_eq!(mlp(moe), mlp(dense), "{}", moe.name);
            let (total, active) = moe.params();
            assert!(active * 3 < total, "{}: {active} of {total}", moe.name);
        }
        let (total, active) = dense.params();
        assert_eq!(total, active);
        // GPT-OSS's experts are MXFP4: 17 bytes per 32 weights against Q4_0's 18.
        let gpt = p.iter().find(|s| s.arch == ShapeArch::GptOss).expect("gpt-oss-small");
        assert!(gpt.file_bytes() < dense.file_bytes());
    }

    #[test]
    fn overrides_apply_and_bad_specs_are_named() {
        let s = Shape::parse("qwen3-moe-small,layers=2,experts=16,used=2,quant=q8_0").expect("parse");
        assert_eq!(
            (s.layers, s.experts, s.experts_used, s.quant),
            (2, 16, 2, ShapeQuant::Q8_0)
        );
        let e = Shape::parse("nope").unwrap_err().to_string();
        assert!(e.contains("qwen3-moe-small"), "{e}");
        let e = Shape::parse("mixtral-small,used=9").unwrap_err().to_string();
        assert!(e.contains("9 experts used of 8"), "{e}");
        let e = Shape::parse("dense-small,hidden=100").unwrap_err().to_string();
        assert!(e.contains("multiples of 32"), "{e}");
        let e = Shape::parse("dense-small,ff=x").unwrap_err().to_string();
        assert!(e.contains("not a whole number"), "{e}");
    }
}

//! A checkpoint's named tensors (Hugging Face names), taken one by one by the architecture
//! that builds itself from them, with shape checks that turn bad files into clear errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlx_rs::Array;
use parallax_core::{Error, Result};

use crate::config::QuantSpec;
use crate::nn::shape_usize;

const BITS: &[i32] = &[2, 3, 4, 5, 6, 8];
const GROUP_SIZES: &[i32] = &[32, 64, 128];

pub struct Tensors {
    map: HashMap<String, Array>,
    path: PathBuf,
}

impl Tensors {
    pub fn new(map: HashMap<String, Array>, path: &Path) -> Self {
        Tensors {
            map,
            path: path.to_path_buf(),
        }
    }

    pub fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidModel {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn take(&mut self, name: &str) -> Result<Array> {
        self.map
            .remove(name)
            .ok_or_else(|| self.invalid(format!("the weights have no tensor `{name}`")))
    }

    pub fn take_optional(&mut self, name: &str) -> Option<Array> {
        self.map.remove(name)
    }

    /// A 1-D vector (norm weight) of `len` elements.
    pub fn vector(&mut self, name: &str, len: usize) -> Result<Array> {
        let v = self.take(name)?;
        self.expect_shape(name, &v, &[len])?;
        Ok(v)
    }

    pub fn expect_shape(&self, name: &str, a: &Array, want: &[usize]) -> Result<()> {
        let got = shape_usize(a);
        if got == want {
            Ok(())
        } else {
            Err(self.invalid(format!("`{name}` has shape {got:?}, expected {want:?}")))
        }
    }

    /// Bits and group size are not stored in GGUF-derived arrays, so they are inferred from the
    /// shapes: packed `[out, in·bits/32]` u32 weights, `[out, in/group]` scales.
    pub fn infer_quant(
        &self,
        module: &str,
        w: &Array,
        scales: &Array,
        out_dim: usize,
        in_dim: usize,
    ) -> Result<QuantSpec> {
        let (ws, ss) = (shape_usize(w), shape_usize(scales));
        let bad = |why: &str| {
            self.invalid(format!(
                "quantized `{module}`: weight {ws:?}, scales {ss:?} do not fit [{out_dim}, {in_dim}] ({why})"
            ))
        };
        // Experts stack a leading axis; the last two are (rows, packed columns).
        let lead = ws.len().saturating_sub(2);
        if ws.len() < 2 || ws.len() != ss.len() || ws[..lead] != ss[..lead] {
            return Err(bad("rank"));
        }
        let (ws, ss) = (&ws[lead..], &ss[lead..]);
        if ws[0] != out_dim || ss[0] != out_dim || ws[1] == 0 || ss[1] == 0 {
            return Err(bad("rows"));
        }
        if w.dtype() != mlx_rs::Dtype::Uint32 {
            return Err(bad("packed weights must be uint32"));
        }
        if (ws[1] * 32) % in_dim != 0 || !in_dim.is_multiple_of(ss[1]) {
            return Err(bad("columns"));
        }
        let spec = QuantSpec {
            bits: (ws[1] * 32 / in_dim) as i32,
            group_size: (in_dim / ss[1]) as i32,
        };
        if !BITS.contains(&spec.bits) || !GROUP_SIZES.contains(&spec.group_size) {
            return Err(bad(&format!(
                "bits {} / group size {} unsupported",
                spec.bits, spec.group_size
            )));
        }
        Ok(spec)
    }

    /// Names left over after the model took what it needs.
    pub fn leftover(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.map.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

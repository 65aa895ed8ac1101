//! Tensor access for a GGUF model (one file, or every part of a split one) through candle's
//! reader, after `GgufHeader` has vouched for each header. Missing tensors become clear errors
//! naming the tensor.

use std::fs::File;
use std::sync::Arc;

use candle_core::quantized::{gguf_file, QTensor};

use crate::kernels::QLinear;
use candle_core::{Device, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use parallax_core::GgufHeader;

use crate::layers::CResult;

pub struct Weights {
    /// One reader per file of the model, in part order.
    parts: Vec<(gguf_file::Content, File)>,
    pub device: Device,
}

impl Weights {
    pub fn open(header: &GgufHeader, device: Device) -> CResult<Self> {
        let mut parts = Vec::with_capacity(header.parts.len());
        for part in &header.parts {
            let mut file = File::open(&part.path)?;
            let content = gguf_file::Content::read(&mut file)?;
            parts.push((content, file));
        }
        Ok(Weights { parts, device })
    }

    pub fn has(&self, name: &str) -> bool {
        self.parts.iter().any(|(c, _)| c.tensor_infos.contains_key(name))
    }

    pub fn qtensor(&mut self, name: &str) -> CResult<QTensor> {
        let Some((content, file)) = self.parts.iter_mut().find(|(c, _)| c.tensor_infos.contains_key(name)) else {
            candle_core::bail!("tensor `{name}` is missing from the file");
        };
        content.tensor(file, name, &self.device)
    }

    pub fn matmul(&mut self, name: &str) -> CResult<QLinear> {
        QLinear::from_arc(Arc::new(self.qtensor(name)?))
    }

    pub fn rms_norm(&mut self, name: &str, eps: f64) -> CResult<RmsNorm> {
        RmsNorm::from_qtensor(self.qtensor(name)?, eps)
    }

    /// The token embedding (kept quantized: rows are dequantized on lookup) and the output
    /// projection, which is the same tensor when the model ties them.
    pub fn embedding_and_output(&mut self) -> CResult<(Arc<QTensor>, QLinear)> {
        let embd = Arc::new(self.qtensor("token_embd.weight")?);
        let output = if self.has("output.weight") {
            self.matmul("output.weight")?
        } else {
            QLinear::from_arc(embd.clone())?
        };
        Ok((embd, output))
    }
}

/// Looks up embedding rows for `ids` (shape `(1, seq)`) → `(1, seq, hidden)`.
pub fn embed(table: &QTensor, ids: &Tensor) -> CResult<Tensor> {
    table.embedding(ids)
}

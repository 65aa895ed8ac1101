//! Tensor access for a GGUF model (one file, or every part of a split one), memory-mapped,
//! through the tensor directory of `GgufHeader`, which has checked that every tensor lies in
//! its file. Weights our kernels run stay in the mapping; the rest are copied out once
//! (`mapped.rs`). Missing tensors become clear errors naming the tensor.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use candle_core::quantized::{ggml_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use memmap2::Mmap;
use parallax_core::{GgufHeader, TensorEntry};

use crate::kernels::{Kernel, OurMatMul, Projections, QLinear, WeightFormat};
use crate::layers::CResult;
use crate::mapped::{aligned_for, dequantize_rows, map_file, MappedBytes, WeightBytes};

pub struct Weights {
    /// Each file of the model, mapped, in part order.
    maps: Vec<Arc<Mmap>>,
    /// Every tensor's entry from the validated header, by name.
    tensors: HashMap<String, TensorEntry>,
    /// Where each part's data section starts.
    data_offsets: Vec<u64>,
    pub device: Device,
}

/// A tensor in place: its bytes, type and shape (`(rows, cols)` order, as candle reads them).
struct Located {
    name: String,
    bytes: MappedBytes,
    /// `Err(type name)` for a type only our kernels run (MXFP4).
    dtype: Result<GgmlDType, &'static str>,
    dims: Vec<usize>,
}

/// ggml's id for MXFP4.
const MXFP4: u32 = 39;

/// candle's name for a ggml type id.
fn candle_dtype(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

impl Weights {
    /// Maps every part; the header's tensor directory (not its metadata) is kept.
    pub fn open(header: &GgufHeader, device: Device) -> CResult<Self> {
        let mut maps = Vec::with_capacity(header.parts.len());
        for part in &header.parts {
            maps.push(map_file(&File::open(&part.path)?)?);
        }
        Ok(Weights {
            maps,
            tensors: header.tensors.iter().map(|t| (t.name.clone(), t.clone())).collect(),
            data_offsets: header.parts.iter().map(|p| p.data_offset).collect(),
            device,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn locate(&self, name: &str) -> CResult<Located> {
        let Some(t) = self.tensors.get(name) else {
            candle_core::bail!("tensor `{name}` is missing from the file");
        };
        let dtype = match (candle_dtype(t.ggml_type.id), t.ggml_type.id) {
            (Some(d), _) => Ok(d),
            (None, MXFP4) => Err(t.ggml_type.name),
            (None, _) => candle_core::bail!("tensor `{name}` is {}, which candle cannot run", t.ggml_type.name),
        };
        let (Some(map), Some(&data)) = (self.maps.get(t.part), self.data_offsets.get(t.part)) else {
            candle_core::bail!("tensor `{name}` names part {} of {}", t.part, self.maps.len());
        };
        let at =
            |v: u64| usize::try_from(v).map_err(|_| candle_core::Error::msg(format!("tensor `{name}` is too large")));
        // GGUF lists the fastest-varying dimension first; candle's shapes are row-major.
        let dims = t.dims.iter().rev().map(|&d| at(d)).collect::<CResult<Vec<_>>>()?;
        Ok(Located {
            name: name.to_owned(),
            bytes: MappedBytes::new(map.clone(), at(data + t.offset)?, at(t.n_bytes)?)?,
            dtype,
            dims,
        })
    }

    /// The tensor copied out of the mapping (for candle's kernels), its pages released.
    pub fn qtensor(&self, name: &str) -> CResult<QTensor> {
        self.copied(self.locate(name)?)
    }

    fn copied(&self, t: Located) -> CResult<QTensor> {
        let dtype = t.dtype.map_err(|ty| {
            candle_core::Error::msg(format!(
                "tensor `{}` is {ty}, which only Parallax's own CPU kernels run, as a matrix (not with PARALLAX_KERNELS=candle)",
                t.name
            ))
        })?;
        let mapped = t.bytes.as_slice();
        // A file with an odd `general.alignment`: copy to an (allocator-aligned) buffer first.
        let copy;
        let bytes = match aligned_for(dtype, mapped) {
            true => mapped,
            false => {
                copy = mapped.to_vec();
                copy.as_slice()
            }
        };
        let tensor = ggml_file::qtensor_from_ggml(dtype, bytes, t.dims, &self.device)?;
        t.bytes.release();
        Ok(tensor)
    }

    /// A weight `(n, k)`: read in place by our kernel when it takes the format, else copied to
    /// candle's.
    pub fn matmul(&self, name: &str) -> CResult<QLinear> {
        self.linear(self.locate(name)?)
    }

    fn linear(&self, t: Located) -> CResult<QLinear> {
        if let (&[n, k], true) = (t.dims.as_slice(), self.device.is_cpu()) {
            let format = match t.dtype {
                Ok(d) => WeightFormat::of(d),
                Err(_) => Some(WeightFormat::Mxfp4),
            };
            let bytes = WeightBytes::Mapped(t.bytes.clone());
            if let Some(op) = format.and_then(|f| OurMatMul::of_format(bytes, f, n, k, Kernel::selected())) {
                return Ok(QLinear::Ours(Arc::new(op)));
            }
        }
        QLinear::from_arc(Arc::new(self.copied(t)?))
    }

    /// Several weights `(n_i, k)` applied to one input (Q, K and V; gate and up). On a GPU,
    /// weights of one type are stacked by rows into one `(Σ n_i, k)` matrix: one matmul and one
    /// quantization of the input instead of one each. On the CPU our kernels fuse them instead
    /// (`Projections::new`). `PARALLAX_KERNELS=candle` keeps them apart everywhere.
    pub fn projections(&self, names: &[String]) -> CResult<Projections> {
        if Kernel::ours_on_gpu(&self.device) {
            if let Some((w, rows)) = self.stacked(names)? {
                return Ok(Projections::Stacked { w, rows });
            }
        }
        let parts = names.iter().map(|n| self.matmul(n)).collect::<CResult<Vec<_>>>()?;
        Ok(Projections::new(parts))
    }

    /// The weights' rows one after the other, when they share a type and a width.
    fn stacked(&self, names: &[String]) -> CResult<Option<(QLinear, Vec<usize>)>> {
        let parts = names.iter().map(|n| self.locate(n)).collect::<CResult<Vec<_>>>()?;
        let Some(Ok(dtype)) = parts.first().map(|p| p.dtype) else {
            return Ok(None);
        };
        let width = |p: &Located| match p.dims.as_slice() {
            &[_, k] => Some(k),
            _ => None,
        };
        let Some(k) = width(&parts[0]) else {
            return Ok(None);
        };
        if parts.iter().any(|p| p.dtype != Ok(dtype) || width(p) != Some(k)) {
            return Ok(None);
        }
        let rows: Vec<usize> = parts.iter().map(|p| p.dims[0]).collect();
        let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.bytes.as_slice().len()).sum());
        for p in &parts {
            bytes.extend_from_slice(p.bytes.as_slice());
            p.bytes.release();
        }
        let dims = vec![rows.iter().sum(), k];
        let t = ggml_file::qtensor_from_ggml(dtype, &bytes, dims, &self.device)?;
        Ok(Some((QLinear::from_arc(Arc::new(t))?, rows)))
    }

    /// One weight `(n, k)` per expert from a stacked `(experts, n, k)` tensor: each expert's
    /// rows are a contiguous run of the tensor's bytes, read in place like any other weight.
    pub fn expert_matmuls(&self, name: &str) -> CResult<Vec<QLinear>> {
        let t = self.locate(name)?;
        let &[experts, n, k] = t.dims.as_slice() else {
            candle_core::bail!(
                "tensor `{name}` has shape {:?}, expected (experts, rows, columns)",
                t.dims
            );
        };
        let per_expert = t.bytes.as_slice().len() / experts.max(1);
        if per_expert * experts != t.bytes.as_slice().len() {
            candle_core::bail!("tensor `{name}`: its bytes do not split into {experts} experts");
        }
        (0..experts)
            .map(|e| {
                self.linear(Located {
                    name: format!("{name}[{e}]"),
                    bytes: t.bytes.sub(e * per_expert, per_expert)?,
                    dtype: t.dtype,
                    dims: vec![n, k],
                })
            })
            .collect()
    }

    /// `{module}.bias`, dequantized.
    pub fn bias(&self, module: &str) -> CResult<Tensor> {
        self.dense(&format!("{module}.bias"))
    }

    /// A tensor dequantized whole (biases, sinks).
    pub fn dense(&self, name: &str) -> CResult<Tensor> {
        self.qtensor(name)?.dequantize(&self.device)
    }

    pub fn rms_norm(&self, name: &str, eps: f64) -> CResult<RmsNorm> {
        RmsNorm::from_qtensor(self.qtensor(name)?, eps)
    }

    /// The token embedding (read in place: rows are dequantized on lookup) and the output
    /// projection, which is the same bytes when the model ties them.
    pub fn embedding_and_output(&self) -> CResult<(Embedding, QLinear)> {
        let t = self.locate("token_embd.weight")?;
        let &[rows, hidden] = t.dims.as_slice() else {
            candle_core::bail!("token_embd.weight has shape {:?}, expected (vocab, hidden)", t.dims);
        };
        let output = match self.has("output.weight") {
            true => self.matmul("output.weight")?,
            false => self.matmul("token_embd.weight")?,
        };
        let embd = Embedding {
            bytes: t.bytes,
            dtype: t.dtype.map_err(|ty| {
                candle_core::Error::msg(format!("token_embd.weight is {ty}: not supported for embeddings"))
            })?,
            rows,
            hidden,
            device: self.device.clone(),
        };
        Ok((embd, output))
    }
}

/// A token embedding table read in place from the mapped file.
pub struct Embedding {
    bytes: MappedBytes,
    dtype: GgmlDType,
    rows: usize,
    hidden: usize,
    device: Device,
}

impl Embedding {
    /// Rows for `ids` (shape `(1, seq)`) → `(1, seq, hidden)`.
    pub fn forward(&self, ids: &Tensor) -> CResult<Tensor> {
        let ids = ids.flatten_all()?.to_vec1::<u32>()?;
        let rows = dequantize_rows(self.dtype, self.bytes.as_slice(), &ids, self.rows, self.hidden)?;
        Tensor::from_vec(rows, (1, ids.len(), self.hidden), &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;

    /// Stacked rows are the separate weights' rows: the same products, column for column. (The
    /// GPU path stacks them; the bytes are laid out the same on every device.)
    #[test]
    fn stacked_projections_equal_the_separate_ones() {
        let model =
            parallax_core::catalog::resolve("smollm2-135m-instruct-q4_1").expect("model fetched by `make models`");
        let w = Weights::open(&GgufHeader::read_model(&model.path).expect("header"), Device::Cpu).expect("open");
        let names = ["attn_q", "attn_k", "attn_v"].map(|n| format!("blk.3.{n}.weight"));
        let (stacked, rows) = w.stacked(&names).expect("read").expect("one type and width");
        assert_eq!(rows, [576, 192, 192]);
        let x = Tensor::randn(0f32, 1.0, (1, 3, 576), &Device::Cpu).expect("input");
        let y = stacked.forward(&x).expect("stacked");
        let mut col = 0;
        for (name, n) in names.iter().zip(&rows) {
            let want = w.matmul(name).expect("weight").forward(&x).expect("separate");
            let diff = (y.narrow(2, col, *n).expect("part") - want).expect("diff");
            let worst = diff
                .abs()
                .expect("abs")
                .max_all()
                .expect("max")
                .to_scalar::<f32>()
                .expect("scalar");
            assert!(worst < 1e-4, "{name}: stacked differs by {worst}");
            col += n;
        }
    }
}

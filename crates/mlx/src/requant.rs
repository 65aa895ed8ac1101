//! GGUF tensors MLX cannot load exactly (K-quants, Q5_x): read and dequantized with candle's
//! GGUF kernels, then requantized with MLX's affine `quantize`. The result approximates the
//! file's weights; the caller says so with a warning.

use std::collections::{BTreeSet, HashMap};

use candle_core::quantized::gguf_file;
use candle_core::Device;
use mlx_rs::{Array, Dtype};
use parallax_core::{GgufHeader, Result, TensorEntry};

use crate::nn::MResult;

const GROUP_SIZE: i32 = 32;

/// MLX bits for a source type: 8 for types of 5 bits or more, else 4.
fn target_bits(ggml_type: &str) -> i32 {
    match ggml_type {
        "Q5_0" | "Q5_1" | "Q5_K" | "Q6_K" | "Q8_0" | "Q8_1" | "Q8_K" => 8,
        _ => 4,
    }
}

fn is_float(ggml_type: &str) -> bool {
    matches!(ggml_type, "F32" | "F16" | "BF16")
}

/// Every tensor of the file under its GGUF name, as MLX arrays in the form MLX's own GGUF
/// loader produces (`name.weight` packed u32 + f16 `name.scales` / `name.biases` for quantized
/// matrices, f32 otherwise). Returns the arrays, how many tensors were requantized and their
/// source types.
pub fn read(header: &GgufHeader) -> Result<(HashMap<String, Array>, usize, BTreeSet<&'static str>)> {
    let cerr = |e: candle_core::Error| header.invalid(e.to_string());
    // Each header already passed our defensive reader, so candle only sees sane ones.
    let mut parts = Vec::with_capacity(header.parts.len());
    for part in &header.parts {
        let mut file = std::fs::File::open(&part.path).map_err(|e| header.invalid(e.to_string()))?;
        let content = gguf_file::Content::read(&mut file).map_err(cerr)?;
        parts.push((content, file));
    }
    let mut out = HashMap::new();
    let mut requantized = 0;
    let mut types = BTreeSet::new();
    for t in &header.tensors {
        let (content, file) = &mut parts[t.part];
        let qt = content.tensor(file, &t.name, &Device::Cpu).map_err(cerr)?;
        let dims: Vec<i32> = qt.shape().dims().iter().map(|&d| d as i32).collect();
        let values = qt
            .dequantize(&Device::Cpu)
            .and_then(|x| x.flatten_all())
            .and_then(|x| x.to_vec1::<f32>())
            .map_err(cerr)?;
        let dense = Array::from_slice(&values, &dims);
        drop(values);
        let name = t.name.strip_suffix(".weight").unwrap_or(&t.name).to_owned();
        let type_name = t.ggml_type.name;
        if is_float(type_name) {
            out.insert(t.name.clone(), dense);
            continue;
        }
        let mlx = |e: mlx_rs::error::Exception| header.invalid(format!("{}: {e}", t.name));
        let arrays = affine(&name, dense, type_name).map_err(mlx)?;
        if arrays.len() > 1 {
            requantized += 1;
            types.insert(type_name);
        }
        out.extend(arrays);
    }
    Ok((out, requantized, types))
}

/// One dequantized tensor of `module` as MLX affine arrays (`.weight`, `.scales`, `.biases`):
/// matrices and stacked experts (a leading expert axis) by rows, at the bits its source type
/// suggests; anything else (vectors, widths off the group) as the one dense `.weight`.
pub fn affine(module: &str, dense: Array, source_type: &str) -> MResult<Vec<(String, Array)>> {
    let dims = dense.shape().to_vec();
    if !(2..=3).contains(&dims.len()) || dims[dims.len() - 1] % GROUP_SIZE != 0 {
        return Ok(vec![(format!("{module}.weight"), dense)]);
    }
    let (w, scales, biases) = mlx_rs::ops::quantize(&dense, GROUP_SIZE, target_bits(source_type))?;
    let (scales, biases) = (scales.as_dtype(Dtype::Float16)?, biases.as_dtype(Dtype::Float16)?);
    mlx_rs::transforms::eval([&w, &scales, &biases])?;
    Ok(vec![
        (format!("{module}.weight"), w),
        (format!("{module}.scales"), scales),
        (format!("{module}.biases"), biases),
    ])
}

/// One tensor's raw ggml bytes of a type candle knows, dequantized to f32.
pub fn dequantize_raw(t: &TensorEntry, bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
    use candle_core::quantized::GgmlDType as G;
    let dtype = match t.ggml_type.name {
        "Q5_0" => G::Q5_0,
        "Q5_1" => G::Q5_1,
        "Q8_1" => G::Q8_1,
        "Q2_K" => G::Q2K,
        "Q3_K" => G::Q3K,
        "Q4_K" => G::Q4K,
        "Q5_K" => G::Q5K,
        "Q6_K" => G::Q6K,
        "Q8_K" => G::Q8K,
        other => {
            return Err(format!(
                "tensor `{}` is {other}, which the MLX engine cannot read",
                t.name
            ))
        }
    };
    // candle takes the row-major shape (ggml lists the row length first).
    let dims: Vec<usize> = t.dims.iter().rev().map(|&d| d as usize).collect();
    let qt = candle_core::quantized::ggml_file::qtensor_from_ggml(dtype, bytes, dims, &Device::Cpu)
        .map_err(|e| format!("{}: {e}", t.name))?;
    qt.dequantize(&Device::Cpu)
        .and_then(|x| x.flatten_all())
        .and_then(|x| x.to_vec1::<f32>())
        .map_err(|e| format!("{}: {e}", t.name))
}

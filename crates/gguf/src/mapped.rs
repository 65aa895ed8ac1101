//! Weights read in place from the memory-mapped GGUF file, as llama.cpp reads them: the tensors
//! our kernels run (and the token embedding) are never copied, so their pages are the page
//! cache's, shared with every other process that maps the file. Tensors that go to candle's own
//! kernels are copied out once and their pages released.
//!
//! The file must not change while it is mapped (as with llama.cpp); `GgufHeader` has checked
//! that every tensor lies inside it.

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0,
    BlockQ8_1, GgmlType,
};
use candle_core::quantized::{GgmlDType, QTensor};
use half::{bf16, f16};
use memmap2::Mmap;

use crate::layers::CResult;

/// Maps a whole GGUF file read-only.
pub fn map_file(file: &File) -> CResult<Arc<Mmap>> {
    // SAFETY: the mapping is read-only and private; its bytes are only read as plain integers
    // and floats, so a concurrent change of the file can change values, never break memory safety
    // of our code beyond what any reader of a changing file sees.
    let map = unsafe { Mmap::map(file)? };
    Ok(Arc::new(map))
}

/// One tensor's bytes inside a mapped file.
#[derive(Clone)]
pub struct MappedBytes {
    map: Arc<Mmap>,
    start: usize,
    len: usize,
}

impl MappedBytes {
    pub fn new(map: Arc<Mmap>, start: usize, len: usize) -> CResult<Self> {
        if start.checked_add(len).is_none_or(|end| end > map.len()) {
            candle_core::bail!("tensor bytes {start}+{len} lie outside the {}-byte file", map.len());
        }
        Ok(MappedBytes { map, start, len })
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.map[self.start..self.start + self.len]
    }

    /// `len` bytes from `offset` within these bytes.
    pub fn sub(&self, offset: usize, len: usize) -> CResult<Self> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            candle_core::bail!("bytes {offset}+{len} lie outside a {}-byte tensor", self.len);
        }
        MappedBytes::new(self.map.clone(), self.start + offset, len)
    }

    /// Drops the pages that lie wholly inside this tensor from the process (they are read
    /// again from the file if touched): used once a tensor has been copied out.
    pub fn release(&self) {
        #[cfg(unix)]
        {
            const PAGE: usize = 4096;
            let first = self.start.div_ceil(PAGE) * PAGE;
            let end = (self.start + self.len) / PAGE * PAGE;
            if end > first {
                // SAFETY: the mapping is private and never written, so dropping its pages only
                // makes the next read fault them in from the file again, with the same bytes.
                let _ = unsafe {
                    self.map
                        .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, end - first)
                };
            }
        }
    }
}

/// A quantized weight's bytes: in place in the mapped file, or held by a candle tensor (tests,
/// and tensors quantized in memory).
#[derive(Clone)]
pub enum WeightBytes {
    Mapped(MappedBytes),
    Tensor(Arc<QTensor>),
}

impl WeightBytes {
    pub fn bytes(&self) -> CResult<Cow<'_, [u8]>> {
        match self {
            WeightBytes::Mapped(m) => Ok(Cow::Borrowed(m.as_slice())),
            WeightBytes::Tensor(t) => t.data(),
        }
    }
}

/// `bytes` as a slice of `T`, checking size and alignment instead of assuming them.
fn blocks<T>(bytes: &[u8]) -> CResult<&[T]> {
    let size = std::mem::size_of::<T>();
    if size == 0
        || !bytes.len().is_multiple_of(size)
        || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        candle_core::bail!("tensor data is not a whole, aligned number of {size}-byte blocks");
    }
    // SAFETY: size and alignment checked above; `T` is a plain-old-data block (integers and
    // floats only), valid for any bit pattern.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) })
}

/// Runs `$body` with `$t` the Rust block type of `$dtype`.
macro_rules! with_block_type {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            GgmlDType::F32 => {
                type $t = f32;
                $body
            }
            GgmlDType::F16 => {
                type $t = f16;
                $body
            }
            GgmlDType::BF16 => {
                type $t = bf16;
                $body
            }
            GgmlDType::Q4_0 => {
                type $t = BlockQ4_0;
                $body
            }
            GgmlDType::Q4_1 => {
                type $t = BlockQ4_1;
                $body
            }
            GgmlDType::Q5_0 => {
                type $t = BlockQ5_0;
                $body
            }
            GgmlDType::Q5_1 => {
                type $t = BlockQ5_1;
                $body
            }
            GgmlDType::Q8_0 => {
                type $t = BlockQ8_0;
                $body
            }
            GgmlDType::Q8_1 => {
                type $t = BlockQ8_1;
                $body
            }
            GgmlDType::Q2K => {
                type $t = BlockQ2K;
                $body
            }
            GgmlDType::Q3K => {
                type $t = BlockQ3K;
                $body
            }
            GgmlDType::Q4K => {
                type $t = BlockQ4K;
                $body
            }
            GgmlDType::Q5K => {
                type $t = BlockQ5K;
                $body
            }
            GgmlDType::Q6K => {
                type $t = BlockQ6K;
                $body
            }
            GgmlDType::Q8K => {
                type $t = BlockQ8K;
                $body
            }
        }
    };
}

/// Whether candle can take `bytes` as blocks of `dtype` in place (it asserts their alignment).
pub fn aligned_for(dtype: GgmlDType, bytes: &[u8]) -> bool {
    with_block_type!(dtype, T => (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()))
}

fn rows_of<T: GgmlType>(bytes: &[u8], ids: &[u32], rows: usize, hidden: usize) -> CResult<Vec<f32>> {
    if !hidden.is_multiple_of(T::BLCK_SIZE) {
        candle_core::bail!(
            "embedding width {hidden} is not a multiple of its block size {}",
            T::BLCK_SIZE
        );
    }
    let all = blocks::<T>(bytes)?;
    let per_row = hidden / T::BLCK_SIZE;
    if all.len() != rows * per_row {
        candle_core::bail!("embedding holds {} blocks, expected {}", all.len(), rows * per_row);
    }
    let mut out = vec![0f32; ids.len() * hidden];
    for (&id, dst) in ids.iter().zip(out.chunks_exact_mut(hidden)) {
        let id = id as usize;
        if id >= rows {
            candle_core::bail!("token id {id} is outside the vocabulary of {rows}");
        }
        T::to_float(&all[id * per_row..(id + 1) * per_row], dst);
    }
    Ok(out)
}

/// Dequantizes rows `ids` of a `rows × hidden` table of `dtype` blocks.
pub fn dequantize_rows(dtype: GgmlDType, bytes: &[u8], ids: &[u32], rows: usize, hidden: usize) -> CResult<Vec<f32>> {
    with_block_type!(dtype, T => rows_of::<T>(bytes, ids, rows, hidden))
}

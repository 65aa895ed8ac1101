//! Our attention op: softmax(q·kᵀ·scale)·v read straight from the KV cache, with no copy of the
//! cache, no repeated K/V for grouped-query heads and no mask tensor: each query position sees
//! the keys from its causal (and sliding-window) range only. Query heads × positions are split
//! over candle's barrier pool, the same threads as the quantized matmuls.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use half::f16;

use crate::kernels::Out;
use crate::layers::CResult;
use parallax_core::arch::Reach;

/// What one layer's attention computes, at positions `pos..pos + seq`.
#[derive(Debug, Clone)]
pub struct Attend {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub scale: f32,
    /// `cap · tanh(score / cap)` before the softmax (Gemma 2).
    pub softcap: Option<f32>,
    /// Which earlier keys a query sees.
    pub reach: Reach,
    /// Position of the first query.
    pub pos: usize,
    /// Position of the cache view's first key (a sliding-window layer drops what no query can
    /// see any more).
    pub first: usize,
    /// One logit per query head that joins every softmax with no value behind it (GPT-OSS's
    /// attention sinks): it takes a share of the weight, so a head can attend to nothing.
    pub sinks: Option<std::sync::Arc<[f32]>>,
}

impl Attend {
    /// `q`: `(1, n_head, seq, d)`; `k`, `v`: `(1, n_kv_head, kv_len, d)` views of the cache,
    /// whose last dimension is contiguous. Returns `(1, n_head, seq, d)`.
    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> CResult<Tensor> {
        if !q.device().is_cpu() {
            #[cfg(feature = "cuda")]
            if let Some(op) = self.decode_kernel(q)? {
                return op.forward(q, k, v);
            }
            return self.forward_by_tensor_ops(q, k, v);
        }
        q.contiguous()?.apply_op3_no_bwd(k, v, self)
    }

    /// Our CUDA kernel for one query position (decode), when it takes the shape and
    /// `PARALLAX_KERNELS` is not `candle` (candle's ops alone, for comparison).
    #[cfg(feature = "cuda")]
    fn decode_kernel(&self, q: &Tensor) -> CResult<Option<crate::cuda::DecodeAttention>> {
        use crate::cuda::DecodeAttention;
        let (_, _, seq, _) = q.dims4()?;
        if !crate::cuda::ours_on(q.device()) || seq != 1 || self.sinks.is_some() {
            return Ok(None);
        }
        if !DecodeAttention::supports(self.n_head, self.n_kv_head, self.head_dim) {
            return Ok(None);
        }
        let seen = self.visible(self.pos);
        Ok(Some(DecodeAttention {
            n_head: self.n_head,
            n_kv_head: self.n_kv_head,
            head_dim: self.head_dim,
            scale: self.scale,
            softcap: self.softcap,
            first: seen.start,
            len: seen.end - seen.start,
        }))
    }

    /// The same function from candle's tensor ops, for a GPU device: the grouped-query heads
    /// of one KV head go through one batched matmul (no repeated K/V), and a mask tensor is
    /// built only when some query does not see the whole cache view.
    fn forward_by_tensor_ops(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> CResult<Tensor> {
        use candle_core::{DType, D};
        let (_, _, seq, d) = q.dims4()?;
        let (kv, g) = (self.n_kv_head, self.n_head / self.n_kv_head.max(1));
        let keys = k.dim(2)?;
        let as_f32 = |t: &Tensor| t.squeeze(0)?.to_dtype(DType::F32)?.contiguous();
        let (k, v) = (as_f32(k)?, as_f32(v)?);
        let q = q.contiguous()?.reshape((kv, g * seq, d))?;
        let mut scores = (q.matmul(&k.t()?)? * f64::from(self.scale))?.reshape((kv, g, seq, keys))?;
        if let Some(cap) = self.softcap {
            scores = ((scores / f64::from(cap))?.tanh()? * f64::from(cap))?;
        }
        let ranges: Vec<_> = (0..seq).map(|i| self.visible(self.pos + i)).collect();
        if ranges.iter().any(|r| r.start > 0 || r.end < keys) {
            let mut mask = vec![f32::NEG_INFINITY; seq * keys];
            for (i, r) in ranges.iter().enumerate() {
                mask[i * keys + r.start..i * keys + r.end.min(keys)].fill(0.0);
            }
            let mask = Tensor::from_vec(mask, (seq, keys), q.device())?;
            scores = scores.broadcast_add(&mask)?;
        }
        let probs = match &self.sinks {
            None => candle_nn::ops::softmax_last_dim(&scores)?,
            Some(sinks) => {
                let sink = Tensor::from_slice(sinks, (kv, g, 1, 1), q.device())?.broadcast_as((kv, g, seq, 1))?;
                let with = Tensor::cat(&[&scores, &sink.contiguous()?], D::Minus1)?;
                candle_nn::ops::softmax_last_dim(&with)?.narrow(D::Minus1, 0, keys)?
            }
        };
        let y = probs.reshape((kv, g * seq, keys))?.contiguous()?.matmul(&v)?;
        y.reshape((1, self.n_head, seq, d))
    }

    /// Keys query position `p` sees, as indices into the cache view (key `j` is position
    /// `first + j`).
    fn visible(&self, p: usize) -> std::ops::Range<usize> {
        let lo = self.reach.first_visible(p).max(self.first);
        lo - self.first..p + 1 - self.first
    }
}

/// An element type the KV cache may hold, with the two operations attention does on its rows.
pub(crate) trait KvElem: Copy + Send + Sync + 'static {
    fn slice(storage: &CpuStorage) -> Option<&[Self]>;
    /// `q · row`.
    fn dot(q: &[f32], row: &[Self]) -> f32;
    /// `y += w · row`.
    fn axpy(w: f32, row: &[Self], y: &mut [f32]);
    /// `y = Σ_j w[j] · row(j)`, summed over `j` in order for every element (as `axpy` from zero).
    fn weighted_sum<'r>(w: &[f32], row: impl Fn(usize) -> &'r [Self], y: &mut [f32]) {
        weighted_sum_by_axpy(w, row, y)
    }
}

/// `y = Σ_j w[j] · row(j)` as one `axpy` per row from zero: the order every path sums in.
#[inline(always)]
fn weighted_sum_by_axpy<'r, E: KvElem>(w: &[f32], row: impl Fn(usize) -> &'r [E], y: &mut [f32]) {
    y.fill(0.0);
    for (j, &wj) in w.iter().enumerate() {
        E::axpy(wj, row(j), y);
    }
}

impl KvElem for f32 {
    fn slice(storage: &CpuStorage) -> Option<&[f32]> {
        match storage {
            CpuStorage::F32(d) => Some(d),
            _ => None,
        }
    }

    #[inline(always)]
    fn dot(q: &[f32], row: &[f32]) -> f32 {
        dot(q, row)
    }

    #[inline(always)]
    fn axpy(w: f32, row: &[f32], y: &mut [f32]) {
        axpy(w, row, y)
    }
}

/// f16 rows are widened eight lanes at a time by F16C (`vcvtph2ps`) inside the dot and the
/// update, so the cache is read at half the bytes and never copied.
impl KvElem for f16 {
    fn slice(storage: &CpuStorage) -> Option<&[f16]> {
        match storage {
            CpuStorage::F16(d) => Some(d),
            _ => None,
        }
    }

    #[inline(always)]
    fn dot(q: &[f32], row: &[f16]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2_fma_f16c() {
            // SAFETY: the CPU has AVX2, FMA and F16C.
            return unsafe { x86_f16::dot(q, row) };
        }
        q.iter().zip(row).map(|(a, b)| a * b.to_f32()).sum()
    }

    #[inline(always)]
    fn axpy(w: f32, row: &[f16], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2_fma_f16c() {
            // SAFETY: as in `dot`.
            return unsafe { x86_f16::axpy(w, row, y) };
        }
        for (y, x) in y.iter_mut().zip(row) {
            *y = w.mul_add(x.to_f32(), *y);
        }
    }

    #[inline(always)]
    fn weighted_sum<'r>(w: &[f32], row: impl Fn(usize) -> &'r [f16], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2_fma_f16c() {
            // SAFETY: as in `dot`.
            return unsafe { x86_f16::weighted_sum(w, row, y) };
        }
        weighted_sum_by_axpy(w, row, y)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_f16 {
    use std::arch::x86_64::*;

    use half::f16;

    /// Widens eight f16 at `p` (unaligned).
    #[inline(always)]
    unsafe fn load8(p: *const f16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot(q: &[f32], row: &[f16]) -> f32 {
        let n = q.len().min(row.len());
        let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q.as_ptr().add(i)), load8(row.as_ptr().add(i)), a);
            b = _mm256_fmadd_ps(
                _mm256_loadu_ps(q.as_ptr().add(i + 8)),
                load8(row.as_ptr().add(i + 8)),
                b,
            );
            i += 16;
        }
        if i + 8 <= n {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q.as_ptr().add(i)), load8(row.as_ptr().add(i)), a);
            i += 8;
        }
        let s = _mm256_add_ps(a, b);
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        let mut total = _mm_cvtss_f32(s);
        for j in i..n {
            total += q[j] * row[j].to_f32();
        }
        total
    }

    /// `y = Σ_j w[j] · row(j)` with 64 columns of `y` held in eight registers while the rows go
    /// by (`axpy` per row loads and stores `y` for every key); the same sums, in the same order.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn weighted_sum<'r>(w: &[f32], row: impl Fn(usize) -> &'r [f16], y: &mut [f32]) {
        let d = y.len();
        let mut c = 0;
        while c + 64 <= d {
            let mut acc = [_mm256_setzero_ps(); 8];
            for (j, &wj) in w.iter().enumerate() {
                let r = row(j);
                assert!(r.len() >= c + 64, "a cache row shorter than the output");
                let wv = _mm256_set1_ps(wj);
                for (t, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(wv, load8(r.as_ptr().add(c + 8 * t)), *a);
                }
            }
            for (t, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(y.as_mut_ptr().add(c + 8 * t), *a);
            }
            c += 64;
        }
        if c < d {
            let tail = &mut y[c..];
            tail.fill(0.0);
            for (j, &wj) in w.iter().enumerate() {
                axpy(wj, &row(j)[c..], tail);
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn axpy(w: f32, row: &[f16], y: &mut [f32]) {
        let n = y.len().min(row.len());
        let wv = _mm256_set1_ps(w);
        let mut i = 0;
        while i + 8 <= n {
            let p = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(p, _mm256_fmadd_ps(wv, load8(row.as_ptr().add(i)), _mm256_loadu_ps(p)));
            i += 8;
        }
        for j in i..n {
            y[j] = w.mul_add(row[j].to_f32(), y[j]);
        }
    }
}

/// A cache view: element `(head, j, x)` at `start + head·head_stride + j·row_stride + x`.
struct View<'a, E> {
    data: &'a [E],
    start: usize,
    head_stride: usize,
    row_stride: usize,
    len: usize,
}

impl<'a, E: KvElem> View<'a, E> {
    fn new(storage: &'a CpuStorage, layout: &Layout, n_kv: usize, d: usize) -> CResult<Self> {
        let Some(data) = E::slice(storage) else {
            candle_core::bail!("attention: K and V must both be f32 or both f16");
        };
        let (dims, stride) = (layout.dims(), layout.stride());
        if dims.len() != 4 || dims[0] != 1 || dims[1] != n_kv || dims[3] != d || stride[3] != 1 {
            candle_core::bail!("attention: KV view {dims:?} / {stride:?}, expected (1, {n_kv}, len, {d}) rows");
        }
        let view = View {
            data,
            start: layout.start_offset(),
            head_stride: stride[1],
            row_stride: stride[2],
            len: dims[2],
        };
        let last = view.start + (n_kv - 1) * view.head_stride + view.len.saturating_sub(1) * view.row_stride + d;
        if view.len > 0 && last > data.len() {
            candle_core::bail!("attention: KV view reaches past its storage");
        }
        Ok(view)
    }

    #[inline(always)]
    fn row(&self, head: usize, j: usize, d: usize) -> &'a [E] {
        let at = self.start + head * self.head_stride + j * self.row_stride;
        &self.data[at..at + d]
    }
}

impl CustomOp3 for Attend {
    fn name(&self) -> &'static str {
        "parallax-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let d = self.head_dim;
        let (CpuStorage::F32(q_all), Some((q0, q1))) = (qs, ql.contiguous_offsets()) else {
            candle_core::bail!("attention: q must be contiguous f32");
        };
        let q = &q_all[q0..q1];
        let dims = ql.dims();
        if dims.len() != 4
            || dims[1] != self.n_head
            || dims[3] != d
            || self.n_kv_head == 0
            || !self.n_head.is_multiple_of(self.n_kv_head)
        {
            candle_core::bail!("attention: q is {dims:?}, expected (1, {}, seq, {d})", self.n_head);
        }
        let seq = dims[2];
        let y = match (ks, vs) {
            (CpuStorage::F16(_), CpuStorage::F16(_)) => self.attend::<f16>(q, seq, (ks, kl), (vs, vl))?,
            _ => self.attend::<f32>(q, seq, (ks, kl), (vs, vl))?,
        };
        Ok((CpuStorage::F32(y), Shape::from((1, self.n_head, seq, d))))
    }
}

type Cached<'a> = (&'a CpuStorage, &'a Layout);

impl Attend {
    /// Every query of `q` (`n_head × seq × d`) against the cached K and V of element type `E`.
    fn attend<E: KvElem>(&self, q: &[f32], seq: usize, (ks, kl): Cached, (vs, vl): Cached) -> CResult<Vec<f32>> {
        let d = self.head_dim;
        let k = View::<E>::new(ks, kl, self.n_kv_head, d)?;
        let v = View::<E>::new(vs, vl, self.n_kv_head, d)?;
        if v.len != k.len || self.pos + seq > self.first + k.len || self.first > self.reach.first_visible(self.pos) {
            candle_core::bail!(
                "attention: {} keys, {} values from position {} for queries {}..{}",
                k.len,
                v.len,
                self.first,
                self.pos,
                self.pos + seq
            );
        }
        let n_rep = self.n_head / self.n_kv_head;
        let mut y = vec![0f32; self.n_head * seq * d];
        let out = Out(y.as_mut_ptr());
        let run = |items: std::ops::Range<usize>| {
            let out = &out;
            let mut scores = Vec::with_capacity(k.len);
            for item in items {
                let (h, i) = (item / seq, item % seq);
                let query = &q[item * d..(item + 1) * d];
                // SAFETY: row `item` of `y` belongs to this item only.
                let row = unsafe { std::slice::from_raw_parts_mut(out.0.add(item * d), d) };
                let query = Query {
                    q: query,
                    k: &k,
                    v: &v,
                    kv_head: h / n_rep,
                    sink: self.sinks.as_ref().map(|s| s[h]),
                    p: self.pos + i,
                };
                self.one_query(query, &mut scores, row);
            }
        };
        let items = self.n_head * seq;
        let work = items * k.len.min(self.pos + seq - self.first);
        if work >= 4096 {
            candle_core::utils::barrier_pool().execute_chunked(items, run);
        } else {
            run(0..items);
        }
        Ok(y)
    }
}

/// One query's inputs and output.
struct Query<'a, 'b, E> {
    q: &'a [f32],
    k: &'a View<'b, E>,
    v: &'a View<'b, E>,
    kv_head: usize,
    sink: Option<f32>,
    p: usize,
}

impl Attend {
    fn one_query<E: KvElem>(&self, query: Query<E>, scores: &mut Vec<f32>, y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2_fma_f16c() {
            // SAFETY: the CPU has the features the copy is compiled for (AVX2, FMA, F16C).
            return unsafe { self.one_query_avx2(query, scores, y) };
        }
        self.one_query_portable(query, scores, y)
    }

    /// The same code compiled for AVX2 + FMA + F16C (eight-lane sums and fused multiply-adds;
    /// with F16C in the set, the f16 row dot and update inline into the loop over the keys).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn one_query_avx2<E: KvElem>(&self, query: Query<E>, scores: &mut Vec<f32>, y: &mut [f32]) {
        self.one_query_portable(query, scores, y)
    }

    #[inline(always)]
    fn one_query_portable<E: KvElem>(
        &self,
        Query {
            q: query,
            k,
            v,
            kv_head,
            sink,
            p,
        }: Query<E>,
        scores: &mut Vec<f32>,
        y: &mut [f32],
    ) {
        let d = self.head_dim;
        let keys = self.visible(p);
        scores.clear();
        let mut max = f32::NEG_INFINITY;
        for j in keys.clone() {
            let mut s = E::dot(query, k.row(kv_head, j, d)) * self.scale;
            if let Some(cap) = self.softcap {
                s = (s / cap).tanh() * cap;
            }
            max = max.max(s);
            scores.push(s);
        }
        if let Some(sink) = sink {
            max = max.max(sink);
        }
        let mut total = 0f32;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        if let Some(sink) = sink {
            // As llama.cpp's softmax with sinks: the sink joins the sum after the keys.
            total += (sink - max).exp();
        }
        for s in scores.iter_mut() {
            *s /= total;
        }
        let first = keys.start;
        E::weighted_sum(scores, |j| v.row(kv_head, first + j, d), y);
    }
}

/// `a · b` in eight independent lanes (so it vectorises), the lanes added pairwise at the end.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    let half: [f32; 4] = std::array::from_fn(|l| lanes[l] + lanes[l + 4]);
    (half[0] + half[2]) + (half[1] + half[3]) + tail
}

/// `y += w · x`.
#[inline(always)]
fn axpy(w: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = w.mul_add(x, *y);
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use half::f16;

    use super::Attend;
    use crate::kernels::tests::values;
    use parallax_core::arch::Reach;

    /// The textbook formula, one query at a time, in f64.
    fn reference(a: &Attend, q: &[f32], k: &[f32], v: &[f32], seq: usize, cap: usize) -> Vec<f32> {
        let d = a.head_dim;
        let mut y = vec![0f32; a.n_head * seq * d];
        for h in 0..a.n_head {
            let kv = h / (a.n_head / a.n_kv_head);
            for i in 0..seq {
                let p = a.pos + i;
                let qi = &q[(h * seq + i) * d..][..d];
                let keys: Vec<usize> = (0..=p)
                    .filter(|&j| match a.reach {
                        Reach::All => true,
                        Reach::Window(w) => p - j < w,
                        Reach::Chunk(c) => j / c == p / c,
                    })
                    .collect();
                let scores: Vec<f64> = keys
                    .iter()
                    .map(|&j| {
                        let kj = &k[(kv * cap + j) * d..][..d];
                        let s = qi.iter().zip(kj).map(|(x, y)| (x * y) as f64).sum::<f64>() * a.scale as f64;
                        a.softcap.map_or(s, |c| (s / c as f64).tanh() * c as f64)
                    })
                    .collect();
                let sink = a.sinks.as_ref().map(|s| s[h] as f64);
                let max = scores.iter().cloned().chain(sink).fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = w.iter().sum::<f64>() + sink.map_or(0.0, |s| (s - max).exp());
                for (x, out) in y[(h * seq + i) * d..][..d].iter_mut().enumerate() {
                    *out = keys
                        .iter()
                        .zip(&w)
                        .map(|(&j, w)| w / total * v[(kv * cap + j) * d + x] as f64)
                        .sum::<f64>() as f32;
                }
            }
        }
        y
    }

    #[test]
    fn equals_the_textbook_formula_with_gqa_windows_chunks_softcap_sinks_and_a_cache_view() {
        let dev = Device::Cpu;
        let (n_head, n_kv_head, cap) = (4, 2, 64);
        // 28: narrower than one register block of the f16 weighted sum; 72: one block and a tail.
        // (pos, seq, reach, softcap, first, sinks): the fourth case's view starts at the
        // window; then sinks; the last ones attend within chunks of 8 (queries 20..27 span
        // two chunks; the view starts at the first one's chunk).
        let sinks: std::sync::Arc<[f32]> = vec![-1.0, 0.5, 2.0, 8.0].into();
        let cases = [
            (0, 9, Reach::All, None, 0, None),
            (30, 1, Reach::All, None, 0, None),
            (20, 7, Reach::Window(5), Some(3.0), 0, None),
            (20, 7, Reach::Window(5), None, 16, None),
            (0, 9, Reach::All, None, 0, Some(sinks.clone())),
            (20, 7, Reach::Window(5), None, 16, Some(sinks)),
            (20, 7, Reach::Chunk(8), None, 0, None),
            (20, 7, Reach::Chunk(8), None, 16, None),
        ];
        for (d, (pos, seq, reach, softcap, first, sinks)) in
            [28, 72].into_iter().flat_map(|d| cases.clone().map(|c| (d, c)))
        {
            let a = Attend {
                n_head,
                n_kv_head,
                head_dim: d,
                scale: 0.3,
                softcap,
                reach,
                pos,
                first,
                sinks,
            };
            let q = values(n_head * seq * d, 1 + pos as u64);
            let qt = Tensor::from_vec(q.clone(), (1, n_head, seq, d), &dev).unwrap();
            // An f16 cache is compared with the formula on the f16-rounded keys and values.
            for dtype in [DType::F32, DType::F16] {
                let rounded = |x: Vec<f32>| match dtype {
                    DType::F16 => x.into_iter().map(|v| f16::from_f32(v).to_f32()).collect(),
                    _ => x,
                };
                let (k, v) = (
                    rounded(values(n_kv_head * cap * d, 2)),
                    rounded(values(n_kv_head * cap * d, 3)),
                );
                let cache = |x: &[f32]| {
                    Tensor::from_vec(x.to_vec(), (1, n_kv_head, cap, d), &dev)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap()
                };
                let (kt, vt) = (cache(&k), cache(&v));
                // The cache holds `cap` rows; attention sees a narrowed view of positions
                // first..pos + seq.
                let len = pos + seq - first;
                let (kv, vv) = (kt.narrow(2, first, len).unwrap(), vt.narrow(2, first, len).unwrap());
                let want = reference(&a, &q, &k, &v, seq, cap);
                // Our CPU op, and the tensor-op form a GPU device runs (here on the CPU).
                for (path, y) in [
                    ("op", a.forward(&qt, &kv, &vv)),
                    ("tensor ops", a.forward_by_tensor_ops(&qt, &kv, &vv)),
                ] {
                    let got: Vec<f32> = y.unwrap().flatten_all().unwrap().to_vec1().unwrap();
                    let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
                    assert!(
                        worst < 1e-5,
                        "{path} {dtype:?} d {d} pos {pos} seq {seq}: max error {worst}"
                    );
                }
            }
        }
        let d = 28;
        let a = Attend {
            n_head,
            n_kv_head,
            head_dim: d,
            scale: 1.0,
            softcap: None,
            reach: Reach::All,
            pos: 10,
            first: 0,
            sinks: None,
        };
        let q = Tensor::zeros((1, n_head, 2, d), DType::F32, &dev).unwrap();
        let short = Tensor::zeros((1, n_kv_head, 11, d), DType::F32, &dev).unwrap();
        assert!(
            a.forward(&q, &short, &short).is_err(),
            "positions past the cache are an error"
        );
        let long = Tensor::zeros((1, n_kv_head, 12, d), DType::F32, &dev).unwrap();
        let long_f16 = Tensor::zeros((1, n_kv_head, 12, d), DType::F16, &dev).unwrap();
        assert!(
            a.forward(&q, &long, &long_f16).is_err(),
            "K and V of different types are an error"
        );
        let dropped = Attend { first: 1, ..a };
        assert!(
            dropped.forward(&q, &short, &short).is_err(),
            "a view without keys a query sees is an error"
        );
    }
}

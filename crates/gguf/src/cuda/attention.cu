// Decode attention on an NVIDIA GPU: one query position per head against its visible keys, read
// in place from the KV cache (f16 or f32), split over key chunks (flash-decoding):
//   attn_chunk_*  one block per (KV head, chunk of keys): the scores of every query head that
//                 shares the KV head, the chunk's max and exp-sum, and the unnormalised
//                 Σ exp(s − m)·v; K and V rows are read once for the whole group;
//   attn_combine  one block per query head: the chunks merged by their maxima, then normalised.
// Compiled to PTX by the crate's build script (nvcc) when the `cuda` feature is on.

#include <cuda_fp16.h>

#define CHUNK_MAX 256
#define G_MAX 16
#define D_MAX 256
#define WARPS 4

__device__ __forceinline__ float widen(float x) { return x; }
__device__ __forceinline__ float widen(__half x) { return __half2float(x); }

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

__device__ __forceinline__ float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

// q: (n_head, d) f32. k, v: the first visible key of KV head 0; KV head h starts `head_stride`
// elements further, rows are `d` apart. `len` keys are visible, `chunk_len` per block (≤ CHUNK_MAX).
// part_acc: (n_head, n_chunks, d); part_ml: (n_head, n_chunks, 2) = (max, exp-sum).
template <typename T>
__device__ void attend_chunk(const float* q, const T* k, const T* v, float* part_acc, float* part_ml,
                             int d, int g, int len, int chunk_len, long long head_stride, float scale,
                             float softcap) {
    __shared__ float qs[G_MAX * D_MAX];
    __shared__ float s[G_MAX * CHUNK_MAX];
    const int kvh = blockIdx.x, chunk = blockIdx.y, n_chunks = gridDim.y;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int j0 = chunk * chunk_len;
    const int n = min(len - j0, chunk_len);
    const T* kh = k + kvh * head_stride;
    const T* vh = v + kvh * head_stride;
    for (int i = tid; i < g * d; i += blockDim.x) qs[i] = q[(long long)kvh * g * d + i];
    __syncthreads();

    const int per_lane = d / 32;
    for (int j = warp; j < n; j += WARPS) {
        const T* row = kh + (long long)(j0 + j) * d;
        float kr[D_MAX / 32];
        for (int e = 0; e < per_lane; e++) kr[e] = widen(row[lane + 32 * e]);
        for (int h = 0; h < g; h++) {
            float dot = 0.f;
            for (int e = 0; e < per_lane; e++) dot += qs[h * d + lane + 32 * e] * kr[e];
            dot = warp_sum(dot) * scale;
            if (softcap > 0.f) dot = softcap * tanhf(dot / softcap);
            if (lane == 0) s[h * CHUNK_MAX + j] = dot;
        }
    }
    __syncthreads();

    for (int h = warp; h < g; h += WARPS) {
        float m = -INFINITY;
        for (int j = lane; j < n; j += 32) m = fmaxf(m, s[h * CHUNK_MAX + j]);
        m = warp_max(m);
        float l = 0.f;
        for (int j = lane; j < n; j += 32) {
            const float p = expf(s[h * CHUNK_MAX + j] - m);
            s[h * CHUNK_MAX + j] = p;
            l += p;
        }
        l = warp_sum(l);
        if (lane == 0) {
            const long long o = ((long long)(kvh * g + h) * n_chunks + chunk) * 2;
            part_ml[o] = m;
            part_ml[o + 1] = l;
        }
    }
    __syncthreads();

    for (int e = tid; e < d; e += blockDim.x) {
        float acc[G_MAX];
        for (int h = 0; h < G_MAX; h++) acc[h] = 0.f;
        for (int j = 0; j < n; j++) {
            const float x = widen(vh[(long long)(j0 + j) * d + e]);
            for (int h = 0; h < G_MAX; h++)
                if (h < g) acc[h] += s[h * CHUNK_MAX + j] * x;
        }
        for (int h = 0; h < g; h++)
            part_acc[((long long)(kvh * g + h) * n_chunks + chunk) * d + e] = acc[h];
    }
}

extern "C" __global__ void attn_chunk_f16(const float* q, const __half* k, const __half* v, float* part_acc,
                                          float* part_ml, int d, int g, int len, int chunk_len,
                                          long long head_stride, float scale, float softcap) {
    attend_chunk<__half>(q, k, v, part_acc, part_ml, d, g, len, chunk_len, head_stride, scale, softcap);
}

extern "C" __global__ void attn_chunk_f32(const float* q, const float* k, const float* v, float* part_acc,
                                          float* part_ml, int d, int g, int len, int chunk_len,
                                          long long head_stride, float scale, float softcap) {
    attend_chunk<float>(q, k, v, part_acc, part_ml, d, g, len, chunk_len, head_stride, scale, softcap);
}

// out: (n_head, d) f32.
extern "C" __global__ void attn_combine(const float* part_acc, const float* part_ml, float* out, int d,
                                        int n_chunks) {
    const int h = blockIdx.x;
    const float* ml = part_ml + (long long)h * n_chunks * 2;
    float m = -INFINITY;
    for (int c = 0; c < n_chunks; c++) m = fmaxf(m, ml[2 * c]);
    float l = 0.f;
    for (int c = 0; c < n_chunks; c++) l += ml[2 * c + 1] * expf(ml[2 * c] - m);
    for (int e = threadIdx.x; e < d; e += blockDim.x) {
        float acc = 0.f;
        for (int c = 0; c < n_chunks; c++)
            acc += part_acc[((long long)h * n_chunks + c) * d + e] * expf(ml[2 * c] - m);
        out[(long long)h * d + e] = acc / l;
    }
}

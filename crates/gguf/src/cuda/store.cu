// Rows of new keys or values (f32, (heads, rows, d), contiguous) written into the KV cache at its
// element type, in place: one launch where candle's ops take a cast and a copy.

#include <cuda_fp16.h>

__device__ __forceinline__ void put(__half* p, float x) { *p = __float2half(x); }
__device__ __forceinline__ void put(float* p, float x) { *p = x; }

// dst: the cache's first new row of head 0; head h starts `head_stride` elements further.
template <typename T>
__device__ void store_rows(const float* src, T* dst, int heads, int rows, int d, long long head_stride) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long per_head = (long long)rows * d;
    if (i >= heads * per_head) return;
    const long long h = i / per_head, at = i % per_head;
    put(dst + h * head_stride + at, src[i]);
}

extern "C" __global__ void kv_store_f16(const float* src, __half* dst, int heads, int rows, int d,
                                        long long head_stride) {
    store_rows<__half>(src, dst, heads, rows, d, head_stride);
}

extern "C" __global__ void kv_store_f32(const float* src, float* dst, int heads, int rows, int d,
                                        long long head_stride) {
    store_rows<float>(src, dst, heads, rows, d, head_stride);
}

// silu(gate) · up in one launch (candle's ops take two), with candle's formula x / (1 + e^−x).

extern "C" __global__ void silu_mul(const float* gate, const float* up, float* out, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = gate[i];
    out[i] = g / (1.f + expf(-g)) * up[i];
}

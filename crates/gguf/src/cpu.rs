//! What the CPU runs, probed once per process: every SIMD path in the engine asks here before
//! it is taken, and each has a scalar fallback.

use std::sync::OnceLock;

/// AVX2, FMA and F16C: the base of our x86 kernels and of the f16 attention.
pub fn has_avx2_fma_f16c() -> bool {
    static YES: OnceLock<bool> = OnceLock::new();
    *YES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// AVX-512 VNNI with the VL and BW extensions (the 256-bit `vpdpbusd` and EVEX-encoded byte
/// ops): Zen 4 and Sapphire Rapids have it, Zen 3 does not. AMX is never assumed: it may be
/// listed where a VM does not let it run.
pub fn has_avx512_vnni() -> bool {
    static YES: OnceLock<bool> = OnceLock::new();
    *YES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

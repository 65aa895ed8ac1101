/* Force-included before every mlx-c source and before bindgen parses the headers.
 *
 * mlx-c 0.7.0 declares float16_t / bfloat16_t only on aarch64 (mlx/c/half.h), but mlx-rs calls
 * mlx_array_*_float16 and mlx_array_*_bfloat16 on every target. Elsewhere we provide the types:
 * 16-bit storage for the C++ compile (the C ABI only passes pointers and 16-bit values), and
 * `__fp16` for bindgen so the bindings read `float16_t = __BindgenFloat16`, `bfloat16_t = u16`,
 * exactly as mlx-rs expects. */
#ifndef PARALLAX_MLX_SYS_PRELUDE_H
#define PARALLAX_MLX_SYS_PRELUDE_H

#if !defined(__aarch64__) && !defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC)
#include <stdint.h>
#define HAS_FLOAT16
#define HAS_BFLOAT16
#if defined(PARALLAX_MLX_BINDGEN)
typedef __fp16 float16_t;
#else
typedef uint16_t float16_t;
#endif
typedef uint16_t bfloat16_t;
#endif

/* GCC 12's libstdc++ has no <format>; mlx-c's private/io.h uses std::format for messages. */
#if defined(__cplusplus) && !defined(PARALLAX_MLX_BINDGEN) && !__has_include(<format>)
#include "format_fallback.hpp"
#endif

#endif

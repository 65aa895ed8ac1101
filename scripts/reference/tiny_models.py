#!/usr/bin/env python3
"""Writes one tiny random-weight model per family, three times: as an HF directory (config.json +
model.safetensors, HF layout, as transformers/mlx-lm expect) and as a GGUF with the real
tokenizer of a llama.cpp test vocabulary (models/llama.cpp/ggml-vocab-*.gguf), converted the
way llama.cpp's convert_hf_to_gguf.py converts (Q/K rows permuted for the llama family, Gemma
norms stored as 1 + w, llama3 RoPE written as `rope_freqs`), and as an MLX 4-bit directory
that mlx-lm's own `quantize_model` makes from the HF one (`<family>-mlx-q4/`).

Deterministic: a fixed seed per family, so every machine writes the same bytes (the fixtures
record each file's sha256 and the tests check it). Weights are F32, scaled so the logits are
peaky (greedy decoding stays stable under float-order differences).

Usage: .venv/bin/python scripts/reference/tiny_models.py [--out models/tiny]
"""
import argparse
import hashlib
import json
import math
import pathlib

import gguf
import numpy as np
from safetensors.numpy import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCABS = ROOT / "models" / "llama.cpp"

# hidden 64, 2 layers; each family adds what makes it itself.
BASE = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=4096)
FAMILIES = {
    "llama3": dict(vocab="llama-bpe", model_type="llama", arch="llama", seed=1, rope_theta=500000.0,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=64), tie=True),
    "mistral": dict(vocab="llama-spm", model_type="mistral", arch="llama", seed=2, sliding_window=4096, tie=False),
    "qwen2": dict(vocab="qwen2", model_type="qwen2", arch="qwen2", seed=3, rope_theta=1000000.0, rms_norm_eps=1e-6,
                  tie=True, qkv_bias=True),
    "qwen3": dict(vocab="qwen2", model_type="qwen3", arch="qwen3", seed=4, rope_theta=1000000.0, rms_norm_eps=1e-6,
                  head_dim=32, tie=True, qk_norm=True),
    "phi3": dict(vocab="phi-3", model_type="phi3", arch="phi3", seed=5, num_key_value_heads=4,
                 partial_rotary_factor=0.75, tie=False, fused=True),
    "gemma2": dict(vocab="llama-spm", model_type="gemma2", arch="gemma2", seed=6, rms_norm_eps=1e-6, head_dim=16,
                   query_pre_attn_scalar=16, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                   sliding_window=4096, tie=True, sandwich=True),
    # Long-context RoPE over a small original context, so the scaling reaches every prompt.
    "qwen2-yarn": dict(vocab="qwen2", model_type="qwen2", arch="qwen2", seed=7, rope_theta=1000000.0,
                       rms_norm_eps=1e-6, tie=True, qkv_bias=True,
                       rope_scaling=dict(type="yarn", rope_type="yarn", factor=4.0,
                                         original_max_position_embeddings=64)),
    # Mixture of experts. Router weights at scale 1 spread the router logits (std ~8), so the
    # chosen experts are clear-cut and float-order differences cannot flip them.
    "mixtral": dict(vocab="llama-spm", model_type="mixtral", arch="llama", seed=9, rope_theta=1000000.0, tie=False,
                    moe=dict(experts=8, used=2, ff=128, norm=True, block="block_sparse_moe",
                             parts=("w1", "w3", "w2"), count_key="num_local_experts",
                             ff_key="intermediate_size")),
    "qwen3moe": dict(vocab="qwen2", model_type="qwen3_moe", arch="qwen3moe", seed=10, rope_theta=1000000.0,
                     rms_norm_eps=1e-6, head_dim=32, tie=True, qk_norm=True,
                     moe=dict(experts=16, used=4, ff=32, norm=True, block="mlp",
                              parts=("gate_proj", "up_proj", "down_proj"), count_key="num_experts",
                              ff_key="moe_intermediate_size")),
    # GPT-OSS: biased attention with per-head sinks, every other layer a sliding window (4 here, so
    # the prompts reach past it), YaRN, biased top-4 experts with the clamped SwiGLU. Its HF
    # directory is in mlx-lm's layout (experts stacked under `mlp.experts`).
    "gpt-oss": dict(vocab="llama-bpe", model_type="gpt_oss", arch="gpt-oss", seed=11, rope_theta=150000.0,
                    head_dim=16, tie=False, qkv_bias=True, attn_out_bias=True, sinks=True, sliding_window=4,
                    hf_stacked=True, ffn_norm_gguf="post_attention_norm",
                    layer_types=["sliding_attention", "full_attention"],
                    rope_scaling=dict(type="yarn", rope_type="yarn", factor=4.0, original_max_position_embeddings=64),
                    moe=dict(experts=8, used=4, ff=64, norm=True, block="mlp", router="router", biases=True,
                             parts=("gate_proj", "up_proj", "down_proj"), count_key="num_local_experts",
                             ff_key="intermediate_size")),
    # Llama 4 (text): 4 layers, so layer 3 is the global NoPE one; experts on every other layer
    # (Maverick's interleave) with a shared expert, top-1 by sigmoid; llama3 RoPE scaling; the
    # chunk is llama.cpp's fixed 8192, so a long prompt reaches past it. Its HF directory is in
    # Meta's layout: `language_model.` names, a `text_config`, fused transposed expert matrices.
    "llama4": dict(vocab="llama-bpe", model_type="llama4", arch="llama4", seed=12, rope_theta=500000.0,
                   num_hidden_layers=4, head_dim=16, tie=False, max_position_embeddings=16384,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=64),
                   ffn="feed_forward", intermediate_size_mlp=128, interleave_moe_layer_step=2,
                   attention_chunk_size=8192, use_qk_norm=True, llama4_layout=True,
                   moe=dict(experts=8, used=1, ff=64, norm=False, block="feed_forward", router="router",
                            shared="shared_expert", parts=("gate_proj", "up_proj", "down_proj"),
                            count_key="num_local_experts", ff_key="intermediate_size")),
    "phi3-longrope": dict(vocab="phi-3", model_type="phi3", arch="phi3", seed=8, num_key_value_heads=4,
                          partial_rotary_factor=0.75, tie=False, fused=True, original_max_position_embeddings=64,
                          rope_scaling=dict(type="longrope", long_factor=[1.0, 1.5, 2.5, 4.0, 8.0, 16.0],
                                            short_factor=[1.0, 1.0, 1.1, 1.2, 1.4, 1.6])),
}


def hf_tensors(c, rng, vocab):
    """Random HF-layout weights. Embedding rows ~N(0, 1): with tied output that makes logits
    of std ~8, i.e. a clear top token."""
    h, ff, nh, nkv = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim", h // nh)
    f = lambda *shape, s=1.0: (rng.standard_normal(shape) * s).astype(np.float32)
    norm = lambda n: (f(n, s=0.1) if c.get("sandwich") else 1.0 + f(n, s=0.1))  # Gemma stores offsets from 1
    t = {"model.embed_tokens.weight": f(vocab, h), "model.norm.weight": norm(h)}
    if not c["tie"]:
        t["lm_head.weight"] = f(vocab, h, s=1.0)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s_in, s_o = 1 / math.sqrt(h), 1 / math.sqrt(nh * hd)
        if c.get("fused"):
            t[p + "self_attn.qkv_proj.weight"] = f((nh + 2 * nkv) * hd, h, s=s_in)
            t[p + "mlp.gate_up_proj.weight"] = f(2 * ff, h, s=s_in)
        else:
            t[p + "self_attn.q_proj.weight"] = f(nh * hd, h, s=s_in)
            t[p + "self_attn.k_proj.weight"] = f(nkv * hd, h, s=s_in)
            t[p + "self_attn.v_proj.weight"] = f(nkv * hd, h, s=s_in)
        ffn = c.get("ffn", "mlp")
        if is_moe_layer(c, i):
            m = c["moe"]
            b = p + m["block"] + "."
            if m.get("shared"):
                sh = b + m["shared"] + "."
                t[sh + "gate_proj.weight"] = f(m["ff"], h, s=s_in)
                t[sh + "up_proj.weight"] = f(m["ff"], h, s=s_in)
                t[sh + "down_proj.weight"] = f(h, m["ff"], s=1 / math.sqrt(m["ff"]))
            router = b + m.get("router", "gate")
            t[router + ".weight"] = f(m["experts"], h, s=1.0)
            if m.get("biases"):
                t[router + ".bias"] = f(m["experts"], s=0.5)
            for e in range(m["experts"]):
                gate, up, down = (f"{b}experts.{e}.{n}" for n in m["parts"])
                t[gate + ".weight"] = f(m["ff"], h, s=s_in)
                t[up + ".weight"] = f(m["ff"], h, s=s_in)
                t[down + ".weight"] = f(h, m["ff"], s=1 / math.sqrt(m["ff"]))
                if m.get("biases"):
                    t[gate + ".bias"] = f(m["ff"], s=0.5)
                    t[up + ".bias"] = f(m["ff"], s=0.5)
                    t[down + ".bias"] = f(h, s=0.5)
        elif not c.get("fused"):
            ff = c.get("intermediate_size_mlp", ff)
            t[p + f"{ffn}.gate_proj.weight"] = f(ff, h, s=s_in)
            t[p + f"{ffn}.up_proj.weight"] = f(ff, h, s=s_in)
        if c.get("qkv_bias"):
            t[p + "self_attn.q_proj.bias"] = f(nh * hd, s=0.5)
            t[p + "self_attn.k_proj.bias"] = f(nkv * hd, s=0.5)
            t[p + "self_attn.v_proj.bias"] = f(nkv * hd, s=0.5)
        if c.get("qk_norm"):
            t[p + "self_attn.q_norm.weight"] = 1.0 + f(hd, s=0.1)
            t[p + "self_attn.k_norm.weight"] = 1.0 + f(hd, s=0.1)
        t[p + "self_attn.o_proj.weight"] = f(h, nh * hd, s=s_o)
        if c.get("attn_out_bias"):
            t[p + "self_attn.o_proj.bias"] = f(h, s=0.5)
        if c.get("sinks"):
            t[p + "self_attn.sinks"] = f(nh, s=1.0)
        if not is_moe_layer(c, i):
            t[p + f"{ffn}.down_proj.weight"] = f(h, ff, s=1 / math.sqrt(ff))
        t[p + "input_layernorm.weight"] = norm(h)
        t[p + "post_attention_layernorm.weight"] = norm(h)
        if c.get("sandwich"):
            t[p + "pre_feedforward_layernorm.weight"] = norm(h)
            t[p + "post_feedforward_layernorm.weight"] = norm(h)
    return t


def is_moe_layer(c, i):
    """Every `interleave_moe_layer_step`-th layer has experts (1-based, as llama.cpp counts)."""
    return bool(c.get("moe")) and (i + 1) % c.get("interleave_moe_layer_step", 1) == 0


def llama4_layout(tensors):
    """Meta's Llama 4 checkpoint layout: everything under `language_model.`, each MoE layer's
    experts as one `gate_up_proj` [experts, hidden, 2·ff] and one `down_proj` [experts, ff,
    hidden] (transposed against HF's usual [out, in])."""
    out, experts = {}, {}
    for k, v in tensors.items():
        if ".experts." in k:
            experts[k] = v
        else:
            out["language_model." + k] = v
    layers = sorted({k.split(".")[2] for k in experts}, key=int)
    for i in layers:
        b = f"model.layers.{i}.feed_forward.experts."
        n = len({k[len(b):].split(".")[0] for k in experts if k.startswith(b)})
        gate = np.stack([experts[f"{b}{e}.gate_proj.weight"] for e in range(n)]).swapaxes(1, 2)
        up = np.stack([experts[f"{b}{e}.up_proj.weight"] for e in range(n)]).swapaxes(1, 2)
        down = np.stack([experts[f"{b}{e}.down_proj.weight"] for e in range(n)]).swapaxes(1, 2)
        out[f"language_model.{b}gate_up_proj"] = np.ascontiguousarray(np.concatenate([gate, up], axis=2))
        out[f"language_model.{b}down_proj"] = np.ascontiguousarray(down)
    return out


def hf_config(name, c, vocab, bos, eos):
    keys = ["hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "num_key_value_heads",
            "rms_norm_eps", "rope_theta", "max_position_embeddings", "head_dim", "rope_scaling", "sliding_window",
            "partial_rotary_factor", "query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
            "original_max_position_embeddings", "layer_types"]
    cfg = {k: c[k] for k in keys if k in c}
    cfg.update(model_type=c["model_type"], vocab_size=vocab, tie_word_embeddings=c["tie"], bos_token_id=bos,
               eos_token_id=eos, torch_dtype="float32")
    if c["model_type"] == "gemma2":
        cfg["hidden_activation"] = "gelu_pytorch_tanh"
    if c.get("moe"):
        m = c["moe"]
        cfg.update({m["count_key"]: m["experts"], m["ff_key"]: m["ff"], "num_experts_per_tok": m["used"],
                    "norm_topk_prob": m["norm"]})
        if c["model_type"] == "qwen3_moe":
            cfg.update(decoder_sparse_step=1, mlp_only_layers=[])
    if c["model_type"] == "llama4":
        cfg.update(intermediate_size=c["moe"]["ff"], attention_bias=False)
        for k in ("intermediate_size_mlp", "interleave_moe_layer_step", "attention_chunk_size", "use_qk_norm"):
            cfg[k] = c[k]
        text = {**cfg, "model_type": "llama4_text"}
        return dict(model_type="llama4", architectures=["Llama4ForConditionalGeneration"], text_config=text,
                    tie_word_embeddings=c["tie"], bos_token_id=bos, eos_token_id=eos, torch_dtype="float32")
    return cfg


# ------------------------------------------------------------------ HF → GGUF, as llama.cpp converts

LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
    "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
    "feed_forward.gate_proj": "ffn_gate", "feed_forward.up_proj": "ffn_up", "feed_forward.down_proj": "ffn_down",
    "feed_forward.shared_expert.gate_proj": "ffn_gate_shexp", "feed_forward.shared_expert.up_proj": "ffn_up_shexp",
    "feed_forward.shared_expert.down_proj": "ffn_down_shexp",
}


def gguf_name(hf, sandwich, moe=None, ffn_norm="ffn_norm"):
    top = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    if hf.endswith(".self_attn.sinks"):
        return f"blk.{hf.split('.')[2]}.attn_sinks.weight"
    module, suffix = hf.rsplit(".", 1)
    if module in top:
        return f"{top[module]}.{suffix}"
    _, _, layer, part = module.split(".", 3)
    if moe and part == moe["block"] + "." + moe.get("router", "gate"):
        return f"blk.{layer}.ffn_gate_inp.{suffix}"
    if part == "post_attention_layernorm" and not sandwich:
        return f"blk.{layer}.{ffn_norm}.{suffix}"
    if moe and part.startswith(moe["block"] + ".experts."):
        # The older per-expert layout: blk.N.ffn_gate.E
        _, e, name = part[len(moe["block"]) + 1:].split(".")
        g = ("ffn_gate", "ffn_up", "ffn_down")[moe["parts"].index(name)]
        return f"blk.{layer}.{g}.{e}.{suffix}"
    if part == "post_attention_layernorm":
        g = "post_attention_norm" if sandwich else "ffn_norm"
    else:
        g = LAYER_NAMES[part]
    return f"blk.{layer}.{g}.{suffix}"


def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: HF split-halves rows → interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_freqs(c, hd):
    s = c["rope_scaling"]
    base, factor, low, high = c["rope_theta"], s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old = s["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_rope_scaling(w, c, hd):
    """RoPE scaling as convert_hf_to_gguf.py writes it: llama3 as `rope_freqs`, YaRN as
    `rope.scaling.*` keys, Phi-3 LongRoPE as `rope_factors_long/short` plus its attention factor."""
    s = c.get("rope_scaling")
    if s is None:
        return
    kind = s.get("rope_type", s.get("type"))
    if kind == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_freqs(c, hd))
    elif kind == "yarn":
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(s["factor"])
        w.add_rope_scaling_orig_ctx_len(s["original_max_position_embeddings"])
    elif kind == "longrope":
        original, context = c["original_max_position_embeddings"], c["max_position_embeddings"]
        w.add_rope_scaling_orig_ctx_len(original)
        w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(context / original) / math.log(original)))
        w.add_tensor("rope_factors_long.weight", np.array(s["long_factor"], dtype=np.float32))
        w.add_tensor("rope_factors_short.weight", np.array(s["short_factor"], dtype=np.float32))
    else:
        raise ValueError(f"tiny models do not write RoPE scaling {kind!r}")


def copy_tokenizer(reader, writer):
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, field.contents(), vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(name, field.contents(), vtype)


def stack_experts(c, tensors):
    """convert_hf_to_gguf.py stacks each layer's experts: blk.N.ffn_{gate,up,down}_exps, expert
    first in numpy order (last in ggml's)."""
    m = c["moe"]
    out = {k: v for k, v in tensors.items() if ".experts." not in k}
    for i in filter(lambda i: is_moe_layer(c, i), range(c["num_hidden_layers"])):
        b = f"model.layers.{i}.{m['block']}."
        for name, g in zip(m["parts"], ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")):
            for suffix in ("weight", "bias") if m.get("biases") else ("weight",):
                out[f"blk.{i}.{g}.{suffix}"] = np.stack([tensors[f"{b}experts.{e}.{name}.{suffix}"]
                                                          for e in range(m["experts"])])
    return out


# Left in f32 when a tiny model is quantized (as llama.cpp's quantize keeps the router f32).
KEEP_F32 = ("norm", "ffn_gate_inp", "token_embd", "output.weight", "rope_", ".bias", "sinks")


def add_tensor(w, name, t, qtype):
    """`qtype` is one type for every matrix, or a function of the tensor name (None: f32)."""
    t = np.ascontiguousarray(t, dtype=np.float32)
    qtype = qtype(name) if callable(qtype) else qtype
    if qtype is None or t.ndim < 2 or any(k in name for k in KEEP_F32):
        w.add_tensor(name, t)
    else:
        w.add_tensor(name, gguf.quants.quantize(t, qtype), raw_dtype=qtype)


def mxfp4_experts(name):
    """GPT-OSS's layout: experts in MXFP4, the rest left as it is."""
    return gguf.GGMLQuantizationType.MXFP4 if "_exps." in name else None


def hf_stacked(c, tensors):
    """mlx-lm's layout for GPT-OSS: each projection's experts stacked under `{block}.experts`."""
    m = c["moe"]
    out = {k: v for k, v in tensors.items() if ".experts." not in k}
    for i in range(c["num_hidden_layers"]):
        b = f"model.layers.{i}.{m['block']}."
        for name in m["parts"]:
            for suffix in ("weight", "bias"):
                out[f"{b}experts.{name}.{suffix}"] = np.stack([tensors[f"{b}experts.{e}.{name}.{suffix}"]
                                                                for e in range(m["experts"])])
    return out


def write_gguf(path, c, tensors, reader, vocab, split_max_tensors=0, per_expert=False, qtype=None):
    arch, h, nh, nkv = c["arch"], c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim", h // nh)
    w = gguf.GGUFWriter(str(path), arch, split_max_tensors=split_max_tensors)
    w.add_name(f"parallax-tiny-{path.stem}")
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(h)
    w.add_block_count(c["num_hidden_layers"])
    w.add_feed_forward_length(c.get("intermediate_size_mlp", c["intermediate_size"]))
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_rope_dimension_count(int(hd * c.get("partial_rotary_factor", 1.0)))
    if "head_dim" in c:
        w.add_key_length(hd)
        w.add_value_length(hd)
    if "sliding_window" in c and arch != "llama":
        w.add_sliding_window(c["sliding_window"])
    if "attn_logit_softcapping" in c:
        w.add_attn_logit_softcapping(c["attn_logit_softcapping"])
        w.add_final_logit_softcapping(c["final_logit_softcapping"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    moe = c.get("moe")
    if moe:
        w.add_expert_count(moe["experts"])
        w.add_expert_used_count(moe["used"])
        if arch != "llama":
            w.add_expert_feed_forward_length(moe["ff"])
        if "interleave_moe_layer_step" in c:
            w.add_interleave_moe_layer_step(c["interleave_moe_layer_step"])
        if not per_expert:
            tensors = stack_experts(c, tensors)
    copy_tokenizer(reader, w)
    write_rope_scaling(w, c, hd)
    for name in sorted(tensors):
        t = tensors[name]
        if name.startswith("blk."):
            add_tensor(w, name, t, qtype)
            continue
        if arch == "llama" and ".q_proj." in name:
            t = permute(t, nh)
        elif arch == "llama" and ".k_proj." in name:
            t = permute(t, nkv)
        if c.get("sandwich") and name.endswith("norm.weight"):
            t = t + 1.0
        add_tensor(w, gguf_name(name, c.get("sandwich", False), moe, c.get("ffn_norm_gguf", "ffn_norm")), t, qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def mlx_quantized(hf_dir, out_dir, mode="affine"):
    """mlx-lm quantizes the float directory: 4-bit, group 32 (its `convert -q` path), affine or
    in MLX's mxfp4 mode (`convert -q --q-mode mxfp4`, as mlx-community ships GPT-OSS)."""
    import mlx.core as mx
    from mlx_lm.utils import load_model, quantize_model, save_config, save_model

    mx.set_default_device(mx.cpu)
    model, config = load_model(hf_dir)
    model, config = quantize_model(model, config, 32, 4, mode=mode)
    save_model(out_dir, model)
    save_config(config, config_path=out_dir / "config.json")


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "models" / "tiny"))
    out = pathlib.Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / f".written-by-{hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()[:12]}"
    if stamp.exists():
        print(f"ok       tiny models ({', '.join(FAMILIES)})")
        return
    for old in out.glob(".written-by-*"):
        old.unlink()
    for name, fam in FAMILIES.items():
        c = {**BASE, **fam}
        reader = gguf.GGUFReader(str(VOCABS / f"ggml-vocab-{c['vocab']}.gguf"))
        tokens = reader.fields["tokenizer.ggml.tokens"]
        vocab = len(tokens.data)
        bos = reader.fields.get("tokenizer.ggml.bos_token_id")
        eos = reader.fields.get("tokenizer.ggml.eos_token_id")
        rng = np.random.default_rng(c["seed"])
        tensors = hf_tensors(c, rng, vocab)
        hf_dir = out / name
        hf_dir.mkdir(exist_ok=True)
        cfg = hf_config(name, c, vocab, bos and int(bos.contents()), eos and int(eos.contents()))
        (hf_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        hf = hf_stacked(c, tensors) if c.get("hf_stacked") else tensors
        hf = llama4_layout(hf) if c.get("llama4_layout") else hf
        save_file(hf, str(hf_dir / "model.safetensors"), metadata={"format": "pt"})
        gguf_path = out / f"{name}.gguf"
        write_gguf(gguf_path, c, tensors, reader, vocab)
        mlx_quantized(hf_dir, out / f"{name}-mlx-q4")
        if name == "mixtral":
            # The same model with one tensor per expert (blk.N.ffn_gate.E), the layout
            # llama.cpp's converter wrote before it stacked experts.
            write_gguf(out / "mixtral-per-expert.gguf", c, tensors, reader, vocab, per_expert=True)
        if c.get("moe"):
            # mlx-lm's MXFP4 quantization of the HF directory (every matrix in mxfp4 mode).
            mlx_quantized(hf_dir, out / f"{name}-mlx-mxfp4", mode="mxfp4")
            # Its matrices and experts in Q4_0, so quantized expert matmuls meet llama.cpp too.
            write_gguf(out / f"{name}-q4_0.gguf", c, tensors, reader, vocab, qtype=gguf.GGMLQuantizationType.Q4_0)
            # Its experts in MXFP4 (ggml type 39), the format GPT-OSS ships experts in.
            write_gguf(out / f"{name}-mxfp4.gguf", c, tensors, reader, vocab, qtype=mxfp4_experts)
        if name == "qwen2":
            # The same model split in three, as llama.cpp's gguf-split writes it
            # (split/qwen2-split-0000k-of-00003.gguf), for the split-model loading test.
            (out / "split").mkdir(exist_ok=True)
            write_gguf(out / "split" / "qwen2-split.gguf", c, tensors, reader, vocab, split_max_tensors=10)
        print(f"wrote    tiny {name:8} vocab {c['vocab']} ({vocab}), gguf {sha256(gguf_path)[:12]}, "
              f"safetensors {sha256(hf_dir / 'model.safetensors')[:12]}")
    stamp.touch()


if __name__ == "__main__":
    main()

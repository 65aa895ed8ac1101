// Reference logits and greedy tokens from llama.cpp, for the tiny-model fixtures.
// Usage: llama_logits MODEL.gguf N_GREEDY TOPK "prompt one" "prompt two" ...
// Prints one JSON object per prompt: the prompt's token ids (llama.cpp's tokenizer, with the
// model's BOS), the top-K last-position logits, the full vector's mean and max, and N greedy
// tokens, each with the margin between its top two logits. f32 KV cache, flash attention off,
// so the reference computes attention in f32 like our engines.
// For a mixture-of-experts model each prompt also gets "routing": per layer, the experts
// llama.cpp chose for each prompt token (the graph's `ffn_moe_topk-N` tensors, read through the
// eval callback; the last layer runs on the last token only, as llama.cpp's `inp_out_ids` does).
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <cstring>
#include <map>
#include <string>
#include <vector>

// Routing captured while a prompt is decoded: layer -> expert ids, token-major.
struct Routing {
    bool on = false;
    std::map<int, std::vector<int>> layers;
};

static const char *TOPK = "ffn_moe_topk-";

static bool capture_routing(struct ggml_tensor *t, bool ask, void *user) {
    bool ours = strncmp(t->name, TOPK, strlen(TOPK)) == 0;
    if (ask) return ours;
    auto *r = static_cast<Routing *>(user);
    if (ours && r->on) {
        std::vector<int> &ids = r->layers[atoi(t->name + strlen(TOPK))];
        for (int64_t j = 0; j < t->ne[1]; j++)
            for (int64_t i = 0; i < t->ne[0]; i++)
                ids.push_back(*(const int32_t *)((const char *)t->data + i * t->nb[0] + j * t->nb[1]));
    }
    return true;
}

static void print_logits(const float *logits, int n_vocab, int topk) {
    std::vector<int> idx(n_vocab);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + topk, idx.end(),
                      [&](int a, int b) { return logits[a] > logits[b]; });
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += logits[i];
    printf("\"mean\": %.9g, \"top\": [", sum / n_vocab);
    for (int i = 0; i < topk; i++) printf("%s[%d, %.9g]", i ? ", " : "", idx[i], logits[idx[i]]);
    printf("]");
}

static int argmax(const float *logits, int n, float *margin) {
    int best = 0, second = -1;
    for (int i = 1; i < n; i++) {
        if (logits[i] > logits[best]) { second = best; best = i; }
        else if (second < 0 || logits[i] > logits[second]) second = i;
    }
    *margin = logits[best] - logits[second];
    return best;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s MODEL N_GREEDY TOPK PROMPT...\n", argv[0]); return 2; }
    int n_greedy = atoi(argv[2]), topk = atoi(argv[3]);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    printf("[\n");
    for (int p = 4; p < argc; p++) {
        std::string text = argv[p];
        std::vector<llama_token> ids(text.size() + 8);
        int n = llama_tokenize(vocab, text.c_str(), (int)text.size(), ids.data(), (int)ids.size(), true, false);
        ids.resize(n);
        // 512 positions, or the prompt and its greedy steps where that is longer.
        int n_ctx = n + n_greedy + 8 > 512 ? n + n_greedy + 8 : 512;
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = n_ctx;
        cp.n_batch = n_ctx;
        cp.n_threads = cp.n_threads_batch = 2;
        cp.type_k = GGML_TYPE_F32;
        cp.type_v = GGML_TYPE_F32;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        Routing routing;
        cp.cb_eval = capture_routing;
        cp.cb_eval_user_data = &routing;
        llama_context *ctx = llama_init_from_model(model, cp);
        printf("%s{\"prompt\": \"", p > 4 ? ",\n" : "");
        for (char c : text) {
            if (c == '"' || c == '\\') printf("\\%c", c);
            else if (c == '\n') printf("\\n");
            else putchar(c);
        }
        printf("\", \"ids\": [");
        for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        printf("], ");
        routing.on = true;
        if (llama_decode(ctx, llama_batch_get_one(ids.data(), n))) { fprintf(stderr, "decode failed\n"); return 1; }
        routing.on = false;
        print_logits(llama_get_logits_ith(ctx, -1), n_vocab, topk);
        if (!routing.layers.empty()) {
            printf(", \"routing\": [");
            bool first = true;
            for (auto &[layer, ids] : routing.layers) {
                printf("%s[", first ? "" : ", ");
                first = false;
                for (size_t i = 0; i < ids.size(); i++) printf("%s%d", i ? ", " : "", ids[i]);
                printf("]");
            }
            printf("]");
        }
        printf(", \"greedy\": [");
        for (int g = 0; g < n_greedy; g++) {
            float margin;
            llama_token t = argmax(llama_get_logits_ith(ctx, -1), n_vocab, &margin);
            printf("%s[%d, %.6g]", g ? ", " : "", t, margin);
            if (llama_decode(ctx, llama_batch_get_one(&t, 1))) { fprintf(stderr, "decode failed\n"); return 1; }
        }
        printf("]}");
        llama_free(ctx);
    }
    printf("\n]\n");
    llama_model_free(model);
    return 0;
}

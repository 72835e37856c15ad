// Token-generation rate of llama.cpp, measured as `llama-bench -p 0 -n N` does it: from an empty context, one
// token per decode call, a warm-up run first, then the mean of the per-repetition rates. Linked by
// bench/llamacpp.py against the llama.cpp library it builds (llama-bench itself needs llama.cpp's `common` library
// too, about fifty more compile units).
//
// usage: llamacpp-tg MODEL.gguf N_GEN THREADS REPETITIONS   → prints "avg_ts <tokens per second>"

#include "llama.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

static bool generate(llama_context * ctx, llama_batch_ext * batch, int n_vocab, int n_gen) {
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_token token = 1;
    for (int pos = 0; pos < n_gen; ++pos) {
        llama_batch_ext_clear(batch);
        const int32_t idx = llama_batch_ext_add_token(batch, 0, token);
        const llama_pos p = pos;
        llama_batch_ext_set_pos(batch, idx, &p);
        llama_batch_ext_set_output_logits(batch, 0, true);
        if (llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch)) {
            return false;
        }
        token = (token * 7919 + 13) % n_vocab;  // the next token does not depend on the logits (as llama-bench)
    }
    return true;
}

int main(int argc, char ** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL.gguf N_GEN THREADS REPETITIONS\n", argv[0]);
        return 2;
    }
    const int n_gen = atoi(argv[2]), n_threads = atoi(argv[3]), reps = atoi(argv[4]);
    llama_backend_init();
    llama_model * model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (model == nullptr) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    llama_context_params params = llama_context_default_params();
    params.n_ctx = n_gen + 8;
    params.n_batch = 8;
    params.n_threads = n_threads;
    params.n_threads_batch = n_threads;
    llama_context * ctx = llama_init_from_model(model, params);
    if (ctx == nullptr) {
        fprintf(stderr, "cannot create a context\n");
        return 1;
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    llama_batch_ext * batch = llama_batch_ext_init(ctx);
    double total = 0;
    for (int rep = 0; rep <= reps; ++rep) {
        const auto start = std::chrono::steady_clock::now();
        if (!generate(ctx, batch, n_vocab, n_gen)) {
            fprintf(stderr, "decode failed\n");
            return 1;
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (rep > 0) {
            total += n_gen / seconds;
        }
    }
    printf("avg_ts %.4f\n", total / reps);
    llama_batch_ext_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

/* Fuzz target: the architecture JSON of model files (formats/model_arch) and the net it builds.
 * The input is the JSON text. An accepted architecture must print canonically (model_arch_format)
 * and parse back to the same specs; model_build must succeed or fail with a message; a small
 * net then runs forward (eval and train) and backward (plain and guided rules) on fixed data,
 * and its outputs must be finite. */
#include "tests/fuzz/fuzz.h"

#include <math.h>

#include "formats/model.h"
#include "pipeline/gemm.h"

#define FARCH_MAX_FLOPS 2e7 /* per example: larger nets are built but not run */
/* Nets whose arenas (net_arena_need) exceed this are not built: the fuzzer's malloc limit is
 * 2 GB. Above NET_MAX_ARENA_BYTES, model_build must refuse them (before allocating). */
#define FARCH_MAX_ARENA ((size_t)64 << 20)
/* Inputs above this many floats per example are built but not run: filling and checking 2
 * examples of 7x8192x192 took over 25 s under instrumentation (regressions/model_arch/
 * avgpool_big_input) */
#define FARCH_MAX_INPUT ((size_t)1 << 20)

static int farch_spec_equal(const struct net_layer_spec *a, const struct net_layer_spec *b)
{
    if (a->kind != b->kind || strcmp(a->name, b->name) || a->n_inputs != b->n_inputs) return 0;
    for (int i = 0; i < a->n_inputs && i < NET_MAX_INPUTS; i++)
        if (strcmp(a->inputs[i], b->inputs[i])) return 0;
    return a->channels == b->channels && a->height == b->height && a->width == b->width &&
           a->in_channels == b->in_channels && a->out_channels == b->out_channels &&
           !memcmp(a->kernel, b->kernel, sizeof a->kernel) &&
           !memcmp(a->stride, b->stride, sizeof a->stride) &&
           !memcmp(a->padding, b->padding, sizeof a->padding) && a->groups == b->groups &&
           a->bias == b->bias && a->ceil_mode == b->ceil_mode &&
           a->count_include_pad == b->count_include_pad && a->eps == b->eps &&
           a->momentum == b->momentum && a->p == b->p;
}

static void farch_roundtrip(const struct net_layer_spec *specs, int n)
{
    char *text = model_arch_format(specs, n);
    struct net_layer_spec *back = NULL;
    int nb = 0;
    FUZZ_CHECK(text != NULL);
    if (!text) return;
    if (model_arch_parse(text, "canonical", &back, &nb) != 0) {
        FUZZ_CHECK(!"canonical architecture JSON does not parse");
    } else {
        FUZZ_CHECK(nb == n);
        for (int i = 0; i < n && i < nb; i++) FUZZ_CHECK(farch_spec_equal(&specs[i], &back[i]));
        char *again = model_arch_format(back, nb);
        FUZZ_CHECK(again && strcmp(again, text) == 0);
        free(again);
    }
    free(back);
    free(text);
}

/* Forward and backward on 2 examples with deterministic weights and inputs. */
static void farch_run(struct model *m)
{
    struct net *net = m->net;
    double flops = 0;
    for (int i = 0; i < net_layer_count(net); i++) {
        double f = net_layer_flops(net, i);
        if (net_layer_spec_at(net, i)->kind == NET_LINEAR) {
            /* the GEMM pads the batch of 2 to GEMM_MR rows and the outputs to GEMM_NR
             * columns: a 1-output linear on 3M features costs 128x its flops (a 60 s
             * timeout under coverage instrumentation, regressions/model_arch/linear_pad_slow) */
            int c, h, w;
            net_layer_shape(net, i, &c, &h, &w);
            f *= GEMM_MR / 2.0 * ((c + GEMM_NR - 1) / GEMM_NR * GEMM_NR) / c;
        }
        flops += f;
    }
    if (!(flops <= FARCH_MAX_FLOPS) ||
        (size_t)m->channels * m->height * m->width > FARCH_MAX_INPUT)
        return;
    for (int k = 0; k < net_param_count(net); k++) {
        struct net_param *p = net_param_at(net, k);
        size_t n = tensor_numel(&p->value);
        int var = strstr(p->name, "running_var") != NULL;
        for (size_t i = 0; i < n; i++)
            p->value.data[i] = var ? 1.0f + 0.25f * (float)(i % 3) : 0.1f * sinf((float)i + k);
    }
    size_t in = (size_t)m->channels * m->height * m->width;
    float *x = malloc(2 * in * sizeof *x);
    if (!x) abort();
    for (size_t i = 0; i < 2 * in; i++) x[i] = cosf(0.37f * (float)i);
    FUZZ_CHECK(net_forward(net, x, 2, NET_EVAL, NULL) == 0);
    int out = net_output_layer(net);
    struct tensor y = net_act(net, out);
    size_t ny = tensor_numel(&y);
    for (size_t i = 0; i < ny; i++) FUZZ_CHECK(isfinite(y.data[i]));
    struct net_rules guided = {.rule = {[NET_RELU] = NET_RULE_GUIDED}};
    if (net_backward(net, 2, NULL, NULL, NULL, NULL, NET_GRAD_INPUT | NET_GRAD_PARAMS) == 0) {
        struct tensor g = net_grad(net, 0);
        for (size_t i = 0; i < 2 * in; i++) FUZZ_CHECK(isfinite(g.data[i]));
    }
    net_backward(net, 2, NULL, NULL, NULL, &guided, NET_GRAD_INPUT);
    struct net_train_ctx ctx = {.seed = 7, .step = 1, .keys = NULL};
    net_forward(net, x, 2, NET_TRAIN, &ctx);
    free(x);
}

int fuzz_model_arch(const uint8_t *data, size_t size)
{
    char *json = fuzz_strndup(data, size);
    struct net_layer_spec *specs = NULL;
    int n = 0;
    if (model_arch_parse(json, "fuzz.json", &specs, &n) != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot parse architecture 'fuzz.json': ") && specs == NULL);
        free(json);
        return 0;
    }
    FUZZ_CHECK(n >= 1 && n <= MODEL_MAX_LAYERS);
    farch_roundtrip(specs, n);
    struct model m;
    model_init(&m);
    size_t pb = 0, ab = 0;
    if (net_arena_need(specs, n, 2, 0, &pb, &ab) == 0 &&
        (pb > FARCH_MAX_ARENA || ab > FARCH_MAX_ARENA)) {
        if (pb > NET_MAX_ARENA_BYTES || ab > NET_MAX_ARENA_BYTES)
            FUZZ_CHECK(model_build(&m, specs, n, 2, 0) != 0 && fuzz_msg_ok("cannot build ") &&
                       m.net == NULL);
    } else if (model_build(&m, specs, n, 2, 0) == 0) {
        FUZZ_CHECK(m.n_classes >= 1 && m.channels >= 1 && m.channels <= MODEL_MAX_CHANNELS);
        farch_run(&m);
    } else {
        FUZZ_CHECK(fuzz_msg_ok("cannot build ") && m.net == NULL);
    }
    model_release(&m);
    free(specs);
    free(json);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_model_arch(data, size);
}
#endif

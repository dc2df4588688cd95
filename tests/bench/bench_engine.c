/* Engine benchmark (make bench; not a test): images/s of forward (eval), training step
 * (train-mode forward + backward with parameter gradients) and saliency step (eval forward +
 * input-gradient backward) for the shipped default model's architecture, the brief's compact
 * CNN and VGG-11 at 224x224 (random weights), plus the conv layers' GFLOP/s. Medians of
 * several repeats. Output: one "RESULT" line per measurement, machine-readable, and a
 * per-layer table with --layers.
 *
 * Forward and saliency steps run with net_freeze_weights (fixed weights, as in the stages); the
 * train step repacks its weights every call. The machine's FP32 peak is measured too: every
 * thread runs independent 16-wide FMA chains.
 *
 *   bench_engine [--model default|compact|vgg11|all] [--batch B] [--repeats R] [--layers]
 * (batch sizes: default and compact 1 and 64, vgg11 1 and 8; --batch picks one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- models ---------------------------------------------------------------------------- */

static int add(struct net_layer_spec *s, int n, enum net_kind k, const char *name)
{
    net_layer_spec_init(&s[n], k, name);
    return n + 1;
}

static int add_conv(struct net_layer_spec *s, int n, const char *name, int out, int bias)
{
    n = add(s, n, NET_CONV2D, name);
    struct net_layer_spec *c = &s[n - 1];
    c->out_channels = out, c->kernel[0] = c->kernel[1] = 3, c->padding[0] = c->padding[1] = 1;
    c->bias = bias;
    return n;
}

static int add_pool(struct net_layer_spec *s, int n, const char *name)
{
    n = add(s, n, NET_MAXPOOL, name);
    s[n - 1].kernel[0] = s[n - 1].kernel[1] = 2;
    return n;
}

/* 3x64x64 -> 4 blocks conv3x3-BN-ReLU (channels ch), max pools after the first three,
 * global average pool, linear 10, sigmoid. */
static int model_blocks(struct net_layer_spec *s, const int ch[4])
{
    int n = add(s, 0, NET_INPUT, "input");
    s[0].channels = 3, s[0].height = 64, s[0].width = 64;
    char name[32];
    for (int b = 0; b < 4; b++) {
        snprintf(name, sizeof name, "conv%d", b + 1);
        n = add_conv(s, n, name, ch[b], 0);
        snprintf(name, sizeof name, "bn%d", b + 1);
        n = add(s, n, NET_BATCHNORM, name);
        snprintf(name, sizeof name, "relu%d", b + 1);
        n = add(s, n, NET_RELU, name);
        if (b < 3) {
            snprintf(name, sizeof name, "pool%d", b + 1);
            n = add_pool(s, n, name);
        }
    }
    n = add(s, n, NET_GLOBAL_AVGPOOL, "gap");
    n = add(s, n, NET_LINEAR, "fc");
    s[n - 1].out_channels = 10;
    return add(s, n, NET_SIGMOID, "probs");
}

/* The brief's compact CNN: 32-64-128-128 channels. */
static int model_compact(struct net_layer_spec *s)
{
    static const int ch[4] = {32, 64, 128, 128};
    return model_blocks(s, ch);
}

/* The shipped default model's architecture (data/models/fashion-scenes-cnn.h5: 32-64-128-256
 * channels), random weights. */
static int model_default(struct net_layer_spec *s)
{
    static const int ch[4] = {32, 64, 128, 256};
    return model_blocks(s, ch);
}

/* VGG-11 convolutions (configuration "A", no batch norm) at 3x224x224, then global average
 * pool and one linear 512 -> 1000 instead of the 4096-wide classifier. */
static int model_vgg11(struct net_layer_spec *s)
{
    int n = add(s, 0, NET_INPUT, "input");
    s[0].channels = 3, s[0].height = 224, s[0].width = 224;
    const int cfg[] = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
    char name[32];
    int ci = 0, pi = 0;
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        if (!cfg[k]) {
            snprintf(name, sizeof name, "pool%d", ++pi);
            n = add_pool(s, n, name);
            continue;
        }
        snprintf(name, sizeof name, "conv%d", ++ci);
        n = add_conv(s, n, name, cfg[k], 1);
        snprintf(name, sizeof name, "relu%d", ci);
        n = add(s, n, NET_RELU, name);
    }
    n = add(s, n, NET_GLOBAL_AVGPOOL, "gap");
    n = add(s, n, NET_LINEAR, "fc");
    s[n - 1].out_channels = 1000;
    return add(s, n, NET_SOFTMAX, "probs");
}

/* Kaiming-uniform-like weights, unit batch-norm statistics. */
static void init_weights(struct net *net)
{
    struct rng r;
    rng_init(&r, 1, 0, RNG_INIT);
    for (int k = 0; k < net_param_count(net); k++) {
        struct net_param *p = net_param_at(net, k);
        size_t n = tensor_numel(&p->value), fan = n / (size_t)p->value.shape[0];
        float a = p->value.ndim > 1 ? (float)(1.0 / sqrt((double)fan)) * 1.7f : 0.1f;
        int ones = strstr(p->name, "running_var") || (strstr(p->name, "bn") &&
                                                       strstr(p->name, "weight"));
        for (size_t i = 0; i < n; i++)
            p->value.data[i] = ones ? 1.0f : strstr(p->name, "running_mean") ? 0.0f
                                                : a * (2 * rng_uniform(&r) - 1);
    }
}

/* ---- timing ------------------------------------------------------------------------------ */

enum task { TASK_FORWARD, TASK_TRAIN, TASK_SALIENCY, TASK_COUNT };
static const char *const task_names[TASK_COUNT] = {"forward", "train_step", "saliency_step"};

static void run_task(struct net *net, enum task t, int n)
{
    int L = net_logits_layer(net);
    net_forward(net, NULL, n, t == TASK_TRAIN ? NET_TRAIN : NET_EVAL, NULL);
    if (t == TASK_FORWARD) return;
    struct tensor g = net_grad(net, L);
    for (size_t i = 0; i < tensor_numel(&g); i++)
        g.data[i] = 1e-3f * (float)(i % 11);
    net_backward(net, n, NULL, NULL, NULL, NULL,
                 t == TASK_TRAIN ? NET_GRAD_PARAMS : NET_GRAD_INPUT);
}

static void bench(const char *model, int (*spec_fn)(struct net_layer_spec *), int batch,
                  int repeats, double min_seconds)
{
    struct net_layer_spec s[64];
    int nl = spec_fn(s);
    struct net *net = NULL;
    if (net_build(&net, s, nl, batch, 0) < 0) {
        fprintf(stderr, "bench_engine: %s\n", err_msg());
        exit(1);
    }
    init_weights(net);
    struct tensor in = net_act(net, 0);
    struct rng r;
    rng_init(&r, 2, 0, RNG_NOISE);
    for (size_t i = 0; i < tensor_numel(&in); i++)
        in.data[i] = (float)rng_normal(&r);
    double conv_flops = 0, all_flops = 0;
    for (int i = 0; i < nl; i++) {
        all_flops += net_layer_flops(net, i);
        if (s[i].kind == NET_CONV2D) conv_flops += net_layer_flops(net, i);
    }
    for (int t = 0; t < TASK_COUNT; t++) {
        double times[64];
        /* inference and saliency run on fixed weights (as the stages do): frozen */
        net_freeze_weights(net, t != TASK_TRAIN);
        run_task(net, (enum task)t, batch); /* warm-up */
        for (int k = 0; k < repeats && k < 64; k++) {
            int iters = 0;
            double t0 = now(), el;
            do {
                run_task(net, (enum task)t, batch);
                iters++;
                el = now() - t0;
            } while (el < min_seconds);
            times[k] = el / iters;
        }
        double med = median(times, repeats < 64 ? repeats : 64), best = times[0];
        /* conv GFLOP/s: forward conv FLOPs per image; a train step does ~3x (fwd, dX, dW), a
         * saliency step ~2x (the first conv's dX included) */
        double mult = t == TASK_FORWARD ? 1 : t == TASK_TRAIN ? 3 : 2;
        printf("RESULT engine=c model=%s task=%s batch=%d images_per_s=%.2f ms_per_batch=%.3f "
               "conv_gflops=%.1f net_gflop_per_image=%.4f best_images_per_s=%.2f\n",
               model, task_names[t], batch, batch / med, 1e3 * med,
               mult * conv_flops * batch / med / 1e9, all_flops / 1e9, batch / best);
        fflush(stdout);
    }
    net_free(net);
}

/* Per-layer times at one batch size (where the time goes): eval forward, and the backward of
 * a train step (seeded at the layer, stopped at the previous one). Chain models only. */
static void layer_table(const char *model, int (*spec_fn)(struct net_layer_spec *), int batch)
{
    struct net_layer_spec s[64];
    int nl = spec_fn(s);
    struct net *net = NULL;
    if (net_build(&net, s, nl, batch, 0) < 0) return;
    init_weights(net);
    net_forward(net, NULL, batch, NET_EVAL, NULL);
    printf("# %s batch %d per layer, medians of 5: eval forward ms, GFLOP/s; train backward "
           "ms\n", model, batch);
    double fw[64], bw[64];
    for (int i = 1; i < nl; i++) {
        double v[5];
        for (int k = 0; k < 5; k++) {
            double t0 = now();
            net_forward_range(net, i, i, batch, NET_EVAL, NULL);
            v[k] = now() - t0;
        }
        fw[i] = median(v, 5);
    }
    net_forward(net, NULL, batch, NET_TRAIN, NULL);
    for (int i = nl - 1; i >= 1; i--) {
        double v[5];
        for (int k = 0; k < 5; k++) {
            double t0 = now();
            net_backward(net, batch, s[i].name, NULL, s[i - 1].name, NULL, NET_GRAD_PARAMS);
            v[k] = now() - t0;
        }
        bw[i] = median(v, 5);
    }
    for (int i = 1; i < nl; i++)
        printf("#   %-8s %-14s %8.3f ms %7.1f GFLOP/s %8.3f ms\n", s[i].name,
               net_kind_name(s[i].kind), 1e3 * fw[i], net_layer_flops(net, i) * batch / fw[i] / 1e9,
               1e3 * bw[i]);
    net_free(net);
}

/* FP32 peak: 12 independent chains of 16-lane FMAs per thread (gcc vector extensions,
 * contracted to FMA instructions by -ffp-contract=fast), all threads at once. */
#ifdef __AVX512F__
#define PEAK_LANES 16
#else
#define PEAK_LANES 8 /* AVX2 has 16 registers: 12 accumulators of 16 lanes would spill */
#endif
typedef float v16 __attribute__((vector_size(PEAK_LANES * 4)));

static double measure_peak(void)
{
    double flops = 0, t0 = now(), el;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : flops)
#endif
    {
        v16 a[12], b, c;
        for (int k = 0; k < PEAK_LANES; k++)
            b[k] = 1.0000001f, c[k] = 1e-7f;
        for (int i = 0; i < 12; i++)
            for (int k = 0; k < PEAK_LANES; k++)
                a[i][k] = (float)i;
        long iters = 0;
        double start = now();
        while (now() - start < 0.3) {
            for (int r = 0; r < 1000; r++) {
#define FMA12(x) x[0] = x[0] * b + c, x[1] = x[1] * b + c, x[2] = x[2] * b + c,                   \
                 x[3] = x[3] * b + c, x[4] = x[4] * b + c, x[5] = x[5] * b + c,                   \
                 x[6] = x[6] * b + c, x[7] = x[7] * b + c, x[8] = x[8] * b + c,                   \
                 x[9] = x[9] * b + c, x[10] = x[10] * b + c, x[11] = x[11] * b + c
                FMA12(a);
            }
            iters += 1000;
        }
        float sink = 0;
        for (int i = 0; i < 12; i++)
            sink += a[i][0];
        flops += (double)iters * 12 * PEAK_LANES * 2 + (sink == 12345.0f);
    }
    el = now() - t0;
    return flops / el / 1e9;
}

int main(int argc, char **argv)
{
    const char *model = "all";
    int repeats = 5, layers = 0, only_batch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            only_batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers"))
            layers = 1;
        else {
            fprintf(stderr, "usage: bench_engine [--model default|compact|vgg11|all] [--batch B] "
                            "[--repeats R] [--layers]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
#ifdef _OPENMP
    printf("# threads %d\n", omp_get_max_threads());
#endif
    printf("PEAK engine=c fp32_gflops=%.1f\n", measure_peak());
    int all = !strcmp(model, "all");
    if (all || !strcmp(model, "default")) {
        if (layers) layer_table("default", model_default, 64);
        if (!only_batch || only_batch == 1) bench("default", model_default, 1, repeats, 0.2);
        if (!only_batch || only_batch == 64) bench("default", model_default, 64, repeats, 0.5);
    }
    if (all || !strcmp(model, "compact")) {
        if (layers) layer_table("compact", model_compact, 64);
        if (!only_batch || only_batch == 1) bench("compact", model_compact, 1, repeats, 0.2);
        if (!only_batch || only_batch == 64) bench("compact", model_compact, 64, repeats, 0.5);
    }
    if (all || !strcmp(model, "vgg11")) {
        if (layers) layer_table("vgg11", model_vgg11, 8);
        if (!only_batch || only_batch == 1) bench("vgg11", model_vgg11, 1, repeats, 0.5);
        if (!only_batch || only_batch == 8) bench("vgg11", model_vgg11, 8, repeats, 0.5);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

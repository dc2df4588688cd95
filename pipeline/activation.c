/* Element-wise and shape-only layer kernels (see activation.h). Sources: PyTorch docs of ReLU,
 * Sigmoid, Softmax, Dropout; TorchRay guided_backprop.py / deconvnet.py for the ReLU rules
 * (summarised in ../shared/METHODS.md 2.2). */
#include "pipeline/activation.h"

#include <math.h>
#include <string.h>

#include "pipeline/rng.h"
#include "pipeline/simd.h"

void relu_forward(float *out, const float *inp, size_t n, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) num_threads(nthreads) if (n > 65536)
#endif
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

#ifdef _OPENMP
#define PARALLEL_SIMD_N \
    _Pragma("omp parallel for simd schedule(static) num_threads(nthreads) if (n > 65536)")
#else
#define PARALLEL_SIMD_N
#endif

/* One rule's loop (pass: the element's gradient goes through): dinp[i] += dout[i] where pass,
 * or dinp[i] = 0.0f + that term (a -0 term stays +0, as += on a zeroed buffer gives). */
#define RELU_BACKWARD_LOOP(pass)                              \
    do {                                                      \
        if (accumulate) {                                     \
            PARALLEL_SIMD_N                                   \
            for (size_t i = 0; i < n; i++)                    \
                dinp[i] += sb_keep_if((pass), dout[i]);       \
        } else {                                              \
            PARALLEL_SIMD_N                                   \
            for (size_t i = 0; i < n; i++)                    \
                dinp[i] = 0.0f + sb_keep_if((pass), dout[i]); \
        }                                                     \
    } while (0)

void relu_backward(float *dinp, const float *dout, const float *inp, size_t n,
                   enum relu_rule rule, int accumulate, int nthreads)
{
    (void)nthreads;
    if (rule == RELU_PLAIN)
        RELU_BACKWARD_LOOP(inp[i] > 0.0f);
    else if (rule == RELU_GUIDED)
        RELU_BACKWARD_LOOP((inp[i] >= 0.0f) & (dout[i] > 0.0f));
    else
        RELU_BACKWARD_LOOP(dout[i] > 0.0f);
}

void sigmoid_forward(float *out, const float *inp, size_t n, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) num_threads(nthreads) if (n > 65536)
#endif
    for (size_t i = 0; i < n; i++)
        out[i] = 1.0f / (1.0f + expf(-inp[i]));
}

void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) num_threads(nthreads) if (n > 65536)
#endif
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * out[i] * (1.0f - out[i]);
}

void softmax_forward(float *out, const float *inp, int N, int C, int HW, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) num_threads(nthreads)
#endif
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            const float *x = inp + (size_t)n * C * HW + p;
            float *y = out + (size_t)n * C * HW + p;
            float m = -INFINITY;
            for (int c = 0; c < C; c++)
                m = x[(size_t)c * HW] > m ? x[(size_t)c * HW] : m;
            double s = 0;
            for (int c = 0; c < C; c++)
                s += exp((double)x[(size_t)c * HW] - m);
            for (int c = 0; c < C; c++)
                y[(size_t)c * HW] = (float)(exp((double)x[(size_t)c * HW] - m) / s);
        }
}

void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C, int HW,
                      int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) num_threads(nthreads)
#endif
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            size_t base = (size_t)n * C * HW + p;
            double s = 0;
            for (int c = 0; c < C; c++)
                s += (double)dout[base + (size_t)c * HW] * out[base + (size_t)c * HW];
            for (int c = 0; c < C; c++) {
                size_t i = base + (size_t)c * HW;
                dinp[i] += (float)(out[i] * (dout[i] - s));
            }
        }
}

uint64_t dropout_layer_seed(uint64_t seed, int layer, uint32_t step)
{
    uint32_t w[4];
    rng_philox(w, seed, ((uint64_t)step << 32) | (uint32_t)layer, RNG_DROPOUT, 0xFFFFFFFFu);
    return ((uint64_t)w[0] << 32) | w[1];
}

static uint32_t drop_threshold(float p)
{
    double t = (double)p * 4294967296.0;
    return t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
}

/* y = x * mask / (1-p) for one example; acc: y += instead of y =. */
static void dropout_example(float *y, const float *x, size_t D, float p, uint64_t layer_seed,
                            uint64_t key, int acc)
{
    struct rng r;
    rng_init(&r, layer_seed, key, RNG_DROPOUT);
    uint32_t thr = drop_threshold(p);
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < D; i++) {
        float v = rng_u32(&r) >= thr ? x[i] * scale : 0.0f;
        y[i] = acc ? y[i] + v : v;
    }
}

void dropout_forward(float *out, const float *inp, int N, size_t D, float p, int train,
                     uint64_t layer_seed, const uint64_t *keys, int nthreads)
{
    (void)nthreads;
    if (!train || p <= 0.0f) {
        memcpy(out, inp, sizeof(float) * (size_t)N * D);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int b = 0; b < N; b++)
        dropout_example(out + (size_t)b * D, inp + (size_t)b * D, D, p, layer_seed,
                        keys ? keys[b] : (uint64_t)b, 0);
}

void dropout_backward(float *dinp, const float *dout, int N, size_t D, float p, int train,
                      uint64_t layer_seed, const uint64_t *keys, int nthreads)
{
    (void)nthreads;
    if (!train || p <= 0.0f) {
        add_backward(dinp, NULL, dout, (size_t)N * D, nthreads);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int b = 0; b < N; b++)
        dropout_example(dinp + (size_t)b * D, dout + (size_t)b * D, D, p, layer_seed,
                        keys ? keys[b] : (uint64_t)b, 1);
}

void add_forward(float *out, const float *a, const float *b, size_t n, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) num_threads(nthreads) if (n > 65536)
#endif
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void add_backward(float *da, float *db, const float *dout, size_t n, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (n > 65536)
#endif
    for (size_t b = 0; b < n; b += 4096) {
        size_t e = n - b < 4096 ? n - b : 4096;
        if (da) {
            SB_SIMD
            for (size_t i = b; i < b + e; i++)
                da[i] += dout[i];
        }
        if (db) {
            SB_SIMD
            for (size_t i = b; i < b + e; i++)
                db[i] += dout[i];
        }
    }
}

void concat_forward(float *out, const float *const *inp, const int *channels, int k, int N,
                    size_t HW)
{
    int Ct = 0;
    for (int i = 0; i < k; i++)
        Ct += channels[i];
    for (int n = 0; n < N; n++) {
        size_t off = (size_t)n * Ct * HW;
        for (int i = 0; i < k; i++) {
            size_t len = (size_t)channels[i] * HW;
            memcpy(out + off, inp[i] + (size_t)n * len, sizeof(float) * len);
            off += len;
        }
    }
}

void concat_backward(float *const *dinp, const float *dout, const int *channels, int k, int N,
                     size_t HW)
{
    int Ct = 0;
    for (int i = 0; i < k; i++)
        Ct += channels[i];
    for (int n = 0; n < N; n++) {
        size_t off = (size_t)n * Ct * HW;
        for (int i = 0; i < k; i++) {
            size_t len = (size_t)channels[i] * HW;
            if (dinp[i]) {
                float *d = dinp[i] + (size_t)n * len;
                SB_SIMD
                for (size_t j = 0; j < len; j++)
                    d[j] += dout[off + j];
            }
            off += len;
        }
    }
}

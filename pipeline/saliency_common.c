/* Helpers shared by the saliency methods: trial batches into the net, one-hot seeds, channel
 * reductions, upsampling of layer maps to the input size, TorchRay's Gaussian smoothing and
 * the finite check. Element loops are split over threads by output element, so results do
 * not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/image.h"
#include "pipeline/saliency_internal.h"

int sal_batch_trials(const struct sal_run *r, int t0)
{
    int nb = 0;
    while (t0 + nb < r->in->t) {
        int k = sal_example_trials(r->in, t0 + nb);
        if (nb + k > r->max_batch) /* full; or one example with more trials than a batch */
            return nb ? nb : r->max_batch;
        nb += k;
    }
    return nb;
}

int sal_forward_trials(struct sal_run *r, int t0, int nb, int *src)
{
    float *dst = net_act(r->net, 0).data;
    size_t sz = (size_t)r->C * r->HW;
    int u = -1;
    for (int i = 0; i < nb; i++) {
        if (i == 0 || r->in->example[t0 + i] != r->in->example[t0 + i - 1])
            memcpy(dst + (size_t)++u * sz, r->in->x + (size_t)r->in->example[t0 + i] * sz,
                   sizeof(float) * sz);
        src[i] = u;
    }
    if (net_forward(r->net, NULL, u + 1, NET_EVAL, NULL) < 0) return -1;
    net_expand_rows(r->net, src, nb);
    return u + 1;
}

void sal_onehot(float *seed, const struct sal_run *r, int t0, int nb, float value)
{
    memset(seed, 0, sizeof(float) * (size_t)nb * r->K);
    for (int i = 0; i < nb; i++)
        seed[(size_t)i * r->K + r->in->cls[t0 + i]] = value;
}

int sal_example_trials(const struct saliency_input *in, int t0)
{
    int k = 1;
    while (t0 + k < in->t && in->example[t0 + k] == in->example[t0])
        k++;
    return k;
}

static float reduce_one(const float *a, const float *x, int C, size_t HW, size_t i,
                        enum saliency_reduce how)
{
    float acc = 0;
    for (int c = 0; c < C; c++) {
        float v = a[(size_t)c * HW + i];
        if (x) v *= x[(size_t)c * HW + i];
        switch (how) {
        case SALIENCY_REDUCE_MAX_ABS: acc = c == 0 || fabsf(v) > acc ? fabsf(v) : acc; break;
        case SALIENCY_REDUCE_SUM_ABS: acc += fabsf(v); break;
        case SALIENCY_REDUCE_SUM: acc += v; break;
        case SALIENCY_REDUCE_L2: acc += v * v; break;
        case SALIENCY_REDUCE_MAX: acc = c == 0 || v > acc ? v : acc; break;
        }
    }
    return how == SALIENCY_REDUCE_L2 ? sqrtf(acc) : acc;
}

void sal_reduce(float *out, const float *a, const float *x, int nb, int C, int HW,
                enum saliency_reduce how, int nthreads)
{
    size_t total = (size_t)nb * HW;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (total > ((size_t)1 << 20))
#endif
    for (size_t k = 0; k < total; k++) {
        size_t b = k / (size_t)HW, i = k % (size_t)HW;
        size_t off = b * (size_t)C * HW;
        out[k] = reduce_one(a + off, x ? x + off : NULL, C, (size_t)HW, i, how);
    }
}

void sal_upsample(float *out, const float *in, int h, int w, int H, int W,
                  enum saliency_upsample mode)
{
    if (mode == SALIENCY_UP_BILINEAR) {
        image_resize_bilinear_f32(out, in, h, w, 1, H, W);
        return;
    }
    /* PyTorch "nearest" (legacy): src = min(floor(dst * (float)in / out), in - 1). */
    float sy = (float)h / (float)H, sx = (float)w / (float)W;
    for (int y = 0; y < H; y++) {
        int iy = (int)floorf((float)y * sy);
        if (iy > h - 1) iy = h - 1;
        for (int x = 0; x < W; x++) {
            int ix = (int)floorf((float)x * sx);
            if (ix > w - 1) ix = w - 1;
            out[(size_t)y * W + x] = in[(size_t)iy * w + ix];
        }
    }
}

int sal_gauss_taps(float *taps, double sigma)
{
    int radius = (int)ceil(4 * sigma);
    SB_ASSERT(radius <= SAL_MAX_RADIUS);
    /* TorchRay computes in float32: i / (sqrt(2) * sigma + FLT_EPSILON). */
    float den = (float)(1.41421356237309505 * sigma) + 1.19209290e-07f;
    double sum = 0;
    for (int i = -radius; i <= radius; i++) {
        float z = (float)i / den;
        taps[i + radius] = expf(-z * z);
        sum += taps[i + radius];
    }
    for (int i = 0; i <= 2 * radius; i++)
        taps[i] = (float)(taps[i] / sum);
    return radius;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void sal_smooth(float *plane, int H, int W, double sigma, int replicate, float *scratch)
{
    if (!(sigma > 0)) return;
    float taps[2 * SAL_MAX_RADIUS + 1];
    int R = sal_gauss_taps(taps, sigma);
    /* Vertical pass into scratch, then horizontal back into plane. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float acc = 0;
            for (int k = -R; k <= R; k++) {
                int yy = y + k;
                if (yy < 0 || yy >= H) {
                    if (!replicate) continue;
                    yy = clampi(yy, 0, H - 1);
                }
                acc += taps[k + R] * plane[(size_t)yy * W + x];
            }
            scratch[(size_t)y * W + x] = acc;
        }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float acc = 0;
            for (int k = -R; k <= R; k++) {
                int xx = x + k;
                if (xx < 0 || xx >= W) {
                    if (!replicate) continue;
                    xx = clampi(xx, 0, W - 1);
                }
                acc += taps[k + R] * scratch[(size_t)y * W + xx];
            }
            plane[(size_t)y * W + x] = acc;
        }
}

const float *sal_scores(const struct sal_run *r)
{
    return net_act(r->net, r->score_layer).data;
}

int sal_check_finite(const struct sal_run *r, const float *maps)
{
    size_t HW = (size_t)r->HW;
    for (int t = 0; t < r->in->t; t++)
        for (size_t i = 0; i < HW; i++)
            if (!isfinite(maps[(size_t)t * HW + i]))
                return err_set("cannot compute '%s' map of example %016llx class %d: not "
                               "finite (pixel %zu is %g)",
                               saliency_method_name(r->p->method),
                               (unsigned long long)r->in->ids[r->in->example[t]],
                               r->in->cls[t], i, (double)maps[(size_t)t * HW + i]);
    return 0;
}

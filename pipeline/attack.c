/* FGSM / PGD L-inf attacks and the noise, blur and JPEG-like corruptions; see attack.h for the
 * pixel-space contract. Kernels are loops over one example's values; attack_batch runs a kind
 * on a batch with OpenMP over examples (each writes only its own slice), and the engine's own
 * threading inside the forward/backward passes. Nothing allocates: the caller passes scratch. */
#include "pipeline/attack.h"

#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/loss.h"
#include "pipeline/net.h"

static const char *const attack_names[] = {NULL, "fgsm", "pgd", "noise", "blur", "jpeg"};

const char *attack_kind_name(enum attack_kind k)
{
    return k >= ATTACK_FGSM && k <= ATTACK_JPEG ? attack_names[k] : "unknown";
}

int attack_kind_from_name(const char *name)
{
    for (int k = ATTACK_FGSM; k <= ATTACK_JPEG; k++)
        if (name && strcmp(name, attack_names[k]) == 0) return k;
    return -1;
}

int attack_kind_is_adversarial(enum attack_kind k)
{
    return k == ATTACK_FGSM || k == ATTACK_PGD;
}

int attack_eps_levels(double eps)
{
    return (int)floor(255.0 * eps + 1e-6);
}

/* ---- element-wise ------------------------------------------------------------------------- */

void attack_to_unit(float *out, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)in[i] / 255.0f;
}

static float attack_clip(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void attack_random_start(float *x, const float *x0, float eps, uint64_t seed,
                         uint64_t example_id, size_t n)
{
    struct rng r;
    rng_init(&r, seed, example_id, ATTACK_RNG_START);
    for (size_t i = 0; i < n; i++) {
        float u = rng_uniform(&r);
        x[i] = attack_clip(x0[i] + (2.0f * u - 1.0f) * eps, 0.0f, 1.0f);
    }
}

void attack_sign_step(float *x, const float *g, const float *x0, float step, float eps,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float s = g[i] > 0.0f ? step : g[i] < 0.0f ? -step : 0.0f;
        float lo = x0[i] - eps > 0.0f ? x0[i] - eps : 0.0f;
        float hi = x0[i] + eps < 1.0f ? x0[i] + eps : 1.0f;
        x[i] = attack_clip(x[i] + s, lo, hi);
    }
}

void attack_quantise(uint8_t *out, const float *x, const uint8_t *orig, int E, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * 255.0f;
        int q = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int)floorf(v + 0.5f);
        if (E >= 0) {
            int lo = (int)orig[i] - E, hi = (int)orig[i] + E;
            q = q < lo ? lo : q > hi ? hi : q;
            q = q < 0 ? 0 : q > 255 ? 255 : q;
        }
        out[i] = (uint8_t)q;
    }
}

void attack_noise(float *x, const float *x0, double sigma, uint64_t seed, uint64_t example_id,
                  size_t n)
{
    struct rng r;
    rng_init(&r, seed, example_id, ATTACK_RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        x[i] = attack_clip((float)((double)x0[i] + sigma * rng_normal(&r)), 0.0f, 1.0f);
}

void attack_norms(int *linf_levels, double *l2, const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a[i] - (int)b[i];
        d = d < 0 ? -d : d;
        m = d > m ? d : m;
        s += (double)d * d;
    }
    *linf_levels = m;
    *l2 = sqrt(s) / 255.0;
}

/* ---- Gaussian blur ------------------------------------------------------------------------- */

int attack_blur_radius(double sigma)
{
    int r = (int)(4.0 * sigma + 0.5);
    return r < 1 ? 1 : r > ATTACK_BLUR_MAX_RADIUS ? ATTACK_BLUR_MAX_RADIUS : r;
}

void attack_blur_taps(double *taps, int radius, double sigma)
{
    double sum = 0.0;
    for (int k = -radius; k <= radius; k++) {
        taps[k + radius] = exp(-0.5 * (double)k * k / (sigma * sigma));
        sum += taps[k + radius];
    }
    for (int k = 0; k <= 2 * radius; k++)
        taps[k] /= sum;
}

/* scipy 'reflect' index: period 2n, mirrored about the outer edge of the last pixel. */
static int attack_reflect(int i, int n)
{
    int p = 2 * n, m = i % p;
    m = m < 0 ? m + p : m;
    return m < n ? m : p - 1 - m;
}

void attack_blur_forward(float *out, float *tmp, const float *in, const double *taps,
                         int radius, int H, int W, int C)
{
    for (int y = 0; y < H; y++) /* rows: along x */
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int k = -radius; k <= radius; k++)
                    s += taps[k + radius] * in[((size_t)y * W + attack_reflect(x + k, W)) * C + c];
                tmp[((size_t)y * W + x) * C + c] = (float)s;
            }
    for (int y = 0; y < H; y++) /* columns: along y */
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int k = -radius; k <= radius; k++)
                    s += taps[k + radius] * tmp[((size_t)attack_reflect(y + k, H) * W + x) * C + c];
                out[((size_t)y * W + x) * C + c] = (float)s;
            }
}

/* ---- JPEG-like ----------------------------------------------------------------------------- */

/* ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), natural order. */
static const int attack_jpeg_base[2][64] = {
    {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
     14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
     18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99},
    {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
     24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99}};

void attack_jpeg_table(int table[64], int quality, int chroma)
{
    int q = quality < 1 ? 1 : quality > 100 ? 100 : quality;
    long scale = q < 50 ? 5000 / q : 200 - 2 * q;
    for (int i = 0; i < 64; i++) {
        long t = ((long)attack_jpeg_base[chroma ? 1 : 0][i] * scale + 50) / 100;
        table[i] = t < 1 ? 1 : t > 255 ? 255 : (int)t;
    }
}

/* One 8x8 block of plane c of v (HWC, values 0..255) at (by, bx): forward DCT-II (orthonormal,
 * basis[u][x] = a(u) cos((2x+1) u pi / 16)), quantise with q, inverse; the valid part is
 * written back. Pixels beyond the image repeat its last row / column. */
static void attack_jpeg_block(float *v, const double basis[8][8], const int *q, int by, int bx,
                              int H, int W, int C, int c)
{
    double f[8][8], t[8][8], F[8][8];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            int yy = by + y < H ? by + y : H - 1, xx = bx + x < W ? bx + x : W - 1;
            f[y][x] = (double)v[((size_t)yy * W + xx) * C + c] - 128.0;
        }
    for (int u = 0; u < 8; u++) /* t = B f */
        for (int x = 0; x < 8; x++) {
            double s = 0.0;
            for (int y = 0; y < 8; y++)
                s += basis[u][y] * f[y][x];
            t[u][x] = s;
        }
    for (int u = 0; u < 8; u++) /* F = t B^T, quantised */
        for (int w = 0; w < 8; w++) {
            double s = 0.0;
            for (int x = 0; x < 8; x++)
                s += t[u][x] * basis[w][x];
            F[u][w] = round(s / q[u * 8 + w]) * q[u * 8 + w];
        }
    for (int y = 0; y < 8; y++) /* t = B^T F */
        for (int w = 0; w < 8; w++) {
            double s = 0.0;
            for (int u = 0; u < 8; u++)
                s += basis[u][y] * F[u][w];
            t[y][w] = s;
        }
    for (int y = 0; y < 8 && by + y < H; y++) /* f = t B */
        for (int x = 0; x < 8 && bx + x < W; x++) {
            double s = 0.0;
            for (int w = 0; w < 8; w++)
                s += t[y][w] * basis[w][x];
            v[((size_t)(by + y) * W + bx + x) * C + c] = (float)(s + 128.0);
        }
}

/* JFIF full-range RGB <-> YCbCr on 0..255 values, in place on one pixel. */
static void attack_rgb_to_ycc(float *p)
{
    double r = p[0], g = p[1], b = p[2];
    p[0] = (float)(0.299 * r + 0.587 * g + 0.114 * b);
    p[1] = (float)(-0.168735892 * r - 0.331264108 * g + 0.5 * b + 128.0);
    p[2] = (float)(0.5 * r - 0.418687589 * g - 0.081312411 * b + 128.0);
}

static void attack_ycc_to_rgb(float *p)
{
    double y = p[0], cb = p[1] - 128.0, cr = p[2] - 128.0;
    p[0] = (float)(y + 1.402 * cr);
    p[1] = (float)(y - 0.344136286 * cb - 0.714136286 * cr);
    p[2] = (float)(y + 1.772 * cb);
}

void attack_jpeg_forward(float *out, const float *in, int quality, int H, int W, int C)
{
    SB_ASSERT(C == 1 || C == 3);
    const size_t hw = (size_t)H * W;
    double basis[8][8];
    int q[2][64];
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 8; x++)
            basis[u][x] = (u ? sqrt(2.0 / 8.0) : sqrt(1.0 / 8.0)) *
                          cos((2.0 * x + 1.0) * u * M_PI / 16.0);
    attack_jpeg_table(q[0], quality, 0);
    attack_jpeg_table(q[1], quality, 1);
    for (size_t i = 0; i < hw * C; i++)
        out[i] = in[i] * 255.0f;
    for (size_t i = 0; C == 3 && i < hw; i++)
        attack_rgb_to_ycc(out + i * 3);
    for (int c = 0; c < C; c++)
        for (int by = 0; by < H; by += 8)
            for (int bx = 0; bx < W; bx += 8)
                attack_jpeg_block(out, basis, q[c ? 1 : 0], by, bx, H, W, C, c);
    for (size_t i = 0; C == 3 && i < hw; i++)
        attack_ycc_to_rgb(out + i * 3);
    for (size_t i = 0; i < hw * C; i++)
        out[i] = attack_clip(out[i] / 255.0f, 0.0f, 1.0f);
}

/* ---- gradients ----------------------------------------------------------------------------- */

/* xin [N,C,H,W] = (x - mean) / std from x [N,H,W,C], as preprocess_forward does on u8 / 255. */
static void attack_normalise(float *xin, const struct attack_model *m, const float *x, int N)
{
    const size_t hw = (size_t)m->H * m->W, C = (size_t)m->C;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) {
            const float mu = (float)m->mean[c], s = (float)m->std[c];
            const float *src = x + (size_t)n * hw * C;
            float *dst = xin + ((size_t)n * C + c) * hw;
            for (size_t i = 0; i < hw; i++)
                dst[i] = (src[i * C + c] - mu) / s;
        }
}

/* Loss of one example from its logits z [K]; its logit gradient into dz [K] when not NULL. */
static float attack_example_loss(float *dz, const struct attack_model *m, const float *z,
                                 const int32_t *cls, const float *hot)
{
    float l = 0.0f;
    if (m->multi_label) loss_bce_logits(&l, dz, z, hot, 1, m->K);
    else loss_softmax_ce(&l, dz, z, cls, 1, m->K);
    return l;
}

void attack_logits_loss(float *loss, const struct attack_model *m, const float *logits,
                        const int32_t *cls, const float *hot, int N)
{
    const size_t K = (size_t)m->K;
    for (int n = 0; n < N; n++)
        loss[n] = attack_example_loss(NULL, m, logits + n * K, cls ? cls + n : NULL,
                                      hot ? hot + n * K : NULL);
}

int attack_loss(float *loss, float *logits, float *xin, const struct attack_model *m,
                const float *x, const int32_t *cls, const float *hot, int N)
{
    attack_normalise(xin, m, x, N);
    if (net_forward(m->net, xin, N, NET_EVAL, NULL)) return -1;
    const float *z = net_act(m->net, net_logits_layer(m->net)).data;
    if (logits) memcpy(logits, z, (size_t)N * m->K * sizeof *z);
    if (loss && (m->multi_label ? hot != NULL : cls != NULL))
        attack_logits_loss(loss, m, z, cls, hot, N);
    return 0;
}

int attack_loss_grad(float *grad, float *loss, float *logits, float *xin, float *dlogits,
                     const struct attack_model *m, const float *x, const int32_t *cls,
                     const float *hot, int N)
{
    const size_t hw = (size_t)m->H * m->W, C = (size_t)m->C;
    const size_t K = (size_t)m->K;
    attack_normalise(xin, m, x, N);
    if (net_forward(m->net, xin, N, NET_EVAL, NULL)) return -1;
    const float *z = net_act(m->net, net_logits_layer(m->net)).data;
    for (int n = 0; n < N; n++) {
        float l = attack_example_loss(dlogits + n * K, m, z + n * K, cls ? cls + n : NULL,
                                      hot ? hot + n * K : NULL);
        if (loss) loss[n] = l;
    }
    if (logits) memcpy(logits, z, (size_t)N * K * sizeof *z);
    if (net_backward(m->net, N, NULL, dlogits, NULL, NULL, NET_GRAD_INPUT)) return -1;
    const float *gin = net_grad(m->net, 0).data;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) /* d/dx = d/dxin / std, back to HWC */
        for (size_t c = 0; c < C; c++) {
            const float s = (float)m->std[c];
            const float *src = gin + ((size_t)n * C + c) * hw;
            float *dst = grad + (size_t)n * hw * C;
            for (size_t i = 0; i < hw; i++)
                dst[i * C + c] = src[i] / s;
        }
    return 0;
}

/* ---- batches ------------------------------------------------------------------------------- */

size_t attack_scratch_floats(const struct attack_params *p, const int dims[3], int K, int N)
{
    const size_t n1 = (size_t)dims[0] * dims[1] * dims[2];
    return attack_kind_is_adversarial(p->kind) ? (size_t)N * (4 * n1 + (size_t)K)
                                               : (size_t)N * 3 * n1;
}

static int attack_gradient(uint8_t *out, const struct attack_params *p,
                           const struct attack_model *m, const uint8_t *in, const uint64_t *ids,
                           const int32_t *cls, const float *hot, int N, float *scratch)
{
    const size_t n1 = (size_t)m->H * m->W * m->C;
    float *x0 = scratch, *x = x0 + N * n1, *g = x + N * n1, *xin = g + N * n1;
    float *dl = xin + N * n1;
    const int fgsm = p->kind == ATTACK_FGSM, iters = fgsm ? 1 : p->iters;
    const float step = (fgsm ? p->eps : p->step) * (p->targeted ? -1.0f : 1.0f);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        attack_to_unit(x0 + n * n1, in + n * n1, n1);
        if (!fgsm && p->random_start)
            attack_random_start(x + n * n1, x0 + n * n1, p->eps, p->seed, ids[n], n1);
        else
            memcpy(x + n * n1, x0 + n * n1, n1 * sizeof *x);
    }
    for (int it = 0; it < iters; it++) {
        if (attack_loss_grad(g, NULL, NULL, xin, dl, m, x, cls, hot, N)) return -1;
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            attack_sign_step(x + n * n1, g + n * n1, x0 + n * n1, step, p->eps, n1);
    }
    const int E = attack_eps_levels(p->eps);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        attack_quantise(out + n * n1, x + n * n1, in + n * n1, E, n1);
    return 0;
}

int attack_batch(uint8_t *out, const struct attack_params *p, const struct attack_model *m,
                 const int dims[3], const uint8_t *in, const uint64_t *ids, const int32_t *cls,
                 const float *hot, int N, float *scratch)
{
    if (attack_kind_is_adversarial(p->kind))
        return attack_gradient(out, p, m, in, ids, cls, hot, N, scratch);
    const int H = dims[0], W = dims[1], C = dims[2];
    const size_t n1 = (size_t)H * W * C;
    float *x0 = scratch, *x = x0 + N * n1, *tmp = x + N * n1;
    const int radius = attack_blur_radius(p->sigma);
    double taps[2 * ATTACK_BLUR_MAX_RADIUS + 1];
    if (p->kind == ATTACK_BLUR) attack_blur_taps(taps, radius, p->sigma);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *a = x0 + n * n1, *b = x + n * n1;
        attack_to_unit(a, in + n * n1, n1);
        if (p->kind == ATTACK_NOISE) attack_noise(b, a, p->sigma, p->seed, ids[n], n1);
        else if (p->kind == ATTACK_BLUR)
            attack_blur_forward(b, tmp + n * n1, a, taps, radius, H, W, C);
        else attack_jpeg_forward(b, a, p->quality, H, W, C);
        attack_quantise(out + n * n1, b, in + n * n1, -1, n1);
    }
    return 0;
}

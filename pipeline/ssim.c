/* SSIM with Gaussian weights (skimage's algorithm, cropped border) and the sanity-check
 * similarity bundle; see ssim.h. Sums run in double in a fixed order. */
#include "pipeline/ssim.h"

#include <math.h>
#include <stdint.h>

#include "pipeline/err.h"
#include "pipeline/stats.h"

#define SSIM_MAX_RADIUS 64

void ssim_params_default(struct ssim_params *p)
{
    p->sigma = 1.5;
    p->radius = (int)(3.5 * p->sigma + 0.5);
    p->k1 = 0.01;
    p->k2 = 0.03;
    p->data_range = 2.0;
    p->sample_covariance = 1;
}

int ssim_minmax01(double *out, const float *map, size_t n)
{
    if (n == 0 || !isfinite(map[0])) return 0;
    float lo = map[0], hi = map[0];
    for (size_t i = 1; i < n; i++) {
        if (!isfinite(map[i])) return 0;
        lo = map[i] < lo ? map[i] : lo;
        hi = map[i] > hi ? map[i] : hi;
    }
    if (!(hi > lo)) return 0;
    double span = (double)hi - (double)lo;
    for (size_t i = 0; i < n; i++)
        out[i] = ((double)map[i] - (double)lo) / span;
    return 1;
}

size_t ssim_scratch_bytes(int H, int W)
{
    return 7 * (size_t)H * W * sizeof(double) + 64;
}

/* Horizontal pass of the five local statistics over the valid columns [r, W - r):
 * t[q][row][j], q = x, y, xx, yy, xy, j = column - r. */
static void horizontal_pass(double *t, const double *x, const double *y, int H, int W,
                            const double *w, int r)
{
    int wv = W - 2 * r;
    size_t plane = (size_t)H * wv;
    for (int row = 0; row < H; row++) {
        const double *xr = x + (size_t)row * W, *yr = y + (size_t)row * W;
        for (int j = 0; j < wv; j++) {
            double s[5] = {0, 0, 0, 0, 0};
            for (int k = -r; k <= r; k++) {
                double a = xr[j + r + k], b = yr[j + r + k], wk = w[k + r];
                s[0] += wk * a;
                s[1] += wk * b;
                s[2] += wk * (a * a);
                s[3] += wk * (b * b);
                s[4] += wk * (a * b);
            }
            for (int q = 0; q < 5; q++)
                t[q * plane + (size_t)row * wv + j] = s[q];
        }
    }
}

double ssim_forward(const double *x, const double *y, int H, int W, const struct ssim_params *p,
                    void *scratch)
{
    int r = p->radius, win = 2 * r + 1;
    SB_ASSERT(r >= 0 && r <= SSIM_MAX_RADIUS);
    if (H < win || W < win) return NAN;
    for (size_t i = 0; i < (size_t)H * W; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
    double w[2 * SSIM_MAX_RADIUS + 1], wsum = 0;
    for (int k = -r; k <= r; k++)
        wsum += w[k + r] = exp(-0.5 * (double)k * k / (p->sigma * p->sigma));
    for (int k = 0; k < win; k++)
        w[k] /= wsum;
    double np_ = (double)win * win, cov = p->sample_covariance ? np_ / (np_ - 1) : 1.0;
    double c1 = (p->k1 * p->data_range) * (p->k1 * p->data_range);
    double c2 = (p->k2 * p->data_range) * (p->k2 * p->data_range);
    double *t = scratch;
    int wv = W - 2 * r;
    size_t plane = (size_t)H * wv;
    horizontal_pass(t, x, y, H, W, w, r);
    double total = 0;
    for (int row = r; row < H - r; row++) {
        for (int j = 0; j < wv; j++) {
            double m[5] = {0, 0, 0, 0, 0};
            for (int k = -r; k <= r; k++)
                for (int q = 0; q < 5; q++)
                    m[q] += w[k + r] * t[q * plane + (size_t)(row + k) * wv + j];
            double vx = cov * (m[2] - m[0] * m[0]), vy = cov * (m[3] - m[1] * m[1]);
            double vxy = cov * (m[4] - m[0] * m[1]);
            double num = (2 * m[0] * m[1] + c1) * (2 * vxy + c2);
            double den = (m[0] * m[0] + m[1] * m[1] + c1) * (vx + vy + c2);
            total += num / den;
        }
    }
    return total / ((double)(H - 2 * r) * wv);
}

double ssim_maps(const float *a, const float *b, int H, int W, const struct ssim_params *p,
                 void *scratch)
{
    size_t n = (size_t)H * W;
    double *x = scratch, *y = x + n;
    if (!ssim_minmax01(x, a, n) || !ssim_minmax01(y, b, n)) return NAN;
    return ssim_forward(x, y, H, W, p, y + n);
}

/* ---- sanity-check bundle ------------------------------------------------------------------ */

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

size_t ssim_similarity_scratch_bytes(int H, int W, const struct hog_params *hp)
{
    size_t n = (size_t)H * W, len = hog_length(H, W, hp);
    size_t work = max_sz(stats_spearman_scratch_bytes(n), 5 * n * sizeof(double));
    work = max_sz(work, hog_scratch_bytes(H, W, hp));
    work = max_sz(work, stats_spearman_scratch_bytes(len));
    return 2 * n * sizeof(double) + 2 * n * sizeof(float) + 2 * len * sizeof(double) + work + 64;
}

void ssim_similarity(struct ssim_similarity *out, const float *a, const float *b, int H, int W,
                     const struct ssim_params *sp, const struct hog_params *hp, void *scratch)
{
    size_t n = (size_t)H * W, len = hog_length(H, W, hp);
    double *nx = scratch, *ny = nx + n, *hx = ny + n, *hy = hx + len;
    float *fa = (float *)(hy + len), *fb = fa + n;
    void *work = fb + n; /* 8-byte aligned: the two float maps take 8n bytes */
    for (size_t i = 0; i < n; i++) {
        fa[i] = fabsf(a[i]);
        fb[i] = fabsf(b[i]);
    }
    out->spearman_abs = stats_spearman_f32(fa, fb, n, work);
    out->spearman_signed = stats_spearman_f32(a, b, n, work);
    out->ssim = out->hog_spearman = NAN;
    if (!ssim_minmax01(nx, a, n) || !ssim_minmax01(ny, b, n)) return;
    out->ssim = ssim_forward(nx, ny, H, W, sp, work);
    if (len == 0) return;
    hog_forward(hx, nx, H, W, hp, work);
    hog_forward(hy, ny, H, W, hp, work);
    out->hog_spearman = stats_spearman_f64(hx, hy, len, work);
}

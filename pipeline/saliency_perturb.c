/* Perturbation methods that only run the model forward: Captum's occlusion and TorchRay's RISE.
 * Each example's perturbed copies go through the net in batches of up to max_batch, and one
 * set of forward passes scores every class, so all trials of an example share it. Per-pixel
 * sums run over windows / masks in index order (threads own pixels), so maps do not depend on
 * batching or threads. Extremal perturbation is in saliency_ep.c. */
#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/rng.h"
#include "pipeline/saliency_internal.h"
#include "pipeline/stats.h"

/* ---- occlusion (Captum occlusion.py, METHODS.md §3.2) ------------------------------------
 * Window positions (iy * stride, ix * stride) for iy < ceil((H - window) / stride) + 1 (same
 * for x), the last one clipped to the image; each window sets all channels to the baseline.
 * delta_q = score(x) - score(x with window q occluded); map(u) = sum of delta over the windows
 * covering u / their number. Cost: 1 + positions forward passes per example. */

struct occ_bufs {
    float *count; /* [HW] windows covering each pixel */
    float *base;  /* [K] scores of the unperturbed image, per trial slot */
    float *acc;   /* [K, HW] */
    int ny, nx;
};

static int occ_positions(int D, int w, int s)
{
    return (D - w + s - 1) / s + 1;
}

static void occ_window(const struct sal_run *r, const struct occ_bufs *b, int q, int *y0,
                       int *y1, int *x0, int *x1)
{
    int iy = q / b->nx, ix = q % b->nx, w = r->p->window, s = r->p->stride;
    *y0 = iy * s;
    *x0 = ix * s;
    *y1 = *y0 + w < r->H ? *y0 + w : r->H;
    *x1 = *x0 + w < r->W ? *x0 + w : r->W;
}

/* Image i of the example's sequence: 0 = x, q + 1 = x with window q occluded. */
static void occ_image(const struct sal_run *r, const struct occ_bufs *b, const float *x,
                      int i, float *dst)
{
    size_t HW = (size_t)r->HW;
    memcpy(dst, x, sizeof(float) * r->C * HW);
    if (i == 0) return;
    int y0, y1, x0, x1;
    occ_window(r, b, i - 1, &y0, &y1, &x0, &x1);
    for (int c = 0; c < r->C; c++) {
        float v = r->p->baseline == SALIENCY_BASE_BLACK ? r->in->black[c] : 0.0f;
        for (int y = y0; y < y1; y++)
            for (int xx = x0; xx < x1; xx++)
                dst[c * HW + (size_t)y * r->W + xx] = v;
    }
}

static void occ_accumulate(const struct sal_run *r, struct occ_bufs *b, int t0, int k, int i0,
                           int nb)
{
    const float *s = sal_scores(r);
    for (int i = 0; i < nb; i++) {
        int q = i0 + i - 1;
        for (int j = 0; j < k; j++) {
            float v = s[(size_t)i * r->K + r->in->cls[t0 + j]];
            if (q < 0) {
                b->base[j] = v;
                continue;
            }
            float d = b->base[j] - v, *a = b->acc + (size_t)j * r->HW;
            int y0, y1, x0, x1;
            occ_window(r, b, q, &y0, &y1, &x0, &x1);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    a[(size_t)y * r->W + x] += d;
        }
    }
}

int sal_occlusion_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    struct occ_bufs b;
    b.count = sal_take(w, (size_t)r->HW);
    b.base = sal_take(w, (size_t)r->K);
    b.acc = sal_take(w, (size_t)r->K * r->HW);
    if (!r->in) return 0;
    b.ny = occ_positions(r->H, r->p->window, r->p->stride);
    b.nx = occ_positions(r->W, r->p->window, r->p->stride);
    int total = 1 + b.ny * b.nx;
    memset(b.count, 0, sizeof(float) * r->HW);
    for (int q = 0; q < b.ny * b.nx; q++) {
        int y0, y1, x0, x1;
        occ_window(r, &b, q, &y0, &y1, &x0, &x1);
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                b.count[(size_t)y * r->W + x] += 1;
    }
    size_t chw = (size_t)r->C * r->HW;
    float *inp = net_act(r->net, 0).data;
    for (int t0 = 0; t0 < r->in->t;) {
        int k = sal_example_trials(r->in, t0);
        const float *x = r->in->x + (size_t)r->in->example[t0] * chw;
        memset(b.acc, 0, sizeof(float) * (size_t)k * r->HW);
        for (int i0 = 0; i0 < total; i0 += r->max_batch) {
            int nb = total - i0 < r->max_batch ? total - i0 : r->max_batch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
            for (int i = 0; i < nb; i++)
                occ_image(r, &b, x, i0 + i, inp + (size_t)i * chw);
            if (net_forward(r->net, NULL, nb, NET_EVAL, NULL) < 0) return -1;
            occ_accumulate(r, &b, t0, k, i0, nb);
            sal_count(r, (uint64_t)nb, 0);
        }
        for (int j = 0; j < k; j++)
            for (int u = 0; u < r->HW; u++)
                maps[(size_t)(t0 + j) * r->HW + u] =
                    b.count[u] > 0 ? b.acc[(size_t)j * r->HW + u] / b.count[u] : 0;
        t0 += k;
    }
    return 0;
}

/* ---- RISE (TorchRay rise.py, METHODS.md §2.2) ---------------------------------------------
 * Mask i of an example: a cells x cells grid, cell = 1 iff U[0,1) < p (row-major draws), then
 * shift_y = below(ceil(H / cells)), shift_x = below(ceil(W / cells)), all from the stream
 * (seed, example_id, SALIENCY_RNG_BASE + rise, i). The grid is reflect-padded by one cell,
 * upsampled bilinearly (align_corners=False) to cs * (cells + 2) with cs = ceil((H + cell) /
 * cells), and the mask is the H x W crop at (cs + shift_y, cs + shift_x) (TorchRay's
 * _upsample_reflect then its random shift). Sal_c = sum_i score_c(x * M_i) M_i / N (or N p).
 * Cost: `masks` forward passes per example, shared by all its trials. */

#define SAL_RISE_MAX_CELLS 64

struct rise_tap {
    int i0, i1;
    float l1; /* weight of i1 */
};

struct rise_bufs {
    struct rise_tap *ty, *tx; /* [pad_h], [pad_w] */
    float *masks;             /* [max_batch, HW] */
    float *acc;               /* [K, HW] */
    int g, cell_h, cell_w, cs_h, cs_w; /* g = cells + 2 */
};

static void rise_taps(struct rise_tap *t, int g, int out)
{
    float scale = (float)g / (float)out;
    for (int d = 0; d < out; d++) {
        float src = scale * ((float)d + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int i0 = (int)src;
        t[d].i0 = i0;
        t[d].i1 = i0 + 1 < g ? i0 + 1 : g - 1;
        t[d].l1 = src - (float)i0;
    }
}

static int reflect1(int i, int n)
{
    return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
}

static void rise_mask(const struct sal_run *r, const struct rise_bufs *b, uint64_t id, int i,
                      float *m)
{
    int cells = r->p->cells, g = b->g;
    float raw[SAL_RISE_MAX_CELLS * SAL_RISE_MAX_CELLS];
    float G[(SAL_RISE_MAX_CELLS + 2) * (SAL_RISE_MAX_CELLS + 2)];
    struct rng rg;
    stats_rng_sub(&rg, r->p->seed, id, SALIENCY_RNG_BASE + SALIENCY_RISE, (uint32_t)i);
    float p = (float)r->p->p;
    for (int k = 0; k < cells * cells; k++)
        raw[k] = rng_uniform(&rg) < p ? 1.0f : 0.0f;
    int sy = (int)rng_below(&rg, (uint32_t)b->cell_h);
    int sx = (int)rng_below(&rg, (uint32_t)b->cell_w);
    for (int a = 0; a < g; a++)
        for (int c = 0; c < g; c++)
            G[a * g + c] = raw[reflect1(a - 1, cells) * cells + reflect1(c - 1, cells)];
    for (int y = 0; y < r->H; y++) {
        const struct rise_tap *ty = &b->ty[b->cs_h + sy + y];
        const float *g0 = G + ty->i0 * g, *g1 = G + ty->i1 * g;
        float h1 = ty->l1, h0 = 1 - h1;
        for (int x = 0; x < r->W; x++) {
            const struct rise_tap *tx = &b->tx[b->cs_w + sx + x];
            float w1 = tx->l1, w0 = 1 - w1;
            m[(size_t)y * r->W + x] = h0 * (w0 * g0[tx->i0] + w1 * g0[tx->i1]) +
                                      h1 * (w0 * g1[tx->i0] + w1 * g1[tx->i1]);
        }
    }
}

/* acc[j] += sum_i score_i[cls_j] * mask_i, masks in index order; threads own pixel blocks. */
static void rise_accumulate(const struct sal_run *r, struct rise_bufs *b, int t0, int k,
                            int nb)
{
    const float *s = sal_scores(r);
    int HW = r->HW, K = r->K;
    const int *cls = r->in->cls + t0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
    for (int u0 = 0; u0 < HW; u0 += 256) {
        int u1 = u0 + 256 < HW ? u0 + 256 : HW;
        for (int i = 0; i < nb; i++) {
            const float *m = b->masks + (size_t)i * HW;
            for (int j = 0; j < k; j++) {
                float sc = s[(size_t)i * K + cls[j]];
                float *a = b->acc + (size_t)j * HW;
                for (int u = u0; u < u1; u++)
                    a[u] += sc * m[u];
            }
        }
    }
}

static int rise_example(struct sal_run *r, struct rise_bufs *b, int t0, int k, float *maps)
{
    size_t chw = (size_t)r->C * r->HW, HW = (size_t)r->HW;
    int e = r->in->example[t0], N = r->p->masks;
    const float *x = r->in->x + (size_t)e * chw;
    float *inp = net_act(r->net, 0).data;
    memset(b->acc, 0, sizeof(float) * (size_t)k * HW);
    for (int i0 = 0; i0 < N; i0 += r->max_batch) {
        int nb = N - i0 < r->max_batch ? N - i0 : r->max_batch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
        for (int i = 0; i < nb; i++) {
            float *m = b->masks + (size_t)i * HW, *d = inp + (size_t)i * chw;
            rise_mask(r, b, r->in->ids[e], i0 + i, m);
            for (int c = 0; c < r->C; c++)
                for (size_t u = 0; u < HW; u++)
                    d[c * HW + u] = x[c * HW + u] * m[u];
        }
        if (net_forward(r->net, NULL, nb, NET_EVAL, NULL) < 0) return -1;
        rise_accumulate(r, b, t0, k, nb);
        sal_count(r, (uint64_t)nb, 0);
    }
    float norm = (float)(r->p->normalize == SALIENCY_RISE_NP ? N * r->p->p : N);
    for (int j = 0; j < k; j++)
        for (size_t u = 0; u < HW; u++)
            maps[(size_t)(t0 + j) * HW + u] = norm > 0 ? b->acc[(size_t)j * HW + u] / norm : 0;
    return 0;
}

int sal_rise_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    struct rise_bufs b;
    int cells = r->p->cells;
    SB_ASSERT(cells >= 2 && cells <= SAL_RISE_MAX_CELLS);
    b.g = cells + 2;
    b.cell_h = (r->H + cells - 1) / cells;
    b.cell_w = (r->W + cells - 1) / cells;
    b.cs_h = (r->H + b.cell_h + cells - 1) / cells;
    b.cs_w = (r->W + b.cell_w + cells - 1) / cells;
    int pad_h = b.cs_h * b.g, pad_w = b.cs_w * b.g;
    b.ty = (struct rise_tap *)(void *)sal_take(w, 3 * (size_t)pad_h);
    b.tx = (struct rise_tap *)(void *)sal_take(w, 3 * (size_t)pad_w);
    b.masks = sal_take(w, (size_t)r->max_batch * r->HW);
    b.acc = sal_take(w, (size_t)r->K * r->HW);
    if (!r->in) return 0;
    rise_taps(b.ty, b.g, pad_h);
    rise_taps(b.tx, b.g, pad_w);
    for (int t0 = 0; t0 < r->in->t;) {
        int k = sal_example_trials(r->in, t0);
        if (rise_example(r, &b, t0, k, maps) < 0) return -1;
        t0 += k;
    }
    return 0;
}

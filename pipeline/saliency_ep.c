/* Extremal perturbation (Fong, Patrick & Vedaldi, ICCV 2019) as TorchRay 1.0 implements it
 * (extremal_perturbation.py; METHODS.md §2.2): a blur (or fade) pyramid of the image, smooth
 * masks generated from a coarse parameter grid (kernel exp(-2 max(d/sigma - 0.5, 0)^2), smooth
 * max pooling with coldness 20, a margin of sigma), SGD with momentum 0.9 and dampening 0.9
 * (lr 0.01) on reward - lambda * mean((sort(mask) - ref)^2), lambda = 300 growing by 1.0035 per
 * step, horizontal flip on even steps. The mask generator's backward is written out by hand;
 * the model's comes from net_backward. All trials of a batch (areas x trials images) are
 * optimised together; each image's mask is computed by one thread, so results do not depend
 * on the batching or the thread count. Near-equal mask values at the area threshold share
 * their reference value (see ep_regul_backward). */
#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/saliency_internal.h"

#define EP_COLDNESS 20.0f
#define EP_LR 0.01f
#define EP_MOMENTUM 0.9f
#define EP_DAMPENING 0.9f
#define EP_REGUL_GROWTH 1.0035
#define EP_MAX_K2 4096
/* rows of k values padded to whole vectors (saliency_internal.h's 16-float vectors) */
#define EP_KP(k2) (((size_t)(k2) + SAL_VL - 1) / SAL_VL * SAL_VL)

typedef sal_vf ep_vf;
#define EP_VL SAL_VL
#define EP_MAX_VB (EP_MAX_K2 / EP_VL)
#define ep_splat sal_splat
#define ep_blend sal_blend
#define ep_vexp sal_vexp


struct ep_geom {
    int step, pad, radius, ksz, k2; /* ksz = 2 radius + 1, k2 = ksz^2 */
    int in_h, in_w, out_h, out_w, margin;
    int ph, pw;                     /* parameter grid with `pad` zeros on every side */
    int mid_h, mid_w;               /* window origins: (uy / step, ux / step) */
    double sigma;
};

struct ep_bufs {
    struct ep_geom g;
    int A, per_trial, nt, L, nimg_max;
    float *weight;          /* [step * step, k2]: weights depend on (u mod step) only */
    float *pyr;             /* [nt, L, C, HW] */
    float *param, *mom;     /* [nt*A, in_hw] */
    float *pooled;          /* [nt*A, out_hw] before the clamp */
    float *gcrop;           /* [nt*A, HW] */
    float *gfull;           /* [nt*A, out_hw] */
    float *gparam;          /* [nt*A, ph * pw] padded */
    float *ppad;            /* [nt*A, ph * pw] padded parameters */
    float *flags;           /* [nt*A, mid_h * mid_w] window kind: EP_ZEROS, EP_ONES, other */
    float *ones;            /* [step^2, kp + VL]: E, then z and pooled, of an all-ones window */
    float *sel;             /* [nt*A, sel_stride]: selection / summed-area scratch */
    size_t sel_stride;      /* max(out_hw, 2 (ph + 1) (pw + 1)) */
    float *seed;            /* [max_batch, K] */
    float *scratch;         /* [HW] blur */
};

static int ep_geometry(struct ep_geom *g, int H, int W, int step, double sigma)
{
    g->step = step;
    g->sigma = sigma;
    double margin = sigma;
    g->pad = 1 + (int)ceil((margin + sigma) / step);
    g->radius = 1 + (int)ceil(sigma / step);
    g->ksz = 2 * g->radius + 1;
    g->k2 = g->ksz * g->ksz;
    g->in_h = (H + step - 1) / step;
    g->in_w = (W + step - 1) / step;
    int mid_h = g->in_h + 2 * g->pad - g->ksz + 1, mid_w = g->in_w + 2 * g->pad - g->ksz + 1;
    g->out_h = step * mid_h - step + 1;
    g->out_w = step * mid_w - step + 1;
    g->margin = (int)nearbyint(margin); /* Python round(): halves to even */
    g->mid_h = mid_h;
    g->mid_w = mid_w;
    g->ph = g->in_h + 2 * g->pad;
    g->pw = g->in_w + 2 * g->pad;
    if (g->k2 > EP_MAX_K2)
        return err_set("cannot plan 'extremal_perturbation': sigma %g / step %d needs %d "
                       "neighbours per pixel (at most %d)", sigma, step, g->k2, EP_MAX_K2);
    if (g->margin + H > g->out_h || g->margin + W > g->out_w)
        return err_set("cannot plan 'extremal_perturbation': step %d and sigma %g give a "
                       "%dx%d mask for a %dx%d input", step, sigma, g->out_h, g->out_w, H, W);
    return 0;
}

/* TorchRay MaskGenerator.weight: parameter (iy, ix) sits at pixel margin + step * iy of the
 * full mask; the k-th neighbour of pixel u weighs k(distance / sigma). With iy = floor(u/step)
 * + ky - pad the distance depends on u only through u mod step, so the table is
 * wt[(uy % step) * step + ux % step][k], each row padded with zeros to whole vectors. */
static void ep_weights(float *wt, const struct ep_geom *g)
{
    size_t kp = EP_KP(g->k2);
    memset(wt, 0, sizeof(float) * kp * g->step * g->step);
    for (int py = 0; py < g->step; py++)
        for (int px = 0; px < g->step; px++)
            for (int ky = 0; ky < g->ksz; ky++)
                for (int kx = 0; kx < g->ksz; kx++) {
                    double dy = py - g->step * (ky - g->pad) - g->sigma;
                    double dx = px - g->step * (kx - g->pad) - g->sigma;
                    double z = sqrt(dy * dy + dx * dx) / g->sigma - 0.5;
                    z = z > 0 ? z : 0;
                    wt[(size_t)(py * g->step + px) * kp + ky * g->ksz + kx] =
                        (float)exp(-2 * z * z);
                }
}

static void ep_ones_table(struct ep_bufs *b);

static int plan(const struct sal_run *r, struct sal_carve *w, struct ep_bufs *b)
{
    const struct saliency_params *p = r->p;
    memset(b, 0, sizeof *b);
    if (ep_geometry(&b->g, r->H, r->W, p->step, p->sigma) < 0) return -1;
    b->A = p->n_areas;
    b->L = p->levels;
    b->per_trial = b->A * (p->variant == SALIENCY_EP_DUAL ? 2 : 1);
    if (b->per_trial > r->max_batch)
        return err_set("cannot plan 'extremal_perturbation': %d images per trial exceed the "
                       "batch of %d", b->per_trial, r->max_batch);
    b->nt = r->max_batch / b->per_trial;
    int na = b->nt * b->A;
    size_t ohw = (size_t)b->g.out_h * b->g.out_w, ihw = (size_t)b->g.in_h * b->g.in_w;
    size_t php = (size_t)b->g.ph * b->g.pw;
    b->weight = sal_take(w, EP_KP(b->g.k2) * b->g.step * b->g.step);
    b->pyr = sal_take(w, (size_t)b->nt * b->L * r->C * r->HW);
    b->param = sal_take(w, na * ihw);
    b->mom = sal_take(w, na * ihw);
    b->pooled = sal_take(w, na * ohw);
    b->gcrop = sal_take(w, (size_t)na * r->HW);
    b->gfull = sal_take(w, na * ohw);
    b->gparam = sal_take(w, na * php);
    b->ppad = sal_take(w, na * php);
    b->flags = sal_take(w, na * (size_t)b->g.mid_h * b->g.mid_w + php);
    b->ones = sal_take(w, (size_t)b->g.step * b->g.step * (EP_KP(b->g.k2) + EP_VL));
    size_t sat = 2 * (size_t)(b->g.ph + 1) * (b->g.pw + 1);
    b->sel_stride = ohw > sat ? ohw : sat;
    b->sel = sal_take(w, na * b->sel_stride);
    b->seed = sal_take(w, (size_t)r->max_batch * r->K);
    b->scratch = sal_take(w, (size_t)r->HW);
    if (b->weight) {
        ep_weights(b->weight, &b->g);
        ep_ones_table(b);
    }
    return 0;
}

/* ---- the mask generator ----------------------------------------------------------------
 * Pixel u of the full mask pools the ksz x ksz window of the padded parameter grid at
 * (uy / step, ux / step): v_k = wt[phase(u)][k] * Ppad[window k]. The k loops run on the
 * 16-float vectors of saliency_internal.h, k padded to whole vectors with zero weights and
 * masked out of the sums; horizontal sums run in a fixed lane order. */

static inline float ep_hsum(ep_vf a)
{
    float s = 0;
    for (int l = 0; l < EP_VL; l += 2)
        s += a[l] + a[l + 1];
    return s;
}

static void ep_pad(float *pp, const float *P, const struct ep_geom *g)
{
    memset(pp, 0, sizeof(float) * (size_t)g->ph * g->pw);
    for (int y = 0; y < g->in_h; y++)
        memcpy(pp + (size_t)(y + g->pad) * g->pw + g->pad, P + (size_t)y * g->in_w,
               sizeof(float) * g->in_w);
}

static inline int ep_blocks(const struct ep_geom *g)
{
    return (g->k2 + EP_VL - 1) / EP_VL;
}

static inline const float *ep_wt(const struct ep_bufs *b, int uy, int ux)
{
    int st = b->g.step;
    return b->weight + (size_t)((uy % st) * st + ux % st) * ep_blocks(&b->g) * EP_VL;
}

/* V[k] = wt[k] * window value k; lanes past k2 are 0. */
static inline void ep_gather(ep_vf *V, const struct ep_geom *g, const float *wt,
                             const float *pp, int uy, int ux)
{
    float *v = (float *)V;
    const float *base = pp + (size_t)(uy / g->step) * g->pw + ux / g->step;
    V[ep_blocks(g) - 1] = ep_splat(0.0f);
    for (int ky = 0; ky < g->ksz; ky++)
        for (int kx = 0; kx < g->ksz; kx++)
            v[ky * g->ksz + kx] = wt[ky * g->ksz + kx] * base[(size_t)ky * g->pw + kx];
}

/* E[k] = exp(coldness (v_k - max v)) (unnormalised, 0 on padding lanes) and their sum *z, as
 * F.softmax; returns the pooled value sum_k v_k E_k / z. */
static inline float ep_softmax_pool(ep_vf *E, float *z, const ep_vf *V, const ep_vf *mask,
                                    int nb)
{
    ep_vf m = V[0];
    for (int b = 1; b < nb; b++)
        m = ep_blend(V[b] > m, V[b], m);
    float vmax = m[0];
    for (int l = 1; l < EP_VL; l++)
        vmax = m[l] > vmax ? m[l] : vmax;
    ep_vf cm = ep_splat(EP_COLDNESS * vmax), zs = ep_splat(0.0f), acc = ep_splat(0.0f);
    for (int b = 0; b < nb; b++) {
        ep_vf e = ep_vexp(ep_splat(EP_COLDNESS) * V[b] - cm) * mask[b];
        E[b] = e;
        zs += e;
        acc += V[b] * e;
    }
    *z = ep_hsum(zs);
    return ep_hsum(acc) / *z;
}

/* Lane masks: 1 for k < k2, 0 after. */
static void ep_masks(ep_vf *mask, const struct ep_geom *g)
{
    for (int b = 0; b < ep_blocks(g); b++)
        for (int l = 0; l < EP_VL; l++)
            mask[b][l] = b * EP_VL + l < g->k2 ? 1.0f : 0.0f;
}

/* Window kinds. A window whose parameters are all 0 has v = 0: E = 1, z = k2, pooled 0. One
 * whose parameters are all 1 has v = the phase's weights, so E, z and pooled come from the
 * phase table. Both are what the general path computes, bit for bit (exp(0) is exactly 1),
 * and they are most of the mask once the optimisation has saturated the parameters. */
#define EP_ZEROS 0.0f
#define EP_ONES 1.0f
#define EP_MIXED 2.0f

/* The phase table: for each phase, E[kp], z, pooled of v = wt (all parameters 1); rows are
 * whole vectors long so each row starts aligned. */
static void ep_ones_table(struct ep_bufs *b)
{
    const struct ep_geom *g = &b->g;
    int nb = ep_blocks(g), kp = nb * EP_VL;
    ep_vf V[EP_MAX_VB], E[EP_MAX_VB], mask[EP_MAX_VB];
    ep_masks(mask, g);
    for (int ph = 0; ph < g->step * g->step; ph++) {
        float *row = b->ones + (size_t)ph * (kp + EP_VL), z;
        memcpy(V, b->weight + (size_t)ph * kp, sizeof(float) * kp);
        float pooled = ep_softmax_pool(E, &z, V, mask, nb);
        memcpy(row, E, sizeof(float) * kp);
        row[kp] = z;
        row[kp + 1] = pooled;
    }
}

/* flags[mid_h * mid_w] of one padded grid from summed-area tables of zeros and ones.
 * scratch: 2 (ph + 1) (pw + 1) floats (counts are small integers, exact in float). */
static void ep_flags(float *flags, const struct ep_geom *g, const float *pp, float *sat)
{
    int W1 = g->pw + 1;
    float *s0 = sat, *s1 = sat + (size_t)(g->ph + 1) * W1;
    for (int x = 0; x < W1; x++)
        s0[x] = s1[x] = 0;
    for (int y = 0; y < g->ph; y++) {
        float r0 = 0, r1 = 0;
        s0[(size_t)(y + 1) * W1] = s1[(size_t)(y + 1) * W1] = 0;
        for (int x = 0; x < g->pw; x++) {
            float v = pp[(size_t)y * g->pw + x];
            r0 += v == 0;
            r1 += v == 1;
            s0[(size_t)(y + 1) * W1 + x + 1] = s0[(size_t)y * W1 + x + 1] + r0;
            s1[(size_t)(y + 1) * W1 + x + 1] = s1[(size_t)y * W1 + x + 1] + r1;
        }
    }
    int k = g->ksz;
    float full = (float)(k * k);
    for (int oy = 0; oy < g->mid_h; oy++)
        for (int ox = 0; ox < g->mid_w; ox++) {
            size_t a = (size_t)oy * W1 + ox, bb = a + k, c = a + (size_t)k * W1, d = c + k;
            float n0 = s0[d] - s0[bb] - s0[c] + s0[a], n1 = s1[d] - s1[bb] - s1[c] + s1[a];
            flags[(size_t)oy * g->mid_w + ox] = n0 == full ? EP_ZEROS
                                                : n1 == full ? EP_ONES : EP_MIXED;
        }
}

static inline float ep_flag(const float *flags, const struct ep_geom *g, int uy, int ux)
{
    return flags[(size_t)(uy / g->step) * g->mid_w + ux / g->step];
}

static inline const float *ep_ones_row(const struct ep_bufs *b, int uy, int ux)
{
    int st = b->g.step, kp = ep_blocks(&b->g) * EP_VL;
    return b->ones + (size_t)((uy % st) * st + ux % st) * (kp + EP_VL);
}

/* pooled [out_hw] of one padded parameter grid. */
static void ep_generate(float *pooled, const struct ep_bufs *b, const float *pp,
                        const float *flags)
{
    const struct ep_geom *g = &b->g;
    ep_vf V[EP_MAX_VB], E[EP_MAX_VB], mask[EP_MAX_VB];
    float z;
    int nb = ep_blocks(g), kp = nb * EP_VL;
    ep_masks(mask, g);
    for (int uy = 0; uy < g->out_h; uy++)
        for (int ux = 0; ux < g->out_w; ux++) {
            float f = ep_flag(flags, g, uy, ux), *o = &pooled[(size_t)uy * g->out_w + ux];
            if (f == EP_ZEROS) {
                *o = 0;
            } else if (f == EP_ONES) {
                *o = ep_ones_row(b, uy, ux)[kp + 1];
            } else {
                ep_gather(V, g, ep_wt(b, uy, ux), pp, uy, ux);
                *o = ep_softmax_pool(E, &z, V, mask, nb);
            }
        }
}

static inline float clamp01(float x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* gpad += d(pooled)/d(params)^T gfull on the padded grid, through the clamp (which passes on
 * [0, 1] inclusive, as torch.clamp) and the smooth max:
 * d pooled / d v_k = s_k (1 + coldness (v_k - pooled)), s = softmax(coldness v). */
static void ep_generate_backward(float *gpad, const struct ep_bufs *b, const float *pp,
                                 const float *flags, const float *pooled, const float *gfull)
{
    const struct ep_geom *g = &b->g;
    ep_vf V[EP_MAX_VB], E[EP_MAX_VB], G[EP_MAX_VB], mask[EP_MAX_VB];
    float z, *gv = (float *)G;
    int nb = ep_blocks(g), kp = nb * EP_VL;
    ep_masks(mask, g);
    for (int uy = 0; uy < g->out_h; uy++)
        for (int ux = 0; ux < g->out_w; ux++) {
            size_t u = (size_t)uy * g->out_w + ux;
            float pu = pooled[u], gu = gfull[u], f = ep_flag(flags, g, uy, ux);
            if (gu == 0 || pu < 0 || pu > 1) continue;
            const float *wt = ep_wt(b, uy, ux);
            const ep_vf *W = (const ep_vf *)wt, *Ek = E;
            ep_vf one = ep_splat(1.0f), c = ep_splat(EP_COLDNESS), pv = ep_splat(pu);
            if (f == EP_ZEROS) { /* v = 0, E = 1 (0 on padding lanes), z = k2 */
                ep_vf scale = ep_splat(gu / (float)g->k2);
                for (int k = 0; k < nb; k++)
                    G[k] = W[k] * scale * mask[k];
            } else {
                if (f == EP_ONES) {
                    const float *row = ep_ones_row(b, uy, ux);
                    memcpy(V, wt, sizeof(float) * kp);
                    Ek = (const ep_vf *)(const void *)row;
                    z = row[kp];
                } else {
                    ep_gather(V, g, wt, pp, uy, ux);
                    ep_softmax_pool(E, &z, V, mask, nb);
                }
                ep_vf scale = ep_splat(gu / z);
                for (int k = 0; k < nb; k++)
                    G[k] = W[k] * scale * Ek[k] * (one + c * (V[k] - pv));
            }
            float *base = gpad + (size_t)(uy / g->step) * g->pw + ux / g->step;
            for (int ky = 0; ky < g->ksz; ky++)
                for (int kx = 0; kx < g->ksz; kx++)
                    base[(size_t)ky * g->pw + kx] += gv[ky * g->ksz + kx];
        }
}

/* ---- area regulariser ------------------------------------------------------------------ */

/* k-th smallest of a[0..n) (0-based); a is reordered. */
static float ep_select(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float x = a[(lo + hi) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < x) i++;
            while (a[j] > x) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

/* gfull += lambda * 2 (m_u - ref_u) / N: the gradient of lambda * mean((sort(m) - r)^2) with r
 * = 0 for the `zeros` smallest values and 1 for the others (m = clamp(pooled)). Values within
 * EP_TIE of the threshold pair (s[zeros-1], s[zeros]) form one tie group and share the mean of
 * their reference values: the average of the subgradients over their orders. At TorchRay's
 * all-ones start many mask values are equal up to rounding, and torch.sort lets float noise
 * decide which of them count as inside the area; the shared value makes the step independent
 * of that noise (and of the evaluation order). */
#define EP_TIE 1e-4f

static void ep_regul_backward(float *gfull, const float *pooled, float *sel, size_t n,
                              size_t zeros, float lambda)
{
    float scale = 2.0f * lambda / (float)n;
    if (scale == 0) return;
    float lo = -1, hi = -1, tie_ref = 0; /* no group: every value is far from the threshold */
    if (zeros > 0) {
        for (size_t u = 0; u < n; u++)
            sel[u] = clamp01(pooled[u]);
        lo = ep_select(sel, n, zeros - 1);
        hi = 2;
        for (size_t u = zeros; u < n; u++)
            hi = sel[u] < hi ? sel[u] : hi;
        if (hi - lo <= EP_TIE) {
            size_t below = 0, group = 0;
            for (size_t u = 0; u < n; u++) {
                float m = clamp01(pooled[u]);
                below += m < lo - EP_TIE;
                group += m >= lo - EP_TIE && m <= hi + EP_TIE;
            }
            tie_ref = 1.0f - (float)(zeros - below) / (float)group;
            lo -= EP_TIE;
            hi += EP_TIE;
        } else {
            hi = lo; /* values <= lo: 0, above: 1 */
        }
    }
    for (size_t u = 0; u < n; u++) {
        float m = clamp01(pooled[u]);
        float ref = zeros == 0 ? 1 : m < lo ? 0 : m > hi ? 1 : lo == hi ? 0 : tie_ref;
        gfull[u] += scale * (m - ref);
    }
}

/* ---- perturbation pyramid -------------------------------------------------------------- */

static void ep_pyramid(float *pyr, const struct sal_run *r, struct ep_bufs *b, const float *x)
{
    size_t chw = (size_t)r->C * r->HW;
    for (int l = 0; l < b->L; l++) {
        float lin = (float)l / (float)(b->L - 1);
        float *lev = pyr + (size_t)l * chw;
        if (r->p->perturbation == SALIENCY_EP_FADE) {
            for (size_t k = 0; k < chw; k++)
                lev[k] = x[k] * lin;
            continue;
        }
        memcpy(lev, x, sizeof(float) * chw);
        float sigma = (1.0f - lin) * (float)r->p->max_blur;
        for (int c = 0; c < r->C; c++)
            sal_smooth(lev + (size_t)c * r->HW, r->H, r->W, sigma, 0, b->scratch);
    }
}

/* The perturbed image for mask value m at pixel (c, u): linear interpolation between pyramid
 * levels floor(m (L-1)) and the next; *dm receives d(image)/d(m). */
static inline float ep_apply(const float *pyr, size_t chw, size_t i, float m, int L, float *dm)
{
    float wv = m * (float)(L - 1), k = floorf(wv), f = wv - k;
    int k0 = (int)k, k1 = k0 + 1 < L ? k0 + 1 : L - 1;
    float y0 = pyr[(size_t)k0 * chw + i], y1 = pyr[(size_t)k1 * chw + i];
    *dm = (float)(L - 1) * (y1 - y0);
    return (1 - f) * y0 + f * y1;
}

/* ---- one optimisation step ------------------------------------------------------------- */

/* Image index of (trial slot s, area a, half h: 0 preserve/delete, 1 the dual's delete). */
static int ep_image(const struct ep_bufs *b, int s, int a, int h)
{
    return s * b->per_trial + h * b->A + a;
}

static void ep_build_inputs(const struct sal_run *r, struct ep_bufs *b, int nt, int flip)
{
    const struct ep_geom *g = &b->g;
    size_t chw = (size_t)r->C * r->HW;
    float *inp = net_act(r->net, 0).data;
    int halves = b->per_trial / b->A;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
    for (int ia = 0; ia < nt * b->A; ia++) {
        int s = ia / b->A, a = ia % b->A;
        const float *pooled = b->pooled + (size_t)ia * g->out_h * g->out_w;
        const float *pyr = b->pyr + (size_t)s * b->L * chw;
        for (int h = 0; h < halves; h++) {
            int del = r->p->variant == SALIENCY_EP_DELETE || h == 1;
            float *dst = inp + (size_t)ep_image(b, s, a, h) * chw;
            for (int y = 0; y < r->H; y++)
                for (int x = 0; x < r->W; x++) {
                    float m = clamp01(pooled[(size_t)(y + g->margin) * g->out_w + x + g->margin]);
                    if (del) m = 1 - m;
                    int xo = flip ? r->W - 1 - x : x;
                    for (int c = 0; c < r->C; c++) {
                        size_t i = (size_t)c * r->HW + (size_t)y * r->W + x;
                        float d;
                        dst[(size_t)c * r->HW + (size_t)y * r->W + xo] =
                            ep_apply(pyr, chw, i, m, b->L, &d);
                    }
                }
        }
    }
}

/* seed = d(-energy)/d(scores): -reward's gradient for every image. */
static void ep_seed(const struct sal_run *r, struct ep_bufs *b, int t0, int nt)
{
    const float *y = sal_scores(r);
    int K = r->K, halves = b->per_trial / b->A;
    memset(b->seed, 0, sizeof(float) * (size_t)nt * b->per_trial * K);
    for (int s = 0; s < nt; s++) {
        int c = r->in->cls[t0 + s];
        for (int a = 0; a < b->A; a++)
            for (int h = 0; h < halves; h++) {
                int im = ep_image(b, s, a, h);
                float sign = r->p->variant == SALIENCY_EP_DELETE || h == 1 ? 1.0f : -1.0f;
                float *sd = b->seed + (size_t)im * K;
                sd[c] = sign;
                if (r->p->reward != SALIENCY_EP_CONTRASTIVE) continue;
                /* max over the other classes, the target replaced by -100 (TorchRay) */
                const float *yi = y + (size_t)im * K;
                int best = -1;
                float bv = -100.0f;
                for (int k = 0; k < K; k++)
                    if (k != c && yi[k] > bv) best = k, bv = yi[k];
                if (best >= 0) sd[best] -= sign;
            }
    }
}

/* gcrop = d(-energy)/d(cropped mask) from the input gradient. */
static void ep_crop_grad(const struct sal_run *r, struct ep_bufs *b, int nt, int flip)
{
    const struct ep_geom *g = &b->g;
    size_t chw = (size_t)r->C * r->HW;
    const float *gx = net_grad(r->net, 0).data;
    int halves = b->per_trial / b->A;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
    for (int ia = 0; ia < nt * b->A; ia++) {
        int s = ia / b->A, a = ia % b->A;
        const float *pooled = b->pooled + (size_t)ia * g->out_h * g->out_w;
        const float *pyr = b->pyr + (size_t)s * b->L * chw;
        float *gc = b->gcrop + (size_t)ia * r->HW;
        for (int y = 0; y < r->H; y++)
            for (int x = 0; x < r->W; x++) {
                float m0 = clamp01(pooled[(size_t)(y + g->margin) * g->out_w + x + g->margin]);
                int xo = flip ? r->W - 1 - x : x;
                float acc = 0;
                for (int h = 0; h < halves; h++) {
                    int del = r->p->variant == SALIENCY_EP_DELETE || h == 1;
                    const float *gi = gx + (size_t)ep_image(b, s, a, h) * chw;
                    float m = del ? 1 - m0 : m0, part = 0;
                    for (int c = 0; c < r->C; c++) {
                        size_t i = (size_t)c * r->HW + (size_t)y * r->W + x;
                        float d;
                        ep_apply(pyr, chw, i, m, b->L, &d);
                        part += gi[(size_t)c * r->HW + (size_t)y * r->W + xo] * d;
                    }
                    acc += del ? -part : part;
                }
                gc[(size_t)y * r->W + x] = acc;
            }
    }
}

/* Regulariser and crop gradients -> mask parameters -> SGD step with momentum, clamp. */
static void ep_update(const struct sal_run *r, struct ep_bufs *b, int nt, int iter,
                      double lambda)
{
    const struct ep_geom *g = &b->g;
    size_t ohw = (size_t)g->out_h * g->out_w, ihw = (size_t)g->in_h * g->in_w;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
    for (int ia = 0; ia < nt * b->A; ia++) {
        int a = ia % b->A;
        const float *pooled = b->pooled + (size_t)ia * ohw;
        float *gf = b->gfull + (size_t)ia * ohw;
        float *gp = b->gparam + (size_t)ia * b->g.ph * b->g.pw;
        float *P = b->param + (size_t)ia * ihw, *M = b->mom + (size_t)ia * ihw;
        memset(gf, 0, sizeof(float) * ohw);
        size_t zeros = (size_t)((double)ohw * (1 - r->p->areas[a]));
        ep_regul_backward(gf, pooled, b->sel + (size_t)ia * b->sel_stride, ohw, zeros,
                          (float)lambda);
        const float *gc = b->gcrop + (size_t)ia * r->HW;
        for (int y = 0; y < r->H; y++)
            for (int x = 0; x < r->W; x++)
                gf[(size_t)(y + g->margin) * g->out_w + x + g->margin] += gc[y * r->W + x];
        const struct ep_geom *gg = &b->g;
        float *pp = b->ppad + (size_t)ia * gg->ph * gg->pw;
        memset(gp, 0, sizeof(float) * (size_t)gg->ph * gg->pw);
        ep_generate_backward(gp, b, pp, b->flags + (size_t)ia * gg->mid_h * gg->mid_w, pooled,
                             gf);
        for (int y = 0; y < gg->in_h; y++)
            for (int x = 0; x < gg->in_w; x++) {
                size_t k = (size_t)y * gg->in_w + x;
                float gk = gp[(size_t)(y + gg->pad) * gg->pw + x + gg->pad];
                M[k] = iter == 0 ? gk : EP_MOMENTUM * M[k] + (1 - EP_DAMPENING) * gk;
                P[k] = clamp01(P[k] - EP_LR * M[k]);
            }
    }
}

static void ep_generate_all(const struct sal_run *r, struct ep_bufs *b, int nt)
{
    size_t ohw = (size_t)b->g.out_h * b->g.out_w, ihw = (size_t)b->g.in_h * b->g.in_w;
    size_t php = (size_t)b->g.ph * b->g.pw, fl = (size_t)b->g.mid_h * b->g.mid_w;
    (void)r;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
    for (int ia = 0; ia < nt * b->A; ia++) {
        float *pp = b->ppad + (size_t)ia * php, *flags = b->flags + (size_t)ia * fl;
        ep_pad(pp, b->param + (size_t)ia * ihw, &b->g);
        ep_flags(flags, &b->g, pp, b->sel + (size_t)ia * b->sel_stride);
        ep_generate(b->pooled + (size_t)ia * ohw, b, pp, flags);
    }
}

/* The map of each trial: sum over areas of the cropped masks, optionally smoothed. */
static void ep_output(const struct sal_run *r, struct ep_bufs *b, int t0, int nt, float *maps)
{
    const struct ep_geom *g = &b->g;
    size_t ohw = (size_t)g->out_h * g->out_w;
    for (int s = 0; s < nt; s++) {
        float *m = maps + (size_t)(t0 + s) * r->HW;
        memset(m, 0, sizeof(float) * r->HW);
        for (int a = 0; a < b->A; a++) {
            const float *pooled = b->pooled + (size_t)(s * b->A + a) * ohw;
            for (int y = 0; y < r->H; y++)
                for (int x = 0; x < r->W; x++)
                    m[y * r->W + x] +=
                        clamp01(pooled[(size_t)(y + g->margin) * g->out_w + x + g->margin]);
        }
        if (r->p->smooth > 0)
            sal_smooth(m, r->H, r->W, r->p->smooth * (r->H < r->W ? r->H : r->W), 0,
                       b->scratch);
    }
}

static int ep_chunk(struct sal_run *r, struct ep_bufs *b, int t0, int nt, float *maps)
{
    size_t chw = (size_t)r->C * r->HW, ihw = (size_t)b->g.in_h * b->g.in_w;
    int nimg = nt * b->per_trial, iters = r->p->iterations;
    const char *score = r->score_layer == r->logits
                            ? NULL : net_layer_spec_at(r->net, r->score_layer)->name;
    for (int s = 0; s < nt; s++)
        ep_pyramid(b->pyr + (size_t)s * b->L * chw, r, b,
                   r->in->x + (size_t)r->in->example[t0 + s] * chw);
    for (size_t k = 0; k < (size_t)nt * b->A * ihw; k++)
        b->param[k] = 1.0f;
    double lambda = r->p->regul_weight;
    for (int it = 0; it < iters; it++) {
        int flip = r->p->jitter && it % 2 == 0;
        ep_generate_all(r, b, nt);
        if (it == iters - 1) break; /* the last step's update does not change the result */
        ep_build_inputs(r, b, nt, flip);
        if (net_forward(r->net, NULL, nimg, NET_EVAL, NULL) < 0) return -1;
        ep_seed(r, b, t0, nt);
        if (net_backward(r->net, nimg, score, b->seed, NULL, NULL, NET_GRAD_INPUT) < 0)
            return -1;
        ep_crop_grad(r, b, nt, flip);
        ep_update(r, b, nt, it, lambda);
        lambda *= EP_REGUL_GROWTH;
        sal_count(r, (uint64_t)nimg, (uint64_t)nimg);
    }
    ep_output(r, b, t0, nt, maps);
    return 0;
}

int sal_ep_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    struct ep_bufs b;
    if (plan(r, w, &b) < 0) return -1;
    if (!r->in) return 0;
    for (int t0 = 0; t0 < r->in->t; t0 += b.nt) {
        int nt = r->in->t - t0 < b.nt ? r->in->t - t0 : b.nt;
        if (ep_chunk(r, &b, t0, nt, maps) < 0) return -1;
    }
    return 0;
}

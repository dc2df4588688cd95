/* Perturbed inputs and final reductions of the re-inference metrics; see perturb.h. Batched
 * builders parallelise over images, each written by one thread, so results do not depend on
 * the thread count; every random value comes from its own (example, sample) stream. */
#include "pipeline/perturb.h"

#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/rng.h"
#include "pipeline/stats.h"

/* ---- deletion and insertion --------------------------------------------------------------- */

int perturb_schedule_init(struct perturb_schedule *s, int H, int W, int n_steps, size_t step)
{
    if (H <= 0 || W <= 0) return err_set("cannot plan deletion steps: image is %dx%d", H, W);
    size_t hw = (size_t)H * W;
    if (n_steps < 0 || (n_steps == 0 && step == 0))
        return err_set("cannot plan deletion steps: need a step count or a step size");
    if (step == 0) step = (hw + (size_t)n_steps - 1) / (size_t)n_steps;
    if (n_steps == 0) {
        size_t n = (hw + step - 1) / step;
        if (n > (size_t)1 << 30) return err_set("cannot plan deletion steps: %zu steps", n);
        n_steps = (int)n;
    }
    if ((size_t)n_steps * step < hw)
        return err_set("cannot plan deletion steps: %d steps of %zu px leave pixels of %zu",
                       n_steps, step, hw);
    s->n_steps = n_steps;
    s->step = step;
    s->n_pixels = hw;
    return 0;
}

size_t perturb_schedule_count(const struct perturb_schedule *s, int k)
{
    size_t c = (size_t)k * s->step;
    return c < s->n_pixels ? c : s->n_pixels;
}

void perturb_steps_forward(float *out, const float *start, const float *finish,
                           const uint32_t *order, const struct perturb_schedule *s, int k0, int B,
                           int C, int H, int W)
{
    size_t hw = (size_t)H * W, img = (size_t)C * hw;
    SB_ASSERT(hw == s->n_pixels && k0 >= 0 && k0 + B - 1 <= s->n_steps);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * img;
        memcpy(o, start, img * sizeof *o);
        size_t count = perturb_schedule_count(s, k0 + b);
        for (size_t i = 0; i < count; i++) {
            size_t p = order[i];
            for (int c = 0; c < C; c++)
                o[(size_t)c * hw + p] = finish[(size_t)c * hw + p];
        }
    }
}

/* ---- blur --------------------------------------------------------------------------------- */

void perturb_blur_default(int H, int W, int *radius, double *sigma)
{
    double scale = (double)(H < W ? H : W) / 224.0;
    int r = (int)floor(5.0 * scale + 0.5);
    *radius = r < 1 ? 1 : (r > PERTURB_BLUR_MAX_RADIUS ? PERTURB_BLUR_MAX_RADIUS : r);
    *sigma = 5.0 * scale;
}

/* scipy's 'reflect' boundary (d c b a | a b c d | d c b a) for index p of a length-n axis. */
static int reflect_index(long p, int n)
{
    long period = 2L * n, m = p % period;
    if (m < 0) m += period;
    return (int)(m < n ? m : period - 1 - m);
}

void perturb_blur_taps(double *taps, int radius, double sigma)
{
    SB_ASSERT(radius >= 0 && radius <= PERTURB_BLUR_MAX_RADIUS && sigma > 0);
    int len = 2 * radius + 1, tr = (int)(4.0 * sigma + 0.5); /* scipy: truncate 4 */
    double wsum = 0;
    for (int j = -tr; j <= tr; j++)
        wsum += exp(-0.5 * (double)j * j / (sigma * sigma));
    /* taps[i] = sum_j w_j delta[reflect(i + j)], delta at the centre. */
    for (int i = 0; i < len; i++) {
        double t = 0;
        for (int j = -tr; j <= tr; j++)
            if (reflect_index((long)i + j, len) == radius)
                t += exp(-0.5 * (double)j * j / (sigma * sigma)) / wsum;
        taps[i] = t;
    }
}

void perturb_blur_forward(float *out, const float *inp, const double *taps, int radius, int C,
                          int H, int W, float *scratch)
{
    int rows = C * H;
#pragma omp parallel for schedule(static)
    for (int cr = 0; cr < rows; cr++) {
        const float *in = inp + (size_t)cr * W;
        float *t = scratch + (size_t)cr * W;
        for (int x = 0; x < W; x++) {
            double s = 0;
            for (int k = -radius; k <= radius; k++)
                if (x + k >= 0 && x + k < W) s += taps[k + radius] * in[x + k];
            t[x] = (float)s;
        }
    }
#pragma omp parallel for schedule(static)
    for (int cr = 0; cr < rows; cr++) {
        int c = cr / H, y = cr % H;
        const float *t = scratch + (size_t)c * H * W;
        float *o = out + (size_t)cr * W;
        for (int x = 0; x < W; x++) {
            double s = 0;
            for (int k = -radius; k <= radius; k++)
                if (y + k >= 0 && y + k < H) s += taps[k + radius] * t[(size_t)(y + k) * W + x];
            o[x] = (float)s;
        }
    }
}

/* ---- faithfulness correlation ------------------------------------------------------------- */

/* Inserts v into the ascending set[0..*n) unless present; returns 1 when inserted. */
static int sorted_insert(uint32_t *set, uint32_t *n, uint32_t v)
{
    uint32_t lo = 0, hi = *n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (set[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && set[lo] == v) return 0;
    memmove(set + lo + 1, set + lo, (size_t)(*n - lo) * sizeof *set);
    set[lo] = v;
    (*n)++;
    return 1;
}

void perturb_subset_draw(uint32_t *idx, uint32_t k, uint32_t n_features, uint64_t seed,
                         uint64_t example_id, uint32_t run)
{
    SB_ASSERT(k <= n_features);
    struct rng r;
    stats_rng_sub(&r, seed, example_id, PERTURB_RNG_SUBSET, run);
    uint32_t n = 0;
    /* Floyd: for j = N-k .. N-1 draw t in [0, j]; take t, or j when t is already taken. */
    for (uint32_t j = n_features - k; j < n_features; j++) {
        uint32_t t = rng_below(&r, j + 1);
        if (!sorted_insert(idx, &n, t)) sorted_insert(idx, &n, j);
    }
}

float perturb_black_baseline(const float *x, size_t n)
{
    float m = x[0];
    for (size_t i = 1; i < n; i++)
        m = x[i] < m ? x[i] : m;
    return m;
}

double perturb_subset_attribution(const float *map, size_t hw, const uint32_t *idx, uint32_t k)
{
    double s = 0;
    for (uint32_t i = 0; i < k; i++)
        s += map[idx[i] % hw];
    return s;
}

void perturb_subsets_forward(float *out, const float *x, size_t n_features, const uint32_t *subsets,
                             uint32_t k, int B, float baseline)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * n_features;
        memcpy(o, x, n_features * sizeof *o);
        const uint32_t *idx = subsets + (size_t)b * k;
        for (uint32_t i = 0; i < k; i++)
            o[idx[i]] = baseline;
    }
}

double perturb_faithfulness_correlation(const double *attr_sums, const double *drops, int runs)
{
    return runs < 2 ? NAN : stats_pearson(attr_sums, drops, (size_t)runs);
}

/* ---- infidelity --------------------------------------------------------------------------- */

double perturb_input_range(const float *x, size_t n)
{
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    return (double)hi - (double)lo;
}

void perturb_infidelity_forward(float *out, double *dots, const float *x, const float *map, int C,
                                size_t hw, double sigma, uint64_t seed, uint64_t example_id,
                                uint32_t j0, int B)
{
    size_t n = (size_t)C * hw;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        struct rng r;
        stats_rng_sub(&r, seed, example_id, PERTURB_RNG_INFIDELITY, j0 + (uint32_t)b);
        float *o = out + (size_t)b * n;
        double dot = 0;
        for (size_t f = 0; f < n; f++) {
            float noise = (float)(sigma * rng_normal(&r));
            o[f] = x[f] - noise;
            dot += (double)map[f % hw] * noise;
        }
        dots[b] = dot;
    }
}

double perturb_infidelity(const double *dots, const double *drops, int n, int normalize)
{
    if (n < 1) return NAN;
    double uu = 0, ud = 0, dd = 0, sq = 0;
    for (int j = 0; j < n; j++) {
        if (!isfinite(dots[j]) || !isfinite(drops[j])) return NAN;
        uu += dots[j] * dots[j];
        ud += dots[j] * drops[j];
        dd += drops[j] * drops[j];
        sq += (dots[j] - drops[j]) * (dots[j] - drops[j]);
    }
    if (!normalize) return sq / n;
    uu /= n;
    ud /= n;
    dd /= n;
    double beta = uu != 0 ? ud / uu : 0.0;
    return beta * beta * uu - 2 * beta * ud + dd;
}

/* ---- sensitivity -------------------------------------------------------------------------- */

void perturb_sensitivity_forward(float *out, const float *x, size_t n, double radius, uint64_t seed,
                                 uint64_t example_id, uint32_t j0, int B)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        struct rng r;
        stats_rng_sub(&r, seed, example_id, PERTURB_RNG_SENSITIVITY, j0 + (uint32_t)b);
        float *o = out + (size_t)b * n;
        for (size_t f = 0; f < n; f++)
            o[f] = x[f] + (float)(radius * (2.0 * rng_uniform_f64(&r) - 1.0));
    }
}

double perturb_relative_change(const float *e0, const float *e1, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(e0[i]) || !isfinite(e1[i])) return NAN;
        double d = (double)e1[i] - (double)e0[i];
        num += d * d;
        den += (double)e0[i] * e0[i];
    }
    return den > 0 ? sqrt(num) / sqrt(den) : NAN;
}

void perturb_sensitivity_reduce(double *max_out, double *avg_out, const double *ratios, int n)
{
    *max_out = *avg_out = NAN;
    if (n < 1) return;
    double mx = ratios[0], s = 0;
    for (int j = 0; j < n; j++) {
        if (isnan(ratios[j])) return;
        mx = ratios[j] > mx ? ratios[j] : mx;
        s += ratios[j];
    }
    *max_out = mx;
    *avg_out = s / n;
}

/* ---- random logit ------------------------------------------------------------------------- */

int perturb_random_other_class(uint64_t seed, uint64_t example_id, int target, int n_classes)
{
    if (n_classes < 2) return -1;
    struct rng r;
    stats_rng_sub(&r, seed, example_id, PERTURB_RNG_RANDOM_LOGIT, 0);
    int c = (int)rng_below(&r, (uint32_t)(n_classes - 1));
    return c >= target ? c + 1 : c;
}

/* Summaries, bootstrap, correlations and stable ranking; see stats.h. Every sum runs in double
 * in a fixed order, so results are bitwise identical whatever the thread count. */
#include "pipeline/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/err.h"

/* ---- ranking ------------------------------------------------------------------------------ */

/* 32-bit key increasing with the float's value; NaN maps below -inf, -0 onto +0. */
static uint32_t order_bits(float v)
{
    if (v != v) return 0;
    if (v == 0.0f) v = 0.0f;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Ascending keys = descending value, then ascending index. */
static void make_desc_keys(uint64_t *keys, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        keys[i] = ((uint64_t)(~order_bits(x[i])) << 32) | (uint64_t)i;
}

void stats_order_desc_f32(uint32_t *order, const float *x, size_t n, uint64_t *keys)
{
    SB_ASSERT(n < ((size_t)1 << 32));
    uint64_t *a = keys, *b = keys + n;
    make_desc_keys(a, x, n);
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((a[i] >> shift) & 0xff) + 1]++;
        int skip = 0;
        for (int d = 1; d <= 256; d++)
            if (count[d] == n) skip = 1;
        if (skip) continue;
        for (int d = 1; d <= 256; d++)
            count[d] += count[d - 1];
        for (size_t i = 0; i < n; i++)
            b[count[(a[i] >> shift) & 0xff]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)a[i];
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

void stats_order_desc_f32_naive(uint32_t *order, const float *x, size_t n, uint64_t *keys)
{
    make_desc_keys(keys, x, n);
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)keys[i];
}

/* Stable merge sort of idx[n] by x ascending; tmp has n entries. */
static void merge_sort_idx(uint32_t *idx, uint32_t *tmp, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = (x[idx[j]] < x[idx[i]]) ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

void stats_ranks_f64(double *rank, const double *x, size_t n, uint32_t *scratch)
{
    uint32_t *idx = scratch, *tmp = scratch + n;
    merge_sort_idx(idx, tmp, x, n);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]])
            j++;
        double r = 0.5 * (double)(i + j) + 1.0;
        for (size_t k = i; k <= j; k++)
            rank[idx[k]] = r;
        i = j + 1;
    }
}

void stats_ranks_order_f32(double *rank, uint32_t *order, const float *x, size_t n,
                           uint64_t *keys)
{
    stats_order_desc_f32(order, x, n, keys);
    /* Descending positions i..j hold one tie group: ascending 1-based ranks n-j..n-i. */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && x[order[j + 1]] == x[order[i]])
            j++;
        double r = (double)n - 0.5 * (double)(i + j);
        for (size_t k = i; k <= j; k++)
            rank[order[k]] = r;
        i = j + 1;
    }
}

void stats_ranks_f32(double *rank, const float *x, size_t n, void *scratch)
{
    uint64_t *keys = scratch;
    stats_ranks_order_f32(rank, (uint32_t *)(keys + 2 * n), x, n, keys);
}

/* ---- correlation -------------------------------------------------------------------------- */

double stats_pearson(const double *x, const double *y, size_t n)
{
    if (n < 2) return NAN;
    double sx = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
        sx += x[i];
        sy += y[i];
    }
    double mx = sx / (double)n, my = sy / (double)n;
    double sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    if (sxx == 0 || syy == 0) return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : (r < -1 ? -1 : r);
}

size_t stats_spearman_scratch_bytes(size_t n)
{
    /* f32: two rank vectors (16n) + keys (16n) + order (4n); f64 needs less (16n + 8n). */
    return 40 * n + 64;
}

double stats_spearman_f64(const double *x, const double *y, size_t n, void *scratch)
{
    if (n < 2) return NAN;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
    double *rx = scratch, *ry = rx + n;
    uint32_t *tmp = (uint32_t *)(ry + n);
    stats_ranks_f64(rx, x, n, tmp);
    stats_ranks_f64(ry, y, n, tmp);
    return stats_pearson(rx, ry, n);
}

double stats_spearman_f32(const float *x, const float *y, size_t n, void *scratch)
{
    if (n < 2) return NAN;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
    double *rx = scratch, *ry = rx + n;
    void *tmp = ry + n;
    stats_ranks_f32(rx, x, n, tmp);
    stats_ranks_f32(ry, y, n, tmp);
    return stats_pearson(rx, ry, n);
}

/* ---- curves ------------------------------------------------------------------------------- */

double stats_auc_unit(const double *curve, size_t n_points)
{
    if (n_points < 2) return NAN;
    double s = 0;
    for (size_t i = 0; i < n_points; i++) {
        if (!isfinite(curve[i])) return NAN;
        s += curve[i];
    }
    s -= 0.5 * (curve[0] + curve[n_points - 1]);
    return s / (double)(n_points - 1);
}

/* ---- summaries ---------------------------------------------------------------------------- */

void stats_rng_sub(struct rng *r, uint64_t seed, uint64_t key, uint32_t purpose, uint32_t sub)
{
    SB_ASSERT(purpose < (1u << 16) && sub < (1u << 16));
    rng_init(r, seed, key, purpose | (sub << 16));
}

double stats_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0) return NAN;
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return sorted[n - 1];
    double frac = h - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

size_t stats_summary_scratch_bytes(size_t n, int n_boot)
{
    return (n + (size_t)(n_boot > 0 ? n_boot : 0) + 1) * sizeof(double);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Mean, ddof-1 std and bootstrap interval of the m defined values v[m]. */
static void summarize_defined(struct stats_summary *out, const double *v, size_t m,
                              const struct stats_boot *boot, double *means)
{
    out->n = (int64_t)m;
    out->mean = out->std = out->ci_lo = out->ci_hi = NAN;
    if (m == 0) return;
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += v[i];
    out->mean = s / (double)m;
    if (m >= 2) {
        double ss = 0;
        for (size_t i = 0; i < m; i++)
            ss += (v[i] - out->mean) * (v[i] - out->mean);
        out->std = sqrt(ss / (double)(m - 1));
    }
    SB_ASSERT(boot->n_boot >= 1 && boot->n_boot < (1 << 16) && m < ((size_t)1 << 32));
    int nb = boot->n_boot;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nb; b++) {
        struct rng r;
        stats_rng_sub(&r, boot->seed, boot->stream, RNG_BOOTSTRAP, (uint32_t)b);
        double acc = 0;
        for (size_t i = 0; i < m; i++)
            acc += v[rng_below(&r, (uint32_t)m)];
        means[b] = acc / (double)m;
    }
    qsort(means, (size_t)nb, sizeof *means, cmp_double);
    double alpha = 1.0 - boot->level;
    out->ci_lo = stats_quantile_sorted(means, (size_t)nb, 0.5 * alpha);
    out->ci_hi = stats_quantile_sorted(means, (size_t)nb, 1.0 - 0.5 * alpha);
}

void stats_summarize(struct stats_summary *out, const double *x, size_t n,
                     const struct stats_boot *boot, void *scratch)
{
    double *v = scratch, *means = v + n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) v[m++] = x[i];
    out->undefined = (int64_t)(n - m);
    summarize_defined(out, v, m, boot, means);
}

void stats_paired(struct stats_summary *out, const double *x, const double *y, size_t n,
                  const struct stats_boot *boot, void *scratch)
{
    double *v = scratch, *means = v + n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) v[m++] = x[i] - y[i];
    out->undefined = (int64_t)(n - m);
    summarize_defined(out, v, m, boot, means);
}

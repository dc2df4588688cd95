/* map_stability of one trial: Spearman and top-k overlap of a reference and a scored map (see
 * score_stability.h). The rankings are stats.c's, so ties follow the same conventions as every
 * other ranked metric. */
#include "pipeline/score_stability.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/stats.h"

static size_t align8(size_t n)
{
    return (n + 7) / 8 * 8;
}

size_t score_stability_k(double fraction, size_t n)
{
    double k = floor(fraction * (double)n + 0.5);
    if (k < 1) return 1;
    return k > (double)n ? n : (size_t)k;
}

size_t score_stability_scratch_bytes(size_t n)
{
    /* two rank vectors (16n), keys (16n), order (4n), top-k marks (n), then the two |map|
     * copies when abs is set */
    return align8(37 * n) + 2 * align8(n * sizeof(float));
}

/* 1 when x[n] holds a non-finite value or a single value. */
static int degenerate(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 1;
    for (size_t i = 1; i < n; i++)
        if (x[i] != x[0]) return 0;
    return 1;
}

void score_stability_trial(double *rho, double *topk, const float *ref, const float *map,
                           size_t n, const struct score_stability_params *p, void *scratch)
{
    *rho = *topk = NAN;
    if (n < 2 || degenerate(ref, n) || degenerate(map, n)) return;
    unsigned char *s = scratch;
    if (p->abs) {
        float *a = (float *)(s + align8(37 * n));
        float *b = a + align8(n * sizeof(float)) / sizeof(float);
        for (size_t i = 0; i < n; i++)
            a[i] = fabsf(ref[i]), b[i] = fabsf(map[i]);
        ref = a, map = b;
        /* |x| can be constant where x was not (a map of +-c) */
        if (degenerate(ref, n) || degenerate(map, n)) return;
    }
    /* Spearman = Pearson of the average ranks (stats_spearman_f32); each map is sorted once
     * for both its ranks and its top k. */
    double *ra = (double *)s, *rb = ra + n;
    uint64_t *keys = (uint64_t *)(rb + n);
    uint32_t *order = (uint32_t *)(keys + 2 * n);
    unsigned char *mark = (unsigned char *)(order + n);
    size_t k = p->k < 1 ? 1 : p->k > n ? n : p->k, hits = 0;
    memset(mark, 0, n);
    stats_ranks_order_f32(ra, order, ref, n, keys);
    for (size_t i = 0; i < k; i++)
        mark[order[i]] = 1;
    stats_ranks_order_f32(rb, order, map, n, keys);
    for (size_t i = 0; i < k; i++)
        hits += mark[order[i]];
    *rho = stats_pearson(ra, rb, n);
    *topk = (double)hits / (double)k;
}

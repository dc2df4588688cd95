/* The score stage's map_stability metric: how far a method's map moves between a reference
 * chain (benign) and the scored chain (e.g. attacked) for the same trial: Spearman's rank
 * correlation of the two maps, and the overlap of their top-k pixels. Pure functions on
 * caller-owned buffers; no allocation, no I/O. Not here: matching trials between the two
 * saliency files or reading maps (stages/score_data). */
#ifndef SALBENCH_SCORE_STABILITY_H
#define SALBENCH_SCORE_STABILITY_H

#include <stddef.h>

#define SCORE_STABILITY_TOP_FRACTION 0.1 /* top-k share of pixels by default */

struct score_stability_params {
    size_t k;   /* top-k pixels compared (1 <= k <= n); score_stability_k gives the default */
    int abs;    /* rank |map| instead of the signed map */
};

/* k = round(fraction * n), at least 1 and at most n (fraction in (0, 1]). */
size_t score_stability_k(double fraction, size_t n);

/* Scratch bytes for score_stability_trial on maps of n pixels (8-byte aligned buffer). */
size_t score_stability_scratch_bytes(size_t n);

/* ref[n], map[n]: the trial's reference and scored maps.
 * *rho = Spearman of the two maps (average ranks for ties; stats_spearman_f32);
 * *topk = |top_k(ref) ∩ top_k(map)| / k, the top-k of each map by value descending, ties by
 *         the lowest flat index (METHODS.md Part 1 ranking).
 * Both are NaN when either map has a non-finite value or is constant (a constant map has no
 * ranking: METHODS.md Part 1 NaN policy), or when n < 2. */
void score_stability_trial(double *rho, double *topk, const float *ref, const float *map,
                           size_t n, const struct score_stability_params *p, void *scratch);

#endif

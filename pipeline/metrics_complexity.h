/* Complexity metrics of one saliency map [n] float32 (METHODS.md Part 1 and §4.5): sparseness
 * as Quantus' Gini index and complexity as the entropy of the normalised absolute map. Pure
 * functions on caller-owned buffers; no allocation. Not here: channel reduction of the map
 * (done by the attribute stage), aggregation over trials (stats.h). */
#ifndef SALBENCH_METRICS_COMPLEXITY_H
#define SALBENCH_METRICS_COMPLEXITY_H

#include <stddef.h>

/* Scratch bytes for metrics_sparseness (2n uint64, n uint32, n float). */
size_t metrics_sparseness_scratch_bytes(size_t n);

/* Sparseness (Quantus Sparseness, abs = normalise = True, normalisation per example as Part 1
 * says): b_i = |a_i| / max|a| (in float32, like Quantus' normalise_by_max) + 1e-7 in double,
 * sorted ascending, G = sum_i (2i - n - 1) b_(i) / (n sum_i b_(i)), i = 1..n. Evaluated as the
 * equal sum over symmetric pairs, sum_{i <= n/2} (n + 1 - 2i)(b_(n+1-i) - b_(i)), which is
 * exactly 0 for a constant map. One-hot map: (n - 1)/n minus the epsilon's effect.
 * NaN for a non-finite or all-zero map (zero norm, Part 1 NaN policy; Quantus' epsilon would
 * give 0 there). */
double metrics_sparseness(const float *map, size_t n, void *scratch);

/* Complexity (Quantus Complexity): entropy -sum p_i ln p_i of p_i = |a_i| / sum|a| in nats,
 * with 0 ln 0 = 0 (scipy.stats.entropy). Uniform map: ln(n). NaN for a non-finite or all-zero
 * map. */
double metrics_complexity(const float *map, size_t n);

#endif

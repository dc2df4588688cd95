/* Statistics for the score stage: per (method, metric) summaries with a seeded percentile
 * bootstrap, paired comparisons, rank and linear correlation, the unit-interval trapezoid AUC,
 * and the stable descending ranking every ranked metric shares. Pure functions on caller-owned
 * buffers (scratch sizes are given by the *_scratch_bytes functions); no allocation, no I/O.
 * Not here: reading tables, formatting the summary table (stages/score). */
#ifndef SALBENCH_STATS_H
#define SALBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/rng.h"

/* ---- ranking ------------------------------------------------------------------------------ */

/* order[i] = flat index of the i-th largest value of x[n] (METHODS.md Part 1: "ranking and
 * argmax break ties by the lowest flat index"): values descending, ties by ascending index.
 * -0.0 ties with +0.0; NaN ranks after -inf (last). LSD radix sort of 64-bit keys (value bits,
 * index), so the result is unique and independent of the algorithm. n < 2^32.
 * keys: scratch of 2n uint64. */
void stats_order_desc_f32(uint32_t *order, const float *x, size_t n, uint64_t *keys);
/* The naive twin (qsort on the same keys); tests compare the two. */
void stats_order_desc_f32_naive(uint32_t *order, const float *x, size_t n, uint64_t *keys);

/* Average ranks (1-based, ties get the mean of their positions, as scipy.stats.rankdata
 * 'average') of x[n] in ascending order. Inputs must be free of NaN (callers check).
 * f64: scratch = 2n uint32 (stable merge sort); f32: scratch = n uint32 + 2n uint64. */
void stats_ranks_f64(double *rank, const double *x, size_t n, uint32_t *scratch);
void stats_ranks_f32(double *rank, const float *x, size_t n, void *scratch);
/* The same average ranks plus the order they come from (order[n] as stats_order_desc_f32
 * gives it, keys: scratch of 2n uint64), for callers that need both (one sort instead of two). */
void stats_ranks_order_f32(double *rank, uint32_t *order, const float *x, size_t n,
                           uint64_t *keys);

/* ---- correlation -------------------------------------------------------------------------- */

/* Pearson's r in double precision (two-pass: means first). NaN when n < 2, when an input is
 * not finite, or when either side has zero variance (scipy returns NaN there too). */
double stats_pearson(const double *x, const double *y, size_t n);

/* Spearman's rho = Pearson's r of the average ranks (scipy.stats.spearmanr), double
 * precision throughout. NaN under the same conditions as stats_pearson (constant input,
 * non-finite value, n < 2). scratch: stats_spearman_scratch_bytes(n) bytes, 8-byte aligned. */
size_t stats_spearman_scratch_bytes(size_t n);
double stats_spearman_f64(const double *x, const double *y, size_t n, void *scratch);
double stats_spearman_f32(const float *x, const float *y, size_t n, void *scratch);

/* ---- curves ------------------------------------------------------------------------------- */

/* Trapezoid area of a curve of n_points = n + 1 equally spaced samples on x in [0, 1]:
 * (sum_i s_i - s_0/2 - s_n/2) / n, the RISE reference (METHODS.md §6.1). A flat curve at c
 * gives c. NaN when n_points < 2 or a sample is not finite. */
double stats_auc_unit(const double *curve, size_t n_points);

/* ---- summaries ---------------------------------------------------------------------------- */

/* Percentile bootstrap settings. Replicate b draws its n indices from its own counter-based
 * stream (seed, stream, RNG_BOOTSTRAP, sub-stream b): results depend on nothing else (not on
 * threads or on the order of other summaries). `stream` names the quantity, e.g. a hash of
 * (method, metric). level: 0.95 for a 95% interval. n_boot >= 1 (1000 by default). */
struct stats_boot {
    uint64_t seed;
    uint64_t stream;
    int n_boot;
    double level;
};
#define STATS_BOOT_DEFAULT_N 1000

struct stats_summary {
    double mean;       /* over defined (finite) values; NaN when n == 0 */
    double std;        /* sample standard deviation, ddof = 1; NaN when n < 2 */
    double ci_lo;      /* percentile bootstrap interval of the mean (numpy's default linear */
    double ci_hi;      /* interpolation between order statistics); NaN when n == 0 */
    int64_t n;         /* defined values */
    int64_t undefined; /* NaN (or inf) values skipped: METHODS.md Part 1 NaN policy */
};

size_t stats_summary_scratch_bytes(size_t n, int n_boot);

/* Summary of x[n]; non-finite values are counted as undefined and skipped. */
void stats_summarize(struct stats_summary *out, const double *x, size_t n,
                     const struct stats_boot *boot, void *scratch);

/* Paired comparison of two methods on the same trials: the summary of d_i = x_i - y_i over
 * trials where both are defined (a trial undefined on either side counts as undefined), so
 * mean is the mean difference and [ci_lo, ci_hi] its paired bootstrap interval (the trials
 * are resampled, keeping pairs together). scratch: stats_summary_scratch_bytes(n, n_boot). */
void stats_paired(struct stats_summary *out, const double *x, const double *y, size_t n,
                  const struct stats_boot *boot, void *scratch);

/* Quantile of sorted[n] (ascending) at q in [0, 1] with linear interpolation between order
 * statistics (numpy.quantile's default, "type 7"). */
double stats_quantile_sorted(const double *sorted, size_t n, double q);

/* Several independent streams per (seed, key, purpose): stream `sub` uses the purpose word
 * purpose | sub << 16, so sub-stream 0 is the plain rng_init stream. purpose < 2^16, sub <
 * 2^16 (checked). Used for bootstrap replicates and per-sample metric perturbations. */
void stats_rng_sub(struct rng *r, uint64_t seed, uint64_t key, uint32_t purpose, uint32_t sub);

#endif

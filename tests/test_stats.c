/* Tests of pipeline/stats: stable ranking (against its naive twin), average ranks, Spearman
 * and Pearson against SciPy fixtures and hand cases, the unit trapezoid AUC, and the seeded
 * bootstrap by hand cases and properties (its draws cannot be reproduced in NumPy). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/stats.h"
#include "tests/check.h"
#include "tests/ref/metric_fixtures.h"

static void test_order(void)
{
    const float x[8] = {1, 3, 3, -0.0f, 0.0f, NAN, -INFINITY, 2};
    const uint32_t want[8] = {1, 2, 7, 0, 3, 4, 6, 5};
    uint32_t order[8];
    uint64_t keys[16];
    stats_order_desc_f32(order, x, 8, keys);
    CHECK(memcmp(order, want, sizeof want) == 0, "stats_order_hand_ties_nan",
          "got %u %u %u %u %u %u %u %u", order[0], order[1], order[2], order[3], order[4], order[5],
          order[6], order[7]);

    /* Radix sort against the qsort twin on 50,000 values with many ties. */
    size_t n = 50000;
    float *v = malloc(n * sizeof *v);
    uint32_t *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
    uint64_t *k = malloc(2 * n * sizeof *k);
    struct rng r;
    rng_init(&r, 1, 2, RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((int)rng_below(&r, 2000) - 1000) / 64.0f;
    stats_order_desc_f32(o1, v, n, k);
    stats_order_desc_f32_naive(o2, v, n, k);
    int sorted = 1;
    for (size_t i = 1; i < n; i++)
        if (v[o1[i]] > v[o1[i - 1]] || (v[o1[i]] == v[o1[i - 1]] && o1[i] < o1[i - 1])) sorted = 0;
    CHECK(memcmp(o1, o2, n * sizeof *o1) == 0 && sorted, "stats_order_radix_vs_naive",
          "radix order differs from the qsort twin or is not sorted");
    free(v);
    free(o1);
    free(o2);
    free(k);
}

static void test_ranks_and_correlation(void)
{
    size_t n = sizeof fx_spear_x / sizeof fx_spear_x[0];
    double rank[64];
    uint32_t tmp[128];
    stats_ranks_f64(rank, fx_spear_x, n, tmp);
    /* Average ranks are half-integers: exact. */
    check_close_f64("stats_ranks_f64_vs_scipy_rankdata", rank, fx_spear_ranks_x, n, 0, 0);
    float xf[64], yf[64];
    for (size_t i = 0; i < n; i++) {
        xf[i] = (float)fx_spear_x[i]; /* quarters: exact in float */
        yf[i] = (float)fx_spear_y[i];
    }
    double scratch[64 * 8];
    stats_ranks_f32(rank, xf, n, scratch);
    check_close_f64("stats_ranks_f32_vs_scipy_rankdata", rank, fx_spear_ranks_x, n, 0, 0);

    /* Double-precision sums of 60 terms: agreement to ~1e-15; 1e-12 leaves margin. */
    double rho = stats_spearman_f64(fx_spear_x, fx_spear_y, n, scratch);
    CHECK(fabs(rho - fx_spear_rho) < 1e-12, "stats_spearman_f64_vs_scipy", "%.17g vs %.17g", rho,
          fx_spear_rho);
    rho = stats_spearman_f32(xf, yf, n, scratch);
    CHECK(fabs(rho - fx_spear_rho) < 1e-12, "stats_spearman_f32_vs_scipy", "%.17g vs %.17g", rho,
          fx_spear_rho);
    double r = stats_pearson(fx_spear_x, fx_spear_y, n);
    CHECK(fabs(r - fx_pearson_r) < 1e-12, "stats_pearson_vs_scipy", "%.17g vs %.17g", r,
          fx_pearson_r);

    /* Hand cases. */
    const double a[3] = {1, 2, 3}, b[3] = {1, 2, 4}, c[3] = {5, 5, 5}, d[3] = {3, 2, 1};
    r = stats_pearson(a, b, 3); /* sxy = 3, sxx = 2, syy = 42/9 */
    CHECK(fabs(r - 3 / sqrt(2 * 42.0 / 9)) < 1e-15, "stats_pearson_hand", "%.17g", r);
    CHECK(stats_spearman_f64(a, b, 3, scratch) == 1.0, "stats_spearman_monotone_is_1", "");
    CHECK(stats_spearman_f64(a, d, 3, scratch) == -1.0, "stats_spearman_reversed_is_minus1", "");
    const double e[3] = {1, NAN, 3};
    CHECK(isnan(stats_spearman_f64(a, c, 3, scratch)) && isnan(stats_pearson(a, c, 3)) &&
              isnan(stats_spearman_f64(a, e, 3, scratch)) && isnan(stats_pearson(a, a, 1)),
          "stats_correlation_undefined_is_nan", "constant, NaN or n=1 input must give NaN");
}

static void test_auc(void)
{
    double flat[225], lin[225];
    for (int i = 0; i < 225; i++) {
        flat[i] = 0.7;
        lin[i] = 1.0 - i / 224.0;
    }
    /* A model that ignores its input gives a flat deletion curve: AUC = its value (sum of
     * 224 terms of 0.7: rounding ~1e-14). */
    CHECK(fabs(stats_auc_unit(flat, 225) - 0.7) < 1e-13, "stats_auc_flat_curve", "%.17g",
          stats_auc_unit(flat, 225));
    CHECK(fabs(stats_auc_unit(lin, 225) - 0.5) < 1e-13, "stats_auc_linear_curve", "%.17g",
          stats_auc_unit(lin, 225));
    const double h[3] = {1, 0, 0}, bad[3] = {1, NAN, 0};
    CHECK(stats_auc_unit(h, 3) == 0.25 && isnan(stats_auc_unit(bad, 3)) &&
              isnan(stats_auc_unit(h, 1)),
          "stats_auc_hand_and_undefined", "got %g", stats_auc_unit(h, 3));
}

static void test_quantile_and_streams(void)
{
    const double s[4] = {1, 2, 3, 4};
    CHECK(stats_quantile_sorted(s, 4, 0.25) == 1.75 && stats_quantile_sorted(s, 4, 0) == 1 &&
              stats_quantile_sorted(s, 4, 1) == 4 && stats_quantile_sorted(s, 4, 0.5) == 2.5,
          "stats_quantile_numpy_linear", "numpy.quantile([1,2,3,4], .25) is 1.75");
    struct rng a, b, c;
    rng_init(&a, 9, 77, RNG_BOOTSTRAP);
    stats_rng_sub(&b, 9, 77, RNG_BOOTSTRAP, 0);
    stats_rng_sub(&c, 9, 77, RNG_BOOTSTRAP, 1);
    uint64_t va = rng_u64(&a), vb = rng_u64(&b), vc = rng_u64(&c);
    CHECK(va == vb && vb != vc, "stats_rng_sub_streams", "sub 0 must be the plain stream");
}

static void test_summary(void)
{
    struct stats_boot boot = {.seed = 42, .stream = 7, .n_boot = 1000, .level = 0.95};
    double scratch[2100];
    struct stats_summary s;
    const double x[5] = {1, 2, 3, 4, NAN};
    stats_summarize(&s, x, 5, &boot, scratch);
    CHECK(s.n == 4 && s.undefined == 1 && s.mean == 2.5 && fabs(s.std - sqrt(5.0 / 3.0)) < 1e-15,
          "stats_summary_hand_ddof1", "n %lld undef %lld mean %g std %.17g", (long long)s.n,
          (long long)s.undefined, s.mean, s.std);
    CHECK(s.ci_lo >= 1 && s.ci_lo < 2.5 && s.ci_hi > 2.5 && s.ci_hi <= 4,
          "stats_bootstrap_ci_brackets_mean", "[%g, %g]", s.ci_lo, s.ci_hi);
    struct stats_summary s2;
    stats_summarize(&s2, x, 5, &boot, scratch);
    CHECK(memcmp(&s, &s2, sizeof s) == 0, "stats_bootstrap_deterministic", "reruns differ");
    /* Another seed or stream gives other draws (on 30 distinct values, so the interval's
     * order statistics differ; with 4 values the bootstrap means are too discrete). */
    double y[30];
    for (int i = 0; i < 30; i++)
        y[i] = sqrt(i + 2.0);
    stats_summarize(&s, y, 30, &boot, scratch);
    boot.seed = 43;
    stats_summarize(&s2, y, 30, &boot, scratch);
    boot.seed = 42;
    struct stats_summary s3;
    boot.stream = 8;
    stats_summarize(&s3, y, 30, &boot, scratch);
    boot.stream = 7;
    CHECK(s2.ci_lo != s.ci_lo && s3.ci_lo != s.ci_lo && s2.mean == s.mean,
          "stats_bootstrap_seed_and_stream_matter", "another seed or stream gave the same draws");

    const double one[1] = {0.3}, cst[4] = {2, 2, 2, 2};
    stats_summarize(&s, one, 1, &boot, scratch);
    CHECK(s.n == 1 && s.mean == 0.3 && isnan(s.std) && s.ci_lo == 0.3 && s.ci_hi == 0.3,
          "stats_summary_single_value", "std must be NaN (ddof 1), CI the value");
    stats_summarize(&s, cst, 4, &boot, scratch);
    CHECK(s.std == 0 && s.ci_lo == 2 && s.ci_hi == 2, "stats_summary_constant", "");
    const double none[2] = {NAN, NAN};
    stats_summarize(&s, none, 2, &boot, scratch);
    CHECK(s.n == 0 && s.undefined == 2 && isnan(s.mean) && isnan(s.ci_lo),
          "stats_summary_all_undefined", "");
}

/* Bootstrap interval against the normal approximation on 400 uniform values, its shrinking
 * with n, and its independence from the thread count. */
static void test_bootstrap_properties(void)
{
    size_t n = 400;
    double *x = malloc(n * sizeof *x);
    void *scratch = malloc(stats_summary_scratch_bytes(n, 2000));
    struct rng r;
    rng_init(&r, 3, 0, RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        x[i] = rng_uniform_f64(&r);
    struct stats_boot boot = {.seed = 1, .stream = 2, .n_boot = 2000, .level = 0.95};
    struct stats_summary big, small, narrow;
    stats_summarize(&big, x, n, &boot, scratch);
    double half = 0.5 * (big.ci_hi - big.ci_lo), normal = 1.959964 * big.std / sqrt((double)n);
    /* Percentile-bootstrap half-width of a mean matches 1.96 s / sqrt(n) within Monte Carlo
     * error (~5% at B = 2000); 15% is a loose bound. */
    CHECK(fabs(half / normal - 1) < 0.15 && big.ci_lo < big.mean && big.mean < big.ci_hi,
          "stats_bootstrap_vs_normal_approx", "half-width %g vs %g", half, normal);
    stats_summarize(&small, x, n / 4, &boot, scratch);
    double ratio = (small.ci_hi - small.ci_lo) / (big.ci_hi - big.ci_lo);
    CHECK(ratio > 1.5 && ratio < 2.7, "stats_bootstrap_width_scales", "ratio %g (expect ~2)",
          ratio);
    boot.level = 0.5;
    stats_summarize(&narrow, x, n, &boot, scratch);
    CHECK(narrow.ci_hi - narrow.ci_lo < big.ci_hi - big.ci_lo, "stats_bootstrap_level", "");
    boot.level = 0.95;
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    struct stats_summary t1, t2;
    omp_set_num_threads(1);
    stats_summarize(&t1, x, n, &boot, scratch);
    omp_set_num_threads(2);
    stats_summarize(&t2, x, n, &boot, scratch);
    omp_set_num_threads(saved);
    CHECK(memcmp(&t1, &t2, sizeof t1) == 0, "stats_bootstrap_threads_bitwise",
          "1 and 2 threads differ");
#endif
    /* Paired: y = x - 0.25 exactly on every trial -> difference 0.25 with a zero-width CI;
     * a NaN on either side makes the trial undefined. */
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] - 0.25;
    x[3] = NAN;
    y[9] = NAN;
    struct stats_summary p;
    stats_paired(&p, x, y, n, &boot, scratch);
    CHECK(p.n == (int64_t)n - 2 && p.undefined == 2 && fabs(p.mean - 0.25) < 1e-15 &&
              fabs(p.ci_lo - 0.25) < 1e-15 && fabs(p.ci_hi - 0.25) < 1e-15,
          "stats_paired_constant_shift", "n %lld mean %.17g [%g, %g]", (long long)p.n, p.mean,
          p.ci_lo, p.ci_hi);
    const double hx[3] = {1, 2, 3}, hy[3] = {0, 0, 0};
    stats_paired(&p, hx, hy, 3, &boot, scratch);
    CHECK(p.mean == 2 && p.std == 1 && p.ci_lo >= 1 && p.ci_hi <= 3 && p.ci_lo < p.ci_hi,
          "stats_paired_hand", "mean %g std %g [%g, %g]", p.mean, p.std, p.ci_lo, p.ci_hi);
    free(x);
    free(y);
    free(scratch);
}

int main(void)
{
    test_order();
    test_ranks_and_correlation();
    test_auc();
    test_quantile_and_streams();
    test_summary();
    test_bootstrap_properties();
    return check_summary();
}

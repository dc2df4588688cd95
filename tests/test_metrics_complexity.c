/* Tests of pipeline/metrics_complexity: Quantus' Gini sparseness and the entropy complexity,
 * by hand cases (constant, one-hot, two-level, all-zero, NaN maps) and against the NumPy /
 * SciPy fixture in tests/ref/metric_fixtures.h. */
#include <math.h>
#include <stdlib.h>

#include "pipeline/metrics_complexity.h"
#include "tests/check.h"
#include "tests/ref/metric_fixtures.h"

int main(void)
{
    enum { N = 100 };
    float map[N];
    void *scratch = malloc(metrics_sparseness_scratch_bytes(N));

    for (int i = 0; i < N; i++)
        map[i] = -0.3f;
    /* Constant map: Gini exactly 0 (the symmetric-pair sum cancels term by term); entropy of
     * the uniform distribution ln(n) (100 terms of 0.01 ln 0.01: ~1e-15). */
    CHECK(metrics_sparseness(map, N, scratch) == 0.0, "cplx_gini_constant_is_0", "%.17g",
          metrics_sparseness(map, N, scratch));
    CHECK(fabs(metrics_complexity(map, N) - log((double)N)) < 1e-13, "cplx_entropy_uniform",
          "%.17g vs %.17g", metrics_complexity(map, N), log((double)N));

    for (int i = 0; i < N; i++)
        map[i] = 0;
    map[37] = 2.5f;
    /* One-hot: only the (largest, smallest) pair differs: (n-1) * 1 / (n (1 + n 1e-7)); the
     * kernel sums the 100 epsilons one by one (~1e-14 relative). */
    double want = (N - 1) / (N * (1 + N * 1e-7));
    CHECK(fabs(metrics_sparseness(map, N, scratch) - want) < 1e-13, "cplx_gini_one_hot",
          "%.17g vs %.17g", metrics_sparseness(map, N, scratch), want);
    CHECK(metrics_complexity(map, N) == 0.0, "cplx_entropy_one_hot_is_0", "");

    const float two[4] = {0, 0, -1, 1};
    want = (3.0 + 1.0) / (4 * (2 + 4e-7));
    CHECK(fabs(metrics_sparseness(two, 4, scratch) - want) < 1e-15 &&
              fabs(metrics_complexity(two, 4) - log(2.0)) < 1e-15,
          "cplx_two_level_hand", "gini %.17g vs %.17g", metrics_sparseness(two, 4, scratch), want);

    map[37] = 0;
    CHECK(isnan(metrics_sparseness(map, N, scratch)) && isnan(metrics_complexity(map, N)),
          "cplx_all_zero_is_nan", "a zero map must be undefined");
    map[5] = 1;
    map[6] = NAN;
    CHECK(isnan(metrics_sparseness(map, N, scratch)) && isnan(metrics_complexity(map, N)),
          "cplx_nan_map_is_nan", "");
    free(scratch);

    /* Fixture: Quantus' formula in NumPy (sorted ascending, direct sum) and scipy's entropy.
     * Same float32 normalisation; sums of 400 doubles in another order: 1e-12 relative. */
    size_t n = sizeof fx_gini_map / sizeof fx_gini_map[0];
    scratch = malloc(metrics_sparseness_scratch_bytes(n));
    double g = metrics_sparseness(fx_gini_map, n, scratch);
    double h = metrics_complexity(fx_gini_map, n);
    CHECK(fabs(g - fx_gini) < 1e-12 * fx_gini, "cplx_gini_vs_quantus_numpy", "%.17g vs %.17g", g,
          fx_gini);
    CHECK(fabs(h - fx_entropy) < 1e-12 * fx_entropy, "cplx_entropy_vs_scipy", "%.17g vs %.17g", h,
          fx_entropy);
    /* Sign of the map does not matter (abs first). */
    float *neg = malloc(n * sizeof *neg);
    for (size_t i = 0; i < n; i++)
        neg[i] = -fx_gini_map[i];
    CHECK(metrics_sparseness(neg, n, scratch) == g && metrics_complexity(neg, n) == h,
          "cplx_sign_invariant", "");
    free(neg);
    free(scratch);
    return check_summary();
}

/* Tests of pipeline/score_stability (map_stability of the score stage): hand-computed Spearman
 * values (identical maps 1, reversed -1, a tie case sqrt(0.9) as scipy.stats.spearmanr gives, a
 * tie-free case 1 - 6 sum d^2 / (n (n^2 - 1)) = 0.8), NaN for a constant or non-finite map
 * (METHODS.md Part 1 NaN policy), the top-k overlap with ties by lowest index, the abs option,
 * the default k, and a random tied case against an O(n^2) double-precision reference. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/score_stability.h"
#include "pipeline/stats.h"
#include "tests/check.h"

static void *scratch_for(size_t n)
{
    return aligned_alloc(64, (score_stability_scratch_bytes(n) + 63) / 64 * 64);
}

static void run(double *rho, double *topk, const float *a, const float *b, size_t n, size_t k,
                int abs_)
{
    struct score_stability_params p = {k, abs_};
    void *s = scratch_for(n);
    score_stability_trial(rho, topk, a, b, n, &p, s);
    free(s);
}

static void test_hand(void)
{
    float up[10], down[10], c[10];
    for (int i = 0; i < 10; i++)
        up[i] = (float)i, down[i] = (float)(9 - i), c[i] = 0.25f;
    double rho, tk;
    run(&rho, &tk, up, up, 10, 3, 0);
    CHECK(rho == 1 && tk == 1, "stability_identical_is_one", "rho %.17g topk %g", rho, tk);
    run(&rho, &tk, up, down, 10, 3, 0);
    CHECK(rho == -1 && tk == 0, "stability_reversed_is_minus_one", "rho %.17g topk %g", rho, tk);
    run(&rho, &tk, up, c, 10, 3, 0);
    CHECK(isnan(rho) && isnan(tk), "stability_constant_map_nan", "rho %g topk %g", rho, tk);
    run(&rho, &tk, c, up, 10, 3, 0);
    CHECK(isnan(rho) && isnan(tk), "stability_constant_reference_nan", "rho %g topk %g", rho, tk);
    float nanmap[10];
    memcpy(nanmap, up, sizeof up);
    nanmap[4] = NAN;
    run(&rho, &tk, up, nanmap, 10, 3, 0);
    CHECK(isnan(rho) && isnan(tk), "stability_nan_map_nan", "rho %g topk %g", rho, tk);
    /* ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]: r = 4.5 / sqrt(4.5 * 5) = sqrt(0.9) */
    const float tx[4] = {1, 2, 2, 3}, ty[4] = {1, 3, 2, 4};
    run(&rho, &tk, tx, ty, 4, 1, 0);
    CHECK(fabs(rho - sqrt(0.9)) < 1e-12, "stability_spearman_ties", "rho %.17g", rho);
    /* no ties: d = (1, 1, 1, 1, 0), rho = 1 - 6 * 4 / (5 * 24) = 0.8 */
    const float fx[5] = {1, 2, 3, 4, 5}, fy[5] = {2, 1, 4, 3, 5};
    run(&rho, &tk, fx, fy, 5, 2, 0);
    CHECK(fabs(rho - 0.8) < 1e-12 && tk == 0.5, "stability_spearman_no_ties",
          "rho %.17g topk %g", rho, tk);
}

static void test_topk(void)
{
    /* top 3 of ref {0, 1, 2}, of map {0, 2, 3}: 2 of 3 shared */
    const float ref[8] = {9, 8, 7, 0, 0, 0, 0, 0}, map[8] = {9, 0, 8, 7, 0, 0, 0, 0};
    double rho, tk;
    run(&rho, &tk, ref, map, 8, 3, 0);
    CHECK(fabs(tk - 2.0 / 3.0) < 1e-15, "stability_topk_overlap", "topk %.17g", tk);
    /* ties by the lowest flat index: ref's top 2 is {0, 1}, map's {2, 3} */
    const float tr[6] = {5, 5, 5, 5, 1, 1}, tm[6] = {0, 0, 5, 5, 0, 0};
    run(&rho, &tk, tr, tm, 6, 2, 0);
    CHECK(tk == 0, "stability_topk_ties_lowest_index", "topk %g", tk);
    run(&rho, &tk, tr, tm, 6, 6, 0);
    CHECK(tk == 1, "stability_topk_all_pixels", "topk %g", tk);
}

static void test_abs(void)
{
    const float a[4] = {-3, 1, 2, 0}, b[4] = {3, 1, 2, 0}, pm[4] = {1, -1, 1, -1};
    double rho, tk, rs, ts;
    run(&rs, &ts, a, b, 4, 1, 0);
    run(&rho, &tk, a, b, 4, 1, 1);
    CHECK(rho == 1 && tk == 1 && rs < 0.5 && ts == 0, "stability_abs", "abs %g signed %g", rho,
          rs);
    run(&rho, &tk, b, pm, 4, 1, 1);
    CHECK(isnan(rho) && isnan(tk), "stability_abs_constant_nan", "rho %g", rho);
}

static void test_k(void)
{
    CHECK(score_stability_k(0.1, 2304) == 230 && score_stability_k(0.1, 5) == 1 &&
              score_stability_k(1e-9, 100) == 1 && score_stability_k(1, 7) == 7 &&
              score_stability_k(0.1, 50176) == 5018,
          "stability_default_k", "%zu %zu", score_stability_k(0.1, 2304),
          score_stability_k(0.1, 50176));
}

/* Average ranks by counting, Pearson in double: the textbook definition. */
static double naive_spearman(const float *x, const float *y, size_t n)
{
    double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry), mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        double lx = 0, ex = 0, ly = 0, ey = 0;
        for (size_t j = 0; j < n; j++) {
            lx += x[j] < x[i], ex += x[j] == x[i];
            ly += y[j] < y[i], ey += y[j] == y[i];
        }
        rx[i] = 1 + lx + (ex - 1) / 2, ry[i] = 1 + ly + (ey - 1) / 2;
        mx += rx[i], my += ry[i];
    }
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx), syy += (ry[i] - my) * (ry[i] - my);
    }
    free(rx), free(ry);
    return sxy / sqrt(sxx * syy);
}

static void test_random(void)
{
    enum { N = 577 };
    static float x[N], y[N];
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) % 17); /* many ties */
        y[i] = x[i] + (float)((s >> 20) % 7) - 3.0f;
    }
    double rho, tk, ref = naive_spearman(x, y, N);
    run(&rho, &tk, x, y, N, 58, 0);
    CHECK(fabs(rho - ref) < 1e-12 && rho > 0.5 && rho < 1 && tk >= 0 && tk <= 1,
          "stability_spearman_vs_naive", "rho %.17g naive %.17g", rho, ref);
    /* one sort per map gives the very ranks (and so the very rho) of stats_spearman_f32 */
    void *s2 = malloc(stats_spearman_scratch_bytes(N));
    double sp = stats_spearman_f32(x, y, N, s2);
    static double r1[N], r2[N];
    static uint32_t order[N], order2[N];
    static uint64_t keys[2 * N];
    stats_ranks_f32(r1, x, N, s2);
    stats_ranks_order_f32(r2, order, x, N, keys);
    stats_order_desc_f32(order2, x, N, keys);
    free(s2);
    CHECK(rho == sp && memcmp(r1, r2, sizeof r1) == 0 && memcmp(order, order2, sizeof order) == 0,
          "stability_ranks_order_same_as_stats", "rho %.17g stats %.17g", rho, sp);
}

int main(void)
{
    test_hand();
    test_topk();
    test_abs();
    test_k();
    test_random();
    return check_summary();
}

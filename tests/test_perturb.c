/* Tests of pipeline/perturb: the RISE deletion/insertion protocol (ranking and step images
 * against a NumPy fixture, the 64 x 64 schedule, a model that ignores its input), RISE's blur
 * against SciPy + PyTorch, and the perturbations and reductions of faithfulness correlation,
 * infidelity, sensitivity and random logit (hand cases, determinism, 1 vs 2 threads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/err.h"
#include "pipeline/perturb.h"
#include "pipeline/stats.h"
#include "tests/check.h"
#include "tests/ref/metric_fixtures.h"

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static void test_schedule(void)
{
    struct perturb_schedule s;
    int ok = perturb_schedule_init(&s, 224, 224, PERTURB_DEFAULT_STEPS, 0) == 0 && s.step == 224 &&
             s.n_steps == 224;
    CHECK(ok, "perturb_schedule_224_rise", "step %zu n %d", s.step, s.n_steps);
    /* 64 x 64 (Part 1 read literally): 224 steps of ceil(4096 / 224) = 19 px; everything is
     * replaced from step 216 on. */
    ok = perturb_schedule_init(&s, 64, 64, PERTURB_DEFAULT_STEPS, 0) == 0 && s.step == 19 &&
         s.n_steps == 224 && perturb_schedule_count(&s, 215) == 4085 &&
         perturb_schedule_count(&s, 216) == 4096 && perturb_schedule_count(&s, 224) == 4096;
    CHECK(ok, "perturb_schedule_64_part1", "step %zu n %d", s.step, s.n_steps);
    ok = perturb_schedule_init(&s, 64, 64, 0, 19) == 0 && s.n_steps == 216 &&
         perturb_schedule_init(&s, 224, 224, 0, 224) == 0 && s.n_steps == 224;
    CHECK(ok, "perturb_schedule_rise_step_form", "n %d", s.n_steps);
    ok = perturb_schedule_init(&s, 64, 64, 10, 100) == -1 && strstr(err_msg(), "leave pixels") &&
         perturb_schedule_init(&s, 0, 5, 10, 0) == -1 &&
         perturb_schedule_init(&s, 8, 8, 0, 0) == -1;
    CHECK(ok, "perturb_schedule_bad_values", "last message: %s", err_msg());
}

static void test_deletion_fixture(void)
{
    enum { H = FX_DEL_H, W = FX_DEL_W, C = FX_DEL_C, HW = H * W };
    uint32_t order[HW];
    uint64_t keys[2 * HW];
    stats_order_desc_f32(order, fx_del_map, HW, keys);
    int same = 1;
    for (int i = 0; i < HW; i++)
        same &= order[i] == fx_del_order[i];
    CHECK(same, "perturb_ranking_vs_numpy_lexsort", "descending, ties by lowest flat index");

    struct perturb_schedule s;
    perturb_schedule_init(&s, H, W, FX_DEL_STEPS, 0);
    size_t img = (size_t)C * HW, n_img = (size_t)FX_DEL_STEPS + 1;
    float *all = malloc(n_img * img * sizeof *all), *split = malloc(n_img * img * sizeof *all);
    set_threads(1);
    perturb_steps_forward(all, fx_del_start, fx_del_finish, order, &s, 0, (int)n_img, C, H, W);
    set_threads(2);
    perturb_steps_forward(split, fx_del_start, fx_del_finish, order, &s, 0, 3, C, H, W);
    perturb_steps_forward(split + 3 * img, fx_del_start, fx_del_finish, order, &s, 3,
                          (int)n_img - 3, C, H, W);
    /* Pure copies: exact. */
    check_close("perturb_step_images_vs_numpy", all, fx_del_images, n_img * img, 0, 0);
    CHECK(memcmp(all, split, n_img * img * sizeof *all) == 0, "perturb_step_batches_threads",
          "batch split or thread count changed the images");
    free(all);
    free(split);
}

/* A whole deletion run at 10 x 10 with two toy models: one ignores its input (flat curve,
 * AUC = its constant score), one scores the mean pixel of a ones image deleted to zeros in 10
 * steps of 10 px (curve 1 - k/10, AUC 1/2). */
static void test_deletion_curves(void)
{
    enum { H = 10, W = 10, HW = 100 };
    float map[HW], ones[HW], zeros[HW] = {0}, imgs[11 * HW];
    for (int i = 0; i < HW; i++) {
        map[i] = (float)((i * 37) % 100);
        ones[i] = 1;
    }
    uint32_t order[HW];
    uint64_t keys[2 * HW];
    stats_order_desc_f32(order, map, HW, keys);
    struct perturb_schedule s;
    perturb_schedule_init(&s, H, W, 10, 0);
    perturb_steps_forward(imgs, ones, zeros, order, &s, 0, 11, 1, H, W);
    double flat[11], mean[11];
    for (int k = 0; k <= 10; k++) {
        double sum = 0;
        for (int i = 0; i < HW; i++)
            sum += imgs[k * HW + i];
        flat[k] = 0.42; /* the model ignores its input */
        mean[k] = sum / HW;
    }
    CHECK(fabs(stats_auc_unit(flat, 11) - 0.42) < 1e-15, "perturb_deletion_ignoring_model_flat",
          "AUC %.17g", stats_auc_unit(flat, 11));
    CHECK(fabs(stats_auc_unit(mean, 11) - 0.5) < 1e-15 && mean[0] == 1 && mean[10] == 0,
          "perturb_deletion_mean_model", "AUC %.17g", stats_auc_unit(mean, 11));
}

static void test_blur(void)
{
    int radius;
    double sigma, taps[11];
    perturb_blur_default(224, 300, &radius, &sigma);
    CHECK(radius == 5 && sigma == 5.0, "perturb_blur_default_224", "r %d sigma %g", radius, sigma);
    perturb_blur_taps(taps, 5, 5.0);
    double sum = 0, maxd = 0;
    for (int i = 0; i < 11; i++) {
        sum += taps[i];
        maxd = fmax(maxd, fabs(taps[i] - fx_blur_taps_r5[i]));
    }
    /* Same sums of exponentials as scipy, another order: ~1e-17. */
    CHECK(maxd < 1e-15 && fabs(sum - 1) < 1e-15, "perturb_blur_taps_vs_scipy", "max diff %g", maxd);

    enum { C = 3, H = 20, W = 24, N = C * H * W };
    float *out = malloc(N * sizeof *out), *out2 = malloc(N * sizeof *out);
    float *scratch = malloc(N * sizeof *scratch);
    set_threads(2);
    perturb_blur_forward(out, fx_blur_in, taps, 5, C, H, W, scratch);
    /* PyTorch's conv2d sums 121 float32 products with a float32 kernel; we sum separably in
     * double: differences of a few float32 ulps of values ~1. */
    check_close("perturb_blur_r5_vs_rise_conv2d", out, fx_blur_out_r5, N, 2e-6, 1e-5);
    set_threads(1);
    perturb_blur_forward(out2, fx_blur_in, taps, 5, C, H, W, scratch);
    CHECK(memcmp(out, out2, N * sizeof *out) == 0, "perturb_blur_threads_bitwise", "");

    perturb_blur_default(64, 64, &radius, &sigma);
    CHECK(radius == 1 && fabs(sigma - 5.0 * 64 / 224) < 1e-15, "perturb_blur_default_64",
          "r %d sigma %g", radius, sigma);
    perturb_blur_taps(taps, radius, sigma);
    perturb_blur_forward(out, fx_blur_in, taps, radius, C, H, W, scratch);
    check_close("perturb_blur_r1_vs_rise_conv2d", out, fx_blur_out_r1, N, 2e-6, 1e-5);
    set_threads(2);
    free(out);
    free(out2);
    free(scratch);
}

static void test_faithfulness_correlation(void)
{
    enum { K = 224, NF = 3 * 32 * 32 };
    uint32_t a[K], b[K], c[K];
    perturb_subset_draw(a, K, NF, 5, 77, 0);
    perturb_subset_draw(b, K, NF, 5, 77, 0);
    perturb_subset_draw(c, K, NF, 5, 77, 1);
    int ok = memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) != 0;
    for (int i = 0; i < K; i++)
        ok &= a[i] < NF && (i == 0 || a[i] > a[i - 1]); /* distinct, ascending */
    CHECK(ok, "perturb_subset_distinct_deterministic", "");
    uint32_t full[16];
    perturb_subset_draw(full, 16, 16, 1, 2, 3);
    ok = 1;
    for (int i = 0; i < 16; i++)
        ok &= full[i] == (uint32_t)i;
    CHECK(ok, "perturb_subset_all_features", "k = n must give every feature");

    const float map[4] = {1, 2, 3, 4};
    const uint32_t idx[3] = {0, 5, 11}; /* C = 3, hw = 4: pixels 0, 1, 3 */
    CHECK(perturb_subset_attribution(map, 4, idx, 3) == 7.0, "perturb_subset_attribution_hand",
          "%g", perturb_subset_attribution(map, 4, idx, 3));
    float x[12], out[24];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i - 3;
    const uint32_t subs[6] = {0, 5, 11, 1, 2, 3};
    float base = perturb_black_baseline(x, 12);
    perturb_subsets_forward(out, x, 12, subs, 3, 2, base);
    ok = base == -3 && out[0] == -3 && out[5] == -3 && out[11] == -3 && out[4] == 1 &&
         out[12 + 1] == -3 && out[12 + 3] == -3 && out[12 + 5] == 2 && out[12 + 0] == -3;
    CHECK(ok, "perturb_subsets_forward_black", "");
    const double sums[4] = {1, 2, 5, 3}, drops[4] = {3, 5, 11, 7}, cst[4] = {1, 1, 1, 1};
    CHECK(fabs(perturb_faithfulness_correlation(sums, drops, 4) - 1) < 1e-15 &&
              isnan(perturb_faithfulness_correlation(sums, cst, 4)),
          "perturb_faithfulness_correlation_hand", "");
}

static void test_infidelity(void)
{
    enum { C = 3, HW = 32 * 32, N = C * HW, B = 4 };
    float *x = malloc(N * sizeof *x), map[HW];
    float *out = malloc((size_t)B * N * sizeof *out), *out2 = malloc((size_t)B * N * sizeof *out);
    double dots[B], dots2[B];
    for (int i = 0; i < N; i++)
        x[i] = (float)sin(i * 0.1);
    for (int i = 0; i < HW; i++)
        map[i] = (float)cos(i * 0.05);
    double range = perturb_input_range(x, N), sigma = 0.1 * range;
    set_threads(1);
    perturb_infidelity_forward(out, dots, x, map, C, HW, sigma, 9, 1234, 0, B);
    set_threads(2);
    perturb_infidelity_forward(out2, dots2, x, map, C, HW, sigma, 9, 1234, 2, 2);
    CHECK(memcmp(out + 2 * N, out2, 2 * (size_t)N * sizeof *out) == 0 && dots[2] == dots2[0] &&
              dots[3] == dots2[1],
          "perturb_infidelity_batch_independent", "sample j must not depend on the batch");
    /* The perturbation is x - out: N(0, sigma^2) and a . I recomputed from it. */
    double ss = 0, s1 = 0, dot = 0;
    for (int f = 0; f < N; f++) {
        double I = (double)x[f] - out[f];
        s1 += I;
        ss += I * I;
        dot += map[f % HW] * I;
    }
    double sd = sqrt(ss / N - (s1 / N) * (s1 / N));
    CHECK(fabs(sd / sigma - 1) < 0.05 && fabs(s1 / N) < 0.05 * sigma,
          "perturb_infidelity_noise_moments", "sd %g vs sigma %g", sd, sigma);
    /* out = x - I rounds to float: the recomputed dot matches to ~1e-6 relative. */
    CHECK(fabs(dot - dots[0]) < 1e-4 * (1 + fabs(dots[0])), "perturb_infidelity_dot", "%g vs %g",
          dot, dots[0]);

    const double u[3] = {1, 2, 3}, d[3] = {2, 4, 6}, u2[2] = {1, -1}, d2[2] = {1, 1};
    const double z[2] = {0, 0}, nan2[2] = {NAN, 1};
    CHECK(fabs(perturb_infidelity(u, d, 3, 0) - 14.0 / 3) < 1e-15 &&
              fabs(perturb_infidelity(u, d, 3, 1)) < 1e-14 &&
              perturb_infidelity(u2, d2, 2, 1) == 1 && perturb_infidelity(z, d2, 2, 1) == 1 &&
              isnan(perturb_infidelity(nan2, d2, 2, 1)),
          "perturb_infidelity_hand", "unnorm %.17g norm %.17g", perturb_infidelity(u, d, 3, 0),
          perturb_infidelity(u, d, 3, 1));
    double scaled[3] = {7, 14, 21}, dd[3] = {1, 3, 2};
    CHECK(fabs(perturb_infidelity(scaled, dd, 3, 1) - perturb_infidelity(u, dd, 3, 1)) < 1e-14,
          "perturb_infidelity_normalised_scale_invariant", "");
    free(x);
    free(out);
    free(out2);
}

static void test_sensitivity_and_random_logit(void)
{
    enum { N = 3000, B = 3 };
    float x[N], *out = malloc((size_t)B * N * sizeof *out), *out2 = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 17) / 16;
    double r = 0.02 * perturb_input_range(x, N);
    perturb_sensitivity_forward(out, x, N, r, 3, 99, 0, B);
    perturb_sensitivity_forward(out2, x, N, r, 3, 99, 2, 1);
    double maxd = 0, mean = 0;
    for (int i = 0; i < B * N; i++) {
        double dlt = (double)out[i] - x[i % N];
        maxd = fmax(maxd, fabs(dlt));
        mean += dlt / (B * N);
    }
    /* float rounding of x + u can exceed r by an ulp of x (<= 6e-8). */
    CHECK(maxd <= r + 1e-7 && maxd > 0.9 * r && fabs(mean) < 0.05 * r &&
              memcmp(out + 2 * N, out2, N * sizeof *out) == 0,
          "perturb_sensitivity_linf_ball", "max |delta| %g radius %g mean %g", maxd, r, mean);

    const float e0[2] = {3, 4}, e1[2] = {3, 5}, z[2] = {0, 0};
    CHECK(fabs(perturb_relative_change(e0, e1, 2) - 0.2) < 1e-16 &&
              isnan(perturb_relative_change(z, e1, 2)),
          "perturb_relative_change_hand", "zero-norm explanation must give NaN");
    double mx, avg;
    const double ratios[3] = {0.1, 0.3, 0.2}, bad[2] = {0.1, NAN};
    perturb_sensitivity_reduce(&mx, &avg, ratios, 3);
    int ok = mx == 0.3 && fabs(avg - 0.2) < 1e-16;
    perturb_sensitivity_reduce(&mx, &avg, bad, 2);
    CHECK(ok && isnan(mx) && isnan(avg), "perturb_sensitivity_reduce", "");

    int count[10] = {0};
    ok = perturb_random_other_class(1, 5, 3, 1) == -1;
    for (uint64_t id = 0; id < 9000; id++) {
        int c = perturb_random_other_class(1, id, 3, 10);
        ok &= c >= 0 && c < 10 && c != 3 && c == perturb_random_other_class(1, id, 3, 10);
        count[c >= 0 && c < 10 ? c : 3]++;
        ok &= perturb_random_other_class(1, id, 0, 2) == 1;
    }
    for (int c = 0; c < 10; c++)
        if (c != 3) ok &= abs(count[c] - 1000) < 150; /* ~5 sigma of a binomial(9000, 1/9) */
    CHECK(ok && count[3] == 0, "perturb_random_other_class", "counts %d %d %d", count[0], count[1],
          count[9]);
    free(out);
    free(out2);
}

int main(void)
{
    test_schedule();
    test_deletion_fixture();
    test_deletion_curves();
    test_blur();
    test_faithfulness_correlation();
    test_infidelity();
    test_sensitivity_and_random_logit();
    return check_summary();
}

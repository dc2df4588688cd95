/* Tests of pipeline/metrics_localisation: the pointing game (TorchRay's rules: first argmax,
 * strict tolerance, per-class mean over all classes), its edge cases, and Quantus' mask
 * scores, by hand cases and against tests/ref/metric_fixtures.h (a NumPy re-statement of
 * TorchRay's full-image disc test and of Quantus' formulas). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/metrics_localisation.h"
#include "tests/check.h"
#include "tests/ref/metric_fixtures.h"

static void test_boxes(void)
{
    uint8_t mask[6 * 8] = {0};
    /* VOC box xmin 2..xmax 4 (1-based, inclusive), ymin 1..ymax 2 -> columns 1..3, rows 0..1. */
    struct metrics_box voc = {1, 0, 4, 2};
    size_t area = metrics_mask_from_boxes(mask, &voc, 1, 6, 8);
    int ok = area == 6;
    for (int v = 0; v < 6; v++)
        for (int u = 0; u < 8; u++)
            ok &= mask[v * 8 + u] == (v <= 1 && u >= 1 && u <= 3);
    CHECK(ok, "loc_boxes_voc_convention", "area %zu", area);
    /* A box thinner than a pixel in x keeps the column holding its midpoint; a box past the
     * border is clipped; an inverted box adds nothing. Union with the first box. */
    struct metrics_box more[3] = {
        {5.2f, 3.0f, 5.6f, 5.0f}, {6.0f, 4.0f, 20.0f, 9.0f}, {3.0f, 3.0f, 2.0f, 4.0f}};
    area = metrics_mask_from_boxes(mask, more, 3, 6, 8);
    CHECK(area == 6 + 2 + 4 && mask[3 * 8 + 5] && mask[4 * 8 + 5] && mask[5 * 8 + 7] &&
              !mask[5 * 8 + 5],
          "loc_boxes_thin_clipped_union", "area %zu", area);
}

static void test_point_and_tolerance(void)
{
    CHECK(metrics_pointing_tolerance(224, 300) == 15.0 &&
              fabs(metrics_pointing_tolerance(64, 64) - 15.0 * 64 / 224) < 1e-15,
          "loc_tolerance_scaled_shorter_side", "%g", metrics_pointing_tolerance(64, 64));
    const float m[6] = {0, 2, 1, 2, 0, 2};
    const float c[6] = {3, 3, 3, 3, 3, 3};
    CHECK(metrics_argmax_first(m, 6) == 1 && metrics_argmax_first(c, 6) == 0,
          "loc_argmax_first_row_major", "ties must give the first index");

    /* Strictness: a ground-truth pixel at exactly the tolerance is a miss (TorchRay's code). */
    int H = 20, W = 20;
    uint8_t *mask = calloc((size_t)H * W, 1);
    mask[4 * W + 3] = 1; /* (u, v) = (3, 4): distance 5 from (0, 0) */
    CHECK(!metrics_pointing_hit(mask, H, W, 0, 0, 5.0) &&
              metrics_pointing_hit(mask, H, W, 0, 0, 5.0001),
          "loc_tolerance_strict_at_exact_distance", "d == tol must miss, d < tol must hit");
    memset(mask, 0, (size_t)H * W);
    mask[0 * W + 15] = 1;
    int at15 = metrics_pointing_hit(mask, H, W, 0, 0, 15);
    mask[0 * W + 15] = 0;
    mask[12 * W + 9] = 1; /* 9^2 + 12^2 = 15^2 */
    int at9_12 = metrics_pointing_hit(mask, H, W, 0, 0, 15);
    mask[0 * W + 14] = 1;
    CHECK(!at15 && !at9_12 && metrics_pointing_hit(mask, H, W, 0, 0, 15),
          "loc_tolerance_15px_boundary", "15 px away must miss, 14 px hit");

    /* Centre baseline with a fractional point: (2.5, 2.5) on 5x5, target (4, 4): d^2 = 4.5. */
    uint8_t m5[25] = {0};
    m5[4 * 5 + 4] = 1;
    CHECK(metrics_pointing_hit(m5, 5, 5, 2.5, 2.5, 2.2) &&
              !metrics_pointing_hit(m5, 5, 5, 2.5, 2.5, 2.12),
          "loc_center_point_fractional", "d^2 = 4.5: 2.2^2 = 4.84 hits, 2.12^2 = 4.49 misses");
    free(mask);
}

static void test_pointing_game_edges(void)
{
    int H = 8, W = 10;
    float map[80];
    uint8_t mask[80] = {0};
    for (int i = 0; i < 80; i++)
        map[i] = 0.25f;
    mask[2 * W + 2] = 1; /* d^2 = 8 from (0, 0) */
    int64_t point = 99;
    /* Constant map (e.g. Grad-CAM after ReLU of a negative map): TorchRay points at (0, 0). */
    double hit3 = metrics_pointing_game(map, mask, H, W, 3.0, 0, &point);
    double hit2 = metrics_pointing_game(map, mask, H, W, 2.0, 0, NULL);
    CHECK(hit3 == 1.0 && point == 0 && hit2 == 0.0, "loc_pointing_constant_map_origin",
          "hit %g point %lld, hit %g", hit3, (long long)point, hit2);
    /* Tie-aware on the constant map: fraction of all 80 pixels within 2 of (2, 2): the 13
     * pixels of the radius-2 open disc... computed independently by brute force here. */
    int within = 0;
    for (int v = 0; v < H; v++)
        for (int u = 0; u < W; u++)
            within += (u - 2) * (u - 2) + (v - 2) * (v - 2) < 4;
    double frac = metrics_pointing_game(map, mask, H, W, 2.0, 1, NULL);
    CHECK(fabs(frac - within / 80.0) < 1e-15, "loc_pointing_tie_aware_constant", "%g vs %g", frac,
          within / 80.0);

    uint8_t empty[80] = {0};
    CHECK(isnan(metrics_pointing_game(map, empty, H, W, 3.0, 0, &point)) && point == -1,
          "loc_pointing_empty_mask_nan", "empty ground truth must be undefined");
    map[17] = NAN;
    CHECK(isnan(metrics_pointing_game(map, mask, H, W, 3.0, 0, &point)) && point == -1,
          "loc_pointing_nan_map_nan", "a NaN map must be undefined, never a hit");
    map[17] = INFINITY;
    CHECK(isnan(metrics_pointing_game(map, mask, H, W, 3.0, 1, NULL)), "loc_pointing_inf_map", "");
}

static void test_accounting(void)
{
    struct metrics_pointing_counts pc[3];
    memset(pc, 0, sizeof pc);
    metrics_pointing_add(pc, 3, 0, 1);
    metrics_pointing_add(pc, 3, 0, 1);
    metrics_pointing_add(pc, 3, 0, 0);
    metrics_pointing_add(pc, 3, 2, 1);
    metrics_pointing_add(pc, 3, 2, NAN);
    /* Class 1 has no trials: it counts 0 in the mean (TorchRay), not excluded. */
    double mean = metrics_pointing_mean_accuracy(pc, 3);
    CHECK(fabs(mean - (2.0 / 3 + 0 + 1) / 3) < 1e-15 &&
              metrics_pointing_class_accuracy(&pc[1]) == 0,
          "loc_pointing_mean_includes_empty_class", "mean %.17g", mean);
    CHECK(metrics_pointing_hit_rate(pc, 3) == 0.75 && pc[2].undefined == 1 && pc[2].hits == 1 &&
              pc[2].misses == 0,
          "loc_pointing_hit_rate_and_undefined", "hit rate %g", metrics_pointing_hit_rate(pc, 3));
    struct metrics_pointing_counts t = {0, 0, 0};
    metrics_pointing_add(&t, 1, 0, 0.25);
    metrics_pointing_add(&t, 1, 0, 1);
    CHECK(t.hits == 1.25 && t.misses == 0.75 && metrics_pointing_class_accuracy(&t) == 0.625,
          "loc_pointing_tie_fraction_accumulates", "");
    struct metrics_pointing_counts none[2];
    memset(none, 0, sizeof none);
    CHECK(metrics_pointing_mean_accuracy(none, 2) == 0 && isnan(metrics_pointing_hit_rate(none, 2)),
          "loc_pointing_no_trials", "");
    /* Difficult: area < HW/4 and another class present. */
    CHECK(metrics_pointing_difficult(1023, 64, 64, 2) &&
              !metrics_pointing_difficult(1024, 64, 64, 2) &&
              !metrics_pointing_difficult(10, 64, 64, 1),
          "loc_pointing_difficult_rule", "");
}

static void test_mask_scores_hand(void)
{
    const uint8_t mask[4] = {1, 0, 1, 0};
    const float as_mask[4] = {1, 0, 1, 0};
    CHECK(metrics_relevance_mass(as_mask, mask, 4, 0) == 1.0, "loc_relevance_mass_map_is_mask",
          "a map equal to the mask must give 1");
    const float sgn[4] = {-1, 1, 0, 0}, e[4] = {2, -5, 1, 1}, zero[4] = {0, 0, 0, 0};
    const uint8_t none[4] = {0, 0, 0, 0};
    CHECK(isnan(metrics_relevance_mass(sgn, mask, 4, 0)) &&
              metrics_relevance_mass(sgn, mask, 4, 1) == 0.5 &&
              isnan(metrics_relevance_mass(as_mask, none, 4, 0)) &&
              isnan(metrics_relevance_mass(zero, mask, 4, 1)),
          "loc_relevance_mass_signed_abs_undefined", "");
    const uint8_t right[4] = {0, 0, 1, 1};
    /* e: positive energy 2 + 1 inside of 2 + 1 + 1; sgn: the only positive pixel is outside. */
    CHECK(metrics_energy_pointing(e, mask, 4) == 0.75 &&
              metrics_energy_pointing(sgn, right, 4) == 0 &&
              isnan(metrics_energy_pointing(e, none, 4)),
          "loc_energy_pointing_hand", "%g", metrics_energy_pointing(e, mask, 4));
    const float neg[4] = {-1, -2, -3, -4};
    CHECK(isnan(metrics_energy_pointing(neg, mask, 4)), "loc_energy_pointing_no_energy", "");

    double scratch[64];
    const float r4[4] = {4, 3, 2, 1}, c4[4] = {1, 1, 1, 1};
    const uint8_t mid[4] = {0, 1, 1, 0}, tail[4] = {0, 0, 1, 1}, all[4] = {1, 1, 1, 1};
    CHECK(metrics_relevance_rank(r4, mid, 4, 0, scratch) == 0.5 &&
              metrics_relevance_rank(c4, tail, 4, 0, scratch) == 0.0 &&
              metrics_relevance_rank(neg, tail, 4, 1, scratch) == 1.0 &&
              isnan(metrics_relevance_rank(r4, none, 4, 0, scratch)),
          "loc_relevance_rank_hand_ties", "ties break by the lowest index");
    CHECK(metrics_top_k_intersection(r4, mid, 4, 1, 0, 0, scratch) == 0.0 &&
              metrics_top_k_intersection(r4, mid, 4, 3, 0, 0, scratch) == 2.0 / 3 &&
              metrics_top_k_intersection(r4, mid, 4, 3, 1, 0, scratch) == 2.0 / 3 * 4 / 2 &&
              isnan(metrics_top_k_intersection(r4, mid, 4, 5, 0, 0, scratch)) &&
              isnan(metrics_top_k_intersection(r4, mid, 4, 0, 0, 0, scratch)),
          "loc_top_k_hand", "");
    CHECK(metrics_top_k_default(224, 224) == 1000 && metrics_top_k_default(64, 64) == 82,
          "loc_top_k_default_scaled", "%zu", metrics_top_k_default(64, 64));
    const float s4[4] = {1, 2, 2, 3};
    const uint8_t m4[4] = {0, 1, 0, 1};
    /* Positives {2, 3} vs negatives {1, 2}: 1 + 0.5 + 1 + 1 of 4 pairs. */
    CHECK(metrics_localisation_auc(s4, m4, 4, 0, scratch) == 0.875 &&
              metrics_localisation_auc(c4, m4, 4, 0, scratch) == 0.5 &&
              metrics_localisation_auc(r4, (const uint8_t[4]){1, 1, 0, 0}, 4, 0, scratch) == 1 &&
              metrics_localisation_auc(r4, tail, 4, 0, scratch) == 0 &&
              isnan(metrics_localisation_auc(r4, all, 4, 0, scratch)) &&
              isnan(metrics_localisation_auc(r4, none, 4, 0, scratch)),
          "loc_auc_hand_ties_and_undefined", "%g", metrics_localisation_auc(s4, m4, 4, 0, scratch));
}

static void test_fixture(void)
{
    int H = FX_PG_H, W = FX_PG_W;
    size_t n = (size_t)H * W;
    void *scratch = malloc(metrics_rank_scratch_bytes(n));
    int hits_ok = 1, tie_ok = 1;
    double mass[FX_PG_TRIALS], rank[FX_PG_TRIALS], topk[FX_PG_TRIALS], auc[FX_PG_TRIALS];
    for (int t = 0; t < FX_PG_TRIALS; t++) {
        const float *map = fx_pg_maps + t * n;
        const uint8_t *mask = fx_pg_masks + t * n;
        double hit = metrics_pointing_game(map, mask, H, W, fx_pg_tol[t], 0, NULL);
        double frac = metrics_pointing_game(map, mask, H, W, fx_pg_tol[t], 1, NULL);
        hits_ok &= hit == (double)fx_pg_hit[t];
        tie_ok &= fabs(frac - fx_pg_tie_frac[t]) < 1e-15;
        mass[t] = metrics_relevance_mass(map, mask, n, 0);
        rank[t] = metrics_relevance_rank(map, mask, n, 0, scratch);
        topk[t] = metrics_top_k_intersection(map, mask, n, FX_PG_TOPK, 0, 0, scratch);
        auc[t] = metrics_localisation_auc(map, mask, n, 0, scratch);
    }
    CHECK(hits_ok, "loc_fixture_pointing_vs_torchray_disc", "hit/miss differs from the numpy disc");
    CHECK(tie_ok, "loc_fixture_pointing_tie_aware", "tie fractions differ");
    int ok = 1;
    for (int t = 0; t < FX_PG_TRIALS; t++) {
        /* Sums of 768 float32 values in double, different order than numpy: 1e-12 relative. */
        ok &= fabs(mass[t] - fx_pg_relevance_mass[t]) <= 1e-12 * fabs(fx_pg_relevance_mass[t]);
        ok &= rank[t] == fx_pg_relevance_rank[t] && topk[t] == fx_pg_topk[t];
        ok &= fabs(auc[t] - fx_pg_auc[t]) < 1e-14; /* exact ratios of integers, ~1 ulp */
    }
    CHECK(ok, "loc_fixture_quantus_scores", "relevance mass/rank, top-k or AUC differ");
    free(scratch);
}

int main(void)
{
    test_boxes();
    test_point_and_tolerance();
    test_pointing_game_edges();
    test_accounting();
    test_mask_scores_hand();
    test_fixture();
    return check_summary();
}

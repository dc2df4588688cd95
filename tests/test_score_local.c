/* Tests of pipeline/score_local: the trial's ground truth (mask union, box fallback, VOC
 * difficult skip), and the per-trial scores on hand cases METHODS.md names: a map equal to the
 * mask (relevance mass 1, hit), a constant map (point (0, 0), Gini 0, entropy ln n), an empty
 * ground truth and a NaN map (NaN, never a hit), the centre baseline's point. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/metrics_localisation.h"
#include "pipeline/score_local.h"
#include "tests/check.h"

#define H 12
#define W 10

static struct score_local_params all_params(void)
{
    struct score_local_params p = {0};
    p.which = SCORE_LOCAL_NEEDS_GT | SCORE_LOCAL_SPARSENESS | SCORE_LOCAL_COMPLEXITY;
    p.tolerance = 2.0;
    p.top_k = 4;
    return p;
}

static void test_gt(void)
{
    static uint8_t m1[H * W], m2[H * W], gt[H * W];
    m1[0] = 1, m1[5] = 1, m2[5] = 1, m2[7 * W + 3] = 1;
    struct score_object o[4] = {
        {2, 0, 0, 1, 1, m1, 0}, {2, 0, 0, 1, 1, m2, 0}, {1, 2, 3, 4, 5, NULL, 0}, {3, 0, 0, 2, 2,
                                                                                   NULL, 1}};
    int n, hard;
    size_t a = score_local_gt(gt, o, 4, 2, H, W, 1, &n, &hard);
    CHECK(a == 3 && n == 2 && !hard && gt[0] && gt[5] && gt[7 * W + 3], "score_local_gt_union",
          "area %zu n %d", a, n);
    a = score_local_gt(gt, o, 4, 2, H, W, 0, &n, &hard); /* boxes: [0,1)x[0,1) twice */
    CHECK(a == 1 && gt[0] && !gt[5], "score_local_gt_boxes", "area %zu", a);
    a = score_local_gt(gt, o, 4, 1, H, W, 1, &n, &hard); /* no mask: its box, 2 x 2 px */
    CHECK(a == 4 && gt[3 * W + 2] && gt[4 * W + 3] && !gt[5 * W + 2], "score_local_gt_box_fallback",
          "area %zu", a);
    a = score_local_gt(gt, o, 4, 3, H, W, 1, &n, &hard);
    CHECK(hard == 1 && n == 1, "score_local_gt_difficult_flag", "hard %d", hard);
    a = score_local_gt(gt, o, 4, 0, H, W, 1, &n, &hard);
    CHECK(a == 0 && n == 0 && !hard, "score_local_gt_absent_class", "area %zu", a);
    CHECK(score_local_classes_present(o, 4) == 3, "score_local_classes_present", "");
}

static void test_map_equals_mask(void *scratch)
{
    static uint8_t gt[H * W];
    static float map[H * W];
    for (int i = 0; i < H * W; i++) {
        gt[i] = (i / W >= 4 && i / W < 8 && i % W >= 3 && i % W < 6);
        map[i] = gt[i];
    }
    struct score_local_params p = all_params();
    struct score_local_out o;
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    int ok = o.pointing == 1 && o.point == 4 * W + 3 && fabs(o.mass - 1) < 1e-12 &&
             fabs(o.energy - 1) < 1e-12 && o.rank == 1 && o.topk == 1 && o.auc == 1;
    CHECK(ok, "score_local_map_equals_mask", "pg %g point %lld mass %g energy %g rank %g topk %g "
          "auc %g", o.pointing, (long long)o.point, o.mass, o.energy, o.rank, o.topk, o.auc);
    score_local_trial(&o, map, gt, 1, H, W, &p, scratch);
    CHECK(isnan(o.pointing) && isnan(o.mass) && !isnan(o.sparseness), "score_local_skip_gt",
          "pg %g sparse %g", o.pointing, o.sparseness);
}

static void test_constant_map(void *scratch)
{
    static uint8_t gt[H * W];
    static float map[H * W];
    for (int i = 0; i < H * W; i++)
        map[i] = 0.5f;
    gt[6 * W + 6] = 1; /* far from (0, 0) */
    struct score_local_params p = all_params();
    struct score_local_out o;
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    int ok = o.pointing == 0 && o.point == 0 && o.sparseness == 0 &&
             fabs(o.complexity - log((double)H * W)) < 1e-12 && o.auc == 0.5;
    CHECK(ok, "score_local_constant_map", "pg %g point %lld gini %g entropy %g auc %g",
          o.pointing, (long long)o.point, o.sparseness, o.complexity, o.auc);
    gt[6 * W + 6] = 0;
    gt[1 * W + 1] = 1; /* at distance sqrt(2) < 2 of (0, 0): a hit */
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    CHECK(o.pointing == 1, "score_local_constant_map_hit_near_origin", "pg %g", o.pointing);
    gt[1 * W + 1] = 0;
    gt[2 * W + 0] = 1; /* at exactly the tolerance: strict, a miss */
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    CHECK(o.pointing == 0, "score_local_tolerance_strict", "pg %g", o.pointing);
}

static void test_undefined(void *scratch)
{
    static uint8_t gt[H * W];
    static float map[H * W];
    for (int i = 0; i < H * W; i++)
        map[i] = (float)i;
    struct score_local_params p = all_params();
    struct score_local_out o;
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch); /* empty ground truth */
    int ok = isnan(o.pointing) && isnan(o.energy) && isnan(o.mass) && isnan(o.rank) &&
             isnan(o.topk) && isnan(o.auc) && !isnan(o.sparseness) && !isnan(o.complexity);
    CHECK(ok, "score_local_empty_gt_nan", "pg %g energy %g mass %g", o.pointing, o.energy,
          o.mass);
    gt[0] = 1;
    map[7] = NAN;
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    ok = isnan(o.pointing) && isnan(o.mass) && isnan(o.sparseness) && isnan(o.complexity) &&
         o.point == -1;
    CHECK(ok, "score_local_nan_map_nan", "pg %g gini %g", o.pointing, o.sparseness);
    memset(map, 0, sizeof map);
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch); /* all-zero map: zero norm */
    CHECK(isnan(o.sparseness) && isnan(o.complexity) && isnan(o.mass) && o.pointing == 1,
          "score_local_zero_map", "gini %g entropy %g mass %g pg %g", o.sparseness,
          o.complexity, o.mass, o.pointing);
}

static void test_center(void *scratch)
{
    static uint8_t gt[H * W];
    static float map[H * W];
    struct score_local_params p = all_params();
    p.center_point = 1;
    struct score_local_out o;
    gt[7 * W + 6] = 1; /* centre (5, 6); pixel (6, 7) at sqrt(2) */
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    CHECK(o.pointing == 1 && o.point == -1, "score_local_center_hit", "pg %g", o.pointing);
    memset(gt, 0, sizeof gt);
    gt[0] = 1;
    score_local_trial(&o, map, gt, 0, H, W, &p, scratch);
    CHECK(o.pointing == 0, "score_local_center_miss", "pg %g", o.pointing);
}

int main(void)
{
    void *scratch = malloc(score_local_scratch_bytes(H, W));
    test_gt();
    test_map_equals_mask(scratch);
    test_constant_map(scratch);
    test_undefined(scratch);
    test_center(scratch);
    free(scratch);
    return check_summary();
}

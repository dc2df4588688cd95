/* Per-trial localisation and complexity scores of the score stage: builds the trial's ground
 * truth from the example's objects and calls the metric kernels (metrics_localisation.h,
 * metrics_complexity.h), with the NaN policy of METHODS.md Part 1 applied in one place. */
#include "pipeline/score_local.h"

#include <math.h>
#include <string.h>

#include "pipeline/metrics_complexity.h"
#include "pipeline/metrics_localisation.h"

size_t score_local_gt(uint8_t *gt, const struct score_object *objs, int n_objs, int class_id,
                      int H, int W, int use_masks, int *n_class_objects, int *difficult)
{
    size_t hw = (size_t)H * W;
    int n = 0, hard = 0;
    memset(gt, 0, hw);
    for (int i = 0; i < n_objs; i++) {
        const struct score_object *o = &objs[i];
        if (o->class_id != class_id) continue;
        n++;
        hard += o->difficult != 0;
        if (use_masks && o->mask) {
            for (size_t j = 0; j < hw; j++)
                gt[j] |= o->mask[j] != 0;
        } else {
            struct metrics_box b = {o->x0, o->y0, o->x1, o->y1};
            metrics_mask_from_boxes(gt, &b, 1, H, W);
        }
    }
    *n_class_objects = n;
    *difficult = hard > 0;
    return metrics_mask_area(gt, hw);
}

int score_local_classes_present(const struct score_object *objs, int n_objs)
{
    int n = 0;
    for (int i = 0; i < n_objs; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = objs[j].class_id == objs[i].class_id;
        n += !seen;
    }
    return n;
}

size_t score_local_scratch_bytes(int H, int W)
{
    size_t n = (size_t)H * W, a = metrics_rank_scratch_bytes(n),
           b = metrics_sparseness_scratch_bytes(n);
    return a > b ? a : b;
}

static double pointing(const float *map, const uint8_t *gt, size_t area, int H, int W,
                       const struct score_local_params *p, int64_t *point)
{
    if (!p->center_point) return metrics_pointing_game(map, gt, H, W, p->tolerance, p->tie_aware,
                                                       point);
    *point = -1;
    if (area == 0) return NAN;
    return metrics_pointing_hit(gt, H, W, 0.5 * W, 0.5 * H, p->tolerance);
}

void score_local_trial(struct score_local_out *out, const float *map, const uint8_t *gt,
                       int skip_gt, int H, int W, const struct score_local_params *p,
                       void *scratch)
{
    size_t n = (size_t)H * W;
    unsigned w = p->which;
    out->pointing = out->energy = out->mass = out->rank = out->topk = out->auc = NAN;
    out->sparseness = out->complexity = NAN;
    out->point = -1;
    if (!metrics_map_finite(map, n)) return;
    if (w & SCORE_LOCAL_SPARSENESS) out->sparseness = metrics_sparseness(map, n, scratch);
    if (w & SCORE_LOCAL_COMPLEXITY) out->complexity = metrics_complexity(map, n);
    if (!(w & SCORE_LOCAL_NEEDS_GT) || skip_gt || !gt) return;
    size_t area = metrics_mask_area(gt, n);
    if (w & SCORE_LOCAL_POINTING) out->pointing = pointing(map, gt, area, H, W, p, &out->point);
    if (w & SCORE_LOCAL_ENERGY) out->energy = metrics_energy_pointing(map, gt, n);
    if (w & SCORE_LOCAL_MASS) out->mass = metrics_relevance_mass(map, gt, n, p->mass_abs);
    if (w & SCORE_LOCAL_RANK)
        out->rank = metrics_relevance_rank(map, gt, n, p->rank_abs, scratch);
    if (w & SCORE_LOCAL_TOPK)
        out->topk = metrics_top_k_intersection(map, gt, n, p->top_k, p->topk_concept,
                                               p->topk_abs, scratch);
    if (w & SCORE_LOCAL_AUC) out->auc = metrics_localisation_auc(map, gt, n, p->auc_abs, scratch);
    if (area == 0) out->energy = NAN; /* every ground-truth score is undefined on an empty gt */
}

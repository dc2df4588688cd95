/* The score stage's per-trial map metrics that need no model: the trial's ground-truth region
 * (union of its class's object masks or boxes), the localisation scores of metrics_localisation.h
 * and the complexity scores of metrics_complexity.h for one (map, class) trial. Pure functions
 * on caller-owned buffers; no allocation, no I/O. Not here: reading annotations or maps
 * (stages/score_data), re-inference metrics (score_faith.h), per-class accounting (the stage). */
#ifndef SALBENCH_SCORE_LOCAL_H
#define SALBENCH_SCORE_LOCAL_H

#include <stddef.h>
#include <stdint.h>

/* One annotated object of an example, at model input size. */
struct score_object {
    int class_id;
    float x0, y0, x1, y1;  /* box in input pixels, [x0, x1) x [y0, y1) */
    const uint8_t *mask;   /* [H,W], non-zero = object; NULL when the object has no mask */
    int difficult;         /* examples.h5 `difficult`: the EBP "difficult" flag of its class */
};

/* Ground truth of the trial (example, class_id): gt[H,W] (cleared first) = union over the
 * example's objects of that class of their masks (use_masks, an object without a mask adds its
 * box) or of their boxes. *n_class_objects receives how many objects had the class and
 * *difficult 1 when one of them carries the difficult flag (load sets it per class: the EBP
 * "difficult" subset of METHODS.md Part 1). Returns the ground-truth area in pixels. */
size_t score_local_gt(uint8_t *gt, const struct score_object *objs, int n_objs, int class_id,
                      int H, int W, int use_masks, int *n_class_objects, int *difficult);

/* Number of distinct classes among objs (the EBP "difficult" rule counts other classes). */
int score_local_classes_present(const struct score_object *objs, int n_objs);

/* Which scores score_local_trial computes (bit flags). */
enum {
    SCORE_LOCAL_POINTING = 1 << 0,
    SCORE_LOCAL_ENERGY = 1 << 1,
    SCORE_LOCAL_MASS = 1 << 2,
    SCORE_LOCAL_RANK = 1 << 3,
    SCORE_LOCAL_TOPK = 1 << 4,
    SCORE_LOCAL_AUC = 1 << 5,
    SCORE_LOCAL_SPARSENESS = 1 << 6,
    SCORE_LOCAL_COMPLEXITY = 1 << 7,
    SCORE_LOCAL_NEEDS_GT = (1 << 6) - 1, /* every score above that reads the ground truth */
};

struct score_local_params {
    unsigned which;      /* SCORE_LOCAL_* */
    double tolerance;    /* pointing game, input pixels (metrics_pointing_tolerance) */
    int tie_aware;       /* pointing game: fraction of tied maxima that hit */
    int center_point;    /* pointing game: point at (W/2, H/2) instead of the argmax (the
                            "center" baseline, TorchRay) */
    int mass_abs, rank_abs, topk_abs, auc_abs; /* abs_first of each Quantus score */
    size_t top_k;        /* top_k_intersection k */
    int topk_concept;    /* top_k_intersection concept_influence */
};

/* Scores of one trial; a score not requested is NaN. */
struct score_local_out {
    double pointing, energy, mass, rank, topk, auc, sparseness, complexity;
    int64_t point; /* flat index of the pointing point (-1: undefined or centre point) */
};

/* Scratch bytes for score_local_trial at H x W. */
size_t score_local_scratch_bytes(int H, int W);

/* Computes the requested scores of map[H,W] against gt[H,W] (gt may be NULL when no score
 * needing it is requested). `skip_gt` marks a trial whose ground truth must not be scored
 * (e.g. TorchRay's VOC trials whose objects are all VOC-difficult): its ground-truth scores
 * are NaN. A non-finite map gives NaN
 * everywhere (METHODS.md Part 1 NaN policy), an empty ground truth NaN for the ground-truth
 * scores. */
void score_local_trial(struct score_local_out *out, const float *map, const uint8_t *gt,
                       int skip_gt, int H, int W, const struct score_local_params *p,
                       void *scratch);

#endif

/* Localisation metrics of one trial: a saliency map [H,W] float32 (row-major, at model input
 * size) against the trial's ground-truth region [H,W] uint8 (non-zero = object of the trial's
 * class). TorchRay's pointing game with its per-class accounting (METHODS.md Part 1 and §2.3),
 * and Quantus' mask scores (§4.2). Pure functions on caller-owned buffers; no allocation.
 * Not here: reading annotations, resizing maps, choosing trials (stages/score, formats/). */
#ifndef SALBENCH_METRICS_LOCALISATION_H
#define SALBENCH_METRICS_LOCALISATION_H

#include <stddef.h>
#include <stdint.h>

/* ---- ground truth ------------------------------------------------------------------------- */

/* A box in continuous input-pixel coordinates: pixel (u, v) covers [u, u+1) x [v, v+1).
 * A VOC box with 1-based inclusive corners (xmin..xmax) is x0 = xmin - 1, x1 = xmax, which
 * reproduces TorchRay's voc_as_mask exactly; a COCO [x, y, w, h] box is x0 = x, x1 = x + w. */
struct metrics_box {
    float x0, y0, x1, y1;
};

/* ORs the boxes into mask[H,W] (not cleared first; the ground truth of a trial is the union
 * of its class's boxes, TorchRay §2.3). A pixel is covered iff its centre (u + 0.5, v + 0.5)
 * lies in [x0, x1) x [y0, y1); along an axis where a non-empty box holds no pixel centre
 * (thinner than a pixel) it takes the pixel holding its midpoint, so a thin object never
 * vanishes. Boxes are clipped to the image. Returns the mask's non-zero count afterwards. */
size_t metrics_mask_from_boxes(uint8_t *mask, const struct metrics_box *boxes, int n_boxes, int H,
                               int W);

/* Number of non-zero entries of mask[n]. */
size_t metrics_mask_area(const uint8_t *mask, size_t n);

/* 1 when every value of map[n] is finite. Every metric here returns NaN for a map that is not
 * (METHODS.md Part 1 NaN policy: never a crash, never a silent hit). */
int metrics_map_finite(const float *map, size_t n);

/* ---- pointing game (TorchRay, METHODS.md §2.3) -------------------------------------------- */

/* Default tolerance: 15 px at 224, scaled with the shorter side: 15 * min(H, W) / 224
 * (64 x 64 inputs: 4.2857 px). The stage records the value it used. */
double metrics_pointing_tolerance(int H, int W);

/* Flat index of the first maximum in row-major order (torch.argmax): the top-most, then
 * left-most maximal pixel. A constant map gives 0, i.e. point (0, 0). n > 0, finite map. */
size_t metrics_argmax_first(const float *map, size_t n);

/* 1 iff some ground-truth pixel (u', v') lies at (u - u')^2 + (v - v')^2 < tol^2: strict, so a
 * pixel at exactly the tolerance is a miss (TorchRay's code; its docs say <=). (u, v) = (column,
 * row) may be fractional (the centre baseline points at (W/2, H/2)). Scans the (2 tol + 1)^2
 * window only, equivalent to TorchRay's full-image disc. */
int metrics_pointing_hit(const uint8_t *mask, int H, int W, double u, double v, double tol);

/* One trial of the pointing game on a map. Returns 1 (hit) or 0 (miss); with tie_aware, the
 * fraction of the tied maxima that hit (our option; TorchRay uses the first argmax only).
 * NaN when the map is not finite or the mask is empty (undefined trial). A constant map points
 * at (0, 0) (TorchRay). point_out (optional, may be NULL) receives the first argmax's flat
 * index, or -1 for an undefined trial. */
double metrics_pointing_game(const float *map, const uint8_t *mask, int H, int W, double tol,
                             int tie_aware, int64_t *point_out);

/* Per-class accounting of TorchRay's PointingGame: one entry per class of the data set. */
struct metrics_pointing_counts {
    double hits; /* doubles: a tie-aware trial adds its fraction */
    double misses;
    int64_t undefined; /* NaN outcomes: reported, never counted as hit or miss */
};

/* Adds one trial outcome (1 hit, 0 miss, a fraction in between, NaN undefined) to class
 * class_id of per_class[n_classes]. */
void metrics_pointing_add(struct metrics_pointing_counts *per_class, int n_classes, int class_id,
                          double outcome);

/* TorchRay: acc_c = hits_c / max(hits_c + misses_c, 1). */
double metrics_pointing_class_accuracy(const struct metrics_pointing_counts *c);

/* TorchRay's score: the unweighted mean of acc_c over ALL n_classes classes, so a class with
 * no trials contributes 0 (not excluded). */
double metrics_pointing_mean_accuracy(const struct metrics_pointing_counts *per_class,
                                      int n_classes);

/* Overall hit rate: sum of hits / sum of (hits + misses) over classes; NaN with no trials. */
double metrics_pointing_hit_rate(const struct metrics_pointing_counts *per_class, int n_classes);

/* The "difficult" subset (METHODS.md Part 1, from the EBP paper): the target's ground-truth
 * area (mask pixels) is below a quarter of the image and at least one other class is present
 * in the example (n_classes_present counts the target too). Difficult trials are added to a
 * second per-class array, scored with the same mean over all classes. */
int metrics_pointing_difficult(size_t target_area, int H, int W, int n_classes_present);

/* ---- Quantus mask scores (METHODS.md §4.2), one trial, n = H * W ----------------------------
 * All are NaN for a non-finite map or an empty mask (Quantus returns NaN for an empty mask).
 * Per-example normalisation (Part 1) divides the map by a positive constant, which leaves every
 * score below unchanged (ratios and rankings), so the functions take the raw map. Ties in the
 * rankings break by the lowest flat index (Part 1; Quantus' argsort order is unspecified). */

/* Relevance mass accuracy: sum over the mask of a / sum of a (Quantus RelevanceMassAccuracy:
 * signed, no epsilon; abs_first applies |a| first). NaN when the total is 0. A map equal to
 * the mask gives 1. */
double metrics_relevance_mass(const float *map, const uint8_t *mask, size_t n, int abs_first);

/* Energy-based pointing game (Score-CAM; Part 1): positive energy inside the ground truth /
 * total positive energy, with energy max(a, 0). NaN when there is no positive energy. */
double metrics_energy_pointing(const float *map, const uint8_t *mask, size_t n);

/* Scratch bytes for the ranked scores below (2n uint64 keys, n uint32, n float). */
size_t metrics_rank_scratch_bytes(size_t n);

/* Relevance rank accuracy: K = mask area; fraction of the K highest-ranked pixels inside the
 * mask (Quantus RelevanceRankAccuracy, abs = 0 by default). */
double metrics_relevance_rank(const float *map, const uint8_t *mask, size_t n, int abs_first,
                              void *scratch);

/* Top-k intersection: fraction of the k highest-ranked pixels inside the mask (Quantus
 * TopKIntersection; default k = 1000 at 224 x 224, see metrics_top_k_default). With
 * concept_influence the score is multiplied by n / mask area. NaN unless 1 <= k <= n. */
double metrics_top_k_intersection(const float *map, const uint8_t *mask, size_t n, size_t k,
                                  int concept_influence, int abs_first, void *scratch);

/* k = 1000 at 224 x 224 (Quantus), scaled with the pixel count: round(1000 * H * W / 50176),
 * at least 1 (64 x 64: 82). Our choice: Quantus keeps k = 1000 whatever the size. */
size_t metrics_top_k_default(int H, int W);

/* ROC AUC of the map's values as scores for the mask's pixels (Quantus AUC: sklearn roc_curve
 * + trapezoid, so tied scores count 1/2), computed exactly as the Mann-Whitney statistic with
 * average ranks. A constant map gives 0.5. NaN when the mask is empty or covers every pixel. */
double metrics_localisation_auc(const float *map, const uint8_t *mask, size_t n, int abs_first,
                                void *scratch);

#endif

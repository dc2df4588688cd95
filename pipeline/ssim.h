/* Structural similarity of two 2-D maps as skimage.metrics.structural_similarity computes it
 * with gaussian_weights=True (the Sanity Checks reference, METHODS.md §6.3), and the bundle of
 * per-layer similarities the sanity check and random-logit metrics report (Part 1). Pure
 * functions on caller-owned buffers; no allocation. Not here: producing the maps (re-running
 * a method on a randomised model is the stage's job through the engine). */
#ifndef SALBENCH_SSIM_H
#define SALBENCH_SSIM_H

#include <stddef.h>

#include "pipeline/hog.h"

/* Defaults reproduce the reference call ssim(x, y, gaussian_weights=True, multichannel=True)
 * of the Sanity Checks notebook on 0-1 min-max normalised float32 maps:
 *   radius 5 (window 11 = 2 int(3.5 sigma + 0.5) + 1, skimage's truncate 3.5), sigma 1.5,
 *   K1 0.01, K2 0.03, use_sample_covariance True (skimage's default; covariances scaled by
 *   NP / (NP - 1), NP = 121), data_range 2.0: skimage derives it from the dtype when not
 *   given, and a float image's dtype range is [-1, 1], so the reference ran with 2 even though
 *   its maps lie in [0, 1]. Set data_range = 1 and sample_covariance = 0 for Wang et al.'s
 *   constants on [0, 1] data. Our maps are 2-D, so "multichannel" plays no part. */
struct ssim_params {
    int radius;
    double sigma;
    double k1, k2;
    double data_range;
    int sample_covariance;
};

void ssim_params_default(struct ssim_params *p);

/* Min-max normalisation to [0, 1] in double: out = (a - min) / (max - min). Returns 0 (out
 * untouched) for a constant or non-finite map, which makes SSIM/HOG undefined (NaN). */
int ssim_minmax01(double *out, const float *map, size_t n);

size_t ssim_scratch_bytes(int H, int W);

/* Mean SSIM of x, y [H,W]:
 *   mu = G * x (Gaussian-weighted local means, separable window of 2 radius + 1 taps with
 *   weights exp(-k^2 / (2 sigma^2)) normalised to sum 1), v_x = c (G * x^2 - mu_x^2),
 *   v_xy = c (G * xy - mu_x mu_y), c = NP / (NP - 1) or 1;
 *   S = (2 mu_x mu_y + C1)(2 v_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(v_x + v_y + C2)),
 *   C1 = (K1 R)^2, C2 = (K2 R)^2; the result is the mean of S over the pixels at least
 *   `radius` away from every border (skimage crops that strip, so padding never matters).
 * NaN when H or W < 2 radius + 1 (skimage raises) or an input is not finite. */
double ssim_forward(const double *x, const double *y, int H, int W, const struct ssim_params *p,
                    void *scratch);

/* SSIM of two float maps after min-max normalising each to [0, 1]; NaN when either map is
 * constant or not finite. scratch: ssim_scratch_bytes(H, W). */
double ssim_maps(const float *a, const float *b, int H, int W, const struct ssim_params *p,
                 void *scratch);

/* The sanity check's similarities of an original map a and a randomised one b (§6.3, Part 1):
 * Spearman of |a| vs |b| (the reference's abs-grayscale normalisation of a 2-D map is |a| /
 * max|a|, monotone, so it leaves ranks unchanged), Spearman of a vs b (diverging), SSIM of
 * the 0-1 min-max maps, and Spearman of the HOG vectors of the 0-1 min-max maps. Each is NaN
 * when undefined (constant map, non-finite values, map smaller than an SSIM window or a HOG
 * block). random_logit uses the same bundle on the maps for the target and for a random other
 * class (perturb_random_other_class). */
struct ssim_similarity {
    double spearman_abs;
    double spearman_signed;
    double ssim;
    double hog_spearman;
};

size_t ssim_similarity_scratch_bytes(int H, int W, const struct hog_params *hp);

void ssim_similarity(struct ssim_similarity *out, const float *a, const float *b, int H, int W,
                     const struct ssim_params *sp, const struct hog_params *hp, void *scratch);

#endif

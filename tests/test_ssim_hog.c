/* Tests of pipeline/ssim and pipeline/hog against scikit-image 0.19 fixtures (SSIM with
 * Gaussian weights under the Sanity Checks constants and Wang et al.'s, HOG with L2-Hys and
 * L1 blocks), the sanity-check similarity bundle against SciPy/skimage, and edge cases. */
#include <math.h>
#include <stdlib.h>

#include "pipeline/hog.h"
#include "pipeline/ssim.h"
#include "tests/check.h"
#include "tests/ref/metric_fixtures.h"

static void test_ssim(void)
{
    int H = 24, W = 28;
    struct ssim_params p;
    ssim_params_default(&p);
    CHECK(p.radius == 5 && p.sigma == 1.5 && p.data_range == 2.0 && p.sample_covariance,
          "ssim_defaults_reference", "window 11, sigma 1.5, data_range 2, sample covariance");
    void *scratch = malloc(ssim_scratch_bytes(64, 64));
    /* Same formula in double on the same normalised inputs; skimage's scipy filters sum in
     * another order: agreement ~1e-15, 1e-12 leaves margin. */
    double s = ssim_maps(fx_ssim_a, fx_ssim_b, H, W, &p, scratch);
    CHECK(fabs(s - fx_ssim_ref) < 1e-12, "ssim_vs_skimage_reference_constants", "%.17g vs %.17g", s,
          fx_ssim_ref);
    struct ssim_params wang = p;
    wang.data_range = 1.0;
    wang.sample_covariance = 0;
    s = ssim_maps(fx_ssim_a, fx_ssim_b, H, W, &wang, scratch);
    CHECK(fabs(s - fx_ssim_wang) < 1e-12, "ssim_vs_skimage_wang_constants", "%.17g vs %.17g", s,
          fx_ssim_wang);
    double ab = ssim_maps(fx_ssim_a, fx_ssim_b, H, W, &p, scratch);
    double ba = ssim_maps(fx_ssim_b, fx_ssim_a, H, W, &p, scratch);
    double aa = ssim_maps(fx_ssim_a, fx_ssim_a, H, W, &p, scratch);
    CHECK(fabs(ab - ba) < 1e-15 && fabs(aa - 1) < 1e-15, "ssim_symmetric_and_identity",
          "ab %.17g ba %.17g aa %.17g", ab, ba, aa);

    float cst[24 * 28], small[10 * 10] = {0};
    for (int i = 0; i < H * W; i++)
        cst[i] = 0.5f;
    small[3] = 1;
    CHECK(isnan(ssim_maps(fx_ssim_a, cst, H, W, &p, scratch)) &&
              isnan(ssim_maps(small, small, 10, 10, &p, scratch)),
          "ssim_undefined_constant_or_small", "constant map or map < 11 px must give NaN");
    cst[7] = NAN;
    CHECK(isnan(ssim_maps(fx_ssim_a, cst, H, W, &p, scratch)), "ssim_nan_map", "");
    free(scratch);
}

static void test_hog(void)
{
    struct hog_params p;
    hog_params_default(&p);
    CHECK(hog_length(64, 64, &p) == 324 && hog_length(224, 224, &p) == 11664 &&
              hog_length(47, 64, &p) == 0,
          "hog_length", "%zu", hog_length(64, 64, &p));
    double img[64 * 70], feat[1000];
    void *scratch = malloc(hog_scratch_bytes(64, 70, &p));
    CHECK(ssim_minmax01(img, fx_hog_a, 64 * 64), "hog_minmax_ok", "");
    size_t len = hog_forward(feat, img, 64, 64, &p, scratch);
    /* skimage computes the same operations in the same order except numpy's pairwise sum in
     * the block norms (~1e-16 on values below 1): 1e-12 absolute. */
    CHECK(len == 324, "hog_forward_length", "%zu", len);
    check_close_f64("hog_l2hys_vs_skimage", feat, fx_hog_a_l2hys, 324, 1e-12, 0);

    struct hog_params q = {.orientations = 6, .cell = 8, .block = 2, .norm = HOG_NORM_L1};
    ssim_minmax01(img, fx_hog_c, 50 * 70);
    len = hog_forward(feat, img, 50, 70, &q, scratch);
    CHECK(len == hog_length(50, 70, &q) && len == 840, "hog_l1_length", "%zu", len);
    check_close_f64("hog_l1_odd_grid_vs_skimage", feat, fx_hog_c_l1, 840, 1e-12, 0);
    free(scratch);
}

static void test_bundle(void)
{
    int H = 64, W = 64;
    struct ssim_params sp;
    struct hog_params hp;
    ssim_params_default(&sp);
    hog_params_default(&hp);
    void *scratch = malloc(ssim_similarity_scratch_bytes(H, W, &hp));
    struct ssim_similarity s;
    ssim_similarity(&s, fx_hog_a, fx_hog_b, H, W, &sp, &hp, scratch);
    /* Spearman sums in double over 4096 ranks: ~1e-15; the HOG vectors agree to ~1e-15, far
     * below their gaps, so their ranks match scipy's exactly. */
    CHECK(fabs(s.spearman_abs - fx_sim_spearman_abs) < 1e-12 &&
              fabs(s.spearman_signed - fx_sim_spearman_signed) < 1e-12,
          "ssim_bundle_spearman_vs_scipy", "abs %.17g vs %.17g, signed %.17g vs %.17g",
          s.spearman_abs, fx_sim_spearman_abs, s.spearman_signed, fx_sim_spearman_signed);
    CHECK(fabs(s.ssim - fx_sim_ssim) < 1e-12, "ssim_bundle_ssim_vs_skimage", "%.17g vs %.17g",
          s.ssim, fx_sim_ssim);
    CHECK(fabs(s.hog_spearman - fx_sim_hog_spearman) < 1e-12, "ssim_bundle_hog_vs_skimage",
          "%.17g vs %.17g", s.hog_spearman, fx_sim_hog_spearman);

    ssim_similarity(&s, fx_hog_a, fx_hog_a, H, W, &sp, &hp, scratch);
    CHECK(s.spearman_abs == 1 && s.spearman_signed == 1 && fabs(s.ssim - 1) < 1e-15 &&
              s.hog_spearman == 1,
          "ssim_bundle_identical_maps", "");
    float *cst = malloc((size_t)H * W * sizeof *cst);
    for (int i = 0; i < H * W; i++)
        cst[i] = 0;
    ssim_similarity(&s, fx_hog_a, cst, H, W, &sp, &hp, scratch);
    CHECK(isnan(s.spearman_abs) && isnan(s.spearman_signed) && isnan(s.ssim) &&
              isnan(s.hog_spearman),
          "ssim_bundle_constant_map_nan", "a constant randomised map has no defined similarity");
    free(cst);
    free(scratch);
}

int main(void)
{
    test_ssim();
    test_hog();
    test_bundle();
    return check_summary();
}

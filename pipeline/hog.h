/* Histogram of oriented gradients of a 2-D image [H,W] double, as skimage.feature.hog computes
 * it (skimage 0.19, the version the committed fixtures come from); used by the sanity check's
 * "HOG-feature Spearman" (METHODS.md §6.3: pixels_per_cell 16, other skimage defaults). Pure
 * function on caller-owned buffers; no allocation. Not here: the min-max normalisation of the
 * map (ssim.h, ssim_minmax01) and the Spearman of two HOG vectors (stats.h). */
#ifndef SALBENCH_HOG_H
#define SALBENCH_HOG_H

#include <stddef.h>

enum hog_block_norm {
    HOG_NORM_L2_HYS = 0, /* skimage's default since 0.15 (the reference's skimage era is not */
    HOG_NORM_L1 = 1,     /* pinned; 0.14 defaulted to L1, kept as an option) */
    HOG_NORM_L1_SQRT = 2,
    HOG_NORM_L2 = 3,
};

struct hog_params {
    int orientations; /* bins over [0, 180) degrees; 9 */
    int cell;         /* pixels per cell, square; 16 (Sanity Checks), skimage's default is 8 */
    int block;        /* cells per block, square; 3 */
    enum hog_block_norm norm;
};

void hog_params_default(struct hog_params *p);

/* Feature count: nbr * nbc * block^2 * orientations with nbr = H/cell - block + 1 (and the
 * same for columns); 0 when the image holds less than one block (skimage raises there).
 * 64 x 64 with the defaults: 2 * 2 * 3 * 3 * 9 = 324. */
size_t hog_length(int H, int W, const struct hog_params *p);

size_t hog_scratch_bytes(int H, int W, const struct hog_params *p);

/* out[hog_length] = HOG of img[H,W] (row-major), laid out like skimage's feature vector:
 * (block row, block col, cell row in block, cell col in block, orientation).
 * Definition (own words of skimage's algorithm):
 *  - gradients by central differences without the 1/2: g_row(r,c) = img(r+1,c) - img(r-1,c),
 *    g_col(r,c) = img(r,c+1) - img(r,c-1), zero on the first and last row (resp. column);
 *  - magnitude hypot(g_col, g_row); orientation = degrees(atan2(g_row, g_col)) mod 180 with
 *    numpy's float modulo (so -0 becomes 0 and a tiny negative angle may round to 180, which
 *    falls in no bin);
 *  - cell histogram, cells tiling [0, (H/cell) cell) x [0, (W/cell) cell): bin i collects the
 *    magnitudes with orientation in [i 180/nb, (i+1) 180/nb), summed in single precision in
 *    row-major order (skimage accumulates in a C float) and divided by cell^2;
 *  - every block of block x block cells is normalised on its own (eps = 1e-5): L2-Hys =
 *    v / sqrt(|v|^2 + eps^2), clipped at 0.2, renormalised the same way; L1 = v / (|v|_1 +
 *    eps); L1-sqrt = sqrt of L1; L2 = v / sqrt(|v|^2 + eps^2).
 * Returns the feature count (0, nothing written, when the image is too small). */
size_t hog_forward(double *out, const double *img, int H, int W, const struct hog_params *p,
                   void *scratch);

#endif

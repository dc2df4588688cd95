/* HOG features of one image, reproducing skimage.feature.hog (0.19); see hog.h. */
#include "pipeline/hog.h"

#include <math.h>
#include <stdint.h>

#include "pipeline/err.h"

void hog_params_default(struct hog_params *p)
{
    p->orientations = 9;
    p->cell = 16;
    p->block = 3;
    p->norm = HOG_NORM_L2_HYS;
}

static void hog_grid(int H, int W, const struct hog_params *p, int *ncr, int *ncc, int *nbr,
                     int *nbc)
{
    *ncr = H / p->cell;
    *ncc = W / p->cell;
    *nbr = *ncr - p->block + 1;
    *nbc = *ncc - p->block + 1;
}

size_t hog_length(int H, int W, const struct hog_params *p)
{
    int ncr, ncc, nbr, nbc;
    SB_ASSERT(p->cell > 0 && p->block > 0 && p->orientations > 0);
    hog_grid(H, W, p, &ncr, &ncc, &nbr, &nbc);
    if (nbr <= 0 || nbc <= 0) return 0;
    return (size_t)nbr * nbc * p->block * p->block * p->orientations;
}

size_t hog_scratch_bytes(int H, int W, const struct hog_params *p)
{
    int ncr, ncc, nbr, nbc;
    hog_grid(H, W, p, &ncr, &ncc, &nbr, &nbc);
    size_t cells = ncr > 0 && ncc > 0 ? (size_t)ncr * ncc : 0;
    return (2 * (size_t)H * W + cells * p->orientations) * sizeof(double) + 16;
}

/* numpy's float remainder a mod 180 (sign of the divisor, -0 -> +0). */
static double np_mod180(double a)
{
    double m = fmod(a, 180.0);
    if (m == 0) return 0.0;
    return m < 0 ? m + 180.0 : m;
}

/* Magnitude and orientation (degrees in [0, 180]) of every pixel. */
static void gradients(double *mag, double *ori, const double *img, int H, int W)
{
    for (int r = 0; r < H; r++) {
        for (int c = 0; c < W; c++) {
            size_t i = (size_t)r * W + c;
            double gr = 0, gc = 0;
            if (r > 0 && r < H - 1) gr = img[i + W] - img[i - W];
            if (c > 0 && c < W - 1) gc = img[i + 1] - img[i - 1];
            mag[i] = hypot(gc, gr);
            ori[i] = np_mod180(atan2(gr, gc) * (180.0 / M_PI));
        }
    }
}

/* hist[ncr, ncc, nb]: per-cell orientation histograms, float accumulation as skimage. */
static void cell_histograms(double *hist, const double *mag, const double *ori, int W, int ncr,
                            int ncc, const struct hog_params *p)
{
    int nb = p->orientations, cs = p->cell;
    double per = 180.0 / nb;
    for (int cr = 0; cr < ncr; cr++) {
        for (int cc = 0; cc < ncc; cc++) {
            for (int b = 0; b < nb; b++) {
                double lo = per * b, hi = per * (b + 1);
                float total = 0;
                for (int r = cr * cs; r < (cr + 1) * cs; r++)
                    for (int c = cc * cs; c < (cc + 1) * cs; c++) {
                        size_t i = (size_t)r * W + c;
                        if (ori[i] >= lo && ori[i] < hi) total = (float)((double)total + mag[i]);
                    }
                hist[((size_t)cr * ncc + cc) * nb + b] = (double)(total / (float)(cs * cs));
            }
        }
    }
}

static double sum_sq(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i] * v[i];
    return s;
}

static void normalise_block(double *v, size_t n, enum hog_block_norm norm)
{
    const double eps = 1e-5;
    if (norm == HOG_NORM_L1 || norm == HOG_NORM_L1_SQRT) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += fabs(v[i]);
        for (size_t i = 0; i < n; i++) {
            v[i] = v[i] / (s + eps);
            if (norm == HOG_NORM_L1_SQRT) v[i] = sqrt(v[i]);
        }
        return;
    }
    double d = sqrt(sum_sq(v, n) + eps * eps);
    for (size_t i = 0; i < n; i++)
        v[i] = v[i] / d;
    if (norm != HOG_NORM_L2_HYS) return;
    for (size_t i = 0; i < n; i++)
        v[i] = v[i] < 0.2 ? v[i] : 0.2;
    d = sqrt(sum_sq(v, n) + eps * eps);
    for (size_t i = 0; i < n; i++)
        v[i] = v[i] / d;
}

size_t hog_forward(double *out, const double *img, int H, int W, const struct hog_params *p,
                   void *scratch)
{
    size_t len = hog_length(H, W, p);
    if (len == 0) return 0;
    int ncr, ncc, nbr, nbc, nb = p->orientations, bs = p->block;
    hog_grid(H, W, p, &ncr, &ncc, &nbr, &nbc);
    double *mag = scratch, *ori = mag + (size_t)H * W, *hist = ori + (size_t)H * W;
    gradients(mag, ori, img, H, W);
    cell_histograms(hist, mag, ori, W, ncr, ncc, p);
    size_t per_block = (size_t)bs * bs * nb;
    for (int br = 0; br < nbr; br++) {
        for (int bc = 0; bc < nbc; bc++) {
            double *v = out + ((size_t)br * nbc + bc) * per_block;
            for (int i = 0; i < bs; i++)
                for (int j = 0; j < bs; j++)
                    for (int b = 0; b < nb; b++)
                        v[((size_t)i * bs + j) * nb + b] =
                            hist[((size_t)(br + i) * ncc + (bc + j)) * nb + b];
            normalise_block(v, per_block, p->norm);
        }
    }
    return len;
}

/* Adversarial attacks (FGSM, PGD with an L-inf ball) and image corruptions (Gaussian noise,
 * Gaussian blur, JPEG-like DCT quantisation) for the attack chains. Pure kernels on caller
 * buffers plus one gradient driver on the engine (pipeline/net.h); no I/O, no allocation.
 *
 * PIXEL SPACE. Everything works on float images x in [0, 1], HWC layout per example, with
 * x = u8 / 255 (float); the model's normalisation (x - mean) / std is applied inside
 * attack_loss_grad, exactly as preprocess_forward does it, and gradients are taken with respect
 * to x. eps, step and the noise sigma are fractions of the pixel range (eps = 8/255 means 8 grey
 * levels). Results are written back as uint8: round(255 x), and for the L-inf attacks clamped to
 * [u8 - E, u8 + E] with E = floor(255 eps + 1e-6) grey levels, so the stored images respect the
 * eps ball exactly in uint8 terms (an eps that is not a whole number of levels is rounded down
 * to one; PGD's float iterate may sit up to half a level outside, the clamp takes it back). The
 * quantisation is part of the contract: the stored attack is what the model sees downstream, so
 * an attack that succeeded in float can fail after rounding (the stage records success on the
 * stored uint8 image).
 *
 * RANDOMNESS. The PGD random start (uniform in [-eps, eps] per value) and the Gaussian noise come
 * from Philox streams keyed by (seed, example_id, ATTACK_RNG_*), walking the values of one
 * example in HWC order: results do not depend on batch size, thread count, shard or order. */
#ifndef SALBENCH_ATTACK_H
#define SALBENCH_ATTACK_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/rng.h"

struct net;

enum attack_kind {
    ATTACK_FGSM = 1, /* x0 + eps * sign(grad), one step (Goodfellow et al. 2015) */
    ATTACK_PGD,      /* iterated sign steps projected on the eps ball (Madry et al. 2018) */
    ATTACK_NOISE,    /* x0 + sigma * N(0, 1) per value, clipped to [0, 1] */
    ATTACK_BLUR,     /* separable Gaussian blur, sigma in pixels, scipy 'reflect' boundary */
    ATTACK_JPEG,     /* 8x8 DCT quantisation with the IJG-scaled Annex K tables, round trip */
};

/* "fgsm", "pgd", "noise", "blur", "jpeg" and back (-1 when unknown, no err_set). */
const char *attack_kind_name(enum attack_kind k);
int attack_kind_from_name(const char *name);
/* 1 for FGSM and PGD (gradient attacks with an eps ball), 0 for the corruptions. */
int attack_kind_is_adversarial(enum attack_kind k);

/* Sub-streams of RNG_ATTACK (purpose high 16 bits, rng.h). */
#define ATTACK_RNG_START (RNG_ATTACK | (1u << 16))
#define ATTACK_RNG_NOISE (RNG_ATTACK | (2u << 16))

/* eps as whole grey levels: floor(255 eps + 1e-6). */
int attack_eps_levels(double eps);

/* ---- element-wise kernels on one example's n = H*W*C values ----------------------------- */

/* out[i] = in[i] / 255.0f (the same float preprocess_forward computes). */
void attack_to_unit(float *out, const uint8_t *in, size_t n);

/* x[i] = clip(x0[i] + U(-eps, eps), 0, 1); draw i is the i-th rng_uniform of the stream
 * (seed, example_id, ATTACK_RNG_START): u in [0, 1), offset (2u - 1) eps. */
void attack_random_start(float *x, const float *x0, float eps, uint64_t seed,
                         uint64_t example_id, size_t n);

/* One projected sign step: x[i] = clip(clip(x[i] + step * sign(g[i]), x0 - eps, x0 + eps), 0, 1)
 * with sign(0) = 0. step > 0 ascends the loss (untargeted), step < 0 descends (targeted). */
void attack_sign_step(float *x, const float *g, const float *x0, float step, float eps,
                      size_t n);

/* out[i] = clamp(round(255 x[i]), lo, hi) with [lo, hi] = [orig - E, orig + E] intersected with
 * [0, 255] when E >= 0, [0, 255] when E < 0 (corruptions). Rounds half away from zero. */
void attack_quantise(uint8_t *out, const float *x, const uint8_t *orig, int E, size_t n);

/* x[i] = clip(x0[i] + sigma * z_i, 0, 1), z_i the i-th rng_normal of the stream
 * (seed, example_id, ATTACK_RNG_NOISE). */
void attack_noise(float *x, const float *x0, double sigma, uint64_t seed, uint64_t example_id,
                  size_t n);

/* L-inf (max |a - b|, grey levels) and L2 (sqrt(sum ((a - b) / 255)^2), pixel range [0, 1])
 * distances between two uint8 images of n values. */
void attack_norms(int *linf_levels, double *l2, const uint8_t *a, const uint8_t *b, size_t n);

/* ---- Gaussian blur ----------------------------------------------------------------------- */

/* Radius of scipy.ndimage.gaussian_filter with truncate 4: (int)(4 sigma + 0.5), at least 1. */
#define ATTACK_BLUR_MAX_RADIUS 64
int attack_blur_radius(double sigma);
/* taps[0..2r]: exp(-k^2 / (2 sigma^2)) for k = -r..r, normalised to sum 1 (in double). */
void attack_blur_taps(double *taps, int radius, double sigma);
/* out[H,W,C] = in blurred along rows then columns with taps (2r+1 of them), boundary
 * 'reflect' (d c b a | a b c d | d c b a, scipy's mode), tmp: H*W*C floats of scratch.
 * out, tmp and in must not overlap. A constant image stays constant. */
void attack_blur_forward(float *out, float *tmp, const float *in, const double *taps,
                         int radius, int H, int W, int C);

/* ---- JPEG-like quantisation --------------------------------------------------------------- */

/* The 8x8 quantisation table for a quality 1..100 (IJG jpeg_quality_scaling: scale 5000/q below
 * 50, else 200 - 2q; entries (base * scale + 50) / 100 clamped to 1..255) from the ITU-T T.81
 * Annex K luminance (chroma = 0) or chrominance (chroma = 1) table; row-major, natural order. */
void attack_jpeg_table(int table[64], int quality, int chroma);
/* out[H,W,C] = in after a JPEG-like round trip at `quality`, values in [0, 1]: C = 3 is taken
 * to YCbCr (JFIF, full range, no chroma subsampling), C = 1 is luminance; each plane (in 0..255,
 * level-shifted by -128) is cut into 8x8 blocks (edge blocks padded by repeating the last row
 * and column, as libjpeg does), transformed with an orthonormal 2-D DCT-II, divided by the
 * table, rounded, multiplied back, inverted, and the planes converted back, clipped to [0, 1].
 * No entropy coding and no rounding of the colour planes: coefficient rounding is the only
 * loss, so quality 100 (a table of ones) is nearly the identity. C must be 1 or 3. */
void attack_jpeg_forward(float *out, const float *in, int quality, int H, int W, int C);

/* ---- gradients through the model ------------------------------------------------------------ */

/* The model as the attack sees it (all borrowed). */
struct attack_model {
    struct net *net;           /* built with gradients (not NET_NO_GRAD), max_batch >= N */
    const double *mean, *std;  /* [C] normalisation on [0, 1] pixels */
    int H, W, C, K;
    int multi_label;           /* 1: sigmoid model, BCE loss; 0: softmax, cross-entropy */
};

/* The loss of each example and its gradient with respect to the pixels x [N,H,W,C] in [0,1]:
 *   single-label: CE(logits_n, cls[n]) = logsumexp(z) - z[cls]    (pipeline/loss.h, per example)
 *   multi-label:  BCE-with-logits(logits_n, hot[n,:]) averaged over the K classes
 * grad [N,H,W,C] (overwritten), loss [N] (may be NULL), logits [N,K] (may be NULL) receive
 * the results; xin (N*C*H*W floats) and dlogits (N*K floats) are scratch. Each example's loss is
 * computed alone, so nothing depends on N. cls is used for single-label, hot for multi-label.
 * Returns 0, or -1 after err_set when the engine fails. */
int attack_loss_grad(float *grad, float *loss, float *logits, float *xin, float *dlogits,
                     const struct attack_model *m, const float *x, const int32_t *cls,
                     const float *hot, int N);

/* Forward pass only, same definitions and scratch: logits [N,K] (may be NULL) and, when cls
 * (single-label) or hot (multi-label) is given, loss [N]. */
int attack_loss(float *loss, float *logits, float *xin, const struct attack_model *m,
                const float *x, const int32_t *cls, const float *hot, int N);
/* The per-example losses above from logits [N,K] already computed. */
void attack_logits_loss(float *loss, const struct attack_model *m, const float *logits,
                        const int32_t *cls, const float *hot, int N);

/* ---- one batch, any kind ---------------------------------------------------------------- */

struct attack_params {
    enum attack_kind kind;
    float eps;        /* FGSM/PGD ball radius, pixel range [0, 1] */
    float step;       /* PGD step (FGSM uses eps) */
    int iters;        /* PGD iterations (0: the start point, i.e. x0 or the random start) */
    int random_start; /* PGD: start uniformly in the ball */
    int targeted;     /* 1: descend the loss towards the given classes; 0: ascend it */
    uint64_t seed;    /* random start and noise streams */
    double sigma;     /* noise: std in pixel range [0, 1]; blur: std in pixels */
    int quality;      /* JPEG quality 1..100 */
};

/* Floats of scratch attack_batch needs for N examples of dims = {H, W, C} and K classes. */
size_t attack_scratch_floats(const struct attack_params *p, const int dims[3], int K, int N);

/* out [N,H,W,C] uint8 = the attacked / corrupted in [N,H,W,C] uint8, example n keyed by ids[n]
 * for its random draws. FGSM/PGD use the model and the loss targets (cls for single-label,
 * hot [N,K] multi-hot for multi-label; for targeted attacks the target classes, else the
 * classes whose loss is ascended), then quantise into the eps ball (see the top of this file);
 * corruptions ignore m, cls and hot (m may be NULL; only H, W, C are read from dims).
 * dims = {H, W, C}. scratch: attack_scratch_floats floats. Returns 0, or -1 after err_set. */
int attack_batch(uint8_t *out, const struct attack_params *p, const struct attack_model *m,
                 const int dims[3], const uint8_t *in, const uint64_t *ids, const int32_t *cls,
                 const float *hot, int N, float *scratch);

#endif

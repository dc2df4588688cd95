/* The model-free side of the re-inference metrics: deletion and insertion images (RISE's
 * protocol), the blurred insertion start, and the perturbations and final reductions of
 * faithfulness correlation, infidelity and max/avg sensitivity, plus random-logit's class
 * draw. The stage feeds the images we build through the engine in large batches and hands
 * the model outputs back. Pure functions on caller-owned buffers; no allocation, no I/O.
 * Images are [C,H,W] float32 in the model's normalised input space; maps are [H,W]. */
#ifndef SALBENCH_PERTURB_H
#define SALBENCH_PERTURB_H

#include <stddef.h>
#include <stdint.h>

/* RNG purposes of the metric perturbations. rng.h's enum is append-only and not this module's
 * to edit, so these sit far above its values (and below 2^16, see stats_rng_sub) where they
 * cannot collide; moving them into rng.h is requested. Sample j of example e draws from
 * (seed, e, purpose, sub-stream j), so its values depend on nothing else. */
enum perturb_rng_purpose {
    PERTURB_RNG_SUBSET = 0x5301,      /* faithfulness correlation: feature subsets */
    PERTURB_RNG_INFIDELITY = 0x5302,  /* infidelity: Gaussian perturbations */
    PERTURB_RNG_SENSITIVITY = 0x5303, /* max/avg sensitivity: uniform L-inf perturbations */
    PERTURB_RNG_RANDOM_LOGIT = 0x5304 /* random_logit: the other class */
};

/* ---- deletion and insertion (METHODS.md Part 1; RISE reference §6.1) ----------------------
 * Pixel order: stats_order_desc_f32 on the map [H,W] (descending saliency, ties by lowest flat
 * index; RISE used numpy's unstable argsort, reversed). All C channels of a pixel move
 * together. The trial is undefined (NaN) when the map is not finite (metrics_map_finite).
 * Curve: n + 1 scores (the model's output activation for the explained class on images
 * k = 0..n, start included); AUC = stats_auc_unit(curve, n + 1). Deletion: start = image,
 * finish = substrate (0 in normalised space: the caller passes a zero image). Insertion:
 * start = perturb_blur_forward(image), finish = image. */
struct perturb_schedule {
    int n_steps;     /* n: the curve has n + 1 points */
    size_t step;     /* pixels per step */
    size_t n_pixels; /* H * W */
};

/* Part 1's default: n_steps = 224, step = 0 -> step = ceil(HW / n) (224 px at 224 x 224, as
 * RISE). At 64 x 64 that is 224 steps of ceil(4096 / 224) = 19 px: every pixel is replaced
 * after step 216 (216 x 19 = 4104 >= 4096), so the last 9 points (k = 216..224) repeat the
 * finish image; the x-axis stays k / 224 (the RISE formula with our step count). RISE's own
 * form: n_steps = 0 and step > 0 -> n = ceil(HW / step). Both given: used as is, but n * step
 * must reach HW. Returns 0, or -1 with err_set on bad values. */
#define PERTURB_DEFAULT_STEPS 224
int perturb_schedule_init(struct perturb_schedule *s, int H, int W, int n_steps, size_t step);

/* Pixels taken from `finish` in image k: min(k * step, H * W). */
size_t perturb_schedule_count(const struct perturb_schedule *s, int k);

/* out[B,C,H,W]: image k = k0 + b (0 <= k <= n) is `start` with its count(k) top-ranked pixels
 * (order[H*W] from stats_order_desc_f32) replaced in every channel by `finish`. OpenMP over
 * the batch; each image is written by one thread. */
void perturb_steps_forward(float *out, const float *start, const float *finish,
                           const uint32_t *order, const struct perturb_schedule *s, int k0, int B,
                           int C, int H, int W);

/* ---- the insertion blur (RISE §6.1) --------------------------------------------------------
 * RISE blurs each channel with an 11 x 11 kernel obtained by Gaussian-filtering a delta
 * (scipy gaussian_filter, sigma 5, truncate 4, 'reflect' boundary: the tails beyond the 11
 * taps fold back, so the kernel sums to 1) and zero padding 5. The kernel is the outer
 * product of one 1-D factor, so we blur separably (rows, then columns), zero padding. */
#define PERTURB_BLUR_MAX_RADIUS 64

/* Kernel at 224 px: radius 5 (11 taps), sigma 5, scaled with the shorter side s = min(H,W):
 * sigma = 5 s / 224, radius = max(1, round(5 s / 224)) (64 x 64: sigma 1.4286, 3 taps). */
void perturb_blur_default(int H, int W, int *radius, double *sigma);

/* taps[2 radius + 1]: the 1-D factor (a length-(2 radius + 1) delta filtered by scipy's
 * gaussian_filter1d with `sigma`, truncate 4, reflect). */
void perturb_blur_taps(double *taps, int radius, double sigma);

/* out[C,H,W] = inp blurred with taps (outer product), zero padding; out != inp.
 * scratch: C * H * W floats. OpenMP over (channel, row). */
void perturb_blur_forward(float *out, const float *inp, const double *taps, int radius, int C,
                          int H, int W, float *scratch);

/* ---- faithfulness correlation (Quantus FaithfulnessCorrelation, §4.3) ----------------------
 * nr_runs = 100 random subsets of subset_size = 224 of the C*H*W input features (Quantus'
 * literal defaults, whatever the size), each set to the 'black' baseline = the example's
 * minimum input value (non-cumulative: each from the original x); the score is Pearson's r
 * over runs between the attribution sum over the subset (map broadcast over channels, as
 * Quantus does) and the output drop f(x) - f(x_run) (logits, Quantus softmax=False). */
#define PERTURB_FC_RUNS 100
#define PERTURB_FC_SUBSET 224

/* idx[k]: subset `run` of k distinct features of [0, n_features), ascending (Floyd's
 * sampling; stream (seed, example_id, PERTURB_RNG_SUBSET, run)). k <= n_features. */
void perturb_subset_draw(uint32_t *idx, uint32_t k, uint32_t n_features, uint64_t seed,
                         uint64_t example_id, uint32_t run);

/* Minimum of x[n]: Quantus' 'black' baseline. */
float perturb_black_baseline(const float *x, size_t n);

/* sum of map[f mod hw] over the k features idx[k] (feature f = c * hw + pixel). */
double perturb_subset_attribution(const float *map, size_t hw, const uint32_t *idx, uint32_t k);

/* out[B, n_features]: image b = x with the features subsets[b * k .. b * k + k) set to
 * baseline. OpenMP over the batch. */
void perturb_subsets_forward(float *out, const float *x, size_t n_features, const uint32_t *subsets,
                             uint32_t k, int B, float baseline);

/* Pearson's r of attr_sums[runs] and drops[runs]; NaN when undefined (zero variance). */
double perturb_faithfulness_correlation(const double *attr_sums, const double *drops, int runs);

/* ---- infidelity (Captum, §3.3; Part 1: normalize = True, 10 perturbations, sigma 0.1 x the
 * input range) ---------------------------------------------------------------------------- */
#define PERTURB_INFID_SAMPLES 10

/* max(x) - min(x): "input range" of Part 1, per example. */
double perturb_input_range(const float *x, size_t n);

/* Perturbation j: I_j ~ N(0, sigma^2) per feature (stream (seed, example_id,
 * PERTURB_RNG_INFIDELITY, j); the stream stays independent for up to 2^32 Philox blocks, so
 * any image size). For b < B, j = j0 + b: out[b] = x - I_j (Captum's perturbed input) and
 * dots[b] = sum_f map[f mod hw] I_j[f] (attribution . perturbation, map broadcast over the
 * C channels). OpenMP over the batch. */
void perturb_infidelity_forward(float *out, double *dots, const float *x, const float *map, int C,
                                size_t hw, double sigma, uint64_t seed, uint64_t example_id,
                                uint32_t j0, int B);

/* Infidelity from dots[n] = a . I_j and drops[n] = f(x) - f(x - I_j): unnormalised
 * mean_j (dots - drops)^2; normalised (Captum normalize=True) with beta = E[dot drop] /
 * E[dot^2] (0 when E[dot^2] = 0, Captum's safe_div): beta^2 E[dot^2] - 2 beta E[dot drop] +
 * E[drop^2]. NaN when an input is not finite. */
double perturb_infidelity(const double *dots, const double *drops, int n, int normalize);

/* ---- max / avg sensitivity (Captum sensitivity_max; Part 1: 10 samples uniform in the L-inf
 * ball of radius 0.02 x input range, relative Frobenius change) ---------------------------- */
#define PERTURB_SENS_SAMPLES 10

/* out[B, n]: sample j = j0 + b is x + U[-radius, radius) per feature (stream (seed,
 * example_id, PERTURB_RNG_SENSITIVITY, j)). OpenMP over the batch. */
void perturb_sensitivity_forward(float *out, const float *x, size_t n, double radius, uint64_t seed,
                                 uint64_t example_id, uint32_t j0, int B);

/* ||e1 - e0||_F / ||e0||_F over n values; NaN when ||e0|| = 0 (Part 1 NaN policy; Captum
 * divides by 1 instead) or a value is not finite. */
double perturb_relative_change(const float *e0, const float *e1, size_t n);

/* max and mean of ratios[n] (max_sensitivity, avg_sensitivity); NaN when any is NaN or n == 0. */
void perturb_sensitivity_reduce(double *max_out, double *avg_out, const double *ratios, int n);

/* ---- random logit (§4.6) ------------------------------------------------------------------ */

/* A class drawn uniformly from the n_classes - 1 classes other than target (stream (seed,
 * example_id, PERTURB_RNG_RANDOM_LOGIT, 0)); -1 when n_classes < 2. The similarity of the two
 * maps is ssim_similarity (ssim.h). */
int perturb_random_other_class(uint64_t seed, uint64_t example_id, int target, int n_classes);

#endif

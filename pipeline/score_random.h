/* The score stage's metrics that re-run the attribution method through pipeline/saliency.h:
 * max/avg sensitivity (Captum sensitivity_max on perturbed inputs), random logit (the map of a
 * random other class) and the model-parameter randomisation sanity check (cascading from the
 * top and independent; each parameterised layer re-drawn from its initialiser with the seeded
 * RNG). The stored map of each trial is the reference; similarities come from ssim.h. Not
 * here: reading maps or parameters (stages/), the perturbation draws themselves (perturb.h).
 *
 * Usage: score_random_create once per method (it allocates the method's workspace and a copy
 * of the model's parameters), then the per-block calls, then score_random_free. The net's
 * activations, gradients and (during a sanity check) parameters are overwritten; parameters
 * are restored before score_random_sanity returns. Errors: 0, or -1 after err_set. */
#ifndef SALBENCH_SCORE_RANDOM_H
#define SALBENCH_SCORE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/hog.h"
#include "pipeline/init.h"
#include "pipeline/saliency.h"
#include "pipeline/ssim.h"

/* A block of trials: n examples x[n, C, H, W] (normalised), their ids, and t trials
 * (example[t] non-decreasing, cls[t]) with their stored maps[t, H, W]. */
struct score_random_block {
    int n;
    const float *x;
    const uint64_t *ids;
    int t;
    const int *example;
    const int *cls;
    const float *maps;
    const float *black; /* [C] the normalised black pixel (saliency "black" baselines) */
};

struct score_random_params {
    int sens_samples;    /* PERTURB_SENS_SAMPLES */
    double sens_radius;  /* fraction of the example's input range (0.02) */
    enum init_scheme init; /* sanity check re-initialisation */
    struct ssim_params ssim;
    struct hog_params hog;
    uint64_t seed;
};

struct score_random;

/* Workspace for method p (resolved for net) on blocks of up to max_trials trials and
 * max_examples examples. The net must have gradients unless the method needs none. */
int score_random_create(struct score_random **out, struct net *net,
                        const struct saliency_params *p, const struct score_random_params *rp,
                        int max_examples, int max_trials);
void score_random_free(struct score_random *w); /* accepts NULL */

/* Forward and backward passes of the method re-runs so far. */
struct saliency_cost score_random_cost(const struct score_random *w);

/* max_out[t], avg_out[t]: max and mean over sens_samples inputs x + U[-r, r) (r = sens_radius x
 * the example's input range; perturb_sensitivity_forward) of the relative Frobenius change of
 * the recomputed map against the stored one (perturb_relative_change). NaN for a trial whose
 * stored map is not finite or all zero. */
int score_random_sensitivity(struct score_random *w, double *max_out, double *avg_out,
                             const struct score_random_block *b);

/* out[t]: the similarity bundle of the stored map and the map of a random other class
 * (perturb_random_other_class, K classes); other[t] receives that class (-1: K < 2). */
int score_random_logit(struct score_random *w, struct ssim_similarity *out, int32_t *other,
                       const struct score_random_block *b, int K);

/* Parameterised layers (those with trainable parameters), top-down (output first): fills
 * layers[cap] and returns how many there are (may exceed cap). */
int score_random_layers(const struct net *net, int *layers, int cap);

enum score_sanity_mode {
    SCORE_SANITY_CASCADING = 0,  /* step i: layers[0..i] re-drawn (cumulative, top-down) */
    SCORE_SANITY_INDEPENDENT = 1 /* step i: only layers[i] re-drawn */
};

/* out[t, L, 4]: for each step i < L of `mode` over layers[L] (score_random_layers order),
 * the similarity of the stored map and the map of the randomised model, as (spearman_abs,
 * spearman_signed, ssim, hog_spearman). */
int score_random_sanity(struct score_random *w, double *out, enum score_sanity_mode mode,
                        const int *layers, int L, const struct score_random_block *b);

#endif

/* Re-inference metrics of the score stage on the engine: deletion and insertion (RISE's
 * protocol, curves kept), faithfulness correlation and infidelity, for a block of trials at a
 * time. Every perturbed image of every trial in the block goes into one queue that is cut into
 * batches of net_max_batch images, so one net_forward carries many steps of one or several
 * trials. The perturbations themselves come from perturb.h; this module orders them, runs the
 * net and reduces the scores. Not here: the attribution re-runs (max/avg sensitivity, sanity
 * checks: score_random.h), I/O.
 *
 * Usage:
 *     struct score_faith *w;
 *     if (score_faith_create(&w, net, &params, C, H, W, max_trials)) ...   // allocates once
 *     score_faith_deletion(w, trials, n, 0, curves, auc);                   // per block
 *     score_faith_free(w);
 * Errors: 0, or -1 after err_set (allocation, bad parameters, a failing forward). */
#ifndef SALBENCH_SCORE_FAITH_H
#define SALBENCH_SCORE_FAITH_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/perturb.h"

struct net;

/* Which model output a metric reads (METHODS.md Part 1: the output activation for
 * perturbation metrics; Quantus reads logits for faithfulness correlation). */
enum score_output {
    SCORE_OUT_PROB = 0,  /* softmax/sigmoid of the logits (the model's output activation) */
    SCORE_OUT_LOGIT = 1, /* the raw logit of the class */
};
/* The model's output activation, applied to the logits when the net has no head layer. */
enum score_activation {
    SCORE_ACT_SOFTMAX = 0,
    SCORE_ACT_SIGMOID = 1,
};
/* Deletion substrate (what deleted pixels become). */
enum score_substrate {
    SCORE_SUBSTRATE_ZERO = 0,  /* 0 in normalised input space: RISE (the dataset mean colour) */
    SCORE_SUBSTRATE_BLACK = 1, /* the example's minimum input value (Quantus "black") */
    SCORE_SUBSTRATE_BLUR = 2,  /* the insertion blur of the image */
};

const char *score_output_name(enum score_output o);    /* "prob", "logit" */
int score_output_from_name(const char *s);             /* -1 when unknown */
const char *score_substrate_name(enum score_substrate s); /* "zero", "black", "blur" */
int score_substrate_from_name(const char *s);

struct score_faith_params {
    enum score_activation activation;
    struct perturb_schedule deletion, insertion; /* perturb_schedule_init'ed */
    enum score_substrate substrate;
    enum score_output deletion_output, insertion_output;
    int blur_radius;    /* insertion blur (perturb_blur_default) */
    double blur_sigma;
    int fc_runs;        /* faithfulness correlation: PERTURB_FC_RUNS */
    uint32_t fc_subset; /* PERTURB_FC_SUBSET features per run */
    enum score_output fc_output;
    int inf_samples;    /* infidelity: PERTURB_INFID_SAMPLES */
    double inf_sigma;   /* noise sigma as a fraction of the example's input range (0.1) */
    int inf_normalize;  /* Captum normalize */
    enum score_output inf_output;
    uint64_t seed;
};

/* One trial: the example's normalised input, the method's map and the explained class. */
struct score_faith_trial {
    const float *x;   /* [C,H,W] */
    const float *map; /* [H,W] */
    uint64_t example_id;
    int class_id;
};

struct score_faith;

/* Workspace for blocks of up to max_trials trials of C x H x W inputs on net (borrowed; its
 * input layer must be C x H x W; its batch is net_max_batch). */
int score_faith_create(struct score_faith **out, struct net *net,
                       const struct score_faith_params *p, int C, int H, int W, int max_trials);
void score_faith_free(struct score_faith *w); /* accepts NULL */

/* Forward passes made so far (perturbed images through the net). */
uint64_t score_faith_forwards(const struct score_faith *w);

/* Deletion (insertion = 0) or insertion (1) of n trials: curves[n][steps + 1] receives the
 * scores of images k = 0..steps (float32), auc[n] the unit-interval trapezoid area
 * (stats_auc_unit). A trial whose map is not finite gets NaN everywhere and costs nothing. */
int score_faith_deletion(struct score_faith *w, const struct score_faith_trial *trials, int n,
                         int insertion, float *curves, double *auc);

/* Faithfulness correlation (Quantus; perturb.h) of n trials into out[n]. */
int score_faith_correlation(struct score_faith *w, const struct score_faith_trial *trials, int n,
                            double *out);

/* Infidelity (Captum; perturb.h) of n trials into out[n]. */
int score_faith_infidelity(struct score_faith *w, const struct score_faith_trial *trials, int n,
                           double *out);

/* Reads row b's score of class c from the net's last forward (logits layer, or the head /
 * the activation applied to the logits for SCORE_OUT_PROB). Shared with score_random. */
double score_faith_output(const struct net *net, int b, int c, enum score_output o,
                          enum score_activation act);

#endif

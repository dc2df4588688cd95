/* Attribution (saliency) methods on the CNN engine: the method registry (names, parameters
 * with documented defaults, parsing and JSON text) and one entry point that computes maps
 * [T,H,W] float32 for a batch of trials. Pure computation: no I/O and no allocation (the
 * caller passes a workspace sized by saliency_workspace_floats). Not the stage: trials,
 * files and provenance live in stages/attribute.c.
 *
 * CALLING
 *   struct saliency_params p;
 *   saliency_params_init(&p, SALIENCY_GRADCAM);          // Part 1 defaults of METHODS.md
 *   saliency_param_set(&p, "layer", "relu4");             // optional overrides (text values)
 *   saliency_params_resolve(&p, net);                     // "auto" values, layer names
 *   size_t nw; saliency_workspace_floats(net, &p, nthreads, &nw);
 *   float *work = aligned_alloc(64, ...nw floats...);
 *   saliency_compute(maps, net, &p, &input, work, nthreads, &cost);
 * The net must be built with gradients (not NET_NO_GRAD) unless the method needs none
 * (center, random, occlusion, rise). Perturbation methods push their perturbed copies through
 * net_forward in batches of up to net_max_batch(net) images.
 *
 * TRIALS. One map per (example, class): input->x holds n preprocessed examples [n,C,H,W]
 * (NCHW, the model's normalised input space), input->example[t] / input->cls[t] name the
 * example and the class (an index into the logits) of trial t. Trials of one example must be
 * consecutive (example[] non-decreasing); methods that score every class from one set of
 * forward passes (occlusion, RISE, and the forward passes of IG and SmoothGrad) share them
 * across the trials of an example.
 *
 * SEED AND SCORES. Backprop methods seed the backward pass with a one-hot vector at the
 * logits (the raw class score, METHODS.md Part 1). Perturbation methods read `score`: the
 * model's output activation (sigmoid/softmax head; the logits when the net has no head) or
 * the logits.
 *
 * DETERMINISM. Every random draw comes from pipeline/rng.h keyed by (seed, example_id,
 * SALIENCY_RNG_BASE + method, index) (index = RISE mask, SmoothGrad sample, random-map class),
 * and every sum runs in a fixed order, so a map does not depend on the batch composition,
 * max_batch, nthreads or the shard: results are bitwise identical.
 *
 * DEFAULTS at the shipped 64x64 model (224-px constants scaled by s = min(H,W)/224):
 *   occlusion window 8 (= min(H,W)/8), stride 4; RISE 8000 masks, 7x7 cells (cell 10 px);
 *   extremal perturbation step 2 (7 s), sigma 6 (21 s), max_blur 5.714 (20 s), 800 iterations,
 *   areas 0.025,0.05,0.1,0.2: 3200 forward + 3200 backward passes per trial, the dominant
 *   cost of a run (make it cheaper with --extremal_perturbation.iterations).
 *
 * ERRORS: -1 after err_set, e.g. "cannot resolve 'gradcam' parameter 'layer': no layer
 * 'conv9'", "cannot compute 'rise' map of example 0123456789abcdef class 3: not finite". */
#ifndef SALBENCH_SALIENCY_H
#define SALBENCH_SALIENCY_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/net.h"

enum saliency_method {
    SALIENCY_CENTER = 0,
    SALIENCY_RANDOM,
    SALIENCY_GRADIENT,
    SALIENCY_INPUT_X_GRADIENT,
    SALIENCY_DECONVNET,
    SALIENCY_GUIDED_BACKPROP,
    SALIENCY_GRADCAM,
    SALIENCY_GUIDED_GRADCAM,
    SALIENCY_LINEAR_APPROX,
    SALIENCY_EXCITATION_BACKPROP,
    SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP,
    SALIENCY_INTEGRATED_GRADIENTS,
    SALIENCY_SMOOTHGRAD,
    SALIENCY_SMOOTHGRAD_SQ,
    SALIENCY_VARGRAD,
    SALIENCY_OCCLUSION,
    SALIENCY_RISE,
    SALIENCY_EXTREMAL_PERTURBATION,
    SALIENCY_METHOD_COUNT
};

/* RNG purpose of method m is SALIENCY_RNG_BASE + m (rng.h's enum is append-only and not ours;
 * these sit above its values and pipeline/perturb.h's 0x53xx). Sub-stream (purpose | sub << 16,
 * stats_rng_sub) = RISE mask index, SmoothGrad sample index, or class id for `random`. */
#define SALIENCY_RNG_BASE 0x5400u

/* "gradient", "guided_backprop", ... (the names used on the command line and in files). */
const char *saliency_method_name(enum saliency_method m);
/* -1 (no err_set) for an unknown name. */
int saliency_method_from_name(const char *name);

/* Choice values. */
enum saliency_reduce { /* channel reduction of a [C,H,W] attribution to [H,W] */
    SALIENCY_REDUCE_MAX_ABS = 0, /* max_c |a| (TorchRay) */
    SALIENCY_REDUCE_SUM_ABS,     /* sum_c |a| (PAIR, sanity checks) */
    SALIENCY_REDUCE_SUM,         /* sum_c a, signed (Quantus) */
    SALIENCY_REDUCE_L2,          /* sqrt(sum_c a^2) */
    SALIENCY_REDUCE_MAX          /* max_c a */
};
enum saliency_upsample { SALIENCY_UP_BILINEAR = 0, SALIENCY_UP_NEAREST };
enum saliency_quadrature { /* Captum approximation_methods */
    SALIENCY_QUAD_GAUSSLEGENDRE = 0,
    SALIENCY_QUAD_RIEMANN_LEFT,
    SALIENCY_QUAD_RIEMANN_RIGHT,
    SALIENCY_QUAD_RIEMANN_MIDDLE,
    SALIENCY_QUAD_RIEMANN_TRAPEZOID
};
enum saliency_baseline { SALIENCY_BASE_ZERO = 0, SALIENCY_BASE_BLACK };
enum saliency_score { SALIENCY_SCORE_OUTPUT = 0, SALIENCY_SCORE_LOGIT };
enum saliency_rise_norm { SALIENCY_RISE_N = 0, SALIENCY_RISE_NP };
enum saliency_ep_variant { SALIENCY_EP_PRESERVE = 0, SALIENCY_EP_DELETE, SALIENCY_EP_DUAL };
enum saliency_ep_perturbation { SALIENCY_EP_BLUR = 0, SALIENCY_EP_FADE };
enum saliency_ep_reward { SALIENCY_EP_SIMPLE = 0, SALIENCY_EP_CONTRASTIVE };

#define SALIENCY_MAX_AREAS 8

/* All parameters of all methods; each method uses the subset its table lists. Numeric "auto"
 * values are 0 (layers: "auto") until saliency_params_resolve replaces them. */
struct saliency_params {
    enum saliency_method method;
    uint64_t seed;                      /* random, smoothgrad*, rise */
    int reduce;                         /* enum saliency_reduce */
    char layer[NET_NAME_MAX];           /* gradcam, guided_gradcam, linear_approx, eb, ceb */
    char contrast_layer[NET_NAME_MAX];  /* contrastive_excitation_backprop */
    int relu;                           /* gradcam, linear_approx: clamp the map at 0 */
    int upsample;                       /* enum saliency_upsample: layer maps to input size */
    double smooth;                      /* TorchRay Gaussian smoothing, fraction of the size */
    int steps;                          /* integrated_gradients */
    int quadrature;                     /* enum saliency_quadrature */
    int baseline;                       /* enum saliency_baseline: IG, occlusion */
    int samples;                        /* smoothgrad family */
    double noise;                       /* sigma / (max - min) of the input */
    double stdev;                       /* absolute sigma (Captum stdevs); > 0 overrides noise */
    int abs;                            /* smoothgrad family: average |grad| (Captum Saliency) */
    int window, stride;                 /* occlusion, pixels (0 = auto) */
    int score;                          /* enum saliency_score */
    int masks, cells;                   /* rise */
    double p;                           /* rise: probability that a cell is kept */
    int normalize;                      /* enum saliency_rise_norm */
    int n_areas;                        /* extremal_perturbation */
    double areas[SALIENCY_MAX_AREAS];
    int iterations, levels, step;       /* step in pixels (0 = auto) */
    double sigma, max_blur;             /* pixels (0 = auto); center: sigma / min(H,W) */
    double regul_weight;                /* area constraint weight at step 0 (TorchRay 300) */
    int variant, perturbation, reward, jitter;
};

/* Parameter descriptions, for parsing, usage text and the JSON record. */
enum saliency_param_type {
    SALIENCY_PARAM_INT = 1, /* integer in [min, max]; "auto" = 0 where allowed */
    SALIENCY_PARAM_U64,     /* unsigned 64-bit (seed) */
    SALIENCY_PARAM_DOUBLE,  /* finite number in [min, max]; "auto" = 0 where allowed */
    SALIENCY_PARAM_BOOL,    /* true/false/1/0 */
    SALIENCY_PARAM_CHOICE,  /* one of the '|'-separated choices, stored as its index */
    SALIENCY_PARAM_LAYER,   /* a layer name of the net, or "auto" */
    SALIENCY_PARAM_LIST     /* comma-separated numbers in [min, max] (areas) */
};
struct saliency_param_info {
    const char *name;
    enum saliency_param_type type;
    const char *def;     /* default as text, parsed by saliency_param_set */
    const char *choices; /* CHOICE: "a|b|c" */
    double min, max;
    int allow_auto;
    const char *doc;
};

/* The parameters method m accepts, in table order. */
int saliency_param_count(enum saliency_method m);
const struct saliency_param_info *saliency_param_at(enum saliency_method m, int i);

/* Zeroes p, sets p->method and every parameter of m to its default. */
void saliency_params_init(struct saliency_params *p, enum saliency_method m);
/* Sets one parameter of p->method from text. -1 with err_set for a parameter the method does
 * not have or a bad value ("cannot set 'rise' parameter 'p': '1.5' is not in [0, 1]"). */
int saliency_param_set(struct saliency_params *p, const char *name, const char *value);
/* 1 when method m has a parameter of that name. */
int saliency_param_exists(enum saliency_method m, const char *name);

/* Replaces "auto" values by the ones for this net and input size, checks layer names and
 * combinations. Auto layers: Grad-CAM / linear approx / guided Grad-CAM: the input of the last
 * global average pool (else the last layer with a spatial output); excitation backprop: the
 * output of the last max/avg pool before that layer (TorchRay's VGG16 pool4; else the Grad-CAM
 * layer); contrast layer: the input of the classifier (the last conv2d/linear layer). */
int saliency_params_resolve(struct saliency_params *p, const struct net *net);

/* The method's parameters as one JSON object {"method": "...", "<param>": value, ...} in table
 * order. Writes at most size bytes (NUL included); returns the length it needs (excluding the
 * NUL), as snprintf. */
size_t saliency_params_json(const struct saliency_params *p, char *buf, size_t size);

/* A batch of examples and their trials (see TRIALS above). All borrowed for the call. */
struct saliency_input {
    int n;                /* examples */
    const float *x;       /* [n, C, H, W] */
    const uint64_t *ids;  /* [n] example_id (RNG key) */
    int t;                /* trials */
    const int *example;   /* [t] in 0..n-1, non-decreasing */
    const int *cls;       /* [t] in 0..K-1 (K = logits size) */
    const float *black;   /* [C] a black pixel in the normalised space (baseline "black"), or
                             NULL when unknown */
};

/* Images pushed through the net by the call (a batched forward of B images counts B). */
struct saliency_cost {
    uint64_t forward, backward;
};

/* Workspace in floats for computing p (resolved) on this net with up to nthreads threads. */
int saliency_workspace_floats(const struct net *net, const struct saliency_params *p,
                              int nthreads, size_t *floats);

/* maps [in->t, H, W] = the method's map of every trial. work: saliency_workspace_floats
 * floats, 64-byte aligned. cost (may be NULL) is incremented. The net's activations and
 * gradients are overwritten. -1 with err_set on a bad trial (class out of range, examples out
 * of order), on missing black values, or when a map is not finite. */
int saliency_compute(float *maps, struct net *net, const struct saliency_params *p,
                     const struct saliency_input *in, float *work, int nthreads,
                     struct saliency_cost *cost);

/* Gauss-Legendre nodes in (0, 1) and weights (summing to 1) of the n-point rule, ascending, as
 * Captum's gausslegendre: alpha = (1 + x) / 2, w = w_legendre / 2. And the other Captum rules
 * (riemann_*: n > 1). Exposed for tests. */
void saliency_quadrature(double *alpha, double *weight, int n, enum saliency_quadrature q);

#endif

/* The score stage's work: the metric registry (names, families, directions, per-trial
 * columns), the per-method loop over blocks of trials (localisation and complexity per trial,
 * re-inference metrics batched through the engine, attribution re-runs), the per-trial table
 * and curve arrays of each method, and the summary, paired and pointing-game tables. Stage-side
 * glue over pipeline/score_*.h and formats/scores.h; the main only parses options. */
#ifndef SALBENCH_SCORE_RUN_H
#define SALBENCH_SCORE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "formats/h5table.h"
#include "formats/model.h"
#include "formats/scores.h"
#include "pipeline/metrics_localisation.h"
#include "pipeline/score_faith.h"
#include "pipeline/score_local.h"
#include "pipeline/score_random.h"
#include "pipeline/score_stability.h"
#include "stages/score_data.h"
#include "stages/score_parts.h"

enum score_metric {
    SCORE_POINTING_GAME = 0,
    SCORE_ENERGY_POINTING_GAME,
    SCORE_RELEVANCE_MASS,
    SCORE_RELEVANCE_RANK,
    SCORE_TOP_K_INTERSECTION,
    SCORE_LOCALISATION_AUC,
    SCORE_DELETION,
    SCORE_INSERTION,
    SCORE_FAITHFULNESS_CORRELATION,
    SCORE_INFIDELITY,
    SCORE_MAX_SENSITIVITY,
    SCORE_AVG_SENSITIVITY,
    SCORE_SPARSENESS,
    SCORE_COMPLEXITY,
    SCORE_SANITY_CHECK,
    SCORE_RANDOM_LOGIT,
    SCORE_MAP_STABILITY,
    SCORE_METRIC_COUNT
};

/* What a metric needs. */
enum {
    SCORE_NEEDS_GT = 1 << 0,      /* ground-truth regions (objects) */
    SCORE_NEEDS_FORWARD = 1 << 1, /* model forward passes on perturbed inputs */
    SCORE_NEEDS_METHOD = 1 << 2,  /* re-running the attribution method */
    SCORE_NEEDS_REFERENCE = 1 << 3, /* a reference saliency.h5 (--reference-saliency) */
};

struct score_metric_info {
    const char *name;
    const char *family; /* localisation, faithfulness, robustness, complexity, randomisation */
    int higher_is_better;
    unsigned needs;
};

const struct score_metric_info *score_metric_info(enum score_metric m);
int score_metric_from_name(const char *name); /* -1 when unknown */

/* Everything the options set (defaults: score_config_init). */
struct score_config {
    int want[SCORE_METRIC_COUNT];
    int gt_masks;                    /* 1: object masks (default), 0: boxes */
    double tolerance;                /* pointing game, input px; 0 = scaled default */
    int tie_aware;
    int mass_abs, rank_abs, topk_abs, auc_abs, topk_concept;
    long long top_k;                 /* 0 = scaled default */
    struct score_faith_params faith; /* schedules filled by score_config_resolve */
    int deletion_steps, insertion_steps;
    long long deletion_step, insertion_step;
    struct score_random_params random;
    int sanity_cascading, sanity_independent;
    const char *const *sanity_layers; /* names, or NULL = every parameterised layer */
    int n_sanity_layers;
    uint64_t seed;
    int n_boot;
    double level;
    int paired;     /* compare every pair of methods */
    int block;      /* trials per block */
    double stability_fraction; /* map_stability: top-k share of the pixels */
    int stability_abs;         /* map_stability: compare |maps| */
    struct score_stability_params stability; /* k filled by score_config_resolve */
};

void score_config_init(struct score_config *c);
/* Fills the scaled defaults for an H x W input and checks combinations; -1 + err_set. */
int score_config_resolve(struct score_config *c, int H, int W);
/* The resolved metric parameters as a JSON object (xmalloc'd), recorded in the output. */
char *score_config_json(const struct score_config *c);

/* Whether a metric re-runs the model or the method (and so stops at --rerun-limit). */
int score_metric_reruns(enum score_metric m);

/* One column of the per-trial tables. */
struct score_col {
    char name[64];
    enum score_metric metric;
};

/* Results of one method, kept for the summary and paired tables. */
struct score_method_result {
    char name[SCORES_METHOD_LEN];
    double **vals; /* [ncols][T] */
    double fwd[SCORE_METRIC_COUNT], bwd[SCORE_METRIC_COUNT]; /* passes per trial */
    struct metrics_pointing_counts *pg[2];                   /* [K]: all, difficult */
    double *sanity[2];                                       /* [T, L, 4] or NULL */
};

struct score_results {
    size_t T;
    size_t T_rerun; /* the re-run metrics' trials: a prefix of T (--rerun-limit) */
    int K;
    int ncols;
    struct score_col *cols;
    int n_methods;
    struct score_method_result *m;
    int n_layers;
    char (*layers)[64];
    double tolerance;
    struct scores_summary_row *summary; /* filled by score_summarise */
    size_t n_summary;
    struct scores_paired_row *paired;
    size_t n_paired;
};

void score_results_release(struct score_results *r);

/* Scores every selected method of d on the model (its net built for net_max_batch examples,
 * with gradients when a metric re-runs the method), writing trials/<method> and curves/<method>
 * into out as it goes, and keeping the values in r. With parts (score --merge), the values are
 * read from the parts of a sharded run instead of computed, and out is written the same way. */
int score_run(struct score_results *r, const struct score_config *c, struct model *m,
              struct score_data *d, const struct score_parts *parts, struct h5table_file *out);

/* Summaries of every (method, column) and of the sanity curves per layer, and the paired
 * comparisons of every two methods (when c->paired), with seeded bootstrap intervals. */
void score_summarise(struct score_results *r, const struct score_config *c);

/* Writes summary, paired, pointing_game(_classes), metrics and sanity_layers into out. */
int score_write_tables(const struct score_results *r, const struct score_config *c,
                       const struct score_data *d, struct h5table_file *out);

/* Prints the summary as an aligned table on stdout (and the pointing-game scores). */
void score_print_summary(const struct score_results *r, const struct score_config *c);

#endif

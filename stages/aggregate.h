/* bin/aggregate's pieces: reading a chain directory (runs/<evaluation>/<chain>/ with its tables,
 * timing records and exports) into memory (aggregate_chain.c), writing the MLflow runs
 * (aggregate_mlflow.c) and a small JSON text builder both use. The mapping onto the store is
 * the design note at the top of formats/mlflowstore.h. Stage-side code: allocation with
 * xmalloc, errors as err_set() + -1 for the caller to report. */
#ifndef SALBENCH_STAGES_AGGREGATE_H
#define SALBENCH_STAGES_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/h5table.h"
#include "formats/report.h"
#include "formats/scores.h"

/* ---- JSON text builder ------------------------------------------------------------------- */

struct agg_buf {
    char *s; /* NUL-terminated; xmalloc'd */
    size_t n, cap;
};
void agg_buf_init(struct agg_buf *b);
void agg_buf_release(struct agg_buf *b);
void agg_put(struct agg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string (quoted, escaped). */
void agg_put_str(struct agg_buf *b, const char *s);
/* A JSON number; NaN and +-inf spelled NaN, Infinity, -Infinity as Python's json does. */
void agg_put_num(struct agg_buf *b, double v);

/* ---- a chain ----------------------------------------------------------------------------- */

enum agg_table_kind { AGG_EXAMPLES, AGG_PREDICTIONS, AGG_SALIENCY, AGG_SCORES, AGG_NTABLES };
extern const char *const agg_table_files[AGG_NTABLES]; /* "examples.h5", ... */

/* "<output>.time.json" written by stages/common at a stage's exit. */
struct agg_timing {
    int present;
    char stage[32];
    int exit_code;
    double wall_seconds, cpu_seconds;
    double max_rss_kb;
};

struct agg_table {
    char *path;
    int present;      /* the file exists */
    int readable;     /* opened and provenance read */
    char stage[32];   /* producing stage from provenance ("load", "attack", ...) */
    struct h5table_provenance prov;
    uint64_t hash;    /* content hash */
    struct agg_timing time;
};

struct agg_method {
    char name[SCORES_METHOD_LEN];
    double forward_per_trial, backward_per_trial;
    /* mean curves over the trials with finite values; NULL when absent */
    double *deletion, *insertion;
    size_t ndeletion, ninsertion;
    double *sanity[2]; /* [L * 4] cascading, independent: mean over trials */
};

struct agg_chain {
    char *name, *dir;
    struct agg_table t[AGG_NTABLES];
    char *exports_dir; /* NULL when the chain has no exports/ */
    struct agg_timing export_time;
    int failed;
    char reason[512]; /* why it failed */

    int has_predictions, multi_label;
    double accuracy, map, top1_hit, exact_match;
    size_t n_examples;
    char *confusion_json; /* infer's confusion matrix JSON, or NULL */

    int has_perturbation;
    char attack[32];
    double linf_mean, l2_mean, success_rate;
    size_t n_perturbed;

    int has_scores;
    struct scores_summary_row *summary;
    size_t nsummary;
    struct scores_paired_row *paired;
    size_t npaired;
    struct scores_pointing_row *pointing;
    size_t npointing;
    struct scores_pointing_class_row *pclasses;
    size_t npclasses;
    struct scores_metric_row *metrics;
    size_t nmetrics;
    struct agg_method *methods;
    size_t nmethods;
    char (*layers)[SCORES_NAME_LEN];
    size_t nlayers;
};

/* Reads runs/<eval>/<name>/: every table present (missing or unreadable ones and timing
 * records with a non-zero exit code mark the chain failed, with the reason), predictions'
 * accuracy, the attack's perturbation table, scores' tables and mean curves, saliency
 * methods' parameters. Returns -1 only on out-of-memory-like errors; bad data fails the chain. */
int agg_chain_load(struct agg_chain *c, const char *run_dir, const char *name);
void agg_chain_release(struct agg_chain *c);

/* Reads a timing record; 0 with t->present = 0 when the file does not exist, -1 when it is
 * unreadable or malformed. */
int agg_timing_read(struct agg_timing *t, const char *path);

/* 1 when dir holds any of the chain tables or their timing records. */
int agg_chain_dir_has_tables(const char *dir);

/* The metric's direction for a method: 1 higher is better, -1 lower, 0 unknown. */
int agg_chain_direction(const struct agg_chain *c, const char *method, const char *metric);

/* Fills the report's view of the chain (pointers into c; samples from the exports tree, at
 * most max_samples). Release with agg_report_chain_release. */
void agg_report_chain(struct report_chain *rc, const struct agg_chain *c, size_t max_samples);
void agg_report_chain_release(struct report_chain *rc);

/* ---- MLflow ------------------------------------------------------------------------------ */

struct agg_options {
    const char *run_dir, *evaluation, *mlruns, *description;
    const char *const *param_keys, *const *param_values; /* global params (evaluation.<key>) */
    size_t nparams;
    char pipeline_run_id[17];
};

/* Writes the parent run and one nested run per chain (design note in formats/mlflowstore.h).
 * html is the whole-evaluation report; chain_html[i] the chain's own. Fills parent_id. */
int agg_mlflow_write(const struct agg_options *o, struct agg_chain *chains, size_t nchains,
                     const char *html, size_t nhtml, char *const *chain_html,
                     const size_t *chain_nhtml, char *exp_id, char *parent_id);

#endif

/* The scores.h5 schema (the score stage's output, read by aggregate and export): the per-trial
 * table of each method with one float64 column per metric value, the summary and paired
 * tables, the pointing-game tables and the metric descriptions. Writers and readers over
 * formats/h5table; no computation. Not here: curves and sanity arrays (plain h5table arrays,
 * names below), provenance (h5table_write_provenance).
 *
 * LAYOUT of scores.h5
 *   trials/<method>        table: example_id u64, class_id i32, then info columns (gt_area i64,
 *                          difficult u8, random_logit_class i32, when present) and one float64
 *                          column per metric value (NaN = undefined for that trial)
 *   curves/<method>/deletion, insertion         float32 [T, steps + 1]
 *   curves/<method>/sanity_cascading, sanity_independent   float64 [T, L, 4]
 *   summary                table of struct scores_summary_row
 *   paired                 table of struct scores_paired_row
 *   pointing_game          table of struct scores_pointing_row (TorchRay accounting)
 *   pointing_game_classes  table of struct scores_pointing_class_row
 *   metrics                table of struct scores_metric_row (direction and cost)
 *   sanity_layers          table of struct scores_layer_row (the L layers, in curve order)
 * Errors: 0 or -1 after err_set (messages from h5table). */
#ifndef SALBENCH_SCORES_H
#define SALBENCH_SCORES_H

#include <stddef.h>
#include <stdint.h>

#include "formats/h5table.h"

#define SCORES_METHOD_LEN 48
#define SCORES_METRIC_LEN 96
#define SCORES_NAME_LEN 64
#define SCORES_SUBSET_LEN 16

/* A column of the per-trial table, column-major: data[T] of the given type (H5TABLE_U8, I32,
 * I64 or F64). Borrowed. */
struct scores_column {
    const char *name;
    enum h5table_type type;
    const void *data;
};

/* Writes trials/<method> with example_id, class_id and the columns in the given order. */
int scores_write_trials(struct h5table_file *f, const char *method, const uint64_t *ids,
                        const int32_t *classes, size_t T, const struct scores_column *cols,
                        int ncols);

/* Reads the float64 column `column` of trials/<method> into *values (malloc'd, *T rows). */
int scores_read_trial_column(struct h5table_file *f, const char *method, const char *column,
                             double **values, size_t *T);
/* The same for a column of any numeric type (example_id: H5TABLE_U64, class_id: I32, ...). */
int scores_read_trial_values(struct h5table_file *f, const char *method, const char *column,
                             enum h5table_type type, void **values, size_t *T);

struct scores_summary_row {
    char method[SCORES_METHOD_LEN];
    char metric[SCORES_METRIC_LEN];
    double mean, std, ci_lo, ci_hi;
    int64_t n, undefined;
    double level;
    int32_t n_boot;
};

struct scores_paired_row {
    char method_a[SCORES_METHOD_LEN];
    char method_b[SCORES_METHOD_LEN];
    char metric[SCORES_METRIC_LEN];
    double mean_diff, std, ci_lo, ci_hi; /* of a - b over trials defined for both */
    int64_t n, undefined;
};

struct scores_pointing_row {
    char method[SCORES_METHOD_LEN];
    char subset[SCORES_SUBSET_LEN]; /* "all" or "difficult" */
    double score;                   /* TorchRay: mean of per-class accuracies over ALL classes */
    double hit_rate;                /* hits / (hits + misses) over trials */
    double hits, misses;
    int64_t undefined;
    int32_t n_classes;
    double tolerance;
};

struct scores_pointing_class_row {
    char method[SCORES_METHOD_LEN];
    char subset[SCORES_SUBSET_LEN];
    int32_t class_id;
    char class_name[SCORES_NAME_LEN];
    double hits, misses;
    int64_t undefined;
    double accuracy; /* hits / max(hits + misses, 1) */
};

struct scores_metric_row {
    char method[SCORES_METHOD_LEN];
    char metric[SCORES_METRIC_LEN];  /* a column of trials/<method> */
    char family[SCORES_SUBSET_LEN];  /* localisation, faithfulness, robustness, complexity,
                                        randomisation */
    int8_t higher_is_better;         /* 1, -1 (lower is better) */
    double forward_per_trial;        /* model forward passes (images) per trial */
    double backward_per_trial;       /* backward passes per trial */
};

struct scores_layer_row {
    int32_t index;
    char layer[SCORES_NAME_LEN];
};

int scores_write_summary(struct h5table_file *f, const struct scores_summary_row *rows, size_t n);
int scores_write_paired(struct h5table_file *f, const struct scores_paired_row *rows, size_t n);
int scores_write_pointing(struct h5table_file *f, const struct scores_pointing_row *rows,
                          size_t n);
int scores_write_pointing_classes(struct h5table_file *f,
                                  const struct scores_pointing_class_row *rows, size_t n);
int scores_write_metrics(struct h5table_file *f, const struct scores_metric_row *rows, size_t n);
int scores_write_layers(struct h5table_file *f, const struct scores_layer_row *rows, size_t n);

/* Readers: *rows malloc'd (NULL when *n == 0). */
int scores_read_summary(struct h5table_file *f, struct scores_summary_row **rows, size_t *n);
int scores_read_paired(struct h5table_file *f, struct scores_paired_row **rows, size_t *n);
int scores_read_pointing(struct h5table_file *f, struct scores_pointing_row **rows, size_t *n);
int scores_read_metrics(struct h5table_file *f, struct scores_metric_row **rows, size_t *n);
int scores_read_pointing_classes(struct h5table_file *f, struct scores_pointing_class_row **rows,
                                 size_t *n);
int scores_read_layers(struct h5table_file *f, struct scores_layer_row **rows, size_t *n);

/* Calls fn(user, key, value) for each member of the JSON object `json`, in order, with the
 * value as text: strings without quotes, numbers and booleans as JSON prints them, arrays of
 * scalars joined with commas ("0.025,0.05"). Used to re-apply a method's recorded parameters.
 * Stops and returns -1 when fn does; `what` names the source in the parse error. */
int scores_json_each(const char *json, const char *what,
                     int (*fn)(void *user, const char *key, const char *value), void *user);

#endif

/* The export stage's parts (bin/export, stages/export.c is the main): export_data.c opens and
 * cross-checks examples.h5, predictions.h5, saliency.h5 and scores.h5 and picks the trials to
 * show; export_write.c renders each sample's pictures and metadata.txt into a staging tree
 * DIR/exports.tmp.<pid> and swaps it over DIR/exports. Stage-side: errors go through err_set
 * and the caller's cli_fail; memory is xmalloc'd and freed by export_data_release. */
#ifndef SALBENCH_STAGES_EXPORT_H
#define SALBENCH_STAGES_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "formats/exampleset.h"
#include "pipeline/overlay.h"

#define EXPORT_SOURCE_LEN 256
#define EXPORT_REASON_LEN 16

struct export_object {
    uint64_t example_id;
    int32_t class_id;
    float x0, y0, x1, y1;
    uint8_t difficult;
};

/* The per-trial metric values of one method of scores.h5, aligned with the saliency trials. */
struct export_scores {
    char *method;
    int n_metrics;
    char **metrics;           /* [n_metrics] column names, in the metrics table's order */
    int8_t *higher_is_better; /* [n_metrics] 1 or -1 */
    double *values;           /* [n_metrics][T]; NaN: undefined, or a trial score left out */
};

struct export_data {
    const char *examples_path, *predictions_path, *saliency_path, *scores_path;
    struct exampleset ex;                 /* ids, labels, classes, images */
    char (*source)[EXPORT_SOURCE_LEN];    /* [n] examples.source */
    struct export_object *objs;           /* [n_obj] grouped by example row */
    size_t n_obj, *obj_begin;             /* objects of row r: [obj_begin[r], obj_begin[r+1]) */
    /* predictions.h5, joined to example rows */
    int multi_label;                      /* predictions' mode attribute */
    size_t *pred_row;                     /* [n] row in predictions.h5, SIZE_MAX when absent */
    int32_t *predicted;                   /* [np] */
    float *score;                         /* [np] */
    int8_t *correct;                      /* [np] 1, 0, -1 (no label) */
    float *probs;                         /* [np, K] */
    /* saliency.h5 */
    struct h5table_file *sal;
    size_t T;
    uint64_t *tid;                        /* [T] non-decreasing */
    int32_t *tcls;                        /* [T] */
    size_t *trow;                         /* [T] example row */
    char (*reason)[EXPORT_REASON_LEN];    /* [T] why the trial exists, "" when not recorded */
    size_t *tbegin;                       /* [n + 1]: trials of example row r */
    char **methods;                       /* maps to export, in output order */
    size_t n_methods;
    struct h5table_stream **maps;         /* [n_methods] maps/<method>, [T, H, W] float32 */
    /* scores.h5 (optional) */
    struct export_scores *scores;
    size_t n_scores;
};

void export_data_init(struct export_data *d);
void export_data_release(struct export_data *d);

/* Opens every input and checks that they belong together: provenance content hashes (saliency
 * and predictions of these examples and of one model, scores of this saliency file), ids
 * sorted and joined, array shapes, classes. scores may be NULL. methods (n may be 0 = every
 * map, sorted) picks and orders the exported maps; an unknown or repeated one is an error. */
int export_data_open(struct export_data *d, const char *examples, const char *predictions,
                     const char *saliency, const char *scores, const char *const *methods,
                     int n_methods);

/* Index of `method` in d->scores, or -1. */
int export_data_scores_of(const struct export_data *d, const char *method);

/* ---- selection --------------------------------------------------------------------------- */

enum export_mode { EXPORT_FIRST = 1, EXPORT_EVERY, EXPORT_IDS, EXPORT_WORST, EXPORT_BEST };

struct export_selection {
    enum export_mode mode;
    size_t n;                       /* FIRST, EVERY, WORST, BEST: the N or K */
    const uint64_t *ids;            /* IDS: example ids */
    size_t n_ids;
    const char *by;                 /* WORST, BEST: "metric/method" */
    int all_trials;                 /* every trial of a selected example, not one */
};

struct export_pick {
    size_t trial;  /* saliency trial row: the sample's address */
    long rank;     /* WORST/BEST: 0 = the worst/best; else -1 */
    double value;  /* WORST/BEST: the ranked value */
};

/* Examples with at least one trial are the exportable ones (in example row order). FIRST
 * takes the first N of them, EVERY those at 1-based positions N, 2N, ... (Armory's
 * every_n_samples), IDS the given ids (each must exist and have trials); each gives its
 * shown trial (export_shown_trial) or, with all_trials, all its trials. WORST/BEST rank the
 * trials with a defined value of metric/method in scores (direction from the metrics table;
 * ties by trial row) and take K. Picks come back sorted by trial row, *picks xmalloc'd. */
int export_select(const struct export_data *d, const struct export_selection *sel,
                  struct export_pick **picks, size_t *n);

/* The trial shown for example row r (which has trials): the one whose class is the predicted
 * class, else the example's first trial (lowest class id, i.e. its first label). */
size_t export_shown_trial(const struct export_data *d, size_t r);

/* ---- output ------------------------------------------------------------------------------ */

struct export_options {
    const char *out_dir;            /* DIR: the tree is DIR/exports */
    int batch_size;                 /* trial row t -> exports/{t / bs:05d}/{t % bs:02d} */
    int boxes;                      /* 0 none, 1 the trial's class, 2 every object */
    int top_k;                      /* top probabilities in metadata.txt */
    struct overlay_style style;
    const struct export_selection *sel;
    const char *norm_name, *blend_name, *boxes_name; /* as given, for metadata.txt */
};

/* Writes DIR/exports.tmp.<pid>/{batch:05d}/{sample:02d}/{input.png, saliency_<method>.png,
 * metadata.txt} for every pick, then swaps it over DIR/exports (renameat2 RENAME_EXCHANGE, or
 * old aside then new in where the file system lacks it) and removes the old tree. On failure
 * the staging tree is removed and DIR/exports is untouched. Staging trees of killed runs (pid
 * gone) are removed first. */
int export_write(struct export_data *d, const struct export_options *o,
                 const struct export_pick *picks, size_t n);

#endif

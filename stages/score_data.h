/* The score stage's inputs: examples.h5 (ids, images, objects and masks, classes),
 * saliency.h5 (trials and maps) and the provenance checks that tie them to the model and to an
 * optional predictions.h5. Everything is verified once at open (ids sorted and joined, array
 * shapes, classes, content hashes), then read block by block. Stage-side: errors go through
 * err_set and the caller's cli_fail. */
#ifndef SALBENCH_SCORE_DATA_H
#define SALBENCH_SCORE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "formats/h5table.h"
#include "pipeline/score_local.h"

#define SCORE_CLASS_NAME_LEN 64

/* An objects-table row as score reads it (load writes more columns). */
struct score_object_row {
    uint64_t example_id;
    int32_t class_id;
    float x0, y0, x1, y1;
    uint8_t difficult, has_mask;
};

struct score_data {
    /* examples.h5 */
    const char *examples_path;
    struct h5table_file *ex;
    uint64_t examples_hash;
    size_t n;           /* examples */
    uint64_t *ids;      /* [n], ascending */
    int H, W, C, K;
    char (*class_names)[SCORE_CLASS_NAME_LEN]; /* [K] */
    struct h5table_stream *images;             /* [n, H, W, C] uint8 */
    size_t n_obj;
    struct score_object_row *objs; /* [n_obj], grouped by example in row order */
    size_t *obj_begin;             /* [n + 1]: objects of example r are [obj_begin[r], ..[r+1]) */
    size_t n_masked;               /* objects with a mask */
    struct h5table_stream *masks;  /* [n_obj, H, W] uint8, or NULL */
    /* saliency.h5 */
    const char *saliency_path;
    struct h5table_file *sal;
    uint64_t saliency_hash;
    size_t T;         /* trials scored (a prefix after score_data_limit) */
    size_t T_rerun;   /* trials the re-run metrics score: a prefix of T (score_data_limit) */
    size_t t_off;     /* trial 0 is the file's trial t_off (score_data_shard) */
    size_t T_file;    /* trials in the file */
    uint64_t *tid;    /* [T] example_id, non-decreasing */
    int32_t *tcls;    /* [T] class */
    size_t *trow;     /* [T] example row */
    char **methods;   /* maps/<method> names, sorted */
    size_t n_methods;
    /* model */
    uint64_t model_hash;
    /* reference saliency.h5 of map_stability (score_data_open_reference), else NULL */
    const char *ref_path;
    struct h5table_file *ref;
    size_t T_ref;     /* trials in the reference */
    int64_t *ref_row; /* [T_file] the reference trial of each trial, -1 when it has none */
};

void score_data_init(struct score_data *d);
void score_data_release(struct score_data *d);

/* Opens and verifies examples.h5 and saliency.h5 against a model of K classes (names
 * class_names[K]) and input C x H x W whose file has content hash model_hash. predictions
 * (may be NULL) is only checked: its model and examples must be the same. */
int score_data_open(struct score_data *d, const char *examples, const char *saliency,
                    const char *model_path, uint64_t model_hash, int K,
                    const char (*class_names)[64], int C, int H, int W, const char *predictions);

/* Keeps only the listed methods (in the given order); an unknown name is an error. */
int score_data_select(struct score_data *d, const char *const *methods, int n);

/* Keeps the trials of the first `limit` examples that have trials (limit > 0), and of those
 * lets the metrics that re-run the model or the method score the trials of the first
 * `rerun_limit` examples only (rerun_limit > 0; 0: all that are kept). */
void score_data_limit(struct score_data *d, size_t limit, size_t rerun_limit);

/* The end of the block of at most B trials from t0: the last example boundary in it, so a block
 * holds whole examples (the re-run metrics then share an example's forward passes the same way
 * whatever the block size or sharding), or t0 + B when one example has more trials. */
size_t score_data_block_end(const struct score_data *d, size_t t0, size_t B);

/* The end of the re-run prefix inside trials [t0, t1): trials [t0, end) are scored by the
 * metrics that re-run the model or the method, [end, t1) are not (t0 <= end <= t1). */
size_t score_data_rerun_end(const struct score_data *d, size_t t0, size_t t1);

/* Trials [*b, *e) of shard k of n: those whose example_id is in the shard (cli_shard_of), a
 * contiguous range because trials are in example_id order. */
void score_data_shard_bounds(const struct score_data *d, uint32_t k, uint32_t n, size_t *b,
                             size_t *e);
/* Keeps the trials of shard k of n (after score_data_limit and score_data_open_reference):
 * trial t is then the file's trial t_off + t, and T_rerun counts the shard's part of the
 * re-run prefix. */
void score_data_shard(struct score_data *d, uint32_t k, uint32_t n);

/* Example rows [r0, r1) spanned by trials [t0, t1). */
void score_data_rows(const struct score_data *d, size_t t0, size_t t1, size_t *r0, size_t *r1);

/* Reads images of example rows [r0, r1) into img[(r1-r0) * H * W * C]. */
int score_data_read_images(struct score_data *d, size_t r0, size_t r1, uint8_t *img);

/* Reads the masks of the objects of example rows [r0, r1) into masks[objects * H * W] (the
 * objects [obj_begin[r0], obj_begin[r1])); a no-op without masks. */
int score_data_read_masks(struct score_data *d, size_t r0, size_t r1, uint8_t *masks);

/* Fills objs[] (capacity: obj_begin[r+1] - obj_begin[r]) with example row r's objects, their
 * masks pointing into `masks` (from score_data_read_masks for rows starting at r0). */
int score_data_objects(const struct score_data *d, size_t r, size_t r0, const uint8_t *masks,
                       struct score_object *objs);

/* Opens maps/<method> for reading rows (checked [T, H, W] float32 at open). */
struct h5table_stream *score_data_open_maps(struct score_data *d, const char *method);

/* Opens the reference saliency.h5 of map_stability (the benign chain's, when d's examples
 * are attacked) after score_data_open and score_data_select: it must come from the same
 * model (model_path, the one given to score_data_open), from d's examples or the examples they were attacked from (their provenance), be
 * sorted by example_id and hold every selected method as [T_ref, H, W] float32. Each trial
 * is joined to the reference trial of the same (example_id, class_id); a trial without one
 * gets map_stability NaN. */
int score_data_open_reference(struct score_data *d, const char *path, const char *model_path);
/* Trials (of the T scored) without a reference trial. */
size_t score_data_ref_missing(const struct score_data *d);

/* Opens maps/<method> of the reference (checked at score_data_open_reference). */
struct h5table_stream *score_data_open_ref_maps(struct score_data *d, const char *method);

/* Root attributes of scores.h5 describing the chain: the examples' attack, attack_mode and
 * attack_eps when they were attacked (bin/attack), and map_stability_missing (trials without a
 * reference trial) when missing >= 0. */
int score_data_write_chain(struct score_data *d, struct h5table_file *out, int64_t missing);

/* Reads the reference maps of trials [t0, t1) into maps[(t1-t0) * H * W] (trial t0 + i at
 * row i; rows of trials without a reference are left as they are), in runs of consecutive
 * reference rows. */
int score_data_read_ref_maps(struct score_data *d, struct h5table_stream *s, size_t t0,
                             size_t t1, float *maps);

#endif

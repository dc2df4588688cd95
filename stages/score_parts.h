/* The parts of a sharded score run (`score --shard k/N`, one per shard) read back by
 * `score --merge`: each part is checked to come from the same options and inputs as the merging
 * run (its params equal the run's with "shard":"k/N", its model, examples, saliency and
 * reference by content hash) and to hold exactly its shard's trials; then, method by method,
 * its per-trial values, curves and costs are copied into full-length arrays, so the merging
 * run summarises all trials as an unsharded run would and writes the same file. */
#ifndef SALBENCH_SCORE_PARTS_H
#define SALBENCH_SCORE_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/h5table.h"
#include "stages/score_data.h"

struct score_parts {
    int n;
    const char *const *paths;    /* [n], part k is shard k/n */
    struct h5table_file **files; /* [n] */
    size_t *begin;               /* [n + 1]: part k holds trials [begin[k], begin[k+1]) */
};

/* A column of the per-trial table to fill: name, type (H5TABLE_F64, I64, I32, U8) and the
 * destination [T] (trial t of the merged run at index t). */
struct score_part_column {
    const char *name;
    enum h5table_type type;
    void *dst;
};

/* A costed metric's passes: read from the column it names, summed over every part. */
struct score_part_cost {
    const char *col;           /* one column of the metric */
    int reruns;                /* 1 when the metric stops at d->T_rerun */
    double forward, backward;  /* out: total passes over every part */
};

/* A method's arrays to fill, each of the merged run's T trials (NULL: not scored). */
struct score_part_arrays {
    const struct score_part_column *cols;
    int ncols;
    float *curves[2];      /* deletion, insertion: [T, curve_len[k]] */
    int curve_len[2];
    double *sanity[2];     /* cascading, independent: [T, L, 4] */
    int L;
    struct score_part_cost *costs; /* [n_cost]: one per metric scored */
    int n_cost;
};

/* Opens the parts and checks them against d (the merging run's data, not sharded) and the
 * run's params: `params_for(k, n, user)` returns the params JSON (xmalloc'd) the part of shard
 * k of n must carry. inputs are the roles the parts must name, each with its content hash. */
int score_parts_open(struct score_parts *p, const char *const *paths, int n,
                     const struct score_data *d,
                     char *(*params_for)(uint32_t k, uint32_t n, void *user), void *user,
                     const struct h5table_input *inputs, int ninputs);
void score_parts_close(struct score_parts *p);

/* Reads method's values from every part into a; checks each part's trials are its shard's. */
int score_parts_read(const struct score_parts *p, const struct score_data *d, const char *method,
                     const struct score_part_arrays *a);

#endif

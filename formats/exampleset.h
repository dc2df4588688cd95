/* Reading examples.h5 (written by bin/load) for the stages that run a model on it: infer,
 * train, and later attribute/score. Opens the file, reads and checks the small per-example
 * columns (example_id ascending, label, multi-hot labels, class names), and streams image rows
 * on demand. The schema it expects (see stages/load.c and README):
 *   table `examples`: example_id uint64 (strictly ascending), label int32 (-1 when the example
 *     has no single label), n_labels int32 (other columns are ignored here)
 *   array `images` [N, H, W, C] uint8, row-aligned with `examples`
 *   array `labels` [N, K] uint8 multi-hot, row-aligned
 *   table `classes`: class_id int32 (0..K-1 in order), name string
 * Not here: writing examples (stages/load.c), objects and masks (the localisation metrics).
 * Errors: 0 or -1 after err_set() naming the file and the offending object or row. */
#ifndef SALBENCH_EXAMPLESET_H
#define SALBENCH_EXAMPLESET_H

#include <stddef.h>
#include <stdint.h>

#define EXAMPLESET_NAME_MAX 64

struct h5table_file;
struct h5table_stream;
struct model;

struct exampleset {
    struct h5table_file *file;      /* open read-only */
    struct h5table_stream *images;  /* `images`, for exampleset_read_images */
    size_t n;                       /* examples */
    int H, W, C, K;
    uint64_t *ids;                  /* [n] ascending */
    int32_t *label;                 /* [n] single label or -1 */
    int32_t *n_labels;              /* [n] */
    uint8_t *multi_hot;             /* [n, K] */
    char (*class_names)[EXAMPLESET_NAME_MAX]; /* [K] */
};

void exampleset_init(struct exampleset *e);
/* Opens and validates; on failure e is left released. */
int exampleset_open(struct exampleset *e, const char *path);
/* Reads image rows [start, start + count) into buf (count * H * W * C bytes). */
int exampleset_read_images(struct exampleset *e, size_t start, size_t count, uint8_t *buf);
/* Closes the file and frees everything; accepts a released or init'ed e. */
void exampleset_release(struct exampleset *e);
/* The path given to exampleset_open. */
const char *exampleset_path(const struct exampleset *e);
/* Checks the examples fit the model read from model_path: image size and channels, number
 * and names of the classes; -1 + err_set ("cannot use examples 'E': ..., the model 'M' ...")
 * when they do not. */
int exampleset_check_model(const struct exampleset *e, const struct model *m,
                           const char *model_path);

#endif

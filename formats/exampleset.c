/* examples.h5 reader for model stages; see exampleset.h. Everything but the images is read at
 * open (a few bytes per example); images are streamed by row range. */
#include "formats/exampleset.h"

#include <stdlib.h>
#include <string.h>

#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/err.h"

struct ex_row {
    uint64_t example_id;
    int32_t label, n_labels;
};

static const struct h5table_column ex_cols[] = {
    H5TABLE_COLUMN(struct ex_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct ex_row, label, H5TABLE_I32),
    H5TABLE_COLUMN(struct ex_row, n_labels, H5TABLE_I32),
};
static const struct h5table_schema ex_schema = {"examples", sizeof(struct ex_row), 3, ex_cols};

struct class_row {
    int32_t class_id;
    char name[EXAMPLESET_NAME_MAX];
};

static const struct h5table_column class_cols[] = {
    H5TABLE_COLUMN(struct class_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct class_row, name, H5TABLE_STR),
};
static const struct h5table_schema class_schema = {"classes", sizeof(struct class_row), 2,
                                                   class_cols};

#define EX_ERR(e, fmt, ...)                                                                    \
    err_set("cannot read examples '%s': " fmt, h5table_path((e)->file), __VA_ARGS__)

void exampleset_init(struct exampleset *e)
{
    memset(e, 0, sizeof *e);
}

void exampleset_release(struct exampleset *e)
{
    if (!e) return;
    h5table_stream_close(e->images);
    h5table_close(e->file);
    free(e->ids);
    free(e->label);
    free(e->n_labels);
    free(e->multi_hot);
    free(e->class_names);
    exampleset_init(e);
}

const char *exampleset_path(const struct exampleset *e)
{
    return e->file ? h5table_path(e->file) : "";
}

static int read_rows(struct exampleset *e)
{
    struct ex_row *rows = NULL;
    size_t n = 0;
    if (h5table_read_table(e->file, "examples", &ex_schema, (void **)&rows, &n)) return -1;
    e->n = n;
    e->ids = malloc((n ? n : 1) * sizeof *e->ids);
    e->label = malloc((n ? n : 1) * sizeof *e->label);
    e->n_labels = malloc((n ? n : 1) * sizeof *e->n_labels);
    int rc = !e->ids || !e->label || !e->n_labels ? EX_ERR(e, "%s", "out of memory") : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        e->ids[i] = rows[i].example_id;
        e->label[i] = rows[i].label;
        e->n_labels[i] = rows[i].n_labels;
    }
    free(rows);
    if (!rc) {
        char what[300];
        snprintf(what, sizeof what, "examples in '%s'", h5table_path(e->file));
        rc = h5table_ids_check_sorted(e->ids, n, 1, what);
    }
    return rc;
}

static int read_classes(struct exampleset *e)
{
    struct class_row *rows = NULL;
    size_t n = 0;
    if (h5table_read_table(e->file, "classes", &class_schema, (void **)&rows, &n)) return -1;
    int rc = 0;
    if (n == 0 || n > (1u << 20)) rc = EX_ERR(e, "table classes has %zu rows", n);
    e->K = (int)n;
    e->class_names = rc ? NULL : calloc(n, sizeof *e->class_names);
    if (!rc && !e->class_names) rc = EX_ERR(e, "%s", "out of memory");
    for (size_t k = 0; !rc && k < n; k++) {
        if (rows[k].class_id != (int32_t)k)
            rc = EX_ERR(e, "classes row %zu has class_id %d (expected %zu)", k,
                        rows[k].class_id, k);
        else
            memcpy(e->class_names[k], rows[k].name, EXAMPLESET_NAME_MAX);
    }
    free(rows);
    return rc;
}

static int read_arrays(struct exampleset *e)
{
    uint64_t dims[H5TABLE_MAX_RANK];
    e->images = h5table_stream_open_array(e->file, "images", H5TABLE_U8, 4, dims);
    if (!e->images) return -1;
    if (dims[0] != e->n)
        return EX_ERR(e, "images has %llu rows but table examples has %zu",
                      (unsigned long long)dims[0], e->n);
    if (dims[1] > 65536 || dims[2] > 65536 || dims[3] > 64)
        return EX_ERR(e, "images rows are %llux%llux%llu (too large)", (unsigned long long)dims[1],
                      (unsigned long long)dims[2], (unsigned long long)dims[3]);
    e->H = (int)dims[1], e->W = (int)dims[2], e->C = (int)dims[3];
    if (h5table_read_array(e->file, "labels", H5TABLE_U8, 2, dims, (void **)&e->multi_hot))
        return -1;
    if (dims[0] != e->n || dims[1] != (uint64_t)e->K)
        return EX_ERR(e, "labels is [%llu, %llu], expected [%zu, %d] (examples x classes)",
                      (unsigned long long)dims[0], (unsigned long long)dims[1], e->n, e->K);
    return 0;
}

int exampleset_open(struct exampleset *e, const char *path)
{
    exampleset_init(e);
    e->file = h5table_open(path);
    if (!e->file) return -1;
    if (read_rows(e) || read_classes(e) || read_arrays(e)) {
        exampleset_release(e);
        return -1;
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->label[i] >= e->K) {
            int rc = EX_ERR(e, "example %zu has label %d but there are %d classes", i,
                            e->label[i], e->K);
            exampleset_release(e);
            return rc;
        }
    return 0;
}

int exampleset_read_images(struct exampleset *e, size_t start, size_t count, uint8_t *buf)
{
    return h5table_stream_read(e->images, start, count, buf);
}

int exampleset_check_model(const struct exampleset *e, const struct model *m,
                           const char *model_path)
{
    const char *path = exampleset_path(e);
    if (e->H != m->height || e->W != m->width || e->C != m->channels)
        return err_set("cannot use examples '%s': images are %dx%dx%d (HxWxC), the model '%s' "
                       "takes %dx%dx%d",
                       path, e->H, e->W, e->C, model_path, m->height, m->width, m->channels);
    if (e->K != m->n_classes)
        return err_set("cannot use examples '%s': %d classes, the model '%s' has %d", path, e->K,
                       model_path, m->n_classes);
    for (int k = 0; k < e->K; k++)
        if (strcmp(e->class_names[k], m->class_names[k]))
            return err_set("cannot use examples '%s': class %d is '%s', the model '%s' calls it "
                           "'%s'",
                           path, k, e->class_names[k], model_path, m->class_names[k]);
    return 0;
}

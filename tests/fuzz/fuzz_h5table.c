/* Fuzz target: the HDF5 table reader (formats/h5table) on arbitrary files. The input is written
 * to a scratch file and opened with h5table_open; every object of the root and of "maps" is then
 * described, read as an array of its own type, read as an `examples` and a `classes` table
 * (schema checks), streamed by rows; ids are read and checked for order and alignment;
 * attributes, provenance and the content hash are read; then the file is opened as examples.h5
 * (formats/exampleset: the model stages' reader). Only clean failures are accepted.
 * libhdf5 itself is not instrumented and crashes on some corrupt files: tests/fuzz/run.sh runs
 * this target with SALBENCH_H5_PRECHECK=0 in libFuzzer's fork mode and replays each crash with
 * the precheck on (h5table_open's forked metadata walk), which must turn it into an error. */
#include "tests/fuzz/fuzz.h"

#include <stddef.h>

#include "formats/exampleset.h"
#include "formats/h5table.h"

#define FH5_MAX_OBJECTS 16

struct fh5_example {
    uint64_t example_id;
    int32_t label, n_labels;
    char source[16];
    double score;
};

static const struct h5table_column fh5_example_cols[] = {
    H5TABLE_COLUMN(struct fh5_example, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct fh5_example, label, H5TABLE_I32),
    H5TABLE_COLUMN(struct fh5_example, n_labels, H5TABLE_I32),
    H5TABLE_COLUMN(struct fh5_example, source, H5TABLE_STR),
    H5TABLE_COLUMN(struct fh5_example, score, H5TABLE_F64),
};
static const struct h5table_schema fh5_example_schema = {"examples", sizeof(struct fh5_example),
                                                         5, fh5_example_cols};

struct fh5_class {
    int32_t class_id;
    char name[8];
};

static const struct h5table_column fh5_class_cols[] = {
    H5TABLE_COLUMN(struct fh5_class, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct fh5_class, name, H5TABLE_STR),
};
static const struct h5table_schema fh5_class_schema = {"classes", sizeof(struct fh5_class), 2,
                                                       fh5_class_cols};

static void fh5_tables(struct h5table_file *f, const char *name)
{
    void *rows = NULL;
    size_t n = 0;
    if (h5table_read_table(f, name, &fh5_example_schema, &rows, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            const struct fh5_example *e = (const struct fh5_example *)rows + i;
            FUZZ_CHECK(memchr(e->source, 0, sizeof e->source) != NULL);
        }
    } else {
        FUZZ_CHECK(fuzz_msg_ok("cannot ") && rows == NULL);
    }
    free(rows);
    rows = NULL;
    if (h5table_read_table(f, name, &fh5_class_schema, &rows, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(memchr(((const struct fh5_class *)rows)[i].name, 0, 8) != NULL);
    } else {
        FUZZ_CHECK(fuzz_msg_ok("cannot ") && rows == NULL);
    }
    free(rows);
}

static void fh5_array(struct h5table_file *f, const char *name)
{
    enum h5table_type type = 0;
    int rank = 0;
    uint64_t dims[H5TABLE_MAX_RANK];
    if (h5table_array_info(f, name, &type, &rank, dims)) {
        FUZZ_CHECK(fuzz_msg_ok("cannot "));
        return;
    }
    FUZZ_CHECK(rank >= 0 && rank <= H5TABLE_MAX_RANK);
    if (!type) return;
    void *data = NULL;
    uint64_t got[H5TABLE_MAX_RANK];
    if (h5table_read_array(f, name, type, 0, got, &data) == 0) {
        size_t bytes = h5table_type_size(type);
        for (int i = 0; i < rank; i++) bytes *= (size_t)got[i];
        FUZZ_CHECK(bytes == 0 || data != NULL);
        fuzz_touch(data, bytes);
    } else {
        FUZZ_CHECK(fuzz_msg_ok("cannot ") && data == NULL);
    }
    free(data);
    struct h5table_stream *s = h5table_stream_open_array(f, name, type, 0, got);
    if (s && h5table_stream_rows(s) > 0) {
        size_t row = h5table_stream_row_bytes(s);
        uint8_t *buf = row <= ((size_t)1 << 26) ? malloc(row ? row : 1) : NULL;
        if (buf && h5table_stream_read(s, h5table_stream_rows(s) - 1, 1, buf) == 0)
            fuzz_touch(buf, row);
        free(buf);
    }
    h5table_stream_close(s);
}

static void fh5_group(struct h5table_file *f, const char *group)
{
    char **names = NULL;
    size_t n = 0;
    if (h5table_list(f, group, &names, &n)) {
        FUZZ_CHECK(fuzz_msg_ok("cannot "));
        return;
    }
    for (size_t i = 0; i < n && i < FH5_MAX_OBJECTS; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s%s%s", strcmp(group, "/") ? group : "",
                 strcmp(group, "/") ? "/" : "", names[i]);
        /* a listed link may point nowhere in a corrupt file: 0 is a fine answer */
        if (h5table_exists(f, path) < 0) FUZZ_CHECK(fuzz_msg_ok("cannot "));
        fh5_array(f, path);
        fh5_tables(f, path);
        char *v = NULL;
        if (h5table_attr_exists(f, path, "CLASS") == 1 &&
            h5table_attr_get_str(f, path, "CLASS", &v) == 0)
            FUZZ_CHECK(v != NULL);
        free(v);
    }
    h5table_list_free(names, n);
}

static void fh5_ids(struct h5table_file *f)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    if (h5table_read_ids(f, "examples", &ids, &n) == 0) {
        h5table_ids_check_sorted(ids, n, 1, "examples");
        FUZZ_CHECK(h5table_ids_check_aligned(ids, n, "a", ids, n, "b") == 0);
        if (n > 1) FUZZ_CHECK(h5table_ids_check_aligned(ids, n, "a", ids, n - 1, "b") != 0);
    }
    free(ids);
}

static void fh5_attrs(struct h5table_file *f)
{
    static const char *const names[] = {"stage", "params", "inputs", "salbench_version",
                                        "id_seed", "mean"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *s = NULL;
        int64_t iv;
        uint64_t uv;
        double dv, *arr = NULL;
        size_t n = 0;
        if (h5table_attr_get_str(f, "/", names[i], &s) == 0) FUZZ_CHECK(s != NULL);
        free(s);
        h5table_attr_get_i64(f, "/", names[i], &iv);
        h5table_attr_get_u64(f, "/", names[i], &uv);
        h5table_attr_get_f64(f, "/", names[i], &dv);
        if (h5table_attr_get_f64_array(f, "/", names[i], &arr, &n) == 0) fuzz_touch(arr, n * 8);
        free(arr);
    }
    struct h5table_provenance p;
    h5table_provenance_init(&p);
    if (h5table_read_provenance(f, &p) == 0) {
        char *v = NULL, *path = NULL;
        uint64_t hash;
        if (h5table_provenance_param(&p, "size", &v) == 1) FUZZ_CHECK(v != NULL);
        if (h5table_provenance_input(&p, "coco", &path, &hash) == 1) FUZZ_CHECK(path != NULL);
        free(v);
        free(path);
    }
    h5table_provenance_release(&p);
}

/* The examples.h5 reader of bin/infer and bin/train: what it accepts must be usable. */
static void fh5_exampleset(const char *path)
{
    struct exampleset e;
    if (exampleset_open(&e, path) != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot "));
        return;
    }
    FUZZ_CHECK(e.K >= 1 && e.H >= 1 && e.W >= 1 && e.C >= 1);
    for (size_t i = 0; i < e.n; i++) {
        FUZZ_CHECK(e.label[i] >= -1 && e.label[i] < e.K);
        FUZZ_CHECK(i == 0 || e.ids[i] > e.ids[i - 1]);
    }
    for (int k = 0; k < e.K; k++)
        FUZZ_CHECK(memchr(e.class_names[k], 0, EXAMPLESET_NAME_MAX) != NULL);
    size_t row = (size_t)e.H * e.W * e.C;
    uint8_t *buf = e.n && row <= ((size_t)1 << 24) ? malloc(row) : NULL;
    if (buf && exampleset_read_images(&e, e.n - 1, 1, buf) == 0) fuzz_touch(buf, row);
    free(buf);
    exampleset_release(&e);
}

int fuzz_h5table(const uint8_t *data, size_t size)
{
    char path[600];
    fuzz_write_file(fuzz_path(path, sizeof path, "in.h5"), data, size);
    struct h5table_file *f = h5table_open(path);
    if (!f) {
        FUZZ_CHECK(fuzz_msg_ok("cannot open '"));
        return 0;
    }
    fh5_group(f, "/");
    fh5_group(f, "maps");
    fh5_ids(f);
    fh5_attrs(f);
    uint64_t hash;
    if (h5table_content_hash(f, &hash)) FUZZ_CHECK(fuzz_msg_ok("cannot "));
    FUZZ_CHECK(h5table_close(f) == 0);
    fh5_exampleset(path);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_h5table(data, size);
}
#endif

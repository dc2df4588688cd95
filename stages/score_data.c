/* Inputs of the score stage, verified once: examples.h5 ids sorted, images and masks shaped as
 * the model's input, classes the model's, saliency trials joined to example rows, every map
 * [T,H,W] float32, and the provenance of saliency.h5 (and predictions.h5) naming the same model
 * and examples by content hash. See score_data.h. */
#include "stages/score_data.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/chash.h"
#include "formats/scores.h"
#include "pipeline/err.h"
#include "stages/common.h"

struct class_row {
    int32_t class_id;
    char name[SCORE_CLASS_NAME_LEN];
};
static const struct h5table_column class_cols[] = {
    H5TABLE_COLUMN(struct class_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct class_row, name, H5TABLE_STR)};
static const struct h5table_schema class_schema = {"classes", sizeof(struct class_row), 2,
                                                   class_cols};

#define OB(f, t) H5TABLE_COLUMN(struct score_object_row, f, t)
static const struct h5table_column object_cols[] = {
    OB(example_id, H5TABLE_U64), OB(class_id, H5TABLE_I32), OB(x0, H5TABLE_F32),
    OB(y0, H5TABLE_F32),         OB(x1, H5TABLE_F32),       OB(y1, H5TABLE_F32),
    OB(difficult, H5TABLE_U8),   OB(has_mask, H5TABLE_U8)};
#undef OB
static const struct h5table_schema object_schema = {"objects", sizeof(struct score_object_row),
                                                    8, object_cols};

/* bin/attribute also records each trial's examples.h5 row; it is checked when present. */
struct trial_row {
    uint64_t example_id;
    int32_t class_id;
    int64_t row;
};
static const struct h5table_column trial_cols[] = {
    H5TABLE_COLUMN(struct trial_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct trial_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct trial_row, row, H5TABLE_I64)};
static const struct h5table_schema trial_schema = {"trials", sizeof(struct trial_row), 3,
                                                   trial_cols};
static const struct h5table_schema trial_schema_norow = {"trials", sizeof(struct trial_row), 2,
                                                         trial_cols};

void score_data_init(struct score_data *d)
{
    memset(d, 0, sizeof *d);
}

void score_data_release(struct score_data *d)
{
    if (!d) return;
    h5table_stream_close(d->images);
    h5table_stream_close(d->masks);
    h5table_close(d->ex);
    h5table_close(d->sal);
    h5table_close(d->ref);
    free(d->ref_row);
    free(d->ids), free(d->class_names), free(d->objs), free(d->obj_begin);
    free(d->tid), free(d->tcls), free(d->trow);
    h5table_list_free(d->methods, d->n_methods);
    score_data_init(d);
}

static const char *hex(char buf[17], uint64_t h)
{
    chash_hex(buf, h);
    return buf;
}

static int check_input(struct h5table_file *f, const char *path, const char *role,
                       const char *want_path, uint64_t want)
{
    return h5table_check_input(f, path, "score", role, want_path, want);
}

static int open_images(struct score_data *d, int C, int H, int W)
{
    uint64_t dims[H5TABLE_MAX_RANK];
    d->images = h5table_stream_open_array(d->ex, "images", H5TABLE_U8, 4, dims);
    if (!d->images) return -1;
    if (dims[0] != d->n || dims[1] != (uint64_t)H || dims[2] != (uint64_t)W ||
        dims[3] != (uint64_t)C)
        return err_set("cannot score '%s': images are [%" PRIu64 ",%" PRIu64 ",%" PRIu64
                       ",%" PRIu64 "], the model takes [%zu,%d,%d,%d]",
                       d->examples_path, dims[0], dims[1], dims[2], dims[3], d->n, H, W, C);
    d->H = H, d->W = W, d->C = C;
    return 0;
}

static int read_classes(struct score_data *d, int K, const char (*names)[64])
{
    struct class_row *rows = NULL;
    size_t n = 0;
    if (h5table_read_table(d->ex, "classes", &class_schema, (void **)&rows, &n)) return -1;
    int rc = 0;
    if (n != (size_t)K)
        rc = err_set("cannot score '%s': it has %zu classes, the model %d", d->examples_path, n,
                     K);
    d->K = K;
    d->class_names = xcalloc((size_t)K, sizeof *d->class_names);
    for (size_t k = 0; !rc && k < n; k++) {
        if (rows[k].class_id != (int32_t)k)
            rc = err_set("cannot score '%s': classes row %zu has class_id %d", d->examples_path,
                         k, rows[k].class_id);
        else if (names && strcmp(rows[k].name, names[k]) != 0)
            rc = err_set("cannot score '%s': class %zu is '%s' in the data but '%s' in the "
                         "model",
                         d->examples_path, k, rows[k].name, names[k]);
        else
            snprintf(d->class_names[k], SCORE_CLASS_NAME_LEN, "%s", rows[k].name);
    }
    free(rows);
    return rc;
}

/* Objects grouped by example row; masks checked [n_obj, H, W]. */
static int read_objects(struct score_data *d)
{
    int has = h5table_exists(d->ex, "objects");
    d->obj_begin = xcalloc(d->n + 1, sizeof *d->obj_begin);
    if (has < 0) return -1;
    if (has && h5table_read_table(d->ex, "objects", &object_schema, (void **)&d->objs, &d->n_obj))
        return -1;
    size_t r = 0;
    for (size_t i = 0; i < d->n_obj; i++) {
        const struct score_object_row *o = &d->objs[i];
        while (r < d->n && d->ids[r] < o->example_id)
            d->obj_begin[++r] = i;
        if (r == d->n || d->ids[r] != o->example_id)
            return err_set("cannot score '%s': objects row %zu has example_id %016" PRIx64
                           ", not an example in order",
                           d->examples_path, i, o->example_id);
        if (o->class_id < 0 || o->class_id >= d->K)
            return err_set("cannot score '%s': objects row %zu has class %d of %d",
                           d->examples_path, i, o->class_id, d->K);
        d->n_masked += o->has_mask != 0;
    }
    while (r < d->n)
        d->obj_begin[++r] = d->n_obj;
    if (d->n_masked == 0) return 0;
    uint64_t dims[H5TABLE_MAX_RANK];
    d->masks = h5table_stream_open_array(d->ex, "masks", H5TABLE_U8, 3, dims);
    if (!d->masks) return -1;
    if (dims[0] != d->n_obj || dims[1] != (uint64_t)d->H || dims[2] != (uint64_t)d->W)
        return err_set("cannot score '%s': masks are [%" PRIu64 ",%" PRIu64 ",%" PRIu64
                       "], not one %dx%d mask per object (%zu)",
                       d->examples_path, dims[0], dims[1], dims[2], d->H, d->W, d->n_obj);
    return 0;
}

static int open_examples(struct score_data *d, const char *path, int K, const char (*names)[64],
                         int C, int H, int W)
{
    d->examples_path = path;
    if (h5table_content_hash_path(path, &d->examples_hash)) return -1;
    d->ex = h5table_open(path);
    if (!d->ex || h5table_read_ids(d->ex, "examples", &d->ids, &d->n)) return -1;
    char what[512];
    snprintf(what, sizeof what, "examples in '%s'", path);
    if (h5table_ids_check_sorted(d->ids, d->n, 1, what)) return -1;
    if (open_images(d, C, H, W) || read_classes(d, K, names) || read_objects(d)) return -1;
    return 0;
}

/* Trials: sorted by example_id, each joined to its example row, classes in range. */
static int read_trials(struct score_data *d)
{
    struct trial_row *rows = NULL;
    int has_row = 1;
    if (h5table_read_table(d->sal, "trials", &trial_schema, (void **)&rows, &d->T)) {
        has_row = 0;
        if (h5table_read_table(d->sal, "trials", &trial_schema_norow, (void **)&rows, &d->T))
            return -1;
    }
    size_t T = d->T, r = 0;
    d->T_file = d->T_rerun = T;
    d->tid = xmalloc((T ? T : 1) * sizeof *d->tid);
    d->tcls = xmalloc((T ? T : 1) * sizeof *d->tcls);
    d->trow = xmalloc((T ? T : 1) * sizeof *d->trow);
    int rc = 0;
    for (size_t t = 0; t < T && !rc; t++) {
        d->tid[t] = rows[t].example_id, d->tcls[t] = rows[t].class_id;
        if (t > 0 && d->tid[t] < d->tid[t - 1])
            rc = err_set("cannot score '%s': trials are not in example_id order (row %zu: "
                         "%016" PRIx64 " after %016" PRIx64 ")",
                         d->saliency_path, t, d->tid[t], d->tid[t - 1]);
        while (!rc && r < d->n && d->ids[r] < d->tid[t])
            r++;
        if (!rc && (r == d->n || d->ids[r] != d->tid[t]))
            rc = err_set("cannot score '%s': trial row %zu has example_id %016" PRIx64
                         ", which is not in '%s'",
                         d->saliency_path, t, d->tid[t], d->examples_path);
        if (!rc && has_row && rows[t].row != (int64_t)r)
            rc = err_set("cannot score '%s': trial row %zu names examples row %lld, but "
                         "example %016" PRIx64 " is row %zu of '%s' (rows misaligned)",
                         d->saliency_path, t, (long long)rows[t].row, d->tid[t], r,
                         d->examples_path);
        if (!rc && (d->tcls[t] < 0 || d->tcls[t] >= d->K))
            rc = err_set("cannot score '%s': trial row %zu has class %d of %d",
                         d->saliency_path, t, d->tcls[t], d->K);
        d->trow[t] = r;
    }
    free(rows);
    return rc;
}

/* Every maps/<method> must be [T, H, W] float32. */
static int check_maps(struct score_data *d)
{
    int has = h5table_exists(d->sal, "maps");
    if (has <= 0)
        return has < 0 ? -1 : err_set("cannot score '%s': it holds no maps", d->saliency_path);
    if (h5table_list(d->sal, "maps", &d->methods, &d->n_methods)) return -1;
    for (size_t m = 0; m < d->n_methods; m++) {
        if (strlen(d->methods[m]) >= SCORES_METHOD_LEN)
            return err_set("cannot score '%s': method name 'maps/%s' is longer than %d bytes",
                           d->saliency_path, d->methods[m], SCORES_METHOD_LEN - 1);
        struct h5table_stream *s = score_data_open_maps(d, d->methods[m]);
        if (!s) return -1;
        h5table_stream_close(s);
    }
    return 0;
}

int score_data_open(struct score_data *d, const char *examples, const char *saliency,
                    const char *model_path, uint64_t model_hash, int K,
                    const char (*class_names)[64], int C, int H, int W, const char *predictions)
{
    d->model_hash = model_hash;
    if (open_examples(d, examples, K, class_names, C, H, W)) return -1;
    d->saliency_path = saliency;
    if (h5table_content_hash_path(saliency, &d->saliency_hash)) return -1;
    d->sal = h5table_open(saliency);
    if (!d->sal || check_input(d->sal, saliency, "model", model_path, model_hash) ||
        check_input(d->sal, saliency, "examples", examples, d->examples_hash))
        return -1;
    if (read_trials(d) || check_maps(d)) return -1;
    if (!predictions) return 0;
    struct h5table_file *p = h5table_open(predictions);
    int rc = !p || check_input(p, predictions, "model", model_path, model_hash) ||
             check_input(p, predictions, "examples", examples, d->examples_hash);
    h5table_close(p);
    return rc ? -1 : 0;
}

int score_data_select(struct score_data *d, const char *const *methods, int n)
{
    char **keep = xcalloc((size_t)(n ? n : 1), sizeof *keep);
    for (int i = 0; i < n; i++) {
        size_t m = 0;
        while (m < d->n_methods && strcmp(d->methods[m], methods[i]) != 0)
            m++;
        for (int j = 0; j < i; j++)
            if (strcmp(methods[j], methods[i]) == 0) m = d->n_methods + 1;
        if (m >= d->n_methods) {
            for (int j = 0; j < i; j++)
                free(keep[j]);
            free(keep);
            return err_set("cannot score method '%s': %s", methods[i],
                           m == d->n_methods ? "no such map in the saliency file"
                                             : "listed twice");
        }
        keep[i] = xstrdup(methods[i]);
    }
    h5table_list_free(d->methods, d->n_methods);
    d->methods = keep, d->n_methods = (size_t)n;
    return 0;
}

/* Trials of the first `examples` examples that have trials (all when examples is 0). */
static size_t trials_of_first(const struct score_data *d, size_t examples)
{
    size_t ex = 0, t = 0;
    for (; t < d->T && examples > 0; t++) {
        if (t == 0 || d->tid[t] != d->tid[t - 1]) ex++;
        if (ex > examples) break;
    }
    return examples > 0 ? t : d->T;
}

void score_data_limit(struct score_data *d, size_t limit, size_t rerun_limit)
{
    d->T = trials_of_first(d, limit);
    d->T_rerun = trials_of_first(d, rerun_limit);
}

size_t score_data_rerun_end(const struct score_data *d, size_t t0, size_t t1)
{
    size_t end = d->T_rerun > t0 ? d->T_rerun : t0;
    return end < t1 ? end : t1;
}

size_t score_data_block_end(const struct score_data *d, size_t t0, size_t B)
{
    size_t t1 = t0 + B < d->T ? t0 + B : d->T;
    if (t1 == d->T || d->trow[t1] != d->trow[t1 - 1]) return t1;
    size_t e = t1;
    while (e > t0 && d->trow[e - 1] == d->trow[t1])
        e--;
    return e > t0 ? e : t1;
}

void score_data_shard_bounds(const struct score_data *d, uint32_t k, uint32_t n, size_t *b,
                             size_t *e)
{
    size_t t = 0;
    while (t < d->T && cli_shard_of(d->tid[t], n) < k)
        t++;
    *b = t;
    while (t < d->T && cli_shard_of(d->tid[t], n) == k)
        t++;
    *e = t;
}

void score_data_shard(struct score_data *d, uint32_t k, uint32_t n)
{
    size_t b, e;
    score_data_shard_bounds(d, k, n, &b, &e);
    size_t T = e - b;
    memmove(d->tid, d->tid + b, T * sizeof *d->tid);
    memmove(d->tcls, d->tcls + b, T * sizeof *d->tcls);
    memmove(d->trow, d->trow + b, T * sizeof *d->trow);
    if (d->ref_row) memmove(d->ref_row, d->ref_row + b, T * sizeof *d->ref_row);
    d->T_rerun = score_data_rerun_end(d, b, e) - b;
    d->t_off += b;
    d->T = T;
}

void score_data_rows(const struct score_data *d, size_t t0, size_t t1, size_t *r0, size_t *r1)
{
    *r0 = t1 > t0 ? d->trow[t0] : 0;
    *r1 = t1 > t0 ? d->trow[t1 - 1] + 1 : *r0;
}

int score_data_read_images(struct score_data *d, size_t r0, size_t r1, uint8_t *img)
{
    return r1 > r0 ? h5table_stream_read(d->images, r0, r1 - r0, img) : 0;
}

int score_data_read_masks(struct score_data *d, size_t r0, size_t r1, uint8_t *masks)
{
    size_t o0 = d->obj_begin[r0], o1 = d->obj_begin[r1];
    if (!d->masks || o1 == o0) return 0;
    return h5table_stream_read(d->masks, o0, o1 - o0, masks);
}

int score_data_objects(const struct score_data *d, size_t r, size_t r0, const uint8_t *masks,
                       struct score_object *objs)
{
    size_t hw = (size_t)d->H * d->W, base = d->obj_begin[r0];
    int n = 0;
    for (size_t i = d->obj_begin[r]; i < d->obj_begin[r + 1]; i++, n++) {
        const struct score_object_row *o = &d->objs[i];
        objs[n] = (struct score_object){o->class_id, o->x0, o->y0, o->x1, o->y1,
                                        d->masks && o->has_mask ? masks + (i - base) * hw : NULL,
                                        o->difficult};
    }
    return n;
}

/* maps/<method> of f (the saliency file, or the reference): one H x W float map for each of
 * its T trials; `verb` and `path` name the file in the error. */
static struct h5table_stream *open_map_array(const struct score_data *d, struct h5table_file *f,
                                             const char *verb, const char *path, size_t T,
                                             const char *method)
{
    char name[256];
    uint64_t dims[H5TABLE_MAX_RANK];
    snprintf(name, sizeof name, "maps/%s", method);
    struct h5table_stream *s = h5table_stream_open_array(f, name, H5TABLE_F32, 3, dims);
    if (!s) return NULL;
    if (dims[0] != T || dims[1] != (uint64_t)d->H || dims[2] != (uint64_t)d->W) {
        err_set("cannot %s '%s': '%s' is [%" PRIu64 ",%" PRIu64 ",%" PRIu64
                "], not one %dx%d map per trial (%zu)",
                verb, path, name, dims[0], dims[1], dims[2], d->H, d->W, T);
        h5table_stream_close(s);
        return NULL;
    }
    return s;
}

struct h5table_stream *score_data_open_maps(struct score_data *d, const char *method)
{
    return open_map_array(d, d->sal, "score", d->saliency_path, d->T_file, method);
}

/* ---- the reference saliency of map_stability ---------------------------------------------- */

/* The reference's examples are d's or, for an attacked chain, the ones d's were made from. */
static int check_reference_examples(struct score_data *d, const char *path)
{
    char *src = NULL, a[17], b[17];
    uint64_t h = 0, parent = 0;
    if (h5table_require_input(d->ref, path, "examples", &src, &h)) return -1;
    int ok = h == d->examples_hash ||
             (h5table_input_hash(d->ex, "examples", NULL, &parent) > 0 && parent == h);
    if (!ok)
        err_set("cannot use reference saliency '%s': it was computed on examples '%s' (content "
                "hash %s), neither '%s' (content hash %s) nor the examples these were attacked "
                "from",
                path, src ? src : "?", hex(a, h), d->examples_path, hex(b, d->examples_hash));
    free(src);
    return ok ? 0 : -1;
}

/* Joins every trial of d to the reference trial with its (example_id, class_id). */
static int join_reference(struct score_data *d, const char *path)
{
    struct trial_row *rows = NULL;
    if (h5table_read_table(d->ref, "trials", &trial_schema, (void **)&rows, &d->T_ref) &&
        h5table_read_table(d->ref, "trials", &trial_schema_norow, (void **)&rows, &d->T_ref))
        return -1;
    int rc = 0;
    for (size_t r = 1; r < d->T_ref && !rc; r++)
        if (rows[r].example_id < rows[r - 1].example_id)
            rc = err_set("cannot use reference saliency '%s': trials are not in example_id order "
                         "(row %zu)",
                         path, r);
    d->ref_row = xmalloc((d->T_file ? d->T_file : 1) * sizeof *d->ref_row);
    size_t r0 = 0;
    for (size_t t = 0; t < d->T_file && !rc; t++) {
        while (r0 < d->T_ref && rows[r0].example_id < d->tid[t])
            r0++;
        d->ref_row[t] = -1;
        for (size_t r = r0; r < d->T_ref && rows[r].example_id == d->tid[t]; r++)
            if (rows[r].class_id == d->tcls[t]) {
                d->ref_row[t] = (int64_t)r;
                break;
            }
    }
    free(rows);
    return rc;
}

int score_data_open_reference(struct score_data *d, const char *path, const char *model_path)
{
    d->ref_path = path;
    d->ref = h5table_open(path);
    if (!d->ref ||
        h5table_check_input(d->ref, path, "use reference saliency", "model", model_path,
                            d->model_hash) ||
        check_reference_examples(d, path) || join_reference(d, path))
        return -1;
    for (size_t m = 0; m < d->n_methods; m++) {
        char name[256];
        snprintf(name, sizeof name, "maps/%s", d->methods[m]);
        int has = h5table_exists(d->ref, name);
        if (has < 0) return -1;
        if (!has)
            return err_set("cannot score map_stability of method '%s': reference saliency '%s' "
                           "has no map '%s'",
                           d->methods[m], path, name);
        struct h5table_stream *s = score_data_open_ref_maps(d, d->methods[m]);
        if (!s) return -1;
        h5table_stream_close(s);
    }
    return 0;
}

size_t score_data_ref_missing(const struct score_data *d)
{
    size_t n = 0;
    for (size_t t = 0; d->ref_row && t < d->T; t++)
        n += d->ref_row[t] < 0;
    return n;
}

struct h5table_stream *score_data_open_ref_maps(struct score_data *d, const char *method)
{
    return open_map_array(d, d->ref, "use reference saliency", d->ref_path, d->T_ref, method);
}

int score_data_read_ref_maps(struct score_data *d, struct h5table_stream *s, size_t t0,
                             size_t t1, float *maps)
{
    size_t hw = (size_t)d->H * d->W;
    for (size_t t = t0; t < t1;) {
        if (d->ref_row[t] < 0) {
            t++;
            continue;
        }
        size_t e = t + 1;
        while (e < t1 && d->ref_row[e] == d->ref_row[e - 1] + 1)
            e++;
        if (h5table_stream_read(s, (uint64_t)d->ref_row[t], e - t, maps + (t - t0) * hw))
            return -1;
        t = e;
    }
    return 0;
}

int score_data_write_chain(struct score_data *d, struct h5table_file *out, int64_t missing)
{
    static const char *const strs[2] = {"attack", "attack_mode"};
    for (int i = 0; i < 2; i++) {
        char *v = NULL;
        int has = h5table_attr_exists(d->ex, "/", strs[i]);
        int rc = has < 0 || (has && (h5table_attr_get_str(d->ex, "/", strs[i], &v) ||
                                     h5table_attr_set_str(out, "/", strs[i], v)));
        free(v);
        if (rc) return -1;
    }
    double eps;
    int has = h5table_attr_exists(d->ex, "/", "attack_eps");
    if (has < 0 || (has && (h5table_attr_get_f64(d->ex, "/", "attack_eps", &eps) ||
                            h5table_attr_set_f64(out, "/", "attack_eps", eps))))
        return -1;
    return missing >= 0 ? h5table_attr_set_i64(out, "/", "map_stability_missing", missing) : 0;
}

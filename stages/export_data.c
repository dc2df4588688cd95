/* Inputs of the export stage, verified once: examples.h5 (exampleset plus sources and
 * objects), predictions.h5 joined to example rows, saliency.h5 trials joined to example rows
 * and the chosen maps, scores.h5 trial metrics aligned with the saliency trials, and the
 * provenance hashes that tie the files together. Also the sample selection. See export.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/chash.h"
#include "formats/h5table.h"
#include "formats/scores.h"
#include "pipeline/err.h"
#include "stages/common.h"
#include "stages/export.h"

struct source_row {
    uint64_t example_id;
    char source[EXPORT_SOURCE_LEN];
};
static const struct h5table_column source_cols[] = {
    H5TABLE_COLUMN(struct source_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct source_row, source, H5TABLE_STR)};
static const struct h5table_schema source_schema = {"examples", sizeof(struct source_row), 2,
                                                    source_cols};

#define OB(f, t) H5TABLE_COLUMN(struct export_object, f, t)
static const struct h5table_column object_cols[] = {
    OB(example_id, H5TABLE_U64), OB(class_id, H5TABLE_I32), OB(x0, H5TABLE_F32),
    OB(y0, H5TABLE_F32),         OB(x1, H5TABLE_F32),       OB(y1, H5TABLE_F32),
    OB(difficult, H5TABLE_U8)};
#undef OB
static const struct h5table_schema object_schema = {"objects", sizeof(struct export_object), 7,
                                                    object_cols};

struct pred_row {
    uint64_t example_id;
    int32_t predicted;
    float score;
    int8_t correct;
};
#define PR(f, t) H5TABLE_COLUMN(struct pred_row, f, t)
static const struct h5table_column pred_cols[] = {PR(example_id, H5TABLE_U64),
                                                  PR(predicted, H5TABLE_I32),
                                                  PR(score, H5TABLE_F32), PR(correct, H5TABLE_I8)};
#undef PR
static const struct h5table_schema pred_schema = {"predictions", sizeof(struct pred_row), 4,
                                                  pred_cols};

/* bin/attribute writes row and reason; older or hand-made files may lack them. */
struct trial_row {
    uint64_t example_id;
    int32_t class_id;
    char reason[EXPORT_REASON_LEN];
};
static const struct h5table_column trial_cols[] = {
    H5TABLE_COLUMN(struct trial_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct trial_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct trial_row, reason, H5TABLE_STR)};
static const struct h5table_schema trial_schema = {"trials", sizeof(struct trial_row), 3,
                                                   trial_cols};
static const struct h5table_schema trial_schema_min = {"trials", sizeof(struct trial_row), 2,
                                                       trial_cols};

struct key_row {
    uint64_t example_id;
    int32_t class_id;
};
static const struct h5table_column key_cols[] = {
    H5TABLE_COLUMN(struct key_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct key_row, class_id, H5TABLE_I32)};

void export_data_init(struct export_data *d)
{
    memset(d, 0, sizeof *d);
    exampleset_init(&d->ex);
}

void export_data_release(struct export_data *d)
{
    if (!d) return;
    for (size_t m = 0; m < d->n_methods && d->maps; m++)
        h5table_stream_close(d->maps[m]);
    h5table_close(d->sal);
    exampleset_release(&d->ex);
    for (size_t s = 0; s < d->n_scores; s++) {
        struct export_scores *e = &d->scores[s];
        for (int k = 0; k < e->n_metrics; k++)
            free(e->metrics[k]);
        free(e->method), free(e->metrics), free(e->higher_is_better), free(e->values);
    }
    free(d->scores);
    free(d->source), free(d->objs), free(d->obj_begin);
    free(d->pred_row), free(d->predicted), free(d->score), free(d->correct), free(d->probs);
    free(d->tid), free(d->tcls), free(d->trow), free(d->reason), free(d->tbegin);
    h5table_list_free(d->methods, d->n_methods);
    free(d->maps);
    export_data_init(d);
}

/* Row of id in the ascending ids[n], or SIZE_MAX. */
static size_t find_row(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : SIZE_MAX;
}

/* ---- provenance ------------------------------------------------------------------------- */

/* `f` (at path) must have been computed with `role` of content hash want (file want_path). */
static int check_input(struct h5table_file *f, const char *path, const char *role,
                       const char *want_path, uint64_t want)
{
    return h5table_check_input(f, path, "export", role, want_path, want);
}

/* ---- examples.h5 ------------------------------------------------------------------------- */

static int open_examples(struct export_data *d, const char *path)
{
    d->examples_path = path;
    if (exampleset_open(&d->ex, path)) return -1;
    struct source_row *rows = NULL;
    size_t n = 0;
    if (h5table_read_table(d->ex.file, "examples", &source_schema, (void **)&rows, &n)) return -1;
    d->source = xcalloc(n ? n : 1, sizeof *d->source);
    for (size_t r = 0; r < n; r++)
        memcpy(d->source[r], rows[r].source, EXPORT_SOURCE_LEN);
    free(rows);
    d->obj_begin = xcalloc(d->ex.n + 1, sizeof *d->obj_begin);
    int has = h5table_exists(d->ex.file, "objects");
    if (has < 0) return -1;
    if (has && h5table_read_table(d->ex.file, "objects", &object_schema, (void **)&d->objs,
                                  &d->n_obj))
        return -1;
    size_t r = 0;
    for (size_t i = 0; i < d->n_obj; i++) {
        const struct export_object *o = &d->objs[i];
        while (r < d->ex.n && d->ex.ids[r] < o->example_id)
            d->obj_begin[++r] = i;
        if (r == d->ex.n || d->ex.ids[r] != o->example_id)
            return err_set("cannot export '%s': objects row %zu has example_id %016" PRIx64
                           ", not an example in order", path, i, o->example_id);
        if (o->class_id < 0 || o->class_id >= d->ex.K)
            return err_set("cannot export '%s': objects row %zu has class %d of %d", path, i,
                           o->class_id, d->ex.K);
    }
    while (r < d->ex.n)
        d->obj_begin[++r] = d->n_obj;
    return 0;
}

/* ---- predictions.h5 ---------------------------------------------------------------------- */

static int read_predictions(struct export_data *d, struct h5table_file *f, const char *path)
{
    struct pred_row *rows = NULL;
    size_t np = 0;
    uint64_t dims[H5TABLE_MAX_RANK];
    if (h5table_read_table(f, "predictions", &pred_schema, (void **)&rows, &np)) return -1;
    int rc = h5table_read_array(f, "probs", H5TABLE_F32, 2, dims, (void **)&d->probs);
    if (!rc && (dims[0] != np || dims[1] != (uint64_t)d->ex.K))
        rc = err_set("cannot export '%s': probs is [%" PRIu64 ",%" PRIu64 "], not [%zu,%d]",
                     path, dims[0], dims[1], np, d->ex.K);
    d->pred_row = xmalloc((d->ex.n ? d->ex.n : 1) * sizeof *d->pred_row);
    for (size_t r = 0; r < d->ex.n; r++)
        d->pred_row[r] = SIZE_MAX;
    d->predicted = xmalloc((np ? np : 1) * sizeof *d->predicted);
    d->score = xmalloc((np ? np : 1) * sizeof *d->score);
    d->correct = xmalloc((np ? np : 1) * sizeof *d->correct);
    for (size_t i = 0; i < np && !rc; i++) {
        size_t r = find_row(d->ex.ids, d->ex.n, rows[i].example_id);
        if (r == SIZE_MAX)
            rc = err_set("cannot export '%s': predictions row %zu has example_id %016" PRIx64
                         ", which is not in '%s'", path, i, rows[i].example_id,
                         d->examples_path);
        else if (rows[i].predicted < 0 || rows[i].predicted >= d->ex.K)
            rc = err_set("cannot export '%s': predictions row %zu predicts class %d of %d", path,
                         i, rows[i].predicted, d->ex.K);
        else if (d->pred_row[r] != SIZE_MAX)
            rc = err_set("cannot export '%s': example_id %016" PRIx64 " is predicted twice",
                         path, rows[i].example_id);
        if (rc) break;
        d->pred_row[r] = i;
        d->predicted[i] = rows[i].predicted, d->score[i] = rows[i].score;
        d->correct[i] = rows[i].correct;
    }
    free(rows);
    char *mode = NULL;
    if (!rc && h5table_attr_exists(f, "/", "mode") == 1 &&
        h5table_attr_get_str(f, "/", "mode", &mode) == 0)
        d->multi_label = strcmp(mode, "multi-label") == 0;
    free(mode);
    return rc;
}

static int open_predictions(struct export_data *d, const char *path, uint64_t ex_hash,
                            uint64_t model_hash, const char *model_src)
{
    d->predictions_path = path;
    struct h5table_file *f = h5table_open(path);
    if (!f) return -1;
    int rc = check_input(f, path, "examples", d->examples_path, ex_hash) ||
             check_input(f, path, "model", model_src, model_hash) ||
             read_predictions(d, f, path);
    h5table_close(f);
    return rc ? -1 : 0;
}

/* ---- saliency.h5 -------------------------------------------------------------------------- */

static int read_trials(struct export_data *d)
{
    struct trial_row *rows = NULL;
    if (h5table_read_table(d->sal, "trials", &trial_schema, (void **)&rows, &d->T) &&
        h5table_read_table(d->sal, "trials", &trial_schema_min, (void **)&rows, &d->T))
        return -1;
    size_t T = d->T, r = 0, n = d->ex.n;
    d->tid = xmalloc((T ? T : 1) * sizeof *d->tid);
    d->tcls = xmalloc((T ? T : 1) * sizeof *d->tcls);
    d->trow = xmalloc((T ? T : 1) * sizeof *d->trow);
    d->reason = xcalloc(T ? T : 1, sizeof *d->reason);
    d->tbegin = xcalloc(n + 1, sizeof *d->tbegin);
    int rc = 0;
    for (size_t t = 0; t < T && !rc; t++) {
        d->tid[t] = rows[t].example_id, d->tcls[t] = rows[t].class_id;
        memcpy(d->reason[t], rows[t].reason, EXPORT_REASON_LEN);
        if (t > 0 && d->tid[t] < d->tid[t - 1])
            rc = err_set("cannot export '%s': trials are not in example_id order (row %zu: "
                         "%016" PRIx64 " after %016" PRIx64 ")",
                         d->saliency_path, t, d->tid[t], d->tid[t - 1]);
        while (!rc && r < n && d->ex.ids[r] < d->tid[t])
            d->tbegin[++r] = t;
        if (!rc && (r == n || d->ex.ids[r] != d->tid[t]))
            rc = err_set("cannot export '%s': trial row %zu has example_id %016" PRIx64
                         ", which is not in '%s'",
                         d->saliency_path, t, d->tid[t], d->examples_path);
        if (!rc && (d->tcls[t] < 0 || d->tcls[t] >= d->ex.K))
            rc = err_set("cannot export '%s': trial row %zu has class %d of %d",
                         d->saliency_path, t, d->tcls[t], d->ex.K);
        d->trow[t] = r;
    }
    while (r < n)
        d->tbegin[++r] = T;
    free(rows);
    return rc;
}

/* A method name becomes part of a file name: keep it to [A-Za-z0-9_.-]. */
static int method_name_ok(const char *m)
{
    if (!m[0] || m[0] == '.') return 0;
    for (const char *p = m; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return strlen(m) < 128;
}

static int pick_methods(struct export_data *d, const char *const *want, int n)
{
    char **all = NULL;
    size_t n_all = 0;
    int has = h5table_exists(d->sal, "maps");
    if (has <= 0)
        return has < 0 ? -1 : err_set("cannot export '%s': it holds no maps", d->saliency_path);
    if (h5table_list(d->sal, "maps", &all, &n_all)) return -1;
    if (n == 0) {
        d->methods = all, d->n_methods = n_all;
    } else {
        d->methods = xcalloc((size_t)n, sizeof *d->methods);
        for (int i = 0; i < n; i++) {
            size_t m = 0;
            while (m < n_all && strcmp(all[m], want[i]) != 0)
                m++;
            for (int j = 0; j < i; j++)
                if (strcmp(want[j], want[i]) == 0) m = n_all + 1;
            if (m >= n_all) {
                h5table_list_free(all, n_all);
                return err_set("cannot export method '%s': %s%s%s", want[i],
                               m == n_all ? "no such map in '" : "listed twice",
                               m == n_all ? d->saliency_path : "", m == n_all ? "'" : "");
            }
            d->methods[d->n_methods++] = xstrdup(want[i]);
        }
        h5table_list_free(all, n_all);
    }
    d->maps = xcalloc(d->n_methods ? d->n_methods : 1, sizeof *d->maps);
    for (size_t m = 0; m < d->n_methods; m++) {
        char name[256];
        uint64_t dims[H5TABLE_MAX_RANK];
        if (!method_name_ok(d->methods[m]))
            return err_set("cannot export method '%s': not usable in a file name",
                           d->methods[m]);
        snprintf(name, sizeof name, "maps/%s", d->methods[m]);
        d->maps[m] = h5table_stream_open_array(d->sal, name, H5TABLE_F32, 3, dims);
        if (!d->maps[m]) return -1;
        if (dims[0] != d->T || dims[1] != (uint64_t)d->ex.H || dims[2] != (uint64_t)d->ex.W)
            return err_set("cannot export '%s': '%s' is [%" PRIu64 ",%" PRIu64 ",%" PRIu64
                           "], not one %dx%d map per trial (%zu)", d->saliency_path, name,
                           dims[0], dims[1], dims[2], d->ex.H, d->ex.W, d->T);
    }
    return 0;
}

/* ---- scores.h5 --------------------------------------------------------------------------- */

/* Saliency trial row of (id, class), or SIZE_MAX. */
static size_t find_trial(const struct export_data *d, uint64_t id, int32_t k)
{
    size_t r = find_row(d->ex.ids, d->ex.n, id);
    if (r == SIZE_MAX) return SIZE_MAX;
    for (size_t t = d->tbegin[r]; t < d->tbegin[r + 1]; t++)
        if (d->tcls[t] == k) return t;
    return SIZE_MAX;
}

/* One method's metric columns, scattered to saliency trial rows. */
static int read_method_scores(struct export_data *d, struct h5table_file *f,
                              struct export_scores *e, const struct scores_metric_row *mr,
                              size_t n_mr)
{
    char name[128];
    snprintf(name, sizeof name, "trials/%s", e->method);
    const struct h5table_schema ks = {name, sizeof(struct key_row), 2, key_cols};
    struct key_row *keys = NULL;
    size_t n = 0;
    if (h5table_read_table(f, name, &ks, (void **)&keys, &n)) return -1;
    size_t *at = xmalloc((n ? n : 1) * sizeof *at);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if ((at[i] = find_trial(d, keys[i].example_id, keys[i].class_id)) == SIZE_MAX)
            rc = err_set("cannot export with '%s': %s row %zu (example %016" PRIx64 ", class "
                         "%d) is not a trial of '%s'", d->scores_path, name, i,
                         keys[i].example_id, keys[i].class_id, d->saliency_path);
    free(keys);
    for (size_t j = 0; j < n_mr && !rc; j++)
        if (strcmp(mr[j].method, e->method) == 0) e->n_metrics++;
    e->metrics = xcalloc((size_t)e->n_metrics + 1, sizeof *e->metrics);
    e->higher_is_better = xcalloc((size_t)e->n_metrics + 1, 1);
    e->values = xmalloc(((size_t)e->n_metrics * d->T + 1) * sizeof *e->values);
    for (size_t i = 0; i < (size_t)e->n_metrics * d->T; i++)
        e->values[i] = NAN;
    int k = 0;
    for (size_t j = 0; j < n_mr && !rc; j++) {
        if (strcmp(mr[j].method, e->method) != 0) continue;
        double *v = NULL;
        size_t nv = 0;
        e->metrics[k] = xstrdup(mr[j].metric);
        e->higher_is_better[k] = mr[j].higher_is_better < 0 ? -1 : 1;
        rc = scores_read_trial_column(f, e->method, mr[j].metric, &v, &nv);
        if (!rc && nv != n)
            rc = err_set("cannot export with '%s': column %s of %s has %zu rows, not %zu",
                         d->scores_path, mr[j].metric, name, nv, n);
        for (size_t i = 0; i < n && !rc; i++)
            e->values[(size_t)k * d->T + at[i]] = v[i];
        free(v);
        k++;
    }
    free(at);
    return rc;
}

static int open_scores(struct export_data *d, const char *path, uint64_t ex_hash)
{
    d->scores_path = path;
    uint64_t sal_hash;
    if (h5table_content_hash_path(d->saliency_path, &sal_hash)) return -1;
    struct h5table_file *f = h5table_open(path);
    if (!f) return -1;
    struct scores_metric_row *mr = NULL;
    size_t n_mr = 0;
    char **methods = NULL;
    size_t nm = 0;
    int rc = check_input(f, path, "saliency", d->saliency_path, sal_hash) ||
             check_input(f, path, "examples", d->examples_path, ex_hash) ||
             scores_read_metrics(f, &mr, &n_mr) || h5table_list(f, "trials", &methods, &nm);
    if (!rc) d->scores = xcalloc(nm ? nm : 1, sizeof *d->scores);
    for (size_t s = 0; s < nm && !rc; s++) {
        d->scores[s].method = xstrdup(methods[s]);
        d->n_scores++;
        rc = read_method_scores(d, f, &d->scores[s], mr, n_mr);
    }
    free(mr);
    h5table_list_free(methods, nm);
    h5table_close(f);
    return rc ? -1 : 0;
}

int export_data_scores_of(const struct export_data *d, const char *method)
{
    for (size_t s = 0; s < d->n_scores; s++)
        if (strcmp(d->scores[s].method, method) == 0) return (int)s;
    return -1;
}

int export_data_open(struct export_data *d, const char *examples, const char *predictions,
                     const char *saliency, const char *scores, const char *const *methods,
                     int n_methods)
{
    uint64_t ex_hash, model_hash;
    char *model_src = NULL;
    if (h5table_content_hash_path(examples, &ex_hash) || open_examples(d, examples)) return -1;
    d->saliency_path = saliency;
    d->sal = h5table_open(saliency);
    if (!d->sal || check_input(d->sal, saliency, "examples", examples, ex_hash) ||
        h5table_require_input(d->sal, saliency, "model", &model_src, &model_hash))
        return -1;
    int rc = open_predictions(d, predictions, ex_hash, model_hash,
                              model_src ? model_src : "?");
    free(model_src);
    if (rc || read_trials(d) || pick_methods(d, methods, n_methods)) return -1;
    return scores ? open_scores(d, scores, ex_hash) : 0;
}

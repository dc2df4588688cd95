/* scores.h5 tables: schemas of the summary, paired, pointing-game, metric and layer tables, and
 * the per-trial table whose metric columns are only known at run time (a schema built on the
 * fly over a row buffer). See scores.h for the layout. */
#include "formats/scores.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pipeline/err.h"

#define SU(f, t) H5TABLE_COLUMN(struct scores_summary_row, f, t)
static const struct h5table_column summary_cols[] = {
    SU(method, H5TABLE_STR), SU(metric, H5TABLE_STR), SU(mean, H5TABLE_F64),
    SU(std, H5TABLE_F64),    SU(ci_lo, H5TABLE_F64),  SU(ci_hi, H5TABLE_F64),
    SU(n, H5TABLE_I64),      SU(undefined, H5TABLE_I64), SU(level, H5TABLE_F64),
    SU(n_boot, H5TABLE_I32)};
#undef SU
static const struct h5table_schema summary_schema = {
    "summary", sizeof(struct scores_summary_row), 10, summary_cols};

#define PA(f, t) H5TABLE_COLUMN(struct scores_paired_row, f, t)
static const struct h5table_column paired_cols[] = {
    PA(method_a, H5TABLE_STR), PA(method_b, H5TABLE_STR), PA(metric, H5TABLE_STR),
    PA(mean_diff, H5TABLE_F64), PA(std, H5TABLE_F64),    PA(ci_lo, H5TABLE_F64),
    PA(ci_hi, H5TABLE_F64),    PA(n, H5TABLE_I64),       PA(undefined, H5TABLE_I64)};
#undef PA
static const struct h5table_schema paired_schema = {
    "paired", sizeof(struct scores_paired_row), 9, paired_cols};

#define PG(f, t) H5TABLE_COLUMN(struct scores_pointing_row, f, t)
static const struct h5table_column pointing_cols[] = {
    PG(method, H5TABLE_STR),   PG(subset, H5TABLE_STR),     PG(score, H5TABLE_F64),
    PG(hit_rate, H5TABLE_F64), PG(hits, H5TABLE_F64),       PG(misses, H5TABLE_F64),
    PG(undefined, H5TABLE_I64), PG(n_classes, H5TABLE_I32), PG(tolerance, H5TABLE_F64)};
#undef PG
static const struct h5table_schema pointing_schema = {
    "pointing_game", sizeof(struct scores_pointing_row), 9, pointing_cols};

#define PC(f, t) H5TABLE_COLUMN(struct scores_pointing_class_row, f, t)
static const struct h5table_column pointing_class_cols[] = {
    PC(method, H5TABLE_STR),   PC(subset, H5TABLE_STR), PC(class_id, H5TABLE_I32),
    PC(class_name, H5TABLE_STR), PC(hits, H5TABLE_F64), PC(misses, H5TABLE_F64),
    PC(undefined, H5TABLE_I64), PC(accuracy, H5TABLE_F64)};
#undef PC
static const struct h5table_schema pointing_class_schema = {
    "pointing_game_classes", sizeof(struct scores_pointing_class_row), 8, pointing_class_cols};

#define ME(f, t) H5TABLE_COLUMN(struct scores_metric_row, f, t)
static const struct h5table_column metric_cols[] = {
    ME(method, H5TABLE_STR), ME(metric, H5TABLE_STR), ME(family, H5TABLE_STR),
    ME(higher_is_better, H5TABLE_I8), ME(forward_per_trial, H5TABLE_F64),
    ME(backward_per_trial, H5TABLE_F64)};
#undef ME
static const struct h5table_schema metric_schema = {
    "metrics", sizeof(struct scores_metric_row), 6, metric_cols};

#define LA(f, t) H5TABLE_COLUMN(struct scores_layer_row, f, t)
static const struct h5table_column layer_cols[] = {LA(index, H5TABLE_I32),
                                                   LA(layer, H5TABLE_STR)};
#undef LA
static const struct h5table_schema layer_schema = {
    "sanity_layers", sizeof(struct scores_layer_row), 2, layer_cols};

int scores_write_summary(struct h5table_file *f, const struct scores_summary_row *rows, size_t n)
{
    return h5table_write_table(f, "summary", &summary_schema, rows, n);
}

int scores_write_paired(struct h5table_file *f, const struct scores_paired_row *rows, size_t n)
{
    return h5table_write_table(f, "paired", &paired_schema, rows, n);
}

int scores_write_pointing(struct h5table_file *f, const struct scores_pointing_row *rows,
                          size_t n)
{
    return h5table_write_table(f, "pointing_game", &pointing_schema, rows, n);
}

int scores_write_pointing_classes(struct h5table_file *f,
                                  const struct scores_pointing_class_row *rows, size_t n)
{
    return h5table_write_table(f, "pointing_game_classes", &pointing_class_schema, rows, n);
}

int scores_write_metrics(struct h5table_file *f, const struct scores_metric_row *rows, size_t n)
{
    return h5table_write_table(f, "metrics", &metric_schema, rows, n);
}

int scores_write_layers(struct h5table_file *f, const struct scores_layer_row *rows, size_t n)
{
    return h5table_write_table(f, "sanity_layers", &layer_schema, rows, n);
}

int scores_read_summary(struct h5table_file *f, struct scores_summary_row **rows, size_t *n)
{
    return h5table_read_table(f, "summary", &summary_schema, (void **)rows, n);
}

int scores_read_paired(struct h5table_file *f, struct scores_paired_row **rows, size_t *n)
{
    return h5table_read_table(f, "paired", &paired_schema, (void **)rows, n);
}

int scores_read_pointing(struct h5table_file *f, struct scores_pointing_row **rows, size_t *n)
{
    return h5table_read_table(f, "pointing_game", &pointing_schema, (void **)rows, n);
}

int scores_read_metrics(struct h5table_file *f, struct scores_metric_row **rows, size_t *n)
{
    return h5table_read_table(f, "metrics", &metric_schema, (void **)rows, n);
}

int scores_read_pointing_classes(struct h5table_file *f, struct scores_pointing_class_row **rows,
                                 size_t *n)
{
    return h5table_read_table(f, "pointing_game_classes", &pointing_class_schema, (void **)rows,
                              n);
}

int scores_read_layers(struct h5table_file *f, struct scores_layer_row **rows, size_t *n)
{
    return h5table_read_table(f, "sanity_layers", &layer_schema, (void **)rows, n);
}

/* ---- the per-trial table ------------------------------------------------------------------ */

/* Row layout: example_id at 0, class_id at 8, then each column at an offset aligned to its
 * size, in the given order. */
static size_t trial_layout(struct h5table_column *c, const struct scores_column *cols, int ncols)
{
    size_t off = 12;
    c[0] = (struct h5table_column){"example_id", H5TABLE_U64, 0, 8};
    c[1] = (struct h5table_column){"class_id", H5TABLE_I32, 8, 4};
    for (int j = 0; j < ncols; j++) {
        size_t sz = h5table_type_size(cols[j].type);
        off = (off + sz - 1) / sz * sz;
        c[j + 2] = (struct h5table_column){cols[j].name, cols[j].type, off, sz};
        off += sz;
    }
    return (off + 7) / 8 * 8;
}

int scores_write_trials(struct h5table_file *f, const char *method, const uint64_t *ids,
                        const int32_t *classes, size_t T, const struct scores_column *cols,
                        int ncols)
{
    char name[SCORES_METHOD_LEN + 16];
    snprintf(name, sizeof name, "trials/%s", method);
    struct h5table_column *c = calloc((size_t)ncols + 2, sizeof *c);
    if (!c) return err_set("cannot write '%s': out of memory", name);
    for (int j = 0; j < ncols; j++)
        if (h5table_type_size(cols[j].type) == 0) {
            free(c);
            return err_set("cannot write '%s': column '%s' has no numeric type", name,
                           cols[j].name);
        }
    size_t rs = trial_layout(c, cols, ncols);
    unsigned char *rows = calloc(T ? T : 1, rs);
    if (!rows) {
        free(c);
        return err_set("cannot write '%s': out of memory", name);
    }
    for (size_t t = 0; t < T; t++) {
        unsigned char *r = rows + t * rs;
        memcpy(r, &ids[t], 8);
        memcpy(r + 8, &classes[t], 4);
        for (int j = 0; j < ncols; j++) {
            size_t sz = c[j + 2].size;
            memcpy(r + c[j + 2].offset, (const unsigned char *)cols[j].data + t * sz, sz);
        }
    }
    struct h5table_schema s = {"trials", rs, ncols + 2, c};
    int rc = h5table_write_table(f, name, &s, rows, T);
    free(rows);
    free(c);
    return rc;
}

int scores_read_trial_values(struct h5table_file *f, const char *method, const char *column,
                             enum h5table_type type, void **values, size_t *T)
{
    char name[SCORES_METHOD_LEN + 16];
    snprintf(name, sizeof name, "trials/%s", method);
    size_t size = h5table_type_size(type);
    struct h5table_column c = {column, type, 0, size};
    struct h5table_schema s = {"trials", size, 1, &c};
    return h5table_read_table(f, name, &s, values, T);
}

int scores_read_trial_column(struct h5table_file *f, const char *method, const char *column,
                             double **values, size_t *T)
{
    return scores_read_trial_values(f, method, column, H5TABLE_F64, (void **)values, T);
}

/* ---- JSON objects of parameters ----------------------------------------------------------- */

/* The text of a scalar or an array of scalars; NULL (with err_set) otherwise. malloc'd. */
static char *json_text(const cJSON *v, const char *what)
{
    if (!cJSON_IsArray(v)) {
        char *t = cJSON_IsString(v) ? strdup(v->valuestring) : cJSON_PrintUnformatted(v);
        if (!t) err_set("cannot read '%s': out of memory", what);
        return t;
    }
    size_t cap = 2, n = 0;
    char *out = malloc(cap);
    if (!out) {
        err_set("cannot read '%s': out of memory", what);
        return NULL;
    }
    out[0] = '\0';
    for (const cJSON *e = v->child; e; e = e->next) {
        if (cJSON_IsArray(e) || cJSON_IsObject(e)) {
            free(out);
            err_set("cannot read '%s': member '%s' is a nested array", what, v->string);
            return NULL;
        }
        char *t = cJSON_IsString(e) ? strdup(e->valuestring) : cJSON_PrintUnformatted(e);
        size_t k = t ? strlen(t) : 0;
        char *grown = t ? realloc(out, cap + k + 1) : NULL;
        if (!grown) {
            free(t), free(out);
            err_set("cannot read '%s': out of memory", what);
            return NULL;
        }
        out = grown, cap += k + 1;
        n += (size_t)sprintf(out + n, "%s%s", n ? "," : "", t);
        free(t);
    }
    return out;
}

int scores_json_each(const char *json, const char *what,
                     int (*fn)(void *user, const char *key, const char *value), void *user)
{
    cJSON *root = cJSON_Parse(json ? json : "");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set("cannot read '%s': not a JSON object", what);
    }
    int rc = 0;
    for (const cJSON *v = root->child; v && !rc; v = v->next) {
        char *text = json_text(v, what);
        if (!text) {
            rc = -1;
            break;
        }
        rc = fn(user, v->string, text);
        free(text);
    }
    cJSON_Delete(root);
    return rc ? -1 : 0;
}

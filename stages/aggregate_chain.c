/* aggregate: reading one chain directory runs/<evaluation>/<chain>/ into struct agg_chain
 * (tables through formats/, timing records, the exports tree for the report), and the JSON
 * text builder. A chain whose tables are missing or unreadable, or whose stage recorded a
 * non-zero exit code, is kept but marked failed with the first reason. */
#include "stages/aggregate.h"

#include "formats/h5table.h"
#include "pipeline/err.h"
#include "stages/common.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const agg_table_files[AGG_NTABLES] = {"examples.h5", "predictions.h5",
                                                  "saliency.h5", "scores.h5"};

/* ---- JSON text --------------------------------------------------------------------------- */

void agg_buf_init(struct agg_buf *b)
{
    b->cap = 256;
    b->n = 0;
    b->s = xmalloc(b->cap);
    b->s[0] = '\0';
}

void agg_buf_release(struct agg_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

void agg_put(struct agg_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) cli_die("cannot format JSON: %s", strerror(errno));
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * b->cap + (size_t)k + 1;
        b->s = xrealloc(b->s, b->cap);
    }
}

void agg_put_str(struct agg_buf *b, const char *s)
{
    agg_put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') agg_put(b, "\\%c", *p);
        else if (*p < 0x20) agg_put(b, "\\u%04x", *p);
        else agg_put(b, "%c", *p);
    }
    agg_put(b, "\"");
}

void agg_put_num(struct agg_buf *b, double v)
{
    if (isnan(v)) agg_put(b, "NaN");
    else if (isinf(v)) agg_put(b, v > 0 ? "Infinity" : "-Infinity");
    else agg_put(b, "%.17g", v);
}

/* ---- timing records ---------------------------------------------------------------------- */

/* The number after "key": in the JSON text (our own flat format), NaN when absent. */
static double agg_json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) return NAN;
    char *end;
    double v = strtod(p + strlen(pat), &end);
    return end == p + strlen(pat) ? NAN : v;
}

int agg_timing_read(struct agg_timing *t, const char *path)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : err_set("cannot open '%s': %s", path, strerror(errno));
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *argv_at = strstr(buf, "\"argv\""); /* argv strings may hold anything: not searched */
    if (argv_at) *argv_at = '\0';
    double code = agg_json_number(buf, "exit_code");
    t->wall_seconds = agg_json_number(buf, "wall_seconds");
    t->cpu_seconds = agg_json_number(buf, "cpu_seconds");
    t->max_rss_kb = agg_json_number(buf, "max_rss_kb");
    const char *st = strstr(buf, "\"stage\": \"");
    if (isnan(code) || !st)
        return err_set("cannot read timing record '%s': not a stage record", path);
    st += strlen("\"stage\": \"");
    size_t k = 0;
    while (st[k] && st[k] != '"' && k + 1 < sizeof t->stage)
        t->stage[k] = st[k], k++;
    t->exit_code = (int)code;
    t->present = 1;
    return 0;
}

/* ---- chain ------------------------------------------------------------------------------- */

static char *agg_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = xmalloc(na + nb + 2);
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

static int agg_exists(const char *path, int want_dir)
{
    struct stat st;
    return stat(path, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

int agg_chain_dir_has_tables(const char *dir)
{
    int any = 0;
    for (int i = 0; i < AGG_NTABLES && !any; i++) {
        char *p = agg_join(dir, agg_table_files[i]);
        char *t = agg_join(dir, agg_table_files[i]);
        t = xrealloc(t, strlen(t) + sizeof ".time.json");
        strcat(t, ".time.json");
        any = agg_exists(p, 0) || agg_exists(t, 0);
        free(p), free(t);
    }
    return any;
}

static void agg_fail(struct agg_chain *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void agg_fail(struct agg_chain *c, const char *fmt, ...)
{
    if (c->failed) return; /* the first reason is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
    c->failed = 1;
}

static void agg_read_timing(struct agg_chain *c, struct agg_timing *t, const char *out)
{
    char *path = xmalloc(strlen(out) + sizeof ".time.json");
    strcpy(path, out);
    strcat(path, ".time.json");
    if (agg_timing_read(t, path)) agg_fail(c, "%s", err_msg());
    else if (t->present && t->exit_code != 0)
        agg_fail(c, "stage %s exited with status %d (%s)", t->stage, t->exit_code, path);
    free(path);
}

/* Predictions: infer's summary attributes (accuracy + confusion matrix, or mAP). */
static int agg_read_predictions(struct agg_chain *c, struct h5table_file *f)
{
    char *mode = NULL;
    uint64_t n = 0;
    if (h5table_attr_get_str(f, "/", "mode", &mode) ||
        h5table_attr_get_u64(f, "/", "n_examples", &n))
        return -1;
    c->multi_label = strcmp(mode, "multi-label") == 0;
    free(mode);
    c->n_examples = (size_t)n;
    c->accuracy = c->map = c->top1_hit = c->exact_match = NAN;
    int rc = 0;
    if (c->multi_label)
        rc = h5table_attr_get_f64(f, "/", "map", &c->map) ||
             h5table_attr_get_f64(f, "/", "top1_hit", &c->top1_hit) ||
             h5table_attr_get_f64(f, "/", "exact_match", &c->exact_match);
    else
        rc = h5table_attr_get_f64(f, "/", "accuracy", &c->accuracy) ||
             h5table_attr_get_str(f, "/", "confusion_matrix", &c->confusion_json);
    if (rc) return -1;
    c->has_predictions = 1;
    return 0;
}

/* The attack's perturbation table (stages/attack.c): mean norms and success rate. */
struct agg_pert_row {
    int8_t success;
    float linf, l2;
};
#define PT(f, t) H5TABLE_COLUMN(struct agg_pert_row, f, t)
static const struct h5table_column agg_pert_cols[] = {PT(success, H5TABLE_I8),
                                                      PT(linf, H5TABLE_F32), PT(l2, H5TABLE_F32)};
#undef PT
static const struct h5table_schema agg_pert_schema = {"perturbation", sizeof(struct agg_pert_row),
                                                      3, agg_pert_cols};

static int agg_read_perturbation(struct agg_chain *c, struct h5table_file *f)
{
    int has = h5table_exists(f, "perturbation");
    if (has <= 0) return has;
    struct agg_pert_row *rows = NULL;
    size_t n = 0;
    char *kind = NULL;
    if (h5table_read_table(f, "perturbation", &agg_pert_schema, (void **)&rows, &n)) return -1;
    if (h5table_attr_exists(f, "/", "attack") == 1 &&
        h5table_attr_get_str(f, "/", "attack", &kind) == 0) {
        snprintf(c->attack, sizeof c->attack, "%s", kind);
        free(kind);
    }
    double linf = 0, l2 = 0, succ = 0;
    for (size_t i = 0; i < n; i++)
        linf += rows[i].linf, l2 += rows[i].l2, succ += rows[i].success > 0;
    c->linf_mean = n ? linf / (double)n : NAN;
    c->l2_mean = n ? l2 / (double)n : NAN;
    c->success_rate = n ? succ / (double)n : NAN;
    c->n_perturbed = n;
    c->has_perturbation = 1;
    free(rows);
    return 0;
}

/* Mean over rows of an array [T, cols...] flattened to [T, width], skipping non-finite values
 * per column (NaN when no trial has one). */
static double *agg_column_means(const void *data, int is_f32, uint64_t T, size_t width)
{
    double *sum = xcalloc(width ? width : 1, sizeof *sum);
    size_t *cnt = xcalloc(width ? width : 1, sizeof *cnt);
    for (uint64_t t = 0; t < T; t++)
        for (size_t j = 0; j < width; j++) {
            size_t at = (size_t)t * width + j;
            double v = is_f32 ? ((const float *)data)[at] : ((const double *)data)[at];
            if (isfinite(v)) sum[j] += v, cnt[j]++;
        }
    for (size_t j = 0; j < width; j++)
        sum[j] = cnt[j] ? sum[j] / (double)cnt[j] : NAN;
    free(cnt);
    return sum;
}

/* Mean curve of curves/<method>/<kind> (float32 [T, P] or float64 [T, L, 4]); *out NULL when
 * the array is absent. */
static int agg_read_curve(struct h5table_file *f, const char *method, const char *kind,
                          int is_f32, double **out, size_t *width)
{
    char name[160];
    snprintf(name, sizeof name, "curves/%s/%s", method, kind);
    *out = NULL;
    *width = 0;
    int has = h5table_exists(f, name);
    if (has <= 0) return has;
    uint64_t dims[H5TABLE_MAX_RANK];
    void *data = NULL;
    if (h5table_read_array(f, name, is_f32 ? H5TABLE_F32 : H5TABLE_F64, is_f32 ? 2 : 3, dims,
                           &data))
        return -1;
    *width = is_f32 ? (size_t)dims[1] : (size_t)(dims[1] * dims[2]);
    *out = agg_column_means(data, is_f32, dims[0], *width);
    free(data);
    return 0;
}

static struct agg_method *agg_method(struct agg_chain *c, const char *name)
{
    for (size_t i = 0; i < c->nmethods; i++)
        if (strcmp(c->methods[i].name, name) == 0) return &c->methods[i];
    c->methods = xrealloc(c->methods, (c->nmethods + 1) * sizeof *c->methods);
    struct agg_method *m = &c->methods[c->nmethods++];
    memset(m, 0, sizeof *m);
    m->forward_per_trial = m->backward_per_trial = NAN;
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

static int agg_read_scores(struct agg_chain *c, struct h5table_file *f)
{
    if (scores_read_summary(f, &c->summary, &c->nsummary) ||
        scores_read_paired(f, &c->paired, &c->npaired) ||
        scores_read_pointing(f, &c->pointing, &c->npointing) ||
        scores_read_metrics(f, &c->metrics, &c->nmetrics))
        return -1;
    if (h5table_exists(f, "pointing_game_classes") == 1 &&
        scores_read_pointing_classes(f, &c->pclasses, &c->npclasses))
        return -1;
    struct scores_layer_row *layers = NULL;
    size_t nl = 0;
    if (h5table_exists(f, "sanity_layers") == 1 &&
        scores_read_layers(f, &layers, &nl))
        return -1;
    c->layers = xcalloc(nl ? nl : 1, sizeof *c->layers);
    for (size_t i = 0; i < nl; i++)
        memcpy(c->layers[i], layers[i].layer, SCORES_NAME_LEN);
    c->nlayers = nl;
    free(layers);
    for (size_t i = 0; i < c->nsummary; i++)
        agg_method(c, c->summary[i].method);
    for (size_t i = 0; i < c->nmethods; i++) {
        struct agg_method *m = &c->methods[i];
        size_t w0 = 0, w1 = 0;
        if (agg_read_curve(f, m->name, "deletion", 1, &m->deletion, &m->ndeletion) ||
            agg_read_curve(f, m->name, "insertion", 1, &m->insertion, &m->ninsertion) ||
            agg_read_curve(f, m->name, "sanity_cascading", 0, &m->sanity[0], &w0) ||
            agg_read_curve(f, m->name, "sanity_independent", 0, &m->sanity[1], &w1))
            return -1;
        if ((m->sanity[0] && w0 != c->nlayers * 4) || (m->sanity[1] && w1 != c->nlayers * 4))
            return err_set("cannot read 'curves/%s/sanity_*' in '%s': %zu layers in "
                           "sanity_layers, arrays disagree", m->name, h5table_path(f),
                           c->nlayers);
    }
    c->has_scores = 1;
    return 0;
}

/* Each saliency method's cost (attributes of maps/<method>; its parameters are in the
 * provenance's method_params already). */
static int agg_read_saliency(struct agg_chain *c, struct h5table_file *f)
{
    char **names = NULL;
    size_t n = 0;
    if (h5table_exists(f, "maps") != 1) return 0;
    if (h5table_list(f, "maps", &names, &n)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char obj[160];
        snprintf(obj, sizeof obj, "maps/%s", names[i]);
        struct agg_method *m = agg_method(c, names[i]);
        if (!rc && h5table_attr_exists(f, obj, "forward_passes_per_trial") == 1)
            rc = h5table_attr_get_f64(f, obj, "forward_passes_per_trial", &m->forward_per_trial);
        if (!rc && h5table_attr_exists(f, obj, "backward_passes_per_trial") == 1)
            rc = h5table_attr_get_f64(f, obj, "backward_passes_per_trial",
                                      &m->backward_per_trial);
    }
    h5table_list_free(names, n);
    return rc;
}

static int agg_read_table(struct agg_chain *c, int k, struct h5table_file *f)
{
    struct agg_table *t = &c->t[k];
    if (h5table_read_provenance(f, &t->prov) || h5table_content_hash(f, &t->hash)) return -1;
    snprintf(t->stage, sizeof t->stage, "%s", t->prov.stage);
    t->readable = 1;
    switch (k) {
    case AGG_EXAMPLES: return agg_read_perturbation(c, f);
    case AGG_PREDICTIONS: return agg_read_predictions(c, f);
    case AGG_SALIENCY: return agg_read_saliency(c, f);
    default: return agg_read_scores(c, f);
    }
}

int agg_chain_load(struct agg_chain *c, const char *run_dir, const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = xstrdup(name);
    c->dir = agg_join(run_dir, name);
    c->accuracy = c->map = c->top1_hit = c->exact_match = NAN;
    for (int k = 0; k < AGG_NTABLES; k++) {
        struct agg_table *t = &c->t[k];
        h5table_provenance_init(&t->prov);
        t->path = agg_join(c->dir, agg_table_files[k]);
        agg_read_timing(c, &t->time, t->path);
        t->present = agg_exists(t->path, 0);
        if (!t->present) {
            agg_fail(c, "missing table '%s'", t->path);
            continue;
        }
        struct h5table_file *f = h5table_open(t->path);
        if (!f || agg_read_table(c, k, f)) agg_fail(c, "%s", err_msg());
        if (f && h5table_close(f)) agg_fail(c, "%s", err_msg());
    }
    char *ex = agg_join(c->dir, "exports");
    agg_read_timing(c, &c->export_time, ex);
    if (agg_exists(ex, 1)) c->exports_dir = ex;
    else free(ex);
    return 0;
}

void agg_chain_release(struct agg_chain *c)
{
    if (!c) return;
    for (int k = 0; k < AGG_NTABLES; k++) {
        free(c->t[k].path);
        h5table_provenance_release(&c->t[k].prov);
    }
    for (size_t i = 0; i < c->nmethods; i++) {
        struct agg_method *m = &c->methods[i];
        free(m->deletion), free(m->insertion);
        free(m->sanity[0]), free(m->sanity[1]);
    }
    free(c->methods);
    free(c->summary), free(c->paired), free(c->pointing), free(c->pclasses), free(c->metrics);
    free(c->layers);
    free(c->confusion_json);
    free(c->exports_dir);
    free(c->name), free(c->dir);
    memset(c, 0, sizeof *c);
}

int agg_chain_direction(const struct agg_chain *c, const char *method, const char *metric)
{
    return report_direction(c->metrics, c->nmetrics, method, metric);
}

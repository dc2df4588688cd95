/* The score stage's aggregate tables: per (method, metric) summaries with seeded bootstrap
 * intervals (and per sanity-check layer), paired comparisons of every two methods on the same
 * trials, TorchRay's pointing-game accounting, the metric descriptions, and the aligned summary
 * printed on stdout. Each bootstrap stream is keyed by a hash of the names it summarises, so a
 * row does not depend on which other methods or metrics were scored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/scores.h"
#include "pipeline/stats.h"
#include "stages/common.h"
#include "stages/score_run.h"

/* FNV-1a 64 of up to three NUL-separated names: the bootstrap stream of a row. */
static uint64_t name_hash(const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 3 && parts[i]; i++)
        for (const unsigned char *p = (const unsigned char *)parts[i];; p++) {
            h = (h ^ *p) * 0x100000001b3ULL;
            if (!*p) break;
        }
    return h;
}

static void summary_row(struct scores_summary_row *row, const struct score_config *c,
                        const char *method, const char *metric, const double *x, size_t T,
                        void *scratch)
{
    struct stats_boot boot = {c->seed, name_hash(method, metric, NULL), c->n_boot, c->level};
    struct stats_summary s;
    stats_summarize(&s, x, T, &boot, scratch);
    memset(row, 0, sizeof *row);
    snprintf(row->method, sizeof row->method, "%s", method);
    snprintf(row->metric, sizeof row->metric, "%s", metric);
    row->mean = s.mean, row->std = s.std, row->ci_lo = s.ci_lo, row->ci_hi = s.ci_hi;
    row->n = s.n, row->undefined = s.undefined, row->level = c->level, row->n_boot = c->n_boot;
}

/* Trials column j summarises: the metrics that re-run the model or the method score a prefix
 * (--rerun-limit); the trials after it are not scored, not undefined. */
static size_t col_trials(const struct score_results *r, int j)
{
    return score_metric_reruns(r->cols[j].metric) ? r->T_rerun : r->T;
}

static const char *const sim_names[4] = {"spearman_abs", "spearman_signed", "ssim", "hog"};

/* Rows of one method's sanity curves: one per (mode, layer, similarity). */
static size_t sanity_rows(struct scores_summary_row *rows, const struct score_results *r,
                          const struct score_config *c, const struct score_method_result *m,
                          double *tmp, void *scratch)
{
    size_t n = 0, L = (size_t)r->n_layers;
    for (int mode = 0; mode < 2; mode++) {
        if (!m->sanity[mode]) continue;
        for (size_t l = 0; l < L; l++)
            for (int k = 0; k < 4; k++) {
                char metric[SCORES_METRIC_LEN];
                snprintf(metric, sizeof metric, "sanity_check.%s.%s.%s",
                         mode ? "independent" : "cascading", r->layers[l], sim_names[k]);
                for (size_t t = 0; t < r->T_rerun; t++)
                    tmp[t] = m->sanity[mode][(t * L + l) * 4 + (size_t)k];
                summary_row(&rows[n++], c, m->name, metric, tmp, r->T_rerun, scratch);
            }
    }
    return n;
}

static void paired_rows(struct score_results *r, const struct score_config *c, void *scratch)
{
    size_t M = (size_t)r->n_methods, n = 0;
    r->paired = xcalloc(M > 1 ? M * (M - 1) / 2 * (size_t)r->ncols : 1, sizeof *r->paired);
    for (size_t a = 0; c->paired && a < M; a++)
        for (size_t b = a + 1; b < M; b++)
            for (int j = 0; j < r->ncols; j++) {
                const char *ma = r->m[a].name, *mb = r->m[b].name, *col = r->cols[j].name;
                struct stats_boot boot = {c->seed, name_hash(ma, mb, col), c->n_boot, c->level};
                struct stats_summary s;
                stats_paired(&s, r->m[a].vals[j], r->m[b].vals[j], col_trials(r, j), &boot,
                             scratch);
                struct scores_paired_row *p = &r->paired[n++];
                snprintf(p->method_a, sizeof p->method_a, "%s", ma);
                snprintf(p->method_b, sizeof p->method_b, "%s", mb);
                snprintf(p->metric, sizeof p->metric, "%s", col);
                p->mean_diff = s.mean, p->std = s.std, p->ci_lo = s.ci_lo, p->ci_hi = s.ci_hi;
                p->n = s.n, p->undefined = s.undefined;
            }
    r->n_paired = n;
}

void score_summarise(struct score_results *r, const struct score_config *c)
{
    size_t M = (size_t)r->n_methods, per = (size_t)r->ncols + 8 * (size_t)r->n_layers;
    void *scratch = xmalloc(stats_summary_scratch_bytes(r->T, c->n_boot));
    double *tmp = xmalloc((r->T ? r->T : 1) * sizeof *tmp);
    r->summary = xcalloc(M * per > 0 ? M * per : 1, sizeof *r->summary);
    size_t n = 0;
    for (size_t i = 0; i < M; i++) {
        const struct score_method_result *m = &r->m[i];
        for (int j = 0; j < r->ncols; j++)
            summary_row(&r->summary[n++], c, m->name, r->cols[j].name, m->vals[j],
                        col_trials(r, j), scratch);
        n += sanity_rows(&r->summary[n], r, c, m, tmp, scratch);
    }
    r->n_summary = n;
    paired_rows(r, c, scratch);
    free(scratch);
    free(tmp);
}

/* ---- tables --------------------------------------------------------------------------------- */

static void pointing_rows(const struct score_results *r, const struct score_data *d,
                          struct scores_pointing_row *rows,
                          struct scores_pointing_class_row *cls)
{
    static const char *const subsets[2] = {"all", "difficult"};
    size_t n = 0, nc = 0;
    for (int i = 0; i < r->n_methods; i++)
        for (int s = 0; s < 2; s++) {
            const struct metrics_pointing_counts *pg = r->m[i].pg[s];
            struct scores_pointing_row *p = &rows[n++];
            memset(p, 0, sizeof *p);
            snprintf(p->method, sizeof p->method, "%s", r->m[i].name);
            snprintf(p->subset, sizeof p->subset, "%s", subsets[s]);
            p->score = metrics_pointing_mean_accuracy(pg, r->K);
            p->hit_rate = metrics_pointing_hit_rate(pg, r->K);
            p->n_classes = r->K, p->tolerance = r->tolerance;
            for (int k = 0; k < r->K; k++) {
                struct scores_pointing_class_row *q = &cls[nc++];
                memset(q, 0, sizeof *q);
                p->hits += pg[k].hits, p->misses += pg[k].misses, p->undefined += pg[k].undefined;
                snprintf(q->method, sizeof q->method, "%s", r->m[i].name);
                snprintf(q->subset, sizeof q->subset, "%s", subsets[s]);
                q->class_id = k;
                snprintf(q->class_name, sizeof q->class_name, "%s", d->class_names[k]);
                q->hits = pg[k].hits, q->misses = pg[k].misses, q->undefined = pg[k].undefined;
                q->accuracy = metrics_pointing_class_accuracy(&pg[k]);
            }
        }
}

static int write_pointing(const struct score_results *r, const struct score_data *d,
                          struct h5table_file *out)
{
    size_t n = 2 * (size_t)r->n_methods;
    struct scores_pointing_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    size_t ncls = n * (size_t)r->K;
    struct scores_pointing_class_row *cls = xcalloc(ncls > 0 ? ncls : 1, sizeof *cls);
    pointing_rows(r, d, rows, cls);
    int rc = scores_write_pointing(out, rows, n) ||
             scores_write_pointing_classes(out, cls, n * (size_t)r->K);
    free(rows);
    free(cls);
    return rc ? -1 : 0;
}

static int write_metrics(const struct score_results *r, struct h5table_file *out)
{
    size_t n = (size_t)r->n_methods * (size_t)r->ncols, k = 0;
    struct scores_metric_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    for (int i = 0; i < r->n_methods; i++)
        for (int j = 0; j < r->ncols; j++) {
            const struct score_metric_info *mi = score_metric_info(r->cols[j].metric);
            struct scores_metric_row *q = &rows[k++];
            snprintf(q->method, sizeof q->method, "%s", r->m[i].name);
            snprintf(q->metric, sizeof q->metric, "%s", r->cols[j].name);
            snprintf(q->family, sizeof q->family, "%s", mi->family);
            q->higher_is_better = (int8_t)mi->higher_is_better;
            q->forward_per_trial = r->m[i].fwd[r->cols[j].metric];
            q->backward_per_trial = r->m[i].bwd[r->cols[j].metric];
        }
    int rc = scores_write_metrics(out, rows, n);
    free(rows);
    return rc;
}

int score_write_tables(const struct score_results *r, const struct score_config *c,
                       const struct score_data *d, struct h5table_file *out)
{
    if (scores_write_summary(out, r->summary, r->n_summary) ||
        scores_write_paired(out, r->paired, r->n_paired) || write_metrics(r, out))
        return -1;
    if (c->want[SCORE_POINTING_GAME] && write_pointing(r, d, out)) return -1;
    if (!c->want[SCORE_SANITY_CHECK]) return 0;
    struct scores_layer_row *rows = xcalloc((size_t)r->n_layers, sizeof *rows);
    for (int l = 0; l < r->n_layers; l++) {
        rows[l].index = l;
        snprintf(rows[l].layer, sizeof rows[l].layer, "%s", r->layers[l]);
    }
    int rc = scores_write_layers(out, rows, (size_t)r->n_layers);
    free(rows);
    return rc;
}

/* ---- stdout ----------------------------------------------------------------------------- */

static int is_column(const struct score_results *r, const char *metric)
{
    for (int j = 0; j < r->ncols; j++)
        if (strcmp(r->cols[j].name, metric) == 0) return 1;
    return 0;
}

void score_print_summary(const struct score_results *r, const struct score_config *c)
{
    int wm = 6, wx = 6;
    for (size_t i = 0; i < r->n_summary; i++) {
        const struct scores_summary_row *s = &r->summary[i];
        if (!is_column(r, s->metric)) continue;
        wm = (int)strlen(s->method) > wm ? (int)strlen(s->method) : wm;
        wx = (int)strlen(s->metric) > wx ? (int)strlen(s->metric) : wx;
    }
    printf("%-*s  %-*s  %10s  %10s  %23s  %7s  %9s\n", wm, "method", wx, "metric", "mean", "std",
           "95% CI", "n", "undefined");
    for (size_t i = 0; i < r->n_summary; i++) {
        const struct scores_summary_row *s = &r->summary[i];
        if (!is_column(r, s->metric)) continue;
        char ci[64];
        snprintf(ci, sizeof ci, "[%.4f, %.4f]", s->ci_lo, s->ci_hi);
        printf("%-*s  %-*s  %10.4f  %10.4f  %23s  %7lld  %9lld\n", wm, s->method, wx, s->metric,
               s->mean, s->std, ci, (long long)s->n, (long long)s->undefined);
    }
    if (!c->want[SCORE_POINTING_GAME]) return;
    printf("\npointing game (TorchRay: mean per-class accuracy over all %d classes, tolerance "
           "%.4g px)\n%-*s  %10s  %10s  %10s\n",
           r->K, r->tolerance, wm, "method", "all", "difficult", "hit_rate");
    for (int i = 0; i < r->n_methods; i++)
        printf("%-*s  %10.4f  %10.4f  %10.4f\n", wm, r->m[i].name,
               metrics_pointing_mean_accuracy(r->m[i].pg[0], r->K),
               metrics_pointing_mean_accuracy(r->m[i].pg[1], r->K),
               metrics_pointing_hit_rate(r->m[i].pg[0], r->K));
}

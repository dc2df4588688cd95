/* aggregate: the MLflow runs of one pipeline run, per the design note in formats/mlflowstore.h:
 * a parent run (global params, description, total and aggregate system metrics, the whole
 * report) and one nested run per chain (stage params from provenance, metrics, curves, system
 * metrics from timing records, artifacts). Runs found by tag salbench.pipeline_run_id are
 * rewritten in place; chain runs of that parent that no longer exist are removed. */
#include "stages/aggregate.h"

#include "formats/mlflowstore.h"
#include "pipeline/err.h"
#include "stages/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Key buffers: parts are cut to 100 bytes (user params 200), so every key built here stays
 * within MLflow's 250; the buffers are larger only to keep snprintf's analysis quiet. */
#define AGG_KEY_MAX 512
#define AGG_PART_MAX 208

/* A part of a key from user data: sanitised, with '/' replaced so it cannot nest. */
static void agg_part(char *out, size_t cap, const char *in)
{
    mlflowstore_key_sanitise(out, cap, in);
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '_';
}

/* "<a>/<b><suffix>" from user-data parts a and b. */
static void agg_key(char out[AGG_KEY_MAX], const char *a, const char *b, const char *suffix)
{
    char pa[AGG_PART_MAX], pb[AGG_PART_MAX];
    agg_part(pa, 100, a);
    agg_part(pb, 100, b);
    snprintf(out, AGG_KEY_MAX, "%s/%s%s", pa, pb, suffix);
}

struct agg_sys {
    double wall, cpu, peak_mb;
    int any;
};

static void agg_sys_add(struct agg_sys *s, const struct agg_timing *t)
{
    if (!t->present) return;
    s->wall += isfinite(t->wall_seconds) ? t->wall_seconds : 0;
    s->cpu += isfinite(t->cpu_seconds) ? t->cpu_seconds : 0;
    if (isfinite(t->max_rss_kb)) s->peak_mb = fmax(s->peak_mb, t->max_rss_kb / 1024.0);
    s->any = 1;
}

static int agg_sys_log(struct mlflowstore_run_writer *w, const char *stage,
                       const struct agg_sys *s, int64_t ts)
{
    char k[AGG_KEY_MAX], part[AGG_PART_MAX];
    if (!s->any) return 0;
    agg_part(part, 100, stage);
    snprintf(k, sizeof k, "system/%s/wall_seconds", part);
    if (mlflowstore_run_metric(w, k, s->wall, ts, 0)) return -1;
    snprintf(k, sizeof k, "system/%s/cpu_seconds", part);
    if (mlflowstore_run_metric(w, k, s->cpu, ts, 0)) return -1;
    snprintf(k, sizeof k, "system/%s/peak_memory_megabytes", part);
    return mlflowstore_run_metric(w, k, s->peak_mb, ts, 0);
}

/* ---- chain run --------------------------------------------------------------------------- */

static int agg_chain_params(struct mlflowstore_run_writer *w, const struct agg_chain *c)
{
    for (int k = 0; k < AGG_NTABLES; k++) {
        const struct agg_table *t = &c->t[k];
        if (!t->readable) continue;
        char pre[AGG_PART_MAX], key[AGG_KEY_MAX], hex[17];
        agg_part(pre, 100, t->stage);
        snprintf(key, sizeof key, "%s.version", pre);
        if (mlflowstore_run_param(w, key, t->prov.version) ||
            mlflowstore_run_params_json(w, pre, t->prov.params))
            return -1;
        snprintf(key, sizeof key, "%s.input", pre);
        if (mlflowstore_run_params_json(w, key, t->prov.inputs)) return -1;
        snprintf(key, sizeof key, "%s.output.%s", pre, agg_table_files[k]);
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)t->hash);
        if (mlflowstore_run_param(w, key, hex)) return -1;
    }
    return 0;
}

static int agg_summary_metrics(struct mlflowstore_run_writer *w, const struct agg_chain *c,
                               int64_t ts)
{
    char k[AGG_KEY_MAX];
    for (size_t i = 0; i < c->nsummary; i++) {
        const struct scores_summary_row *r = &c->summary[i];
        static const char *const sfx[] = {"", ".std", ".ci_lo", ".ci_hi", ".n", ".undefined"};
        const double v[] = {r->mean, r->std, r->ci_lo, r->ci_hi, (double)r->n,
                            (double)r->undefined};
        for (int j = 0; j < 6; j++) {
            agg_key(k, r->metric, r->method, sfx[j]);
            if (mlflowstore_run_metric(w, k, v[j], ts, 0)) return -1;
        }
    }
    for (size_t i = 0; i < c->npointing; i++) {
        const struct scores_pointing_row *r = &c->pointing[i];
        agg_key(k, strcmp(r->subset, "all") ? "pointing_game_torchray_difficult"
                                            : "pointing_game_torchray", r->method, "");
        if (mlflowstore_run_metric(w, k, r->score, ts, 0)) return -1;
    }
    return 0;
}

static int agg_curve_metrics(struct mlflowstore_run_writer *w, const struct agg_chain *c,
                             int64_t ts)
{
    static const char *const sim[4] = {"spearman_abs", "spearman_signed", "ssim", "hog"};
    char k[AGG_KEY_MAX], name[64];
    for (size_t i = 0; i < c->nmethods; i++) {
        const struct agg_method *m = &c->methods[i];
        /* the method's cost as attribute recorded it (score's metrics table has it too) */
        agg_key(k, "forward_passes_per_trial", m->name, "");
        if (isfinite(m->forward_per_trial) &&
            mlflowstore_run_metric(w, k, m->forward_per_trial, ts, 0))
            return -1;
        agg_key(k, "backward_passes_per_trial", m->name, "");
        if (isfinite(m->backward_per_trial) &&
            mlflowstore_run_metric(w, k, m->backward_per_trial, ts, 0))
            return -1;
        agg_key(k, "deletion_curve", m->name, "");
        if (m->deletion &&
            mlflowstore_run_metric_curve(w, k, m->deletion, NULL, m->ndeletion, ts))
            return -1;
        agg_key(k, "insertion_curve", m->name, "");
        if (m->insertion &&
            mlflowstore_run_metric_curve(w, k, m->insertion, NULL, m->ninsertion, ts))
            return -1;
        for (int mode = 0; mode < 2; mode++) {
            if (!m->sanity[mode] || !c->nlayers) continue;
            double *v = xmalloc(c->nlayers * sizeof *v);
            for (int s = 0; s < 4; s++) {
                for (size_t l = 0; l < c->nlayers; l++)
                    v[l] = m->sanity[mode][l * 4 + (size_t)s];
                snprintf(name, sizeof name, "sanity_%s_%s",
                         mode ? "independent" : "cascading", sim[s]);
                agg_key(k, name, m->name, "");
                if (mlflowstore_run_metric_curve(w, k, v, NULL, c->nlayers, ts)) {
                    free(v);
                    return -1;
                }
            }
            free(v);
        }
    }
    return 0;
}

static int agg_chain_metrics(struct mlflowstore_run_writer *w, const struct agg_chain *c,
                             int64_t ts)
{
    if (c->has_predictions) {
        double acc = c->multi_label ? c->top1_hit : c->accuracy;
        if (mlflowstore_run_metric(w, "accuracy", acc, ts, 0) ||
            (c->multi_label && (mlflowstore_run_metric(w, "map", c->map, ts, 0) ||
                                mlflowstore_run_metric(w, "exact_match", c->exact_match, ts, 0))))
            return -1;
    }
    if (c->has_perturbation &&
        (mlflowstore_run_metric(w, "attack/success_rate", c->success_rate, ts, 0) ||
         mlflowstore_run_metric(w, "attack/linf_mean", c->linf_mean, ts, 0) ||
         mlflowstore_run_metric(w, "attack/l2_mean", c->l2_mean, ts, 0)))
        return -1;
    if (agg_summary_metrics(w, c, ts) || agg_curve_metrics(w, c, ts)) return -1;
    for (int k = 0; k < AGG_NTABLES; k++) {
        const struct agg_timing *t = &c->t[k].time;
        struct agg_sys s = {0, 0, 0, 0};
        agg_sys_add(&s, t);
        if (agg_sys_log(w, t->stage[0] ? t->stage : c->t[k].stage, &s, ts)) return -1;
    }
    struct agg_sys s = {0, 0, 0, 0};
    agg_sys_add(&s, &c->export_time);
    return agg_sys_log(w, c->export_time.stage[0] ? c->export_time.stage : "export", &s, ts);
}

/* metrics/<name>.txt artifacts: Armory's JSON shapes (a bare number, nested lists, rows). */
static int agg_chain_json(struct mlflowstore_run_writer *w, const struct agg_chain *c)
{
    struct agg_buf b;
    int rc = 0;
    agg_buf_init(&b);
    if (c->has_predictions) {
        agg_put_num(&b, c->multi_label ? c->top1_hit : c->accuracy);
        rc = mlflowstore_run_artifact_json(w, "metrics/accuracy.txt", b.s);
        if (!rc && c->confusion_json)
            rc = mlflowstore_run_artifact_json(w, "metrics/confusion_matrix.txt", c->confusion_json);
    }
    if (!rc && c->has_scores) {
        b.n = 0;
        agg_put(&b, "[");
        for (size_t i = 0; i < c->nsummary; i++) {
            const struct scores_summary_row *r = &c->summary[i];
            agg_put(&b, "%s{\"method\": ", i ? ", " : "");
            agg_put_str(&b, r->method);
            agg_put(&b, ", \"metric\": ");
            agg_put_str(&b, r->metric);
            agg_put(&b, ", \"higher_is_better\": %d, \"mean\": ",
                    agg_chain_direction(c, r->method, r->metric));
            agg_put_num(&b, r->mean), agg_put(&b, ", \"std\": "), agg_put_num(&b, r->std);
            agg_put(&b, ", \"ci_lo\": "), agg_put_num(&b, r->ci_lo);
            agg_put(&b, ", \"ci_hi\": "), agg_put_num(&b, r->ci_hi);
            agg_put(&b, ", \"level\": "), agg_put_num(&b, r->level);
            agg_put(&b, ", \"n\": %lld, \"undefined\": %lld}", (long long)r->n,
                    (long long)r->undefined);
        }
        agg_put(&b, "]");
        rc = mlflowstore_run_artifact_json(w, "metrics/summary.txt", b.s);
        b.n = 0;
        agg_put(&b, "[");
        for (size_t i = 0; i < c->npaired && !rc; i++) {
            const struct scores_paired_row *r = &c->paired[i];
            agg_put(&b, "%s{\"method_a\": ", i ? ", " : "");
            agg_put_str(&b, r->method_a), agg_put(&b, ", \"method_b\": ");
            agg_put_str(&b, r->method_b), agg_put(&b, ", \"metric\": ");
            agg_put_str(&b, r->metric), agg_put(&b, ", \"mean_diff\": ");
            agg_put_num(&b, r->mean_diff), agg_put(&b, ", \"std\": "), agg_put_num(&b, r->std);
            agg_put(&b, ", \"ci_lo\": "), agg_put_num(&b, r->ci_lo);
            agg_put(&b, ", \"ci_hi\": "), agg_put_num(&b, r->ci_hi);
            agg_put(&b, ", \"n\": %lld, \"undefined\": %lld}", (long long)r->n,
                    (long long)r->undefined);
        }
        agg_put(&b, "]");
        if (!rc) rc = mlflowstore_run_artifact_json(w, "metrics/paired.txt", b.s);
        b.n = 0;
        agg_put(&b, "[");
        for (size_t i = 0; i < c->npointing; i++) {
            const struct scores_pointing_row *r = &c->pointing[i];
            agg_put(&b, "%s{\"method\": ", i ? ", " : "");
            agg_put_str(&b, r->method), agg_put(&b, ", \"subset\": ");
            agg_put_str(&b, r->subset), agg_put(&b, ", \"score\": "), agg_put_num(&b, r->score);
            agg_put(&b, ", \"hit_rate\": "), agg_put_num(&b, r->hit_rate);
            agg_put(&b, ", \"hits\": "), agg_put_num(&b, r->hits);
            agg_put(&b, ", \"misses\": "), agg_put_num(&b, r->misses);
            agg_put(&b, ", \"undefined\": %lld, \"n_classes\": %d, \"tolerance\": ",
                    (long long)r->undefined, r->n_classes);
            agg_put_num(&b, r->tolerance), agg_put(&b, "}");
        }
        agg_put(&b, "]");
        if (!rc) rc = mlflowstore_run_artifact_json(w, "metrics/pointing_game.txt", b.s);
        b.n = 0;
        agg_put(&b, "[");
        for (size_t i = 0; i < c->npclasses; i++) {
            const struct scores_pointing_class_row *r = &c->pclasses[i];
            agg_put(&b, "%s{\"method\": ", i ? ", " : "");
            agg_put_str(&b, r->method), agg_put(&b, ", \"subset\": ");
            agg_put_str(&b, r->subset), agg_put(&b, ", \"class_id\": %d, \"class_name\": ",
                                                r->class_id);
            agg_put_str(&b, r->class_name), agg_put(&b, ", \"hits\": "), agg_put_num(&b, r->hits);
            agg_put(&b, ", \"misses\": "), agg_put_num(&b, r->misses);
            agg_put(&b, ", \"undefined\": %lld, \"accuracy\": ", (long long)r->undefined);
            agg_put_num(&b, r->accuracy), agg_put(&b, "}");
        }
        agg_put(&b, "]");
        if (!rc) rc = mlflowstore_run_artifact_json(w, "metrics/pointing_game_classes.txt", b.s);
    }
    if (!rc && c->has_perturbation) {
        b.n = 0;
        agg_put(&b, "{\"attack\": ");
        agg_put_str(&b, c->attack);
        agg_put(&b, ", \"n\": %zu, \"success_rate\": ", c->n_perturbed);
        agg_put_num(&b, c->success_rate), agg_put(&b, ", \"linf_mean\": ");
        agg_put_num(&b, c->linf_mean), agg_put(&b, ", \"l2_mean\": ");
        agg_put_num(&b, c->l2_mean), agg_put(&b, "}");
        rc = mlflowstore_run_artifact_json(w, "metrics/attack.txt", b.s);
    }
    agg_buf_release(&b);
    return rc;
}

static int agg_chain_run(struct mlflowstore *s, const struct agg_options *o,
                         const struct agg_chain *c, const char *exp, const char *parent,
                         const char *html, size_t nhtml, int64_t ts)
{
    const char *kv[] = {"salbench.pipeline_run_id", o->pipeline_run_id, "mlflow.parentRunId",
                        parent, "salbench.chain", c->name};
    char id[MLFLOWSTORE_ID_MAX];
    int found = mlflowstore_find_run(s->root, exp, kv, 3, 0, id);
    if (found < 0) return -1;
    struct mlflowstore_run_writer w;
    if (mlflowstore_run_begin(&w, s, exp, found ? id : NULL, c->name, ts)) return -1;
    int rc = mlflowstore_run_tag(&w, "mlflow.parentRunId", parent) ||
             mlflowstore_run_tag(&w, "salbench.pipeline_run_id", o->pipeline_run_id) ||
             mlflowstore_run_tag(&w, "salbench.chain", c->name) ||
             mlflowstore_run_tag(&w, "salbench.version", SALBENCH_VERSION) ||
             (c->failed && mlflowstore_run_tag(&w, "salbench.failure", c->reason)) ||
             agg_chain_params(&w, c) || agg_chain_metrics(&w, c, ts) || agg_chain_json(&w, c) ||
             (c->exports_dir && mlflowstore_run_artifact_tree(&w, "exports", c->exports_dir)) ||
             (c->has_scores &&
              mlflowstore_run_artifact_file(&w, "tables/scores.h5", c->t[AGG_SCORES].path)) ||
             mlflowstore_run_artifact_data(&w, "report.html", html, nhtml);
    if (rc) {
        mlflowstore_run_abort(&w);
        return -1;
    }
    return mlflowstore_run_commit(&w, c->failed ? MLFLOWSTORE_FAILED : MLFLOWSTORE_FINISHED,
                                  mlflowstore_now_ms());
}

/* ---- parent run -------------------------------------------------------------------------- */

/* Comma-joined distinct values of a summary field over all chains (methods, metrics). */
static char *agg_distinct(const struct agg_chain *chains, size_t n, int metric)
{
    struct agg_buf b;
    agg_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < chains[i].nsummary; j++) {
            const char *v = metric ? chains[i].summary[j].metric : chains[i].summary[j].method;
            size_t len = strlen(v);
            int seen = 0;
            for (const char *p = b.s; !seen && (p = strstr(p, v)); p += len)
                seen = (p == b.s || p[-1] == ',') && (p[len] == ',' || !p[len]);
            if (!seen) agg_put(&b, "%s%s", b.n ? "," : "", v);
        }
    return b.s;
}

static int agg_user_param(const struct agg_options *o, const char *key)
{
    for (size_t i = 0; i < o->nparams; i++)
        if (strcmp(o->param_keys[i], key) == 0) return 1;
    return 0;
}

static int agg_parent_params(struct mlflowstore_run_writer *w, const struct agg_options *o,
                             const struct agg_chain *chains, size_t n)
{
    char k[AGG_KEY_MAX], part[AGG_PART_MAX];
    if (mlflowstore_run_param(w, "evaluation.name", o->evaluation) ||
        mlflowstore_run_param(w, "salbench.version", SALBENCH_VERSION))
        return -1;
    for (size_t i = 0; i < o->nparams; i++) {
        agg_part(part, 201, o->param_keys[i]);
        snprintf(k, sizeof k, "evaluation.%s", part);
        if (mlflowstore_run_param(w, k, o->param_values[i])) return -1;
    }
    struct agg_buf b;
    agg_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        agg_put(&b, "%s%s", i ? "," : "", chains[i].name);
    int rc = !agg_user_param(o, "chains") && mlflowstore_run_param(w, "evaluation.chains", b.s);
    agg_buf_release(&b);
    for (int m = 0; m < 2 && !rc; m++) {
        char *v = agg_distinct(chains, n, m);
        if (*v && !agg_user_param(o, m ? "metrics" : "methods"))
            rc = mlflowstore_run_param(w, m ? "evaluation.metrics" : "evaluation.methods", v);
        free(v);
    }
    return rc ? -1 : 0;
}

static int agg_parent_metrics(struct mlflowstore_run_writer *w, const struct agg_chain *chains,
                              size_t n, int64_t ts)
{
    struct agg_sys total = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < AGG_NTABLES; k++)
            agg_sys_add(&total, &chains[i].t[k].time);
        agg_sys_add(&total, &chains[i].export_time);
    }
    struct rusage ru;
    struct timespec now;
    getrusage(RUSAGE_SELF, &ru);
    clock_gettime(CLOCK_REALTIME, &now);
    struct agg_sys self = {
        (double)now.tv_sec + 1e-9 * (double)now.tv_nsec - (double)ts / 1000.0,
        (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec),
        (double)ru.ru_maxrss / 1024.0, 1};
    return agg_sys_log(w, "total", &total, ts) || agg_sys_log(w, "aggregate", &self, ts) ? -1 : 0;
}

static int agg_parent_run(struct mlflowstore *s, const struct agg_options *o,
                          const struct agg_chain *chains, size_t n, const char *exp,
                          const char *html, size_t nhtml, int64_t ts, char *parent_id)
{
    const char *kv[] = {"salbench.pipeline_run_id", o->pipeline_run_id};
    char id[MLFLOWSTORE_ID_MAX], name[MLFLOWSTORE_EXP_NAME_MAX + 16];
    int found = mlflowstore_find_run(s->root, exp, kv, 1, 1, id);
    if (found < 0) return -1;
    snprintf(name, sizeof name, "%s-%.8s", o->evaluation, o->pipeline_run_id);
    struct mlflowstore_run_writer w;
    if (mlflowstore_run_begin(&w, s, exp, found ? id : NULL, name, ts)) return -1;
    snprintf(parent_id, MLFLOWSTORE_ID_MAX, "%s", w.run_id);
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        failed |= chains[i].failed;
    int rc = mlflowstore_run_tag(&w, "salbench.pipeline_run_id", o->pipeline_run_id) ||
             mlflowstore_run_tag(&w, "salbench.version", SALBENCH_VERSION) ||
             (o->description && mlflowstore_run_tag(&w, "mlflow.note.content", o->description)) ||
             agg_parent_params(&w, o, chains, n) || agg_parent_metrics(&w, chains, n, ts) ||
             mlflowstore_run_artifact_data(&w, "report.html", html, nhtml);
    if (rc) {
        mlflowstore_run_abort(&w);
        return -1;
    }
    return mlflowstore_run_commit(&w, failed ? MLFLOWSTORE_FAILED : MLFLOWSTORE_FINISHED,
                                  mlflowstore_now_ms());
}

/* Chain runs of the parent whose chain is not among the current ones (a re-aggregation with
 * fewer chains) are removed, so the parent shows exactly this pipeline run's chains. */
static int agg_remove_stale(struct mlflowstore *s, const char *exp, const char *parent,
                            const struct agg_chain *chains, size_t n)
{
    struct mlflowstore_run *runs = NULL;
    size_t nr = 0;
    if (mlflowstore_list_runs(s->root, exp, &runs, &nr)) return -1;
    int rc = 0;
    for (size_t i = 0; i < nr && !rc; i++) {
        const char *p = mlflowstore_run_get_tag(&runs[i], "mlflow.parentRunId");
        const char *ch = mlflowstore_run_get_tag(&runs[i], "salbench.chain");
        if (!p || strcmp(p, parent) != 0) continue;
        int keep = 0;
        for (size_t j = 0; j < n && !keep; j++)
            keep = ch && strcmp(ch, chains[j].name) == 0;
        if (!keep) rc = mlflowstore_delete_run(s, exp, runs[i].run_id);
    }
    mlflowstore_runs_free(runs, nr);
    return rc;
}

int agg_mlflow_write(const struct agg_options *o, struct agg_chain *chains, size_t nchains,
                     const char *html, size_t nhtml, char *const *chain_html,
                     const size_t *chain_nhtml, char *exp_id, char *parent_id)
{
    struct mlflowstore s;
    int64_t ts = mlflowstore_now_ms();
    int rc = mlflowstore_open(&s, o->mlruns) || mlflowstore_experiment(&s, o->evaluation, exp_id) ||
             agg_parent_run(&s, o, chains, nchains, exp_id, html, nhtml, ts, parent_id);
    for (size_t i = 0; i < nchains && !rc; i++)
        rc = agg_chain_run(&s, o, &chains[i], exp_id, parent_id, chain_html[i], chain_nhtml[i],
                           ts);
    if (!rc) rc = agg_remove_stale(&s, exp_id, parent_id, chains, nchains);
    mlflowstore_release(&s);
    return rc ? -1 : 0;
}

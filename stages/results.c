/* bin/results: reads an MLflow run directory the way Armory's EvaluationResults does (the last
 * top-level run of an experiment, or a given run; its chains as child runs) and prints details,
 * params, tags, metrics, system metrics, artifacts or one exported sample as aligned tables or
 * JSON. Read-only; all file-store parsing is in formats/mlflowstore. */
#include "formats/mlflowstore.h"
#include "pipeline/err.h"
#include "stages/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const usage[] = {
    "results [--mlruns DIR | --run-dir DIR] [--experiment NAME] [--run ID] [--chain NAME] [--json]"
    " [COMMAND [ARGS]]",
    "  --mlruns DIR       the MLflow store (default: RUN_DIR/mlruns, else $MLFLOW_TRACKING_URI)",
    "  --run-dir DIR      an evaluation's run directory holding mlruns/",
    "  --experiment NAME  experiment (= evaluation) name; default: the only one besides Default",
    "  --run ID           a run id (default: the experiment's latest top-level run)",
    "  --chain NAME       the chain (child run) of that run named NAME, e.g. benign",
    "  --json             JSON on stdout instead of tables (NaN/inf as \"NaN\"/\"Infinity\"; a",
    "                     sample's metadata is embedded as stored, as Python's json reads it)",
    "commands:",
    "  details            run info (default)     chains          the run's chain runs",
    "  params | tags      run data               runs            top-level runs, newest first",
    "  metrics [KEY]      latest values without system/ keys; with KEY its history",
    "  system-metrics     the system/ metrics    experiments     every experiment",
    "  artifacts [PREFIX] artifact files         sample B S      exports/BBBBB/SS files + metadata",
    NULL};

struct ctx {
    const char *root;
    struct mlflowstore_experiment_info exp;
    struct mlflowstore_run run; /* the selected run (or chain) */
    int json;
};

/* ---- output helpers ----------------------------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7F) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void json_number(double v)
{
    char f[MLFLOWSTORE_FLOAT_MAX];
    if (isnan(v)) fputs("\"NaN\"", stdout);
    else if (isinf(v)) fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", stdout);
    else mlflowstore_format_float(f, v), fputs(f, stdout);
}

/* Table cell: newlines and tabs shown escaped, so every row stays one line. */
static void cell(const char *s, int width)
{
    int n = 0;
    for (const char *p = s; *p; p++, n++) {
        if (*p == '\n') { fputs("\\n", stdout); n++; }
        else if (*p == '\t') { fputs("\\t", stdout); n++; }
        else putchar(*p);
        if ((*p & 0xC0) == 0x80) n--; /* UTF-8 continuation byte: same column */
    }
    for (; n < width; n++) putchar(' ');
}

static void kv_table(const char *const *keys, const char *const *vals, size_t n, const char *h1,
                     const char *h2)
{
    int w = (int)strlen(h1);
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(keys[i]) > w) w = (int)strlen(keys[i]);
    cell(h1, w + 2);
    printf("%s\n", h2);
    for (size_t i = 0; i < n; i++) {
        cell(keys[i], w + 2);
        cell(vals[i], 0);
        putchar('\n');
    }
}

static void kv_json(const char *const *keys, const char *const *vals, size_t n)
{
    printf("{");
    for (size_t i = 0; i < n; i++) {
        printf("%s\n  ", i ? "," : "");
        json_string(keys[i]);
        printf(": ");
        json_string(vals[i]);
    }
    printf("%s}\n", n ? "\n" : "");
}

static void print_kv(const struct ctx *c, const struct mlflowstore_kv *kv, size_t n, const char *what)
{
    const char **k = xcalloc(n + 1, sizeof *k), **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) k[i] = kv[i].key, v[i] = kv[i].value;
    if (c->json) kv_json(k, v, n);
    else kv_table(k, v, n, what, "value");
    free(k);
    free(v);
}

/* "<ms> (YYYY-MM-DD HH:MM:SS UTC)", or only the date part when short; malloc'd. */
static char *fmt_time(int64_t ms, int short_form)
{
    char *s = xmalloc(64);
    if (ms < 0) return strcpy(s, "null");
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    s[0] = '\0';
    if (!short_form) snprintf(s, 64, "%lld (", (long long)ms);
    strftime(s + strlen(s), 40, short_form ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M:%S UTC)", &tm);
    return s;
}

/* ---- commands ----------------------------------------------------------------------------- */

static void cmd_details(const struct ctx *c)
{
    const struct mlflowstore_run *r = &c->run;
    char *t0 = fmt_time(r->start_time, 0), *t1 = fmt_time(r->end_time, 0);
    const char *keys[] = {"run_id", "run_name", "status", "start_time", "end_time", "artifact_uri",
                          "experiment_id", "experiment_name", "lifecycle_stage", "user_id"};
    const char *vals[] = {r->run_id, r->run_name, mlflowstore_status_name(r->status), t0, t1,
                          r->artifact_uri ? r->artifact_uri : "", r->experiment_id, c->exp.name,
                          r->lifecycle_stage, r->user_id};
    if (c->json) {
        printf("{\n  \"run_id\": ");
        json_string(r->run_id);
        printf(",\n  \"run_name\": ");
        json_string(r->run_name);
        printf(",\n  \"status\": \"%s\",\n  \"start_time\": %lld,\n  \"end_time\": ",
               mlflowstore_status_name(r->status), (long long)r->start_time);
        if (r->end_time < 0) printf("null");
        else printf("%lld", (long long)r->end_time);
        for (int i = 5; i < 10; i++) {
            printf(",\n  \"%s\": ", keys[i]);
            json_string(vals[i]);
        }
        printf("\n}\n");
    } else {
        kv_table(keys, vals, 10, "detail", "value");
    }
    free(t0);
    free(t1);
}

static void cmd_metrics(const struct ctx *c, int system, const char *key)
{
    const struct mlflowstore_run *r = &c->run;
    if (key) {
        const struct mlflowstore_metric *m = mlflowstore_run_get_metric(r, key);
        if (!m) cli_die("cannot find metric '%s' in run %s", key, r->run_id);
        if (!c->json) printf("%-8s %-15s %s\n", "step", "timestamp", "value");
        else printf("[");
        for (size_t i = 0; i < m->n; i++) {
            char f[MLFLOWSTORE_FLOAT_MAX];
            mlflowstore_format_float(f, m->points[i].value);
            if (!c->json) {
                printf("%-8lld %-15lld %s\n", (long long)m->points[i].step,
                       (long long)m->points[i].timestamp, f);
                continue;
            }
            printf("%s\n  {\"step\": %lld, \"timestamp\": %lld, \"value\": ", i ? "," : "",
                   (long long)m->points[i].step, (long long)m->points[i].timestamp);
            json_number(m->points[i].value);
            printf("}");
        }
        if (c->json) printf("%s]\n", m->n ? "\n" : "");
        return;
    }
    const char **k = xcalloc(r->nmetrics + 1, sizeof *k), **v = xcalloc(r->nmetrics + 1, sizeof *v);
    char(*f)[MLFLOWSTORE_FLOAT_MAX] = xcalloc(r->nmetrics + 1, sizeof *f);
    size_t n = 0;
    for (size_t i = 0; i < r->nmetrics; i++) {
        if ((strncmp(r->metrics[i].key, "system/", 7) == 0) != system) continue;
        mlflowstore_format_float(f[n], r->metrics[i].latest.value);
        k[n] = r->metrics[i].key;
        v[n] = f[n];
        n++;
    }
    if (!c->json) {
        kv_table(k, v, n, "metric", "value");
    } else {
        printf("{");
        for (size_t i = 0, j = 0; i < r->nmetrics; i++) {
            if ((strncmp(r->metrics[i].key, "system/", 7) == 0) != system) continue;
            printf("%s\n  ", j++ ? "," : "");
            json_string(r->metrics[i].key);
            printf(": ");
            json_number(r->metrics[i].latest.value);
        }
        printf("%s}\n", n ? "\n" : "");
    }
    free(k);
    free(v);
    free(f);
}

static void cmd_artifacts(const struct ctx *c, const char *prefix)
{
    struct mlflowstore_artifact *a;
    size_t n;
    if (mlflowstore_list_artifacts(&c->run, prefix, &a, &n)) cli_fail();
    if (c->json) printf("[");
    else printf("%-10s %s\n", "bytes", "path");
    for (size_t i = 0; i < n; i++) {
        if (!c->json) {
            printf("%-10lld %s\n", (long long)a[i].size, a[i].path);
            continue;
        }
        printf("%s\n  {\"path\": ", i ? "," : "");
        json_string(a[i].path);
        printf(", \"size\": %lld}", (long long)a[i].size);
    }
    if (c->json) printf("%s]\n", n ? "\n" : "");
    mlflowstore_artifacts_free(a, n);
}

static void cmd_sample(const struct ctx *c, const char *bs, const char *ss)
{
    char *end1, *end2;
    long b = strtol(bs, &end1, 10), s = strtol(ss, &end2, 10);
    if (*end1 || *end2 || b < 0 || s < 0 || b > 99999999 || s > 99999999)
        cli_usage_error("cannot parse sample '%s %s': expected two non-negative integers", bs, ss);
    char prefix[64], meta[80];
    snprintf(prefix, sizeof prefix, "exports/%05ld/%02ld", b, s);
    snprintf(meta, sizeof meta, "%s/metadata.txt", prefix);
    struct mlflowstore_artifact *a;
    size_t n;
    if (mlflowstore_list_artifacts(&c->run, prefix, &a, &n)) cli_fail();
    if (n == 0) cli_die("cannot find sample %ld %ld: no files under %s in run %s", b, s, prefix,
                        c->run.run_id);
    char *md = NULL;
    size_t nmd = 0;
    int has_meta = 0;
    for (size_t i = 0; i < n; i++) has_meta |= !strcmp(a[i].path, meta);
    if (has_meta && mlflowstore_read_artifact(&c->run, meta, &md, &nmd)) cli_fail();
    if (c->json) {
        printf("{\n  \"batch\": %ld,\n  \"sample\": %ld,\n  \"files\": [", b, s);
        for (size_t i = 0; i < n; i++) {
            printf("%s", i ? ", " : "");
            json_string(a[i].path + strlen(prefix) + 1);
        }
        printf("],\n  \"metadata\": %s\n}\n", md ? md : "null");
    } else {
        printf("%-10s %s\n", "bytes", prefix);
        for (size_t i = 0; i < n; i++) printf("%-10lld %s\n", (long long)a[i].size, a[i].path + strlen(prefix) + 1);
        if (md) printf("metadata.txt:\n%s\n", md);
    }
    free(md);
    mlflowstore_artifacts_free(a, n);
}

/* Child runs of parent (active, tag mlflow.parentRunId), or top-level runs when parent NULL. */
static void cmd_runs(const struct ctx *c, const char *parent)
{
    struct mlflowstore_run *runs;
    size_t n;
    if (mlflowstore_list_runs(c->root, c->exp.id, &runs, &n)) cli_fail();
    if (c->json) printf("[");
    else printf("%-32s  %-20s %-9s %-19s  %s\n", "run_id", "run_name", "status", "start (UTC)",
                  "metrics");
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = mlflowstore_run_get_tag(&runs[i], "mlflow.parentRunId");
        if (strcmp(runs[i].lifecycle_stage, "active") || (parent ? !p || strcmp(p, parent) : p != NULL))
            continue;
        if (c->json) {
            printf("%s\n  {\"run_id\": ", shown ? "," : "");
            json_string(runs[i].run_id);
            printf(", \"run_name\": ");
            json_string(runs[i].run_name);
            printf(", \"status\": \"%s\", \"start_time\": %lld, \"metrics\": %zu}",
                   mlflowstore_status_name(runs[i].status), (long long)runs[i].start_time,
                   runs[i].nmetrics);
        } else {
            char *t = fmt_time(runs[i].start_time, 1);
            printf("%-32s  ", runs[i].run_id);
            cell(runs[i].run_name, 20);
            printf(" %-9s %-19s  %zu\n", mlflowstore_status_name(runs[i].status), t, runs[i].nmetrics);
            free(t);
        }
        shown++;
    }
    if (c->json) printf("%s]\n", shown ? "\n" : "");
    mlflowstore_runs_free(runs, n);
}

static void cmd_experiments(const char *root, int json)
{
    struct mlflowstore_experiment_info *e;
    size_t n;
    if (mlflowstore_list_experiments(root, &e, &n)) cli_fail();
    if (json) printf("[");
    else printf("%-20s %-9s %s\n", "experiment_id", "stage", "name");
    for (size_t i = 0; i < n; i++) {
        if (json) {
            printf("%s\n  {\"experiment_id\": ", i ? "," : "");
            json_string(e[i].id);
            printf(", \"name\": ");
            json_string(e[i].name);
            printf(", \"lifecycle_stage\": ");
            json_string(e[i].lifecycle_stage);
            printf("}");
        } else {
            printf("%-20s %-9s ", e[i].id, e[i].lifecycle_stage);
            cell(e[i].name, 0);
            putchar('\n');
        }
    }
    if (json) printf("%s]\n", n ? "\n" : "");
    mlflowstore_experiments_free(e, n);
}

/* ---- selection ---------------------------------------------------------------------------- */

static void select_experiment(struct ctx *c, const char *name, const char *run_id)
{
    char id[MLFLOWSTORE_ID_MAX];
    if (name) {
        int f = mlflowstore_find_experiment(c->root, name, &c->exp);
        if (f < 0) cli_fail();
        if (!f) cli_die("cannot find experiment '%s' in '%s'", name, c->root);
        return;
    }
    struct mlflowstore_experiment_info *e;
    size_t n, pick = (size_t)-1, count = 0;
    if (run_id) {
        int f = mlflowstore_locate_run(c->root, run_id, id);
        if (f < 0) cli_fail();
        if (!f) cli_die("cannot find run '%s' in '%s'", run_id, c->root);
    }
    if (mlflowstore_list_experiments(c->root, &e, &n)) cli_fail();
    for (size_t i = 0; i < n; i++) {
        if (e[i].in_trash || strcmp(e[i].lifecycle_stage, "active")) continue;
        if (run_id ? !strcmp(e[i].id, id) : strcmp(e[i].id, "0") != 0) pick = i, count++;
    }
    if (count != 1) {
        mlflowstore_experiments_free(e, n);
        cli_die("cannot choose an experiment in '%s': %zu candidates; name one with --experiment "
                "(see 'results experiments')", c->root, count);
    }
    c->exp = e[pick];
    memset(&e[pick], 0, sizeof e[pick]);
    mlflowstore_experiments_free(e, n);
}

static void select_run(struct ctx *c, const char *run_id, const char *chain)
{
    char id[MLFLOWSTORE_ID_MAX];
    if (run_id) {
        snprintf(id, sizeof id, "%s", run_id);
    } else {
        const char *none[] = {"mlflow.parentRunId", NULL};
        int f = mlflowstore_find_run(c->root, c->exp.id, none, 1, 1, id);
        if (f < 0) cli_fail();
        if (!f) cli_die("cannot find a run in experiment '%s': it has no top-level run", c->exp.name);
    }
    if (chain) {
        const char *kv[] = {"mlflow.parentRunId", id, "mlflow.runName", chain};
        int f = mlflowstore_find_run(c->root, c->exp.id, kv, 2, 0, id);
        if (f < 0) cli_fail();
        if (!f) cli_die("cannot find chain '%s' of run %s (see 'results chains')", chain, kv[1]);
    }
    if (mlflowstore_read_run(c->root, c->exp.id, id, &c->run)) cli_fail();
}

static char *store_root(const char *mlruns, const char *run_dir)
{
    if (mlruns) return xstrdup(mlruns);
    if (run_dir) {
        char *p = xmalloc(strlen(run_dir) + 8);
        sprintf(p, "%s/mlruns", run_dir);
        return p;
    }
    const char *uri = getenv("MLFLOW_TRACKING_URI");
    if (!uri || !uri[0]) cli_usage_error("cannot find the store: give --mlruns or --run-dir");
    if (!strstr(uri, "://") && strncmp(uri, "file:", 5)) return xstrdup(uri);
    char *p = mlflowstore_uri_path(uri);
    if (!p) cli_fail();
    return p;
}

int main(int argc, char **argv)
{
    const char *mlruns = NULL, *run_dir = NULL, *exp = NULL, *run = NULL, *chain = NULL;
    int json = 0;
    const struct cli_option opts[] = {
        CLI_OUTPUT("mlruns", &mlruns), CLI_OUTPUT("run-dir", &run_dir),
        CLI_OPT("experiment", CLI_STRING, &exp), CLI_OPT("run", CLI_STRING, &run),
        CLI_OPT("chain", CLI_STRING, &chain), CLI_OPT("json", CLI_FLAG, &json), CLI_END};
    cli_init("results", usage);
    const char *args[4] = {0};
    int nargs = 0;
    for (int i = cli_parse(opts, argc, argv); i < argc;) { /* options may follow the command */
        if (nargs == 4) cli_usage_error("cannot parse '%s': too many arguments", argv[i]);
        args[nargs++] = argv[i];
        i += cli_parse(opts, argc - i, argv + i);
    }
    if (nargs == 0) args[nargs++] = "details";
    const char *cmd = args[0];
    struct ctx c = {.json = json};
    char *root = store_root(mlruns, run_dir);
    c.root = root;
    if (!strcmp(cmd, "experiments")) {
        cmd_experiments(root, json);
        free(root);
        return cli_exit(0);
    }
    static const char *const known[] = {"details", "chains", "runs", "params", "tags", "metrics",
                                        "system-metrics", "artifacts", "sample", NULL};
    int k = 0;
    while (known[k] && strcmp(known[k], cmd)) k++;
    if (!known[k]) cli_usage_error("cannot run '%s': unknown command", cmd);
    int want = !strcmp(cmd, "sample") ? 3 : !strcmp(cmd, "metrics") || !strcmp(cmd, "artifacts") ? -2 : 1;
    if ((want > 0 && nargs != want) || (want < 0 && nargs > -want))
        cli_usage_error("cannot run '%s': wrong number of arguments", cmd);
    select_experiment(&c, exp, run);
    if (!strcmp(cmd, "runs")) cmd_runs(&c, NULL);
    else {
        select_run(&c, run, chain);
        if (!strcmp(cmd, "details")) cmd_details(&c);
        else if (!strcmp(cmd, "chains")) cmd_runs(&c, c.run.run_id);
        else if (!strcmp(cmd, "params")) print_kv(&c, c.run.params, c.run.nparams, "param");
        else if (!strcmp(cmd, "tags")) print_kv(&c, c.run.tags, c.run.ntags, "tag");
        else if (!strcmp(cmd, "metrics")) cmd_metrics(&c, 0, nargs > 1 ? args[1] : NULL);
        else if (!strcmp(cmd, "system-metrics")) cmd_metrics(&c, 1, NULL);
        else if (!strcmp(cmd, "artifacts")) cmd_artifacts(&c, nargs > 1 ? args[1] : NULL);
        else cmd_sample(&c, args[1], args[2]);
    }
    mlflowstore_run_release(&c.run);
    mlflowstore_experiment_release(&c.exp);
    free(root);
    return cli_exit(0);
}

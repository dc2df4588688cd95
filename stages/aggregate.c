/* aggregate: the last stage. Reads every chain of an evaluation's run directory
 * (runs/<evaluation>/<chain>/{examples,predictions,saliency,scores}.h5, exports/, timing
 * records), writes the MLflow file store (parent run + one nested run per chain; mapping in
 * formats/mlflowstore.h) and report.html, and prints the methods x metrics summary. Chain
 * reading: aggregate_chain.c; MLflow runs: aggregate_mlflow.c; HTML: formats/report.c. */
#include "stages/aggregate.h"

#include "formats/atomicfile.h"
#include "formats/chash.h"
#include "formats/mlflowstore.h"
#include "formats/report.h"
#include "pipeline/err.h"
#include "stages/common.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const aggregate_usage[] = {
    "aggregate --run-dir DIR --evaluation NAME [--chains A,B] [--mlruns DIR] [--description TEXT]"
    " [--param KEY=VALUE ...] [--pipeline-run-id HEX]",
    "  --run-dir DIR        the evaluation's run directory, runs/<evaluation> (chains below it)",
    "  --evaluation NAME    evaluation name = MLflow experiment (found again on later runs)",
    "  --chains A,B,...     chains to record (default: every subdirectory holding chain tables)",
    "  --mlruns DIR         MLflow store to write (default: RUN_DIR/mlruns)",
    "  --description TEXT   the parent run's description (mlflow.note.content, Markdown)",
    "  --param KEY=VALUE    a global parameter, logged as evaluation.KEY (repeatable): dataset,",
    "                       model, seed, methods, metrics ...",
    "  --pipeline-run-id HEX  16 hex digits naming the pipeline run (default: a hash of the",
    "                       chains' table contents; the same id rewrites the same MLflow runs)",
    "  --report-samples N   exported samples per chain shown in report.html (default 16)",
    "writes MLRUNS/ and RUN_DIR/report.html; prints the summary table and both paths.",
    "A chain with a missing table or a stage that exited non-zero is recorded as FAILED",
    "(exit status 0: the record was written).",
    NULL};

/* Chain names: the given list, else every subdirectory holding chain tables, sorted. */
static size_t aggregate_chain_names(const char *run_dir, const struct cli_list *given,
                                    char ***names)
{
    size_t n = 0;
    if (given->n) {
        *names = xcalloc((size_t)given->n, sizeof **names);
        for (int i = 0; i < given->n; i++) {
            const char *c = given->items[i];
            if (strchr(c, '/') || !strcmp(c, ".") || !strcmp(c, ".."))
                cli_usage_error("cannot use '--chains %s': a chain is a directory name", c);
            for (size_t j = 0; j < n; j++)
                if (!strcmp((*names)[j], c)) cli_usage_error("chain '%s' given twice", c);
            (*names)[n++] = xstrdup(c);
        }
        return n;
    }
    struct dirent **ents = NULL;
    int ne = scandir(run_dir, &ents, NULL, alphasort);
    if (ne < 0) cli_die("cannot read '%s': no such directory", run_dir);
    *names = xcalloc(ne ? (size_t)ne : 1, sizeof **names);
    for (int i = 0; i < ne; i++) {
        const char *d = ents[i]->d_name;
        char *p = xmalloc(strlen(run_dir) + strlen(d) + 2);
        sprintf(p, "%s/%s", run_dir, d);
        if (d[0] != '.' && strcmp(d, "mlruns") != 0 && agg_chain_dir_has_tables(p))
            (*names)[n++] = xstrdup(d);
        free(p);
        free(ents[i]);
    }
    free(ents);
    if (!n) cli_die("cannot find chains in '%s': no subdirectory holds chain tables", run_dir);
    return n;
}

/* XXH3-64 over "<chain>\0<stage>\0<content hash hex>\0" of every table read, in chain order. */
static void aggregate_pipeline_id(char out[17], const struct agg_chain *c, size_t n)
{
    struct chash *h = chash_new();
    if (!h) cli_fail();
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < AGG_NTABLES; k++) {
            const struct agg_table *t = &c[i].t[k];
            char hex[17];
            if (!t->readable) continue;
            chash_hex(hex, t->hash);
            chash_update(h, c[i].name, strlen(c[i].name) + 1);
            chash_update(h, t->stage, strlen(t->stage) + 1);
            chash_update(h, hex, sizeof hex);
        }
    chash_hex(out, chash_digest(h));
    chash_free(h);
}

/* The summary as aligned text: per chain, methods down, metric means across. */
static void aggregate_print(const struct agg_chain *c)
{
    printf("chain %s: %s", c->name, c->failed ? "FAILED" : "FINISHED");
    if (c->has_predictions)
        printf(", %s %.4f", c->has_perturbation ? "accuracy under attack" : "accuracy",
               c->multi_label ? c->top1_hit : c->accuracy);
    if (c->multi_label) printf(", mAP %.4f", c->map);
    if (c->has_perturbation)
        printf(", attack success %.4f, mean L-inf %.5f", c->success_rate, c->linf_mean);
    printf("%s%s\n", c->failed ? "\n  " : "", c->failed ? c->reason : "");
    if (!c->nsummary) return;
    const char **metrics = xcalloc(c->nsummary, sizeof *metrics);
    size_t nk = 0, wm = strlen("method");
    for (size_t i = 0; i < c->nsummary; i++) {
        size_t j = 0;
        while (j < nk && strcmp(metrics[j], c->summary[i].metric))
            j++;
        if (j == nk) metrics[nk++] = c->summary[i].metric;
        if (strlen(c->summary[i].method) > wm) wm = strlen(c->summary[i].method);
    }
    printf("  %-*s", (int)wm, "method");
    for (size_t j = 0; j < nk; j++)
        printf("  %*s", (int)(strlen(metrics[j]) < 8 ? 8 : strlen(metrics[j])), metrics[j]);
    printf("\n");
    for (size_t m = 0; m < c->nmethods; m++) {
        printf("  %-*s", (int)wm, c->methods[m].name);
        for (size_t j = 0; j < nk; j++) {
            const struct scores_summary_row *r = NULL;
            for (size_t i = 0; i < c->nsummary && !r; i++)
                if (!strcmp(c->summary[i].method, c->methods[m].name) &&
                    !strcmp(c->summary[i].metric, metrics[j]))
                    r = &c->summary[i];
            int w = (int)(strlen(metrics[j]) < 8 ? 8 : strlen(metrics[j]));
            if (r) printf("  %*.4f", w, r->mean);
            else printf("  %*s", w, "-");
        }
        printf("\n");
    }
    free(metrics);
}

int main(int argc, char **argv)
{
    struct agg_options o;
    memset(&o, 0, sizeof o);
    struct cli_list chains_opt = {0}, params = {0};
    const char *pid = NULL;
    long long max_samples = 16;
    const struct cli_option opts[] = {
        CLI_OPT("run-dir", CLI_STRING, &o.run_dir),
        CLI_OPT("evaluation", CLI_STRING, &o.evaluation),
        CLI_OPT("chains", CLI_LIST, &chains_opt),
        CLI_OUTPUT("mlruns", &o.mlruns),
        CLI_OPT("description", CLI_STRING, &o.description),
        CLI_OPT("param", CLI_LIST, &params),
        CLI_OPT("pipeline-run-id", CLI_STRING, &pid),
        CLI_RANGE("report-samples", CLI_INT, &max_samples, 0, 10000),
        CLI_END};
    cli_init("aggregate", aggregate_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    if (!o.run_dir || !o.evaluation) cli_usage_error("--run-dir and --evaluation are required");
    if (!*o.evaluation) cli_usage_error("cannot use an empty --evaluation");
    uint64_t pid_value;
    if (pid && chash_parse_hex(&pid_value, pid))
        cli_usage_error("cannot use '--pipeline-run-id %s': expected 16 hex digits", pid);
    const char **keys = xcalloc((size_t)params.n + 1, sizeof *keys);
    const char **vals = xcalloc((size_t)params.n + 1, sizeof *vals);
    for (int i = 0; i < params.n; i++) {
        char *kv = xstrdup(params.items[i]), *eq = strchr(kv, '=');
        if (!eq || eq == kv) cli_usage_error("cannot parse '--param %s': expected KEY=VALUE", kv);
        *eq = '\0';
        if (!strcmp(kv, "name")) cli_usage_error("--param name: the name is --evaluation");
        keys[i] = kv, vals[i] = eq + 1;
    }
    o.param_keys = keys, o.param_values = vals, o.nparams = (size_t)params.n;
    char *mlruns_default = NULL;
    if (!o.mlruns) {
        mlruns_default = xmalloc(strlen(o.run_dir) + sizeof "/mlruns");
        sprintf(mlruns_default, "%s/mlruns", o.run_dir);
        o.mlruns = mlruns_default;
    }

    char **names;
    size_t n = aggregate_chain_names(o.run_dir, &chains_opt, &names);
    struct agg_chain *chains = xcalloc(n, sizeof *chains);
    for (size_t i = 0; i < n; i++)
        if (agg_chain_load(&chains[i], o.run_dir, names[i])) cli_fail();
    if (pid) chash_hex(o.pipeline_run_id, pid_value);
    else aggregate_pipeline_id(o.pipeline_run_id, chains, n);

    /* Reports: the whole evaluation (parent run, RUN_DIR/report.html) and one per chain. */
    struct report_chain *rc = xcalloc(n, sizeof *rc);
    char **chain_html = xcalloc(n, sizeof *chain_html), *html;
    size_t *chain_n = xcalloc(n, sizeof *chain_n), nhtml;
    struct report_fact *facts = xcalloc((size_t)params.n + 2, sizeof *facts);
    facts[0] = (struct report_fact){"pipeline run", o.pipeline_run_id};
    for (int i = 0; i < params.n; i++)
        facts[i + 1] = (struct report_fact){keys[i], vals[i]};
    for (size_t i = 0; i < n; i++) {
        agg_report_chain(&rc[i], &chains[i], (size_t)max_samples);
        struct report one = {o.evaluation, o.description, facts, (size_t)params.n + 1, &rc[i], 1};
        if (report_html(&one, &chain_html[i], &chain_n[i])) cli_fail();
    }
    struct report all = {o.evaluation, o.description, facts, (size_t)params.n + 1, rc, n};
    if (report_html(&all, &html, &nhtml)) cli_fail();

    char exp[MLFLOWSTORE_ID_MAX], parent[MLFLOWSTORE_ID_MAX];
    if (agg_mlflow_write(&o, chains, n, html, nhtml, chain_html, chain_n, exp, parent))
        cli_fail();
    char *report_path = xmalloc(strlen(o.run_dir) + sizeof "/report.html");
    sprintf(report_path, "%s/report.html", o.run_dir);
    if (atomicfile_write_all(report_path, html, nhtml)) cli_fail();

    printf("evaluation %s, pipeline run %s\n", o.evaluation, o.pipeline_run_id);
    for (size_t i = 0; i < n; i++) {
        aggregate_print(&chains[i]);
        if (chains[i].failed)
            fprintf(stderr, "aggregate: chain '%s' recorded as FAILED: %s\n", chains[i].name,
                    chains[i].reason);
    }
    printf("mlruns: %s (experiment %s, run %s)\nreport: %s\n", o.mlruns, exp, parent,
           report_path);

    for (size_t i = 0; i < n; i++) {
        agg_report_chain_release(&rc[i]);
        free(chain_html[i]);
        agg_chain_release(&chains[i]);
        free(names[i]);
    }
    for (int i = 0; i < params.n; i++)
        free((void *)keys[i]);
    free(keys), free(vals), free(facts), free(rc), free(chain_html), free(chain_n), free(html);
    free(chains), free(names), free(report_path), free(mlruns_default);
    return cli_exit(0);
}

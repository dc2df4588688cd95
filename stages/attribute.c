/* attribute: computes saliency maps of a model on examples.h5 and writes saliency.h5: table
 * `trials` (one row per explained (example, class)) and one array maps/<method> [T,H,W]
 * float32 per method, row-aligned with `trials`, with the method's full parameters (JSON),
 * forward/backward pass counts and CPU seconds as attributes. Methods run one after the other
 * over the shard in batches of examples (pipeline/saliency.h does the work). When --out
 * already holds maps for the same model, examples and trials, they are copied over byte for
 * byte instead of recomputed (a requested method is recomputed only when its parameters
 * changed), so adding a method costs only that method. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/exampleset.h"
#include "formats/h5copy.h"
#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/err.h"
#include "pipeline/preprocess.h"
#include "pipeline/saliency.h"
#include "stages/common.h"

static const char *const attribute_usage[] = {
    "attribute --model FILE --examples FILE --methods M1,M2,... --out FILE [options]",
    "  --model FILE        model file (data/models/*.h5)",
    "  --examples FILE     examples.h5 from bin/load, at the model's input size",
    "  --methods LIST      center, random, gradient, input_x_gradient, deconvnet,",
    "                      guided_backprop, gradcam, guided_gradcam, linear_approx,",
    "                      excitation_backprop, contrastive_excitation_backprop,",
    "                      integrated_gradients, smoothgrad, smoothgrad_sq, vargrad,",
    "                      occlusion, rise, extremal_perturbation",
    "  --out FILE          saliency.h5 to write (maps already there are kept, see README)",
    "  --target T          label (default): one trial per class present in the labels;",
    "                      predicted: one trial per example, the predicted class",
    "  --predictions FILE  predictions.h5 of the same model (for --target predicted; without",
    "                      it the stage predicts itself)",
    "  --limit N           only the first N examples of the shard (0: all)",
    "  --batch B           images per forward pass and examples per call (default 64)",
    "  --seed S            seed of random, smoothgrad*, vargrad and rise (default 0)",
    "  --shard K/N         only shard K of N (a contiguous example_id range)",
    "  --METHOD.PARAM V    a method parameter, e.g. --rise.masks 2000, --gradcam.layer conv4",
    "                      (parameters and defaults: README, 'attribute' section)",
    NULL};

#define ATTR_REASON_LEN 16

struct trial_row {
    uint64_t example_id;
    int32_t class_id;
    int64_t row;                  /* row of the example in examples.h5 */
    char reason[ATTR_REASON_LEN]; /* "label" or "predicted" */
};
#define TR(f, t) H5TABLE_COLUMN(struct trial_row, f, t)
static const struct h5table_column trial_cols[] = {TR(example_id, H5TABLE_U64),
                                                   TR(class_id, H5TABLE_I32),
                                                   TR(row, H5TABLE_I64), TR(reason, H5TABLE_STR)};
#undef TR
static const struct h5table_schema trial_schema = {"trials", sizeof(struct trial_row), 4,
                                                   trial_cols};

struct pred_row {
    uint64_t example_id;
    int32_t predicted;
};
static const struct h5table_column pred_cols[] = {
    H5TABLE_COLUMN(struct pred_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct pred_row, predicted, H5TABLE_I32)};
static const struct h5table_schema pred_schema = {"predictions", sizeof(struct pred_row), 2,
                                                  pred_cols};

#define ATTR_MAX_OVERRIDES 256

struct attr {
    const char *model_path, *examples_path, *pred_path, *out, *target;
    struct cli_list methods;
    long long limit, batch, seed;
    struct cli_shard shard;
    const char *ov_name[ATTR_MAX_OVERRIDES], *ov_value[ATTR_MAX_OVERRIDES];
    int n_ov;
    struct model m;
    struct exampleset ex;
    size_t begin, end;            /* example rows */
    struct trial_row *trials;
    size_t T;
    struct saliency_params *params; /* one per method */
    char **params_json;
    uint64_t model_hash, examples_hash;
    float black[MODEL_MAX_CHANNELS];
};

/* Takes "--method.param value" / "--method.param=value" out of argv (cli_parse does not know
 * them); returns the new argc. */
static int attr_take_overrides(struct attr *s, int argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        char *dot = strncmp(a, "--", 2) == 0 ? strchr(a + 2, '.') : NULL;
        char *eq = a[0] == '-' ? strchr(a, '=') : NULL;
        if (!dot || (eq && eq < dot)) {
            argv[out++] = a;
            continue;
        }
        if (s->n_ov == ATTR_MAX_OVERRIDES) cli_usage_error("too many method parameters");
        if (eq) *eq = '\0';
        else if (i + 1 == argc) cli_usage_error("cannot parse '%s': missing value", a);
        s->ov_name[s->n_ov] = a + 2;
        s->ov_value[s->n_ov++] = eq ? eq + 1 : argv[++i];
    }
    return out;
}

/* Parameters of every requested method: defaults, --seed, overrides, then resolved on the
 * model (layer names, sizes). Unknown methods or parameters are usage errors. */
static void attr_params(struct attr *s)
{
    int n = s->methods.n;
    if (n == 0) cli_usage_error("missing --methods");
    s->params = xcalloc((size_t)n, sizeof *s->params);
    s->params_json = xcalloc((size_t)n, sizeof *s->params_json);
    char seed[32];
    snprintf(seed, sizeof seed, "%lld", s->seed);
    for (int i = 0; i < n; i++) {
        int m = saliency_method_from_name(s->methods.items[i]);
        if (m < 0) cli_usage_error("cannot use method '%s': unknown (see --help)",
                                   s->methods.items[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(s->methods.items[j], s->methods.items[i]))
                cli_usage_error("cannot use method '%s': listed twice", s->methods.items[i]);
        saliency_params_init(&s->params[i], (enum saliency_method)m);
        if (saliency_param_exists((enum saliency_method)m, "seed"))
            saliency_param_set(&s->params[i], "seed", seed);
    }
    for (int k = 0; k < s->n_ov; k++) {
        const char *dot = strchr(s->ov_name[k], '.');
        int i = 0;
        while (i < n && (strlen(s->methods.items[i]) != (size_t)(dot - s->ov_name[k]) ||
                         strncmp(s->methods.items[i], s->ov_name[k], (size_t)(dot - s->ov_name[k]))))
            i++;
        if (i == n)
            cli_usage_error("cannot use --%s: method '%.*s' is not in --methods", s->ov_name[k],
                            (int)(dot - s->ov_name[k]), s->ov_name[k]);
        if (saliency_param_set(&s->params[i], dot + 1, s->ov_value[k]) < 0)
            cli_usage_error("%s", err_msg());
    }
}

/* Resolves "auto" values and checks every method plans on this net (e.g. extremal
 * perturbation's images per trial fit --batch) before anything is computed. */
static void attr_resolve(struct attr *s)
{
    for (int i = 0; i < s->methods.n; i++) {
        size_t nw;
        if (saliency_params_resolve(&s->params[i], s->m.net) < 0 ||
            saliency_workspace_floats(s->m.net, &s->params[i], cli_threads(), &nw) < 0)
            cli_fail();
        size_t len = saliency_params_json(&s->params[i], NULL, 0);
        s->params_json[i] = xmalloc(len + 1);
        saliency_params_json(&s->params[i], s->params_json[i], len + 1);
    }
}

static void attr_check_inputs(struct attr *s)
{
    const struct model *m = &s->m;
    const struct exampleset *e = &s->ex;
    if (exampleset_check_model(e, m, s->model_path)) cli_fail();
    for (int c = 0; c < m->channels; c++)
        s->black[c] = (float)((0.0 - m->mean[c]) / m->std[c]);
}

/* ---- trials ------------------------------------------------------------------------------ */

static void attr_add_trial(struct attr *s, size_t r, int k, const char *reason)
{
    if (k < 0 || k >= s->m.n_classes)
        cli_die("cannot explain example %016" PRIx64 " of '%s': class %d is out of range (the "
                "model has %d classes)", s->ex.ids[r], s->examples_path, k, s->m.n_classes);
    struct trial_row *t = &s->trials[s->T++];
    memset(t, 0, sizeof *t);
    t->example_id = s->ex.ids[r];
    t->class_id = k;
    t->row = (int64_t)r;
    snprintf(t->reason, sizeof t->reason, "%s", reason);
}

/* Predicted classes of rows [begin, end): from --predictions (same model, ids joined) or by
 * running the model (argmax of the logits, lowest index on ties). */
static int32_t *attr_predicted(struct attr *s)
{
    size_t n = s->end - s->begin, C = (size_t)s->m.channels, HW = (size_t)s->m.height * s->m.width;
    int32_t *pred = xmalloc((n ? n : 1) * sizeof *pred);
    if (s->pred_path) {
        struct h5table_file *f = h5table_open(s->pred_path);
        struct pred_row *rows = NULL;
        size_t np = 0, j = 0;
        if (!f ||
            h5table_check_input(f, s->pred_path, "use predictions", "model", s->model_path,
                                s->model_hash) < 0 ||
            h5table_read_table(f, "predictions", &pred_schema, (void **)&rows, &np) < 0)
            cli_fail();
        for (size_t i = 0; i < n; i++) {
            while (j < np && rows[j].example_id < s->ex.ids[s->begin + i])
                j++;
            if (j == np || rows[j].example_id != s->ex.ids[s->begin + i])
                cli_die("cannot use predictions '%s': no row for example %016" PRIx64,
                        s->pred_path, s->ex.ids[s->begin + i]);
            pred[i] = rows[j].predicted;
        }
        free(rows);
        h5table_close(f);
        return pred;
    }
    int B = (int)s->batch, K = s->m.n_classes;
    uint8_t *img = xmalloc((size_t)B * C * HW);
    float *x = xmalloc((size_t)B * C * HW * sizeof *x);
    for (size_t at = 0; at < n; at += (size_t)B) {
        int nb = n - at < (size_t)B ? (int)(n - at) : B;
        if (exampleset_read_images(&s->ex, s->begin + at, (size_t)nb, img) < 0) cli_fail();
        preprocess_forward(x, img, s->m.mean, s->m.std, nb, s->m.height, s->m.width,
                           s->m.channels);
        if (net_forward(s->m.net, x, nb, NET_EVAL, NULL) < 0) cli_fail();
        const float *z = net_act(s->m.net, net_logits_layer(s->m.net)).data;
        for (int i = 0; i < nb; i++) {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[(size_t)i * K + k] > z[(size_t)i * K + best]) best = k;
            pred[at + (size_t)i] = best;
        }
    }
    free(img);
    free(x);
    return pred;
}

static void attr_trials(struct attr *s)
{
    size_t n = s->end - s->begin;
    int K = s->m.n_classes, predicted = !strcmp(s->target, "predicted");
    if (!predicted && strcmp(s->target, "label"))
        cli_usage_error("cannot use --target '%s': label or predicted", s->target);
    if (s->pred_path && !predicted)
        cli_usage_error("--predictions is used with --target predicted");
    s->trials = xcalloc((n ? n : 1) * (size_t)K, sizeof *s->trials);
    int32_t *pred = predicted ? attr_predicted(s) : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t r = s->begin + i;
        if (predicted) {
            attr_add_trial(s, r, pred[i], "predicted");
            continue;
        }
        int any = 0;
        for (int k = 0; k < K; k++)
            if (s->ex.multi_hot[r * (size_t)K + k]) attr_add_trial(s, r, k, "label"), any = 1;
        if (!any && s->ex.label[r] >= 0) attr_add_trial(s, r, s->ex.label[r], "label");
    }
    free(pred);
}

/* ---- maps kept from an earlier --out ------------------------------------------------------ */

/* The earlier output when it describes the same model, examples and trials; else NULL. */
static struct h5table_file *attr_open_previous(struct attr *s)
{
    if (access(s->out, F_OK) != 0) return NULL;
    struct h5table_file *f = h5table_open(s->out);
    struct h5table_provenance pv;
    h5table_provenance_init(&pv);
    struct trial_row *rows = NULL;
    size_t n = 0;
    uint64_t mh = 0, eh = 0;
    int same = f && h5table_read_provenance(f, &pv) == 0 &&
               h5table_provenance_input(&pv, "model", NULL, &mh) == 1 &&
               h5table_provenance_input(&pv, "examples", NULL, &eh) == 1 &&
               mh == s->model_hash && eh == s->examples_hash &&
               h5table_read_table(f, "trials", &trial_schema, (void **)&rows, &n) == 0 &&
               n == s->T && (n == 0 || !memcmp(rows, s->trials, n * sizeof *rows));
    free(rows);
    h5table_provenance_release(&pv);
    if (same) return f;
    h5table_close(f);
    fprintf(stderr, "attribute: '%s' holds maps of other trials, examples or model: "
            "replacing it\n", s->out);
    return NULL;
}

static int attr_copy_map(struct h5table_file *dst, struct h5table_file *src, const char *name,
                         size_t T, size_t HW)
{
    struct h5copy_out *o = h5copy_create_like(dst, src, name, T);
    if (!o) return -1;
    size_t chunk = 256;
    float *buf = xmalloc(chunk * HW * sizeof *buf);
    int rc = 0;
    for (size_t t = 0; !rc && t < T; t += chunk) {
        size_t k = T - t < chunk ? T - t : chunk;
        rc = h5copy_read_rows(src, name, t, k, buf) || h5copy_append(o, buf, k);
    }
    free(buf);
    if (h5copy_close(o) < 0) rc = -1;
    char **attrs = NULL;
    size_t na = 0;
    if (!rc) rc = h5copy_attr_names(src, name, &attrs, &na);
    for (size_t i = 0; !rc && i < na; i++)
        rc = h5copy_attr_copy(dst, name, src, name, attrs[i]);
    h5table_list_free(attrs, na);
    return rc ? -1 : 0;
}

/* Copies every map of prev that is not requested, or requested with the same parameters (then
 * sets done[i]). */
static int attr_keep_maps(struct attr *s, struct h5table_file *dst, struct h5table_file *prev,
                          int *done)
{
    char **names = NULL;
    size_t n = 0;
    if (!prev) return 0;
    int has = h5table_exists(prev, "maps");
    if (has <= 0) return has;
    if (h5table_list(prev, "maps", &names, &n) < 0) return -1;
    int rc = 0;
    for (size_t j = 0; !rc && j < n; j++) {
        char path[128], *pj = NULL;
        snprintf(path, sizeof path, "maps/%s", names[j]);
        int i = 0;
        while (i < s->methods.n && strcmp(s->methods.items[i], names[j]))
            i++;
        if (i < s->methods.n) {
            if (h5table_attr_get_str(prev, path, "params", &pj) < 0) rc = -1;
            int same = !rc && !strcmp(pj, s->params_json[i]);
            free(pj);
            if (!same) continue;
            done[i] = 1;
            printf("attribute: %s: up to date (kept)\n", names[j]);
        }
        if (!rc) rc = attr_copy_map(dst, prev, path, s->T, (size_t)s->m.height * s->m.width);
    }
    h5table_list_free(names, n);
    return rc;
}

/* ---- computing one method ------------------------------------------------------------------ */

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

struct attr_buf {
    uint8_t *img;
    float *x, *maps, *work;
    uint64_t *ids;
    int *ex, *cls;
};

/* Trials [t0, t1) of example rows [r0, r1) through the method, appended to st. */
static int attr_batch(struct attr *s, const struct saliency_params *p, struct attr_buf *b,
                      size_t r0, size_t r1, size_t t0, size_t t1, struct h5table_stream *st,
                      struct saliency_cost *cost)
{
    int nr = (int)(r1 - r0);
    if (exampleset_read_images(&s->ex, r0, (size_t)nr, b->img) < 0) return -1;
    preprocess_forward(b->x, b->img, s->m.mean, s->m.std, nr, s->m.height, s->m.width,
                       s->m.channels);
    for (int i = 0; i < nr; i++)
        b->ids[i] = s->ex.ids[r0 + (size_t)i];
    for (size_t t = t0; t < t1; t++) {
        b->ex[t - t0] = (int)((size_t)s->trials[t].row - r0);
        b->cls[t - t0] = s->trials[t].class_id;
    }
    struct saliency_input in = {nr, b->x, b->ids, (int)(t1 - t0), b->ex, b->cls, s->black};
    if (saliency_compute(b->maps, s->m.net, p, &in, b->work, cli_threads(), cost) < 0) return -1;
    return h5table_stream_append(st, b->maps, t1 - t0);
}

static int attr_method_attrs(struct h5table_file *f, const char *path, const char *json,
                             const struct saliency_cost *c, size_t T, double cpu, double wall)
{
    double per = T ? 1.0 / (double)T : 0;
    return h5table_attr_set_str(f, path, "params", json) ||
                   h5table_attr_set_u64(f, path, "forward_passes", c->forward) ||
                   h5table_attr_set_u64(f, path, "backward_passes", c->backward) ||
                   h5table_attr_set_f64(f, path, "forward_passes_per_trial",
                                        (double)c->forward * per) ||
                   h5table_attr_set_f64(f, path, "backward_passes_per_trial",
                                        (double)c->backward * per) ||
                   h5table_attr_set_f64(f, path, "cpu_seconds", cpu) ||
                   h5table_attr_set_f64(f, path, "wall_seconds", wall)
               ? -1
               : 0;
}

static int attr_method(struct attr *s, struct h5table_file *f, int i, struct attr_buf *b)
{
    const struct saliency_params *p = &s->params[i];
    const char *name = s->methods.items[i];
    size_t nw, B = (size_t)s->batch;
    if (saliency_workspace_floats(s->m.net, p, cli_threads(), &nw) < 0) return -1;
    b->work = aligned_alloc(64, (nw * sizeof(float) + 63) / 64 * 64);
    if (!b->work) cli_die("cannot allocate %zu bytes: out of memory", nw * sizeof(float));
    char path[128];
    snprintf(path, sizeof path, "maps/%s", name);
    const uint64_t dims[3] = {0, (uint64_t)s->m.height, (uint64_t)s->m.width};
    struct h5table_stream *st = h5table_stream_create_array(f, path, H5TABLE_F32, 3, dims);
    struct saliency_cost cost = {0, 0};
    struct cli_progress pr;
    double c0 = cpu_seconds(), w0 = wall_seconds();
    int rc = st ? 0 : -1;
    cli_progress_start(&pr, name, s->T);
    for (size_t t0 = 0; !rc && t0 < s->T;) {
        size_t r0 = (size_t)s->trials[t0].row, r1 = r0 + B < s->end ? r0 + B : s->end, t1 = t0;
        while (t1 < s->T && (size_t)s->trials[t1].row < r1)
            t1++;
        rc = attr_batch(s, p, b, r0, r1, t0, t1, st, &cost);
        t0 = t1;
        cli_progress_update(&pr, t0);
    }
    cli_progress_finish(&pr);
    double cpu = cpu_seconds() - c0, wall = wall_seconds() - w0;
    if (h5table_stream_close(st) < 0) rc = -1;
    free(b->work);
    if (rc || attr_method_attrs(f, path, s->params_json[i], &cost, s->T, cpu, wall)) return -1;
    printf("attribute: %s: %zu trials, %" PRIu64 " forward + %" PRIu64 " backward passes, "
           "%.2f s CPU, %.2f s wall (%.2f ms/trial)\n", name, s->T, cost.forward, cost.backward,
           cpu, wall, s->T ? 1e3 * wall / (double)s->T : 0.0);
    return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

/* cli_params_json plus "method_params": {method: its full parameters}. xmalloc'd. */
static char *attr_root_params(struct attr *s)
{
    char *base = cli_params_json();
    size_t len = strlen(base) + 32;
    for (int i = 0; i < s->methods.n; i++)
        len += strlen(s->params_json[i]) + strlen(s->methods.items[i]) + 8;
    char *out = xmalloc(len);
    size_t at = strlen(base) - 1; /* drop the closing brace */
    memcpy(out, base, at);
    at += (size_t)sprintf(out + at, "%s\"method_params\": {", at > 1 ? ", " : "");
    for (int i = 0; i < s->methods.n; i++)
        at += (size_t)sprintf(out + at, "%s\"%s\": %s", i ? ", " : "", s->methods.items[i],
                              s->params_json[i]);
    strcpy(out + at, "}}");
    free(base);
    return out;
}

static int attr_write(struct attr *s)
{
    struct h5table_file *prev = attr_open_previous(s);
    struct h5table_file *f = h5table_create(s->out);
    if (!f) return -1;
    int *done = xcalloc((size_t)s->methods.n, sizeof *done);
    size_t px = (size_t)s->m.channels * s->m.height * s->m.width, B = (size_t)s->batch;
    size_t maxt = B * (size_t)s->m.n_classes;
    struct attr_buf b = {xmalloc(B * px), xmalloc(B * px * sizeof(float)),
                         xmalloc(maxt * (size_t)s->m.height * s->m.width * sizeof(float)), NULL,
                         xmalloc(B * sizeof(uint64_t)), xmalloc(maxt * sizeof(int)),
                         xmalloc(maxt * sizeof(int))};
    char *params = attr_root_params(s);
    struct h5table_input in[3] = {{"model", s->model_path, &s->model_hash},
                                  {"examples", s->examples_path, &s->examples_hash},
                                  {"predictions", s->pred_path, NULL}};
    int rc = h5table_write_table(f, "trials", &trial_schema, s->trials, s->T) ||
             attr_keep_maps(s, f, prev, done);
    for (int i = 0; !rc && i < s->methods.n; i++)
        if (!done[i]) rc = attr_method(s, f, i, &b);
    rc = rc || h5table_write_provenance(f, "attribute", params, in, s->pred_path ? 3 : 2) ||
         h5table_attr_set_str(f, "/", "target", s->target) ||
         h5table_attr_set_u64(f, "/", "n_trials", s->T) ||
         h5table_attr_set_u64(f, "/", "n_examples", s->end - s->begin);
    h5table_close(prev);
    free(params), free(done), free(b.img), free(b.x), free(b.maps), free(b.ids), free(b.ex);
    free(b.cls);
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

int main(int argc, char **argv)
{
    struct attr s;
    memset(&s, 0, sizeof s);
    s.target = "label";
    s.batch = 64;
    const struct cli_option opts[] = {
        CLI_OPT("model", CLI_STRING, &s.model_path),
        CLI_OPT("examples", CLI_STRING, &s.examples_path),
        CLI_OPT("predictions", CLI_STRING, &s.pred_path),
        CLI_OPT("methods", CLI_LIST, &s.methods),
        CLI_OUTPUT("out", &s.out),
        CLI_OPT("target", CLI_STRING, &s.target),
        CLI_RANGE("limit", CLI_INT, &s.limit, 0, 1e12),
        CLI_RANGE("batch", CLI_INT, &s.batch, 1, 65536),
        CLI_RANGE("seed", CLI_INT, &s.seed, 0, 9.2e18),
        CLI_OPT("shard", CLI_SHARD, &s.shard),
        CLI_END};
    cli_init("attribute", attribute_usage);
    cli_keep_argv(argc, argv);
    argc = attr_take_overrides(&s, argc, argv);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    cli_set_output(s.out);
    if (!s.model_path || !s.examples_path || !s.out)
        cli_usage_error("missing --model, --examples or --out");
    attr_params(&s);
    model_init(&s.m);
    exampleset_init(&s.ex);
    if (h5table_content_hash_path(s.model_path, &s.model_hash) < 0 ||
        h5table_content_hash_path(s.examples_path, &s.examples_hash) < 0 ||
        model_load(&s.m, s.model_path, (int)s.batch, NET_NO_PARAM_GRAD) < 0 ||
        exampleset_open(&s.ex, s.examples_path) < 0)
        cli_fail();
    attr_check_inputs(&s);
    attr_resolve(&s);
    cli_shard_range(&s.shard, s.ex.ids, s.ex.n, &s.begin, &s.end);
    if (s.limit > 0 && s.end - s.begin > (size_t)s.limit) s.end = s.begin + (size_t)s.limit;
    attr_trials(&s);
    printf("attribute: %zu trials on %zu examples (target %s), model '%s'\n", s.T,
           s.end - s.begin, s.target, s.model_path);
    if (attr_write(&s) < 0) cli_fail();
    model_release(&s.m);
    exampleset_release(&s.ex);
    for (int i = 0; i < s.methods.n; i++)
        free(s.params_json[i]);
    free(s.params_json), free(s.params), free(s.trials);
    return cli_exit(0);
}

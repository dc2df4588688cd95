/* infer: runs a model file on examples.h5 and writes predictions.h5 (table `predictions`,
 * arrays `logits` and `probs`, row-aligned with the examples of the shard) with a summary in
 * attributes and on stdout: top-1 accuracy and confusion matrix for single-label data (softmax
 * models), mAP, per-class AP, F1 at the threshold and exact match for multi-label data (sigmoid
 * models). Streams batch by batch; only the probabilities stay in memory for the AP. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/exampleset.h"
#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/classify.h"
#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/preprocess.h"
#include "stages/common.h"

static const char *const infer_usage[] = {
    "infer --model FILE --examples FILE --out FILE [options]",
    "  --model FILE       model file (data/models/*.h5, bin/train or convert_torch.py output)",
    "  --examples FILE    examples.h5 from bin/load, at the model's input size and channels",
    "  --out FILE         predictions.h5 to write (replaced atomically)",
    "  --batch N          examples per forward pass (default 64)",
    "  --threshold T      multi-label: score >= T counts as predicted for F1 / exact match "
    "(default 0.5)",
    "  --shard K/N        only shard K of N (a contiguous example_id range)",
    NULL};

struct pred_row {
    uint64_t example_id;
    int32_t label, predicted;
    float score;
    int8_t correct; /* 1 hit, 0 miss, -1 no label to compare with */
};

#define PR(f, t) H5TABLE_COLUMN(struct pred_row, f, t)
static const struct h5table_column pred_cols[] = {
    PR(example_id, H5TABLE_U64), PR(label, H5TABLE_I32), PR(predicted, H5TABLE_I32),
    PR(score, H5TABLE_F32), PR(correct, H5TABLE_I8)};
#undef PR
static const struct h5table_schema pred_schema = {"predictions", sizeof(struct pred_row), 5,
                                                  pred_cols};

struct infer {
    const char *model_path, *examples_path, *out;
    long long batch;
    double threshold;
    struct cli_shard shard;
    struct model m;
    struct exampleset ex;
    size_t begin, end; /* row range of the shard */
    int multi;         /* sigmoid model: multi-label summary */
    float *probs;      /* [end - begin, K] */
    int32_t *pred;     /* [end - begin] */
};

static void infer_check_inputs(struct infer *s)
{
    const struct model *m = &s->m;
    const struct exampleset *e = &s->ex;
    if (exampleset_check_model(e, m, s->model_path)) cli_fail();
}

/* One batch of rows [at, at + n): forward, probabilities, table rows; appends to the streams. */
static int infer_batch(struct infer *s, size_t at, int n, uint8_t *img, float *x,
                       struct pred_row *rows, struct h5table_stream *st[3])
{
    const struct model *m = &s->m;
    const int K = m->n_classes;
    const size_t r0 = s->begin + at;
    if (exampleset_read_images(&s->ex, r0, (size_t)n, img)) return -1;
    preprocess_forward(x, img, m->mean, m->std, n, m->height, m->width, m->channels);
    if (net_forward(m->net, x, n, NET_EVAL, NULL)) return -1;
    const float *z = net_act(m->net, net_logits_layer(m->net)).data;
    float *p = s->probs + at * K;
    if (net_output_layer(m->net) != net_logits_layer(m->net))
        memcpy(p, net_act(m->net, net_output_layer(m->net)).data, (size_t)n * K * sizeof *p);
    else
        classify_probs(p, z, (size_t)n, K, s->multi);
    classify_argmax(s->pred + at, z, (size_t)n, K);
    for (int i = 0; i < n; i++) {
        size_t r = r0 + (size_t)i;
        int32_t y = s->ex.label[r], k = s->pred[at + i];
        memset(&rows[i], 0, sizeof rows[i]);
        rows[i].example_id = s->ex.ids[r];
        rows[i].label = y;
        rows[i].predicted = k;
        rows[i].score = p[(size_t)i * K + k];
        rows[i].correct = s->multi ? (s->ex.n_labels[r] > 0 ? s->ex.multi_hot[r * K + k] : -1)
                                   : (y >= 0 ? y == k : -1);
    }
    return h5table_stream_append(st[0], rows, (size_t)n) ||
                   h5table_stream_append(st[1], z, (size_t)n) ||
                   h5table_stream_append(st[2], p, (size_t)n)
               ? -1
               : 0;
}

static int infer_run(struct infer *s, struct h5table_file *f)
{
    const int K = s->m.n_classes, B = (int)s->batch;
    const size_t N = s->end - s->begin, px = (size_t)s->ex.H * s->ex.W * s->ex.C;
    const uint64_t dims[2] = {0, (uint64_t)K};
    struct h5table_stream *st[3] = {h5table_stream_create_table(f, "predictions", &pred_schema),
                                    h5table_stream_create_array(f, "logits", H5TABLE_F32, 2, dims),
                                    h5table_stream_create_array(f, "probs", H5TABLE_F32, 2, dims)};
    uint8_t *img = xmalloc((size_t)B * px);
    float *x = xmalloc((size_t)B * px * sizeof *x);
    struct pred_row *rows = xmalloc((size_t)B * sizeof *rows);
    int rc = !st[0] || !st[1] || !st[2] ? -1 : 0;
    struct cli_progress pr;
    cli_progress_start(&pr, "infer", N);
    for (size_t at = 0; !rc && at < N; at += (size_t)B) {
        int n = N - at < (size_t)B ? (int)(N - at) : B;
        rc = infer_batch(s, at, n, img, x, rows, st);
        cli_progress_update(&pr, at + (size_t)n);
    }
    cli_progress_finish(&pr);
    for (int i = 0; i < 3; i++)
        if (h5table_stream_close(st[i])) rc = -1;
    free(img);
    free(x);
    free(rows);
    return rc;
}

/* Single-label summary: accuracy over labelled rows and the confusion matrix. */
static int infer_summary_single(struct infer *s, struct h5table_file *f, FILE *out)
{
    const int K = s->m.n_classes;
    const size_t N = s->end - s->begin;
    int64_t *cm = xcalloc((size_t)K * K, sizeof *cm);
    classify_confusion_add(cm, s->ex.label + s->begin, s->pred, N, K);
    double acc = classify_accuracy(cm, K);
    size_t len = 0, cap = (size_t)K * K * 22 + 64;
    char *json = xmalloc(cap);
    len += (size_t)snprintf(json, cap, "[");
    fprintf(out, "top-1 accuracy %.4f over %zu labelled examples\nconfusion matrix "
            "(row = label, column = predicted):\n", acc, N);
    for (int i = 0; i < K; i++) {
        len += (size_t)snprintf(json + len, cap - len, "%s[", i ? ", " : "");
        fprintf(out, "  %-16.16s", s->m.class_names[i]);
        for (int j = 0; j < K; j++) {
            long long v = (long long)cm[(size_t)i * K + j];
            len += (size_t)snprintf(json + len, cap - len, "%s%lld", j ? ", " : "", v);
            fprintf(out, " %5lld", v);
        }
        len += (size_t)snprintf(json + len, cap - len, "]");
        fprintf(out, "\n");
    }
    snprintf(json + len, cap - len, "]");
    int rc = h5table_attr_set_f64(f, "/", "accuracy", acc) ||
             h5table_attr_set_str(f, "/", "confusion_matrix", json);
    free(json);
    free(cm);
    return rc ? -1 : 0;
}

/* Multi-label summary: per-class AP and mAP, F1 at the threshold, exact match, top-1 hits. */
static int infer_summary_multi(struct infer *s, struct h5table_file *f, FILE *out)
{
    const int K = s->m.n_classes;
    const size_t N = s->end - s->begin;
    const uint8_t *truth = s->ex.multi_hot + s->begin * K;
    double *ap = xcalloc((size_t)K, sizeof *ap), *f1 = xcalloc((size_t)K, sizeof *f1);
    int64_t *tp = xcalloc((size_t)K * 3, sizeof *tp), *fp = tp + K, *fn = tp + 2 * K, exact = 0;
    struct classify_pair *scratch = xmalloc((N ? N : 1) * sizeof *scratch);
    int undefined = 0;
    double map = classify_map(ap, &undefined, s->probs, truth, N, K, scratch);
    classify_threshold_add(tp, fp, fn, &exact, s->probs, truth, N, K, (float)s->threshold);
    size_t hits = 0;
    for (size_t i = 0; i < N; i++)
        hits += truth[i * K + s->pred[i]] != 0;
    double top1 = N ? (double)hits / (double)N : NAN, em = N ? (double)exact / (double)N : NAN;
    fprintf(out, "mAP %.4f over %d classes (%d without positives left out), %zu examples\n"
            "top-1 hit %.4f, exact match at %.2f %.4f\n%-16s %7s %7s\n", map, K - undefined,
            undefined, N, top1, s->threshold, em, "class", "AP", "F1");
    for (int k = 0; k < K; k++) {
        f1[k] = classify_f1(tp[k], fp[k], fn[k]);
        fprintf(out, "%-16.16s %7.4f %7.4f\n", s->m.class_names[k], ap[k], f1[k]);
    }
    int rc = h5table_attr_set_f64(f, "/", "map", map) ||
             h5table_attr_set_f64_array(f, "/", "ap", ap, (size_t)K) ||
             h5table_attr_set_f64_array(f, "/", "f1", f1, (size_t)K) ||
             h5table_attr_set_f64(f, "/", "exact_match", em) ||
             h5table_attr_set_f64(f, "/", "top1_hit", top1) ||
             h5table_attr_set_f64(f, "/", "threshold", s->threshold);
    free(ap), free(f1), free(tp), free(scratch);
    return rc ? -1 : 0;
}

static int infer_write(struct infer *s)
{
    struct h5table_file *f = h5table_create(s->out);
    if (!f) return -1;
    char *params = cli_params_json();
    const struct h5table_input in[2] = {{"model", s->model_path, NULL},
                                        {"examples", s->examples_path, NULL}};
    const size_t N = s->end - s->begin;
    s->probs = xmalloc((N ? N : 1) * (size_t)s->m.n_classes * sizeof *s->probs);
    s->pred = xmalloc((N ? N : 1) * sizeof *s->pred);
    printf("infer: %zu examples, %s model '%s'\n", N, s->multi ? "multi-label (sigmoid)"
                                                              : "single-label (softmax)",
           s->model_path);
    int rc = infer_run(s, f) || h5table_write_provenance(f, "infer", params, in, 2) ||
             h5table_attr_set_str(f, "/", "mode", s->multi ? "multi-label" : "single-label") ||
             h5table_attr_set_u64(f, "/", "n_examples", N) ||
             (s->multi ? infer_summary_multi(s, f, stdout) : infer_summary_single(s, f, stdout));
    free(params);
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

int main(int argc, char **argv)
{
    struct infer s;
    memset(&s, 0, sizeof s);
    s.batch = 64;
    s.threshold = 0.5;
    const struct cli_option opts[] = {
        CLI_OPT("model", CLI_STRING, &s.model_path),
        CLI_OPT("examples", CLI_STRING, &s.examples_path),
        CLI_OUTPUT("out", &s.out),
        CLI_RANGE("batch", CLI_INT, &s.batch, 1, 4096),
        CLI_RANGE("threshold", CLI_DOUBLE, &s.threshold, 0, 1),
        CLI_OPT("shard", CLI_SHARD, &s.shard),
        CLI_END};
    cli_init("infer", infer_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    cli_set_output(s.out);
    if (!s.model_path || !s.examples_path || !s.out)
        cli_usage_error("--model, --examples and --out are required");
    model_init(&s.m);
    if (model_load(&s.m, s.model_path, (int)s.batch, NET_NO_GRAD)) cli_fail();
    if (exampleset_open(&s.ex, s.examples_path)) cli_fail();
    infer_check_inputs(&s);
    s.multi = s.m.activation == MODEL_SIGMOID;
    cli_shard_range(&s.shard, s.ex.ids, s.ex.n, &s.begin, &s.end);
    if (infer_write(&s)) cli_fail();
    free(s.probs);
    free(s.pred);
    exampleset_release(&s.ex);
    model_release(&s.m);
    return cli_exit(0);
}

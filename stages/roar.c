/* roar: remove and retrain (Hooker et al. 2019). For each method of the saliency files, and for
 * a random-removal baseline, the top fraction of every training and test image's pixels (ranked
 * by the method's maps, pipeline/roar.h) is replaced by the training-set mean colour, the
 * model's architecture is retrained from scratch (pipeline/trainer.h) several times, and the
 * test accuracy (mAP for multi-label models) is recorded per trial into roar.h5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/exampleset.h"
#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/classify.h"
#include "pipeline/err.h"
#include "pipeline/init.h"
#include "pipeline/roar.h"
#include "pipeline/stats.h"
#include "pipeline/trainer.h"
#include "stages/common.h"
#include "stages/score_data.h"

static const char *const roar_usage[] = {
    "roar --model FILE --train-examples FILE --train-saliency FILE --test-examples FILE "
    "--test-saliency FILE --out FILE [options]",
    "  --model FILE            the model the maps were computed with: its architecture is",
    "                          retrained from scratch, its normalisation is kept",
    "  --train-examples FILE   examples.h5 to retrain on (the examples with maps are used)",
    "  --train-saliency FILE   saliency.h5 of those examples",
    "  --test-examples FILE    examples.h5 to evaluate on, with --test-saliency FILE",
    "  --out FILE              roar.h5 to write (replaced atomically)",
    "  --methods A,B           methods to evaluate (default: every map of both files)",
    "  --fractions F,...       fractions of pixels removed (default 0,0.1,0.3,0.5,0.7,0.9)",
    "  --trials N              retrainings per (method, fraction) (default 3)",
    "  --random 0|1            the random-removal baseline (default 1)",
    "  --epochs N, --batch N, --lr X, --momentum X, --weight-decay X, --warmup-epochs X",
    "                          SGD recipe (defaults 5, 64, 0.05, 0.9, 5e-4, 1; cosine)",
    "  --seed N                seed of initialisation, shuffling and the random baseline",
    "  --limit-train N, --limit-test N   use the first N examples with maps (0: all)",
    NULL};

struct roar_split {
    struct exampleset ex;
    struct score_data sd;
    size_t n;          /* examples used: rows[0..n) of ex */
    uint32_t *rows;    /* ex rows */
    size_t *tbeg;      /* [n + 1] trial range of each used example */
    uint8_t *images;   /* [ex.n, H, W, C] originals */
    uint8_t *mod;      /* modified copies */
    uint32_t *order;   /* [n, HW] removal order of the current method */
};

struct roar_trial_row {
    char method[48];
    double fraction;
    int32_t trial;
    double score, loss;
    int64_t removed;
};
struct roar_summary_row {
    char method[48];
    double fraction, mean, std;
    int32_t n;
};
#define TR(f, t) H5TABLE_COLUMN(struct roar_trial_row, f, t)
static const struct h5table_column trial_cols[] = {TR(method, H5TABLE_STR),
    TR(fraction, H5TABLE_F64), TR(trial, H5TABLE_I32), TR(score, H5TABLE_F64),
    TR(loss, H5TABLE_F64), TR(removed, H5TABLE_I64)};
#undef TR
#define SU(f, t) H5TABLE_COLUMN(struct roar_summary_row, f, t)
static const struct h5table_column summary_cols[] = {SU(method, H5TABLE_STR),
    SU(fraction, H5TABLE_F64), SU(mean, H5TABLE_F64), SU(std, H5TABLE_F64), SU(n, H5TABLE_I32)};
#undef SU
static const struct h5table_schema trial_schema = {"roar_trials", sizeof(struct roar_trial_row),
                                                   6, trial_cols};
static const struct h5table_schema summary_schema = {
    "roar_summary", sizeof(struct roar_summary_row), 5, summary_cols};

struct roar {
    const char *model_path, *paths[4], *out;
    struct cli_list methods, fractions_s;
    long long trials, random, epochs, batch, seed, limit[2];
    double lr, momentum, wd, warmup;
    struct model m;
    struct roar_split s[2]; /* train, test */
    double *fractions;
    int n_fractions;
    uint8_t fill[MODEL_MAX_CHANNELS];
    struct trainer_config cfg;
    void *scratch;
    float *logits, *probs;
    struct classify_pair *pairs;
    struct roar_trial_row *rows;
    size_t n_rows;
};

/* Opens one split: the examples, the saliency (checked against the model and examples), the
 * examples that have trials (first `limit`), and their trial ranges. */
static void split_open(struct roar *R, struct roar_split *s, const char *ex, const char *sal,
                       uint64_t mhash, long long limit)
{
    exampleset_init(&s->ex);
    score_data_init(&s->sd);
    if (exampleset_open(&s->ex, ex) ||
        score_data_open(&s->sd, ex, sal, R->model_path, mhash, R->m.n_classes,
                        (const char(*)[64])R->m.class_names, R->m.channels, R->m.height,
                        R->m.width, NULL))
        cli_fail();
    if (limit > 0) score_data_limit(&s->sd, (size_t)limit, 0);
    s->rows = xcalloc(s->sd.T + 1, sizeof *s->rows);
    s->tbeg = xcalloc(s->sd.T + 2, sizeof *s->tbeg);
    for (size_t t = 0; t < s->sd.T; t++)
        if (t == 0 || s->sd.trow[t] != s->sd.trow[t - 1]) {
            s->rows[s->n] = (uint32_t)s->sd.trow[t];
            s->tbeg[s->n++] = t;
        }
    s->tbeg[s->n] = s->sd.T;
    if (s->n == 0) cli_die("cannot run roar: '%s' has no trials", sal);
    for (size_t i = 0; i < s->n && R->m.activation == MODEL_SOFTMAX; i++)
        if (s->ex.label[s->rows[i]] < 0 || s->ex.label[s->rows[i]] >= R->m.n_classes)
            cli_die("cannot retrain '%s' with softmax cross-entropy: example %016llx of '%s' "
                    "has no single label", R->model_path,
                    (unsigned long long)s->ex.ids[s->rows[i]], ex);
    size_t img = (size_t)s->ex.H * s->ex.W * s->ex.C;
    s->images = xmalloc(s->ex.n * img);
    s->mod = xmalloc(s->ex.n * img);
    s->order = xmalloc(s->n * (size_t)s->ex.H * s->ex.W * sizeof *s->order);
    if (exampleset_read_images(&s->ex, 0, s->ex.n, s->images)) cli_fail();
}

static void split_release(struct roar_split *s)
{
    exampleset_release(&s->ex);
    score_data_release(&s->sd);
    free(s->rows), free(s->tbeg), free(s->images), free(s->mod), free(s->order);
}

/* Removal orders of every used example: descending combined map of `method`, or random. */
static int split_orders(struct roar *R, struct roar_split *s, const char *method)
{
    size_t hw = (size_t)s->ex.H * s->ex.W;
    if (!method) {
        for (size_t i = 0; i < s->n; i++)
            roar_random_order(s->order + i * hw, hw, (uint64_t)R->seed, s->ex.ids[s->rows[i]]);
        return 0;
    }
    struct h5table_stream *st = score_data_open_maps(&s->sd, method);
    if (!st) return -1;
    float *maps = xmalloc((size_t)R->m.n_classes * hw * sizeof *maps), *comb = xmalloc(hw * 4);
    uint64_t *keys = xmalloc(2 * hw * sizeof *keys);
    int rc = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        size_t t0 = s->tbeg[i], k = s->tbeg[i + 1] - t0;
        if (k > (size_t)R->m.n_classes) k = (size_t)R->m.n_classes;
        rc = h5table_stream_read(st, t0, k, maps);
        if (!rc && roar_combine(comb, maps, (int)k, hw) == 0)
            rc = err_set("cannot rank pixels for roar: every '%s' map of example %016llx is "
                         "not finite", method, (unsigned long long)s->ex.ids[s->rows[i]]);
        if (!rc) stats_order_desc_f32(s->order + i * hw, comb, hw, keys);
    }
    h5table_stream_close(st);
    free(maps), free(comb), free(keys);
    return rc;
}

static void split_modify(const struct roar *R, struct roar_split *s, double fraction)
{
    size_t hw = (size_t)s->ex.H * s->ex.W, img = hw * (size_t)s->ex.C;
    size_t k = roar_count(fraction, hw);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < s->n; i++)
        roar_remove_forward(s->mod + (size_t)s->rows[i] * img, s->images + (size_t)s->rows[i] * img,
                            s->order + i * hw, k, hw, s->ex.C, R->fill);
}

/* Per-channel mean colour of the used training images, rounded. */
static void training_mean(struct roar *R)
{
    const struct roar_split *s = &R->s[0];
    size_t hw = (size_t)s->ex.H * s->ex.W;
    for (int c = 0; c < s->ex.C; c++) {
        double sum = 0;
        for (size_t i = 0; i < s->n; i++)
            for (size_t j = 0; j < hw; j++)
                sum += s->images[((size_t)s->rows[i] * hw + j) * s->ex.C + c];
        R->fill[c] = (uint8_t)lround(sum / ((double)s->n * (double)hw));
    }
}

/* Retrains from scratch with seed + trial on the modified training images and evaluates on
 * the modified test images: top-1 accuracy (softmax) or mAP (sigmoid). */
static int retrain(struct roar *R, int trial, double *score, double *loss)
{
    struct net *net = R->m.net;
    init_net(net, (uint64_t)R->seed + (uint64_t)trial, INIT_KAIMING_NORMAL);
    for (int i = 0; i < net_param_count(net); i++) {
        struct net_param *q = net_param_at(net, i);
        for (int k = 0; k < 2; k++)
            if (q->state[k]) memset(q->state[k], 0, tensor_numel(&q->value) * sizeof(float));
    }
    struct roar_split *tr = &R->s[0], *te = &R->s[1];
    struct trainer_data dtr = {tr->ex.n, tr->ex.H, tr->ex.W, tr->ex.C, tr->ex.K, tr->mod,
                               tr->ex.label, tr->ex.multi_hot, tr->ex.ids};
    struct trainer_data dte = {te->ex.n, te->ex.H, te->ex.W, te->ex.C, te->ex.K, te->mod,
                               te->ex.label, te->ex.multi_hot, te->ex.ids};
    struct trainer_config c = R->cfg;
    c.seed = (uint64_t)R->seed + (uint64_t)trial;
    uint64_t step = 0;
    uint32_t *order = xmalloc(tr->n * sizeof *order);
    struct trainer_stats st;
    int rc = 0;
    for (long long e = 0; e < R->epochs && !rc; e++)
        rc = trainer_epoch(net, &dtr, tr->rows, tr->n, (uint32_t)e, &c, &step, order,
                           R->scratch, &st);
    free(order);
    if (rc || trainer_evaluate(net, &dte, te->rows, te->n, &c, R->logits, loss, R->scratch))
        return -1;
    int K = R->m.n_classes, sig = R->m.activation == MODEL_SIGMOID;
    if (sig) {
        uint8_t *truth = xmalloc(te->n * (size_t)K);
        double *ap = xmalloc((size_t)K * sizeof *ap);
        for (size_t i = 0; i < te->n; i++)
            memcpy(truth + i * K, te->ex.multi_hot + (size_t)te->rows[i] * K, (size_t)K);
        classify_probs(R->probs, R->logits, te->n, K, 1);
        *score = classify_map(ap, NULL, R->probs, truth, te->n, K, R->pairs);
        free(truth), free(ap);
        return 0;
    }
    int32_t *pred = xmalloc(te->n * sizeof *pred);
    classify_argmax(pred, R->logits, te->n, K);
    size_t hits = 0;
    for (size_t i = 0; i < te->n; i++)
        hits += pred[i] == te->ex.label[te->rows[i]];
    *score = (double)hits / (double)te->n;
    free(pred);
    return 0;
}

static void add_row(struct roar *R, const char *method, double f, int trial, double score,
                    double loss)
{
    struct roar_trial_row *r = &R->rows[R->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method);
    r->fraction = f, r->trial = trial, r->score = score, r->loss = loss;
    r->removed = (int64_t)roar_count(f, (size_t)R->m.height * R->m.width);
    fprintf(stderr, "roar: %-20s fraction %.2f trial %d: %s %.4f\n", method, f, trial,
            R->m.activation == MODEL_SIGMOID ? "mAP" : "accuracy", score);
}

/* Every (method, fraction > 0, trial); fraction 0 once, as method "none". */
static int run_all(struct roar *R, const char *const *methods, int n_methods)
{
    for (int i = 0; i < R->n_fractions; i++) {
        if (R->fractions[i] > 0) continue;
        for (int k = 0; k < 2; k++)
            memcpy(R->s[k].mod, R->s[k].images,
                   R->s[k].ex.n * (size_t)R->s[k].ex.H * R->s[k].ex.W * R->s[k].ex.C);
        for (int t = 0; t < R->trials; t++) {
            double sc, lo;
            if (retrain(R, t, &sc, &lo)) return -1;
            add_row(R, "none", 0, t, sc, lo);
        }
    }
    for (int m = 0; m < n_methods + (R->random ? 1 : 0); m++) {
        const char *name = m < n_methods ? methods[m] : NULL;
        if (split_orders(R, &R->s[0], name) || split_orders(R, &R->s[1], name)) return -1;
        for (int i = 0; i < R->n_fractions; i++) {
            if (!(R->fractions[i] > 0)) continue;
            split_modify(R, &R->s[0], R->fractions[i]);
            split_modify(R, &R->s[1], R->fractions[i]);
            for (int t = 0; t < R->trials; t++) {
                double sc, lo;
                if (retrain(R, t, &sc, &lo)) return -1;
                add_row(R, name ? name : "random", R->fractions[i], t, sc, lo);
            }
        }
    }
    return 0;
}

/* Mean and sample std per (method, fraction), in the order the rows were made. */
static size_t summarise(const struct roar *R, struct roar_summary_row *out)
{
    size_t n = 0;
    for (size_t i = 0; i < R->n_rows; i++) {
        if (R->rows[i].trial != 0) continue;
        struct roar_summary_row *s = &out[n++];
        memset(s, 0, sizeof *s);
        snprintf(s->method, sizeof s->method, "%s", R->rows[i].method);
        s->fraction = R->rows[i].fraction;
        double sum = 0, ss = 0;
        for (size_t j = i; j < R->n_rows && j < i + (size_t)R->trials; j++)
            sum += R->rows[j].score, s->n++;
        s->mean = sum / s->n;
        for (size_t j = i; j < i + (size_t)s->n; j++)
            ss += (R->rows[j].score - s->mean) * (R->rows[j].score - s->mean);
        s->std = s->n > 1 ? sqrt(ss / (s->n - 1)) : NAN;
        printf("%-20s  %8.2f  %8.4f  %8.4f  %3d\n", s->method, s->fraction, s->mean, s->std,
               s->n);
    }
    return n;
}

static void write_out(struct roar *R)
{
    struct roar_summary_row *sum = xcalloc(R->n_rows + 1, sizeof *sum);
    printf("roar: test %s after retraining (mean and std over trials)\n%-20s  %8s  %8s  %8s  "
           "%3s\n", R->m.activation == MODEL_SIGMOID ? "mAP" : "accuracy", "method",
           "fraction", "mean", "std", "n");
    size_t ns = summarise(R, sum);
    struct h5table_file *f = h5table_create(R->out);
    char *params = cli_params_json();
    struct h5table_input in[5] = {{"model", R->model_path, NULL},
                                  {"train_examples", R->paths[0], NULL},
                                  {"train_saliency", R->paths[1], NULL},
                                  {"test_examples", R->paths[2], NULL},
                                  {"test_saliency", R->paths[3], NULL}};
    int rc = !f || h5table_write_table(f, "roar_trials", &trial_schema, R->rows, R->n_rows) ||
             h5table_write_table(f, "roar_summary", &summary_schema, sum, ns) ||
             h5table_write_provenance(f, "roar", params, in, 5) ||
             h5table_attr_set_str(f, "/", "score", R->m.activation == MODEL_SIGMOID ? "mAP"
                                                                                 : "accuracy");
    free(params), free(sum);
    if (rc) {
        h5table_abort(f);
        cli_fail();
    }
    if (h5table_commit(f)) cli_fail();
}

static void configure(struct roar *R)
{
    R->n_fractions = R->fractions_s.n ? R->fractions_s.n : 6;
    R->fractions = xcalloc((size_t)R->n_fractions, sizeof *R->fractions);
    static const double def[6] = {0, 0.1, 0.3, 0.5, 0.7, 0.9};
    for (int i = 0; i < R->n_fractions; i++) {
        char *end = NULL;
        R->fractions[i] = R->fractions_s.n ? strtod(R->fractions_s.items[i], &end) : def[i];
        if (R->fractions_s.n && (*end || !(R->fractions[i] >= 0 && R->fractions[i] < 1)))
            cli_usage_error("cannot use fraction '%s': not in [0, 1)", R->fractions_s.items[i]);
    }
    struct trainer_config *c = &R->cfg;
    optim_config_init(&c->optim, OPTIM_SGD);
    c->optim.momentum = R->momentum, c->optim.weight_decay = R->wd;
    c->batch = (int)R->batch, c->lr = R->lr, c->min_lr = 0, c->cosine = 1;
    uint64_t per_epoch = R->s[0].n / (size_t)R->batch;
    if (per_epoch == 0) cli_die("cannot run roar: %zu training examples for batch %lld",
                                R->s[0].n, R->batch);
    c->total_steps = per_epoch * (uint64_t)R->epochs;
    c->warmup_steps = (uint64_t)llround(R->warmup * (double)per_epoch);
    c->loss = R->m.activation == MODEL_SIGMOID ? TRAINER_BCE : TRAINER_CE;
    c->mean = R->m.mean, c->std = R->m.std;
    size_t nmax = R->s[0].ex.n > R->s[1].ex.n ? R->s[0].ex.n : R->s[1].ex.n;
    struct trainer_data d = {nmax, R->m.height, R->m.width, R->m.channels, R->m.n_classes,
                             NULL, NULL, NULL, NULL};
    R->scratch = xmalloc(trainer_scratch_bytes(&d, (int)R->batch));
    R->logits = xmalloc(R->s[1].n * (size_t)R->m.n_classes * sizeof(float));
    R->probs = xmalloc(R->s[1].n * (size_t)R->m.n_classes * sizeof(float));
    R->pairs = xmalloc(R->s[1].n * sizeof *R->pairs);
    size_t nm = (size_t)(R->methods.n ? R->methods.n : (int)R->s[1].sd.n_methods) + 2;
    R->rows = xcalloc(nm * (size_t)R->n_fractions * (size_t)R->trials, sizeof *R->rows);
}

int main(int argc, char **argv)
{
    static struct roar R = {.trials = 3, .random = 1, .epochs = 5, .batch = 64, .lr = 0.05,
                            .momentum = 0.9, .wd = 5e-4, .warmup = 1};
    const struct cli_option opts[] = {
        {.name = "model", .kind = CLI_STRING, .value = &R.model_path, .flags = CLI_NOT_PARAM},
        {.name = "train-examples", .kind = CLI_STRING, .value = &R.paths[0], .flags = CLI_NOT_PARAM},
        {.name = "train-saliency", .kind = CLI_STRING, .value = &R.paths[1], .flags = CLI_NOT_PARAM},
        {.name = "test-examples", .kind = CLI_STRING, .value = &R.paths[2], .flags = CLI_NOT_PARAM},
        {.name = "test-saliency", .kind = CLI_STRING, .value = &R.paths[3], .flags = CLI_NOT_PARAM},
        CLI_OUTPUT("out", &R.out), CLI_OPT("methods", CLI_LIST, &R.methods),
        CLI_OPT("fractions", CLI_LIST, &R.fractions_s),
        CLI_RANGE("trials", CLI_INT, &R.trials, 1, 1000), CLI_RANGE("random", CLI_INT, &R.random, 0, 1),
        CLI_RANGE("epochs", CLI_INT, &R.epochs, 1, 100000), CLI_RANGE("batch", CLI_INT, &R.batch, 1, 4096),
        CLI_RANGE("lr", CLI_DOUBLE, &R.lr, 0, 100), CLI_RANGE("momentum", CLI_DOUBLE, &R.momentum, 0, 1),
        CLI_RANGE("weight-decay", CLI_DOUBLE, &R.wd, 0, 1),
        CLI_RANGE("warmup-epochs", CLI_DOUBLE, &R.warmup, 0, 1e5),
        CLI_RANGE("seed", CLI_INT, &R.seed, 0, 9007199254740991.0),
        CLI_RANGE("limit-train", CLI_INT, &R.limit[0], 0, 1e12),
        CLI_RANGE("limit-test", CLI_INT, &R.limit[1], 0, 1e12), CLI_END};
    cli_init("roar", roar_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    cli_set_output(R.out);
    if (!R.model_path || !R.paths[0] || !R.paths[1] || !R.paths[2] || !R.paths[3] || !R.out)
        cli_usage_error("--model, --train-examples, --train-saliency, --test-examples, "
                        "--test-saliency and --out are required");
    uint64_t mhash;
    model_init(&R.m);
    if (model_load(&R.m, R.model_path, (int)R.batch, optim_net_flags(OPTIM_SGD)) ||
        h5table_content_hash_path(R.model_path, &mhash))
        cli_fail();
    split_open(&R, &R.s[0], R.paths[0], R.paths[1], mhash, R.limit[0]);
    split_open(&R, &R.s[1], R.paths[2], R.paths[3], mhash, R.limit[1]);
    const char *const *methods = R.methods.n ? R.methods.items
                                             : (const char *const *)R.s[1].sd.methods;
    int n_methods = R.methods.n ? R.methods.n : (int)R.s[1].sd.n_methods;
    configure(&R);
    training_mean(&R);
    if (run_all(&R, methods, n_methods)) cli_fail();
    write_out(&R);
    for (int k = 0; k < 2; k++)
        split_release(&R.s[k]);
    free(R.fractions), free(R.scratch), free(R.logits), free(R.probs), free(R.pairs), free(R.rows);
    model_release(&R.m);
    return cli_exit(0);
}

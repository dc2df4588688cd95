/* train: trains a CNN classifier (architecture JSON, or the weights of a model file) on
 * examples.h5 and writes a model file. Softmax cross-entropy for softmax heads, BCE with logits
 * for sigmoid heads; SGD/Adam/AdamW, warm-up + cosine schedule, seeded init, shuffle and
 * augmentation, a validation split by example_id, an atomic checkpoint after every epoch and
 * --resume, which continues to the same final weights as an uninterrupted run. The loop itself
 * is pipeline/trainer.h (shared with ROAR); this file does files, checkpoints and logging. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/exampleset.h"
#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/classify.h"
#include "pipeline/err.h"
#include "pipeline/init.h"
#include "pipeline/net.h"
#include "pipeline/trainer.h"
#include "stages/common.h"

static const char *const train_usage[] = {
    "train --examples FILE --out FILE (--arch FILE | --init MODEL) [options]",
    "  --examples FILE      examples.h5 (bin/load) to train on",
    "  --out FILE           model file to write at the end (replaced atomically)",
    "  --arch FILE          architecture JSON (pipeline/net.h); must end with softmax or sigmoid",
    "  --init MODEL         start from this model's architecture, weights and normalisation",
    "  --epochs N           epochs (default 10)",
    "  --batch N            examples per step (default 64); a last partial batch is dropped",
    "  --optimizer NAME     sgd, adam or adamw (default sgd)",
    "  --lr X               peak learning rate (default 0.05)",
    "  --min-lr X           learning rate at the end of the cosine (default 0)",
    "  --schedule NAME      cosine or constant (default cosine), after linear warm-up",
    "  --warmup-epochs X    warm-up length in epochs, may be fractional (default 1)",
    "  --momentum X         SGD momentum (default 0.9)",
    "  --nesterov           SGD with Nesterov momentum",
    "  --weight-decay X     L2 (sgd, adam) or decoupled (adamw) decay (default 5e-4)",
    "  --decay-all          decay biases and batch-norm parameters too (default: weights only)",
    "  --init-scheme NAME   pytorch, kaiming_normal or kaiming_uniform (default kaiming_normal)",
    "  --seed N             seed of init, shuffling, augmentation and dropout (default 0)",
    "  --val-fraction X     share of examples held out for validation, by id (default 0.1)",
    "  --split-seed N       seed of the validation split (default 0)",
    "  --flip               augment: random horizontal flips",
    "  --shift N            augment: random shifts of up to N pixels (default 0)",
    "  --mean A,B,C         input mean per channel on 0..1 (default: of the training images)",
    "  --std A,B,C          input std per channel (default: of the training images)",
    "  --checkpoint FILE    checkpoint written after every epoch (default OUT.ckpt)",
    "  --resume             continue from the checkpoint when there is one",
    "  --stop-after N       stop after N epochs of this run, keeping the checkpoint",
    "  --keep-checkpoint    keep the checkpoint after the final model is written",
    NULL};

struct hist_row {
    int32_t epoch;
    double lr, train_loss, train_accuracy, val_loss, val_accuracy, val_map;
};

#define HR(f, t) H5TABLE_COLUMN(struct hist_row, f, t)
static const struct h5table_column hist_cols[] = {
    HR(epoch, H5TABLE_I32),          HR(lr, H5TABLE_F64),          HR(train_loss, H5TABLE_F64),
    HR(train_accuracy, H5TABLE_F64), HR(val_loss, H5TABLE_F64),    HR(val_accuracy, H5TABLE_F64),
    HR(val_map, H5TABLE_F64)};
#undef HR
static const struct h5table_schema hist_schema = {"history", sizeof(struct hist_row), 7,
                                                  hist_cols};

struct train {
    /* options */
    const char *examples_path, *out, *arch_path, *init_path, *optimizer, *schedule,
        *init_scheme, *ckpt_opt;
    long long epochs, batch, seed, split_seed, shift, stop_after;
    double lr, min_lr, warmup_epochs, momentum, weight_decay, val_fraction;
    int nesterov, decay_all, flip, resume, keep_ckpt;
    struct cli_list mean_opt, std_opt;
    /* state */
    char *ckpt, *params;
    uint64_t examples_hash;
    struct exampleset ex;
    uint8_t *images;
    struct model m;
    struct trainer_data data;
    struct trainer_config cfg;
    uint32_t *train_rows, *val_rows, *order;
    size_t n_train, n_val;
    void *scratch;
    struct hist_row *hist;
    int epoch0;     /* epochs already done (resume) */
    uint64_t step;  /* optimiser steps done */
};

/* ---- setup ------------------------------------------------------------------------------ */

static void train_parse_norm(const struct cli_list *l, const char *what, int C, double *out,
                             int positive)
{
    if (l->n == 0) return;
    if (l->n != C) cli_usage_error("--%s needs %d values (one per channel), got %d", what, C, l->n);
    for (int i = 0; i < C; i++) {
        char *end;
        errno = 0;
        double v = strtod(l->items[i], &end);
        if (errno || *end || !isfinite(v) || (positive && !(v > 0)))
            cli_usage_error("cannot use '--%s %s': '%s' is not a %snumber", what, l->items[i],
                            l->items[i], positive ? "positive " : "");
        out[i] = v;
    }
}

/* Per-channel mean and std of x/255 over the training rows (population std), in double. */
static void train_image_stats(struct train *t)
{
    const int C = t->ex.C;
    const size_t px = (size_t)t->ex.H * t->ex.W;
    double sum[MODEL_MAX_CHANNELS] = {0}, sq[MODEL_MAX_CHANNELS] = {0};
    for (size_t i = 0; i < t->n_train; i++) {
        const uint8_t *img = t->images + (size_t)t->train_rows[i] * px * C;
        uint64_t s[MODEL_MAX_CHANNELS] = {0}, q[MODEL_MAX_CHANNELS] = {0};
        for (size_t j = 0; j < px; j++)
            for (int c = 0; c < C; c++) {
                uint64_t v = img[j * C + c];
                s[c] += v;
                q[c] += v * v;
            }
        for (int c = 0; c < C; c++)
            sum[c] += (double)s[c], sq[c] += (double)q[c];
    }
    double n = (double)t->n_train * (double)px;
    for (int c = 0; c < C; c++) {
        double mean = sum[c] / n, var = sq[c] / n - mean * mean;
        t->m.mean[c] = mean / 255.0;
        t->m.std[c] = var > 0 ? sqrt(var) / 255.0 : 1.0;
    }
}

static void train_load_examples(struct train *t)
{
    if (exampleset_open(&t->ex, t->examples_path)) cli_fail();
    if (t->ex.n == 0) cli_die("cannot train on '%s': no examples", t->examples_path);
    if (h5table_content_hash(t->ex.file, &t->examples_hash)) cli_fail();
    size_t px = (size_t)t->ex.H * t->ex.W * t->ex.C;
    t->images = xmalloc(t->ex.n * px);
    if (exampleset_read_images(&t->ex, 0, t->ex.n, t->images)) cli_fail();
    t->train_rows = xmalloc(t->ex.n * sizeof *t->train_rows);
    t->val_rows = xmalloc(t->ex.n * sizeof *t->val_rows);
    t->order = xmalloc(t->ex.n * sizeof *t->order);
    for (size_t i = 0; i < t->ex.n; i++) {
        if (trainer_is_validation(t->ex.ids[i], t->val_fraction, (uint64_t)t->split_seed))
            t->val_rows[t->n_val++] = (uint32_t)i;
        else
            t->train_rows[t->n_train++] = (uint32_t)i;
    }
    if (t->n_train < (size_t)t->batch)
        cli_die("cannot train on '%s': %zu training examples, fewer than one batch of %lld",
                t->examples_path, t->n_train, t->batch);
}

/* A fresh model from --arch (seeded init) or --init (its weights). */
static void train_new_model(struct train *t, unsigned flags)
{
    if (t->init_path) {
        if (model_load(&t->m, t->init_path, (int)t->batch, flags)) cli_fail();
        return;
    }
    struct net_layer_spec *specs = NULL;
    int n = 0;
    if (model_arch_read(t->arch_path, &specs, &n)) cli_fail();
    int rc = model_build(&t->m, specs, n, (int)t->batch, flags);
    free(specs);
    if (rc) cli_fail();
    if (net_output_layer(t->m.net) == net_logits_layer(t->m.net))
        cli_die("cannot train '%s': the architecture must end with a softmax or sigmoid layer "
                "(it chooses the loss)", t->arch_path);
    init_net(t->m.net, (uint64_t)t->seed, (enum init_scheme)init_scheme_from_name(t->init_scheme));
    for (int k = 0; k < t->ex.K; k++)
        memcpy(t->m.class_names[k], t->ex.class_names[k], MODEL_CLASS_NAME_MAX);
    train_image_stats(t);
}

static void train_check_fit(struct train *t)
{
    const struct model *m = &t->m;
    const char *src = t->init_path ? t->init_path : t->arch_path;
    if (m->height != t->ex.H || m->width != t->ex.W || m->channels != t->ex.C)
        cli_die("cannot train '%s' on '%s': the model takes %dx%dx%d images, the examples are "
                "%dx%dx%d", src, t->examples_path, m->height, m->width, m->channels, t->ex.H,
                t->ex.W, t->ex.C);
    if (m->n_classes != t->ex.K)
        cli_die("cannot train '%s' on '%s': the model has %d outputs, the examples %d classes",
                src, t->examples_path, m->n_classes, t->ex.K);
    for (int k = 0; k < m->n_classes; k++)
        if (strcmp(m->class_names[k], t->ex.class_names[k]))
            cli_die("cannot train '%s' on '%s': class %d is '%s' in the model, '%s' in the "
                    "examples", src, t->examples_path, k, m->class_names[k],
                    t->ex.class_names[k]);
    if (m->activation == MODEL_SIGMOID) return;
    for (size_t i = 0; i < t->n_train; i++)
        if (t->ex.label[t->train_rows[i]] < 0)
            cli_die("cannot train '%s' with softmax cross-entropy: example %zu of '%s' has no "
                    "single label (%d labels); use a sigmoid head for multi-label data", src,
                    (size_t)t->train_rows[i], t->examples_path, t->ex.n_labels[t->train_rows[i]]);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static int train_write_states(struct train *t, struct h5table_file *f)
{
    char name[NET_PARAM_NAME_MAX + 32];
    for (int i = 0; i < net_param_count(t->m.net); i++) {
        const struct net_param *p = net_param_at(t->m.net, i);
        uint64_t dims[1] = {tensor_numel(&p->value)};
        for (int s = 0; s < 2; s++) {
            if (!p->state[s]) continue;
            snprintf(name, sizeof name, "checkpoint/%s.state%d", p->name, s);
            if (h5table_write_array(f, name, H5TABLE_F32, 1, dims, p->state[s])) return -1;
        }
    }
    return 0;
}

static int train_read_states(struct train *t, struct h5table_file *f)
{
    char name[NET_PARAM_NAME_MAX + 32];
    for (int i = 0; i < net_param_count(t->m.net); i++) {
        const struct net_param *p = net_param_at(t->m.net, i);
        size_t n = tensor_numel(&p->value);
        for (int s = 0; s < 2; s++) {
            if (!p->state[s]) continue;
            snprintf(name, sizeof name, "checkpoint/%s.state%d", p->name, s);
            uint64_t dims[H5TABLE_MAX_RANK];
            float *v = NULL;
            if (h5table_read_array(f, name, H5TABLE_F32, 1, dims, (void **)&v)) return -1;
            if (dims[0] != n) {
                free(v);
                return err_set("cannot resume from '%s': %s has %llu values, expected %zu",
                               t->ckpt, name, (unsigned long long)dims[0], n);
            }
            memcpy(p->state[s], v, n * sizeof *v);
            free(v);
        }
    }
    return 0;
}

/* Model, optimiser state, history and where we are; committed atomically. */
static int train_write_checkpoint(struct train *t, int epochs_done)
{
    struct h5table_file *f = h5table_create(t->ckpt);
    if (!f) return -1;
    int rc = model_write(f, &t->m) || train_write_states(t, f) ||
             h5table_write_table(f, "history", &hist_schema, t->hist, (size_t)epochs_done) ||
             h5table_attr_set_i64(f, "/", "checkpoint_epoch", epochs_done) ||
             h5table_attr_set_u64(f, "/", "checkpoint_step", t->step) ||
             h5table_attr_set_u64(f, "/", "checkpoint_examples_hash", t->examples_hash) ||
             h5table_attr_set_str(f, "/", "checkpoint_params", t->params);
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

static int train_read_checkpoint(struct train *t, unsigned flags)
{
    struct h5table_file *f = h5table_open(t->ckpt);
    if (!f) return -1;
    char *params = NULL;
    int64_t epoch = 0;
    uint64_t hash = 0;
    struct hist_row *h = NULL;
    size_t nh = 0;
    int rc = model_read(&t->m, f, (int)t->batch, flags) ||
             h5table_attr_get_i64(f, "/", "checkpoint_epoch", &epoch) ||
             h5table_attr_get_u64(f, "/", "checkpoint_step", &t->step) ||
             h5table_attr_get_u64(f, "/", "checkpoint_examples_hash", &hash) ||
             h5table_attr_get_str(f, "/", "checkpoint_params", &params) ||
             train_read_states(t, f) ||
             h5table_read_table(f, "history", &hist_schema, (void **)&h, &nh);
    if (!rc && strcmp(params, t->params))
        rc = err_set("cannot resume from '%s': it was made with other parameters (%s); use the "
                     "same options or remove it", t->ckpt, params);
    if (!rc && hash != t->examples_hash)
        rc = err_set("cannot resume from '%s': it was trained on other examples than '%s'",
                     t->ckpt, t->examples_path);
    if (!rc && (epoch < 0 || epoch > t->epochs || nh != (size_t)epoch))
        rc = err_set("cannot resume from '%s': inconsistent epoch %lld", t->ckpt,
                     (long long)epoch);
    if (!rc) {
        memcpy(t->hist, h, nh * sizeof *h);
        t->epoch0 = (int)epoch;
    }
    free(params);
    free(h);
    if (h5table_close(f)) rc = -1;
    return rc;
}

/* ---- epochs ----------------------------------------------------------------------------- */

static void train_progress(void *user, size_t done, size_t total)
{
    struct cli_progress *p = user;
    (void)total;
    cli_progress_update(p, done);
}

/* Validation loss, top-1 accuracy (single-label) or top-1 hit rate (multi-label), and mAP. */
static void train_validate(struct train *t, struct hist_row *h)
{
    h->val_loss = h->val_accuracy = h->val_map = NAN;
    if (t->n_val == 0) return;
    const int K = t->ex.K;
    float *z = xmalloc(t->n_val * K * sizeof *z), *p = xmalloc(t->n_val * K * sizeof *p);
    uint8_t *truth = xmalloc(t->n_val * K);
    int32_t *pred = xmalloc(t->n_val * sizeof *pred);
    struct classify_pair *scratch = xmalloc(t->n_val * sizeof *scratch);
    double *ap = xmalloc(K * sizeof *ap);
    if (trainer_evaluate(t->m.net, &t->data, t->val_rows, t->n_val, &t->cfg, z, &h->val_loss,
                         t->scratch))
        cli_fail();
    classify_probs(p, z, t->n_val, K, t->m.activation == MODEL_SIGMOID);
    classify_argmax(pred, z, t->n_val, K);
    size_t hits = 0;
    for (size_t i = 0; i < t->n_val; i++) {
        memcpy(truth + i * K, t->ex.multi_hot + (size_t)t->val_rows[i] * K, (size_t)K);
        hits += truth[i * K + pred[i]] != 0;
    }
    h->val_accuracy = (double)hits / (double)t->n_val;
    h->val_map = classify_map(ap, NULL, p, truth, t->n_val, K, scratch);
    free(z), free(p), free(truth), free(pred), free(scratch), free(ap);
}

static double train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void train_epochs(struct train *t)
{
    int stop = t->stop_after > 0 ? t->epoch0 + (int)t->stop_after : (int)t->epochs;
    for (int e = t->epoch0; e < t->epochs && e < stop; e++) {
        struct cli_progress pr;
        struct trainer_stats st;
        struct hist_row *h = &t->hist[e];
        char what[64];
        snprintf(what, sizeof what, "epoch %d/%lld", e + 1, t->epochs);
        cli_progress_start(&pr, what, t->n_train);
        t->cfg.progress_user = &pr;
        double t0 = train_now();
        if (trainer_epoch(t->m.net, &t->data, t->train_rows, t->n_train, (uint32_t)e, &t->cfg,
                          &t->step, t->order, t->scratch, &st))
            cli_fail();
        cli_progress_finish(&pr);
        double secs = train_now() - t0;
        memset(h, 0, sizeof *h);
        h->epoch = e + 1;
        h->lr = optim_lr_at(t->cfg.lr, t->cfg.min_lr, t->step - 1, t->cfg.warmup_steps,
                            t->cfg.total_steps, t->cfg.cosine);
        h->train_loss = st.loss;
        h->train_accuracy = (double)st.correct / (double)st.examples;
        train_validate(t, h);
        fprintf(stderr, "train: epoch %d/%lld lr %.5f train_loss %.4f train_acc %.4f val_loss "
                "%.4f val_acc %.4f val_map %.4f (%.1f s, %.0f img/s)\n", e + 1, t->epochs, h->lr,
                h->train_loss, h->train_accuracy, h->val_loss, h->val_accuracy, h->val_map,
                secs, (double)st.examples / secs);
        if (train_write_checkpoint(t, e + 1)) cli_fail();
    }
}

/* ---- main ------------------------------------------------------------------------------- */

static void train_configure(struct train *t)
{
    struct trainer_config *c = &t->cfg;
    int kind = optim_kind_from_name(t->optimizer);
    if (kind < 0) cli_usage_error("cannot use '--optimizer %s': sgd, adam or adamw", t->optimizer);
    if (strcmp(t->schedule, "cosine") && strcmp(t->schedule, "constant"))
        cli_usage_error("cannot use '--schedule %s': cosine or constant", t->schedule);
    if (init_scheme_from_name(t->init_scheme) < 0)
        cli_usage_error("cannot use '--init-scheme %s': pytorch, kaiming_normal or "
                        "kaiming_uniform", t->init_scheme);
    optim_config_init(&c->optim, (enum optim_kind)kind);
    c->optim.momentum = t->momentum;
    c->optim.nesterov = t->nesterov;
    c->optim.weight_decay = t->weight_decay;
    c->optim.decay_all = t->decay_all;
    c->batch = (int)t->batch;
    c->seed = (uint64_t)t->seed;
    c->lr = t->lr, c->min_lr = t->min_lr;
    c->cosine = !strcmp(t->schedule, "cosine");
    c->flip = t->flip, c->max_shift = (int)t->shift;
    c->progress = train_progress;
}

static void train_finish_config(struct train *t)
{
    struct trainer_config *c = &t->cfg;
    uint64_t per_epoch = t->n_train / (size_t)t->batch;
    c->total_steps = per_epoch * (uint64_t)t->epochs;
    c->warmup_steps = (uint64_t)llround(t->warmup_epochs * (double)per_epoch);
    c->loss = t->m.activation == MODEL_SIGMOID ? TRAINER_BCE : TRAINER_CE;
    c->mean = t->m.mean, c->std = t->m.std;
    t->data = (struct trainer_data){t->ex.n, t->ex.H, t->ex.W, t->ex.C, t->ex.K, t->images,
                                    t->ex.label, t->ex.multi_hot, t->ex.ids};
    t->scratch = xmalloc(trainer_scratch_bytes(&t->data, (int)t->batch));
    size_t np = 0;
    for (int i = 0; i < net_param_count(t->m.net); i++)
        np += tensor_numel(&net_param_at(t->m.net, i)->value);
    fprintf(stderr, "train: %zu training / %zu validation examples, %llu steps per epoch, %s, "
            "%.3fM parameters, %d threads\n", t->n_train, t->n_val,
            (unsigned long long)per_epoch, c->loss == TRAINER_BCE ? "sigmoid + BCE (multi-label)"
                                                                : "softmax + cross-entropy",
            (double)np / 1e6, cli_threads());
}

static void train_save(struct train *t)
{
    const struct h5table_input in[2] = {{"examples", t->examples_path, &t->examples_hash},
                                        {"init", t->init_path, NULL}};
    const struct hist_row *last = &t->hist[t->epochs - 1];
    struct h5table_file *f = h5table_create(t->out);
    if (!f) cli_fail();
    int rc = model_write(f, &t->m) ||
             h5table_write_table(f, "history", &hist_schema, t->hist, (size_t)t->epochs) ||
             h5table_write_provenance(f, "train", t->params, in, t->init_path ? 2 : 1) ||
             h5table_attr_set_i64(f, "/", "epochs", t->epochs) ||
             h5table_attr_set_f64(f, "/", "final_train_loss", last->train_loss) ||
             h5table_attr_set_f64(f, "/", "final_val_loss", last->val_loss) ||
             h5table_attr_set_f64(f, "/", "final_val_accuracy", last->val_accuracy) ||
             h5table_attr_set_f64(f, "/", "final_val_map", last->val_map);
    if (rc) {
        h5table_abort(f);
        cli_fail();
    }
    if (h5table_commit(f)) cli_fail();
    if (!t->keep_ckpt && unlink(t->ckpt) && errno != ENOENT)
        cli_die("cannot remove '%s': %s", t->ckpt, strerror(errno));
}

int main(int argc, char **argv)
{
    static struct train t = {.optimizer = "sgd", .schedule = "cosine",
                             .init_scheme = "kaiming_normal", .epochs = 10, .batch = 64,
                             .lr = 0.05, .warmup_epochs = 1, .momentum = 0.9,
                             .weight_decay = 5e-4, .val_fraction = 0.1};
    const struct cli_option opts[] = {
        CLI_OPT("examples", CLI_STRING, &t.examples_path), CLI_OUTPUT("out", &t.out),
        CLI_OPT("arch", CLI_STRING, &t.arch_path), CLI_OPT("init", CLI_STRING, &t.init_path),
        CLI_RANGE("epochs", CLI_INT, &t.epochs, 1, 100000),
        CLI_RANGE("batch", CLI_INT, &t.batch, 1, 4096),
        CLI_OPT("optimizer", CLI_STRING, &t.optimizer),
        CLI_RANGE("lr", CLI_DOUBLE, &t.lr, 0, 100), CLI_RANGE("min-lr", CLI_DOUBLE, &t.min_lr, 0, 100),
        CLI_OPT("schedule", CLI_STRING, &t.schedule),
        CLI_RANGE("warmup-epochs", CLI_DOUBLE, &t.warmup_epochs, 0, 100000),
        CLI_RANGE("momentum", CLI_DOUBLE, &t.momentum, 0, 1), CLI_OPT("nesterov", CLI_FLAG, &t.nesterov),
        CLI_RANGE("weight-decay", CLI_DOUBLE, &t.weight_decay, 0, 10),
        CLI_OPT("decay-all", CLI_FLAG, &t.decay_all),
        CLI_OPT("init-scheme", CLI_STRING, &t.init_scheme),
        CLI_RANGE("seed", CLI_INT, &t.seed, 0, 9e18),
        CLI_RANGE("val-fraction", CLI_DOUBLE, &t.val_fraction, 0, 0.9),
        CLI_RANGE("split-seed", CLI_INT, &t.split_seed, 0, 9e18),
        CLI_OPT("flip", CLI_FLAG, &t.flip), CLI_RANGE("shift", CLI_INT, &t.shift, 0, 64),
        CLI_OPT("mean", CLI_LIST, &t.mean_opt), CLI_OPT("std", CLI_LIST, &t.std_opt),
        {.name = "checkpoint", .kind = CLI_STRING, .value = &t.ckpt_opt, .flags = CLI_NOT_PARAM},
        {.name = "resume", .kind = CLI_FLAG, .value = &t.resume, .flags = CLI_NOT_PARAM},
        {.name = "stop-after", .kind = CLI_INT, .value = &t.stop_after, .min = 0, .max = 100000,
         .flags = CLI_NOT_PARAM},
        {.name = "keep-checkpoint", .kind = CLI_FLAG, .value = &t.keep_ckpt, .flags = CLI_NOT_PARAM},
        CLI_END};
    cli_init("train", train_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    cli_set_output(t.out);
    if (!t.examples_path || !t.out) cli_usage_error("--examples and --out are required");
    if (!t.arch_path == !t.init_path) cli_usage_error("give exactly one of --arch and --init");
    train_configure(&t);
    t.params = cli_params_json();
    t.ckpt = xmalloc(strlen(t.out) + 16);
    sprintf(t.ckpt, "%s.ckpt", t.out);
    if (t.ckpt_opt) strcpy(t.ckpt = xrealloc(t.ckpt, strlen(t.ckpt_opt) + 1), t.ckpt_opt);
    t.hist = xcalloc((size_t)t.epochs, sizeof *t.hist);
    train_load_examples(&t);
    unsigned flags = optim_net_flags(t.cfg.optim.kind);
    model_init(&t.m);
    if (t.resume && access(t.ckpt, F_OK) == 0) {
        if (train_read_checkpoint(&t, flags)) cli_fail();
        fprintf(stderr, "train: resuming from '%s' after epoch %d\n", t.ckpt, t.epoch0);
    } else {
        train_new_model(&t, flags);
    }
    train_parse_norm(&t.mean_opt, "mean", t.m.channels, t.m.mean, 0);
    train_parse_norm(&t.std_opt, "std", t.m.channels, t.m.std, 1);
    train_check_fit(&t);
    train_finish_config(&t);
    train_epochs(&t);
    if (t.epoch0 + (t.stop_after > 0 ? t.stop_after : t.epochs) >= t.epochs) train_save(&t);
    model_release(&t.m);
    exampleset_release(&t.ex);
    free(t.images), free(t.train_rows), free(t.val_rows), free(t.order), free(t.scratch);
    free(t.hist), free(t.ckpt), free(t.params);
    return cli_exit(0);
}

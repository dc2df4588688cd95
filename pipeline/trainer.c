/* One training epoch and evaluation over in-memory examples; see trainer.h. The stage or ROAR
 * driver owns files, checkpoints and logging; this file only computes. */
#include "pipeline/trainer.h"

#include <math.h>
#include <string.h>

#include "pipeline/classify.h"
#include "pipeline/err.h"
#include "pipeline/loss.h"
#include "pipeline/net.h"
#include "pipeline/preprocess.h"
#include "pipeline/rng.h"

/* Scratch layout, each part 8-byte aligned. */
struct trainer_bufs {
    float *x, *xa, *dlogits, *targets;
    int32_t *labels, *pred;
    uint64_t *keys;
};

static size_t al8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static struct trainer_bufs carve(void *scratch, const struct trainer_data *d, int B)
{
    struct trainer_bufs b;
    char *p = scratch;
    size_t img = (size_t)B * d->C * d->H * d->W, bk = (size_t)B * d->K;
    b.x = (float *)p, p += al8(img * sizeof(float));
    b.xa = (float *)p, p += al8(img * sizeof(float));
    b.dlogits = (float *)p, p += al8(bk * sizeof(float));
    b.targets = (float *)p, p += al8(bk * sizeof(float));
    b.labels = (int32_t *)p, p += al8((size_t)B * sizeof(int32_t));
    b.pred = (int32_t *)p, p += al8((size_t)B * sizeof(int32_t));
    b.keys = (uint64_t *)p;
    return b;
}

size_t trainer_scratch_bytes(const struct trainer_data *d, int batch)
{
    size_t img = (size_t)batch * d->C * d->H * d->W, bk = (size_t)batch * d->K;
    return 2 * al8(img * sizeof(float)) + 2 * al8(bk * sizeof(float)) +
           2 * al8((size_t)batch * sizeof(int32_t)) + (size_t)batch * sizeof(uint64_t);
}

void trainer_shuffle(uint32_t *order, const uint32_t *rows, size_t n, uint64_t seed,
                     uint32_t epoch)
{
    memcpy(order, rows, n * sizeof *order);
    struct rng r;
    rng_init(&r, seed, epoch, RNG_SHUFFLE);
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(&r, (uint32_t)i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Gathers examples rows[0..n) into the batch buffers: normalised (and augmented) input,
 * labels/targets and keys. */
static void gather(struct trainer_bufs *b, const struct trainer_data *d, const uint32_t *rows,
                   int n, const struct trainer_config *c, int augment, uint32_t epoch)
{
    const size_t px = (size_t)d->H * d->W * d->C;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        preprocess_forward(b->x + i * px, d->images + (size_t)rows[i] * px, c->mean, c->std, 1,
                           d->H, d->W, d->C);
    for (int i = 0; i < n; i++) {
        size_t r = rows[i];
        b->keys[i] = d->ids[r];
        if (d->labels) b->labels[i] = d->labels[r];
        for (int k = 0; d->multi_hot && k < d->K; k++)
            b->targets[(size_t)i * d->K + k] = d->multi_hot[r * d->K + k] ? 1.0f : 0.0f;
    }
    if (!augment) return;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        struct preprocess_aug a =
            preprocess_aug_draw(c->seed, b->keys[i], epoch, c->flip, c->max_shift);
        preprocess_augment_forward(b->xa + i * px, b->x + i * px, &a, d->C, d->H, d->W);
    }
    memcpy(b->x, b->xa, (size_t)n * px * sizeof(float));
}

static double batch_loss(struct trainer_bufs *b, const float *logits, int n, int K,
                         enum trainer_loss kind, int want_grad)
{
    float *g = want_grad ? b->dlogits : NULL;
    return kind == TRAINER_CE ? loss_softmax_ce(NULL, g, logits, b->labels, n, K)
                              : loss_bce_logits(NULL, g, logits, b->targets, n, K);
}

static size_t batch_correct(struct trainer_bufs *b, const float *logits, int n, int K,
                            enum trainer_loss kind)
{
    size_t hits = 0;
    classify_argmax(b->pred, logits, (size_t)n, K);
    for (int i = 0; i < n; i++)
        hits += kind == TRAINER_CE ? b->pred[i] == b->labels[i]
                                   : b->targets[(size_t)i * K + b->pred[i]] > 0.5f;
    return hits;
}

int trainer_epoch(struct net *net, const struct trainer_data *d, const uint32_t *rows,
                  size_t n_rows, uint32_t epoch, const struct trainer_config *c, uint64_t *step,
                  uint32_t *order, void *scratch, struct trainer_stats *st)
{
    const int B = c->batch, K = d->K;
    SB_ASSERT(B >= 1 && B <= net_max_batch(net));
    struct trainer_bufs b = carve(scratch, d, B);
    const int logits = net_logits_layer(net);
    memset(st, 0, sizeof *st);
    trainer_shuffle(order, rows, n_rows, c->seed, epoch);
    double sum = 0;
    for (size_t at = 0; at + (size_t)B <= n_rows; at += (size_t)B) {
        gather(&b, d, order + at, B, c, c->flip || c->max_shift > 0, epoch);
        struct net_train_ctx ctx = {c->seed, (uint32_t)*step, b.keys};
        if (net_forward(net, b.x, B, NET_TRAIN, &ctx)) return -1;
        const float *z = net_act(net, logits).data;
        double l = batch_loss(&b, z, B, K, c->loss, 1);
        if (!isfinite(l))
            return err_set("cannot train: the loss is %g at step %llu (learning rate too high?)",
                           l, (unsigned long long)*step);
        st->correct += batch_correct(&b, z, B, K, c->loss);
        net_zero_grad(net);
        if (net_backward(net, B, NULL, b.dlogits, NULL, NULL, NET_GRAD_PARAMS)) return -1;
        double lr = optim_lr_at(c->lr, c->min_lr, *step, c->warmup_steps, c->total_steps,
                                c->cosine);
        if (optim_step(net, &c->optim, lr, *step + 1)) return -1;
        (*step)++;
        sum += l;
        st->steps++;
        st->examples += (size_t)B;
        if (c->progress) c->progress(c->progress_user, at + (size_t)B, n_rows);
    }
    st->loss = st->steps ? sum / (double)st->steps : NAN;
    return 0;
}

int trainer_evaluate(struct net *net, const struct trainer_data *d, const uint32_t *rows,
                     size_t n_rows, const struct trainer_config *c, float *logits, double *loss,
                     void *scratch)
{
    const int B = c->batch, K = d->K;
    struct trainer_bufs b = carve(scratch, d, B);
    const int L = net_logits_layer(net);
    double sum = 0;
    for (size_t at = 0; at < n_rows; at += (size_t)B) {
        int n = n_rows - at < (size_t)B ? (int)(n_rows - at) : B;
        gather(&b, d, rows + at, n, c, 0, 0);
        if (net_forward(net, b.x, n, NET_EVAL, NULL)) return -1;
        const float *z = net_act(net, L).data;
        sum += batch_loss(&b, z, n, K, c->loss, 0) * n;
        if (logits) memcpy(logits + at * K, z, (size_t)n * K * sizeof *z);
    }
    if (loss) *loss = n_rows ? sum / (double)n_rows : NAN;
    return 0;
}

int trainer_is_validation(uint64_t id, double fraction, uint64_t split_seed)
{
    uint32_t w[4];
    rng_philox(w, split_seed, id, RNG_SPLIT, 0);
    return (double)w[0] < fraction * 4294967296.0;
}

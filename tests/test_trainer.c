/* Tests of pipeline/preprocess and pipeline/trainer: normalisation values and NHWC -> NCHW
 * layout, flip/shift augmentation by hand, the keyed draws (deterministic, in range, varying),
 * the epoch shuffle (a permutation, deterministic, new each epoch), the validation split
 * fraction, and a small training run: the loss falls, two runs give bitwise equal weights, and
 * 1 and 2 threads give bitwise equal weights (CE and BCE). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/init.h"
#include "pipeline/net.h"
#include "pipeline/preprocess.h"
#include "pipeline/trainer.h"
#include "tests/check.h"

static void test_preprocess(void)
{
    /* 1 example, 2x2, 3 channels: HWC bytes */
    uint8_t in[12] = {255, 0, 51, 0, 255, 51, 255, 255, 51, 0, 0, 51};
    double mean[3] = {0.5, 0.25, 0.2}, std[3] = {0.25, 0.5, 1.0};
    float out[12];
    preprocess_forward(out, in, mean, std, 1, 2, 2, 3);
    float want[12] = {2, -2, 2, -2, -0.5f, 1.5f, 1.5f, -0.5f, 0, 0, 0, 0};
    check_close("preprocess_normalise_layout", out, want, 12, 1e-6, 1e-6);

    float img[2 * 3 * 3], aug[2 * 3 * 3]; /* C=2, H=3, W=3 */
    for (int i = 0; i < 18; i++)
        img[i] = (float)(i + 1);
    struct preprocess_aug a = {1, 0, 0};
    preprocess_augment_forward(aug, img, &a, 2, 3, 3);
    CHECK(aug[0] == 3 && aug[1] == 2 && aug[2] == 1 && aug[9] == 12, "preprocess_flip",
          "%g %g %g", aug[0], aug[1], aug[2]);
    struct preprocess_aug s = {0, 1, -1}; /* down 1, left 1 */
    preprocess_augment_forward(aug, img, &s, 2, 3, 3);
    CHECK(aug[0] == 0 && aug[2] == 0 && aug[3] == 2 && aug[4] == 3 && aug[5] == 0 &&
              aug[6] == 5,
          "preprocess_shift", "%g %g %g %g", aug[3], aug[4], aug[5], aug[6]);

    int flips = 0, ok = 1, same = 1;
    for (uint64_t id = 0; id < 200; id++) {
        struct preprocess_aug d = preprocess_aug_draw(9, id * 7919, 3, 1, 4);
        struct preprocess_aug e = preprocess_aug_draw(9, id * 7919, 3, 1, 4);
        struct preprocess_aug f = preprocess_aug_draw(9, id * 7919, 4, 1, 4);
        flips += d.flip;
        ok &= d.dy >= -4 && d.dy <= 4 && d.dx >= -4 && d.dx <= 4;
        ok &= !memcmp(&d, &e, sizeof d);
        same &= !memcmp(&d, &f, sizeof d);
    }
    CHECK(ok && flips > 60 && flips < 140 && !same, "preprocess_aug_draw",
          "ok %d flips %d same-across-epochs %d", ok, flips, same);
    struct preprocess_aug none = preprocess_aug_draw(9, 5, 0, 0, 0);
    CHECK(!none.flip && !none.dx && !none.dy, "preprocess_aug_none", "");
}

static void test_shuffle_split(void)
{
    enum { N = 1000 };
    static uint32_t rows[N], a[N], b[N], c[N];
    for (uint32_t i = 0; i < N; i++)
        rows[i] = 2 * i;
    trainer_shuffle(a, rows, N, 5, 0);
    trainer_shuffle(b, rows, N, 5, 0);
    trainer_shuffle(c, rows, N, 5, 1);
    static uint8_t seen[2 * N];
    int perm = 1;
    for (int i = 0; i < N; i++) {
        perm &= a[i] % 2 == 0 && a[i] < 2 * N && !seen[a[i]];
        seen[a[i]] = 1;
    }
    CHECK(perm && !memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a) && memcmp(a, rows, sizeof a),
          "trainer_shuffle", "permutation %d", perm);
    int val = 0, again = 1;
    for (uint64_t id = 0; id < 20000; id++) {
        int v = trainer_is_validation(id * 0x9e3779b97f4a7c15ull, 0.1, 0);
        val += v;
        again &= v == trainer_is_validation(id * 0x9e3779b97f4a7c15ull, 0.1, 0);
    }
    CHECK(again && val > 1800 && val < 2200, "trainer_validation_fraction", "%d of 20000", val);
    CHECK(!trainer_is_validation(123, 0.0, 0), "trainer_validation_zero", "");
}

/* Toy data: 8x8 RGB, class = brightest quadrant (4 classes); multi-hot also marks a second
 * quadrant when it is bright too. */
enum { TN = 96, TH = 8, TW = 8, TC = 3, TK = 4 };
static uint8_t t_img[TN * TH * TW * TC], t_hot[TN * TK];
static int32_t t_lab[TN];
static uint64_t t_ids[TN];

static void toy_data(void)
{
    for (int n = 0; n < TN; n++) {
        int k = n % TK, k2 = (n / TK) % TK;
        t_lab[n] = k;
        t_ids[n] = 0x1234567ull * (uint64_t)(n + 1);
        memset(t_hot + n * TK, 0, TK);
        t_hot[n * TK + k] = 1;
        if (n % 3 == 0) t_hot[n * TK + k2] = 1;
        for (int y = 0; y < TH; y++)
            for (int x = 0; x < TW; x++) {
                int q = (y >= TH / 2) * 2 + (x >= TW / 2);
                int on = q == k || (n % 3 == 0 && q == k2);
                for (int c = 0; c < TC; c++)
                    t_img[((n * TH + y) * TW + x) * TC + c] =
                        (uint8_t)(on ? 200 + 10 * c : 20 + (x * 7 + y * 3 + n) % 30);
            }
    }
}

static struct net *toy_net(int sigmoid)
{
    struct net_layer_spec s[8];
    net_layer_spec_init(&s[0], NET_INPUT, "input");
    s[0].channels = TC, s[0].height = TH, s[0].width = TW;
    net_layer_spec_init(&s[1], NET_CONV2D, "conv");
    s[1].out_channels = 8, s[1].kernel[0] = s[1].kernel[1] = 3;
    s[1].padding[0] = s[1].padding[1] = 1, s[1].bias = 0;
    net_layer_spec_init(&s[2], NET_BATCHNORM, "bn");
    net_layer_spec_init(&s[3], NET_RELU, "relu");
    net_layer_spec_init(&s[4], NET_MAXPOOL, "pool");
    s[4].kernel[0] = s[4].kernel[1] = 4;
    net_layer_spec_init(&s[5], NET_DROPOUT, "drop");
    s[5].p = 0.1f;
    net_layer_spec_init(&s[6], NET_LINEAR, "fc");
    s[6].out_channels = TK;
    net_layer_spec_init(&s[7], sigmoid ? NET_SIGMOID : NET_SOFTMAX, "head");
    struct net *net = NULL;
    if (net_build(&net, s, 8, 16, NET_OPT_STATE2)) return NULL;
    init_net(net, 11, INIT_KAIMING_NORMAL);
    return net;
}

/* Trains `epochs` epochs; returns the final parameters (malloc'd) and the epoch losses. */
static float *toy_train(int sigmoid, int threads, int epochs, double *losses)
{
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    struct net *net = toy_net(sigmoid);
    if (!net) return NULL;
    double mean[3] = {0.3, 0.3, 0.3}, std[3] = {0.3, 0.3, 0.3};
    struct trainer_data d = {TN, TH, TW, TC, TK, t_img, t_lab, t_hot, t_ids};
    struct trainer_config c;
    memset(&c, 0, sizeof c);
    c.loss = sigmoid ? TRAINER_BCE : TRAINER_CE;
    c.batch = 16, c.seed = 3, c.lr = 0.01, c.min_lr = 0.001, c.cosine = 1;
    c.warmup_steps = 2, c.total_steps = (uint64_t)epochs * (TN / 16);
    c.flip = 1, c.max_shift = 1, c.mean = mean, c.std = std;
    optim_config_init(&c.optim, OPTIM_ADAM);
    c.optim.weight_decay = 1e-4;
    uint32_t rows[TN], order[TN];
    for (uint32_t i = 0; i < TN; i++)
        rows[i] = i;
    void *scratch = malloc(trainer_scratch_bytes(&d, 16));
    uint64_t step = 0;
    struct trainer_stats st;
    for (int e = 0; e < epochs; e++) {
        if (trainer_epoch(net, &d, rows, TN, (uint32_t)e, &c, &step, order, scratch, &st)) break;
        losses[e] = st.loss;
    }
    size_t total = 0;
    for (int i = 0; i < net_param_count(net); i++)
        total += tensor_numel(&net_param_at(net, i)->value);
    float *w = malloc(total * sizeof *w), *p = w;
    for (int i = 0; i < net_param_count(net); i++) {
        struct net_param *q = net_param_at(net, i);
        memcpy(p, q->value.data, tensor_numel(&q->value) * sizeof *p);
        p += tensor_numel(&q->value);
    }
    /* evaluate: logits equal a direct eval forward */
    float z[TN * TK], direct[16 * TK], x[16 * TC * TH * TW];
    double vl = 0;
    trainer_evaluate(net, &d, rows, TN, &c, z, &vl, scratch);
    preprocess_forward(x, t_img, mean, std, 16, TH, TW, TC);
    net_forward(net, x, 16, NET_EVAL, NULL);
    memcpy(direct, net_act(net, net_logits_layer(net)).data, sizeof direct);
    losses[epochs] = memcmp(z, direct, sizeof direct) == 0 && isfinite(vl) ? 1 : 0;
    free(scratch);
    net_free(net);
    return w;
}

static void test_training(int sigmoid)
{
    enum { E = 6 };
    double l1[E + 1], l2[E + 1], l3[E + 1];
    float *a = toy_train(sigmoid, 1, E, l1), *b = toy_train(sigmoid, 1, E, l2);
    float *c = toy_train(sigmoid, 2, E, l3);
    const char *tag = sigmoid ? "bce" : "ce";
    char name[64];
    snprintf(name, sizeof name, "trainer_%s_loss_falls", tag);
    CHECK(a && l1[E - 1] < 0.7 * l1[0], name, "epoch losses %g -> %g", l1[0], l1[E - 1]);
    size_t bytes = 0;
    struct net *n = toy_net(sigmoid);
    for (int i = 0; n && i < net_param_count(n); i++)
        bytes += tensor_numel(&net_param_at(n, i)->value) * sizeof(float);
    net_free(n);
    snprintf(name, sizeof name, "trainer_%s_deterministic", tag);
    CHECK(a && b && !memcmp(a, b, bytes), name, "two runs differ");
    snprintf(name, sizeof name, "trainer_%s_threads_1_vs_2", tag);
    CHECK(a && c && !memcmp(a, c, bytes), name, "1 and 2 threads differ");
    snprintf(name, sizeof name, "trainer_%s_evaluate", tag);
    CHECK(l1[E] == 1, name, "evaluate logits differ from a direct eval forward");
    free(a), free(b), free(c);
}

int main(void)
{
    test_preprocess();
    test_shuffle_split();
    toy_data();
    test_training(0);
    test_training(1);
    return check_summary();
}

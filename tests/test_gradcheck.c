/* Whole-net central finite differences: the input gradient and every parameter gradient of
 * net_backward against (L(x+e) - L(x-e)) / 2e, L = sum(seed * head output) in double, for two
 * tiny nets that together use every layer kind (eval mode with a softmax head; train mode with
 * batch-statistics batch norm, dropout masks and a sigmoid head).
 *
 * Tolerance: the float forward carries ~1e-7 relative rounding, ~1e-7..1e-6 on L, so with
 * e = 1e-3 the slope has an absolute noise of ~1e-5..1e-4 whatever the gradient's size (observed
 * worst: 9e-5); truncation is O(e^2). Hence a tensor-wide bound: |num - ana| <= 1e-2 * S with
 * S = max(max_i |ana_i|, 1e-2), which a wrong factor, sign or missing term on any sizeable
 * element exceeds by far. ReLU and max pool are not smooth: an element whose +-e move crosses
 * a kink gives two slopes (e and e/2) that disagree; such elements are skipped, and at most
 * 3% (+1) may be. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/rng.h"
#include "tests/check.h"

#define EPS 1e-3
#define TOL 1e-2

static struct net_layer_spec sp(enum net_kind k, const char *name, const char *in0,
                                const char *in1)
{
    struct net_layer_spec s;
    net_layer_spec_init(&s, k, name);
    if (in0) strcpy(s.inputs[s.n_inputs++], in0);
    if (in1) strcpy(s.inputs[s.n_inputs++], in1);
    return s;
}

static struct net_layer_spec conv(const char *name, const char *in0, int out, int k, int st,
                                  int pad, int groups)
{
    struct net_layer_spec s = sp(NET_CONV2D, name, in0, NULL);
    s.out_channels = out, s.kernel[0] = s.kernel[1] = k, s.stride[0] = s.stride[1] = st;
    s.padding[0] = s.padding[1] = pad, s.groups = groups;
    return s;
}

static struct net_layer_spec pool(enum net_kind kind, const char *name, int k, int st, int pad,
                                  int ceil, int cip)
{
    struct net_layer_spec s = sp(kind, name, NULL, NULL);
    s.kernel[0] = s.kernel[1] = k, s.stride[0] = s.stride[1] = st;
    s.padding[0] = s.padding[1] = pad, s.ceil_mode = ceil, s.count_include_pad = cip;
    return s;
}

static int net_eval_spec(struct net_layer_spec *s)
{
    int n = 0;
    s[n] = sp(NET_INPUT, "input", NULL, NULL);
    s[n].channels = 3, s[n].height = 9, s[n++].width = 9;
    s[n++] = conv("conv1", NULL, 6, 3, 1, 1, 1);
    s[n++] = sp(NET_BATCHNORM, "bn1", NULL, NULL);
    s[n++] = sp(NET_RELU, "relu1", NULL, NULL);
    s[n++] = pool(NET_MAXPOOL, "pool1", 2, 2, 0, 1, 1);
    s[n++] = conv("conv2", NULL, 6, 3, 1, 1, 3);
    s[n++] = sp(NET_BATCHNORM, "bn2", NULL, NULL);
    s[n++] = sp(NET_ADD, "add", "bn2", "pool1");
    s[n++] = sp(NET_RELU, "relu2", NULL, NULL);
    s[n++] = conv("conv3", NULL, 6, 3, 2, 1, 6);
    s[n++] = pool(NET_AVGPOOL, "pool3", 2, 1, 1, 0, 1);
    s[n++] = sp(NET_GLOBAL_AVGPOOL, "gap", NULL, NULL);
    s[n++] = sp(NET_FLATTEN, "flat", NULL, NULL);
    s[n++] = sp(NET_DROPOUT, "drop", NULL, NULL);
    s[n] = sp(NET_LINEAR, "fc", NULL, NULL), s[n++].out_channels = 4;
    s[n++] = sp(NET_SOFTMAX, "probs", NULL, NULL);
    return n;
}

static int net_train_spec(struct net_layer_spec *s)
{
    int n = 0;
    s[n] = sp(NET_INPUT, "input", NULL, NULL);
    s[n].channels = 2, s[n].height = 6, s[n++].width = 6;
    s[n++] = conv("conva", NULL, 3, 3, 1, 1, 1);
    s[n++] = conv("convb", "input", 2, 1, 1, 0, 1);
    s[n++] = sp(NET_CONCAT, "cat", "conva", "convb");
    s[n++] = sp(NET_BATCHNORM, "bn", NULL, NULL);
    s[n++] = sp(NET_RELU, "relu", NULL, NULL);
    s[n++] = pool(NET_AVGPOOL, "pool", 3, 2, 1, 0, 0);
    s[n++] = sp(NET_FLATTEN, "flat", NULL, NULL);
    s[n] = sp(NET_DROPOUT, "drop", NULL, NULL), s[n++].p = 0.25f;
    s[n] = sp(NET_LINEAR, "fc", NULL, NULL), s[n++].out_channels = 3;
    s[n++] = sp(NET_SIGMOID, "probs", NULL, NULL);
    return n;
}

struct gc {
    struct net *net;
    int n, out;
    enum net_mode mode;
    const float *seed;
    size_t nseed;
    struct net_train_ctx ctx;
};

static double loss(struct gc *g)
{
    net_forward(g->net, NULL, g->n, g->mode, &g->ctx);
    const float *y = net_act(g->net, g->out).data;
    double s = 0;
    for (size_t i = 0; i < g->nseed; i++)
        s += (double)g->seed[i] * y[i];
    return s;
}

static double slope(struct gc *g, float *v, double eps)
{
    float x0 = *v, xp = x0 + (float)eps, xm = x0 - (float)eps;
    *v = xp;
    double lp = loss(g);
    *v = xm;
    double lm = loss(g);
    *v = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

/* Checks analytic gradients ana[0..n) of the values v[0..n). */
static void check_var(struct gc *g, const char *tag, const char *what, float *v,
                      const float *ana, size_t n)
{
    size_t bad = 0, skipped = 0, worst = 0;
    double maxerr = 0, scale = 1e-2;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)ana[i]));
    double lim = TOL * scale;
    for (size_t i = 0; i < n; i++) {
        double a = slope(g, &v[i], EPS), b = slope(g, &v[i], EPS / 2);
        if (fabs(a - b) > lim) {
            skipped++;
            continue;
        }
        double err = fabs(a - ana[i]) / lim;
        if (!(err <= 1)) bad++;
        if (err > maxerr || err != err) maxerr = err, worst = i;
    }
    char name[160];
    snprintf(name, sizeof name, "gradcheck_%s_%s", tag, what);
    CHECK(bad == 0 && skipped * 100 <= 3 * n + 100, name,
          "%zu of %zu off (worst [%zu] analytic %.7g, %.2g x tolerance), %zu skipped at kinks",
          bad, n, worst, (double)ana[worst], maxerr, skipped);
}

static void run(const char *tag, int (*spec_fn)(struct net_layer_spec *), int n,
                enum net_mode mode)
{
    struct net_layer_spec s[32];
    int nl = spec_fn(s);
    struct gc g = {NULL, n, 0, mode, NULL, 0, {3, 1, NULL}};
    uint64_t keys[4] = {11, 22, 33, 44};
    g.ctx.keys = keys;
    char name[96];
    snprintf(name, sizeof name, "gradcheck_%s_build", tag);
    if (!CHECK(net_build(&g.net, s, nl, n, 0) == 0, name, "%s", err_msg())) return;
    struct rng r;
    rng_init(&r, 5, 1, RNG_INIT);
    for (int k = 0; k < net_param_count(g.net); k++) {
        struct net_param *p = net_param_at(g.net, k);
        int var = strstr(p->name, "running_var") ||
                  (strstr(p->name, "bn") && strstr(p->name, "weight"));
        for (size_t i = 0; i < tensor_numel(&p->value); i++)
            p->value.data[i] = var ? 0.5f + rng_uniform(&r) : rng_uniform(&r) * 1.2f - 0.6f;
    }
    struct tensor in = net_act(g.net, 0);
    for (size_t i = 0; i < (size_t)n * in.shape[1] * in.shape[2] * in.shape[3]; i++)
        in.data[i] = (float)rng_normal(&r);
    g.out = net_output_layer(g.net);
    int c, h, w;
    net_layer_shape(g.net, g.out, &c, &h, &w);
    g.nseed = (size_t)n * c * h * w;
    float *seed = malloc(sizeof(float) * g.nseed);
    for (size_t i = 0; i < g.nseed; i++)
        seed[i] = rng_uniform(&r) * 2 - 1;
    g.seed = seed;

    loss(&g);
    net_zero_grad(g.net);
    snprintf(name, sizeof name, "gradcheck_%s_backward", tag);
    CHECK(net_backward(g.net, n, net_layer_spec_at(g.net, g.out)->name, seed, NULL, NULL,
                       NET_GRAD_PARAMS | NET_GRAD_INPUT) == 0,
          name, "%s", err_msg());
    size_t nin = (size_t)n * in.shape[1] * in.shape[2] * in.shape[3];
    float *gin = malloc(sizeof(float) * nin);
    memcpy(gin, net_grad(g.net, 0).data, sizeof(float) * nin);
    check_var(&g, tag, "input", net_act(g.net, 0).data, gin, nin);
    for (int k = 0; k < net_param_count(g.net); k++) {
        struct net_param *p = net_param_at(g.net, k);
        if (!p->trainable) continue;
        size_t np = tensor_numel(&p->value);
        float *ga = malloc(sizeof(float) * np);
        memcpy(ga, p->grad.data, sizeof(float) * np);
        check_var(&g, tag, p->name, p->value.data, ga, np);
        free(ga);
    }
    free(gin), free(seed);
    net_free(g.net);
}

int main(void)
{
    run("eval", net_eval_spec, 2, NET_EVAL);
    run("train", net_train_spec, 3, NET_TRAIN);
    return check_summary();
}

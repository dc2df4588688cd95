/* Tests of pipeline/optim and pipeline/init: SGD (momentum, Nesterov, weight decay), Adam and
 * AdamW over five steps against torch.optim (tests/ref/train_fixtures.h), the warm-up + cosine
 * schedule against its closed form, optim_step on a built net (decay only on weights), and the
 * initialisers: bounds and spread per scheme, determinism, seed sensitivity, layer re-draw. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/init.h"
#include "pipeline/net.h"
#include "pipeline/optim.h"
#include "tests/check.h"
#include "tests/ref/train_fixtures.h"

enum { P = FIX_OPT_P, STEPS = FIX_OPT_STEPS };

static void run_fixture(const char *name, enum optim_kind kind, int nesterov, double lr,
                        double wd, const float *expect)
{
    struct optim_config c;
    optim_config_init(&c, kind);
    c.nesterov = nesterov;
    c.weight_decay = wd;
    float p[P], s0[P] = {0}, s1[P] = {0};
    memcpy(p, fix_opt_p0, sizeof p);
    for (int s = 0; s < STEPS; s++)
        optim_update(p, s0, s1, fix_opt_grads + s * P, P, &c, lr, (uint64_t)s + 1, 1);
    check_close(name, p, expect, P, 1e-6, 1e-5);
}

static void test_schedule(void)
{
    int ok = 1;
    double worst = 0;
    /* warm-up 10 steps of 100, lr 0.1 down to 0.001 */
    for (uint64_t s = 0; s < 110; s++) {
        double got = optim_lr_at(0.1, 0.001, s, 10, 100, 1), want;
        if (s < 10)
            want = 0.1 * (double)(s + 1) / 10.0;
        else if (s >= 100)
            want = 0.001;
        else
            want = 0.001 + 0.099 * (1 + cos(M_PI * (double)(s - 10) / 90.0)) / 2;
        worst = fmax(worst, fabs(got - want));
        ok &= fabs(got - want) < 1e-15;
    }
    CHECK(ok, "optim_schedule_cosine", "max diff %g", worst);
    CHECK(optim_lr_at(0.1, 0.0, 10, 10, 100, 1) == 0.1 && optim_lr_at(0.1, 0, 50, 0, 100, 0) == 0.1,
          "optim_schedule_peak_and_constant", "%g", optim_lr_at(0.1, 0.0, 10, 10, 100, 1));
    CHECK(optim_kind_from_name("adamw") == OPTIM_ADAMW && optim_kind_from_name("x") == -1 &&
              !strcmp(optim_kind_name(OPTIM_SGD), "sgd"),
          "optim_names", "");
}

/* conv(3->4, 3x3, bias) -> bn -> relu -> gap -> linear(4->3). */
static struct net *small_net(unsigned flags)
{
    struct net_layer_spec s[6];
    net_layer_spec_init(&s[0], NET_INPUT, "input");
    s[0].channels = 3, s[0].height = 5, s[0].width = 5;
    net_layer_spec_init(&s[1], NET_CONV2D, "conv");
    s[1].out_channels = 4, s[1].kernel[0] = s[1].kernel[1] = 3;
    s[1].padding[0] = s[1].padding[1] = 1;
    net_layer_spec_init(&s[2], NET_BATCHNORM, "bn");
    net_layer_spec_init(&s[3], NET_RELU, "relu");
    net_layer_spec_init(&s[4], NET_GLOBAL_AVGPOOL, "gap");
    net_layer_spec_init(&s[5], NET_LINEAR, "fc");
    s[5].out_channels = 3;
    struct net *net = NULL;
    if (net_build(&net, s, 6, 2, flags)) return NULL;
    return net;
}

static void test_optim_step(void)
{
    struct net *net = small_net(optim_net_flags(OPTIM_SGD));
    if (!CHECK(net != NULL, "optim_step_build", "net_build failed")) return;
    init_net(net, 7, INIT_PYTORCH);
    struct optim_config c;
    optim_config_init(&c, OPTIM_SGD);
    c.momentum = 0, c.weight_decay = 0.5;
    struct net_param *w = net_param_find(net, "conv.weight");
    struct net_param *b = net_param_find(net, "conv.bias");
    struct net_param *rv = net_param_find(net, "bn.running_var");
    float w0 = w->value.data[0], b0 = b->value.data[0];
    net_zero_grad(net); /* zero gradients: only the decay moves anything */
    int rc = optim_step(net, &c, 0.1, 1);
    CHECK(rc == 0 && w->value.data[0] == w0 - 0.1f * (0.5f * w0) && b->value.data[0] == b0 &&
              rv->value.data[0] == 1.0f,
          "optim_step_decay_weights_only", "w %g (from %g) b %g (from %g)", w->value.data[0], w0,
          b->value.data[0], b0);
    optim_config_init(&c, OPTIM_ADAM);
    CHECK(optim_step(net, &c, 0.1, 1) == -1, "optim_step_missing_state", "expected failure");
    net_free(net);
}

static double mean_of(const float *x, size_t n, double *sd)
{
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    *sd = sqrt(v / (double)n);
    return m;
}

static void test_init(void)
{
    struct net *a = small_net(NET_NO_GRAD), *b = small_net(NET_NO_GRAD);
    if (!CHECK(a && b, "init_build", "net_build failed")) return;
    init_net(a, 1, INIT_PYTORCH);
    struct net_param *w = net_param_find(a, "conv.weight"), *bias = net_param_find(a, "conv.bias");
    size_t n = tensor_numel(&w->value);
    double bound = 1.0 / sqrt(27.0), sd, worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(w->value.data[i]));
    for (int i = 0; i < 4; i++)
        worst = fmax(worst, fabs(bias->value.data[i]));
    mean_of(w->value.data, n, &sd);
    CHECK(worst <= bound && sd > 0.4 * bound, "init_pytorch_bound", "max %g bound %g sd %g",
          worst, bound, sd);
    struct net_param *g = net_param_find(a, "bn.weight"), *rm = net_param_find(a, "bn.running_mean");
    CHECK(g->value.data[0] == 1.0f && rm->value.data[3] == 0.0f, "init_batchnorm", "");

    init_net(b, 1, INIT_PYTORCH);
    int same = 1;
    for (int i = 0; i < net_param_count(a); i++) {
        const struct net_param *pa = net_param_at(a, i), *pb = net_param_at(b, i);
        same &= !memcmp(pa->value.data, pb->value.data, tensor_numel(&pa->value) * 4);
    }
    CHECK(same, "init_deterministic", "same seed gave different weights");
    init_net(b, 2, INIT_PYTORCH);
    CHECK(memcmp(w->value.data, net_param_find(b, "conv.weight")->value.data, n * 4) != 0,
          "init_seed_changes", "seed 2 gave the seed-1 weights");

    /* Re-drawing one layer reproduces exactly what init_net gave it. */
    float keep[4 * 3 * 3 * 3];
    memcpy(keep, w->value.data, sizeof keep);
    memset(w->value.data, 0, sizeof keep);
    init_layer(a, net_layer_index(a, "conv"), 1, INIT_PYTORCH);
    CHECK(!memcmp(keep, w->value.data, sizeof keep), "init_layer_redraw", "values differ");

    /* Kaiming normal on conv: std sqrt(2 / fan_out), fan_out = 4 * 3 * 3 (108 values: loose). */
    struct net *big = small_net(NET_NO_GRAD);
    init_net(big, 3, INIT_KAIMING_NORMAL);
    struct net_param *cw = net_param_find(big, "conv.weight");
    double m = mean_of(cw->value.data, tensor_numel(&cw->value), &sd);
    double want = sqrt(2.0 / 36.0);
    CHECK(fabs(sd - want) < 0.3 * want && fabs(m) < 0.5 * want &&
              net_param_find(big, "conv.bias")->value.data[0] == 0.0f,
          "init_kaiming_normal", "sd %g want %g mean %g", sd, want, m);
    init_net(big, 3, INIT_KAIMING_UNIFORM);
    worst = 0;
    for (size_t i = 0; i < tensor_numel(&cw->value); i++)
        worst = fmax(worst, fabs(cw->value.data[i]));
    CHECK(worst <= sqrt(6.0 / 27.0) && worst > 0.5 * sqrt(6.0 / 27.0), "init_kaiming_uniform",
          "max %g", worst);
    CHECK(init_scheme_from_name("kaiming_normal") == INIT_KAIMING_NORMAL &&
              init_scheme_from_name("nope") == -1,
          "init_names", "");
    net_free(a);
    net_free(b);
    net_free(big);
}

int main(void)
{
    run_fixture("optim_sgd_vs_torch", OPTIM_SGD, 0, 0.1, 0.01, fix_opt_sgd);
    run_fixture("optim_nesterov_vs_torch", OPTIM_SGD, 1, 0.1, 0.01, fix_opt_nesterov);
    run_fixture("optim_adam_vs_torch", OPTIM_ADAM, 0, 0.01, 0.01, fix_opt_adam);
    run_fixture("optim_adamw_vs_torch", OPTIM_ADAMW, 0, 0.01, 0.05, fix_opt_adamw);
    test_schedule();
    test_optim_step();
    test_init();
    return check_summary();
}

/* Seeded initialisers; see init.h. Formulas from torch/nn/init.py (kaiming_uniform_,
 * kaiming_normal_, _calculate_fan_in_and_fan_out) and torch/nn/modules/conv.py, linear.py,
 * batchnorm.py (reset_parameters). Serial draws: a parameter's values are one RNG stream. */
#include "pipeline/init.h"

#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/rng.h"

static const char *const init_names[] = {"pytorch", "kaiming_normal", "kaiming_uniform"};

const char *init_scheme_name(enum init_scheme s)
{
    return (unsigned)s < 3 ? init_names[s] : "?";
}

int init_scheme_from_name(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, init_names[i])) return i;
    return -1;
}

static void fill(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

/* fan_in and fan_out of a layer's weight [O, C/groups, KH, KW] or [O, C]. */
static void layer_fans(struct net *net, int layer, double *fan_in, double *fan_out)
{
    const struct net_param *w = NULL;
    for (int i = 0; i < net_param_count(net) && !w; i++) {
        const struct net_param *p = net_param_at(net, i);
        const char *dot = strrchr(p->name, '.');
        if (p->layer == layer && dot && !strcmp(dot, ".weight")) w = p;
    }
    SB_ASSERT(w != NULL);
    double receptive = 1;
    for (int d = 2; d < w->value.ndim; d++)
        receptive *= w->value.shape[d];
    *fan_in = w->value.shape[1] * receptive;
    *fan_out = w->value.shape[0] * receptive;
}

void init_param(struct net *net, int i, uint64_t seed, enum init_scheme s)
{
    struct net_param *p = net_param_at(net, i);
    const struct net_layer_spec *spec = net_layer_spec_at(net, p->layer);
    size_t n = tensor_numel(&p->value);
    float *x = p->value.data;
    const char *suffix = strrchr(p->name, '.');
    SB_ASSERT(suffix != NULL);
    if (spec->kind == NET_BATCHNORM) {
        int one = !strcmp(suffix, ".weight") || !strcmp(suffix, ".running_var");
        fill(x, n, one ? 1.0f : 0.0f);
        return;
    }
    SB_ASSERT(spec->kind == NET_CONV2D || spec->kind == NET_LINEAR);
    double fan_in, fan_out;
    layer_fans(net, p->layer, &fan_in, &fan_out);
    int is_weight = !strcmp(suffix, ".weight");
    if (!is_weight && s != INIT_PYTORCH) {
        fill(x, n, 0.0f);
        return;
    }
    struct rng r;
    rng_init(&r, seed, (uint64_t)i, RNG_INIT);
    if (s == INIT_KAIMING_NORMAL) {
        double std = sqrt(2.0 / fan_out);
        for (size_t j = 0; j < n; j++)
            x[j] = (float)(std * rng_normal(&r));
        return;
    }
    double bound = s == INIT_PYTORCH ? 1.0 / sqrt(fan_in) : sqrt(6.0 / fan_in);
    for (size_t j = 0; j < n; j++)
        x[j] = (float)((2.0 * rng_uniform_f64(&r) - 1.0) * bound);
}

void init_layer(struct net *net, int layer, uint64_t seed, enum init_scheme s)
{
    for (int i = 0; i < net_param_count(net); i++)
        if (net_param_at(net, i)->layer == layer) init_param(net, i, seed, s);
}

void init_net(struct net *net, uint64_t seed, enum init_scheme s)
{
    for (int i = 0; i < net_param_count(net); i++)
        init_param(net, i, seed, s);
}

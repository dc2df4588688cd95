/* SGD (momentum, Nesterov), Adam and AdamW updates and the warm-up + cosine schedule; see
 * optim.h. The formulas follow torch/optim/sgd.py and adam.py / adamw.py (single-tensor,
 * non-foreach path) in float32 with the bias corrections in double. */
#include "pipeline/optim.h"

#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/net.h"

static const char *const optim_names[] = {"sgd", "adam", "adamw"};

void optim_config_init(struct optim_config *c, enum optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->momentum = kind == OPTIM_SGD ? 0.9 : 0.0;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
}

unsigned optim_net_flags(enum optim_kind kind)
{
    return kind == OPTIM_SGD ? NET_OPT_STATE1 : NET_OPT_STATE2;
}

const char *optim_kind_name(enum optim_kind kind)
{
    return (unsigned)kind < 3 ? optim_names[kind] : "?";
}

int optim_kind_from_name(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, optim_names[i])) return i;
    return -1;
}

static void sgd_update(float *p, float *buf, const float *g, size_t n,
                       const struct optim_config *c, float lr, float wd)
{
    const float mom = (float)c->momentum;
    const int nesterov = c->nesterov;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (mom != 0.0f) {
            float b = mom * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] -= lr * d;
    }
}

static void adam_update(float *p, float *m, float *v, const float *g, size_t n,
                        const struct optim_config *c, double lr, uint64_t step, float wd)
{
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const double bc1 = 1.0 - pow(c->beta1, (double)step);
    const double bc2 = 1.0 - pow(c->beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)c->eps;
    const int decoupled = c->kind == OPTIM_ADAMW;
    const float shrink = (float)(1.0 - lr * wd);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (decoupled)
            p[i] *= shrink;
        else
            gi += wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

void optim_update(float *param, float *state0, float *state1, const float *grad, size_t n,
                  const struct optim_config *c, double lr, uint64_t step, int decay)
{
    float wd = decay ? (float)c->weight_decay : 0.0f;
    SB_ASSERT(step >= 1);
    if (c->kind == OPTIM_SGD)
        sgd_update(param, state0, grad, n, c, (float)lr, wd);
    else
        adam_update(param, state0, state1, grad, n, c, lr, step, wd);
}

int optim_step(struct net *net, const struct optim_config *c, double lr, uint64_t step)
{
    int need = c->kind == OPTIM_SGD ? (c->momentum != 0.0) : 2;
    for (int i = 0; i < net_param_count(net); i++) {
        struct net_param *p = net_param_at(net, i);
        if (!p->trainable) continue;
        if (!p->grad.data || (need >= 1 && !p->state[0]) || (need == 2 && !p->state[1]))
            return err_set("cannot update '%s': the net was built without gradients or "
                           "optimiser state for %s",
                           p->name, optim_kind_name(c->kind));
        int decay = c->decay_all || p->value.ndim >= 2;
        optim_update(p->value.data, p->state[0], p->state[1], p->grad.data,
                     tensor_numel(&p->value), c, lr, step, decay);
    }
    return 0;
}

double optim_lr_at(double lr, double min_lr, uint64_t s, uint64_t warmup, uint64_t total,
                   int cosine)
{
    if (s < warmup) return lr * (double)(s + 1) / (double)warmup;
    if (!cosine) return lr;
    if (s >= total || total <= warmup) return min_lr;
    double t = (double)(s - warmup) / (double)(total - warmup);
    return min_lr + (lr - min_lr) * (1.0 + cos(M_PI * t)) / 2.0;
}

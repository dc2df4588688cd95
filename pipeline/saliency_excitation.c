/* Excitation backprop and its contrastive variant (Zhang et al., ECCV 2016), with TorchRay's
 * rules (excitation_backprop.py, METHODS.md §2.2) as NET_RULE_CUSTOM backward callbacks:
 *   conv2d, linear:   p_in = x * W+^T (p_out / (W+ x + 1e-20)), W+ = max(W, 0), no bias
 *   avg / global avg: the same normalise-backprop-multiply with the pooling operator
 *   batch norm:       identity (the signal passes unchanged)
 *   add:              p_i = x_i / (x_1 + x_2) * p_out (0 where the sum is 0; TorchRay: NaN)
 *   ReLU, max pool, flatten, concat, dropout: the ordinary gradient.
 * Map: sum over channels of the signal at `layer`, upsampled to the input. Contrastive: pass 1
 * with the classifier's weights negated gives the contrast at `contrast_layer`; pass 2 the
 * positive signal there; their difference is propagated on to `layer`; map = max(sum_c, 0). */
#include <string.h>

#include "pipeline/conv.h"
#include "pipeline/err.h"
#include "pipeline/gemm.h"
#include "pipeline/linear.h"
#include "pipeline/pool.h"
#include "pipeline/saliency_internal.h"

#define EB_MAX_LAYERS 1024

struct eb_ctx {
    const struct sal_run *r;
    float *wpos[EB_MAX_LAYERS]; /* max(W, 0) of conv/linear layers */
    float *wneg;                /* max(-W, 0) of the classifier */
    int classifier, negate, stop;
    float *tmp_out, *tmp_in, *conv_scratch, *lin_work;
    /* method buffers */
    float *seed, *contrast, *diff, *layer, *scratch;
    int *src;                   /* [max_batch]: the forwarded row of each trial */
    int L, lc, lh, lw;          /* saliency layer */
    int CL;                     /* contrast layer */
    size_t csize;
};

static int weight_param(struct net *net, int layer)
{
    const char *name = net_layer_spec_at(net, layer)->name;
    size_t n = strlen(name);
    for (int i = 0; i < net_param_count(net); i++) {
        const struct net_param *p = net_param_at(net, i);
        if (p->layer == layer && strncmp(p->name, name, n) == 0 &&
            strcmp(p->name + n, ".weight") == 0)
            return i;
    }
    return -1;
}

static int conv_dims(struct conv2d_dims *d, const struct net *net, int layer, int n)
{
    const struct net_layer_spec *s = net_layer_spec_at(net, layer);
    int in[NET_MAX_INPUTS], C, H, W;
    net_layer_inputs(net, layer, in);
    net_layer_shape(net, in[0], &C, &H, &W);
    return conv2d_dims_init(d, n, C, H, W, s->out_channels, s->kernel[0], s->kernel[1],
                            s->stride[0], s->stride[1], s->padding[0], s->padding[1],
                            s->groups);
}

static int pool_dims(struct pool2d_dims *d, const struct net *net, int layer, int n)
{
    const struct net_layer_spec *s = net_layer_spec_at(net, layer);
    int in[NET_MAX_INPUTS], C, H, W;
    net_layer_inputs(net, layer, in);
    net_layer_shape(net, in[0], &C, &H, &W);
    return pool2d_dims_init(d, n, C, H, W, s->kernel[0], s->kernel[1], s->stride[0],
                            s->stride[1], s->padding[0], s->padding[1], s->ceil_mode,
                            s->count_include_pad);
}

static size_t layer_size(const struct net *net, int i)
{
    int c, h, w;
    net_layer_shape(net, i, &c, &h, &w);
    return (size_t)c * h * w;
}

/* Carves every buffer; with a real workspace also fills W+ (and -W+ of the classifier). */
static int plan(const struct sal_run *r, struct sal_carve *w, struct eb_ctx *e)
{
    struct net *net = r->net;
    int nl = net_layer_count(net);
    size_t B = (size_t)r->max_batch, maxsz = 0, scr = 0;
    if (nl > EB_MAX_LAYERS) return err_set("cannot plan excitation backprop: too many layers");
    memset(e, 0, sizeof *e);
    e->r = r;
    e->src = (int *)(void *)sal_take(w, B);
    e->negate = -1;
    e->classifier = -1;
    for (int i = 1; i < nl; i++) {
        enum net_kind k = net_layer_spec_at(net, i)->kind;
        maxsz = layer_size(net, i) > maxsz ? layer_size(net, i) : maxsz;
        if (k != NET_CONV2D && k != NET_LINEAR) continue;
        int pi = weight_param(net, i);
        SB_ASSERT(pi >= 0);
        struct net_param *p = net_param_at(net, pi);
        size_t nw = tensor_numel(&p->value);
        e->wpos[i] = sal_take(w, nw);
        if (e->wpos[i])
            for (size_t j = 0; j < nw; j++)
                e->wpos[i][j] = p->value.data[j] > 0 ? p->value.data[j] : 0;
        e->classifier = i;
        if (k == NET_CONV2D) {
            struct conv2d_dims d;
            if (conv_dims(&d, net, i, r->max_batch) < 0) return -1;
            size_t s = conv2d_scratch_floats(&d, r->nthreads);
            scr = s > scr ? s : scr;
        }
    }
    if (e->classifier < 0) return err_set("cannot plan excitation backprop: no conv or linear");
    struct net_param *pc = net_param_at(net, weight_param(net, e->classifier));
    size_t nw = tensor_numel(&pc->value);
    e->wneg = sal_take(w, nw);
    if (e->wneg)
        for (size_t j = 0; j < nw; j++)
            e->wneg[j] = pc->value.data[j] < 0 ? -pc->value.data[j] : 0;
    e->tmp_out = sal_take(w, B * maxsz);
    e->tmp_in = sal_take(w, B * maxsz);
    e->conv_scratch = sal_take(w, scr);
    e->lin_work = sal_take(w, gemm_work_floats() * (size_t)r->nthreads);
    e->seed = sal_take(w, B * r->K);
    e->scratch = sal_take(w, (size_t)r->HW);
    e->L = net_layer_index(net, r->p->layer);
    if (e->L < 0) return err_wrap("cannot plan excitation backprop: ");
    net_layer_shape(net, e->L, &e->lc, &e->lh, &e->lw);
    e->layer = sal_take(w, B * e->lh * e->lw);
    if (r->p->method == SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP) {
        e->CL = net_layer_index(net, r->p->contrast_layer);
        if (e->CL < 0) return err_wrap("cannot plan contrastive excitation backprop: ");
        e->csize = layer_size(net, e->CL);
        e->contrast = sal_take(w, B * e->csize);
        e->diff = sal_take(w, B * e->csize);
    }
    return 0;
}

/* dx += x * tmp_in over n elements. */
static void mul_acc(float *dx, const float *x, const float *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] * t[i];
}

static void normalise(float *z, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        z[i] = g[i] / (z[i] + 1e-20f);
}

/* The linear-layer rule for conv2d, linear, avg pool and global avg pool. */
static void eb_linear_rule(struct eb_ctx *e, struct net *net, int layer, int src, int n)
{
    const struct net_layer_spec *s = net_layer_spec_at(net, layer);
    int nt = e->r->nthreads;
    const float *x = net_act(net, src).data, *g = net_grad(net, layer).data;
    size_t nin = (size_t)n * layer_size(net, src), nout = (size_t)n * layer_size(net, layer);
    const float *wp = layer == e->negate ? e->wneg : e->wpos[layer];
    int C, H, W;
    net_layer_shape(net, src, &C, &H, &W);
    memset(e->tmp_in, 0, sizeof(float) * nin);
    if (s->kind == NET_CONV2D) {
        struct conv2d_dims d;
        conv_dims(&d, net, layer, n);
        conv2d_forward(e->tmp_out, x, wp, NULL, &d, e->conv_scratch, nt);
        normalise(e->tmp_out, g, nout);
        conv2d_backward(e->tmp_in, NULL, NULL, e->tmp_out, x, wp, &d, e->conv_scratch, nt);
    } else if (s->kind == NET_LINEAR) {
        int Cin = (int)layer_size(net, src), O = (int)layer_size(net, layer);
        linear_forward(e->tmp_out, x, wp, NULL, n, Cin, O, e->lin_work, nt);
        normalise(e->tmp_out, g, nout);
        linear_backward(e->tmp_in, NULL, NULL, e->tmp_out, x, wp, n, Cin, O, e->lin_work, nt);
    } else if (s->kind == NET_AVGPOOL) {
        struct pool2d_dims d;
        pool_dims(&d, net, layer, n);
        avgpool2d_forward(e->tmp_out, x, &d, nt);
        normalise(e->tmp_out, g, nout);
        avgpool2d_backward(e->tmp_in, e->tmp_out, &d, nt);
    } else {
        global_avgpool_forward(e->tmp_out, x, n, C, H * W, nt);
        normalise(e->tmp_out, g, nout);
        global_avgpool_backward(e->tmp_in, e->tmp_out, n, C, H * W, nt);
    }
    mul_acc(net_grad(net, src).data, x, e->tmp_in, nin);
}

static int eb_backward(void *user, struct net *net, int layer, int n)
{
    struct eb_ctx *e = user;
    int in[NET_MAX_INPUTS], nin = net_layer_inputs(net, layer, in);
    const float *g = net_grad(net, layer).data;
    size_t sz = (size_t)n * layer_size(net, layer);
    switch (net_layer_spec_at(net, layer)->kind) {
    case NET_BATCHNORM:
        if (in[0] >= e->stop) {
            float *dx = net_grad(net, in[0]).data;
            for (size_t i = 0; i < sz; i++)
                dx[i] += g[i];
        }
        return 0;
    case NET_ADD: {
        const float *out = net_act(net, layer).data;
        for (int j = 0; j < nin; j++) {
            if (in[j] < e->stop) continue;
            const float *x = net_act(net, in[j]).data;
            float *dx = net_grad(net, in[j]).data;
            for (size_t i = 0; i < sz; i++)
                dx[i] += out[i] != 0 ? x[i] / out[i] * g[i] : 0;
        }
        return 0;
    }
    default:
        if (in[0] >= e->stop) eb_linear_rule(e, net, layer, in[0], n);
        return 0;
    }
}

static void eb_rules(struct net_rules *rules, struct eb_ctx *e)
{
    memset(rules, 0, sizeof *rules);
    rules->rule[NET_CONV2D] = rules->rule[NET_LINEAR] = NET_RULE_CUSTOM;
    rules->rule[NET_AVGPOOL] = rules->rule[NET_GLOBAL_AVGPOOL] = NET_RULE_CUSTOM;
    rules->rule[NET_BATCHNORM] = rules->rule[NET_ADD] = NET_RULE_CUSTOM;
    rules->custom = eb_backward;
    rules->user = e;
}

/* Contrastive passes 1 and 2 and the difference; leaves the signal at `layer`. */
static int contrastive(struct eb_ctx *e, const struct net_rules *rules, int nb)
{
    struct net *net = e->r->net;
    const char *cl = e->r->p->contrast_layer;
    size_t n = (size_t)nb * e->csize;
    e->stop = e->CL;
    e->negate = e->classifier;
    if (net_backward(net, nb, NULL, e->seed, cl, rules, 0) < 0) return -1;
    memcpy(e->contrast, net_grad(net, e->CL).data, sizeof(float) * n);
    e->negate = -1;
    if (net_backward(net, nb, NULL, e->seed, cl, rules, 0) < 0) return -1;
    const float *pos = net_grad(net, e->CL).data;
    for (size_t i = 0; i < n; i++)
        e->diff[i] = pos[i] - e->contrast[i];
    e->stop = e->L;
    return net_backward(net, nb, cl, e->diff, e->r->p->layer, rules, 0);
}

static void layer_sum(struct eb_ctx *e, int nb, int clamp)
{
    const float *G = net_grad(e->r->net, e->L).data;
    int C = e->lc, S = e->lh * e->lw;
    for (int i = 0; i < nb; i++) {
        float *o = e->layer + (size_t)i * S;
        for (int u = 0; u < S; u++) {
            float acc = 0;
            for (int c = 0; c < C; c++)
                acc += G[((size_t)i * C + c) * S + u];
            o[u] = clamp && acc < 0 ? 0 : acc;
        }
    }
}

int sal_excitation_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    struct eb_ctx e;
    if (plan(r, w, &e) < 0) return -1;
    if (!r->in) return 0;
    int contrast = r->p->method == SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP;
    struct net_rules rules;
    eb_rules(&rules, &e);
    for (int t0 = 0, nb; t0 < r->in->t; t0 += nb) {
        nb = sal_batch_trials(r, t0);
        int nf = sal_forward_trials(r, t0, nb, e.src);
        if (nf < 0) return -1;
        sal_onehot(e.seed, r, t0, nb, 1.0f);
        e.stop = e.L;
        int rc = contrast ? contrastive(&e, &rules, nb)
                          : net_backward(r->net, nb, NULL, e.seed, r->p->layer, &rules, 0);
        if (rc < 0) return -1;
        layer_sum(&e, nb, contrast);
        for (int i = 0; i < nb; i++) {
            float *m = maps + (size_t)(t0 + i) * r->HW;
            sal_upsample(m, e.layer + (size_t)i * e.lh * e.lw, e.lh, e.lw, r->H, r->W,
                         (enum saliency_upsample)r->p->upsample);
            if (r->p->smooth > 0)
                sal_smooth(m, r->H, r->W, r->p->smooth * (r->H > r->W ? r->H : r->W), 1,
                           e.scratch);
        }
        sal_count(r, (uint64_t)nf, (uint64_t)nb * (contrast ? 2 : 1));
    }
    return 0;
}

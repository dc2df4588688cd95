/* Running a built net: forward over a layer range and backward from a seed layer with
 * per-kind rules (see net.h). Each layer dispatches to its kernel with the batch size of the
 * call; kernels never allocate, all buffers come from the arenas. */
#include <string.h>

#include "pipeline/activation.h"
#include "pipeline/batchnorm.h"
#include "pipeline/err.h"
#include "pipeline/linear.h"
#include "pipeline/net_internal.h"

static float *pdata(const struct net *net, int k)
{
    return k >= 0 ? net->params[k].value.data : NULL;
}

static float *pgrad(const struct net *net, int k)
{
    return k >= 0 ? net->params[k].grad.data : NULL;
}

/* ---- forward ------------------------------------------------------------------------- */

static int forward_layer(struct net *net, int i, int n, int train, int nt)
{
    struct net_layer *L = &net->layers[i];
    const struct net_layer *I = &net->layers[L->in[0]];
    const float *x = I->act;
    size_t total = (size_t)n * L->size;
    switch (L->spec.kind) {
    case NET_INPUT:
        return 0;
    case NET_CONV2D: {
        struct conv2d_dims d = L->conv;
        d.N = n;
        conv2d_forward(L->act, x, pdata(net, L->p_weight), pdata(net, L->p_bias), &d,
                       net->scratch, nt);
        return 0;
    }
    case NET_BATCHNORM:
        if (train)
            return batchnorm_forward_train(L->act, L->save_mean, L->save_invstd,
                                           pdata(net, L->p_mean), pdata(net, L->p_var), x,
                                           pdata(net, L->p_weight), pdata(net, L->p_bias),
                                           L->spec.eps, L->spec.momentum, n, L->c,
                                           L->h * L->w, nt);
        batchnorm_forward_eval(L->act, x, pdata(net, L->p_weight), pdata(net, L->p_bias),
                               pdata(net, L->p_mean), pdata(net, L->p_var), L->spec.eps, n,
                               L->c, L->h * L->w, nt);
        return 0;
    case NET_RELU:
        relu_forward(L->act, x, total, nt);
        return 0;
    case NET_MAXPOOL:
    case NET_AVGPOOL: {
        struct pool2d_dims d = L->pool;
        d.N = n;
        if (L->spec.kind == NET_MAXPOOL)
            maxpool2d_forward(L->act, x, &d, nt);
        else
            avgpool2d_forward(L->act, x, &d, nt);
        return 0;
    }
    case NET_GLOBAL_AVGPOOL:
        global_avgpool_forward(L->act, x, n, I->c, I->h * I->w, nt);
        return 0;
    case NET_LINEAR:
        linear_forward(L->act, x, pdata(net, L->p_weight), pdata(net, L->p_bias), n,
                       (int)I->size, L->c, net->scratch, nt);
        return 0;
    case NET_FLATTEN:
        memcpy(L->act, x, sizeof(float) * total);
        return 0;
    case NET_DROPOUT:
        dropout_forward(L->act, x, n, L->size, L->spec.p, train,
                        dropout_layer_seed(net->seed, i, net->step),
                        net->has_keys ? net->keys : NULL, nt);
        return 0;
    case NET_ADD:
        add_forward(L->act, x, net->layers[L->in[1]].act, total, nt);
        return 0;
    case NET_CONCAT: {
        const float *ins[NET_MAX_INPUTS];
        int ch[NET_MAX_INPUTS];
        for (int j = 0; j < L->n_in; j++) {
            ins[j] = net->layers[L->in[j]].act;
            ch[j] = net->layers[L->in[j]].c;
        }
        concat_forward(L->act, ins, ch, L->n_in, n, (size_t)L->h * L->w);
        return 0;
    }
    case NET_SOFTMAX:
        softmax_forward(L->act, x, n, L->c, L->h * L->w, nt);
        return 0;
    case NET_SIGMOID:
        sigmoid_forward(L->act, x, total, nt);
        return 0;
    default:
        SB_ASSERT(0 && "unknown layer kind");
    }
    return 0;
}

int net_forward_range(struct net *net, int first, int last, int n, enum net_mode mode,
                      const struct net_train_ctx *ctx)
{
    SB_ASSERT(n >= 1 && n <= net->max_batch);
    SB_ASSERT(first >= 0 && first <= last && last < net->n_layers);
    int nt = net_threads(net), train = mode == NET_TRAIN;
    net->batch = n;
    net->last_train = train;
    net->seed = ctx ? ctx->seed : 0;
    net->step = ctx ? ctx->step : 0;
    net->has_keys = ctx && ctx->keys;
    if (net->has_keys) memcpy(net->keys, ctx->keys, sizeof(uint64_t) * (size_t)n);
    for (int i = first; i <= last; i++)
        if (forward_layer(net, i, n, train, nt) < 0)
            return err_wrap("cannot run layer '%s': ", net->layers[i].spec.name);
    return 0;
}

int net_forward(struct net *net, const float *input, int n, enum net_mode mode,
                const struct net_train_ctx *ctx)
{
    SB_ASSERT(n >= 1 && n <= net->max_batch);
    if (input) memcpy(net->layers[0].act, input, sizeof(float) * (size_t)n * net->layers[0].size);
    return net_forward_range(net, 0, net->n_layers - 1, n, mode, ctx);
}

/* ---- backward ------------------------------------------------------------------------ */

struct bctx {
    int n, nt, params, train;
    const unsigned char *need; /* need[j]: layer j's output gradient is wanted */
};

/* Gradient buffer of input j of layer L, or NULL when nobody needs it. */
static float *in_grad(const struct net *net, const struct net_layer *L, int j,
                      const struct bctx *b)
{
    return b->need[L->in[j]] ? net->layers[L->in[j]].grad : NULL;
}

static void backward_conv(struct net *net, struct net_layer *L, const struct bctx *b)
{
    const struct net_layer *I = &net->layers[L->in[0]];
    struct conv2d_dims d = L->conv;
    d.N = b->n;
    float *dw = b->params ? pgrad(net, L->p_weight) : NULL;
    float *db = b->params ? pgrad(net, L->p_bias) : NULL;
    float *dx = in_grad(net, L, 0, b);
    if (dx || dw || db)
        conv2d_backward(dx, dw, db, L->grad, I->act, pdata(net, L->p_weight), &d, net->scratch,
                        b->nt);
}

static void backward_bn(struct net *net, struct net_layer *L, const struct bctx *b)
{
    const struct net_layer *I = &net->layers[L->in[0]];
    float *dg = b->params ? pgrad(net, L->p_weight) : NULL;
    float *dbt = b->params ? pgrad(net, L->p_bias) : NULL;
    float *dx = in_grad(net, L, 0, b);
    if (!dx && !dg && !dbt) return;
    if (b->train)
        batchnorm_backward_train(dx, dg, dbt, L->grad, I->act, pdata(net, L->p_weight),
                                 L->save_mean, L->save_invstd, b->n, L->c, L->h * L->w, b->nt);
    else
        batchnorm_backward_eval(dx, dg, dbt, L->grad, I->act, pdata(net, L->p_weight),
                                pdata(net, L->p_mean), pdata(net, L->p_var), L->spec.eps, b->n,
                                L->c, L->h * L->w, b->nt);
}

static void backward_linear(struct net *net, struct net_layer *L, const struct bctx *b)
{
    const struct net_layer *I = &net->layers[L->in[0]];
    float *dw = b->params ? pgrad(net, L->p_weight) : NULL;
    float *db = b->params ? pgrad(net, L->p_bias) : NULL;
    float *dx = in_grad(net, L, 0, b);
    if (dx || dw || db)
        linear_backward(dx, dw, db, L->grad, I->act, pdata(net, L->p_weight), b->n,
                        (int)I->size, L->c, net->scratch, b->nt);
}

static void backward_concat(struct net *net, struct net_layer *L, const struct bctx *b)
{
    float *dins[NET_MAX_INPUTS];
    int ch[NET_MAX_INPUTS];
    for (int j = 0; j < L->n_in; j++) {
        dins[j] = in_grad(net, L, j, b);
        ch[j] = net->layers[L->in[j]].c;
    }
    concat_backward(dins, L->grad, ch, L->n_in, b->n, (size_t)L->h * L->w);
}

static void backward_layer(struct net *net, int i, const struct bctx *b, enum net_rule rule)
{
    struct net_layer *L = &net->layers[i];
    const struct net_layer *I = &net->layers[L->in[0]];
    size_t total = (size_t)b->n * L->size;
    float *dx = in_grad(net, L, 0, b);
    switch (L->spec.kind) {
    case NET_CONV2D:
        backward_conv(net, L, b);
        return;
    case NET_BATCHNORM:
        backward_bn(net, L, b);
        return;
    case NET_LINEAR:
        backward_linear(net, L, b);
        return;
    case NET_CONCAT:
        backward_concat(net, L, b);
        return;
    case NET_ADD: {
        float *db = L->in[1] == L->in[0] ? dx : in_grad(net, L, 1, b);
        if (dx) add_backward(dx, NULL, L->grad, total, b->nt);
        if (db) add_backward(db, NULL, L->grad, total, b->nt);
        return;
    }
    default:
        break;
    }
    if (!dx) return;
    switch (L->spec.kind) {
    case NET_RELU:
        relu_backward(dx, L->grad, I->act, total,
                      rule == NET_RULE_GUIDED      ? RELU_GUIDED
                      : rule == NET_RULE_DECONVNET ? RELU_DECONVNET
                                                   : RELU_PLAIN,
                      b->nt);
        return;
    case NET_MAXPOOL:
    case NET_AVGPOOL: {
        struct pool2d_dims d = L->pool;
        d.N = b->n;
        if (L->spec.kind == NET_MAXPOOL)
            maxpool2d_backward(dx, L->grad, I->act, &d, b->nt);
        else
            avgpool2d_backward(dx, L->grad, &d, b->nt);
        return;
    }
    case NET_GLOBAL_AVGPOOL:
        global_avgpool_backward(dx, L->grad, b->n, I->c, I->h * I->w, b->nt);
        return;
    case NET_FLATTEN:
        add_backward(dx, NULL, L->grad, total, b->nt);
        return;
    case NET_DROPOUT:
        dropout_backward(dx, L->grad, b->n, L->size, L->spec.p, b->train,
                         dropout_layer_seed(net->seed, i, net->step),
                         net->has_keys ? net->keys : NULL, b->nt);
        return;
    case NET_SOFTMAX:
        softmax_backward(dx, L->grad, L->act, b->n, L->c, L->h * L->w, b->nt);
        return;
    case NET_SIGMOID:
        sigmoid_backward(dx, L->grad, L->act, total, b->nt);
        return;
    default:
        SB_ASSERT(0 && "unknown layer kind");
    }
}

static int check_rules(const struct net_rules *rules)
{
    if (!rules) return 0;
    for (int k = 0; k < NET_KIND_COUNT; k++) {
        enum net_rule r = rules->rule[k];
        if (r == NET_RULE_PLAIN) continue;
        if (r == NET_RULE_CUSTOM && rules->custom) continue;
        if ((r == NET_RULE_GUIDED || r == NET_RULE_DECONVNET) && k == NET_RELU) continue;
        return err_set("cannot run backward: rule %d is not available for %s layers", (int)r,
                       net_kind_name((enum net_kind)k));
    }
    return 0;
}

/* need[j] = 1 for layers in [stop, seed] whose output feeds the seed; the input layer only
 * with NET_GRAD_INPUT or when it is the stop layer. */
static void mark_needed(const struct net *net, int seed, int stop, unsigned flags,
                        unsigned char *need)
{
    memset(need, 0, (size_t)net->n_layers);
    need[seed] = 1;
    for (int i = seed; i > 0; i--) {
        if (!need[i]) continue;
        const struct net_layer *L = &net->layers[i];
        for (int j = 0; j < L->n_in; j++)
            if (L->in[j] >= stop) need[L->in[j]] = 1;
    }
    if (!(flags & NET_GRAD_INPUT) && stop != 0) need[0] = 0;
}

int net_backward(struct net *net, int n, const char *seed_layer, const float *seed,
                 const char *stop_layer, const struct net_rules *rules, unsigned flags)
{
    SB_ASSERT(n >= 1 && n <= net->max_batch);
    if (net->flags & NET_NO_GRAD)
        return err_set("cannot run backward: the net was built without gradients");
    if (n != net->batch)
        return err_set("cannot run backward: batch %d differs from the last forward's %d", n,
                       net->batch);
    int s = seed_layer ? net_layer_index(net, seed_layer) : net_logits_layer(net);
    int stop = stop_layer ? net_layer_index(net, stop_layer) : -1;
    if (s < 0 || (stop_layer && stop < 0)) return err_wrap("cannot run backward: ");
    if (stop >= s)
        return err_set("cannot run backward: stop layer '%s' is not before seed layer '%s'",
                       stop_layer, net->layers[s].spec.name);
    if (check_rules(rules) < 0) return -1;
    unsigned char need_buf[1024], *need = need_buf;
    if (net->n_layers > (int)sizeof(need_buf))
        return err_set("cannot run backward: more than %zu layers", sizeof(need_buf));
    mark_needed(net, s, stop, flags, need);
    for (int i = stop < 0 ? 0 : stop; i < s; i++)
        memset(net->layers[i].grad, 0, sizeof(float) * (size_t)n * net->layers[i].size);
    if (seed) memcpy(net->layers[s].grad, seed, sizeof(float) * (size_t)n * net->layers[s].size);
    struct bctx b = {n, net_threads(net), (flags & NET_GRAD_PARAMS) != 0, net->last_train,
                     need};
    for (int i = s; i > (stop < 0 ? 0 : stop); i--) {
        if (!need[i]) continue;
        enum net_rule r = rules ? rules->rule[net->layers[i].spec.kind] : NET_RULE_PLAIN;
        if (r == NET_RULE_CUSTOM) {
            if (rules->custom(rules->user, net, i, n) < 0)
                return err_wrap("cannot run backward rule of layer '%s': ",
                                net->layers[i].spec.name);
            continue;
        }
        backward_layer(net, i, &b, r);
    }
    return 0;
}

/* Running a built net: forward over a layer range and backward from a seed layer with
 * per-kind rules (see net.h). Kernels never allocate; all buffers come from the arenas.
 *
 * Two schedules with bitwise-identical results. Layer-parallel: each layer runs on the whole
 * batch, threads inside the kernel (used for batch 1 or one thread). Image-parallel: runs of
 * per-example layers ("segments") are walked image by image, each thread carrying its images
 * through the whole segment with its own scratch, so activations stay in cache and no barrier
 * separates layers; layers that couple the batch (linear, batch norm in train mode or with
 * parameter gradients, custom backward rules) end a segment and run layer-parallel. Parameter
 * gradients of convs go through the fixed image chunks of conv2d_backward in both schedules. */
#include <string.h>

#include "pipeline/activation.h"
#include "pipeline/batchnorm.h"
#include "pipeline/err.h"
#include "pipeline/linear.h"
#include "pipeline/net_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static float *pdata(const struct net *net, int k)
{
    return k >= 0 ? net->params[k].value.data : NULL;
}

static float *pgrad(const struct net *net, int k)
{
    return k >= 0 ? net->params[k].grad.data : NULL;
}

static int tid(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* A slice of the batch [n0, n0 + cnt) run by nt threads with the given scratch. */
struct slice {
    int n0, cnt, nt;
    float *scratch;
};

static float *act_at(const struct net_layer *L, int n0)
{
    return L->act + (size_t)n0 * L->size;
}

/* ---- forward ------------------------------------------------------------------------- */

static int forward_layer(struct net *net, int i, const struct slice *s, int train)
{
    struct net_layer *L = &net->layers[i];
    const struct net_layer *I = &net->layers[L->in[0]];
    const float *x = act_at(I, s->n0);
    float *y = act_at(L, s->n0);
    int n = s->cnt, nt = s->nt;
    size_t total = (size_t)n * L->size;
    switch (L->spec.kind) {
    case NET_INPUT:
        return 0;
    case NET_CONV2D: {
        struct conv2d_dims d = L->conv;
        d.N = n;
        conv2d_forward_packed(y, x, L->wpack, pdata(net, L->p_weight), pdata(net, L->p_bias),
                              &d, s->scratch, nt);
        return 0;
    }
    case NET_BATCHNORM:
        if (train)
            return batchnorm_forward_train(y, L->save_mean, L->save_invstd,
                                           pdata(net, L->p_mean), pdata(net, L->p_var), x,
                                           pdata(net, L->p_weight), pdata(net, L->p_bias),
                                           L->spec.eps, L->spec.momentum, n, L->c,
                                           L->h * L->w, nt);
        batchnorm_forward_eval(y, x, pdata(net, L->p_weight), pdata(net, L->p_bias),
                               pdata(net, L->p_mean), pdata(net, L->p_var), L->spec.eps, n,
                               L->c, L->h * L->w, nt);
        return 0;
    case NET_RELU:
        relu_forward(y, x, total, nt);
        return 0;
    case NET_MAXPOOL:
    case NET_AVGPOOL: {
        struct pool2d_dims d = L->pool;
        d.N = n;
        if (L->spec.kind == NET_MAXPOOL)
            maxpool2d_forward(y, x, &d, nt);
        else
            avgpool2d_forward(y, x, &d, nt);
        return 0;
    }
    case NET_GLOBAL_AVGPOOL:
        global_avgpool_forward(y, x, n, I->c, I->h * I->w, nt);
        return 0;
    case NET_LINEAR:
        linear_forward(y, x, pdata(net, L->p_weight), pdata(net, L->p_bias), n, (int)I->size,
                       L->c, s->scratch, nt);
        return 0;
    case NET_FLATTEN:
        memcpy(y, x, sizeof(float) * total);
        return 0;
    case NET_DROPOUT:
        dropout_forward(y, x, n, L->size, L->spec.p, train,
                        dropout_layer_seed(net->seed, i, net->step), net->keys + s->n0, nt);
        return 0;
    case NET_ADD:
        add_forward(y, x, act_at(&net->layers[L->in[1]], s->n0), total, nt);
        return 0;
    case NET_CONCAT: {
        const float *ins[NET_MAX_INPUTS];
        int ch[NET_MAX_INPUTS];
        for (int j = 0; j < L->n_in; j++) {
            ins[j] = act_at(&net->layers[L->in[j]], s->n0);
            ch[j] = net->layers[L->in[j]].c;
        }
        concat_forward(y, ins, ch, L->n_in, n, (size_t)L->h * L->w);
        return 0;
    }
    case NET_SOFTMAX:
        softmax_forward(y, x, n, L->c, L->h * L->w, nt);
        return 0;
    case NET_SIGMOID:
        sigmoid_forward(y, x, total, nt);
        return 0;
    default:
        SB_ASSERT(0 && "unknown layer kind");
    }
    return 0;
}

static int image_parallel(int n, int nt)
{
    return n >= 2 && nt >= 2;
}

static int forward_couples(const struct net_layer *L, int train)
{
    return L->spec.kind == NET_LINEAR || (L->spec.kind == NET_BATCHNORM && train);
}

/* Layers [first, last] per image, images spread over threads. */
static void forward_segment(struct net *net, int first, int last, int n, int train, int nt)
{
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (int b = 0; b < n; b++) {
        struct slice s = {b, 1, 1, net->scratch + (size_t)tid() * net->thread_scratch};
        for (int i = first; i <= last; i++)
            forward_layer(net, i, &s, train); /* per-image layers never fail */
    }
    (void)nt;
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
    for (int b = 0; b < n; b++)
        net->keys[b] = ctx && ctx->keys ? ctx->keys[b] : (uint64_t)b;
    for (int i = first; i <= last; i++) { /* weights may have changed unless frozen */
        struct net_layer *L = &net->layers[i];
        if (L->spec.kind != NET_CONV2D || L->wpack_ok) continue;
        conv2d_pack_weight(L->wpack, pdata(net, L->p_weight), &L->conv);
        L->wpack_ok = net->frozen;
    }
    struct slice whole = {0, n, nt, net->scratch};
    for (int i = first; i <= last;) {
        int j = i;
        if (image_parallel(n, nt) && !forward_couples(&net->layers[i], train)) {
            while (j + 1 <= last && !forward_couples(&net->layers[j + 1], train))
                j++;
            forward_segment(net, i, j, n, train, nt);
        } else if (forward_layer(net, i, &whole, train) < 0) {
            return err_wrap("cannot run layer '%s': ", net->layers[i].spec.name);
        }
        i = j + 1;
    }
    return 0;
}

int net_forward(struct net *net, const float *input, int n, enum net_mode mode,
                const struct net_train_ctx *ctx)
{
    SB_ASSERT(n >= 1 && n <= net->max_batch);
    if (input) memcpy(net->layers[0].act, input, sizeof(float) * (size_t)n * net->layers[0].size);
    return net_forward_range(net, 0, net->n_layers - 1, n, mode, ctx);
}

void net_expand_rows(struct net *net, const int *src, int n)
{
    SB_ASSERT(n >= 1 && n <= net->max_batch && !net->last_train);
    for (int r = 1; r < n; r++)
        SB_ASSERT(src[r] >= src[r - 1] && src[r] <= r);
    SB_ASSERT(src[0] == 0 && src[n - 1] < net->batch);
    /* rows in descending order: row r reads row src[r] <= r, not yet overwritten */
    for (int r = n - 1; r >= 0; r--) {
        if (src[r] == r) continue;
        for (int i = 0; i < net->n_layers; i++) {
            const struct net_layer *L = &net->layers[i];
            memcpy(L->act + (size_t)r * L->size, L->act + (size_t)src[r] * L->size,
                   sizeof(float) * L->size);
        }
        net->keys[r] = net->keys[src[r]];
    }
    net->batch = n;
}

/* ---- backward ------------------------------------------------------------------------ */

struct bctx {
    int n, nt, params, train;
    const unsigned char *need; /* need[j]: layer j's output gradient is wanted */
    const short *last;         /* last[j]: the first layer (in backward order) feeding j */
    const struct net_rules *rules;
};

/* Gradient of input j of layer L at image n0, or NULL when nobody needs it. */
static float *in_grad(const struct net *net, const struct net_layer *L, int j,
                      const struct bctx *b, int n0)
{
    const struct net_layer *I = &net->layers[L->in[j]];
    return b->need[L->in[j]] ? I->grad + (size_t)n0 * I->size : NULL;
}

/* Conv backward: whole batch (chunk < 0), or one image of an image-parallel segment whose
 * weight gradients go to chunk `chunk`'s partial (chunk >= 0; -2 without weight gradients). */
static void backward_conv(struct net *net, struct net_layer *L, const struct bctx *b,
                          const struct slice *s, int chunk, int first)
{
    const struct net_layer *I = &net->layers[L->in[0]];
    float *dw = b->params ? pgrad(net, L->p_weight) : NULL;
    float *db = b->params ? pgrad(net, L->p_bias) : NULL;
    float *dx = in_grad(net, L, 0, b, s->n0);
    if (!dx && !dw && !db) return;
    const float *dy = L->grad + (size_t)s->n0 * L->size, *x = act_at(I, s->n0);
    struct conv2d_dims d = L->conv;
    d.N = s->cnt;
    size_t ws = (size_t)tensor_numel(&net->params[L->p_weight].value), pf;
    const float *wflip = conv2d_uses_wflip(&d) ? L->wflip : NULL, *w = pdata(net, L->p_weight);
    if (chunk == -1) { /* the steps of conv2d_backward, on the net's flipped weight */
        int n = s->cnt, G = dw || db ? (n < CONV_DW_CHUNKS ? n : CONV_DW_CHUNKS) : n;
        size_t isz = I->size, osz = L->size;
        pf = conv2d_part_floats(&L->conv);
        for (int g = 0; g < G; g++)
            for (int im = n * g / G; im < n * (g + 1) / G; im++) {
                float *part = dw || db ? L->gparts + (size_t)g * pf : NULL;
                conv2d_backward_image(dx ? dx + im * isz : NULL, dw ? part : NULL,
                                      db ? part + ws : NULL, im == n * g / G, dy + im * osz,
                                      x + im * isz, w, wflip, &d, s->scratch, s->nt);
            }
        if (dw || db) conv2d_reduce_parts(dw, db, L->gparts, G, &L->conv, s->nt);
        return;
    }
    float *part = chunk >= 0 ? L->gparts + (size_t)chunk * conv2d_part_floats(&L->conv) : NULL;
    conv2d_backward_image(dx, part && dw ? part : NULL, part && db ? part + ws : NULL, first, dy, x,
                          w, wflip, &d, s->scratch, s->nt);
}

static void backward_bn(struct net *net, struct net_layer *L, const struct bctx *b,
                        const struct slice *s, int accumulate)
{
    const struct net_layer *I = &net->layers[L->in[0]];
    float *dg = b->params ? pgrad(net, L->p_weight) : NULL;
    float *dbt = b->params ? pgrad(net, L->p_bias) : NULL;
    float *dx = in_grad(net, L, 0, b, s->n0);
    const float *dy = L->grad + (size_t)s->n0 * L->size, *x = act_at(I, s->n0);
    if (!dx && !dg && !dbt) return;
    if (b->train)
        batchnorm_backward_train(dx, dg, dbt, dy, x, pdata(net, L->p_weight), L->save_mean,
                                 L->save_invstd, s->cnt, L->c, L->h * L->w, accumulate, s->nt);
    else
        batchnorm_backward_eval(dx, dg, dbt, dy, x, pdata(net, L->p_weight),
                                pdata(net, L->p_mean), pdata(net, L->p_var), L->spec.eps,
                                s->cnt, L->c, L->h * L->w, accumulate, s->nt);
}

static void backward_linear(struct net *net, struct net_layer *L, const struct bctx *b,
                            const struct slice *s)
{
    const struct net_layer *I = &net->layers[L->in[0]];
    float *dw = b->params ? pgrad(net, L->p_weight) : NULL;
    float *db = b->params ? pgrad(net, L->p_bias) : NULL;
    float *dx = in_grad(net, L, 0, b, s->n0);
    if (dx || dw || db)
        linear_backward(dx, dw, db, L->grad + (size_t)s->n0 * L->size, act_at(I, s->n0),
                        pdata(net, L->p_weight), s->cnt, (int)I->size, L->c, s->scratch, s->nt);
}

static void backward_concat(struct net *net, struct net_layer *L, const struct bctx *b,
                            const struct slice *s)
{
    float *dins[NET_MAX_INPUTS];
    int ch[NET_MAX_INPUTS];
    for (int j = 0; j < L->n_in; j++) {
        dins[j] = in_grad(net, L, j, b, s->n0);
        ch[j] = net->layers[L->in[j]].c;
    }
    concat_backward(dins, L->grad + (size_t)s->n0 * L->size, ch, L->n_in, s->cnt,
                    (size_t)L->h * L->w);
}

static enum relu_rule relu_rule_of(enum net_rule r)
{
    return r == NET_RULE_GUIDED ? RELU_GUIDED : r == NET_RULE_DECONVNET ? RELU_DECONVNET
                                                                        : RELU_PLAIN;
}

/* Element-wise and shape layers (no parameters). accumulate 0: relu and max pool write their
 * input gradient whole (see sets_input_grad). */
static void backward_simple(struct net *net, int i, const struct bctx *b, const struct slice *s,
                            int accumulate)
{
    struct net_layer *L = &net->layers[i];
    const struct net_layer *I = &net->layers[L->in[0]];
    size_t total = (size_t)s->cnt * L->size;
    const float *dy = L->grad + (size_t)s->n0 * L->size, *x = act_at(I, s->n0);
    const float *y = act_at(L, s->n0);
    float *dx = in_grad(net, L, 0, b, s->n0);
    if (L->spec.kind == NET_ADD) {
        float *db = L->in[1] == L->in[0] ? dx : in_grad(net, L, 1, b, s->n0);
        if (dx) add_backward(dx, NULL, dy, total, s->nt);
        if (db) add_backward(db, NULL, dy, total, s->nt);
        return;
    }
    if (!dx) return;
    switch (L->spec.kind) {
    case NET_RELU: {
        enum net_rule r = b->rules ? b->rules->rule[NET_RELU] : NET_RULE_PLAIN;
        relu_backward(dx, dy, x, total, relu_rule_of(r), accumulate, s->nt);
        return;
    }
    case NET_MAXPOOL:
    case NET_AVGPOOL: {
        struct pool2d_dims d = L->pool;
        d.N = s->cnt;
        if (L->spec.kind == NET_MAXPOOL)
            maxpool2d_backward(dx, dy, x, &d, accumulate, s->nt);
        else
            avgpool2d_backward(dx, dy, &d, s->nt);
        return;
    }
    case NET_GLOBAL_AVGPOOL:
        global_avgpool_backward(dx, dy, s->cnt, I->c, I->h * I->w, s->nt);
        return;
    case NET_FLATTEN:
        add_backward(dx, NULL, dy, total, s->nt);
        return;
    case NET_DROPOUT:
        dropout_backward(dx, dy, s->cnt, L->size, L->spec.p, b->train,
                         dropout_layer_seed(net->seed, i, net->step), net->keys + s->n0, s->nt);
        return;
    case NET_SOFTMAX:
        softmax_backward(dx, dy, y, s->cnt, L->c, L->h * L->w, s->nt);
        return;
    case NET_SIGMOID:
        sigmoid_backward(dx, dy, y, total, s->nt);
        return;
    default:
        SB_ASSERT(0 && "unknown layer kind");
    }
}

/* Kinds whose backward kernel can write its (single) input's gradient whole instead of adding
 * into a zeroed buffer: bitwise the same result without the zeroing pass and the reads. */
static int sets_input_grad(enum net_kind kind)
{
    return kind == NET_RELU || kind == NET_BATCHNORM || kind == NET_MAXPOOL;
}

/* One layer on a slice; chunk >= 0 (image-parallel) routes conv parameter gradients to the
 * chunk partial. Returns -1 only from a custom rule. */
static int backward_layer(struct net *net, int i, const struct bctx *b, const struct slice *s,
                          int chunk, int first)
{
    struct net_layer *L = &net->layers[i];
    enum net_rule r = b->rules ? b->rules->rule[L->spec.kind] : NET_RULE_PLAIN;
    /* Gradients accumulate; the first consumer to run clears its input's slice (cache-hot,
     * instead of a separate pass over every buffer), or, for the kernels that can, writes it
     * whole without clearing it first. */
    int accumulate = 1;
    for (int j = 0; j < L->n_in; j++) {
        const struct net_layer *I = &net->layers[L->in[j]];
        if (!b->need[L->in[j]] || b->last[L->in[j]] != i || (j > 0 && L->in[j] == L->in[0]))
            continue;
        if (j == 0 && r != NET_RULE_CUSTOM && sets_input_grad(L->spec.kind))
            accumulate = 0;
        else
            memset(I->grad + (size_t)s->n0 * I->size, 0, sizeof(float) * s->cnt * I->size);
    }
    if (r == NET_RULE_CUSTOM) {
        if (b->rules->custom(b->rules->user, net, i, b->n) < 0)
            return err_wrap("cannot run backward rule of layer '%s': ", L->spec.name);
        return 0;
    }
    switch (L->spec.kind) {
    case NET_CONV2D:
        backward_conv(net, L, b, s, chunk, first);
        return 0;
    case NET_BATCHNORM:
        backward_bn(net, L, b, s, accumulate);
        return 0;
    case NET_LINEAR:
        backward_linear(net, L, b, s);
        return 0;
    case NET_CONCAT:
        backward_concat(net, L, b, s);
        return 0;
    default:
        backward_simple(net, i, b, s, accumulate);
        return 0;
    }
}

static int backward_couples(const struct net_layer *L, const struct bctx *b)
{
    enum net_rule r = b->rules ? b->rules->rule[L->spec.kind] : NET_RULE_PLAIN;
    return L->spec.kind == NET_LINEAR || r == NET_RULE_CUSTOM ||
           (L->spec.kind == NET_BATCHNORM && (b->train || b->params));
}

/* Layers hi down to lo per image; with parameter gradients, per image chunk (the chunks of
 * conv2d_backward), then the chunk partials are reduced in order. */
static void backward_segment(struct net *net, int hi, int lo, const struct bctx *b)
{
    int n = b->n, G = b->params ? (n < CONV_DW_CHUNKS ? n : CONV_DW_CHUNKS) : n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(b->nt)
#endif
    for (int g = 0; g < G; g++) {
        int n0 = n * g / G, n1 = n * (g + 1) / G;
        for (int img = n0; img < n1; img++) {
            struct slice s = {img, 1, 1, net->scratch + (size_t)tid() * net->thread_scratch};
            for (int i = hi; i >= lo; i--)
                if (b->need[i]) backward_layer(net, i, b, &s, b->params ? g : -2, img == n0);
        }
    }
    if (!b->params) return;
    for (int i = hi; i >= lo; i--) {
        struct net_layer *L = &net->layers[i];
        if (!b->need[i] || L->spec.kind != NET_CONV2D) continue;
        conv2d_reduce_parts(pgrad(net, L->p_weight), pgrad(net, L->p_bias), L->gparts, G,
                            &L->conv, b->nt);
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
 * with NET_GRAD_INPUT or when it is the stop layer. last[j]: the highest needed consumer. */
static void mark_needed(const struct net *net, int seed, int stop, unsigned flags,
                        unsigned char *need, short *last)
{
    memset(need, 0, (size_t)net->n_layers);
    for (int i = 0; i < net->n_layers; i++)
        last[i] = -1;
    need[seed] = 1;
    for (int i = seed; i > 0; i--) {
        if (!need[i]) continue;
        const struct net_layer *L = &net->layers[i];
        for (int j = 0; j < L->n_in; j++)
            if (L->in[j] >= stop) {
                need[L->in[j]] = 1;
                if (last[L->in[j]] < 0) last[L->in[j]] = (short)i;
            }
    }
    if (!(flags & NET_GRAD_INPUT) && stop != 0) need[0] = 0;
}

int net_backward(struct net *net, int n, const char *seed_layer, const float *seed,
                 const char *stop_layer, const struct net_rules *rules, unsigned flags)
{
    SB_ASSERT(n >= 1 && n <= net->max_batch);
    if (net->flags & NET_NO_GRAD)
        return err_set("cannot run backward: the net was built without gradients");
    if ((flags & NET_GRAD_PARAMS) && (net->flags & NET_NO_PARAM_GRAD))
        return err_set("cannot run backward: the net was built without parameter gradients");
    if (n != net->batch)
        return err_set("cannot run backward: batch %d differs from the last forward's %d", n,
                       net->batch);
    int sl = seed_layer ? net_layer_index(net, seed_layer) : net_logits_layer(net);
    int stop = stop_layer ? net_layer_index(net, stop_layer) : -1;
    if (sl < 0 || (stop_layer && stop < 0)) return err_wrap("cannot run backward: ");
    if (stop >= sl)
        return err_set("cannot run backward: stop layer '%s' is not before seed layer '%s'",
                       stop_layer, net->layers[sl].spec.name);
    if (check_rules(rules) < 0) return -1;
    unsigned char need[1024];
    short last[1024];
    if (net->n_layers > (int)sizeof(need))
        return err_set("cannot run backward: more than %zu layers", sizeof(need));
    mark_needed(net, sl, stop, flags, need, last);
    for (int i = stop < 0 ? 0 : stop; i < sl; i++) /* needed ones are cleared on first use */
        if (!need[i])
            memset(net->layers[i].grad, 0, sizeof(float) * (size_t)n * net->layers[i].size);
    if (seed) memcpy(net->layers[sl].grad, seed, sizeof(float) * (size_t)n * net->layers[sl].size);
    struct bctx b = {n,    net_threads(net), (flags & NET_GRAD_PARAMS) != 0, net->last_train,
                     need, last,             rules};
    struct slice whole = {0, n, b.nt, net->scratch};
    int lo = stop < 0 ? 1 : stop + 1;
    for (int i = sl; i >= lo; i--) {
        struct net_layer *L = &net->layers[i];
        if (need[i] && L->spec.kind == NET_CONV2D && need[L->in[0]] &&
            conv2d_uses_wflip(&L->conv) && !L->wflip_ok) {
            conv2d_flip_weight(L->wflip, pdata(net, L->p_weight), &L->conv);
            L->wflip_ok = net->frozen;
        }
    }
    for (int i = sl; i >= lo;) {
        int j = i;
        if (image_parallel(n, b.nt) && !backward_couples(&net->layers[i], &b)) {
            while (j - 1 >= lo && !backward_couples(&net->layers[j - 1], &b))
                j--;
            backward_segment(net, i, j, &b);
        } else if (need[i] && backward_layer(net, i, &b, &whole, -1, 1) < 0) {
            return -1;
        }
        i = j - 1;
    }
    return 0;
}

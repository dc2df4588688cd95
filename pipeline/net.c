/* Building a net from layer specs: validation, shape inference, parameter list and the two
 * arenas (see net.h), plus the read-only accessors. Running it is in net_exec.c. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/gemm.h"
#include "pipeline/net_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const kind_names[NET_KIND_COUNT] = {
    "input",  "conv2d",  "batchnorm2d", "relu", "maxpool2d", "avgpool2d", "global_avgpool",
    "linear", "flatten", "dropout",     "add",  "concat",    "softmax",   "sigmoid",
};

const char *net_kind_name(enum net_kind kind)
{
    return (unsigned)kind < NET_KIND_COUNT ? kind_names[kind] : "unknown";
}

int net_kind_from_name(const char *name)
{
    for (int k = 0; k < NET_KIND_COUNT; k++)
        if (!strcmp(name, kind_names[k])) return k;
    return -1;
}

void net_layer_spec_init(struct net_layer_spec *spec, enum net_kind kind, const char *name)
{
    memset(spec, 0, sizeof(*spec));
    spec->kind = kind;
    if (name) strncpy(spec->name, name, NET_NAME_MAX - 1);
    spec->stride[0] = spec->stride[1] = kind == NET_MAXPOOL || kind == NET_AVGPOOL ? 0 : 1;
    spec->groups = 1;
    spec->bias = 1;
    spec->count_include_pad = 1;
    spec->eps = 1e-5f;
    spec->momentum = 0.1f;
    spec->p = 0.5f;
}

int net_threads(const struct net *net)
{
#ifdef _OPENMP
    int t = omp_get_max_threads();
    return t < net->nthreads ? t : net->nthreads;
#else
    (void)net;
    return 1;
#endif
}

static size_t r16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* ---- validation and shapes ----------------------------------------------------------- */

#define LAYER_ERR(L, fmt, ...)                                                                 \
    err_set("cannot build net: layer '%s' (%s): " fmt, (L)->spec.name,                         \
            net_kind_name((L)->spec.kind), __VA_ARGS__)

static int check_name(const char *name, int i)
{
    size_t len = strnlen(name, NET_NAME_MAX);
    if (len == 0) return err_set("cannot build net: layer %d has an empty name", i);
    if (len == NET_NAME_MAX)
        return err_set("cannot build net: layer %d name is %d bytes or longer", i, NET_NAME_MAX);
    for (size_t k = 0; k < len; k++) {
        char ch = name[k];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            return err_set("cannot build net: layer name '%s' has character '%c' (allowed: "
                           "A-Z a-z 0-9 _ . -)", name, ch);
    }
    return 0;
}

static int find_layer(const struct net *net, int before, const char *name)
{
    for (int j = 0; j < before; j++)
        if (!strcmp(net->layers[j].spec.name, name)) return j;
    return -1;
}

static int resolve_inputs(struct net *net, int i)
{
    struct net_layer *L = &net->layers[i];
    enum net_kind k = L->spec.kind;
    int want_min = k == NET_ADD || k == NET_CONCAT ? 2 : 1;
    int want_max = k == NET_ADD ? 2 : k == NET_CONCAT ? NET_MAX_INPUTS : 1;
    if (L->spec.n_inputs == 0) {
        if (want_min > 1) return LAYER_ERR(L, "needs %d inputs, none given", want_min);
        L->in[0] = i - 1;
        L->n_in = 1;
        return 0;
    }
    if (L->spec.n_inputs < want_min || L->spec.n_inputs > want_max)
        return LAYER_ERR(L, "takes %d..%d inputs, got %d", want_min, want_max,
                         L->spec.n_inputs);
    for (int j = 0; j < L->spec.n_inputs; j++) {
        const char *nm = L->spec.inputs[j];
        if (strnlen(nm, NET_NAME_MAX) == NET_NAME_MAX)
            return LAYER_ERR(L, "input %d name is too long", j);
        int idx = find_layer(net, i, nm);
        if (idx < 0) {
            if (find_layer(net, net->n_layers, nm) >= 0)
                return LAYER_ERR(L, "input '%s' comes later in the layer list", nm);
            return LAYER_ERR(L, "input '%s': no such layer", nm);
        }
        L->in[j] = idx;
    }
    L->n_in = L->spec.n_inputs;
    return 0;
}

static int shape_conv(struct net_layer *L, const struct net_layer *I, int max_batch)
{
    const struct net_layer_spec *s = &L->spec;
    if (s->in_channels > 0 && s->in_channels != I->c)
        return LAYER_ERR(L, "input '%s' has %d channels, in_channels is %d", I->spec.name, I->c,
                         s->in_channels);
    if (s->out_channels <= 0) return LAYER_ERR(L, "out_channels %d", s->out_channels);
    if (conv2d_dims_init(&L->conv, max_batch, I->c, I->h, I->w, s->out_channels, s->kernel[0],
                         s->kernel[1], s->stride[0], s->stride[1], s->padding[0],
                         s->padding[1], s->groups) < 0)
        return err_wrap("cannot build net: layer '%s': ", s->name);
    L->c = s->out_channels;
    L->h = L->conv.OH;
    L->w = L->conv.OW;
    L->flops = 2.0 * L->c * L->h * L->w * (I->c / s->groups) * s->kernel[0] * s->kernel[1];
    return 0;
}

static int shape_pool(struct net_layer *L, const struct net_layer *I, int max_batch)
{
    struct net_layer_spec *s = &L->spec;
    for (int a = 0; a < 2; a++)
        if (s->stride[a] == 0) s->stride[a] = s->kernel[a];
    if (pool2d_dims_init(&L->pool, max_batch, I->c, I->h, I->w, s->kernel[0], s->kernel[1],
                         s->stride[0], s->stride[1], s->padding[0], s->padding[1], s->ceil_mode,
                         s->count_include_pad) < 0)
        return err_wrap("cannot build net: layer '%s': ", s->name);
    L->c = I->c;
    L->h = L->pool.OH;
    L->w = L->pool.OW;
    L->flops = (double)L->c * L->h * L->w * s->kernel[0] * s->kernel[1];
    return 0;
}

static int shape_multi(struct net *net, struct net_layer *L)
{
    const struct net_layer *A = &net->layers[L->in[0]];
    L->c = A->c;
    L->h = A->h;
    L->w = A->w;
    for (int j = 1; j < L->n_in; j++) {
        const struct net_layer *B = &net->layers[L->in[j]];
        if (L->spec.kind == NET_ADD && (B->c != A->c || B->h != A->h || B->w != A->w))
            return LAYER_ERR(L, "inputs '%s' [%d,%d,%d] and '%s' [%d,%d,%d] differ in shape",
                             A->spec.name, A->c, A->h, A->w, B->spec.name, B->c, B->h, B->w);
        if (L->spec.kind == NET_CONCAT && (B->h != A->h || B->w != A->w))
            return LAYER_ERR(L, "inputs '%s' (%dx%d) and '%s' (%dx%d) differ in height/width",
                             A->spec.name, A->h, A->w, B->spec.name, B->h, B->w);
        if (L->spec.kind == NET_CONCAT) L->c += B->c;
    }
    L->flops = (double)L->c * L->h * L->w;
    return 0;
}

static int infer_shape(struct net *net, int i)
{
    struct net_layer *L = &net->layers[i];
    const struct net_layer_spec *s = &L->spec;
    const struct net_layer *I = i > 0 ? &net->layers[L->in[0]] : NULL;
    switch (s->kind) {
    case NET_INPUT:
        if (s->channels <= 0 || s->height <= 0 || s->width <= 0)
            return LAYER_ERR(L, "bad input shape %dx%dx%d", s->channels, s->height, s->width);
        L->c = s->channels, L->h = s->height, L->w = s->width;
        return 0;
    case NET_CONV2D:
        return shape_conv(L, I, net->max_batch);
    case NET_MAXPOOL:
    case NET_AVGPOOL:
        return shape_pool(L, I, net->max_batch);
    case NET_ADD:
    case NET_CONCAT:
        return shape_multi(net, L);
    case NET_BATCHNORM:
        if (s->in_channels > 0 && s->in_channels != I->c)
            return LAYER_ERR(L, "input '%s' has %d channels, num_features is %d", I->spec.name,
                             I->c, s->in_channels);
        if (!(s->eps > 0) || !(s->momentum >= 0 && s->momentum <= 1))
            return LAYER_ERR(L, "bad eps %g or momentum %g", s->eps, s->momentum);
        break;
    case NET_LINEAR:
        if (s->in_channels > 0 && (size_t)s->in_channels != I->size)
            return LAYER_ERR(L, "input '%s' has %zu features, in_features is %d", I->spec.name,
                             I->size, s->in_channels);
        if (s->out_channels <= 0) return LAYER_ERR(L, "out_features %d", s->out_channels);
        L->c = s->out_channels, L->h = 1, L->w = 1;
        L->flops = 2.0 * (double)I->size * L->c;
        return 0;
    case NET_GLOBAL_AVGPOOL:
        L->c = I->c, L->h = 1, L->w = 1;
        L->flops = (double)I->size;
        return 0;
    case NET_FLATTEN:
        if (I->size > (size_t)1 << 30) return LAYER_ERR(L, "%zu features", I->size);
        L->c = (int)I->size, L->h = 1, L->w = 1;
        return 0;
    case NET_DROPOUT:
        if (!(s->p >= 0 && s->p < 1)) return LAYER_ERR(L, "p %g not in [0, 1)", s->p);
        break;
    case NET_SOFTMAX:
        L->flops = 3.0 * (double)I->size;
        break;
    case NET_RELU:
    case NET_SIGMOID:
        break;
    default:
        return err_set("cannot build net: layer '%s': unknown kind %d", s->name, (int)s->kind);
    }
    L->c = I->c, L->h = I->h, L->w = I->w;
    if (L->flops == 0) L->flops = (double)I->c * I->h * I->w;
    return 0;
}

/* ---- parameters and arenas ----------------------------------------------------------- */

/* Saturating size arithmetic for arena sizes: absurd shapes (int sides up to 2^31, three of
 * them per layer, times the batch) overflow size_t; SIZE_MAX then fails the limit check. */
static size_t sat_mul(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t sat_r16(size_t n)
{
    return n > SIZE_MAX - 15 ? SIZE_MAX : r16(n);
}

/* 0 when floats fit under NET_MAX_ARENA_BYTES, else -1 with the size and the limit. */
static int arena_check(const struct net *net, size_t floats, const char *what)
{
    if (floats <= NET_MAX_ARENA_BYTES / sizeof(float)) return 0;
    double gib = (double)floats * sizeof(float) / (double)((size_t)1 << 30);
    return err_set("cannot build net: %s need %.3g GiB for max batch %d, above the %zu GiB limit",
                   what, gib, net->max_batch, NET_MAX_ARENA_BYTES >> 30);
}

static int add_param(struct net *net, int layer, const char *suffix, int trainable, int ndim,
                     const int *shape)
{
    struct net_param *p = &net->params[net->n_params];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s.%s", net->layers[layer].spec.name, suffix);
    p->layer = layer;
    p->trainable = trainable;
    p->value.ndim = p->grad.ndim = ndim;
    for (int a = 0; a < TENSOR_MAX_DIMS; a++)
        p->value.shape[a] = p->grad.shape[a] = a < ndim ? shape[a] : 1;
    return net->n_params++;
}

static void list_params(struct net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        struct net_layer *L = &net->layers[i];
        const struct net_layer *I = i > 0 ? &net->layers[L->in[0]] : NULL;
        L->p_weight = L->p_bias = L->p_mean = L->p_var = -1;
        if (L->spec.kind == NET_CONV2D) {
            int ws[4] = {L->c, I->c / L->spec.groups, L->spec.kernel[0], L->spec.kernel[1]};
            L->p_weight = add_param(net, i, "weight", 1, 4, ws);
            if (L->spec.bias) L->p_bias = add_param(net, i, "bias", 1, 1, &L->c);
        } else if (L->spec.kind == NET_LINEAR) {
            int ws[2] = {L->c, (int)I->size};
            L->p_weight = add_param(net, i, "weight", 1, 2, ws);
            if (L->spec.bias) L->p_bias = add_param(net, i, "bias", 1, 1, &L->c);
        } else if (L->spec.kind == NET_BATCHNORM) {
            L->p_weight = add_param(net, i, "weight", 1, 1, &L->c);
            L->p_bias = add_param(net, i, "bias", 1, 1, &L->c);
            L->p_mean = add_param(net, i, "running_mean", 0, 1, &L->c);
            L->p_var = add_param(net, i, "running_var", 0, 1, &L->c);
        }
    }
}

static size_t param_floats_need(const struct net *net)
{
    int nstate = net->flags & NET_OPT_STATE2 ? 2 : net->flags & NET_OPT_STATE1 ? 1 : 0;
    int grads = !(net->flags & (NET_NO_GRAD | NET_NO_PARAM_GRAD));
    size_t total = 16;
    for (int k = 0; k < net->n_params; k++) {
        const struct net_param *p = &net->params[k];
        size_t n = 1, copies = (size_t)(1 + (p->trainable ? grads + nstate : 0));
        for (int a = 0; a < p->value.ndim; a++) n = sat_mul(n, (size_t)p->value.shape[a]);
        total = sat_add(total, sat_mul(sat_r16(n), copies));
    }
    return total;
}

static int alloc_params(struct net *net, size_t total)
{
    int nstate = net->flags & NET_OPT_STATE2 ? 2 : net->flags & NET_OPT_STATE1 ? 1 : 0;
    int grads = !(net->flags & (NET_NO_GRAD | NET_NO_PARAM_GRAD));
    net->param_floats = total;
    net->param_arena = aligned_alloc(64, total * sizeof(float));
    if (!net->param_arena)
        return err_set("cannot build net: out of memory for %zu parameter floats", total);
    memset(net->param_arena, 0, total * sizeof(float));
    float *cur = net->param_arena;
    for (int k = 0; k < net->n_params; k++) {
        struct net_param *p = &net->params[k];
        size_t n = r16(tensor_numel(&p->value));
        p->value.data = cur, cur += n;
        if (p->trainable && grads) p->grad.data = cur, cur += n;
        for (int s = 0; p->trainable && s < nstate; s++)
            p->state[s] = cur, cur += n;
    }
    return 0;
}

static size_t scratch_need(struct net *net)
{
    size_t need = (size_t)net->nthreads * gemm_work_floats(), one = gemm_work_floats();
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].spec.kind == NET_CONV2D) {
            size_t s = conv2d_scratch_floats(&net->layers[i].conv, net->nthreads);
            size_t t = r16(conv2d_image_scratch_floats(&net->layers[i].conv, 1));
            if (s > need) need = s;
            if (t > one) one = t;
        }
    net->thread_scratch = r16(one);
    if ((size_t)net->nthreads * net->thread_scratch > need)
        need = (size_t)net->nthreads * net->thread_scratch;
    return r16(need);
}

static int is_conv_with_grads(const struct net *net, const struct net_layer *L)
{
    return L->spec.kind == NET_CONV2D && !(net->flags & NET_NO_GRAD);
}

static int is_conv_with_param_grads(const struct net *net, const struct net_layer *L)
{
    return is_conv_with_grads(net, L) && !(net->flags & NET_NO_PARAM_GRAD);
}

/* Activation arena floats (saturated at SIZE_MAX); sets scratch_floats and thread_scratch. */
static size_t act_floats_need(struct net *net)
{
    int grads = !(net->flags & NET_NO_GRAD);
    size_t mb = (size_t)net->max_batch, total = 16;
    for (int i = 0; i < net->n_layers; i++) {
        const struct net_layer *L = &net->layers[i];
        total = sat_add(total, sat_mul(sat_r16(sat_mul(mb, L->size)), (size_t)(1 + grads)));
        if (L->spec.kind == NET_BATCHNORM) total = sat_add(total, 2 * r16((size_t)L->c));
        if (L->spec.kind == NET_CONV2D) total = sat_add(total, conv2d_wpack_floats(&L->conv));
        if (is_conv_with_grads(net, L)) total = sat_add(total, conv2d_wflip_floats(&L->conv));
        if (is_conv_with_param_grads(net, L))
            total = sat_add(total, sat_mul(CONV_DW_CHUNKS, conv2d_part_floats(&L->conv)));
    }
    /* scratch only for nets that fit: its conv sizes are plain size_t arithmetic */
    if (total > NET_MAX_ARENA_BYTES / sizeof(float)) return total;
    net->scratch_floats = scratch_need(net);
    return sat_add(total, net->scratch_floats);
}

static int alloc_acts(struct net *net, size_t total)
{
    int grads = !(net->flags & NET_NO_GRAD);
    size_t mb = (size_t)net->max_batch;
    net->act_floats = total;
    net->act_arena = aligned_alloc(64, total * sizeof(float));
    net->keys = calloc(mb, sizeof(uint64_t));
    if (!net->act_arena || !net->keys)
        return err_set("cannot build net: out of memory for %zu activation floats (max batch "
                       "%d)", total, net->max_batch);
    memset(net->act_arena, 0, total * sizeof(float));
    float *cur = net->act_arena;
    for (int i = 0; i < net->n_layers; i++) {
        struct net_layer *L = &net->layers[i];
        size_t n = r16(mb * L->size);
        L->act = cur, cur += n;
        if (grads) L->grad = cur, cur += n;
        if (L->spec.kind == NET_BATCHNORM) {
            L->save_mean = cur, cur += r16((size_t)L->c);
            L->save_invstd = cur, cur += r16((size_t)L->c);
        }
        if (L->spec.kind == NET_CONV2D) {
            L->wpack = cur;
            cur += conv2d_wpack_floats(&L->conv);
        }
        if (is_conv_with_grads(net, L)) {
            L->wflip = cur;
            cur += conv2d_wflip_floats(&L->conv);
        }
        if (is_conv_with_param_grads(net, L)) {
            L->gparts = cur;
            cur += CONV_DW_CHUNKS * conv2d_part_floats(&L->conv);
        }
    }
    net->scratch = cur;
    return 0;
}

static int build_layers(struct net *net, const struct net_layer_spec *spec)
{
    if (spec[0].kind != NET_INPUT)
        return err_set("cannot build net: the first layer must be 'input', not '%s'",
                       net_kind_name(spec[0].kind));
    for (int i = 0; i < net->n_layers; i++)
        net->layers[i].spec = spec[i];
    for (int i = 0; i < net->n_layers; i++) {
        struct net_layer *L = &net->layers[i];
        if (check_name(L->spec.name, i) < 0) return -1;
        if ((unsigned)L->spec.kind >= NET_KIND_COUNT)
            return err_set("cannot build net: layer '%s' has unknown kind %d", L->spec.name,
                           (int)L->spec.kind);
        if (i > 0 && L->spec.kind == NET_INPUT)
            return LAYER_ERR(L, "%s", "only the first layer can be an input");
        if (find_layer(net, i, L->spec.name) >= 0)
            return err_set("cannot build net: two layers are named '%s'", L->spec.name);
        if (i > 0 && resolve_inputs(net, i) < 0) return -1;
        if (infer_shape(net, i) < 0) return -1;
        L->size = sat_mul(sat_mul((size_t)L->c, (size_t)L->h), (size_t)L->w);
    }
    return 0;
}

/* The net without its arenas: layers validated and shaped, parameters listed. */
static int net_shape(struct net **out, const struct net_layer_spec *spec, int n_layers,
                     int max_batch, unsigned flags)
{
    *out = NULL;
    if (n_layers < 1 || !spec) return err_set("cannot build net: no layers");
    if (max_batch < 1) return err_set("cannot build net: max batch %d", max_batch);
    struct net *net = calloc(1, sizeof(*net));
    if (!net) return err_set("cannot build net: out of memory");
    net->n_layers = n_layers;
    net->max_batch = net->batch = max_batch;
    net->flags = flags & NET_OPT_STATE2 ? flags | NET_OPT_STATE1 : flags;
#ifdef _OPENMP
    net->nthreads = omp_get_max_threads();
#else
    net->nthreads = 1;
#endif
    net->layers = calloc((size_t)n_layers, sizeof(*net->layers));
    net->params = calloc((size_t)n_layers * 4, sizeof(*net->params));
    if (!net->layers || !net->params) {
        err_set("cannot build net: out of memory");
        net_free(net);
        return -1;
    }
    if (build_layers(net, spec) < 0) {
        net_free(net);
        return -1;
    }
    list_params(net);
    *out = net;
    return 0;
}

int net_build(struct net **out, const struct net_layer_spec *spec, int n_layers, int max_batch,
              unsigned flags)
{
    struct net *net;
    if (net_shape(&net, spec, n_layers, max_batch, flags) < 0) return -1;
    /* sizes checked before anything big is allocated (activations first: their check also
     * covers a linear layer whose input is too big for the int shape of its weight) */
    size_t acts = act_floats_need(net), params = param_floats_need(net);
    if (arena_check(net, acts, "activations") < 0 || arena_check(net, params, "parameters") < 0 ||
        alloc_acts(net, acts) < 0 || alloc_params(net, params) < 0) {
        net_free(net);
        return -1;
    }
    *out = net;
    return 0;
}

int net_arena_need(const struct net_layer_spec *spec, int n_layers, int max_batch,
                   unsigned flags, size_t *params, size_t *acts)
{
    struct net *net;
    *params = *acts = 0;
    if (net_shape(&net, spec, n_layers, max_batch, flags) < 0) return -1;
    *acts = sat_mul(act_floats_need(net), sizeof(float));
    *params = sat_mul(param_floats_need(net), sizeof(float));
    net_free(net);
    return 0;
}

void net_free(struct net *net)
{
    if (!net) return;
    free(net->param_arena);
    free(net->act_arena);
    free(net->keys);
    free(net->params);
    free(net->layers);
    free(net);
}

/* ---- accessors ----------------------------------------------------------------------- */

int net_layer_count(const struct net *net)
{
    return net->n_layers;
}

int net_layer_index(const struct net *net, const char *name)
{
    int i = name ? find_layer(net, net->n_layers, name) : -1;
    if (i < 0) return err_set("cannot find layer '%s': no such layer in the net", name ? name : "");
    return i;
}

const struct net_layer_spec *net_layer_spec_at(const struct net *net, int layer)
{
    SB_ASSERT(layer >= 0 && layer < net->n_layers);
    return &net->layers[layer].spec;
}

int net_layer_inputs(const struct net *net, int layer, int idx[NET_MAX_INPUTS])
{
    SB_ASSERT(layer >= 0 && layer < net->n_layers);
    const struct net_layer *L = &net->layers[layer];
    if (layer == 0) return 0;
    for (int j = 0; j < L->n_in; j++)
        idx[j] = L->in[j];
    return L->n_in;
}

void net_layer_shape(const struct net *net, int layer, int *c, int *h, int *w)
{
    SB_ASSERT(layer >= 0 && layer < net->n_layers);
    const struct net_layer *L = &net->layers[layer];
    *c = L->c, *h = L->h, *w = L->w;
}

struct tensor net_act(const struct net *net, int layer)
{
    SB_ASSERT(layer >= 0 && layer < net->n_layers);
    const struct net_layer *L = &net->layers[layer];
    return tensor_4d(L->act, net->batch, L->c, L->h, L->w);
}

struct tensor net_grad(const struct net *net, int layer)
{
    SB_ASSERT(layer >= 0 && layer < net->n_layers);
    const struct net_layer *L = &net->layers[layer];
    return tensor_4d(L->grad, net->batch, L->c, L->h, L->w);
}

double net_layer_flops(const struct net *net, int layer)
{
    SB_ASSERT(layer >= 0 && layer < net->n_layers);
    return net->layers[layer].flops;
}

int net_output_layer(const struct net *net)
{
    return net->n_layers - 1;
}

int net_logits_layer(const struct net *net)
{
    int i = net->n_layers - 1;
    while (i > 0 && (net->layers[i].spec.kind == NET_SOFTMAX ||
                     net->layers[i].spec.kind == NET_SIGMOID))
        i--;
    return i;
}

int net_max_batch(const struct net *net)
{
    return net->max_batch;
}

void net_arena_bytes(const struct net *net, size_t *params, size_t *acts)
{
    if (params) *params = net->param_floats * sizeof(float);
    if (acts) *acts = net->act_floats * sizeof(float);
}

int net_param_count(const struct net *net)
{
    return net->n_params;
}

struct net_param *net_param_at(struct net *net, int i)
{
    SB_ASSERT(i >= 0 && i < net->n_params);
    return &net->params[i];
}

struct net_param *net_param_find(struct net *net, const char *name)
{
    for (int k = 0; k < net->n_params; k++)
        if (!strcmp(net->params[k].name, name)) return &net->params[k];
    err_set("cannot find parameter '%s': no such tensor in the net", name);
    return NULL;
}

void net_freeze_weights(struct net *net, int frozen)
{
    net->frozen = frozen != 0;
    for (int i = 0; i < net->n_layers; i++)
        net->layers[i].wpack_ok = net->layers[i].wflip_ok = 0;
}

void net_zero_grad(struct net *net)
{
    for (int k = 0; k < net->n_params; k++) {
        struct net_param *p = &net->params[k];
        if (p->grad.data) memset(p->grad.data, 0, sizeof(float) * tensor_numel(&p->grad));
    }
}

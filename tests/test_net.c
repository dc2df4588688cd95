/* The graph executor: PyTorch parity on the fixtures of tests/ref/make_engine_fixtures.py
 * (every activation, every layer's gradient, input and parameter gradients, running stats;
 * max |a-b| <= 1e-4 * max(1, |b|)), build-time validation messages, 1- vs 2-thread bitwise
 * equality of a whole forward+backward, backward seeds/stops at intermediate layers, forward
 * ranges, backward rules (guided, deconvnet, custom hook) and dropout determinism. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/rng.h"
#include "tests/check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- spec helpers --------------------------------------------------------------------- */

static struct net_layer_spec sp(enum net_kind k, const char *name)
{
    struct net_layer_spec s;
    net_layer_spec_init(&s, k, name);
    return s;
}

static struct net_layer_spec sp_input(int c, int h, int w)
{
    struct net_layer_spec s = sp(NET_INPUT, "input");
    s.channels = c, s.height = h, s.width = w;
    return s;
}

static struct net_layer_spec sp_conv(const char *name, int out, int kh, int kw, int st, int ph,
                                     int pw, int groups, int bias)
{
    struct net_layer_spec s = sp(NET_CONV2D, name);
    s.out_channels = out, s.kernel[0] = kh, s.kernel[1] = kw;
    s.stride[0] = s.stride[1] = st, s.padding[0] = ph, s.padding[1] = pw;
    s.groups = groups, s.bias = bias;
    return s;
}

static struct net_layer_spec sp_pool(enum net_kind k, const char *name, int kk, int st, int pad,
                                     int ceil, int cip)
{
    struct net_layer_spec s = sp(k, name);
    s.kernel[0] = s.kernel[1] = kk, s.stride[0] = s.stride[1] = st;
    s.padding[0] = s.padding[1] = pad, s.ceil_mode = ceil, s.count_include_pad = cip;
    return s;
}

static struct net_layer_spec sp_in2(struct net_layer_spec s, const char *a, const char *b)
{
    s.n_inputs = b ? 2 : 1;
    strcpy(s.inputs[0], a);
    if (b) strcpy(s.inputs[1], b);
    return s;
}

static struct net_layer_spec sp_linear(const char *name, int out)
{
    struct net_layer_spec s = sp(NET_LINEAR, name);
    s.out_channels = out;
    return s;
}

/* The two fixture models, as in make_engine_fixtures.py. */
static int spec_resnet(struct net_layer_spec *s)
{
    int n = 0;
    s[n++] = sp_input(3, 12, 12);
    s[n++] = sp_conv("conv1", 8, 3, 3, 1, 1, 1, 1, 0);
    s[n++] = sp(NET_BATCHNORM, "bn1");
    s[n++] = sp(NET_RELU, "relu1");
    s[n++] = sp_pool(NET_MAXPOOL, "pool1", 3, 2, 1, 1, 1);
    s[n++] = sp_conv("conv2a", 8, 3, 1, 1, 1, 0, 1, 1);
    s[n] = sp(NET_BATCHNORM, "bn2a"), s[n++].eps = 1e-3f;
    s[n++] = sp(NET_RELU, "relu2a");
    s[n++] = sp_conv("conv2b", 8, 3, 3, 1, 1, 1, 1, 0);
    s[n++] = sp(NET_BATCHNORM, "bn2b");
    s[n++] = sp_in2(sp(NET_ADD, "add2"), "bn2b", "pool1");
    s[n++] = sp(NET_RELU, "relu2");
    s[n++] = sp_conv("conv3", 12, 3, 3, 2, 1, 1, 4, 1);
    s[n++] = sp(NET_BATCHNORM, "bn3");
    s[n++] = sp(NET_RELU, "relu3");
    s[n++] = sp_conv("conv4", 12, 3, 3, 1, 1, 1, 12, 1);
    s[n++] = sp(NET_RELU, "relu4");
    s[n++] = sp_conv("conv5", 16, 1, 1, 1, 0, 0, 1, 1);
    s[n++] = sp_pool(NET_AVGPOOL, "pool5", 3, 2, 1, 1, 1);
    s[n++] = sp(NET_GLOBAL_AVGPOOL, "gap");
    s[n++] = sp(NET_FLATTEN, "flat");
    s[n] = sp(NET_DROPOUT, "drop"), s[n++].p = 0.3f;
    s[n++] = sp_linear("fc", 5);
    s[n++] = sp(NET_SOFTMAX, "probs");
    return n;
}

static int spec_concat(struct net_layer_spec *s)
{
    int n = 0;
    s[n++] = sp_input(2, 10, 10);
    s[n++] = sp_conv("conva", 4, 3, 3, 1, 1, 1, 1, 1);
    s[n++] = sp(NET_RELU, "relua");
    s[n++] = sp_in2(sp_conv("convb", 3, 1, 1, 1, 0, 0, 1, 1), "input", NULL);
    s[n++] = sp(NET_RELU, "relub");
    s[n++] = sp_in2(sp(NET_CONCAT, "cat"), "relua", "relub");
    s[n] = sp(NET_BATCHNORM, "bn"), s[n++].momentum = 0.2f;
    s[n++] = sp_pool(NET_AVGPOOL, "pool", 3, 2, 1, 0, 0);
    s[n++] = sp_pool(NET_MAXPOOL, "mpool", 2, 1, 0, 0, 1);
    s[n++] = sp(NET_FLATTEN, "flat");
    s[n++] = sp_linear("fc", 4);
    s[n++] = sp(NET_SIGMOID, "probs");
    return n;
}

/* ---- fixture parity ------------------------------------------------------------------- */

/* max |a-b| <= 1e-4 * max(1, |b|) */
static int parity(const char *name, const float *a, const float *b, size_t n)
{
    size_t worst = 0;
    double excess = 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), lim = 1e-4 * fmax(1.0, fabs((double)b[i]));
        if (!(d <= lim)) {
            ok = 0;
            if (d / lim > excess || d != d) excess = d / lim, worst = i;
        }
    }
    return CHECK(ok, name, "%zu elements; worst [%zu] %.8g vs %.8g (%.3g x tolerance)", n,
                 worst, ok ? 0 : a[worst], ok ? 0 : b[worst], excess);
}

static float *read_f32(struct h5table_file *f, const char *name, size_t *n)
{
    uint64_t dims[H5TABLE_MAX_RANK];
    int rank = 0;
    void *data = NULL;
    if (h5table_array_info(f, name, NULL, &rank, dims) < 0) return NULL;
    if (h5table_read_array(f, name, H5TABLE_F32, rank, dims, &data) < 0) return NULL;
    *n = 1;
    for (int i = 0; i < rank; i++)
        *n *= dims[i];
    return data;
}

static int load_params(struct net *net, struct h5table_file *f, const char *tag)
{
    char name[160], path[200];
    for (int k = 0; k < net_param_count(net); k++) {
        struct net_param *p = net_param_at(net, k);
        size_t n = 0;
        snprintf(path, sizeof path, "params/%s", p->name);
        float *v = read_f32(f, path, &n);
        snprintf(name, sizeof name, "net_%s_load_%s", tag, p->name);
        if (!CHECK(v && n == tensor_numel(&p->value), name, "%s", v ? "size" : err_msg())) {
            free(v);
            return -1;
        }
        memcpy(p->value.data, v, sizeof(float) * n);
        free(v);
    }
    return 0;
}

/* The fixture's architecture JSON, parsed by formats/model, gives the hand-built specs field
 * by field (the JSON format of net.h as PyTorch's side writes it). */
static void check_arch(struct h5table_file *f, const struct net_layer_spec *s, int n,
                       const char *tag)
{
    char *arch = NULL, name[120];
    struct net_layer_spec *parsed = NULL;
    int np = 0, bad = -1;
    if (h5table_attr_get_str(f, "/", "architecture", &arch) == 0 &&
        model_arch_parse(arch, tag, &parsed, &np) == 0 && np == n) {
        bad = 0;
        for (int i = 0; i < n && !bad; i++) {
            struct net_layer_spec a = parsed[i], b = s[i];
            for (int j = a.n_inputs; j < NET_MAX_INPUTS; j++)
                memset(a.inputs[j], 0, NET_NAME_MAX), memset(b.inputs[j], 0, NET_NAME_MAX);
            if (memcmp(&a, &b, sizeof a)) bad = i + 1;
        }
    }
    snprintf(name, sizeof name, "net_%s_architecture_json", tag);
    CHECK(bad == 0, name, "%s", bad < 0 ? err_msg() : "a parsed layer differs from the spec");
    free(arch);
    free(parsed);
}

static void compare_layers(struct net *net, struct h5table_file *f, const char *group,
                           int upto, const char *tag)
{
    char path[200], name[200];
    for (int i = 0; i <= upto; i++) {
        const char *ln = net_layer_spec_at(net, i)->name;
        struct tensor t = strcmp(group, "acts") ? net_grad(net, i) : net_act(net, i);
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s", group, ln);
        float *ref = read_f32(f, path, &n);
        snprintf(name, sizeof name, "net_%s_%s_%s", tag, group, ln);
        if (CHECK(ref && n == tensor_numel(&t), name, "missing or %zu vs %zu elements", n,
                  tensor_numel(&t)))
            parity(name, t.data, ref, n);
        free(ref);
    }
}

static void compare_group(struct net *net, struct h5table_file *f, const char *group,
                          int grads, const char *tag)
{
    char path[200], name[200];
    for (int k = 0; k < net_param_count(net); k++) {
        struct net_param *p = net_param_at(net, k);
        if (grads ? !p->trainable : p->trainable) continue;
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s", group, p->name);
        float *ref = read_f32(f, path, &n);
        snprintf(name, sizeof name, "net_%s_%s_%s", tag, group, p->name);
        if (CHECK(ref && n == tensor_numel(&p->value), name, "missing or wrong size"))
            parity(name, grads ? p->grad.data : p->value.data, ref, n);
        free(ref);
    }
}

static void fixture(const char *tag, int (*spec_fn)(struct net_layer_spec *))
{
    char path[200], name[160];
    snprintf(path, sizeof path, "tests/ref/engine_%s.h5", tag);
    struct h5table_file *f = h5table_open(path);
    snprintf(name, sizeof name, "net_%s_fixture_open", tag);
    if (!CHECK(f, name, "%s", err_msg())) return;
    struct net_layer_spec s[64];
    int nl = spec_fn(s);
    check_arch(f, s, nl, tag);
    char *mode = NULL, *seed_layer = NULL;
    size_t nin = 0, nseed = 0;
    float *input = read_f32(f, "input", &nin), *seed = read_f32(f, "seed", &nseed);
    h5table_attr_get_str(f, "/", "mode", &mode);
    h5table_attr_get_str(f, "/", "seed_layer", &seed_layer);
    struct net *net = NULL;
    int c, h, w;
    snprintf(name, sizeof name, "net_%s_build", tag);
    if (!CHECK(input && seed && mode && seed_layer && net_build(&net, s, nl, 4, 0) == 0, name,
               "%s", err_msg()))
        goto done;
    net_layer_shape(net, 0, &c, &h, &w);
    int n = (int)(nin / ((size_t)c * h * w));
    if (load_params(net, f, tag) < 0) goto done;
    int train = !strcmp(mode, "train");
    snprintf(name, sizeof name, "net_%s_forward", tag);
    CHECK(net_forward(net, input, n, train ? NET_TRAIN : NET_EVAL, NULL) == 0, name, "%s",
          err_msg());
    compare_layers(net, f, "acts", net_layer_count(net) - 1, tag);
    int si = net_layer_index(net, seed_layer);
    snprintf(name, sizeof name, "net_%s_backward", tag);
    CHECK(net_backward(net, n, seed_layer, seed, NULL, NULL, NET_GRAD_PARAMS | NET_GRAD_INPUT) ==
              0,
          name, "%s", err_msg());
    compare_layers(net, f, "grads", si, tag);
    compare_group(net, f, "param_grads", 1, tag);
    if (train) compare_group(net, f, "running", 0, tag);
done:
    net_free(net);
    free(input), free(seed), free(mode), free(seed_layer);
    h5table_close(f);
}

/* ---- validation ----------------------------------------------------------------------- */

static void expect_build_error(const char *name, struct net_layer_spec *s, int n,
                               const char *needle)
{
    struct net *net = NULL;
    int rc = net_build(&net, s, n, 2, 0);
    CHECK(rc < 0 && !net && strstr(err_msg(), needle), name, "rc %d, message '%s'", rc,
          err_msg());
    net_free(net);
}

static void test_validation(void)
{
    struct net_layer_spec s[8];
    s[0] = sp_input(3, 8, 8);
    s[1] = sp_conv("c1", 4, 3, 3, 1, 1, 1, 1, 1);
    s[2] = sp_in2(sp(NET_ADD, "a"), "c1", "nothere");
    expect_build_error("net_err_unknown_input", s, 3, "input 'nothere': no such layer");
    s[2] = sp_in2(sp(NET_ADD, "a"), "c1", "input");
    expect_build_error("net_err_add_shape", s, 3, "differ in shape");
    s[1].in_channels = 5;
    expect_build_error("net_err_channel_mismatch", s, 2, "has 3 channels, in_channels is 5");
    s[1] = sp_conv("c1", 4, 3, 3, 0, 1, 1, 1, 1);
    expect_build_error("net_err_bad_stride", s, 2, "bad stride");
    s[1] = sp_conv("c1", 4, 3, 3, 1, 1, 1, 2, 1);
    expect_build_error("net_err_bad_groups", s, 2, "not divisible by groups");
    s[1] = sp_conv("input", 4, 3, 3, 1, 1, 1, 1, 1);
    expect_build_error("net_err_duplicate_name", s, 2, "two layers are named 'input'");
    s[1] = sp_conv("c 1", 4, 3, 3, 1, 1, 1, 1, 1);
    expect_build_error("net_err_bad_name", s, 2, "has character ' '");
    expect_build_error("net_err_first_not_input", s + 1, 1, "first layer must be 'input'");
    s[1] = sp_pool(NET_MAXPOOL, "p", 3, 2, 2, 0, 1);
    expect_build_error("net_err_pool_pad", s, 2, "at most half the kernel");
    s[1] = sp_conv("c1", 4, 3, 3, 1, 1, 1, 1, 1);
    s[2] = sp_in2(sp(NET_RELU, "r"), "later", NULL);
    s[3] = sp(NET_RELU, "later");
    expect_build_error("net_err_forward_reference", s, 4, "comes later");
    s[2] = sp(NET_DROPOUT, "d"), s[2].p = 1.0f;
    expect_build_error("net_err_dropout_p", s, 3, "not in [0, 1)");
    s[0] = sp_input(0, 8, 8);
    expect_build_error("net_err_input_shape", s, 1, "bad input shape");
}

/* net_build refuses arenas above NET_MAX_ARENA_BYTES before allocating them (a fuzzed
 * architecture with a 3x8192x8192 input used to get 3.2 GB allocated and zeroed). */
static void test_arena_limit(void)
{
    struct net_layer_spec s[5];
    s[0] = sp_input(3, 32768, 32768); /* 48 GiB of activations at batch 2 */
    s[1] = sp(NET_GLOBAL_AVGPOOL, "g");
    s[2] = sp_linear("fc", 2);
    expect_build_error("net_arena_limit_activations", s, 3,
                       "activations need 48 GiB for max batch 2, above the 8 GiB limit");
    s[0] = sp_input(INT_MAX, INT_MAX, INT_MAX); /* c*h*w overflows size_t */
    expect_build_error("net_arena_limit_overflow", s, 3, "above the 8 GiB limit");
    s[0] = sp_input(1, 256, 256);
    s[1] = sp_linear("fc", 65536); /* a 65536x65536 weight: 16 GiB */
    expect_build_error("net_arena_limit_parameters", s, 2, "parameters need 32 GiB");
    size_t p = 0, a = 0, p2 = 0, a2 = 0;
    CHECK(net_arena_need(s, 2, 2, 0, &p, &a) == 0 && p > NET_MAX_ARENA_BYTES &&
              a < NET_MAX_ARENA_BYTES,
          "net_arena_need_big", "params %zu acts %zu", p, a);
    s[0] = sp_input(3, 8, 8);
    s[1] = sp_conv("c1", 4, 3, 3, 1, 1, 1, 1, 1);
    s[2] = sp(NET_RELU, "r");
    s[3] = sp(NET_GLOBAL_AVGPOOL, "g");
    s[4] = sp_linear("fc", 2);
    struct net *net = NULL;
    int rc = net_arena_need(s, 5, 4, 0, &p, &a);
    if (CHECK(rc == 0 && net_build(&net, s, 5, 4, 0) == 0, "net_arena_need_small", "%s",
              err_msg())) {
        net_arena_bytes(net, &p2, &a2);
        CHECK(p == p2 && a == a2, "net_arena_need_matches", "need %zu/%zu, built %zu/%zu", p, a,
              p2, a2);
    }
    net_free(net);
    s[1].stride[0] = 0;
    CHECK(net_arena_need(s, 5, 4, 0, &p, &a) < 0 && strstr(err_msg(), "bad stride") && p == 0,
          "net_arena_need_invalid", "%s", err_msg());
}

/* ---- behaviour on a random-weight net ------------------------------------------------- */

static void fill_random(struct net *net, uint64_t key)
{
    struct rng r;
    rng_init(&r, 7, key, RNG_INIT);
    for (int k = 0; k < net_param_count(net); k++) {
        struct net_param *p = net_param_at(net, k);
        int var = strstr(p->name, "running_var") != NULL;
        for (size_t i = 0; i < tensor_numel(&p->value); i++)
            p->value.data[i] = var ? 0.5f + rng_uniform(&r) : rng_uniform(&r) - 0.5f;
    }
}

static float *random_input(size_t n, uint64_t key)
{
    float *x = malloc(sizeof(float) * n);
    struct rng r;
    rng_init(&r, 8, key, RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_normal(&r);
    return x;
}

/* Snapshot of every activation, gradient and parameter gradient. */
static float *snapshot(struct net *net, int n, size_t *len)
{
    size_t total = 0;
    (void)n;
    for (int i = 0; i < net_layer_count(net); i++) {
        struct tensor a = net_act(net, i);
        total += 2 * tensor_numel(&a);
    }
    for (int k = 0; k < net_param_count(net); k++)
        if (net_param_at(net, k)->grad.data) total += tensor_numel(&net_param_at(net, k)->grad);
    float *v = malloc(sizeof(float) * total), *cur = v;
    for (int i = 0; i < net_layer_count(net); i++) {
        struct tensor a = net_act(net, i), g = net_grad(net, i);
        memcpy(cur, a.data, sizeof(float) * tensor_numel(&a)), cur += tensor_numel(&a);
        memcpy(cur, g.data, sizeof(float) * tensor_numel(&g)), cur += tensor_numel(&g);
    }
    for (int k = 0; k < net_param_count(net); k++) {
        struct tensor g = net_param_at(net, k)->grad;
        if (!g.data) continue;
        memcpy(cur, g.data, sizeof(float) * tensor_numel(&g)), cur += tensor_numel(&g);
    }
    *len = total;
    return v;
}

static void run_once(struct net *net, const float *x, int n, enum net_mode mode)
{
    uint64_t keys[8] = {5, 6, 7, 8, 9, 10, 11, 12};
    struct net_train_ctx ctx = {42, 3, keys};
    net_zero_grad(net);
    net_forward(net, x, n, mode, &ctx);
    struct tensor g = net_grad(net, net_logits_layer(net));
    for (size_t i = 0; i < tensor_numel(&g); i++)
        g.data[i] = (float)(i % 7) - 3.0f;
    net_backward(net, n, NULL, NULL, NULL, NULL, NET_GRAD_PARAMS | NET_GRAD_INPUT);
}

/* seed at logits with ones: the seed buffer is written by the caller (seed NULL). */
static void seed_ones(struct net *net, int layer, int n)
{
    struct tensor g = net_grad(net, layer);
    g.shape[0] = n;
    for (size_t i = 0; i < tensor_numel(&g); i++)
        g.data[i] = 1.0f;
}

/* Convs with >= 16 input channels on a 32x32 map (flipped-kernel input gradient), grouped
 * and strided ones (column matrix + col2im). */
static int spec_wide(struct net_layer_spec *s)
{
    int n = 0;
    s[n++] = sp_input(16, 32, 32);
    s[n++] = sp_conv("c1", 24, 3, 3, 1, 1, 1, 1, 1);
    s[n++] = sp(NET_RELU, "r1");
    s[n++] = sp_conv("c2", 32, 3, 3, 1, 1, 1, 2, 0);
    s[n++] = sp(NET_BATCHNORM, "bn2");
    s[n++] = sp(NET_RELU, "r2");
    s[n++] = sp_conv("c3", 16, 3, 3, 2, 1, 1, 1, 1);
    s[n++] = sp_conv("c4", 16, 1, 1, 1, 0, 0, 1, 1);
    s[n++] = sp(NET_GLOBAL_AVGPOOL, "gap");
    s[n++] = sp_linear("fc", 3);
    return n;
}

/* Input gradients only (the saliency path), 1 vs 2 threads, batch 1 and 5. */
static void test_threads_saliency(int (*spec_fn)(struct net_layer_spec *), const char *tag)
{
    struct net_layer_spec s[64];
    int nl = spec_fn(s), c, h, w;
    struct net *net = NULL;
    if (net_build(&net, s, nl, 5, 0) < 0) return;
    fill_random(net, 3);
    net_layer_shape(net, 0, &c, &h, &w);
    float *x = random_input((size_t)5 * c * h * w, 4);
    for (int n = 1; n <= 5; n += 4) {
        float *g[2];
        size_t len = (size_t)n * c * h * w;
        for (int t = 0; t < 2; t++) {
#ifdef _OPENMP
            omp_set_num_threads(t + 1);
#endif
            net_forward(net, x, n, NET_EVAL, NULL);
            seed_ones(net, net_logits_layer(net), n);
            net_backward(net, n, NULL, NULL, NULL, NULL, NET_GRAD_INPUT);
            g[t] = malloc(sizeof(float) * len);
            memcpy(g[t], net_grad(net, 0).data, sizeof(float) * len);
        }
        char name[80];
        snprintf(name, sizeof name, "net_threads_bitwise_saliency_%s_batch%d", tag, n);
        CHECK(!memcmp(g[0], g[1], sizeof(float) * len), name, "input gradients differ");
        free(g[0]), free(g[1]);
    }
    free(x);
    net_free(net);
}

/* net_expand_rows: 3 distinct images forwarded, expanded to the 5 rows [0, 0, 1, 2, 2], then a
 * backward with a different seed per row gives every activation and input gradient of a
 * forward of the 5 rows, bitwise, at 1 and 2 threads (the schedules differ at batch 3 and 5). */
static void test_expand_rows(int (*spec_fn)(struct net_layer_spec *), const char *tag)
{
    struct net_layer_spec s[64];
    int nl = spec_fn(s), c, h, w;
    struct net *net = NULL;
    if (net_build(&net, s, nl, 5, 0) < 0) return;
    fill_random(net, 5);
    net_layer_shape(net, 0, &c, &h, &w);
    size_t img = (size_t)c * h * w;
    const int src[5] = {0, 0, 1, 2, 2};
    float *distinct = random_input(3 * img, 6), *rows = malloc(sizeof(float) * 5 * img);
    for (int r = 0; r < 5; r++)
        memcpy(rows + r * img, distinct + src[r] * img, sizeof(float) * img);
    for (int t = 1; t <= 2; t++) {
#ifdef _OPENMP
        omp_set_num_threads(t);
#endif
        float *snap[2];
        size_t len[2];
        for (int expand = 0; expand < 2; expand++) {
            net_zero_grad(net);
            if (expand) {
                net_forward(net, distinct, 3, NET_EVAL, NULL);
                net_expand_rows(net, src, 5);
            } else {
                net_forward(net, rows, 5, NET_EVAL, NULL);
            }
            struct tensor g = net_grad(net, net_logits_layer(net));
            for (size_t i = 0; i < tensor_numel(&g); i++)
                g.data[i] = (float)(i % 5) - 2.0f;
            net_backward(net, 5, NULL, NULL, NULL, NULL, NET_GRAD_INPUT);
            snap[expand] = snapshot(net, 5, &len[expand]);
        }
        char name[80];
        snprintf(name, sizeof name, "net_expand_rows_bitwise_%s_%dthreads", tag, t);
        CHECK(len[0] == len[1] && !memcmp(snap[0], snap[1], sizeof(float) * len[0]), name,
              "activations or gradients differ from a forward of the expanded rows");
        free(snap[0]), free(snap[1]);
    }
    free(distinct), free(rows);
    net_free(net);
}

/* Forward + backward with parameter and input gradients, eval and train, 1 vs 2 threads. */
static void test_threads(int (*spec_fn)(struct net_layer_spec *), const char *tag)
{
    struct net_layer_spec s[64];
    int nl = spec_fn(s), c, h, w;
    struct net *net = NULL;
    char name[96];
    snprintf(name, sizeof name, "net_threads_build_%s", tag);
    if (!CHECK(net_build(&net, s, nl, 8, 0) == 0, name, "%s", err_msg())) return;
    fill_random(net, 1);
    net_layer_shape(net, 0, &c, &h, &w);
    float *x = random_input((size_t)8 * c * h * w, 1);
    for (int mode = 0; mode < 2; mode++)
        for (int n = 1; n <= 8; n += 7) {
            size_t len1, len2;
#ifdef _OPENMP
            omp_set_num_threads(1);
#endif
            if (mode) fill_random(net, 1); /* train mode moves the running stats */
            run_once(net, x, n, (enum net_mode)mode);
            float *a = snapshot(net, n, &len1);
#ifdef _OPENMP
            omp_set_num_threads(2);
#endif
            if (mode) fill_random(net, 1);
            run_once(net, x, n, (enum net_mode)mode);
            float *b = snapshot(net, n, &len2);
            snprintf(name, sizeof name, "net_threads_bitwise_%s_%s_batch%d", tag,
                     mode ? "train" : "eval", n);
            CHECK(len1 == len2 && !memcmp(a, b, sizeof(float) * len1), name,
                  "1- and 2-thread forward/backward differ");
            free(a), free(b);
        }
    free(x);
    net_free(net);
}


static int count_calls;
static int custom_relu(void *user, struct net *net, int layer, int n)
{
    (void)user;
    int in[NET_MAX_INPUTS];
    net_layer_inputs(net, layer, in);
    struct tensor x = net_act(net, in[0]), dy = net_grad(net, layer), dx = net_grad(net, in[0]);
    for (size_t i = 0; i < (size_t)n * x.shape[1] * x.shape[2] * x.shape[3]; i++)
        dx.data[i] += x.data[i] > 0 ? dy.data[i] : 0.0f;
    count_calls++;
    return 0;
}

static void test_partial_and_rules(void)
{
    struct net_layer_spec s[64];
    int nl = spec_resnet(s);
    struct net *net = NULL;
    if (net_build(&net, s, nl, 2, 0) < 0) return;
    fill_random(net, 2);
    size_t nin = 2 * 3 * 12 * 12;
    float *x = random_input(nin, 2);
    net_forward(net, x, 2, NET_EVAL, NULL);
    int L = net_logits_layer(net), r3 = net_layer_index(net, "relu3");
    seed_ones(net, L, 2);
    net_backward(net, 2, NULL, NULL, NULL, NULL, NET_GRAD_INPUT);
    struct tensor g3 = net_grad(net, r3);
    size_t n3 = tensor_numel(&g3);
    float *full3 = malloc(sizeof(float) * n3), *gin = malloc(sizeof(float) * nin);
    memcpy(full3, g3.data, sizeof(float) * n3);
    memcpy(gin, net_grad(net, 0).data, sizeof(float) * nin);

    /* stop at relu3: its gradient is the same as in the full pass */
    seed_ones(net, L, 2);
    CHECK(net_backward(net, 2, NULL, NULL, "relu3", NULL, 0) == 0, "net_backward_stop_runs",
          "%s", err_msg());
    CHECK(!memcmp(net_grad(net, r3).data, full3, sizeof(float) * n3), "net_backward_stop_grad",
          "gradient at the stop layer differs from the full backward");
    /* seed at relu3 with the full pass's gradient: same input gradient */
    CHECK(net_backward(net, 2, "relu3", full3, NULL, NULL, NET_GRAD_INPUT) == 0,
          "net_backward_seed_mid_runs", "%s", err_msg());
    check_close("net_backward_seed_mid_input_grad", net_grad(net, 0).data, gin, nin, 1e-6, 1e-5);

    /* custom rule equal to the plain ReLU gives the same input gradient */
    struct net_rules rules = {0};
    rules.rule[NET_RELU] = NET_RULE_CUSTOM;
    rules.custom = custom_relu;
    seed_ones(net, L, 2);
    count_calls = 0;
    net_backward(net, 2, NULL, NULL, NULL, &rules, NET_GRAD_INPUT);
    CHECK(count_calls == 5 && !memcmp(net_grad(net, 0).data, gin, sizeof(float) * nin),
          "net_rule_custom_hook", "%d calls, gradient %s", count_calls,
          memcmp(net_grad(net, 0).data, gin, sizeof(float) * nin) ? "differs" : "same");

    /* guided / deconvnet: other gradients than plain; guided is zero where the input is < 0 at
     * every ReLU, so at relu1's input (bn1) gradients where bn1 < 0 vanish */
    memset(&rules, 0, sizeof rules);
    rules.rule[NET_RELU] = NET_RULE_GUIDED;
    seed_ones(net, L, 2);
    net_backward(net, 2, NULL, NULL, NULL, &rules, NET_GRAD_INPUT);
    int bn1 = net_layer_index(net, "bn1");
    struct tensor a = net_act(net, bn1), g = net_grad(net, bn1);
    int ok = 1, pos = 0;
    for (size_t i = 0; i < tensor_numel(&a); i++) {
        if (a.data[i] < 0 && g.data[i] != 0) ok = 0;
        if (g.data[i] > 0) pos++;
    }
    CHECK(ok && pos > 0, "net_rule_guided_masks", "nonzero guided gradient under a negative "
                                                   "ReLU input (or all zero)");
    rules.rule[NET_RELU] = NET_RULE_DECONVNET;
    seed_ones(net, L, 2);
    CHECK(net_backward(net, 2, NULL, NULL, NULL, &rules, NET_GRAD_INPUT) == 0 &&
              memcmp(net_grad(net, 0).data, gin, sizeof(float) * nin),
          "net_rule_deconvnet_differs", "deconvnet gave the plain gradient");
    rules.rule[NET_CONV2D] = NET_RULE_GUIDED;
    CHECK(net_backward(net, 2, NULL, NULL, NULL, &rules, 0) < 0 &&
              strstr(err_msg(), "not available for conv2d"),
          "net_rule_unsupported", "%s", err_msg());

    /* forward range: change relu3's output, rerun from conv4; same as a manual full run */
    int c4 = net_layer_index(net, "conv4");
    struct tensor r = net_act(net, r3);
    for (size_t i = 0; i < tensor_numel(&r); i++)
        r.data[i] *= 0.5f;
    net_forward_range(net, c4, net_layer_count(net) - 1, 2, NET_EVAL, NULL);
    struct tensor lg = net_act(net, L);
    float logits[10];
    memcpy(logits, lg.data, sizeof logits);
    net_forward(net, x, 2, NET_EVAL, NULL);
    for (size_t i = 0; i < tensor_numel(&r); i++)
        r.data[i] *= 0.5f;
    net_forward_range(net, c4, net_layer_count(net) - 1, 2, NET_EVAL, NULL);
    CHECK(!memcmp(net_act(net, L).data, logits, sizeof logits), "net_forward_range_edit",
          "forward from an edited activation is not reproducible");

    /* flops and names */
    int c1 = net_layer_index(net, "conv1");
    CHECK(net_layer_flops(net, c1) == 2.0 * 8 * 12 * 12 * 3 * 9, "net_flops_conv", "%g",
          net_layer_flops(net, c1));
    CHECK(net_param_find(net, "bn2a.running_var") && !net_param_find(net, "bn2a.nope") &&
              strstr(err_msg(), "bn2a.nope"),
          "net_param_find_names", "%s", err_msg());
    CHECK(net_layer_index(net, "nope") < 0, "net_layer_index_unknown", "found");
    free(x), free(full3), free(gin);
    net_free(net);
}

/* NET_NO_PARAM_GRAD: same input gradient as a full net, smaller arena, no parameter grads. */
static void test_no_param_grad(void)
{
    struct net_layer_spec s[64];
    int nl = spec_wide(s), c, h, w;
    struct net *a = NULL, *b = NULL;
    if (net_build(&a, s, nl, 3, 0) < 0 || net_build(&b, s, nl, 3, NET_NO_PARAM_GRAD) < 0) {
        CHECK(0, "net_no_param_grad_build", "%s", err_msg());
        net_free(a);
        return;
    }
    fill_random(a, 5);
    fill_random(b, 5);
    net_layer_shape(a, 0, &c, &h, &w);
    size_t len = (size_t)3 * c * h * w, pa, pb;
    float *x = random_input(len, 6);
    struct net *nets[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        net_forward(nets[k], x, 3, NET_EVAL, NULL);
        seed_ones(nets[k], net_logits_layer(nets[k]), 3);
        net_backward(nets[k], 3, NULL, NULL, NULL, NULL, NET_GRAD_INPUT);
    }
    net_arena_bytes(a, &pa, NULL);
    net_arena_bytes(b, &pb, NULL);
    CHECK(!memcmp(net_grad(a, 0).data, net_grad(b, 0).data, sizeof(float) * len) && pb < pa &&
              !net_param_find(b, "c1.weight")->grad.data,
          "net_no_param_grad_input_grad", "input gradients differ or buffers not saved");
    CHECK(net_backward(b, 3, NULL, NULL, NULL, NULL, NET_GRAD_PARAMS) < 0 &&
              strstr(err_msg(), "without parameter gradients"),
          "net_no_param_grad_refuses", "%s", err_msg());
    /* frozen weights: the same results; unfreezing picks up changed weights */
    net_freeze_weights(b, 1);
    int ok = 1;
    for (int rep = 0; rep < 2; rep++) {
        net_forward(b, x, 3, NET_EVAL, NULL);
        seed_ones(b, net_logits_layer(b), 3);
        net_backward(b, 3, NULL, NULL, NULL, NULL, NET_GRAD_INPUT);
        ok &= !memcmp(net_grad(a, 0).data, net_grad(b, 0).data, sizeof(float) * len);
    }
    net_freeze_weights(b, 0);
    net_param_find(b, "c1.weight")->value.data[0] += 1.0f;
    net_forward(b, x, 3, NET_EVAL, NULL);
    float *ya = net_act(a, net_logits_layer(a)).data, *yb = net_act(b, net_logits_layer(b)).data;
    CHECK(ok && memcmp(ya, yb, sizeof(float) * 9), "net_freeze_weights",
          "frozen results differ, or a weight change after unfreezing was not seen");
    free(x);
    net_free(a);
    net_free(b);
}

static void test_dropout_train(void)
{
    struct net_layer_spec s[4];
    s[0] = sp_input(4, 2, 2);
    s[1] = sp(NET_DROPOUT, "drop"), s[1].p = 0.5f;
    struct net *net = NULL;
    if (net_build(&net, s, 2, 3, 0) < 0) return;
    float *x = random_input(3 * 16, 3);
    uint64_t k1[3] = {100, 200, 300}, k2[2] = {300, 100};
    struct net_train_ctx c1 = {9, 4, k1}, c2 = {9, 4, k2};
    net_forward(net, x, 3, NET_TRAIN, &c1);
    float y[48];
    memcpy(y, net_act(net, 1).data, sizeof y);
    float x2[32];
    memcpy(x2, x + 32, 16 * sizeof(float)), memcpy(x2 + 16, x, 16 * sizeof(float));
    net_forward(net, x2, 2, NET_TRAIN, &c2);
    CHECK(!memcmp(net_act(net, 1).data, y + 32, 16 * sizeof(float)) &&
              !memcmp(net_act(net, 1).data + 16, y, 16 * sizeof(float)),
          "net_dropout_keys_batch_independent", "masks depend on the batch");
    /* backward uses the same mask: gradient is zero exactly where the output is zero */
    seed_ones(net, 1, 2);
    net_backward(net, 2, "drop", NULL, NULL, NULL, NET_GRAD_INPUT);
    int ok = 1;
    for (int i = 0; i < 32; i++)
        if ((net_act(net, 1).data[i] == 0) != (net_grad(net, 0).data[i] == 0)) ok = 0;
    CHECK(ok, "net_dropout_backward_mask", "backward mask differs from forward");
    net_forward(net, x, 3, NET_EVAL, NULL);
    CHECK(!memcmp(net_act(net, 1).data, x, sizeof(float) * 48), "net_dropout_eval_identity",
          "eval dropout changed values");
    free(x);
    net_free(net);
}

int main(void)
{
    fixture("resnet", spec_resnet);
    fixture("concat", spec_concat);
    test_validation();
    test_arena_limit();
    test_threads(spec_resnet, "resnet");
    test_threads(spec_wide, "wide");
    test_threads_saliency(spec_resnet, "resnet");
    test_threads_saliency(spec_wide, "wide");
    test_expand_rows(spec_resnet, "resnet");
    test_expand_rows(spec_wide, "wide");
    test_partial_and_rules();
    test_dropout_train();
    test_no_param_grad();
    return check_summary();
}

/* Test helpers for the saliency tests (header-only, so no extra object is linked into every
 * test binary): the fixture net of tests/ref/make_saliency_fixtures.py built from layer specs
 * with the fixture's weights, fixture array reads, and one call of a method with "k=v;k=v"
 * parameter overrides. */
#ifndef SALBENCH_TESTS_SALIENCY_TESTNET_H
#define SALBENCH_TESTS_SALIENCY_TESTNET_H

#include <stdlib.h>
#include <string.h>

#include "formats/h5table.h"
#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/saliency.h"

#define STN_FIXTURE "tests/ref/saliency_fixture.h5"

static void stn_conv(struct net_layer_spec *s, int out, int k, int pad, int bias)
{
    s->out_channels = out;
    s->kernel[0] = s->kernel[1] = k;
    s->padding[0] = s->padding[1] = pad;
    s->bias = bias;
}

/* The fixture model's layers (see LAYERS in the generator). Returns the count. */
static int stn_specs(struct net_layer_spec *s)
{
    int n = 0;
#define STN_L(kind, name) net_layer_spec_init(&s[n++], kind, name)
    STN_L(NET_INPUT, "input");
    s[0].channels = 3, s[0].height = 16, s[0].width = 16;
    STN_L(NET_CONV2D, "conv1");
    stn_conv(&s[n - 1], 6, 3, 1, 1);
    STN_L(NET_BATCHNORM, "bn1");
    STN_L(NET_RELU, "relu1");
    STN_L(NET_MAXPOOL, "pool1");
    s[n - 1].kernel[0] = s[n - 1].kernel[1] = 2, s[n - 1].ceil_mode = 1;
    STN_L(NET_CONV2D, "conv2");
    stn_conv(&s[n - 1], 8, 3, 1, 0);
    STN_L(NET_BATCHNORM, "bn2");
    STN_L(NET_RELU, "relu2");
    STN_L(NET_CONV2D, "conv3");
    stn_conv(&s[n - 1], 8, 3, 1, 1);
    STN_L(NET_ADD, "res");
    s[n - 1].n_inputs = 2;
    strcpy(s[n - 1].inputs[0], "relu2");
    strcpy(s[n - 1].inputs[1], "conv3");
    STN_L(NET_RELU, "relu3");
    STN_L(NET_AVGPOOL, "pool2");
    s[n - 1].kernel[0] = s[n - 1].kernel[1] = 2;
    STN_L(NET_CONV2D, "conv4");
    stn_conv(&s[n - 1], 8, 3, 1, 1);
    STN_L(NET_RELU, "relu4");
    STN_L(NET_GLOBAL_AVGPOOL, "gap");
    STN_L(NET_FLATTEN, "flat");
    STN_L(NET_LINEAR, "fc");
    s[n - 1].out_channels = 5;
    STN_L(NET_SIGMOID, "probs");
#undef STN_L
    return n;
}

/* Reads a float32 array of exactly n elements (n == 0: any size; *out malloc'd). */
static int stn_read_f32(struct h5table_file *f, const char *name, float **out, size_t n)
{
    uint64_t dims[H5TABLE_MAX_RANK];
    int rank;
    if (h5table_array_info(f, name, NULL, &rank, dims) < 0) return -1;
    if (h5table_read_array(f, name, H5TABLE_F32, rank, dims, (void **)out) < 0) return -1;
    size_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= dims[i];
    if (n && total != n) return err_set("fixture '%s' has %zu elements, not %zu", name, total, n);
    return 0;
}

/* The fixture net with its weights, for up to max_batch examples. */
static struct net *stn_build(struct h5table_file *f, int max_batch)
{
    struct net_layer_spec s[32];
    int n = stn_specs(s);
    struct net *net;
    if (net_build(&net, s, n, max_batch, 0) < 0) return NULL;
    for (int i = 0; i < net_param_count(net); i++) {
        struct net_param *p = net_param_at(net, i);
        char name[128];
        float *v = NULL;
        snprintf(name, sizeof name, "weights/%s", p->name);
        if (stn_read_f32(f, name, &v, tensor_numel(&p->value)) < 0) {
            net_free(net);
            return NULL;
        }
        memcpy(p->value.data, v, sizeof(float) * tensor_numel(&p->value));
        free(v);
    }
    return net;
}

/* Applies "k=v;k=v" overrides. */
static int stn_apply(struct saliency_params *p, const char *spec)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return err_set("bad override '%s'", tok);
        *eq = '\0';
        if (saliency_param_set(p, tok, eq + 1) < 0) return -1;
    }
    return 0;
}

/* One method on a net: params from defaults + overrides, resolved; maps [in->t, HW]. */
static int stn_run(struct net *net, enum saliency_method m, const char *overrides,
                   const struct saliency_input *in, float *maps, int nthreads,
                   struct saliency_cost *cost)
{
    struct saliency_params p;
    saliency_params_init(&p, m);
    if (stn_apply(&p, overrides) < 0 || saliency_params_resolve(&p, net) < 0) return -1;
    size_t nw;
    if (saliency_workspace_floats(net, &p, nthreads, &nw) < 0) return -1;
    float *work = aligned_alloc(64, ((nw * sizeof(float) + 63) / 64) * 64);
    if (!work) return err_set("out of memory");
    int rc = saliency_compute(maps, net, &p, in, work, nthreads, cost);
    free(work);
    return rc;
}

#endif

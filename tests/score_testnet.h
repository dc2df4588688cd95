/* Test helper for the score tests (header-only, so nothing is linked into every test binary): a
 * tiny seeded CNN (conv, ReLU, max pool, conv, ReLU, global pool, linear, optional head) built
 * from layer specs, and seeded random inputs and maps. */
#ifndef SALBENCH_TESTS_SCORE_TESTNET_H
#define SALBENCH_TESTS_SCORE_TESTNET_H

#include <string.h>

#include "pipeline/init.h"
#include "pipeline/net.h"
#include "pipeline/rng.h"

#define STN_C 3
#define STN_H 8
#define STN_W 8
#define STN_K 3

/* Specs of the test net; head: NET_SOFTMAX, NET_SIGMOID or -1 (logits only). */
static inline int score_testnet_specs(struct net_layer_spec *s, int head)
{
    int n = 0;
    net_layer_spec_init(&s[n++], NET_INPUT, "input");
    s[0].channels = STN_C, s[0].height = STN_H, s[0].width = STN_W;
    net_layer_spec_init(&s[n++], NET_CONV2D, "conv1");
    s[n - 1].out_channels = 4, s[n - 1].kernel[0] = s[n - 1].kernel[1] = 3;
    s[n - 1].padding[0] = s[n - 1].padding[1] = 1;
    net_layer_spec_init(&s[n++], NET_RELU, "relu1");
    net_layer_spec_init(&s[n++], NET_MAXPOOL, "pool1");
    s[n - 1].kernel[0] = s[n - 1].kernel[1] = 2;
    net_layer_spec_init(&s[n++], NET_CONV2D, "conv2");
    s[n - 1].out_channels = 5, s[n - 1].kernel[0] = s[n - 1].kernel[1] = 3;
    s[n - 1].padding[0] = s[n - 1].padding[1] = 1;
    net_layer_spec_init(&s[n++], NET_RELU, "relu2");
    net_layer_spec_init(&s[n++], NET_GLOBAL_AVGPOOL, "gap");
    net_layer_spec_init(&s[n++], NET_FLATTEN, "flat");
    net_layer_spec_init(&s[n++], NET_LINEAR, "fc");
    s[n - 1].out_channels = STN_K;
    if (head >= 0) net_layer_spec_init(&s[n++], (enum net_kind)head, "head");
    return n;
}

/* The net with seeded PyTorch-default weights; NULL on failure. */
static inline struct net *score_testnet(int head, int max_batch, unsigned flags, uint64_t seed)
{
    struct net_layer_spec s[16];
    int n = score_testnet_specs(s, head);
    struct net *net = NULL;
    if (net_build(&net, s, n, max_batch, flags)) return NULL;
    init_net(net, seed, INIT_PYTORCH);
    return net;
}

/* x[n] ~ N(0, 1) from stream (seed, key, RNG_NOISE). */
static inline void score_testnet_fill(float *x, size_t n, uint64_t seed, uint64_t key)
{
    struct rng r;
    rng_init(&r, seed, key, RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_normal(&r);
}

#endif

/* Private to net.c and net_exec.c: the layout of a built net. Nothing outside the executor may
 * include this; use the accessors of net.h. */
#ifndef SALBENCH_NET_INTERNAL_H
#define SALBENCH_NET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/conv.h"
#include "pipeline/net.h"
#include "pipeline/pool.h"

struct net_layer {
    struct net_layer_spec spec; /* with defaults resolved (pool stride) */
    int in[NET_MAX_INPUTS];
    int n_in;
    int c, h, w;        /* output shape of one example */
    size_t size;        /* c * h * w */
    float *act, *grad;  /* [max_batch * size] each; grad NULL with NET_NO_GRAD */
    int p_weight, p_bias, p_mean, p_var; /* parameter indices, -1 when absent */
    struct conv2d_dims conv;             /* at max_batch; N is set per call */
    struct pool2d_dims pool;
    float *save_mean, *save_invstd;      /* batch norm: statistics of the last train forward */
    float *gparts;                       /* conv: CONV_DW_CHUNKS weight-gradient partials */
    float *wflip;                        /* stride-1 conv: flipped weight for the input grad */
    float *wpack;                        /* conv: weight packed for the GEMM, per forward */
    int wpack_ok, wflip_ok;              /* kept across calls while weights are frozen */
    double flops;
};

struct net {
    int n_layers;
    struct net_layer *layers;
    int n_params;
    struct net_param *params;
    float *param_arena, *act_arena;
    size_t param_floats, act_floats;
    float *scratch;
    size_t scratch_floats; /* layer-parallel kernels use it whole */
    size_t thread_scratch; /* image-parallel: thread t uses scratch + t * thread_scratch */
    uint64_t *keys;       /* [max_batch] dropout keys of the last train forward */
    int has_keys;
    uint64_t seed;
    uint32_t step;
    int max_batch, nthreads, batch, last_train;
    int frozen; /* net_freeze_weights */
    unsigned flags;
};

/* Threads to use now: omp_get_max_threads() capped by what scratch was sized for. */
int net_threads(const struct net *net);

#endif

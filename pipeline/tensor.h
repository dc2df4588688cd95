/* A tensor is a borrowed view: a float32 pointer plus a shape. It never owns memory; whoever
 * made the buffer (a net arena, a stage, a test) frees it. Layout is NCHW, row-major, the last
 * dimension contiguous, everywhere in salbench:
 *   activations  [N, C, H, W]   N batch, C channels, H rows, W columns (vectors: H = W = 1)
 *   conv weight  [O, C/groups, KH, KW]   O out-channels, K kernel
 *   linear       [O, C] weight, [O] bias;  batch norm: [C] per-channel vectors */
#ifndef SALBENCH_TENSOR_H
#define SALBENCH_TENSOR_H

#include <stddef.h>

#define TENSOR_MAX_DIMS 4

struct tensor {
    float *data; /* borrowed; NULL for an absent tensor (e.g. a conv without bias) */
    int ndim;    /* 0..TENSOR_MAX_DIMS; unused trailing entries of shape are 1 */
    int shape[TENSOR_MAX_DIMS];
};

/* Number of elements (1 for ndim 0). */
static inline size_t tensor_numel(const struct tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

static inline struct tensor tensor_4d(float *data, int n, int c, int h, int w)
{
    struct tensor t = {data, 4, {n, c, h, w}};
    return t;
}

static inline struct tensor tensor_1d(float *data, int n)
{
    struct tensor t = {data, 1, {n, 1, 1, 1}};
    return t;
}

/* 1 when both have the same ndim and shape. */
static inline int tensor_same_shape(const struct tensor *a, const struct tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

#endif

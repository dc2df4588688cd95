/* Element-wise and shape-only layers: ReLU (with the guided / deconvnet backward rules of
 * TorchRay), sigmoid, softmax over channels, dropout (Philox masks keyed per example), residual
 * add and channel concat. Forward writes its output; backward ADDS (+=) into input gradients
 * (relu_backward with accumulate 0 writes 0 + its term instead: bitwise what += gives on a
 * zeroed buffer, without the zeroing pass or the read).
 * Element-wise loops are split over threads in fixed ranges; every element is computed
 * independently, so results do not depend on the thread count. */
#ifndef SALBENCH_ACTIVATION_H
#define SALBENCH_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>

/* ReLU backward rules (values match enum net_rule in net.h). */
enum relu_rule {
    RELU_PLAIN = 0,     /* dinp += dout * [x > 0] (PyTorch: the gradient at 0 is 0) */
    RELU_GUIDED = 1,    /* dinp += max(dout, 0) * [x >= 0] (TorchRay guided backprop) */
    RELU_DECONVNET = 2, /* dinp += max(dout, 0) (TorchRay deconvnet) */
};

/* out[i] = max(inp[i], 0); n elements. */
void relu_forward(float *out, const float *inp, size_t n, int nthreads);
void relu_backward(float *dinp, const float *dout, const float *inp, size_t n,
                   enum relu_rule rule, int accumulate, int nthreads);

/* out = 1 / (1 + exp(-inp)); backward from the output: dinp += dout * out * (1 - out). */
void sigmoid_forward(float *out, const float *inp, size_t n, int nthreads);
void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads);

/* Softmax over C at every (n, h, w) of [N, C, HW] (max-subtracted, sums in double);
 * backward dinp += out * (dout - sum_c dout * out). */
void softmax_forward(float *out, const float *inp, int N, int C, int HW, int nthreads);
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int C, int HW,
                      int nthreads);

/* Dropout on [N, D]. train 0: out = inp. train 1: element i of example b is kept iff the i-th
 * 32-bit draw of the stream (layer_seed, keys[b] (b when keys is NULL), RNG_DROPOUT) is
 * >= p * 2^32, and scaled by 1/(1-p); layer_seed = dropout_layer_seed(seed, layer, step).
 * The backward regenerates the same mask: dinp += dout * mask / (1-p). */
uint64_t dropout_layer_seed(uint64_t seed, int layer, uint32_t step);
void dropout_forward(float *out, const float *inp, int N, size_t D, float p, int train,
                     uint64_t layer_seed, const uint64_t *keys, int nthreads);
void dropout_backward(float *dinp, const float *dout, int N, size_t D, float p, int train,
                      uint64_t layer_seed, const uint64_t *keys, int nthreads);

/* out = a + b; backward: da += dout, db += dout (either may be NULL). */
void add_forward(float *out, const float *a, const float *b, size_t n, int nthreads);
void add_backward(float *da, float *db, const float *dout, size_t n, int nthreads);

/* Concatenates k inputs [N, C_i, HW] along channels into out [N, sum C_i, HW]; backward
 * dinp[i] += the matching channel slice of dout (NULL entries skipped). */
void concat_forward(float *out, const float *const *inp, const int *channels, int k, int N,
                    size_t HW);
void concat_backward(float *const *dinp, const float *dout, const int *channels, int k, int N,
                     size_t HW);

#endif

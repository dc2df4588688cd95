/* 2-D convolution (cross-correlation, as PyTorch's Conv2d) on NCHW float32: stride, zero
 * padding, groups (depthwise included), optional bias, dilation 1. Forward is a GEMM per image
 * and group with im2col columns packed straight into the GEMM panels; depthwise convs
 * (one input channel per group) use a direct kernel. Naive direct twins serve the tests.
 *
 * Threads: kernels run an OpenMP region of nthreads; results are bitwise identical for any
 * nthreads (over images when there are enough, else inside the GEMM; the weight gradient sums
 * fixed batch chunks in a fixed order). Scratch comes from the caller, sized by
 * conv2d_scratch_floats for the same dims and nthreads. */
#ifndef SALBENCH_CONV_H
#define SALBENCH_CONV_H

#include <stddef.h>

/* Weight-gradient batch chunks summed in order (independent of the thread count). */
#define CONV_DW_CHUNKS 4

struct conv2d_dims {
    int N, C, H, W;        /* input [N, C, H, W] */
    int O, KH, KW;         /* weight [O, C/groups, KH, KW] */
    int SH, SW, PH, PW;    /* stride, padding */
    int groups;
    int OH, OW;            /* output [N, O, OH, OW], set by conv2d_dims_init */
};

/* Fills d and computes OH, OW. Returns -1 (err_set) on inconsistent values: non-positive sizes,
 * C or O not divisible by groups, padding >= kernel, kernel larger than the padded input. */
int conv2d_dims_init(struct conv2d_dims *d, int N, int C, int H, int W, int O, int KH, int KW,
                     int SH, int SW, int PH, int PW, int groups);

/* Floats of scratch for forward and backward with these dims and up to nthreads. */
size_t conv2d_scratch_floats(const struct conv2d_dims *d, int nthreads);

/* out [N,O,OH,OW] = conv(inp [N,C,H,W], weight [O,C/g,KH,KW]) + bias [O] (bias may be NULL).
 * scratch: conv2d_scratch_floats floats, 64-byte aligned. */
void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                    const struct conv2d_dims *d, float *scratch, int nthreads);

/* The same with the weight packed once (conv2d_pack_weight into conv2d_wpack_floats floats)
 * for many calls: bitwise equal to conv2d_forward. weight is still read by depthwise convs. */
size_t conv2d_wpack_floats(const struct conv2d_dims *d);
void conv2d_pack_weight(float *wpack, const float *weight, const struct conv2d_dims *d);
void conv2d_forward_packed(float *out, const float *inp, const float *wpack,
                           const float *weight, const float *bias, const struct conv2d_dims *d,
                           float *scratch, int nthreads);

/* Given dout [N,O,OH,OW]: dinp [N,C,H,W] += d/dinp, dweight += d/dweight, dbias [O] += d/dbias.
 * Any of dinp, dweight, dbias may be NULL (not computed); inp is read only for dweight, and
 * weight only for dinp (a rule may pass a modified weight, e.g. max(W, 0) for excitation). */
void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, const struct conv2d_dims *d,
                     float *scratch, int nthreads);

/* Per-image pieces, for callers that schedule images themselves (the net's image-parallel
 * path). conv2d_backward is exactly: images cut into G = min(N, CONV_DW_CHUNKS) contiguous
 * chunks [N*g/G, N*(g+1)/G); per chunk, conv2d_backward_image on each image in order into the
 * chunk's partial (the first image with first = 1); then conv2d_reduce_parts. Following the
 * same steps elsewhere gives bitwise the same gradients.
 * conv2d_backward_image: pointers are the image's own (d->N is ignored); wpart [O,C/g,KH,KW]
 * and bpart [O] receive (first) or accumulate the image's weight and bias gradients (the GEMM
 * adds into wpart block by block; either may be NULL); dinp += the input gradient (may be NULL). scratch: conv2d_image_scratch_floats(d,
 * nthreads) floats; nthreads > 1 splits the image's GEMMs. */
size_t conv2d_image_scratch_floats(const struct conv2d_dims *d, int nthreads);
void conv2d_backward_image(float *dinp, float *wpart, float *bpart, int first, const float *dout,
                           const float *inp, const float *weight, const float *wflip,
                           const struct conv2d_dims *d, float *scratch, int nthreads);
/* Stride-1 convs with >= 16 input channels per group (and >= 128 channels or >= 1024 pixels,
 * where it measured faster) take the input gradient as a forward
 * conv of dout with the flipped kernel; conv2d_backward_image then needs wflip (else NULL:
 * GEMM + col2im): conv2d_wflip_floats floats filled by conv2d_flip_weight (the flipped
 * [groups][C/g][O/g*KH*KW] weight, packed for the GEMM). conv2d_backward does it itself. */
int conv2d_uses_wflip(const struct conv2d_dims *d);
size_t conv2d_wflip_floats(const struct conv2d_dims *d);
void conv2d_flip_weight(float *wflip, const float *weight, const struct conv2d_dims *d);
/* Floats of one chunk partial (weight then bias, padded); parts holds G of them in a row.
 * dweight[i] += parts[0][i] + ... in chunk order (likewise dbias). */
size_t conv2d_part_floats(const struct conv2d_dims *d);
void conv2d_reduce_parts(float *dweight, float *dbias, const float *parts, int G,
                         const struct conv2d_dims *d, int nthreads);

/* Direct 7-loop twins, accumulating in double; for tests. */
void conv2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                          const struct conv2d_dims *d);
void conv2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const struct conv2d_dims *d);

#endif

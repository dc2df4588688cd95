/* Pooling on NCHW activations, as PyTorch: max pool (kernel, stride, padding, ceil mode;
 * backward routes to the first maximum in row-major window order, recomputed from the input),
 * average pool (count_include_pad, ceil-mode windows clipped to the padded input), and global
 * average pool (AdaptiveAvgPool2d(1)). Threads own (n, c) planes. */
#ifndef SALBENCH_POOL_H
#define SALBENCH_POOL_H

struct pool2d_dims {
    int N, C, H, W;
    int KH, KW, SH, SW, PH, PW;
    int ceil_mode, count_include_pad;
    int OH, OW; /* set by pool2d_dims_init */
};

/* Output size per PyTorch's pooling_output_shape: floor or ceil of (H + 2P - K) / S + 1, and in
 * ceil mode a last window must start inside the input or left padding. Returns -1 (err_set)
 * for a non-positive size, stride or kernel, padding > kernel/2, or an empty output. */
int pool2d_dims_init(struct pool2d_dims *d, int N, int C, int H, int W, int KH, int KW, int SH,
                     int SW, int PH, int PW, int ceil_mode, int count_include_pad);

/* out [N,C,OH,OW] = max over each window of inp [N,C,H,W] (padding never wins). */
void maxpool2d_forward(float *out, const float *inp, const struct pool2d_dims *d, int nthreads);
/* dinp += dout routed to each window's first maximum; with accumulate 0, dinp = that sum on a
 * zeroed buffer (the caller need not zero it; 2x2 stride-2 windows write it in one pass). */
void maxpool2d_backward(float *dinp, const float *dout, const float *inp,
                        const struct pool2d_dims *d, int accumulate, int nthreads);

void avgpool2d_forward(float *out, const float *inp, const struct pool2d_dims *d, int nthreads);
/* dinp += dout / divisor spread over each window. */
void avgpool2d_backward(float *dinp, const float *dout, const struct pool2d_dims *d,
                        int nthreads);

/* out [N,C] = mean over HW of inp [N,C,HW]; backward dinp += dout / HW. */
void global_avgpool_forward(float *out, const float *inp, int N, int C, int HW, int nthreads);
void global_avgpool_backward(float *dinp, const float *dout, int N, int C, int HW, int nthreads);

#endif

/* Batch normalisation over channels of NCHW activations (PyTorch BatchNorm2d, affine): eval
 * mode with running statistics, train mode with batch statistics (biased variance to normalise,
 * unbiased to update the running variance, as PyTorch), and both backward passes. Per-channel
 * sums are taken in double over (n, h, w) in a fixed order; threads own channels. */
#ifndef SALBENCH_BATCHNORM_H
#define SALBENCH_BATCHNORM_H

/* out [N,C,HW] = (inp - mean) / sqrt(var + eps) * gamma + beta. */
void batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *mean, const float *var, float eps, int N, int C, int HW,
                            int nthreads);

/* Train mode: normalises with the batch mean and biased variance, stores the batch mean and
 * 1/sqrt(var + eps) in save_mean, save_invstd [C] (for the backward), and updates
 * running = (1 - momentum) * running + momentum * batch (variance unbiased: * M/(M-1),
 * M = N*HW). Returns -1 (err_set) when a statistic is not finite. */
int batchnorm_forward_train(float *out, float *save_mean, float *save_invstd,
                            float *running_mean, float *running_var, const float *inp,
                            const float *gamma, const float *beta, float eps, float momentum,
                            int N, int C, int HW, int nthreads);

/* Eval-mode backward (the statistics are constants): dinp += dout * gamma * invstd;
 * dgamma += sum dout * xhat; dbeta += sum dout. Any gradient pointer may be NULL. With
 * accumulate 0, dinp = 0 + its term (bitwise += on a zeroed buffer, without zeroing it). */
void batchnorm_backward_eval(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *gamma, const float *mean,
                             const float *var, float eps, int N, int C, int HW, int accumulate,
                             int nthreads);

/* Train-mode backward through the batch statistics (Ioffe & Szegedy 2015, eq. after alg. 1):
 * dinp += gamma * invstd / M * (M * dout - sum dout - xhat * sum(dout * xhat)); accumulate as
 * in the eval backward. */
void batchnorm_backward_train(float *dinp, float *dgamma, float *dbeta, const float *dout,
                              const float *inp, const float *gamma, const float *save_mean,
                              const float *save_invstd, int N, int C, int HW, int accumulate,
                              int nthreads);

#endif

/* Fully connected layer (PyTorch nn.Linear): out [N, O] = inp [N, C] * weight[O, C]^T + bias,
 * through the blocked GEMM, and its backward. Work: gemm_work_floats() * nthreads floats. */
#ifndef SALBENCH_LINEAR_H
#define SALBENCH_LINEAR_H

/* bias may be NULL. */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int O, float *work, int nthreads);

/* dinp [N,C] += dout * weight; dweight [O,C] += dout^T * inp; dbias [O] += sum_n dout. Any of
 * the gradient pointers may be NULL. weight is read only for dinp, inp only for dweight. */
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int O, float *work,
                     int nthreads);

#endif

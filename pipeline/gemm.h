/* Single-precision matrix multiply for the CNN engine: a cache-blocked GEMM (Goto/BLIS loop
 * order, packed panels, an 8x32 micro-kernel in AVX-512 FMA, in AVX2 FMA as four 4x16
 * quarters, or in portable C) and its naive twin for tests. Row-major throughout. The packing
 * of B is pluggable so a convolution can feed im2col columns straight into the packed panels
 * without a column buffer.
 *
 * Determinism: every element of C is computed by the same sequence of operations whatever the
 * split of C among threads (K is never split; edge tiles run the full micro-kernel on
 * zero-padded panels), so gemm_sgemm_mt is bitwise equal to gemm_sgemm for any thread count. */
#ifndef SALBENCH_GEMM_H
#define SALBENCH_GEMM_H

#include <stddef.h>

/* Micro-tile and cache blocks (floats). */
#define GEMM_MR 8
#define GEMM_NR 32
#define GEMM_MC 128
#define GEMM_KC 256
#define GEMM_NC 512

/* Workspace one single-threaded call needs, in floats (packed A block + packed B panel). */
size_t gemm_work_floats(void);

/* Fills dst with the packed panel op(B)[k0:k0+kc, j0:j0+nc]: for each NR-wide column block
 * (zero-padded past nc), kc rows of GEMM_NR floats. ctx describes the source. */
typedef void (*gemm_pack_b_fn)(const void *ctx, int k0, int kc, int j0, int nc, float *dst);

/* A B matrix source for gemm_sgemm_packb: plain row-major (trans = 0: B is [K, N] with row
 * stride ld; trans = 1: B is stored [N, K] and used transposed). */
struct gemm_bsrc {
    const float *b;
    int ld, trans;
};
void gemm_pack_b_matrix(const void *ctx, int k0, int kc, int j0, int nc, float *dst);

/* C[M,N] = op(A)[M,K] * op(B)[K,N] + beta * C, beta 0 or 1 (beta 0 never reads C).
 * transa 0: A is [M, K], row stride lda; 1: A is stored [K, M] and used transposed. Same for B.
 * work: gemm_work_floats() floats, 64-byte aligned. Single-threaded. */
void gemm_sgemm(int transa, int transb, int M, int N, int K, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, float *work);

/* Same with B supplied by a packing callback (e.g. implicit im2col). */
void gemm_sgemm_packb(int transa, int M, int N, int K, const float *A, int lda,
                      gemm_pack_b_fn pack_b, const void *bctx, float beta, float *C, int ldc,
                      float *work);

/* Multi-threaded: C is cut into nthreads column stripes (rows when N is small) computed in an
 * OpenMP parallel region; work holds nthreads * gemm_work_floats() floats. Bitwise equal to
 * gemm_sgemm. Call from outside any parallel region. */
void gemm_sgemm_mt(int transa, int transb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc, float *work,
                   int nthreads);
void gemm_sgemm_packb_mt(int transa, int M, int N, int K, const float *A, int lda,
                         gemm_pack_b_fn pack_b, const void *bctx, float beta, float *C, int ldc,
                         float *work, int nthreads);

/* A packed once for many products with the same left operand (conv weights over a batch):
 * gemm_pack_a_all fills gemm_packed_a_floats(M, K) floats with op(A) in the panel order the
 * driver reads; gemm_sgemm_prepacked then skips packing A (nthreads as gemm_sgemm_packb_mt,
 * which it equals bitwise). */
size_t gemm_packed_a_floats(int M, int K);
void gemm_pack_a_all(int transa, int M, int K, const float *A, int lda, float *dst);
void gemm_sgemm_prepacked(int M, int N, int K, const float *Ap, gemm_pack_b_fn pack_b,
                          const void *bctx, float beta, float *C, int ldc, float *work,
                          int nthreads);

/* Naive twin: the textbook triple loop, accumulating in double. For tests only. */
void gemm_sgemm_naive(int transa, int transb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc);

#endif

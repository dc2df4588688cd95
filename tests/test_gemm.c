/* Blocked SGEMM against its naive double-precision twin on awkward shapes (edges of every
 * block size, all transpose combinations, beta 0 and 1), and the multi-threaded split against
 * the single-threaded call: bitwise equal. Tolerance: |a-b| <= 1e-5 * (1 + |b|) * sqrt(K)/4
 * covers float accumulation of K products of O(1) terms against a double reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/gemm.h"
#include "pipeline/rng.h"
#include "tests/check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static float *randv(size_t n, uint64_t key)
{
    float *v = malloc(sizeof(float) * (n ? n : 1));
    struct rng r;
    rng_init(&r, 3, key, RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        v[i] = rng_uniform(&r) * 2.0f - 1.0f;
    return v;
}

static void one_case(int ta, int tb, int M, int N, int K, float beta, float *work)
{
    float *A = randv((size_t)M * K, 1), *B = randv((size_t)K * N, 2);
    float *C = randv((size_t)M * N, 3), *R = malloc(sizeof(float) * M * N);
    float *C2 = malloc(sizeof(float) * M * N);
    memcpy(R, C, sizeof(float) * M * N);
    memcpy(C2, C, sizeof(float) * M * N);
    int lda = ta ? M : K, ldb = tb ? K : N;
    gemm_sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, N, work);
    gemm_sgemm_naive(ta, tb, M, N, K, A, lda, B, ldb, beta, R, N);
    char name[128];
    snprintf(name, sizeof name, "gemm_vs_naive_t%d%d_%dx%dx%d_beta%g", ta, tb, M, N, K, beta);
    double tol = 1e-5 * (sqrt((double)K) / 4 + 1);
    check_close(name, C, R, (size_t)M * N, tol, tol);
    gemm_sgemm_mt(ta, tb, M, N, K, A, lda, B, ldb, beta, C2, N, work, 2);
    snprintf(name, sizeof name, "gemm_mt_bitwise_t%d%d_%dx%dx%d_beta%g", ta, tb, M, N, K, beta);
    CHECK(!memcmp(C, C2, sizeof(float) * M * N), name, "2-thread result differs from 1-thread");
    /* A packed once: the same bits, 1 and 2 threads */
    float *Ap = malloc(sizeof(float) * (gemm_packed_a_floats(M, K) + 1));
    gemm_pack_a_all(ta, M, K, A, lda, Ap);
    struct gemm_bsrc src = {B, ldb, tb};
    for (int nt = 1; nt <= 2; nt++) {
        memcpy(C2, R, sizeof(float) * M * N); /* any start: beta 0 ignores it, 1 needs C0 */
        if (beta != 0.0f) {
            float *C0 = randv((size_t)M * N, 3);
            memcpy(C2, C0, sizeof(float) * M * N);
            free(C0);
        }
        gemm_sgemm_prepacked(M, N, K, Ap, gemm_pack_b_matrix, &src, beta, C2, N, work, nt);
        snprintf(name, sizeof name, "gemm_prepacked_bitwise_t%d%d_%dx%dx%d_beta%g_nt%d", ta, tb,
                 M, N, K, beta, nt);
        CHECK(!memcmp(C, C2, sizeof(float) * M * N), name, "prepacked A changes the result");
    }
    free(Ap);
    free(A), free(B), free(C), free(R), free(C2);
}

int main(void)
{
    float *work = aligned_alloc(64, sizeof(float) * (2 * gemm_work_floats() + 64));
    int shapes[][3] = {{1, 1, 1},     {7, 5, 3},      {8, 32, 16},    {9, 33, 257},
                       {130, 70, 20}, {16, 600, 300}, {33, 1030, 27}, {3, 2, 520}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                one_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], (ta ^ tb) ? 1.0f : 0.0f,
                         work);
    /* beta 0 must not read C: NaN in C disappears. */
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {NAN, NAN, NAN, NAN};
    gemm_sgemm(0, 0, 2, 2, 2, A, 2, B, 2, 0.0f, C, 2, work);
    CHECK(C[0] == 1 && C[1] == 2 && C[2] == 3 && C[3] == 4, "gemm_beta0_ignores_c",
          "got %g %g %g %g", C[0], C[1], C[2], C[3]);
    free(work);
    return check_summary();
}

/* Blocked SGEMM (see gemm.h): loops jc (NC columns) > pc (KC depth) > ic (MC rows) > jr > ir
 * around an MR x NR micro-kernel on packed panels, as in Goto & van de Geijn, "Anatomy of
 * high-performance matrix multiplication" (TOMS 2008) and BLIS. Not a general BLAS: beta is 0 or
 * 1 and alpha is 1, which is all the engine needs. */
#include "pipeline/gemm.h"

#include <string.h>

#include "pipeline/err.h"

#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

size_t gemm_work_floats(void)
{
    return (size_t)GEMM_MC * GEMM_KC + (size_t)GEMM_KC * GEMM_NC + 64;
}

#ifdef __AVX512F__
#define ROW_FMA(i, lo, hi)                                                                     \
    do {                                                                                       \
        __m512 ai = _mm512_set1_ps(a[i]);                                                      \
        lo = _mm512_fmadd_ps(ai, b0, lo);                                                      \
        hi = _mm512_fmadd_ps(ai, b1, hi);                                                      \
    } while (0)

/* c[MR, NR] (+)= a-panel[kc, MR]^T * b-panel[kc, NR]; rows >= mv / cols >= nv not stored. */
static void micro_kernel(int kc, const float *restrict a, const float *restrict b,
                         float *restrict c, int ldc, int accum, int mv, int nv)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00;
    __m512 c61 = c00, c70 = c00, c71 = c00;
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        ROW_FMA(0, c00, c01);
        ROW_FMA(1, c10, c11);
        ROW_FMA(2, c20, c21);
        ROW_FMA(3, c30, c31);
        ROW_FMA(4, c40, c41);
        ROW_FMA(5, c50, c51);
        ROW_FMA(6, c60, c61);
        ROW_FMA(7, c70, c71);
        a += GEMM_MR;
        b += GEMM_NR;
    }
    __m512 acc[2 * GEMM_MR] = {c00, c01, c10, c11, c20, c21, c30, c31,
                               c40, c41, c50, c51, c60, c61, c70, c71};
    if (mv == GEMM_MR && nv == GEMM_NR) {
        for (int i = 0; i < GEMM_MR; i++) {
            float *ci = c + (size_t)i * ldc;
            __m512 lo = acc[2 * i], hi = acc[2 * i + 1];
            if (accum) {
                lo = _mm512_add_ps(_mm512_loadu_ps(ci), lo);
                hi = _mm512_add_ps(_mm512_loadu_ps(ci + 16), hi);
            }
            _mm512_storeu_ps(ci, lo);
            _mm512_storeu_ps(ci + 16, hi);
        }
        return;
    }
    float tile[GEMM_MR * GEMM_NR] __attribute__((aligned(64)));
    for (int i = 0; i < GEMM_MR; i++) {
        _mm512_store_ps(tile + i * GEMM_NR, acc[2 * i]);
        _mm512_store_ps(tile + i * GEMM_NR + 16, acc[2 * i + 1]);
    }
    for (int i = 0; i < mv; i++)
        for (int j = 0; j < nv; j++)
            c[(size_t)i * ldc + j] = accum ? c[(size_t)i * ldc + j] + tile[i * GEMM_NR + j]
                                           : tile[i * GEMM_NR + j];
}
#elif defined(__AVX2__) && defined(__FMA__)
/* AVX2 has 16 vector registers, too few for the 8x32 tile (32 accumulators): it is computed as
 * four 4x16 quarters of 8 accumulators each. A quarter needs 2 loads of B and 4 broadcasts of A
 * per 8 FMAs, so the FMA ports, not the loads, bound it. Each element sees the same fused
 * multiply-adds in k order as in the AVX-512 kernel. */
static void micro_kernel(int kc, const float *restrict a, const float *restrict b,
                         float *restrict c, int ldc, int accum, int mv, int nv)
{
    float tile[GEMM_MR * GEMM_NR] __attribute__((aligned(32)));
    int full = mv == GEMM_MR && nv == GEMM_NR;
    for (int i0 = 0; i0 < mv; i0 += 4)
        for (int j0 = 0; j0 < nv; j0 += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00;
            __m256 c21 = c00, c30 = c00, c31 = c00;
            const float *pa = a + i0, *pb = b + j0;
            for (int k = 0; k < kc; k++, pa += GEMM_MR, pb += GEMM_NR) {
                __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8), ai;
                /* keeps B in registers: gcc otherwise folds the load into all four FMAs */
                __asm__("" : "+x"(b0), "+x"(b1));
                ai = _mm256_broadcast_ss(pa);
                c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
                ai = _mm256_broadcast_ss(pa + 1);
                c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
                ai = _mm256_broadcast_ss(pa + 2);
                c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
                ai = _mm256_broadcast_ss(pa + 3);
                c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
            }
            __m256 acc[8] = {c00, c01, c10, c11, c20, c21, c30, c31};
            for (int i = 0; i < 4; i++) {
                float *ci = full ? c + (size_t)(i0 + i) * ldc + j0
                                 : tile + (i0 + i) * GEMM_NR + j0;
                __m256 lo = acc[2 * i], hi = acc[2 * i + 1];
                if (full && accum) {
                    lo = _mm256_add_ps(_mm256_loadu_ps(ci), lo);
                    hi = _mm256_add_ps(_mm256_loadu_ps(ci + 8), hi);
                }
                _mm256_storeu_ps(ci, lo);
                _mm256_storeu_ps(ci + 8, hi);
            }
        }
    if (full) return;
    for (int i = 0; i < mv; i++)
        for (int j = 0; j < nv; j++)
            c[(size_t)i * ldc + j] = accum ? c[(size_t)i * ldc + j] + tile[i * GEMM_NR + j]
                                           : tile[i * GEMM_NR + j];
}
#else
/* Portable fallback: the same tile in plain C (gcc vectorises the j loops). */
static void micro_kernel(int kc, const float *restrict a, const float *restrict b,
                         float *restrict c, int ldc, int accum, int mv, int nv)
{
    float tile[GEMM_MR * GEMM_NR] = {0};
    for (int k = 0; k < kc; k++) {
        for (int i = 0; i < GEMM_MR; i++) {
            float ai = a[i];
            for (int j = 0; j < GEMM_NR; j++)
                tile[i * GEMM_NR + j] += ai * b[j];
        }
        a += GEMM_MR;
        b += GEMM_NR;
    }
    for (int i = 0; i < mv; i++)
        for (int j = 0; j < nv; j++)
            c[(size_t)i * ldc + j] = accum ? c[(size_t)i * ldc + j] + tile[i * GEMM_NR + j]
                                           : tile[i * GEMM_NR + j];
}
#endif

#ifdef __AVX__
/* d[k * 8 + r] = s[r * ss + k] for an 8x8 block (unpack, shuffle, lane permute). */
static void transpose8(const float *s, size_t ss, float *d)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(s + i * ss);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* rows 0-3, then 4-7: u[4h + q] = cols q | q + 4 */
        u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_ps(d + q * 8, _mm256_permute2f128_ps(u[q], u[4 + q], 0x20));
        _mm256_storeu_ps(d + (q + 4) * 8, _mm256_permute2f128_ps(u[q], u[4 + q], 0x31));
    }
}
#endif

/* Packs op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels: panel p holds kc groups of MR floats. */
static void pack_a(int transa, const float *A, int lda, int i0, int mc, int k0, int kc,
                   float *dst)
{
    for (int ir = 0; ir < mc; ir += GEMM_MR) {
        int mv = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
        float *d = dst + (size_t)ir * kc;
        if (transa) {
            for (int k = 0; k < kc; k++) {
                const float *s = A + (size_t)(k0 + k) * lda + i0 + ir;
                int r = 0;
                for (; r < mv; r++)
                    d[k * GEMM_MR + r] = s[r];
                for (; r < GEMM_MR; r++)
                    d[k * GEMM_MR + r] = 0.0f;
            }
        } else {
            int k = 0;
#if defined(__AVX__) && GEMM_MR == 8
            if (mv == GEMM_MR)
                for (; k + 8 <= kc; k += 8)
                    transpose8(A + (size_t)(i0 + ir) * lda + k0 + k, (size_t)lda, d + k * 8);
#endif
            for (int r = 0; r < GEMM_MR; r++) {
                if (r >= mv) {
                    for (int kk = 0; kk < kc; kk++)
                        d[kk * GEMM_MR + r] = 0.0f;
                    continue;
                }
                const float *s = A + (size_t)(i0 + ir + r) * lda + k0;
                for (int kk = k; kk < kc; kk++)
                    d[kk * GEMM_MR + r] = s[kk];
            }
        }
    }
}

void gemm_pack_b_matrix(const void *ctx, int k0, int kc, int j0, int nc, float *dst)
{
    const struct gemm_bsrc *src = ctx;
    int full = nc / GEMM_NR * GEMM_NR;
    if (!src->trans) {
        /* Row k of B is read once, contiguously, and spread over the column panels. */
        for (int k = 0; k < kc; k++) {
            const float *s = src->b + (size_t)(k0 + k) * src->ld + j0;
            for (int jr = 0; jr < full; jr += GEMM_NR) {
                float *d = dst + (size_t)jr * kc + (size_t)k * GEMM_NR;
                for (int j = 0; j < GEMM_NR; j++) /* fixed count: two vector moves */
                    d[j] = s[jr + j];
            }
            if (full < nc) {
                float *d = dst + (size_t)full * kc + (size_t)k * GEMM_NR;
                int j = 0;
                for (; j < nc - full; j++)
                    d[j] = s[full + j];
                for (; j < GEMM_NR; j++)
                    d[j] = 0.0f;
            }
        }
        return;
    }
    for (int jr = 0; jr < nc; jr += GEMM_NR) {
        int nv = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
        float *d = dst + (size_t)jr * kc;
        for (int j = 0; j < GEMM_NR; j++) {
            if (j >= nv) {
                for (int k = 0; k < kc; k++)
                    d[(size_t)k * GEMM_NR + j] = 0.0f;
                continue;
            }
            const float *s = src->b + (size_t)(j0 + jr + j) * src->ld + k0;
            for (int k = 0; k < kc; k++)
                d[(size_t)k * GEMM_NR + j] = s[k];
        }
    }
}

static float *align64(float *p)
{
    return (float *)(((size_t)p + 63) & ~(size_t)63);
}

/* Where the MR-row panels of op(A) come from: packed on the fly into a work buffer, or read
 * from a gemm_pack_a_all buffer (pre, whose full matrix has mpad rows; this call's rows start
 * at row0). Panel layout is the same either way, so results are too. */
struct asrc {
    int transa;
    const float *A;
    int lda;
    const float *pre;
    int mpad, row0;
};

static void sgemm_driver(const struct asrc *a, int M, int N, int K, gemm_pack_b_fn pack_b,
                         const void *bctx, float beta, float *C, int ldc, float *work)
{
    SB_ASSERT(beta == 0.0f || beta == 1.0f);
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (beta == 0.0f)
            for (int i = 0; i < M; i++)
                memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
        return;
    }
    float *abuf = align64(work);
    float *bp = abuf + (size_t)GEMM_MC * GEMM_KC;
    for (int jc = 0; jc < N; jc += GEMM_NC) {
        int nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;
        for (int pc = 0; pc < K; pc += GEMM_KC) {
            int kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            int accum = pc > 0 || beta != 0.0f;
            pack_b(bctx, pc, kc, jc, nc, bp);
            for (int ic = 0; ic < M; ic += GEMM_MC) {
                int mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;
                const float *ap = abuf;
                if (a->pre)
                    ap = a->pre + (size_t)a->mpad * pc + (size_t)(a->row0 + ic) * kc;
                else
                    pack_a(a->transa, a->A, a->lda, ic, mc, pc, kc, abuf);
                for (int jr = 0; jr < nc; jr += GEMM_NR) {
                    int nv = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
                    for (int ir = 0; ir < mc; ir += GEMM_MR) {
                        int mv = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
                        micro_kernel(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc,
                                     C + (size_t)(ic + ir) * ldc + jc + jr, ldc, accum, mv, nv);
                    }
                }
            }
        }
    }
}

void gemm_sgemm_packb(int transa, int M, int N, int K, const float *A, int lda,
                      gemm_pack_b_fn pack_b, const void *bctx, float beta, float *C, int ldc,
                      float *work)
{
    struct asrc a = {transa, A, lda, NULL, 0, 0};
    sgemm_driver(&a, M, N, K, pack_b, bctx, beta, C, ldc, work);
}

size_t gemm_packed_a_floats(int M, int K)
{
    return (size_t)((M + GEMM_MR - 1) / GEMM_MR * GEMM_MR) * (size_t)K;
}

void gemm_pack_a_all(int transa, int M, int K, const float *A, int lda, float *dst)
{
    size_t mpad = (size_t)((M + GEMM_MR - 1) / GEMM_MR * GEMM_MR);
    for (int pc = 0; pc < K; pc += GEMM_KC) {
        int kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
        for (int ic = 0; ic < M; ic += GEMM_MC) {
            int mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;
            pack_a(transa, A, lda, ic, mc, pc, kc, dst + mpad * pc + (size_t)ic * kc);
        }
    }
}

void gemm_sgemm(int transa, int transb, int M, int N, int K, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, float *work)
{
    struct gemm_bsrc src = {B, ldb, transb};
    gemm_sgemm_packb(transa, M, N, K, A, lda, gemm_pack_b_matrix, &src, beta, C, ldc, work);
}

/* Offsets a B source to start at column j0 (for a column stripe of C). */
struct bsrc_shift {
    gemm_pack_b_fn pack_b;
    const void *ctx;
    int j0;
};

static void pack_b_shifted(const void *ctx, int k0, int kc, int j0, int nc, float *dst)
{
    const struct bsrc_shift *s = ctx;
    s->pack_b(s->ctx, k0, kc, s->j0 + j0, nc, dst);
}

static void sgemm_mt(const struct asrc *a, int M, int N, int K, gemm_pack_b_fn pack_b,
                     const void *bctx, float beta, float *C, int ldc, float *work, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    /* Split columns in NR multiples when there are enough, else rows in MR multiples. */
    int ncol_blocks = (N + GEMM_NR - 1) / GEMM_NR, nrow_blocks = (M + GEMM_MR - 1) / GEMM_MR;
    int by_cols = ncol_blocks >= nthreads || ncol_blocks >= nrow_blocks;
    int blocks = by_cols ? ncol_blocks : nrow_blocks;
    if (nthreads > blocks) nthreads = blocks;
    if (nthreads <= 1) {
        sgemm_driver(a, M, N, K, pack_b, bctx, beta, C, ldc, work);
        return;
    }
    size_t wsize = gemm_work_floats();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int t = 0; t < nthreads; t++) {
        int b0 = (int)((long)blocks * t / nthreads), b1 = (int)((long)blocks * (t + 1) / nthreads);
        float *w = work + (size_t)t * wsize;
        if (by_cols) {
            int j0 = b0 * GEMM_NR, j1 = b1 * GEMM_NR < N ? b1 * GEMM_NR : N;
            struct bsrc_shift sh = {pack_b, bctx, j0};
            sgemm_driver(a, M, j1 - j0, K, pack_b_shifted, &sh, beta, C + j0, ldc, w);
        } else {
            int i0 = b0 * GEMM_MR, i1 = b1 * GEMM_MR < M ? b1 * GEMM_MR : M;
            struct asrc sub = *a;
            if (sub.pre)
                sub.row0 += i0;
            else
                sub.A = sub.transa ? sub.A + i0 : sub.A + (size_t)i0 * sub.lda;
            sgemm_driver(&sub, i1 - i0, N, K, pack_b, bctx, beta, C + (size_t)i0 * ldc, ldc, w);
        }
    }
}

void gemm_sgemm_packb_mt(int transa, int M, int N, int K, const float *A, int lda,
                         gemm_pack_b_fn pack_b, const void *bctx, float beta, float *C, int ldc,
                         float *work, int nthreads)
{
    struct asrc a = {transa, A, lda, NULL, 0, 0};
    sgemm_mt(&a, M, N, K, pack_b, bctx, beta, C, ldc, work, nthreads);
}

void gemm_sgemm_prepacked(int M, int N, int K, const float *Ap, gemm_pack_b_fn pack_b,
                          const void *bctx, float beta, float *C, int ldc, float *work,
                          int nthreads)
{
    struct asrc a = {0, NULL, 0, Ap, (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR, 0};
    sgemm_mt(&a, M, N, K, pack_b, bctx, beta, C, ldc, work, nthreads);
}

void gemm_sgemm_mt(int transa, int transb, int M, int N, int K, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc, float *work,
                   int nthreads)
{
    struct gemm_bsrc src = {B, ldb, transb};
    gemm_sgemm_packb_mt(transa, M, N, K, A, lda, gemm_pack_b_matrix, &src, beta, C, ldc, work,
                        nthreads);
}

void gemm_sgemm_naive(int transa, int transb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = transa ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = transb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            float *c = C + (size_t)i * ldc + j;
            *c = beta != 0.0f ? (float)((double)*c + s) : (float)s;
        }
}

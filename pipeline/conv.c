/* 2-D convolution kernels (see conv.h). GEMM path per image n and group g, with K = C/g*KH*KW
 * and P = OH*OW:  out[Og, P] = W_g[Og, K] * im2col(inp_ng)[K, P];  backward
 * dW_g[Og, K] += dout_ng[Og, P] * col[K, P]^T  and  dcol[K, P] = W_g^T * dout_ng, then col2im.
 * Depthwise convs (C/g == 1) run direct loops instead: a GEMM with Og rows would waste 7/8. */
#include "pipeline/conv.h"

#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "pipeline/err.h"
#include "pipeline/gemm.h"
#include "pipeline/simd.h"
#include "pipeline/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef CONV_WFLIP_MIN_C
#define CONV_WFLIP_MIN_C 16
#endif

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

int conv2d_dims_init(struct conv2d_dims *d, int N, int C, int H, int W, int O, int KH, int KW,
                     int SH, int SW, int PH, int PW, int groups)
{
    *d = (struct conv2d_dims){N, C, H, W, O, KH, KW, SH, SW, PH, PW, groups, 0, 0};
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || O <= 0 || KH <= 0 || KW <= 0)
        return err_set("cannot set up conv2d: non-positive size (C %d, H %d, W %d, O %d, "
                       "kernel %dx%d)", C, H, W, O, KH, KW);
    if (SH <= 0 || SW <= 0 || PH < 0 || PW < 0)
        return err_set("cannot set up conv2d: bad stride %dx%d or padding %dx%d", SH, SW, PH,
                       PW);
    if (groups <= 0 || C % groups || O % groups)
        return err_set("cannot set up conv2d: %d input and %d output channels are not "
                       "divisible by groups %d", C, O, groups);
    if (PH >= KH || PW >= KW)
        return err_set("cannot set up conv2d: padding %dx%d not smaller than kernel %dx%d", PH,
                       PW, KH, KW);
    if (H + 2 * PH < KH || W + 2 * PW < KW)
        return err_set("cannot set up conv2d: kernel %dx%d larger than padded input %dx%d", KH,
                       KW, H + 2 * PH, W + 2 * PW);
    d->OH = (H + 2 * PH - KH) / SH + 1;
    d->OW = (W + 2 * PW - KW) / SW + 1;
    return 0;
}

static int is_depthwise(const struct conv2d_dims *d)
{
    return d->C / d->groups == 1;
}

static size_t wsize(const struct conv2d_dims *d)
{
    return (size_t)d->O * (d->C / d->groups) * d->KH * d->KW;
}

/* Scratch of one image call (conv2d_*_image) with nt threads: nt GEMM workspaces (contiguous,
 * as gemm_sgemm_packb_mt wants them) and one [K, P] column matrix (col2im input gradients).
 * The batched calls use one such region per thread, then CONV_DW_CHUNKS chunk partials. */
static size_t col_floats(const struct conv2d_dims *d)
{
    size_t K = (size_t)(d->C / d->groups) * d->KH * d->KW, P = (size_t)d->OH * d->OW;
    return round16(K * P);
}

static size_t part_floats(const struct conv2d_dims *d)
{
    return round16(wsize(d) + (size_t)d->O);
}

size_t conv2d_image_scratch_floats(const struct conv2d_dims *d, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (is_depthwise(d)) return 16;
    return (size_t)nthreads * gemm_work_floats() + col_floats(d) + 16;
}

size_t conv2d_wpack_floats(const struct conv2d_dims *d)
{
    int Cg = d->C / d->groups, Og = d->O / d->groups;
    return is_depthwise(d) ? 16 : round16((size_t)d->groups *
                                          gemm_packed_a_floats(Og, Cg * d->KH * d->KW));
}

size_t conv2d_wflip_floats(const struct conv2d_dims *d)
{
    int Cg = d->C / d->groups, Og = d->O / d->groups;
    if (is_depthwise(d)) return 16;
    return round16((size_t)d->groups * gemm_packed_a_floats(Cg, Og * d->KH * d->KW)) +
           round16(wsize(d));
}

/* Batched calls: [thread regions | chunk partials | packed weight | packed flipped weight]. */
static size_t threads_floats(const struct conv2d_dims *d, int nthreads)
{
    size_t one = round16(conv2d_image_scratch_floats(d, 1));
    size_t per_thread = (size_t)nthreads * one, shared = conv2d_image_scratch_floats(d, nthreads);
    return round16(per_thread > shared ? per_thread : shared);
}

size_t conv2d_scratch_floats(const struct conv2d_dims *d, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    return threads_floats(d, nthreads) + CONV_DW_CHUNKS * part_floats(d) +
           conv2d_wpack_floats(d) + conv2d_wflip_floats(d) + 16;
}

/* ---- im2col ---------------------------------------------------------------------------- */

/* One image-group's input planes [Cg, H, W] seen as columns [K, P]. */
struct im2col_src {
    const float *inp;
    const struct conv2d_dims *d;
};

/* d[0..m) = src[0..m), or zeros when src is NULL. Inline loops: runs are short (a row of a
 * feature map, clipped to a panel), where memcpy/memset calls cost more than the copy. */
static inline void copy_run(float *restrict d, const float *restrict src, int m)
{
    if (src) {
        SB_SIMD
        for (int i = 0; i < m; i++)
            d[i] = src[i];
    } else {
        SB_SIMD
        for (int i = 0; i < m; i++)
            d[i] = 0.0f;
    }
}

/* Writes count values (src, or zeros when src is NULL) to columns j.. of one row of the
 * destination: plain (dst[j]) or panelled (column j at panel j/NR, lane j%NR). */
static inline __attribute__((always_inline)) void put_run(float *dst, size_t panel_stride,
                                                           int panelled, int j, const float *src,
                    int count)
{
    if (!panelled) {
        copy_run(dst + j, src, count);
        return;
    }
    while (count > 0) {
        int lane = j % GEMM_NR, m = GEMM_NR - lane < count ? GEMM_NR - lane : count;
        copy_run(dst + (size_t)(j / GEMM_NR) * panel_stride + lane, src, m);
        if (src) src += m;
        j += m;
        count -= m;
    }
}

/* Row k of the column matrix, output columns [j0, j0+nc), into dst via put_run. Stride-1
 * rows are runs of the input row with zero borders; other strides gather element-wise. */
static void im2col_row(const struct im2col_src *s, int k, int j0, int nc, float *dst,
                       size_t panel_stride, int panelled)
{
    const struct conv2d_dims *d = s->d;
    int khw = d->KH * d->KW, c = k / khw, r = k % khw, kh = r / d->KW, kw = r % d->KW;
    const float *plane = s->inp + (size_t)c * d->H * d->W;
    int oh = j0 / d->OW, ow = j0 % d->OW;
    float buf[64];
    for (int jj = 0; jj < nc;) {
        int run = d->OW - ow < nc - jj ? d->OW - ow : nc - jj;
        int ih = oh * d->SH - d->PH + kh;
        if (ih < 0 || ih >= d->H) {
            put_run(dst, panel_stride, panelled, jj, NULL, run);
        } else if (d->SW == 1) {
            const float *row = plane + (size_t)ih * d->W;
            int iw0 = ow - d->PW + kw, lz = iw0 < 0 ? -iw0 : 0, tz = iw0 + run - d->W;
            if (lz > run) lz = run;
            if (tz < 0) tz = 0;
            if (tz > run - lz) tz = run - lz;
            put_run(dst, panel_stride, panelled, jj, NULL, lz);
            put_run(dst, panel_stride, panelled, jj + lz, row + iw0 + lz, run - lz - tz);
            put_run(dst, panel_stride, panelled, jj + run - tz, NULL, tz);
        } else {
            const float *row = plane + (size_t)ih * d->W;
            for (int t0 = 0; t0 < run; t0 += 64) {
                int m = run - t0 < 64 ? run - t0 : 64;
                for (int t = 0; t < m; t++) {
                    int iw = (ow + t0 + t) * d->SW - d->PW + kw;
                    buf[t] = iw >= 0 && iw < d->W ? row[iw] : 0.0f;
                }
                put_run(dst, panel_stride, panelled, jj + t0, buf, m);
            }
        }
        jj += run;
        ow = 0;
        oh++;
    }
}

/* gemm_pack_b_fn: packs im2col rows [k0, k0+kc) x columns [j0, j0+nc) into NR panels. */
static void pack_b_im2col(const void *ctx, int k0, int kc, int j0, int nc, float *dst)
{
    size_t panel_stride = (size_t)kc * GEMM_NR;
    for (int k = 0; k < kc; k++)
        im2col_row(ctx, k0 + k, j0, nc, dst + (size_t)k * GEMM_NR, panel_stride, 1);
    int padded = (nc + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    if (padded > nc) {
        float *last = dst + (size_t)(nc / GEMM_NR) * panel_stride;
        for (int k = 0; k < kc; k++)
            for (int j = nc % GEMM_NR; j < GEMM_NR; j++)
                last[(size_t)k * GEMM_NR + j] = 0.0f;
    }
}

#ifdef __AVX512F__
/* d[i * dstride + j] = s[j * sstride + i] for a 16x16 block (unpack, then two rounds of
 * 128-bit lane shuffles). */
static void transpose16(const float *s, size_t sstride, float *d, size_t dstride)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(s + i * sstride);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));     /* rows 4i..4i+3, col 4l */
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)); /* col 4l+1 */
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e)); /* col 4l+2 */
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e)); /* col 4l+3 */
    }
    for (int q = 0; q < 4; q++) { /* q: column 4l+q for l = 0..3 */
        __m512 lo0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);  /* cols q, q+8: rows 0-7 */
        __m512 hi0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);  /* cols q+4, q+12 */
        __m512 lo1 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88); /* rows 8-15 */
        __m512 hi1 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
        _mm512_storeu_ps(d + (size_t)q * dstride, _mm512_shuffle_f32x4(lo0, lo1, 0x88));
        _mm512_storeu_ps(d + (size_t)(q + 8) * dstride, _mm512_shuffle_f32x4(lo0, lo1, 0xdd));
        _mm512_storeu_ps(d + (size_t)(q + 4) * dstride, _mm512_shuffle_f32x4(hi0, hi1, 0x88));
        _mm512_storeu_ps(d + (size_t)(q + 12) * dstride, _mm512_shuffle_f32x4(hi0, hi1, 0xdd));
    }
}
#endif

/* gemm_pack_b_fn for op(B) = im2col^T (the weight gradient's right operand): GEMM rows k are
 * output pixels, columns j are (c, kh, kw). Sixteen columns at a time are built as im2col rows
 * (contiguous runs) in a buffer, then transposed into the panel; same values and layout as
 * packing an explicit column matrix transposed, without writing it. */
static void pack_b_im2col_t(const void *ctx, int k0, int kc, int j0, int nc, float *dst)
{
    float rows[16][GEMM_KC] __attribute__((aligned(64)));
    SB_ASSERT(kc <= GEMM_KC);
    for (int jr = 0; jr < nc; jr += GEMM_NR)
        for (int jb = 0; jb < GEMM_NR; jb += 16) {
            float *d = dst + (size_t)jr * kc + jb;
            for (int j = 0; j < 16; j++) {
                if (jr + jb + j < nc)
                    im2col_row(ctx, j0 + jr + jb + j, k0, kc, rows[j], 0, 0);
                else
                    memset(rows[j], 0, sizeof(float) * (size_t)kc);
            }
            int k = 0;
#ifdef __AVX512F__
            for (; k + 16 <= kc; k += 16)
                transpose16(&rows[0][k], GEMM_KC, d + (size_t)k * GEMM_NR, GEMM_NR);
#endif
            for (; k < kc; k++)
                for (int j = 0; j < 16; j++)
                    d[(size_t)k * GEMM_NR + j] = rows[j][k];
        }
}

/* dinp planes [Cg, H, W] += col2im(dcol [K, P]) for channels [c0, c1); order per element is
 * fixed: (kh, kw, oh, ow) ascending. */
static void col2im_add(float *dinp, const float *dcol, const struct conv2d_dims *d, int c0,
                       int c1)
{
    int P = d->OH * d->OW;
    for (int c = c0; c < c1; c++) {
        float *plane = dinp + (size_t)c * d->H * d->W;
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                const float *src = dcol + ((size_t)(c * d->KH + kh) * d->KW + kw) * P;
                for (int oh = 0; oh < d->OH; oh++) {
                    int ih = oh * d->SH - d->PH + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    float *row = plane + (size_t)ih * d->W;
                    const float *s = src + (size_t)oh * d->OW;
                    for (int ow = 0; ow < d->OW; ow++) {
                        int iw = ow * d->SW - d->PW + kw;
                        if (iw >= 0 && iw < d->W) row[iw] += s[ow];
                    }
                }
            }
    }
}

/* ---- depthwise direct kernels -------------------------------------------------------- */

/* Output columns [*lo, *hi) whose input column ow*SW - PW + kw lies inside [0, W). */
static void valid_cols(const struct conv2d_dims *d, int kw, int *lo, int *hi)
{
    int a = d->PW - kw, b = d->W - 1 + d->PW - kw;
    *lo = a > 0 ? (a + d->SW - 1) / d->SW : 0;
    *hi = b < 0 ? 0 : b / d->SW + 1;
    if (*hi > d->OW) *hi = d->OW;
    if (*lo > *hi) *lo = *hi;
}

/* One output plane o of image n: out = sum_{kh,kw} w[o,kh,kw] * inp[c = o / Og] + bias, taps
 * summed in (kh, kw) order; the clipped column range keeps the inner loop branch-free. */
static void dw_forward_plane(float *out, const float *in, const float *w, float bias,
                             const struct conv2d_dims *d)
{
    for (int oh = 0; oh < d->OH; oh++) {
        float *orow = out + (size_t)oh * d->OW;
        for (int ow = 0; ow < d->OW; ow++)
            orow[ow] = 0.0f;
        for (int kh = 0; kh < d->KH; kh++) {
            int ih = oh * d->SH - d->PH + kh;
            if (ih < 0 || ih >= d->H) continue;
            for (int kw = 0; kw < d->KW; kw++) {
                float wv = w[kh * d->KW + kw];
                int lo, hi;
                valid_cols(d, kw, &lo, &hi);
                const float *irow = in + (size_t)ih * d->W;
                int off = kw - d->PW;
                if (d->SW == 1) {
                    SB_SIMD
                    for (int ow = lo; ow < hi; ow++)
                        orow[ow] += wv * irow[ow + off];
                } else {
                    for (int ow = lo; ow < hi; ow++)
                        orow[ow] += wv * irow[ow * d->SW + off];
                }
            }
        }
        for (int ow = 0; ow < d->OW; ow++)
            orow[ow] += bias;
    }
}

static void dw_forward(float *out, const float *inp, const float *weight, const float *bias,
                       const struct conv2d_dims *d, int nthreads)
{
    (void)nthreads;
    int Og = d->O / d->groups, N = d->N, O = d->O;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW, khw = d->KH * d->KW;
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) num_threads(nthreads)
#endif
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            dw_forward_plane(out + ((size_t)n * O + o) * osz,
                             inp + ((size_t)n * d->C + o / Og) * isz, weight + o * khw,
                             bias ? bias[o] : 0.0f, d);
}

/* dinp plane += the scatter of one output plane's gradient through its kernel. */
static void dw_dinp_plane(float *di, const float *dy, const float *w,
                          const struct conv2d_dims *d)
{
    for (int oh = 0; oh < d->OH; oh++)
        for (int kh = 0; kh < d->KH; kh++) {
            int ih = oh * d->SH - d->PH + kh;
            if (ih < 0 || ih >= d->H) continue;
            const float *dyr = dy + (size_t)oh * d->OW;
            for (int kw = 0; kw < d->KW; kw++) {
                float wv = w[kh * d->KW + kw];
                int lo, hi;
                valid_cols(d, kw, &lo, &hi);
                float *drow = di + (size_t)ih * d->W;
                int off = kw - d->PW;
                if (d->SW == 1) {
                    SB_SIMD
                    for (int ow = lo; ow < hi; ow++)
                        drow[ow + off] += wv * dyr[ow];
                } else {
                    for (int ow = lo; ow < hi; ow++)
                        drow[ow * d->SW + off] += wv * dyr[ow];
                }
            }
        }
}

/* dweight[o] += sum over the plane of dy * shifted input, per tap; dbias[o] += sum dy. */
static void dw_dweight_plane(float *dw, float *db, const float *dy, const float *in,
                             const struct conv2d_dims *d)
{
    size_t osz = (size_t)d->OH * d->OW;
    if (db) {
        float s = 0.0f;
        for (size_t p = 0; p < osz; p++)
            s += dy[p];
        *db += s;
    }
    if (!dw) return;
    for (int kh = 0; kh < d->KH; kh++)
        for (int kw = 0; kw < d->KW; kw++) {
            int lo, hi;
            valid_cols(d, kw, &lo, &hi);
            float s = 0.0f;
            for (int oh = 0; oh < d->OH; oh++) {
                int ih = oh * d->SH - d->PH + kh;
                if (ih < 0 || ih >= d->H) continue;
                const float *irow = in + (size_t)ih * d->W;
                const float *dyr = dy + (size_t)oh * d->OW;
                for (int ow = lo; ow < hi; ow++)
                    s += dyr[ow] * irow[ow * d->SW + kw - d->PW];
            }
            dw[kh * d->KW + kw] += s;
        }
}

/* dinp plane c += sum over its Og output planes; dweight/dbias of channel o summed over n. */
static void dw_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const struct conv2d_dims *d,
                        int nthreads)
{
    (void)nthreads;
    int Og = d->O / d->groups, N = d->N, C = d->C, O = d->O;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW, khw = d->KH * d->KW;
    if (dinp) {
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) num_threads(nthreads)
#endif
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int o = c * Og; o < (c + 1) * Og; o++)
                    dw_dinp_plane(dinp + ((size_t)n * C + c) * isz,
                                  dout + ((size_t)n * O + o) * osz, weight + o * khw, d);
    }
    if (!dweight && !dbias) return;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int o = 0; o < O; o++)
        for (int n = 0; n < N; n++)
            dw_dweight_plane(dweight ? dweight + o * khw : NULL, dbias ? dbias + o : NULL,
                             dout + ((size_t)n * O + o) * osz,
                             inp + ((size_t)n * C + o / Og) * isz, d);
}

/* ---- GEMM path ----------------------------------------------------------------------- */

static void add_bias(float *out, const float *bias, int O, size_t P)
{
    for (int o = 0; o < O; o++) {
        float *row = out + (size_t)o * P, b = bias[o];
        SB_SIMD
        for (size_t p = 0; p < P; p++)
            row[p] += b;
    }
}

void conv2d_pack_weight(float *wpack, const float *weight, const struct conv2d_dims *d)
{
    if (is_depthwise(d)) return;
    int Cg = d->C / d->groups, Og = d->O / d->groups, K = Cg * d->KH * d->KW;
    size_t gsz = gemm_packed_a_floats(Og, K);
    for (int g = 0; g < d->groups; g++)
        gemm_pack_a_all(0, Og, K, weight + (size_t)g * Og * K, K, wpack + g * gsz);
}

/* Forward of image n with one thread's workspace, or with nthreads inside the GEMM. */
static void gemm_forward_image(float *out, const float *inp, const float *wpack,
                               const float *bias, const struct conv2d_dims *d, int n,
                               float *work, int nthreads)
{
    int Cg = d->C / d->groups, Og = d->O / d->groups, K = Cg * d->KH * d->KW;
    int P = d->OH * d->OW;
    int pointwise = d->KH == 1 && d->KW == 1 && d->SH == 1 && d->SW == 1 && d->PH == 0 &&
                    d->PW == 0;
    size_t gsz = gemm_packed_a_floats(Og, K);
    for (int g = 0; g < d->groups; g++) {
        const float *in = inp + ((size_t)n * d->C + (size_t)g * Cg) * d->H * d->W;
        float *o = out + ((size_t)n * d->O + (size_t)g * Og) * P;
        struct im2col_src src = {in, d};
        struct gemm_bsrc mat = {in, P, 0};
        gemm_pack_b_fn pack = pointwise ? gemm_pack_b_matrix : pack_b_im2col;
        const void *ctx = pointwise ? (const void *)&mat : (const void *)&src;
        gemm_sgemm_prepacked(Og, P, K, wpack + g * gsz, pack, ctx, 0.0f, o, P, work, nthreads);
    }
    if (bias) add_bias(out + (size_t)n * d->O * P, bias, d->O, (size_t)P);
}

void conv2d_forward_packed(float *out, const float *inp, const float *wpack,
                           const float *weight, const float *bias, const struct conv2d_dims *d,
                           float *scratch, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (is_depthwise(d)) {
        dw_forward(out, inp, weight, bias, d, nthreads);
        return;
    }
    size_t gw = gemm_work_floats();
    if (d->N >= nthreads) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
        for (int n = 0; n < d->N; n++)
            gemm_forward_image(out, inp, wpack, bias, d, n, scratch + (size_t)thread_id() * gw,
                               1);
    } else {
        for (int n = 0; n < d->N; n++)
            gemm_forward_image(out, inp, wpack, bias, d, n, scratch, nthreads);
    }
}

void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                    const struct conv2d_dims *d, float *scratch, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    float *wpack = scratch + threads_floats(d, nthreads) + CONV_DW_CHUNKS * part_floats(d);
    conv2d_pack_weight(wpack, weight, d);
    conv2d_forward_packed(out, inp, wpack, weight, bias, d, scratch, nthreads);
}

int conv2d_uses_wflip(const struct conv2d_dims *d)
{
    /* The flipped-kernel GEMM has only C/g rows: with few input channels its tiles run mostly
     * empty, and on mid-sized maps with 16..127 channels the column matrix + col2im was
     * measured faster (e.g. 64 channels at 16x16: 76 vs 69 GFLOP/s per core). */
    int Cg = d->C / d->groups;
    return !is_depthwise(d) && d->SH == 1 && d->SW == 1 && Cg >= CONV_WFLIP_MIN_C &&
           (Cg >= 128 || d->H * d->W >= 1024);
}

/* Flipped weight [groups][Cg][Og*KH*KW] into the tail of wflip, then packed per group into
 * the head (the GEMM's A operand for dinp_stride1). */
void conv2d_flip_weight(float *wflip, const float *weight, const struct conv2d_dims *d)
{
    if (is_depthwise(d)) return;
    int Cg = d->C / d->groups, Og = d->O / d->groups, khw = d->KH * d->KW, K = Og * khw;
    size_t gsz = gemm_packed_a_floats(Cg, K);
    float *flat = wflip + round16((size_t)d->groups * gsz);
    for (int g = 0; g < d->groups; g++)
        for (int c = 0; c < Cg; c++)
            for (int o = 0; o < Og; o++)
                for (int k = 0; k < khw; k++)
                    flat[(((size_t)g * Cg + c) * Og + o) * khw + k] =
                        weight[(((size_t)g * Og + o) * Cg + c) * khw + khw - 1 - k];
    for (int g = 0; g < d->groups; g++)
        gemm_pack_a_all(0, Cg, K, flat + (size_t)g * Cg * K, K, wflip + g * gsz);
}

/* Stride 1: dX_g [Cg, H*W] += Wflip_g [Cg, Og*KH*KW] * im2col(dY_g, pad K-1-P): the input
 * gradient as the forward conv of dY with the flipped kernel (no column matrix, no col2im). */
static void dinp_stride1(float *dinp, const float *dout, const float *wflip,
                         const struct conv2d_dims *d, float *work, int nt)
{
    int Cg = d->C / d->groups, Og = d->O / d->groups, K = Og * d->KH * d->KW;
    int HW = d->H * d->W;
    struct conv2d_dims t = {1,      Og,     d->OH, d->OW, Cg, d->KH, d->KW, 1, 1,
                            d->KH - 1 - d->PH, d->KW - 1 - d->PW, 1, d->H, d->W};
    int pointwise = d->KH == 1 && d->KW == 1 && d->PH == 0 && d->PW == 0;
    for (int g = 0; g < d->groups; g++) {
        const float *dy = dout + (size_t)g * Og * d->OH * d->OW;
        struct im2col_src src = {dy, &t};
        struct gemm_bsrc mat = {dy, HW, 0};
        gemm_pack_b_fn pack = pointwise ? gemm_pack_b_matrix : pack_b_im2col;
        const void *ctx = pointwise ? (const void *)&mat : (const void *)&src;
        gemm_sgemm_prepacked(Cg, HW, K, wflip + g * gemm_packed_a_floats(Cg, K), pack, ctx,
                             1.0f, dinp + (size_t)g * Cg * HW, HW, work, nt);
    }
}

/* wpart (+)= dW of image inp/dout (first: =), bpart likewise; dinp += dX. Pointers are the
 * image's own; groups handled here. */
void conv2d_backward_image(float *dinp, float *wpart, float *bpart, int first, const float *dout,
                           const float *inp, const float *weight, const float *wflip,
                           const struct conv2d_dims *d, float *scratch, int nt)
{
    if (nt < 1) nt = 1;
    if (is_depthwise(d)) {
        struct conv2d_dims one = *d;
        one.N = 1;
        if (dinp) dw_backward(dinp, NULL, NULL, dout, inp, weight, &one, nt);
        if (!wpart && !bpart) return;
        if (first) {
            if (wpart) memset(wpart, 0, sizeof(float) * wsize(d));
            if (bpart) memset(bpart, 0, sizeof(float) * (size_t)d->O);
        }
        dw_backward(NULL, wpart, bpart, dout, inp, weight, &one, nt);
        return;
    }
    int Cg = d->C / d->groups, Og = d->O / d->groups, K = Cg * d->KH * d->KW;
    int P = d->OH * d->OW;
    float *work = scratch, *col = scratch + (size_t)nt * gemm_work_floats();
    float beta = first ? 0.0f : 1.0f; /* the GEMM adds this image into the partial */
    for (int g = 0; g < d->groups; g++) {
        const float *in = inp + (size_t)g * Cg * d->H * d->W;
        const float *dy = dout + (size_t)g * Og * P;
        if (wpart) {
            struct im2col_src src = {in, d};
            gemm_sgemm_packb_mt(0, Og, K, P, dy, P, pack_b_im2col_t, &src, beta,
                                wpart + (size_t)g * Og * K, K, work, nt);
        }
        if (bpart)
            for (int o = 0; o < Og; o++) {
                float s = 0.0f;
                for (int q = 0; q < P; q++)
                    s += dy[(size_t)o * P + q];
                bpart[g * Og + o] = first ? s : bpart[g * Og + o] + s;
            }
        if (!dinp || wflip) continue;
        gemm_sgemm_mt(1, 0, K, P, Og, weight + (size_t)g * Og * K, K, dy, P, 0.0f, col, P, work,
                      nt);
        float *di = dinp + (size_t)g * Cg * d->H * d->W;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
        for (int c = 0; c < Cg; c++)
            col2im_add(di, col, d, c, c + 1);
    }
    if (dinp && wflip) dinp_stride1(dinp, dout, wflip, d, work, nt);
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, const struct conv2d_dims *d,
                     float *scratch, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    size_t isz = (size_t)d->C * d->H * d->W, osz = (size_t)d->O * d->OH * d->OW;
    size_t one = round16(conv2d_image_scratch_floats(d, 1)), pf = part_floats(d);
    float *parts = scratch + threads_floats(d, nthreads);
    float *wflip = parts + CONV_DW_CHUNKS * pf + conv2d_wpack_floats(d);
    if (dinp && conv2d_uses_wflip(d))
        conv2d_flip_weight(wflip, weight, d);
    else
        wflip = NULL;
    int want = dweight || dbias, G = d->N < CONV_DW_CHUNKS ? d->N : CONV_DW_CHUNKS;
    if (!want) G = d->N; /* no partials: one image per work item */
    if (d->N >= nthreads) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
        for (int g = 0; g < G; g++) {
            float *scr = scratch + (size_t)thread_id() * one, *wp = parts + (size_t)g * pf;
            for (int n = d->N * g / G; n < d->N * (g + 1) / G; n++)
                conv2d_backward_image(dinp ? dinp + n * isz : NULL, dweight ? wp : NULL,
                                      dbias ? wp + wsize(d) : NULL, n == d->N * g / G,
                                      dout + n * osz, inp + n * isz, weight, wflip, d, scr,
                                      1);
        }
    } else {
        for (int g = 0; g < G; g++) {
            float *wp = parts + (size_t)g * pf;
            for (int n = d->N * g / G; n < d->N * (g + 1) / G; n++)
                conv2d_backward_image(dinp ? dinp + n * isz : NULL, dweight ? wp : NULL,
                                      dbias ? wp + wsize(d) : NULL, n == d->N * g / G,
                                      dout + n * osz, inp + n * isz, weight, wflip, d,
                                      scratch, nthreads);
        }
    }
    if (want) conv2d_reduce_parts(dweight, dbias, parts, G, d, nthreads);
}

void conv2d_reduce_parts(float *dweight, float *dbias, const float *parts, int G,
                         const struct conv2d_dims *d, int nthreads)
{
    size_t ws = wsize(d), pf = part_floats(d);
    (void)nthreads;
    if (dweight) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (ws > 65536)
#endif
        for (size_t i = 0; i < ws; i++)
            for (int g = 0; g < G; g++)
                dweight[i] += parts[(size_t)g * pf + i];
    }
    if (dbias)
        for (int o = 0; o < d->O; o++)
            for (int g = 0; g < G; g++)
                dbias[o] += parts[(size_t)g * pf + ws + o];
}

size_t conv2d_part_floats(const struct conv2d_dims *d)
{
    return part_floats(d);
}

/* ---- naive twins --------------------------------------------------------------------- */

void conv2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                          const struct conv2d_dims *d)
{
    int Cg = d->C / d->groups, Og = d->O / d->groups;
    for (int n = 0; n < d->N; n++)
        for (int o = 0; o < d->O; o++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int c = 0; c < Cg; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->SH - d->PH + kh, iw = ow * d->SW - d->PW + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                                int ci = o / Og * Cg + c;
                                s += (double)weight[((o * Cg + c) * d->KH + kh) * d->KW + kw] *
                                     inp[(((size_t)n * d->C + ci) * d->H + ih) * d->W + iw];
                            }
                    out[(((size_t)n * d->O + o) * d->OH + oh) * d->OW + ow] = (float)s;
                }
}

void conv2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const struct conv2d_dims *d)
{
    int Cg = d->C / d->groups, Og = d->O / d->groups;
    for (int n = 0; n < d->N; n++)
        for (int o = 0; o < d->O; o++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    float g = dout[(((size_t)n * d->O + o) * d->OH + oh) * d->OW + ow];
                    if (dbias) dbias[o] += g;
                    for (int c = 0; c < Cg; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->SH - d->PH + kh, iw = ow * d->SW - d->PW + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W) continue;
                                size_t ii = (((size_t)n * d->C + o / Og * Cg + c) * d->H + ih) *
                                                d->W + iw;
                                size_t wi = (((size_t)o * Cg + c) * d->KH + kh) * d->KW + kw;
                                if (dinp) dinp[ii] += weight[wi] * g;
                                if (dweight) dweight[wi] += inp[ii] * g;
                            }
                }
}

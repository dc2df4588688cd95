/* Pure image operations: bilinear resize (PyTorch half-pixel convention), channel conversion,
 * box scaling, mask resize, COCO RLE and polygon rasterisation. See image.h for conventions.
 * Single-threaded on purpose: callers parallelise over images. No I/O, no allocation. */
#include "pipeline/image.h"

#include <math.h>
#include <string.h>

#include "pipeline/err.h"

/* One axis of the half-pixel bilinear sampling: source index pair and weight of i1. */
struct image_tap {
    int i0, i1;
    float w1;
};

static struct image_tap image_tap_at(int dst, int in, int out)
{
    struct image_tap t;
    float scale = (float)in / (float)out;
    float src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    t.i0 = (int)src;
    if (t.i0 > in - 1) t.i0 = in - 1;
    t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
    t.w1 = src - (float)t.i0;
    if (t.i1 == t.i0) t.w1 = 0.0f;
    return t;
}

static float image_lerp2(float a, float b, float c, float d, float wx, float wy)
{
    float top = (1.0f - wx) * a + wx * b;
    float bot = (1.0f - wx) * c + wx * d;
    return (1.0f - wy) * top + wy * bot;
}

/* in [H,W,C] u8 -> out [OH,OW,C] u8 */
void image_resize_bilinear_u8(uint8_t *out, const uint8_t *in, int H, int W, int C, int OH,
                              int OW)
{
    SB_ASSERT(H > 0 && W > 0 && C > 0 && OH > 0 && OW > 0);
    if (H == OH && W == OW) {
        memcpy(out, in, (size_t)H * W * C);
        return;
    }
    for (int oy = 0; oy < OH; oy++) {
        struct image_tap ty = image_tap_at(oy, H, OH);
        const uint8_t *r0 = in + (size_t)ty.i0 * W * C, *r1 = in + (size_t)ty.i1 * W * C;
        for (int ox = 0; ox < OW; ox++) {
            struct image_tap tx = image_tap_at(ox, W, OW);
            uint8_t *o = out + ((size_t)oy * OW + ox) * C;
            for (int c = 0; c < C; c++) {
                float v = image_lerp2(r0[tx.i0 * C + c], r0[tx.i1 * C + c], r1[tx.i0 * C + c],
                                      r1[tx.i1 * C + c], tx.w1, ty.w1);
                float rv = floorf(v + 0.5f);
                o[c] = (uint8_t)(rv < 0.0f ? 0.0f : rv > 255.0f ? 255.0f : rv);
            }
        }
    }
}

/* in [H,W,C] f32 -> out [OH,OW,C] f32 */
void image_resize_bilinear_f32(float *out, const float *in, int H, int W, int C, int OH, int OW)
{
    SB_ASSERT(H > 0 && W > 0 && C > 0 && OH > 0 && OW > 0);
    if (H == OH && W == OW) {
        memcpy(out, in, sizeof(float) * (size_t)H * W * C);
        return;
    }
    for (int oy = 0; oy < OH; oy++) {
        struct image_tap ty = image_tap_at(oy, H, OH);
        const float *r0 = in + (size_t)ty.i0 * W * C, *r1 = in + (size_t)ty.i1 * W * C;
        for (int ox = 0; ox < OW; ox++) {
            struct image_tap tx = image_tap_at(ox, W, OW);
            float *o = out + ((size_t)oy * OW + ox) * C;
            for (int c = 0; c < C; c++)
                o[c] = image_lerp2(r0[tx.i0 * C + c], r0[tx.i1 * C + c], r1[tx.i0 * C + c],
                                   r1[tx.i1 * C + c], tx.w1, ty.w1);
        }
    }
}

/* in [H,W] 0/non-zero -> out [OH,OW] 0/1 */
void image_resize_mask(uint8_t *out, const uint8_t *in, int H, int W, int OH, int OW)
{
    SB_ASSERT(H > 0 && W > 0 && OH > 0 && OW > 0);
    for (int oy = 0; oy < OH; oy++) {
        struct image_tap ty = image_tap_at(oy, H, OH);
        const uint8_t *r0 = in + (size_t)ty.i0 * W, *r1 = in + (size_t)ty.i1 * W;
        for (int ox = 0; ox < OW; ox++) {
            struct image_tap tx = image_tap_at(ox, W, OW);
            float v = image_lerp2(r0[tx.i0] != 0, r0[tx.i1] != 0, r1[tx.i0] != 0,
                                  r1[tx.i1] != 0, tx.w1, ty.w1);
            out[(size_t)oy * OW + ox] = v >= 0.5f;
        }
    }
}

static int image_nearest_index(int dst, int in, int out)
{
    /* floor((dst + 0.5) * in / out) in exact integers: (2*dst + 1) * in / (2 * out). */
    long long s = ((2LL * dst + 1) * in) / (2LL * out);
    return s > in - 1 ? in - 1 : (int)s;
}

/* in [H,W] 0/non-zero -> out [OH,OW] 0/1 */
void image_resize_mask_nearest(uint8_t *out, const uint8_t *in, int H, int W, int OH, int OW)
{
    SB_ASSERT(H > 0 && W > 0 && OH > 0 && OW > 0);
    for (int oy = 0; oy < OH; oy++) {
        const uint8_t *row = in + (size_t)image_nearest_index(oy, H, OH) * W;
        for (int ox = 0; ox < OW; ox++)
            out[(size_t)oy * OW + ox] = row[image_nearest_index(ox, W, OW)] != 0;
    }
}

static uint8_t image_luma(const uint8_t *p)
{
    return (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
}

/* in [n,C] -> out [n,OC], C and OC in 1..4 */
void image_convert_channels(uint8_t *out, int OC, const uint8_t *in, int C, size_t n)
{
    SB_ASSERT(C >= 1 && C <= 4 && OC >= 1 && OC <= 4);
    if (C == OC) {
        if (out != in) memmove(out, in, n * (size_t)C);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = in + i * (size_t)C;
        uint8_t *o = out + i * (size_t)OC;
        uint8_t grey = C >= 3 ? image_luma(p) : p[0];
        if (OC <= 2) {
            o[0] = grey;
        } else if (C >= 3) {
            o[0] = p[0], o[1] = p[1], o[2] = p[2];
        } else {
            o[0] = o[1] = o[2] = grey;
        }
        if (OC == 2 || OC == 4) {
            uint8_t alpha = C == 2 ? p[1] : C == 4 ? p[3] : 255;
            o[OC - 1] = alpha;
        }
    }
}

void image_scale_box(float box[4], int H, int W, int OH, int OW)
{
    SB_ASSERT(H > 0 && W > 0);
    float sx = (float)OW / (float)W, sy = (float)OH / (float)H;
    box[0] *= sx, box[2] *= sx;
    box[1] *= sy, box[3] *= sy;
}

static float image_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int image_clip_box(float box[4], int H, int W)
{
    float old[4];
    memcpy(old, box, sizeof old);
    box[0] = image_clampf(box[0], 0.0f, (float)W);
    box[2] = image_clampf(box[2], 0.0f, (float)W);
    box[1] = image_clampf(box[1], 0.0f, (float)H);
    box[3] = image_clampf(box[3], 0.0f, (float)H);
    return memcmp(old, box, sizeof old) != 0;
}

int image_box_empty(const float box[4])
{
    return !(box[2] > box[0] && box[3] > box[1]);
}

size_t image_mask_box(int box[4], const uint8_t *mask, int H, int W)
{
    int x0 = W, y0 = H, x1 = -1, y1 = -1;
    size_t area = 0;
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            if (!mask[(size_t)y * W + x]) continue;
            area++;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            y1 = y;
        }
    }
    if (area == 0) {
        box[0] = box[1] = box[2] = box[3] = 0;
        return 0;
    }
    box[0] = x0, box[1] = y0, box[2] = x1 + 1, box[3] = y1 + 1;
    return area;
}

/* mask [H,W] row-major -> counts, column-major runs starting with zeros */
size_t image_rle_encode(uint32_t *counts, const uint8_t *mask, int H, int W)
{
    size_t n = 0;
    uint32_t run = 0;
    int cur = 0;
    if ((size_t)H * W == 0) return 0;
    for (int x = 0; x < W; x++) {
        for (int y = 0; y < H; y++) {
            int v = mask[(size_t)y * W + x] != 0;
            if (v != cur) {
                counts[n++] = run;
                run = 0;
                cur = v;
            }
            run++;
        }
    }
    counts[n++] = run;
    return n;
}

int image_rle_decode(uint8_t *mask, const uint32_t *counts, size_t n, int H, int W)
{
    size_t total = (size_t)H * W, pos = 0;
    memset(mask, 0, total);
    for (size_t i = 0; i < n; i++) {
        if (counts[i] > total - pos)
            return err_set("rle counts sum past %d x %d = %zu pixels at count %zu", H, W, total,
                           i);
        if (i % 2 == 1) {
            for (size_t k = pos; k < pos + counts[i]; k++)
                mask[(k % (size_t)H) * W + k / (size_t)H] = 1; /* column-major position k */
        }
        pos += counts[i];
    }
    if (pos != total)
        return err_set("rle counts sum to %zu, not %d x %d = %zu", pos, H, W, total);
    return 0;
}

/* Even-odd scanline fill at pixel centres. Each edge crossing of the row's centre line toggles
 * bit 1 of the first pixel whose centre lies right of the crossing; a sweep then turns the
 * running parity into bit 0. The mask row itself is the scratch, so no allocation. */
size_t image_fill_polygon(uint8_t *mask, int H, int W, const double *xy, int npoints)
{
    size_t set = 0;
    if (npoints < 3 || H <= 0 || W <= 0) return 0;
    for (int y = 0; y < H; y++) {
        double yc = y + 0.5;
        uint8_t *row = mask + (size_t)y * W;
        int any = 0;
        for (int i = 0; i < npoints; i++) {
            int j = i + 1 == npoints ? 0 : i + 1;
            double xa = xy[2 * i], ya = xy[2 * i + 1], xb = xy[2 * j], yb = xy[2 * j + 1];
            if ((ya <= yc) == (yb <= yc)) continue; /* half-open: no double count at vertices */
            double xc = xa + (yc - ya) * (xb - xa) / (yb - ya);
            double first = ceil(xc - 0.5); /* first x with x + 0.5 >= xc */
            if (first >= W) continue;
            row[first < 0 ? 0 : (int)first] ^= 2;
            any = 1;
        }
        if (!any) continue;
        int parity = 0;
        for (int x = 0; x < W; x++) {
            parity ^= (row[x] >> 1) & 1;
            row[x] &= (uint8_t)~2u;
            if (parity) {
                row[x] = 1;
                set++;
            }
        }
    }
    return set;
}

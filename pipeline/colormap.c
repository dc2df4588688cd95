/* Viridis table from a polynomial fit, display normalisation, alpha blending and box outlines
 * for saliency heatmap pictures; see colormap.h. Pure: no allocation, no I/O, no globals. */
#include "pipeline/colormap.h"

#include <math.h>

/* Matt Zucker's least-squares fit of viridis, r/g/b = sum_k c[k] t^k, k = 0..6 (shadertoy
 * "viridis approximation", 2019). Max error vs matplotlib's table: 0.013 (4/255). */
static const double colormap_viridis_coef[7][3] = {
    {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
    {0.1050930431085774, 1.404613529898575, 1.384590162594685},
    {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
    {-4.634230498983486, -5.799100973351585, -19.33244095627987},
    {6.228269936347081, 14.17993336680509, 56.69055662738319},
    {4.776384997670288, -13.74514537774601, -65.35303263337234},
    {-5.435455855934631, 4.645852612178535, 26.3124352495832},
};

static uint8_t colormap_u8(double v)
{
    if (!(v > 0)) return 0;
    if (v >= 255) return 255;
    return (uint8_t)(v + 0.5);
}

void colormap_viridis(uint8_t table[COLORMAP_SIZE * 3])
{
    for (int i = 0; i < COLORMAP_SIZE; i++) {
        double t = i / (double)(COLORMAP_SIZE - 1);
        for (int c = 0; c < 3; c++) {
            double v = 0;
            for (int k = 6; k >= 0; k--) v = v * t + colormap_viridis_coef[k][c]; /* Horner */
            table[3 * i + c] = colormap_u8(v * 255.0);
        }
    }
}

void colormap_normalise(float *out, const float *map, size_t n, enum colormap_norm mode)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = map[i];
        if (isnan(v)) continue;
        if (mode == COLORMAP_NORM_ABSMAX) v = fabsf(v);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    float base = mode == COLORMAP_NORM_MINMAX ? lo : 0.0f;
    float range = hi - base;
    int usable = isfinite(range) && range > 0;
    for (size_t i = 0; i < n; i++) {
        float v = map[i];
        if (!usable || isnan(v)) {
            out[i] = 0.0f;
            continue;
        }
        if (mode == COLORMAP_NORM_ABSMAX) v = fabsf(v);
        if (mode == COLORMAP_NORM_POSMAX && v < 0) v = 0;
        float r = (v - base) / range;
        out[i] = r < 0 ? 0.0f : r > 1 ? 1.0f : r;
    }
}

void colormap_apply(uint8_t *rgb, const float *v, size_t n, const uint8_t *table)
{
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        int idx = !(x > 0) ? 0 : x >= 1 ? COLORMAP_SIZE - 1 : (int)(x * (COLORMAP_SIZE - 1) + 0.5f);
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = table[3 * idx + c];
    }
}

void colormap_blend(uint8_t *out, const uint8_t *image, int channels, const uint8_t *heat,
                    const float *weight, float alpha, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float a = weight ? alpha * weight[i] : alpha;
        a = !(a > 0) ? 0.0f : a > 1 ? 1.0f : a;
        for (int c = 0; c < 3; c++) {
            float base = image[channels == 1 ? i : 3 * i + (size_t)c];
            float v = (1.0f - a) * base + a * heat[3 * i + c];
            out[3 * i + c] = colormap_u8(v);
        }
    }
}

void colormap_overlay(uint8_t *out, const uint8_t *image, int channels, const float *map, int H,
                      int W, const uint8_t *table, float alpha, enum colormap_norm mode,
                      float *scratch)
{
    size_t n = (size_t)H * (size_t)W;
    colormap_normalise(scratch, map, n, mode);
    colormap_apply(out, scratch, n, table);
    colormap_blend(out, image, channels, out, NULL, alpha, n);
}

static void colormap_fill(uint8_t *rgb, int W, int r0, int r1, int c0, int c1,
                          const uint8_t color[3])
{
    for (int r = r0; r <= r1; r++)
        for (int c = c0; c <= c1; c++)
            for (int k = 0; k < 3; k++) rgb[3 * ((size_t)r * W + c) + k] = color[k];
}

void colormap_draw_box(uint8_t *rgb, int H, int W, float x0, float y0, float x1, float y1,
                       const uint8_t color[3], int thickness)
{
    if (!(isfinite(x0) && isfinite(y0) && isfinite(x1) && isfinite(y1)) || thickness < 1) return;
    if (!(x1 > x0 && y1 > y0)) return;
    /* integer pixel extent, before clipping, so a clipped side is not drawn at the edge */
    double fc0 = floor(x0), fc1 = ceil(x1) - 1, fr0 = floor(y0), fr1 = ceil(y1) - 1;
    if (fc1 < 0 || fr1 < 0 || fc0 > W - 1 || fr0 > H - 1) return;
    int c0 = (int)fmax(fc0, -1), c1 = (int)fmin(fc1, W), r0 = (int)fmax(fr0, -1), r1 = (int)fmin(fr1, H);
    int cc0 = c0 < 0 ? 0 : c0, cc1 = c1 > W - 1 ? W - 1 : c1;
    int rr0 = r0 < 0 ? 0 : r0, rr1 = r1 > H - 1 ? H - 1 : r1;
    int t = thickness;
    if (r0 >= 0) colormap_fill(rgb, W, r0, r0 + t - 1 < rr1 ? r0 + t - 1 : rr1, cc0, cc1, color);
    if (r1 <= H - 1) colormap_fill(rgb, W, r1 - t + 1 > rr0 ? r1 - t + 1 : rr0, r1, cc0, cc1, color);
    if (c0 >= 0) colormap_fill(rgb, W, rr0, rr1, c0, c0 + t - 1 < cc1 ? c0 + t - 1 : cc1, color);
    if (c1 <= W - 1) colormap_fill(rgb, W, rr0, rr1, c1 - t + 1 > cc0 ? c1 - t + 1 : cc0, c1, color);
}

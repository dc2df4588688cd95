/* Heatmap pictures of saliency maps: the viridis colour map as a 256-entry RGB table, map
 * normalisation for display, alpha blending of the coloured map over the input image, and box
 * outlines. Pure computation on caller-owned buffers (no allocation, no I/O); PNG encoding is
 * formats/pngio's job. Images are HWC uint8, row-major, channels 1 (grey) or 3 (RGB).
 *
 * Typical export of one sample:
 *     uint8_t table[COLORMAP_SIZE * 3];
 *     colormap_viridis(table);
 *     colormap_overlay(out_rgb, input, C, map, H, W, table, 0.5f, COLORMAP_NORM_MINMAX, scratch);
 *     colormap_draw_box(out_rgb, H, W, x0, y0, x1, y1, COLORMAP_RED, 1);
 * where scratch holds H*W floats. */
#ifndef SALBENCH_COLORMAP_H
#define SALBENCH_COLORMAP_H

#include <stddef.h>
#include <stdint.h>

#define COLORMAP_SIZE 256

/* Box colours (Armory's ObjectDetectionExporter draws ground truth red). */
#define COLORMAP_RED ((const uint8_t[3]){255, 0, 0})
#define COLORMAP_WHITE ((const uint8_t[3]){255, 255, 255})

/* How a map is brought to [0, 1] for display. NaN pixels become 0; a constant map (or one
 * with nothing to scale, e.g. all <= 0 under POSMAX) becomes all 0. */
enum colormap_norm {
    COLORMAP_NORM_MINMAX = 1, /* (v - min) / (max - min) */
    COLORMAP_NORM_ABSMAX,     /* |v| / max|v| (signed maps shown by magnitude) */
    COLORMAP_NORM_POSMAX,     /* max(v, 0) / max(v) (positive evidence only) */
};

/* table[3*i + c], i = 0..255: viridis (matplotlib's default map, perceptually uniform, lightness
 * increasing, readable in grey and by colour-blind readers), evaluated from Matt Zucker's
 * degree-6 polynomial fit (shadertoy "viridis approximation", 2019; within 4/255 of matplotlib's
 * table) at t = i/255, rounded to 8 bits. */
void colormap_viridis(uint8_t table[COLORMAP_SIZE * 3]);

/* out[n] = normalised map[n] in [0, 1]. out may equal map. */
void colormap_normalise(float *out, const float *map, size_t n, enum colormap_norm mode);

/* rgb[n, 3] = table[round(clamp(v, 0, 1) * 255)]; NaN -> entry 0. */
void colormap_apply(uint8_t *rgb, const float *v, size_t n, const uint8_t *table);

/* out[n, 3] = round((1 - a) * image + a * heat) per channel, image with `channels` 1 (grey,
 * replicated) or 3. a = alpha, or alpha * weight[i] when weight is non-NULL (weights in
 * [0, 1], so low saliency lets the input show through). out may equal heat. */
void colormap_blend(uint8_t *out, const uint8_t *image, int channels, const uint8_t *heat,
                    const float *weight, float alpha, size_t n);

/* The whole overlay: normalise map[H, W] into scratch[H*W], colour it, blend it over
 * image[H, W, channels] with constant alpha into out[H, W, 3]. */
void colormap_overlay(uint8_t *out, const uint8_t *image, int channels, const float *map, int H,
                      int W, const uint8_t *table, float alpha, enum colormap_norm mode,
                      float *scratch);

/* Outline of the box [x0, x1) x [y0, y1) in pixel coordinates (x right, y down, as the
 * objects table stores them), `thickness` pixels drawn inward, clipped to the image:
 * columns floor(x0) .. ceil(x1) - 1, rows floor(y0) .. ceil(y1) - 1. Empty, inverted,
 * non-finite or fully outside boxes draw nothing. rgb is [H, W, 3]. */
void colormap_draw_box(uint8_t *rgb, int H, int W, float x0, float y0, float x1, float y1,
                       const uint8_t color[3], int thickness);

#endif

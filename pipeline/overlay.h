/* Pictures of one exported sample (bin/export): the model input upscaled by whole pixels, and a
 * saliency heatmap blended over it with the ground-truth boxes drawn. Built on pipeline/colormap
 * (viridis, normalisation, blending, box outlines); this module adds the upscaling, the box
 * geometry at the upscaled size and the order of the steps. Pure: caller-owned buffers, no
 * allocation, no I/O (PNG encoding is formats/pngio's job). Images are HWC uint8, row-major.
 *
 *     struct overlay_style st;
 *     overlay_style_init(&st, table, overlay_default_scale(H, W, 256));
 *     overlay_upscale(input_out, image, H, W, C, st.scale);                    // input.png
 *     overlay_render(heat_out, image, C, map, H, W, &st, boxes, nbox, scratch, small);
 */
#ifndef SALBENCH_OVERLAY_H
#define SALBENCH_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/colormap.h"

/* Largest upscale factor (a 64x64 input becomes 1024x1024). */
#define OVERLAY_MAX_SCALE 16

/* A box [x0, x1) x [y0, y1) in input pixels (the objects table's convention). */
struct overlay_box {
    float x0, y0, x1, y1;
};

struct overlay_style {
    const uint8_t *table;     /* COLORMAP_SIZE * 3 colours (colormap_viridis) */
    int scale;                /* 1..OVERLAY_MAX_SCALE: each input pixel becomes scale x scale */
    float alpha;              /* heat opacity in [0, 1] */
    enum colormap_norm norm;  /* how the map is brought to [0, 1] */
    int weighted;             /* 1: opacity alpha * normalised value (low saliency shows the
                                 input untouched); 0: constant alpha everywhere */
    uint8_t box_color[3];
    int box_thickness;        /* output pixels; 0 draws no boxes */
};

/* Defaults: alpha 0.5, COLORMAP_NORM_ABSMAX, constant alpha, red boxes of
 * overlay_box_thickness(scale) pixels. */
void overlay_style_init(struct overlay_style *st, const uint8_t *table, int scale);

/* Smallest whole factor that makes the longer side >= min_side, clamped to
 * [1, OVERLAY_MAX_SCALE] (64x64 and 256 -> 4; 300x200 -> 1). */
int overlay_default_scale(int H, int W, int min_side);

/* Box outline width at a scale: 1 up to scale 2, 2 up to 5, then 3 (Armory draws 2). */
int overlay_box_thickness(int scale);

/* out[H*s, W*s, C] = in[H, W, C] with every pixel repeated s x s (nearest neighbour, so the
 * picture shows exactly the pixels the model saw). */
void overlay_upscale(uint8_t *out, const uint8_t *in, int H, int W, int C, int s);

/* 1 when every map value is finite, else 0 (*first = index of the first other value). */
int overlay_map_finite(const float *map, size_t n, size_t *first);

/* The heatmap picture out[H*s, W*s, 3] of map[H, W] over image[H, W, C] (C 1 or 3): normalise
 * (st->norm) into scratch[H*W], colour with st->table, blend over the image at input
 * resolution into small[H*W*3], upscale by st->scale, then outline each box scaled to the
 * output. Boxes that are empty or outside the image draw nothing. */
void overlay_render(uint8_t *out, const uint8_t *image, int C, const float *map, int H, int W,
                    const struct overlay_style *st, const struct overlay_box *boxes, int nbox,
                    float *scratch, uint8_t *small);

#endif

/* Upscaled input and heatmap-over-input pictures with box outlines; see overlay.h. Pure: no
 * allocation, no I/O, no globals. */
#include "pipeline/overlay.h"

#include <math.h>
#include <string.h>

void overlay_style_init(struct overlay_style *st, const uint8_t *table, int scale)
{
    memset(st, 0, sizeof *st);
    st->table = table;
    st->scale = scale;
    st->alpha = 0.5f;
    st->norm = COLORMAP_NORM_ABSMAX;
    memcpy(st->box_color, COLORMAP_RED, 3);
    st->box_thickness = overlay_box_thickness(scale);
}

int overlay_default_scale(int H, int W, int min_side)
{
    int side = H > W ? H : W;
    if (side < 1) return 1;
    int s = (min_side + side - 1) / side;
    return s < 1 ? 1 : s > OVERLAY_MAX_SCALE ? OVERLAY_MAX_SCALE : s;
}

int overlay_box_thickness(int scale)
{
    return scale <= 2 ? 1 : scale <= 5 ? 2 : 3;
}

void overlay_upscale(uint8_t *out, const uint8_t *in, int H, int W, int C, int s)
{
    const size_t orow = (size_t)W * s * C; /* bytes of one output row */
    for (int y = 0; y < H; y++) {
        uint8_t *o = out + (size_t)y * s * orow;
        const uint8_t *i = in + (size_t)y * W * C;
        for (int x = 0; x < W; x++)
            for (int r = 0; r < s; r++)
                memcpy(o + ((size_t)x * s + r) * C, i + (size_t)x * C, (size_t)C);
        for (int r = 1; r < s; r++) /* the other s - 1 rows repeat the first */
            memcpy(o + (size_t)r * orow, o, orow);
    }
}

int overlay_map_finite(const float *map, size_t n, size_t *first)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(map[i])) {
            if (first) *first = i;
            return 0;
        }
    return 1;
}

void overlay_render(uint8_t *out, const uint8_t *image, int C, const float *map, int H, int W,
                    const struct overlay_style *st, const struct overlay_box *boxes, int nbox,
                    float *scratch, uint8_t *small)
{
    const size_t n = (size_t)H * W;
    const int s = st->scale;
    colormap_normalise(scratch, map, n, st->norm);
    colormap_apply(small, scratch, n, st->table);
    colormap_blend(small, image, C, small, st->weighted ? scratch : NULL, st->alpha, n);
    overlay_upscale(out, small, H, W, 3, s);
    for (int b = 0; b < nbox && st->box_thickness > 0; b++)
        colormap_draw_box(out, H * s, W * s, boxes[b].x0 * s, boxes[b].y0 * s, boxes[b].x1 * s,
                          boxes[b].y1 * s, st->box_color, st->box_thickness);
}

/* Tests of pipeline/overlay: the default scale and box width, nearest-neighbour upscaling
 * (every output pixel is its source pixel, grey and RGB), the finite-map check, and the
 * rendered heatmap against a naive composition of colormap's steps: weighted blending leaves
 * zero-saliency pixels exactly the input, boxes land on the scaled outline only. */
#include "pipeline/overlay.h"
#include "tests/check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void test_scale(void)
{
    CHECK(overlay_default_scale(64, 64, 256) == 4 && overlay_default_scale(48, 48, 256) == 6 &&
              overlay_default_scale(300, 200, 256) == 1 && overlay_default_scale(8, 8, 256) == 16 &&
              overlay_default_scale(28, 56, 256) == 5 && overlay_default_scale(0, 0, 256) == 1,
          "overlay_default_scale", "64:%d 48:%d 300x200:%d 8:%d 28x56:%d",
          overlay_default_scale(64, 64, 256), overlay_default_scale(48, 48, 256),
          overlay_default_scale(300, 200, 256), overlay_default_scale(8, 8, 256),
          overlay_default_scale(28, 56, 256));
    CHECK(overlay_box_thickness(1) == 1 && overlay_box_thickness(2) == 1 &&
              overlay_box_thickness(4) == 2 && overlay_box_thickness(16) == 3,
          "overlay_box_thickness", "%d %d %d", overlay_box_thickness(1), overlay_box_thickness(4),
          overlay_box_thickness(16));
}

static void test_upscale(void)
{
    enum { H = 2, W = 3, S = 3 };
    uint8_t in[H * W * 3], out[H * S * W * S * 3], grey[H * W], gout[H * S * W * S];
    for (int i = 0; i < H * W * 3; i++) in[i] = (uint8_t)(7 * i + 1);
    for (int i = 0; i < H * W; i++) grey[i] = (uint8_t)(30 * i + 5);
    memset(out, 0, sizeof out);
    overlay_upscale(out, in, H, W, 3, S);
    overlay_upscale(gout, grey, H, W, 1, S);
    int bad = 0;
    for (int y = 0; y < H * S; y++)
        for (int x = 0; x < W * S; x++) {
            for (int c = 0; c < 3; c++)
                bad += out[(y * W * S + x) * 3 + c] != in[((y / S) * W + x / S) * 3 + c];
            bad += gout[y * W * S + x] != grey[(y / S) * W + x / S];
        }
    CHECK(bad == 0, "overlay_upscale_nearest", "%d pixels differ", bad);
    uint8_t same[H * W * 3];
    overlay_upscale(same, in, H, W, 3, 1);
    CHECK(memcmp(same, in, sizeof in) == 0, "overlay_upscale_scale1_identity", "differs");
}

static void test_finite(void)
{
    float m[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    size_t at = 99;
    int ok = overlay_map_finite(m, 8, &at);
    m[5] = NAN;
    int nan_found = !overlay_map_finite(m, 8, &at) && at == 5;
    m[5] = 0, m[2] = -INFINITY;
    int inf_found = !overlay_map_finite(m, 8, &at) && at == 2;
    CHECK(ok && nan_found && inf_found, "overlay_map_finite", "ok %d nan %d inf %d", ok,
          nan_found, inf_found);
}

static int is_red(const uint8_t *p)
{
    return p[0] == 255 && p[1] == 0 && p[2] == 0;
}

static void test_render(void)
{
    enum { H = 6, W = 5, S = 2, HS = H * S, WS = W * S };
    uint8_t table[COLORMAP_SIZE * 3], img[H * W * 3], out[HS * WS * 3], small[H * W * 3];
    uint8_t ref[H * W * 3];
    float map[H * W], scratch[H * W];
    colormap_viridis(table);
    for (int i = 0; i < H * W * 3; i++) img[i] = (uint8_t)(40 + (i * 13) % 150);
    memset(map, 0, sizeof map);
    map[2 * W + 3] = 4.0f; /* one hot pixel at (x 3, y 2) */
    map[4 * W + 1] = -2.0f; /* a negative one: |v| under absmax, 0 under posmax */
    struct overlay_style st;
    overlay_style_init(&st, table, S);
    st.weighted = 1;
    st.box_thickness = 0;
    overlay_render(out, img, 3, map, H, W, &st, NULL, 0, scratch, small);
    int same_cold = 1, hot_differs = 0, neg_differs = 0;
    for (int y = 0; y < HS; y++)
        for (int x = 0; x < WS; x++) {
            int src = (y / S) * W + x / S;
            int diff = memcmp(out + (y * WS + x) * 3, img + src * 3, 3) != 0;
            if (src == 2 * W + 3) hot_differs += diff;
            else if (src == 4 * W + 1) neg_differs += diff;
            else if (diff) same_cold = 0;
        }
    CHECK(same_cold && hot_differs == S * S && neg_differs == S * S,
          "overlay_render_weighted_only_salient_pixels", "cold same %d, hot %d, negative %d",
          same_cold, hot_differs, neg_differs);
    st.norm = COLORMAP_NORM_POSMAX;
    overlay_render(out, img, 3, map, H, W, &st, NULL, 0, scratch, small);
    CHECK(memcmp(out + ((4 * S) * WS + 1 * S) * 3, img + (4 * W + 1) * 3, 3) == 0,
          "overlay_render_posmax_drops_negative", "negative pixel coloured");

    /* constant alpha: the picture is colormap_overlay at input size, upscaled */
    st.weighted = 0, st.norm = COLORMAP_NORM_MINMAX, st.alpha = 0.7f;
    overlay_render(out, img, 3, map, H, W, &st, NULL, 0, scratch, small);
    colormap_overlay(ref, img, 3, map, H, W, table, 0.7f, COLORMAP_NORM_MINMAX, scratch);
    int bad = 0;
    for (int y = 0; y < HS; y++)
        for (int x = 0; x < WS; x++)
            bad += memcmp(out + (y * WS + x) * 3, ref + ((y / S) * W + x / S) * 3, 3) != 0;
    CHECK(bad == 0, "overlay_render_constant_is_upscaled_colormap_overlay", "%d differ", bad);

    /* grey input: replicated into the three channels */
    uint8_t g[H * W];
    for (int i = 0; i < H * W; i++) g[i] = (uint8_t)(i * 7);
    st.alpha = 0;
    overlay_render(out, g, 1, map, H, W, &st, NULL, 0, scratch, small);
    int gbad = 0;
    for (int y = 0; y < HS; y++)
        for (int x = 0; x < WS; x++)
            for (int c = 0; c < 3; c++)
                gbad += out[(y * WS + x) * 3 + c] != g[(y / S) * W + x / S];
    CHECK(gbad == 0, "overlay_render_grey_alpha0_is_input", "%d differ", gbad);

    /* a box [1, 3) x [2, 5) in input pixels is the outline of output columns 2..5, rows 4..9 */
    struct overlay_box box = {1, 2, 3, 5};
    st.box_thickness = 1, st.alpha = 0.5f;
    overlay_render(out, img, 3, map, H, W, &st, &box, 1, scratch, small);
    int on = 0, off = 0;
    for (int y = 0; y < HS; y++)
        for (int x = 0; x < WS; x++) {
            int inside = x >= 2 && x <= 5 && y >= 4 && y <= 9;
            int edge = inside && (x == 2 || x == 5 || y == 4 || y == 9);
            int red = is_red(out + (y * WS + x) * 3);
            on += edge && red;
            off += !edge && red;
        }
    CHECK(on == 2 * 4 + 2 * 4 && off == 0, "overlay_render_box_scaled_outline",
          "%d outline pixels red (want 16), %d others red", on, off);
    struct overlay_box outside = {10, 10, 12, 12}, empty = {3, 3, 3, 4};
    overlay_render(out, img, 3, map, H, W, &st, &outside, 1, scratch, small);
    int any = 0;
    for (int i = 0; i < HS * WS; i++) any += is_red(out + i * 3);
    overlay_render(out, img, 3, map, H, W, &st, &empty, 1, scratch, small);
    for (int i = 0; i < HS * WS; i++) any += is_red(out + i * 3);
    CHECK(any == 0, "overlay_render_box_outside_or_empty", "%d red pixels", any);
}

int main(void)
{
    test_scale();
    test_upscale();
    test_finite();
    test_render();
    return check_summary();
}

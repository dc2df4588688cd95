/* Tests for pipeline/image: bilinear resize against PyTorch values (F.interpolate, bilinear,
 * align_corners=False, printed once and pasted below), hand-computed masks, RLE round trips
 * with the pycocotools column-major order, polygon fill at pixel centres, boxes. */
#include <stdint.h>
#include <string.h>

#include "pipeline/image.h"
#include "pipeline/rng.h"
#include "tests/check.h"

/* x = (arange(15) * 7 % 11).reshape(3, 5) */
static const float resize_in[15] = {0, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0, 7, 3, 10};
/* F.interpolate(x, size=(4, 3), mode="bilinear", align_corners=False) */
static const float resize_4x3[12] = {2.33333325f, 3.00000024f, 7.33333397f, 3.58333325f,
                                     4.25f,       6.29166651f, 3.70833325f, 5.75f,
                                     6.41666603f, 2.66666675f, 6.99999952f, 7.66666603f};
/* size=(7, 8) */
static const float resize_7x8[56] = {
    0.f,         3.0625f,     6.75f,       4.25f,       5.1875f,     9.5625f,     7.75f,
    6.f,         0.285714298f, 3.34821439f, 7.03571463f, 4.53571415f, 4.98214293f, 8.375f,
    7.34821415f, 6.28571463f, 1.14285719f, 4.20535707f, 7.89285755f, 5.39285707f, 4.36607122f,
    4.8125f,     6.14285707f, 7.14285707f, 2.f,         5.0625f,     8.75f,       6.25f,
    3.75f,       1.25f,       4.9375f,     8.f,         2.85714293f, 3.85714269f, 5.1875f,
    5.6339283f,  4.60714293f, 2.10714293f, 5.79464293f, 8.8571434f,  3.71428585f, 2.65178561f,
    1.625f,      5.01785707f, 5.46428585f, 2.96428585f, 6.65178585f, 9.71428585f, 4.f,
    2.25f,       0.4375f,     4.8125f,     5.75f,       3.25f,       6.9375f,     10.f};
/* uint8 HWC [4,4,3] = (arange(48).reshape(3,4,4) * 37 % 256) permuted, resized to (3, 5) in
 * float by PyTorch and rounded with floor(v + 0.5). */
static const uint8_t resize_u8_in[48] = {
    0,   80,  160, 37,  117, 197, 74,  154, 234, 111, 191, 15,  148, 228, 52,  185,
    9,   89,  222, 46,  126, 3,   83,  163, 40,  120, 200, 77,  157, 237, 114, 194,
    18,  151, 231, 55,  188, 12,  92,  225, 49,  129, 6,   86,  166, 43,  123, 203};
static const uint8_t resize_u8_out[45] = {
    25,  105, 142, 51,  101, 168, 80,  118, 198, 97, 147, 163, 93,  173, 40,
    94,  174, 126, 120, 110, 152, 149, 102, 118, 141, 131, 83, 77,  157, 109,
    163, 30,  110, 189, 56,  136, 112, 85,  144, 35, 115, 152, 61,  141, 178};

static void test_resize(void)
{
    float out[56];
    image_resize_bilinear_f32(out, resize_in, 3, 5, 1, 4, 3);
    check_close("image_resize_f32_down_vs_torch", out, resize_4x3, 12, 1e-5, 1e-5);
    image_resize_bilinear_f32(out, resize_in, 3, 5, 1, 7, 8);
    check_close("image_resize_f32_up_vs_torch", out, resize_7x8, 56, 1e-5, 1e-5);

    /* PyTorch's float value at [21] is 149.49998 where ours is 149.5 (FMA contraction), so the
     * u8 comparison allows 1 step at near-halves; the u8 path must equal our f32 path rounded. */
    uint8_t o8[45];
    float in32[48], o32[45];
    int maxd = 0, rounded_ok = 1;
    for (int i = 0; i < 48; i++) in32[i] = resize_u8_in[i];
    image_resize_bilinear_u8(o8, resize_u8_in, 4, 4, 3, 3, 5);
    image_resize_bilinear_f32(o32, in32, 4, 4, 3, 3, 5);
    for (int i = 0; i < 45; i++) {
        int d = abs((int)o8[i] - (int)resize_u8_out[i]);
        maxd = d > maxd ? d : maxd;
        rounded_ok &= o8[i] == (uint8_t)floorf(o32[i] + 0.5f);
    }
    CHECK(maxd <= 1, "image_resize_u8_vs_torch_rounded", "max diff %d", maxd);
    CHECK(rounded_ok, "image_resize_u8_is_f32_rounded", "differs");

    /* hand: row [0, 100] to 4 wide is [0, 25, 75, 100]; 4 to 2 averages pairs */
    const uint8_t row[2] = {0, 100}, quad[4] = {10, 20, 31, 40};
    uint8_t up[4], down[2];
    image_resize_bilinear_u8(up, row, 1, 2, 1, 1, 4);
    CHECK(up[0] == 0 && up[1] == 25 && up[2] == 75 && up[3] == 100, "image_resize_u8_hand_up",
          "%d %d %d %d", up[0], up[1], up[2], up[3]);
    image_resize_bilinear_u8(down, quad, 1, 4, 1, 1, 2);
    CHECK(down[0] == 15 && down[1] == 36, "image_resize_u8_hand_down_round_half_up", "%d %d",
          down[0], down[1]);

    uint8_t same[48];
    image_resize_bilinear_u8(same, resize_u8_in, 4, 4, 3, 4, 4);
    CHECK(memcmp(same, resize_u8_in, 48) == 0, "image_resize_u8_identity", "differs");
}

static void test_mask_resize(void)
{
    /* 2x2 checker -> 4x4: bilinear+threshold and nearest-exact both give 2x2 blocks */
    const uint8_t m[4] = {1, 0, 0, 1};
    const uint8_t expect[16] = {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1};
    uint8_t out[16];
    image_resize_mask(out, m, 2, 2, 4, 4);
    CHECK(memcmp(out, expect, 16) == 0, "image_resize_mask_bilinear_up", "differs");
    image_resize_mask_nearest(out, m, 2, 2, 4, 4);
    CHECK(memcmp(out, expect, 16) == 0, "image_resize_mask_nearest_up", "differs");
    /* 1x4 [0,1,1,0] -> 1x2: bilinear samples at 0.5 and 2.5 -> 0.5, 0.5 -> both 1 (>= 0.5) */
    const uint8_t line[4] = {0, 255, 1, 0};
    uint8_t two[2];
    image_resize_mask(two, line, 1, 4, 1, 2);
    CHECK(two[0] == 1 && two[1] == 1, "image_resize_mask_threshold_half", "%d %d", two[0],
          two[1]);
    /* nearest-exact 4 -> 2 picks src 1 and 3 */
    image_resize_mask_nearest(two, line, 1, 4, 1, 2);
    CHECK(two[0] == 1 && two[1] == 0, "image_resize_mask_nearest_down", "%d %d", two[0], two[1]);
}

static void test_channels(void)
{
    const uint8_t rgba[8] = {255, 0, 0, 7, 10, 20, 30, 0};
    uint8_t out[8];
    image_convert_channels(out, 3, rgba, 4, 2);
    CHECK(memcmp(out, (uint8_t[]){255, 0, 0, 10, 20, 30}, 6) == 0, "image_convert_rgba_rgb_drop",
          "differs");
    image_convert_channels(out, 1, rgba, 4, 2);
    /* (299*255 + 500)/1000 = 76; (2990 + 11740 + 3420 + 500)/1000 = 18 */
    CHECK(out[0] == 76 && out[1] == 18, "image_convert_rgb_grey_bt601", "%d %d", out[0], out[1]);
    const uint8_t ga[4] = {9, 100, 200, 0};
    image_convert_channels(out, 3, ga, 2, 2);
    CHECK(memcmp(out, (uint8_t[]){9, 9, 9, 200, 200, 200}, 6) == 0, "image_convert_ga_rgb",
          "differs");
    image_convert_channels(out, 4, (const uint8_t[]){5}, 1, 1);
    CHECK(memcmp(out, (uint8_t[]){5, 5, 5, 255}, 4) == 0, "image_convert_grey_rgba", "differs");
}

static void test_boxes(void)
{
    float b[4] = {10, 20, 30, 40};
    image_scale_box(b, 100, 200, 50, 50);
    CHECK(b[0] == 2.5f && b[1] == 10 && b[2] == 7.5f && b[3] == 20, "image_scale_box",
          "%g %g %g %g", b[0], b[1], b[2], b[3]);
    float c[4] = {-5, 3, 70, 9};
    int changed = image_clip_box(c, 10, 64);
    CHECK(changed && c[0] == 0 && c[2] == 64 && c[1] == 3 && c[3] == 9, "image_clip_box",
          "%g %g %g %g", c[0], c[1], c[2], c[3]);
    float d[4] = {70, 3, 80, 9};
    image_clip_box(d, 10, 64);
    CHECK(image_box_empty(d) && !image_box_empty(c), "image_box_empty_after_clip", "wrong");

    uint8_t m[5 * 6] = {0};
    int box[4];
    CHECK(image_mask_box(box, m, 5, 6) == 0 && box[2] == 0, "image_mask_box_empty", "wrong");
    m[1 * 6 + 2] = m[3 * 6 + 4] = m[2 * 6 + 3] = 1;
    size_t area = image_mask_box(box, m, 5, 6);
    CHECK(area == 3 && box[0] == 2 && box[1] == 1 && box[2] == 5 && box[3] == 4,
          "image_mask_box_tight", "area %zu box %d %d %d %d", area, box[0], box[1], box[2],
          box[3]);
}

static void test_rle(void)
{
    /* 3x2 mask (row-major) [[0,1],[1,1],[0,0]]: column 0 = 0,1,0; column 1 = 1,1,0 ->
     * column-major 0 1 0 1 1 0 -> counts 1,1,1,2,1 */
    const uint8_t m[6] = {0, 1, 1, 1, 0, 0};
    uint32_t counts[7];
    size_t n = image_rle_encode(counts, m, 3, 2);
    CHECK(n == 5 && counts[0] == 1 && counts[1] == 1 && counts[2] == 1 && counts[3] == 2 &&
              counts[4] == 1,
          "image_rle_encode_column_major", "n %zu: %u %u %u", n, counts[0], counts[1], counts[2]);
    const uint8_t ones[4] = {1, 1, 1, 1};
    n = image_rle_encode(counts, ones, 2, 2);
    CHECK(n == 2 && counts[0] == 0 && counts[1] == 4, "image_rle_encode_leading_zero_run",
          "n %zu", n);
    uint8_t back[6];
    CHECK(image_rle_decode(back, (const uint32_t[]){1, 1, 1, 2, 1}, 5, 3, 2) == 0 &&
              memcmp(back, m, 6) == 0,
          "image_rle_decode_hand", "differs");
    CHECK(image_rle_decode(back, (const uint32_t[]){1, 1, 1, 2}, 4, 3, 2) == -1,
          "image_rle_decode_short_sum", "accepted");
    CHECK(image_rle_decode(back, (const uint32_t[]){1, 1, 9}, 3, 3, 2) == -1,
          "image_rle_decode_overrun", "accepted");

    /* random round trips */
    int ok = 1;
    uint8_t rm[13 * 17], dm[13 * 17];
    uint32_t rc[13 * 17 + 1];
    for (uint32_t t = 0; t < 50 && ok; t++) {
        struct rng r;
        rng_init(&r, 1, t, RNG_NOISE);
        for (int i = 0; i < 13 * 17; i++) rm[i] = rng_uniform(&r) < 0.3f * (t % 4);
        size_t k = image_rle_encode(rc, rm, 13, 17);
        ok = image_rle_decode(dm, rc, k, 13, 17) == 0 && memcmp(dm, rm, sizeof rm) == 0;
    }
    CHECK(ok, "image_rle_random_round_trip", "mismatch");
}

static void test_polygon(void)
{
    /* square with corners (1,1)-(4,3): centres x+0.5 in (1,4) -> x = 1..3; y = 1..2 */
    uint8_t m[5 * 6] = {0};
    const double sq[8] = {1, 1, 4, 1, 4, 3, 1, 3};
    size_t set = image_fill_polygon(m, 5, 6, sq, 4);
    int box[4];
    size_t area = image_mask_box(box, m, 5, 6);
    CHECK(set == 6 && area == 6 && box[0] == 1 && box[1] == 1 && box[2] == 4 && box[3] == 3,
          "image_polygon_axis_square", "set %zu area %zu box %d %d %d %d", set, area, box[0],
          box[1], box[2], box[3]);

    /* right triangle (0,0),(4,0),(0,4): centre (x+.5, y+.5) inside when x + y + 1 < 4 */
    uint8_t t[4 * 4] = {0};
    image_fill_polygon(t, 4, 4, (const double[]){0, 0, 4, 0, 0, 4}, 3);
    int ok = 1;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) ok &= t[y * 4 + x] == (x + y + 1 < 4);
    CHECK(ok, "image_polygon_triangle_centres", "wrong pixels");

    /* even-odd: a self-overlapping bow tie and a polygon leaving the image */
    uint8_t e[8 * 8] = {0};
    image_fill_polygon(e, 8, 8, (const double[]){-3, -3, 20, -3, 20, 2, -3, 2}, 4);
    area = image_mask_box(box, e, 8, 8);
    CHECK(area == 16 && box[0] == 0 && box[2] == 8 && box[3] == 2, "image_polygon_clipped",
          "area %zu", area);
    uint8_t u[4 * 4] = {0};
    image_fill_polygon(u, 4, 4, (const double[]){0, 0, 2, 0, 2, 2, 0, 2}, 4);
    image_fill_polygon(u, 4, 4, (const double[]){1, 1, 3, 1, 3, 3, 1, 3}, 4);
    CHECK(image_mask_box(box, u, 4, 4) == 7, "image_polygon_union_of_two", "wrong area");
    CHECK(image_fill_polygon(u, 4, 4, sq, 2) == 0, "image_polygon_degenerate", "drew");
}

int main(void)
{
    test_resize();
    test_mask_resize();
    test_channels();
    test_boxes();
    test_rle();
    test_polygon();
    return check_summary();
}

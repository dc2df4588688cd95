/* Tests of pipeline/colormap: the viridis table against matplotlib's published table and for
 * its defining property (lightness increases), normalisation edge cases, blending arithmetic
 * and box outlines (clipping, thickness, degenerate boxes). */
#include "pipeline/colormap.h"
#include "tests/check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* CIE L* of an 8-bit sRGB colour (IEC 61966-2-1 transfer, Rec. 709 luminance, CIE 1976). */
static double lightness(const uint8_t *rgb)
{
    static const double w[3] = {0.2126, 0.7152, 0.0722};
    double y = 0;
    for (int c = 0; c < 3; c++) {
        double v = rgb[c] / 255.0;
        y += w[c] * (v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4));
    }
    return y > 216.0 / 24389 ? 116 * cbrt(y) - 16 : y * 24389 / 27;
}

static void test_viridis(void)
{
    uint8_t t[COLORMAP_SIZE * 3];
    colormap_viridis(t);
    /* matplotlib 3.6 _cm_listed._viridis_data entries 0, 64, 128, 192, 255 (floats in [0,1]). */
    static const struct { int i; double rgb[3]; } ref[] = {
        {0, {0.267004, 0.004874, 0.329415}},   {64, {0.229739, 0.322361, 0.545706}},
        {128, {0.127568, 0.566949, 0.550556}}, {192, {0.369214, 0.788888, 0.382914}},
        {255, {0.993248, 0.906157, 0.143936}}};
    double worst = 0;
    for (size_t k = 0; k < sizeof ref / sizeof *ref; k++)
        for (int c = 0; c < 3; c++) {
            double d = fabs(t[3 * ref[k].i + c] / 255.0 - ref[k].rgb[c]);
            if (d > worst) worst = d;
        }
    CHECK(worst <= 4.5 / 255, "colormap_viridis_reference", "max diff %.4f > 4.5/255", worst);
    double minstep = 1e9, min4 = 1e9;
    for (int i = 1; i < COLORMAP_SIZE; i++) {
        double d = lightness(t + 3 * i) - lightness(t + 3 * (i - 1));
        if (d < minstep) minstep = d;
        if (i % 4 == 0) {
            double d4 = lightness(t + 3 * i) - lightness(t + 3 * (i - 4));
            if (d4 < min4) min4 = d4;
        }
    }
    /* 8-bit rounding allows tiny reversals between neighbours, never over 4 entries */
    CHECK(minstep > -0.05 && min4 > 0.5, "colormap_viridis_lightness_increasing",
          "min step %.3f, min 4-step %.3f", minstep, min4);
    CHECK(lightness(t) < 20 && lightness(t + 3 * 255) > 85, "colormap_viridis_range",
          "L* %.1f .. %.1f", lightness(t), lightness(t + 3 * 255));
}

static void test_normalise(void)
{
    float a[4] = {1, 2, 3, NAN}, o[4];
    colormap_normalise(o, a, 4, COLORMAP_NORM_MINMAX);
    CHECK(o[0] == 0 && o[1] == 0.5f && o[2] == 1 && o[3] == 0, "colormap_norm_minmax", "%g %g %g %g",
          o[0], o[1], o[2], o[3]);
    float b[3] = {-2, 1, 0};
    colormap_normalise(o, b, 3, COLORMAP_NORM_ABSMAX);
    CHECK(o[0] == 1 && o[1] == 0.5f && o[2] == 0, "colormap_norm_absmax", "%g %g %g", o[0], o[1], o[2]);
    colormap_normalise(o, b, 3, COLORMAP_NORM_POSMAX);
    CHECK(o[0] == 0 && o[1] == 1 && o[2] == 0, "colormap_norm_posmax", "%g %g %g", o[0], o[1], o[2]);
    float c[3] = {5, 5, 5}, d[2] = {-1, -3}, e[2] = {NAN, NAN};
    colormap_normalise(o, c, 3, COLORMAP_NORM_MINMAX);
    int zero = o[0] == 0 && o[1] == 0 && o[2] == 0;
    colormap_normalise(o, d, 2, COLORMAP_NORM_POSMAX);
    zero &= o[0] == 0 && o[1] == 0;
    colormap_normalise(o, e, 2, COLORMAP_NORM_MINMAX);
    zero &= o[0] == 0 && o[1] == 0;
    CHECK(zero, "colormap_norm_degenerate", "constant/negative/NaN maps not all 0");
    float f[2] = {-INFINITY, 1};
    colormap_normalise(o, f, 2, COLORMAP_NORM_MINMAX);
    CHECK(o[0] == 0 && o[1] == 0, "colormap_norm_infinite", "%g %g", o[0], o[1]);
}

static void test_apply_blend(void)
{
    uint8_t t[COLORMAP_SIZE * 3];
    colormap_viridis(t);
    float v[5] = {0, 1, 0.5f, -3, NAN};
    uint8_t rgb[15];
    colormap_apply(rgb, v, 5, t);
    CHECK(!memcmp(rgb, t, 3) && !memcmp(rgb + 3, t + 765, 3) && !memcmp(rgb + 6, t + 3 * 128, 3) &&
              !memcmp(rgb + 9, t, 3) && !memcmp(rgb + 12, t, 3),
          "colormap_apply_index", "wrong table entries");
    uint8_t grey[2] = {100, 200}, heat[6] = {0, 255, 10, 255, 0, 11}, out[6];
    colormap_blend(out, grey, 1, heat, NULL, 0.5f, 2);
    CHECK(out[0] == 50 && out[1] == 178 && out[2] == 55 && out[3] == 228 && out[4] == 100 && out[5] == 106,
          "colormap_blend_half", "%d %d %d %d %d %d", out[0], out[1], out[2], out[3], out[4], out[5]);
    colormap_blend(out, grey, 1, heat, NULL, 0.0f, 2);
    int ok = out[0] == 100 && out[1] == 100 && out[5] == 200;
    colormap_blend(out, grey, 1, heat, NULL, 1.0f, 2);
    ok &= !memcmp(out, heat, 6);
    float wgt[2] = {0, 1};
    colormap_blend(out, grey, 1, heat, wgt, 1.0f, 2);
    ok &= out[0] == 100 && out[2] == 100 && !memcmp(out + 3, heat + 3, 3);
    uint8_t rgbin[6] = {1, 2, 3, 4, 5, 6};
    colormap_blend(out, rgbin, 3, heat, NULL, 0.0f, 2);
    ok &= !memcmp(out, rgbin, 6);
    CHECK(ok, "colormap_blend_limits", "alpha 0/1, weights or RGB input wrong");
    uint8_t img[4] = {0, 50, 100, 255}, o2[12];
    float map[4] = {0, 1, 2, 3}, scratch[4];
    colormap_overlay(o2, img, 1, map, 2, 2, t, 1.0f, COLORMAP_NORM_MINMAX, scratch);
    CHECK(!memcmp(o2, t, 3) && !memcmp(o2 + 9, t + 765, 3) && !memcmp(o2 + 3, t + 3 * 85, 3),
          "colormap_overlay", "overlay at alpha 1 is not the coloured map");
}

/* Counts pixels equal to the colour, and whether (r, c) is one. */
static int count_red(const uint8_t *img, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += img[3 * i] == 255 && img[3 * i + 1] == 0;
    return k;
}

static int red_at(const uint8_t *img, int W, int r, int c)
{
    return img[3 * (r * W + c)] == 255 && img[3 * (r * W + c) + 1] == 0;
}

static void test_box(void)
{
    enum { H = 10, W = 12 };
    uint8_t img[H * W * 3];
    memset(img, 0, sizeof img);
    colormap_draw_box(img, H, W, 2.0f, 3.0f, 6.0f, 8.0f, COLORMAP_RED, 1); /* cols 2..5, rows 3..7 */
    int ok = count_red(img, H * W) == 2 * 4 + 2 * 3 && red_at(img, W, 3, 2) && red_at(img, W, 7, 5) &&
             red_at(img, W, 5, 2) && red_at(img, W, 5, 5) && !red_at(img, W, 5, 3) && !red_at(img, W, 2, 2) &&
             !red_at(img, W, 8, 2) && !red_at(img, W, 5, 6);
    CHECK(ok, "colormap_box_outline", "%d red pixels", count_red(img, H * W));
    memset(img, 0, sizeof img);
    colormap_draw_box(img, H, W, 2.5f, 3.2f, 5.5f, 7.9f, COLORMAP_RED, 1); /* same pixel extent */
    CHECK(count_red(img, H * W) == 14, "colormap_box_fractional", "%d red pixels", count_red(img, H * W));
    memset(img, 0, sizeof img);
    colormap_draw_box(img, H, W, -5.0f, -5.0f, 4.0f, 4.0f, COLORMAP_RED, 1); /* clipped: right+bottom */
    CHECK(count_red(img, H * W) == 4 + 4 - 1 && red_at(img, W, 3, 0) && red_at(img, W, 0, 3) &&
              !red_at(img, W, 0, 0),
          "colormap_box_clipped", "%d red pixels", count_red(img, H * W));
    memset(img, 0, sizeof img);
    colormap_draw_box(img, H, W, 0.0f, 0.0f, (float)W, (float)H, COLORMAP_RED, 2);
    CHECK(count_red(img, H * W) == H * W - (H - 4) * (W - 4) && !red_at(img, W, 2, 2) && red_at(img, W, 1, 1),
          "colormap_box_thick", "%d red pixels", count_red(img, H * W));
    memset(img, 0, sizeof img);
    colormap_draw_box(img, H, W, 20, 20, 30, 30, COLORMAP_RED, 1);
    colormap_draw_box(img, H, W, 5, 5, 5, 8, COLORMAP_RED, 1);
    colormap_draw_box(img, H, W, 6, 6, 2, 2, COLORMAP_RED, 1);
    colormap_draw_box(img, H, W, NAN, 0, 3, 3, COLORMAP_RED, 1);
    colormap_draw_box(img, H, W, 0, 0, 3, 3, COLORMAP_RED, 0);
    CHECK(count_red(img, H * W) == 0, "colormap_box_degenerate", "%d red pixels", count_red(img, H * W));
    memset(img, 0, sizeof img);
    colormap_draw_box(img, H, W, 4, 4, 5, 5, COLORMAP_RED, 3); /* one pixel, thickness > size */
    CHECK(count_red(img, H * W) == 1 && red_at(img, W, 4, 4), "colormap_box_single_pixel", "%d",
          count_red(img, H * W));
}

int main(void)
{
    test_viridis();
    test_normalise();
    test_apply_blend();
    test_box();
    return check_summary();
}

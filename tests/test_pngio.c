/* Tests for formats/pngio. Input PNGs of every colour type, bit depth and Adam7 interlacing are
 * built here by a small independent encoder (zlib + CRC, no libpng), so the reader is checked
 * against bytes it did not write. Then writer round trips, determinism, and bad files: truncated,
 * garbage, bad CRC, absurd sizes, each a clear error naming the file with nothing on stderr. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/pngio.h"
#include "pipeline/err.h"
#include "pipeline/rng.h"
#include "tests/check.h"

/* ---- a tiny PNG encoder for test inputs (filter type 0 everywhere) ---- */

struct tpng {
    uint8_t buf[1 << 16];
    size_t len;
};

static void tpng_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void tpng_chunk(struct tpng *t, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t *p = t->buf + t->len;
    tpng_u32(p, n);
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, data, n);
    tpng_u32(p + 8 + n, (uint32_t)crc32(0, p + 4, n + 4));
    t->len += 12 + n;
}

/* Packs one row of samples (each < 2^depth) MSB first, 16-bit big-endian. */
static size_t tpng_pack(uint8_t *out, const uint16_t *s, int nsamples, int depth)
{
    size_t n = 0;
    if (depth == 16) {
        for (int i = 0; i < nsamples; i++) out[n++] = (uint8_t)(s[i] >> 8), out[n++] = (uint8_t)s[i];
        return n;
    }
    if (depth == 8) {
        for (int i = 0; i < nsamples; i++) out[n++] = (uint8_t)s[i];
        return n;
    }
    int per = 8 / depth, bits = 0;
    uint8_t acc = 0;
    for (int i = 0; i < nsamples; i++) {
        acc |= (uint8_t)(s[i] << (8 - depth * (1 + i % per)));
        if (++bits == per) out[n++] = acc, acc = 0, bits = 0;
    }
    if (bits) out[n++] = acc;
    return n;
}

/* Builds a PNG of w x h samples (spp per pixel) with optional PLTE/tRNS and Adam7. */
static void tpng_make(struct tpng *t, int w, int h, int depth, int ctype, int spp,
                      const uint16_t *samples, int interlace, const uint8_t *plte, int nplte,
                      const uint8_t *trns, int ntrns)
{
    static const int a7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                 {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    static uint8_t raw[1 << 16], z[1 << 16];
    uint16_t row[4 * 64];
    size_t rawn = 0;
    t->len = 0;
    memcpy(t->buf, "\x89PNG\r\n\x1a\n", 8);
    t->len = 8;
    uint8_t ihdr[13];
    tpng_u32(ihdr, (uint32_t)w), tpng_u32(ihdr + 4, (uint32_t)h);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)ctype, ihdr[10] = ihdr[11] = 0;
    ihdr[12] = (uint8_t)interlace;
    tpng_chunk(t, "IHDR", ihdr, 13);
    if (plte) tpng_chunk(t, "PLTE", plte, (uint32_t)nplte * 3);
    if (trns) tpng_chunk(t, "tRNS", trns, (uint32_t)ntrns);
    for (int p = 0; p < (interlace ? 7 : 1); p++) {
        int x0 = interlace ? a7[p][0] : 0, y0 = interlace ? a7[p][1] : 0;
        int dx = interlace ? a7[p][2] : 1, dy = interlace ? a7[p][3] : 1;
        if (x0 >= w || y0 >= h) continue; /* empty pass: omitted */
        for (int y = y0; y < h; y += dy) {
            int n = 0;
            for (int x = x0; x < w; x += dx)
                for (int c = 0; c < spp; c++) row[n++] = samples[((size_t)y * w + x) * spp + c];
            raw[rawn++] = 0;
            rawn += tpng_pack(raw + rawn, row, n, depth);
        }
    }
    uLongf zn = sizeof z;
    compress(z, &zn, raw, rawn);
    tpng_chunk(t, "IDAT", z, (uint32_t)zn);
    tpng_chunk(t, "IEND", NULL, 0);
}

/* ---- decoding every colour type ---- */

static int decode_eq(const char *name, const struct tpng *t, int w, int h, int c,
                     const uint8_t *expect)
{
    struct pngio_image img;
    pngio_image_init(&img);
    int rc = pngio_read_mem(&img, t->buf, t->len, name);
    int ok = rc == 0 && img.width == w && img.height == h && img.channels == c &&
             memcmp(img.pixels, expect, (size_t)w * h * c) == 0;
    CHECK(ok, name, "rc %d (%s) %dx%dx%d", rc, err_msg(), img.width, img.height, img.channels);
    pngio_image_release(&img);
    return ok;
}

static uint8_t scale16(uint16_t v)
{
    return (uint8_t)((v * 255u + 32895u) >> 16); /* round(v * 255 / 65535) */
}

static void test_colour_types(void)
{
    enum { W = 11, H = 7, N = W * H };
    static uint16_t s[N * 4];
    static uint8_t e[N * 4];
    struct tpng *t = malloc(sizeof *t);
    struct rng r;
    rng_init(&r, 5, 0, RNG_NOISE);
    const int depths[] = {1, 2, 4, 8, 16}, scale[] = {255, 85, 17, 1};
    for (int di = 0; di < 5; di++) { /* grey at every depth, plain and interlaced */
        int d = depths[di];
        for (int i = 0; i < N; i++) {
            s[i] = (uint16_t)(rng_u32(&r) & ((1u << d) - 1));
            e[i] = d == 16 ? scale16(s[i]) : (uint8_t)(s[i] * scale[di < 3 ? di : 3]);
        }
        for (int il = 0; il < 2; il++) {
            char name[64];
            snprintf(name, sizeof name, "pngio_grey%d%s", d, il ? "_interlaced" : "");
            tpng_make(t, W, H, d, 0, 1, s, il, NULL, 0, NULL, 0);
            decode_eq(name, t, W, H, 1, e);
        }
    }
    const struct { int ctype, spp; const char *name; } kinds[] = {
        {4, 2, "ga"}, {2, 3, "rgb"}, {6, 4, "rgba"}};
    for (int k = 0; k < 3; k++) {
        for (int d = 8; d <= 16; d += 8) {
            int n = N * kinds[k].spp;
            for (int i = 0; i < n; i++) {
                s[i] = (uint16_t)(rng_u32(&r) & (d == 16 ? 0xffff : 0xff));
                e[i] = d == 16 ? scale16(s[i]) : (uint8_t)s[i];
            }
            for (int il = 0; il < 2; il++) {
                char name[64];
                snprintf(name, sizeof name, "pngio_%s%d%s", kinds[k].name, d,
                         il ? "_interlaced" : "");
                tpng_make(t, W, H, d, kinds[k].ctype, kinds[k].spp, s, il, NULL, 0, NULL, 0);
                decode_eq(name, t, W, H, kinds[k].spp, e);
            }
        }
    }
    /* palette: 4-bit without tRNS -> RGB; 8-bit with tRNS (first 3 entries) -> RGBA */
    uint8_t plte[16 * 3], trns[3] = {0, 128, 200};
    for (int i = 0; i < 48; i++) plte[i] = (uint8_t)(i * 5 + 1);
    for (int i = 0; i < N; i++) s[i] = (uint16_t)rng_below(&r, 16);
    for (int i = 0; i < N; i++) memcpy(e + 3 * i, plte + 3 * s[i], 3);
    tpng_make(t, W, H, 4, 3, 1, s, 0, plte, 16, NULL, 0);
    decode_eq("pngio_palette4_rgb", t, W, H, 3, e);
    for (int i = 0; i < N; i++) {
        memcpy(e + 4 * i, plte + 3 * s[i], 3);
        e[4 * i + 3] = s[i] < 3 ? trns[s[i]] : 255;
    }
    tpng_make(t, W, H, 8, 3, 1, s, 1, plte, 16, trns, 3);
    decode_eq("pngio_palette8_trns_interlaced_rgba", t, W, H, 4, e);
    /* grey colour key tRNS -> grey+alpha */
    for (int i = 0; i < N; i++) {
        s[i] = (uint16_t)rng_below(&r, 4) * 60;
        e[2 * i] = (uint8_t)s[i], e[2 * i + 1] = s[i] == 60 ? 0 : 255;
    }
    tpng_make(t, W, H, 8, 0, 1, s, 0, NULL, 0, (const uint8_t[]){0, 60}, 2);
    decode_eq("pngio_grey_colour_key_alpha", t, W, H, 2, e);
    free(t);
}

/* ---- writer ---- */

static int has_bytes(const uint8_t *a, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(a + i, s, k) == 0) return 1;
    return 0;
}

static void test_writer(void)
{
    enum { W = 13, H = 9 };
    static uint8_t px[W * H * 4];
    struct rng r;
    rng_init(&r, 6, 0, RNG_NOISE);
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)rng_u32(&r);
    for (int c = 1; c <= 4; c++) {
        uint8_t *a, *b;
        size_t na, nb;
        struct pngio_image img;
        pngio_image_init(&img);
        int ok = pngio_encode(&a, &na, px, W, H, c) == 0 && pngio_encode(&b, &nb, px, W, H, c) == 0;
        ok = ok && na == nb && memcmp(a, b, na) == 0 && !has_bytes(a, na, "tIME");
        char name[64];
        snprintf(name, sizeof name, "pngio_encode_deterministic_c%d", c);
        CHECK(ok, name, "bytes differ or tIME present");
        ok = pngio_read_mem(&img, a, na, "mem") == 0 && img.channels == c &&
             memcmp(img.pixels, px, (size_t)W * H * c) == 0;
        snprintf(name, sizeof name, "pngio_round_trip_c%d", c);
        CHECK(ok, name, "%s", err_msg());
        pngio_image_release(&img);
        free(a);
        free(b);
    }
    char path[] = "/tmp/test_pngio_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct pngio_image img;
    pngio_image_init(&img);
    int w = 0, h = 0, c = 0;
    int ok = pngio_write(path, px, W, H, 3) == 0 && pngio_probe(path, &w, &h, &c) == 0 &&
             w == W && h == H && c == 3 && pngio_read(&img, path) == 0 &&
             memcmp(img.pixels, px, W * H * 3) == 0;
    CHECK(ok, "pngio_write_probe_read_file", "%s", err_msg());
    ok = pngio_convert(&img, 1) == 0 && img.channels == 1 && pngio_convert(&img, 3) == 0 &&
         img.pixels[0] == img.pixels[1] && pngio_convert(&img, 7) == -1;
    CHECK(ok, "pngio_convert", "%s", err_msg());
    pngio_image_release(&img);
    CHECK(pngio_write("/nonexistent-dir/x.png", px, W, H, 3) == -1 &&
              strstr(err_msg(), "/nonexistent-dir/x.png"),
          "pngio_write_bad_dir", "%s", err_msg());
    CHECK(pngio_encode(&(uint8_t *){0}, &(size_t){0}, px, 0, H, 3) == -1, "pngio_encode_bad_shape",
          "accepted");
    unlink(path);
}

/* ---- bad files: an error naming the file, never a crash or a stderr line ---- */

static int bad_refused(const uint8_t *data, size_t n, const char *want)
{
    struct pngio_image img;
    pngio_image_init(&img);
    int rc = pngio_read_mem(&img, data, n, "bad.png");
    return rc == -1 && img.pixels == NULL && strstr(err_msg(), "cannot read png 'bad.png': ") &&
           (!want || strstr(err_msg(), want));
}

static int expect_bad(const char *name, const uint8_t *data, size_t n, const char *want)
{
    return CHECK(bad_refused(data, n, want), name, "%s", err_msg());
}

static void test_bad(void)
{
    struct tpng *t = malloc(sizeof *t);
    static uint16_t s[16 * 16 * 3];
    for (int i = 0; i < 16 * 16 * 3; i++) s[i] = (uint16_t)(i * 7 & 255);
    tpng_make(t, 16, 16, 8, 2, 3, s, 0, NULL, 0, NULL, 0);

    fflush(stderr);
    int saved = dup(2);
    FILE *cap = tmpfile();
    dup2(fileno(cap), 2);

    expect_bad("pngio_empty", t->buf, 0, NULL);
    expect_bad("pngio_garbage", (const uint8_t *)"this is not a png file at all....", 33, NULL);
    int all = 1;
    size_t cut;
    for (cut = 1; cut < t->len && all; cut += 3) all = bad_refused(t->buf, cut, NULL);
    CHECK(all, "pngio_truncated_every_3_bytes", "cut at %zu: %s", cut - 3, err_msg());
    expect_bad("pngio_truncated_iend", t->buf, t->len - 1, NULL);
    uint8_t *bad = malloc(t->len);
    memcpy(bad, t->buf, t->len);
    bad[8 + 25 + 12] ^= 0x55; /* first IDAT data byte: CRC mismatch */
    expect_bad("pngio_bad_crc", bad, t->len, NULL);
    /* absurd sizes: refused from IHDR, before any pixel allocation */
    tpng_make(t, 1, 1, 8, 0, 1, s, 0, NULL, 0, NULL, 0);
    memcpy(bad, t->buf, t->len);
    tpng_u32(bad + 16, 16385), tpng_u32(bad + 20, 2);
    tpng_u32(bad + 29, (uint32_t)crc32(0, bad + 12, 17));
    expect_bad("pngio_too_wide", bad, t->len, "limit");
    tpng_u32(bad + 16, 16384), tpng_u32(bad + 20, 16385);
    tpng_u32(bad + 29, (uint32_t)crc32(0, bad + 12, 17));
    expect_bad("pngio_too_tall", bad, t->len, NULL);
    tpng_u32(bad + 16, 16384), tpng_u32(bad + 20, 16384);
    tpng_u32(bad + 29, (uint32_t)crc32(0, bad + 12, 17));
    expect_bad("pngio_too_many_pixels_or_truncated", bad, t->len, NULL);
    struct pngio_image img;
    pngio_image_init(&img);
    CHECK(pngio_read(&img, "/nonexistent/x.png") == -1 && strstr(err_msg(), "/nonexistent/x.png"),
          "pngio_missing_file", "%s", err_msg());
    free(bad);

    fflush(stderr);
    fseek(cap, 0, SEEK_END);
    long spilled = ftell(cap);
    dup2(saved, 2);
    close(saved);
    fclose(cap);
    CHECK(spilled == 0, "pngio_nothing_on_stderr", "%ld bytes written to stderr", spilled);
    free(t);
}

int main(void)
{
    test_colour_types();
    test_writer();
    test_bad();
    return check_summary();
}

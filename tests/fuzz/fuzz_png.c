/* Fuzz target: PNG decoding (formats/pngio). The input is a PNG file: decoded from memory, probed
 * from a file, and when it decodes, re-encoded, decoded again (must give the same pixels) and
 * converted to every channel count. Every failure must be one "cannot read png" line. */
#include "tests/fuzz/fuzz.h"

#include "formats/pngio.h"

/* Round trips stay small so each input runs in microseconds. */
#define FPNG_MAX_ROUNDTRIP ((size_t)1 << 18)

static void fpng_roundtrip(const struct pngio_image *img)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    struct pngio_image back;
    pngio_image_init(&back);
    FUZZ_CHECK(pngio_encode(&enc, &n, img->pixels, img->width, img->height, img->channels) == 0);
    if (enc && pngio_read_mem(&back, enc, n, "roundtrip.png") == 0) {
        size_t bytes = (size_t)img->width * img->height * img->channels;
        FUZZ_CHECK(back.width == img->width && back.height == img->height &&
                   back.channels == img->channels);
        FUZZ_CHECK(back.channels != img->channels || memcmp(back.pixels, img->pixels, bytes) == 0);
    } else if (enc) {
        FUZZ_CHECK(!"our own encoding does not decode");
    }
    pngio_image_release(&back);
    free(enc);
    for (int c = 1; c <= 4; c++) {
        struct pngio_image copy = *img;
        size_t bytes = (size_t)img->width * img->height * img->channels;
        copy.pixels = malloc(bytes);
        if (!copy.pixels) abort();
        memcpy(copy.pixels, img->pixels, bytes);
        FUZZ_CHECK(pngio_convert(&copy, c) == 0 && copy.channels == c);
        pngio_image_release(&copy);
    }
}

int fuzz_png(const uint8_t *data, size_t size)
{
    struct pngio_image img;
    char path[600];
    int w = -1, h = -1, c = -1;
    pngio_image_init(&img);
    fuzz_write_file(fuzz_path(path, sizeof path, "in.png"), data, size);
    int probed = pngio_probe(path, &w, &h, &c) == 0;
    if (!probed) FUZZ_CHECK(fuzz_msg_ok("cannot read png '"));
    if (pngio_read_mem(&img, data, size, "fuzz.png") != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot read png 'fuzz.png': "));
        FUZZ_CHECK(img.pixels == NULL);
        return 0;
    }
    FUZZ_CHECK(img.width >= 1 && img.width <= PNGIO_MAX_SIDE);
    FUZZ_CHECK(img.height >= 1 && img.height <= PNGIO_MAX_SIDE);
    FUZZ_CHECK(img.channels >= 1 && img.channels <= 4 && img.pixels);
    FUZZ_CHECK(probed && w == img.width && h == img.height && c == img.channels);
    size_t bytes = (size_t)img.width * img.height * img.channels;
    FUZZ_CHECK(bytes <= PNGIO_MAX_PIXELS * 4);
    if (bytes <= FPNG_MAX_ROUNDTRIP) fpng_roundtrip(&img);
    pngio_image_release(&img);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_png(data, size);
}
#endif

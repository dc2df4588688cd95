/* PNG read and write through libpng, into and from 8-bit HWC buffers. Reads every PNG colour
 * type and bit depth (1/2/4/8/16-bit grey, grey+alpha, palette with tRNS, RGB, RGBA,
 * interlaced); writes 8-bit grey, grey+alpha, RGB, RGBA with deterministic bytes. Not a
 * general image library: no JPEG, no gamma or ICC colour management (pixel values are taken
 * as stored; gAMA/iCCP/sRGB chunks are ignored). */
#ifndef SALBENCH_PNGIO_H
#define SALBENCH_PNGIO_H

#include <stddef.h>
#include <stdint.h>

/* Refused before any pixel allocation (checked on the IHDR values). */
#define PNGIO_MAX_SIDE 16384
#define PNGIO_MAX_PIXELS ((size_t)1 << 28)
/* Largest ancillary chunk (text, ICC profile...) libpng may allocate for; IDAT is streamed. */
#define PNGIO_MAX_CHUNK_BYTES ((size_t)16 << 20)

/* A decoded image: pixels[(y * width + x) * channels + c], channels 1 = grey, 2 = grey+alpha,
 * 3 = RGB, 4 = RGBA, always 8 bits per sample (16-bit samples are scaled with rounding,
 * round(v * 255 / 65535), libpng's png_set_scale_16; 1/2/4-bit grey is scaled to 0..255; palette
 * images expand to RGB, or RGBA when they carry tRNS; a grey/RGB tRNS colour key gives alpha).
 * `pixels` is malloc'd and owned by the struct: free it with pngio_image_release. */
struct pngio_image {
    int width, height, channels;
    uint8_t *pixels;
};

/* Sets every field to zero/NULL; no allocation. */
void pngio_image_init(struct pngio_image *img);
/* Frees pixels and re-inits. Accepts NULL. */
void pngio_image_release(struct pngio_image *img);

/* Reads the PNG at `path` with the file's natural channel count (see struct pngio_image).
 * `img` must be init'ed or released; on success the caller owns img->pixels. On failure
 * returns -1 with err_set("cannot read png '<path>': <reason>") and leaves img released: a
 * missing file, a non-PNG, a corrupt or truncated PNG, or dimensions above PNGIO_MAX_SIDE per
 * side or PNGIO_MAX_PIXELS in total. libpng never prints to stderr through this module. */
int pngio_read(struct pngio_image *img, const char *path);

/* Same as pngio_read but from a memory buffer; `name` is only used in error messages. */
int pngio_read_mem(struct pngio_image *img, const void *data, size_t size, const char *name);

/* Reads only the header: width, height and the natural channel count pngio_read would give.
 * Returns 0, or -1 with err_set as pngio_read. Any pointer may be NULL. */
int pngio_probe(const char *path, int *width, int *height, int *channels);

/* Converts img in place to `channels` (1..4) with image_convert_channels (pipeline/image.h):
 * alpha is DROPPED (not composited over black), grey -> RGB replicates, RGB -> grey is BT.601
 * luma. Returns 0, or -1 with err_set on a bad channel count or out of memory (img unchanged). */
int pngio_convert(struct pngio_image *img, int channels);

/* Writes an 8-bit PNG of width x height x channels (1..4) from HWC `pixels` to `path`.
 * Deterministic bytes: zlib level 9, default strategy, adaptive filters, no tIME, no text, no
 * gamma chunks, so equal pixels give equal files. The file is written to a temporary beside
 * `path` and renamed over it (an existing `path` is untouched on failure). Returns 0, or -1 with
 * err_set("cannot write png '<path>': <reason>"). */
int pngio_write(const char *path, const uint8_t *pixels, int width, int height, int channels);

/* Encodes the same bytes as pngio_write into memory. On success *out is malloc'd (caller
 * frees) and *size is its length; on failure returns -1 with err_set and *out = NULL. */
int pngio_encode(uint8_t **out, size_t *size, const uint8_t *pixels, int width, int height,
                 int channels);

#endif

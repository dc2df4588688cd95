/* PNG decode/encode with libpng into 8-bit HWC buffers (see pngio.h). libpng errors longjmp back
 * into the function that owns png_ptr, which returns -1 with err_set; warnings are swallowed, so
 * libpng never writes to stderr. All state touched by callbacks lives in caller-owned structs,
 * not in locals of the setjmp function. */
#include "formats/pngio.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "formats/atomicfile.h"
#include "pipeline/err.h"
#include "pipeline/image.h"

/* Bytes come from a FILE or from memory. */
struct pngio_src {
    FILE *fp;
    const uint8_t *data;
    size_t size, pos;
};

/* Per-call context reachable from libpng callbacks via the error/io pointers. */
struct pngio_ctx {
    struct pngio_src src;
    char msg[256];
    png_bytep *rows;  /* row pointers during decode/encode (owned by the caller of the setjmp fn) */
    uint8_t *buf;     /* encode output */
    size_t len, cap;
};

static void pngio_on_error(png_structp png, png_const_charp msg)
{
    struct pngio_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void pngio_on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* deliberately silent: never print from formats/ */
}

static void pngio_on_read(png_structp png, png_bytep out, size_t n)
{
    struct pngio_ctx *ctx = png_get_io_ptr(png);
    struct pngio_src *s = &ctx->src;
    if (s->fp) {
        if (fread(out, 1, n, s->fp) != n)
            png_error(png, ferror(s->fp) ? "read error" : "file is truncated");
        return;
    }
    if (n > s->size - s->pos) png_error(png, "data is truncated");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

/* Sets up the expansion to 8-bit natural channels after png_read_info; returns the channel
 * count or -1 (with ctx->msg) when the dimensions are refused. */
static int pngio_setup_read(png_structp png, png_infop info, struct pngio_ctx *ctx)
{
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (w > PNGIO_MAX_SIDE || h > PNGIO_MAX_SIDE || (size_t)w * h > PNGIO_MAX_PIXELS) {
        snprintf(ctx->msg, sizeof ctx->msg, "%ux%u pixels is above the limit (%d per side, %zu)",
                 (unsigned)w, (unsigned)h, PNGIO_MAX_SIDE, PNGIO_MAX_PIXELS);
        return -1;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_scale_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return png_get_channels(png, info);
}

/* Decodes from ctx->src into img (header only when img is NULL, filling *pw, *ph, *pc). The only
 * function that owns a read png_ptr. */
static int pngio_decode(struct pngio_ctx *ctx, struct pngio_image *img, int *pw, int *ph,
                        int *pc)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, pngio_on_error,
                                             pngio_on_warning);
    if (!png) return snprintf(ctx->msg, sizeof ctx->msg, "out of memory"), -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return snprintf(ctx->msg, sizeof ctx->msg, "out of memory"), -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1; /* ctx->msg set by pngio_on_error; the caller frees ctx->rows and img */
    }
    png_set_read_fn(png, ctx, pngio_on_read);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff); /* our own limit gives the message */
    /* libpng allocates an ancillary chunk's claimed length before reading it (a 110-byte file
     * claiming a 1.6 GB tEXt chunk: found by fuzzing), and its "chunk data is too large" check
     * is only a warning on read. The chunks that are buffered whole are of no use here (text,
     * ICC profiles: no colour management), so they are skipped, read in small pieces. */
    static const png_byte skipped[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0pCAL\0sCAL";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, (int)(sizeof skipped / 5));
    png_set_chunk_malloc_max(png, PNGIO_MAX_CHUNK_BYTES);
    png_read_info(png, info);
    int channels = pngio_setup_read(png, info, ctx);
    if (channels < 0) goto fail;
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    if (pw) *pw = w;
    if (ph) *ph = h;
    if (pc) *pc = channels;
    if (img) {
        if (png_get_rowbytes(png, info) != (size_t)w * channels) png_error(png, "bad row size");
        img->pixels = malloc((size_t)w * h * channels);
        ctx->rows = malloc(sizeof *ctx->rows * (size_t)h);
        if (!img->pixels || !ctx->rows) png_error(png, "out of memory");
        img->width = w, img->height = h, img->channels = channels;
        for (int y = 0; y < h; y++) ctx->rows[y] = img->pixels + (size_t)y * w * channels;
        png_read_image(png, ctx->rows);
        png_read_end(png, NULL);
    }
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
fail:
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
}

void pngio_image_init(struct pngio_image *img)
{
    memset(img, 0, sizeof *img);
}

void pngio_image_release(struct pngio_image *img)
{
    if (!img) return;
    free(img->pixels);
    pngio_image_init(img);
}

static int pngio_read_src(struct pngio_image *img, struct pngio_ctx *ctx, const char *name)
{
    pngio_image_release(img);
    int rc = pngio_decode(ctx, img, NULL, NULL, NULL);
    free(ctx->rows);
    ctx->rows = NULL;
    if (rc) {
        pngio_image_release(img);
        return err_set("cannot read png '%s': %s", name, ctx->msg);
    }
    return 0;
}

int pngio_read(struct pngio_image *img, const char *path)
{
    struct pngio_ctx ctx = {0};
    ctx.src.fp = fopen(path, "rb");
    if (!ctx.src.fp) {
        pngio_image_release(img);
        return err_set("cannot read png '%s': %s", path, strerror(errno));
    }
    int rc = pngio_read_src(img, &ctx, path);
    fclose(ctx.src.fp);
    return rc;
}

int pngio_read_mem(struct pngio_image *img, const void *data, size_t size, const char *name)
{
    struct pngio_ctx ctx = {0};
    ctx.src.data = data;
    ctx.src.size = size;
    return pngio_read_src(img, &ctx, name);
}

int pngio_probe(const char *path, int *width, int *height, int *channels)
{
    struct pngio_ctx ctx = {0};
    ctx.src.fp = fopen(path, "rb");
    if (!ctx.src.fp) return err_set("cannot read png '%s': %s", path, strerror(errno));
    int rc = pngio_decode(&ctx, NULL, width, height, channels);
    fclose(ctx.src.fp);
    if (rc) return err_set("cannot read png '%s': %s", path, ctx.msg);
    return 0;
}

int pngio_convert(struct pngio_image *img, int channels)
{
    if (channels < 1 || channels > 4)
        return err_set("cannot convert image: %d channels (want 1 to 4)", channels);
    if (channels == img->channels) return 0;
    size_t n = (size_t)img->width * img->height;
    uint8_t *out = malloc(n * channels + 1);
    if (!out) return err_set("cannot convert image: out of memory");
    image_convert_channels(out, channels, img->pixels, img->channels, n);
    free(img->pixels);
    img->pixels = out;
    img->channels = channels;
    return 0;
}

static void pngio_on_write(png_structp png, png_bytep data, size_t n)
{
    struct pngio_ctx *ctx = png_get_io_ptr(png);
    if (n > ctx->cap - ctx->len) {
        size_t cap = ctx->cap ? ctx->cap : 4096;
        while (cap - ctx->len < n) cap *= 2;
        uint8_t *grown = realloc(ctx->buf, cap);
        if (!grown) png_error(png, "out of memory");
        ctx->buf = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->buf + ctx->len, data, n);
    ctx->len += n;
}

static void pngio_on_flush(png_structp png)
{
    (void)png;
}

/* Encodes into ctx->buf. The only function that owns a write png_ptr. */
static int pngio_encode_ctx(struct pngio_ctx *ctx, const uint8_t *pixels, int w, int h, int c)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, pngio_on_error,
                                              pngio_on_warning);
    if (!png) return snprintf(ctx->msg, sizeof ctx->msg, "out of memory"), -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return snprintf(ctx->msg, sizeof ctx->msg, "out of memory"), -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, ctx, pngio_on_write, pngio_on_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[c], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    ctx->rows = malloc(sizeof *ctx->rows * (size_t)h);
    if (!ctx->rows) png_error(png, "out of memory");
    for (int y = 0; y < h; y++) ctx->rows[y] = (png_bytep)(pixels + (size_t)y * w * c);
    png_write_image(png, ctx->rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int pngio_encode(uint8_t **out, size_t *size, const uint8_t *pixels, int width, int height,
                 int channels)
{
    *out = NULL;
    *size = 0;
    if (channels < 1 || channels > 4 || width < 1 || height < 1 || width > PNGIO_MAX_SIDE ||
        height > PNGIO_MAX_SIDE || (size_t)width * height > PNGIO_MAX_PIXELS)
        return err_set("cannot encode png: bad shape %dx%dx%d", width, height, channels);
    struct pngio_ctx ctx = {0};
    int rc = pngio_encode_ctx(&ctx, pixels, width, height, channels);
    free(ctx.rows);
    if (rc) {
        free(ctx.buf);
        return err_set("cannot encode png: %s", ctx.msg);
    }
    *out = ctx.buf;
    *size = ctx.len;
    return 0;
}

int pngio_write(const char *path, const uint8_t *pixels, int width, int height, int channels)
{
    uint8_t *buf;
    size_t n;
    if (pngio_encode(&buf, &n, pixels, width, height, channels))
        return err_wrap("cannot write png '%s': ", path);
    int rc = atomicfile_write_all(path, buf, n);
    free(buf);
    if (rc) return err_wrap("cannot write png '%s': ", path);
    return 0;
}

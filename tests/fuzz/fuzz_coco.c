/* Fuzz target: COCO JSON parsing (formats/coco), RLE and polygons included. The input is the
 * JSON text (a buffer without a terminating NUL, as coco_parse takes it). A dataset that parses
 * must satisfy the documented invariants, rasterise like bin/load does (small images only), and
 * survive coco_write -> coco_read unchanged; a string also goes through the RLE string codec. */
#include "tests/fuzz/fuzz.h"

#include "formats/coco.h"
#include "pipeline/image.h"

#define FCOCO_MAX_RASTER 4096 /* pixels: larger masks are skipped, not refused */

static void fcoco_rle_codec(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size < 512 ? size : 512);
    uint32_t *counts = NULL, *back = NULL;
    size_t n = 0, nb = 0;
    if (coco_rle_from_string(&counts, &n, s) == 0) {
        char *enc = coco_rle_to_string(counts, n);
        FUZZ_CHECK(enc && coco_rle_from_string(&back, &nb, enc) == 0);
        FUZZ_CHECK(nb == n && (n == 0 || memcmp(back, counts, n * sizeof *counts) == 0));
        free(enc);
    } else {
        FUZZ_CHECK(counts == NULL && fuzz_msg_ok("compressed counts: "));
    }
    free(back);
    free(counts);
    free(s);
}

static void fcoco_invariants(const struct coco_dataset *ds)
{
    for (size_t i = 0; i < ds->nimages; i++)
        FUZZ_CHECK(ds->images[i].width > 0 && ds->images[i].height > 0 &&
                   ds->images[i].file_name);
    for (size_t i = 0; i < ds->ncategories; i++) FUZZ_CHECK(ds->categories[i].name);
    for (size_t i = 0; i < ds->nannotations; i++) {
        const struct coco_annotation *a = &ds->annotations[i];
        FUZZ_CHECK(a->image_index < ds->nimages && a->category_index < ds->ncategories);
        FUZZ_CHECK(ds->images[a->image_index].id == a->image_id);
        FUZZ_CHECK(ds->categories[a->category_index].id == a->category_id);
        FUZZ_CHECK(a->bbox[2] >= 0 && a->bbox[3] >= 0 && a->area >= 0);
        FUZZ_CHECK(a->iscrowd == 0 || a->iscrowd == 1);
        const struct coco_image *im = &ds->images[a->image_index];
        if (a->seg.kind == COCO_SEG_RLE) {
            uint64_t sum = 0;
            for (size_t k = 0; k < a->seg.ncounts; k++) sum += a->seg.counts[k];
            FUZZ_CHECK(a->seg.rle_h == im->height && a->seg.rle_w == im->width);
            FUZZ_CHECK(sum == (uint64_t)im->height * (uint64_t)im->width);
        }
        for (int p = 0; a->seg.kind == COCO_SEG_POLYGONS && p < a->seg.npolygons; p++)
            FUZZ_CHECK(a->seg.polygons[p].npoints >= 3 && a->seg.polygons[p].xy);
    }
}

/* What bin/load does with a segmentation: rasterise at the image size, resize to 8x8. */
static void fcoco_raster(const struct coco_dataset *ds)
{
    for (size_t i = 0; i < ds->nannotations; i++) {
        const struct coco_annotation *a = &ds->annotations[i];
        const struct coco_image *im = &ds->images[a->image_index];
        size_t hw = (size_t)im->height * im->width;
        if (a->seg.kind == COCO_SEG_NONE || hw > FCOCO_MAX_RASTER) continue;
        uint8_t *m = calloc(hw, 1), small[64];
        if (!m) abort();
        int rc = 0;
        if (a->seg.kind == COCO_SEG_RLE)
            rc = image_rle_decode(m, a->seg.counts, a->seg.ncounts, im->height, im->width);
        for (int p = 0; a->seg.kind == COCO_SEG_POLYGONS && p < a->seg.npolygons; p++)
            image_fill_polygon(m, im->height, im->width, a->seg.polygons[p].xy,
                               a->seg.polygons[p].npoints);
        FUZZ_CHECK(rc == 0); /* the reader checked the counts sum to h*w */
        for (size_t k = 0; k < hw; k++) FUZZ_CHECK(m[k] <= 1);
        image_resize_mask(small, m, im->height, im->width, 8, 8);
        free(m);
    }
}

static int fcoco_seg_equal(const struct coco_segmentation *x, const struct coco_segmentation *y)
{
    if (x->kind != y->kind || x->npolygons != y->npolygons || x->ncounts != y->ncounts)
        return 0;
    if (x->kind == COCO_SEG_RLE &&
        (x->rle_h != y->rle_h || x->rle_w != y->rle_w ||
         (x->ncounts && memcmp(x->counts, y->counts, x->ncounts * sizeof *x->counts))))
        return 0;
    for (int p = 0; p < x->npolygons; p++) {
        if (x->polygons[p].npoints != y->polygons[p].npoints) return 0;
        for (int k = 0; k < 2 * x->polygons[p].npoints; k++)
            if (x->polygons[p].xy[k] != y->polygons[p].xy[k]) return 0;
    }
    return 1;
}

static int fcoco_str_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* coco_write then coco_read must give back the same dataset. */
static void fcoco_roundtrip(const struct coco_dataset *ds)
{
    char path[600];
    struct coco_dataset back;
    coco_init(&back);
    fuzz_path(path, sizeof path, "roundtrip.json");
    FUZZ_CHECK(coco_write(path, ds) == 0);
    if (coco_read(&back, path) != 0) {
        FUZZ_CHECK(!"coco_write output does not read back");
        return;
    }
    FUZZ_CHECK(back.nimages == ds->nimages && back.nannotations == ds->nannotations &&
               back.ncategories == ds->ncategories);
    for (size_t i = 0; i < ds->nimages && i < back.nimages; i++) {
        const struct coco_image *x = &ds->images[i], *y = &back.images[i];
        FUZZ_CHECK(x->id == y->id && x->width == y->width && x->height == y->height &&
                   fcoco_str_equal(x->file_name, y->file_name));
    }
    for (size_t i = 0; i < ds->ncategories && i < back.ncategories; i++) {
        const struct coco_category *x = &ds->categories[i], *y = &back.categories[i];
        FUZZ_CHECK(x->id == y->id && fcoco_str_equal(x->name, y->name) &&
                   fcoco_str_equal(x->supercategory, y->supercategory));
    }
    for (size_t i = 0; i < ds->nannotations && i < back.nannotations; i++) {
        const struct coco_annotation *x = &ds->annotations[i], *y = &back.annotations[i];
        FUZZ_CHECK(x->id == y->id && x->image_id == y->image_id &&
                   x->category_id == y->category_id && x->iscrowd == y->iscrowd &&
                   x->area == y->area && x->bbox[0] == y->bbox[0] && x->bbox[1] == y->bbox[1] &&
                   x->bbox[2] == y->bbox[2] && x->bbox[3] == y->bbox[3]);
        FUZZ_CHECK(fcoco_seg_equal(&x->seg, &y->seg));
    }
    coco_release(&back);
}

int fuzz_coco(const uint8_t *data, size_t size)
{
    fcoco_rle_codec(data, size);
    if (memchr(data, 0, size)) return 0; /* coco_parse takes NUL-free text */
    struct coco_dataset ds;
    coco_init(&ds);
    if (coco_parse(&ds, (const char *)data, size, "fuzz.json") != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot read coco 'fuzz.json': "));
        FUZZ_CHECK(ds.images == NULL && ds.nimages == 0);
        return 0;
    }
    fcoco_invariants(&ds);
    fcoco_raster(&ds);
    fcoco_roundtrip(&ds);
    coco_release(&ds);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_coco(data, size);
}
#endif

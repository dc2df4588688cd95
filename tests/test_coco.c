/* Tests for formats/coco: boxes, polygons, both RLE forms (the compressed string checked against
 * values worked by hand from pycocotools' rleToString), writer round trip and determinism, and
 * one malformed input per validation rule, each naming the JSON path. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "formats/coco.h"
#include "pipeline/err.h"
#include "pipeline/image.h"
#include "tests/check.h"

static const char *good_json =
    "{\"images\": [{\"id\": 7, \"file_name\": \"a.png\", \"width\": 4, \"height\": 3},\n"
    "              {\"id\": 9, \"file_name\": \"b/c.png\", \"width\": 2, \"height\": 2}],\n"
    " \"categories\": [{\"id\": 1, \"name\": \"cat\", \"supercategory\": \"animal\"},\n"
    "                  {\"id\": 3, \"name\": \"dog\"}],\n"
    " \"annotations\": [\n"
    "  {\"id\": 1, \"image_id\": 7, \"category_id\": 3, \"bbox\": [0.5, 1, 2.25, 1],\n"
    "   \"area\": 2.5, \"iscrowd\": 0, \"segmentation\": [[0, 0, 2, 0, 2, 2], [3, 0, 4, 0, 4, 1]]},\n"
    "  {\"id\": 2, \"image_id\": 9, \"category_id\": 1, \"bbox\": [0, 0, 2, 2], \"iscrowd\": 1,\n"
    "   \"segmentation\": {\"size\": [2, 2], \"counts\": [1, 2, 1]}},\n"
    "  {\"id\": 3, \"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 0, 3, 3],\n"
    "   \"segmentation\": {\"size\": [3, 4], \"counts\": \"3321\"}},\n"
    "  {\"id\": 4, \"image_id\": 9, \"category_id\": 3, \"bbox\": [0, 0, 1, 1], \"segmentation\": []}\n"
    " ]}";

static void test_parse_good(void)
{
    struct coco_dataset ds;
    coco_init(&ds);
    int rc = coco_parse(&ds, good_json, strlen(good_json), "good");
    CHECK(rc == 0 && ds.nimages == 2 && ds.ncategories == 2 && ds.nannotations == 4,
          "coco_parse_good", "%s", err_msg());
    if (rc) return;
    CHECK(ds.images[1].id == 9 && strcmp(ds.images[1].file_name, "b/c.png") == 0 &&
              ds.images[0].width == 4 && ds.images[0].height == 3,
          "coco_images", "wrong");
    CHECK(strcmp(ds.categories[0].supercategory, "animal") == 0 && !ds.categories[1].supercategory,
          "coco_categories", "wrong");
    const struct coco_annotation *a = ds.annotations;
    CHECK(a[0].bbox[0] == 0.5 && a[0].bbox[2] == 2.25 && a[0].area == 2.5 &&
              a[0].image_index == 0 && a[0].category_index == 1 && a[1].image_index == 1 &&
              a[1].category_index == 0 && a[1].iscrowd == 1 && a[2].area == 0,
          "coco_annotation_fields", "wrong");
    CHECK(a[0].seg.kind == COCO_SEG_POLYGONS && a[0].seg.npolygons == 2 &&
              a[0].seg.polygons[1].npoints == 3 && a[0].seg.polygons[1].xy[4] == 4,
          "coco_polygons", "wrong");
    uint8_t m[12];
    CHECK(a[1].seg.kind == COCO_SEG_RLE && a[1].seg.ncounts == 3 &&
              image_rle_decode(m, a[1].seg.counts, 3, 2, 2) == 0 && m[0] == 0 && m[1] == 1 &&
              m[2] == 1 && m[3] == 0,
          "coco_rle_uncompressed", "wrong");
    /* "3321": 3, 3, 2, then 1 + counts[1] = 4 (sum 12 = 3 x 4) */
    CHECK(a[2].seg.kind == COCO_SEG_RLE && a[2].seg.ncounts == 4 && a[2].seg.counts[3] == 4,
          "coco_rle_compressed", "counts %u %u %u %u", a[2].seg.counts[0], a[2].seg.counts[1],
          a[2].seg.counts[2], a[2].seg.counts[3]);
    CHECK(a[3].seg.kind == COCO_SEG_NONE, "coco_segmentation_empty", "kind %d", a[3].seg.kind);
    /* polygons rasterise through pipeline/image: triangle (0,0),(2,0),(2,2) takes pixels (0,0),
     * (1,0), (1,1) (centres on its left edge count); the second takes (3,0) */
    memset(m, 0, sizeof m);
    for (int i = 0; i < a[0].seg.npolygons; i++)
        image_fill_polygon(m, 3, 4, a[0].seg.polygons[i].xy, a[0].seg.polygons[i].npoints);
    CHECK(m[0] && m[1] && !m[4] && m[5] && m[3] && !m[2], "coco_polygon_raster", "wrong");
    coco_release(&ds);
    coco_release(&ds); /* idempotent */
    coco_release(NULL);
}

static void test_rle_string(void)
{
    /* worked by hand from rleToString: 40 -> 'X','1'; 3 - 40 = -37 -> 'k','N' */
    const uint32_t c1[4] = {1, 40, 2, 3};
    char *s = coco_rle_to_string(c1, 4);
    CHECK(s && strcmp(s, "1X12kN") == 0, "coco_rle_string_encode_hand", "got '%s'", s);
    uint32_t *back = NULL;
    size_t n = 0;
    int rc = coco_rle_from_string(&back, &n, s);
    CHECK(rc == 0 && n == 4 && memcmp(back, c1, sizeof c1) == 0, "coco_rle_string_decode_hand",
          "rc %d n %zu", rc, n);
    free(s);
    free(back);
    /* every count up to 2^20 plus big jumps round-trips */
    static uint32_t big[4096];
    for (int i = 0; i < 4096; i++) big[i] = (uint32_t)((i * 2654435761u) >> (i % 13 + 8));
    big[5] = 0, big[6] = 4000000000u, big[7] = 0;
    s = coco_rle_to_string(big, 4096);
    rc = coco_rle_from_string(&back, &n, s);
    CHECK(rc == 0 && n == 4096 && memcmp(back, big, sizeof big) == 0, "coco_rle_string_round_trip",
          "rc %d", rc);
    free(s);
    free(back);
    CHECK(coco_rle_from_string(&back, &n, "1X") == -1 && back == NULL, "coco_rle_string_truncated",
          "accepted");
    CHECK(coco_rle_from_string(&back, &n, "1~") == -1 && strstr(err_msg(), "outside"),
          "coco_rle_string_bad_char", "%s", err_msg());
    CHECK(coco_rle_from_string(&back, &n, "5N") == -1, "coco_rle_string_negative", "accepted");
    CHECK(coco_rle_from_string(&back, &n, "") == 0 && n == 0, "coco_rle_string_empty", "failed");
    free(back);
}

static void test_write_round_trip(void)
{
    struct coco_dataset ds, back;
    coco_init(&ds);
    coco_init(&back);
    coco_parse(&ds, good_json, strlen(good_json), "good");
    free(ds.images[0].file_name);
    ds.images[0].file_name = strdup("we\"ird\\name\n.png");
    ds.annotations[0].bbox[0] = 0.1;
    char path[] = "/tmp/test_coco_XXXXXX";
    close(mkstemp(path));
    int rc = coco_write(path, &ds) == 0 ? coco_read(&back, path) : -1;
    int ok = rc == 0 && back.nannotations == 4 && back.nimages == 2 &&
             strcmp(back.images[0].file_name, ds.images[0].file_name) == 0 &&
             back.annotations[0].bbox[0] == 0.1 && back.annotations[0].seg.npolygons == 2 &&
             back.annotations[0].seg.polygons[0].xy[2] == 2 && back.annotations[1].seg.ncounts == 3 &&
             memcmp(back.annotations[2].seg.counts, ds.annotations[2].seg.counts, 16) == 0 &&
             back.annotations[3].seg.kind == COCO_SEG_NONE && back.annotations[1].iscrowd == 1;
    CHECK(ok, "coco_write_read_round_trip", "%s", err_msg());
    /* writing what was read gives the same bytes */
    char path2[] = "/tmp/test_coco_XXXXXX";
    close(mkstemp(path2));
    coco_write(path2, &back);
    FILE *f1 = fopen(path, "rb"), *f2 = fopen(path2, "rb");
    int same = f1 && f2;
    for (int c1 = 0, c2 = 0; same && c1 != EOF;) {
        c1 = fgetc(f1), c2 = fgetc(f2);
        same = c1 == c2;
    }
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    CHECK(same, "coco_write_deterministic", "files differ");
    CHECK(coco_write("/nonexistent-dir/a.json", &ds) == -1 &&
              strstr(err_msg(), "cannot write coco '/nonexistent-dir/a.json'"),
          "coco_write_bad_dir", "%s", err_msg());
    unlink(path);
    unlink(path2);
    coco_release(&ds);
    coco_release(&back);
}

/* One malformed document per rule; each must fail naming the path (or position). */
static const struct {
    const char *name, *json, *want;
} bad_cases[] = {
    {"coco_bad_syntax", "{\"images\": [\n{\"id\": 1,,}]}", "line 2"},
    {"coco_bad_leading_zero", "{\"images\": [\n{\"id\": 01}]}",
     "line 2 column 8 (byte 20): a number with a leading zero"},
    {"coco_bad_duplicate_key",
     "{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 1, \"height\": 1, "
     "\"id\": 2}], \"annotations\": [], \"categories\": []}",
     "an object has the key 'id' twice"},
    {"coco_bad_top_level", "[1, 2]", "top level"},
    {"coco_bad_missing_images", "{\"annotations\": [], \"categories\": []}", "images: missing"},
    {"coco_bad_images_not_list", "{\"images\": {}, \"annotations\": [], \"categories\": []}",
     "images: expected a list"},
    {"coco_bad_image_no_id",
     "{\"images\": [{\"file_name\": \"a\", \"width\": 1, \"height\": 1}], \"annotations\": [], "
     "\"categories\": []}",
     "images[0].id: missing"},
    {"coco_bad_image_id_string",
     "{\"images\": [{\"id\": \"1\", \"file_name\": \"a\", \"width\": 1, \"height\": 1}], "
     "\"annotations\": [], \"categories\": []}",
     "images[0].id: expected a number"},
    {"coco_bad_image_id_fraction",
     "{\"images\": [{\"id\": 1.5, \"file_name\": \"a\", \"width\": 1, \"height\": 1}], "
     "\"annotations\": [], \"categories\": []}",
     "images[0].id: expected an integer"},
    {"coco_bad_image_width_zero",
     "{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 0, \"height\": 1}], "
     "\"annotations\": [], \"categories\": []}",
     "images[0].width: must be positive"},
    {"coco_bad_image_file_name_type",
     "{\"images\": [{\"id\": 1, \"file_name\": 3, \"width\": 1, \"height\": 1}], "
     "\"annotations\": [], \"categories\": []}",
     "images[0].file_name: expected a string"},
    {"coco_bad_duplicate_image",
     "{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 1, \"height\": 1}, {\"id\": 1, "
     "\"file_name\": \"b\", \"width\": 1, \"height\": 1}], \"annotations\": [], \"categories\": []}",
     "images[1].id: duplicate id 1 (also images[0])"},
    {"coco_bad_duplicate_category",
     "{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 2, \"name\": \"a\"}, "
     "{\"id\": 2, \"name\": \"b\"}]}",
     "categories[1].id: duplicate id 2"},
    {"coco_bad_category_no_name", "{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 2}]}",
     "categories[0].name: missing"},
};

#define IMG1 "\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 4, \"height\": 3}], "
#define CAT1 "\"categories\": [{\"id\": 5, \"name\": \"x\"}]"
#define ANN(body) "{" IMG1 CAT1 ", \"annotations\": [{\"id\": 1, \"image_id\": 1, " body "}]}"
#define ANN_OK(extra) ANN("\"category_id\": 5, \"bbox\": [0, 0, 1, 1]" extra)

static const struct {
    const char *name, *json, *want;
} bad_ann[] = {
    {"coco_bad_ann_no_category", ANN("\"bbox\": [0, 0, 1, 1]"), "annotations[0].category_id: missing"},
    {"coco_bad_ann_no_bbox", ANN("\"category_id\": 5"), "annotations[0].bbox: missing"},
    {"coco_bad_ann_bbox_len", ANN("\"category_id\": 5, \"bbox\": [0, 0, 1]"),
     "annotations[0].bbox: expected [x, y, width, height]"},
    {"coco_bad_ann_bbox_type", ANN("\"category_id\": 5, \"bbox\": [0, \"a\", 1, 1]"),
     "annotations[0].bbox: expected a number"},
    {"coco_bad_ann_bbox_negative", ANN("\"category_id\": 5, \"bbox\": [0, 0, -1, 1]"),
     "annotations[0].bbox: negative width"},
    {"coco_bad_ann_unknown_category", ANN("\"category_id\": 6, \"bbox\": [0, 0, 1, 1]"),
     "annotations[0].category_id: unknown category id 6"},
    {"coco_bad_ann_unknown_image",
     "{" IMG1 CAT1 ", \"annotations\": [{\"id\": 1, \"image_id\": 2, \"category_id\": 5, "
     "\"bbox\": [0, 0, 1, 1]}]}",
     "annotations[0].image_id: unknown image id 2"},
    {"coco_bad_ann_duplicate",
     "{" IMG1 CAT1 ", \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 5, "
     "\"bbox\": [0, 0, 1, 1]}, {\"id\": 1, \"image_id\": 1, \"category_id\": 5, \"bbox\": [0, 0, "
     "1, 1]}]}",
     "annotations[1].id: duplicate id 1"},
    {"coco_bad_ann_iscrowd", ANN_OK(", \"iscrowd\": 2"), "annotations[0].iscrowd: must be 0 or 1"},
    {"coco_bad_ann_area_negative", ANN_OK(", \"area\": -3"), "annotations[0].area: negative"},
    {"coco_bad_ann_seg_type", ANN_OK(", \"segmentation\": 5"), "annotations[0].segmentation: expected"},
    {"coco_bad_ann_polygon_odd", ANN_OK(", \"segmentation\": [[0, 0, 1, 0, 1]]"),
     "annotations[0].segmentation[0]: 5 coordinates"},
    {"coco_bad_ann_polygon_short", ANN_OK(", \"segmentation\": [[0, 0, 1, 0]]"),
     "annotations[0].segmentation[0]: 4 coordinates"},
    {"coco_bad_ann_polygon_value", ANN_OK(", \"segmentation\": [[0, 0, 1, 0, 1, null]]"),
     "annotations[0].segmentation[0][5]: expected a number"},
    {"coco_bad_ann_rle_size_mismatch",
     ANN_OK(", \"segmentation\": {\"size\": [4, 3], \"counts\": [12]}"),
     "annotations[0].segmentation.size: [4, 3] but image 1 is 3x4"},
    {"coco_bad_ann_rle_sum", ANN_OK(", \"segmentation\": {\"size\": [3, 4], \"counts\": [5, 6]}"),
     "annotations[0].segmentation.counts: sum 11, expected 3 x 4"},
    {"coco_bad_ann_rle_negative",
     ANN_OK(", \"segmentation\": {\"size\": [3, 4], \"counts\": [13, -1]}"),
     "annotations[0].segmentation.counts[1]: count -1 out of range"},
    {"coco_bad_ann_rle_no_size", ANN_OK(", \"segmentation\": {\"counts\": [12]}"),
     "annotations[0].segmentation.size: missing"},
    {"coco_bad_ann_rle_string", ANN_OK(", \"segmentation\": {\"size\": [3, 4], \"counts\": \"1X\"}"),
     "annotations[0].segmentation.counts: compressed counts: truncated"},
};

static void test_bad(void)
{
    struct coco_dataset ds;
    coco_init(&ds);
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        int rc = coco_parse(&ds, bad_cases[i].json, strlen(bad_cases[i].json), "bad.json");
        CHECK(rc == -1 && strstr(err_msg(), "cannot read coco 'bad.json': ") &&
                  strstr(err_msg(), bad_cases[i].want) && ds.nimages == 0,
              bad_cases[i].name, "rc %d: %s", rc, err_msg());
    }
    for (size_t i = 0; i < sizeof bad_ann / sizeof *bad_ann; i++) {
        int rc = coco_parse(&ds, bad_ann[i].json, strlen(bad_ann[i].json), "bad.json");
        CHECK(rc == -1 && strstr(err_msg(), bad_ann[i].want) && ds.nannotations == 0,
              bad_ann[i].name, "rc %d: %s", rc, err_msg());
    }
    CHECK(coco_read(&ds, "/nonexistent/ann.json") == -1 &&
              strstr(err_msg(), "cannot read coco '/nonexistent/ann.json'"),
          "coco_bad_missing_file", "%s", err_msg());
    CHECK(coco_parse(&ds, "", 0, "empty") == -1, "coco_bad_empty", "accepted");
}

int main(void)
{
    test_parse_good();
    test_rle_string();
    test_write_round_trip();
    test_bad();
    return check_summary();
}

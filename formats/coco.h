/* COCO detection annotations (the instances_*.json format) read and written with cJSON:
 * images, annotations with bbox, area, iscrowd and segmentation (polygons, uncompressed RLE or
 * compressed-string RLE), and categories. Validated on read, with errors naming the JSON path
 * (`annotations[12].bbox`). Not keypoints, captions or panoptic. */
#ifndef SALBENCH_COCO_H
#define SALBENCH_COCO_H

#include <stddef.h>
#include <stdint.h>

enum coco_seg_kind {
    COCO_SEG_NONE = 0,    /* no "segmentation" key, or an empty list */
    COCO_SEG_POLYGONS = 1, /* list of polygons, each [x0,y0,x1,y1,...] */
    COCO_SEG_RLE = 2,      /* {"size": [h, w], "counts": [...] or "string"} */
};

/* One polygon of npoints vertices: xy[2*i] = x, xy[2*i+1] = y, in image pixel coordinates
 * (pixel (x, y) covers [x, x+1) x [y, y+1), as pipeline/image.h). */
struct coco_polygon {
    int npoints;
    double *xy;
};

/* A segmentation ready for pipeline/image: polygons go to image_fill_polygon (one call each,
 * union), RLE counts (always decompressed here, whatever the JSON form) to image_rle_decode with
 * rle_h x rle_w, which the reader checks equal the image's height x width. */
struct coco_segmentation {
    enum coco_seg_kind kind;
    int npolygons;
    struct coco_polygon *polygons;
    int rle_h, rle_w;
    size_t ncounts;
    uint32_t *counts;
};

struct coco_image {
    int64_t id;
    char *file_name; /* as in the JSON, relative to the images directory */
    int width, height;
};

struct coco_annotation {
    int64_t id, image_id, category_id;
    double bbox[4]; /* x, y, width, height as in COCO (not corners) */
    double area;    /* from the JSON; 0 when absent */
    int iscrowd;    /* 0 or 1; 0 when absent */
    struct coco_segmentation seg;
    /* Resolved by the reader: index into coco_dataset.images / .categories. */
    size_t image_index, category_index;
};

struct coco_category {
    int64_t id;
    char *name;
    char *supercategory; /* NULL when absent */
};

/* Everything is owned by the dataset (every string and array is malloc'd); free it with
 * coco_release. Arrays keep the JSON order. */
struct coco_dataset {
    struct coco_image *images;
    size_t nimages;
    struct coco_annotation *annotations;
    size_t nannotations;
    struct coco_category *categories;
    size_t ncategories;
};

/* Zeroes every field; no allocation. */
void coco_init(struct coco_dataset *ds);
/* Frees all contents and re-inits. Accepts NULL. */
void coco_release(struct coco_dataset *ds);

/* Reads and validates a COCO JSON file. `ds` must be init'ed; on success the caller owns its
 * contents. On failure returns -1 with err_set("cannot read coco '<path>': <json path>:
 * <reason>") and leaves ds released. Checked: JSON syntax (with the byte offset), that the top
 * level is an object with arrays "images", "annotations", "categories"; each field's type;
 * missing required keys (image id/file_name/width/height, annotation id/image_id/category_id/
 * bbox, category id/name); non-positive image sizes, negative bbox width/height, non-finite
 * numbers; duplicate image, annotation or category ids; annotations naming an unknown image or
 * category; RLE size different from its image, RLE counts not summing to h*w, malformed
 * compressed counts; polygons with an odd number of coordinates or fewer than 3 points.
 * Limits: arrays/objects nested deeper than 64 levels and strings (file names, category
 * names) longer than 4096 bytes are refused. */
int coco_read(struct coco_dataset *ds, const char *path);

/* Same as coco_read from a NUL-free buffer of len bytes; `name` is used in messages. */
int coco_parse(struct coco_dataset *ds, const char *json, size_t len, const char *name);

/* Writes `ds` as COCO JSON to `path` (temporary file then rename). Segmentations of kind
 * COCO_SEG_RLE are written in the compressed string form ({"size":[h,w],"counts":"..."}, as
 * pycocotools' encode), polygons as lists; bbox and area with up to 17 significant digits
 * (integers printed as integers). Deterministic bytes: keys in a fixed order, one image,
 * annotation or category per line. Returns 0, or -1 with err_set("cannot write coco '<path>':
 * ..."). The dataset is not validated: the caller writes what it built. */
int coco_write(const char *path, const struct coco_dataset *ds);

/* COCO's compressed RLE string form (pycocotools rleToString/rleFrString: each count, after the
 * third, stored as the difference from the count two before, in 5-bit LEB128-like groups of
 * ASCII 48..111). coco_rle_to_string returns a malloc'd NUL-terminated string (caller frees) or
 * NULL with err_set on out of memory. coco_rle_from_string returns 0 and a malloc'd array in
 * *counts (caller frees) with *ncounts entries, or -1 with err_set on malformed input (a
 * character outside 48..111, a truncated group, a negative or overflowing count). */
char *coco_rle_to_string(const uint32_t *counts, size_t ncounts);
int coco_rle_from_string(uint32_t **counts, size_t *ncounts, const char *s);

#endif

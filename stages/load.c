/* load: turns a COCO detection set, an ImageFolder or an IDX pair into examples.h5 (tables
 * examples, objects, classes; arrays images, labels, masks), rows in ascending example_id.
 * Images are decoded and resized in parallel (OpenMP over images, each writing its own slot);
 * all HDF5 output happens on the main thread, after every input was checked, through one
 * temp file renamed at the end, so a failure leaves the previous output untouched.
 * Memory: every kept image at input size plus one mask per object stays in memory until
 * written (1000 RGB 64x64 scenes: ~12 MiB; Fashion-MNIST train at 28x28: ~47 MiB). */
#include "formats/chash.h"
#include "formats/coco.h"
#include "formats/h5table.h"
#include "formats/idx.h"
#include "formats/imagefolder.h"
#include "formats/pngio.h"
#include "pipeline/err.h"
#include "pipeline/image.h"
#include "stages/common.h"

#include <inttypes.h>
#include <string.h>

static const char *const load_usage[] = {
    "load --out FILE (--coco FILE --images DIR | --imagefolder DIR | --idx-images FILE "
    "--idx-labels FILE) [options]",
    "  --out FILE           examples.h5 to write (replaced atomically)",
    "  --coco FILE          COCO detection JSON (boxes, polygon/RLE masks, iscrowd)",
    "  --images DIR         directory the COCO file_name entries are relative to",
    "  --imagefolder DIR    one sub-folder of PNGs per class (sorted names = class ids)",
    "  --idx-images FILE    IDX images [N,H,W] (plain or .gz), e.g. t10k-images-idx3-ubyte.gz",
    "  --idx-labels FILE    IDX labels [N]",
    "  --class-names A,B..  class names for IDX (default: the Fashion-MNIST names)",
    "  --size HxW           model input size: bilinear resize, boxes and masks follow",
    "                       (default: the images' common size; mixed sizes need --size)",
    "  --channels 1|3       channels of the stored images (default 3; IDX: 1)",
    "  --limit N            keep the first N images in source order (0: all)",
    "  --shard K/N          keep shard K of N (contiguous example_id range)",
    "  --split NAME         value of the split column (default test)",
    NULL};

/* ---- the examples.h5 schema (documented in README) --------------------------------------- */

#define LOAD_SOURCE_LEN 256
#define LOAD_NAME_LEN 64
#define LOAD_SPLIT_LEN 16

struct load_example_row {
    uint64_t example_id;
    char source[LOAD_SOURCE_LEN];
    int64_t source_id;
    int32_t width, height, channels, label, n_labels, n_objects;
    char split[LOAD_SPLIT_LEN];
};

struct load_object_row {
    uint64_t example_id;
    int64_t annotation_id;
    int32_t object_index, class_id;
    float x0, y0, x1, y1, area;
    uint8_t iscrowd, difficult, has_mask, clipped;
};

struct load_class_row {
    int32_t class_id;
    int64_t source_id;
    char name[LOAD_NAME_LEN];
};

#define EX(f, t) H5TABLE_COLUMN(struct load_example_row, f, t)
static const struct h5table_column load_example_cols[] = {
    EX(example_id, H5TABLE_U64), EX(source, H5TABLE_STR),   EX(source_id, H5TABLE_I64),
    EX(width, H5TABLE_I32),      EX(height, H5TABLE_I32),   EX(channels, H5TABLE_I32),
    EX(label, H5TABLE_I32),      EX(n_labels, H5TABLE_I32), EX(n_objects, H5TABLE_I32),
    EX(split, H5TABLE_STR)};
#undef EX
#define OB(f, t) H5TABLE_COLUMN(struct load_object_row, f, t)
static const struct h5table_column load_object_cols[] = {
    OB(example_id, H5TABLE_U64), OB(object_index, H5TABLE_I32), OB(annotation_id, H5TABLE_I64),
    OB(class_id, H5TABLE_I32),   OB(x0, H5TABLE_F32),           OB(y0, H5TABLE_F32),
    OB(x1, H5TABLE_F32),         OB(y1, H5TABLE_F32),           OB(area, H5TABLE_F32),
    OB(iscrowd, H5TABLE_U8),     OB(difficult, H5TABLE_U8),     OB(has_mask, H5TABLE_U8),
    OB(clipped, H5TABLE_U8)};
#undef OB
static const struct h5table_column load_class_cols[] = {
    H5TABLE_COLUMN(struct load_class_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct load_class_row, source_id, H5TABLE_I64),
    H5TABLE_COLUMN(struct load_class_row, name, H5TABLE_STR)};
static const struct h5table_schema load_example_schema = {
    "examples", sizeof(struct load_example_row), 10, load_example_cols};
static const struct h5table_schema load_object_schema = {
    "objects", sizeof(struct load_object_row), 13, load_object_cols};
static const struct h5table_schema load_class_schema = {
    "classes", sizeof(struct load_class_row), 3, load_class_cols};

/* ---- state ------------------------------------------------------------------------------- */

struct load_item {
    char *path;        /* source as stored in the table (xmalloc'd) */
    int64_t source_id; /* COCO image id, IDX index, ImageFolder position */
    int h, w, c;       /* original size (declared/probed, verified on decode) and channels */
    int label;         /* class for single-label sources, -1 for COCO */
    size_t obj0, nobj; /* its objects in load.objects */
    uint64_t id;
    int failed; /* probe or decode failed; err holds the message (NULL if it could not be kept) */
    char *err;
};

struct load_object {
    struct load_object_row row;                /* example_id filled after decode */
    const struct coco_segmentation *seg;       /* NULL: no mask */
};

struct load {
    const char *out, *coco, *images, *folder, *idx_images, *idx_labels, *split;
    struct cli_size size;
    long long channels, limit;
    struct cli_shard shard;
    struct cli_list class_names;
    struct coco_dataset ds;
    struct imagefolder fold;
    struct idx_dataset idx;
    const char *format;
    int nclasses;
    struct load_class_row *classes;
    struct load_item *items;
    size_t n;
    struct load_object *objects;
    size_t nobjects;
    int H, W, C;
    uint8_t *pixels, *masks; /* n*H*W*C and nobjects*H*W, source order */
    size_t *order;           /* item indices by ascending id; kept rows are [begin, end) */
    size_t begin, end;
    long clipped, empty;
};

static char *load_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void load_set_class(struct load *L, int k, int64_t source_id, const char *name)
{
    if (strlen(name) >= LOAD_NAME_LEN)
        cli_die("cannot load class '%s': name longer than %d bytes", name, LOAD_NAME_LEN - 1);
    L->classes[k].class_id = k;
    L->classes[k].source_id = source_id;
    snprintf(L->classes[k].name, LOAD_NAME_LEN, "%s", name);
}

static size_t load_limit(const struct load *L, size_t n)
{
    return L->limit > 0 && (size_t)L->limit < n ? (size_t)L->limit : n;
}

/* ---- sources ----------------------------------------------------------------------------- */

static int load_cmp_cat(const void *a, const void *b)
{
    const struct coco_category *x = *(struct coco_category *const *)a;
    const struct coco_category *y = *(struct coco_category *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void load_list_coco(struct load *L)
{
    if (coco_read(&L->ds, L->coco)) cli_fail();
    L->format = "coco";
    /* class ids: categories by ascending COCO id */
    L->nclasses = (int)L->ds.ncategories;
    L->classes = xcalloc(L->ds.ncategories, sizeof *L->classes);
    const struct coco_category **cats = xmalloc(L->ds.ncategories * sizeof *cats);
    int *class_of = xmalloc(L->ds.ncategories * sizeof *class_of);
    for (size_t i = 0; i < L->ds.ncategories; i++)
        cats[i] = &L->ds.categories[i];
    qsort(cats, L->ds.ncategories, sizeof *cats, load_cmp_cat);
    for (int k = 0; k < L->nclasses; k++) {
        load_set_class(L, k, cats[k]->id, cats[k]->name);
        class_of[cats[k] - L->ds.categories] = k;
    }
    L->n = load_limit(L, L->ds.nimages);
    L->items = xcalloc(L->n, sizeof *L->items);
    size_t *count = xcalloc(L->n + 1, sizeof *count);
    for (size_t a = 0; a < L->ds.nannotations; a++)
        if (L->ds.annotations[a].image_index < L->n) count[L->ds.annotations[a].image_index]++;
    for (size_t i = 0; i < L->n; i++) {
        const struct coco_image *im = &L->ds.images[i];
        struct load_item *it = &L->items[i];
        it->path = load_join(L->images, im->file_name);
        it->source_id = im->id;
        it->h = im->height;
        it->w = im->width;
        it->label = -1;
        it->obj0 = L->nobjects;
        L->nobjects += count[i];
    }
    L->objects = xcalloc(L->nobjects, sizeof *L->objects);
    for (size_t a = 0; a < L->ds.nannotations; a++) { /* JSON order within an image */
        const struct coco_annotation *an = &L->ds.annotations[a];
        if (an->image_index >= L->n) continue;
        struct load_item *it = &L->items[an->image_index];
        struct load_object *o = &L->objects[it->obj0 + it->nobj];
        o->row.object_index = (int32_t)it->nobj++;
        o->row.annotation_id = an->id;
        o->row.class_id = class_of[an->category_index];
        o->row.iscrowd = (uint8_t)(an->iscrowd != 0);
        o->row.x0 = (float)an->bbox[0];
        o->row.y0 = (float)an->bbox[1];
        o->row.x1 = (float)(an->bbox[0] + an->bbox[2]);
        o->row.y1 = (float)(an->bbox[1] + an->bbox[3]);
        o->seg = an->seg.kind != COCO_SEG_NONE ? &an->seg : NULL;
    }
    free(count);
    free(cats);
    free(class_of);
}

static void load_list_folder(struct load *L)
{
    if (imagefolder_scan(&L->fold, L->folder)) cli_fail();
    L->format = "imagefolder";
    L->nclasses = L->fold.nclasses;
    L->classes = xcalloc((size_t)L->nclasses, sizeof *L->classes);
    for (int k = 0; k < L->nclasses; k++)
        load_set_class(L, k, k, L->fold.class_names[k]);
    L->n = load_limit(L, L->fold.nitems);
    L->items = xcalloc(L->n, sizeof *L->items);
    for (size_t i = 0; i < L->n; i++) {
        L->items[i].path = xstrdup(L->fold.items[i].path);
        L->items[i].source_id = (int64_t)i;
        L->items[i].label = L->fold.items[i].class_id;
    }
}

static void load_list_idx(struct load *L)
{
    if (idx_load(&L->idx, L->idx_images, L->idx_labels)) cli_fail();
    L->format = "idx";
    int maxl = 0;
    for (size_t i = 0; i < L->idx.n; i++)
        maxl = L->idx.labels[i] > maxl ? L->idx.labels[i] : maxl;
    int named = L->class_names.n > 0;
    L->nclasses = named ? L->class_names.n : maxl < 10 ? 10 : maxl + 1;
    if (maxl >= L->nclasses)
        cli_die("cannot load '%s': label %d but only %d class names", L->idx_labels, maxl,
                L->nclasses);
    L->classes = xcalloc((size_t)L->nclasses, sizeof *L->classes);
    for (int k = 0; k < L->nclasses; k++) {
        char buf[32];
        snprintf(buf, sizeof buf, "class%d", k);
        load_set_class(L, k, k, named ? L->class_names.items[k]
                                : L->nclasses == 10 ? idx_fashion_mnist_classes[k] : buf);
    }
    L->n = load_limit(L, L->idx.n);
    L->items = xcalloc(L->n, sizeof *L->items);
    for (size_t i = 0; i < L->n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "#%zu", i);
        L->items[i].path = xmalloc(strlen(L->idx_images) + strlen(buf) + 1);
        strcat(strcpy(L->items[i].path, L->idx_images), buf);
        L->items[i].source_id = (int64_t)i;
        L->items[i].h = L->idx.height;
        L->items[i].w = L->idx.width;
        L->items[i].label = L->idx.labels[i];
    }
}

/* ---- sizes, boxes ------------------------------------------------------------------------ */

/* Keeps a worker thread's error message with its item (err_msg is per thread). */
static void load_failed(struct load_item *it)
{
    it->failed = 1;
    it->err = strdup(err_msg());
}

static _Noreturn void load_die_item(const struct load_item *it)
{
    if (it->err) cli_die("%s", it->err);
    cli_die("cannot load '%s': failed (message lost: out of memory)", it->path);
}

/* ImageFolder sizes come from the PNG headers (parallel; first error in source order wins). */
static void load_probe(struct load *L)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < L->n; i++)
        if (pngio_probe(L->items[i].path, &L->items[i].w, &L->items[i].h, NULL))
            load_failed(&L->items[i]);
    for (size_t i = 0; i < L->n; i++)
        if (L->items[i].failed) load_die_item(&L->items[i]);
}

static void load_target_size(struct load *L)
{
    if (L->n == 0) cli_die("cannot load '%s': empty data set (no images)",
                           L->coco ? L->coco : L->folder ? L->folder : L->idx_images);
    for (size_t i = 0; i < L->n; i++)
        if (strlen(L->items[i].path) >= LOAD_SOURCE_LEN)
            cli_die("cannot load '%s': source path longer than %d bytes", L->items[i].path,
                    LOAD_SOURCE_LEN - 1);
    L->H = L->size.h ? L->size.h : L->items[0].h;
    L->W = L->size.w ? L->size.w : L->items[0].w;
    for (size_t i = 1; !L->size.h && i < L->n; i++)
        if (L->items[i].h != L->H || L->items[i].w != L->W)
            cli_die("cannot load '%s': image is %dx%d but '%s' is %dx%d (mixed sizes need "
                    "--size HxW)", L->items[i].path, L->items[i].h, L->items[i].w,
                    L->items[0].path, L->H, L->W);
}

/* Clips boxes to their image, scales them to input pixels, counts clipping, and flags
 * "difficult" objects: the class's total box area in the image < 1/4 of the image while
 * another class is present (EBP / TorchRay pointing game). */
static void load_boxes(struct load *L)
{
    for (size_t i = 0; i < L->n; i++) {
        const struct load_item *it = &L->items[i];
        struct load_object *o = L->objects + it->obj0;
        for (size_t j = 0; j < it->nobj; j++) {
            struct load_object_row *r = &o[j].row;
            float box[4] = {r->x0, r->y0, r->x1, r->y1};
            r->clipped = (uint8_t)image_clip_box(box, it->h, it->w);
            L->clipped += r->clipped;
            L->empty += image_box_empty(box);
            image_scale_box(box, it->h, it->w, L->H, L->W);
            r->x0 = box[0], r->y0 = box[1], r->x1 = box[2], r->y1 = box[3];
        }
        for (size_t j = 0; j < it->nobj; j++) {
            double area = 0;
            int others = 0;
            for (size_t m = 0; m < it->nobj; m++) {
                if (o[m].row.class_id != o[j].row.class_id) others = 1;
                else area += (double)(o[m].row.x1 - o[m].row.x0) * (o[m].row.y1 - o[m].row.y0);
            }
            o[j].row.difficult = (uint8_t)(others && area < 0.25 * L->H * L->W);
            o[j].row.area = (o[j].row.x1 - o[j].row.x0) * (o[j].row.y1 - o[j].row.y0);
        }
    }
}

/* ---- decode (parallel: each item writes only its own slots) ------------------------------ */

/* Rasterises an object's segmentation at the original size, then resizes it to the input. */
static int load_mask(struct load *L, const struct load_item *it, struct load_object *o,
                     uint8_t *out)
{
    size_t hw = (size_t)it->h * it->w;
    uint8_t *m = calloc(hw ? hw : 1, 1);
    if (!m) return err_set("cannot rasterise mask of '%s': out of memory", it->path);
    int rc = 0;
    if (o->seg->kind == COCO_SEG_RLE)
        rc = image_rle_decode(m, o->seg->counts, o->seg->ncounts, it->h, it->w);
    for (int p = 0; o->seg->kind == COCO_SEG_POLYGONS && p < o->seg->npolygons; p++)
        image_fill_polygon(m, it->h, it->w, o->seg->polygons[p].xy, o->seg->polygons[p].npoints);
    if (rc == 0) {
        image_resize_mask(out, m, it->h, it->w, L->H, L->W);
        size_t area = 0;
        for (size_t k = 0; k < (size_t)L->H * L->W; k++)
            area += out[k];
        o->row.area = (float)area;
        o->row.has_mask = 1;
    }
    free(m);
    return rc ? err_wrap("cannot rasterise mask of '%s': ", it->path) : 0;
}

static int load_decode_one(struct load *L, size_t i)
{
    struct load_item *it = &L->items[i];
    uint8_t *dst = L->pixels + i * (size_t)L->H * L->W * L->C;
    struct pngio_image img;
    pngio_image_init(&img);
    if (L->idx_images) {
        img.width = L->idx.width, img.height = L->idx.height, img.channels = 1;
        img.pixels = malloc((size_t)img.width * img.height);
        if (!img.pixels) return err_set("cannot decode '%s': out of memory", it->path);
        memcpy(img.pixels, L->idx.images + i * (size_t)img.width * img.height,
               (size_t)img.width * img.height);
    } else if (pngio_read(&img, it->path)) {
        return -1;
    }
    int rc = 0;
    if (img.width != it->w || img.height != it->h)
        rc = err_set("cannot load '%s': image is %dx%d but its annotation says %dx%d", it->path,
                     img.height, img.width, it->h, it->w);
    if (rc == 0) {
        it->c = img.channels;
        it->id = chash_example_id(img.pixels, (uint32_t)img.height, (uint32_t)img.width,
                                  (uint32_t)img.channels);
        rc = pngio_convert(&img, L->C);
    }
    if (rc == 0) image_resize_bilinear_u8(dst, img.pixels, img.height, img.width, L->C, L->H, L->W);
    pngio_image_release(&img);
    for (size_t j = 0; rc == 0 && j < it->nobj; j++)
        if (L->objects[it->obj0 + j].seg)
            rc = load_mask(L, it, &L->objects[it->obj0 + j],
                           L->masks + (it->obj0 + j) * (size_t)L->H * L->W);
    return rc;
}

static void load_decode(struct load *L)
{
    size_t hw = (size_t)L->H * L->W;
    L->pixels = xcalloc(L->n, hw * (size_t)L->C);
    L->masks = xcalloc(L->nobjects, hw);
    struct cli_progress pr;
    cli_progress_start(&pr, "decode", L->n);
    for (size_t b = 0; b < L->n; b += 256) {
        size_t e = L->n - b < 256 ? L->n : b + 256;
#pragma omp parallel for schedule(static)
        for (size_t i = b; i < e; i++)
            if (load_decode_one(L, i)) load_failed(&L->items[i]);
        for (size_t i = b; i < e; i++)
            if (L->items[i].failed) load_die_item(&L->items[i]);
        cli_progress_update(&pr, e);
    }
    cli_progress_finish(&pr);
}

/* ---- order, shard ------------------------------------------------------------------------ */

static const struct load *load_sort_ctx;

static int load_cmp_id(const void *a, const void *b)
{
    uint64_t x = load_sort_ctx->items[*(const size_t *)a].id;
    uint64_t y = load_sort_ctx->items[*(const size_t *)b].id;
    if (x != y) return x < y ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static void load_order(struct load *L)
{
    L->order = xmalloc(L->n * sizeof *L->order);
    for (size_t i = 0; i < L->n; i++)
        L->order[i] = i;
    load_sort_ctx = L;
    qsort(L->order, L->n, sizeof *L->order, load_cmp_id);
    uint64_t *ids = xmalloc(L->n * sizeof *ids);
    for (size_t r = 0; r < L->n; r++) {
        const struct load_item *it = &L->items[L->order[r]];
        ids[r] = it->id;
        if (r && ids[r] == ids[r - 1])
            cli_die("cannot load '%s': duplicate example_id %016" PRIx64 " of '%s' (identical "
                    "pixels)", it->path, it->id, L->items[L->order[r - 1]].path);
        for (size_t j = 0; j < it->nobj; j++)
            L->objects[it->obj0 + j].row.example_id = it->id;
    }
    cli_shard_range(&L->shard, ids, L->n, &L->begin, &L->end);
    free(ids);
}

/* ---- output ------------------------------------------------------------------------------ */

/* Appends rows base[idx[k] * row] for k < n through a 1 MiB gather buffer. */
static int load_gather(struct h5table_stream *s, const uint8_t *base, size_t row,
                       const size_t *idx, size_t n, const char *what)
{
    size_t per = row >= (1u << 20) ? 1 : (1u << 20) / row;
    uint8_t *buf = xmalloc(per * row);
    int rc = 0;
    struct cli_progress pr;
    cli_progress_start(&pr, what, n);
    for (size_t k = 0; rc == 0 && k < n; k += per) {
        size_t m = n - k < per ? n - k : per;
        for (size_t j = 0; j < m; j++)
            memcpy(buf + j * row, base + idx[k + j] * row, row);
        rc = h5table_stream_append(s, buf, m);
        cli_progress_update(&pr, k + m);
    }
    cli_progress_finish(&pr);
    free(buf);
    return rc;
}

static int load_write_arrays(struct load *L, struct h5table_file *f, const size_t *objs,
                             size_t nobj)
{
    size_t n = L->end - L->begin, K = (size_t)L->nclasses;
    const uint64_t idims[4] = {0, (uint64_t)L->H, (uint64_t)L->W, (uint64_t)L->C};
    const uint64_t mdims[3] = {0, (uint64_t)L->H, (uint64_t)L->W}, ldims[2] = {n, K};
    struct h5table_stream *s = h5table_stream_create_array(f, "images", H5TABLE_U8, 4, idims);
    int rc = !s || load_gather(s, L->pixels, (size_t)L->H * L->W * L->C, L->order + L->begin, n,
                                  "write images");
    if (h5table_stream_close(s)) rc = -1;
    s = rc ? NULL : h5table_stream_create_array(f, "masks", H5TABLE_U8, 3, mdims);
    rc = rc || !s || load_gather(s, L->masks, (size_t)L->H * L->W, objs, nobj, "write masks");
    if (h5table_stream_close(s)) rc = -1;
    uint8_t *hot = xcalloc(n ? n : 1, K);
    for (size_t r = 0; r < n; r++) {
        const struct load_item *it = &L->items[L->order[L->begin + r]];
        if (it->label >= 0) hot[r * K + (size_t)it->label] = 1;
        for (size_t j = 0; j < it->nobj; j++)
            hot[r * K + (size_t)L->objects[it->obj0 + j].row.class_id] = 1;
    }
    rc = rc || h5table_write_array(f, "labels", H5TABLE_U8, 2, ldims, hot);
    free(hot);
    return rc ? -1 : 0;
}

static int load_write_tables(struct load *L, struct h5table_file *f, size_t *objs, size_t *nobj)
{
    size_t n = L->end - L->begin;
    struct load_example_row *ex = xcalloc(n ? n : 1, sizeof *ex);
    struct load_object_row *ob = xcalloc(L->nobjects ? L->nobjects : 1, sizeof *ob);
    *nobj = 0;
    for (size_t r = 0; r < n; r++) {
        const struct load_item *it = &L->items[L->order[L->begin + r]];
        int labels = 0;
        for (int k = 0; k < L->nclasses; k++) /* distinct classes among the objects */
            for (size_t j = 0; j < it->nobj; j++)
                if (L->objects[it->obj0 + j].row.class_id == k) {
                    labels++;
                    break;
                }
        ex[r].example_id = it->id;
        snprintf(ex[r].source, LOAD_SOURCE_LEN, "%s", it->path);
        ex[r].source_id = it->source_id;
        ex[r].width = it->w, ex[r].height = it->h, ex[r].channels = it->c;
        ex[r].n_labels = it->label >= 0 ? 1 : labels;
        ex[r].label = it->label >= 0 ? it->label /* single-label source */
                      : labels == 1 ? L->objects[it->obj0].row.class_id : -1;
        ex[r].n_objects = (int32_t)it->nobj;
        snprintf(ex[r].split, LOAD_SPLIT_LEN, "%s", L->split);
        for (size_t j = 0; j < it->nobj; j++) {
            objs[*nobj] = it->obj0 + j;
            ob[(*nobj)++] = L->objects[it->obj0 + j].row;
        }
    }
    int rc = h5table_write_table(f, "examples", &load_example_schema, ex, n) ||
             h5table_write_table(f, "objects", &load_object_schema, ob, *nobj) ||
             h5table_write_table(f, "classes", &load_class_schema, L->classes,
                                 (size_t)L->nclasses);
    free(ex);
    free(ob);
    return rc ? -1 : 0;
}

static void load_write(struct load *L)
{
    struct h5table_file *f = h5table_create(L->out);
    if (!f) cli_fail();
    size_t *objs = xmalloc((L->nobjects ? L->nobjects : 1) * sizeof *objs), nobj = 0;
    char *params = cli_params_json();
    int rc = load_write_tables(L, f, objs, &nobj) || load_write_arrays(L, f, objs, nobj) ||
             h5table_write_provenance(f, "load", params, NULL, 0) ||
             h5table_attr_set_str(f, "/", "source_format", L->format) ||
             h5table_attr_set_i64(f, "/", "boxes_clipped", L->clipped) ||
             h5table_attr_set_i64(f, "/", "boxes_empty", L->empty);
    free(params);
    free(objs);
    if (rc) {
        h5table_abort(f);
        cli_fail();
    }
    if (h5table_commit(f)) cli_fail();
}

static void load_release(struct load *L)
{
    for (size_t i = 0; i < L->n; i++) {
        free(L->items[i].path);
        free(L->items[i].err);
    }
    free(L->items);
    free(L->objects);
    free(L->classes);
    free(L->pixels);
    free(L->masks);
    free(L->order);
    coco_release(&L->ds);
    imagefolder_release(&L->fold);
    idx_dataset_release(&L->idx);
}

int main(int argc, char **argv)
{
    struct load L;
    memset(&L, 0, sizeof L);
    L.split = "test";
    coco_init(&L.ds);
    imagefolder_init(&L.fold);
    idx_dataset_init(&L.idx);
    const struct cli_option opts[] = {
        CLI_OUTPUT("out", &L.out),
        CLI_OPT("coco", CLI_STRING, &L.coco),
        CLI_OPT("images", CLI_STRING, &L.images),
        CLI_OPT("imagefolder", CLI_STRING, &L.folder),
        CLI_OPT("idx-images", CLI_STRING, &L.idx_images),
        CLI_OPT("idx-labels", CLI_STRING, &L.idx_labels),
        CLI_OPT("class-names", CLI_LIST, &L.class_names),
        CLI_OPT("size", CLI_SIZE, &L.size),
        CLI_RANGE("channels", CLI_INT, &L.channels, 1, 3),
        CLI_RANGE("limit", CLI_INT, &L.limit, 0, 1e15),
        CLI_OPT("shard", CLI_SHARD, &L.shard),
        CLI_OPT("split", CLI_STRING, &L.split),
        CLI_END};
    cli_init("load", load_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    cli_set_output(L.out);
    if (!L.out) cli_usage_error("missing --out FILE");
    int nsrc = !!L.coco + !!L.folder + !!(L.idx_images || L.idx_labels);
    if (nsrc != 1)
        cli_usage_error("give exactly one source: --coco, --imagefolder or --idx-images");
    if (!!L.coco != !!L.images) cli_usage_error("--coco and --images go together");
    if (!!L.idx_images != !!L.idx_labels)
        cli_usage_error("--idx-images and --idx-labels go together");
    if (L.channels == 2) cli_usage_error("cannot use '--channels 2': must be 1 or 3");
    if (L.class_names.n && !L.idx_images) cli_usage_error("--class-names is for IDX sources");
    if (strlen(L.split) >= LOAD_SPLIT_LEN)
        cli_usage_error("cannot use '--split %s': at most %d bytes", L.split, LOAD_SPLIT_LEN - 1);
    L.C = L.channels ? (int)L.channels : L.idx_images ? 1 : 3;

    if (L.coco) load_list_coco(&L);
    else if (L.folder) load_list_folder(&L);
    else load_list_idx(&L);
    if (L.folder) load_probe(&L);
    load_target_size(&L);
    L.size.h = L.H, L.size.w = L.W, L.channels = L.C; /* effective values in the params */
    load_boxes(&L);
    load_decode(&L);
    load_order(&L);
    load_write(&L);
    if (L.clipped)
        fprintf(stderr, "load: %ld boxes clipped to their image (%ld empty after clipping)\n",
                L.clipped, L.empty);
    load_release(&L);
    return cli_exit(0);
}

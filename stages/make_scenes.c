/* make_scenes: generates the fashion-scenes data set, 64x64 RGB scenes each holding 1 to 3 real
 * Fashion-MNIST items (tinted, scaled, on a smooth low-contrast background) with a COCO JSON
 * of per-item boxes and RLE masks. Integer arithmetic only and Philox draws keyed by (seed,
 * scene), so the pixels are the same on every machine and thread count. Not a pipeline stage:
 * it makes the input that bin/load reads. The recipe and the rules are in data/README.md. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/atomicfile.h"
#include "formats/coco.h"
#include "formats/idx.h"
#include "formats/pngio.h"
#include "pipeline/err.h"
#include "pipeline/image.h"
#include "pipeline/rng.h"
#include "stages/common.h"

#define SCENE_SIZE 64
#define SCENE_PIXELS (SCENE_SIZE * SCENE_SIZE)
#define SCENE_MAX_ITEMS 3
#define ITEM_MIN 20        /* item side in pixels, inclusive range */
#define ITEM_MAX 40
#define MASK_MIN_GREY 26   /* a pixel can belong to an item when its share >= ~10% (26/255) */
#define KEEP_PERCENT 75    /* every item keeps owning >= 75% of its own mask pixels */
#define PLACE_TRIES 50     /* placements tried before an item is dropped */
#define BATCH 256          /* scenes generated in parallel, then written in order */
#define PERM_KEY 0xffffffffu /* rng key (low 32 bits) of the source permutation */

static const char *const scenes_usage[] = {
    "make_scenes [--split test|train] [--count N] [--seed S] [--out DIR] [--source DIR]",
    "  --split S      Fashion-MNIST split the items come from: test (t10k) or train",
    "                 (default test)",
    "  --count N      scenes to make (default 1000 for test, 30000 for train)",
    "  --seed S       seed of every random draw (default 1)",
    "  --out DIR      output directory, replaced as a whole (default data/fashion-scenes/test",
    "                 for test, data/fashion-scenes-train for train)",
    "  --source DIR   directory of the IDX files (default /usr/share/datasets/fashion-mnist)",
    "Writes DIR/images/NNNNN.png and DIR/annotations.json (COCO; file names relative to DIR).",
    "The output does not depend on --threads.",
    NULL};

struct scenes_opts {
    const char *split, *out, *source;
    long long count, seed;
};

struct scene_item {
    int label;
    uint32_t src;
    size_t own_area;               /* pixels with grey >= MASK_MIN_GREY when pasted */
    uint8_t share[SCENE_PIXELS];   /* its share of each pixel's colour, 0..255 */
    uint8_t mask[SCENE_PIXELS];    /* pixels it owns (see scene_owner), set at the end */
};

struct scene {
    uint8_t rgb[SCENE_PIXELS * 3];
    int nitems;
    struct scene_item items[SCENE_MAX_ITEMS];
    uint8_t *png;
    size_t png_len;
    int failed;
    char err[256];
};

/* ---- random draws ---- */

static uint64_t scenes_key(int train, uint32_t index)
{
    return (uint64_t)(train ? 1 : 0) << 32 | index;
}

/* How many items scene s asks for: the first draw of its stream. */
static int scenes_nitems(struct rng *r)
{
    return 1 + (int)rng_below(r, SCENE_MAX_ITEMS);
}

/* Fisher-Yates permutation of 0..n-1 for pass p over the source images. */
static void scenes_permutation(uint32_t *perm, uint32_t n, uint64_t seed, int train, uint32_t p)
{
    struct rng r;
    rng_init(&r, seed, scenes_key(train, PERM_KEY - p), RNG_SCENES);
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = rng_below(&r, i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

/* ---- drawing (integers only) ---- */

/* Smooth background: base colour, linear gradient across the image, mild luminance noise. */
static void scene_background(uint8_t *rgb, struct rng *r)
{
    int base = 96 + (int)rng_below(r, 64), c0[3];
    for (int c = 0; c < 3; c++) c0[c] = base + (int)rng_below(r, 25) - 12;
    int dx = (int)rng_below(r, 41) - 20, dy = (int)rng_below(r, 41) - 20;
    int amp = 12 + (int)rng_below(r, 25); /* grey levels from centre to a corner, roughly */
    for (int y = 0; y < SCENE_SIZE; y++) {
        for (int x = 0; x < SCENE_SIZE; x++) {
            int g = ((2 * x - 63) * dx + (2 * y - 63) * dy) * amp / (63 * 40);
            int noise = (int)rng_below(r, 5) - 2;
            for (int c = 0; c < 3; c++) {
                int v = c0[c] + g + noise;
                rgb[(y * SCENE_SIZE + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* Integer HSV (h in 0..359, s and v in 0..255) to RGB. */
static void scene_hsv(uint8_t rgb[3], int h, int s, int v)
{
    int sector = h / 60, f = (h % 60) * 255 / 60;
    int p = v * (255 - s) / 255, q = v * (255 - s * f / 255) / 255;
    int t = v * (255 - s * (255 - f) / 255) / 255;
    const int tab[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)tab[sector][c];
}

/* Bilinear resize of a grey item [H,W] to [S,S] in exact rationals, with the half-pixel
 * convention of image_resize_bilinear_u8 (src = (dst + 0.5) * in / out - 0.5, clamped at 0),
 * so no floating point can make two machines disagree. */
static void scene_tap(int dst, int in, int out, int *i0, int *i1, int *w1, int *den)
{
    int num = (2 * dst + 1) * in - out; /* src = num / (2 out) */
    *den = 2 * out;
    if (num < 0) num = 0;
    *i0 = num / *den;
    *w1 = num % *den;
    if (*i0 >= in - 1) *i0 = in - 1, *w1 = 0;
    *i1 = *i0 + (*i0 < in - 1);
}

static void scene_item_alpha(uint8_t *out, int S, const uint8_t *in, int H, int W)
{
    for (int oy = 0; oy < S; oy++) {
        int y0, y1, wy, dy;
        scene_tap(oy, H, S, &y0, &y1, &wy, &dy);
        for (int ox = 0; ox < S; ox++) {
            int x0, x1, wx, dx;
            scene_tap(ox, W, S, &x0, &x1, &wx, &dx);
            long top = (long)(dx - wx) * in[y0 * W + x0] + (long)wx * in[y0 * W + x1];
            long bot = (long)(dx - wx) * in[y1 * W + x0] + (long)wx * in[y1 * W + x1];
            long d = (long)dx * dy, v = (dy - wy) * top + wy * bot;
            out[oy * S + ox] = (uint8_t)((v + d / 2) / d);
        }
    }
}

/* The item owning pixel p among the first n: the largest share of its colour (a later item
 * wins a tie), if that share is >= MASK_MIN_GREY; -1 for background. `extra` is -1, or the
 * share of a candidate item n pasted on top, which scales the earlier shares by
 * (255 - extra) / 255 (returns n when it wins). */
static int scene_owner(const struct scene *sc, int n, int p, int extra)
{
    int best = -1, top = MASK_MIN_GREY;
    for (int i = 0; i < n; i++) {
        int v = sc->items[i].share[p];
        if (extra >= 0) v = (v * (255 - extra) + 127) / 255;
        if (v >= top) best = i, top = v;
    }
    if (extra >= top) best = n;
    return best;
}

/* Tries placements until every earlier item keeps KEEP_PERCENT of its own mask pixels and the
 * new item owns KEEP_PERCENT of its own. Returns 0 with *px, *py, or -1 (item dropped). */
static int scene_place(const struct scene *sc, const uint8_t *alpha, int S, size_t area,
                       struct rng *r, int *px, int *py)
{
    size_t owned[SCENE_MAX_ITEMS] = {0};
    int n = sc->nitems;
    for (int p = 0; p < SCENE_PIXELS; p++) {
        int o = scene_owner(sc, n, p, -1);
        if (o >= 0) owned[o]++;
    }
    for (int t = 0; t < PLACE_TRIES; t++) {
        int x = (int)rng_below(r, SCENE_SIZE - S + 1), y = (int)rng_below(r, SCENE_SIZE - S + 1);
        size_t lost[SCENE_MAX_ITEMS] = {0}, mine = 0;
        for (int yy = 0; yy < S; yy++) {
            for (int xx = 0; xx < S; xx++) {
                int p = (y + yy) * SCENE_SIZE + x + xx;
                int before = scene_owner(sc, n, p, -1), after = scene_owner(sc, n, p, alpha[yy * S + xx]);
                if (before >= 0 && after != before) lost[before]++;
                mine += after == n;
            }
        }
        int ok = mine * 100 >= KEEP_PERCENT * area;
        for (int i = 0; i < n && ok; i++)
            ok = (owned[i] - lost[i]) * 100 >= KEEP_PERCENT * sc->items[i].own_area;
        if (ok) {
            *px = x, *py = y;
            return 0;
        }
    }
    return -1;
}

/* Alpha-blends the tinted item (alpha = its grey level) at (x, y) over the scene and scales the
 * earlier items' colour shares by what now covers them. */
static void scene_paste(struct scene *sc, const uint8_t *alpha, int S, int x, int y,
                        const uint8_t tint[3])
{
    struct scene_item *it = &sc->items[sc->nitems];
    memset(it->share, 0, sizeof it->share);
    it->own_area = 0;
    for (int yy = 0; yy < S; yy++) {
        for (int xx = 0; xx < S; xx++) {
            int a = alpha[yy * S + xx], p = (y + yy) * SCENE_SIZE + x + xx;
            uint8_t *o = sc->rgb + 3 * p;
            for (int c = 0; c < 3; c++)
                o[c] = (uint8_t)((o[c] * (255 - a) + tint[c] * a + 127) / 255);
            for (int i = 0; i < sc->nitems; i++)
                sc->items[i].share[p] = (uint8_t)((sc->items[i].share[p] * (255 - a) + 127) / 255);
            it->share[p] = (uint8_t)a;
            it->own_area += a >= MASK_MIN_GREY;
        }
    }
    sc->nitems++;
}

/* Each pixel goes to the mask of its owner, so masks are disjoint. */
static void scene_masks(struct scene *sc)
{
    for (int i = 0; i < sc->nitems; i++) memset(sc->items[i].mask, 0, SCENE_PIXELS);
    for (int p = 0; p < SCENE_PIXELS; p++) {
        int o = scene_owner(sc, sc->nitems, p, -1);
        if (o >= 0) sc->items[o].mask[p] = 1;
    }
}

/* Scene `index`: background, then items in order, later ones on top. */
static void scene_make(struct scene *sc, const struct idx_dataset *ds, const uint32_t *srcs,
                       uint64_t seed, int train, uint32_t index)
{
    struct rng r;
    uint8_t alpha[ITEM_MAX * ITEM_MAX];
    rng_init(&r, seed, scenes_key(train, index), RNG_SCENES);
    int want = scenes_nitems(&r);
    scene_background(sc->rgb, &r);
    sc->nitems = 0;
    for (int j = 0; j < want; j++) {
        uint32_t src = srcs[j];
        int S = ITEM_MIN + (int)rng_below(&r, ITEM_MAX - ITEM_MIN + 1), x, y;
        uint8_t tint[3];
        scene_hsv(tint, (int)rng_below(&r, 360), 140 + (int)rng_below(&r, 116),
                  150 + (int)rng_below(&r, 106));
        scene_item_alpha(alpha, S, ds->images + (size_t)src * ds->height * ds->width,
                         ds->height, ds->width);
        size_t area = 0;
        for (int k = 0; k < S * S; k++) area += alpha[k] >= MASK_MIN_GREY;
        if (area == 0 || scene_place(sc, alpha, S, area, &r, &x, &y)) continue; /* dropped */
        sc->items[sc->nitems].label = ds->labels[src];
        sc->items[sc->nitems].src = src;
        scene_paste(sc, alpha, S, x, y, tint);
    }
    scene_masks(sc);
}

/* ---- annotations ---- */

/* Appends one COCO image and its items' annotations (tight box, area, RLE of the visible mask). */
static int scene_annotate(struct coco_dataset *ds, const struct scene *sc, uint32_t index)
{
    static _Thread_local uint32_t counts[SCENE_PIXELS + 1];
    struct coco_image *im = &ds->images[ds->nimages];
    char name[32];
    snprintf(name, sizeof name, "images/%05u.png", index);
    if (!(im->file_name = strdup(name))) return err_set("out of memory");
    im->id = index, im->width = SCENE_SIZE, im->height = SCENE_SIZE;
    ds->nimages++;
    for (int j = 0; j < sc->nitems; j++) {
        const struct scene_item *it = &sc->items[j];
        struct coco_annotation *a = &ds->annotations[ds->nannotations];
        int box[4];
        size_t area = image_mask_box(box, it->mask, SCENE_SIZE, SCENE_SIZE);
        size_t n = image_rle_encode(counts, it->mask, SCENE_SIZE, SCENE_SIZE);
        memset(a, 0, sizeof *a);
        a->id = (int64_t)index * SCENE_MAX_ITEMS + j;
        a->image_id = index, a->category_id = it->label;
        a->bbox[0] = box[0], a->bbox[1] = box[1];
        a->bbox[2] = box[2] - box[0], a->bbox[3] = box[3] - box[1];
        a->area = (double)area;
        a->seg.kind = COCO_SEG_RLE;
        a->seg.rle_h = a->seg.rle_w = SCENE_SIZE;
        if (!(a->seg.counts = malloc(sizeof *counts * n))) return err_set("out of memory");
        memcpy(a->seg.counts, counts, sizeof *counts * n);
        a->seg.ncounts = n;
        ds->nannotations++;
    }
    return 0;
}

static int scenes_categories(struct coco_dataset *ds)
{
    ds->categories = calloc(10, sizeof *ds->categories);
    if (!ds->categories) return err_set("out of memory");
    for (int k = 0; k < 10; k++) {
        ds->categories[k].id = k;
        if (!(ds->categories[k].name = strdup(idx_fashion_mnist_classes[k])))
            return err_set("out of memory");
        ds->ncategories++;
    }
    return 0;
}

/* ---- output directory: built beside the target, swapped in whole ---- */

static char *scenes_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int scenes_mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return err_set("out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) {
            int e = errno;
            free(p);
            return err_set("cannot create directory '%s': %s", dir, strerror(e));
        }
        *s = '/';
    }
    int rc = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
    if (rc) rc = err_set("cannot create directory '%s': %s", dir, strerror(errno));
    free(p);
    return rc;
}

/* Visits a directory made by this program (annotations.json and images/ with *.png only); with
 * remove = 1 deletes it, with remove = 0 only checks that nothing else is inside. */
static int scenes_own_dir(const char *dir, int remove)
{
    char *images = scenes_join(dir, "images"), *ann = scenes_join(dir, "annotations.json");
    int rc = images && ann ? 0 : err_set("out of memory");
    struct dirent *e;
    DIR *d = rc ? NULL : opendir(dir);
    if (!rc && !d) rc = err_set("cannot open '%s': %s", dir, strerror(errno));
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strcmp(e->d_name, "images") || !strcmp(e->d_name, "annotations.json"))
            continue;
        rc = err_set("cannot replace '%s': it holds '%s', which make_scenes did not write",
                     dir, e->d_name);
    }
    if (d) closedir(d);
    d = rc ? NULL : opendir(images);
    while (d && !rc && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n < 5 || strcmp(e->d_name + n - 4, ".png")) {
            rc = err_set("cannot replace '%s': it holds 'images/%s', not a scene", dir,
                         e->d_name);
        } else if (remove) {
            char *f = scenes_join(images, e->d_name);
            if (!f || unlink(f)) rc = err_set("cannot remove '%s/%s'", images, e->d_name);
            free(f);
        }
    }
    if (d) closedir(d);
    if (!rc && remove) {
        if ((unlink(ann) && errno != ENOENT) || (rmdir(images) && errno != ENOENT) || rmdir(dir))
            rc = err_set("cannot remove '%s': %s", dir, strerror(errno));
    }
    free(images);
    free(ann);
    return rc;
}

static int scenes_swap_in(const char *tmp, const char *out)
{
    struct stat st;
    char old[4096];
    if (stat(out, &st) != 0) {
        if (rename(tmp, out)) return err_set("cannot rename '%s' to '%s': %s", tmp, out,
                                             strerror(errno));
        return 0;
    }
    snprintf(old, sizeof old, "%s.old.%ld", out, (long)getpid());
    if (rename(out, old)) return err_set("cannot move '%s' aside: %s", out, strerror(errno));
    if (rename(tmp, out)) {
        int e = errno;
        if (rename(old, out)) { /* put the old one back; nothing else to do */ }
        return err_set("cannot rename '%s' to '%s': %s", tmp, out, strerror(e));
    }
    return scenes_own_dir(old, 1);
}

/* ---- plan: which Fashion-MNIST image each item of each scene uses ---- */

/* offsets[s] .. offsets[s+1] index srcs; sources walk a fresh permutation per pass over the
 * split, so no image repeats until all have been used. */
static int scenes_plan(size_t **offsets, uint32_t **srcs, const struct scenes_opts *o, int train,
                       uint32_t n)
{
    uint32_t *perm = malloc(sizeof *perm * n);
    *offsets = malloc(sizeof **offsets * ((size_t)o->count + 1));
    *srcs = NULL;
    if (!perm || !*offsets) return free(perm), err_set("out of memory");
    (*offsets)[0] = 0;
    for (long s = 0; s < o->count; s++) {
        struct rng r;
        rng_init(&r, (uint64_t)o->seed, scenes_key(train, (uint32_t)s), RNG_SCENES);
        (*offsets)[s + 1] = (*offsets)[s] + (size_t)scenes_nitems(&r);
    }
    size_t total = (*offsets)[o->count];
    if (!(*srcs = malloc(sizeof **srcs * total))) return free(perm), err_set("out of memory");
    for (size_t j = 0; j < total; j++) {
        if (j % n == 0) scenes_permutation(perm, n, (uint64_t)o->seed, train, (uint32_t)(j / n));
        (*srcs)[j] = perm[j % n];
    }
    free(perm);
    return 0;
}

/* ---- main loop ---- */

static int scenes_write_batch(struct scene *batch, int nb, long first, const char *tmp,
                              struct coco_dataset *ds)
{
    for (int b = 0; b < nb; b++) {
        char name[64];
        if (batch[b].failed) return err_set("%s", batch[b].err);
        snprintf(name, sizeof name, "images/%05ld.png", first + b);
        char *path = scenes_join(tmp, name);
        if (!path) return err_set("out of memory");
        int rc = atomicfile_write_all(path, batch[b].png, batch[b].png_len);
        free(path);
        free(batch[b].png);
        batch[b].png = NULL;
        if (rc || scene_annotate(ds, &batch[b], (uint32_t)(first + b))) return -1;
    }
    return 0;
}

static int scenes_generate(const struct scenes_opts *o, const struct idx_dataset *src, int train,
                           const char *tmp, struct coco_dataset *ds)
{
    size_t *offsets = NULL;
    uint32_t *srcs = NULL;
    struct scene *batch = calloc(BATCH, sizeof *batch);
    int rc = batch ? scenes_plan(&offsets, &srcs, o, train, (uint32_t)src->n)
                   : err_set("out of memory");
    if (!rc && (!(ds->images = calloc((size_t)o->count, sizeof *ds->images)) ||
                !(ds->annotations = calloc(offsets[o->count] + 1, sizeof *ds->annotations))))
        rc = err_set("out of memory");
    struct cli_progress progress;
    cli_progress_start(&progress, "scenes", (uint64_t)o->count);
    for (long first = 0; !rc && first < o->count; first += BATCH) {
        int nb = (int)(o->count - first < BATCH ? o->count - first : BATCH);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int b = 0; b < nb; b++) {
            struct scene *sc = &batch[b];
            long s = first + b;
            scene_make(sc, src, srcs + offsets[s], (uint64_t)o->seed, train, (uint32_t)s);
            sc->failed = pngio_encode(&sc->png, &sc->png_len, sc->rgb, SCENE_SIZE, SCENE_SIZE, 3);
            if (sc->failed) snprintf(sc->err, sizeof sc->err, "%s", err_msg());
        }
        rc = scenes_write_batch(batch, nb, first, tmp, ds);
        cli_progress_update(&progress, (uint64_t)(first + nb));
    }
    cli_progress_finish(&progress);
    for (int b = 0; batch && b < BATCH; b++) free(batch[b].png);
    free(batch);
    free(offsets);
    free(srcs);
    return rc;
}

static void scenes_report(const struct scenes_opts *o, const struct coco_dataset *ds)
{
    long per_scene[SCENE_MAX_ITEMS + 1] = {0}, per_class[10] = {0};
    size_t a = 0;
    for (size_t i = 0; i < ds->nimages; i++) {
        int k = 0;
        while (a < ds->nannotations && ds->annotations[a].image_id == ds->images[i].id) {
            per_class[ds->annotations[a].category_id]++;
            a++, k++;
        }
        per_scene[k]++;
    }
    fprintf(stderr, "make_scenes: wrote %zu scenes, %zu items to '%s'\n", ds->nimages,
            ds->nannotations, o->out);
    fprintf(stderr, "make_scenes: items per scene:");
    for (int k = 0; k <= SCENE_MAX_ITEMS; k++) fprintf(stderr, " %d: %ld", k, per_scene[k]);
    fprintf(stderr, "\nmake_scenes: items per class:");
    for (int k = 0; k < 10; k++) fprintf(stderr, " %d: %ld", k, per_class[k]);
    fprintf(stderr, "\n");
}

/* Parses argv into o with stages/common (which exits 0 on --help, 2 on a usage error). */
static void scenes_parse(struct scenes_opts *o, int argc, char **argv)
{
    const struct cli_option opts[] = {
        CLI_OPT("split", CLI_STRING, &o->split),
        CLI_RANGE("count", CLI_INT, &o->count, 1, 1000000),
        CLI_RANGE("seed", CLI_INT, &o->seed, 0, 9007199254740992.0),
        CLI_OUTPUT("out", &o->out),
        CLI_OPT("source", CLI_STRING, &o->source),
        CLI_END};
    o->split = "test", o->out = NULL, o->source = "/usr/share/datasets/fashion-mnist";
    o->count = 0, o->seed = 1;
    cli_init("make_scenes", scenes_usage);
    int first = cli_parse(opts, argc, argv);
    if (first != argc) cli_usage_error("cannot parse '%s': unexpected argument", argv[first]);
    int train = !strcmp(o->split, "train");
    if (!train && strcmp(o->split, "test"))
        cli_usage_error("cannot use --split '%s': it is test or train", o->split);
    if (o->count == 0) o->count = train ? 30000 : 1000;
    if (!o->out) o->out = train ? "data/fashion-scenes-train" : "data/fashion-scenes/test";
}

static int scenes_run(const struct scenes_opts *o)
{
    struct idx_dataset src;
    struct coco_dataset ds;
    struct stat st;
    char tmp[4096];
    int train = !strcmp(o->split, "train"), made = 0;
    idx_dataset_init(&src);
    coco_init(&ds);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o->out, (long)getpid());
    char *images = scenes_join(tmp, "images"), *ann = scenes_join(tmp, "annotations.json");
    int rc = images && ann ? 0 : err_set("out of memory");
    if (!rc) rc = idx_load_split(&src, o->source, o->split);
    if (!rc && stat(o->out, &st) == 0) rc = scenes_own_dir(o->out, 0);
    if (!rc) rc = scenes_mkdir_p(images);
    made = !rc;
    if (!rc) rc = scenes_categories(&ds);
    if (!rc) rc = scenes_generate(o, &src, train, tmp, &ds);
    if (!rc) rc = coco_write(ann, &ds);
    if (!rc) rc = scenes_swap_in(tmp, o->out);
    if (!rc) scenes_report(o, &ds);
    if (rc && made) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", err_msg());
        scenes_own_dir(tmp, 1);
        err_set("%s", keep);
    }
    idx_dataset_release(&src);
    coco_release(&ds);
    free(images);
    free(ann);
    return rc;
}

int main(int argc, char **argv)
{
    struct scenes_opts o;
    scenes_parse(&o, argc, argv);
    if (scenes_run(&o)) cli_fail();
    return cli_exit(0);
}

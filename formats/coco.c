/* COCO detection JSON: parse and validate with cJSON into plain structs, write deterministic
 * JSON with compressed-string RLE masks, and the pycocotools RLE string codec. Errors carry the
 * JSON path of the offending value. Not a general JSON layer: the cJSON tree lives only inside
 * coco_parse. */
#include "formats/coco.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "formats/atomicfile.h"
#include "formats/jsoncheck.h"
#include "pipeline/err.h"

#define COCO_MAX_EXACT 9007199254740992.0 /* 2^53: larger ids would not survive a double */
#define COCO_MAX_DEPTH 64     /* COCO itself nests 5 deep; cJSON's own limit is 1000 */
#define COCO_MAX_STRING 4096  /* file names, category names (PATH_MAX) */

void coco_init(struct coco_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
}

static void coco_seg_release(struct coco_segmentation *s)
{
    for (int i = 0; i < s->npolygons; i++) free(s->polygons[i].xy);
    free(s->polygons);
    free(s->counts);
    memset(s, 0, sizeof *s);
}

void coco_release(struct coco_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->nimages; i++) free(ds->images[i].file_name);
    for (size_t i = 0; i < ds->nannotations; i++) coco_seg_release(&ds->annotations[i].seg);
    for (size_t i = 0; i < ds->ncategories; i++) {
        free(ds->categories[i].name);
        free(ds->categories[i].supercategory);
    }
    free(ds->images);
    free(ds->annotations);
    free(ds->categories);
    coco_init(ds);
}

/* snprintf for JSON paths; a path longer than the buffer is cut, which only shortens messages. */
static void coco_pathf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void coco_pathf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* ---- field readers: each sets "<path>: <reason>" on failure ---- */

static int coco_number(double *out, const cJSON *v, const char *path)
{
    if (!cJSON_IsNumber(v)) return err_set("%s: expected a number", path);
    if (!isfinite(v->valuedouble)) return err_set("%s: not a finite number", path);
    *out = v->valuedouble;
    return 0;
}

static int coco_integer(int64_t *out, const cJSON *v, const char *path)
{
    double d = 0;
    if (coco_number(&d, v, path)) return -1;
    if (d != floor(d) || fabs(d) > COCO_MAX_EXACT)
        return err_set("%s: expected an integer, got %.17g", path, d);
    *out = (int64_t)d;
    return 0;
}

/* obj[key] at path "<prefix>.<key>"; *v = NULL when absent and optional. */
static int coco_field(const cJSON **v, const cJSON *obj, const char *key, int required,
                      char *path, size_t cap, const char *prefix)
{
    coco_pathf(path, cap, "%s.%s", prefix, key);
    *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*v && required) return err_set("%s: missing", path);
    return 0;
}

static int coco_int_field(int64_t *out, const cJSON *obj, const char *key, int required,
                          const char *prefix)
{
    char path[256];
    const cJSON *v;
    if (coco_field(&v, obj, key, required, path, sizeof path, prefix)) return -1;
    if (!v) return 0;
    return coco_integer(out, v, path);
}

static int coco_string_field(char **out, const cJSON *obj, const char *key, int required,
                             const char *prefix)
{
    char path[256];
    const cJSON *v;
    if (coco_field(&v, obj, key, required, path, sizeof path, prefix)) return -1;
    if (!v) return 0;
    if (!cJSON_IsString(v)) return err_set("%s: expected a string", path);
    size_t len = strlen(v->valuestring);
    if (len > COCO_MAX_STRING)
        return err_set("%s: %zu bytes long (limit %d)", path, len, COCO_MAX_STRING);
    *out = strdup(v->valuestring);
    if (!*out) return err_set("%s: out of memory", path);
    return 0;
}

static int coco_dim_field(int *out, const cJSON *obj, const char *key, const char *prefix)
{
    int64_t v = 0;
    if (coco_int_field(&v, obj, key, 1, prefix)) return -1;
    if (v <= 0 || v > INT_MAX) return err_set("%s.%s: must be positive, got %lld", prefix, key,
                                              (long long)v);
    *out = (int)v;
    return 0;
}

/* ---- sections ---- */

static int coco_parse_image(struct coco_image *im, const cJSON *o, const char *path)
{
    if (!cJSON_IsObject(o)) return err_set("%s: expected an object", path);
    if (coco_int_field(&im->id, o, "id", 1, path)) return -1;
    if (coco_string_field(&im->file_name, o, "file_name", 1, path)) return -1;
    if (coco_dim_field(&im->width, o, "width", path)) return -1;
    return coco_dim_field(&im->height, o, "height", path);
}

static int coco_parse_category(struct coco_category *c, const cJSON *o, const char *path)
{
    if (!cJSON_IsObject(o)) return err_set("%s: expected an object", path);
    if (coco_int_field(&c->id, o, "id", 1, path)) return -1;
    if (coco_string_field(&c->name, o, "name", 1, path)) return -1;
    return coco_string_field(&c->supercategory, o, "supercategory", 0, path);
}

static int coco_parse_polygons(struct coco_segmentation *s, const cJSON *v, const char *path)
{
    int n = cJSON_GetArraySize(v), i = 0;
    char p[256];
    s->polygons = calloc((size_t)n, sizeof *s->polygons);
    if (!s->polygons) return err_set("%s: out of memory", path);
    s->kind = COCO_SEG_POLYGONS;
    const cJSON *poly;
    cJSON_ArrayForEach(poly, v)
    {
        coco_pathf(p, sizeof p, "%s[%d]", path, i);
        if (!cJSON_IsArray(poly)) return err_set("%s: expected a list of coordinates", p);
        int m = cJSON_GetArraySize(poly), k = 0;
        if (m % 2 || m < 6)
            return err_set("%s: %d coordinates (need an even number, at least 6)", p, m);
        struct coco_polygon *pg = &s->polygons[s->npolygons++];
        pg->npoints = m / 2;
        pg->xy = malloc(sizeof *pg->xy * (size_t)m);
        if (!pg->xy) return err_set("%s: out of memory", p);
        const cJSON *c;
        cJSON_ArrayForEach(c, poly)
        {
            char pc[300];
            coco_pathf(pc, sizeof pc, "%s[%d]", p, k);
            if (coco_number(&pg->xy[k++], c, pc)) return -1;
        }
        i++;
    }
    return 0;
}

static int coco_parse_counts(struct coco_segmentation *s, const cJSON *counts, const char *path)
{
    if (cJSON_IsString(counts)) {
        if (coco_rle_from_string(&s->counts, &s->ncounts, counts->valuestring))
            return err_wrap("%s: ", path);
        return 0;
    }
    if (!cJSON_IsArray(counts)) return err_set("%s: expected a list or a string", path);
    size_t n = (size_t)cJSON_GetArraySize(counts), i = 0;
    s->counts = malloc(sizeof *s->counts * (n ? n : 1));
    if (!s->counts) return err_set("%s: out of memory", path);
    const cJSON *c;
    cJSON_ArrayForEach(c, counts)
    {
        char p[300];
        int64_t v;
        coco_pathf(p, sizeof p, "%s[%zu]", path, i);
        if (coco_integer(&v, c, p)) return -1;
        if (v < 0 || v > UINT32_MAX) return err_set("%s: count %lld out of range", p, (long long)v);
        s->counts[i++] = (uint32_t)v;
    }
    s->ncounts = n;
    return 0;
}

static int coco_parse_rle(struct coco_segmentation *s, const cJSON *v, const char *path)
{
    char p[256];
    const cJSON *size, *counts;
    s->kind = COCO_SEG_RLE;
    if (coco_field(&size, v, "size", 1, p, sizeof p, path)) return -1;
    if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2)
        return err_set("%s: expected [height, width]", p);
    int64_t h, w;
    if (coco_integer(&h, cJSON_GetArrayItem(size, 0), p) ||
        coco_integer(&w, cJSON_GetArrayItem(size, 1), p))
        return -1;
    if (h <= 0 || w <= 0 || h > INT_MAX || w > INT_MAX)
        return err_set("%s: bad size [%lld, %lld]", p, (long long)h, (long long)w);
    s->rle_h = (int)h, s->rle_w = (int)w;
    if (coco_field(&counts, v, "counts", 1, p, sizeof p, path)) return -1;
    return coco_parse_counts(s, counts, p);
}

static int coco_parse_annotation(struct coco_annotation *a, const cJSON *o, const char *path)
{
    char p[256];
    const cJSON *v;
    if (!cJSON_IsObject(o)) return err_set("%s: expected an object", path);
    if (coco_int_field(&a->id, o, "id", 1, path) ||
        coco_int_field(&a->image_id, o, "image_id", 1, path) ||
        coco_int_field(&a->category_id, o, "category_id", 1, path))
        return -1;
    if (coco_field(&v, o, "bbox", 1, p, sizeof p, path)) return -1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4)
        return err_set("%s: expected [x, y, width, height]", p);
    for (int k = 0; k < 4; k++)
        if (coco_number(&a->bbox[k], cJSON_GetArrayItem(v, k), p)) return -1;
    if (a->bbox[2] < 0 || a->bbox[3] < 0)
        return err_set("%s: negative width or height (%g x %g)", p, a->bbox[2], a->bbox[3]);
    if (coco_field(&v, o, "area", 0, p, sizeof p, path)) return -1;
    if (v && coco_number(&a->area, v, p)) return -1;
    if (a->area < 0) return err_set("%s: negative area %g", p, a->area);
    if (coco_field(&v, o, "iscrowd", 0, p, sizeof p, path)) return -1;
    if (v && cJSON_IsBool(v)) {
        a->iscrowd = cJSON_IsTrue(v);
    } else if (v) {
        int64_t c;
        if (coco_integer(&c, v, p)) return -1;
        if (c != 0 && c != 1) return err_set("%s: must be 0 or 1", p);
        a->iscrowd = (int)c;
    }
    if (coco_field(&v, o, "segmentation", 0, p, sizeof p, path)) return -1;
    if (!v || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) return 0;
    if (cJSON_IsArray(v)) return coco_parse_polygons(&a->seg, v, p);
    if (cJSON_IsObject(v)) return coco_parse_rle(&a->seg, v, p);
    return err_set("%s: expected polygons or an RLE object", p);
}

/* Allocates *arr for the JSON array root[key] and returns its element count via *n. */
static int coco_section(const cJSON **out, size_t *n, void **arr, size_t elem, const cJSON *root,
                        const char *key)
{
    *out = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!*out) return err_set("%s: missing", key);
    if (!cJSON_IsArray(*out)) return err_set("%s: expected a list", key);
    *n = (size_t)cJSON_GetArraySize(*out);
    *arr = calloc(*n ? *n : 1, elem);
    if (!*arr) return err_set("%s: out of memory", key);
    return 0;
}

static int coco_parse_sections(struct coco_dataset *ds, const cJSON *root)
{
    const cJSON *sec, *o;
    char path[64];
    size_t n, i;
    if (coco_section(&sec, &n, (void **)&ds->images, sizeof *ds->images, root, "images"))
        return -1;
    i = 0;
    cJSON_ArrayForEach(o, sec)
    {
        coco_pathf(path, sizeof path, "images[%zu]", i);
        ds->nimages = ++i;
        if (coco_parse_image(&ds->images[i - 1], o, path)) return -1;
    }
    if (coco_section(&sec, &n, (void **)&ds->categories, sizeof *ds->categories, root,
                     "categories"))
        return -1;
    i = 0;
    cJSON_ArrayForEach(o, sec)
    {
        coco_pathf(path, sizeof path, "categories[%zu]", i);
        ds->ncategories = ++i;
        if (coco_parse_category(&ds->categories[i - 1], o, path)) return -1;
    }
    if (coco_section(&sec, &n, (void **)&ds->annotations, sizeof *ds->annotations, root,
                     "annotations"))
        return -1;
    i = 0;
    cJSON_ArrayForEach(o, sec)
    {
        coco_pathf(path, sizeof path, "annotations[%zu]", i);
        ds->nannotations = ++i;
        if (coco_parse_annotation(&ds->annotations[i - 1], o, path)) return -1;
    }
    return 0;
}

/* ---- cross-checks: duplicate ids, references, RLE sizes ---- */

struct coco_key {
    int64_t id;
    size_t index;
};

static int coco_key_cmp(const void *a, const void *b)
{
    const struct coco_key *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted (id, index) keys; a duplicate id is an error naming both entries. */
static struct coco_key *coco_index(const int64_t *ids, size_t stride, size_t n, const char *what)
{
    struct coco_key *k = malloc(sizeof *k * (n ? n : 1));
    if (!k) return err_set("%s: out of memory", what), NULL;
    for (size_t i = 0; i < n; i++) {
        k[i].id = *(const int64_t *)((const char *)ids + i * stride);
        k[i].index = i;
    }
    qsort(k, n, sizeof *k, coco_key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (k[i].id == k[i - 1].id) {
            err_set("%s[%zu].id: duplicate id %lld (also %s[%zu])", what, k[i].index,
                    (long long)k[i].id, what, k[i - 1].index);
            free(k);
            return NULL;
        }
    }
    return k;
}

static int coco_lookup(size_t *index, const struct coco_key *k, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo == n || k[lo].id != id) return -1;
    *index = k[lo].index;
    return 0;
}

static int coco_check_annotation(struct coco_annotation *a, size_t i, const struct coco_dataset *ds,
                                 const struct coco_key *ik, const struct coco_key *ck)
{
    if (coco_lookup(&a->image_index, ik, ds->nimages, a->image_id))
        return err_set("annotations[%zu].image_id: unknown image id %lld", i,
                       (long long)a->image_id);
    if (coco_lookup(&a->category_index, ck, ds->ncategories, a->category_id))
        return err_set("annotations[%zu].category_id: unknown category id %lld", i,
                       (long long)a->category_id);
    if (a->seg.kind != COCO_SEG_RLE) return 0;
    const struct coco_image *im = &ds->images[a->image_index];
    if (a->seg.rle_h != im->height || a->seg.rle_w != im->width)
        return err_set("annotations[%zu].segmentation.size: [%d, %d] but image %lld is %dx%d "
                       "(height x width)",
                       i, a->seg.rle_h, a->seg.rle_w, (long long)im->id, im->height, im->width);
    uint64_t sum = 0;
    for (size_t k = 0; k < a->seg.ncounts; k++) sum += a->seg.counts[k];
    if (sum != (uint64_t)im->height * (uint64_t)im->width)
        return err_set("annotations[%zu].segmentation.counts: sum %llu, expected %d x %d", i,
                       (unsigned long long)sum, im->height, im->width);
    return 0;
}

static int coco_cross_check(struct coco_dataset *ds)
{
    int rc = -1;
    struct coco_key *ak = NULL, *ck = NULL;
    struct coco_key *ik = coco_index(&ds->images[0].id, sizeof *ds->images, ds->nimages, "images");
    if (!ik) goto done;
    ck = coco_index(&ds->categories[0].id, sizeof *ds->categories, ds->ncategories, "categories");
    if (!ck) goto done;
    ak = coco_index(&ds->annotations[0].id, sizeof *ds->annotations, ds->nannotations,
                    "annotations");
    if (!ak) goto done;
    for (size_t i = 0; i < ds->nannotations; i++)
        if (coco_check_annotation(&ds->annotations[i], i, ds, ik, ck)) goto done;
    rc = 0;
done:
    free(ik);
    free(ck);
    free(ak);
    return rc;
}

/* Line and column of a byte offset, for parse errors. */
static void coco_line_col(const char *json, size_t off, int *line, int *col)
{
    *line = 1, *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n') (*line)++, *col = 1;
        else (*col)++;
    }
}

int coco_parse(struct coco_dataset *ds, const char *json, size_t len, const char *name)
{
    const char *end = NULL;
    coco_release(ds);
    /* before cJSON: deep input gets a message that says what is wrong, and cJSON's lenient
     * numbers ("032", "1.") are refused */
    const char *why = NULL;
    size_t bad = jsoncheck_text(json, len, COCO_MAX_DEPTH, &why);
    int line, col;
    if (bad < len && (json[bad] == '[' || json[bad] == '{'))
        return err_set("cannot read coco '%s': JSON nested deeper than %d levels at byte %zu",
                       name, COCO_MAX_DEPTH, bad);
    if (bad < len) {
        coco_line_col(json, bad, &line, &col);
        return err_set("cannot read coco '%s': invalid JSON at line %d column %d (byte %zu): %s",
                       name, line, col, bad, why);
    }
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t off = end && end >= json ? (size_t)(end - json) : 0;
        coco_line_col(json, off < len ? off : len, &line, &col);
        return err_set("cannot read coco '%s': invalid JSON at line %d column %d (byte %zu)", name,
                       line, col, off);
    }
    int rc = -1;
    const cJSON *dup = jsoncheck_duplicate_key(root);
    if (dup) {
        err_set("an object has the key '%s' twice", dup->string);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        err_set("top level: expected an object");
        goto done;
    }
    if (coco_parse_sections(ds, root) || coco_cross_check(ds)) goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) {
        err_wrap("cannot read coco '%s': ", name);
        coco_release(ds);
    }
    return rc;
}

int coco_read(struct coco_dataset *ds, const char *path)
{
    coco_release(ds);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("cannot read coco '%s': %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *grown = realloc(buf, ncap);
            if (!grown) {
                free(buf);
                fclose(f);
                return err_set("cannot read coco '%s': out of memory", path);
            }
            buf = grown, cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return err_set("cannot read coco '%s': read error", path);
    }
    int rc = coco_parse(ds, buf, len, path);
    free(buf);
    return rc;
}

/* ---- RLE string codec (pycocotools maskApi.c rleToString / rleFrString) ---- */

char *coco_rle_to_string(const uint32_t *counts, size_t ncounts)
{
    char *s = malloc(ncounts * 7 + 1); /* a 33-bit signed delta needs at most 7 groups */
    if (!s) return err_set("cannot encode rle: out of memory"), NULL;
    size_t p = 0;
    for (size_t i = 0; i < ncounts; i++) {
        int64_t x = counts[i];
        if (i > 2) x -= counts[i - 2];
        for (int more = 1; more;) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift (gcc, clang): sign is kept */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = '\0';
    return s;
}

int coco_rle_from_string(uint32_t **counts, size_t *ncounts, const char *s)
{
    size_t len = strlen(s), m = 0, p = 0;
    uint32_t *cnt = malloc(sizeof *cnt * (len ? len : 1));
    *counts = NULL, *ncounts = 0;
    if (!cnt) return err_set("cannot decode rle: out of memory");
    while (p < len) {
        uint64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len) goto bad_trunc;
            int c = (unsigned char)s[p] - 48;
            if (c < 0 || c > 63) goto bad_char;
            if (k >= 8) goto bad_big;
            x |= (uint64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++, k++;
            if (!more && (c & 0x10)) x |= ~(uint64_t)0 << (5 * k);
        }
        int64_t v = (int64_t)x;
        if (m > 2) v += cnt[m - 2];
        if (v < 0 || v > UINT32_MAX) goto bad_big;
        cnt[m++] = (uint32_t)v;
    }
    *counts = cnt, *ncounts = m;
    return 0;
bad_trunc:
    free(cnt);
    return err_set("compressed counts: truncated at character %zu", p);
bad_char:
    free(cnt);
    return err_set("compressed counts: character %zu is outside '0'..'o'", p);
bad_big:
    free(cnt);
    return err_set("compressed counts: count %zu is negative or too large", m);
}

/* ---- writer ---- */

struct coco_buf {
    char *s;
    size_t len, cap;
    int oom;
};

static void coco_puts(struct coco_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n + 1 > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (n + 1 > cap - b->len) cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) {
            b->oom = 1;
            return;
        }
        b->s = g, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void coco_printf(struct coco_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void coco_printf(struct coco_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) b->oom = 1; /* never happens for numbers */
    else coco_puts(b, tmp, (size_t)n);
}

/* Shortest of %.15g / %.17g that reads back exactly; integers without a decimal point. */
static void coco_number_out(struct coco_buf *b, double v)
{
    char tmp[40];
    if (v == floor(v) && fabs(v) < COCO_MAX_EXACT) {
        coco_printf(b, "%lld", (long long)v);
        return;
    }
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
    coco_puts(b, tmp, strlen(tmp));
}

static void coco_string_out(struct coco_buf *b, const char *s)
{
    coco_puts(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            coco_puts(b, e, 2);
        } else if (*p < 0x20) {
            coco_printf(b, "\\u%04x", *p);
        } else {
            coco_puts(b, (const char *)p, 1);
        }
    }
    coco_puts(b, "\"", 1);
}

static void coco_seg_out(struct coco_buf *b, const struct coco_segmentation *s)
{
    if (s->kind == COCO_SEG_RLE) {
        char *str = coco_rle_to_string(s->counts, s->ncounts);
        if (!str) {
            b->oom = 1;
            return;
        }
        coco_printf(b, "{\"size\": [%d, %d], \"counts\": ", s->rle_h, s->rle_w);
        coco_string_out(b, str);
        coco_puts(b, "}", 1);
        free(str);
        return;
    }
    coco_puts(b, "[", 1);
    for (int i = 0; s->kind == COCO_SEG_POLYGONS && i < s->npolygons; i++) {
        coco_puts(b, i ? ", [" : "[", i ? 3 : 1);
        for (int k = 0; k < 2 * s->polygons[i].npoints; k++) {
            if (k) coco_puts(b, ", ", 2);
            coco_number_out(b, s->polygons[i].xy[k]);
        }
        coco_puts(b, "]", 1);
    }
    coco_puts(b, "]", 1);
}

static void coco_annotation_out(struct coco_buf *b, const struct coco_annotation *a)
{
    coco_printf(b, "{\"id\": %lld, \"image_id\": %lld, \"category_id\": %lld, \"bbox\": [",
                (long long)a->id, (long long)a->image_id, (long long)a->category_id);
    for (int k = 0; k < 4; k++) {
        if (k) coco_puts(b, ", ", 2);
        coco_number_out(b, a->bbox[k]);
    }
    coco_puts(b, "], \"area\": ", 11);
    coco_number_out(b, a->area);
    coco_printf(b, ", \"iscrowd\": %d, \"segmentation\": ", a->iscrowd);
    coco_seg_out(b, &a->seg);
    coco_puts(b, "}", 1);
}

static void coco_dataset_out(struct coco_buf *b, const struct coco_dataset *ds)
{
    coco_puts(b, "{\n\"images\": [", 13);
    for (size_t i = 0; i < ds->nimages; i++) {
        const struct coco_image *im = &ds->images[i];
        coco_printf(b, "%s\n{\"id\": %lld, \"file_name\": ", i ? "," : "", (long long)im->id);
        coco_string_out(b, im->file_name);
        coco_printf(b, ", \"width\": %d, \"height\": %d}", im->width, im->height);
    }
    coco_puts(b, "\n],\n\"annotations\": [", 20);
    for (size_t i = 0; i < ds->nannotations; i++) {
        coco_puts(b, i ? ",\n" : "\n", i ? 2 : 1);
        coco_annotation_out(b, &ds->annotations[i]);
    }
    coco_puts(b, "\n],\n\"categories\": [", 19);
    for (size_t i = 0; i < ds->ncategories; i++) {
        const struct coco_category *c = &ds->categories[i];
        coco_printf(b, "%s\n{\"id\": %lld, \"name\": ", i ? "," : "", (long long)c->id);
        coco_string_out(b, c->name);
        if (c->supercategory) {
            coco_puts(b, ", \"supercategory\": ", 19);
            coco_string_out(b, c->supercategory);
        }
        coco_puts(b, "}", 1);
    }
    coco_puts(b, "\n]\n}\n", 5);
}

int coco_write(const char *path, const struct coco_dataset *ds)
{
    struct coco_buf b = {0};
    coco_dataset_out(&b, ds);
    if (b.oom) {
        free(b.s);
        return err_set("cannot write coco '%s': out of memory", path);
    }
    int rc = atomicfile_write_all(path, b.s, b.len);
    free(b.s);
    if (rc) return err_wrap("cannot write coco '%s': ", path);
    return 0;
}

/* The exports tree of bin/export: each picked trial's input.png, saliency_<method>.png and
 * metadata.txt (Armory's layout and key order, MLFLOW.md B.5-B.6), built under
 * DIR/exports.tmp.<pid> and swapped over DIR/exports in one rename. Pictures are rendered and
 * PNG-encoded in parallel over (sample, file); HDF5 reads and file writes stay on the main
 * thread. See export.h. */
#define _GNU_SOURCE /* renameat2 (RENAME_EXCHANGE) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "formats/atomicfile.h"
#include "formats/chash.h"
#include "formats/h5table.h"
#include "formats/mlflowstore.h"
#include "formats/pngio.h"
#include "pipeline/err.h"
#include "pipeline/threads.h"
#include "stages/common.h"
#include "stages/export.h"

/* Samples read, rendered and written per round (bounds the maps and PNGs held in memory). */
#define EXPORT_CHUNK 32

/* ---- directory tree helpers -------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* rm -r without following symlinks; ENOENT is success. */
static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st)) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (!dir) return -1;
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(dir)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                char *sub = path_join(path, e->d_name);
                rc |= remove_tree(sub);
                free(sub);
            }
        closedir(dir);
        return rmdir(path) || rc ? -1 : 0;
    }
    return unlink(path) && errno != ENOENT ? -1 : 0;
}

static int mkdirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; !rc; s++) {
        int end = *s == '\0';
        if (*s != '/' && !end) continue;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST)
            rc = err_set("cannot create directory '%s': %s", p, strerror(errno));
        if (end) break;
        *s = '/';
    }
    free(p);
    return rc;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* The staging tree of this process, removed at exit unless published. */
static char *export_staging;

static void export_cleanup(void)
{
    if (export_staging) remove_tree(export_staging);
    free(export_staging);
    export_staging = NULL;
}

/* Removes exports.tmp.<pid> / exports.old.<pid> trees in dir whose process is gone (a kill
 * leaves them; SIGINT/SIGTERM skip the atexit handler). */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *tail = NULL;
        if (!strncmp(e->d_name, "exports.tmp.", 12) || !strncmp(e->d_name, "exports.old.", 12))
            tail = e->d_name + 12;
        if (!tail || !*tail || strspn(tail, "0123456789") != strlen(tail)) continue;
        long pid = strtol(tail, NULL, 10);
        if (pid <= 0 || pid == (long)getpid() || !(kill((pid_t)pid, 0) && errno == ESRCH))
            continue;
        char *p = path_join(dir, e->d_name);
        remove_tree(p);
        free(p);
    }
    closedir(d);
}

/* Publishes staging as final: a plain rename when final is absent, else an exchange (staging
 * then holds the old tree, which is removed). */
static int publish(const char *staging, const char *final, const char *dir)
{
    struct stat st;
    if (lstat(final, &st)) {
        if (errno != ENOENT) return err_set("cannot replace '%s': %s", final, strerror(errno));
        if (rename(staging, final)) return err_set("cannot create '%s': %s", final, strerror(errno));
        fsync_dir(dir);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return err_set("cannot replace '%s': not a directory", final);
    if (renameat2(AT_FDCWD, staging, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        fsync_dir(dir);
        remove_tree(staging);
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return err_set("cannot replace '%s': %s", final, strerror(errno));
    char name[64];
    snprintf(name, sizeof name, "exports.old.%ld", (long)getpid());
    char *aside = path_join(dir, name); /* no RENAME_EXCHANGE here: a short gap */
    int rc = 0;
    if (rename(final, aside)) rc = err_set("cannot replace '%s': %s", final, strerror(errno));
    else if (rename(staging, final)) {
        rc = err_set("cannot replace '%s': %s", final, strerror(errno));
        rename(aside, final);
    } else {
        fsync_dir(dir);
        remove_tree(aside);
    }
    free(aside);
    return rc;
}

/* ---- metadata.txt ------------------------------------------------------------------------ */

struct sbuf {
    char *s;
    size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k >= 0 && b->s && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)(k > 0 ? k : 0) + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(b, "\\%c", *p);
        else if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
        else sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

/* A float as JSON: shortest round-trip digits of its precision, always with a '.' or an
 * exponent (so json.load gives a float), null for NaN/inf. */
static void sb_num(struct sbuf *b, double v, int digits)
{
    if (!isfinite(v)) {
        sb_printf(b, "null");
        return;
    }
    char t[40];
    snprintf(t, sizeof t, "%.*g", digits, v);
    sb_printf(b, "%s%s", t, strpbrk(t, ".e") ? "" : ".0");
}

static void sb_class(struct sbuf *b, const struct export_data *d, int k)
{
    sb_printf(b, "\"class_id\":%d,\"class_name\":", k);
    sb_str(b, d->ex.class_names[k]);
}

static void meta_targets(struct sbuf *b, const struct export_data *d, size_t r)
{
    const int K = d->ex.K;
    int n = 0;
    for (int k = 0; k < K; k++)
        n += d->ex.multi_hot[r * (size_t)K + k] != 0;
    /* Armory's classification target is the int label; several labels become a list */
    if (d->ex.label[r] >= 0 && n <= 1) sb_printf(b, "\"targets\":%d,", d->ex.label[r]);
    else {
        sb_printf(b, "\"targets\":[");
        for (int k = 0, i = 0; k < K; k++)
            if (d->ex.multi_hot[r * (size_t)K + k]) sb_printf(b, "%s%d", i++ ? "," : "", k);
        sb_printf(b, "],");
    }
}

static void meta_predictions(struct sbuf *b, const struct export_data *d, size_t r, int top_k)
{
    const int K = d->ex.K;
    size_t p = d->pred_row[r];
    const float *pr = d->probs + p * (size_t)K;
    sb_printf(b, "\"predictions\":[");
    for (int k = 0; k < K; k++) {
        if (k) sb_printf(b, ",");
        sb_num(b, pr[k], 9);
    }
    sb_printf(b, "],\"example_id\":\"%016" PRIx64 "\",\"source\":", d->ex.ids[r]);
    sb_str(b, d->source[r]);
    sb_printf(b, ",\"labels\":[");
    for (int k = 0, i = 0; k < K; k++)
        if (d->ex.multi_hot[r * (size_t)K + k]) {
            sb_printf(b, "%s{", i++ ? "," : "");
            sb_class(b, d, k);
            sb_printf(b, "}");
        }
    sb_printf(b, "],\"class_names\":[");
    for (int k = 0; k < K; k++) {
        if (k) sb_printf(b, ",");
        sb_str(b, d->ex.class_names[k]);
    }
    sb_printf(b, "],\"predicted\":{");
    sb_class(b, d, d->predicted[p]);
    sb_printf(b, ",\"score\":");
    sb_num(b, d->score[p], 9);
    sb_printf(b, ",\"correct\":%s,\"output\":\"%s\"},\"top_probs\":[",
              d->correct[p] < 0 ? "null" : d->correct[p] ? "true" : "false",
              d->multi_label ? "sigmoid" : "softmax");
    /* top_k classes by probability, ties by class id (selection by repeated max: K is small) */
    unsigned char used[4096] = {0};
    for (int i = 0; i < top_k && i < K && K <= 4096; i++) {
        int best = -1;
        for (int k = 0; k < K; k++)
            if (!used[k] && (best < 0 || pr[k] > pr[best])) best = k;
        used[best] = 1;
        sb_printf(b, "%s{", i ? "," : "");
        sb_class(b, d, best);
        sb_printf(b, ",\"prob\":");
        sb_num(b, pr[best], 9);
        sb_printf(b, "}");
    }
    sb_printf(b, "],");
}

static int box_drawn(const struct export_options *o, const struct export_object *ob, int k)
{
    return o->boxes == 2 || (o->boxes == 1 && ob->class_id == k);
}

static void meta_trial(struct sbuf *b, const struct export_data *d, const struct export_options *o,
                       const struct export_pick *pk)
{
    size_t t = pk->trial, r = d->trow[t];
    int k = d->tcls[t];
    sb_printf(b, "\"trial\":{\"row\":%zu,", t);
    sb_class(b, d, k);
    sb_printf(b, ",\"reason\":");
    sb_str(b, d->reason[t]);
    sb_printf(b, "},\"objects\":[");
    for (size_t i = d->obj_begin[r]; i < d->obj_begin[r + 1]; i++) {
        const struct export_object *ob = &d->objs[i];
        sb_printf(b, "%s{", i > d->obj_begin[r] ? "," : "");
        sb_class(b, d, ob->class_id);
        sb_printf(b, ",\"box\":[");
        sb_num(b, ob->x0, 9), sb_printf(b, ","), sb_num(b, ob->y0, 9), sb_printf(b, ",");
        sb_num(b, ob->x1, 9), sb_printf(b, ","), sb_num(b, ob->y1, 9);
        sb_printf(b, "],\"difficult\":%s,\"drawn\":%s}", ob->difficult ? "true" : "false",
                  box_drawn(o, ob, k) ? "true" : "false");
    }
    sb_printf(b, "],\"saliency\":{");
    for (size_t m = 0; m < d->n_methods; m++)
        sb_printf(b, "%s\"%s\":\"saliency_%s.png\"", m ? "," : "", d->methods[m], d->methods[m]);
    sb_printf(b, "}");
    if (d->scores_path) {
        sb_printf(b, ",\"scores\":{");
        int first = 1;
        for (size_t m = 0; m < d->n_methods; m++) {
            int s = export_data_scores_of(d, d->methods[m]);
            if (s < 0) continue;
            const struct export_scores *e = &d->scores[s];
            sb_printf(b, "%s\"%s\":{", first ? "" : ",", e->method);
            first = 0;
            for (int j = 0; j < e->n_metrics; j++) {
                sb_printf(b, "%s", j ? "," : "");
                sb_str(b, e->metrics[j]);
                sb_printf(b, ":");
                sb_num(b, e->values[(size_t)j * d->T + t], 17);
            }
            sb_printf(b, "}");
        }
        sb_printf(b, "}");
    }
}

static const char *const mode_names[] = {"", "first", "every", "ids", "worst", "best"};

static char *metadata_json(const struct export_data *d, const struct export_options *o,
                           const struct export_pick *pk)
{
    struct sbuf b = {NULL, 0, 0};
    size_t r = d->trow[pk->trial];
    const struct export_selection *s = o->sel;
    sb_printf(&b, "{");
    meta_targets(&b, d, r);
    meta_predictions(&b, d, r, o->top_k);
    meta_trial(&b, d, o, pk);
    sb_printf(&b, ",\"selection\":{\"mode\":\"%s\"", mode_names[s->mode]);
    if (s->mode == EXPORT_WORST || s->mode == EXPORT_BEST) {
        sb_printf(&b, ",\"by\":");
        sb_str(&b, s->by);
        sb_printf(&b, ",\"rank\":%ld,\"value\":", pk->rank);
        sb_num(&b, pk->value, 17);
    }
    sb_printf(&b, ",\"all_trials\":%s},\"render\":{\"scale\":%d,\"alpha\":",
              s->all_trials ? "true" : "false", o->style.scale);
    sb_num(&b, o->style.alpha, 9);
    sb_printf(&b, ",\"colormap\":\"viridis\",\"norm\":\"%s\",\"blend\":\"%s\",\"boxes\":\"%s\"}}",
              o->norm_name, o->blend_name, o->boxes_name);
    char *pretty = NULL;
    if (mlflowstore_json_pretty(b.s, &pretty)) SB_ASSERT(!"metadata JSON is well formed");
    free(b.s);
    return pretty;
}

/* ---- pictures ----------------------------------------------------------------------------- */

/* One round: the images and maps of picks [0, n), read on the main thread. */
struct round {
    size_t n;
    uint8_t *img;     /* [n, H, W, C] */
    float *maps;      /* [n, M, H, W] */
    uint8_t **png;    /* [n * (1 + M)]: file 0 = input.png, 1 + m = saliency_<method>.png */
    size_t *png_size;
    int *failed;
    char (*msg)[256];
};

static int read_round(struct export_data *d, const struct export_pick *pk, struct round *rd)
{
    const size_t hw = (size_t)d->ex.H * d->ex.W, M = d->n_methods;
    for (size_t i = 0; i < rd->n; i++) {
        size_t t = pk[i].trial;
        if (exampleset_read_images(&d->ex, d->trow[t], 1, rd->img + i * hw * d->ex.C))
            return -1;
        for (size_t m = 0; m < M; m++) {
            float *map = rd->maps + (i * M + m) * hw;
            size_t at;
            if (h5table_stream_read(d->maps[m], t, 1, map)) return -1;
            if (!overlay_map_finite(map, hw, &at))
                return err_set("cannot export map '%s' of trial %zu (example %016" PRIx64
                               ", class %d) in '%s': value %g at pixel (%zu, %zu) is not finite",
                               d->methods[m], t, d->tid[t], d->tcls[t], d->saliency_path,
                               (double)map[at], at % (size_t)d->ex.W, at / (size_t)d->ex.W);
        }
    }
    return 0;
}

/* Byte offset of the float scratch in a thread's work buffer: after the output picture and
 * the small picture, rounded up to 16 bytes. */
static size_t scratch_at(size_t hw, int s)
{
    size_t at = hw * (size_t)s * s * 3 + hw * 3;
    return (at + 15) / 16 * 16;
}

/* Renders and encodes every file of the round; work[thread] holds that thread's buffers. */
static void render_round(const struct export_data *d, const struct export_options *o,
                         const struct export_pick *pk, struct round *rd, uint8_t **work)
{
    const int H = d->ex.H, W = d->ex.W, C = d->ex.C, s = o->style.scale;
    const size_t hw = (size_t)H * W, M = d->n_methods, files = rd->n * (1 + M);
    const size_t out_bytes = hw * (size_t)s * s * 3;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t f = 0; f < files; f++) {
        int th = thread_id();
        size_t i = f / (1 + M), m = f % (1 + M);
        const uint8_t *img = rd->img + i * hw * C;
        uint8_t *out = work[th], *small = out + out_bytes;
        float *scratch = (float *)(void *)(out + scratch_at(hw, s));
        int rc;
        if (m == 0) {
            overlay_upscale(out, img, H, W, C, s);
            rc = pngio_encode(&rd->png[f], &rd->png_size[f], out, W * s, H * s, C);
        } else {
            size_t t = pk[i].trial, r = d->trow[t];
            struct overlay_box box[64];
            int nb = 0;
            for (size_t j = d->obj_begin[r]; j < d->obj_begin[r + 1] && nb < 64; j++)
                if (box_drawn(o, &d->objs[j], d->tcls[t]))
                    box[nb++] = (struct overlay_box){d->objs[j].x0, d->objs[j].y0, d->objs[j].x1,
                                                     d->objs[j].y1};
            overlay_render(out, img, C, rd->maps + (i * M + m - 1) * hw, H, W, &o->style, box, nb,
                           scratch, small);
            rc = pngio_encode(&rd->png[f], &rd->png_size[f], out, W * s, H * s, 3);
        }
        if (rc) {
            rd->failed[f] = 1;
            snprintf(rd->msg[f], sizeof rd->msg[f], "%s", err_msg());
        }
    }
}

static int write_round(const struct export_data *d, const struct export_options *o,
                       const struct export_pick *pk, struct round *rd, const char *staging)
{
    const size_t M = d->n_methods, bs = (size_t)o->batch_size;
    for (size_t i = 0; i < rd->n; i++) {
        char dir[64], name[200];
        size_t t = pk[i].trial;
        snprintf(dir, sizeof dir, "%05zu/%02zu", t / bs, t % bs);
        char *sd = path_join(staging, dir);
        int rc = mkdirs(sd);
        for (size_t m = 0; m <= M && !rc; m++) {
            size_t f = i * (1 + M) + m;
            if (rd->failed[f]) {
                rc = err_set("%s", rd->msg[f]);
                break;
            }
            if (m == 0) snprintf(name, sizeof name, "input.png");
            else snprintf(name, sizeof name, "saliency_%s.png", d->methods[m - 1]);
            char *p = path_join(sd, name);
            rc = atomicfile_write_unsynced(p, rd->png[f], rd->png_size[f]);
            free(p);
        }
        if (!rc) {
            char *json = metadata_json(d, o, &pk[i]), *p = path_join(sd, "metadata.txt");
            rc = atomicfile_write_unsynced(p, json, strlen(json));
            free(json), free(p);
        }
        free(sd);
        if (rc) return -1;
    }
    return 0;
}

static int export_rounds(struct export_data *d, const struct export_options *o,
                         const struct export_pick *picks, size_t n, const char *staging)
{
    const size_t hw = (size_t)d->ex.H * d->ex.W, M = d->n_methods, s = (size_t)o->style.scale;
    const size_t per_file = (M + 1) * EXPORT_CHUNK;
    int threads = cli_threads();
    struct round rd = {0};
    rd.img = xmalloc(EXPORT_CHUNK * hw * d->ex.C);
    rd.maps = xmalloc((EXPORT_CHUNK * M + 1) * hw * sizeof *rd.maps);
    rd.png = xcalloc(per_file, sizeof *rd.png);
    rd.png_size = xcalloc(per_file, sizeof *rd.png_size);
    rd.failed = xcalloc(per_file, sizeof *rd.failed);
    rd.msg = xcalloc(per_file, sizeof *rd.msg);
    uint8_t **work = xcalloc((size_t)threads, sizeof *work);
    for (int th = 0; th < threads; th++) /* output, small picture, float scratch */
        work[th] = xmalloc(scratch_at(hw, (int)s) + hw * sizeof(float));
    struct cli_progress pr;
    cli_progress_start(&pr, "export", n);
    int rc = 0;
    for (size_t at = 0; at < n && !rc; at += EXPORT_CHUNK) {
        rd.n = n - at < EXPORT_CHUNK ? n - at : EXPORT_CHUNK;
        rc = read_round(d, picks + at, &rd);
        if (!rc) {
            memset(rd.failed, 0, per_file * sizeof *rd.failed);
            render_round(d, o, picks + at, &rd, work);
            rc = write_round(d, o, picks + at, &rd, staging);
        }
        for (size_t f = 0; f < per_file; f++) {
            free(rd.png[f]);
            rd.png[f] = NULL;
        }
        cli_progress_update(&pr, at + rd.n);
    }
    cli_progress_finish(&pr);
    for (int th = 0; th < threads; th++)
        free(work[th]);
    free(work), free(rd.img), free(rd.maps), free(rd.png), free(rd.png_size), free(rd.failed);
    free(rd.msg);
    return rc;
}

int export_write(struct export_data *d, const struct export_options *o,
                 const struct export_pick *picks, size_t n)
{
    if (mkdirs(o->out_dir)) return -1;
    remove_stale(o->out_dir);
    char name[64];
    snprintf(name, sizeof name, "exports.tmp.%ld", (long)getpid());
    char *final = path_join(o->out_dir, "exports");
    static int registered;
    if (!registered) registered = atexit(export_cleanup) == 0;
    export_staging = path_join(o->out_dir, name);
    remove_tree(export_staging);
    int rc = 0;
    if (mkdir(export_staging, 0777))
        rc = err_set("cannot create directory '%s': %s", export_staging, strerror(errno));
    if (!rc) rc = export_rounds(d, o, picks, n, export_staging);
    if (!rc) rc = atomicfile_sync_tree(export_staging); /* one sync for the whole tree */
    if (!rc) {
        fsync_dir(export_staging);
        rc = publish(export_staging, final, o->out_dir);
    }
    if (!rc) { /* published: the staging path now names nothing or the old tree (removed) */
        free(export_staging);
        export_staging = NULL;
    } else {
        export_cleanup();
    }
    free(final);
    return rc;
}

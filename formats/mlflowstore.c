/* Writing an MLflow file store: store root (.trash, Default experiment, lock, staging beside the
 * root), experiments (found by name or created once), and runs built in staging and renamed in
 * whole (or swapped with the run they replace). Format rules: MLFLOW.md A; see mlflowstore.h.
 * Reading lives in mlflowstore_read.c, text helpers in mlflowstore_util.c. */
#define _GNU_SOURCE /* renameat2 (RENAME_EXCHANGE) */
#include "formats/mlflowstore.h"
#include "formats/mlflowstore_impl.h"

#include "formats/atomicfile.h"
#include "pipeline/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- staging directories removed at exit -------------------------------------------------- */

#define MLFS_MAX_STAGING 8
static char *mlfs_staging[MLFS_MAX_STAGING];
static pid_t mlfs_staging_owner[MLFS_MAX_STAGING];
static int mlfs_atexit_set;

static void mlfs_staging_cleanup(void)
{
    for (int i = 0; i < MLFS_MAX_STAGING; i++) {
        if (mlfs_staging[i] && mlfs_staging_owner[i] == getpid()) mlfs_remove_tree(mlfs_staging[i]);
        free(mlfs_staging[i]);
        mlfs_staging[i] = NULL;
    }
}

static void mlfs_staging_track(const char *path, int add)
{
    for (int i = 0; i < MLFS_MAX_STAGING; i++) {
        if (add && !mlfs_staging[i]) {
            mlfs_staging[i] = strdup(path);
            mlfs_staging_owner[i] = getpid();
            break;
        }
        if (!add && mlfs_staging[i] && !strcmp(mlfs_staging[i], path)) {
            free(mlfs_staging[i]);
            mlfs_staging[i] = NULL;
            break;
        }
    }
    if (add && !mlfs_atexit_set) {
        mlfs_atexit_set = 1;
        atexit(mlfs_staging_cleanup);
    }
}

/* "<root>.tmp.<pid>", created on first use. */
static const char *mlfs_stage(struct mlflowstore *s)
{
    if (s->staging) return s->staging;
    size_t n = strlen(s->root) + 32;
    char *p = malloc(n);
    if (!p) { err_set("cannot create staging directory: out of memory"); return NULL; }
    snprintf(p, n, "%s.tmp.%ld", s->root, (long)getpid());
    if (mkdir(p, 0777) && errno != EEXIST) {
        err_set("cannot create staging directory '%s': %s", p, strerror(errno));
        free(p);
        return NULL;
    }
    s->staging = p;
    mlfs_staging_track(p, 1);
    return p;
}

/* A fresh path inside staging: "<staging>/<seq>.<what>", malloc'd. */
static char *mlfs_stage_path(struct mlflowstore *s, const char *what)
{
    const char *st = mlfs_stage(s);
    if (!st) return NULL;
    size_t n = strlen(st) + strlen(what) + 32;
    char *p = malloc(n);
    if (!p) { err_set("cannot create staging path: out of memory"); return NULL; }
    snprintf(p, n, "%s/%u.%s", st, s->seq++, what);
    return p;
}

/* Removes "<root>.tmp.<pid>" directories whose process is gone. */
static void mlfs_clean_stale(const char *root)
{
    const char *slash = strrchr(root, '/');
    char *parent = slash == root ? strdup("/") : strndup(root, (size_t)(slash - root));
    const char *base = slash + 1;
    size_t blen = strlen(base);
    DIR *d = parent ? opendir(parent) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, base, blen) || strncmp(de->d_name + blen, ".tmp.", 5)) continue;
        const char *digits = de->d_name + blen + 5;
        char *end;
        long pid = strtol(digits, &end, 10);
        if (end == digits || *end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = mlfs_join(parent, de->d_name);
        if (path) mlfs_remove_tree(path);
        free(path);
    }
    if (d) closedir(d);
    free(parent);
}

/* ---- meta.yaml ---------------------------------------------------------------------------- */

static int mlfs_yaml_kv(struct mlfs_buf *b, const char *key, const char *value)
{
    return mlfs_buf_printf(b, "%s: ", key) || mlfs_buf_yaml_string(b, value) ||
           mlfs_buf_puts(b, "\n");
}

static int mlfs_exp_meta(const char *path, const char *uri, const char *id, const char *name,
                         int64_t now)
{
    struct mlfs_buf b = {0};
    int rc = mlfs_yaml_kv(&b, "artifact_location", uri) ||
             mlfs_buf_printf(&b, "creation_time: %lld\n", (long long)now) ||
             mlfs_yaml_kv(&b, "experiment_id", id) ||
             mlfs_buf_printf(&b, "last_update_time: %lld\n", (long long)now) ||
             mlfs_yaml_kv(&b, "lifecycle_stage", "active") || mlfs_yaml_kv(&b, "name", name);
    if (!rc) rc = atomicfile_write_all(path, b.s, b.n);
    mlfs_buf_release(&b);
    return rc ? -1 : 0;
}

/* Builds experiment <id> in staging and renames it into the root. */
static int mlfs_exp_create(struct mlflowstore *s, const char *id, const char *name)
{
    char *dir = mlfs_stage_path(s, "exp");
    char *meta = dir ? mlfs_join(dir, "meta.yaml") : NULL;
    char *final = meta ? mlfs_join(s->root, id) : NULL;
    char *uri = final ? mlflowstore_path_uri(final) : NULL;
    int rc = uri ? 0 : -1;
    if (!rc && mkdir(dir, 0777)) rc = err_set("cannot create '%s': %s", dir, strerror(errno));
    if (!rc) rc = mlfs_exp_meta(meta, uri, id, name, mlflowstore_now_ms());
    if (!rc && rename(dir, final))
        rc = err_set("cannot create experiment '%s': rename to '%s': %s", name, final, strerror(errno));
    if (rc && dir) mlfs_remove_tree(dir);
    free(dir);
    free(meta);
    free(final);
    free(uri);
    return rc;
}

/* ---- store -------------------------------------------------------------------------------- */

int mlflowstore_open(struct mlflowstore *s, const char *root)
{
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
    if (!root || !root[0]) return err_set("cannot open MLflow store '': empty path");
    if (mlfs_mkdirs(root)) return -1;
    char abs[PATH_MAX];
    if (!realpath(root, abs)) return err_set("cannot open MLflow store '%s': %s", root, strerror(errno));
    if (!strcmp(abs, "/")) return err_set("cannot open MLflow store '/': not at the file system root");
    s->root = strdup(abs);
    s->root_uri = s->root ? mlflowstore_path_uri(s->root) : NULL;
    if (!s->root_uri) return err_set("cannot open MLflow store '%s': out of memory", root);
    s->lock_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->lock_fd < 0) return err_set("cannot open MLflow store '%s': %s", root, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX))
        return err_set("cannot lock MLflow store '%s': %s", root, strerror(errno));
    mlfs_clean_stale(s->root);
    char *trash = mlfs_join(s->root, ".trash"), *zero = mlfs_join(s->root, "0");
    int rc = trash && zero ? 0 : -1;
    if (!rc && mkdir(trash, 0777) && errno != EEXIST)
        rc = err_set("cannot create '%s': %s", trash, strerror(errno));
    if (!rc && !mlfs_is_dir(zero)) rc = mlfs_exp_create(s, "0", "Default");
    free(trash);
    free(zero);
    return rc;
}

void mlflowstore_release(struct mlflowstore *s)
{
    if (!s) return;
    if (s->staging) {
        mlfs_remove_tree(s->staging);
        mlfs_staging_track(s->staging, 0);
    }
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    free(s->root);
    free(s->root_uri);
    free(s->staging);
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
}

/* Valid UTF-8, no control characters, 1..max code points. */
static int mlfs_name_ok(const char *what, const char *name, long max)
{
    long cp = mlfs_utf8_count(name, strlen(name));
    if (cp < 0) return err_set("cannot use %s '%s': not valid UTF-8", what, name);
    if (cp == 0 || cp > max) return err_set("cannot use %s '%.40s': must be 1 to %ld characters", what, name, max);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7F) return err_set("cannot use %s '%.40s': control character", what, name);
    return 0;
}

int mlflowstore_experiment(struct mlflowstore *s, const char *name, char id[MLFLOWSTORE_ID_MAX])
{
    if (mlfs_name_ok("experiment name", name, MLFLOWSTORE_EXP_NAME_MAX)) return -1;
    struct mlflowstore_experiment_info e;
    int found = mlflowstore_find_experiment(s->root, name, &e);
    if (found < 0) return -1;
    if (found) {
        snprintf(id, MLFLOWSTORE_ID_MAX, "%s", e.id);
        mlflowstore_experiment_release(&e);
        return 0;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        /* 18 decimal digits, no leading zero, like MLflow >= 2.0 */
        unsigned char r[8];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return err_set("cannot create experiment '%s': getrandom: %s", name, strerror(errno));
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | r[i];
        snprintf(id, MLFLOWSTORE_ID_MAX, "%llu",
                 (unsigned long long)(100000000000000000ULL + v % 900000000000000000ULL));
        char *path = mlfs_join(s->root, id);
        if (!path) return -1;
        int exists = access(path, F_OK) == 0;
        free(path);
        if (!exists) return mlfs_exp_create(s, id, name);
    }
    return err_set("cannot create experiment '%s': no free id", name);
}

/* Writes value into a file of a live directory: temp in staging, then rename. */
static int mlfs_replace_file(struct mlflowstore *s, const char *final, const char *value)
{
    char *tmp = mlfs_stage_path(s, "file");
    int rc = tmp ? mlfs_write_file(tmp, value, strlen(value), MLFS_SYNC) : -1;
    if (!rc && rename(tmp, final)) rc = err_set("cannot write '%s': %s", final, strerror(errno));
    if (rc && tmp) unlink(tmp);
    free(tmp);
    return rc;
}

/* Checks key and UTF-8 value; *len = bytes kept (cut at max code points). */
static int mlfs_kv_ok(const char *what, const char *key, const char *value, long max, size_t *len)
{
    if (!mlflowstore_key_valid(key))
        return err_set("cannot log %s '%s': invalid key (use [A-Za-z0-9_.- /], a relative path, "
                       "at most %d characters)", what, key, MLFLOWSTORE_KEY_MAX);
    size_t n = strlen(value);
    if (mlfs_utf8_count(value, n) < 0)
        return err_set("cannot log %s '%s': value is not valid UTF-8", what, key);
    *len = mlfs_utf8_prefix(value, n, max);
    return 0;
}

int mlflowstore_experiment_tag(struct mlflowstore *s, const char *exp_id, const char *key,
                               const char *value)
{
    size_t len;
    if (mlfs_kv_ok("experiment tag", key, value, MLFLOWSTORE_TAG_VALUE_MAX, &len)) return -1;
    char *expdir = mlfs_join(s->root, exp_id);
    char *tags = expdir ? mlfs_join(expdir, "tags") : NULL;
    char *final = tags ? mlfs_join(tags, key) : NULL;
    char *cut = final ? strndup(value, len) : NULL;
    int rc = cut ? 0 : err_set("cannot set experiment tag '%s': out of memory", key);
    if (!rc && !mlfs_is_dir(expdir)) rc = err_set("cannot set tag '%s': no experiment '%s'", key, exp_id);
    if (!rc) rc = mlfs_mkdirs(tags) || mlfs_mkparents(tags, key);
    if (!rc) rc = mlfs_replace_file(s, final, cut);
    free(expdir);
    free(tags);
    free(final);
    free(cut);
    return rc ? -1 : 0;
}

int mlflowstore_delete_run(struct mlflowstore *s, const char *exp_id, const char *run_id)
{
    if (!mlfs_relpath_ok(exp_id) || !mlfs_relpath_ok(run_id) || strchr(run_id, '/'))
        return err_set("cannot delete run '%s': bad id", run_id);
    char *expdir = mlfs_join(s->root, exp_id);
    char *dir = expdir ? mlfs_join(expdir, run_id) : NULL;
    char *aside = dir ? mlfs_stage_path(s, "deleted") : NULL;
    int rc = aside ? 0 : -1;
    if (!rc && mlfs_is_dir(dir)) {
        if (rename(dir, aside)) rc = err_set("cannot delete run '%s': %s", dir, strerror(errno));
        else rc = mlfs_remove_tree(aside);
    }
    free(expdir);
    free(dir);
    free(aside);
    return rc;
}

/* ---- runs --------------------------------------------------------------------------------- */

static void mlfs_writer_release(struct mlflowstore_run_writer *w)
{
    for (size_t i = 0; i < w->nparams; i++) {
        free(w->params[i].key);
        free(w->params[i].value);
    }
    free(w->params);
    free(w->dir);
    free(w->run_name);
    free(w->user);
    memset(w, 0, sizeof *w);
}

/* getpass.getuser(): LOGNAME, USER, LNAME, USERNAME, then the passwd entry. */
static char *mlfs_user(void)
{
    static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(vars[i]);
        if (v && v[0] && mlfs_utf8_count(v, strlen(v)) > 0) return strdup(v);
    }
    struct passwd *pw = getpwuid(geteuid());
    return strdup(pw && pw->pw_name ? pw->pw_name : "");
}

static int mlfs_run_meta_write(struct mlflowstore_run_writer *w, int status, int64_t end_ms)
{
    char *expdir = mlfs_join(w->store->root, w->exp_id);
    char *rundir = expdir ? mlfs_join(expdir, w->run_id) : NULL;
    char *art = rundir ? mlfs_join(rundir, "artifacts") : NULL;
    char *uri = art ? mlflowstore_path_uri(art) : NULL;
    char *meta = uri ? mlfs_join(w->dir, "meta.yaml") : NULL;
    struct mlfs_buf b = {0};
    int rc = meta ? 0 : -1;
    if (!rc) {
        rc = mlfs_yaml_kv(&b, "artifact_uri", uri) ||
             (status == MLFLOWSTORE_RUNNING ? mlfs_buf_puts(&b, "end_time: null\n")
                                            : mlfs_buf_printf(&b, "end_time: %lld\n", (long long)end_ms)) ||
             mlfs_yaml_kv(&b, "entry_point_name", "") || mlfs_yaml_kv(&b, "experiment_id", w->exp_id) ||
             mlfs_yaml_kv(&b, "lifecycle_stage", "active") || mlfs_yaml_kv(&b, "run_id", w->run_id) ||
             mlfs_yaml_kv(&b, "run_name", w->run_name) || mlfs_yaml_kv(&b, "run_uuid", w->run_id) ||
             mlfs_yaml_kv(&b, "source_name", "") || mlfs_buf_puts(&b, "source_type: 4\n") ||
             mlfs_yaml_kv(&b, "source_version", "") ||
             mlfs_buf_printf(&b, "start_time: %lld\nstatus: %d\ntags: []\n", (long long)w->start_time, status) ||
             mlfs_yaml_kv(&b, "user_id", w->user);
        rc = rc ? -1 : atomicfile_write_all(meta, b.s, b.n);
    }
    mlfs_buf_release(&b);
    free(expdir);
    free(rundir);
    free(art);
    free(uri);
    free(meta);
    return rc;
}

static int mlfs_run_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= MLFLOWSTORE_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-'))) return 0;
    }
    return 1;
}

static int mlfs_new_run_id(char id[MLFLOWSTORE_ID_MAX])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return err_set("cannot create a run id: getrandom: %s", strerror(errno));
    r[6] = (unsigned char)((r[6] & 0x0F) | 0x40); /* uuid4 */
    r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
    for (int i = 0; i < 16; i++) snprintf(id + 2 * i, 3, "%02x", r[i]);
    return 0;
}

static int mlfs_self_path(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n < 0) n = 0;
    out[n] = '\0';
    return mlfs_utf8_count(out, (size_t)n) < 0 ? (out[0] = '\0', 0) : 0;
}

static int mlfs_run_dirs(struct mlflowstore_run_writer *w)
{
    static const char *const subs[] = {"metrics", "params", "tags", "artifacts"};
    if (mkdir(w->dir, 0777)) return err_set("cannot create '%s': %s", w->dir, strerror(errno));
    for (int i = 0; i < 4; i++) {
        char *p = mlfs_join(w->dir, subs[i]);
        int rc = !p || mkdir(p, 0777);
        if (rc && p) err_set("cannot create '%s': %s", p, strerror(errno));
        free(p);
        if (rc) return -1;
    }
    return 0;
}

int mlflowstore_run_begin(struct mlflowstore_run_writer *w, struct mlflowstore *s,
                          const char *exp_id, const char *run_id, const char *run_name,
                          int64_t start_ms)
{
    memset(w, 0, sizeof *w);
    if (mlfs_name_ok("run name", run_name, MLFLOWSTORE_TAG_VALUE_MAX)) return -1;
    if (!mlfs_run_id_ok(exp_id)) return err_set("cannot start run '%s': bad experiment id '%s'", run_name, exp_id);
    if (run_id && !mlfs_run_id_ok(run_id)) return err_set("cannot start run '%s': bad run id '%s'", run_name, run_id);
    char *expmeta = mlfs_join(s->root, exp_id), *meta = expmeta ? mlfs_join(expmeta, "meta.yaml") : NULL;
    int have = meta && mlfs_is_file(meta);
    free(expmeta);
    free(meta);
    if (!have) return err_set("cannot start run '%s': no experiment '%s' in '%s'", run_name, exp_id, s->root);
    w->store = s;
    w->start_time = start_ms;
    snprintf(w->exp_id, sizeof w->exp_id, "%s", exp_id);
    if (run_id) snprintf(w->run_id, sizeof w->run_id, "%s", run_id);
    else if (mlfs_new_run_id(w->run_id)) goto fail;
    w->run_name = strdup(run_name);
    w->user = mlfs_user();
    w->dir = mlfs_stage_path(s, w->run_id);
    if (!w->run_name || !w->user || !w->dir) goto fail;
    char self[PATH_MAX];
    mlfs_self_path(self, sizeof self);
    if (mlfs_run_dirs(w) || mlfs_run_meta_write(w, MLFLOWSTORE_RUNNING, 0) ||
        mlflowstore_run_tag(w, "mlflow.runName", run_name) ||
        mlflowstore_run_tag(w, "mlflow.user", w->user) ||
        mlflowstore_run_tag(w, "mlflow.source.name", self) ||
        mlflowstore_run_tag(w, "mlflow.source.type", "LOCAL"))
        goto fail;
    return 0;
fail:
    if (w->dir) mlfs_remove_tree(w->dir);
    mlfs_writer_release(w);
    return err_msg()[0] ? -1 : err_set("cannot start run '%s': out of memory", run_name);
}

/* Writes dir/<sub>/<key>. */
static int mlfs_run_keyfile(struct mlflowstore_run_writer *w, const char *sub, const char *key,
                            const char *data, size_t n, int append)
{
    char *base = mlfs_join(w->dir, sub);
    char *path = base ? mlfs_join(base, key) : NULL;
    int rc = path ? 0 : -1;
    if (!rc && mlfs_is_dir(path))
        rc = err_set("cannot log %s '%s': '%s/' already holds keys below it", sub, key, key);
    if (!rc) rc = mlfs_mkparents(base, key);
    if (!rc) rc = mlfs_write_file(path, data, n, append ? MLFS_APPEND : 0);
    if (rc && path && errno == ENOTDIR)
        rc = err_set("cannot log %s '%s': a prefix of the key is already a key", sub, key);
    free(base);
    free(path);
    return rc;
}

int mlflowstore_run_param(struct mlflowstore_run_writer *w, const char *key, const char *value)
{
    size_t len;
    if (mlfs_kv_ok("param", key, value, MLFLOWSTORE_PARAM_VALUE_MAX, &len)) return -1;
    for (size_t i = 0; i < w->nparams; i++) {
        if (strcmp(w->params[i].key, key)) continue;
        if (strlen(w->params[i].value) == len && !memcmp(w->params[i].value, value, len)) return 0;
        return err_set("cannot log param '%s': already logged with another value ('%.40s')", key,
                       w->params[i].value);
    }
    if (w->nparams == w->cap_params) {
        size_t cap = w->cap_params ? 2 * w->cap_params : 32;
        void *p = realloc(w->params, cap * sizeof *w->params);
        if (!p) return err_set("cannot log param '%s': out of memory", key);
        w->params = p;
        w->cap_params = cap;
    }
    char *k = strdup(key), *v = strndup(value, len);
    if (!k || !v) {
        free(k);
        free(v);
        return err_set("cannot log param '%s': out of memory", key);
    }
    if (mlfs_run_keyfile(w, "params", key, value, len, 0)) {
        free(k);
        free(v);
        return -1;
    }
    w->params[w->nparams++] = (struct mlflowstore_kv){k, v};
    return 0;
}

int mlflowstore_run_tag(struct mlflowstore_run_writer *w, const char *key, const char *value)
{
    size_t len;
    if (mlfs_kv_ok("tag", key, value, MLFLOWSTORE_TAG_VALUE_MAX, &len)) return -1;
    return mlfs_run_keyfile(w, "tags", key, value, len, 0);
}

static int mlfs_metric_line(struct mlfs_buf *b, double value, int64_t ts, int64_t step)
{
    char f[MLFLOWSTORE_FLOAT_MAX];
    mlflowstore_format_float(f, value);
    return mlfs_buf_printf(b, "%lld %s %lld\n", (long long)ts, f, (long long)step);
}

int mlflowstore_run_metric_curve(struct mlflowstore_run_writer *w, const char *key,
                                 const double *values, const int64_t *steps, size_t n,
                                 int64_t timestamp_ms)
{
    if (!mlflowstore_key_valid(key))
        return err_set("cannot log metric '%s': invalid key (use [A-Za-z0-9_.- /], a relative "
                       "path, at most %d characters)", key, MLFLOWSTORE_KEY_MAX);
    if (n == 0) return 0;
    struct mlfs_buf b = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = mlfs_metric_line(&b, values[i], timestamp_ms, steps ? steps[i] : (int64_t)i);
    if (!rc) rc = mlfs_run_keyfile(w, "metrics", key, b.s, b.n, 1);
    mlfs_buf_release(&b);
    return rc;
}

int mlflowstore_run_metric(struct mlflowstore_run_writer *w, const char *key, double value,
                           int64_t timestamp_ms, int64_t step)
{
    return mlflowstore_run_metric_curve(w, key, &value, &step, 1, timestamp_ms);
}

/* ---- artifacts ---------------------------------------------------------------------------- */

/* artifacts/<path> after checking path; malloc'd. */
static char *mlfs_artifact_path(struct mlflowstore_run_writer *w, const char *path)
{
    if (!mlfs_relpath_ok(path)) {
        err_set("cannot log artifact '%s': not a normalized relative path", path);
        return NULL;
    }
    char *base = mlfs_join(w->dir, "artifacts");
    char *full = base ? mlfs_join(base, path) : NULL;
    if (full && mlfs_mkparents(base, path)) {
        free(full);
        full = NULL;
    }
    free(base);
    return full;
}

int mlflowstore_run_artifact_data(struct mlflowstore_run_writer *w, const char *path,
                                  const void *data, size_t n)
{
    char *full = mlfs_artifact_path(w, path);
    int rc = full ? mlfs_write_file(full, data, n, 0) : -1;
    free(full);
    return rc;
}

int mlflowstore_run_artifact_json(struct mlflowstore_run_writer *w, const char *path,
                                  const char *json)
{
    char *pretty;
    if (mlflowstore_json_pretty(json, &pretty))
        return err_set("cannot log artifact '%s': %s", path, err_msg());
    int rc = mlflowstore_run_artifact_data(w, path, pretty, strlen(pretty));
    free(pretty);
    return rc;
}

static int mlfs_copy(const char *src, const char *dst)
{
    char *data;
    size_t n;
    if (mlfs_read_file(src, &data, &n)) return -1;
    int rc = mlfs_write_file(dst, data, n, 0);
    free(data);
    return rc;
}

int mlflowstore_run_artifact_file(struct mlflowstore_run_writer *w, const char *path,
                                  const char *src)
{
    if (!mlfs_is_file(src)) return err_set("cannot log artifact '%s': '%s' is not a file", path, src);
    char *full = mlfs_artifact_path(w, path);
    int rc = full ? mlfs_copy(src, full) : -1;
    free(full);
    return rc;
}

static int mlfs_copy_tree(struct mlflowstore_run_writer *w, const char *path, const char *src)
{
    struct dirent **ents;
    int n = scandir(src, &ents, NULL, alphasort);
    if (n < 0) return err_set("cannot list '%s': %s", src, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (!rc && strcmp(nm, ".") && strcmp(nm, "..")) {
            char *from = mlfs_join(src, nm);
            char *to = path[0] ? mlfs_join(path, nm) : strdup(nm);
            if (!from || !to) rc = err_set("cannot copy '%s': out of memory", src);
            else if (mlfs_is_dir(from)) rc = mlfs_copy_tree(w, to, from);
            else if (mlfs_is_file(from)) rc = mlflowstore_run_artifact_file(w, to, from);
            free(from);
            free(to);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int mlflowstore_run_artifact_tree(struct mlflowstore_run_writer *w, const char *path,
                                  const char *srcdir)
{
    if (!mlfs_is_dir(srcdir)) return err_set("cannot log artifacts '%s': '%s' is not a directory", path, srcdir);
    if (path[0] && !mlfs_relpath_ok(path))
        return err_set("cannot log artifacts '%s': not a normalized relative path", path);
    return mlfs_copy_tree(w, path, srcdir);
}

/* ---- commit ------------------------------------------------------------------------------- */

static void mlfs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Moves staged onto final; when final exists, the two are exchanged and staged then holds the
 * old run (*swapped = 1). */
static int mlfs_publish(struct mlflowstore *s, const char *staged, const char *final, int *swapped)
{
    *swapped = 0;
    if (!mlfs_is_dir(final)) {
        if (rename(staged, final)) return err_set("cannot publish run '%s': %s", final, strerror(errno));
        return 0;
    }
    if (renameat2(AT_FDCWD, staged, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        *swapped = 1;
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return err_set("cannot publish run '%s': exchange: %s", final, strerror(errno));
    char *aside = mlfs_stage_path(s, "old"); /* no RENAME_EXCHANGE: a short gap */
    if (!aside) return -1;
    int rc = 0;
    if (rename(final, aside)) rc = err_set("cannot publish run '%s': %s", final, strerror(errno));
    else if (rename(staged, final)) {
        rc = err_set("cannot publish run '%s': %s", final, strerror(errno));
        rename(aside, final);
    } else {
        rc = mlfs_remove_tree(aside);
    }
    free(aside);
    return rc;
}

int mlflowstore_run_commit(struct mlflowstore_run_writer *w, int status, int64_t end_ms)
{
    if (!w->dir) return err_set("cannot commit run: not started");
    int rc = 0;
    if (status < MLFLOWSTORE_RUNNING || status > MLFLOWSTORE_KILLED)
        rc = err_set("cannot commit run '%s': bad status %d", w->run_name, status);
    if (!rc) rc = mlfs_run_meta_write(w, status, end_ms);
    char *expdir = rc ? NULL : mlfs_join(w->store->root, w->exp_id);
    char *final = expdir ? mlfs_join(expdir, w->run_id) : NULL;
    if (!rc && !final) rc = -1;
    int swapped = 0;
    if (!rc) rc = mlfs_syncfs(w->dir); /* every staged file durable before it is published */
    if (!rc) {
        mlfs_fsync_dir(w->dir);
        rc = mlfs_publish(w->store, w->dir, final, &swapped);
    }
    if (!rc) mlfs_fsync_dir(expdir);
    if (rc || swapped) mlfs_remove_tree(w->dir); /* the failed stage, or the replaced run */
    free(expdir);
    free(final);
    mlfs_writer_release(w);
    return rc;
}

void mlflowstore_run_abort(struct mlflowstore_run_writer *w)
{
    if (!w || !w->dir) return;
    mlfs_remove_tree(w->dir);
    mlfs_writer_release(w);
}

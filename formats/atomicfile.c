/* Temp-then-rename output files and the registry that removes temps on exit or on a fatal
 * signal; see atomicfile.h. Knows nothing about HDF5 or PNG: callers write the temp, this
 * module makes it durable and visible, or makes it disappear. */
#define _GNU_SOURCE /* syncfs */
#include "formats/atomicfile.h"

#include "pipeline/err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct atomicfile_entry {
    char *volatile path; /* NULL when free */
    pid_t owner;
};

static struct atomicfile_entry atomicfile_registry[ATOMICFILE_MAX_TEMPS];
static int atomicfile_handlers_installed;
static int atomicfile_inject_set;   /* 1 once the env var was read or inject was called */
static long atomicfile_fail_at;     /* commit number that fails; 0 = never */
static long atomicfile_commits;     /* commits attempted so far */
static const int atomicfile_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define ATOMICFILE_NSIGNALS ((int)(sizeof atomicfile_signals / sizeof atomicfile_signals[0]))

/* Unlinks every temp this process registered. Async-signal-safe: getpid and unlink only. */
static void atomicfile_unlink_all(void)
{
    pid_t me = getpid();
    for (int i = 0; i < ATOMICFILE_MAX_TEMPS; i++) {
        char *p = atomicfile_registry[i].path;
        if (p && atomicfile_registry[i].owner == me) unlink(p);
    }
}

static void atomicfile_on_exit(void)
{
    atomicfile_unlink_all();
}

static void atomicfile_on_signal(int sig)
{
    int saved = errno;
    atomicfile_unlink_all();
    signal(sig, SIG_DFL);
    raise(sig); /* delivered with the default action once this handler returns */
    errno = saved;
}

static void atomicfile_install_handlers(void)
{
    if (atomicfile_handlers_installed) return;
    atomicfile_handlers_installed = 1;
    atexit(atomicfile_on_exit);
    for (int i = 0; i < ATOMICFILE_NSIGNALS; i++) {
        struct sigaction old, sa;
        if (sigaction(atomicfile_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue; /* respect nohup and friends */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = atomicfile_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(atomicfile_signals[i], &sa, NULL);
    }
}

/* Blocks our signals in this thread while the registry changes. */
static void atomicfile_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < ATOMICFILE_NSIGNALS; i++)
        sigaddset(&set, atomicfile_signals[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

char *atomicfile_temp_path(const char *final)
{
    size_t n = strlen(final) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        err_set("cannot name temp for '%s': out of memory", final);
        return NULL;
    }
    snprintf(tmp, n, "%s.tmp.%ld", final, (long)getpid());
    return tmp;
}

int atomicfile_register(const char *tmp)
{
    char *copy = strdup(tmp);
    if (!copy) return err_set("cannot register temp '%s': out of memory", tmp);
    atomicfile_install_handlers();
    sigset_t old;
    atomicfile_block(&old);
    int slot = -1;
    for (int i = 0; i < ATOMICFILE_MAX_TEMPS && slot < 0; i++)
        if (!atomicfile_registry[i].path) slot = i;
    if (slot >= 0) {
        atomicfile_registry[slot].owner = getpid();
        atomicfile_registry[slot].path = copy;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (slot < 0) {
        free(copy);
        return err_set("cannot register temp '%s': more than %d open outputs", tmp,
                       ATOMICFILE_MAX_TEMPS);
    }
    return 0;
}

void atomicfile_unregister(const char *tmp)
{
    if (!tmp) return;
    sigset_t old;
    atomicfile_block(&old);
    for (int i = 0; i < ATOMICFILE_MAX_TEMPS; i++) {
        char *p = atomicfile_registry[i].path;
        if (p && strcmp(p, tmp) == 0) {
            atomicfile_registry[i].path = NULL;
            free(p);
            break;
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

void atomicfile_discard(const char *tmp)
{
    if (!tmp) return;
    unlink(tmp);
    atomicfile_unregister(tmp);
}

void atomicfile_inject_failure(int n)
{
    atomicfile_inject_set = 1;
    atomicfile_fail_at = n > 0 ? atomicfile_commits + n : 0;
}

/* 1 when this commit must fail (test hook). */
static int atomicfile_injected(void)
{
    if (!atomicfile_inject_set) {
        atomicfile_inject_set = 1;
        const char *s = getenv("SALBENCH_FAIL_COMMIT");
        long n = s ? strtol(s, NULL, 10) : 0;
        atomicfile_fail_at = n > 0 ? n : 0;
    }
    atomicfile_commits++;
    return atomicfile_fail_at > 0 && atomicfile_commits == atomicfile_fail_at;
}

static int atomicfile_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Best effort: some file systems refuse fsync on directories; the rename is done anyway. */
static void atomicfile_fsync_dir(const char *final)
{
    const char *slash = strrchr(final, '/');
    char *dir = slash ? strndup(final, (size_t)(slash - final) + (slash == final)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int atomicfile_commit(const char *tmp, const char *final)
{
    int rc = 0;
    if (atomicfile_fsync_path(tmp))
        rc = err_set("cannot commit '%s': fsync of '%s': %s", final, tmp, strerror(errno));
    else if (atomicfile_injected())
        rc = err_set("cannot commit '%s': failure injected (SALBENCH_FAIL_COMMIT)", final);
    else if (rename(tmp, final))
        rc = err_set("cannot commit '%s': rename from '%s': %s", final, tmp, strerror(errno));
    if (rc) {
        atomicfile_discard(tmp);
        return rc;
    }
    atomicfile_unregister(tmp);
    atomicfile_fsync_dir(final);
    return 0;
}

static void atomicfile_release(struct atomicfile *af)
{
    free(af->path);
    free(af->tmp);
    af->fp = NULL;
    af->path = af->tmp = NULL;
}

int atomicfile_open(struct atomicfile *af, const char *path)
{
    af->fp = NULL;
    af->path = strdup(path);
    af->tmp = atomicfile_temp_path(path);
    if (!af->path || !af->tmp) {
        atomicfile_release(af);
        return err_set("cannot create '%s': out of memory", path);
    }
    if (atomicfile_register(af->tmp)) {
        atomicfile_release(af);
        return -1;
    }
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) {
        int e = errno;
        atomicfile_unregister(af->tmp);
        atomicfile_release(af);
        return err_set("cannot create '%s': %s", path, strerror(e));
    }
    return 0;
}

int atomicfile_write(struct atomicfile *af, const void *buf, size_t n)
{
    if (n && fwrite(buf, 1, n, af->fp) != n)
        return err_set("cannot write '%s': %s", af->path, strerror(errno));
    return 0;
}

int atomicfile_printf(struct atomicfile *af, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(af->fp, fmt, ap);
    va_end(ap);
    if (n < 0) return err_set("cannot write '%s': %s", af->path, strerror(errno));
    return 0;
}

int atomicfile_close(struct atomicfile *af)
{
    int rc = 0;
    if (fflush(af->fp) || fsync(fileno(af->fp)) || ferror(af->fp))
        rc = err_set("cannot write '%s': %s", af->path, strerror(errno));
    if (fclose(af->fp) && !rc) rc = err_set("cannot close '%s': %s", af->path, strerror(errno));
    af->fp = NULL;
    if (rc)
        atomicfile_discard(af->tmp);
    else
        rc = atomicfile_commit(af->tmp, af->path);
    atomicfile_release(af);
    return rc;
}

void atomicfile_abort(struct atomicfile *af)
{
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    atomicfile_discard(af->tmp);
    atomicfile_release(af);
}

int atomicfile_write_all(const char *path, const void *buf, size_t n)
{
    struct atomicfile af;
    if (atomicfile_open(&af, path)) return -1;
    if (atomicfile_write(&af, buf, n)) {
        atomicfile_abort(&af);
        return -1;
    }
    return atomicfile_close(&af);
}

int atomicfile_write_unsynced(const char *path, const void *buf, size_t n)
{
    int rc = 0;
    FILE *fp = fopen(path, "wbx");
    if (!fp) return err_set("cannot create '%s': %s", path, strerror(errno));
    if (n && fwrite(buf, 1, n, fp) != n)
        rc = err_set("cannot write '%s': %s", path, strerror(errno));
    if (fclose(fp) && !rc) rc = err_set("cannot write '%s': %s", path, strerror(errno));
    if (!rc && atomicfile_injected())
        rc = err_set("cannot commit '%s': failure injected (SALBENCH_FAIL_COMMIT)", path);
    if (rc) unlink(path);
    return rc;
}

int atomicfile_sync_tree(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set("cannot sync '%s': %s", dir, strerror(errno));
    int rc = syncfs(fd) && errno != ENOSYS ? err_set("cannot sync '%s': %s", dir, strerror(errno))
                                           : 0;
    close(fd);
    return rc;
}

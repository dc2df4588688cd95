/* Atomic output files: every output is written to "<final>.tmp.<pid>" beside its final path
 * and renamed over it only once it is complete (fsync'd), so readers and make only ever see
 * the previous file or the complete new one (redis rdbSave, git lockfile.h/tempfile.c).
 * Not a lock: two processes writing the same final path race, the last rename wins.
 *
 * Temp registry. Every temp path is registered; an atexit handler and handlers for SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT unlink the registered temps (the signal handler only calls
 * unlink(2), then re-raises the signal with its default action, so the exit status still says
 * "killed by SIGINT"). Signals whose disposition is SIG_IGN when the first temp is registered
 * stay ignored (nohup). Temps registered by a parent are not removed by a forked child. The
 * registry is for one thread: register, commit and discard from the thread doing the I/O.
 *
 * Usage for a file written by another library (HDF5, libpng):
 *     char *tmp = atomicfile_temp_path(final);           // NULL + err_set on failure
 *     atomicfile_register(tmp);                          // now removed on exit or signal
 *     ... write tmp, close it and check the close ...
 *     if (atomicfile_commit(tmp, final)) ...             // fsync, rename, fsync dir; always
 *                                                        // unregisters; unlinks tmp on failure
 *     free(tmp);
 * or atomicfile_discard(tmp) to give up (unlink + unregister).
 *
 * Usage for a plain file written here (text, PNG bytes):
 *     struct atomicfile af;
 *     if (atomicfile_open(&af, final)) return -1;
 *     if (atomicfile_write(&af, buf, n)) { atomicfile_abort(&af); return -1; }
 *     return atomicfile_close(&af);    // fflush, fsync, fclose checked, then commit
 *
 * Failure injection for tests: the environment variable SALBENCH_FAIL_COMMIT=N (N >= 1) makes
 * the N-th commit of the process fail right before rename(2), as would a full disk; so does
 * atomicfile_inject_failure(N) (0 turns it off). The temp is unlinked and the final file is
 * left as it was.
 *
 * Errors: every function returning int returns 0 on success or -1 after err_set() with
 * "cannot <verb> '<path>': <reason>". */
#ifndef SALBENCH_ATOMICFILE_H
#define SALBENCH_ATOMICFILE_H

#include <stddef.h>
#include <stdio.h>

/* Registry capacity: more simultaneously open outputs than this is an error. */
#define ATOMICFILE_MAX_TEMPS 64

/* Returns "<final>.tmp.<pid>" malloc'd (caller frees), or NULL with err_set on OOM. */
char *atomicfile_temp_path(const char *final);

/* Adds `tmp` to the registry (copied; the caller keeps its string). Installs the atexit and
 * signal handlers on first use. Fails only when the registry is full or out of memory. */
int atomicfile_register(const char *tmp);

/* Removes `tmp` from the registry without touching the file. Unknown paths are ignored. */
void atomicfile_unregister(const char *tmp);

/* Commits a closed temp: fsync(tmp), injection check, rename(tmp, final), fsync of the
 * directory. Always unregisters tmp; on failure also unlinks it, and `final` is untouched. */
int atomicfile_commit(const char *tmp, const char *final);

/* Unlinks tmp (ignoring ENOENT) and unregisters it. Accepts NULL. */
void atomicfile_discard(const char *tmp);

/* Forces the n-th commit from now on (counting from 1) to fail; 0 disables. Overrides the
 * SALBENCH_FAIL_COMMIT environment variable. */
void atomicfile_inject_failure(int n);

/* A plain file being written: fp writes to tmp, renamed to path by atomicfile_close. */
struct atomicfile {
    FILE *fp;
    char *path; /* final path (owned) */
    char *tmp;  /* temp path (owned) */
};

/* Creates the temp (mode 0666 & ~umask, like fopen) and registers it. On failure af is left
 * with fp == NULL and nothing to release. */
int atomicfile_open(struct atomicfile *af, const char *path);

/* fwrite of n bytes, checked. */
int atomicfile_write(struct atomicfile *af, const void *buf, size_t n);

/* printf into the file, checked. */
int atomicfile_printf(struct atomicfile *af, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* fflush, fsync, fclose (all checked), then atomicfile_commit. Releases af in every case. */
int atomicfile_close(struct atomicfile *af);

/* Closes and unlinks the temp; releases af. Accepts an af whose fp is NULL. */
void atomicfile_abort(struct atomicfile *af);

/* The whole sequence for one buffer: open, write, close. */
int atomicfile_write_all(const char *path, const void *buf, size_t n);

/* One buffer into a file of a staging tree that the caller syncs (atomicfile_sync_tree) and
 * publishes as a whole: written in place, no temp and no fsync per file, which dominated the
 * time of trees of many small files. Counts as a commit for SALBENCH_FAIL_COMMIT; a failure
 * leaves no file at path. */
int atomicfile_write_unsynced(const char *path, const void *buf, size_t n);

/* syncfs of the file system holding dir: every file written into a staging tree reaches the
 * disk before the tree is renamed into place. */
int atomicfile_sync_tree(const char *dir);

#endif

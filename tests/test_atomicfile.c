/* atomicfile: plain-file writes, commit failures (injected and real) that keep the previous
 * file, and temps removed on exit and on SIGTERM, but not by a forked child nor under SIG_IGN. */
#include "formats/atomicfile.h"
#include "pipeline/err.h"
#include "tests/check.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char a_dir[] = "/tmp/test_atomicfile.XXXXXX";

static const char *a_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", a_dir, name);
    return buf[k];
}

static int a_content_is(const char *path, const char *want)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(want) && memcmp(buf, want, n) == 0;
}

static int a_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Runs fn in a child; returns its wait status. */
static int a_child(void (*fn)(const char *), const char *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void a_child_env_injection(const char *final)
{
    setenv("SALBENCH_FAIL_COMMIT", "2", 1);
    int first = atomicfile_write_all(final, "one", 3);
    int second = atomicfile_write_all(final, "two", 3);
    int third = atomicfile_write_all(final, "three", 5);
    _exit(first == 0 && second == -1 && third == 0 ? 0 : 1);
}

/* Writes a temp, records its name beside, then dies by SIGTERM. */
static void a_child_signal(const char *final)
{
    struct atomicfile af;
    if (atomicfile_open(&af, final) || atomicfile_write(&af, "partial", 7)) _exit(2);
    fflush(af.fp);
    raise(SIGTERM);
    _exit(3); /* not reached */
}

static void a_child_exit(const char *final)
{
    struct atomicfile af;
    if (atomicfile_open(&af, final) || atomicfile_write(&af, "partial", 7)) _exit(2);
    exit(7); /* atexit handler removes the temp */
}

static void a_child_sigign(const char *final)
{
    signal(SIGHUP, SIG_IGN);
    struct atomicfile af;
    if (atomicfile_open(&af, final)) _exit(2);
    raise(SIGHUP); /* ignored: we carry on */
    exit(a_exists(af.tmp) ? 0 : 4); /* atexit then removes it */
}

static void a_child_noop(const char *arg)
{
    (void)arg;
    exit(0); /* runs atexit handlers inherited from the parent */
}

int main(void)
{
    if (!mkdtemp(a_dir)) return 1;
    char *tmp = atomicfile_temp_path("dir/out.h5");
    char want[64];
    snprintf(want, sizeof want, "dir/out.h5.tmp.%ld", (long)getpid());
    CHECK(tmp && strcmp(tmp, want) == 0, "atomicfile_temp_name", "got '%s'", tmp);
    free(tmp);

    /* Environment injection, in a fresh child (the variable is read at the first commit). */
    int st = a_child(a_child_env_injection, a_path("env.txt"));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && a_content_is(a_path("env.txt"), "three"),
          "atomicfile_env_injection_nth_commit", "status %d", st);

    const char *final = a_path("out.txt");
    int rc = atomicfile_write_all(final, "hello\n", 6);
    snprintf(want, sizeof want, "%s.tmp.%ld", final, (long)getpid());
    CHECK(rc == 0 && a_content_is(final, "hello\n") && !a_exists(want), "atomicfile_write_all",
          "%s", err_msg());

    struct atomicfile af;
    rc = atomicfile_open(&af, final) || atomicfile_printf(&af, "%s=%d\n", "x", 42);
    rc = rc || atomicfile_close(&af);
    CHECK(rc == 0 && a_content_is(final, "x=42\n"), "atomicfile_printf_close", "%s", err_msg());

    atomicfile_inject_failure(1);
    rc = atomicfile_write_all(final, "new", 3);
    CHECK(rc == -1 && strstr(err_msg(), "failure injected") && a_content_is(final, "x=42\n") &&
              !a_exists(want),
          "atomicfile_injected_failure_keeps_previous", "rc %d msg '%s'", rc, err_msg());
    rc = atomicfile_write_all(final, "after", 5);
    CHECK(rc == 0 && a_content_is(final, "after"), "atomicfile_injection_is_one_shot", "%s",
          err_msg());

    rc = atomicfile_open(&af, final) || atomicfile_write(&af, "zzz", 3);
    atomicfile_abort(&af);
    CHECK(rc == 0 && a_content_is(final, "after") && !a_exists(want), "atomicfile_abort",
          "abort changed the final file or left the temp");

    rc = atomicfile_write_all("/nonexistent-dir/x.txt", "a", 1);
    CHECK(rc == -1 && strstr(err_msg(), "cannot create '/nonexistent-dir/x.txt'") &&
              strstr(err_msg(), "No such file"),
          "atomicfile_open_error_message", "msg '%s'", err_msg());

    /* A real rename failure: the final path is a non-empty directory. */
    mkdir(a_path("isdir"), 0755);
    atomicfile_write_all(a_path("isdir/inner"), "i", 1);
    rc = atomicfile_write_all(a_path("isdir"), "data", 4);
    CHECK(rc == -1 && strstr(err_msg(), "cannot commit") && strstr(err_msg(), "rename"),
          "atomicfile_rename_failure", "rc %d msg '%s'", rc, err_msg());

    /* Killed by SIGTERM: temp removed, status still says SIGTERM. */
    st = a_child(a_child_signal, a_path("sig.txt"));
    char pattern[300];
    snprintf(pattern, sizeof pattern, "ls %s | grep -c tmp > /dev/null", a_dir);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && system(pattern) != 0 &&
              !a_exists(a_path("sig.txt")),
          "atomicfile_sigterm_removes_temp", "status %d", st);

    st = a_child(a_child_exit, a_path("exit.txt"));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7 && system(pattern) != 0,
          "atomicfile_exit_removes_temp", "status %d", st);

    st = a_child(a_child_sigign, a_path("ign.txt"));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && system(pattern) != 0,
          "atomicfile_sig_ign_respected", "status %d", st);

    /* A forked child exiting must not remove the parent's temp. */
    rc = atomicfile_open(&af, a_path("parent.txt"));
    st = a_child(a_child_noop, NULL);
    int kept = a_exists(af.tmp);
    rc = rc || atomicfile_close(&af);
    CHECK(rc == 0 && kept && a_content_is(a_path("parent.txt"), ""),
          "atomicfile_child_keeps_parent_temp", "kept %d rc %d", kept, rc);

    int ret = check_summary();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", a_dir);
    if (system(cmd) != 0) ret = 1;
    return ret;
}

/* Tests for formats/imagefolder on a temporary tree: sorted classes and files, hidden entries and
 * non-PNG files skipped, symlinks followed, and the errors (missing or empty root, root not a
 * directory, empty class, broken entry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/imagefolder.h"
#include "pipeline/err.h"
#include "tests/check.h"

static char root[64];

static void touch(const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static void mkd(const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    mkdir(p, 0755);
}

static void rm_tree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
}

static void test_scan(void)
{
    mkd("b_class"), mkd("a_class"), mkd(".git"), mkd("b_class/sub"), mkd("c_link_target");
    touch("b_class/2.png"), touch("b_class/10.png"), touch("b_class/.hidden.png");
    touch("b_class/notes.txt"), touch("a_class/x.PNG"), touch("README"), touch(".git/y.png");
    touch("c_link_target/z.png");
    char target[256], link[256];
    snprintf(target, sizeof target, "%s/c_link_target", root);
    snprintf(link, sizeof link, "%s/c_linked", root);
    CHECK(symlink(target, link) == 0, "imagefolder_setup_symlink", "symlink failed");

    struct imagefolder f;
    imagefolder_init(&f);
    int rc = imagefolder_scan(&f, root);
    CHECK(rc == 0 && f.nclasses == 4 && f.nitems == 5, "imagefolder_scan_counts",
          "rc %d classes %d items %zu: %s", rc, f.nclasses, f.nitems, err_msg());
    if (rc == 0 && f.nclasses == 4 && f.nitems == 5) {
        CHECK(strcmp(f.class_names[0], "a_class") == 0 && strcmp(f.class_names[1], "b_class") == 0 &&
                  strcmp(f.class_names[2], "c_link_target") == 0 &&
                  strcmp(f.class_names[3], "c_linked") == 0,
              "imagefolder_class_order", "%s %s", f.class_names[0], f.class_names[1]);
        char want[256];
        snprintf(want, sizeof want, "%s/b_class/10.png", root);
        CHECK(f.items[0].class_id == 0 && strstr(f.items[0].path, "a_class/x.PNG") &&
                  strcmp(f.items[1].path, want) == 0 && f.items[1].class_id == 1 &&
                  strstr(f.items[2].path, "b_class/2.png") && f.items[4].class_id == 3 &&
                  strstr(f.items[4].path, "c_linked/z.png"),
              "imagefolder_item_order_bytewise", "%s, %s", f.items[0].path, f.items[1].path);
    }
    /* trailing slash on root gives no double slash */
    char slashed[80];
    snprintf(slashed, sizeof slashed, "%s/", root);
    rc = imagefolder_scan(&f, slashed);
    CHECK(rc == 0 && !strstr(f.items[0].path, "//"), "imagefolder_root_trailing_slash", "%s",
          rc ? err_msg() : f.items[0].path);
    imagefolder_release(&f);
    imagefolder_release(&f);
    imagefolder_release(NULL);

    /* a class without images */
    mkd("d_empty");
    touch("d_empty/readme.txt");
    rc = imagefolder_scan(&f, root);
    CHECK(rc == -1 && strstr(err_msg(), "d_empty' has no .png image") && f.nitems == 0 &&
              strstr(err_msg(), "cannot scan imagefolder '"),
          "imagefolder_empty_class", "%s", err_msg());
    touch("d_empty/ok.png");
    /* a broken symlink named like an image */
    char broken[256];
    snprintf(broken, sizeof broken, "%s/a_class/broken.png", root);
    CHECK(symlink("/nonexistent/target.png", broken) == 0, "imagefolder_setup_broken", "failed");
    rc = imagefolder_scan(&f, root);
    CHECK(rc == -1 && strstr(err_msg(), "cannot stat") && strstr(err_msg(), "broken.png"),
          "imagefolder_broken_entry", "%s", err_msg());
    imagefolder_release(&f);
}

static void test_bad_roots(void)
{
    struct imagefolder f;
    imagefolder_init(&f);
    CHECK(imagefolder_scan(&f, "/nonexistent/root") == -1 &&
              strstr(err_msg(), "cannot scan imagefolder '/nonexistent/root'"),
          "imagefolder_missing_root", "%s", err_msg());
    char file[128];
    snprintf(file, sizeof file, "%s/README", root);
    CHECK(imagefolder_scan(&f, file) == -1 && strstr(err_msg(), "Not a directory"),
          "imagefolder_root_is_file", "%s", err_msg());
    char empty[128];
    snprintf(empty, sizeof empty, "%s/b_class/sub", root);
    CHECK(imagefolder_scan(&f, empty) == -1 && strstr(err_msg(), "no class subdirectory"),
          "imagefolder_empty_root", "%s", err_msg());
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_imagefolder_XXXXXX");
    if (!mkdtemp(root)) {
        CHECK(0, "imagefolder_mkdtemp", "cannot create temp dir");
        return check_summary();
    }
    test_scan();
    test_bad_roots();
    rm_tree();
    return check_summary();
}

/* Fuzz target: stage option parsing (stages/common). The input is an argv, arguments separated by
 * NUL bytes, parsed against a table with every option kind. stages/common.c is compiled into
 * this file with exit() turned into a longjmp back here and its stdout/stderr output sent to
 * /dev/null, so usage errors, --help and --version end one input instead of the process.
 * Accepted values must respect their ranges, and the params JSON must parse back to them. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>

static jmp_buf fopt_jump;
static int fopt_exit_code;

static _Noreturn void fopt_exit(int code)
{
    fopt_exit_code = code;
    longjmp(fopt_jump, 1);
}

static FILE *fopt_sink(void)
{
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    if (!f) abort();
    return f;
}

/* stages/common.c with its exits and output redirected (only inside this include). */
#define exit(code) fopt_exit(code)
#undef stderr
#define stderr fopt_sink()
#define printf(...) fprintf(fopt_sink(), __VA_ARGS__)
#include "stages/common.c"
#undef exit
#undef stderr
#define stderr stderr
#undef printf

#define FOPT_MAX_ARGS 64

static const char *fopt_out, *fopt_name;
static long long fopt_limit;
static double fopt_rate;
static struct cli_size fopt_size;
static struct cli_shard fopt_shard;
static struct cli_list fopt_methods;
static int fopt_flag;

static const char *const fopt_usage[] = {"fuzz --out FILE [options]", "  --out FILE  output", NULL};

static const struct cli_option fopt_table[] = {
    CLI_OUTPUT("out", &fopt_out),
    CLI_OPT("name", CLI_STRING, &fopt_name),
    CLI_RANGE("limit", CLI_INT, &fopt_limit, -5, 1e9),
    CLI_RANGE("rate", CLI_DOUBLE, &fopt_rate, 0, 1),
    CLI_OPT("size", CLI_SIZE, &fopt_size),
    CLI_OPT("shard", CLI_SHARD, &fopt_shard),
    CLI_OPT("methods", CLI_LIST, &fopt_methods),
    CLI_OPT("flag", CLI_FLAG, &fopt_flag),
    CLI_END,
};

static void fopt_check_json(void)
{
    char *json = cli_params_json();
    cJSON *root = cJSON_Parse(json);
    FUZZ_CHECK(cJSON_IsObject(root));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (fopt_name)
        FUZZ_CHECK(cJSON_IsString(name) && strcmp(name->valuestring, fopt_name) == 0);
    else if (!fopt_name)
        FUZZ_CHECK(cJSON_IsNull(name));
    FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(root, "out") == NULL);
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(root, "methods");
    FUZZ_CHECK(cJSON_IsArray(methods) && cJSON_GetArraySize(methods) == fopt_methods.n);
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(root, "limit");
    FUZZ_CHECK(cJSON_IsNumber(limit) && limit->valuedouble == (double)fopt_limit);
    cJSON_Delete(root);
    free(json);
}

/* One parse; exits of stages/common.c land in the else branch. */
static void fopt_parse(int argc, char **argv)
{
    fopt_out = fopt_name = NULL;
    fopt_limit = 3, fopt_rate = 0.5, fopt_flag = 0;
    memset(&fopt_size, 0, sizeof fopt_size);
    memset(&fopt_shard, 0, sizeof fopt_shard);
    memset(&fopt_methods, 0, sizeof fopt_methods); /* cli_free_owned frees, never resets */
    cli_init("fuzz", fopt_usage);
    fopt_exit_code = -1;
    if (setjmp(fopt_jump) == 0) {
        int first = cli_parse(fopt_table, argc, argv);
        FUZZ_CHECK(first >= 1 && first <= argc);
        FUZZ_CHECK(fopt_limit >= -5 && fopt_limit <= 1000000000);
        FUZZ_CHECK(fopt_rate >= 0 && fopt_rate <= 1);
        FUZZ_CHECK(fopt_size.h == 0 || (fopt_size.h >= 1 && fopt_size.h <= 16384 &&
                                        fopt_size.w >= 1 && fopt_size.w <= 16384));
        FUZZ_CHECK(fopt_shard.n == 0 || fopt_shard.k < fopt_shard.n);
        for (int i = 0; i < fopt_methods.n; i++)
            FUZZ_CHECK(fopt_methods.items[i][0] && !strchr(fopt_methods.items[i], ','));
        fopt_check_json();
    } else {
        FUZZ_CHECK(fopt_exit_code == CLI_EXIT_USAGE || fopt_exit_code == CLI_EXIT_OK);
    }
    cli_free_owned();
}

int fuzz_options(const uint8_t *data, size_t size)
{
    char *buf = fuzz_strndup(data, size);
    char *argv[FOPT_MAX_ARGS + 2] = {"fuzz"};
    int argc = 1;
    for (char *p = buf; argc <= FOPT_MAX_ARGS && p <= buf + size; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    fopt_parse(argc, argv);
    free(buf);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_options(data, size);
}
#endif

/* Tests of formats/jsoncheck: JSON's number grammar and nesting limit on the text, duplicate
 * keys in the parsed tree, each against hand-written cases. */
#include <string.h>

#include "formats/jsoncheck.h"
#include "tests/check.h"

/* Offset of the first fault in s (strlen(s) when none) and its reason. */
static size_t fault(const char *s, const char **why)
{
    *why = "";
    return jsoncheck_text(s, strlen(s), 3, why);
}

static void test_numbers(void)
{
    const char *ok[] = {"[0, -0, 1, -12, 0.5, 10.25, 1e5, 1E+5, 2.5e-3, -0.0e0]",
                        "{\"a\": \"032 and 1. inside strings are text\", \"b\\\"01\": 7}",
                        "[true, false, null]", ""};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        const char *why;
        size_t at = fault(ok[i], &why);
        CHECK(at == strlen(ok[i]), "jsoncheck_valid_numbers", "case %zu: fault at %zu: %s", i,
              at, why);
    }
    const struct { const char *text; size_t at; const char *why; } bad[] = {
        {"[1, 032]", 4, "leading zero"},
        {"{\"c\": -01}", 6, "leading zero"},
        {"[1.]", 1, "digits after '.'"},
        {"[1.e5]", 1, "digits after '.'"},
        {"[1e]", 1, "exponent digits"},
        {"[2E+]", 1, "exponent digits"},
        {"[-]", 1, "'-' without digits"},
        {"[-.5]", 1, "'-' without digits"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *why;
        size_t at = fault(bad[i].text, &why);
        CHECK(at == bad[i].at && strstr(why, bad[i].why), "jsoncheck_bad_numbers",
              "'%s': fault at %zu (%s), want %zu (%s)", bad[i].text, at, why, bad[i].at,
              bad[i].why);
    }
}

static void test_depth(void)
{
    const char *why1, *why2, *why3;
    size_t at1 = fault("[[[1]]]", &why1), at2 = fault("{\"a\": [[[1]]]}", &why2),
           at3 = fault("[\"[[[[\"]", &why3);
    CHECK(at1 == 7, "jsoncheck_depth_at_limit", "%s", why1);
    CHECK(at2 == 8 && strstr(why2, "nested"), "jsoncheck_depth_over_limit", "%zu %s", at2, why2);
    CHECK(at3 == 8, "jsoncheck_depth_brackets_in_strings", "%s", why3);
}

static void test_duplicates(void)
{
    cJSON *a = cJSON_Parse("{\"x\": 1, \"y\": [{\"k\": 1}, {\"k\": 2, \"z\": 0, \"k\": 3}]}");
    const cJSON *d = jsoncheck_duplicate_key(a);
    CHECK(d && !strcmp(d->string, "k") && d->valueint == 3, "jsoncheck_duplicate_nested",
          "found %s", d ? d->string : "none");
    cJSON *b = cJSON_Parse("{\"x\": 1, \"y\": [{\"x\": 1}, {\"x\": 2}], \"z\": {\"y\": 0}}");
    CHECK(b && !jsoncheck_duplicate_key(b), "jsoncheck_same_key_other_objects", "");
    cJSON *c = cJSON_Parse("{\"x\": 1, \"x\": 1}");
    d = jsoncheck_duplicate_key(c);
    CHECK(d && !strcmp(d->string, "x"), "jsoncheck_duplicate_top", "");
    CHECK(!jsoncheck_duplicate_key(NULL), "jsoncheck_duplicate_null", "");
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

int main(void)
{
    test_numbers();
    test_depth();
    test_duplicates();
    return check_summary();
}

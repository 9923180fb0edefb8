/* conformance-c: checks the kernel against the system-call contract (shared/spec/zx-abi.md)
 * from C, through the zircon headers (user/include/zircon) and libzircon.
 *
 * Output (user/README.md): one line per case, `test NAME ... ok` or
 * `test NAME ... FAILED: why`, then `conformance-c: N passed, M failed`; exits with M.
 * Run as `conformance-c child MODE [ARG]` it is the helper process of the two-process cases.
 */
#include "harness.h"

void t_reset_case(void);
const char* t_failure_message(void);

static const t_group* const k_groups[] = {
    &t_group_misc,   &t_group_vmo,   &t_group_vmo_child, &t_group_handle,
    &t_group_object, &t_group_ports, &t_group_channel,   &t_group_vmar,
    &t_group_process, &t_group_race, &t_group_stress,    &t_group_timer,
    &t_group_futex,   &t_group_socket,    &t_group_job,
};

static char g_line[600];
static size_t g_line_len;

static void line_add(const char* s) {
    while (*s && g_line_len + 2 < sizeof(g_line)) g_line[g_line_len++] = *s++;
}

static void line_end(void) {
    g_line[g_line_len++] = '\n';
    zx_debug_write(g_line, g_line_len);
    g_line_len = 0;
}

static bool name_matches(const char* name, const char* filter) {
    /* A filter selects the cases whose name starts with it. */
    while (*filter) {
        if (*name++ != *filter++) return false;
    }
    return true;
}

int main(int argc, char** argv) {
    if (argc > 0 && argv && argv[0] && argv[0][0]) t_self_path = argv[0];
    /* `child MODE ...` (argv[0] is normally the path; accept it missing too). */
    for (int i = 0; i < argc && i < 2; i++) {
        if (argv[i] && t_streq(argv[i], "child")) return t_child_main(argc, argv, i + 1);
    }
    /* Optional arguments `only=PREFIX`: run just the cases whose name starts with PREFIX. */
    int nfilters = 0;
    for (int f = 1; f < argc; f++) {
        if (argv[f] && name_matches(argv[f], "only=")) nfilters++;
    }

    uint64_t passed = 0, failed = 0;
    for (size_t g = 0; g < T_COUNT(k_groups); g++) {
        for (size_t i = 0; i < k_groups[g]->count; i++) {
            const t_case* c = &k_groups[g]->cases[i];
            if (nfilters) {
                bool any = false;
                for (int f = 1; f < argc; f++) {
                    if (argv[f] && name_matches(argv[f], "only="))
                        any = any || name_matches(c->name, argv[f] + 5);
                }
                if (!any) continue;
            }
            t_reset_case();
            c->fn();
            t_cleanup();
            line_add("test ");
            line_add(c->name);
            if (t_failed()) {
                line_add(" ... FAILED: ");
                line_add(t_failure_message());
                failed++;
            } else {
                line_add(" ... ok");
                passed++;
            }
            line_end();
        }
    }
    char num[24];
    line_add("conformance-c: ");
    t_fmt_dec(num, passed);
    line_add(num);
    line_add(" passed, ");
    t_fmt_dec(num, failed);
    line_add(num);
    line_add(" failed");
    line_end();
    return (int)failed;
}

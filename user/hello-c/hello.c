/* hello-c: a small C program on libzircon (crt0, system calls, <zircon/process.h>).
 * Prints its arguments, round-trips bytes through a VMO and exits with 0 if all went well.
 */
#include <zircon/process.h>
#include <zircon/status.h>
#include <zircon/syscalls.h>

static int check(const char* what, zx_status_t status) {
    if (status == ZX_OK) return 0;
    zxr_puts("hello-c: ");
    zxr_puts(what);
    zxr_puts(": ");
    zxr_puts(zx_status_get_string(status));
    zxr_puts("\n");
    return 1;
}

int main(int argc, char** argv) {
    zxr_puts("hello-c: argc ");
    zxr_print_i64(argc);
    for (int i = 0; i < argc; i++) {
        zxr_puts(i == 0 ? ", argv: " : " ");
        zxr_puts(argv[i]);
    }
    zxr_puts("\n");
    if (argv[argc] != NULL) return 10;

    zx_handle_t vmo;
    if (check("zx_vmo_create", zx_vmo_create(ZX_PAGE_SIZE, 0, &vmo))) return 1;
    static const char msg[] = "written from C";
    char back[sizeof(msg)] = {0};
    if (check("zx_vmo_write", zx_vmo_write(vmo, msg, 0, sizeof(msg)))) return 2;
    if (check("zx_vmo_read", zx_vmo_read(vmo, back, 0, sizeof(back)))) return 3;
    if (__builtin_memcmp(msg, back, sizeof(msg)) != 0) return 4;

    zx_info_handle_basic_t info;
    size_t actual, avail;
    if (check("zx_object_get_info",
              zx_object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &info, sizeof(info), &actual,
                                 &avail)))
        return 5;
    zxr_puts("hello-c: VMO koid ");
    zxr_print_u64(info.koid);
    zxr_puts(", rights ");
    zxr_print_hex(info.rights);
    zxr_puts(", process handle ");
    zxr_print_hex(zx_process_self());
    zxr_puts("\n");
    return check("zx_handle_close", zx_handle_close(vmo)) ? 6 : 0;
}

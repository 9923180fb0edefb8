/* The program runtime and launcher of libzircon, for C programs.
 *
 * A C program defines `int main(int argc, char** argv)`; libzircon's `_start` reads the
 * bootstrap message (user/README.md), calls main and exits the process with its result.
 * Not system calls: these are library functions of libzircon.a.
 *
 * Needs only <stdint.h> and <stddef.h>; valid C11 and C++, also with -ffreestanding.
 */
#ifndef ZIRCON_PROCESS_H_
#define ZIRCON_PROCESS_H_

#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Startup handles 0-3 of the bootstrap message. The runtime keeps them open for the life of
 * the program: use them, duplicate them, but do not close them. */
zx_handle_t zx_process_self(void);   /* [0] this process */
zx_handle_t zx_vmar_root_self(void); /* [1] its root VMAR */
zx_handle_t zxr_bootfs(void);        /* [2] the boot archive, a read-only cpio newc VMO */
/* [3] the job the program's launcher gave it (Zircon's PA_JOB_DEFAULT); zxr_spawn starts
 * programs in it. init gets the root job. */
zx_handle_t zx_job_default(void);

/* Takes startup handle `index`, counted in the bootstrap message: 4 is the first extra
 * handle the starter passed (handles[0] of zxr_spawn), 5 the second, ... Each is handed out
 * once; the caller owns it. ZX_HANDLE_INVALID for indices 0-3 (kept by the runtime), out of
 * range, already taken or absent. */
zx_handle_t zxr_take_startup_handle(uint32_t index);

/* Starts program `path` of this program's boot archive (e.g. "bin/conformance-c") in a new
 * process of the default job (which it gets as its default job too) and returns the process
 * handle in *proc_out.
 *
 * argc/argv are the new program's complete argument vector, argv[0] included (by
 * convention the path); argc 0 (argv may then be NULL) gives it argv = { path }.
 * handles[0..num_handles) become its startup handles 4, 5, ...; they are consumed in all
 * cases, on success and on failure (handles may be NULL when num_handles is 0).
 *
 * Errors: ZX_ERR_INVALID_ARGS (NULL path or proc_out, argc < 0, NULL argv entries, strings
 * not UTF-8, not a loadable ELF), ZX_ERR_NOT_FOUND (no such file in the archive),
 * ZX_ERR_NOT_SUPPORTED (not an aarch64 static executable), ZX_ERR_OUT_OF_RANGE (more than
 * 61 handles or 64 KiB of arguments), or a system call's status. */
zx_status_t zxr_spawn(const char* path, int argc, const char* const* argv,
                      const zx_handle_t* handles, uint32_t num_handles, zx_handle_t* proc_out);

/* zxr_spawn in `job` (MANAGE_PROCESS), which the new program also gets as its default job;
 * `job` is not consumed. */
zx_status_t zxr_spawn_in(zx_handle_t job, const char* path, int argc, const char* const* argv,
                         const zx_handle_t* handles, uint32_t num_handles,
                         zx_handle_t* proc_out);

/* Waits until process `proc` has terminated and stores its return code (from
 * ZX_INFO_PROCESS; negative ZX_TASK_RETCODE_* values when it was killed) in *code_out, which
 * may be NULL. Does not close `proc`. */
zx_status_t zxr_wait_exit(zx_handle_t proc, int64_t* code_out);

/* Console output through zx_debug_write(), for programs without printf. Each call writes
 * exactly what it says, no newline is added. */
void zxr_puts(const char* s);         /* the string as is */
void zxr_print_u64(uint64_t value);   /* decimal */
void zxr_print_i64(int64_t value);    /* decimal, with '-' when negative */
void zxr_print_hex(uint64_t value);   /* "0x" and lowercase hex digits, e.g. 0x1f */

#ifdef __cplusplus
}
#endif

#endif /* ZIRCON_PROCESS_H_ */

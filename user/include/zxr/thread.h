/* <zxr/thread.h>: threads of the calling process running a C function, joined
 * through a futex, from libzircon.a.
 *
 * zxr_thread_create maps a stack, creates and starts the thread. When `entry` returns, the
 * thread stores its result, sets `done` to 1 with a release store, wakes `done` and ends,
 * touching its stack no more after the store. zxr_thread_join sleeps on `done` until it
 * reads 1, then closes the thread handle and unmaps the stack (default-size stacks are kept
 * mapped, a few at most, for the next zxr_thread_create). The caller owns the
 * zxr_thread_t and must keep it alive until the join returns; join each thread once. */
#ifndef ZXR_THREAD_H_
#define ZXR_THREAD_H_

#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*zxr_thread_entry_t)(void* arg);

typedef struct zxr_thread {
    zx_futex_t done;        /* 0 while running, 1 once `entry` returned */
    int result;             /* what `entry` returned, valid once done */
    zx_handle_t handle;     /* the thread (closed by zxr_thread_join) */
    uint32_t reserved;
    zxr_thread_entry_t entry;
    void* arg;
    uintptr_t stack_base;
    size_t stack_size;
} zxr_thread_t;

/* Stack size when zxr_thread_create is given 0. */
#define ZXR_THREAD_DEFAULT_STACK (64u * 1024u)

/* Starts `entry(arg)` on a new thread with a stack of `stack_size` bytes (0: the default;
 * rounded up to pages). On failure nothing is left behind. */
zx_status_t zxr_thread_create(zxr_thread_t* thread, zxr_thread_entry_t entry, void* arg,
                              const char* name, size_t stack_size);
/* Waits for the thread's function to return; its result goes to `*result` if not NULL. */
zx_status_t zxr_thread_join(zxr_thread_t* thread, int* result);

#ifdef __cplusplus
}
#endif

#endif

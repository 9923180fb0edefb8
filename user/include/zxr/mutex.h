/* <zxr/mutex.h>: a mutex on a futex, from libzircon.a.
 *
 * The word is 0 (free), 1 (held) or 2 (held, sleepers possible). An uncontended lock or
 * unlock is one atomic instruction and no system call; a contender marks the word 2 and
 * sleeps in zx_futex_wait; unlock wakes one sleeper only when the word was 2. Not
 * recursive; unlocking a mutex the caller does not hold is undefined. */
#ifndef ZXR_MUTEX_H_
#define ZXR_MUTEX_H_

#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zxr_mutex {
    zx_futex_t futex;
} zxr_mutex_t;

/* A free mutex (all zero bytes are one too). */
#define ZXR_MUTEX_INIT {0}

void zxr_mutex_lock(zxr_mutex_t* mutex);
/* ZX_OK if taken, ZX_ERR_BAD_STATE if another thread holds it. */
zx_status_t zxr_mutex_trylock(zxr_mutex_t* mutex);
void zxr_mutex_unlock(zxr_mutex_t* mutex);

#ifdef __cplusplus
}
#endif

#endif

/* The benchmark harness shared by the Zircon-style kernel's `bin/bench` (ops-zircon.c) and
 * the Linux comparison's /init (ops-linux.c).
 *
 * Under `qemu -icount shift=0` guest time advances one nanosecond per instruction, so a
 * monotonic clock in nanoseconds counts guest instructions. Each operation is timed over
 * enough iterations to span at least BENCH_MIN_NS; the cost of the same loop without the
 * operation is subtracted; runs repeat until two in a row agree to 1%.
 *
 * Output: a human table, and one line per operation for the host script to collect:
 *   bench-result {"name":"null_syscall","iterations":N,"per_op":123.45,"spread_pct":0.01}
 * per_op is guest instructions per operation. Freestanding: no libc, no floating point.
 */
#ifndef BENCH_H_
#define BENCH_H_

#include <stdint.h>

/* Provided by the backend. */
uint64_t bench_now_ns(void);
void bench_write(const char* s);

/* Runs the operation `iterations` times. Returns the nanoseconds to count: 0 means "the
 * harness timed the whole call" (it then subtracts an empty loop of the same length); any
 * other value is the operation's own measurement, already net of its baseline. */
typedef uint64_t (*bench_fn)(uint64_t iterations);

struct bench_op {
    const char* name;        /* stable key, shared by both backends */
    const char* label;       /* for the table */
    bench_fn run;
    /* Operations per iteration: a fault benchmark touches 256 pages per iteration. */
    uint64_t ops_per_iteration;
};

/* Measures and prints every operation of `ops` (NULL `run` entries are skipped with a note).
 * Returns 0 if every measurement settled, 1 otherwise. */
int bench_run_all(const char* system, const struct bench_op* ops, int count);

/* An empty loop the harness uses as the baseline; also usable by self-timed operations. */
uint64_t bench_empty_loop(uint64_t iterations);

/* Prevents the compiler from dropping or merging work on `p`. */
#define BENCH_USE(p) __asm__ volatile("" : : "r"(p) : "memory")

#endif /* BENCH_H_ */

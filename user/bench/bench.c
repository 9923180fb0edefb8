/* The harness: calibration, empty-loop subtraction, repetition to 1%, and output. */
#include "bench.h"

/* Each measured run spans at least this many guest instructions. */
#define BENCH_MIN_NS 4000000ull
#define BENCH_MAX_ITERATIONS (1ull << 26)
#define BENCH_MAX_RUNS 12
/* Agreement wanted between consecutive runs, in hundredths of a percent. */
#define BENCH_TOLERANCE_CENTI_PCT 100

__attribute__((noinline)) uint64_t bench_empty_loop(uint64_t iterations) {
    for (uint64_t i = 0; i < iterations; i++) {
        BENCH_USE(i);
    }
    return 0;
}

static void write_u64(uint64_t v) {
    char buf[24];
    int i = sizeof(buf) - 1;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && i > 0);
    bench_write(&buf[i]);
}

/* `hundredths` / 100 with two decimals. */
static void write_fixed2(uint64_t hundredths) {
    write_u64(hundredths / 100);
    char frac[4] = {'.', (char)('0' + hundredths / 10 % 10), (char)('0' + hundredths % 10), 0};
    bench_write(frac);
}

static void write_padded(const char* s, int width) {
    int n = 0;
    while (s[n] != 0) n++;
    bench_write(s);
    static const char spaces[] = "                                                  ";
    if (n < width) bench_write(&spaces[sizeof(spaces) - 1 - (width - n)]);
}

/* Nanoseconds the harness attributes to `iterations` iterations of `op`. */
static uint64_t timed(bench_fn run, uint64_t iterations, uint64_t empty_per_mille_iteration) {
    uint64_t start = bench_now_ns();
    uint64_t own = run(iterations);
    uint64_t elapsed = bench_now_ns() - start;
    if (own != 0) return own;
    uint64_t empty = empty_per_mille_iteration * iterations / 1000;
    return elapsed > empty ? elapsed - empty : 0;
}

/* Cost of one empty-loop iteration plus the clock reads, in thousandths of a nanosecond,
 * measured over `iterations`. */
static uint64_t empty_cost(uint64_t iterations) {
    uint64_t start = bench_now_ns();
    bench_empty_loop(iterations);
    uint64_t elapsed = bench_now_ns() - start;
    return elapsed * 1000 / iterations;
}

static uint64_t absdiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

int bench_run_all(const char* system, const struct bench_op* ops, int count) {
    int unsettled = 0;
    bench_write("bench: ");
    bench_write(system);
    bench_write(": guest instructions per operation (qemu -icount shift=0)\n");
    write_padded("operation", 34);
    write_padded("iterations", 12);
    bench_write("instructions/op\n");
    for (int k = 0; k < count; k++) {
        const struct bench_op* op = &ops[k];
        if (op->run == 0) continue;
        /* Calibrate: double until one run spans BENCH_MIN_NS. */
        uint64_t iterations = 1;
        for (;;) {
            uint64_t start = bench_now_ns();
            op->run(iterations);
            uint64_t elapsed = bench_now_ns() - start;
            if (elapsed >= BENCH_MIN_NS || iterations >= BENCH_MAX_ITERATIONS) break;
            iterations *= 2;
        }
        uint64_t empty = empty_cost(iterations);
        uint64_t ops_per_run = iterations * op->ops_per_iteration;
        /* per-op costs in hundredths of an instruction */
        uint64_t previous = 0, best = 0, spread = 0;
        int settled = 0;
        for (int r = 0; r < BENCH_MAX_RUNS; r++) {
            uint64_t per_op = timed(op->run, iterations, empty) * 100 / ops_per_run;
            if (r > 0) {
                uint64_t diff = absdiff(per_op, previous);
                uint64_t base = per_op > previous ? per_op : previous;
                /* diff / base <= 1% */
                if (diff * 10000 <= base * BENCH_TOLERANCE_CENTI_PCT) {
                    settled = 1;
                    best = per_op < previous ? per_op : previous;
                    spread = base == 0 ? 0 : diff * 10000 / base;
                    break;
                }
            }
            previous = per_op;
        }
        if (!settled) {
            best = previous;
            spread = 10000;
            unsettled = 1;
        }
        write_padded(op->label, 34);
        char num[24];
        int i = sizeof(num) - 1;
        num[i] = 0;
        uint64_t v = ops_per_run;
        do {
            num[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0 && i > 0);
        write_padded(&num[i], 12);
        write_fixed2(best);
        bench_write(settled ? "\n" : "  (did not settle to 1%)\n");
        bench_write("bench-result {\"name\":\"");
        bench_write(op->name);
        bench_write("\",\"iterations\":");
        write_u64(ops_per_run);
        bench_write(",\"per_op\":");
        write_fixed2(best);
        bench_write(",\"spread_pct\":");
        write_fixed2(spread);
        bench_write(settled ? ",\"settled\":true}\n" : ",\"settled\":false}\n");
    }
    bench_write("bench: done\n");
    return unsettled;
}

/* conformance-c: cases that race on purpose (issue 14, item 6). Several threads of this
 * process call into the same objects at once for a few hundred milliseconds while the data is
 * checked; then the kernel's heap and free pages must come back (each case runs its race
 * twice: a warm-up, then the measured run). On one CPU only preemption interleaves the
 * threads; with several they really overlap. `make stress` boots `only=race_` again and again
 * on four vCPUs under MTTCG.
 *
 * The harness is not thread-safe: only the main thread uses CHECK_* and t_track. The other
 * threads record the first thing they saw go wrong with race_fail(); run_race() reports it. */
#include "harness.h"
#include "child.h"

/* ---- running one function on several threads ----------------------------------------- */

#define RACE_RUN ZX_MSEC(250)
#define MAX_RACERS 6

static void (*g_job)(uint32_t index);
static zx_time_t g_deadline;

/* The first failure any thread saw: line, message and value. */
static uint32_t g_fail_line;
static const char* g_fail_msg;
static uint64_t g_fail_value;

static void race_fail(uint32_t line, const char* msg, uint64_t value) {
    uint32_t zero = 0;
    if (__atomic_compare_exchange_n(&g_fail_line, &zero, line, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
        g_fail_msg = msg;
        __atomic_store_n(&g_fail_value, value, __ATOMIC_SEQ_CST);
    }
}

static bool race_failed(void) {
    return __atomic_load_n(&g_fail_line, __ATOMIC_SEQ_CST) != 0;
}

static bool racing(void) {
    return !race_failed() && zx_clock_get_monotonic() < g_deadline;
}

/* Records a failure unless `s` is `a` or `b`; true if it was one of them. */
#define RACE_ST2(expr, a, b)                                                              \
    race_status(__LINE__, #expr, (zx_status_t)(expr), (zx_status_t)(a), (zx_status_t)(b))
#define RACE_OK(expr) RACE_ST2(expr, ZX_OK, ZX_OK)

static bool race_status(uint32_t line, const char* what, zx_status_t s, zx_status_t a,
                        zx_status_t b) {
    if (s == a || s == b) return true;
    race_fail(line, what, (uint64_t)(int64_t)s);
    return false;
}

static void racer_entry(uintptr_t index, uintptr_t unused) {
    (void)unused;
    g_job((uint32_t)index);
    zx_thread_exit();
}

/* Runs job(0) .. job(n - 1) on n new threads and job(n) on this one for RACE_RUN, joins them
 * all (closing their handles) and fails the case with the first failure any of them saw. */
static void run_race(uint32_t n, void (*job)(uint32_t)) {
    g_job = job;
    g_fail_line = 0;
    g_fail_msg = NULL;
    g_fail_value = 0;
    g_deadline = zx_deadline_after(RACE_RUN);
    zx_handle_t threads[MAX_RACERS];
    uint32_t started = 0;
    for (; started < n; started++) {
        threads[started] = t_start_thread(racer_entry, started);
        if (threads[started] == ZX_HANDLE_INVALID) {
            race_fail(__LINE__, "thread start", started);
            break;
        }
    }
    if (started == n) job(n);
    for (uint32_t i = 0; i < started; i++) {
        if (!t_join_thread(threads[i])) return;
        t_untrack(threads[i]);
        zx_handle_close(threads[i]);
    }
    if (race_failed()) {
        t_context("value", g_fail_value);
        t_fail_msg(__FILE__, (int)g_fail_line, g_fail_msg ? g_fail_msg : "(no message)",
                   g_fail_value);
    }
}

/* Runs `race` twice (caches and this process's heap grow in the first) and checks that the
 * second gives back every heap byte and free page it took, allowing a little slack and up to
 * 2 s for deferred teardown. */
static void without_leak(void (*race)(void)) {
    race();
    CHECK_HELPER();
    zx_nanosleep(zx_deadline_after(ZX_MSEC(5)));
    zx_info_kmem_stats_t before, after;
    CHECK(t_kmem(&before));
    race();
    CHECK_HELPER();
    zx_time_t until = zx_deadline_after(ZX_SEC(2));
    for (;;) {
        zx_nanosleep(zx_deadline_after(ZX_MSEC(5)));
        CHECK(t_kmem(&after));
        uint64_t heap_before = before.total_heap_bytes - before.free_heap_bytes;
        uint64_t heap_after = after.total_heap_bytes - after.free_heap_bytes;
        uint64_t grew = heap_after > heap_before ? heap_after - heap_before : 0;
        uint64_t lost = after.free_bytes < before.free_bytes
                            ? (before.free_bytes - after.free_bytes) / PAGE
                            : 0;
        if (grew <= 8 * 1024 && lost <= 16) return;
        if (zx_clock_get_monotonic() > until) {
            t_context("free pages lost", lost);
            t_fail_msg(__FILE__, __LINE__, "kernel heap bytes not given back:", grew);
            return;
        }
    }
}

static uint64_t rand_next(uint64_t* state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static uint64_t rand_seed(uint32_t index) {
    return ((uint64_t)zx_clock_get_monotonic() ^ 0x9E3779B97F4A7C15ull) * (2 * index + 1) | 1;
}

/* On one CPU a thread polling a flag lets the others run now and then. */
static void pause_now_and_then(uint64_t i) {
    if (i % 64 == 0) zx_nanosleep(zx_deadline_after(ZX_USEC(100)));
}

/* ---- 1: one VMO written, resized, decommitted and faulted on at once --------------------- */

#define BASE 8u  /* pages never resized away; the mapping covers only these */
#define TAIL 8u  /* pages the resizer drops and brings back */
#define WORDS (PAGE / 8)
#define MAGIC 0xC0DEull
#define DECOY 0xDEC0ull
#define TAIL_WRITER 0xFFull
#define WRITERS 3u /* 0 and 1 by call, 2 through the mapping */

static uint64_t tag(uint64_t magic, uint64_t writer, uint64_t page, uint64_t seq) {
    return magic << 48 | (writer & 0xFF) << 40 | (page & 0xFF) << 32 | (seq & 0xFFFFFFFFull);
}

/* 0 if `w`, read at `page`, is 0 or a word a writer put there (a tail word of a resize round
 * in [r0, r1]); else a code for what is wrong: 1 another VMO's word, 2 torn or foreign, 3 an
 * unknown writer, 4 tail data from before a shrink. */
static int bad_word(uint64_t w, uint64_t page, uint64_t r0, uint64_t r1) {
    if (w == 0) return 0;
    uint64_t magic = w >> 48, writer = (w >> 40) & 0xFF, wpage = (w >> 32) & 0xFF;
    uint64_t seq = w & 0xFFFFFFFFull;
    if (magic == DECOY) return 1;
    if (magic != MAGIC || wpage != page) return 2;
    if (page < BASE) return writer < WRITERS ? 0 : 3;
    return writer == TAIL_WRITER && seq >= r0 && seq <= r1 ? 0 : 4;
}

static struct {
    zx_handle_t vmo, decoy;
    zx_vaddr_t addr;
    uint64_t round;
    uint64_t counts[5];
} g_ham;

static uint64_t g_bufs[MAX_RACERS][WORDS];

static void ham_write(uint32_t me, uint64_t seq, uint64_t* rng, uint64_t* buf) {
    uint64_t r = rand_next(rng);
    uint64_t page = r % BASE;
    uint64_t first = (r >> 8) % WORDS;
    uint64_t len = 1 + (r >> 20) % (WORDS - first);
    uint64_t off = page * PAGE + first * 8;
    for (uint64_t i = 0; i < len; i++) buf[i] = tag(MAGIC, me, page, seq);
    if (!RACE_OK(zx_vmo_write(g_ham.vmo, buf, off, len * 8))) return;
    if (me == 0) {
        for (uint64_t i = 0; i < len; i++) buf[i] = tag(DECOY, 0, page, seq);
        RACE_OK(zx_vmo_write(g_ham.decoy, buf, off, len * 8));
    }
}

static void ham_fault(uint64_t seq, uint64_t* rng) {
    uint64_t r = rand_next(rng);
    uint64_t page = r % BASE, word = (r >> 8) % WORDS;
    *(volatile uint64_t*)(g_ham.addr + page * PAGE + word * 8) = tag(MAGIC, 2, page, seq);
    page = (r >> 24) % BASE;
    word = (r >> 32) % WORDS;
    uint64_t got = *(volatile uint64_t*)(g_ham.addr + page * PAGE + word * 8);
    if (bad_word(got, page, 0, 0)) race_fail(__LINE__, "read through the mapping", got);
}

static void ham_resize(uint64_t rd, uint64_t* rng, uint64_t* buf) {
    if (!RACE_OK(zx_vmo_set_size(g_ham.vmo, (BASE + TAIL) * PAGE))) return;
    __atomic_store_n(&g_ham.round, rd, __ATOMIC_SEQ_CST);
    for (uint64_t p = BASE; p < BASE + TAIL; p++) {
        for (uint64_t i = 0; i < WORDS; i++) buf[i] = tag(MAGIC, TAIL_WRITER, p, rd);
        if (!RACE_OK(zx_vmo_write(g_ham.vmo, buf, p * PAGE, PAGE))) return;
    }
    if (!RACE_OK(zx_vmo_set_size(g_ham.vmo, BASE * PAGE))) return;
    if (rd % 4 == 0) {
        uint64_t page = rand_next(rng) % BASE;
        RACE_OK(zx_vmo_op_range(g_ham.vmo, ZX_VMO_OP_DECOMMIT, page * PAGE, PAGE, NULL, 0));
    }
}

static void ham_check(uint64_t* rng, uint64_t* buf) {
    uint64_t r = rand_next(rng);
    uint64_t page = r % (BASE + TAIL);
    uint64_t r0 = __atomic_load_n(&g_ham.round, __ATOMIC_SEQ_CST);
    zx_status_t s = zx_vmo_read(g_ham.vmo, buf, page * PAGE, PAGE);
    uint64_t r1 = __atomic_load_n(&g_ham.round, __ATOMIC_SEQ_CST);
    if (page < BASE ? !RACE_OK(s) : !RACE_ST2(s, ZX_OK, ZX_ERR_OUT_OF_RANGE)) return;
    if (s == ZX_OK) {
        for (uint64_t i = 0; i < WORDS; i++) {
            int bad = bad_word(buf[i], page, r0, r1);
            if (bad) {
                race_fail(__LINE__,
                          bad == 1   ? "zx_vmo_read: a word of another VMO"
                          : bad == 4 ? "zx_vmo_read: tail data from before a shrink"
                                     : "zx_vmo_read: a word nobody wrote there",
                          buf[i]);
                return;
            }
        }
    }
    page = (r >> 16) % BASE;
    for (uint64_t i = 0; i < WORDS; i++) {
        uint64_t got = *(volatile uint64_t*)(g_ham.addr + page * PAGE + i * 8);
        if (bad_word(got, page, 0, 0)) {
            race_fail(__LINE__, "read through the mapping: a word nobody wrote there", got);
            return;
        }
    }
}

static void ham_job(uint32_t me) {
    uint64_t rng = rand_seed(me);
    uint64_t* buf = g_bufs[me];
    uint64_t seq = 0;
    while (racing()) {
        seq++;
        __atomic_fetch_add(&g_ham.counts[me], 1, __ATOMIC_RELAXED);
        switch (me) {
        case 0:
        case 1: ham_write(me, seq, &rng, buf); break;
        case 2: ham_fault(seq, &rng); break;
        case 3: ham_resize(seq, &rng, buf); break;
        default: ham_check(&rng, buf); break;
        }
    }
}

static void vmo_race(void) {
    t_memset(&g_ham, 0, sizeof(g_ham));
    NEW_VMO(vmo, (BASE + TAIL) * PAGE, 0);
    NEW_VMO(decoy, BASE * PAGE, ZX_VMO_NON_RESIZABLE);
    NEW_MAP(addr, vmo, RW, BASE * PAGE);
    g_ham.vmo = vmo;
    g_ham.decoy = decoy;
    g_ham.addr = addr;
    run_race(4, ham_job);
    CHECK_HELPER();
    for (uint32_t i = 0; i < 5; i++) {
        t_context("thread", i);
        CHECK(g_ham.counts[i] >= 2);
    }
    /* The resizer ended shrunk; a page holding data is committed, no more than the size. */
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, BASE * PAGE);
    uint64_t with_data = 0;
    for (uint64_t page = 0; page < BASE; page++) {
        CHECK_OK(zx_vmo_read(vmo, g_bufs[0], page * PAGE, PAGE));
        bool any = false;
        for (uint64_t i = 0; i < WORDS; i++) {
            t_context("word", g_bufs[0][i]);
            CHECK(bad_word(g_bufs[0][i], page, 0, 0) == 0);
            any = any || g_bufs[0][i] != 0;
        }
        with_data += any;
    }
    uint64_t committed = t_committed(vmo);
    t_context("pages with data", with_data);
    CHECK(committed >= with_data * PAGE && committed <= BASE * PAGE);
    t_cleanup();
}

static void race_vmo_writes_resizes_faults_and_reads_see_only_written_data(void) {
    without_leak(vmo_race);
}

/* ---- 2: one handle closed and replaced while other threads use it ----------------------- */

static zx_handle_t g_shared;
static uint64_t g_use_counts[4];

static void use_job(uint32_t me) {
    uint64_t seq = 0;
    while (racing()) {
        seq++;
        __atomic_fetch_add(&g_use_counts[me], 1, __ATOMIC_RELAXED);
        zx_handle_t h = __atomic_load_n(&g_shared, __ATOMIC_SEQ_CST);
        if (me == 0) {
            /* The closer: only it closes the shared value, so the close must work. */
            zx_handle_t fresh;
            if (!RACE_OK(zx_vmo_create(PAGE, 0, &fresh))) return;
            zx_handle_t old = __atomic_exchange_n(&g_shared, fresh, __ATOMIC_SEQ_CST);
            RACE_OK(zx_handle_close(old));
        } else if (me == 1) {
            uint64_t word = tag(MAGIC, me, 0, seq), got = 0;
            if (!RACE_ST2(zx_vmo_write(h, &word, 8, 8), ZX_OK, ZX_ERR_BAD_HANDLE)) return;
            zx_status_t s = zx_vmo_read(h, &got, 8, 8);
            if (!RACE_ST2(s, ZX_OK, ZX_ERR_BAD_HANDLE)) return;
            if (s == ZX_OK && got != 0 && (got >> 48 != MAGIC || ((got >> 40) & 0xFF) != me)) {
                race_fail(__LINE__, "zx_vmo_read gave a word never written there", got);
                return;
            }
            zx_info_handle_basic_t info;
            size_t actual, avail;
            s = zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, &info, sizeof(info), &actual, &avail);
            if (!RACE_ST2(s, ZX_OK, ZX_ERR_BAD_HANDLE)) return;
            if (s == ZX_OK && info.type != ZX_OBJ_TYPE_VMO) {
                race_fail(__LINE__, "ZX_INFO_HANDLE_BASIC type", info.type);
                return;
            }
            zx_handle_t d;
            s = zx_handle_duplicate(h, ZX_RIGHT_SAME_RIGHTS, &d);
            if (!RACE_ST2(s, ZX_OK, ZX_ERR_BAD_HANDLE)) return;
            if (s == ZX_OK) {
                /* The duplicate keeps the object alive whatever happens to h. */
                uint64_t size = 0;
                if (!RACE_OK(zx_vmo_get_size(d, &size))) return;
                if (size != PAGE) race_fail(__LINE__, "the duplicate's size", size);
                if (!RACE_OK(zx_handle_close(d))) return;
            }
        } else if (me == 2) {
            zx_vaddr_t a = 0;
            zx_status_t s = zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, h, 0, PAGE, &a);
            if (!RACE_ST2(s, ZX_OK, ZX_ERR_BAD_HANDLE)) return;
            if (s == ZX_OK) {
                /* The mapping keeps the VMO alive after its handle is closed. */
                uint64_t got = *(volatile uint64_t*)(a + 8);
                if (!RACE_OK(zx_vmar_unmap(zx_vmar_root_self(), a, PAGE))) return;
                if (got != 0 && got >> 48 != MAGIC) {
                    race_fail(__LINE__, "a fresh mapping reads", got);
                    return;
                }
            }
        } else {
            zx_signals_t observed;
            zx_status_t s = zx_object_wait_one(h, ZX_USER_SIGNAL_0, zx_deadline_after(ZX_USEC(200)),
                                               &observed);
            if (s != ZX_ERR_TIMED_OUT && s != ZX_ERR_CANCELED && s != ZX_ERR_BAD_HANDLE) {
                race_fail(__LINE__, "zx_object_wait_one: not TIMED_OUT/CANCELED/BAD_HANDLE",
                          (uint64_t)(int64_t)s);
                return;
            }
        }
    }
}

static void close_race(void) {
    t_memset(g_use_counts, 0, sizeof(g_use_counts));
    CHECK_OK(zx_vmo_create(PAGE, 0, &g_shared));
    run_race(3, use_job);
    CHECK_OK(zx_handle_close(g_shared));
    CHECK_HELPER();
    for (uint32_t i = 0; i < 4; i++) {
        t_context("thread", i);
        CHECK(g_use_counts[i] >= 2);
    }
}

static void race_handle_close_versus_use_is_ok_or_bad_handle(void) {
    without_leak(close_race);
}

/* ---- 3: many writers and many readers on one channel ------------------------------------ */

#define CH_WRITERS 3u
#define CH_READERS 3u
#define CH_MAX 2048u
#define CH_IN_FLIGHT 512u

static struct {
    zx_handle_t w, r;
    uint64_t written, read;
    uint32_t writers_done;
    uint8_t seen[CH_WRITERS][CH_MAX];
} g_ch;

static void channel_job(uint32_t me) {
    if (me < CH_WRITERS) {
        uint64_t seq = 0, k = 0;
        while (seq < CH_MAX && racing()) {
            if (__atomic_load_n(&g_ch.written, __ATOMIC_SEQ_CST) >=
                __atomic_load_n(&g_ch.read, __ATOMIC_SEQ_CST) + CH_IN_FLIGHT) {
                pause_now_and_then(++k);
                continue;
            }
            uint64_t msg[2] = {me, seq};
            __atomic_fetch_add(&g_ch.written, 1, __ATOMIC_SEQ_CST);
            if (!RACE_OK(zx_channel_write(g_ch.w, 0, msg, sizeof(msg), NULL, 0))) break;
            seq++;
        }
        __atomic_fetch_add(&g_ch.writers_done, 1, __ATOMIC_SEQ_CST);
        return;
    }
    uint64_t last[CH_WRITERS];
    for (uint32_t i = 0; i < CH_WRITERS; i++) last[i] = ~0ull;
    while (!race_failed()) {
        uint64_t msg[3] = {0, 0, 0};
        uint32_t nb = 0, nh = 0;
        zx_status_t s = zx_channel_read(g_ch.r, 0, msg, NULL, sizeof(msg), 0, &nb, &nh);
        if (s == ZX_ERR_SHOULD_WAIT) {
            /* Done once every writer is and nothing is left. */
            if (__atomic_load_n(&g_ch.writers_done, __ATOMIC_SEQ_CST) == CH_WRITERS &&
                __atomic_load_n(&g_ch.read, __ATOMIC_SEQ_CST) ==
                    __atomic_load_n(&g_ch.written, __ATOMIC_SEQ_CST))
                return;
            zx_signals_t observed;
            zx_object_wait_one(g_ch.r, ZX_CHANNEL_READABLE, zx_deadline_after(ZX_MSEC(2)),
                               &observed);
            continue;
        }
        if (!RACE_OK(s)) return;
        if (nb != 16 || nh != 0) {
            race_fail(__LINE__, "message size (bytes) not 16", nb);
            return;
        }
        uint64_t w = msg[0], seq = msg[1];
        if (w >= CH_WRITERS || seq >= CH_MAX) {
            race_fail(__LINE__, "a message never written, writer", w);
            return;
        }
        if (last[w] != ~0ull && last[w] >= seq) {
            race_fail(__LINE__, "a reader got a writer's messages out of order, seq", seq);
            return;
        }
        last[w] = seq;
        if (__atomic_fetch_add(&g_ch.seen[w][seq], 1, __ATOMIC_SEQ_CST) != 0) {
            race_fail(__LINE__, "a message was read twice, seq", seq);
            return;
        }
        __atomic_fetch_add(&g_ch.read, 1, __ATOMIC_SEQ_CST);
    }
}

static void channel_race(void) {
    t_memset(&g_ch, 0, sizeof(g_ch));
    NEW_CHANNEL(a, b);
    g_ch.w = a;
    g_ch.r = b;
    run_race(CH_WRITERS + CH_READERS - 1, channel_job);
    CHECK_HELPER();
    CHECK_EQ(g_ch.read, g_ch.written);
    /* Each writer's messages were read once each, and they are a prefix of its sequence. */
    uint64_t count = 0;
    for (uint32_t w = 0; w < CH_WRITERS; w++) {
        bool ended = false;
        for (uint32_t seq = 0; seq < CH_MAX; seq++) {
            t_context("seq", seq);
            CHECK(g_ch.seen[w][seq] <= 1);
            if (g_ch.seen[w][seq] == 0) {
                ended = true;
            } else {
                CHECK(!ended);
                count++;
            }
        }
    }
    CHECK_EQ(count, g_ch.written);
    CHECK(count >= 100);
    uint64_t msg[2];
    uint32_t nb, nh;
    CHECK_ST(zx_channel_read(b, 0, msg, NULL, sizeof(msg), 0, &nb, &nh), ZX_ERR_SHOULD_WAIT);
    t_cleanup();
}

static void race_channel_many_writers_many_readers_each_message_once(void) {
    without_leak(channel_race);
}

/* ---- 4: killing a thread while it runs ----------------------------------------------------- */

#define SPIN_STACK (4 * PAGE)

static struct {
    zx_vaddr_t stacks[2];     /* one per killer, mapped for the whole case */
    uint64_t counters[2];
    uint64_t rounds[2];
} g_kill;

static void spin_entry(uintptr_t counter, uintptr_t with_calls) {
    volatile uint64_t* c = (volatile uint64_t*)counter;
    for (;;) {
        __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
        /* Also in and out of the kernel, so that the kill meets it there sometimes. */
        if (with_calls && *c % 16 == 0) zx_clock_get_monotonic();
    }
}

static void kill_job(uint32_t me) {
    uint64_t* counter = &g_kill.counters[me];
    while (racing()) {
        __atomic_store_n(counter, 0, __ATOMIC_SEQ_CST);
        zx_handle_t t;
        if (!RACE_OK(zx_thread_create(zx_process_self(), "spinner", 7, 0, &t))) return;
        /* Every round's thread of this killer runs on the same stack: the previous one has
         * terminated (checked below) before the next starts. */
        if (!RACE_OK(zx_thread_start(t, (zx_vaddr_t)spin_entry, g_kill.stacks[me] + SPIN_STACK,
                                     (uintptr_t)counter, me))) {
            zx_handle_close(t);
            return;
        }
        zx_time_t until = zx_deadline_after(ZX_SEC(2));
        for (uint64_t k = 1; __atomic_load_n(counter, __ATOMIC_SEQ_CST) == 0 &&
                             zx_clock_get_monotonic() < until;
             k++)
            pause_now_and_then(k);
        bool ran = __atomic_load_n(counter, __ATOMIC_SEQ_CST) != 0;
        zx_status_t killed = zx_task_kill(t);
        zx_signals_t observed = 0;
        zx_status_t s =
            zx_object_wait_one(t, ZX_THREAD_TERMINATED, zx_deadline_after(ZX_SEC(5)), &observed);
        if (!ran) race_fail(__LINE__, "the spinning thread never ran", 0);
        RACE_OK(killed);
        if (!RACE_OK(s)) {
            /* It may still run on the stack: stop everything. */
            race_fail(__LINE__, "a killed thread did not terminate", 0);
            zx_handle_close(t);
            return;
        }
        uint64_t n = __atomic_fetch_add(&g_kill.rounds[me], 1, __ATOMIC_RELAXED);
        if (n % 8 == 0) {
            uint64_t c1 = __atomic_load_n(counter, __ATOMIC_SEQ_CST);
            zx_nanosleep(zx_deadline_after(ZX_MSEC(2)));
            uint64_t c2 = __atomic_load_n(counter, __ATOMIC_SEQ_CST);
            if (c1 != c2) race_fail(__LINE__, "a terminated thread still ran, counter", c2);
        }
        RACE_OK(zx_handle_close(t));
    }
}

static void kill_race(void) {
    t_memset(&g_kill, 0, sizeof(g_kill));
    for (int i = 0; i < 2; i++) {
        zx_handle_t v;
        CHECK_OK(zx_vmo_create(SPIN_STACK, 0, &v));
        t_track(v);
        CHECK_OK(zx_vmar_map(zx_vmar_root_self(), RW, 0, v, 0, SPIN_STACK, &g_kill.stacks[i]));
        t_track_map(g_kill.stacks[i], SPIN_STACK);
    }
    run_race(1, kill_job);
    CHECK_HELPER();
    CHECK(g_kill.rounds[0] >= 3);
    CHECK(g_kill.rounds[1] >= 3);
    t_cleanup();
}

static void race_kill_a_running_thread_many_times(void) {
    without_leak(kill_race);
}

/* ---- 5: processes started and killed from several threads at once ---------------------- */

static uint64_t g_children[2];

static void spawn_job(uint32_t me) {
    uint64_t rng = rand_seed(me);
    uint64_t n = 0;
    while (racing()) {
        n++;
        /* 0: killed at once, 1: killed after a moment, 2: exits with 7 by itself. */
        uint64_t way = (n + me) % 3;
        const char* argv[4] = {t_self_path, "child", way == 2 ? "exit" : "sleep", "7"};
        zx_handle_t proc = ZX_HANDLE_INVALID;
        if (!RACE_OK(zxr_spawn(t_self_path, 4, argv, NULL, 0, &proc))) return;
        if (way == 1) zx_nanosleep(zx_deadline_after(ZX_MSEC(rand_next(&rng) % 3)));
        if (way != 2 && !RACE_OK(zx_task_kill(proc))) {
            zx_handle_close(proc);
            return;
        }
        zx_signals_t observed;
        zx_status_t s = zx_object_wait_one(proc, ZX_PROCESS_TERMINATED,
                                           zx_deadline_after(ZX_SEC(10)), &observed);
        if (!RACE_OK(s)) {
            zx_task_kill(proc);
            zx_handle_close(proc);
            return;
        }
        int64_t code = 0;
        s = zxr_wait_exit(proc, &code);
        zx_handle_close(proc);
        if (!RACE_OK(s)) return;
        int64_t want = way == 2 ? 7 : ZX_TASK_RETCODE_SYSCALL_KILL;
        if (code != want) {
            race_fail(__LINE__, "a child's return code", (uint64_t)code);
            return;
        }
        __atomic_fetch_add(&g_children[me], 1, __ATOMIC_RELAXED);
    }
}

static void spawn_race(void) {
    g_children[0] = g_children[1] = 0;
    run_race(1, spawn_job);
    CHECK_HELPER();
    CHECK(g_children[0] >= 2);
    CHECK(g_children[1] >= 2);
}

static void race_processes_spawned_and_killed_in_parallel(void) {
    without_leak(spawn_race);
}

/* ---- 6: one signal wakes every waiter, once ------------------------------------------------ */

#define WAITERS 3u

static struct {
    zx_handle_t h;
    uint64_t round, signaled, ready, woken, rounds;
    uint32_t stop;
} g_wake;

static void wake_job(uint32_t me) {
    if (me < WAITERS) {
        uint64_t mine = 0;
        for (;;) {
            for (uint64_t k = 1; __atomic_load_n(&g_wake.round, __ATOMIC_SEQ_CST) == mine &&
                                 !__atomic_load_n(&g_wake.stop, __ATOMIC_SEQ_CST);
                 k++)
                pause_now_and_then(k);
            if (__atomic_load_n(&g_wake.stop, __ATOMIC_SEQ_CST)) return;
            mine = __atomic_load_n(&g_wake.round, __ATOMIC_SEQ_CST);
            __atomic_fetch_add(&g_wake.ready, 1, __ATOMIC_SEQ_CST);
            zx_signals_t observed = 0;
            /* 3 s: shorter than the join's 5 s, so a lost wake-up fails the case cleanly. */
            zx_status_t s = zx_object_wait_one(g_wake.h, ZX_USER_SIGNAL_0,
                                               zx_deadline_after(ZX_SEC(3)), &observed);
            if (!RACE_OK(s)) return;
            if (!(observed & ZX_USER_SIGNAL_0) ||
                __atomic_load_n(&g_wake.signaled, __ATOMIC_SEQ_CST) != mine) {
                race_fail(__LINE__, "a waiter woke before the signal, round", mine);
                return;
            }
            __atomic_fetch_add(&g_wake.woken, 1, __ATOMIC_SEQ_CST);
        }
    }
    /* This thread drives the rounds. */
    uint64_t r = 0;
    while (racing()) {
        r++;
        if (!RACE_OK(zx_object_signal(g_wake.h, ZX_USER_SIGNAL_0, 0))) break;
        __atomic_store_n(&g_wake.round, r, __ATOMIC_SEQ_CST);
        uint64_t want = r * WAITERS;
        for (uint64_t k = 1; __atomic_load_n(&g_wake.ready, __ATOMIC_SEQ_CST) < want &&
                             !race_failed();
             k++)
            pause_now_and_then(k);
        /* Every other round the waiters are inside the wait by now; else on their way. */
        if (r % 2 == 0) zx_nanosleep(zx_deadline_after(ZX_MSEC(1)));
        __atomic_store_n(&g_wake.signaled, r, __ATOMIC_SEQ_CST);
        if (!RACE_OK(zx_object_signal(g_wake.h, 0, ZX_USER_SIGNAL_0))) break;
        zx_time_t until = zx_deadline_after(ZX_SEC(4));
        for (uint64_t k = 1; __atomic_load_n(&g_wake.woken, __ATOMIC_SEQ_CST) < want &&
                             !race_failed() && zx_clock_get_monotonic() < until;
             k++)
            pause_now_and_then(k);
        uint64_t got = __atomic_load_n(&g_wake.woken, __ATOMIC_SEQ_CST);
        if (got != want)
            race_fail(__LINE__, "waiters woken in the last round, of 3", got + WAITERS - want);
    }
    __atomic_store_n(&g_wake.stop, 1, __ATOMIC_SEQ_CST);
    g_wake.rounds = r;
}

static void wake_race(void) {
    t_memset(&g_wake, 0, sizeof(g_wake));
    NEW_CHANNEL(a, b);
    (void)b;
    g_wake.h = a;
    run_race(WAITERS, wake_job);
    CHECK_HELPER();
    CHECK(g_wake.rounds >= 3);
    t_cleanup();
}

static void race_wait_one_wakes_every_waiter_once_per_signal(void) {
    without_leak(wake_race);
}

static const t_case k_cases[] = {
    T_CASE(race_vmo_writes_resizes_faults_and_reads_see_only_written_data),
    T_CASE(race_handle_close_versus_use_is_ok_or_bad_handle),
    T_CASE(race_channel_many_writers_many_readers_each_message_once),
    T_CASE(race_kill_a_running_thread_many_times),
    T_CASE(race_processes_spawned_and_killed_in_parallel),
    T_CASE(race_wait_one_wakes_every_waiter_once_per_signal),
};

const t_group t_group_race = {k_cases, T_COUNT(k_cases)};

/* conformance-c: sections 2, 3 and 5 of zx-abi-objects.md from C: ports and asynchronous
 * waits, events and event pairs, zx_object_signal_peer, zx_object_wait_many; the "not
 * waitable" rule and ZX_INFO_HANDLE_BASIC.props. */
#include "harness.h"

#include <zircon/syscalls/port.h>

#define MS ((zx_time_t)1000000)

static zx_time_t after_ns(zx_time_t ns) { return zx_clock_get_monotonic() + ns; }

#define NEW_EVENT(var)                                                                     \
    zx_handle_t var = ZX_HANDLE_INVALID;                                                   \
    CHECK_OK(zx_event_create(0, &var));                                                    \
    t_track(var)

#define NEW_EVENTPAIR(a, b)                                                                \
    zx_handle_t a = ZX_HANDLE_INVALID, b = ZX_HANDLE_INVALID;                              \
    CHECK_OK(zx_eventpair_create(0, &a, &b));                                              \
    t_track(a);                                                                            \
    t_track(b)

#define NEW_PORT(var)                                                                      \
    zx_handle_t var = ZX_HANDLE_INVALID;                                                   \
    CHECK_OK(zx_port_create(0, &var));                                                     \
    t_track(var)

static zx_port_packet_t user_packet(uint64_t key, uint8_t fill) {
    zx_port_packet_t p;
    t_memset(&p, fill, sizeof(p));
    p.key = key;
    p.type = 0x77;
    p.status = -5;
    return p;
}

/* ---- events and event pairs ------------------------------------------------------------ */

static void event_create_checks_options_and_pointer(void) {
    zx_handle_t h;
    CHECK_ST(zx_event_create(1, &h), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_event_create(0, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_event_create(0, KERNEL_PTR), ZX_ERR_INVALID_ARGS);
    NEW_EVENT(e);
    zx_info_handle_basic_t b;
    t_basic(e, &b);
    CHECK_HELPER();
    CHECK_EQ(b.type, ZX_OBJ_TYPE_EVENT);
    CHECK_EQ(b.rights, ZX_DEFAULT_EVENT_RIGHTS);
    CHECK_EQ(b.props, ZX_OBJ_PROP_WAITABLE);
    CHECK_EQ(t_signals(e), 0);
}

static void event_signal_allows_user_and_signaled(void) {
    NEW_EVENT(e);
    CHECK_OK(zx_object_signal(e, 0, ZX_USER_SIGNAL_ALL | ZX_EVENT_SIGNALED));
    CHECK_EQ(t_signals(e), ZX_USER_SIGNAL_ALL | ZX_EVENT_SIGNALED);
    CHECK_OK(zx_object_signal(e, ZX_EVENT_SIGNALED, ZX_EVENT_SIGNALED));
    CHECK_EQ(t_signals(e), ZX_USER_SIGNAL_ALL | ZX_EVENT_SIGNALED);
    CHECK_ST(zx_object_signal(e, 0, ZX_EVENTPAIR_PEER_CLOSED), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_signal(e, ZX_SIGNAL_HANDLE_CLOSED, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_signal_peer(e, 0, ZX_USER_SIGNAL_0), ZX_ERR_NOT_SUPPORTED);
}

static void eventpair_spec_example_and_peer_closed(void) {
    zx_handle_t x, y;
    CHECK_ST(zx_eventpair_create(1, &x, &y), ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_eventpair_create(0, &x, NULL), ZX_ERR_INVALID_ARGS);
    NEW_EVENTPAIR(a, b);
    CHECK_OK(zx_object_signal_peer(a, 0, ZX_USER_SIGNAL_0));
    CHECK_OK(zx_object_wait_one(b, ZX_USER_SIGNAL_0, 0, NULL));
    CHECK_ST(zx_object_signal(a, 0, ZX_EVENTPAIR_PEER_CLOSED), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_signal_peer(a, 0, ZX_EVENTPAIR_PEER_CLOSED), ZX_ERR_INVALID_ARGS);
    zx_info_handle_basic_t ia, ib;
    t_basic(a, &ia);
    t_basic(b, &ib);
    CHECK_HELPER();
    CHECK_EQ(ia.related_koid, ib.koid);
    CHECK_EQ(ib.related_koid, ia.koid);
    CHECK_EQ(ia.rights, ZX_DEFAULT_EVENTPAIR_RIGHTS);
    t_untrack(a);
    CHECK_OK(zx_handle_close(a));
    CHECK_EQ(t_signals(b), ZX_EVENTPAIR_PEER_CLOSED | ZX_USER_SIGNAL_0);
    CHECK_ST(zx_object_signal_peer(b, 0, ZX_USER_SIGNAL_1), ZX_ERR_PEER_CLOSED);
    CHECK_OK(zx_object_signal(b, ZX_USER_SIGNAL_0, ZX_EVENTPAIR_SIGNALED));
    CHECK_EQ(t_signals(b), ZX_EVENTPAIR_PEER_CLOSED | ZX_EVENTPAIR_SIGNALED);
}

static void eventpair_signal_peer_rights_and_channels(void) {
    NEW_EVENTPAIR(a, b);
    NEW_DUP(weak, a, ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL);
    CHECK_ST(zx_object_signal_peer(weak, 0, ZX_USER_SIGNAL_0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_signal_peer(ZX_HANDLE_INVALID, 0, 0), ZX_ERR_BAD_HANDLE);
    NEW_CHANNEL(c, d);
    CHECK_OK(zx_object_signal_peer(c, 0, ZX_USER_SIGNAL_5));
    CHECK_EQ(t_signals(d), ZX_CHANNEL_WRITABLE | ZX_USER_SIGNAL_5);
    CHECK_ST(zx_object_signal_peer(c, 0, ZX_EVENTPAIR_SIGNALED), ZX_ERR_INVALID_ARGS);
    t_untrack(d);
    CHECK_OK(zx_handle_close(d));
    CHECK_ST(zx_object_signal_peer(c, 0, ZX_USER_SIGNAL_0), ZX_ERR_PEER_CLOSED);
    (void)b;
}

/* ---- ports ----------------------------------------------------------------------------- */

static void port_create_queue_wait_fifo(void) {
    zx_handle_t h;
    CHECK_ST(zx_port_create(2, &h), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_port_create(0, NULL), ZX_ERR_INVALID_ARGS);
    NEW_PORT(p);
    zx_info_handle_basic_t b;
    t_basic(p, &b);
    CHECK_HELPER();
    CHECK_EQ(b.type, ZX_OBJ_TYPE_PORT);
    CHECK_EQ(b.rights, ZX_DEFAULT_PORT_RIGHTS);
    CHECK_EQ(b.props, ZX_OBJ_PROP_NONE);
    for (uint64_t i = 0; i < 4; i++) {
        zx_port_packet_t q = user_packet(i, (uint8_t)i);
        CHECK_OK(zx_port_queue(p, &q));
    }
    for (uint64_t i = 0; i < 4; i++) {
        zx_port_packet_t got;
        CHECK_OK(zx_port_wait(p, 0, &got));
        CHECK_EQ(got.key, i);
        CHECK_EQ(got.type, ZX_PKT_TYPE_USER);
        CHECK_EQ((uint32_t)got.status, (uint32_t)-5);
        CHECK(t_all_bytes(got.user.c8, (int)i, 32));
    }
    zx_port_packet_t got;
    CHECK_ST(zx_port_wait(p, 0, &got), ZX_ERR_TIMED_OUT);
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_ST(zx_port_wait(p, after_ns(20 * MS), &got), ZX_ERR_TIMED_OUT);
    CHECK(zx_clock_get_monotonic() - start >= 20 * MS);
}

static void port_rights_and_bad_pointers(void) {
    NEW_PORT(p);
    NEW_EVENT(e);
    zx_port_packet_t q = user_packet(1, 0), got;
    CHECK_ST(zx_port_queue(e, &q), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_port_wait(e, 0, &got), ZX_ERR_WRONG_TYPE);
    NEW_DUP(ro, p, ZX_RIGHT_READ);
    NEW_DUP(wo, p, ZX_RIGHT_WRITE);
    CHECK_ST(zx_port_queue(ro, &q), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_port_wait(wo, 0, &got), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_port_queue(p, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_port_queue(p, KERNEL_PTR), ZX_ERR_INVALID_ARGS);
    /* Checked before blocking: an infinite deadline returns at once. */
    CHECK_ST(zx_port_wait(p, ZX_TIME_INFINITE, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_port_wait(p, ZX_TIME_INFINITE, KERNEL_PTR2), ZX_ERR_INVALID_ARGS);
    zx_vaddr_t ro_page = t_readonly_page();
    CHECK(ro_page != 0);
    CHECK_ST(zx_port_wait(p, ZX_TIME_INFINITE, (zx_port_packet_t*)ro_page),
             ZX_ERR_INVALID_ARGS);
}

static void port_capacity_is_2048_user_packets(void) {
    NEW_PORT(p);
    for (uint64_t i = 0; i < 2048; i++) {
        zx_port_packet_t q = user_packet(i, 0);
        t_context("packet", i);
        CHECK_OK(zx_port_queue(p, &q));
    }
    zx_port_packet_t q = user_packet(4096, 0), got;
    CHECK_ST(zx_port_queue(p, &q), ZX_ERR_SHOULD_WAIT);
    CHECK_OK(zx_port_wait(p, 0, &got));
    CHECK_EQ(got.key, 0);
    CHECK_OK(zx_port_queue(p, &q));
    CHECK_ST(zx_port_queue(p, &q), ZX_ERR_SHOULD_WAIT);
}

static void port_not_waitable(void) {
    NEW_PORT(p);
    NEW_PORT(p2);
    zx_signals_t obs;
    CHECK_ST(zx_object_wait_one(p, ZX_USER_SIGNAL_0, 0, &obs), ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_object_wait_one(zx_vmar_root_self(), ZX_USER_SIGNAL_0, 0, &obs),
             ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_object_wait_async(p, p2, 0, ZX_USER_SIGNAL_0, 0), ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_object_wait_async(p, p, 0, ZX_USER_SIGNAL_0, 0), ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_port_cancel(p2, p, 0), ZX_ERR_NOT_SUPPORTED);
    zx_wait_item_t items[1] = {{p, ZX_USER_SIGNAL_0, 0}};
    CHECK_ST(zx_object_wait_many(items, 1, 0), ZX_ERR_NOT_SUPPORTED);
}

static void port_wait_async_packet_and_order(void) {
    NEW_PORT(p);
    NEW_EVENT(e);
    CHECK_ST(zx_object_wait_async(ZX_HANDLE_INVALID, p, 0, 1, 0), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_object_wait_async(e, e, 0, 1, 0), ZX_ERR_WRONG_TYPE);
    NEW_DUP(ro, p, ZX_RIGHT_READ);
    CHECK_ST(zx_object_wait_async(e, ro, 0, 1, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_wait_async(e, p, 0, 1, 2), ZX_ERR_INVALID_ARGS);
    CHECK_OK(zx_object_wait_async(e, p, 42, ZX_EVENT_SIGNALED, ZX_WAIT_ASYNC_TIMESTAMP));
    zx_time_t before = zx_clock_get_monotonic();
    CHECK_OK(zx_object_signal(e, 0, ZX_EVENT_SIGNALED | ZX_USER_SIGNAL_2));
    zx_port_packet_t got;
    CHECK_OK(zx_port_wait(p, 0, &got));
    CHECK_EQ(got.key, 42);
    CHECK_EQ(got.type, ZX_PKT_TYPE_SIGNAL_ONE);
    CHECK_EQ(got.status, ZX_OK);
    CHECK_EQ(got.signal.trigger, ZX_EVENT_SIGNALED);
    CHECK_EQ(got.signal.observed, ZX_EVENT_SIGNALED | ZX_USER_SIGNAL_2);
    CHECK_EQ(got.signal.count, 1);
    CHECK(got.signal.timestamp >= before);
    /* One-shot; already active -> queued at once. */
    CHECK_ST(zx_port_wait(p, 0, &got), ZX_ERR_TIMED_OUT);
    CHECK_OK(zx_object_wait_async(e, p, 43, ZX_USER_SIGNAL_2, ZX_WAIT_ASYNC_ONCE));
    CHECK_OK(zx_port_wait(p, 0, &got));
    CHECK_EQ(got.key, 43);
    CHECK_EQ(got.signal.timestamp, 0);
}

static void port_cancel_and_close_watched(void) {
    NEW_PORT(p);
    NEW_EVENT(e);
    CHECK_OK(zx_object_wait_async(e, p, 1, ZX_USER_SIGNAL_0, 0));
    CHECK_ST(zx_port_cancel(p, e, 2), ZX_ERR_NOT_FOUND);
    CHECK_OK(zx_port_cancel(p, e, 1));
    CHECK_ST(zx_port_cancel(p, e, 1), ZX_ERR_NOT_FOUND);
    NEW_DUP(e2, e, ZX_RIGHT_SAME_RIGHTS);
    CHECK_OK(zx_object_wait_async(e2, p, 3, ZX_USER_SIGNAL_0, 0));
    t_untrack(e2);
    CHECK_OK(zx_handle_close(e2));
    CHECK_OK(zx_object_signal(e, 0, ZX_USER_SIGNAL_0));
    zx_port_packet_t got;
    CHECK_ST(zx_port_wait(p, 0, &got), ZX_ERR_TIMED_OUT);
}

static zx_handle_t g_close_me;
static void close_after_20ms(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    zx_nanosleep(after_ns(20 * MS));
    zx_handle_close(g_close_me);
    zx_thread_exit();
}

static void port_wait_canceled_on_close(void) {
    zx_handle_t p;
    CHECK_OK(zx_port_create(0, &p));
    g_close_me = p;
    zx_handle_t t = t_start_thread(close_after_20ms, 0);
    CHECK_HELPER();
    zx_port_packet_t got;
    CHECK_ST(zx_port_wait(p, after_ns(10000 * MS), &got), ZX_ERR_CANCELED);
    CHECK(t_join_thread(t));
}

static volatile uint32_t g_got[8];
static volatile uint32_t g_bad;
static zx_handle_t g_port;
static void take_one_packet(uintptr_t a, uintptr_t b) {
    (void)a;
    (void)b;
    zx_port_packet_t got;
    if (zx_port_wait(g_port, after_ns(5000 * MS), &got) == ZX_OK && got.key < 8)
        __atomic_fetch_add(&g_got[got.key], 1, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&g_bad, 1, __ATOMIC_SEQ_CST);
    zx_thread_exit();
}

static void port_n_waiters_n_packets_exactly_once(void) {
    NEW_PORT(p);
    g_port = p;
    g_bad = 0;
    for (int i = 0; i < 8; i++) g_got[i] = 0;
    zx_handle_t threads[5];
    for (int i = 0; i < 5; i++) {
        threads[i] = t_start_thread(take_one_packet, 0);
        CHECK_HELPER();
    }
    zx_nanosleep(after_ns(5 * MS));
    for (uint64_t k = 0; k < 5; k++) {
        zx_port_packet_t q = user_packet(k, 0);
        CHECK_OK(zx_port_queue(p, &q));
    }
    for (int i = 0; i < 5; i++) CHECK(t_join_thread(threads[i]));
    CHECK_EQ(g_bad, 0);
    for (int k = 0; k < 5; k++) {
        t_context("key", (uint64_t)k);
        CHECK_EQ(g_got[k], 1);
    }
    zx_port_packet_t got;
    CHECK_ST(zx_port_wait(p, 0, &got), ZX_ERR_TIMED_OUT);
}

static void port_close_with_armed_waits_frees_memory(void) {
    NEW_EVENT(e);
    zx_info_kmem_stats_t before, after;
    /* Warm up, then measure. */
    for (int round = 0; round < 12; round++) {
        if (round == 2 && !t_kmem(&before)) return;
        zx_handle_t p;
        CHECK_OK(zx_port_create(0, &p));
        for (uint64_t i = 0; i < 300; i++) CHECK_OK(zx_object_wait_async(e, p, i, 1u << 24, 0));
        CHECK_OK(zx_handle_close(p));
    }
    zx_nanosleep(after_ns(5 * MS));
    CHECK(t_kmem(&after));
    uint64_t used_before = before.total_heap_bytes - before.free_heap_bytes;
    uint64_t used_after = after.total_heap_bytes - after.free_heap_bytes;
    CHECK(used_after <= used_before + 8192);
}

/* ---- wait_many ------------------------------------------------------------------------- */

static void wait_many_bounds_and_pointers(void) {
    CHECK_ST(zx_object_wait_many(NULL, 65, 0), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_object_wait_many(NULL, 1, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_wait_many(KERNEL_PTR, 1, 0), ZX_ERR_INVALID_ARGS);
    zx_time_t start = zx_clock_get_monotonic();
    CHECK_ST(zx_object_wait_many(NULL, 0, after_ns(15 * MS)), ZX_ERR_TIMED_OUT);
    CHECK(zx_clock_get_monotonic() - start >= 15 * MS);
}

static void wait_many_ok_timeout_and_lookup_order(void) {
    NEW_EVENT(e);
    NEW_CHANNEL(a, b);
    NEW_PORT(p);
    zx_wait_item_t items[3] = {
        {a, ZX_CHANNEL_READABLE, 0}, {e, ZX_USER_SIGNAL_1, 0}, {0x7ffffff3u, 1, 0}};
    CHECK_ST(zx_object_wait_many(items, 3, 0), ZX_ERR_BAD_HANDLE);
    items[2].handle = p;
    CHECK_ST(zx_object_wait_many(items, 3, 0), ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_object_wait_many(items, 2, after_ns(5 * MS)), ZX_ERR_TIMED_OUT);
    CHECK_EQ(items[0].pending, ZX_CHANNEL_WRITABLE);
    CHECK_EQ(items[1].pending, 0);
    CHECK_OK(zx_object_signal(e, 0, ZX_USER_SIGNAL_1));
    CHECK_OK(zx_object_wait_many(items, 2, ZX_TIME_INFINITE));
    CHECK_EQ(items[0].pending, ZX_CHANNEL_WRITABLE);
    CHECK_EQ(items[1].pending, ZX_USER_SIGNAL_1);
    (void)b;
}

static void wait_many_canceled_on_close(void) {
    NEW_EVENT(keep);
    zx_handle_t e;
    CHECK_OK(zx_event_create(0, &e));
    g_close_me = e;
    zx_handle_t t = t_start_thread(close_after_20ms, 0);
    CHECK_HELPER();
    zx_wait_item_t items[2] = {{keep, ZX_USER_SIGNAL_0, 0}, {e, ZX_USER_SIGNAL_0, 0}};
    CHECK_ST(zx_object_wait_many(items, 2, after_ns(10000 * MS)), ZX_ERR_CANCELED);
    CHECK(t_join_thread(t));
    CHECK(items[1].pending & ZX_SIGNAL_HANDLE_CLOSED);
    CHECK_EQ(items[0].pending, 0);
}

static const t_case k_cases[] = {
    T_CASE(event_create_checks_options_and_pointer),
    T_CASE(event_signal_allows_user_and_signaled),
    T_CASE(eventpair_spec_example_and_peer_closed),
    T_CASE(eventpair_signal_peer_rights_and_channels),
    T_CASE(port_create_queue_wait_fifo),
    T_CASE(port_rights_and_bad_pointers),
    T_CASE(port_capacity_is_2048_user_packets),
    T_CASE(port_not_waitable),
    T_CASE(port_wait_async_packet_and_order),
    T_CASE(port_cancel_and_close_watched),
    T_CASE(port_wait_canceled_on_close),
    T_CASE(port_n_waiters_n_packets_exactly_once),
    T_CASE(port_close_with_armed_waits_frees_memory),
    T_CASE(wait_many_bounds_and_pointers),
    T_CASE(wait_many_ok_timeout_and_lookup_order),
    T_CASE(wait_many_canceled_on_close),
};

const t_group t_group_ports = {k_cases, T_COUNT(k_cases)};

/* conformance-c: sockets (zx_socket_*) and zx_channel_call, zx-abi-objects.md sections 6
 * and 8, through <zircon/syscalls.h>. */
#include "harness.h"

#define RX_MAX 257024u

static uint8_t g_big[RX_MAX + 16];

#define NEW_SOCKET(a, b, opts)                                                             \
    zx_handle_t a = ZX_HANDLE_INVALID, b = ZX_HANDLE_INVALID;                              \
    CHECK_OK(zx_socket_create((opts), &a, &b));                                            \
    t_track(a);                                                                            \
    t_track(b)

static void socket_create_checks_options_and_pointers(void) {
    zx_handle_t a = 0x77, b = 0x77;
    CHECK_ST(zx_socket_create(2, &a, &b), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_create(ZX_SOCKET_PEEK, &a, &b), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_create(0, NULL, &b), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_create(0, &a, (zx_handle_t*)KERNEL_PTR), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(a, 0x77);
    CHECK_EQ(b, 0x77);
    NEW_SOCKET(c, d, ZX_SOCKET_DATAGRAM);
    CHECK_EQ(t_rights(c), ZX_DEFAULT_SOCKET_RIGHTS);
    zx_info_handle_basic_t ic, id;
    t_basic(c, &ic);
    t_basic(d, &id);
    CHECK_HELPER();
    CHECK_EQ(ic.type, ZX_OBJ_TYPE_SOCKET);
    CHECK_EQ(ic.related_koid, id.koid);
    CHECK_EQ(t_signals(c), ZX_SOCKET_WRITABLE);
}

static void socket_stream_keeps_order_and_writes_short(void) {
    NEW_SOCKET(a, b, ZX_SOCKET_STREAM);
    size_t actual = 0;
    CHECK_OK(zx_socket_write(a, 0, "abc", 3, &actual));
    CHECK_EQ(actual, 3);
    CHECK_OK(zx_socket_write(a, 0, "defg", 4, &actual));
    char buf[16];
    CHECK_OK(zx_socket_read(b, 0, buf, 5, &actual));
    CHECK_EQ(actual, 5);
    CHECK(t_memcmp(buf, "abcde", 5) == 0);
    CHECK_OK(zx_socket_read(b, 0, buf, sizeof(buf), &actual));
    CHECK_EQ(actual, 2);
    CHECK((t_signals(b) & ZX_SOCKET_READABLE) == 0);
    t_memset(g_big, 9, sizeof(g_big));
    CHECK_OK(zx_socket_write(a, 0, g_big, RX_MAX + 16, &actual));
    CHECK_EQ(actual, RX_MAX);
    CHECK((t_signals(a) & ZX_SOCKET_WRITABLE) == 0);
    CHECK_ST(zx_socket_write(a, 0, "x", 1, &actual), ZX_ERR_SHOULD_WAIT);
    CHECK_OK(zx_socket_read(b, 0, buf, 10, &actual));
    CHECK((t_signals(a) & ZX_SOCKET_WRITABLE) != 0);
}

static void socket_datagram_boundaries_and_bounds(void) {
    NEW_SOCKET(a, b, ZX_SOCKET_DATAGRAM);
    size_t actual = 0;
    CHECK_ST(zx_socket_write(a, 0, g_big, RX_MAX + 1, &actual), ZX_ERR_OUT_OF_RANGE);
    CHECK_OK(zx_socket_write(a, 0, "one", 3, &actual));
    CHECK_OK(zx_socket_write(a, 0, "second", 6, &actual));
    char buf[16];
    CHECK_OK(zx_socket_read(b, ZX_SOCKET_PEEK, buf, sizeof(buf), &actual));
    CHECK_EQ(actual, 3);
    CHECK_OK(zx_socket_read(b, 0, buf, sizeof(buf), &actual));
    CHECK_EQ(actual, 3);
    CHECK_OK(zx_socket_read(b, 0, buf, 2, &actual));
    CHECK_EQ(actual, 2);
    CHECK(t_memcmp(buf, "se", 2) == 0);
    CHECK_ST(zx_socket_read(b, 0, buf, sizeof(buf), &actual), ZX_ERR_SHOULD_WAIT);
    CHECK_OK(zx_socket_write(a, 0, g_big, RX_MAX - 1, &actual));
    CHECK_ST(zx_socket_write(a, 0, "xy", 2, &actual), ZX_ERR_SHOULD_WAIT);
}

static void socket_arguments_and_rights(void) {
    NEW_SOCKET(a, b, ZX_SOCKET_STREAM);
    size_t actual = 5;
    CHECK_ST(zx_socket_write(a, 1, "x", 1, &actual), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_write(a, 0, NULL, 1, &actual), ZX_ERR_INVALID_ARGS);
    CHECK_OK(zx_socket_write(a, 0, NULL, 0, &actual));
    CHECK_EQ(actual, 0);
    CHECK_ST(zx_socket_read(b, 2, t_buf_a, 1, &actual), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_read(b, 0, NULL, 1, &actual), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_write(a, 0, KERNEL_PTR, 8, &actual), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_read(b, 0, t_buf_a, 8, &actual), ZX_ERR_SHOULD_WAIT);
    NEW_DUP(ro, a, ZX_RIGHT_READ);
    CHECK_ST(zx_socket_write(ro, 0, "x", 1, &actual), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_socket_set_disposition(ro, 0, 0), ZX_ERR_ACCESS_DENIED);
    NEW_DUP(wo, b, ZX_RIGHT_WRITE);
    CHECK_ST(zx_socket_read(wo, 0, t_buf_a, 1, &actual), ZX_ERR_ACCESS_DENIED);
    NEW_VMO(v, PAGE, 0);
    CHECK_ST(zx_socket_write(v, 0, "x", 1, &actual), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_socket_read(0x12345673u, 0, t_buf_a, 1, &actual), ZX_ERR_BAD_HANDLE);
}

static void socket_read_fault_keeps_data(void) {
    NEW_SOCKET(a, b, ZX_SOCKET_STREAM);
    size_t actual = 0;
    CHECK_OK(zx_socket_write(a, 0, "keep", 4, &actual));
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    CHECK_ST(zx_socket_read(b, 0, (void*)ro, 4, &actual), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_socket_read(b, 0, KERNEL_PTR, 4, &actual), ZX_ERR_INVALID_ARGS);
    char buf[8];
    CHECK_OK(zx_socket_read(b, 0, buf, sizeof(buf), &actual));
    CHECK_EQ(actual, 4);
    CHECK(t_memcmp(buf, "keep", 4) == 0);
}

static void socket_peer_closed_and_dispositions(void) {
    NEW_SOCKET(a, b, ZX_SOCKET_STREAM);
    size_t actual = 0;
    CHECK_OK(zx_socket_write(a, 0, "bye", 3, &actual));
    CHECK_OK(zx_socket_set_disposition(a, ZX_SOCKET_DISPOSITION_WRITE_DISABLED, 0));
    CHECK_ST(zx_socket_write(a, 0, "x", 1, &actual), ZX_ERR_BAD_STATE);
    CHECK((t_signals(a) & ZX_SOCKET_WRITE_DISABLED) != 0);
    CHECK((t_signals(b) & ZX_SOCKET_PEER_WRITE_DISABLED) != 0);
    CHECK_ST(zx_socket_set_disposition(a, ZX_SOCKET_DISPOSITION_WRITE_ENABLED, 0),
             ZX_ERR_BAD_STATE);
    CHECK_ST(zx_socket_set_disposition(a, 7, 0), ZX_ERR_INVALID_ARGS);
    char buf[8];
    CHECK_OK(zx_socket_read(b, 0, buf, sizeof(buf), &actual));
    CHECK_ST(zx_socket_read(b, 0, buf, sizeof(buf), &actual), ZX_ERR_BAD_STATE);
    CHECK_OK(zx_socket_set_disposition(a, ZX_SOCKET_DISPOSITION_WRITE_ENABLED, 0));
    CHECK_OK(zx_socket_write(a, 0, "left", 4, &actual));
    t_untrack(a);
    CHECK_OK(zx_handle_close(a));
    CHECK((t_signals(b) & ZX_SOCKET_PEER_CLOSED) != 0);
    CHECK_ST(zx_socket_write(b, 0, "x", 1, &actual), ZX_ERR_PEER_CLOSED);
    CHECK_OK(zx_socket_read(b, 0, buf, sizeof(buf), &actual));
    CHECK_EQ(actual, 4);
    CHECK_ST(zx_socket_read(b, 0, buf, sizeof(buf), &actual), ZX_ERR_PEER_CLOSED);
}

static void socket_info_and_leaks(void) {
    zx_info_kmem_stats_t before, after;
    CHECK(t_kmem(&before));
    for (int round = 0; round < 10; round++) {
        zx_handle_t a, b;
        CHECK_OK(zx_socket_create(ZX_SOCKET_DATAGRAM, &a, &b));
        size_t actual = 0;
        CHECK_OK(zx_socket_write(a, 0, g_big, 5000, &actual));
        CHECK_OK(zx_socket_write(a, 0, g_big, 7, &actual));
        zx_info_socket_t info;
        size_t n = 0, avail = 0;
        CHECK_OK(zx_object_get_info(b, ZX_INFO_SOCKET, &info, sizeof(info), &n, &avail));
        CHECK_EQ(info.options, ZX_SOCKET_DATAGRAM);
        CHECK_EQ(info.rx_buf_max, RX_MAX);
        CHECK_EQ(info.rx_buf_size, 5007);
        CHECK_EQ(info.rx_buf_available, 5000);
        CHECK_OK(zx_handle_close(b));
        CHECK_OK(zx_handle_close(a));
    }
    CHECK(t_kmem(&after));
    uint64_t used_before = before.total_heap_bytes - before.free_heap_bytes;
    uint64_t used_after = after.total_heap_bytes - after.free_heap_bytes;
    CHECK(used_after <= used_before + 8192);
}

/* ---- zx_channel_call ---- */

static zx_status_t do_call(zx_handle_t h, zx_time_t deadline, const void* wr, uint32_t nwr,
                           const zx_handle_t* wh, uint32_t nwh, void* rd, uint32_t nrd,
                           uint32_t* ab, uint32_t* ah) {
    zx_channel_call_args_t args = {
        .wr_bytes = wr,
        .wr_handles = wh,
        .rd_bytes = rd,
        .rd_handles = NULL,
        .wr_num_bytes = nwr,
        .wr_num_handles = nwh,
        .rd_num_bytes = nrd,
        .rd_num_handles = 0,
    };
    return zx_channel_call(h, 0, deadline, &args, ab, ah);
}

static void channel_call_checks_rights_and_arguments(void) {
    NEW_CHANNEL(a, b);
    uint32_t ab = 0, ah = 0;
    char rd[16];
    CHECK_ST(do_call(0x12345673u, 0, "abcd", 4, NULL, 0, rd, 16, &ab, &ah), ZX_ERR_BAD_HANDLE);
    NEW_VMO(v, PAGE, 0);
    CHECK_ST(do_call(v, 0, "abcd", 4, NULL, 0, rd, 16, &ab, &ah), ZX_ERR_WRONG_TYPE);
    zx_handle_t vh;
    CHECK_OK(zx_vmo_create(PAGE, 0, &vh));
    CHECK_ST(do_call(a, 0, "abc", 3, &vh, 1, rd, 16, &ab, &ah), ZX_ERR_INVALID_ARGS);
    CHECK(!t_handle_valid(vh));
    CHECK_ST(zx_channel_call(a, 0, 0, NULL, &ab, &ah), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_call(a, 0, 0, (const zx_channel_call_args_t*)KERNEL_PTR, &ab, &ah),
             ZX_ERR_INVALID_ARGS);
    zx_channel_call_args_t args = {.wr_bytes = "abcd", .wr_num_bytes = 4};
    CHECK_ST(zx_channel_call(a, 1, 0, &args, &ab, &ah), ZX_ERR_INVALID_ARGS);
    CHECK_ST(t_signals(b) & ZX_CHANNEL_READABLE, 0);
    /* Past deadline: the request goes out, the call times out. */
    CHECK_ST(do_call(a, 0, "abcd", 4, NULL, 0, rd, 16, &ab, &ah), ZX_ERR_TIMED_OUT);
    CHECK((t_signals(b) & ZX_CHANNEL_READABLE) != 0);
}

static void channel_call_timeout_then_late_reply_is_queued(void) {
    NEW_CHANNEL(a, b);
    uint32_t ab = 0, ah = 0;
    char rd[16];
    CHECK_ST(do_call(a, zx_deadline_after(ZX_MSEC(20)), "\0\0\0\0hi", 6, NULL, 0, rd, 16, &ab,
                     &ah),
             ZX_ERR_TIMED_OUT);
    char req[16];
    uint32_t n = 0, nh = 0;
    CHECK_OK(zx_channel_read(b, 0, req, NULL, sizeof(req), 0, &n, &nh));
    CHECK_EQ(n, 6);
    uint32_t txid = (uint32_t)req[0] | (uint32_t)req[1] << 8 | (uint32_t)req[2] << 16 |
                    (uint32_t)(uint8_t)req[3] << 24;
    CHECK(txid >= 0x80000000u);
    CHECK_OK(zx_channel_write(b, 0, req, n, NULL, 0));
    CHECK((t_signals(a) & ZX_CHANNEL_READABLE) != 0);
}

static void channel_call_peer_closed(void) {
    NEW_CHANNEL(a, b);
    t_untrack(b);
    CHECK_OK(zx_handle_close(b));
    uint32_t ab = 0, ah = 0;
    char rd[16];
    CHECK_ST(do_call(a, ZX_TIME_INFINITE, "abcd", 4, NULL, 0, rd, 16, &ab, &ah),
             ZX_ERR_PEER_CLOSED);
}

static void close_soon_entry(uintptr_t h, uintptr_t unused) {
    (void)unused;
    zx_nanosleep(zx_deadline_after(ZX_MSEC(20)));
    zx_handle_close((zx_handle_t)h);
    zx_thread_exit();
}

static void channel_call_canceled_by_close(void) {
    zx_handle_t a, b;
    CHECK_OK(zx_channel_create(0, &a, &b));
    t_track(b);
    zx_handle_t t = t_start_thread(close_soon_entry, a);
    CHECK_HELPER();
    uint32_t ab = 0, ah = 0;
    char rd[16];
    CHECK_ST(do_call(a, zx_deadline_after(ZX_SEC(10)), "abcd", 4, NULL, 0, rd, 16, &ab, &ah),
             ZX_ERR_CANCELED);
    CHECK(t_join_thread(t));
}

/* The two-process server: the child (`call-server`) echoes each request with its payload's
 * bytes + 1, until the peer closes. */
static void channel_call_two_process_server(void) {
    zx_handle_t a, b;
    CHECK_OK(zx_channel_create(0, &a, &b));
    t_track(a);
    zx_handle_t proc;
    if (!t_spawn_child("call-server", NULL, &b, 1, &proc)) return;
    for (uint32_t i = 0; i < 20; i++) {
        uint8_t req[8] = {0, 0, 0, 0, 'T', (uint8_t)i, 0, 0};
        uint8_t rd[8];
        uint32_t ab = 0, ah = 0;
        t_context("call", i);
        CHECK_OK(do_call(a, zx_deadline_after(ZX_SEC(10)), req, 8, NULL, 0, rd, 8, &ab, &ah));
        CHECK_EQ(ab, 8);
        CHECK_EQ(rd[4], 'U');
        CHECK_EQ(rd[5], i + 1);
    }
    uint8_t small[4];
    uint32_t ab = 0, ah = 0;
    CHECK_ST(do_call(a, zx_deadline_after(ZX_SEC(10)), "\0\0\0\0xyz", 7, NULL, 0, small, 4, &ab,
                     &ah),
             ZX_ERR_BUFFER_TOO_SMALL);
    CHECK((t_signals(a) & ZX_CHANNEL_READABLE) == 0);
    t_untrack(a);
    CHECK_OK(zx_handle_close(a));
    int64_t code = -1;
    CHECK(t_wait_child(proc, zx_deadline_after(ZX_SEC(10)), &code));
    CHECK_EQ(code, 0);
}

static const t_case k_cases[] = {
    T_CASE(socket_create_checks_options_and_pointers),
    T_CASE(socket_stream_keeps_order_and_writes_short),
    T_CASE(socket_datagram_boundaries_and_bounds),
    T_CASE(socket_arguments_and_rights),
    T_CASE(socket_read_fault_keeps_data),
    T_CASE(socket_peer_closed_and_dispositions),
    T_CASE(socket_info_and_leaks),
    T_CASE(channel_call_checks_rights_and_arguments),
    T_CASE(channel_call_timeout_then_late_reply_is_queued),
    T_CASE(channel_call_peer_closed),
    T_CASE(channel_call_canceled_by_close),
    T_CASE(channel_call_two_process_server),
};

const t_group t_group_socket = {k_cases, T_COUNT(k_cases)};

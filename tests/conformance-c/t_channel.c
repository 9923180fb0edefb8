/* conformance-c: zx_channel_create, zx_channel_write, zx_channel_read. */
#include "harness.h"

static uint32_t handle_count(zx_handle_t h) {
    zx_info_handle_count_t c;
    c.handle_count = 0;
    size_t actual = 0, avail = 0;
    zx_status_t s = zx_object_get_info(h, ZX_INFO_HANDLE_COUNT, &c, sizeof(c), &actual, &avail);
    if (s != ZX_OK) t_fail_status(__FILE__, __LINE__, ZX_OK, s);
    return c.handle_count;
}

static uint8_t g_big[ZX_CHANNEL_MAX_MSG_BYTES + 16];
static zx_handle_t g_handles[ZX_CHANNEL_MAX_MSG_HANDLES + 1];

static void channel_create_gives_connected_endpoints(void) {
    NEW_CHANNEL(a, b);
    CHECK(a != b);
    CHECK_EQ(t_rights(a), ZX_DEFAULT_CHANNEL_RIGHTS);
    CHECK_EQ(t_rights(b), ZX_DEFAULT_CHANNEL_RIGHTS);
    CHECK_OK(zx_channel_write(a, 0, "ping", 4, NULL, 0));
    CHECK_OK(zx_channel_write(b, 0, "pong!", 5, NULL, 0));
    char buf[8];
    uint32_t ab = 0, ah = 9;
    CHECK_OK(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK_EQ(ab, 4);
    CHECK_EQ(ah, 0);
    CHECK(t_memcmp(buf, "ping", 4) == 0);
    CHECK_OK(zx_channel_read(a, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK_EQ(ab, 5);
    CHECK(t_memcmp(buf, "pong!", 5) == 0);
}

static void channel_create_nonzero_options_is_invalid_args(void) {
    zx_handle_t a = 0x77, b = 0x77;
    CHECK_ST(zx_channel_create(1, &a, &b), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_create(0x80000000u, &a, &b), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(a, 0x77);
    CHECK_EQ(b, 0x77);
}

static void channel_create_bad_out_pointers_change_nothing(void) {
    zx_handle_t a = 0x77, b = 0x77;
    CHECK_ST(zx_channel_create(0, NULL, &b), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(b, 0x77);
    CHECK_ST(zx_channel_create(0, &a, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(a, 0x77);
    CHECK_ST(zx_channel_create(0, &a, (zx_handle_t*)KERNEL_PTR), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(a, 0x77);
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    CHECK_ST(zx_channel_create(0, &a, (zx_handle_t*)ro), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(a, 0x77);
}

static void channel_messages_keep_order_and_boundaries(void) {
    NEW_CHANNEL(a, b);
    for (uint32_t i = 1; i <= 10; i++) {
        t_memset(g_big, (int)i, i * 100);
        CHECK_OK(zx_channel_write(a, 0, g_big, i * 100, NULL, 0));
    }
    for (uint32_t i = 1; i <= 10; i++) {
        uint32_t ab = 0, ah = 0;
        t_memset(g_big, 0, 2000);
        CHECK_OK(zx_channel_read(b, 0, g_big, NULL, 2000, 0, &ab, &ah));
        CHECK_EQ(ab, i * 100);
        CHECK(t_all_bytes(g_big, (int)i, i * 100));
        CHECK(t_all_bytes(g_big + i * 100, 0, 2000 - i * 100));
    }
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(b, 0, g_big, NULL, 2000, 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
}

static void channel_empty_message_is_a_message(void) {
    NEW_CHANNEL(a, b);
    CHECK_OK(zx_channel_write(a, 0, NULL, 0, NULL, 0));
    CHECK((t_signals(b) & ZX_CHANNEL_READABLE) != 0);
    uint8_t buf[4];
    uint32_t ab = 9, ah = 9;
    CHECK_OK(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK_EQ(ab, 0);
    CHECK_EQ(ah, 0);
}

static void channel_read_empty_is_should_wait(void) {
    NEW_CHANNEL(a, b);
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(a, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
    CHECK_ST(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
}

static void channel_readable_signal_follows_the_queue(void) {
    NEW_CHANNEL(a, b);
    CHECK((t_signals(b) & ZX_CHANNEL_READABLE) == 0);
    CHECK_OK(zx_channel_write(a, 0, "1", 1, NULL, 0));
    CHECK_OK(zx_channel_write(a, 0, "2", 1, NULL, 0));
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(b, ZX_CHANNEL_READABLE, 0, &observed));
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_OK(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK((t_signals(b) & ZX_CHANNEL_READABLE) != 0);
    CHECK_OK(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK((t_signals(b) & ZX_CHANNEL_READABLE) == 0);
    CHECK((t_signals(a) & ZX_CHANNEL_READABLE) == 0);
}

static void channel_transfers_handles(void) {
    NEW_CHANNEL(a, b);
    zx_handle_t vmo;
    CHECK_OK(zx_vmo_create(PAGE, 0, &vmo));
    CHECK_OK(zx_vmo_write(vmo, "moved", 0, 5));
    zx_koid_t koid = t_koid(vmo);
    zx_handle_t ro;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_READ | ZX_RIGHT_TRANSFER, &ro));
    zx_handle_t hs[2] = {vmo, ro};
    CHECK_OK(zx_channel_write(a, 0, "hh", 2, hs, 2));
    /* The sender's handles are gone. */
    CHECK(!t_handle_valid(vmo));
    CHECK(!t_handle_valid(ro));
    zx_handle_t got[4] = {0, 0, 0, 0};
    char buf[4];
    uint32_t ab = 0, ah = 0;
    CHECK_OK(zx_channel_read(b, 0, buf, got, sizeof(buf), 4, &ab, &ah));
    t_track(got[0]);
    t_track(got[1]);
    CHECK_EQ(ab, 2);
    CHECK_EQ(ah, 2);
    /* Same objects, same rights, in order. */
    CHECK_EQ(t_koid(got[0]), koid);
    CHECK_EQ(t_koid(got[1]), koid);
    CHECK_EQ(t_rights(got[0]), ZX_DEFAULT_VMO_RIGHTS);
    CHECK_EQ(t_rights(got[1]), ZX_RIGHT_READ | ZX_RIGHT_TRANSFER);
    char r[5];
    CHECK_OK(zx_vmo_read(got[1], r, 0, 5));
    CHECK(t_memcmp(r, "moved", 5) == 0);
    CHECK_EQ(got[0] & ZX_HANDLE_FIXED_BITS_MASK, 3);
}

static void channel_transfers_a_channel_endpoint(void) {
    NEW_CHANNEL(a, b);
    zx_handle_t c, d;
    CHECK_OK(zx_channel_create(0, &c, &d));
    t_track(c);
    CHECK_OK(zx_channel_write(a, 0, NULL, 0, &d, 1));
    zx_handle_t got = 0;
    uint32_t ab, ah;
    uint8_t buf[4];
    CHECK_OK(zx_channel_read(b, 0, buf, &got, sizeof(buf), 1, &ab, &ah));
    t_track(got);
    CHECK_EQ(ah, 1);
    CHECK_OK(zx_channel_write(c, 0, "via", 3, NULL, 0));
    CHECK_OK(zx_channel_read(got, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK_EQ(ab, 3);
}

static void channel_write_handle_without_transfer_is_access_denied_and_consumed(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t keep;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_TRANSFER, &keep));
    zx_handle_t other;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &other));
    zx_handle_t hs[2] = {other, keep};
    CHECK_ST(zx_channel_write(a, 0, "x", 1, hs, 2), ZX_ERR_ACCESS_DENIED);
    CHECK(!t_handle_valid(keep));
    CHECK(!t_handle_valid(other));
    CHECK_EQ(handle_count(vmo), 1);
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
}

static void channel_write_bad_handle_in_list_consumes_the_others(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    zx_handle_t hs[2] = {dup, 0x12345};
    CHECK_ST(zx_channel_write(a, 0, "x", 1, hs, 2), ZX_ERR_BAD_HANDLE);
    CHECK(!t_handle_valid(dup));
    CHECK_EQ(handle_count(vmo), 1);
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
}

/* The written handles are consumed on every failure, the channel's own handle included: the
 * endpoint is closed and its peer sees PEER_CLOSED. */
static void channel_write_own_handle_is_not_supported_and_closes_it(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    zx_handle_t hs[2] = {dup, a};
    CHECK_ST(zx_channel_write(a, 0, "x", 1, hs, 2), ZX_ERR_NOT_SUPPORTED);
    t_untrack(a);
    CHECK(!t_handle_valid(dup));
    CHECK(!t_handle_valid(a));
    CHECK_EQ(handle_count(vmo), 1);
    CHECK_EQ(t_signals(b) & ZX_CHANNEL_PEER_CLOSED, ZX_CHANNEL_PEER_CLOSED);
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_PEER_CLOSED);
    /* Alone in the list, too. */
    NEW_CHANNEL(c, d);
    CHECK_ST(zx_channel_write(c, 0, "y", 1, &c, 1), ZX_ERR_NOT_SUPPORTED);
    t_untrack(c);
    CHECK(!t_handle_valid(c));
    CHECK_EQ(t_signals(d) & ZX_CHANNEL_PEER_CLOSED, ZX_CHANNEL_PEER_CLOSED);
}

static void channel_write_same_handle_twice_fails_and_consumes_it(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    zx_handle_t hs[2] = {dup, dup};
    CHECK_FAILS(zx_channel_write(a, 0, "x", 1, hs, 2));
    CHECK(!t_handle_valid(dup));
    CHECK_EQ(handle_count(vmo), 1);
    (void)b;
}

static void channel_write_too_many_bytes_is_out_of_range(void) {
    NEW_CHANNEL(a, b);
    t_memset(g_big, 0xcd, sizeof(g_big));
    CHECK_ST(zx_channel_write(a, 0, g_big, ZX_CHANNEL_MAX_MSG_BYTES + 1, NULL, 0),
             ZX_ERR_OUT_OF_RANGE);
    CHECK_OK(zx_channel_write(a, 0, g_big, ZX_CHANNEL_MAX_MSG_BYTES, NULL, 0));
    t_memset(g_big, 0, sizeof(g_big));
    uint32_t ab = 0, ah = 0;
    CHECK_OK(zx_channel_read(b, 0, g_big, NULL, sizeof(g_big), 0, &ab, &ah));
    CHECK_EQ(ab, ZX_CHANNEL_MAX_MSG_BYTES);
    CHECK(t_all_bytes(g_big, 0xcd, ZX_CHANNEL_MAX_MSG_BYTES));
    CHECK_ST(zx_channel_read(b, 0, g_big, NULL, sizeof(g_big), 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
}

static void channel_write_too_many_handles_is_out_of_range_and_consumes_them(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    const uint32_t n = ZX_CHANNEL_MAX_MSG_HANDLES + 1;
    for (uint32_t i = 0; i < n; i++) {
        CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &g_handles[i]));
    }
    CHECK_EQ(handle_count(vmo), n + 1);
    CHECK_ST(zx_channel_write(a, 0, "x", 1, g_handles, n), ZX_ERR_OUT_OF_RANGE);
    CHECK_EQ(handle_count(vmo), 1);
    /* Exactly the limit works. */
    for (uint32_t i = 0; i < n - 1; i++) {
        CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &g_handles[i]));
    }
    CHECK_OK(zx_channel_write(a, 0, "x", 1, g_handles, n - 1));
    CHECK_EQ(handle_count(vmo), n);
    uint8_t buf[4];
    uint32_t ab = 0, ah = 0;
    for (uint32_t i = 0; i < n; i++) g_handles[i] = ZX_HANDLE_INVALID;
    CHECK_OK(zx_channel_read(b, 0, buf, g_handles, sizeof(buf), n, &ab, &ah));
    CHECK_EQ(ah, n - 1);
    CHECK_OK(zx_handle_close_many(g_handles, ah));
    CHECK_EQ(handle_count(vmo), 1);
}

static void channel_read_buffer_too_small_reports_sizes_and_keeps_message(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t d1, d2;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &d1));
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &d2));
    zx_handle_t hs[2] = {d1, d2};
    CHECK_OK(zx_channel_write(a, 0, "0123456789", 10, hs, 2));
    uint8_t buf[16];
    zx_handle_t got[2] = {0, 0};
    uint32_t ab = 0, ah = 0;
    /* Bytes too small. */
    CHECK_ST(zx_channel_read(b, 0, buf, got, 4, 2, &ab, &ah), ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(ab, 10);
    CHECK_EQ(ah, 2);
    /* Handles too small. */
    ab = ah = 0;
    CHECK_ST(zx_channel_read(b, 0, buf, got, sizeof(buf), 1, &ab, &ah), ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(ab, 10);
    CHECK_EQ(ah, 2);
    ab = ah = 0;
    CHECK_ST(zx_channel_read(b, 0, NULL, NULL, 0, 0, &ab, &ah), ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(ab, 10);
    CHECK_EQ(ah, 2);
    /* The message is still there, whole. */
    CHECK_EQ(handle_count(vmo), 3);
    CHECK_OK(zx_channel_read(b, 0, buf, got, sizeof(buf), 2, &ab, &ah));
    t_track(got[0]);
    t_track(got[1]);
    CHECK_EQ(ab, 10);
    CHECK_EQ(ah, 2);
    CHECK(t_memcmp(buf, "0123456789", 10) == 0);
}

static void channel_peer_closed_is_reported(void) {
    NEW_CHANNEL(a, b);
    CHECK_OK(zx_channel_write(b, 0, "last", 4, NULL, 0));
    t_untrack(b);
    CHECK_OK(zx_handle_close(b));
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(a, ZX_CHANNEL_PEER_CLOSED, 0, &observed));
    CHECK((observed & ZX_CHANNEL_PEER_CLOSED) != 0);
    CHECK((observed & ZX_CHANNEL_WRITABLE) == 0);
    /* Writing fails and consumes the handles. */
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    CHECK_ST(zx_channel_write(a, 0, "x", 1, &dup, 1), ZX_ERR_PEER_CLOSED);
    CHECK(!t_handle_valid(dup));
    /* What was queued before the close can still be read, then PEER_CLOSED. */
    uint8_t buf[8];
    uint32_t ab = 0, ah = 0;
    CHECK_OK(zx_channel_read(a, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    CHECK_EQ(ab, 4);
    CHECK_ST(zx_channel_read(a, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_PEER_CLOSED);
}

static void channel_rights_are_checked(void) {
    NEW_CHANNEL(a, b);
    zx_handle_t ro = ZX_HANDLE_INVALID, wo = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_replace(a, ZX_RIGHT_READ | ZX_RIGHT_WAIT, &ro));
    t_untrack(a);
    t_track(ro);
    CHECK_OK(zx_handle_replace(b, ZX_RIGHT_WRITE | ZX_RIGHT_WAIT, &wo));
    t_untrack(b);
    t_track(wo);
    CHECK_ST(zx_channel_write(ro, 0, "x", 1, NULL, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_channel_write(wo, 0, "x", 1, NULL, 0));
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(wo, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_channel_read(ro, 0, buf, NULL, sizeof(buf), 0, &ab, &ah));
    /* The write right is checked before the handles are looked at: they are still consumed. */
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    CHECK_ST(zx_channel_write(ro, 0, "x", 1, &dup, 1), ZX_ERR_ACCESS_DENIED);
    CHECK(!t_handle_valid(dup));
}

static void channel_write_bad_bytes_pointer_is_invalid_args_and_consumes_handles(void) {
    NEW_CHANNEL(a, b);
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t dup;
    CHECK_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
    CHECK_ST(zx_channel_write(a, 0, KERNEL_PTR, 8, &dup, 1), ZX_ERR_INVALID_ARGS);
    CHECK(!t_handle_valid(dup));
    CHECK_ST(zx_channel_write(a, 0, NULL, 8, NULL, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_write(a, 0, "x", 1, (const zx_handle_t*)KERNEL_PTR, 1),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_channel_write(a, 0, "x", 1, NULL, 1), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(handle_count(vmo), 1);
    uint8_t buf[4];
    uint32_t ab, ah;
    CHECK_ST(zx_channel_read(b, 0, buf, NULL, sizeof(buf), 0, &ab, &ah), ZX_ERR_SHOULD_WAIT);
}

static void channel_close_destroys_queued_handles(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t child;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &child));
    zx_handle_t a, b;
    CHECK_OK(zx_channel_create(0, &a, &b));
    CHECK_OK(zx_channel_write(a, 0, "c", 1, &child, 1));
    CHECK((t_signals(vmo) & ZX_VMO_ZERO_CHILDREN) == 0);
    CHECK_OK(zx_handle_close(a));
    /* The message still sits in b's queue. */
    CHECK((t_signals(vmo) & ZX_VMO_ZERO_CHILDREN) == 0);
    CHECK_OK(zx_handle_close(b));
    CHECK((t_signals(vmo) & ZX_VMO_ZERO_CHILDREN) != 0);
}

static const t_case k_cases[] = {
    T_CASE(channel_create_gives_connected_endpoints),
    T_CASE(channel_create_nonzero_options_is_invalid_args),
    T_CASE(channel_create_bad_out_pointers_change_nothing),
    T_CASE(channel_messages_keep_order_and_boundaries),
    T_CASE(channel_empty_message_is_a_message),
    T_CASE(channel_read_empty_is_should_wait),
    T_CASE(channel_readable_signal_follows_the_queue),
    T_CASE(channel_transfers_handles),
    T_CASE(channel_transfers_a_channel_endpoint),
    T_CASE(channel_write_handle_without_transfer_is_access_denied_and_consumed),
    T_CASE(channel_write_bad_handle_in_list_consumes_the_others),
    T_CASE(channel_write_own_handle_is_not_supported_and_closes_it),
    T_CASE(channel_write_same_handle_twice_fails_and_consumes_it),
    T_CASE(channel_write_too_many_bytes_is_out_of_range),
    T_CASE(channel_write_too_many_handles_is_out_of_range_and_consumes_them),
    T_CASE(channel_read_buffer_too_small_reports_sizes_and_keeps_message),
    T_CASE(channel_peer_closed_is_reported),
    T_CASE(channel_rights_are_checked),
    T_CASE(channel_write_bad_bytes_pointer_is_invalid_args_and_consumes_handles),
    T_CASE(channel_close_destroys_queued_handles),
};

const t_group t_group_channel = {k_cases, T_COUNT(k_cases)};

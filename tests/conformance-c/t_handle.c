/* conformance-c: zx_handle_close/close_many/duplicate/replace, the lookup order, and
 * ZX_PROP_NAME through zx_object_get_property/set_property. */
#include "harness.h"

static uint32_t handle_count(zx_handle_t h) {
    zx_info_handle_count_t c;
    c.handle_count = 0;
    size_t actual = 0, avail = 0;
    zx_status_t s = zx_object_get_info(h, ZX_INFO_HANDLE_COUNT, &c, sizeof(c), &actual, &avail);
    if (s != ZX_OK) t_fail_status(__FILE__, __LINE__, ZX_OK, s);
    return c.handle_count;
}

/* ---- zx_handle_close ------------------------------------------------------------------ */

static void handle_close_invalid_is_ok(void) {
    CHECK_OK(zx_handle_close(ZX_HANDLE_INVALID));
}

static void handle_close_unknown_is_bad_handle(void) {
    CHECK_ST(zx_handle_close(0x12345), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_handle_close(0xffffffff), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_handle_close(1), ZX_ERR_BAD_HANDLE);
    /* A valid handle's value with the fixed low bits changed is not a handle. */
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_handle_close(vmo & ~ZX_HANDLE_FIXED_BITS_MASK), ZX_ERR_BAD_HANDLE);
    CHECK(t_handle_valid(vmo));
}

static void handle_close_twice_is_bad_handle(void) {
    zx_handle_t vmo;
    CHECK_OK(zx_vmo_create(PAGE, 0, &vmo));
    CHECK_OK(zx_handle_close(vmo));
    CHECK_ST(zx_handle_close(vmo), ZX_ERR_BAD_HANDLE);
    uint8_t b;
    CHECK_ST(zx_vmo_read(vmo, &b, 0, 1), ZX_ERR_BAD_HANDLE);
    CHECK(!t_handle_valid(vmo));
}

static void handle_close_of_last_handle_destroys_the_object(void) {
    NEW_CHANNEL(a, b);
    zx_signals_t observed = 0;
    CHECK_ST(zx_object_wait_one(a, ZX_CHANNEL_PEER_CLOSED, 0, &observed), ZX_ERR_TIMED_OUT);
    t_untrack(b);
    CHECK_OK(zx_handle_close(b));
    CHECK_OK(zx_object_wait_one(a, ZX_CHANNEL_PEER_CLOSED, 0, &observed));
    CHECK((observed & ZX_CHANNEL_PEER_CLOSED) != 0);
}

static void handle_values_have_the_low_bits_set(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_CHANNEL(a, b);
    NEW_DUP(dup, vmo, ZX_RIGHT_SAME_RIGHTS);
    zx_handle_t vmar;
    zx_vaddr_t addr;
    CHECK_OK(zx_vmar_allocate(zx_vmar_root_self(), ZX_VM_CAN_MAP_READ, 0, 4 * PAGE, &vmar,
                              &addr));
    t_track_vmar(vmar);
    zx_handle_t all[] = {vmo, a, b, dup, vmar, zx_process_self(), zx_vmar_root_self()};
    for (size_t i = 0; i < T_COUNT(all); i++) {
        t_context("all[i]", (uint64_t)all[i]);
        CHECK_EQ(all[i] & ZX_HANDLE_FIXED_BITS_MASK, 3);
        for (size_t j = 0; j < i; j++) CHECK(all[i] != all[j]);
    }
}

static void handle_values_do_not_come_back_soon(void) {
    /* A closed handle's value is not handed out again by the next allocations. */
    static zx_handle_t seen[64];
    for (int i = 0; i < 64; i++) {
        zx_handle_t h;
        CHECK_OK(zx_vmo_create(0, 0, &h));
        for (int j = 0; j < i; j++) {
            if (seen[j] == h) {
                zx_handle_close(h);
                t_fail_msg(__FILE__, __LINE__, "handle value came back after closes:", (uint64_t)(i - j));
                return;
            }
        }
        seen[i] = h;
        CHECK_OK(zx_handle_close(h));
    }
    /* And the old values stay dead. */
    for (int i = 0; i < 64; i++) CHECK(!t_handle_valid(seen[i]));
}

/* ---- zx_handle_close_many ------------------------------------------------------------- */

static void handle_close_many_closes_all_and_reports_first_error(void) {
    zx_handle_t v[4];
    CHECK_OK(zx_vmo_create(PAGE, 0, &v[0]));
    CHECK_OK(zx_vmo_create(PAGE, 0, &v[2]));
    CHECK_OK(zx_vmo_create(PAGE, 0, &v[3]));
    v[1] = 0x12345;
    CHECK_ST(zx_handle_close_many(v, 4), ZX_ERR_BAD_HANDLE);
    CHECK(!t_handle_valid(v[0]));
    CHECK(!t_handle_valid(v[2]));
    CHECK(!t_handle_valid(v[3]));
}

static void handle_close_many_skips_invalid_entries(void) {
    zx_handle_t v[3] = {ZX_HANDLE_INVALID, ZX_HANDLE_INVALID, ZX_HANDLE_INVALID};
    CHECK_OK(zx_vmo_create(PAGE, 0, &v[1]));
    CHECK_OK(zx_handle_close_many(v, 3));
    CHECK(!t_handle_valid(v[1]));
    CHECK_OK(zx_handle_close_many(v, 0));
}

static void handle_close_many_bad_array_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_handle_close_many(NULL, 2), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_handle_close_many((const zx_handle_t*)KERNEL_PTR, 2), ZX_ERR_INVALID_ARGS);
    zx_vaddr_t un = t_unmapped_addr();
    CHECK_HELPER();
    CHECK_ST(zx_handle_close_many((const zx_handle_t*)un, 2), ZX_ERR_INVALID_ARGS);
    CHECK(t_handle_valid(vmo));
}

/* ---- zx_handle_duplicate -------------------------------------------------------------- */

static void handle_duplicate_without_duplicate_right_is_access_denied(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(nodup, vmo, ZX_RIGHT_READ | ZX_RIGHT_WRITE);
    zx_handle_t out = ZX_HANDLE_INVALID;
    CHECK_ST(zx_handle_duplicate(nodup, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_handle_duplicate(nodup, ZX_RIGHT_READ, &out), ZX_ERR_ACCESS_DENIED);
    /* Channels are created without DUPLICATE. */
    NEW_CHANNEL(a, b);
    CHECK_ST(zx_handle_duplicate(a, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_ACCESS_DENIED);
    (void)b;
    CHECK_EQ(handle_count(vmo), 2);
}

static void handle_duplicate_rights_must_be_a_subset(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(ro, vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    zx_handle_t out = ZX_HANDLE_INVALID;
    CHECK_ST(zx_handle_duplicate(ro, ZX_RIGHT_READ | ZX_RIGHT_WRITE, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_handle_duplicate(ro, ZX_RIGHT_SIGNAL, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_handle_duplicate(ro, 1u << 30, &out), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(handle_count(vmo), 2);
}

static void handle_duplicate_same_rights_keeps_rights_and_object(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(dup, vmo, ZX_RIGHT_SAME_RIGHTS);
    CHECK(dup != vmo);
    CHECK_EQ(t_rights(dup), ZX_DEFAULT_VMO_RIGHTS);
    CHECK_EQ(t_koid(dup), t_koid(vmo));
    CHECK_EQ(handle_count(vmo), 2);
    /* Same object: a write through one is read through the other. */
    CHECK_OK(zx_vmo_write(dup, "same", 0, 4));
    char r[4];
    CHECK_OK(zx_vmo_read(vmo, r, 0, 4));
    CHECK(t_memcmp(r, "same", 4) == 0);
    t_untrack(dup);
    CHECK_OK(zx_handle_close(dup));
    CHECK_EQ(handle_count(vmo), 1);
}

static void handle_duplicate_can_reduce_rights(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(r, vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    CHECK_EQ(t_rights(r), ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    NEW_DUP(r2, r, ZX_RIGHT_READ);
    CHECK_EQ(t_rights(r2), ZX_RIGHT_READ);
    NEW_DUP(none, r, ZX_RIGHT_NONE);
    CHECK_EQ(t_rights(none), 0);
    /* The source keeps its rights. */
    CHECK_EQ(t_rights(vmo), ZX_DEFAULT_VMO_RIGHTS);
}

static void handle_duplicate_bad_out_keeps_source_and_adds_nothing(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, (zx_handle_t*)KERNEL_PTR),
             ZX_ERR_INVALID_ARGS);
    CHECK(t_handle_valid(vmo));
    CHECK_EQ(handle_count(vmo), 1);
}

/* ---- zx_handle_replace ------------------------------------------------------------------ */

static void handle_replace_consumes_source_on_success(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(src, vmo, ZX_RIGHT_SAME_RIGHTS);
    zx_handle_t out = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_replace(src, ZX_RIGHT_READ | ZX_RIGHT_MAP, &out));
    t_untrack(src);
    t_track(out);
    CHECK(!t_handle_valid(src));
    CHECK_EQ(t_rights(out), ZX_RIGHT_READ | ZX_RIGHT_MAP);
    CHECK_EQ(t_koid(out), t_koid(vmo));
    CHECK_EQ(handle_count(vmo), 2);
}

static void handle_replace_consumes_source_on_failure(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(src, vmo, ZX_RIGHT_READ);
    zx_handle_t out = ZX_HANDLE_INVALID;
    /* Rights not a subset. */
    CHECK_ST(zx_handle_replace(src, ZX_RIGHT_READ | ZX_RIGHT_WRITE, &out), ZX_ERR_INVALID_ARGS);
    t_untrack(src);
    CHECK(!t_handle_valid(src));
    CHECK_EQ(handle_count(vmo), 1);
    /* Bad out pointer. */
    NEW_DUP(src2, vmo, ZX_RIGHT_SAME_RIGHTS);
    CHECK_ST(zx_handle_replace(src2, ZX_RIGHT_SAME_RIGHTS, NULL), ZX_ERR_INVALID_ARGS);
    t_untrack(src2);
    CHECK(!t_handle_valid(src2));
    NEW_DUP(src3, vmo, ZX_RIGHT_SAME_RIGHTS);
    CHECK_ST(zx_handle_replace(src3, ZX_RIGHT_SAME_RIGHTS, (zx_handle_t*)KERNEL_PTR),
             ZX_ERR_INVALID_ARGS);
    t_untrack(src3);
    CHECK(!t_handle_valid(src3));
    CHECK_EQ(handle_count(vmo), 1);
}

static void handle_replace_needs_no_right(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    zx_handle_t out = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_replace(none, ZX_RIGHT_SAME_RIGHTS, &out));
    t_untrack(none);
    t_track(out);
    CHECK_EQ(t_rights(out), 0);
    CHECK_EQ(t_koid(out), t_koid(vmo));
    /* Channels (no DUPLICATE) can be replaced too. */
    NEW_CHANNEL(a, b);
    zx_handle_t a2 = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_replace(a, ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_TRANSFER, &a2));
    t_untrack(a);
    t_track(a2);
    CHECK_EQ(t_rights(a2), ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_TRANSFER);
    (void)b;
}

static void handle_replace_bad_handle_is_bad_handle(void) {
    zx_handle_t out = ZX_HANDLE_INVALID;
    CHECK_ST(zx_handle_replace(0x12345, ZX_RIGHT_SAME_RIGHTS, &out), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_handle_replace(ZX_HANDLE_INVALID, ZX_RIGHT_SAME_RIGHTS, &out),
             ZX_ERR_BAD_HANDLE);
}

/* ---- lookup order: BAD_HANDLE -> WRONG_TYPE -> ACCESS_DENIED -> arguments ------------------ */

static void handle_lookup_bad_handle_comes_first(void) {
    /* Bogus handle together with bogus everything else. */
    CHECK_ST(zx_vmo_read(0x12345, NULL, UINT64_MAX, 4), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmo_write(0x12345, KERNEL_PTR, 0, 4), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmo_set_size(0x12345, UINT64_MAX), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmo_op_range(0x12345, 0xdead, 0, 0, NULL, 0), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmo_clone(0x12345, 0, 1, 0, NULL), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_handle_duplicate(0x12345, 1u << 30, NULL), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_object_get_property(0x12345, 999, NULL, 0), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_vmar_map(0x12345, ZX_VM_PERM_WRITE, 1, 0x12345, 1, 0, NULL), ZX_ERR_BAD_HANDLE);
    CHECK_ST(zx_channel_write(0x12345, 99, NULL, 0xffffffffu, NULL, 0xffffffffu),
             ZX_ERR_BAD_HANDLE);
    /* With a valid VMAR, a bogus VMO handle in vmar_map is still BAD_HANDLE. */
    zx_vaddr_t addr;
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, 0x12345, 0, PAGE, &addr),
             ZX_ERR_BAD_HANDLE);
}

static void handle_lookup_wrong_type_wins_over_missing_rights(void) {
    NEW_CHANNEL(a, b);
    zx_handle_t bare = ZX_HANDLE_INVALID;
    CHECK_OK(zx_handle_replace(a, ZX_RIGHT_NONE, &bare));
    t_untrack(a);
    t_track(bare);
    uint8_t buf[8];
    /* A channel handle, even one without READ, passed where a VMO is wanted. */
    CHECK_ST(zx_vmo_read(b, buf, 0, 8), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmo_read(bare, buf, 0, 8), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmo_write(bare, buf, 0, 8), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmo_set_size(bare, PAGE), ZX_ERR_WRONG_TYPE);
    zx_handle_t out;
    CHECK_ST(zx_vmo_clone(bare, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &out), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmo_create_child(bare, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &out),
             ZX_ERR_WRONG_TYPE);
    /* A VMO handle without rights passed where a channel is wanted. */
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(vnone, vmo, ZX_RIGHT_NONE);
    uint32_t ab, ah;
    CHECK_ST(zx_channel_write(vnone, 0, buf, 1, NULL, 0), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_channel_read(vnone, 0, buf, NULL, 8, 0, &ab, &ah), ZX_ERR_WRONG_TYPE);
    /* ...and where a VMAR is wanted. */
    zx_vaddr_t addr;
    CHECK_ST(zx_vmar_map(vnone, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &addr), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmar_unmap(vnone, 0x1000000, PAGE), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmar_protect(vnone, ZX_VM_PERM_READ, 0x1000000, PAGE), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmar_destroy(vnone), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmar_allocate(vnone, ZX_VM_CAN_MAP_READ, 0, PAGE, &out, &addr),
             ZX_ERR_WRONG_TYPE);
    /* A channel passed as the VMO of vmar_map. */
    CHECK_ST(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, bare, 0, PAGE, &addr),
             ZX_ERR_WRONG_TYPE);
    /* The VMAR itself passed as a VMO. */
    CHECK_ST(zx_vmo_read(zx_vmar_root_self(), buf, 0, 8), ZX_ERR_WRONG_TYPE);
}

static void handle_lookup_access_denied_before_arguments(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    CHECK_ST(zx_vmo_read(none, NULL, UINT64_MAX, 4), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_write(none, KERNEL_PTR, UINT64_MAX, 4), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_set_size(none, UINT64_MAX), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_handle_duplicate(none, 1u << 30, NULL), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_get_property(none, ZX_PROP_NAME, NULL, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_set_property(none, ZX_PROP_NAME, NULL, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_clone(none, 0, 1, UINT64_MAX, NULL), ZX_ERR_ACCESS_DENIED);
}

/* ---- ZX_PROP_NAME ---------------------------------------------------------------------- */

static void prop_name_defaults_to_empty(void) {
    NEW_VMO(vmo, PAGE, 0);
    char name[ZX_MAX_NAME_LEN];
    t_memset(name, 'x', sizeof(name));
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_all_bytes(name, 0, sizeof(name)));
}

static void prop_name_set_then_get_round_trips(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "conformance", 11));
    char name[ZX_MAX_NAME_LEN];
    t_memset(name, 'x', sizeof(name));
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "conformance"));
    /* A shorter name replaces the whole old one. */
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "ab", 2));
    t_memset(name, 'x', sizeof(name));
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "ab"));
    /* Seen through another handle to the same object. */
    NEW_DUP(dup, vmo, ZX_RIGHT_GET_PROPERTY);
    CHECK_OK(zx_object_get_property(dup, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "ab"));
    /* The empty name clears it; a larger buffer is fine. */
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "", 0));
    char big[64];
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, big, sizeof(big)));
    CHECK_EQ(big[0], 0);
}

static void prop_name_get_with_short_buffer_is_buffer_too_small(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "n", 1));
    char name[ZX_MAX_NAME_LEN];
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, name, ZX_MAX_NAME_LEN - 1),
             ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, name, 1), ZX_ERR_BUFFER_TOO_SMALL);
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, name, 0), ZX_ERR_BUFFER_TOO_SMALL);
}

static void prop_name_set_truncates_to_31_bytes(void) {
    NEW_VMO(vmo, PAGE, 0);
    static const char k_long[] = "0123456789abcdefghijklmnopqrstuvwxyz-0123456789";
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, k_long, sizeof(k_long) - 1));
    char name[ZX_MAX_NAME_LEN + 8];
    t_memset(name, 'x', sizeof(name));
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, name, ZX_MAX_NAME_LEN));
    CHECK(t_memcmp(name, k_long, 31) == 0);
    CHECK_EQ(name[31], 0);
    CHECK_EQ(name[32], 'x'); /* nothing written past the 32 bytes asked for */
    /* Exactly 32 bytes is also cut to 31. */
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, k_long, 32));
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, name, ZX_MAX_NAME_LEN));
    CHECK_EQ(name[31], 0);
    CHECK_EQ(t_strlen(name), 31);
}

static void prop_name_unknown_property_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    char buf[64];
    static const uint32_t bad[] = {0, 1, 2, 4, 999, 0xffffffffu};
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("bad[i]", (uint64_t)bad[i]);
        CHECK_ST(zx_object_get_property(vmo, bad[i], buf, sizeof(buf)), ZX_ERR_INVALID_ARGS);
        CHECK_ST(zx_object_set_property(vmo, bad[i], buf, 8), ZX_ERR_INVALID_ARGS);
    }
}

static void prop_name_needs_get_and_set_property_rights(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(noget, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_GET_PROPERTY);
    NEW_DUP(noset, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_SET_PROPERTY);
    char name[ZX_MAX_NAME_LEN];
    CHECK_ST(zx_object_get_property(noget, ZX_PROP_NAME, name, sizeof(name)),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_object_set_property(noset, ZX_PROP_NAME, "nope", 4), ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_object_set_property(noget, ZX_PROP_NAME, "yes", 3));
    CHECK_OK(zx_object_get_property(noset, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "yes"));
}

static void prop_name_bad_pointers_are_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "keep", 4));
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, NULL, ZX_MAX_NAME_LEN),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, KERNEL_PTR, ZX_MAX_NAME_LEN),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_set_property(vmo, ZX_PROP_NAME, NULL, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_object_set_property(vmo, ZX_PROP_NAME, KERNEL_PTR, 4), ZX_ERR_INVALID_ARGS);
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    CHECK_ST(zx_object_get_property(vmo, ZX_PROP_NAME, (void*)ro, ZX_MAX_NAME_LEN),
             ZX_ERR_INVALID_ARGS);
    /* A failed set changed nothing. */
    char name[ZX_MAX_NAME_LEN];
    CHECK_OK(zx_object_get_property(vmo, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "keep"));
}

static void prop_name_shows_in_vmo_info(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "info-name", 9));
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK(t_streq(info.name, "info-name"));
}

static const t_case k_cases[] = {
    T_CASE(handle_close_invalid_is_ok),
    T_CASE(handle_close_unknown_is_bad_handle),
    T_CASE(handle_close_twice_is_bad_handle),
    T_CASE(handle_close_of_last_handle_destroys_the_object),
    T_CASE(handle_values_have_the_low_bits_set),
    T_CASE(handle_values_do_not_come_back_soon),
    T_CASE(handle_close_many_closes_all_and_reports_first_error),
    T_CASE(handle_close_many_skips_invalid_entries),
    T_CASE(handle_close_many_bad_array_is_invalid_args),
    T_CASE(handle_duplicate_without_duplicate_right_is_access_denied),
    T_CASE(handle_duplicate_rights_must_be_a_subset),
    T_CASE(handle_duplicate_same_rights_keeps_rights_and_object),
    T_CASE(handle_duplicate_can_reduce_rights),
    T_CASE(handle_duplicate_bad_out_keeps_source_and_adds_nothing),
    T_CASE(handle_replace_consumes_source_on_success),
    T_CASE(handle_replace_consumes_source_on_failure),
    T_CASE(handle_replace_needs_no_right),
    T_CASE(handle_replace_bad_handle_is_bad_handle),
    T_CASE(handle_lookup_bad_handle_comes_first),
    T_CASE(handle_lookup_wrong_type_wins_over_missing_rights),
    T_CASE(handle_lookup_access_denied_before_arguments),
    T_CASE(prop_name_defaults_to_empty),
    T_CASE(prop_name_set_then_get_round_trips),
    T_CASE(prop_name_get_with_short_buffer_is_buffer_too_small),
    T_CASE(prop_name_set_truncates_to_31_bytes),
    T_CASE(prop_name_unknown_property_is_invalid_args),
    T_CASE(prop_name_needs_get_and_set_property_rights),
    T_CASE(prop_name_bad_pointers_are_invalid_args),
    T_CASE(prop_name_shows_in_vmo_info),
};

const t_group t_group_handle = {k_cases, T_COUNT(k_cases)};

/* conformance-c: zx_vmo_clone, zx_vmo_create_child and ZX_VMO_ZERO_CHILDREN. */
#include "harness.h"

#define COW ZX_VMO_CLONE_COPY_ON_WRITE

static bool zero_children(zx_handle_t vmo) {
    return (t_signals(vmo) & ZX_VMO_ZERO_CHILDREN) != 0;
}

/* Fills `n` bytes at `offset` of `vmo` with byte `c`. */
static zx_status_t fill(zx_handle_t vmo, uint64_t offset, int c, size_t n) {
    t_memset(t_buf_a, c, n);
    return zx_vmo_write(vmo, t_buf_a, offset, n);
}

/* Whether `n` bytes at `offset` of `vmo` all equal `c`. */
static bool holds(zx_handle_t vmo, uint64_t offset, int c, size_t n) {
    t_memset(t_buf_b, ~c, n);
    if (zx_vmo_read(vmo, t_buf_b, offset, n) != ZX_OK) return false;
    return t_all_bytes(t_buf_b, c, n);
}

/* ---- zx_vmo_clone --------------------------------------------------------------------- */

static void vmo_clone_requires_copy_on_write(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t out;
    CHECK_ST(zx_vmo_clone(vmo, 0, 0, PAGE, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_clone(vmo, ZX_VMO_CLONE_NON_RESIZEABLE, 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_clone(vmo, COW | (1u << 4), 0, PAGE, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_clone(vmo, COW | (1u << 31), 0, PAGE, &out), ZX_ERR_INVALID_ARGS);
    CHECK(zero_children(vmo));
}

static void vmo_clone_unaligned_offset_is_invalid_args(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    zx_handle_t out;
    CHECK_ST(zx_vmo_clone(vmo, COW, 1, PAGE, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_clone(vmo, COW, PAGE + 8, PAGE, &out), ZX_ERR_INVALID_ARGS);
    CHECK(zero_children(vmo));
    /* An unaligned size is fine: it rounds up. */
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, PAGE, PAGE + 1, &c));
    t_track(c);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(c, &size));
    CHECK_EQ(size, 2 * PAGE);
}

static void vmo_clone_overflowing_range_is_out_of_range(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t out;
    CHECK_ST(zx_vmo_clone(vmo, COW, PAGE, UINT64_MAX - PAGE + 2, &out), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_clone(vmo, COW, UINT64_MAX & ~0xfffull, 2 * PAGE, &out),
             ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_clone(vmo, COW, 0, ZX_MAX_VMO_SIZE + 1, &out), ZX_ERR_OUT_OF_RANGE);
    CHECK(zero_children(vmo));
}

static void vmo_clone_needs_duplicate_and_read(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(no_dup, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_DUPLICATE);
    NEW_DUP(no_read, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_READ);
    zx_handle_t out;
    CHECK_ST(zx_vmo_clone(no_dup, COW, 0, PAGE, &out), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_clone(no_read, COW, 0, PAGE, &out), ZX_ERR_ACCESS_DENIED);
    /* Rights before arguments. */
    CHECK_ST(zx_vmo_clone(no_dup, 0, 3, PAGE, &out), ZX_ERR_ACCESS_DENIED);
    CHECK(zero_children(vmo));
    NEW_DUP(just, vmo, ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ);
    CHECK_OK(zx_vmo_clone(just, COW, 0, PAGE, &out));
    t_track(out);
}

static void vmo_clone_rights_are_parent_plus_write_and_properties(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(p, vmo, ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP);
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(p, COW, 0, PAGE, &c));
    t_track(c);
    CHECK_EQ(t_rights(c), ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP | ZX_RIGHT_WRITE |
                              ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY);
    zx_handle_t c2;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c2));
    t_track(c2);
    CHECK_EQ(t_rights(c2), ZX_DEFAULT_VMO_RIGHTS);
    /* The child is writable even though the parent handle was not. */
    CHECK_OK(zx_vmo_write(c, "w", 0, 1));
}

static void vmo_clone_sees_parent_current_content(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    CHECK_OK(fill(vmo, 0, 0x11, PAGE));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, 3 * PAGE, &c));
    t_track(c);
    CHECK(holds(c, 0, 0x11, PAGE));
    /* The parent writes after the clone was made: the child sees it (page 0 committed at
     * clone time, page 1 not). */
    CHECK_OK(fill(vmo, 0, 0x22, PAGE));
    CHECK_OK(fill(vmo, PAGE, 0x33, PAGE));
    CHECK(holds(c, 0, 0x22, PAGE));
    CHECK(holds(c, PAGE, 0x33, PAGE));
    CHECK(holds(c, 2 * PAGE, 0, PAGE));
    /* The clone committed nothing. */
    CHECK_EQ(t_committed(c), 0);
}

static void vmo_clone_first_write_copies_and_diverges(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    CHECK_OK(fill(vmo, 0, 0x11, 2 * PAGE));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, 2 * PAGE, &c));
    t_track(c);
    CHECK_OK(zx_vmo_write(c, "child", 10, 5));
    /* The child's page 0 is a copy with the child's bytes; the parent is unchanged. */
    char r[5];
    CHECK_OK(zx_vmo_read(c, r, 10, 5));
    CHECK(t_memcmp(r, "child", 5) == 0);
    CHECK(holds(c, 0, 0x11, 10));
    CHECK(holds(c, 15, 0x11, PAGE - 15));
    CHECK(holds(vmo, 0, 0x11, 2 * PAGE));
    CHECK_EQ(t_committed(c), PAGE);
    /* From now on page 0 diverges both ways; page 1 still follows the parent. */
    CHECK_OK(fill(vmo, 0, 0x44, 2 * PAGE));
    CHECK_OK(zx_vmo_read(c, r, 10, 5));
    CHECK(t_memcmp(r, "child", 5) == 0);
    CHECK(holds(c, 0, 0x11, 10));
    CHECK(holds(c, PAGE, 0x44, PAGE));
    CHECK(holds(vmo, 0, 0x44, 2 * PAGE));
}

static void vmo_clone_at_offset_reads_shifted_content(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    for (int i = 0; i < 4; i++) CHECK_OK(fill(vmo, (uint64_t)i * PAGE, 0x10 + i, PAGE));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 2 * PAGE, 2 * PAGE, &c));
    t_track(c);
    CHECK(holds(c, 0, 0x12, PAGE));
    CHECK(holds(c, PAGE, 0x13, PAGE));
}

static void vmo_clone_range_past_parent_reads_zero(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    CHECK_OK(fill(vmo, 0, 0x66, 2 * PAGE));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, PAGE, 4 * PAGE, &c));
    t_track(c);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(c, &size));
    CHECK_EQ(size, 4 * PAGE);
    CHECK(holds(c, 0, 0x66, PAGE));
    CHECK(holds(c, PAGE, 0, 3 * PAGE));
    /* Entirely past the parent. */
    zx_handle_t far;
    CHECK_OK(zx_vmo_clone(vmo, COW, 16 * PAGE, 2 * PAGE, &far));
    t_track(far);
    CHECK(holds(far, 0, 0, 2 * PAGE));
    /* The part past the parent is the child's own: writing it leaves the parent alone. */
    CHECK_OK(zx_vmo_write(c, "x", 3 * PAGE, 1));
    CHECK(holds(vmo, 0, 0x66, 2 * PAGE));
}

static void vmo_clone_is_resizable_unless_asked(void) {
    NEW_VMO(fixed, PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(fixed, COW, 0, PAGE, &c));
    t_track(c);
    zx_info_vmo_t info;
    t_vmo_info(c, &info);
    CHECK_HELPER();
    CHECK((info.flags & ZX_INFO_VMO_RESIZABLE) != 0);
    CHECK_OK(zx_vmo_set_size(c, 3 * PAGE));
    zx_handle_t nc;
    CHECK_OK(zx_vmo_clone(fixed, COW | ZX_VMO_CLONE_NON_RESIZEABLE, 0, PAGE, &nc));
    t_track(nc);
    CHECK_ST(zx_vmo_set_size(nc, 3 * PAGE), ZX_ERR_UNAVAILABLE);
    NEW_VMO(resizable, PAGE, 0);
    zx_handle_t rc;
    CHECK_OK(zx_vmo_clone(resizable, COW | ZX_VMO_CLONE_NON_RESIZEABLE, 0, PAGE, &rc));
    t_track(rc);
    CHECK_ST(zx_vmo_set_size(rc, 2 * PAGE), ZX_ERR_UNAVAILABLE);
}

static void vmo_clone_copies_name_with_get_property(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_object_set_property(vmo, ZX_PROP_NAME, "parent-name", 11));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c));
    t_track(c);
    char name[ZX_MAX_NAME_LEN];
    CHECK_OK(zx_object_get_property(c, ZX_PROP_NAME, name, sizeof(name)));
    CHECK(t_streq(name, "parent-name"));
    /* Without GET_PROPERTY on the parent handle, the name is not copied. */
    NEW_DUP(blind, vmo, ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ);
    zx_handle_t c2;
    CHECK_OK(zx_vmo_clone(blind, COW, 0, PAGE, &c2));
    t_track(c2);
    t_memset(name, 'x', sizeof(name));
    CHECK_OK(zx_object_get_property(c2, ZX_PROP_NAME, name, sizeof(name)));
    CHECK_EQ(name[0], 0);
}

static void vmo_clone_info_reports_parent_and_cow_flag(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c));
    t_track(c);
    zx_info_vmo_t pi, ci;
    t_vmo_info(vmo, &pi);
    t_vmo_info(c, &ci);
    CHECK_HELPER();
    CHECK_EQ(ci.parent_koid, pi.koid);
    CHECK(ci.koid != pi.koid);
    CHECK((ci.flags & ZX_INFO_VMO_IS_COW_CLONE) != 0);
    CHECK_EQ(pi.parent_koid, 0);
    CHECK_EQ(pi.num_children, 1);
    CHECK_EQ(ci.num_children, 0);
    zx_handle_t c2;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c2));
    t_track(c2);
    t_vmo_info(vmo, &pi);
    CHECK_HELPER();
    CHECK_EQ(pi.num_children, 2);
}

static void vmo_clone_copies_no_pages(void) {
    /* O(1): a clone of 4 MiB of committed memory commits nothing and costs (almost) no
     * memory. */
    NEW_VMO(vmo, 1024 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 1024 * PAGE, NULL, 0));
    zx_info_kmem_stats_t before, after;
    bool have_kmem = t_kmem(&before);
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, 1024 * PAGE, &c));
    t_track(c);
    zx_handle_t s;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 1024 * PAGE, &s));
    t_track(s);
    CHECK_EQ(t_committed(c), 0);
    CHECK_EQ(t_committed(s), 0);
    if (have_kmem && t_kmem(&after)) {
        CHECK(t_pages_taken(&before, &after) <= 16);
    }
}

static void vmo_clone_chain_reads_through_to_the_root(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    CHECK_OK(fill(vmo, 0, 0x21, 2 * PAGE));
    zx_handle_t c1, c2;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, 2 * PAGE, &c1));
    t_track(c1);
    CHECK_OK(fill(c1, PAGE, 0x22, PAGE));
    CHECK_OK(zx_vmo_clone(c1, COW, 0, 2 * PAGE, &c2));
    t_track(c2);
    CHECK(holds(c2, 0, 0x21, PAGE));
    CHECK(holds(c2, PAGE, 0x22, PAGE));
    /* The root's later write shows through both levels. */
    CHECK_OK(fill(vmo, 0, 0x23, PAGE));
    CHECK(holds(c2, 0, 0x23, PAGE));
    CHECK_OK(fill(c2, 0, 0x24, PAGE));
    CHECK(holds(c1, 0, 0x23, PAGE));
    CHECK(holds(vmo, 0, 0x23, PAGE));
}

static void vmo_clone_keeps_parent_pages_after_parent_closed(void) {
    zx_handle_t vmo;
    CHECK_OK(zx_vmo_create(2 * PAGE, 0, &vmo));
    t_track(vmo);
    CHECK_OK(fill(vmo, 0, 0x5e, 2 * PAGE));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, 2 * PAGE, &c));
    t_track(c);
    t_untrack(vmo);
    CHECK_OK(zx_handle_close(vmo));
    CHECK(holds(c, 0, 0x5e, 2 * PAGE));
    CHECK_OK(fill(c, PAGE, 0x5f, 1));
    CHECK(holds(c, 0, 0x5e, PAGE));
}

/* ---- zx_vmo_create_child -------------------------------------------------------------------- */

static void vmo_child_needs_exactly_one_of_snapshot_or_slice(void) {
    NEW_VMO(vmo, PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t out;
    CHECK_ST(zx_vmo_create_child(vmo, 0, 0, PAGE, &out), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_SLICE, 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_NO_WRITE, 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_RESIZABLE, 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | (1u << 1), 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE | (1u << 30), 0, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK(zero_children(vmo));
}

static void vmo_child_unaligned_offset_is_invalid_args(void) {
    NEW_VMO(vmo, 4 * PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t out;
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 1, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, PAGE / 2, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, PAGE, UINT64_MAX - PAGE + 2, &out),
             ZX_ERR_OUT_OF_RANGE);
    CHECK(zero_children(vmo));
}

static void vmo_child_snapshot_is_isolated_both_ways(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    CHECK_OK(fill(vmo, 0, 0x31, 2 * PAGE)); /* page 2 never committed */
    zx_handle_t s;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 3 * PAGE, &s));
    t_track(s);
    CHECK(holds(s, 0, 0x31, 2 * PAGE));
    CHECK(holds(s, 2 * PAGE, 0, PAGE));
    /* Parent writes: the snapshot does not see them (committed and uncommitted pages). */
    CHECK_OK(fill(vmo, 0, 0x32, PAGE));
    CHECK_OK(fill(vmo, 2 * PAGE, 0x33, PAGE));
    CHECK(holds(s, 0, 0x31, PAGE));
    CHECK(holds(s, 2 * PAGE, 0, PAGE));
    /* Snapshot writes: the parent does not see them. */
    CHECK_OK(fill(s, PAGE, 0x34, PAGE));
    CHECK(holds(vmo, PAGE, 0x31, PAGE));
    CHECK(holds(s, PAGE, 0x34, PAGE));
    CHECK(holds(vmo, 0, 0x32, PAGE));
    CHECK(holds(vmo, 2 * PAGE, 0x33, PAGE));
    /* Closing the parent changes nothing for the snapshot. */
    t_untrack(vmo);
    CHECK_OK(zx_handle_close(vmo));
    CHECK(holds(s, 0, 0x31, PAGE));
    CHECK(holds(s, PAGE, 0x34, PAGE));
}

static void vmo_child_snapshot_rights_add_write_and_properties(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(p, vmo, ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP);
    zx_handle_t s;
    CHECK_OK(zx_vmo_create_child(p, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &s));
    t_track(s);
    zx_rights_t r = t_rights(s);
    CHECK_HELPER();
    CHECK((r & ZX_RIGHT_WRITE) != 0);
    CHECK((r & ZX_RIGHT_GET_PROPERTY) != 0);
    CHECK((r & ZX_RIGHT_SET_PROPERTY) != 0);
    CHECK((r & (ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP)) ==
          (ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP));
    CHECK((r & ZX_RIGHT_EXECUTE) == 0);
    CHECK_OK(zx_vmo_write(s, "w", 0, 1));
}

static void vmo_child_no_write_removes_write_right(void) {
    NEW_VMO(vmo, PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t s, sl;
    CHECK_OK(
        zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE, 0, PAGE, &s));
    t_track(s);
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_NO_WRITE, 0, PAGE, &sl));
    t_track(sl);
    CHECK((t_rights(s) & ZX_RIGHT_WRITE) == 0);
    CHECK((t_rights(sl) & ZX_RIGHT_WRITE) == 0);
    CHECK_ST(zx_vmo_write(s, "w", 0, 1), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_write(sl, "w", 0, 1), ZX_ERR_ACCESS_DENIED);
    uint8_t b;
    CHECK_OK(zx_vmo_read(s, &b, 0, 1));
    CHECK_OK(zx_vmo_read(sl, &b, 0, 1));
}

static void vmo_child_resizable_option_controls_set_size(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t fixed, res;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &fixed));
    t_track(fixed);
    CHECK_ST(zx_vmo_set_size(fixed, 2 * PAGE), ZX_ERR_UNAVAILABLE);
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, 0, PAGE,
                                 &res));
    t_track(res);
    CHECK_OK(zx_vmo_set_size(res, 2 * PAGE));
    zx_info_vmo_t info;
    t_vmo_info(res, &info);
    CHECK_HELPER();
    CHECK((info.flags & ZX_INFO_VMO_RESIZABLE) != 0);
    t_vmo_info(fixed, &info);
    CHECK_HELPER();
    CHECK((info.flags & ZX_INFO_VMO_RESIZABLE) == 0);
}

static void vmo_child_slice_shares_pages_both_ways(void) {
    NEW_VMO(vmo, 4 * PAGE, ZX_VMO_NON_RESIZABLE);
    CHECK_OK(fill(vmo, 0, 0x41, 4 * PAGE));
    zx_handle_t sl;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE, &sl));
    t_track(sl);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(sl, &size));
    CHECK_EQ(size, 2 * PAGE);
    CHECK(holds(sl, 0, 0x41, 2 * PAGE));
    CHECK_OK(fill(vmo, PAGE, 0x42, PAGE));
    CHECK(holds(sl, 0, 0x42, PAGE));
    CHECK_OK(fill(sl, PAGE, 0x43, PAGE));
    CHECK(holds(vmo, 2 * PAGE, 0x43, PAGE));
    CHECK(holds(vmo, 3 * PAGE, 0x41, PAGE));
    /* A slice owns no pages. */
    CHECK_EQ(t_committed(sl), 0);
    /* It is a window: its end is the end. */
    CHECK_ST(zx_vmo_write(sl, "x", 2 * PAGE, 1), ZX_ERR_OUT_OF_RANGE);
}

static void vmo_child_slice_of_resizable_parent_is_rejected(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    zx_handle_t out;
    CHECK_ST2(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PAGE, &out), ZX_ERR_NOT_SUPPORTED,
              ZX_ERR_INVALID_ARGS);
    CHECK(zero_children(vmo));
}

static void vmo_child_slice_must_lie_inside_parent(void) {
    NEW_VMO(vmo, 2 * PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t out;
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 4 * PAGE, PAGE, &out),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, 2 * PAGE + 1, &out),
             ZX_ERR_INVALID_ARGS);
    /* RESIZABLE slices do not exist. */
    CHECK_ST(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE, 0, PAGE,
                                 &out),
             ZX_ERR_INVALID_ARGS);
    CHECK(zero_children(vmo));
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, 2 * PAGE, &out));
    t_track(out);
}

static void vmo_child_slice_rights_do_not_gain_write(void) {
    NEW_VMO(vmo, PAGE, ZX_VMO_NON_RESIZABLE);
    NEW_DUP(ro, vmo, ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ | ZX_RIGHT_MAP);
    zx_handle_t sl, sn;
    CHECK_OK(zx_vmo_create_child(ro, ZX_VMO_CHILD_SLICE, 0, PAGE, &sl));
    t_track(sl);
    CHECK((t_rights(sl) & ZX_RIGHT_WRITE) == 0);
    CHECK_ST(zx_vmo_write(sl, "x", 0, 1), ZX_ERR_ACCESS_DENIED);
    /* A snapshot is a private copy: it does get WRITE. */
    CHECK_OK(zx_vmo_create_child(ro, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &sn));
    t_track(sn);
    CHECK((t_rights(sn) & ZX_RIGHT_WRITE) != 0);
}

static void vmo_child_snapshot_past_parent_reads_zero(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(fill(vmo, 0, 0x51, PAGE));
    zx_handle_t s;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 3 * PAGE, &s));
    t_track(s);
    CHECK(holds(s, 0, 0x51, PAGE));
    CHECK(holds(s, PAGE, 0, 2 * PAGE));
    /* Growing the parent and writing there stays invisible to the snapshot. */
    CHECK_OK(zx_vmo_set_size(vmo, 3 * PAGE));
    CHECK_OK(fill(vmo, PAGE, 0x52, 2 * PAGE));
    CHECK(holds(s, PAGE, 0, 2 * PAGE));
}

static void vmo_child_info_reports_parent(void) {
    NEW_VMO(vmo, 2 * PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t s, sl;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &s));
    t_track(s);
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PAGE, &sl));
    t_track(sl);
    zx_koid_t pk = t_koid(vmo);
    zx_info_vmo_t info;
    t_vmo_info(s, &info);
    CHECK_HELPER();
    CHECK_EQ(info.parent_koid, pk);
    t_vmo_info(sl, &info);
    CHECK_HELPER();
    CHECK_EQ(info.parent_koid, pk);
    t_vmo_info(vmo, &info);
    CHECK_HELPER();
    CHECK_EQ(info.num_children, 2);
}

/* ---- ZX_VMO_ZERO_CHILDREN ------------------------------------------------------------- */

static void zero_children_is_active_on_a_new_vmo(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_signals_t observed = 0;
    CHECK_OK(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, 0, &observed));
    CHECK((observed & ZX_VMO_ZERO_CHILDREN) != 0);
    NEW_VMO(empty, 0, ZX_VMO_NON_RESIZABLE);
    CHECK(zero_children(empty));
}

static void zero_children_inactive_while_a_child_exists(void) {
    NEW_VMO(vmo, 2 * PAGE, ZX_VMO_NON_RESIZABLE);
    static const uint32_t kinds[3] = {0, ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CHILD_SLICE};
    for (int k = 0; k < 3; k++) {
        t_context("kind", k);
        zx_handle_t c;
        if (kinds[k] == 0) {
            CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c));
        } else {
            CHECK_OK(zx_vmo_create_child(vmo, kinds[k], 0, PAGE, &c));
        }
        t_track(c);
        CHECK(!zero_children(vmo));
        zx_signals_t observed = 0;
        CHECK_ST(zx_object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, zx_deadline_after(ZX_MSEC(5)),
                                    &observed),
                 ZX_ERR_TIMED_OUT);
        CHECK((observed & ZX_VMO_ZERO_CHILDREN) == 0);
        t_untrack(c);
        CHECK_OK(zx_handle_close(c));
        CHECK(zero_children(vmo));
    }
}

static void zero_children_stays_inactive_until_every_child_handle_is_gone(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t c1, c2, dup;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c1));
    t_track(c1);
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &c2));
    t_track(c2);
    CHECK_OK(zx_handle_duplicate(c1, ZX_RIGHT_SAME_RIGHTS, &dup));
    t_track(dup);
    t_untrack(c1);
    CHECK_OK(zx_handle_close(c1));
    CHECK(!zero_children(vmo));
    t_untrack(c2);
    CHECK_OK(zx_handle_close(c2));
    CHECK(!zero_children(vmo)); /* dup still holds the first child */
    t_untrack(dup);
    CHECK_OK(zx_handle_close(dup));
    CHECK(zero_children(vmo));
}

static void zero_children_grandchild_keeps_it_inactive(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t child, grand;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &child));
    t_track(child);
    CHECK_OK(zx_vmo_clone(child, COW, 0, PAGE, &grand));
    t_track(grand);
    CHECK(!zero_children(child));
    t_untrack(child);
    CHECK_OK(zx_handle_close(child));
    CHECK(!zero_children(vmo));
    t_untrack(grand);
    CHECK_OK(zx_handle_close(grand));
    CHECK(zero_children(vmo));
}

static void zero_children_mapped_child_keeps_it_inactive_until_unmapped(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "mapped", 0, 6));
    zx_handle_t child;
    CHECK_OK(zx_vmo_clone(vmo, COW, 0, PAGE, &child));
    t_track(child);
    zx_vaddr_t addr = 0;
    CHECK_OK(zx_vmar_map(zx_vmar_root_self(), ZX_VM_PERM_READ, 0, child, 0, PAGE, &addr));
    t_track_map(addr, PAGE);
    t_untrack(child);
    CHECK_OK(zx_handle_close(child));
    /* No handle left, but the mapping keeps the child alive. */
    CHECK(!zero_children(vmo));
    CHECK(t_memcmp((const void*)addr, "mapped", 6) == 0);
    t_untrack_map(addr);
    CHECK_OK(zx_vmar_unmap(zx_vmar_root_self(), addr, PAGE));
    CHECK(zero_children(vmo));
}

static void zero_children_snapshot_of_snapshot_keeps_it_inactive(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_handle_t s1, s2;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &s1));
    t_track(s1);
    CHECK_OK(zx_vmo_create_child(s1, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &s2));
    t_track(s2);
    t_untrack(s1);
    CHECK_OK(zx_handle_close(s1));
    CHECK(!zero_children(vmo));
    t_untrack(s2);
    CHECK_OK(zx_handle_close(s2));
    CHECK(zero_children(vmo));
}

/* ---- freeing ---------------------------------------------------------------------------- */

/* Builds a family (parent, clone, snapshot, slice, a mapping), writes all over it and
 * closes everything. */
static void family_cycle(void) {
    zx_handle_t p = ZX_HANDLE_INVALID, c = ZX_HANDLE_INVALID, sn = ZX_HANDLE_INVALID;
    zx_handle_t fixed = ZX_HANDLE_INVALID, sl = ZX_HANDLE_INVALID;
    zx_vaddr_t a = 0;
    CHECK_OK(zx_vmo_create(64 * PAGE, 0, &p));
    t_track(p);
    CHECK_OK(zx_vmo_op_range(p, ZX_VMO_OP_COMMIT, 0, 64 * PAGE, NULL, 0));
    CHECK_OK(zx_vmo_clone(p, COW, 0, 64 * PAGE, &c));
    t_track(c);
    for (uint64_t i = 0; i < 32; i++) CHECK_OK(zx_vmo_write(c, "c", i * PAGE * 2, 1));
    CHECK_OK(zx_vmo_create_child(p, ZX_VMO_CHILD_SNAPSHOT, 0, 64 * PAGE, &sn));
    t_track(sn);
    for (uint64_t i = 0; i < 16; i++) CHECK_OK(zx_vmo_write(p, "p", i * PAGE * 3, 1));
    for (uint64_t i = 0; i < 16; i++) CHECK_OK(zx_vmo_write(sn, "s", i * PAGE, 1));
    CHECK_OK(zx_vmar_map(zx_vmar_root_self(), RW, 0, c, 0, 64 * PAGE, &a));
    for (uint64_t i = 0; i < 64; i++) *(volatile uint8_t*)(a + i * PAGE + 1) = 1;
    CHECK_OK(zx_vmar_unmap(zx_vmar_root_self(), a, 64 * PAGE));
    CHECK_OK(zx_vmo_create(16 * PAGE, ZX_VMO_NON_RESIZABLE, &fixed));
    t_track(fixed);
    CHECK_OK(zx_vmo_create_child(fixed, ZX_VMO_CHILD_SLICE, 4 * PAGE, 8 * PAGE, &sl));
    t_track(sl);
    CHECK_OK(zx_vmo_op_range(sl, ZX_VMO_OP_COMMIT, 0, 8 * PAGE, NULL, 0));
    /* Close in an unfriendly order: the parent first. */
    zx_handle_t all[5] = {p, fixed, c, sl, sn};
    for (int i = 0; i < 5; i++) t_untrack(all[i]);
    CHECK_OK(zx_handle_close_many(all, 5));
}

static void vmo_family_returns_every_page_when_closed(void) {
    zx_info_kmem_stats_t before, after;
    CHECK(t_kmem(&before));
    family_cycle(); /* warm up the kernel heap */
    CHECK_HELPER();
    CHECK(t_kmem(&before));
    for (int i = 0; i < 4; i++) {
        t_context("round", (uint64_t)i);
        family_cycle();
        CHECK_HELPER();
    }
    CHECK(t_kmem(&after));
    CHECK(after.free_bytes + 16 * PAGE >= before.free_bytes);
    CHECK(after.vmo_bytes <= before.vmo_bytes + 16 * PAGE);
}

static const t_case k_cases[] = {
    T_CASE(vmo_clone_requires_copy_on_write),
    T_CASE(vmo_clone_unaligned_offset_is_invalid_args),
    T_CASE(vmo_clone_overflowing_range_is_out_of_range),
    T_CASE(vmo_clone_needs_duplicate_and_read),
    T_CASE(vmo_clone_rights_are_parent_plus_write_and_properties),
    T_CASE(vmo_clone_sees_parent_current_content),
    T_CASE(vmo_clone_first_write_copies_and_diverges),
    T_CASE(vmo_clone_at_offset_reads_shifted_content),
    T_CASE(vmo_clone_range_past_parent_reads_zero),
    T_CASE(vmo_clone_is_resizable_unless_asked),
    T_CASE(vmo_clone_copies_name_with_get_property),
    T_CASE(vmo_clone_info_reports_parent_and_cow_flag),
    T_CASE(vmo_clone_copies_no_pages),
    T_CASE(vmo_clone_chain_reads_through_to_the_root),
    T_CASE(vmo_clone_keeps_parent_pages_after_parent_closed),
    T_CASE(vmo_child_needs_exactly_one_of_snapshot_or_slice),
    T_CASE(vmo_child_unaligned_offset_is_invalid_args),
    T_CASE(vmo_child_snapshot_is_isolated_both_ways),
    T_CASE(vmo_child_snapshot_rights_add_write_and_properties),
    T_CASE(vmo_child_no_write_removes_write_right),
    T_CASE(vmo_child_resizable_option_controls_set_size),
    T_CASE(vmo_child_slice_shares_pages_both_ways),
    T_CASE(vmo_child_slice_of_resizable_parent_is_rejected),
    T_CASE(vmo_child_slice_must_lie_inside_parent),
    T_CASE(vmo_child_slice_rights_do_not_gain_write),
    T_CASE(vmo_child_snapshot_past_parent_reads_zero),
    T_CASE(vmo_child_info_reports_parent),
    T_CASE(zero_children_is_active_on_a_new_vmo),
    T_CASE(zero_children_inactive_while_a_child_exists),
    T_CASE(zero_children_stays_inactive_until_every_child_handle_is_gone),
    T_CASE(zero_children_grandchild_keeps_it_inactive),
    T_CASE(zero_children_mapped_child_keeps_it_inactive_until_unmapped),
    T_CASE(zero_children_snapshot_of_snapshot_keeps_it_inactive),
    T_CASE(vmo_family_returns_every_page_when_closed),
};

const t_group t_group_vmo_child = {k_cases, T_COUNT(k_cases)};

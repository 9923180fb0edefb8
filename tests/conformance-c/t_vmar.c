/* conformance-c: zx_vmar_map, zx_vmar_unmap, zx_vmar_protect, zx_vmar_allocate,
 * zx_vmar_destroy, and what mappings show of VMOs. Nothing here touches memory that might
 * not be mapped: faults are checked in child processes (t_process.c). */
#include "harness.h"

#define ROOT zx_vmar_root_self()
#define CAN_RW (ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE)

static size_t num_mappings(zx_handle_t vmo) {
    zx_info_vmo_t info;
    t_vmo_info(vmo, &info);
    return info.num_mappings;
}

/* A tracked sub-region of the root. */
static zx_handle_t region(uint32_t options, size_t size, zx_vaddr_t* addr) {
    zx_handle_t vmar = ZX_HANDLE_INVALID;
    zx_status_t s = zx_vmar_allocate(ROOT, options, 0, size, &vmar, addr);
    if (s != ZX_OK) {
        t_fail_status(__FILE__, __LINE__, ZX_OK, s);
        return ZX_HANDLE_INVALID;
    }
    return t_track_vmar(vmar);
}

static volatile uint8_t* ptr(zx_vaddr_t a) {
    return (volatile uint8_t*)a;
}

/* ---- zx_vmar_map ------------------------------------------------------------------------ */

static void vmar_map_writes_are_visible_through_vmo_read_and_back(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    NEW_MAP(addr, vmo, RW, 2 * PAGE);
    CHECK_EQ(addr & (PAGE - 1), 0);
    CHECK(addr >= 0x1000000 && addr < 0x800000000000ull);
    /* Untouched pages read zero. */
    CHECK(t_all_bytes((const void*)addr, 0, 2 * PAGE));
    t_memcpy((void*)(addr + PAGE - 3), "through", 7);
    char r[7];
    CHECK_OK(zx_vmo_read(vmo, r, PAGE - 3, 7));
    CHECK(t_memcmp(r, "through", 7) == 0);
    CHECK_OK(zx_vmo_write(vmo, "backward", 100, 8));
    CHECK(t_memcmp((const void*)(addr + 100), "backward", 8) == 0);
}

static void vmar_map_without_map_right_is_access_denied(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(nomap, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_MAP);
    zx_vaddr_t addr = 0;
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, nomap, 0, PAGE, &addr), ZX_ERR_ACCESS_DENIED);
    /* Before anything else: bad length, bad options, bad offsets. */
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, nomap, 0, 0, &addr), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_WRITE | (1u << 15), 3, nomap, 5, 0, NULL),
             ZX_ERR_ACCESS_DENIED);
    CHECK_EQ(num_mappings(vmo), 0);
}

static void vmar_map_write_without_read_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t addr = 0;
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_WRITE, 0, vmo, 0, PAGE, &addr), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(num_mappings(vmo), 0);
}

static void vmar_map_permissions_need_vmo_rights(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(noread, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_READ);
    NEW_DUP(nowrite, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_WRITE);
    NEW_DUP(noexec, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_EXECUTE);
    zx_vaddr_t addr = 0;
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, noread, 0, PAGE, &addr),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmar_map(ROOT, RW, 0, nowrite, 0, PAGE, &addr), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE, 0, noexec, 0, PAGE, &addr),
             ZX_ERR_ACCESS_DENIED);
    CHECK_EQ(num_mappings(vmo), 0);
    /* What the handle allows works. */
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, nowrite, 0, PAGE, &addr));
    t_track_map(addr, PAGE);
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE, 0, nowrite, 0, PAGE,
                         &addr));
    t_track_map(addr, PAGE);
    CHECK_EQ(num_mappings(vmo), 2);
}

static void vmar_map_write_and_execute_together_is_refused(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t addr = 0;
    CHECK_FAILS(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE, 0,
                            vmo, 0, PAGE, &addr));
    CHECK_EQ(num_mappings(vmo), 0);
}

static void vmar_map_len_zero_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t addr = 0;
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, vmo, 0, 0, &addr), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(num_mappings(vmo), 0);
}

static void vmar_map_unaligned_offsets_are_invalid_args(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 16 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t addr = 0;
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, vmo, 1, PAGE, &addr), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, vmo, PAGE + 512, PAGE, &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 1, vmo, 0, PAGE, &addr),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, PAGE + 8, vmo, 0, PAGE, &addr),
             ZX_ERR_INVALID_ARGS);
    /* A non-zero offset without SPECIFIC is meaningless. */
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ, PAGE, vmo, 0, PAGE, &addr), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(num_mappings(vmo), 0);
}

static void vmar_map_len_rounds_up_to_page(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "end", PAGE - 3, 3));
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t addr = 0;
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 0, vmo, 0, 1, &addr));
    CHECK_EQ(addr, base);
    /* The whole first page is mapped (its last bytes are readable)... */
    CHECK(t_memcmp((const void*)(addr + PAGE - 3), "end", 3) == 0);
    /* ...and only it: the next page is free for another mapping. */
    zx_vaddr_t next = 0;
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, PAGE, vmo, PAGE, PAGE, &next));
    CHECK_EQ(next, base + PAGE);
    /* And unmapping 1 byte removes the whole page. */
    CHECK_OK(zx_vmar_unmap(r, addr, 1));
    CHECK_EQ(num_mappings(vmo), 1);
}

static void vmar_map_specific_overlap_is_no_memory(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 8 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t a1 = 0, a2 = 0;
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 2 * PAGE, vmo, 0, 2 * PAGE, &a1));
    CHECK_EQ(a1, base + 2 * PAGE);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 2 * PAGE, vmo, 0, PAGE, &a2),
             ZX_ERR_NO_MEMORY);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, PAGE, vmo, 0, 2 * PAGE, &a2),
             ZX_ERR_NO_MEMORY);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 3 * PAGE, vmo, 0, 4 * PAGE, &a2),
             ZX_ERR_NO_MEMORY);
    CHECK_EQ(num_mappings(vmo), 1);
    /* Adjacent is fine. */
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 4 * PAGE, vmo, 0, PAGE, &a2));
    CHECK_EQ(a2, base + 4 * PAGE);
}

static void vmar_map_specific_outside_region_is_invalid_args(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t a = 0;
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 3 * PAGE, vmo, 0, 2 * PAGE, &a),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 8 * PAGE, vmo, 0, PAGE, &a),
             ZX_ERR_INVALID_ARGS);
    CHECK_EQ(num_mappings(vmo), 0);
}

static void vmar_map_without_room_is_no_memory(void) {
    NEW_VMO(vmo, 8 * PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t a = 0;
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ, 0, vmo, 0, 8 * PAGE, &a), ZX_ERR_NO_MEMORY);
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ, 0, vmo, 0, 4 * PAGE, &a));
    CHECK_EQ(a, base);
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &a), ZX_ERR_NO_MEMORY);
}

static void vmar_map_respects_region_capabilities(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t ro = region(ZX_VM_CAN_MAP_READ, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t a = 0;
    CHECK_ST(zx_vmar_map(ro, RW, 0, vmo, 0, PAGE, &a), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmar_map(ro, ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE, 0, vmo, 0, PAGE, &a),
             ZX_ERR_ACCESS_DENIED);
    /* No CAN_MAP_SPECIFIC: SPECIFIC is refused. */
    CHECK_ST(zx_vmar_map(ro, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &a),
             ZX_ERR_ACCESS_DENIED);
    CHECK_EQ(num_mappings(vmo), 0);
    CHECK_OK(zx_vmar_map(ro, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &a));
    CHECK(a >= base && a < base + 4 * PAGE);
}

static void vmar_map_align_option_aligns_the_address(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t a = 0;
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_ALIGN_1MB, 0, vmo, 0, PAGE, &a));
    t_track_map(a, PAGE);
    CHECK_EQ(a & ((1u << 20) - 1), 0);
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_ALIGN_64KB, 0, vmo, 0, PAGE, &a));
    t_track_map(a, PAGE);
    CHECK_EQ(a & ((1u << 16) - 1), 0);
    /* Alignments below 1 KiB or above 4 GiB are invalid. */
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ | (5u << ZX_VM_ALIGN_BASE), 0, vmo, 0, PAGE, &a),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ | (63u << ZX_VM_ALIGN_BASE), 0, vmo, 0, PAGE, &a),
             ZX_ERR_INVALID_ARGS);
}

static void vmar_map_require_non_resizable_rejects_resizable_vmo(void) {
    NEW_VMO(res, PAGE, 0);
    NEW_VMO(fixed, PAGE, ZX_VMO_NON_RESIZABLE);
    zx_vaddr_t a = 0;
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_REQUIRE_NON_RESIZABLE, 0, res, 0, PAGE, &a),
             ZX_ERR_NOT_SUPPORTED);
    CHECK_OK(
        zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_REQUIRE_NON_RESIZABLE, 0, fixed, 0, PAGE, &a));
    t_track_map(a, PAGE);
}

static void vmar_map_keeps_the_vmo_alive_after_handle_close(void) {
    zx_handle_t vmo;
    CHECK_OK(zx_vmo_create(PAGE, 0, &vmo));
    CHECK_OK(zx_vmo_write(vmo, "alive", 0, 5));
    zx_vaddr_t a = 0;
    zx_status_t s = zx_vmar_map(ROOT, RW, 0, vmo, 0, PAGE, &a);
    zx_handle_close(vmo);
    CHECK_OK(s);
    t_track_map(a, PAGE);
    CHECK(t_memcmp((const void*)a, "alive", 5) == 0);
    ptr(a)[100] = 42;
    CHECK_EQ(ptr(a)[100], 42);
}

static void vmar_map_faults_pages_in_lazily(void) {
    NEW_VMO(vmo, 16 * PAGE, 0);
    NEW_MAP(a, vmo, RW, 16 * PAGE);
    CHECK_EQ(t_committed(vmo), 0);
    /* Reading commits nothing. */
    CHECK_EQ(ptr(a + 5 * PAGE)[7], 0);
    CHECK_EQ(t_committed(vmo), 0);
    ptr(a + 5 * PAGE)[7] = 1;
    CHECK_EQ(t_committed(vmo), PAGE);
    ptr(a + 9 * PAGE)[0] = 1;
    CHECK_EQ(t_committed(vmo), 2 * PAGE);
}

static void vmar_map_clone_write_fault_copies_the_page(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    t_memset(t_buf_a, 0x61, 2 * PAGE);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 0, 2 * PAGE));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE, &c));
    t_track(c);
    NEW_MAP(a, c, RW, 2 * PAGE);
    /* Read first (maps the shared page read-only), then write (must copy). */
    CHECK_EQ(ptr(a)[0], 0x61);
    ptr(a)[0] = 0x62;
    CHECK_EQ(ptr(a)[0], 0x62);
    CHECK_EQ(ptr(a)[1], 0x61);
    uint8_t b = 0;
    CHECK_OK(zx_vmo_read(c, &b, 0, 1));
    CHECK_EQ(b, 0x62);
    CHECK_OK(zx_vmo_read(vmo, &b, 0, 1));
    CHECK_EQ(b, 0x61);
    CHECK_EQ(t_committed(c), PAGE);
    /* Write without a read first. */
    ptr(a + PAGE)[5] = 0x63;
    CHECK_OK(zx_vmo_read(vmo, &b, PAGE + 5, 1));
    CHECK_EQ(b, 0x61);
    /* The parent's later writes do not reach the copied pages. */
    CHECK_OK(zx_vmo_write(vmo, "Z", 0, 1));
    CHECK_EQ(ptr(a)[0], 0x62);
}

static void vmar_map_clone_mapping_sees_parent_later_writes(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "A", 0, 1)); /* page 0 committed, page 1 not */
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, 2 * PAGE, &c));
    t_track(c);
    NEW_MAP(a, c, ZX_VM_PERM_READ, 2 * PAGE);
    CHECK_EQ(ptr(a)[0], 'A');
    CHECK_EQ(ptr(a + PAGE)[0], 0);
    /* The parent writes both pages; the clone has written neither: it shows the new data. */
    CHECK_OK(zx_vmo_write(vmo, "B", 0, 1));
    CHECK_OK(zx_vmo_write(vmo, "C", PAGE, 1));
    CHECK_EQ(ptr(a)[0], 'B');
    CHECK_EQ(ptr(a + PAGE)[0], 'C');
}

static void vmar_map_snapshot_is_isolated_from_existing_writable_mappings(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_MAP(a, vmo, RW, PAGE);
    ptr(a)[0] = 1; /* the parent's page is mapped writable now */
    zx_handle_t s;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE, &s));
    t_track(s);
    /* Writing through the old writable mapping must not reach the snapshot. */
    ptr(a)[0] = 2;
    uint8_t b = 0;
    CHECK_OK(zx_vmo_read(s, &b, 0, 1));
    CHECK_EQ(b, 1);
    CHECK_OK(zx_vmo_read(vmo, &b, 0, 1));
    CHECK_EQ(b, 2);
    /* And a mapping of the snapshot does not see the parent. */
    NEW_MAP(sa, s, RW, PAGE);
    CHECK_EQ(ptr(sa)[0], 1);
    ptr(sa)[0] = 3;
    CHECK_EQ(ptr(a)[0], 2);
}

static void vmar_map_slice_shares_pages_with_parent_mapping(void) {
    NEW_VMO(vmo, 4 * PAGE, ZX_VMO_NON_RESIZABLE);
    zx_handle_t sl;
    CHECK_OK(zx_vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 2 * PAGE, 2 * PAGE, &sl));
    t_track(sl);
    NEW_MAP(pa, vmo, RW, 4 * PAGE);
    NEW_MAP(sa, sl, RW, 2 * PAGE);
    ptr(sa)[10] = 0x71;
    CHECK_EQ(ptr(pa + 2 * PAGE)[10], 0x71);
    ptr(pa + 3 * PAGE)[20] = 0x72;
    CHECK_EQ(ptr(sa + PAGE)[20], 0x72);
}

static void vmar_map_handles_must_have_the_right_types(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t a = 0;
    /* The VMAR handle must be a VMAR with the VMO a VMO. */
    CHECK_ST(zx_vmar_map(vmo, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &a), ZX_ERR_WRONG_TYPE);
    CHECK_ST(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, ROOT, 0, PAGE, &a), ZX_ERR_WRONG_TYPE);
    CHECK_EQ(num_mappings(vmo), 0);
}

/* ---- what mappings show when the VMO changes under them ------------------------------------ */

static void vmar_map_shows_decommit_and_zero(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    NEW_MAP(a, vmo, RW, 2 * PAGE);
    t_memset((void*)a, 0xaa, 2 * PAGE);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PAGE, NULL, 0));
    CHECK(t_all_bytes((const void*)a, 0, PAGE));
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_ZERO, PAGE + 10, 10, NULL, 0));
    CHECK(t_all_bytes((const void*)(a + PAGE), 0xaa, 10));
    CHECK(t_all_bytes((const void*)(a + PAGE + 10), 0, 10));
    CHECK(t_all_bytes((const void*)(a + PAGE + 20), 0xaa, PAGE - 20));
    /* And writing the decommitted page through the mapping commits it again. */
    ptr(a)[5] = 0x55;
    uint8_t b = 0;
    CHECK_OK(zx_vmo_read(vmo, &b, 5, 1));
    CHECK_EQ(b, 0x55);
    CHECK_EQ(t_committed(vmo), 2 * PAGE);
}

static void vmar_map_clone_mapping_follows_the_clones_own_copy(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "P", 0, 1));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &c));
    t_track(c);
    NEW_MAP(a, c, ZX_VM_PERM_READ, PAGE);
    CHECK_EQ(ptr(a)[0], 'P'); /* mapped from the parent's page */
    /* The clone writes with zx_vmo_write: its mapping must now show its own copy. */
    CHECK_OK(zx_vmo_write(c, "C", 0, 1));
    CHECK_EQ(ptr(a)[0], 'C');
    CHECK_OK(zx_vmo_write(vmo, "Q", 0, 1));
    CHECK_EQ(ptr(a)[0], 'C');
    uint8_t b = 0;
    CHECK_OK(zx_vmo_read(vmo, &b, 0, 1));
    CHECK_EQ(b, 'Q');
}

static void vmar_map_clone_mapping_shows_parent_decommit(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "P", 0, 1));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &c));
    t_track(c);
    NEW_MAP(a, c, ZX_VM_PERM_READ, PAGE);
    CHECK_EQ(ptr(a)[0], 'P');
    /* The clone reads the parent's current content: zero after a decommit. */
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PAGE, NULL, 0));
    CHECK_EQ(ptr(a)[0], 0);
    uint8_t b = 1;
    CHECK_OK(zx_vmo_read(c, &b, 0, 1));
    CHECK_EQ(b, 0);
}

static void vmar_map_specific_overwrite_replaces_mappings(void) {
    NEW_VMO(va, 2 * PAGE, 0);
    NEW_VMO(vb, PAGE, 0);
    CHECK_OK(zx_vmo_write(va, "A", 0, 1));
    CHECK_OK(zx_vmo_write(va, "a", PAGE, 1));
    CHECK_OK(zx_vmo_write(vb, "B", 0, 1));
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t a = 0, b = 0;
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 0, va, 0, 2 * PAGE, &a));
    CHECK_EQ(ptr(a + PAGE)[0], 'a');
    CHECK_OK(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE, PAGE, vb, 0, PAGE, &b));
    CHECK_EQ(b, base + PAGE);
    CHECK_EQ(ptr(a)[0], 'A');
    CHECK_EQ(ptr(a + PAGE)[0], 'B');
    CHECK_EQ(num_mappings(vb), 1);
}

static void vmar_map_range_populates_without_committing(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "R", 2 * PAGE, 1));
    zx_vaddr_t a = 0;
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_MAP_RANGE, 0, vmo, 0, 4 * PAGE, &a));
    t_track_map(a, 4 * PAGE);
    CHECK_EQ(t_committed(vmo), PAGE);
    CHECK_EQ(ptr(a + 2 * PAGE)[0], 'R');
    CHECK(t_all_bytes((const void*)a, 0, 2 * PAGE));
    CHECK_EQ(t_committed(vmo), PAGE);
}

static void vmar_map_kernel_copies_through_a_mapping_of_the_same_vmo(void) {
    /* zx_vmo_read/write whose user buffer is an untouched mapping of the very VMO: the
     * kernel faults the pages in during the copy and must not deadlock. */
    NEW_VMO(vmo, 4 * PAGE, 0);
    for (size_t i = 0; i < PAGE; i++) t_buf_a[i] = (uint8_t)(i * 13);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 2 * PAGE, PAGE));
    NEW_MAP(a, vmo, RW, 4 * PAGE);
    CHECK_OK(zx_vmo_write(vmo, (const void*)(a + 2 * PAGE), 0, PAGE)); /* page 2 -> page 0 */
    CHECK_OK(zx_vmo_read(vmo, (void*)(a + 3 * PAGE), 0, PAGE));        /* page 0 -> page 3 */
    CHECK(t_memcmp((const void*)a, t_buf_a, PAGE) == 0);
    CHECK(t_memcmp((const void*)(a + 3 * PAGE), t_buf_a, PAGE) == 0);
    /* Overlapping ranges of the same page. */
    CHECK_OK(zx_vmo_write(vmo, (const void*)(a + 3 * PAGE), 3 * PAGE + 1, 100));
    CHECK_EQ(ptr(a + 3 * PAGE)[1], t_buf_a[0]);
}

static void vmar_map_kernel_copy_into_a_clone_mapping_copies_on_write(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "parent", 0, 6));
    zx_handle_t c;
    CHECK_OK(zx_vmo_clone(vmo, ZX_VMO_CLONE_COPY_ON_WRITE, 0, PAGE, &c));
    t_track(c);
    NEW_MAP(a, c, RW, PAGE);
    CHECK_EQ(ptr(a)[0], 'p'); /* read-faulted: the parent's page, read-only */
    NEW_VMO(src, PAGE, 0);
    CHECK_OK(zx_vmo_write(src, "kernel", 0, 6));
    /* The kernel writes into the clone's mapping: that must copy, not write the parent. */
    CHECK_OK(zx_vmo_read(src, (void*)a, 0, 6));
    CHECK(t_memcmp((const void*)a, "kernel", 6) == 0);
    char r[6];
    CHECK_OK(zx_vmo_read(vmo, r, 0, 6));
    CHECK(t_memcmp(r, "parent", 6) == 0);
    CHECK_OK(zx_vmo_read(c, r, 0, 6));
    CHECK(t_memcmp(r, "kernel", 6) == 0);
    /* Same through zx_channel_read. */
    NEW_CHANNEL(x, y);
    CHECK_OK(zx_channel_write(x, 0, "chan", 4, NULL, 0));
    uint32_t ab = 0, ah = 0;
    CHECK_OK(zx_channel_read(y, 0, (void*)(a + 100), NULL, 64, 0, &ab, &ah));
    CHECK_EQ(ab, 4);
    CHECK(t_memcmp((const void*)(a + 100), "chan", 4) == 0);
    CHECK_OK(zx_vmo_read(vmo, r, 0, 6));
    CHECK(t_memcmp(r, "parent", 6) == 0);
}

/* ---- zx_vmar_unmap ------------------------------------------------------------------------ */

static void vmar_unmap_removes_the_mapping(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    zx_vaddr_t a = 0;
    CHECK_OK(zx_vmar_map(ROOT, RW, 0, vmo, 0, 2 * PAGE, &a));
    ptr(a)[0] = 1;
    CHECK_EQ(num_mappings(vmo), 1);
    CHECK_OK(zx_vmar_unmap(ROOT, a, 2 * PAGE));
    CHECK_EQ(num_mappings(vmo), 0);
    /* Unmapping again finds nothing and is fine. */
    CHECK_OK(zx_vmar_unmap(ROOT, a, 2 * PAGE));
    /* The address can be mapped again. */
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t b = 0;
    CHECK_OK(zx_vmar_map(r, RW | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &b));
    CHECK_OK(zx_vmar_unmap(r, b, PAGE));
    CHECK_OK(zx_vmar_map(r, RW | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &b));
    CHECK_EQ(b, base);
    CHECK_EQ(ptr(b)[0], 1);
}

static void vmar_unmap_middle_splits_the_mapping(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "0", 0, 1));
    CHECK_OK(zx_vmo_write(vmo, "2", 2 * PAGE, 1));
    NEW_MAP(a, vmo, ZX_VM_PERM_READ, 3 * PAGE);
    CHECK_OK(zx_vmar_unmap(ROOT, a + PAGE, PAGE));
    /* Both ends still map their own pages of the VMO. */
    CHECK_EQ(ptr(a)[0], '0');
    CHECK_EQ(ptr(a + 2 * PAGE)[0], '2');
    CHECK_EQ(num_mappings(vmo), 2);
    /* The hole can take a new mapping. */
    zx_vaddr_t h = 0;
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, a + PAGE - 0x1000000, vmo,
                         2 * PAGE, PAGE, &h));
    CHECK_EQ(h, a + PAGE);
    CHECK_EQ(ptr(h)[0], '2');
}

static void vmar_unmap_bad_ranges_are_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_MAP(a, vmo, ZX_VM_PERM_READ, PAGE);
    CHECK_ST(zx_vmar_unmap(ROOT, a + 1, PAGE), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_unmap(ROOT, a, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_unmap(ROOT, 0x1000, PAGE), ZX_ERR_INVALID_ARGS); /* below the root */
    CHECK_ST(zx_vmar_unmap(ROOT, 0xffff000000000000ull, PAGE), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(num_mappings(vmo), 1);
    /* Part of a sub-region. */
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW, 4 * PAGE, &base);
    CHECK_HELPER();
    CHECK_ST(zx_vmar_unmap(ROOT, base + PAGE, PAGE), ZX_ERR_INVALID_ARGS);
    /* Outside a sub-region, through its handle. */
    CHECK_ST(zx_vmar_unmap(r, base + 4 * PAGE, PAGE), ZX_ERR_INVALID_ARGS);
}

static void vmar_unmap_destroys_regions_entirely_inside(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t outer = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 16 * PAGE, &base);
    CHECK_HELPER();
    zx_handle_t inner = ZX_HANDLE_INVALID;
    zx_vaddr_t ia = 0, m = 0;
    CHECK_OK(zx_vmar_allocate(outer, CAN_RW | ZX_VM_SPECIFIC, 4 * PAGE, 4 * PAGE, &inner, &ia));
    t_track(inner);
    CHECK_OK(zx_vmar_map(inner, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &m));
    CHECK_EQ(num_mappings(vmo), 1);
    CHECK_OK(zx_vmar_unmap(outer, base, 16 * PAGE));
    CHECK_EQ(num_mappings(vmo), 0);
    CHECK_ST(zx_vmar_map(inner, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &m), ZX_ERR_BAD_STATE);
    /* The outer region itself lives on. */
    CHECK_OK(zx_vmar_map(outer, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 4 * PAGE, vmo, 0, PAGE, &m));
    CHECK_EQ(m, base + 4 * PAGE);
}

/* ---- zx_vmar_protect ---------------------------------------------------------------------- */

static void vmar_protect_cannot_exceed_map_time_rights(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(ro, vmo, ZX_RIGHT_READ | ZX_RIGHT_MAP);
    zx_vaddr_t a = 0;
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ, 0, ro, 0, PAGE, &a));
    t_track_map(a, PAGE);
    CHECK_ST(zx_vmar_protect(ROOT, RW, a, PAGE), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmar_protect(ROOT, ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE, a, PAGE),
             ZX_ERR_ACCESS_DENIED);
    /* Keeping (or lowering) the permissions is fine. */
    CHECK_OK(zx_vmar_protect(ROOT, ZX_VM_PERM_READ, a, PAGE));
    CHECK_EQ(ptr(a)[0], 0);
}

static void vmar_protect_write_and_execute_is_refused(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_MAP(a, vmo, RW, PAGE);
    CHECK_FAILS(zx_vmar_protect(ROOT, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE, a,
                                PAGE));
    /* Still writable as before. */
    ptr(a)[0] = 9;
    CHECK_EQ(ptr(a)[0], 9);
}

static void vmar_protect_bad_arguments(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_MAP(a, vmo, RW, PAGE);
    CHECK_ST(zx_vmar_protect(ROOT, ZX_VM_PERM_WRITE, a, PAGE), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_protect(ROOT, ZX_VM_PERM_READ, a + 1, PAGE), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_protect(ROOT, ZX_VM_PERM_READ, a, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_protect(ROOT, ZX_VM_PERM_READ | (1u << 15), a, PAGE), ZX_ERR_INVALID_ARGS);
    /* Unmapped pages in the range. */
    zx_vaddr_t hole = t_unmapped_addr();
    CHECK_HELPER();
    CHECK_ST2(zx_vmar_protect(ROOT, ZX_VM_PERM_READ, hole, PAGE), ZX_ERR_INVALID_ARGS,
              ZX_ERR_NOT_FOUND);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 4 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t m = 0;
    CHECK_OK(zx_vmar_map(r, RW | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &m));
    CHECK_ST(zx_vmar_protect(r, ZX_VM_PERM_READ, base, 2 * PAGE), ZX_ERR_NOT_FOUND);
    CHECK_ST(zx_vmar_protect(r, ZX_VM_PERM_READ, base + 2 * PAGE, PAGE), ZX_ERR_NOT_FOUND);
    /* Failing calls changed nothing: still writable. */
    ptr(a)[1] = 7;
    ptr(m)[2] = 8;
    CHECK_EQ(ptr(a)[2], 8);
}

/* ---- zx_vmar_allocate / zx_vmar_destroy ----------------------------------------------------- */

static void vmar_allocate_gives_a_region_inside_the_parent(void) {
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 64 * PAGE, &base);
    CHECK_HELPER();
    CHECK_EQ(base & (PAGE - 1), 0);
    zx_info_vmar_t info;
    size_t actual = 0, avail = 0;
    CHECK_OK(zx_object_get_info(r, ZX_INFO_VMAR, &info, sizeof(info), &actual, &avail));
    CHECK_EQ(info.base, base);
    CHECK_EQ(info.len, 64 * PAGE);
    zx_info_handle_basic_t b;
    t_basic(r, &b);
    CHECK_HELPER();
    CHECK_EQ(b.type, ZX_OBJ_TYPE_VMAR);
    CHECK_EQ(b.rights, ZX_DEFAULT_VMAR_RIGHTS | ZX_RIGHT_READ | ZX_RIGHT_WRITE);
    /* Nested, at a specific offset. */
    zx_handle_t inner = ZX_HANDLE_INVALID;
    zx_vaddr_t ia = 0;
    CHECK_OK(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC, 8 * PAGE, 4 * PAGE, &inner,
                              &ia));
    t_track(inner);
    CHECK_EQ(ia, base + 8 * PAGE);
    CHECK_EQ(t_rights(inner), ZX_DEFAULT_VMAR_RIGHTS | ZX_RIGHT_READ);
    /* The parent's space there is taken. */
    NEW_VMO(vmo, PAGE, 0);
    zx_vaddr_t m = 0;
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 9 * PAGE, vmo, 0, PAGE, &m),
             ZX_ERR_NO_MEMORY);
    zx_handle_t again = ZX_HANDLE_INVALID;
    CHECK_ST(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC, 10 * PAGE, 4 * PAGE,
                              &again, &ia),
             ZX_ERR_NO_MEMORY);
}

static void vmar_allocate_capabilities_cannot_exceed_the_parent(void) {
    zx_vaddr_t base = 0;
    zx_handle_t ro = region(ZX_VM_CAN_MAP_READ, 16 * PAGE, &base);
    CHECK_HELPER();
    zx_handle_t child = ZX_HANDLE_INVALID;
    zx_vaddr_t a = 0;
    CHECK_ST(zx_vmar_allocate(ro, ZX_VM_CAN_MAP_READ | ZX_VM_CAN_MAP_WRITE, 0, 4 * PAGE, &child,
                              &a),
             ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmar_allocate(ro, ZX_VM_CAN_MAP_EXECUTE, 0, 4 * PAGE, &child, &a),
             ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_vmar_allocate(ro, ZX_VM_CAN_MAP_READ, 0, 4 * PAGE, &child, &a));
    t_track(child);
}

static void vmar_allocate_bad_sizes_are_invalid_args(void) {
    zx_handle_t child = ZX_HANDLE_INVALID;
    zx_vaddr_t a = 0;
    CHECK_ST(zx_vmar_allocate(ROOT, ZX_VM_CAN_MAP_READ, 0, 0, &child, &a), ZX_ERR_INVALID_ARGS);
    CHECK_ST2(zx_vmar_allocate(ROOT, ZX_VM_CAN_MAP_READ, 0, PAGE + 1, &child, &a),
              ZX_ERR_INVALID_ARGS, ZX_OK);
    if (child != ZX_HANDLE_INVALID) t_track_vmar(child);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 8 * PAGE, &base);
    CHECK_HELPER();
    CHECK_ST(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC, 6 * PAGE, 4 * PAGE, &child,
                              &a),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ | ZX_VM_SPECIFIC, 100, PAGE, &child, &a),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ, PAGE, PAGE, &child, &a),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ, 0, 16 * PAGE, &child, &a),
             ZX_ERR_NO_MEMORY);
}

static void vmar_destroy_unmaps_everything_and_rejects_later_use(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    zx_vaddr_t base = 0;
    zx_handle_t r = region(CAN_RW | ZX_VM_CAN_MAP_SPECIFIC, 16 * PAGE, &base);
    CHECK_HELPER();
    zx_vaddr_t m1 = 0, m2 = 0, ia = 0;
    CHECK_OK(zx_vmar_map(r, RW, 0, vmo, 0, PAGE, &m1));
    zx_handle_t inner = ZX_HANDLE_INVALID;
    CHECK_OK(zx_vmar_allocate(r, CAN_RW, 0, 4 * PAGE, &inner, &ia));
    t_track(inner);
    CHECK_OK(zx_vmar_map(inner, RW, 0, vmo, 0, 2 * PAGE, &m2));
    ptr(m1)[0] = 1;
    ptr(m2)[1] = 2;
    CHECK_EQ(num_mappings(vmo), 2);
    CHECK_OK(zx_vmar_destroy(r));
    CHECK_EQ(num_mappings(vmo), 0);
    zx_vaddr_t a = 0;
    zx_handle_t h = ZX_HANDLE_INVALID;
    CHECK_ST(zx_vmar_map(r, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &a), ZX_ERR_BAD_STATE);
    CHECK_ST(zx_vmar_allocate(r, ZX_VM_CAN_MAP_READ, 0, PAGE, &h, &a), ZX_ERR_BAD_STATE);
    CHECK_ST(zx_vmar_destroy(r), ZX_ERR_BAD_STATE);
    /* Nested regions are destroyed too. */
    CHECK_ST(zx_vmar_map(inner, ZX_VM_PERM_READ, 0, vmo, 0, PAGE, &a), ZX_ERR_BAD_STATE);
    /* The handles themselves stay valid. */
    CHECK(t_handle_valid(r));
    /* The space is free again in the root. */
    CHECK_OK(zx_vmar_map(ROOT, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, base - 0x1000000, vmo, 0,
                         4 * PAGE, &a));
    t_track_map(a, 4 * PAGE);
    CHECK_EQ(a, base);
    CHECK_EQ(ptr(a)[0], 1);
}

static const t_case k_cases[] = {
    T_CASE(vmar_map_writes_are_visible_through_vmo_read_and_back),
    T_CASE(vmar_map_without_map_right_is_access_denied),
    T_CASE(vmar_map_write_without_read_is_invalid_args),
    T_CASE(vmar_map_permissions_need_vmo_rights),
    T_CASE(vmar_map_write_and_execute_together_is_refused),
    T_CASE(vmar_map_len_zero_is_invalid_args),
    T_CASE(vmar_map_unaligned_offsets_are_invalid_args),
    T_CASE(vmar_map_len_rounds_up_to_page),
    T_CASE(vmar_map_specific_overlap_is_no_memory),
    T_CASE(vmar_map_specific_outside_region_is_invalid_args),
    T_CASE(vmar_map_without_room_is_no_memory),
    T_CASE(vmar_map_respects_region_capabilities),
    T_CASE(vmar_map_align_option_aligns_the_address),
    T_CASE(vmar_map_require_non_resizable_rejects_resizable_vmo),
    T_CASE(vmar_map_keeps_the_vmo_alive_after_handle_close),
    T_CASE(vmar_map_faults_pages_in_lazily),
    T_CASE(vmar_map_clone_write_fault_copies_the_page),
    T_CASE(vmar_map_clone_mapping_sees_parent_later_writes),
    T_CASE(vmar_map_snapshot_is_isolated_from_existing_writable_mappings),
    T_CASE(vmar_map_slice_shares_pages_with_parent_mapping),
    T_CASE(vmar_map_handles_must_have_the_right_types),
    T_CASE(vmar_map_shows_decommit_and_zero),
    T_CASE(vmar_map_clone_mapping_follows_the_clones_own_copy),
    T_CASE(vmar_map_clone_mapping_shows_parent_decommit),
    T_CASE(vmar_map_specific_overwrite_replaces_mappings),
    T_CASE(vmar_map_range_populates_without_committing),
    T_CASE(vmar_map_kernel_copies_through_a_mapping_of_the_same_vmo),
    T_CASE(vmar_map_kernel_copy_into_a_clone_mapping_copies_on_write),
    T_CASE(vmar_unmap_removes_the_mapping),
    T_CASE(vmar_unmap_middle_splits_the_mapping),
    T_CASE(vmar_unmap_bad_ranges_are_invalid_args),
    T_CASE(vmar_unmap_destroys_regions_entirely_inside),
    T_CASE(vmar_protect_cannot_exceed_map_time_rights),
    T_CASE(vmar_protect_write_and_execute_is_refused),
    T_CASE(vmar_protect_bad_arguments),
    T_CASE(vmar_allocate_gives_a_region_inside_the_parent),
    T_CASE(vmar_allocate_capabilities_cannot_exceed_the_parent),
    T_CASE(vmar_allocate_bad_sizes_are_invalid_args),
    T_CASE(vmar_destroy_unmaps_everything_and_rejects_later_use),
};

const t_group t_group_vmar = {k_cases, T_COUNT(k_cases)};

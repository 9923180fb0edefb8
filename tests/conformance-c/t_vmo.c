/* conformance-c: zx_vmo_create, zx_vmo_read/write, zx_vmo_get_size/set_size,
 * zx_vmo_op_range. */
#include "harness.h"

/* ---- zx_vmo_create --------------------------------------------------------------------- */

static void vmo_create_size_rounds_up_to_page(void) {
    static const uint64_t sizes[][2] = {
        {1, PAGE}, {PAGE - 1, PAGE}, {PAGE, PAGE}, {PAGE + 1, 2 * PAGE}, {3 * PAGE + 7, 4 * PAGE}};
    for (size_t i = 0; i < T_COUNT(sizes); i++) {
        t_context("sizes[i]", (uint64_t)sizes[i]);
        NEW_VMO(vmo, sizes[i][0], 0);
        uint64_t size = 0;
        CHECK_OK(zx_vmo_get_size(vmo, &size));
        CHECK_EQ(size, sizes[i][1]);
        zx_info_vmo_t info;
        t_vmo_info(vmo, &info);
        CHECK_HELPER();
        CHECK_EQ(info.size_bytes, sizes[i][1]);
        /* The rounded-up tail is part of the VMO. */
        CHECK_OK(zx_vmo_write(vmo, "z", sizes[i][1] - 1, 1));
    }
}

static void vmo_create_size_zero_is_valid(void) {
    NEW_VMO(vmo, 0, 0);
    uint64_t size = 1;
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, 0);
    uint8_t b[4];
    CHECK_OK(zx_vmo_read(vmo, b, 0, 0));
    CHECK_ST(zx_vmo_read(vmo, b, 0, 1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, b, 0, 1), ZX_ERR_OUT_OF_RANGE);
    NEW_VMO(fixed, 0, ZX_VMO_NON_RESIZABLE);
    CHECK_OK(zx_vmo_get_size(fixed, &size));
    CHECK_EQ(size, 0);
}

static void vmo_create_unknown_options_are_invalid_args(void) {
    static const uint32_t bad[] = {2, 3, 4, 0x80, 1u << 31, 0xffffffffu};
    zx_handle_t out = ZX_HANDLE_INVALID;
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("bad[i]", (uint64_t)bad[i]);
        CHECK_ST(zx_vmo_create(PAGE, bad[i], &out), ZX_ERR_INVALID_ARGS);
    }
    NEW_VMO(ok0, PAGE, 0);
    NEW_VMO(ok1, PAGE, ZX_VMO_NON_RESIZABLE);
}

static void vmo_create_resizable_flag_follows_options(void) {
    NEW_VMO(resizable, PAGE, 0);
    NEW_VMO(fixed, PAGE, ZX_VMO_NON_RESIZABLE);
    zx_info_vmo_t info;
    t_vmo_info(resizable, &info);
    CHECK_HELPER();
    CHECK((info.flags & ZX_INFO_VMO_RESIZABLE) != 0);
    CHECK((info.flags & ZX_INFO_VMO_TYPE_PAGED) != 0);
    CHECK((info.flags & ZX_INFO_VMO_IS_COW_CLONE) == 0);
    t_vmo_info(fixed, &info);
    CHECK_HELPER();
    CHECK((info.flags & ZX_INFO_VMO_RESIZABLE) == 0);
    CHECK_OK(zx_vmo_set_size(resizable, 3 * PAGE));
    CHECK_ST(zx_vmo_set_size(fixed, 3 * PAGE), ZX_ERR_UNAVAILABLE);
}

static void vmo_create_huge_size_is_out_of_range(void) {
    static const uint64_t bad[] = {
        ZX_MAX_VMO_SIZE + 1,
        ZX_MAX_VMO_SIZE + PAGE,
        0xfffffffffffff001ull, /* rounding up overflows */
        UINT64_MAX,
        UINT64_MAX - PAGE + 2,
        0xfffffffffffffffeull,
    };
    zx_handle_t out = ZX_HANDLE_INVALID;
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("size", bad[i]);
        CHECK_ST(zx_vmo_create(bad[i], 0, &out), ZX_ERR_OUT_OF_RANGE);
        CHECK_ST(zx_vmo_create(bad[i], ZX_VMO_NON_RESIZABLE, &out), ZX_ERR_OUT_OF_RANGE);
    }
}

static void vmo_create_max_size_is_lazy(void) {
    /* ZX_MAX_VMO_SIZE itself is allowed, and costs nothing until touched. */
    NEW_VMO(vmo, ZX_MAX_VMO_SIZE, 0);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, ZX_MAX_VMO_SIZE);
    CHECK_EQ(t_committed(vmo), 0);
    uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_OK(zx_vmo_write(vmo, b, ZX_MAX_VMO_SIZE - 8, 8));
    uint8_t r[8];
    CHECK_OK(zx_vmo_read(vmo, r, ZX_MAX_VMO_SIZE - 8, 8));
    CHECK(t_memcmp(b, r, 8) == 0);
    CHECK_EQ(t_committed(vmo), PAGE);
    CHECK_ST(zx_vmo_read(vmo, r, ZX_MAX_VMO_SIZE - 4, 8), ZX_ERR_OUT_OF_RANGE);
}

static void vmo_create_1gib_commits_nothing(void) {
    zx_info_kmem_stats_t before, after;
    bool have_kmem = t_kmem(&before);
    NEW_VMO(vmo, 1ull << 30, 0);
    CHECK_EQ(t_committed(vmo), 0);
    /* Reading a little of it commits nothing either. */
    CHECK_OK(zx_vmo_read(vmo, t_buf_a, (1ull << 29) + 5, 3 * PAGE));
    CHECK(t_all_bytes(t_buf_a, 0, 3 * PAGE));
    CHECK_EQ(t_committed(vmo), 0);
    if (have_kmem && t_kmem(&after)) {
        /* Far less than 1 GiB of free memory went away (allow 1 MiB of bookkeeping). */
        CHECK(t_pages_taken(&before, &after) <= 256);
    }
}

static void vmo_create_default_rights_are_the_eight_of_the_man_page(void) {
    NEW_VMO(vmo, PAGE, 0);
    zx_info_handle_basic_t b;
    t_basic(vmo, &b);
    CHECK_HELPER();
    CHECK_EQ(b.rights, 0xFF);
    CHECK_EQ(b.rights, ZX_DEFAULT_VMO_RIGHTS);
    CHECK_EQ(b.type, ZX_OBJ_TYPE_VMO);
    CHECK(b.koid != 0);
    CHECK_EQ(b.related_koid, 0);
    /* Low two bits of every handle are set. */
    CHECK_EQ(vmo & ZX_HANDLE_FIXED_BITS_MASK, 3);
}

static void vmo_create_pages_read_as_zero(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    t_memset(t_buf_a, 0x5a, 3 * PAGE);
    CHECK_OK(zx_vmo_read(vmo, t_buf_a, 0, 3 * PAGE));
    CHECK(t_all_bytes(t_buf_a, 0, 3 * PAGE));
}

static void vmo_create_bad_out_pointer_leaks_no_handle(void) {
    zx_info_kmem_stats_t before, after;
    bool have_kmem = t_kmem(&before);
    zx_vaddr_t hole = t_unmapped_addr();
    CHECK_HELPER();
    for (int i = 0; i < 2000; i++) {
        void* p = (i % 4 == 0)   ? NULL
                  : (i % 4 == 1) ? KERNEL_PTR
                  : (i % 4 == 2) ? LOW_PTR
                                 : (void*)hole;
        CHECK_ST(zx_vmo_create(PAGE, 0, (zx_handle_t*)p), ZX_ERR_INVALID_ARGS);
    }
    if (have_kmem && t_kmem(&after)) {
        /* 2000 leaked VMOs and handles would take far more than 64 KiB of kernel heap. */
        uint64_t used_before = before.total_heap_bytes - before.free_heap_bytes;
        uint64_t used_after = after.total_heap_bytes - after.free_heap_bytes;
        CHECK(used_after <= used_before + (64u << 10));
    }
    /* And creating still works and gives a working handle. */
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "ok", 0, 2));
}

/* ---- zx_vmo_read / zx_vmo_write ------------------------------------------------------------ */

static void vmo_write_then_read_round_trips_across_pages(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    for (size_t i = 0; i < 2 * PAGE; i++) t_buf_a[i] = (uint8_t)(i * 7 + 1);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, PAGE / 2, 2 * PAGE));
    t_memset(t_buf_b, 0, 3 * PAGE);
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 3 * PAGE));
    CHECK(t_all_bytes(t_buf_b, 0, PAGE / 2));
    CHECK(t_memcmp(t_buf_b + PAGE / 2, t_buf_a, 2 * PAGE) == 0);
    CHECK(t_all_bytes(t_buf_b + PAGE / 2 + 2 * PAGE, 0, PAGE / 2));
    /* Unaligned small pieces. */
    CHECK_OK(zx_vmo_write(vmo, "hello", PAGE - 2, 5));
    char r[5];
    CHECK_OK(zx_vmo_read(vmo, r, PAGE - 2, 5));
    CHECK(t_memcmp(r, "hello", 5) == 0);
}

static void vmo_write_beyond_size_is_out_of_range(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_OK(zx_vmo_write(vmo, "A", PAGE - 1, 1));
    CHECK_ST(zx_vmo_write(vmo, "BC", PAGE - 1, 2), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, "B", PAGE, 1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, "B", 1ull << 40, 1), ZX_ERR_OUT_OF_RANGE);
    /* Never a partial transfer: the last byte is still 'A'. */
    char r = 0;
    CHECK_OK(zx_vmo_read(vmo, &r, PAGE - 1, 1));
    CHECK_EQ(r, 'A');
    CHECK_EQ(t_committed(vmo), PAGE);
}

static void vmo_read_beyond_size_is_out_of_range(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    t_memset(t_buf_a, 0x77, 8);
    CHECK_ST(zx_vmo_read(vmo, t_buf_a, 2 * PAGE - 4, 8), ZX_ERR_OUT_OF_RANGE);
    /* Never a partial transfer: nothing was written to the buffer. */
    CHECK(t_all_bytes(t_buf_a, 0x77, 8));
    CHECK_ST(zx_vmo_read(vmo, t_buf_a, 2 * PAGE, 1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_read(vmo, t_buf_a, 0, 2 * PAGE + 1), ZX_ERR_OUT_OF_RANGE);
}

static void vmo_read_write_offset_overflow_is_out_of_range(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint8_t b[16];
    CHECK_ST(zx_vmo_read(vmo, b, UINT64_MAX, 1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_read(vmo, b, UINT64_MAX - 7, 16), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, b, UINT64_MAX, 1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, b, UINT64_MAX - 7, 16), ZX_ERR_OUT_OF_RANGE);
    CHECK_EQ(t_committed(vmo), 0);
}

static void vmo_zero_length_at_size_is_ok(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint8_t b[4];
    CHECK_OK(zx_vmo_read(vmo, b, PAGE, 0));
    CHECK_OK(zx_vmo_write(vmo, b, PAGE, 0));
    CHECK_OK(zx_vmo_read(vmo, b, 0, 0));
    /* Past the size, even empty transfers are out of range. */
    CHECK_ST(zx_vmo_read(vmo, b, PAGE + 1, 0), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_write(vmo, b, PAGE + 1, 0), ZX_ERR_OUT_OF_RANGE);
    CHECK_EQ(t_committed(vmo), 0);
}

static void vmo_read_without_read_right_is_access_denied(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(wo, vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_READ);
    uint8_t b[4];
    CHECK_ST(zx_vmo_read(wo, b, 0, 4), ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_vmo_write(wo, "abcd", 0, 4));
    /* Access is checked before the range. */
    CHECK_ST(zx_vmo_read(wo, b, 2 * PAGE, 4), ZX_ERR_ACCESS_DENIED);
}

static void vmo_write_without_write_right_is_access_denied(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(ro, vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    CHECK_ST(zx_vmo_write(ro, "abcd", 0, 4), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_write(ro, "abcd", 2 * PAGE, 4), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_write(ro, NULL, 0, 4), ZX_ERR_ACCESS_DENIED);
    uint8_t b[4];
    CHECK_OK(zx_vmo_read(ro, b, 0, 4));
    CHECK_EQ(t_committed(vmo), 0);
}

static void vmo_read_into_bad_buffer_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_vmo_read(vmo, NULL, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_read(vmo, KERNEL_PTR, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_read(vmo, LOW_PTR, 0, 4), ZX_ERR_INVALID_ARGS);
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    CHECK_ST(zx_vmo_read(vmo, (void*)ro, 0, 4), ZX_ERR_INVALID_ARGS);
}

static void vmo_write_from_bad_buffer_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_vmo_write(vmo, NULL, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_write(vmo, KERNEL_PTR, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_write(vmo, KERNEL_PTR2, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_write(vmo, LOW_PTR, 0, 4), ZX_ERR_INVALID_ARGS);
    zx_vaddr_t un = t_unmapped_addr();
    CHECK_HELPER();
    CHECK_ST(zx_vmo_write(vmo, (void*)un, 0, 4), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(t_committed(vmo), 0);
    /* Read-only memory is a fine source. */
    static const char k_ro[] = "read-only source";
    CHECK_OK(zx_vmo_write(vmo, k_ro, 0, sizeof(k_ro)));
    zx_vaddr_t ro = t_readonly_page();
    CHECK_HELPER();
    CHECK_OK(zx_vmo_write(vmo, (const void*)ro, 100, 64));
}

static void vmo_read_uncommitted_commits_nothing(void) {
    NEW_VMO(vmo, 8 * PAGE, 0);
    CHECK_OK(zx_vmo_read(vmo, t_buf_a, 0, 4 * PAGE));
    CHECK_OK(zx_vmo_read(vmo, t_buf_a, 4 * PAGE, 4 * PAGE));
    CHECK_EQ(t_committed(vmo), 0);
    CHECK_OK(zx_vmo_write(vmo, "x", 5 * PAGE + 9, 1));
    CHECK_EQ(t_committed(vmo), PAGE);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, PAGE - 1, 2));
    CHECK_EQ(t_committed(vmo), 3 * PAGE);
}

/* ---- zx_vmo_get_size / zx_vmo_set_size ---------------------------------------------------- */

static void vmo_get_size_needs_no_right(void) {
    NEW_VMO(vmo, 5 * PAGE, 0);
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    CHECK_EQ(t_rights(none), 0);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(none, &size));
    CHECK_EQ(size, 5 * PAGE);
}

static void vmo_get_size_bad_out_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_vmo_get_size(vmo, NULL), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_get_size(vmo, (uint64_t*)KERNEL_PTR), ZX_ERR_INVALID_ARGS);
    NEW_CHANNEL(a, b);
    uint64_t size;
    CHECK_ST(zx_vmo_get_size(a, &size), ZX_ERR_WRONG_TYPE);
    (void)b;
}

static void vmo_set_size_non_resizable_is_unavailable(void) {
    NEW_VMO(vmo, 2 * PAGE, ZX_VMO_NON_RESIZABLE);
    CHECK_ST(zx_vmo_set_size(vmo, PAGE), ZX_ERR_UNAVAILABLE);
    CHECK_ST(zx_vmo_set_size(vmo, 4 * PAGE), ZX_ERR_UNAVAILABLE);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, 2 * PAGE);
}

static void vmo_set_size_needs_write_right(void) {
    NEW_VMO(vmo, PAGE, 0);
    NEW_DUP(ro, vmo, ZX_RIGHT_READ);
    CHECK_ST(zx_vmo_set_size(ro, 2 * PAGE), ZX_ERR_ACCESS_DENIED);
    /* Rights before arguments. */
    CHECK_ST(zx_vmo_set_size(ro, UINT64_MAX), ZX_ERR_ACCESS_DENIED);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, PAGE);
}

static void vmo_set_size_rounds_up_and_rejects_huge(void) {
    NEW_VMO(vmo, PAGE, 0);
    uint64_t size = 0;
    CHECK_OK(zx_vmo_set_size(vmo, 2 * PAGE + 1));
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, 3 * PAGE);
    CHECK_ST(zx_vmo_set_size(vmo, UINT64_MAX), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_set_size(vmo, ZX_MAX_VMO_SIZE + 1), ZX_ERR_OUT_OF_RANGE);
    CHECK_ST(zx_vmo_set_size(vmo, 0xfffffffffffff001ull), ZX_ERR_OUT_OF_RANGE);
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, 3 * PAGE);
    CHECK_OK(zx_vmo_set_size(vmo, 0));
    CHECK_OK(zx_vmo_get_size(vmo, &size));
    CHECK_EQ(size, 0);
}

static void vmo_set_size_grow_exposes_zeros_not_old_data(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    t_memset(t_buf_a, 0xee, 3 * PAGE);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 0, 3 * PAGE));
    CHECK_OK(zx_vmo_set_size(vmo, PAGE + 100)); /* rounds to 2 pages */
    CHECK_OK(zx_vmo_set_size(vmo, 3 * PAGE));
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 3 * PAGE));
    CHECK(t_all_bytes(t_buf_b, 0xee, 2 * PAGE));
    CHECK(t_all_bytes(t_buf_b + 2 * PAGE, 0, PAGE));
    /* Shrinking into a page and back: the dropped page comes back as zeros. */
    CHECK_OK(zx_vmo_set_size(vmo, PAGE));
    CHECK_OK(zx_vmo_set_size(vmo, 2 * PAGE));
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 2 * PAGE));
    CHECK(t_all_bytes(t_buf_b, 0xee, PAGE));
    CHECK(t_all_bytes(t_buf_b + PAGE, 0, PAGE));
}

static void vmo_set_size_shrink_frees_pages(void) {
    NEW_VMO(vmo, 8 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 8 * PAGE, NULL, 0));
    CHECK_EQ(t_committed(vmo), 8 * PAGE);
    CHECK_OK(zx_vmo_set_size(vmo, 3 * PAGE));
    CHECK_EQ(t_committed(vmo), 3 * PAGE);
    CHECK_ST(zx_vmo_read(vmo, t_buf_a, 3 * PAGE, 1), ZX_ERR_OUT_OF_RANGE);
}

/* ---- zx_vmo_op_range ------------------------------------------------------------------- */

static void vmo_op_commit_commits_whole_pages(void) {
    NEW_VMO(vmo, 8 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 100, 10, NULL, 0));
    CHECK_EQ(t_committed(vmo), PAGE);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 2 * PAGE - 1, 2, NULL, 0));
    CHECK_EQ(t_committed(vmo), 3 * PAGE);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 8 * PAGE, NULL, 0));
    CHECK_EQ(t_committed(vmo), 8 * PAGE);
    /* Committed pages read zero. */
    CHECK_OK(zx_vmo_read(vmo, t_buf_a, 0, 4 * PAGE));
    CHECK(t_all_bytes(t_buf_a, 0, 4 * PAGE));
}

static void vmo_op_decommit_frees_and_reads_zero(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    t_memset(t_buf_a, 0x3c, 4 * PAGE);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 0, 4 * PAGE));
    CHECK_EQ(t_committed(vmo), 4 * PAGE);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, PAGE, 2 * PAGE, NULL, 0));
    CHECK_EQ(t_committed(vmo), 2 * PAGE);
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 4 * PAGE));
    CHECK(t_all_bytes(t_buf_b, 0x3c, PAGE));
    CHECK(t_all_bytes(t_buf_b + PAGE, 0, 2 * PAGE));
    CHECK(t_all_bytes(t_buf_b + 3 * PAGE, 0x3c, PAGE));
}

static void vmo_op_decommit_unaligned_is_invalid_args(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 4 * PAGE, NULL, 0));
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 1, PAGE, NULL, 0), ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PAGE + 1, NULL, 0),
             ZX_ERR_INVALID_ARGS);
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, PAGE, 17, NULL, 0), ZX_ERR_INVALID_ARGS);
    CHECK_EQ(t_committed(vmo), 4 * PAGE);
}

static void vmo_op_zero_zeroes_exactly_the_range(void) {
    NEW_VMO(vmo, 4 * PAGE, 0);
    t_memset(t_buf_a, 0xa5, 4 * PAGE);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 0, 4 * PAGE));
    /* Bytes 100 .. 100 + 2*PAGE: pages 0 and 2 partly, page 1 wholly. */
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_ZERO, 100, 2 * PAGE, NULL, 0));
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 4 * PAGE));
    CHECK(t_all_bytes(t_buf_b, 0xa5, 100));
    CHECK(t_all_bytes(t_buf_b + 100, 0, 2 * PAGE));
    CHECK(t_all_bytes(t_buf_b + 100 + 2 * PAGE, 0xa5, 2 * PAGE - 100));
    /* The whole page it covered was freed. */
    CHECK_EQ(t_committed(vmo), 3 * PAGE);
    /* Size 0 is a no-op. */
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_ZERO, 5, 0, NULL, 0));
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 8));
    CHECK(t_all_bytes(t_buf_b, 0xa5, 8));
}

static void vmo_op_lock_and_unlock_are_not_supported(void) {
    NEW_VMO(vmo, PAGE, 0);
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_LOCK, 0, PAGE, NULL, 0), ZX_ERR_NOT_SUPPORTED);
    CHECK_ST(zx_vmo_op_range(vmo, ZX_VMO_OP_UNLOCK, 0, PAGE, NULL, 0), ZX_ERR_NOT_SUPPORTED);
}

static void vmo_op_unknown_op_is_invalid_args(void) {
    NEW_VMO(vmo, PAGE, 0);
    static const uint32_t bad[] = {0, 5, 11, 12, 100, 0xffffffffu};
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        t_context("bad[i]", (uint64_t)bad[i]);
        CHECK_ST(zx_vmo_op_range(vmo, bad[i], 0, PAGE, NULL, 0), ZX_ERR_INVALID_ARGS);
    }
}

static void vmo_op_range_past_size_is_out_of_range(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    static const uint32_t ops[] = {ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_ZERO,
                                   ZX_VMO_OP_CACHE_CLEAN, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
                                   ZX_VMO_OP_CACHE_SYNC};
    for (size_t i = 0; i < T_COUNT(ops); i++) {
        t_context("ops[i]", (uint64_t)ops[i]);
        CHECK_ST(zx_vmo_op_range(vmo, ops[i], 2 * PAGE, PAGE, NULL, 0), ZX_ERR_OUT_OF_RANGE);
        CHECK_ST(zx_vmo_op_range(vmo, ops[i], PAGE, 2 * PAGE, NULL, 0), ZX_ERR_OUT_OF_RANGE);
        CHECK_ST(zx_vmo_op_range(vmo, ops[i], UINT64_MAX & ~0xfffull, 2 * PAGE, NULL, 0),
                 ZX_ERR_OUT_OF_RANGE);
    }
    CHECK_EQ(t_committed(vmo), 0);
}

static void vmo_op_size_zero_rules(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 0, NULL, 0));
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 0, NULL, 0));
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_ZERO, 0, 0, NULL, 0));
    CHECK_EQ(t_committed(vmo), 0);
    static const uint32_t cache_ops[] = {ZX_VMO_OP_CACHE_SYNC, ZX_VMO_OP_CACHE_INVALIDATE,
                                         ZX_VMO_OP_CACHE_CLEAN,
                                         ZX_VMO_OP_CACHE_CLEAN_INVALIDATE};
    for (size_t i = 0; i < T_COUNT(cache_ops); i++) {
        t_context("cache_ops[i]", (uint64_t)cache_ops[i]);
        CHECK_ST(zx_vmo_op_range(vmo, cache_ops[i], 0, 0, NULL, 0), ZX_ERR_INVALID_ARGS);
    }
}

static void vmo_op_rights_are_checked(void) {
    NEW_VMO(vmo, 2 * PAGE, 0);
    NEW_DUP(ro, vmo, ZX_RIGHT_READ);
    NEW_DUP(wo, vmo, ZX_RIGHT_WRITE);
    NEW_DUP(none, vmo, ZX_RIGHT_NONE);
    CHECK_ST(zx_vmo_op_range(ro, ZX_VMO_OP_COMMIT, 0, PAGE, NULL, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_op_range(ro, ZX_VMO_OP_DECOMMIT, 0, PAGE, NULL, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_op_range(ro, ZX_VMO_OP_ZERO, 0, PAGE, NULL, 0), ZX_ERR_ACCESS_DENIED);
    CHECK_ST(zx_vmo_op_range(ro, ZX_VMO_OP_CACHE_INVALIDATE, 0, PAGE, NULL, 0),
             ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_vmo_op_range(ro, ZX_VMO_OP_CACHE_CLEAN, 0, PAGE, NULL, 0));
    CHECK_OK(zx_vmo_op_range(ro, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 0, PAGE, NULL, 0));
    CHECK_OK(zx_vmo_op_range(ro, ZX_VMO_OP_CACHE_SYNC, 0, PAGE, NULL, 0));
    CHECK_ST(zx_vmo_op_range(wo, ZX_VMO_OP_CACHE_CLEAN, 0, PAGE, NULL, 0),
             ZX_ERR_ACCESS_DENIED);
    CHECK_OK(zx_vmo_op_range(wo, ZX_VMO_OP_COMMIT, 0, PAGE, NULL, 0));
    CHECK_OK(zx_vmo_op_range(wo, ZX_VMO_OP_ZERO, 0, 10, NULL, 0));
    CHECK_OK(zx_vmo_op_range(wo, ZX_VMO_OP_DECOMMIT, 0, PAGE, NULL, 0));
    static const uint32_t all[] = {ZX_VMO_OP_COMMIT, ZX_VMO_OP_DECOMMIT, ZX_VMO_OP_ZERO,
                                   ZX_VMO_OP_CACHE_SYNC, ZX_VMO_OP_CACHE_INVALIDATE,
                                   ZX_VMO_OP_CACHE_CLEAN, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE};
    for (size_t i = 0; i < T_COUNT(all); i++) {
        t_context("all[i]", (uint64_t)all[i]);
        CHECK_ST(zx_vmo_op_range(none, all[i], 0, PAGE, NULL, 0), ZX_ERR_ACCESS_DENIED);
    }
    /* Rights before arguments: a range far out of bounds still says ACCESS_DENIED. */
    CHECK_ST(zx_vmo_op_range(ro, ZX_VMO_OP_COMMIT, 1ull << 50, PAGE, NULL, 0),
             ZX_ERR_ACCESS_DENIED);
    /* Handle type before rights. */
    NEW_CHANNEL(a, b);
    CHECK_ST(zx_vmo_op_range(a, ZX_VMO_OP_COMMIT, 0, PAGE, NULL, 0), ZX_ERR_WRONG_TYPE);
    (void)b;
}

static void vmo_op_cache_ops_keep_the_data(void) {
    NEW_VMO(vmo, 3 * PAGE, 0);
    for (size_t i = 0; i < 2 * PAGE; i++) t_buf_a[i] = (uint8_t)(i ^ 0x5a);
    CHECK_OK(zx_vmo_write(vmo, t_buf_a, 0, 2 * PAGE));
    /* Page 2 is not committed: cache ops skip it. */
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_CACHE_CLEAN, 0, 3 * PAGE, NULL, 0));
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 1, 2 * PAGE, NULL, 0));
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_CACHE_SYNC, 5, 100, NULL, 0));
    /* Invalidate after a clean loses nothing. */
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_CACHE_CLEAN, 0, 2 * PAGE, NULL, 0));
    CHECK_OK(zx_vmo_op_range(vmo, ZX_VMO_OP_CACHE_INVALIDATE, 0, 2 * PAGE, NULL, 0));
    CHECK_OK(zx_vmo_read(vmo, t_buf_b, 0, 2 * PAGE));
    CHECK(t_memcmp(t_buf_a, t_buf_b, 2 * PAGE) == 0);
    CHECK_EQ(t_committed(vmo), 2 * PAGE);
}

static const t_case k_cases[] = {
    T_CASE(vmo_create_size_rounds_up_to_page),
    T_CASE(vmo_create_size_zero_is_valid),
    T_CASE(vmo_create_unknown_options_are_invalid_args),
    T_CASE(vmo_create_resizable_flag_follows_options),
    T_CASE(vmo_create_huge_size_is_out_of_range),
    T_CASE(vmo_create_max_size_is_lazy),
    T_CASE(vmo_create_1gib_commits_nothing),
    T_CASE(vmo_create_default_rights_are_the_eight_of_the_man_page),
    T_CASE(vmo_create_pages_read_as_zero),
    T_CASE(vmo_create_bad_out_pointer_leaks_no_handle),
    T_CASE(vmo_write_then_read_round_trips_across_pages),
    T_CASE(vmo_write_beyond_size_is_out_of_range),
    T_CASE(vmo_read_beyond_size_is_out_of_range),
    T_CASE(vmo_read_write_offset_overflow_is_out_of_range),
    T_CASE(vmo_zero_length_at_size_is_ok),
    T_CASE(vmo_read_without_read_right_is_access_denied),
    T_CASE(vmo_write_without_write_right_is_access_denied),
    T_CASE(vmo_read_into_bad_buffer_is_invalid_args),
    T_CASE(vmo_write_from_bad_buffer_is_invalid_args),
    T_CASE(vmo_read_uncommitted_commits_nothing),
    T_CASE(vmo_get_size_needs_no_right),
    T_CASE(vmo_get_size_bad_out_is_invalid_args),
    T_CASE(vmo_set_size_non_resizable_is_unavailable),
    T_CASE(vmo_set_size_needs_write_right),
    T_CASE(vmo_set_size_rounds_up_and_rejects_huge),
    T_CASE(vmo_set_size_grow_exposes_zeros_not_old_data),
    T_CASE(vmo_set_size_shrink_frees_pages),
    T_CASE(vmo_op_commit_commits_whole_pages),
    T_CASE(vmo_op_decommit_frees_and_reads_zero),
    T_CASE(vmo_op_decommit_unaligned_is_invalid_args),
    T_CASE(vmo_op_zero_zeroes_exactly_the_range),
    T_CASE(vmo_op_lock_and_unlock_are_not_supported),
    T_CASE(vmo_op_unknown_op_is_invalid_args),
    T_CASE(vmo_op_range_past_size_is_out_of_range),
    T_CASE(vmo_op_size_zero_rules),
    T_CASE(vmo_op_rights_are_checked),
    T_CASE(vmo_op_cache_ops_keep_the_data),
};

const t_group t_group_vmo = {k_cases, T_COUNT(k_cases)};

//! The kernel's address space (TTBR1) and its final page tables.
//!
//! Layout of the upper half:
//! - `LINEAR_BASE + pa`: RAM (RW, never executable) and, at the same offset, device
//!   registers (Device-nGnRE, never executable), so one `phys_to_virt` serves both. The RAM
//!   given leaves out the kernel image (so text and rodata have no writable alias) and the
//!   device tree's `no-map` reserved ranges: those physical addresses have no linear address.
//! - `KERNEL_VBASE`: the kernel image: text RX, rodata R, data and bss RW, with an unmapped
//!   guard page below the boot stack.
//! - `BOOT_DTB_WINDOW`: the boot tables' 2 MiB window onto the DTB; gone in the final tables.

use aarch64_paging::descriptor::{El1Attributes, PhysicalAddress};
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion, PageTable, Translation, VaRange};
use aarch64_paging::{MapError, Mapping};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const PAGE_SIZE: usize = 4096;
pub const KERNEL_VBASE: usize = 0xffff_ffff_8000_0000;
pub const LINEAR_BASE: usize = 0xffff_0000_0000_0000;
pub const BOOT_DTB_WINDOW: usize = 0xffff_ffff_c000_0000;
/// Size of the boot DTB window (the largest DTB the Linux boot protocol allows).
pub const BOOT_DTB_WINDOW_SIZE: usize = 2 << 20;
/// Thread kernel stacks: slot `i` is `KERNEL_STACKS_BASE + i * KERNEL_STACK_SLOT`; its lower
/// 64 KiB hold the stack, the upper half stays unmapped, so the page below every stack is a
/// guard page and every stack is 64 KiB aligned to 128 KiB (the vectors' overflow check).
pub const KERNEL_STACKS_BASE: usize = 0xffff_fe00_0000_0000;
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
pub const KERNEL_STACK_SLOT: usize = 128 * 1024;
/// Slots in the region (64 GiB of address space).
pub const KERNEL_STACK_SLOTS: usize = 1 << 19;

const NORMAL: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED);
const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::PXN)
    .union(El1Attributes::UXN);
const KERNEL_TEXT: El1Attributes = NORMAL
    .union(El1Attributes::READ_ONLY)
    .union(El1Attributes::UXN);
const KERNEL_RODATA: El1Attributes = NORMAL
    .union(El1Attributes::READ_ONLY)
    .union(El1Attributes::PXN)
    .union(El1Attributes::UXN);
const KERNEL_RW: El1Attributes = NORMAL.union(El1Attributes::PXN).union(El1Attributes::UXN);

/// Physical address the image was loaded at, set once by `kernel_entry`.
static IMAGE_PA: AtomicU64 = AtomicU64::new(0);

extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    static __boot_stack_guard: u8;
}

fn symbol_address(symbol: *const u8) -> usize {
    symbol as usize
}

/// Link-time addresses of the image's parts.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    pub start: usize,
    pub text_end: usize,
    pub rodata_end: usize,
    pub end: usize,
    pub stack_guard: usize,
}

pub fn image_layout() -> ImageLayout {
    ImageLayout {
        start: symbol_address(&raw const __image_start),
        text_end: symbol_address(&raw const __text_end),
        rodata_end: symbol_address(&raw const __rodata_end),
        end: symbol_address(&raw const __image_end),
        stack_guard: symbol_address(&raw const __boot_stack_guard),
    }
}

pub fn set_image_pa(pa: u64) {
    IMAGE_PA.store(pa, Ordering::Relaxed);
}

pub fn image_pa() -> u64 {
    IMAGE_PA.load(Ordering::Relaxed)
}

/// Virtual address of a physical address in the linear map (RAM and devices alike).
pub fn phys_to_virt(pa: u64) -> usize {
    LINEAR_BASE.wrapping_add(pa as usize)
}

/// Physical address of a kernel-image virtual address.
pub fn image_virt_to_phys(va: usize) -> u64 {
    (va - KERNEL_VBASE) as u64 + image_pa()
}

/// The physical address an EL1 read of `va` reaches through the current tables (`at s1e1r`),
/// or None when the stage 1 walk faults (nothing mapped there, or not readable at EL1).
pub fn translate_read(va: usize) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation only writes PAR_EL1, which nothing else holds across an
    // instruction; IRQs are masked so no handler's own `at` can come in between.
    unsafe {
        core::arch::asm!(
            "mrs {daif}, daif",
            "msr daifset, #2",
            "at s1e1r, {va}",
            "isb",
            "mrs {par}, par_el1",
            "msr daif, {daif}",
            va = in(reg) va,
            daif = out(reg) _,
            par = out(reg) par,
            options(nostack)
        );
    }
    // PAR_EL1.F (bit 0) says the walk faulted; PA[51:12] otherwise.
    (par & 1 == 0).then_some((par & 0x000f_ffff_ffff_f000) | (va & (PAGE_SIZE - 1)) as u64)
}

/// Page tables for the kernel's own mappings come from this arena in .bss: they are needed
/// before the page pool exists (the pool itself is reached through the linear map they
/// create).
const ARENA_PAGES: usize = 64;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[[u64; 512]; ARENA_PAGES]>);

// SAFETY: pages are handed out once each through the atomic bump index below, so no two
// users ever share one.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([[0; 512]; ARENA_PAGES]));
static ARENA_NEXT: AtomicUsize = AtomicUsize::new(0);
/// Where tables come from once the arena is used up (the page pool, set once after it
/// exists): returns the physical address of a zeroed page reachable through the linear map.
static TABLE_SOURCE: spin::Once<fn() -> Option<u64>> = spin::Once::new();

/// Lets kernel page tables grow from the page pool after boot (set once; later calls change
/// nothing).
pub fn set_table_source(source: fn() -> Option<u64>) {
    TABLE_SOURCE.call_once(|| source);
}

fn table_from_source() -> Option<u64> {
    TABLE_SOURCE.get().and_then(|source| source())
}

/// Allocates kernel page tables from the arena and finds them again through the image
/// mapping (arena pages) or the linear map (anything else).
pub struct KernelTranslation;

impl Translation<El1Attributes> for KernelTranslation {
    fn allocate_table(&mut self) -> (NonNull<PageTable<El1Attributes>>, PhysicalAddress) {
        let index = ARENA_NEXT.fetch_add(1, Ordering::Relaxed);
        if index >= ARENA_PAGES {
            // Callers check the pool has room before mapping (`map_kernel_stack`).
            let pa = table_from_source().expect("kernel page-table page");
            let table = NonNull::new(phys_to_virt(pa) as *mut PageTable<El1Attributes>)
                .expect("non-null linear address");
            return (table, PhysicalAddress(pa as usize));
        }
        let page = ARENA.0.get().cast::<[u64; 512]>().wrapping_add(index);
        let pa = image_virt_to_phys(page as usize);
        // The arena is zeroed .bss and each page is handed out once, so it is an empty table.
        let table = NonNull::new(page.cast::<PageTable<El1Attributes>>()).expect("non-null arena");
        (table, PhysicalAddress(pa as usize))
    }

    unsafe fn deallocate_table(&mut self, _page_table: NonNull<PageTable<El1Attributes>>) {
        // Kernel tables live as long as the kernel; splitting never frees arena pages here.
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<El1Attributes>> {
        let layout = image_layout();
        let image_start = image_pa() as usize;
        let va = if (image_start..image_start + (layout.end - layout.start)).contains(&pa.0) {
            layout.start + (pa.0 - image_start)
        } else {
            phys_to_virt(pa.0 as u64)
        };
        NonNull::new(va as *mut PageTable<El1Attributes>).expect("non-null table address")
    }
}

/// How many arena pages the kernel tables use (reported in the banner and tests).
pub fn table_pages_used() -> usize {
    ARENA_NEXT.load(Ordering::Relaxed).min(ARENA_PAGES)
}

/// What to map into the kernel half.
pub enum Region {
    /// RAM in the linear map: read-write, never executable. Callers leave out the kernel
    /// image, which `build` maps at `KERNEL_VBASE` with per-section permissions.
    Ram { pa: u64, size: u64 },
    /// Device registers in the linear map: Device-nGnRE, never executable.
    Device { pa: u64, size: u64 },
}

pub struct KernelTables {
    mapping: Mapping<KernelTranslation, El1And0>,
}

fn map(
    mapping: &mut Mapping<KernelTranslation, El1And0>,
    va: usize,
    pa: usize,
    size: usize,
    flags: El1Attributes,
) -> Result<(), MapError> {
    if size == 0 {
        return Ok(());
    }
    let start = va & !(PAGE_SIZE - 1);
    let pa = pa & !(PAGE_SIZE - 1);
    let end = va + size;
    mapping.map_range(
        &MemoryRegion::new(start, end),
        PhysicalAddress(pa),
        flags,
        Constraints::empty(),
    )
}

impl KernelTables {
    /// Builds the final kernel tables: the regions given, plus the kernel image with
    /// per-section permissions and its stack guard page left out.
    pub fn build(regions: &[Region]) -> Result<KernelTables, MapError> {
        let mut mapping =
            Mapping::with_asid_and_va_range(KernelTranslation, 0, 0, El1And0, VaRange::Upper);
        for region in regions {
            match *region {
                Region::Ram { pa, size } => map(
                    &mut mapping,
                    phys_to_virt(pa),
                    pa as usize,
                    size as usize,
                    KERNEL_RW,
                )?,
                Region::Device { pa, size } => map(
                    &mut mapping,
                    phys_to_virt(pa),
                    pa as usize,
                    size as usize,
                    DEVICE,
                )?,
            }
        }
        let image = image_layout();
        let pa_of = |va: usize| image_virt_to_phys(va) as usize;
        let sections = [
            (image.start, image.text_end, KERNEL_TEXT),
            (image.text_end, image.rodata_end, KERNEL_RODATA),
            (image.rodata_end, image.stack_guard, KERNEL_RW),
            (image.stack_guard + PAGE_SIZE, image.end, KERNEL_RW),
        ];
        for (start, end, flags) in sections {
            map(&mut mapping, start, pa_of(start), end - start, flags)?;
        }
        Ok(KernelTables { mapping })
    }

    /// Switches TTBR1 to these tables and turns TTBR0 walks off (no user space yet).
    ///
    /// # Safety
    /// The tables must map everything the kernel uses from now on (image, stack, devices it
    /// talks to) with the same physical addresses and memory types as before the switch.
    pub unsafe fn activate(&self) {
        // SAFETY: the caller guarantees the tables are complete and never dropped while
        // active. The image keeps its addresses, memory type and page
        // size, so switching without break-before-make only changes permissions.
        unsafe {
            self.mapping.activate();
            core::arch::asm!(
                "tlbi vmalle1",
                "dsb nsh",
                "isb",
                // TCR_EL1.EPD0: no walks through TTBR0 until a process exists.
                "mrs {tcr}, tcr_el1",
                "orr {tcr}, {tcr}, #(1 << 7)",
                "msr tcr_el1, {tcr}",
                "msr ttbr0_el1, xzr",
                "isb",
                "tlbi vmalle1",
                "dsb nsh",
                "isb",
                tcr = out(reg) _,
                options(nostack)
            );
        }
    }
}

/// The kernel's tables after boot, for mappings made later (thread stacks).
static KERNEL_TABLES: spin::Once<spin::Mutex<KernelTables>> = spin::Once::new();

/// The physical address of the final tables' root (TTBR1), set by [`install`].
static KERNEL_ROOT_PA: AtomicU64 = AtomicU64::new(0);

/// The physical address of the kernel tables' root, for CPUs that turn their MMU on later;
/// 0 before [`install`].
pub fn kernel_root_pa() -> u64 {
    KERNEL_ROOT_PA.load(Ordering::Relaxed)
}

/// Keeps the final tables and switches to them.
///
/// # Safety
/// As for [`KernelTables::activate`]; call once.
pub unsafe fn install(tables: KernelTables) {
    let tables = KERNEL_TABLES.call_once(|| spin::Mutex::new(tables));
    let tables = tables.lock();
    KERNEL_ROOT_PA.store(tables.mapping.root_address().0 as u64, Ordering::Relaxed);
    // SAFETY: forwarded; the tables live in a static and are never dropped.
    unsafe { tables.activate() };
}

/// Maps a thread's kernel stack (`KERNEL_STACK_SIZE` bytes of physically contiguous RAM at
/// `pa`) into slot `slot`; returns the stack's top.
pub fn map_kernel_stack(slot: usize, pa: u64) -> Result<usize, MapError> {
    let base = KERNEL_STACKS_BASE + slot * KERNEL_STACK_SLOT;
    let tables = KERNEL_TABLES.get().expect("kernel tables installed");
    map(
        &mut tables.lock().mapping,
        base,
        pa as usize,
        KERNEL_STACK_SIZE,
        KERNEL_RW,
    )?;
    Ok(base + KERNEL_STACK_SIZE)
}

/// Unmaps the stack in slot `slot` (the crate invalidates the TLB entries).
pub fn unmap_kernel_stack(slot: usize) {
    let base = KERNEL_STACKS_BASE + slot * KERNEL_STACK_SLOT;
    if let Some(tables) = KERNEL_TABLES.get() {
        let _ = tables.lock().mapping.map_range(
            &MemoryRegion::new(base, base + KERNEL_STACK_SIZE),
            PhysicalAddress(0),
            El1Attributes::empty(),
            Constraints::empty(),
        );
    }
}

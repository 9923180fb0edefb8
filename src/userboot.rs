//! Starting user mode: the boot archive becomes a VMO, `init` is loaded from it into a new
//! process and started with the bootstrap message (see user/README.md), and the boot CPU
//! becomes the idle thread.
//!
//! # Locking
//! No lock of its own. [`run`] masks IRQs for good on the boot CPU (the boot code unmasked
//! them for the tick): from here on the kernel runs with IRQs masked except where the
//! scheduler lets them in (the idle loop's wait, a preemption point, user mode), which is
//! what every lock's "IRQs masked" relies on. The exit hook `init_exited` runs after
//! `Process::terminate` has released every lock; it prints and may end the emulator.

use crate::boot::Board;
use crate::task::{self, Process, Thread, ROOT_BASE};
use crate::vm;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::mmu;
use core::sync::atomic::Ordering;
use elf::abi::{EM_AARCH64, ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use object::channel::Channel;
use object::handle::Handle;
use object::vmar::MapTarget;
use object::vmo::Vmo;
use object::{Rights, Status, ZxResult};

/// Stack given to a program the kernel starts.
const STACK_SIZE: usize = 256 * 1024;

fn perms(flags: u32) -> u32 {
    let mut options = 0;
    if flags & PF_R != 0 {
        options |= abi::ZX_VM_PERM_READ;
    }
    if flags & PF_W != 0 {
        options |= abi::ZX_VM_PERM_WRITE;
    }
    if flags & PF_X != 0 {
        options |= abi::ZX_VM_PERM_EXECUTE;
    }
    options
}

/// Loads a static ELF executable into `process`: each PT_LOAD segment gets a VMO mapped
/// at its address with its permissions (W+X is refused). Returns the entry point.
pub fn load_elf(process: &Arc<Process>, image: &[u8]) -> ZxResult<usize> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| Status::NOT_SUPPORTED)?;
    if file.ehdr.e_machine != EM_AARCH64 || file.ehdr.e_type != ET_EXEC {
        return Err(Status::NOT_SUPPORTED);
    }
    let segments = file.segments().ok_or(Status::NOT_SUPPORTED)?;
    for segment in segments.iter().filter(|s| s.p_type == PT_LOAD) {
        if segment.p_flags & PF_W != 0 && segment.p_flags & PF_X != 0 {
            return Err(Status::ACCESS_DENIED);
        }
        let start = segment.p_vaddr & !0xfff;
        let end = segment
            .p_vaddr
            .checked_add(segment.p_memsz)
            .and_then(|e| e.checked_add(0xfff))
            .ok_or(Status::OUT_OF_RANGE)?
            & !0xfff;
        if (start as usize) < ROOT_BASE || segment.p_filesz > segment.p_memsz {
            return Err(Status::OUT_OF_RANGE);
        }
        let vmo = Vmo::create(vm::frames(), end - start, 0)?;
        let file_start = segment.p_offset as usize;
        let file_end = file_start
            .checked_add(segment.p_filesz as usize)
            .ok_or(Status::OUT_OF_RANGE)?;
        let bytes = image
            .get(file_start..file_end)
            .ok_or(Status::OUT_OF_RANGE)?;
        vmo.write(segment.p_vaddr - start, bytes)?;
        process.root_vmar().map(
            abi::ZX_VM_SPECIFIC | perms(segment.p_flags),
            start as usize - ROOT_BASE,
            vmo as Arc<dyn MapTarget>,
            0,
            (end - start) as usize,
            Rights::DEFAULT_VMO,
        )?;
    }
    Ok(file.ehdr.e_entry as usize)
}

/// The bootstrap message ([`abi::bootstrap`]).
fn bootstrap_bytes(args: &[&str], handle_count: u32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(abi::bootstrap::encoded_len(args));
    abi::bootstrap::encode(args, handle_count, &mut bytes);
    bytes
}

fn start_init(board: &Board) -> ZxResult<()> {
    let initrd = board.info.initrd.ok_or(Status::NOT_FOUND)?;
    // SAFETY: the initrd lies in RAM (the linear map covers it) and the page pool never hands
    // its pages out; nothing writes it.
    let archive = unsafe {
        core::slice::from_raw_parts(
            mmu::phys_to_virt(initrd.base) as *const u8,
            initrd.size as usize,
        )
    };
    let image = object::bootfs::find(archive, "init").ok_or(Status::NOT_FOUND)?;

    let bootfs = Vmo::create(
        vm::frames(),
        archive.len() as u64,
        abi::ZX_VMO_NON_RESIZABLE,
    )?;
    bootfs.write(0, archive)?;
    bootfs.base().set_name(b"bootfs");

    let process = Process::create(crate::task::root_job(), b"init")?;
    let entry = load_elf(&process, image)?;
    let stack = Vmo::create(vm::frames(), STACK_SIZE as u64, 0)?;
    let stack_base = process.root_vmar().map(
        abi::ZX_VM_PERM_READ | abi::ZX_VM_PERM_WRITE,
        0,
        stack as Arc<dyn MapTarget>,
        0,
        STACK_SIZE,
        Rights::DEFAULT_VMO,
    )?;
    let thread = Thread::create(&process, b"init")?;

    let mut args: Vec<&str> = alloc::vec!["init"];
    args.extend(board.info.bootargs.unwrap_or("").split_whitespace());
    let handles = alloc::vec![
        Handle::new(process.clone(), Rights::DEFAULT_PROCESS),
        object::vmar::vmar_handle(process.root_vmar().clone()),
        Handle::new(
            bootfs,
            Rights::DEFAULT_VMO.difference(Rights::WRITE | Rights::SET_PROPERTY),
        ),
        // [3]: its default job (`PA_JOB_DEFAULT`), the root job.
        Handle::new(crate::task::root_job().clone(), Rights::DEFAULT_JOB),
    ];
    let (ours, theirs) = Channel::create()?;
    ours.write(&bootstrap_bytes(&args, handles.len() as u32), handles)?;
    drop(ours);
    process.on_exit(init_exited);
    process.start(
        &thread,
        entry,
        stack_base + STACK_SIZE,
        Some(Handle::new(theirs, Rights::DEFAULT_CHANNEL)),
        0,
    )
}

use object::object::KernelObject;

/// Starts `init` from the boot archive and idles. Returns only if there is no archive or
/// `init` could not start (the caller decides what that means).
pub fn run(board: &Board) -> Result<core::convert::Infallible, Status> {
    arch::cpu::disable_irqs();
    if let Err(status) = start_init(board) {
        log::error!("could not start init: {status:?}");
        return Err(status);
    }
    log::info!("init started");
    task::idle_loop()
}

/// `init` has ended with `code`.
fn init_exited(code: i64) {
    log::info!("init exited with status {code}");
    if crate::exit_with_init() {
        let ktest_ok = crate::KTEST_FAILED.load(Ordering::Relaxed) == 0;
        arch::semihosting::exit(if code == 0 && ktest_ok { 0 } else { 1 });
    }
}

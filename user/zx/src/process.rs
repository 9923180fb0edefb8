//! The launcher: starts a program of the boot archive in a new process.
//!
//! [`spawn`] finds the file in the archive, creates the process, maps each `PT_LOAD` segment
//! of the ELF at its link address with the segment's permissions (a fresh VMO per segment,
//! file bytes copied in, the rest zero), maps a 256 KiB stack below a guard page, creates
//! the first thread and starts it at the ELF entry with the bootstrap channel in `x0`.
//! The bootstrap message (`user/README.md`) carries `argv` = `[path, args...]` and the
//! handles: the new process, its root VMAR, the boot archive (read-only), its job (a
//! duplicate of the job it was created in: its default job) and the extras.

use alloc::format;
use alloc::vec::Vec;

use crate::bootfs::{self, Entry};
use crate::elf::{self, Segment, EHDR_LEN, PF_R, PF_W, PF_X, PHDR_LEN, PT_LOAD};
use crate::thread::map_stack;
use crate::{
    bootstrap, startup, AsHandleRef, Channel, Handle, Job, Process, Result, Rights, Status, Thread,
    Vmar, VmarFlags, Vmo, VmoOp, PAGE_SIZE,
};

/// Stack size of a new process's first thread.
pub const STACK_SIZE: usize = 256 * 1024;

/// Starts `path` from this program's boot archive, in the default job, with `argv` =
/// `[path, args...]` and `extra_handles` as startup handles 4, 5, ... of the new process. The extra handles are
/// consumed whether it succeeds or not. Errors: `NOT_FOUND` (no such file), `INVALID_ARGS` /
/// `NOT_SUPPORTED` (not a loadable aarch64 static executable), `OUT_OF_RANGE` (arguments or
/// handles too many for one message), or what a system call returned.
pub fn spawn(path: &str, args: &[&str], extra_handles: Vec<Handle>) -> Result<Process> {
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(path);
    argv.extend_from_slice(args);
    spawn_from(&startup::bootfs_vmo(), path, &argv, extra_handles)
}

/// Like [`spawn`] with the complete `argv`, `argv[0]` included (C's convention); an empty
/// `argv` becomes `[path]`.
pub fn spawn_argv(path: &str, argv: &[&str], extra_handles: Vec<Handle>) -> Result<Process> {
    spawn_from(&startup::bootfs_vmo(), path, argv, extra_handles)
}

/// Starts `path` from `archive` (a `cpio newc` VMO, which is also the boot archive the new
/// process gets) with the complete `argv` (empty: `[path]`).
pub fn spawn_from(
    archive: &Vmo,
    path: &str,
    argv: &[&str],
    extra_handles: Vec<Handle>,
) -> Result<Process> {
    spawn_in(&Job::default_job(), archive, path, argv, extra_handles)
}

/// Like [`spawn_from`], in `job` (which the new process gets as its default job).
pub fn spawn_in(
    job: &Job,
    archive: &Vmo,
    path: &str,
    argv: &[&str],
    extra_handles: Vec<Handle>,
) -> Result<Process> {
    let bootstrap_handles = bootstrap::FIRST_EXTRA + extra_handles.len();
    if bootstrap_handles > crate::sys::ZX_CHANNEL_MAX_MSG_HANDLES as usize {
        return Err(Status::OUT_OF_RANGE);
    }
    let default_argv = [path];
    let argv = if argv.is_empty() {
        &default_argv[..]
    } else {
        argv
    };
    let message = bootstrap::encode(argv, bootstrap_handles as u32);
    if message.len() > crate::sys::ZX_CHANNEL_MAX_MSG_BYTES as usize {
        return Err(Status::OUT_OF_RANGE);
    }

    let file = bootfs::find(archive, path)?;
    let name = path.rsplit('/').next().unwrap_or(path);
    let name = truncate(name, crate::sys::ZX_MAX_NAME_LEN - 1);
    let (process, vmar) = Process::create_in(job, name, 0)?;
    let entry = load_elf(archive, &file, &vmar, name)?;
    let stack = map_stack(&vmar, STACK_SIZE, &format!("{name}:stack"))?;
    let thread = Thread::create(&process, name)?;

    let mut handles = Vec::with_capacity(bootstrap_handles);
    handles.push(process.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
    handles.push(vmar.into_handle());
    handles.push(read_only(archive)?);
    handles.push(job.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
    handles.extend(extra_handles);
    let (ours, theirs) = Channel::create()?;
    ours.write(&message, &mut handles)?;
    drop(ours);
    process.start(&thread, entry, stack.top(), theirs.into_handle(), 0)?;
    Ok(process)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A duplicate of `archive` without the rights to change it.
fn read_only(archive: &Vmo) -> Result<Handle> {
    let keep = Rights::READ
        | Rights::MAP
        | Rights::DUPLICATE
        | Rights::TRANSFER
        | Rights::GET_PROPERTY
        | Rights::WAIT
        | Rights::INSPECT;
    let rights = match archive.basic_info() {
        Ok(info) => info.rights & keep,
        Err(_) => Rights::SAME_RIGHTS,
    };
    archive.as_handle_ref().duplicate_handle(rights)
}

/// Loads the ELF executable `file` of `archive` into the address space of `vmar`; returns
/// the entry point.
fn load_elf(archive: &Vmo, file: &Entry, vmar: &Vmar, name: &str) -> Result<usize> {
    if file.size < EHDR_LEN as u64 {
        return Err(Status::INVALID_ARGS);
    }
    let mut ehdr = [0u8; EHDR_LEN];
    archive.read(&mut ehdr, file.offset)?;
    let header = elf::parse_header(&ehdr)?;
    let table_len = (header.phnum * PHDR_LEN) as u64;
    if header
        .phoff
        .checked_add(table_len)
        .is_none_or(|end| end > file.size)
    {
        return Err(Status::INVALID_ARGS);
    }
    let table = archive.read_to_vec(file.offset + header.phoff, table_len as usize)?;
    let segments: Vec<Segment> = table
        .chunks_exact(PHDR_LEN)
        .map(|raw| elf::parse_segment(raw.try_into().expect("chunk of PHDR_LEN bytes")))
        .filter(|s| s.kind == PT_LOAD && s.memsz > 0)
        .collect();
    // Every root VMAR starts at 0x0100_0000 (user/README.md); ask in case that changes.
    let base = vmar.info().map_or(0x0100_0000, |info| info.base) as u64;
    let mut entry_ok = false;
    for seg in &segments {
        load_segment(archive, file, vmar, base, seg, name)?;
        if seg.flags & PF_X != 0 && (seg.vaddr..seg.vaddr + seg.memsz).contains(&header.entry) {
            entry_ok = true;
        }
    }
    if !entry_ok {
        return Err(Status::INVALID_ARGS);
    }
    usize::try_from(header.entry).map_err(|_| Status::INVALID_ARGS)
}

/// Maps one `PT_LOAD` segment at its address, with its permissions (never W+X).
fn load_segment(
    archive: &Vmo,
    file: &Entry,
    vmar: &Vmar,
    base: u64,
    seg: &Segment,
    name: &str,
) -> Result<()> {
    let page = PAGE_SIZE as u64;
    let bad = Status::INVALID_ARGS;
    if seg.filesz > seg.memsz
        || seg
            .offset
            .checked_add(seg.filesz)
            .is_none_or(|e| e > file.size)
    {
        return Err(bad);
    }
    if seg.flags & PF_W != 0 && seg.flags & PF_X != 0 {
        return Err(bad);
    }
    let start = seg.vaddr & !(page - 1);
    let end = seg
        .vaddr
        .checked_add(seg.memsz)
        .and_then(|e| e.checked_next_multiple_of(page))
        .ok_or(bad)?;
    if start < base {
        return Err(Status::OUT_OF_RANGE);
    }
    let size = end - start;
    let vmo = Vmo::create(size)?;
    let perms = [(PF_R, 'r'), (PF_W, 'w'), (PF_X, 'x')]
        .iter()
        .map(|(bit, c)| if seg.flags & bit != 0 { *c } else { '-' })
        .collect::<alloc::string::String>();
    let _ = vmo.set_name(&format!("{name}:{perms}"));
    copy(
        archive,
        file.offset + seg.offset,
        &vmo,
        seg.vaddr - start,
        seg.filesz,
    )?;

    let mut flags = VmarFlags::SPECIFIC;
    if seg.flags & (PF_R | PF_X) != 0 {
        flags |= VmarFlags::PERM_READ;
    }
    if seg.flags & PF_W != 0 {
        flags |= VmarFlags::PERM_READ | VmarFlags::PERM_WRITE;
    }
    if seg.flags & PF_X != 0 {
        flags |= VmarFlags::PERM_EXECUTE;
        // The bytes were written through the data side; make instruction fetches see them.
        // (Best effort: the kernel may do it itself when it maps executable pages.)
        let _ = vmo.op_range(VmoOp::CACHE_SYNC, 0, size);
    }
    let offset = usize::try_from(start - base).map_err(|_| bad)?;
    vmar.map(offset, &vmo, 0, size as usize, flags)?;
    Ok(())
}

/// Copies `len` bytes from `src` at `src_offset` to `dst` at `dst_offset`, 64 KiB at a time.
fn copy(src: &Vmo, src_offset: u64, dst: &Vmo, dst_offset: u64, len: u64) -> Result<()> {
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(64 * 1024) as usize;
        let buf = src.read_to_vec(src_offset + done, n)?;
        dst.write(&buf, dst_offset + done)?;
        done += n as u64;
    }
    Ok(())
}

/// Waits until `process` has terminated and returns its exit code.
pub fn wait_exit(process: &Process) -> Result<i64> {
    process.wait_exit()
}

//! `demo-child`: the second process of `init`'s demo. Gets a VMO as startup handle 3, maps
//! it, prints what it finds there and writes an answer back through the mapping.
#![no_std]
#![no_main]

use zx::{println, Vmar, VmarFlags, Vmo};

zx::entry!(main);

const ANSWER: &[u8] = b"hello back from demo-child\0";

fn main(_args: &[&str]) -> i32 {
    let Some(handle) = zx::startup::take_startup_handle(4) else {
        println!("demo-child: no VMO was passed as startup handle 3");
        return 1;
    };
    let vmo = Vmo::from(handle);
    match run(&vmo) {
        Ok(()) => 0,
        Err(status) => {
            println!("demo-child: {status}");
            2
        }
    }
}

fn run(vmo: &Vmo) -> zx::Result<()> {
    let len = zx::PAGE_SIZE;
    let root = Vmar::root_self();
    let addr = root.map(0, vmo, 0, len, VmarFlags::PERM_READ_WRITE)?;
    {
        // SAFETY: the mapping is `len` bytes of readable and writable memory that nothing
        // else in this process uses; it is unmapped only after this block.
        let page = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) };
        let end = page.iter().position(|b| *b == 0).unwrap_or(64).min(64);
        let found = core::str::from_utf8(&page[..end]).unwrap_or("<not utf-8>");
        println!("demo-child: mapped the VMO at {addr:#x}; it reads '{found}'");
        page[..ANSWER.len()].copy_from_slice(ANSWER);
    }
    // SAFETY: the slice above is gone; nothing uses the mapping any more.
    unsafe { root.unmap(addr, len) }
}

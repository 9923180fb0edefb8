//! Bring-up from the device tree: final page tables, console, page pool and heap,
//! interrupts and timer, and the banner.

use crate::{irq, memory, TICK_HZ};
use arch::devicetree::{BoardInfo, Console, HeaderUart, InterruptController};
use arch::mmu::{self, KernelTables, Region};
use arrayvec::ArrayVec;
use mm::memmap::PhysRange;

/// What the kernel learnt at boot, for the banner, the tests and later subsystems.
pub struct Board {
    pub info: BoardInfo<'static>,
    /// The UART the console uses (see `BoardInfo::choose_console`).
    pub console: Option<Console<'static>>,
    /// On a Raspberry Pi, the UART its firmware put on the header pins.
    pub header: Option<HeaderUart>,
    pub dtb: PhysRange,
    pub image: PhysRange,
    pub boot_el: u8,
    pub ram: ArrayVec<PhysRange, 8>,
    pub free: ArrayVec<PhysRange, 32>,
    pub dtb_bytes: &'static [u8],
}

/// A boot failure before anything else can report it: one message, then stop.
fn early_fail(what: core::fmt::Arguments<'_>) -> ! {
    // The console may still be semihosting (or nothing, on a board without a debugger).
    log::error!("boot failed: {what}");
    crate::stop()
}

/// The DTB as the boot window shows it: validated before anything reads past the header.
fn dtb_in_boot_window(dtb_pa: u64) -> &'static [u8] {
    if dtb_pa == 0 {
        early_fail(format_args!(
            "no device tree: the boot loader passed none in x0; this kernel learns the board from it"
        ));
    }
    let offset = (dtb_pa as usize) & (mmu::PAGE_SIZE - 1);
    let window = mmu::BOOT_DTB_WINDOW + offset;
    // The header is read with a fault-recovering load first: a bogus x0 must give a message,
    // not a fault loop.
    if let Err(esr) = arch::exception::probe_read(window) {
        early_fail(format_args!(
            "device tree at physical {dtb_pa:#x} cannot be read ({esr})"
        ));
    }
    // SAFETY: the boot tables map BOOT_DTB_WINDOW_SIZE bytes from the DTB's page onwards,
    // read-only for us and never written while the window exists.
    let bytes = unsafe {
        core::slice::from_raw_parts(window as *const u8, mmu::BOOT_DTB_WINDOW_SIZE - offset)
    };
    match arch::devicetree::validate_header(bytes) {
        Ok(size) => &bytes[..size],
        Err(error) => early_fail(format_args!(
            "device tree at physical {dtb_pa:#x} is not valid: {error}"
        )),
    }
}

fn parse(dtb: &[u8], dtb_pa: u64) -> BoardInfo<'_> {
    BoardInfo::parse(dtb).unwrap_or_else(|error| {
        early_fail(format_args!(
            "device tree at physical {dtb_pa:#x} is not valid: {error}"
        ))
    })
}

fn range(base: u64, size: u64) -> PhysRange {
    PhysRange::new(base, base.saturating_add(size))
}

/// What `arch` calls for exceptions and interrupts (installed first thing at boot; tests
/// install variants of it with `arch::exception::with_handlers`).
pub const HANDLERS: arch::exception::Handlers = arch::exception::Handlers {
    irq: irq::handle,
    irq_exit: crate::trap::irq_exit,
    user_sync: crate::trap::user_sync,
    user_access_fault: crate::trap::user_access_fault,
    kernel_sync: None,
    fatal: crate::stop,
};

pub fn start(dtb_pa: u64, boot_el: u8, image_pa: u64) -> Board {
    mmu::set_image_pa(image_pa);
    arch::exception::install_handlers(&HANDLERS);

    // 1. Read the board through the boot window and build the final kernel tables.
    let window_dtb = dtb_in_boot_window(dtb_pa);
    let dtb_size = window_dtb.len() as u64;
    let info = parse(window_dtb, dtb_pa);
    let layout = mmu::image_layout();
    let image = range(image_pa, (layout.end - layout.start) as u64);
    // Room for every linear RAM range (40), every UART (8) and the console, the Pi's GPIO
    // block and two interrupt-controller frames.
    let mut regions: ArrayVec<Region, 52> = ArrayVec::new();
    for ram in linear_ram(&info, image).iter() {
        regions.push(Region::Ram {
            pa: ram.start,
            size: ram.len(),
        });
    }
    // Every UART that could become the console, and the Pi's GPIO block that says which.
    for uart in info.uarts.iter().chain(&info.console) {
        regions.push(Region::Device {
            pa: uart.region.base,
            size: uart.region.size,
        });
    }
    if let Some(gpio) = info.pi_gpio {
        regions.push(Region::Device {
            pa: gpio.base,
            size: gpio.size,
        });
    }
    match &info.interrupt_controller {
        Some(InterruptController::GicV2 {
            distributor,
            cpu_interface,
        }) => {
            regions.push(Region::Device {
                pa: distributor.base,
                size: distributor.size,
            });
            regions.push(Region::Device {
                pa: cpu_interface.base,
                size: cpu_interface.size,
            });
        }
        Some(InterruptController::GicV3 {
            distributor,
            redistributors,
        }) => {
            regions.push(Region::Device {
                pa: distributor.base,
                size: distributor.size,
            });
            regions.push(Region::Device {
                pa: redistributors.base,
                size: redistributors.size,
            });
        }
        Some(InterruptController::Bcm2836 { local, peripheral }) => {
            regions.push(Region::Device {
                pa: local.base,
                size: local.size,
            });
            if let Some(peripheral) = peripheral {
                regions.push(Region::Device {
                    pa: peripheral.base,
                    size: peripheral.size,
                });
            }
        }
        None => {}
    }
    if !info
        .memory
        .iter()
        .any(|ram| dtb_pa >= ram.base && dtb_pa + dtb_size <= ram.base + ram.size)
    {
        early_fail(format_args!(
            "device tree at {dtb_pa:#x} lies outside the RAM it describes"
        ));
    }
    // The kernel reads both through the linear map.
    let initrd = info.initrd.map(|initrd| range(initrd.base, initrd.size));
    for no_map in &info.no_map {
        let no_map = range(no_map.base, no_map.size);
        if no_map.overlaps(&range(dtb_pa, dtb_size)) || initrd.is_some_and(|i| i.overlaps(&no_map))
        {
            early_fail(format_args!(
                "the no-map reserved range {:#x}..{:#x} holds the device tree or the initrd",
                no_map.start, no_map.end
            ));
        }
    }
    let tables = match KernelTables::build(&regions) {
        Ok(tables) => tables,
        Err(error) => early_fail(format_args!("building the kernel page tables: {error}")),
    };
    // SAFETY: the tables map the image (same addresses and memory type as the boot tables),
    // all RAM the kernel uses, and the devices used below; the boot DTB window is not used
    // after this.
    unsafe { mmu::install(tables) };
    arch::cpu::enable_pan();

    // 2. From now on the DTB is read through the linear map.
    // SAFETY: the DTB lies in RAM (checked above), which the linear map covers; nothing
    // writes it, and its range is kept out of the page pool below.
    let dtb_bytes: &'static [u8] = unsafe {
        core::slice::from_raw_parts(mmu::phys_to_virt(dtb_pa) as *const u8, dtb_size as usize)
    };
    let info = parse(dtb_bytes, dtb_pa);
    crate::cprng::seed_at_boot(info.rng_seed, info.kaslr_seed);

    // 3. Console.
    let header = header_uart(&info);
    let console = info.choose_console(header);
    if let Some(console) = &console {
        // SAFETY: every UART was mapped as device memory above; the console is its only user.
        unsafe { crate::console::use_uart(console.kind, mmu::phys_to_virt(console.region.base)) };
    }

    // 4. Page pool over RAM minus the image, the DTB, the initrd and reserved memory.
    let dtb = range(dtb_pa, dtb_size);
    let mut ram: ArrayVec<PhysRange, 8> = ArrayVec::new();
    for region in &info.memory {
        ram.push(range(region.base, region.size));
    }
    let mut reserved: ArrayVec<PhysRange, 24> = ArrayVec::new();
    reserved.push(image);
    reserved.push(dtb);
    if let Some(initrd) = info.initrd {
        reserved.push(range(initrd.base, initrd.size));
    }
    for region in &info.reserved {
        if reserved.try_push(range(region.base, region.size)).is_err() {
            early_fail(format_args!(
                "too many reserved memory ranges in the device tree"
            ));
        }
    }
    let free = match mm::memmap::free_ranges::<32>(&ram, &reserved) {
        Ok(free) => free,
        Err(_) => early_fail(format_args!("too many free memory ranges")),
    };
    let free: ArrayVec<PhysRange, 32> = free.iter().collect();
    // SAFETY: `free` excludes everything in use: image (with boot tables, stack and bss),
    // DTB, initrd, and reserved memory.
    if let Err(error) = unsafe { memory::init_pool(&ram, &free) } {
        early_fail(format_args!("page pool: {error:?}"));
    }
    mmu::set_table_source(crate::aspace::kernel_table_page);

    // 5. Interrupt controller and timer.
    let cpus = info.cpus.len().max(1);
    let gic = info
        .interrupt_controller
        .as_ref()
        .and_then(|controller| interrupt_controller(controller, cpus));
    let mut frequency = arch::cpu::counter_frequency();
    if frequency == 0 {
        frequency = info
            .timer
            .as_ref()
            .and_then(|t| t.frequency)
            .map_or(0, u64::from);
    }
    let tick_frequency = match (gic, &info.timer) {
        (Some(gic), Some(timer)) if frequency != 0 => {
            irq::install(gic);
            irq::enable_timer(timer.virt);
            let first_tick = arch::timer::start_periodic(frequency, TICK_HZ);
            crate::percpu::this_cpu()
                .next_tick
                .store(first_tick, core::sync::atomic::Ordering::Relaxed);
            arch::cpu::enable_irqs();
            frequency
        }
        _ => {
            log::warn!("no usable interrupt controller or timer: running without a tick");
            0
        }
    };

    // 6. The other CPUs.
    crate::smp::start_secondaries(&info, tick_frequency);

    let board = Board {
        info,
        console,
        header,
        dtb,
        image,
        boot_el,
        ram,
        free,
        dtb_bytes,
    };
    banner(&board, frequency);
    board
}

/// RAM for the linear map: every RAM range minus the kernel image and the `no-map` reserved
/// ranges, in whole pages. The image is reached only through its own mapping at
/// `KERNEL_VBASE` (text RX, rodata R), so it has no writable alias; `no-map` memory may be
/// used by firmware with other attributes, which a cacheable alias would break.
fn linear_ram(info: &BoardInfo<'_>, image: PhysRange) -> ArrayVec<PhysRange, 40> {
    let mut ram: ArrayVec<PhysRange, 8> = ArrayVec::new();
    for region in &info.memory {
        ram.push(range(region.base, region.size));
    }
    let mut holes: ArrayVec<PhysRange, 17> = ArrayVec::new();
    holes.push(image);
    for region in &info.no_map {
        holes.push(range(region.base, region.size));
    }
    match mm::memmap::free_ranges::<40>(&ram, &holes) {
        Ok(linear) => linear.iter().collect(),
        Err(_) => early_fail(format_args!("too many RAM ranges for the linear map")),
    }
}

/// On a Raspberry Pi, which UART the firmware put on GPIO 14/15 (the header's TX/RX).
fn header_uart(info: &BoardInfo<'_>) -> Option<HeaderUart> {
    let gpio = info.pi_gpio?;
    if gpio.size < HeaderUart::GPFSEL1_OFFSET + 4 {
        return None;
    }
    let gpfsel1 = mmu::phys_to_virt(gpio.base + HeaderUart::GPFSEL1_OFFSET);
    // SAFETY: the GPIO block was mapped as device memory when the kernel tables were built;
    // reading a function select register has no side effect.
    Some(unsafe { core::ptr::read_volatile(gpfsel1 as *const u32) })
        .and_then(HeaderUart::from_gpfsel1)
}

/// The driver for the interrupt controller the device tree names, if this kernel has one.
fn interrupt_controller(controller: &InterruptController, cpus: usize) -> Option<irq::Controller> {
    match controller {
        InterruptController::GicV2 {
            distributor,
            cpu_interface,
        } => {
            let distributor = mmu::phys_to_virt(distributor.base);
            let cpu_interface = mmu::phys_to_virt(cpu_interface.base);
            // SAFETY: both frames were mapped as device memory when the kernel tables were
            // built, and only the interrupt module uses them.
            let gic = unsafe { arch::gic::Gic::new_v2(distributor, cpu_interface) };
            Some(irq::Controller::Gic(gic))
        }
        InterruptController::GicV3 {
            distributor,
            redistributors,
        } => {
            let distributor = mmu::phys_to_virt(distributor.base);
            let redistributors = mmu::phys_to_virt(redistributors.base);
            // SAFETY: as for GICv2.
            unsafe { arch::gic::Gic::new_v3(distributor, redistributors, cpus) }
                .map(irq::Controller::Gic)
        }
        InterruptController::Bcm2836 { local, peripheral } => {
            if local.size < 0x100 {
                log::warn!(
                    "the BCM2836 local registers are {:#x} bytes, not 0x100",
                    local.size
                );
                return None;
            }
            let local = mmu::phys_to_virt(local.base);
            let peripheral = peripheral.map(|p| mmu::phys_to_virt(p.base));
            let core = (arch::cpu::mpidr() & 0xff) as usize;
            // SAFETY: as for GICv2.
            unsafe { arch::bcm2836::Bcm2836::new(local, peripheral, core) }
                .map(irq::Controller::Bcm2836)
        }
    }
}

fn banner(board: &Board, frequency: u64) {
    let info = &board.info;
    println!();
    println!(
        "zircon-style microkernel {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("KERNEL_GIT_VERSION")
    );
    println!(
        "  board:      {} ({})",
        info.model.unwrap_or("unnamed"),
        info.compatible.unwrap_or("no compatible")
    );
    println!(
        "  boot:       entered at EL{}, running at EL{}",
        board.boot_el,
        arch::cpu::current_el()
    );
    println!(
        "  cpu:        {} ({} in the device tree), {}",
        arch::cpu::cpu_id(),
        info.cpus.len(),
        if arch::cpu::pan_enabled() {
            "PAN on"
        } else {
            "no PAN"
        }
    );
    println!(
        "  cpus:       {} online ({})",
        crate::smp::online(),
        crate::smp::method_name(info)
    );
    for region in &info.memory {
        println!(
            "  memory:     {:#012x}..{:#012x} ({} MiB)",
            region.base,
            region.base + region.size,
            region.size >> 20
        );
    }
    for region in &info.reserved {
        println!(
            "  reserved:   {:#012x}..{:#012x}{}",
            region.base,
            region.base + region.size,
            if info.no_map.contains(region) {
                " (no-map)"
            } else {
                ""
            }
        );
    }
    if let Some(initrd) = info.initrd {
        println!(
            "  initrd:     {:#012x}..{:#012x}",
            initrd.base,
            initrd.base + initrd.size
        );
    }
    println!(
        "  kernel:     {:#012x}..{:#012x}, dtb {:#012x}..{:#012x}",
        board.image.start, board.image.end, board.dtb.start, board.dtb.end
    );
    let pool = memory::pool_stats();
    println!(
        "  page pool:  {} pages ({} MiB), {} free, {} in the frame table; heap {} KiB from the pool",
        pool.total_pages,
        (pool.total_pages * mm::PAGE_SIZE) >> 20,
        pool.free_pages,
        pool.used_by[mm::pool::PageUse::FrameTable as usize],
        memory::heap_stats().bytes_from_pool / 1024
    );
    let why = match (board.header, &info.console) {
        (Some(_), _) => "the firmware put it on GPIO 14/15",
        (None, Some(stdout)) if Some(stdout.region) == board.console.map(|c| c.region) => {
            "stdout-path"
        }
        _ => "the first enabled UART",
    };
    match &board.console {
        Some(console) => println!(
            "  console:    {} {:?} at {:#x} ({why})",
            console.path, console.kind, console.region.base
        ),
        None => println!("  console:    semihosting (no usable UART in the device tree)"),
    }
    match &info.interrupt_controller {
        Some(InterruptController::GicV2 {
            distributor,
            cpu_interface,
        }) => println!(
            "  interrupts: GICv2, distributor {:#x}, cpu interface {:#x}",
            distributor.base, cpu_interface.base
        ),
        Some(InterruptController::GicV3 {
            distributor,
            redistributors,
        }) => println!(
            "  interrupts: GICv3, distributor {:#x}, redistributors {:#x}",
            distributor.base, redistributors.base
        ),
        Some(InterruptController::Bcm2836 { local, peripheral }) => match peripheral {
            Some(peripheral) => println!(
                "  interrupts: BCM2836 per-core {:#x}, BCM2835 peripheral {:#x}",
                local.base, peripheral.base
            ),
            None => println!("  interrupts: BCM2836 per-core {:#x}", local.base),
        },
        None => println!("  interrupts: none found"),
    }
    match &info.timer {
        Some(timer) => println!(
            "  timer:      {} Hz counter, virtual timer IRQ {}, tick {} Hz",
            frequency, timer.virt, TICK_HZ
        ),
        None => println!("  timer:      not in the device tree"),
    }
    println!();
}

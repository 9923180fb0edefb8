#!/usr/bin/env python3
"""Reads a benchmark log on stdin (lines `bench-result {...}`), writes the JSON file and prints
the table.

  bench-report.py SYSTEM QEMU_FLAGS OUT_JSON             one system, with issue 6's targets
  bench-report.py --compare ZIRCON_JSON LINUX_JSON       both side by side, with ratios
  bench-report.py --smp4 SMP1_JSON SMP4_JSON             make bench at -smp 1 and -smp 4
  bench-report.py --smp OUT_JSON SMP1_LOG SMP2_LOG       make bench-smp: wall-time throughput
"""
import json
import sys

# Guest instructions per operation that issue 6 asks for (None: no target).
TARGETS = {
    "null_syscall": 100,
    "handle_dup_close": 300,
    "vmo_create_close": 1500,
    "write_4k": 800,
    "read_4k": 700,
    "write_1m": 90000,
    "read_1m": 90000,
    "fault_committed": 600,
    "fault_zero_fill": 900,
    "fault_cow": 1200,
    "clone_256": None,
    "channel_64": 800,
    "channel_call_64": 1500,
    "process_lifecycle": 60000,
    # Issue 15.
    "futex_roundtrip": 2000,
    "thread_create_join": 8000,
    "event_signal_clear": 250,
    "port_queue_wait": 500,
}

LABELS = {
    "null_syscall": ("null syscall", "getppid"),
    "handle_dup_close": ("handle duplicate+close", "dup+close"),
    "vmo_create_close": ("VMO create+close (4 KiB)", "memfd_create+ftruncate+close"),
    "write_4k": ("vmo_write 4 KiB", "pwrite 4 KiB (memfd)"),
    "read_4k": ("vmo_read 4 KiB", "pread 4 KiB (memfd)"),
    "write_1m": ("vmo_write 1 MiB", "pwrite 1 MiB (memfd)"),
    "read_1m": ("vmo_read 1 MiB", "pread 1 MiB (memfd)"),
    "fault_committed": ("fault, committed page", "fault, memfd page"),
    "fault_zero_fill": ("fault, zero-fill", "fault, anonymous"),
    "fault_cow": ("fault, copy-on-write", "fault, MAP_PRIVATE write"),
    "clone_256": ("clone of 256 committed pages", "-"),
    "channel_64": ("channel write+read 64 B", "pipe write+read 64 B"),
    "channel_call_64": ("channel_call round trip, 2 procs, 64 B", "pipe ping-pong, 2 procs, 64 B"),
    "process_lifecycle": ("process create+start+exit+wait", "fork+exit+wait"),
    "futex_roundtrip": ("futex round trip, two threads", "futex ping-pong (FUTEX_WAIT/WAKE)"),
    "thread_create_join": ("thread create+start+join", "pthread_create+join"),
    "event_signal_clear": ("event signal+clear", "eventfd write+read"),
    "port_queue_wait": ("port queue+wait", "eventfd write+epoll_wait+read"),
}


def parse(stream):
    results = []
    for line in stream:
        line = line.strip()
        if line.startswith("bench-result "):
            results.append(json.loads(line[len("bench-result "):]))
    return results


def report(system, flags, out):
    results = parse(sys.stdin)
    if not results:
        sys.exit("no bench-result lines in the log")
    with open(out, "w") as f:
        json.dump({"system": system, "qemu": flags, "unit": "guest instructions per operation",
                   "results": results}, f, indent=2)
        f.write("\n")
    print(f"{system}: guest instructions per operation, qemu {flags}")
    print(f"{'operation':34} {'iterations':>10} {'instr/op':>12} {'target':>8}  ")
    missed = 0
    for r in results:
        target = TARGETS.get(r["name"])
        label = LABELS.get(r["name"], (r["name"], r["name"]))[0 if system == "zircon" else 1]
        verdict = ""
        if system == "zircon" and target is not None:
            verdict = "ok" if r["per_op"] <= target else "MISSED"
            missed += r["per_op"] > target
        settled = "" if r.get("settled", True) else " (unsettled)"
        tgt = str(target) if (target is not None and system == "zircon") else "-"
        print(f"{label:34} {r['iterations']:>10} {r['per_op']:>12.1f} {tgt:>8}  {verdict}{settled}")
    print(f"wrote {out}")
    if system == "zircon":
        print(f"{sum(1 for r in results if TARGETS.get(r['name']) is not None) - missed} targets met, {missed} missed")


def load_results(path):
    """The rows of a bench JSON file, by operation name."""
    with open(path) as f:
        return {r["name"]: r for r in json.load(f)["results"]}


def compare(zircon_path, linux_path):
    zircon = load_results(zircon_path)
    linux = load_results(linux_path)
    print("guest instructions per operation (qemu -icount shift=0); ratio = Linux / this kernel")
    print(f"{'operation':32} {'this kernel':>12} {'target':>8} | {'Linux equivalent':30} {'Linux':>10} {'ratio':>7}")
    for name in TARGETS:
        z = zircon.get(name)
        l = linux.get(name)
        zl, ll = LABELS[name]
        zs = f"{z['per_op']:.1f}" if z else "-"
        ls = f"{l['per_op']:.1f}" if l else "-"
        ratio = f"{l['per_op'] / z['per_op']:.1f}x" if (z and l and z["per_op"] > 0) else "-"
        tgt = str(TARGETS[name]) if TARGETS[name] is not None else "-"
        print(f"{zl:32} {zs:>12} {tgt:>8} | {ll:30} {ls:>10} {ratio:>7}")


# A row is flagged when its -smp 4 figure is this much above its -smp 1 figure.
SMP4_TOLERANCE = 1.05


def compare_smp4(one_path, four_path):
    one = load_results(one_path)
    four = load_results(four_path)
    print("guest instructions per operation (qemu -icount shift=0); ratio = -smp 4 / -smp 1")
    print(f"{'operation':34} {'-smp 1':>12} {'-smp 4':>12} {'ratio':>7}")
    worse = 0
    for name in list(one) + [n for n in four if n not in one]:
        a, b = one.get(name), four.get(name)
        label = LABELS.get(name, (name, name))[0]
        sa = f"{a['per_op']:.1f}" if a else "-"
        sb = f"{b['per_op']:.1f}" if b else "-"
        ratio, flag = "-", ""
        if a and b and a["per_op"] > 0:
            r = b["per_op"] / a["per_op"]
            ratio = f"{r:.3f}"
            if r > SMP4_TOLERANCE:
                flag = "  WORSE (>5%)"
                worse += 1
        print(f"{label:34} {sa:>12} {sb:>12} {ratio:>7}{flag}")
    print(f"{worse} rows more than 5% worse at -smp 4")


def parse_smp(path):
    """The `bench-smp {...}` lines of one make bench-smp boot, by name."""
    results = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("bench-smp {"):
                r = json.loads(line[len("bench-smp "):])
                results[r["name"]] = r
    if not results:
        sys.exit(f"{path}: no bench-smp lines")
    return results


SMP_LABELS = {
    "spin": "user-space loop (control)",
    "null_syscall": "null syscall (control)",
    "write_4k": "vmo_write 4 KiB, own VMO",
    "fault_committed": "fault, committed page, own VMO",
    "fault_zero_fill": "fault, zero-fill, fresh VMO",
}


def report_smp(out, one_log, two_log):
    one, two = parse_smp(one_log), parse_smp(two_log)
    with open(out, "w") as f:
        json.dump({"unit": "operations per second (wall time, MTTCG)", "smp1": one, "smp2": two},
                  f, indent=2)
        f.write("\n")
    threads = next(iter(one.values()))["threads"]
    print(f"{threads} threads, independent work, wall time under MTTCG; ops/s in thousands")
    print(f"{'workload':34} {'-smp 1':>10} {'-smp 2':>10} {'ratio':>7}")
    for name, label in SMP_LABELS.items():
        a, b = one.get(name), two.get(name)
        if not (a and b):
            continue
        ra = a["ops"] / a["ns"] * 1e9
        rb = b["ops"] / b["ns"] * 1e9
        if name in ("spin", "null_syscall"):
            verdict = "(control)"
        else:
            verdict = "ok" if rb / ra >= 1.8 else "below 1.8x"
        print(f"{label:34} {ra / 1e3:>10.1f} {rb / 1e3:>10.1f} {rb / ra:>6.2f}x  {verdict}")
    for cpus, res in (("1", one), ("2", two)):
        p = res.get("pingpong")
        if p:
            print(f"channel ping-pong round trip at -smp {cpus}: {p['ns'] / p['ops'] / 1e3:.1f} us "
                  f"(mean of {p['ops']})")
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--smp4":
        compare_smp4(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "--smp":
        report_smp(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4:
        report(sys.argv[1], sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

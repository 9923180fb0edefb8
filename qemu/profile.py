#!/usr/bin/env python3
"""Attributes guest instructions to functions from a QEMU `-d in_asm,exec,nochain` log.

  profile.py TRACE BASELINE_TRACE ITERATIONS ELF...

in_asm lists each translation block once, as translated: its guest instructions. exec logs
every execution of a block by its start address. Each execution adds the block's instruction
count to the function containing its start (the ELFs' symbols; user and kernel addresses do
not overlap). The baseline trace (the same boot with 0 iterations) is subtracted, leaving the
operation's own cost. Prints functions by instructions per iteration.
"""
import bisect
import collections
import re
import subprocess
import sys

trace, baseline, iterations, elfs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]

symbols = []
for elf in elfs:
    out = subprocess.run(["aarch64-linux-gnu-nm", "-n", "--defined-only", "--demangle", elf],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.append((int(parts[0], 16), parts[2]))
symbols.sort()
starts = [s[0] for s in symbols]


def name_of(pc):
    i = bisect.bisect_right(starts, pc) - 1
    if i < 0:
        return f"?{pc:#x}"
    name = symbols[i][1]
    # Shorten Rust paths: keep the last two components.
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return name


insn_re = re.compile(r"^0x([0-9a-f]+):\s")
exec_re = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def count(path):
    """Instructions executed per function in one trace."""
    block_len = {}
    per_function = collections.Counter()
    current_block = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("IN:"):
                current_block = None
                continue
            m = insn_re.match(line)
            if m:
                pc = int(m.group(1), 16)
                if current_block is None:
                    current_block = pc
                    block_len[pc] = 0
                block_len[current_block] += 1
                continue
            m = exec_re.match(line)
            if m:
                current_block = None
                pc = int(m.group(1), 16)
                per_function[name_of(pc)] += block_len.get(pc, 1)
    return per_function


run = count(trace)
run.subtract(count(baseline))
total = sum(run.values())
print(f"{total / iterations:.1f} guest instructions per iteration "
      f"({total} over {iterations} iterations, start-up subtracted)")
for name, n in run.most_common(40):
    if n / iterations >= 0.5:
        print(f"{n / iterations:10.1f}  {name}")

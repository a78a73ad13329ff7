"""Tests of crash records (pytest_kdump.detect: find_crashes, StreamDetector, signatures).

The real console of a sysrq run (tests/data/sysrq-x86_64/console.raw) is the reference for
what this project's QEMU guest prints. Every other report here is HAND-BUILT: written after
what Linux 6.1 (Debian 6.1.0-56 amd64/arm64) prints for that kind of crash, with the real
log's hardware line, release, console prefixes and CRLF line ends, for the kinds QEMU TCG
cannot produce here (no NMI watchdog, no KASAN/UBSAN/KFENCE kernels) or that the trigger issue
will record for real later.
"""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from pytest_kdump import detect
from pytest_kdump.detect import CrashRecord, Frame, StreamDetector, find_crashes
from tests.helpers import DATA

RAW = DATA / "sysrq-x86_64" / "console.raw"
RELEASE = "6.1.0-56-cloud-amd64"
VERSION = f"{RELEASE} #1  Debian 6.1.192-2"
HW = "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"
MODS = "virtio_blk virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev virtio virtio_ring"
TAINT_LETTERS = "GFSRMBUDAWCIOELKXTN"  # 6.1's 19 taint flags, in print_tainted() order
KERNEL_OFFSET = ("Kernel Offset: 0x1a200000 from 0xffffffff81000000 (relocation range: "
                 "0xffffffff80000000-0xffffffffbfffffff)")


@pytest.fixture(scope="module")
def console() -> str:
    return RAW.read_bytes().decode("utf-8", errors="replace")


def tainted(flags: str) -> str:
    """The CPU line's taint part as 6.1 prints it: one column per flag (``G`` when clean)."""
    if not flags:
        return "Not tainted"
    cols = [c if c in flags or (c == "G" and "P" not in flags) else " " for c in TAINT_LETTERS]
    return "Tainted: " + "".join(cols)


def cpu_line(cpu: int, pid: int, comm: str, flags: str = "OE", kdump: bool = True) -> str:
    return (f"CPU: {cpu} PID: {pid} Comm: {comm}{' Kdump: loaded' if kdump else ''} "
            f"{tainted(flags)} {VERSION}")


def stamp(body: str, t: float = 31.0, step: float = 0.000173) -> str:
    """``body``'s lines as the serial console shows them: kernel timestamps and CRLF."""
    out = []
    for line in body.strip("\n").split("\n"):
        out.append(f"[{t:12.6f}] {line}")
        t += step
    return "\r\n".join(out) + "\r\n"


def shell(*lines: str) -> str:
    return "".join(f"{line}\r\n" for line in lines)


X86_REGS = """\
RSP: 0018:ffffa8a8c03b7c88 EFLAGS: 00010246
RAX: 0000000000000000 RBX: ffffffffc06c9000 RCX: 0000000000000000
RDX: 0000000000000000 RSI: ffffffff9b8c1d30 RDI: ffffffffc06c9000
RBP: ffff8fd2c1b3c9c0 R08: 0000000000000000 R09: ffffa8a8c03b7b20
R10: 0000000000000003 R11: ffffffff9c2d5e28 R12: 0000000000000000
R13: ffff8fd2c1b3c840 R14: ffff8fd2c1b3c840 R15: 0000000000000000
FS:  00000000004e8738(0000) GS:ffff8fd2dfa00000(0000) knlGS:0000000000000000
CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
CR2: 0000000000000000 CR3: 0000000001c6a000 CR4: 00000000000006f0"""
X86_CODE = ("Code: 0f 1f 44 00 00 48 c7 c7 00 90 6c c0 e8 d1 2b 8f db 31 c0 c3 cc cc cc cc 0f "
            "1f 44 00 00 <c7> 04 25 00 00 00 00 2a 00 00 00 c3 cc cc cc cc 66 0f 1f 44 00 00")
X86_USER = """\
RIP: 0033:0x4b3f1d
Code: 00 c3 66 2e 0f 1f 84 00 00 00 00 00 90 f3 0f 1e fa 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d \
89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 c7 c1 b8 ff ff ff f7 d8 64 89
RSP: 002b:00007ffd2c1e1b58 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
RAX: ffffffffffffffda RBX: 0000000000000003 RCX: 00000000004b3f1d
RDX: 0000000000000000 RSI: 00000000004c9f08 RDI: 0000000000000003
RBP: 00000000004c9f08 R08: 0000000000000000 R09: 0000000000000000
R10: 0000000000000003 R11: 0000000000000246 R12: 0000000000000000
R13: 00007ffd2c1e1e68 R14: 0000000000000000 R15: 0000000000000000"""


def insmod_trace(init: str, mod: str) -> str:
    """The call trace of a module's init function run by insmod (x86_64, 6.1)."""
    return f"""\
Call Trace:
 <TASK>
 {init}+0x12/0x1000 [{mod}]
 ? 0xffffffffc06ce000
 do_one_initcall+0x5a/0x220
 ? kmalloc_trace+0x26/0x90
 do_init_module+0x4a/0x1e0
 __do_sys_finit_module+0xac/0x120
 do_syscall_64+0x5d/0x90
 ? syscall_exit_to_user_mode+0x1e/0x40
 ? do_syscall_64+0x69/0x90
 entry_SYSCALL_64_after_hwframe+0x6e/0xd8
{X86_USER}
 </TASK>"""


# The crash kernel starting (x86 prints no "Starting crashdump kernel"): lines of the real log.
CRASH_KERNEL = stamp(f"""\
Linux version {RELEASE} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) \
12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)
Command line: console=ttyS0 pytest_kdump.after=poweroff irqpoll nr_cpus=1 reset_devices \
acpi_rsdp=0xf59c0 elfcorehdr=490868K
BIOS-provided physical RAM map:""", t=0.0, step=0.0)
PRODUCTION_BOOT = stamp(f"""\
Linux version {RELEASE} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) \
12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)
Command line: console=ttyS0 crashkernel=128M pytest_kdump.after=poweroff
BIOS-provided physical RAM map:""", t=0.0, step=0.0)


def oops_null_deref(kdump: bool, func: str = "crash_null_deref", pid: int = 187) -> str:
    """HAND-BUILT: x86_64 NULL pointer write in a module, panic_on_oops=1. With kdump the
    kernel jumps to the crash kernel after the oops (FACTS); without, it prints the end
    marker, the executive summary and the "Fatal exception" panic."""
    text = stamp(f"""\
BUG: kernel NULL pointer dereference, address: 0000000000000000
#PF: supervisor write access in kernel mode
#PF: error_code(0x0002) - not-present page
PGD 0 P4D 0
Oops: 0002 [#1] PREEMPT SMP NOPTI
{cpu_line(0, pid, "insmod", kdump=kdump)}
Hardware name: {HW}
RIP: 0010:{func}+0x5/0x10 [crashmod]
{X86_CODE}
{X86_REGS}
{insmod_trace("crashmod_init", "crashmod")}
Modules linked in: crashmod(OE+) {MODS}
CR2: 0000000000000000""")
    if kdump:
        return text + CRASH_KERNEL
    return text + stamp(f"""\
---[ end trace 0000000000000000 ]---
RIP: 0010:{func}+0x5/0x10 [crashmod]
{X86_CODE}
{X86_REGS}
Kernel panic - not syncing: Fatal exception
{KERNEL_OFFSET}
---[ end Kernel panic - not syncing: Fatal exception ]---""", t=31.2)


# HAND-BUILT: arm64 (6.1.0-56-arm64 under qemu -M virt) NULL write in a module with kdump:
# arm64 says "Starting crashdump kernel..." and "Bye!" before the crash kernel's banner.
ARM64_NULL = stamp("""\
Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000
Mem abort info:
  ESR = 0x0000000096000045
  EC = 0x25: DABT (current EL), IL = 32 bits
  SET = 0, FnV = 0
  EA = 0, S1PTW = 0
  FSC = 0x05: level 1 translation fault
Data abort info:
  ISV = 0, ISS = 0x00000045
  CM = 0, WnR = 1
user pgtable: 4k pages, 48-bit VAs, pgdp=0000000041a1b000
[0000000000000000] pgd=0000000000000000, p4d=0000000000000000
Internal error: Oops: 0000000096000045 [#1] SMP
Modules linked in: crashmod(OE+) virtio_blk virtio_mmio
CPU: 0 PID: 143 Comm: insmod Kdump: loaded Tainted: G           OE      \
6.1.0-56-arm64 #1  Debian 6.1.192-2
Hardware name: linux,dummy-virt (DT)
pstate: 60000005 (nZCv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
pc : crash_null_deref+0x14/0x20 [crashmod]
lr : crashmod_init+0x10/0x1000 [crashmod]
sp : ffff80000a5fbb90
x29: ffff80000a5fbb90 x28: 0000000000000000 x27: ffff0000c0a1c000
x26: 0000000000000000 x25: ffff80000a5fbd70 x24: ffff80000a5fbd70
x2 : 0000000000000000 x1 : ffff0000c1e9c000 x0 : 000000000000002a
Call trace:
 crash_null_deref+0x14/0x20 [crashmod]
 crashmod_init+0x10/0x1000 [crashmod]
 do_one_initcall+0x4c/0x1f0
 do_init_module+0x4c/0x1d0
 load_module+0x1e3c/0x2130
 __do_sys_finit_module+0xac/0x12c
 __arm64_sys_finit_module+0x28/0x34
 invoke_syscall+0x78/0x100
 el0_svc_common.constprop.0+0x4c/0xf4
 do_el0_svc+0x34/0x4c
 el0_svc+0x34/0x10c
 el0t_64_sync_handler+0xf4/0x120
 el0t_64_sync+0x18c/0x190
Code: d503233f d2800001 d2800000 910003fd (b900003f)
SMP: stopping secondary CPUs
Starting crashdump kernel...
Bye!""", t=9.1) + stamp("""\
Booting Linux on physical CPU 0x0000000000 [0x000f0510]
Linux version 6.1.0-56-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) \
12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP Debian 6.1.192-2 (2026-11-16)
random: crng init done
Machine model: linux,dummy-virt
Kernel command line: console=ttyAMA0 irqpoll nr_cpus=1 reset_devices elfcorehdr=0x5c000000""",
                                t=0.0, step=0.0)

# HAND-BUILT: x86_64 BUG() in a module, panic_on_oops=0: insmod is killed, the kernel goes on.
KERNEL_BUG = stamp(f"""\
------------[ cut here ]------------
kernel BUG at drivers/foo.c:42!
invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
{cpu_line(1, 211, "insmod", kdump=False)}
Hardware name: {HW}
RIP: 0010:foo_check_state+0x11/0x20 [foo]
{X86_CODE}
{X86_REGS}
{insmod_trace("foo_init", "foo")}
Modules linked in: foo(OE+) {MODS}
---[ end trace 0000000000000000 ]---
RIP: 0010:foo_check_state+0x11/0x20 [foo]
{X86_CODE}
{X86_REGS}""") + shell("Segmentation fault", "kdump# \x1b[6n") + stamp("""\
virtio_blk virtio0: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)
random: crng init done""", t=40.0) + shell(*(f"line {i}" for i in range(12)))


def die_oops(header: str, func: str, kdump: bool = True) -> str:
    """HAND-BUILT: an x86_64 trap in a module's code (panic_on_oops=1, kdump armed)."""
    return stamp(f"""\
{header}
{cpu_line(0, 190, "insmod", kdump=kdump)}
Hardware name: {HW}
RIP: 0010:{func}+0x4/0x10 [crashmod]
{X86_CODE}
{X86_REGS}
{insmod_trace("crashmod_init", "crashmod")}
Modules linked in: crashmod(OE+) {MODS}""") + CRASH_KERNEL


# HAND-BUILT: a list_del on a poisoned entry in a workqueue item, panic_on_oops=1, no kdump.
GPF = stamp(f"""\
general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] \
PREEMPT SMP NOPTI
{cpu_line(0, 77, "kworker/0:2", kdump=False)}
Hardware name: {HW}
Workqueue: events foo_work_fn [foo]
RIP: 0010:__list_del_entry_valid+0x25/0xc0
{X86_CODE}
{X86_REGS}
Call Trace:
 <TASK>
 foo_release_item+0x2b/0x60 [foo]
 foo_work_fn+0x41/0x90 [foo]
 process_one_work+0x1c7/0x380
 worker_thread+0x4d/0x380
 ? rescuer_thread+0x3a0/0x3a0
 kthread+0xd7/0x100
 ? kthread_complete_and_exit+0x20/0x20
 ret_from_fork+0x1f/0x30
 </TASK>
Modules linked in: foo(OE) {MODS}
---[ end trace 0000000000000000 ]---
RIP: 0010:__list_del_entry_valid+0x25/0xc0
{X86_REGS}
Kernel panic - not syncing: Fatal exception
{KERNEL_OFFSET}
---[ end Kernel panic - not syncing: Fatal exception ]---""")


def warning(panic: bool, kdump: bool = True, func: str = "my_func", line: int = 10,
            pid: int = 196) -> str:
    """HAND-BUILT: WARN_ON() in a module (x86_64, 6.1.192: check_panic_on_warn("kernel"))."""
    text = stamp(f"""\
------------[ cut here ]------------
WARNING: CPU: 0 PID: {pid} at mm/x.c:{line} {func}+0x15/0x30 [mod]
Modules linked in: mod(OE+) {MODS}
{cpu_line(0, pid, "insmod", kdump=kdump)}
Hardware name: {HW}
RIP: 0010:{func}+0x15/0x30 [mod]
{X86_CODE}
{X86_REGS}
{insmod_trace("mod_init", "mod")}""")
    if not panic:
        return text + stamp("---[ end trace 0000000000000000 ]---", t=31.1) + shell(
            *(f"kdump# echo {i}" for i in range(12)))
    text += stamp(f"""\
Kernel panic - not syncing: kernel: panic_on_warn set ...
{cpu_line(0, pid, "insmod", "WOE", kdump=kdump)}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 check_panic_on_warn.cold+0x10/0x10
 __warn.cold+0x48/0x106
 ? {func}+0x15/0x30 [mod]
 report_bug+0xe6/0x170
 handle_bug+0x3c/0x80
 exc_invalid_op+0x13/0x60
 asm_exc_invalid_op+0x16/0x20
RIP: 0010:{func}+0x15/0x30 [mod]
{X86_REGS}
 mod_init+0x12/0x1000 [mod]
 do_one_initcall+0x5a/0x220
 </TASK>""", t=31.1)
    if kdump:
        return text + CRASH_KERNEL
    return text + stamp(f"""\
{KERNEL_OFFSET}
---[ end Kernel panic - not syncing: kernel: panic_on_warn set ... ]---""", t=31.2)


# HAND-BUILT: softlockup_panic=1, watchdog_thresh=5 (FACTS: ~25 s), a module spinning in init.
SOFT_LOCKUP = stamp(f"""\
watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:123]
Modules linked in: lockmod(OE+) {MODS}
{cpu_line(0, 123, "insmod")}
Hardware name: {HW}
RIP: 0010:spin_forever+0xd/0x20 [lockmod]
{X86_CODE}
{X86_REGS}
{insmod_trace("lockmod_init", "lockmod")}
Kernel panic - not syncing: softlockup: hung tasks
{cpu_line(0, 123, "insmod", "OEL")}
Hardware name: {HW}
Call Trace:
 <IRQ>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 watchdog_timer_fn.cold+0x19/0x19
 ? softlockup_fn+0x40/0x40
 __hrtimer_run_queues+0x112/0x2b0
 hrtimer_interrupt+0xfc/0x210
 __sysvec_apic_timer_interrupt+0x5f/0x110
 sysvec_apic_timer_interrupt+0x69/0x90
 </IRQ>
 <TASK>
 asm_sysvec_apic_timer_interrupt+0x16/0x20
RIP: 0010:spin_forever+0xd/0x20 [lockmod]
{X86_REGS}
 ? spin_forever+0x5/0x20 [lockmod]
 lockmod_init+0xa/0x1000 [lockmod]
 do_one_initcall+0x5a/0x220
 </TASK>""", t=28.6) + CRASH_KERNEL

# HAND-BUILT: NMI watchdog (perf) hard lockup, hardlockup_panic=1, no kdump.
HARD_LOCKUP = stamp(f"""\
NMI watchdog: Watchdog detected hard LOCKUP on cpu 1
Modules linked in: lockmod(OE+) {MODS}
{cpu_line(1, 130, "insmod", kdump=False)}
Hardware name: {HW}
RIP: 0010:native_queued_spin_lock_slowpath+0x6a/0x2a0
{X86_CODE}
{X86_REGS}
Call Trace:
 <TASK>
 _raw_spin_lock_irq+0x29/0x30
 hard_spin+0x16/0x30 [lockmod]
 lockmod_init+0xa/0x1000 [lockmod]
 do_one_initcall+0x5a/0x220
 </TASK>
Kernel panic - not syncing: Hard LOCKUP
{cpu_line(1, 130, "insmod", kdump=False)}
Hardware name: {HW}
Call Trace:
 <NMI>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 nmi_panic.cold+0xc/0xc
 watchdog_overflow_callback.cold+0x5c/0x70
 __perf_event_overflow+0x54/0x100
 handle_pmi_common+0x1e3/0x3a0
 intel_pmu_handle_irq+0x10e/0x1f0
 perf_event_nmi_handler+0x28/0x50
 nmi_handle+0x5e/0x120
 default_do_nmi+0x45/0x120
 exc_nmi+0x103/0x180
 end_repeat_nmi+0x16/0x67
RIP: 0010:native_queued_spin_lock_slowpath+0x6a/0x2a0
{X86_REGS}
 </NMI>
 <TASK>
 _raw_spin_lock_irq+0x29/0x30
 hard_spin+0x16/0x30 [lockmod]
 </TASK>
{KERNEL_OFFSET}
---[ end Kernel panic - not syncing: Hard LOCKUP ]---""", t=40.1)

# HAND-BUILT: hung_task_panic=1 with a 5 s timeout (FACTS), two tasks blocked in a module.
HUNG_TASK = stamp(f"""\
INFO: task hang_test:123 blocked for more than 5 seconds.
      {tainted("OE")} {VERSION}
"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
task:hang_test       state:D stack:0     pid:123   ppid:2      flags:0x00004000
Call Trace:
 <TASK>
 __schedule+0x34d/0x9e0
 schedule+0x5a/0xd0
 hang_fn+0x1d/0x30 [hangmod]
 ? hangmod_init+0x20/0x20 [hangmod]
 kthread+0xd7/0x100
 ? kthread_complete_and_exit+0x20/0x20
 ret_from_fork+0x1f/0x30
 </TASK>
INFO: task hang_test2:124 blocked for more than 5 seconds.
      {tainted("OE")} {VERSION}
"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
task:hang_test2      state:D stack:0     pid:124   ppid:2      flags:0x00004000
Call Trace:
 <TASK>
 __schedule+0x34d/0x9e0
 schedule+0x5a/0xd0
 hang_fn+0x1d/0x30 [hangmod]
 kthread+0xd7/0x100
 ret_from_fork+0x1f/0x30
 </TASK>
Kernel panic - not syncing: hung_task: blocked tasks
{cpu_line(1, 35, "khungtaskd")}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 watchdog.cold+0x2b/0xab
 ? proc_dohung_task_timeout_secs+0x40/0x40
 kthread+0xd7/0x100
 ? kthread_complete_and_exit+0x20/0x20
 ret_from_fork+0x1f/0x30
 </TASK>""", t=245.1) + CRASH_KERNEL

# HAND-BUILT: panic_on_rcu_stall=1, a module spinning with preemption off on CPU 0.
RCU_STALL = stamp(f"""\
rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
rcu: \t0-...!: (1 GPs behind) idle=2f4c/1/0x4000000000000000 softirq=2209/2210 fqs=0
\t(detected by 1, t=21002 jiffies, g=2853, q=129 ncpus=2)
Sending NMI from CPU 1 to CPUs 0:
NMI backtrace for cpu 0
{cpu_line(0, 140, "insmod", "OEL")}
Hardware name: {HW}
RIP: 0010:rcu_spin+0x10/0x20 [stallmod]
{X86_CODE}
{X86_REGS}
{insmod_trace("stallmod_init", "stallmod")}
rcu: rcu_preempt kthread timer wakeup didn't happen for 21001 jiffies! g2853 f0x0 \
RCU_GP_WAIT_FQS(5) ->state=0x402
Kernel panic - not syncing: RCU Stall
{cpu_line(1, 0, "swapper/1", "OEL")}
Hardware name: {HW}
Call Trace:
 <IRQ>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 rcu_sched_clock_irq.cold+0x2d4/0x2d4
 update_process_times+0x5f/0x90
 tick_sched_timer+0x88/0xa0
 __hrtimer_run_queues+0x112/0x2b0
 hrtimer_interrupt+0xfc/0x210
 __sysvec_apic_timer_interrupt+0x5f/0x110
 sysvec_apic_timer_interrupt+0x69/0x90
 </IRQ>
 <TASK>
 asm_sysvec_apic_timer_interrupt+0x16/0x20
RIP: 0010:default_idle+0xb/0x10
{X86_REGS}
 default_idle_call+0x2c/0xe0
 do_idle+0x226/0x2b0
 cpu_startup_entry+0x19/0x20
 start_secondary+0x11b/0x140
 secondary_startup_64_no_verify+0xe5/0xeb
 </TASK>""", t=60.1) + CRASH_KERNEL

# HAND-BUILT: generic KASAN (a kernel built with KASAN; Debian's are not), report only.
KASAN = stamp(f"""\
==================================================================
BUG: KASAN: slab-out-of-bounds in oob_write+0x2a/0x40 [kasanmod]
Write of size 1 at addr ffff888004d3a8c8 by task insmod/201

{cpu_line(0, 201, "insmod", kdump=False)}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x48/0x60
 print_report+0x170/0x473
 ? __virt_addr_valid+0xe8/0x160
 ? oob_write+0x2a/0x40 [kasanmod]
 kasan_report+0xb1/0xe0
 ? oob_write+0x2a/0x40 [kasanmod]
 oob_write+0x2a/0x40 [kasanmod]
 kasanmod_init+0x13/0x1000 [kasanmod]
 ? 0xffffffffc0a6b000
 do_one_initcall+0x97/0x2f0
 do_init_module+0x4a/0x1e0
 </TASK>

Allocated by task 201:
 kasan_save_stack+0x22/0x50
 kasan_set_track+0x25/0x30
 __kasan_kmalloc+0x7f/0x90
 oob_write+0x1b/0x40 [kasanmod]
 kasanmod_init+0x13/0x1000 [kasanmod]
 do_one_initcall+0x97/0x2f0

The buggy address belongs to the object at ffff888004d3a8c0
 which belongs to the cache kmalloc-8 of size 8
The buggy address is located 0 bytes to the right of
 8-byte region [ffff888004d3a8c0, ffff888004d3a8c8)

The buggy address belongs to the physical page:
page:00000000b6e4c1a3 refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x4d3a
flags: 0x100000000000200(slab|node=0|zone=1)
raw: 0100000000000200 ffff888001041280 dead000000000122 0000000000000000
raw: 0000000000000000 0000000080660066 00000001ffffffff 0000000000000000
page dumped because: kasan: bad access detected

Memory state around the buggy address:
 ffff888004d3a780: fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc
 ffff888004d3a800: fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc
>ffff888004d3a880: fc fc fc fc fc fc fc fc 00 fc fc fc fc fc fc fc
                                              ^
 ffff888004d3a900: fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc fc
==================================================================
Disabling lock debugging due to kernel taint""", t=12.3)

# HAND-BUILT: CONFIG_UBSAN_BOUNDS report (not fatal).
UBSAN = stamp(f"""\
================================================================================
UBSAN: array-index-out-of-bounds in drivers/misc/ubsanmod.c:12:3
index 10 is out of range for type 'int [10]'
{cpu_line(0, 205, "insmod", kdump=False)}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 ubsan_epilogue+0x5/0x40
 __ubsan_handle_out_of_bounds.cold+0x44/0x49
 oob_index+0x3c/0x40 [ubsanmod]
 ubsanmod_init+0xe/0x1000 [ubsanmod]
 ? 0xffffffffc0a44000
 do_one_initcall+0x5a/0x220
 </TASK>
================================================================================""", t=14.0)

# HAND-BUILT: KFENCE use-after-free (Debian 6.1 has CONFIG_KFENCE), report only.
KFENCE = stamp(f"""\
==================================================================
BUG: KFENCE: use-after-free read in uaf_read+0x2d/0x50 [kfencemod]

Use-after-free read at 0x00000000a3c1a0e5 (in kfence-#77):
 uaf_read+0x2d/0x50 [kfencemod]
 kfencemod_init+0xa/0x1000 [kfencemod]
 do_one_initcall+0x5a/0x220
 do_init_module+0x4a/0x1e0
 __do_sys_finit_module+0xac/0x120
 do_syscall_64+0x5d/0x90
 entry_SYSCALL_64_after_hwframe+0x6e/0xd8

kfence-#77: 0x000000007a2f4c21-0x00000000e4b5f0d7, size=32, cache=kmalloc-32

allocated by task 209 on cpu 0 at 31.482411s:
 kmalloc_trace+0x26/0x90
 uaf_read+0x16/0x50 [kfencemod]
 kfencemod_init+0xa/0x1000 [kfencemod]

freed by task 209 on cpu 0 at 31.482425s:
 uaf_read+0x21/0x50 [kfencemod]
 kfencemod_init+0xa/0x1000 [kfencemod]

{cpu_line(0, 209, "insmod", "BOE", kdump=False)}
Hardware name: {HW}
==================================================================""", t=31.5)

# HAND-BUILT: -fstack-protector canary overwritten in a module function, kdump armed.
STACK_PROTECTOR = stamp(f"""\
Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: \
smash_stack+0x51/0x60 [spmod]
{cpu_line(0, 215, "insmod")}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 ? smash_stack+0x51/0x60 [spmod]
 __stack_chk_fail+0x10/0x10
 smash_stack+0x51/0x60 [spmod]
 ? 0xffffffffc0a50000
 spmod_init+0xa/0x1000 [spmod]
 do_one_initcall+0x5a/0x220
 </TASK>""", t=20.4) + CRASH_KERNEL


def only(text: str) -> CrashRecord:
    records = find_crashes(text)
    assert len(records) == 1, [str(r) for r in records]
    return records[0]


def names(record: CrashRecord) -> list[str]:
    return [f.name for f in record.frames]


# --- the real sysrq run ------------------------------------------------------------------------

def test_real_sysrq_record(console: str) -> None:
    rec = only(console)
    assert rec.kind == "panic"
    assert rec.headline == "Kernel panic - not syncing: sysrq triggered crash"
    assert rec.message == rec.panic_message == "sysrq triggered crash"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 99, "sh")
    assert rec.taint == "Not tainted" and rec.taint_flags == ""
    assert rec.kdump_loaded and rec.fatal and rec.crash_kernel
    assert rec.end == "kernel-start"  # kdump jumped before "---[ end Kernel panic"
    assert rec.kernel_release == RELEASE
    assert rec.hardware == HW
    assert rec.rip is None  # the only RIP is user space's (RIP: 0033:0x47b7a0)
    assert names(rec)[:5] == ["dump_stack_lvl", "panic", "_printk", "sysrq_handle_crash",
                              "__handle_sysrq"]
    assert rec.frames[2] == Frame("_printk", 0x68, None, reliable=False, size=0x83)
    assert rec.frames[3] == Frame("sysrq_handle_crash", 0x16, None, True, 0x20)
    assert str(rec.frames[4]) == "__handle_sysrq.cold+0x44/0x11c"
    assert names(rec)[-1] == "entry_SYSCALL_64_after_hwframe" and len(rec.frames) == 32
    assert rec.guilty_frame == "sysrq_handle_crash"
    assert rec.signature == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"
    assert rec.modules == []  # a panic prints no module list
    assert (rec.start_line, rec.end_line) == (370, 415)
    lines = console.split("\n")
    assert lines[369].startswith("[    4.414331] Kernel panic")
    assert lines[414].strip() == "[    4.513963]  </TASK>"
    assert lines[415].startswith("[    0.000000] Linux version")
    assert rec.raw.splitlines()[0] == ("[    4.414331] Kernel panic - not syncing: sysrq "
                                       "triggered crash")
    assert "\r" not in rec.raw and len(rec.raw.splitlines()) == 46
    assert rec.context.splitlines()[-2:] == [
        "kdump# echo c > /proc/sysrq-trigger; echo TRIGGER-''RETURNED-$?",
        "[    4.414039] sysrq: Trigger a crash"]  # the ESC[6n of the prompt is gone
    assert rec.timestamp == pytest.approx(4.414331)
    assert not rec.truncated and not rec.corrupted


def test_real_record_str_and_json(console: str) -> None:
    rec = only(console)
    text = str(rec)
    assert text.splitlines()[0] == ("panic (fatal, crash kernel started): Kernel panic: sysrq "
                                    "triggered crash in sysrq_handle_crash")
    assert "CPU 0, PID 99 (sh), Not tainted, 6.1.0-56-cloud-amd64, kdump loaded" in text
    assert "call trace: dump_stack_lvl < panic < sysrq_handle_crash < __handle_sysrq.cold" in text
    assert "console lines 370-415, ended by kernel-start" in text
    data = json.loads(json.dumps(rec.to_dict()))
    assert data["signature"] == rec.signature and data["kind"] == "panic"
    assert data["frames"][3] == {"function": "sysrq_handle_crash", "offset": 22, "module": None,
                                 "reliable": True, "size": 32}
    assert rec.excerpt(3).splitlines()[-1] == "... (43 more lines)"


def test_real_log_in_random_chunks(console: str) -> None:
    expected = find_crashes(console)
    for seed in range(5):
        rng = random.Random(seed)
        detector = StreamDetector()
        got: list[CrashRecord] = []
        pos = 0
        while pos < len(console):
            size = rng.choice([1, 2, 3, 7, 64, 500, 4096])
            got += detector.feed(console[pos:pos + size])
            pos += size
        got += detector.flush()
        assert got == expected


def test_record_completes_at_the_crash_kernel_banner(console: str) -> None:
    """The cycle can leave the crash wait as soon as the crash kernel's first line arrives."""
    banner = console.index("[    0.000000] Linux version", console.index("sysrq triggered"))
    detector = StreamDetector()
    assert detector.feed(console[:banner]) == []
    assert detector.in_report
    snapshot = detector.pending()
    assert [r.signature for r in snapshot] == [
        "Kernel panic: sysrq triggered crash in sysrq_handle_crash"]
    assert snapshot[0].end == "eof"
    eol = console.index("\n", banner) + 1
    assert detector.feed(console[banner:eol - 1]) == []  # records complete at line ends
    done = detector.feed(console[eol - 1:eol])
    assert [r.end for r in done] == ["kernel-start"] and done[0].crash_kernel
    assert not detector.in_report and detector.pending() == []
    assert detector.feed(console[eol:]) == [] and detector.flush() == []


def test_two_sessions_in_one_log(console: str) -> None:
    # a power cycle: the second production boot (no elfcorehdr=) is not a crash
    records = find_crashes(console + console)
    assert [r.signature for r in records] == [records[0].signature] * 2
    assert records[1].start_line == records[0].start_line + console.count("\n")


def test_console_stops_after_the_panic(console: str) -> None:
    cut = console.index("[    4.447517]")
    detector = StreamDetector()
    assert detector.feed(console[:cut]) == []
    (rec,) = detector.flush()
    assert rec.end == "eof" and rec.fatal and not rec.crash_kernel
    assert rec.signature == "Kernel panic: sysrq triggered crash in sysrq_handle_crash"


def test_reset(console: str) -> None:
    detector = StreamDetector()
    detector.feed(console[:console.index("  panic+0x118")])
    assert detector.in_report and detector.lines > 300
    detector.reset()
    assert not detector.in_report and detector.lines == 0 and detector.flush() == []


def test_nmi_crash_kernel_without_report(console: str) -> None:
    """Derived from the real log: its sysrq report removed, as an NMI panic leaves it (FACTS:
    an NMI panic prints nothing; the crash kernel's banner follows the shell prompt)."""
    lines = console.split("\n")
    nmi = "\n".join(lines[:368] + lines[415:])
    rec = only(nmi)
    assert rec.kind == "unknown"
    assert rec.message == detect.UNKNOWN_REASON
    assert rec.message == ("crash kernel started with no crash report on the console "
                           "(NMI or hard hang?)")
    assert rec.signature == "unknown: crash kernel started with no crash report"
    assert rec.fatal and rec.crash_kernel and rec.kdump_loaded
    assert rec.kernel_release == RELEASE and rec.end == "kernel-start"
    assert rec.headline.startswith(f"Linux version {RELEASE} (debian-kernel")
    assert (rec.start_line, rec.end_line) == (369, 370)
    assert "elfcorehdr=490868K" in rec.raw
    assert rec.context.splitlines()[-1].startswith("kdump# echo c > /proc/sysrq-trigger")
    # the first boot's banner alone is not a crash, nor a reboot into a production kernel
    assert find_crashes("\n".join(lines[:368])) == []
    assert find_crashes(PRODUCTION_BOOT + shell("kdump# ") + PRODUCTION_BOOT) == []


def test_nmi_arm64_starting_crashdump_kernel() -> None:
    # HAND-BUILT: arm64 says it before the ~7 s of silence and the crash kernel's banner
    text = shell("kdump# \x1b[6n") + stamp("""\
SMP: stopping secondary CPUs
Starting crashdump kernel...
Bye!""", t=50.0) + ARM64_NULL.split("Bye!\r\n", 1)[1]
    detector = StreamDetector()
    first = detector.feed(text[:text.index("Bye!")])
    assert [r.kind for r in first] == ["unknown"] and first[0].end == "crashdump-start"
    assert detector.feed(text[text.index("Bye!"):]) + detector.flush() == []  # banner claimed


# --- hand-built reports, one per kind --------------------------------------------------------

def test_null_deref_panic_on_oops_without_kdump() -> None:
    text = shell("kdump# insmod /lib/modules/crashmod.ko") + oops_null_deref(kdump=False)
    rec = only(text)
    assert rec.kind == "null-deref"
    assert rec.headline == "BUG: kernel NULL pointer dereference, address: 0000000000000000"
    assert rec.message == "kernel NULL pointer dereference, address: 0000000000000000"
    assert rec.panic_message == "Fatal exception"
    assert rec.fatal and not rec.crash_kernel and rec.end == "end-panic"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 187, "insmod")
    assert rec.taint == "G OE" and rec.taint_flags == "GOE"
    assert not rec.kdump_loaded and rec.hardware == HW and rec.kernel_release == RELEASE
    assert rec.rip == Frame("crash_null_deref", 5, "crashmod", True, 0x10)
    assert names(rec) == ["crashmod_init", "do_one_initcall", "kmalloc_trace", "do_init_module",
                          "__do_sys_finit_module", "do_syscall_64", "syscall_exit_to_user_mode",
                          "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
    assert [f.reliable for f in rec.frames][:4] == [True, True, False, True]
    assert rec.frames[0].module == "crashmod"
    assert rec.modules == ["crashmod", "virtio_blk", "virtio_pci", "virtio_pci_legacy_dev",
                           "virtio_pci_modern_dev", "virtio", "virtio_ring"]
    assert rec.signature == "BUG: kernel NULL pointer dereference in crash_null_deref"
    assert rec.raw.splitlines()[-1].endswith(
        "---[ end Kernel panic - not syncing: Fatal exception ]---")
    assert rec.start_line == 2 and rec.end_line == text.count("\n")


def test_null_deref_with_kdump_ends_at_the_crash_kernel() -> None:
    rec = only(oops_null_deref(kdump=True))
    assert rec.kind == "null-deref" and rec.kdump_loaded
    assert rec.fatal and rec.crash_kernel and rec.end == "kernel-start"
    assert rec.panic_message is None  # the kernel jumped before panic()
    assert rec.raw.splitlines()[-1].endswith("CR2: 0000000000000000")
    assert rec.signature == "BUG: kernel NULL pointer dereference in crash_null_deref"


def test_arm64_null_deref() -> None:
    rec = only(ARM64_NULL)
    assert rec.kind == "null-deref"
    assert rec.headline == ("Unable to handle kernel NULL pointer dereference at virtual address "
                            "0000000000000000")
    assert rec.end == "crashdump-start" and rec.fatal and rec.crash_kernel
    assert (rec.cpu, rec.pid, rec.comm, rec.taint) == (0, 143, "insmod", "G OE")
    assert rec.kernel_release == "6.1.0-56-arm64" and rec.hardware == "linux,dummy-virt (DT)"
    assert rec.rip == Frame("crash_null_deref", 0x14, "crashmod", True, 0x20)
    assert names(rec)[:3] == ["crash_null_deref", "crashmod_init", "do_one_initcall"]
    assert "el0_svc_common" in names(rec) and len(rec.frames) == 13
    assert rec.modules == ["crashmod", "virtio_blk", "virtio_mmio"]
    # the same bug as on x86: the same title
    assert rec.signature == "BUG: kernel NULL pointer dereference in crash_null_deref"
    assert rec.raw.splitlines()[-1].endswith("Starting crashdump kernel...")


def test_kernel_bug_not_fatal() -> None:
    rec = only(KERNEL_BUG)
    assert rec.kind == "bug"
    assert rec.headline == rec.message == "kernel BUG at drivers/foo.c:42!"
    assert rec.start_line == 1 and rec.raw.startswith("[   31.000000] ------------[ cut here ]")
    assert not rec.fatal and rec.end == "end-trace" and rec.panic_message is None
    assert (rec.cpu, rec.pid) == (1, 211)
    assert rec.rip is not None and rec.rip.function == "foo_check_state"
    assert rec.signature == "kernel BUG in foo_check_state"
    # the report ends with its end marker and executive summary: shell lines are not in it
    assert rec.raw.splitlines()[-1].startswith("[   31.") and "Segmentation" not in rec.raw


@pytest.mark.parametrize("header, func, kind, title", [
    ("invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", "crash_ud2", "invalid-opcode",
     "invalid opcode in crash_ud2"),
    ("divide error: 0000 [#1] PREEMPT SMP NOPTI", "crash_div0", "divide-error",
     "divide error in crash_div0"),
    # Linux >= 6.9 puts "Oops: " in front of the trap name
    ("Oops: divide error: 0000 [#1] PREEMPT SMP NOPTI", "crash_div0", "divide-error",
     "divide error in crash_div0"),
    ("stack segment: 0000 [#1] PREEMPT SMP NOPTI", "crash_ss", "oops", "stack segment in crash_ss"),
])
def test_x86_traps(header: str, func: str, kind: str, title: str) -> None:
    rec = only(die_oops(header, func))
    assert rec.kind == kind and rec.headline == header
    assert rec.fatal and rec.crash_kernel and rec.kdump_loaded
    assert rec.rip is not None and rec.rip.function == func
    assert rec.signature == title


def test_general_protection_fault() -> None:
    rec = only(GPF)
    assert rec.kind == "gpf"
    assert rec.message == ("general protection fault, probably for non-canonical address "
                           "0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI")
    assert (rec.pid, rec.comm) == (77, "kworker/0:2")
    assert rec.rip is not None and rec.rip.function == "__list_del_entry_valid"
    # the list check only reports the corruption: the guilty frame is its caller
    assert rec.guilty_frame == "foo_release_item"
    assert rec.signature == "general protection fault in foo_release_item"
    assert rec.fatal and rec.panic_message == "Fatal exception" and rec.end == "end-panic"


def test_warning_with_panic_on_warn() -> None:
    rec = only(warning(panic=True))
    assert rec.kind == "warning"
    assert rec.headline == "WARNING: CPU: 0 PID: 196 at mm/x.c:10 my_func+0x15/0x30 [mod]"
    assert rec.message == "mm/x.c:10 my_func+0x15/0x30 [mod]"
    assert rec.panic_message == "kernel: panic_on_warn set ..."
    assert rec.fatal and rec.crash_kernel and rec.end == "kernel-start"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 196, "insmod")
    assert rec.taint == "G OE"  # the first CPU line's: the panic's adds W
    assert names(rec)[0] == "mod_init"  # the WARNING's own trace, not the panic's
    assert rec.signature == "WARNING in my_func"
    assert rec.start_line == 1  # from "cut here"


def test_warning_with_panic_on_warn_no_kdump() -> None:
    rec = only(warning(panic=True, kdump=False))
    assert rec.end == "end-panic" and rec.fatal and not rec.crash_kernel
    assert rec.signature == "WARNING in my_func"


def test_warning_not_fatal_and_warn_text() -> None:
    rec = only(warning(panic=False))
    assert not rec.fatal and rec.end == "end-trace" and rec.panic_message is None
    assert rec.signature == "WARNING in my_func"
    text = warning(panic=False).replace("Modules linked in:", "refcount dropped to -1\r\n"
                                        "[   31.000300] Modules linked in:", 1)
    assert only(text).message == "mm/x.c:10 my_func+0x15/0x30 [mod]: refcount dropped to -1"


def test_soft_lockup() -> None:
    rec = only(SOFT_LOCKUP)
    assert rec.kind == "soft-lockup"
    assert rec.message == "soft lockup - CPU#0 stuck for 22s! [insmod:123]"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 123, "insmod")
    assert rec.panic_message == "softlockup: hung tasks"
    assert rec.fatal and rec.crash_kernel
    assert rec.rip is not None and rec.rip.function == "spin_forever"
    assert rec.modules[0] == "lockmod"
    assert rec.signature == "soft lockup in spin_forever"


def test_soft_lockup_not_fatal() -> None:
    text = SOFT_LOCKUP[:SOFT_LOCKUP.index("Kernel panic")]
    text = text[:text.rindex("\n") + 1] + shell(*(f"kdump# {i}" for i in range(15)))
    rec = only(text)
    assert not rec.fatal and rec.end == "end-report"
    assert rec.raw.splitlines()[-1].endswith(" </TASK>")
    assert rec.signature == "soft lockup in spin_forever"


def test_hard_lockup() -> None:
    rec = only(HARD_LOCKUP)
    assert rec.kind == "hard-lockup"
    assert rec.headline == "NMI watchdog: Watchdog detected hard LOCKUP on cpu 1"
    assert rec.message == "Watchdog detected hard LOCKUP on cpu 1"
    assert (rec.cpu, rec.pid, rec.comm) == (1, 130, "insmod")
    assert rec.panic_message == "Hard LOCKUP" and rec.end == "end-panic"
    assert rec.fatal and not rec.crash_kernel and not rec.kdump_loaded
    # spinning in the lock's slow path: the lock helpers are skipped
    assert rec.rip is not None and rec.rip.function == "native_queued_spin_lock_slowpath"
    assert rec.signature == "hard lockup in hard_spin"


def test_hung_task() -> None:
    rec = only(HUNG_TASK)
    assert rec.kind == "hung-task"
    assert rec.message == "task hang_test:123 blocked for more than 5 seconds."
    assert (rec.cpu, rec.pid, rec.comm) == (None, 123, "hang_test")  # the blocked task
    assert rec.taint == "G OE" and rec.kernel_release == RELEASE
    assert rec.kdump_loaded and rec.fatal and rec.crash_kernel
    assert rec.panic_message == "hung_task: blocked tasks"
    assert names(rec)[:3] == ["__schedule", "schedule", "hang_fn"]
    assert rec.signature == "task hung in hang_fn"
    assert "hang_test2:124" in rec.raw  # the second blocked task is part of the same check


def test_rcu_stall() -> None:
    rec = only(RCU_STALL)
    assert rec.kind == "rcu-stall"
    assert rec.headline == "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 140, "insmod")  # the stalled CPU's backtrace
    assert rec.taint == "G OEL"
    assert rec.panic_message == "RCU Stall" and rec.fatal and rec.crash_kernel
    assert rec.rip is not None and rec.rip.function == "rcu_spin"
    assert rec.signature == "rcu detected stall in rcu_spin"


def test_kasan() -> None:
    rec = only(KASAN + shell(*(f"kdump# {i}" for i in range(12))))
    assert rec.kind == "kasan"
    assert rec.headline == "BUG: KASAN: slab-out-of-bounds in oob_write+0x2a/0x40 [kasanmod]"
    assert rec.message == "KASAN: slab-out-of-bounds in oob_write+0x2a/0x40 [kasanmod]"
    assert (rec.cpu, rec.pid, rec.comm) == (0, 201, "insmod")
    assert not rec.fatal and rec.end == "end-report"
    assert rec.start_line == 1 and rec.raw.splitlines()[-1].endswith("=" * 66)
    assert names(rec)[-1] == "do_init_module"  # the first trace only, not "Allocated by"
    assert rec.signature == "KASAN: slab-out-of-bounds Write in oob_write"


def test_kasan_with_panic_on_warn() -> None:
    text = KASAN + stamp("Kernel panic - not syncing: KASAN: panic_on_warn set ...", t=12.4)
    rec = only(text + CRASH_KERNEL)
    assert rec.kind == "kasan" and rec.fatal and rec.panic_message.startswith("KASAN: panic_on")
    assert rec.signature == "KASAN: slab-out-of-bounds Write in oob_write"


def test_ubsan() -> None:
    rec = only(UBSAN)
    assert rec.kind == "ubsan"
    assert rec.headline == "UBSAN: array-index-out-of-bounds in drivers/misc/ubsanmod.c:12:3"
    assert not rec.fatal and rec.end == "end-report" and rec.pid == 205
    assert rec.signature == "UBSAN: array-index-out-of-bounds in oob_index"


def test_kfence() -> None:
    rec = only(KFENCE)
    assert rec.kind == "kfence"
    assert rec.headline == "BUG: KFENCE: use-after-free read in uaf_read+0x2d/0x50 [kfencemod]"
    assert names(rec) == ["uaf_read", "kfencemod_init", "do_one_initcall", "do_init_module",
                          "__do_sys_finit_module", "do_syscall_64",
                          "entry_SYSCALL_64_after_hwframe"]
    assert (rec.pid, rec.taint) == (209, "G B OE")
    assert not rec.fatal and rec.end == "end-report"
    assert rec.signature == "KFENCE: use-after-free read in uaf_read"


def test_stack_protector() -> None:
    rec = only(STACK_PROTECTOR)
    assert rec.kind == "stack-protector"
    assert rec.message == ("stack-protector: Kernel stack is corrupted in: "
                           "smash_stack+0x51/0x60 [spmod]")
    assert rec.fatal and rec.crash_kernel and rec.pid == 215
    assert rec.signature == "stack-protector: Kernel stack is corrupted in smash_stack"


def test_generic_bug_line() -> None:
    text = stamp(f"""\
BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580
in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 220, name: insmod
preempt_count: 1, expected: 0
{cpu_line(0, 220, "insmod", kdump=False)}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 __might_resched.cold+0xcc/0xdf
 mutex_lock+0x1a/0x40
 sleepy_init+0x2d/0x1000 [sleepy]
 do_one_initcall+0x5a/0x220
 </TASK>""") + shell("kdump# ", "kdump# ")
    rec = only(text)
    assert rec.kind == "bug" and not rec.fatal
    assert rec.signature == ("BUG: sleeping function called from invalid context in "
                             "__might_resched")


# --- console noise --------------------------------------------------------------------------

def test_prefixes_escapes_and_interleaved_shell(console: str) -> None:
    rec = only(console)
    # caller ids ([T99]), no CR, escape sequences and shell output in the middle of the report
    noisy = []
    for i, line in enumerate(rec.raw.splitlines()):
        line = re.sub(r"^(\[\s*\d+\.\d+\])", r"\1[    T99]", line)
        noisy.append(line + "\r")
        if i == 5:
            noisy.append("kdump# \x1b[6nTRIGGER-RETURNED-0\r")
    text = "\n".join(noisy) + "\n" + CRASH_KERNEL
    got = only(text)
    assert got.signature == rec.signature and got.pid == 99 and got.frames == rec.frames
    # no timestamps at all (printk.time=0), a prompt before the panic line
    bare = "\n".join(re.sub(r"^\[\s*\d+\.\d+\] ", "", line) for line in rec.raw.splitlines())
    bare = "kdump# \x1b[6n" + bare + "\nLinux version 6.1.0 (x@y) #1\nCommand line: elfcorehdr=1K\n"
    got = only(bare)
    assert got.headline == rec.headline and got.signature == rec.signature
    assert got.timestamp is None and got.crash_kernel


def test_cat_proc_version_is_no_banner() -> None:
    text = stamp("Kernel panic - not syncing: test") + shell(
        f"Linux version {RELEASE} (debian-kernel@lists.debian.org) #1") + stamp("""\
Kernel Offset: disabled
---[ end Kernel panic - not syncing: test ]---""", t=31.1)
    # the kernel's lines have timestamps: a line without one is shell output (kept in raw)
    rec = only(text)
    assert rec.end == "end-panic" and "Linux version" in rec.raw
    # a kernel starts at 0.000000
    text = text.replace(f"Linux version {RELEASE}", f"[    5.000000] Linux version {RELEASE}")
    assert [r.end for r in find_crashes(text)] == ["end-panic"]
    assert find_crashes(shell(f"Linux version {RELEASE} (debian-kernel@lists.debian.org) #1",
                              "kdump# ")) == []


def test_two_oopses_are_two_records() -> None:
    first = oops_null_deref(kdump=False).split("Kernel panic")[0]
    first = first[:first.rindex("\n") + 1]
    second = die_oops("invalid opcode: 0000 [#2] PREEMPT SMP NOPTI", "crash_ud2", kdump=False)
    records = find_crashes(first + second)
    assert [r.kind for r in records] == ["null-deref", "invalid-opcode"]
    assert records[0].end == "next-report" or records[0].end == "end-trace"
    assert not records[0].fatal


def test_fatal_exception_alone_is_corrupted() -> None:
    text = stamp(f"""\
Kernel panic - not syncing: Fatal exception
{KERNEL_OFFSET}
---[ end Kernel panic - not syncing: Fatal exception ]---""")
    rec = only(text)
    assert rec.kind == "panic" and rec.corrupted
    assert rec.signature == "Kernel panic: Fatal exception"


def test_raw_text_is_capped() -> None:
    frames = "\n".join(f" deep_recursion_{i}+0x1c/0x40 [loopmod]" for i in range(3000))
    text = stamp(f"Kernel panic - not syncing: too deep\nCall Trace:\n <TASK>\n{frames}\n </TASK>")
    rec = only(text + CRASH_KERNEL)
    assert rec.truncated and len(rec.raw) <= detect.MAX_RAW
    assert rec.end_line == 3004 and rec.signature == "Kernel panic: too deep in deep_recursion_0"


# --- signatures ------------------------------------------------------------------------------

def _rerun(text: str, seed: int) -> str:
    """The same crash on another boot: other KASLR slide, timestamps, PIDs, addresses."""
    rng = random.Random(seed)
    slide = rng.randrange(1, 0x3F) << 21
    text = re.sub(r"\b(ffff[0-9a-f]{12})\b",
                  lambda m: f"{(int(m.group(1), 16) + slide) & (2**64 - 1):016x}", text)
    text = re.sub(r"\[\s*(\d+\.\d+)\]",
                  lambda m: f"[{float(m.group(1)) + rng.random() * 50:12.6f}]", text)
    pid = rng.randrange(100, 30000)
    return re.sub(r"\b187\b", str(pid), text)


@pytest.mark.parametrize("make", [
    lambda: oops_null_deref(kdump=True),
    lambda: oops_null_deref(kdump=False),
    lambda: warning(panic=True),
    lambda: SOFT_LOCKUP.replace("22s!", "26s!"),
], ids=["oops-kdump", "oops-panic", "warn", "softlockup"])
def test_signature_stable_across_boots(make) -> None:  # type: ignore[no-untyped-def]
    text = make()
    base = only(text)
    for seed in range(3):
        again = only(_rerun(text, seed))
        assert again.raw != base.raw
        assert again.signature == base.signature
        assert again.kind == base.kind and again.guilty_frame == base.guilty_frame


def test_signature_stable_across_builds() -> None:
    # another build of the module: other offsets, other source line
    a = only(warning(panic=True))
    b = only(warning(panic=True, line=12).replace("my_func+0x15/0x30", "my_func+0x19/0x38"))
    assert a.signature == b.signature == "WARNING in my_func"


def test_signature_differs_between_bugs() -> None:
    sigs = {
        only(oops_null_deref(kdump=True)).signature,
        only(oops_null_deref(kdump=True, func="other_deref")).signature,
        only(warning(panic=True)).signature,
        only(warning(panic=True, func="other_func")).signature,
        only(die_oops("invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", "crash_null_deref")).signature,
        only(KERNEL_BUG).signature,
        only(SOFT_LOCKUP).signature,
    }
    assert len(sigs) == 7


@pytest.mark.parametrize("text, expected", [
    ("WARNING in foo+0x1/0x2 [mod]", "WARNING in foo"),
    ("foo.isra.0+0x10/0x20 and bar.constprop.0.cold+0x1/0x2", "foo and bar"),
    ("kernel BUG at mm/slub.c:435!", "kernel BUG at mm/slub.c:LINE!"),
    ("UBSAN: shift-out-of-bounds in lib/foo.c:12:3",
     "UBSAN: shift-out-of-bounds in lib/foo.c:LINE"),
    ("soft lockup - CPU#3 stuck for 22s! [insmod:123]",
     "soft lockup - CPU#NUM stuck for NUMs! [insmod:NUM]"),
    ("task foo:123 blocked for more than 120 seconds.",
     "task foo:NUM blocked for more than NUM seconds."),
    ("at addr ffff888004d3a8c8 by task insmod/201", "at addr ADDR by task insmod/NUM"),
    ("exitcode=0x0000000b", "exitcode=0x0000000b"),
    ("a  b\t c", "a b c"),
])
def test_normalise(text: str, expected: str) -> None:
    assert detect.normalise(text) == expected


def test_reporting_functions() -> None:
    for name in ("panic", "dump_stack_lvl", "__warn.cold", "asm_exc_invalid_op", "_raw_spin_lock",
                 "native_queued_spin_lock_slowpath", "kasan_report", "__ubsan_handle_out_of_bounds",
                 "watchdog_timer_fn.cold", "sysvec_apic_timer_interrupt", "_printk"):
        assert detect.is_reporting_function(name), name
    for name in ("sysrq_handle_crash", "spin_forever", "do_exit", "my_func", "panic_handler_x"):
        assert not detect.is_reporting_function(name), name


# --- all together, chunked, and fast ---------------------------------------------------------

def test_everything_in_one_stream(console: str) -> None:
    text = (console + PRODUCTION_BOOT + oops_null_deref(kdump=True) + KERNEL_BUG + GPF
            + warning(panic=False) + KASAN + shell(*("x" * 12)) + UBSAN + shell(*("y" * 12))
            + KFENCE + SOFT_LOCKUP + HARD_LOCKUP + PRODUCTION_BOOT + HUNG_TASK + RCU_STALL
            + STACK_PROTECTOR + ARM64_NULL)
    expected = find_crashes(text)
    assert [r.kind for r in expected] == [
        "panic", "null-deref", "bug", "gpf", "warning", "kasan", "ubsan", "kfence",
        "soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "stack-protector", "null-deref"]
    rng = random.Random(7)
    detector = StreamDetector()
    got: list[CrashRecord] = []
    pos = 0
    while pos < len(text):
        size = rng.randint(1, 3000)
        got += detector.feed(text[pos:pos + size])
        pos += size
    assert got + detector.flush() == expected


def test_five_megabytes_of_boot_log_is_fast(console: str) -> None:
    boot = "\n".join(console.split("\n")[8:360]) + "\n"  # the real production boot
    text = boot * (5_000_000 // len(boot) + 1)
    assert len(text) >= 5_000_000
    detector = StreamDetector()
    start = time.perf_counter()
    found = []
    for pos in range(0, len(text), 4096):
        found += detector.feed(text[pos:pos + 4096])
    found += detector.flush()
    seconds = time.perf_counter() - start
    assert found == []
    assert detector.lines == text.count("\n")
    assert seconds < 2.0, f"{seconds:.2f} s for {len(text) / 1e6:.1f} MB"


def test_unknown_record_context_is_before_the_banner() -> None:
    # HAND-BUILT: arm64's crash kernel after a crash that printed nothing (no "Starting
    # crashdump kernel" either): its command line comes a few lines after the banner
    boot = ARM64_NULL[ARM64_NULL.index("[    0.000000] Booting Linux"):]
    rec = only(shell("kdump# \x1b[6necho 1 > /proc/sys/kernel/unknown_nmi_panic") + boot)
    assert rec.kind == "unknown" and rec.kernel_release == "6.1.0-56-arm64"
    assert rec.context.splitlines() == ["kdump# echo 1 > /proc/sys/kernel/unknown_nmi_panic",
                                        "[    0.000000] Booting Linux on physical CPU "
                                        "0x0000000000 [0x000f0510]"]
    assert len(rec.raw.splitlines()) == 4 and "elfcorehdr=0x5c000000" in rec.raw


def test_boot_warnings_are_not_reports() -> None:
    # "WARNING: ..." without "CPU:" is a report only under a ==== line (lockdep's format)
    boot = stamp("""\
Spectre V2 : Mitigation: Retpolines
WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!
Spectre V2 : Spectre v2 / SpectreRSB mitigation: Filling RSB on context switch""", t=0.1)
    assert find_crashes(boot) == []
    lockdep = stamp("""\
=============================
WARNING: suspicious RCU usage
6.1.0-56-cloud-amd64 #1 Tainted: G           OE
-----------------------------
drivers/misc/rcumod.c:20 suspicious rcu_dereference_check() usage!
stack backtrace:
CPU: 0 PID: 230 Comm: insmod Tainted: G           OE      6.1.0-56-cloud-amd64 #1
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 lockdep_rcu_suspicious+0x15b/0x1a0
 rcu_reader+0x4d/0x60 [rcumod]
 do_one_initcall+0x5a/0x220
 </TASK>""") + shell("kdump# ")
    rec = only(lockdep)
    assert rec.kind == "warning" and not rec.fatal and rec.start_line == 1
    assert rec.signature == "WARNING: suspicious RCU usage in rcu_reader"


def test_idle_completes_an_ended_report() -> None:
    # an oops without panic_on_oops: after "end trace" a follow-up panic may still come; when
    # the console goes quiet, idle() completes the report at once
    text = KERNEL_BUG[:KERNEL_BUG.index("Segmentation fault")]
    detector = StreamDetector()
    assert detector.feed(text) == [] and detector.in_report
    assert [r.end for r in detector.pending()] == ["end-trace"]
    (rec,) = detector.idle()
    assert rec.signature == "kernel BUG in foo_check_state" and not rec.fatal
    assert detector.feed(KERNEL_BUG[len(text):]) + detector.flush() == []
    # an open report (no end seen) is left alone
    detector = StreamDetector()
    detector.feed(SOFT_LOCKUP[:SOFT_LOCKUP.index("Call Trace")])
    assert detector.idle() == [] and detector.in_report


def test_arm64_kernel_bug() -> None:
    # HAND-BUILT: arm64 BUG() (brk #0x800) in a module, panic_on_oops=1, kdump armed
    text = stamp("""\
------------[ cut here ]------------
kernel BUG at drivers/foo.c:42!
Internal error: Oops - BUG: 00000000f2000800 [#1] SMP
Modules linked in: foo(OE+) virtio_blk virtio_mmio
CPU: 0 PID: 150 Comm: insmod Kdump: loaded Tainted: G           OE      6.1.0-56-arm64 #1
Hardware name: linux,dummy-virt (DT)
pstate: 60000005 (nZCv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
pc : foo_check_state+0x10/0x20 [foo]
lr : foo_init+0x14/0x1000 [foo]
sp : ffff80000a5fbb90
x29: ffff80000a5fbb90 x28: 0000000000000000 x27: ffff0000c0a1c000
Call trace:
 foo_check_state+0x10/0x20 [foo]
 foo_init+0x14/0x1000 [foo]
 do_one_initcall+0x4c/0x1f0
Code: d503233f a9bf7bfd 910003fd d4210000 (d4210000)
SMP: stopping secondary CPUs
Starting crashdump kernel...
Bye!""")
    rec = only(text)
    assert rec.kind == "bug" and rec.end == "crashdump-start" and rec.crash_kernel
    assert rec.signature == "kernel BUG in foo_check_state"


def test_init_exit_panic() -> None:
    # HAND-BUILT: /init exits (the "init-exit" trigger), 6.1 x86_64 with kdump armed
    text = stamp(f"""\
Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000
CPU: 0 PID: 1 Comm: init Kdump: loaded Not tainted {VERSION}
Hardware name: {HW}
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 panic+0x118/0x2f4
 do_exit.cold+0x15/0x15
 do_group_exit+0x2d/0x90
 __x64_sys_exit_group+0x14/0x20
 do_syscall_64+0x5d/0x90
 entry_SYSCALL_64_after_hwframe+0x6e/0xd8
{X86_USER}
 </TASK>""", t=4.4) + CRASH_KERNEL
    rec = only(text)
    assert rec.kind == "panic" and not rec.corrupted and (rec.pid, rec.comm) == (1, "init")
    assert rec.signature == "Kernel panic: Attempted to kill init! exitcode=0x00000000 in do_exit"


def test_real_init_exit_log() -> None:
    """A second real crash kind from this project's QEMU runs (tests/data/README.md)."""
    raw = (DATA / "init-exit-x86_64" / "console.raw").read_bytes()
    records = find_crashes(raw.decode("utf-8", "replace"))
    assert len(records) == 1, records
    rec = records[0]
    assert rec.kind == "panic" and rec.fatal and rec.kdump_loaded
    assert rec.message.startswith("Attempted to kill init! exitcode=0x00000000")
    assert (rec.pid, rec.comm) == (1, "init")
    assert rec.guilty_frame == "do_exit"
    assert rec.signature == "Kernel panic: Attempted to kill init! exitcode=0x00000000 in do_exit"


def test_real_matrix_log() -> None:
    """Every crash kind the matrix produces, from one real session console (tests/data)."""
    import gzip

    raw = gzip.decompress((RAW.parents[1] / "matrix-x86_64" / "console.raw.gz").read_bytes())
    records = find_crashes(raw.decode("utf-8", "replace"))
    assert [(r.kind, r.signature) for r in records] == [
        ("panic", "Kernel panic: sysrq triggered crash in sysrq_handle_crash"),
        ("panic", "Kernel panic: Attempted to kill init! exitcode=0x00000000 in do_exit"),
        ("unknown", "unknown: crash kernel started with no crash report"),
        ("panic", "Kernel panic: kdump_crash: panic in kdump_crash_panic"),
        ("bug", "kernel BUG in kdump_crash_bug"),
        ("null-deref", "BUG: kernel NULL pointer dereference in kdump_crash_null"),
        ("warning", "WARNING in kdump_crash_warn"),
        ("divide-error", "divide error in kdump_crash_divide"),
        ("null-deref", "BUG: kernel NULL pointer dereference in kdump_crash_timer_fn"),
        ("soft-lockup", "soft lockup in kdump_crash_spin"),
        ("hung-task", "task hung in kdump_crash_hang"),
        ("panic", "Kernel panic: sysrq triggered crash in sysrq_handle_crash"),
    ]
    assert all(r.kdump_loaded and r.fatal for r in records)
    modules = [r for r in records if r.guilty_frame and r.guilty_frame.startswith("kdump_crash")]
    assert len(modules) == 8
    oopses = [r for r in modules if r.kind in ("bug", "null-deref", "divide-error", "warning")]
    assert len(oopses) == 5 and all("kdump_crash" in r.modules for r in oopses)

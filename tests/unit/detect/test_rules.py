"""The rule table (pytest_kdump.detect.rules) and the package's public names. Whole reports of
each kind: tests/data/reports (test_reports.py); here the rows no report file opens."""

from __future__ import annotations

import pytest

from pytest_kdump import detect
from pytest_kdump.detect import find_crashes
from pytest_kdump.detect.rules import BEFORE_OOPS, MARKERLESS, RULES, SEPARATED


def test_rows_that_open_a_report_have_a_builder() -> None:
    for rule in RULES:
        assert (rule.build is not None) == (rule.role in ("report", "oops", "panic")), rule
    assert MARKERLESS | BEFORE_OOPS | SEPARATED <= {rule.kind for rule in RULES}


@pytest.mark.parametrize("line, kind, signature", [
    ("BUG: unable to handle page fault for address: ffffc90000abc000", "paging-request",
     "BUG: unable to handle page fault in foo_fn"),
    # before 4.19
    ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000010", "null-deref",
     "BUG: kernel NULL pointer dereference in foo_fn"),
    ("BUG: unable to handle kernel paging request at ffffc90000abc000", "paging-request",
     "BUG: unable to handle page fault in foo_fn"),
    ("Unable to handle kernel paging request at virtual address ffff800008a1b000",
     "paging-request", "Unable to handle kernel paging request in foo_fn"),
    # the title names both functions: no guilty frame
    ("BUG: KCSAN: data-race in foo_read / foo_write", "kcsan",
     "KCSAN: data-race in foo_read / foo_write"),
    # KASAN titles of two words, of no location, of a location wrapped to the next line
    ("BUG: KASAN: double-free or invalid-free in kfree+0xca/0x310", "kasan",
     "KASAN: double-free or invalid-free in foo_fn"),
    ("BUG: KASAN: invalid-access", "kasan", "KASAN: invalid-access in foo_fn"),
    ("BUG: KASAN: use-after-free in", "kasan", "KASAN: use-after-free in foo_fn"),
    ("Oops - undefined instruction: 0 [#1] SMP ARM", "invalid-opcode", "invalid opcode in foo_fn"),
    ("Oops - BUG: 0 [#1] SMP ARM", "bug", "kernel BUG in foo_fn"),
    ("Unhandled fault: alignment exception (0x001) at 0x00000001", "oops",
     "Unhandled fault in foo_fn"),
    ("INFO: rcu_sched self-detected stall on CPU", "rcu-stall", "rcu detected stall in foo_fn"),
    ("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", "panic",
     "Kernel panic: VFS: Unable to mount root fs on unknown-block(0,0) in foo_fn"),
])
def test_row_titles(line: str, kind: str, signature: str) -> None:
    text = f"[    1.000000] {line}\r\n[    1.000100] RIP: 0010:foo_fn+0x1/0x2 [m]\r\n"
    (rec,) = find_crashes(text)
    assert (rec.kind, rec.signature, rec.corrupted) == (kind, signature, False)
    assert rec.kind in detect.KINDS


def test_public_names() -> None:
    assert detect.__all__ == sorted(detect.__all__)
    assert all(hasattr(detect, name) for name in detect.__all__)
    assert "Frame" not in detect.__all__ and not hasattr(detect, "Frame")  # ReportFrame


def _lines(*lines: str) -> str:
    return "".join(f"[   12.{i:06d}] {line}\n" for i, line in enumerate(lines))


@pytest.mark.parametrize("text, kind, signature", [
    # lockdep before 4.10: the same title as its "WARNING: ..." of later kernels
    (_lines("=" * 54, "[ INFO: possible circular locking dependency detected ]",
            "4.4.0 #1 Not tainted", "-" * 54,
            "the existing dependency chain (in reverse order) is:",
            "-> #1 (&a->lock){+.+.}:", "       lock_acquire+0x1/0x2", "       first_fn+0x1/0x2",
            "other info that might help us debug this:", "stack backtrace:",
            "CPU: 0 PID: 1 Comm: sh Not tainted 4.4.0 #1", "Call Trace:",
            " dump_stack+0x1/0x2", " print_circular_bug+0x1/0x2", " __lock_acquire+0x1/0x2",
            " lock_acquire+0x1/0x2", " _raw_spin_lock+0x1/0x2", " final_fn+0x1/0x2", "done"),
     "warning", "WARNING: possible circular locking dependency detected in final_fn"),
    (_lines("[ BUG: bad unlock balance detected! ]", "stack backtrace:", "Call Trace:",
            " dump_stack+0x1/0x2", " lock_release+0x1/0x2", " unlock_fn+0x1/0x2", "done"),
     "warning", "WARNING: bad unlock balance detected in unlock_fn"),
    (_lines("INFO: trying to register non-static key.", "the code is fine but needs lockdep "
            "annotation.", "Call Trace:", " dump_stack+0x1/0x2", " register_lock_class+0x1/0x2",
            " __lock_acquire+0x1/0x2", " lock_acquire+0x1/0x2", " _raw_spin_lock+0x1/0x2",
            " uninit_user+0x1/0x2", "done"),
     "warning", "WARNING: trying to register non-static key in uninit_user"),
    # 6.16+
    (_lines("WARNING: fs/dcache.c:829 at fast_dput+0x334/0x430, CPU#1: comm/5830",
            "Modules linked in:"), "warning", "WARNING in fast_dput"),
    # before 3.9
    (_lines("WARNING: at fs/inode.c:1234 old_fn+0x1/0x2()", "Modules linked in:"), "warning",
     "WARNING in old_fn"),
    (_lines("=" * 77, "BUG kmalloc-8 (Tainted: G    B       ): Object already free", "-" * 77,
            "INFO: Allocated in alloc_fn+0x1/0x2 age=1 cpu=0 pid=1", "\t__slab_alloc+0x1/0x2",
            "INFO: Freed in free_fn+0x1/0x2 age=1 cpu=0 pid=1", "\tkfree+0x1/0x2",
            "CPU: 0 PID: 1 Comm: sh Tainted: G    B 4.4.0 #1", "Call Trace:",
            " dump_stack+0x1/0x2", " free_debug_processing+0x1/0x2", " __slab_free+0x1/0x2",
            " kfree+0x1/0x2", " double_free_fn+0x1/0x2", "FIX kmalloc-8: Object at 0x1 not freed"),
     "bug", "SLUB: Object already free in double_free_fn"),
    (_lines("PANIC: double fault, error_code: 0x0", "RIP: 0010:df_fn+0x1/0x2"), "oops",
     "double fault in df_fn"),
    (_lines("general protection fault for non-canonical address 0xdead000000000100: 0000 [#1]",
            "RIP: 0010:gp_fn+0x1/0x2"), "gpf", "general protection fault in gp_fn"),
    (_lines("divide_error: 0000 [#1] SMP", "RIP: 0010:div_fn+0x1/0x2"), "divide-error",
     "divide error in div_fn"),
    (_lines("NMI watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [swapper:1]",
            "RIP: 0010:spin_fn+0x1/0x2"), "soft-lockup", "soft lockup in spin_fn"),
    (_lines("INFO: task syz:1234 can't die for more than 143 seconds.", "Call Trace:",
            " __schedule+0x1/0x2", " schedule+0x1/0x2", " stuck_fn+0x1/0x2", "done"),
     "hung-task", "task hung in stuck_fn"),
    (_lines("INFO: task kworker:12 blocked in I/O wait for more than 120 seconds.",
            "Call Trace:", " io_schedule+0x1/0x2", " io_fn+0x1/0x2", "done"),
     "hung-task", "task hung in io_fn"),
    (_lines("rcu_tasks detected stalls on tasks:", "Call Trace:", " tasks_fn+0x1/0x2", "done"),
     "rcu-stall", "rcu detected stall in tasks_fn"),
    (_lines("unregister_netdevice: waiting for lo to become free. Usage count = 2"),
     "warning", "unregister_netdevice: waiting for DEV to become free"),
    # arm32 backtraces; "PC is at" and old x86 "IP:" lines
    (_lines("Unable to handle kernel NULL pointer dereference at virtual address 00000000",
            "Internal error: Oops: 5 [#1] SMP ARM", "PC is at arm_fn+0x1/0x2",
            "[<c0123456>] (arm_fn) from [<c0123457>] (arm_caller+0x1/0x2)"),
     "null-deref", "BUG: kernel NULL pointer dereference in arm_fn"),
    (_lines("Unable to handle kernel paging request at virtual address 74736958",
            "Internal error: Oops: 5 [#1] SMP ARM",
            "[<c0123456>] (strlen) from [<c0123457>] (arm_user+0x1/0x2)",
            "[<c0123457>] (arm_user) from [<c0123458>] (ret_fast_syscall+0x0/0x28)"),
     "paging-request", "Unable to handle kernel paging request in arm_user"),
    (_lines("BUG: unable to handle kernel paging request at ffffffff00000000",
            "IP: [<ffffffff81229d0f>] ip_fn+0x1f/0x80"), "paging-request",
     "BUG: unable to handle page fault in ip_fn"),
    # symbolised frames with file:line, inline frames
    (_lines("BUG: KASAN: use-after-free in memcpy+0x1/0x2", "Read of size 4 at addr "
            "ffff888004d3a8c8 by task sh/1", "Call Trace:",
            " __dump_stack lib/dump_stack.c:77 [inline]",
            " kasan_report+0x1/0x2 mm/kasan/report.c:588", " memcpy+0x1/0x2 mm/kasan/shadow.c:65",
            " uaf_fn+0x1/0x2 drivers/foo/bar.c:123", "=" * 66),
     "kasan", "KASAN: use-after-free Read in uaf_fn"),
    # powerpc
    (_lines("BUG: Kernel NULL pointer dereference on read at 0x00000000",
            "Faulting instruction address: 0xc000000000050bfc",
            "Oops: Kernel access of bad area, sig: 11 [#1]",
            "NIP [c000000000050bfc] ppc_fn+0x10c/0x2d0", "Call Trace:",
            "[c000000034847850] [c0000000012f77a0] 0xc0000000012f77a0 (unreliable)",
            "[c0000000348478d0] [c000000000231320] ppc_caller+0x3c0/0x7a0"),
     "null-deref", "BUG: kernel NULL pointer dereference in ppc_fn"),
    # lockdep's own WARNING title quoted without its ==== line
    # (x86_64/warning-ext4-nested-locking-for-xattr-inode)
    (_lines("WARNING: possible circular locking dependency detected", "5.10.0 #0 Not tainted",
            "-" * 54, "sh/2794 is trying to acquire lock:", "stack backtrace:", "Call Trace:",
            " dump_stack+0x1/0x2", " __lock_acquire+0x1/0x2", " lock_acquire+0x1/0x2",
            " down_write+0x1/0x2", " final_fn+0x1/0x2", "done"),
     "warning", "WARNING: possible circular locking dependency detected in final_fn"),
    # arm32 die() with an empty name (arm32/oops-arm-omap2-omap-device-fix-idling-of-devices-...)
    (_lines("Internal error: : 1028 [#1] SMP ARM", "PC is at bus_width_fn+0x8/0x78",
            "LR is at set_ios_fn+0x11c/0x258"),
     "oops", "Internal error: code 1028 in bus_width_fn"),
])
def test_real_world_headers(text: str, kind: str, signature: str) -> None:
    rec = find_crashes(text)[0]
    assert (rec.kind, rec.signature) == (kind, signature), str(rec)


def test_mand_mount_warning_is_no_lockdep_report() -> None:
    text = _lines("=" * 54, "WARNING: the mand mount option is being deprecated and",
                  "         will be removed in v5.15!", "=" * 54)
    assert find_crashes(text) == []


# The guilty-frame skip rows (pytest_kdump.detect.SKIP_RULES) added for issue 13: one report per
# row, shaped after the corpus report that showed the row missing (tests/data/corpus/...).
@pytest.mark.parametrize("text, signature", [
    # allocation and free entry points (ppc64/null-deref-powerpc-mm-handle-page-table-...)
    (_lines("BUG: kernel NULL pointer dereference, address: 000000000000001c",
            "RIP: 0010:kmem_cache_alloc+0xbc/0x5a0", "Call Trace:", " pte_alloc_fn+0x1/0x2",
            " fault_fn+0x1/0x2"),
     "BUG: kernel NULL pointer dereference in pte_alloc_fn"),
    (_lines("kernel BUG at lib/genalloc.c:399!", "Internal error: Oops - BUG: 0 [#1] SMP ARM",
            "[<803fd0e8>] (gen_pool_free) from [<80426bc8>] (muram_alloc_fn+0xb0/0xc8)",
            "[<80426bc8>] (muram_alloc_fn) from [<80426c28>] (muram_caller+0x48/0x80)"),
     "kernel BUG in muram_alloc_fn"),
    # core APIs checking their caller's use (arm64/warning-mailbox-imx-fix-tx-doorbell-...)
    (_lines("WARNING: CPU: 2 PID: 157 at kernel/irq/manage.c:1708 __free_irq+0xc0/0x358",
            "Modules linked in:", "Call trace:", " __free_irq+0xc0/0x358", " free_irq+0x38/0x98",
            " mu_shutdown+0x90/0xb0", " mbox_free_channel+0x18/0x28"),
     "WARNING in mu_shutdown"),
    # scheduler invariant checks (arm64/warning-sched-fair-don-t-balance-task-to-its-...)
    (_lines("WARNING: CPU: 7 PID: 0 at kernel/sched/core.c:3115 set_task_cpu+0x188/0x240",
            "Modules linked in:", "pc : set_task_cpu+0x188/0x240", "lr : balance_fn+0x5d0/0xc60",
            "Call trace:", " set_task_cpu+0x188/0x240", " balance_fn+0x5d0/0xc60"),
     "WARNING in balance_fn"),
    # MMIO accessors, and the link register naming their caller (arm64/oops-irqchip-gic-v3-...)
    (_lines("Internal error: synchronous external abort: 96000210 [#1] SMP",
            "pc : __raw_readl+0x0/0x8", "lr : init_bases_fn+0x110/0x560", "Call trace:",
            " __raw_readl+0x0/0x8", " of_init_fn+0x188/0x224"),
     "Internal error: synchronous external abort in init_bases_fn"),
    # cache maintenance, powerpc's LR (ppc32/paging-request-powerpc-signal32-fix-oops-...)
    (_lines("BUG: Unable to handle kernel data access on read at 0x7fc07ec0",
            "Oops: Kernel access of bad area, sig: 11 [#1]",
            "NIP [c00111d4] flush_icache_range+0x90/0xb4", "LR [c0005a28] signal_fn+0x1bc/0x1c4",
            "Call Trace:", "[cadb3e90] [100d0000] 0x100d0000 (unreliable)",
            "[cadb3ec0] [c0007788] do_notify_resume+0x260/0x314"),
     "BUG: unable to handle page fault in signal_fn"),
    # the idle loop, for stalls and lockups (arm64/hard-lockup-coresight-dynamic-replicator-...)
    (_lines("Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 0", "Call trace:",
            " dump_backtrace+0x0/0x188", " panic+0x168/0x370", " watchdog_timer_fn+0x68/0x290",
            " el1_irq+0xbc/0x180", " arch_cpu_idle+0x3c/0x5c", " default_idle_call+0x1c/0x38",
            " do_idle+0x100/0x280", " cpu_startup_entry+0x24/0x28"),
     "hard lockup"),
    # extended rows: SError handling, device release checks, exception return, pv spinlocks
    (_lines("Kernel panic - not syncing: Asynchronous SError Interrupt", "Call trace:",
            " dump_backtrace+0x0/0x1", " panic+0x1/0x2", " arm64_serror_panic+0x1/0x2",
            " do_serror+0x1/0x2", " el1_error+0x1/0x2", " read_prepare_fn+0x1/0x2"),
     "Kernel panic: Asynchronous SError Interrupt in read_prepare_fn"),
    (_lines("WARNING: CPU: 0 PID: 1 at drivers/base/core.c:2332 device_release+0x1/0x2",
            "Modules linked in:", "Call Trace:", " kobject_put+0x1/0x2", " put_device+0x1/0x2",
            " dev_alloc_fn+0x1/0x2"),
     "WARNING in dev_alloc_fn"),
    (_lines("Oops: Unrecoverable exception, sig: 6 [#1]",
            "NIP [c00000000000de44] fast_exception_return+0xf4/0x1b0",
            "LR [c000000000034728] rt_signal_fn+0x78/0xc50", "Call Trace:",
            "[c000000f65a17d30] [c000000000023640] do_notify_resume+0x330/0x460"),
     "Oops in rt_signal_fn"),
    (_lines("WARNING: CPU: 0 PID: 785 at kernel/locking/qspinlock_paravirt.h:500 "
            "__pv_queued_spin_unlock_slowpath+0xc0/0xd0", "Modules linked in:", "Call Trace:",
            " __raw_callee_save___pv_queued_spin_unlock_slowpath+0x11/0x20",
            " .slowpath+0x9/0xe", " console_alloc_fn+0x25e/0x300"),
     "WARNING in console_alloc_fn"),
    # core services handed the caller's object, a weak row (x86_64/kasan-ext4-fix-use-after-...)
    (_lines("BUG: KASAN: use-after-free in kthread_stop+0x4c/0x2f0",
            "Write of size 4 at addr ffff8883849e0020 by task mount/2013", "Call Trace:",
            " dump_stack+0x108/0x15f", " kasan_report.cold+0x236/0x2a8",
            " kthread_stop+0x4c/0x2f0", " stop_thread_fn+0x32/0x90", " remount_fn.cold+0xf6/0x116"),
     "KASAN: use-after-free Write in stop_thread_fn"),
    # workqueue machinery, an unwinder's stray frame (riscv/warning-net-stmmac-properly-...)
    (_lines("WARNING: CPU: 0 PID: 7 at drivers/clk/clk.c:1022 clk_core_disable+0xcc/0xec",
            "Modules linked in:", "epc : clk_core_disable+0xcc/0xec",
            " ra : clk_core_disable+0xcc/0xec",
            "[<ffffffff8023c2ec>] clk_core_disable+0xcc/0xec",
            "[<ffffffff80240430>] clk_disable+0x38/0x78",
            "[<ffffffff8001fc0c>] worker_thread+0x1a8/0x4d8",
            "[<ffffffff8031a500>] remove_config_fn+0x1c/0x4c"),
     "WARNING in remove_config_fn"),
])
def test_guilty_skip_rows(text: str, signature: str) -> None:
    rec = find_crashes(text)[0]
    assert rec.signature == signature, str(rec)


# Report shapes the guilty frame depends on (issue 13), each after a corpus report.
@pytest.mark.parametrize("text, signature", [
    # arm32 since 5.x: "func from caller+0x..." (arm64/warning-genirq-generic-chip-fix-...)
    (_lines("WARNING: CPU: 0 PID: 0 at kernel/locking/lockdep.c:4398 "
            "lockdep_hardirqs_on_prepare+0x23c/0x280", "Call trace:",
            " _raw_spin_unlock_irq from map_chip_fn+0x144/0x190",
            " map_chip_fn from domain_associate_fn+0x68/0x164", " start_kernel from 0x0"),
     "WARNING in map_chip_fn"),
    # a timestamp its author blanked out (ppc64/null-deref-powerpc-powernv-ioda-skip-...)
    ("[ ] BUG: Kernel NULL pointer dereference on write at 0x00000000\n"
     "[ ] Oops: Kernel access of bad area, sig: 7 [#1]\n"
     "[ ] NIP [c00000000005eac4] setup_res_fn+0x94/0x1a0\n[ ] Call Trace:\n"
     "[ ] [c0002000073838e0] [c00000000005eb98] setup_res_fn+0x168/0x1a0 (unreliable)\n",
     "BUG: kernel NULL pointer dereference in setup_res_fn"),
    # journal/syslog lines (x86_64/null-deref-drm-nouveau-kms-fix-null-pointer-...)
    ("Oct 09 14:17:46 host kernel: BUG: kernel NULL pointer dereference, address: 0\n"
     "Oct 09 14:17:46 host kernel: RIP: 0010:detect_depth_fn+0x71/0xc0 [nouveau]\n"
     "Oct 09 14:17:46 host kernel: Call Trace:\n"
     "Oct 09 14:17:46 host kernel:  get_modes_fn+0x1e6/0x240 [nouveau]\n",
     "BUG: kernel NULL pointer dereference in detect_depth_fn"),
    # a caller id after a space, "[    9.2] [    T1]" (ppc64/bug-powerpc-papr-scm-fix-...)
    ("[    0.090246][    T1] kernel BUG at lib/string_helpers.c:980!\n"
     "[    0.090253][    T1] Oops: Exception in kernel mode, sig: 5 [#1]\n"
     "[    0.090375][    T1] NIP [c00000000077dad0] fortify_panic+0x28/0x38\n"
     "[    0.090387][    T1] Call Trace:\n"
     "[    9.297707] [    T1] [c00800000deb2660] check_events_fn.constprop.0+0x118/0x220 [scm]\n",
     "kernel BUG in check_events_fn"),
    # x86 with no RIP line: the frame after the exception entry (x86_64/paging-request-x86-sev-)
    (_lines("BUG: unable to handle page fault for address: ffffffffba556e70", "Call Trace:",
            " <TASK>", " ? __die+0x2a/0x35", " ? page_fault_oops+0x10c/0x270",
            " ? exc_page_fault+0xbd/0x160", " ? asm_exc_page_fault+0x27/0x30",
            " ? setup_ghcb_fn+0x71/0x100", " init_handling_fn+0x1b9/0x1f0", " </TASK>"),
     "BUG: unable to handle page fault in setup_ghcb_fn"),
    # i386 '?' frames at the very end of a function are function pointers, not return
    # addresses (i386/warning-efi-don-t-attempt-to-map-rci2-config-table-if-it-d)
    (_lines("WARNING: CPU: 1 PID: 1 at kernel/iomem.c:81 memremap+0x1a3/0x1c0",
            "Modules linked in:", "Call Trace:", "  ? map_properties+0x473/0x473",
            "  ? rci2_init_fn+0x2c/0x154", "  ? do_one_initcall+0x49/0x1d4"),
     "WARNING in rci2_init_fn"),
    # KMSAN, its line repeated for each inlined caller (x86_64/bug-x86-fpu-signal-...)
    (_lines("=" * 53, "BUG: KMSAN: kernel-infoleak in instrument_copy_to_user "
            "./include/linux/instrumented.h:121",
            "BUG: KMSAN: kernel-infoleak in __copy_to_user ./include/linux/uaccess.h:154",
            "BUG: KMSAN: kernel-infoleak in epilog_fn+0x2df/0x510 arch/x86/kernel/signal.c:127",
            " instrument_copy_to_user ./include/linux/instrumented.h:121",
            " __copy_to_user ./include/linux/uaccess.h:154",
            " epilog_fn+0x2df/0x510 arch/x86/kernel/fpu/signal.c:127", "=" * 53),
     "KMSAN: kernel-infoleak in epilog_fn"),
    # "Preemption disabled at:" names one location, not the call trace
    # (x86_64/bug-clocksource-use-get-random-bytes-in-clocksource-ve)
    (_lines("BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
            "Preemption disabled at:", "[<ffffffff88c1fe56>] disabler_fn+0x66/0x330",
            "CPU: 33 PID: 2012 Comm: kwatchdog Not tainted 5.14.0 #1", "Call Trace:",
            " __might_resched+0xf4/0x12f", " mutex_lock+0x4c/0x100", " sleeper_fn+0xab/0x1a0",
            " disabler_fn+0x6b/0x330"),
     "BUG: sleeping function called from invalid context in sleeper_fn"),
    # arm64: a frame at +0x0 under panic() is the end of the function before it, no caller
    # (arm64/panic-arm64-bti-require-clang-10-0-1-for-in-kernel-bti-s)
    (_lines("Kernel panic - not syncing: bad mode", "Call trace:", " dump_backtrace+0x0/0x1d4",
            " panic+0x16c/0x35c", " bad_el0_sync+0x0/0x58", " el1_sync_handler+0xb4/0xe0",
            " el1_sync+0x7c/0x100", " ioctl_fn+0x74/0x98"),
     "Kernel panic: bad mode in ioctl_fn"),
    # a call through a NULL pointer: no function at the pc, the link register names the caller
    # (arm32/null-deref-genirq-irqdomain-check-pointer-in-irq-domain-alloc)
    (_lines("Unable to handle kernel NULL pointer dereference at virtual address 00000000",
            "Internal error: Oops: 80000005 [#1] SMP THUMB2", "PC is at 0x0",
            "LR is at domain_alloc_fn+0x11f/0x140", "[<c06c23ff>] (domain_alloc_fn)",
            "[<c0462a89>] (__irq_domain_alloc_irqs)"),
     "BUG: kernel NULL pointer dereference in domain_alloc_fn"),
    # a WARNING line wrapped before its function (ppc32/warning-powerpc-powernv-smp-fix-...)
    (_lines("WARNING: CPU: 1 PID: 0 at arch/powerpc/platforms/powernv/smp.c:160",
            "kill_self_fn+0x5c/0x330", "Call Trace:", " cpu_die+0x48/0x64",
            " arch_cpu_idle_dead+0x30/0x50"),
     "WARNING in kill_self_fn"),
    # Unisoc's "c0" after the timestamp (arm64/null-deref-add-chan-cl-check-in-mbox-chan-...)
    ("[    9.852090]c0  Unable to handle kernel NULL pointer dereference at virtual address 20\n"
     "[    9.954651]c0  pc : received_data_fn+0x1c/0x88\n",
     "BUG: kernel NULL pointer dereference in received_data_fn"),
    # MIPS (arm64/paging-request-net-phy-bcm63xx-fix-oops-due-to-missing-driver-nam)
    (_lines("CPU 0 Unable to handle kernel paging request at virtual address 00000000, epc == "
            "804dd50c, ra == 804dd4f0", "Oops[#1]:"),
     "Unable to handle kernel paging request"),
    # lockdep's RCU check whose ==== line was not kept (ppc64/warning-powerpc-powernv-pci-fix-...)
    (_lines("WARNING: suspicious RCU usage", "5.7.0-rc4 #1 Not tainted", "-" * 29,
            "arch/powerpc/x.c:355 RCU-list traversed in non-reader section!!", "stack backtrace:",
            "Call Trace:", " dump_stack+0x1/0x2", " lockdep_rcu_suspicious+0x1/0x2",
            " tce_fn+0x1/0x2", "done"),
     "WARNING: suspicious RCU usage in tce_fn"),
    # 6.16+ WARNING line with "[...]" and the CPU part wrapped
    # (ppc64/warning-powerpc-fix-kuap-warnings-on-lazy-full-preemption)
    (_lines("WARNING: [] arch/powerpc/mm/fault.c:231 at bad_fault_fn.constprop.0+0x1a8/0x2c8,",
            "CPU#9: stress-ng-vm-rw/5477", "Modules linked in:"),
     "WARNING in bad_fault_fn"),
])
def test_guilty_report_shapes(text: str, signature: str) -> None:
    rec = find_crashes(text)[0]
    assert rec.signature == signature, str(rec)

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
])
def test_real_world_headers(text: str, kind: str, signature: str) -> None:
    rec = find_crashes(text)[0]
    assert (rec.kind, rec.signature) == (kind, signature), str(rec)


def test_mand_mount_warning_is_no_lockdep_report() -> None:
    text = _lines("=" * 54, "WARNING: the mand mount option is being deprecated and",
                  "         will be removed in v5.15!", "=" * 54)
    assert find_crashes(text) == []

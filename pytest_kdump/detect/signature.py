"""Signatures: what stays the same for the same bug on every boot (syzkaller-style titles).

A record's signature is its kind's title (see :mod:`.rules`) with its guilty frame: the first
function of the report that is not a reporting helper or a core service a caller follows
(:data:`SKIP_RULES`), normalised (:func:`normalise`: no addresses, offsets, line numbers,
PIDs...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_kdump.detect.record import ReportFrame
from pytest_kdump.symbols import clean_function

__all__ = ["ATOMIC_SLEEP", "SKIP_FUNCTIONS", "SKIP_RULES", "SkipRule", "base_name",
           "is_reporting_function", "normalise", "skip_kind"]

# A kernel function name as reports print it (compiler suffixes included).
FUNC = r"[A-Za-z_.$][\w.$]*"

@dataclass(frozen=True)
class SkipRule:
    """One row of :data:`SKIP_RULES`: functions that are never a report's guilty frame.

    ``patterns``: function names (``*``: any characters), compiler suffixes removed first;
    ``kinds``: the record kinds the row applies to (empty: every kind; :data:`ATOMIC_SLEEP`:
    ``bug`` records of sleeping in atomic context, see :func:`skip_kind`); ``why``: the reason;
    ``example``: a function the row skips (each row's example is tested); ``weak``: the row's
    functions are skipped only for a caller further down that no row skips (when there is
    none, the first of them is the guilty frame: a bug inside a core service stays its own)."""

    why: str
    patterns: tuple[str, ...]
    example: str
    kinds: frozenset[str] = frozenset()
    weak: bool = False


_HANG_KINDS = frozenset({"hung-task"})
ATOMIC_SLEEP = "atomic-sleep"
"""The skip-rule kind of a ``bug`` record that reports sleeping in atomic context (its headline
matches :data:`ATOMIC_SLEEP_RE`): the rows of ``bug`` apply to it too."""
ATOMIC_SLEEP_RE = re.compile(r"BUG: (?:sleeping function called from invalid context|"
                             r"scheduling while atomic)")
_ATOMIC_SLEEP_KINDS = frozenset({ATOMIC_SLEEP})
_CHECK_KINDS = frozenset({"warning", "bug"})  # reports a WARN_ON()/BUG_ON() raised
_STALL_KINDS = frozenset({"soft-lockup", "hard-lockup", "rcu-stall"})

SKIP_RULES: tuple[SkipRule, ...] = (
    SkipRule("panic and stack dumping", (
        "panic", "nmi_panic", "vpanic", "__panic*", "check_panic_on_warn", "dump_stack*",
        "__dump_stack", "show_stack*", "show_regs*", "show_trace*", "dump_backtrace*",
        "unwind_backtrace", "sched_show_task", "print_modules", "dump_cpu_task", "__show_regs",
        "show_fault_oops", "die_kernel_fault", "arm64_serror_panic"), "dump_stack_lvl"),
    SkipRule("WARN/BUG machinery and traps", (
        "__warn*", "warn_slowpath*", "warn_alloc*", "warn_bogus_irq_restore", "report_bug",
        "handle_bug", "bug_handler", "brk_handler", "call_break_hook", "early_brk64", "exc_*",
        "asm_exc_*", "die", "die_*", "__die*", "arm64_notify_die", "do_trap*", "do_error_trap",
        "do_int3*", "do_invalid_op", "invalid_op", "general_protection", "do_general_protection",
        "error_entry",
        "oops_*", "do_debug_exception", "do_undefinstr", "do_el1_*", "el1_*", "el1h_64_*",
        "program_check_exception", "program_check_common*", "do_program_check",
        "handle_exception", "do_trap_break", "do_trap_insn_illegal", "__do_trap*",
        "__bad_stack", "handle_bad_stack", "_exception*", "do_exception", "handle_exception",
        "do_serror", "el1_error", "el1h_64_error*", "fixup_bug", "exc_virt_*", "exc_real_*"),
             "__warn"),
    SkipRule("page fault handling", (
        "page_fault_oops", "kernelmode_fixup_or_oops", "no_context", "__bad_area*", "bad_area*",
        "do_user_addr_fault", "do_kern_addr_fault", "handle_page_fault", "do_page_fault",
        "__do_page_fault", "do_mem_abort", "do_translation_fault", "do_bad_area",
        "__do_kernel_fault", "do_alignment_fault", "do_sea", "bad_page_fault", "__bad_page_fault",
        "do_hash_fault", "do_DataAccess*", "data_access_common*", "instruction_access_common*",
        "handle_page_fault*", "do_bad_page_fault*", "page_fault", "async_page_fault",
        "asm_exc_page_fault", "do_DataAbort", "do_PrefetchAbort", "__dabt_*", "__pabt_*",
        "__do_user_fault", "do_sect_fault"), "page_fault_oops"),
    SkipRule("KASAN/KFENCE/KMSAN/KCSAN/UBSAN report helpers", (
        "kasan_*", "__kasan_*", "__asan_*", "check_memory_region*", "print_report",
        "print_address_description*", "print_error_description", "describe_object*",
        "kfence_*", "__kfence_*", "ubsan_*", "__ubsan_*", "kcsan_*", "__kcsan_*", "__tsan_*",
        "__msan_*", "kmsan_*", "check_region_inline", "report_*_error", "end_report",
        "start_report", "instrument_*", "handle_overflow", "handle_null_ptr_deref",
        "handle_misaligned_access", "handle_object_size_mismatch"), "kasan_report"),
    SkipRule("generic checkers' WARNs and BUGs (refcount, kobject, slab size, might_sleep, "
             "debug objects, list debugging, preemption, DMA API): the caller is guilty", (
        "refcount_warn_saturate", "refcount_*", "__refcount_*", "kobject_*", "kref_put",
        "device_release", "put_device",
        "__check_object_size", "check_object_size", "check_heap_object", "__check_heap_object",
        "usercopy_abort", "usercopy_warn", "__might_sleep", "___might_sleep", "__might_resched",
        "might_sleep*", "__might_fault", "might_fault", "__schedule_bug", "debug_smp_processor_id",
        "check_preemption_disabled", "__this_cpu_preempt_check", "debug_print_object",
        "debug_object_*", "debug_check_no_obj_freed", "__debug_check_no_obj_freed",
        "__list_add_valid*", "__list_del_entry_valid*", "list_add*", "list_del*",
        "__list_add", "__list_del*", "check_unmap", "check_sync", "debug_dma_*", "check_flags",
        "spin_dump", "spin_bug", "do_raw_*", "rwlock_bug", "bad_page", "free_pages_check_bad",
        "free_page_is_bad_report", "__free_pages_ok", "__dump_page", "dump_page", "print_trailer",
        "object_err", "slab_err", "slab_bug", "check_bytes_and_report", "check_object",
        "free_debug_processing", "free_consistency_checks", "on_freelist",
        "alloc_debug_processing", "__slab_free", "slab_free*", "kfree", "kmem_cache_free",
        "__kmem_cache_free", "__fortify_*", "fortify_panic", "__stack_chk_fail",
        "lockdep_rcu_suspicious"), "refcount_warn_saturate"),
    SkipRule("memory allocation and free entry points (not the allocators' internals): a crash "
             "or bad-page report there is the caller's bad pointer or an earlier corruption", (
        "kmem_cache_alloc*", "__kmem_cache_alloc*", "kmem_cache_zalloc", "kmalloc",
        "kmalloc_node*", "kmalloc_trace*", "kmalloc_order*", "kmalloc_large*", "kmalloc_array*",
        "__kmalloc", "__kmalloc_node*", "__kmalloc_track_caller", "__kmalloc_cache*", "kzalloc",
        "kzalloc_node", "kcalloc", "krealloc", "__krealloc", "kvmalloc", "kvmalloc_node*",
        "__kvmalloc_node*", "kvfree", "kfree_sensitive", "kfree_const", "vfree", "__vfree",
        "vfree_atomic", "vmalloc", "vmalloc_node", "vzalloc", "__vmalloc", "__vmalloc_node*",
        "vunmap", "__vunmap", "mempool_alloc", "mempool_free", "gen_pool_free*",
        "gen_pool_alloc*", "free_unref_page*", "free_unref_folio*", "__free_frozen_pages",
        "free_frozen_pages", "__free_pages*", "free_pages*", "__free_page", "free_the_page",
        "__folio_put", "put_page", "__put_page"), "kmem_cache_alloc"),
    SkipRule("core APIs whose WARN or lock checks the caller's use: IRQ free/enable balance, "
             "runtime PM, static key counts, memremap ranges", (
        "free_irq", "__free_irq", "enable_irq", "__enable_irq", "disable_irq*", "__disable_irq*",
        "__pm_runtime_*", "pm_runtime_*", "rpm_resume", "rpm_suspend", "rpm_idle",
        "static_key_*", "__static_key_*", "static_branch_*", "memremap", "memunmap",
        "devm_memremap"), "__free_irq"),
    SkipRule("core kernel services a caller hands its own object to (threads, workqueues, "
             "timers, IRQ wake, clocks, regulators, the device model, device-tree lookups, "
             "generic data structures, iov_iter, task, mm and file references, random numbers, "
             "CPU hotplug, page pinning, DMA and USB buffers): a crash or WARN inside them is "
             "the caller's freed, unbalanced or missing object", (
        "kthread_stop*", "kthread_park", "kthread_unpark", "kthread_queue_*", "kthread_flush_*",
        "kthread_destroy_worker", "kthread_cancel_*", "kthread_use_mm", "kthread_unuse_mm",
        "kthread_create_*", "kthread_bind*",
        "flush_workqueue", "__flush_workqueue", "drain_workqueue", "destroy_workqueue",
        "queue_work*", "__queue_work", "queue_delayed_work*", "__queue_delayed_work",
        "mod_delayed_work*", "queue_rcu_work", "flush_work", "__flush_work", "flush_delayed_work",
        "cancel_work*", "__cancel_work*", "cancel_delayed_work*", "try_to_grab_pending",
        "schedule_work*", "schedule_delayed_work*", "worker_thread", "process_one_work",
        "process_scheduled_works", "rescuer_thread",
        "del_timer*", "timer_delete*", "mod_timer*", "__mod_timer", "add_timer*",
        "hrtimer_start*", "hrtimer_cancel", "hrtimer_try_to_cancel",
        "irq_set_irq_wake", "request_threaded_irq", "__setup_irq", "devm_request_*irq",
        "clk_core_*", "clk_prepare*", "clk_unprepare", "clk_enable*", "clk_disable*",
        "clk_set_rate*", "clk_get*", "clk_put", "__clk_put", "devm_clk_*",
        "regulator_enable", "regulator_disable*", "regulator_put", "_regulator_put",
        "_regulator_disable", "regulator_get*", "devm_regulator_*",
        "device_add", "device_del", "device_unregister", "device_destroy", "device_register",
        "device_initialize", "device_for_each_child*", "devres_*", "devm_kfree", "devm_kmalloc",
        "devm_kzalloc", "platform_device_*", "platform_driver_*", "driver_register",
        "driver_unregister", "bus_remove_device", "bus_add_device",
        "of_node_get", "of_node_put", "of_property_*", "of_find_*", "of_get_*", "of_parse_*",
        "of_alias_get_id", "of_match_*", "of_changeset_*", "__of_changeset_*",
        "of_genpd_*", "fwnode_*",
        "xa_*", "__xa_*", "xas_*", "idr_*", "ida_*", "radix_tree_*", "rb_erase*", "rb_insert*",
        "percpu_counter_*", "__percpu_counter_*", "percpu_ref_*", "bitmap_*", "__bitmap_*",
        "llist_*", "kfifo_*", "__kfifo_*", "sg_next", "sg_init_*", "sg_set_*", "sg_copy_*",
        "sg_pcopy_*", "sg_miter_*", "sg_alloc_table*", "sg_free_table*", "__sg_alloc_table*",
        "__sg_free_table", "sg_nents*", "sg_last",
        "iov_iter_*", "_copy_to_iter", "_copy_from_iter*", "copy_page_to_iter*",
        "copy_page_from_iter*", "copy_to_iter", "copy_from_iter*",
        "put_task_struct*", "__put_task_struct*", "get_task_struct", "mmput", "__mmput",
        "mmget*", "mmgrab", "mmdrop", "__mmdrop", "get_task_mm", "put_files_struct",
        "fput", "__fput", "fget*", "getrusage",
        "get_random_*", "__get_random_*",
        "__cpuhp_setup_state*", "cpuhp_setup_state*", "__cpuhp_remove_state*",
        "unpin_user_page*", "pin_user_pages*", "get_user_pages*", "__get_user_pages*",
        "put_user_page*",
        "dma_alloc_*", "dma_free_*", "dma_map_*", "dma_unmap_*", "dma_pool_*",
        "usb_alloc_coherent", "usb_free_coherent", "usb_free_urb", "usb_kill_urb",
        "usb_submit_urb", "usb_poison_urb"), "kthread_stop", weak=True),
    SkipRule("scheduler invariant checks (rq lock and clock assertions, deadline bandwidth "
             "accounting, task placement preconditions): their WARNs blame the caller", (
        "update_rq_clock", "assert_clock_updated", "rq_clock*", "sub_running_bw",
        "__sub_running_bw", "sub_rq_bw", "__sub_rq_bw", "add_running_bw", "__add_running_bw",
        "add_rq_bw", "__add_rq_bw", "set_task_cpu"), "sub_running_bw", _CHECK_KINDS),
    SkipRule("printk", ("printk*", "_printk*", "vprintk*", "__printk*", "dev_printk*",
                        "__dev_printk", "_dev_*", "dev_vprintk_emit", "netdev_printk",
                        "__netdev_printk"), "_printk"),
    SkipRule("locking primitives and lockdep", (
        "_raw_spin_*", "_raw_read_*", "_raw_write_*", "queued_spin_lock_slowpath",
        "native_queued_spin_lock_slowpath", "__pv_queued_spin_*", "queued_read_lock_slowpath",
        "queued_write_lock_slowpath", "mutex_lock*", "__mutex_lock*", "mutex_*_slowpath",
        "mutex_unlock", "__mutex_unlock*", "down", "down_*", "__down*", "up", "up_*",
        "rwsem_down_*", "lock_acquire*", "__lock_acquire*", "lock_release", "lock_acquired",
        "lock_contended", "lock_is_held*", "lockdep_*", "__lockdep_*", "register_lock_class",
        "mark_lock*", "mark_usage", "validate_chain", "check_prev_add*", "check_prevs_add",
        "check_noncircular", "print_circular_bug*", "print_usage_bug", "valid_state",
        "print_bad_irq_dependency", "check_irq_usage", "__lock_release",
        "print_unlock_imbalance_bug", "print_deadlock_bug", "rt_spin_lock", "rt_spin_unlock",
        "rt_read_lock", "rt_write_lock",
        "lock_sync", "look_up_lock_class", "assign_lock_key", "__bfs", "check_path*",
        "spin_lock*", "spin_unlock*", "_spin_*", "__raw_spin_*", "arch_spin_*",
        "__local_bh_enable_ip", "local_bh_enable*", "percpu_down_*", "percpu_up_*",
        "rt_mutex_*", "__rt_mutex*", "rtlock_*", "ww_mutex_*", "__ww_mutex_*",
        "__raw_callee_save_*", "slowpath"), "_raw_spin_lock"),
    SkipRule("sleep and wait primitives (a hung task's trace names where it sleeps)", (
        "__switch_to", "__switch_to_asm", "cpu_switch_to", "__schedule", "schedule",
        "schedule_*", "io_schedule*", "preempt_schedule*",
        "__cond_resched", "_cond_resched", "wait_for_completion*", "__wait_for_common",
        "wait_for_common*", "do_wait_for_common", "msleep*", "usleep_range*",
        "schedule_hrtimeout*", "do_nanosleep", "wait_on_*", "__wait_on_*", "folio_wait*",
        "__folio_lock*", "__lock_page*", "wait_on_page_bit*", "wait_event*", "__wait_event*",
        "prepare_to_wait*", "finish_wait", "bit_wait*", "out_of_line_wait_on_*",
        "wait_woken", "synchronize_rcu*", "synchronize_srcu*", "__synchronize_srcu",
        "wait_rcu_gp", "__wait_rcu_gp", "rwsem_*", "__rwsem_*", "wait_for_*"),
             "wait_for_completion", _HANG_KINDS),
    SkipRule("sleeping primitives a task in atomic context called (sleeping function called "
             "from invalid context, scheduling while atomic): the first caller outside them is "
             "the one in atomic context", (
        "__schedule", "schedule", "schedule_*", "preempt_schedule*", "__cond_resched*",
        "_cond_resched", "io_schedule*", "msleep*", "usleep_range*", "ssleep", "fsleep",
        "wait_for_completion*", "__wait_for_common", "wait_for_common*", "do_wait_for_common",
        "wait_event*", "__wait_event*", "prepare_to_wait*", "synchronize_rcu*",
        "synchronize_srcu*", "__synchronize_srcu", "synchronize_net", "wait_rcu_gp",
        "__wait_rcu_gp", "flush_work", "__flush_work", "flush_workqueue", "__flush_workqueue",
        "flush_delayed_work", "cancel_work_sync", "__cancel_work_sync", "__cancel_work_timer",
        "cancel_delayed_work_sync", "__alloc_pages*", "alloc_pages*", "__get_free_pages",
        "get_zeroed_page", "alloc_page_interleave", "prepare_alloc_pages", "might_alloc",
        "slab_pre_alloc_hook", "slab_alloc*", "__slab_alloc*", "___slab_alloc",
        "should_failslab", "fs_reclaim_*", "__fs_reclaim_*", "lock_sock*", "console_lock",
        "kthread_park", "kthread_stop", "rwsem_*", "__rwsem_*"), "msleep", _ATOMIC_SLEEP_KINDS),
    SkipRule("the stall and lockup detectors' interrupt side", (
        "watchdog", "watchdog_timer_fn", "watchdog_overflow_callback", "softlockup_fn",
        "__perf_event_overflow", "perf_event_overflow", "perf_event_nmi_handler",
        "handle_pmi_common", "*_pmu_handle_irq", "check_hung_task",
        "check_hung_uninterruptible_tasks",
        "rcu_dump_cpu_stacks", "print_cpu_stall*", "print_other_cpu_stall", "check_cpu_stall",
        "rcu_pending", "rcu_sched_clock_irq", "rcu_check_callbacks", "update_process_times",
        "tick_*", "__hrtimer_run_queues", "hrtimer_interrupt", "hrtimer_run_queues",
        "__run_hrtimer",
        "nmi_*", "default_do_nmi", "end_repeat_nmi", "arch_trigger_cpumask_backtrace",
        "trigger_*_backtrace", "native_*", "sysvec_*", "asm_sysvec_*", "__sysvec_*",
        "irq_exit*", "__irq_exit_rcu", "common_interrupt", "asm_common_interrupt",
        "smp_apic_timer_interrupt", "apic_timer_interrupt", "local_apic_timer_interrupt",
        "timer_interrupt", "__timer_interrupt", "decrementer_common*", "arch_timer_handler_*",
        "handle_percpu_devid_irq", "generic_handle_irq*", "handle_irq*", "__handle_domain_irq",
        "gic_handle_irq", "el1_interrupt", "el1h_64_irq*", "el0_irq*", "el1_irq",
        "call_on_irq_stack", "do_interrupt_handler",
        "riscv_timer_interrupt", "handle_riscv_irq", "riscv_intc_irq", "do_irq",
        "ipi_handler", "do_handle_IPI", "smp_call_function_interrupt", "__do_softirq",
        "handle_softirqs", "run_timer_softirq", "irq_enter*", "handle_IPI", "rcu_core*",
        "sched_clock_tick", "sched_tick", "scheduler_tick", "hrtimer_wakeup"),
             "rcu_sched_clock_irq"),
    SkipRule("the idle loop (a stalled or locked-up CPU caught idle names no culprit)", (
        "arch_cpu_idle", "default_idle", "default_idle_call", "do_idle", "cpu_idle_poll",
        "cpu_startup_entry", "cpuidle_enter*", "call_cpuidle", "secondary_start_kernel",
        "start_secondary", "rest_init", "arch_call_rest_init", "start_kernel",
        "__secondary_switched", "__primary_switched", "cpu_idle", "arch_cpu_idle_enter"),
             "default_idle_call",
             _STALL_KINDS),
    SkipRule("string and copy helpers (the caller passed the bad pointer)", (
        "memcpy*", "__memcpy*", "memmove", "__memmove", "memset*", "__memset", "memcmp",
        "strlen", "strnlen", "strcpy", "strncpy", "strscpy", "strcmp", "strncmp", "strchr",
        "strrchr", "strstr", "__memcpy_*", "copy_*_user*", "_copy_*_user", "__copy_*_user*",
        "raw_copy_*_user", "copy_user_*", "rep_movs_alternative", "memcpy_*io", "__memcpy_*io"),
             "strlen"),
    SkipRule("MMIO accessors and cache maintenance (the caller passed the bad address)", (
        "__raw_read*", "__raw_write*", "readb", "readw", "readl", "readq", "writeb",
        "writew", "writel", "writeq", "read*_relaxed", "write*_relaxed", "ioread*", "iowrite*",
        "in_be*", "out_be*", "in_le*", "out_le*",
        "flush_icache_range", "__flush_icache_range", "flush_dcache_range",
        "__flush_dcache_area", "dcache_clean_*", "dcache_inval_*", "caches_clean_inval_*",
        "clean_dcache_area", "flush_coherent_icache", "__flush_dcache_icache"), "__raw_readl"),
    SkipRule("thread, syscall and interrupt entry", (
        "kthread", "ret_from_fork*", "entry_SYSCALL*", "entry_INT80*", "do_syscall_*",
        "do_int80_syscall_32", "do_fast_syscall_32", "ret_fast_syscall", "ret_from_except*",
        "system_call*", "el0_svc*", "el0t_64_sync*", "invoke_syscall", "fast_exception_return",
),
             "entry_SYSCALL_64_after_hwframe"),
)
"""The guilty-frame skip rules: a function a row matches is reporting machinery or a helper,
never the guilty frame of a record of the row's kinds."""

SKIP_FUNCTIONS = tuple(p for rule in SKIP_RULES if not rule.kinds and not rule.weak
                       for p in rule.patterns)
"""The patterns of the rows that apply to every kind (the weak rows' apart)."""


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(p).replace(r"\*", ".*") for p in patterns))


_SKIP_RE = _compile(SKIP_FUNCTIONS)
_WEAK_RE = _compile(tuple(p for rule in SKIP_RULES if rule.weak for p in rule.patterns))
_KIND_ALIASES = {ATOMIC_SLEEP: frozenset({ATOMIC_SLEEP, "bug"})}
_KIND_RES = {kind: _compile(tuple(p for rule in SKIP_RULES
                                  if rule.kinds & _KIND_ALIASES.get(kind, frozenset({kind}))
                                  for p in rule.patterns))
             for kind in set().union(*(rule.kinds for rule in SKIP_RULES))}


def skip_kind(kind: str | None, headline: str | None) -> str | None:
    """The kind whose skip rows apply to a record: :data:`ATOMIC_SLEEP` for a ``bug`` record
    whose headline reports sleeping in atomic context, else its kind."""
    if kind == "bug" and headline and ATOMIC_SLEEP_RE.search(headline):
        return ATOMIC_SLEEP
    return kind


def base_name(name: str) -> str:
    """``name`` without compiler suffixes and ppc64's leading dot (``.foo.isra.0`` -> ``foo``)."""
    return clean_function(name.lstrip(".") or name)


def is_reporting_function(name: str, kind: str | None = None, weak: bool = True) -> bool:
    """True for functions that report a crash (panic, dump_stack, __warn...), generic checkers
    and helpers: never guilty. With ``kind``, the rows of that record kind apply too; with
    ``weak`` (the default), the weak rows too (core services, guilty only with no caller)."""
    base = base_name(name)
    if _SKIP_RE.fullmatch(base) is not None:
        return True
    if weak and _WEAK_RE.fullmatch(base) is not None:
        return True
    kind_re = _KIND_RES.get(kind) if kind else None
    return kind_re is not None and kind_re.fullmatch(base) is not None


# --- normalisation ---------------------------------------------------------------------------

_NORM_FUNC_RE = re.compile(r"(?P<func>" + FUNC + r")\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?"
                           r"(?:\s+\[[\w-]+(?:\s+[0-9a-f]+)?\])?")
_NORM_SRC_RE = re.compile(r"(\b[\w./-]+\.(?:c|h|S|s|rs|cc|cpp)):\d+(?::\d+)?")
_NORM_HEX_RE = re.compile(r"\b(?:0x)?[0-9a-f]{8,}\b")
_NORM_NUM_RULES = [
    (re.compile(r"\b(CPU#|cpu#|CPUs? |cpus? |CPU: |PID: |pid:? ?|ppid:|t=)\d+"), r"\1NUM"),
    (re.compile(r"\b\d+(s!| seconds| secs| jiffies|ms\b| ticks)"), r"NUM\1"),
    (re.compile(r"\[([^\]:\s]+):\d+\]"), r"[\1:NUM]"),
    (re.compile(r"\b(task [^\s:]+):\d+"), r"\1:NUM"),
    (re.compile(r"\b(by task [^\s/]+)/\d+"), r"\1/NUM"),
    (re.compile(r"\[#\d+\]"), "[#NUM]"),
]


def normalise(text: str) -> str:
    """Remove what changes between runs of the same bug from a report's text.

    ``func+0x1/0x2 [mod]`` -> ``func``, ``file.c:123`` -> ``file.c:LINE``, addresses ->
    ``ADDR`` (hex numbers of 8+ digits above 0xffff), CPU numbers, PIDs, seconds, jiffies ->
    ``NUM``; spaces collapsed.
    """
    text = _NORM_FUNC_RE.sub(lambda m: clean_function(m["func"]), text)
    text = _NORM_SRC_RE.sub(r"\1:LINE", text)
    text = _NORM_HEX_RE.sub(
        lambda m: "ADDR" if int(m.group(0).removeprefix("0x"), 16) > 0xFFFF else m.group(0), text)
    for pattern, repl in _NORM_NUM_RULES:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


# Functions that never return: the return address a call to one leaves on the stack may be
# the first byte of the next function.
NORETURN = frozenset({"panic", "nmi_panic", "vpanic", "do_exit", "make_task_dead", "die",
                      "do_group_exit", "kthread_exit", "__stack_chk_fail", "fortify_panic",
                      "__fortify_panic", "usercopy_abort", "__ubsan_handle_builtin_unreachable",
                      "cpu_startup_entry", "rest_init", "start_kernel"})


def guilty_function(header_func: str | None, rip: ReportFrame | None,
                    frames: list[ReportFrame], kind: str | None = None,
                    caller: ReportFrame | None = None) -> str | None:
    """The first function that is not a reporting helper (:data:`SKIP_RULES`, with the rows of
    ``kind``; a core service of a weak row only when no such function follows it): the
    header's, the faulting location's, its ``caller`` (the link register the report prints:
    arm64 ``lr :``, powerpc ``LR [...]``; when the faulting location is a helper, it names the
    helper's caller, which the call trace may have lost), then the call trace's reliable
    frames, then its '?' frames. Two kinds of frames name no caller: a frame at ``+0x0`` right
    under a noreturn function (``panic``..., or under such a frame) is the return address of a
    call that ended the function before it (arm64 prints it as the next function's first
    byte), and a '?' frame at ``+size/size`` (x86 prints return addresses minus one) is the
    start of the next function, a function pointer on the stack."""
    candidates = [header_func] if header_func else []
    if rip:
        candidates.append(rip.function)
    if caller and (rip is None or base_name(caller.function) != base_name(rip.function)):
        candidates.append(caller.function)  # no pc line: it held no function (``PC is at 0x0``)
    after_noreturn: set[int] = set()
    for i, f in enumerate(frames[1:], 1):
        if f.offset == 0 and (i - 1 in after_noreturn
                              or base_name(frames[i - 1].function) in NORETURN):
            after_noreturn.add(i)
    candidates += [f.function for i, f in enumerate(frames)
                   if f.reliable and i not in after_noreturn]
    unreliable = [f.function for i, f in enumerate(frames) if not f.reliable
                  and i not in after_noreturn and (f.size is None or f.offset != f.size)]
    core_service = None  # the first function a weak row skips
    for names in (candidates, unreliable):  # a '?' frame is no caller of a core service
        for name in names:
            if is_reporting_function(name, kind, weak=False):
                continue
            if _WEAK_RE.fullmatch(base_name(name)) is None:
                return base_name(name)
            core_service = core_service or base_name(name)
        if core_service:
            return core_service
    return None


_CALL_RE = re.compile(r"(?P<func>" + FUNC + r")\(\)$")  # "foo()": old WARNING lines


def location_function(where: str) -> str | None:
    """The function of a location such as ``smash_stack+0x51/0x60 [spmod]``, if it is one."""
    m = _NORM_FUNC_RE.match(where.strip()) or _CALL_RE.match(where.strip())
    return m["func"] if m else None

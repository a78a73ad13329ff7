// SPDX-License-Identifier: GPL-2.0
/*
 * kdump_crash: crashes the kernel on load, in the way the "mode" parameter names.
 *
 *   insmod kdump_crash.ko mode=panic|bug|null|warn|divide|timer|softlockup|hung|undef|badaddr
 *
 * Built by pytest-kdump (pytest_kdump/crashmod.py) against the target kernel's headers; its
 * MODES table says which sysctls each mode needs and what the console and the dump show.
 * Every crashing function is out of line and never cloned, so the console's call trace and
 * crash's "bt" name it: kdump_crash_panic, kdump_crash_bug, kdump_crash_null, kdump_crash_warn,
 * kdump_crash_divide, kdump_crash_timer_fn, kdump_crash_spin, kdump_crash_hang,
 * kdump_crash_undef, kdump_crash_badaddr.
 *
 * The module has no exit function: once loaded it cannot be unloaded (a timer or a thread of
 * it may still be running).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/timer.h>

#define KDUMP_CRASH_MODES "panic, bug, null, warn, divide, timer, softlockup, hung, undef, badaddr"

/* Unmapped in kernel and user space alike, above the NULL page: a paging request fault. */
#define KDUMP_CRASH_BAD_ADDRESS 0xdead000000UL

static char *mode = "";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "how to crash the kernel: " KDUMP_CRASH_MODES);

/* Out of line, never cloned (no .constprop/.isra/.part copies), kept even if unused. */
#if __has_attribute(__noclone__)
#define KDUMP_CRASH_FN __attribute__((__noinline__, __noclone__)) __used
#else
#define KDUMP_CRASH_FN __attribute__((__noinline__)) __used
#endif

/* Read at run time: the compiler cannot know they are NULL or zero. */
static int *volatile kdump_crash_null_ptr;
static volatile int kdump_crash_zero;
static volatile int kdump_crash_sink;

static struct timer_list kdump_crash_timer;

static KDUMP_CRASH_FN void kdump_crash_panic(void)
{
	panic("kdump_crash: panic");
}

static KDUMP_CRASH_FN void kdump_crash_bug(void)
{
	BUG();
}

static KDUMP_CRASH_FN void kdump_crash_null(void)
{
	*(volatile int *)kdump_crash_null_ptr = 0x6b;
	barrier();
}

static KDUMP_CRASH_FN int kdump_crash_warn(void)
{
	WARN(1, "kdump_crash: warning");
	barrier();
	return -EAGAIN;
}

static KDUMP_CRASH_FN int kdump_crash_divide(void)
{
	kdump_crash_sink = 100 / kdump_crash_zero;
	barrier();
	return -EAGAIN;
}

static KDUMP_CRASH_FN void kdump_crash_timer_fn(struct timer_list *unused)
{
	*(volatile int *)kdump_crash_null_ptr = 0x6b;
	barrier();
}

static KDUMP_CRASH_FN int kdump_crash_spin(void *unused)
{
	msleep(100);	/* let insmod return first, even on a single CPU */
	preempt_disable();
	for (;;)
		cpu_relax();	/* inline: the soft lockup's RIP stays in this function */
	return 0;
}

static KDUMP_CRASH_FN int kdump_crash_hang(void *unused)
{
	for (;;) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		schedule();
	}
	return 0;
}

static KDUMP_CRASH_FN void kdump_crash_undef(void)
{
	/* permanently undefined, and not a BUG() site: a plain undefined-instruction oops */
#if defined(CONFIG_X86)
	asm volatile("ud2");
#elif defined(CONFIG_ARM64)
	asm volatile("udf #0");
#else
#error "kdump_crash: no undefined instruction for this architecture"
#endif
}

static KDUMP_CRASH_FN void kdump_crash_badaddr(void)
{
	*(int *volatile)KDUMP_CRASH_BAD_ADDRESS = 1;
}

static int kdump_crash_thread(int (*fn)(void *), const char *name)
{
	struct task_struct *task = kthread_run(fn, NULL, "%s", name);

	if (IS_ERR(task)) {
		pr_err("cannot start the thread %s: %ld\n", name, PTR_ERR(task));
		return PTR_ERR(task);
	}
	pr_info("thread %s (pid %d) started\n", name, task_pid_nr(task));
	return 0;
}

static int __init kdump_crash_init(void)
{
	pr_info("mode=%s\n", mode);
	if (sysfs_streq(mode, "panic")) {
		kdump_crash_panic();
	} else if (sysfs_streq(mode, "bug")) {
		kdump_crash_bug();
	} else if (sysfs_streq(mode, "null")) {
		kdump_crash_null();
	} else if (sysfs_streq(mode, "warn")) {
		kdump_crash_warn();
		pr_err("the warning did not panic: set kernel.panic_on_warn=1\n");
		return -EAGAIN;
	} else if (sysfs_streq(mode, "divide")) {
		if (!IS_ENABLED(CONFIG_X86)) {
			pr_err("integer division by zero does not trap on this architecture\n");
			return -EOPNOTSUPP;
		}
		kdump_crash_divide();
	} else if (sysfs_streq(mode, "timer")) {
		timer_setup(&kdump_crash_timer, kdump_crash_timer_fn, 0);
		mod_timer(&kdump_crash_timer, jiffies + msecs_to_jiffies(100));
		return 0;
	} else if (sysfs_streq(mode, "softlockup")) {
		return kdump_crash_thread(kdump_crash_spin, "kcrash_spin");
	} else if (sysfs_streq(mode, "hung")) {
		return kdump_crash_thread(kdump_crash_hang, "kcrash_hang");
	} else if (sysfs_streq(mode, "undef")) {
		kdump_crash_undef();
	} else if (sysfs_streq(mode, "badaddr")) {
		kdump_crash_badaddr();
	} else {
		pr_err("unknown mode '%s': use mode=one of: %s\n", mode, KDUMP_CRASH_MODES);
		return -EINVAL;
	}
	pr_err("mode %s did not crash the kernel (is kernel.panic_on_oops=1?)\n", mode);
	return -EAGAIN;
}
module_init(kdump_crash_init);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("pytest-kdump");
MODULE_DESCRIPTION("Crashes the kernel on load, as the mode parameter says (kdump tests)");

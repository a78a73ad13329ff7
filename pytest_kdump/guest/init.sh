#!/bin/sh
# pytest-kdump guest init: arms kdump in the production kernel, saves the vmcore in the crash
# kernel. Every line starting "pytest-kdump:" is a marker the host reads; keep them stable.
#
# Tests source this file with PYTEST_KDUMP_INIT_LIB=1: it then only defines the functions
# (and the paths below, which they may change) and runs nothing.
DUMP_DIR=/dump
VMCORE=/proc/vmcore
KALLSYMS=/proc/kallsyms
TEXT_OFFSET=/etc/kallsyms-text-offset  # written by the image builder, see supply_text
KALLSYMS_COPY=/tmp/kallsyms
PRINTK=/proc/sys/kernel/printk
TMP=/tmp

# Kernel command line options of this init: pytest_kdump.<key>=<value>
opt() {
    for w in $cmdline; do
        case "$w" in "pytest_kdump.$1="*) echo "${w#*=}"; return ;; esac
    done
    echo "$2"
}
say() { echo "pytest-kdump: $*"; }

load_modules() {
    [ -f /etc/modules.load ] || return 0
    while read -r m; do
        [ -n "$m" ] && insmod "/lib/modules/$m" 2>/dev/null
    done < /etc/modules.load
}

after_dump() {
    sync
    case "$(opt after reboot)" in
        poweroff) say "powering off"; poweroff -f ;;
        shell) say "staying in the crash kernel"; exec setsid cttyhack sh ;;
        *) say "rebooting"; reboot -f ;;
    esac
}

fail() {  # step rc message
    say "DUMP-FAILED step=$1 rc=$2 $3"
    df -k "$DUMP_DIR" 2>/dev/null | tail -n 1 | while read -r _ size used avail _; do
        say "dump disk: size=${size}k used=${used}k avail=${avail}k"
    done
    umount "$DUMP_DIR" 2>/dev/null
    after_dump
}

# pytest_kdump.compress=: makedumpfile's page compression. lzo by default: under QEMU TCG it
# saves a 512 MiB guest's dump in 0.2-0.3 of zlib's time, 1.35 times the size, and crash and
# drgn read it as fast (bench/compression).
COMPRESS_DEFAULT=lzo
compress_flag() {
    case "$1" in
        zlib) echo -c ;; lzo) echo -l ;; snappy) echo -p ;; zstd) echo -z ;; *) return 1 ;;
    esac
}
# zlib is always built in; makedumpfile -v lists the others ("lzo<TAB>enabled"). A makedumpfile
# built without one (Debian 12's 1.7.2: snappy, zstd) ignores its flag: uncompressed pages.
compress_built() {
    [ "$1" = zlib ] || makedumpfile -v 2>/dev/null | grep -q "^$1[[:space:]]*enabled"
}
choose_compression() {  # sets compress and flag
    compress=$(opt compress "$COMPRESS_DEFAULT")
    if ! compress_flag "$compress" >/dev/null; then
        say "unknown pytest_kdump.compress=$compress (not zlib|lzo|snappy|zstd):" \
            "using $COMPRESS_DEFAULT"
        compress=$COMPRESS_DEFAULT
    fi
    for c in "$compress" "$COMPRESS_DEFAULT" zlib; do
        compress_built "$c" && break
    done
    [ "$c" = "$compress" ] ||
        say "makedumpfile is built without $compress (it would not compress): using $c"
    compress=$c
    flag=$(compress_flag "$compress")
}

# pytest_kdump.dump=serial: no dump disk; the crashed kernel's dmesg (its last
# pytest_kdump.serial_limit= bytes) goes over the console, gzip and base64 between two marker
# lines, for pytest-kdump's serial transport (pytest_kdump/transports/serial.py).
send_dmesg() {
    limit=$(opt serial_limit 65536)
    case "$limit" in
        ''|*[!0-9]*|0) say "pytest_kdump.serial_limit=$limit is no byte count: using 65536"
                       limit=65536 ;;
    esac
    say "crash kernel $(uname -r) sending the dmesg over the console (at most $limit bytes)"
    log=$TMP/dmesg.txt
    makedumpfile --dump-dmesg "$VMCORE" "$log" >"$TMP/makedumpfile.log" 2>&1 ||
        fail dump-dmesg $? "makedumpfile --dump-dmesg failed: $(tail -n 1 "$TMP/makedumpfile.log")"
    total=$(wc -c < "$log")
    tail -c "$limit" "$log" > "$log.tail"
    size=$(wc -c < "$log.tail")
    level=$(cut -f1 "$PRINTK")
    echo 1 > "$PRINTK"  # no kernel message inside the block
    echo "kdump-dmesg: begin bytes=$size total=$total gzip base64"
    gzip -c "$log.tail" | base64
    echo "kdump-dmesg: end"
    # The level stays 1 until the crash kernel powers off or reboots: when the shell's echo
    # returns, the block's end may still be in the UART's buffer, and a message printed at the
    # old level would land inside it (seen in CI). Set back for a crash kernel that stays.
    [ "$(opt after reboot)" = shell ] && { sleep 1; echo "$level" > "$PRINTK"; }
    say "DUMP-OK size=$size dmesg only"
    after_dump
}

save_vmcore() {
    dev=$(opt dump /dev/vda)
    [ "$dev" = serial ] && send_dmesg
    level=$(opt level 31)
    choose_compression
    say "crash kernel $(uname -r) saving vmcore to $dev (makedumpfile $flag -d $level)"
    load_modules
    n=0
    while [ ! -b "$dev" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    [ -b "$dev" ] || fail find-disk 1 "no block device $dev"
    mount -t "$(opt fstype ext4)" "$dev" "$DUMP_DIR" || fail mount $? "cannot mount $dev"
    rm -f "$DUMP_DIR/vmcore" "$DUMP_DIR/vmcore.part" "$DUMP_DIR/dmesg.txt" "$DUMP_DIR/status"
    makedumpfile --dump-dmesg "$VMCORE" "$DUMP_DIR/dmesg.txt" >/dev/null 2>&1
    # pipefail, in a subshell so that it stays there: the status is makedumpfile's, not tail's
    rc=0
    (
        set -o pipefail
        makedumpfile "$flag" -d "$level" "$VMCORE" "$DUMP_DIR/vmcore.part" 2>&1 | tail -n 3
    ) || rc=$?
    [ "$rc" -eq 0 ] || fail makedumpfile "$rc" "makedumpfile failed"
    [ -s "$DUMP_DIR/vmcore.part" ] || fail makedumpfile 1 "no vmcore written"
    mv "$DUMP_DIR/vmcore.part" "$DUMP_DIR/vmcore" || fail rename $? ""
    size=$(wc -c < "$DUMP_DIR/vmcore")
    echo "rc=0 size=$size kernel=$(uname -r)" > "$DUMP_DIR/status"
    sync
    umount "$DUMP_DIR" || fail umount $? ""
    say "DUMP-OK size=$size"
    after_dump
}

# kexec-tools reads _text from /proc/kallsyms, which lists it only with CONFIG_KALLSYMS_ALL
# (Debian's 6.1 arm64 kernel lacks it). The image builder then stores _stext - _text from the
# kernel's System.map; a copy of kallsyms with _text added is bound over the real one.
supply_text() {
    [ -f "$TEXT_OFFSET" ] || return 0
    grep -q ' _text$' "$KALLSYMS" && return 0
    stext=$(grep ' _stext$' "$KALLSYMS" | cut -d' ' -f1)
    [ -n "$stext" ] || { say "kallsyms lacks _text and _stext: kexec may fail"; return 0; }
    text=$(printf '%016x' $((0x$stext - $(cat "$TEXT_OFFSET"))))
    { cat "$KALLSYMS"; echo "$text T _text"; } > "$KALLSYMS_COPY"
    mount --bind "$KALLSYMS_COPY" "$KALLSYMS" &&
        say "kallsyms lacks _text (no CONFIG_KALLSYMS_ALL): supplied _text=$text for kexec"
}

arm_kdump() {
    case "$cmdline" in
        *crashkernel=*) ;;
        *) say "kdump NOT armed: no crashkernel= on the kernel command line"; return ;;
    esac
    append=""
    for w in $cmdline; do
        case "$w" in crashkernel=*|pytest_kdump.crash_append=*) ;; *) append="$append $w" ;; esac
    done
    # cma=0: a kernel that reserves CMA by default (Debian arm64: 64 MiB) would take it from
    # the crash kernel's reservation too, leaving too little to unpack the initramfs
    append="$append $(opt crash_append 'irqpoll nr_cpus=1 reset_devices cma=0')"
    append=$(echo "$append" | tr ',' ' ' | sed 's/^ *//')
    supply_text
    out=$(kexec -p /boot/vmlinuz --initrd=/boot/initrd-crash.img --append="$append" 2>&1)
    rc=$?
    [ -f "$KALLSYMS_COPY" ] && umount "$KALLSYMS" 2>/dev/null && rm -f "$KALLSYMS_COPY"
    loaded=$(cat /sys/kernel/kexec_crash_loaded 2>/dev/null)
    if [ $rc -eq 0 ] && [ "$loaded" = 1 ]; then
        say "kdump armed (kexec -p rc=0)"
    else
        say "kdump NOT armed: kexec -p rc=$rc loaded=$loaded: $out"
    fi
}

main() {
    export PATH=/bin:/sbin:/usr/bin:/usr/sbin
    /bin/busybox mkdir -p /proc /sys /dev /tmp "$DUMP_DIR"
    /bin/busybox mount -t proc proc /proc
    /bin/busybox --install -s
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev 2>/dev/null
    cmdline=$(cat /proc/cmdline)

    if [ -e "$VMCORE" ]; then
        save_vmcore
    fi

    say "init production kernel $(uname -r)"
    load_modules
    arm_kdump
    export PS1='kdump# ' HOME=/root
    mkdir -p /root
    say "shell ready"
    # The shell is respawned; touching EXIT_INIT and leaving the shell makes init exit, which
    # panics the kernel ("Attempted to kill init!"): a crash that needs no module.
    EXIT_INIT=/tmp/pytest-kdump-exit-init
    while [ ! -e "$EXIT_INIT" ]; do
        setsid cttyhack sh
        sleep 0.2
    done
    say "init exiting on request"
    exit 0
}

[ -n "$PYTEST_KDUMP_INIT_LIB" ] || main

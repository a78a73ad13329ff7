"""The ``pytest-kdump`` command: build guest images, install crash, analyse dumps, report on
nights."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from pytest_kdump import analysis, detect
from pytest_kdump.analysis.crash.cross import TARGETS, install_cross_crash
from pytest_kdump.analysis.crash.process import CommandOutput
from pytest_kdump.analysis.crash.tool import (
    CrashTool,
    crash_for_dump,
    find_crash,
    install_crash,
    installed_crash,
)
from pytest_kdump.arch import ALIASES, ARCHES
from pytest_kdump.build import image, rootfs
from pytest_kdump.cachedir import cache_dir
from pytest_kdump.errors import ConfigError, KdumpError
from pytest_kdump.progress import show_progress
from pytest_kdump.rack import control as rack_control
from pytest_kdump.rack import spec as rack_spec
from pytest_kdump.report import baseline as baseline_mod
from pytest_kdump.report import html as html_mod
from pytest_kdump.report.nights import read_nights
from pytest_kdump.report.summary import Summary, summarize, update_baseline

EPILOG = """examples:
  pytest-kdump image build              # the x86_64 QEMU guest (cached; --force rebuilds)
  pytest-kdump image build --arch debian-x86_64  # a Debian guest with kdump-tools (~1 min)
  pytest-kdump image info               # what is cached, and where
  pytest-kdump setup-crash              # a crash that reads current Debian kernels' dumps
  pytest-kdump setup-crash --arch aarch64  # one for arm64 dumps (built from source, 6-10 min)
  pytest-kdump analyze vmlinux vmcore   # panic message, crashing task, backtrace
  pytest-kdump analyze vmlinux */vmcore --script analyze.crash --json  # batch
  pytest-kdump oops console.log --json  # the crash reports in a saved console log
  pytest-kdump report nightly/* --baseline baseline.yaml --html out  # out/index.html
  pytest-kdump rack up --boards 2       # a simulated lab rack: coordinator, exporter, boards
  pytest --lg-env labgrid-envs/rack/qemu-x86_64.yaml --kdump-places board-1,board-2 -n 2
  pytest-kdump rack down
"""


def _arch_name(name: str) -> str:
    """An architecture as ``uname -m`` names it (``arm64`` -> ``aarch64``)."""
    return ALIASES.get(name, name)


def _seconds(text: str) -> float:
    """A time limit in seconds: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is no number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} s: a time limit must be above 0")
    return value


def _port(text: str) -> int:
    """A TCP port: 1 to 65535."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is no TCP port (1 to 65535)")
    return int(text)


def _image_name(name: str) -> str:
    """A guest image's name: an architecture, or ``debian-`` and one (``debian-arm64`` ->
    ``debian-aarch64``)."""
    if name.startswith(rootfs.PREFIX):
        return rootfs.PREFIX + _arch_name(name.removeprefix(rootfs.PREFIX))
    return _arch_name(name)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pytest-kdump", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Kernel crash (kdump) testing tools.")
    sub = p.add_subparsers(dest="command", required=True)

    img = sub.add_parser("image", help="build or show the QEMU guest images")
    img_sub = img.add_subparsers(dest="image_command", required=True)
    build = img_sub.add_parser("build", help="build the guest image (kernel, initramfs with "
                                             "kexec/makedumpfile, debug vmlinux)")
    build.add_argument("--arch", default="x86_64", type=_image_name,
                       choices=[*sorted(ARCHES), *(rootfs.PREFIX + a for a in sorted(ARCHES))],
                       help="x86_64 (default) or aarch64 (Debian's names amd64, arm64 work "
                            "too): the busybox guest; debian-x86_64: the Debian guest with "
                            "systemd and kdump-tools, a real board's stand-in (mmdebstrap)")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.add_argument("--kernel-package", metavar="NAME",
                       help="Debian kernel package (default: linux-image-cloud-amd64's kernel)")
    info = img_sub.add_parser("info", help="list the cached images")
    info.add_argument("--json", action="store_true")

    crash = sub.add_parser("setup-crash", help="install crash 8.0.6 (Debian trixie) into the "
                                               "cache, without touching the host")
    crash.add_argument("--force", action="store_true")
    crash.add_argument("--arch", choices=[*sorted(ARCHES), "all"], type=_arch_name,
                       help="architecture of the dumps to read (default: the host's); another "
                            "architecture's crash is built from Debian's source (6-10 minutes; "
                            "needs the build tools the set-up script installs)")

    an = sub.add_parser(
        "analyze", help="analyse vmcores of one kernel: panic, crashing task, backtrace",
        description="Analyse each VMCORE with the debug VMLINUX of its kernel (one crash "
                    "process per dump) and print one summary per dump. A dump that cannot be "
                    "analysed is reported and the others are still analysed; the exit status "
                    "is 1 if any failed.",
        epilog="example: pytest-kdump analyze vmlinux-6.1.0-56-cloud-amd64 dumps/*/vmcore "
               "--script analyze.crash --out reports --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    an.add_argument("vmlinux", type=Path, metavar="VMLINUX",
                    help="debug vmlinux of the dumps' kernel (linux-image-<release>-dbg)")
    an.add_argument("vmcores", type=Path, nargs="+", metavar="VMCORE",
                    help="dump files (makedumpfile or ELF vmcores)")
    an.add_argument("--script", type=Path, metavar="FILE",
                    help="crash command file (one command per line) run on every dump after "
                         "the summary; outputs printed and saved")
    an.add_argument("--allow-shell", action="store_true",
                    help="let the script's crash commands run host shell commands (pipes such "
                         "as 'log | tail', '!cmd', '> file'); refused by default")
    an.add_argument("--backend", choices=analysis.BACKENDS, default="crash",
                    help="crash (default) or drgn (pip install 'pytest-kdump[drgn]')")
    an.add_argument("--crash", metavar="PATH", help="crash binary (default: the installed one)")
    an.add_argument("--commands", metavar="CMD,CMD",
                    help="comma-separated crash commands to run and print besides "
                         f"{', '.join(analysis.DEFAULT_COMMANDS)} (e.g. 'kmem -i,files 1')")
    an.add_argument("--out", type=Path, metavar="DIR",
                    help="folder for each dump's crash transcript and outputs")
    an.add_argument("--start-timeout", type=_seconds, default=300, metavar="S",
                    help="seconds for crash to load a dump (default: 300)")
    an.add_argument("--timeout", type=_seconds, default=120, metavar="S",
                    help="seconds per crash command (default: 120)")
    an.add_argument("--json", action="store_true", help="one JSON summary per dump and line")
    oops = sub.add_parser("oops", help="print the kernel crash reports found in a console log")
    oops.add_argument("logfile", type=Path)
    oops.add_argument("--json", action="store_true", help="one JSON record per line")

    rep = sub.add_parser(
        "report", help="the nightly report: tests, crash signatures, baseline, trends",
        description="Read the artifact folders of one or more nights (oldest first, the last "
                    "one is the night reported on) and summarise them: each test's outcome, "
                    "board, phase timings, dump size and crash signatures; the signatures "
                    "grouped across tests and boards and judged against a baseline (new, "
                    "known, expected; known bugs that did not happen: possibly fixed); the "
                    "phase timings and dump sizes over the nights.",
        epilog="example: pytest-kdump report nightly/2026-12-0* --baseline baseline.yaml "
               "--html report",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("artifacts", type=Path, nargs="+", metavar="ARTIFACTS",
                     help="a night's artifact folder (pytest's --kdump-artifacts); several: "
                          "oldest first")
    rep.add_argument("--baseline", type=Path, metavar="FILE",
                     help="YAML list of known signatures {signature, status, ticket, note}")
    rep.add_argument("--update-baseline", action="store_true",
                     help="add the nights' crash signatures nobody asked for that FILE lacks, "
                          "with status new (FILE is created if missing)")
    rep.add_argument("--html", type=Path, metavar="DIR",
                     help="write the self-contained page DIR/index.html (links relative)")
    rep.add_argument("--json", action="store_true", help="print the report's data as JSON")

    rack = sub.add_parser(
        "rack", help="a lab rack simulated on this machine with labgrid's own programs",
        description="Bring up (or down) a lab rack on loopback: labgrid-coordinator, "
                    "labgrid-exporter serving each board's serial port through ser2net "
                    "(RFC 2217) and its power outlet, and one place per board (board-1, "
                    "board-2...). Each board is a QEMU guest whose console is a host pty "
                    "and whose power is an outlet of a small HTTP power switch (labgrid's "
                    "'rest' model). Tests reach the boards only through the coordinator: "
                    "labgrid-envs/rack/qemu-x86_64.yaml.",
        epilog="example: pytest-kdump rack up --boards 2 && pytest examples/ --lg-env "
               "labgrid-envs/rack/qemu-x86_64.yaml --kdump-places board-1,board-2 -n 2; "
               "pytest-kdump rack down",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rack.add_argument("action", choices=["up", "down", "status"])
    rack.add_argument("--boards", type=int, default=2, metavar="N",
                      help="up: how many boards (default 2)")
    rack.add_argument("--arch", default="x86_64", type=_arch_name,
                      choices=rack_spec.RACK_ARCHES,
                      help="up: the boards' guest (default x86_64; arm64 for boards like "
                           "the BeaglePlay, env labgrid-envs/rack/qemu-arm64.yaml)")
    rack.add_argument("--port", type=_port, default=rack_spec.DEFAULT_PORT,
                      help=f"up: the coordinator's port on 127.0.0.1 "
                           f"(default {rack_spec.DEFAULT_PORT})")
    rack.add_argument("--dir", type=Path, default=None,
                      help="the rack's folder: state, logs, dump disks (default "
                           "$LG_KDUMP_RACK, else <cache>/rack)")
    return p


def _rack(args: argparse.Namespace) -> int:
    rack_dir = rack_control.check_rack_dir(args.dir or rack_spec.default_dir())
    if args.action == "up":
        state = rack_control.up(rack_dir, boards=args.boards, arch=args.arch, port=args.port)
        print(rack_control.status(state.dir))
    elif args.action == "down":
        if not rack_control.down(rack_dir):
            print(f"nothing of a rack runs in {rack_dir}")
    else:
        print(rack_control.status(rack_dir))
    return 0


def _oops(logfile: Path, as_json: bool) -> int:
    if not logfile.is_file():
        why = "is a folder, not a console log" if logfile.is_dir() else "no such file"
        print(f"pytest-kdump: error: {logfile}: {why}", file=sys.stderr)
        return 2
    records = detect.find_crashes(logfile.read_bytes().decode("utf-8", "replace"))
    for record in records:
        print(json.dumps(record.to_dict(), default=str) if as_json else f"{record}\n")
    if not as_json:
        print(f"{len(records)} crash report(s) in {logfile}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    show_progress()
    try:
        if args.command == "image" and args.image_command == "build":
            if rootfs.is_debian(args.arch):
                if args.kernel_package:
                    raise ConfigError("--kernel-package is for the busybox guest",
                                      advice="the Debian guest takes Debian's current kernel")
                deb = rootfs.build_debian(args.arch, force=args.force)
                print(f"{deb}\n  disk    {deb.disk}\n  kernel  {deb.kernel}\n"
                      f"  vmlinux {deb.vmlinux}\n  ssh key {deb.ssh_key}")
                return 0
            img = image.build_image(args.arch, force=args.force,
                                    kernel_package=args.kernel_package)
            print(f"{img}\n  kernel  {img.kernel}\n  initrd  {img.initrd}\n"
                  f"  vmlinux {img.vmlinux}")
            return 0
        if args.command == "image":
            return _image_info(args.json)
        if args.command == "setup-crash":
            for tool in _setup_crash(args.arch, args.force):
                print(f"crash {tool.version} for {tool.arch} dumps ({tool.source}): "
                      f"{' '.join(tool.argv)}")
            return 0
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "oops":
            return _oops(args.logfile, args.json)
        if args.command == "report":
            return _report(args)
        if args.command == "rack":
            return _rack(args)
    except KdumpError as exc:
        print(f"pytest-kdump: error: {exc}", file=sys.stderr)
        return 2
    return 1


def _report(args: argparse.Namespace) -> int:
    """The nightly report: text (or ``--json``) on stdout, the page with ``--html``."""
    if args.update_baseline and not args.baseline:
        raise ConfigError("--update-baseline needs the file: give --baseline FILE")
    book = (baseline_mod.load_baseline(args.baseline, missing_ok=args.update_baseline)
            if args.baseline else None)
    summary = summarize(read_nights(args.artifacts), book)  # judged before any update
    notes = []
    try:
        if args.html:
            notes.append(f"html: {html_mod.write_html(summary, args.html)}")
        if book is not None and args.update_baseline:
            added = update_baseline(book, summary)
            baseline_mod.save_baseline(book, args.baseline)
            notes.append(f"baseline {args.baseline}: {len(added)} signature(s) added with "
                         "status new")
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc}",
                          advice="give a folder (--html) and a baseline path you can "
                                 "write") from None
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print(_report_text(summary))
    for note in notes:
        print(note, file=sys.stderr if args.json else sys.stdout)
    return 0


def _report_text(summary: Summary) -> str:
    lines = []
    for night in summary.nights:
        counts = ", ".join(f"{n} {o}" for o, n in sorted(night.outcomes().items()))
        lines.append(f"night {night.label}: {len(night.tests)} tests ({counts}) on "
                     f"{', '.join(night.boards)}")
    counts = summary.last_counts()
    lines.append(f"last night {summary.last.label}: {sum(counts.values())} crash report(s): "
                 + ", ".join(f"{n} {k}" for k, n in counts.items()))
    for g in summary.groups:
        when = (g.last_seen if g.first_seen == g.last_seen
                else f"{g.first_seen}..{g.last_seen}")
        gone = "" if g.in_last_night else ", not seen last night"
        lines.append(f"  {g.judgement.kind:8} {g.count:3}x  {g.signature}  "
                     f"[{', '.join(g.boards)}; {when}{gone}] {g.judgement.why}")
    for entry in summary.possibly_fixed:
        lines.append(f"  possibly fixed: {entry.signature} ({entry.status}"
                     f"{', ' + entry.ticket if entry.ticket else ''})")
    return "\n".join(lines)


def _setup_crash(arch: str | None, force: bool) -> list[CrashTool]:
    """Install the crash for ``arch`` dumps (the host's: trixie's package; another: built),
    or for every architecture possible here (``all``)."""
    host = os.uname().machine
    arches = [host, *TARGETS.get(host, {})] if arch == "all" else [arch or host]
    return [install_crash(cache_dir(), force=force) if a == host
            else install_cross_crash(cache_dir(), a, force=force) for a in arches]


def _image_info(as_json: bool) -> int:
    root = cache_dir() / "images"
    images = []
    for manifest in sorted(root.glob("*/manifest.json")):
        if manifest.parent.is_symlink():
            continue
        debian = manifest.parent.name.startswith(rootfs.PREFIX)
        img = (rootfs.DebianImage if debian else image.GuestImage).load(manifest.parent)
        name = f"{rootfs.PREFIX}{img.arch}" if debian else img.arch
        current = image.current_image(name)
        # blocks used: the Debian guest's disk is sparse
        size = sum(p.stat().st_blocks * 512 for p in img.dir.iterdir() if p.is_file())
        images.append({"arch": name, "kernel": img.kernel_release, "dir": str(img.dir),
                       "current": bool(current and current.dir == img.dir),
                       "complete": img.complete(), "size_mb": round(size / 1e6),
                       "built_at": img.built_at, "packages": img.packages})
    crash = installed_crash(cache_dir())
    crashes = {arch: installed_crash(cache_dir(), arch) for arch in ARCHES}
    if as_json:
        print(json.dumps({"cache": str(cache_dir()), "images": images,
                          "crash": crash.argv[-1] if crash else None,
                          "crashes": {a: t.argv[-1] if t else None for a, t in crashes.items()}},
                         indent=2))
        return 0
    print(f"cache: {cache_dir()}")
    if not images:
        print("no image built yet: run 'pytest-kdump image build'")
    for i in images:
        flag = "current" if i["current"] else "old"
        print(f"  {i['arch']:14} {i['kernel']:26} {i['size_mb']:5} MB  {flag:7} {i['dir']}")
    for arch, tool in crashes.items():
        what = (f"{tool.version} {tool.source}" if tool
                else f"not installed (setup-crash --arch {arch})")
        print(f"crash for {arch} dumps: {what}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    """The batch analysis: every dump analysed, a failing one reported, the rest still done."""
    if args.script and args.backend != "crash":
        raise ConfigError("--script runs crash commands: use it with --backend crash")
    if args.script and not args.script.is_file():
        raise ConfigError(f"crash script not found: {args.script}",
                          advice="give a file of crash commands, one per line")
    if args.commands and args.backend != "crash":
        raise ConfigError("--commands runs crash commands: use it with --backend crash")
    # --crash is used for every dump; without it, each dump gets the crash of its architecture
    crash = find_crash(args.crash, cache_dir()) if args.crash and args.backend == "crash" \
        else None
    commands = [c.strip() for c in (args.commands or "").split(",") if c.strip()]
    failures = 0
    total = len(args.vmcores)
    for i, vmcore in enumerate(args.vmcores, 1):
        out = args.out / f"{i:02d}-{vmcore.parent.name}-{vmcore.name}" if args.out else None
        print(f"pytest-kdump: [{i}/{total}] {vmcore}", file=sys.stderr, flush=True)
        try:
            result, script = _analyze_one(crash, args, vmcore, commands, out)
        except (KdumpError, OSError) as exc:
            failures += 1
            err = exc if isinstance(exc, KdumpError) else KdumpError(
                f"cannot read {vmcore}: {exc}", phase="analysis",
                advice="check the file's permissions")
            if args.json:
                print(json.dumps({"vmcore": str(vmcore), "ok": False, "phase": err.phase,
                                  "error": err.message, "advice": err.advice}), flush=True)
            else:
                print(f"== {vmcore}: FAILED\n{err}\n", flush=True)
            continue
        fatal = next((c for c in script or [] if c.fatal), None)
        failures += fatal is not None
        extra = {c: result.outputs[c] for c in commands}
        if args.json:
            record = {"vmcore": str(vmcore), "ok": fatal is None, **result.summary()}
            if extra:
                record["outputs"] = extra
            if script is not None:
                record["script"] = [asdict(c) for c in script]
            print(json.dumps(record, default=str), flush=True)
        else:
            print(f"== {vmcore}\n{result}", flush=True)
            for c in [*(CommandOutput(k, v) for k, v in extra.items()), *(script or [])]:
                print(f"crash> {c.command}\n{(c.error if c.fatal else c.output).rstrip()}")
            print(flush=True)
    if not args.json:
        print(f"{total} dump(s): {total - failures} analysed, {failures} failed")
    return 1 if failures else 0


def _analyze_one(crash: CrashTool | None, args: argparse.Namespace, vmcore: Path,
                 commands: list[str], out: Path | None
                 ) -> tuple[analysis.Analysis, list[CommandOutput] | None]:
    if args.backend == "crash":
        crash = crash_for_dump(crash, args.vmlinux, vmcore, cache_dir())
    with analysis.start(crash, args.vmlinux, vmcore, commands, out_dir=out,
                        timeout=args.timeout, backend=args.backend,
                        start_timeout=args.start_timeout) as pending:
        result = pending.result()
        script = (pending.process.run_script(args.script, allow_shell=args.allow_shell)
                  if args.script else None)
    return result, script


if __name__ == "__main__":
    sys.exit(main())

"""The ``pytest-kdump`` command: build guest images, install crash, analyse dumps."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import analysis, detect, image
from .crashtool import find_crash, install_crash, installed_crash
from .errors import KdumpError

EPILOG = """examples:
  pytest-kdump image build              # the x86_64 QEMU guest (cached; --force rebuilds)
  pytest-kdump image info               # what is cached, and where
  pytest-kdump setup-crash              # a crash that reads current Debian kernels' dumps
  pytest-kdump analyze vmlinux vmcore   # panic message, crashing task, backtrace
  pytest-kdump oops console.log --json  # the crash reports in a saved console log
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pytest-kdump", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Kernel crash (kdump) testing tools.")
    sub = p.add_subparsers(dest="command", required=True)

    img = sub.add_parser("image", help="build or show the QEMU guest images")
    img_sub = img.add_subparsers(dest="image_command", required=True)
    build = img_sub.add_parser("build", help="build the guest image (kernel, initramfs with "
                                             "kexec/makedumpfile, debug vmlinux)")
    build.add_argument("--arch", default="x86_64", choices=sorted(image.ARCHES))
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.add_argument("--kernel-package", metavar="NAME",
                       help="Debian kernel package (default: linux-image-cloud-amd64's kernel)")
    info = img_sub.add_parser("info", help="list the cached images")
    info.add_argument("--json", action="store_true")

    crash = sub.add_parser("setup-crash", help="install crash 8.0.6 (Debian trixie) into the "
                                               "cache, without touching the host")
    crash.add_argument("--force", action="store_true")

    an = sub.add_parser("analyze", help="run crash on a vmlinux and vmcore(s); print a summary")
    an.add_argument("vmlinux", type=Path)
    an.add_argument("vmcores", type=Path, nargs="+")
    an.add_argument("--crash", metavar="PATH", help="crash binary (default: the installed one)")
    an.add_argument("--commands", default=",".join(analysis.DEFAULT_COMMANDS),
                    help="comma-separated crash commands (default: %(default)s)")
    an.add_argument("--out", type=Path, help="folder for crash's raw outputs")
    an.add_argument("--json", action="store_true", help="one JSON summary per dump")
    oops = sub.add_parser("oops", help="print the kernel crash reports found in a console log")
    oops.add_argument("logfile", type=Path)
    oops.add_argument("--json", action="store_true", help="one JSON record per line")
    return p


def _oops(logfile: Path, as_json: bool) -> int:
    if not logfile.is_file():
        print(f"pytest-kdump: error: no such file: {logfile}", file=sys.stderr)
        return 2
    records = detect.find_crashes(logfile.read_bytes().decode("utf-8", "replace"))
    for record in records:
        print(json.dumps(record.to_dict(), default=str) if as_json else f"{record}\n")
    if not as_json:
        print(f"{len(records)} crash report(s) in {logfile}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "image" and args.image_command == "build":
            img = image.build_image(args.arch, force=args.force,
                                    kernel_package=args.kernel_package)
            print(f"{img}\n  kernel  {img.kernel}\n  initrd  {img.initrd}\n"
                  f"  vmlinux {img.vmlinux}")
            return 0
        if args.command == "image":
            return _image_info(args.json)
        if args.command == "setup-crash":
            tool = install_crash(image.cache_dir(), force=args.force)
            print(f"crash {tool.version} ({tool.source}): {' '.join(tool.argv)}")
            return 0
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "oops":
            return _oops(args.logfile, args.json)
    except KdumpError as exc:
        print(f"pytest-kdump: error: {exc}", file=sys.stderr)
        return 2
    return 1


def _image_info(as_json: bool) -> int:
    root = image.cache_dir() / "images"
    images = []
    for manifest in sorted(root.glob("*/manifest.json")):
        if manifest.parent.is_symlink():
            continue
        img = image.GuestImage.load(manifest.parent)
        current = image.current_image(img.arch)
        size = sum(p.stat().st_size for p in img.dir.iterdir() if p.is_file())
        images.append({"arch": img.arch, "kernel": img.kernel_release, "dir": str(img.dir),
                       "current": bool(current and current.dir == img.dir),
                       "complete": img.complete(), "size_mb": round(size / 1e6),
                       "built_at": img.built_at, "packages": img.packages})
    crash = installed_crash(image.cache_dir())
    if as_json:
        print(json.dumps({"cache": str(image.cache_dir()), "images": images,
                          "crash": crash.argv[-1] if crash else None}, indent=2))
        return 0
    print(f"cache: {image.cache_dir()}")
    if not images:
        print("no image built yet: run 'pytest-kdump image build'")
    for i in images:
        flag = "current" if i["current"] else "old"
        print(f"  {i['arch']:8} {i['kernel']:26} {i['size_mb']:5} MB  {flag:7} {i['dir']}")
    print(f"crash: {crash.version + ' ' + crash.source if crash else 'not installed'}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    crash = find_crash(args.crash, image.cache_dir()) if args.crash else \
        (installed_crash(image.cache_dir()) or find_crash(None, image.cache_dir()))
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    failures = 0
    for vmcore in args.vmcores:
        out = args.out / vmcore.name if args.out else None
        try:
            result = analysis.analyze(crash, args.vmlinux, vmcore, commands, out_dir=out)
        except KdumpError as exc:
            failures += 1
            if args.json:
                print(json.dumps({"vmcore": str(vmcore), "error": str(exc)}))
            else:
                print(f"== {vmcore}: FAILED\n{exc}\n")
            continue
        if args.json:
            print(json.dumps({"vmcore": str(vmcore), **result.summary()}, default=str))
        else:
            print(f"== {vmcore}\n{result}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""What pytest-kdump builds from Debian packages: the QEMU guest image (:mod:`.image`), the crash
module (:mod:`.crashmod`), with apt and dpkg helpers (:mod:`.debian`) and a cpio writer
(:mod:`.cpio`)."""

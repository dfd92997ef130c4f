# A real distro userland: a Debian 12 (bookworm) minbase rootfs made with debootstrap, plus the same
# static binaries and busybox as the FROM scratch image. ci/containers.sh puts the rootfs tarball and
# overlay/ in the build context.
FROM scratch
ADD rootfs.tar.gz /
COPY overlay/ /
CMD ["/opt/sandprobe/bin/busybox", "sleep", "1800"]

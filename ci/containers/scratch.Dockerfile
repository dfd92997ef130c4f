# The smallest container sandprobe runs in: no distro userland at all. Only the static sandprobe and
# sandbox-run, a static busybox for the ground truth, an empty /tmp and a passwd naming root and
# nobody. ci/containers.sh assembles rootfs/ in the build context.
FROM scratch
COPY rootfs/ /
CMD ["/opt/sandprobe/bin/busybox", "sleep", "1800"]

# The install.sh tests' Debian 12 image: the debootstrap minbase root of ci/containers.sh, and
# nothing else. ci/install-tests.sh bind-mounts install.sh, the static binaries (/opt/release)
# and the scenarios (/opt/tests) read-only into each container.
FROM scratch
ADD rootfs.tar.gz /
CMD ["/bin/sleep", "infinity"]

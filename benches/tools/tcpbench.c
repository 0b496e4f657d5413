/* The benchmark suite's TCP end points, linked statically so that the same
 * binary runs on the host and inside the busybox distribution:
 *   tcpbench send ADDR PORT MIB   connect, write MIB MiB in 256 KiB writes, close
 *   tcpbench recv PORT            listen on 0.0.0.0:PORT, drain one connection, close
 * Both ends move bytes with big buffers, as a real client or server would
 * (busybox nc writes 1 KiB at a time and measures itself, not the path). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static int die(const char *what) {
    perror(what);
    return 1;
}

int main(int argc, char **argv) {
    static char buf[CHUNK];
    if (argc == 5 && strcmp(argv[1], "send") == 0) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1)
            return die("address");
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
            return die("connect");
        long long left = atoll(argv[4]) << 20;
        while (left > 0) {
            ssize_t n = write(s, buf, left < CHUNK ? left : CHUNK);
            if (n <= 0)
                return die("write");
            left -= n;
        }
        shutdown(s, SHUT_WR);
        while (read(s, buf, sizeof buf) > 0) {
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "recv") == 0) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0)
            return die("listen");
        int c = accept(s, NULL, NULL);
        if (c < 0)
            return die("accept");
        while (read(c, buf, sizeof buf) > 0) {
        }
        close(c);
        return 0;
    }
    fprintf(stderr, "usage: tcpbench send ADDR PORT MIB | tcpbench recv PORT\n");
    return 64;
}

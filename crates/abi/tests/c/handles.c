/*
 * The WSLC HANDLE helpers of include/WslPluginApi.h on real descriptors: pipes,
 * a pidfd (what an exit event is), a signal arriving during the wait. Built and
 * run by tests/handles.rs as C and as C++; prints "ok" and exits 0, or names the
 * failed check and exits 1.
 *
 * WaitForSingleObject is checked three times: as compiled here (POSIX clocks
 * declared), and as compiled by waits.c under strict ISO C11 (C11's clock) and
 * strict C99 (no clock).
 */
#ifndef _GNU_SOURCE /* g++ defines it */
#define _GNU_SOURCE
#endif
#include "WslPluginApi.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define CHECK(cond)                                                         \
    do                                                                      \
    {                                                                       \
        if (!(cond))                                                        \
        {                                                                   \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

#ifdef __cplusplus
extern "C" {
#endif
DWORD wait_c11(HANDLE h, DWORD ms);
DWORD wait_c99(HANDLE h, DWORD ms);
#ifdef __cplusplus
}
#endif

static DWORD wait_posix(HANDLE h, DWORD ms)
{
    return WaitForSingleObject(h, ms);
}

/* The WaitForSingleObject under test. */
static DWORD (*g_wait)(HANDLE, DWORD) = wait_posix;

static HANDLE handle_of(int fd)
{
    return (HANDLE)(intptr_t)fd;
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---- a signal while the main thread waits ---------------------------------- */

static volatile sig_atomic_t g_signals = 0;
static pthread_t g_waiter;
static int g_wake_fd = -1;

static void on_signal(int sig)
{
    (void)sig;
    g_signals++;
}

/* Whether the waiting thread is blocked in poll(2) now: /proc/self/task/<tid>/syscall
 * starts with the number of the system call it sleeps in. */
static int blocked_in_poll(pid_t tid)
{
    char path[64];
    char text[64] = "";
    long nr = -1;
    FILE* f;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (fgets(text, sizeof text, f) != NULL)
    {
        nr = strtol(text, NULL, 10);
    }
    fclose(f);
#ifdef SYS_poll
    if (nr == SYS_poll)
    {
        return 1;
    }
#endif
    return nr == SYS_ppoll;
}

static pid_t g_waiter_tid;

static void wait_until_blocked_in_poll(void)
{
    const struct timespec nap = {0, 1000000};
    while (!blocked_in_poll(g_waiter_tid))
    {
        nanosleep(&nap, NULL);
    }
}

/* Interrupts the waiter's poll twice with a signal, then makes its pipe readable. */
static void* interrupter(void* arg)
{
    int i;
    (void)arg;
    for (i = 0; i < 2; i++)
    {
        wait_until_blocked_in_poll();
        CHECK(pthread_kill(g_waiter, SIGUSR1) == 0);
        while (g_signals <= i)
        {
            sched_yield();
        }
    }
    wait_until_blocked_in_poll();
    CHECK(write(g_wake_fd, "x", 1) == 1);
    return NULL;
}

static void signal_during_wait(DWORD timeout)
{
    int p[2];
    pthread_t t;
    struct sigaction sa;
    char c;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll(2) is never restarted anyway */
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(pipe(p) == 0);
    g_signals = 0;
    g_wake_fd = p[1];
    g_waiter = pthread_self();
    g_waiter_tid = (pid_t)syscall(SYS_gettid);
    CHECK(pthread_create(&t, NULL, interrupter, NULL) == 0);
    CHECK(g_wait(handle_of(p[0]), timeout) == WAIT_OBJECT_0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(g_signals == 2);
    CHECK(read(p[0], &c, 1) == 1);
    CHECK(CloseHandle(handle_of(p[0])) && CloseHandle(handle_of(p[1])));
}

static void suite(void)
{
    int p[2];
    char c;
    const int stdin_open = is_open(0);

    /* WSLP_HANDLE_FD undoes (HANDLE)(intptr_t)fd; INVALID_HANDLE_VALUE carries -1. */
    CHECK(WSLP_HANDLE_FD(handle_of(7)) == 7);
    CHECK(WSLP_HANDLE_FD(INVALID_HANDLE_VALUE) == -1);
    CHECK(INFINITE == 0xFFFFFFFFu && WAIT_OBJECT_0 == 0 && WAIT_TIMEOUT == 258 && WAIT_FAILED == 0xFFFFFFFFu);

    /* A pipe: not readable, then readable with data, then at end of file. */
    CHECK(pipe(p) == 0);
    CHECK(g_wait(handle_of(p[0]), 0) == WAIT_TIMEOUT);
    CHECK(g_wait(handle_of(p[0]), 1) == WAIT_TIMEOUT);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(g_wait(handle_of(p[0]), 0) == WAIT_OBJECT_0);
    CHECK(g_wait(handle_of(p[0]), INFINITE) == WAIT_OBJECT_0);
    CHECK(g_wait(handle_of(p[0]), INFINITE) == WAIT_OBJECT_0); /* waiting consumes nothing */
    CHECK(read(p[0], &c, 1) == 1 && c == 'x');
    CHECK(g_wait(handle_of(p[0]), 0) == WAIT_TIMEOUT);
    CHECK(CloseHandle(handle_of(p[1])) == TRUE);
    CHECK(!is_open(p[1]));
    CHECK(g_wait(handle_of(p[0]), INFINITE) == WAIT_OBJECT_0); /* end of file */

    /* Closing: once; never NULL (descriptor 0) or INVALID_HANDLE_VALUE. */
    CHECK(CloseHandle(handle_of(p[0])) == TRUE);
    CHECK(!is_open(p[0]));
    errno = 0;
    CHECK(CloseHandle(handle_of(p[0])) == FALSE && errno == EBADF);
    CHECK(CloseHandle(NULL) == FALSE && errno == EBADF);
    CHECK(is_open(0) == stdin_open); /* descriptor 0 untouched */
    CHECK(CloseHandle(INVALID_HANDLE_VALUE) == FALSE);

    /* Waiting on something that is not an open descriptor fails at once, even INFINITE. */
    errno = 0;
    CHECK(g_wait(handle_of(p[0]), INFINITE) == WAIT_FAILED && errno == EBADF);
    CHECK(g_wait(NULL, INFINITE) == WAIT_FAILED);
    CHECK(g_wait(INVALID_HANDLE_VALUE, INFINITE) == WAIT_FAILED);

    /* An exit event: a pidfd polls readable once the process has exited. */
    {
        int gate[2];
        pid_t child;
        int pidfd;
        int status;
        CHECK(pipe(gate) == 0);
        child = fork();
        CHECK(child >= 0);
        if (child == 0)
        {
            close(gate[1]);
            _exit(read(gate[0], &c, 1) == 1 ? 3 : 4);
        }
        close(gate[0]);
        pidfd = (int)syscall(SYS_pidfd_open, child, 0);
        CHECK(pidfd > 0);
        CHECK(g_wait(handle_of(pidfd), 0) == WAIT_TIMEOUT);
        CHECK(write(gate[1], "x", 1) == 1);
        CHECK(g_wait(handle_of(pidfd), INFINITE) == WAIT_OBJECT_0);
        CHECK(g_wait(handle_of(pidfd), 0) == WAIT_OBJECT_0);
        CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 3);
        CHECK(CloseHandle(handle_of(pidfd)) && CloseHandle(handle_of(gate[1])));
    }

    /* Signals do not cut a wait short, with or without a timeout. */
    signal_during_wait(INFINITE);
    signal_during_wait(3600 * 1000);
}

int main(void)
{
    suite();
    g_wait = wait_c11;
    suite();
    g_wait = wait_c99;
    suite();
    puts("ok");
    return 0;
}

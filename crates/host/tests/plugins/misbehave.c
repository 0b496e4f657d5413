/*
 * A plugin that misbehaves on request, for the plugin-host tests (SPEC §8). At
 * load it reads "<its own path>.conf"; each line is "<where> <action> [arg]",
 * where <where> is "entry" or a hook name, run in order:
 *
 *   return HEX        what the hook (or entry point) returns
 *   segv | abort      crash
 *   exit N            exit(N)
 *   hang              never return
 *   fork              fork a child that sleeps forever; logs "child=PID"
 *   leak_fds N        open N descriptors and never close them
 *   self              log "pid=N pgid=N nnp=N fds=N"
 *   error TEXT        PluginError(TEXT) on the hook's thread; logs the HRESULT
 *   error_thread TEXT PluginError from another thread; logs the HRESULT
 *   exec_thread PATH  ExecuteBinary(PATH) from another thread during the hook
 *   exec_later PATH   the same from a thread that outlives the hook
 *   exit_later N      a thread that outlives the hook calls exit(N) soon after
 *
 * An action written "once:ACTION" runs only the first time, across plugin
 * hosts: a marker file "<its path>.<where>.once" remembers it.
 * Every hook logs "<hook> called pid=N"; lines go to "<its path>.log".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "WslPluginApi.h"

#define MAX_LINES 32
#define LINE_LEN 512

static const struct WSLPluginAPIV1* g_api;
static char g_self[4096];
static char g_lines[MAX_LINES][LINE_LEN];
static int g_nlines;

static void logline(const char* where, const char* fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s ", where);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    char path[4200];
    snprintf(path, sizeof(path), "%s.log", g_self);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
    {
        if (write(fd, buf, (size_t)n) < 0)
        {
            /* The test sees the line missing. */
        }
        close(fd);
    }
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static int no_new_privs(void)
{
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    int v = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "NoNewPrivs: %d", &v) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return v;
}

struct exec_arg
{
    WSLSessionId session;
    char path[256];
    char where[64];
};

static void* exec_thread(void* p)
{
    struct exec_arg* a = p;
    LPCSTR argv[] = {a->path, "from-thread", NULL};
    SOCKET s = INVALID_SOCKET;
    HRESULT hr = g_api->ExecuteBinary(a->session, a->path, argv, &s);
    char out[256] = "";
    size_t got = 0;
    if (SUCCEEDED(hr))
    {
        ssize_t r;
        while (got + 1 < sizeof(out) && (r = recv(s, out + got, sizeof(out) - 1 - got, 0)) > 0)
            got += (size_t)r;
        out[got] = '\0';
        while (got > 0 && out[got - 1] == '\n')
            out[--got] = '\0';
        closesocket(s);
    }
    logline(a->where, "thread exec hr=0x%08x out=%s", (unsigned)hr, out);
    free(a);
    return NULL;
}

static void* exit_thread(void* p)
{
    usleep(20000);
    exit((int)(intptr_t)p);
}

static void* error_thread(void* p)
{
    HRESULT* hr = p;
    *hr = g_api->PluginError(L"from another thread");
    return NULL;
}

static int first_time(const char* where)
{
    char marker[4200];
    snprintf(marker, sizeof(marker), "%s.%s.once", g_self, where);
    int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static HRESULT run(const char* where, WSLSessionId session)
{
    HRESULT result = S_OK;
    logline(where, "called pid=%d", (int)getpid());
    for (int i = 0; i < g_nlines; i++)
    {
        char line[LINE_LEN];
        memcpy(line, g_lines[i], LINE_LEN);
        char* save = NULL;
        char* w = strtok_r(line, " ", &save);
        char* op = strtok_r(NULL, " ", &save);
        char* arg = strtok_r(NULL, "", &save);
        if (w == NULL || op == NULL || strcmp(w, where) != 0)
            continue;
        if (strncmp(op, "once:", 5) == 0)
        {
            if (!first_time(where))
                continue;
            op += 5;
        }
        if (strcmp(op, "return") == 0 && arg != NULL)
            result = (HRESULT)strtoul(arg, NULL, 16);
        else if (strcmp(op, "segv") == 0)
            *(volatile int*)(uintptr_t)8 = 1;
        else if (strcmp(op, "abort") == 0)
            abort();
        else if (strcmp(op, "exit") == 0)
            exit(arg != NULL ? atoi(arg) : 0);
        else if (strcmp(op, "exit_later") == 0)
        {
            pthread_t t;
            pthread_create(&t, NULL, exit_thread, (void*)(intptr_t)(arg != NULL ? atoi(arg) : 0));
            pthread_detach(t);
        }
        else if (strcmp(op, "hang") == 0)
            for (;;)
                pause();
        else if (strcmp(op, "fork") == 0)
        {
            pid_t child = fork();
            if (child == 0)
            {
                for (;;)
                    pause();
            }
            logline(where, "child=%d", (int)child);
        }
        else if (strcmp(op, "leak_fds") == 0 && arg != NULL)
        {
            int n = atoi(arg);
            for (int k = 0; k < n; k++)
                open("/dev/null", O_RDONLY);
        }
        else if (strcmp(op, "self") == 0)
            logline(where, "pid=%d pgid=%d nnp=%d fds=%d", (int)getpid(), (int)getpgrp(), no_new_privs(), count_fds());
        else if (strcmp(op, "error") == 0 && arg != NULL)
        {
            wchar_t wide[256];
            size_t k = 0;
            for (; arg[k] != '\0' && k < 255; k++)
                wide[k] = (wchar_t)(unsigned char)arg[k];
            wide[k] = 0;
            logline(where, "error hr=0x%08x", (unsigned)g_api->PluginError(wide));
        }
        else if (strcmp(op, "error_thread") == 0)
        {
            HRESULT hr = 0;
            pthread_t t;
            pthread_create(&t, NULL, error_thread, &hr);
            pthread_join(t, NULL);
            logline(where, "error_thread hr=0x%08x", (unsigned)hr);
        }
        else if ((strcmp(op, "exec_thread") == 0 || strcmp(op, "exec_later") == 0) && arg != NULL)
        {
            struct exec_arg* a = calloc(1, sizeof(*a));
            a->session = session;
            snprintf(a->path, sizeof(a->path), "%s", arg);
            snprintf(a->where, sizeof(a->where), "%s", where);
            pthread_t t;
            pthread_create(&t, NULL, exec_thread, a);
            if (strcmp(op, "exec_thread") == 0)
                pthread_join(t, NULL);
            else
                pthread_detach(t);
        }
    }
    return result;
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* settings)
{
    (void)settings;
    return run("OnVMStarted", s->SessionId);
}

static HRESULT OnVMStopping(const struct WSLSessionInformation* s)
{
    return run("OnVMStopping", s->SessionId);
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)d;
    return run("OnDistributionStarted", s->SessionId);
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)d;
    return run("OnDistributionStopping", s->SessionId);
}

static HRESULT OnDistributionRegistered(const struct WSLSessionInformation* s,
                                        const struct WslOfflineDistributionInformation* d)
{
    (void)d;
    return run("OnDistributionRegistered", s->SessionId);
}

EXTERN_C __declspec(dllexport) HRESULT WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1* api,
                                                                struct WSLPluginHooksV1* hooks)
{
    g_api = api;
    Dl_info info;
    if (dladdr((void*)WSLPluginAPIV1_EntryPoint, &info) == 0)
        return E_FAIL;
    if (realpath(info.dli_fname, g_self) == NULL)
    {
        /* Loaded through /proc/self/fd/N of a file since replaced at its path:
         * its old name, for the .conf and .log beside it. */
        ssize_t n = readlink(info.dli_fname, g_self, sizeof(g_self) - 1);
        if (n < 0)
            return E_FAIL;
        g_self[n] = '\0';
        char* deleted = strstr(g_self, " (deleted)");
        if (deleted != NULL)
            *deleted = '\0';
    }
    char conf[4200];
    snprintf(conf, sizeof(conf), "%s.conf", g_self);
    FILE* f = fopen(conf, "r");
    while (f != NULL && g_nlines < MAX_LINES && fgets(g_lines[g_nlines], LINE_LEN, f) != NULL)
    {
        g_lines[g_nlines][strcspn(g_lines[g_nlines], "\n")] = '\0';
        g_nlines++;
    }
    if (f != NULL)
        fclose(f);
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnVMStopping = OnVMStopping;
    hooks->OnDistributionStarted = OnDistributionStarted;
    hooks->OnDistributionStopping = OnDistributionStopping;
    hooks->OnDistributionRegistered = OnDistributionRegistered;
    return run("entry", 0);
}

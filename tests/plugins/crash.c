/*
 * The misbehaving plugin of the end-to-end crash tests (SPEC §8). Chosen at
 * build time with -D defines:
 *
 *   LOG_PATH="..."        where to log (required): "EntryPoint pid=N", "<Hook> pid=N name=..."
 *   IN_ENTRY              misbehave in the entry point
 *   IN_DISTRO_STARTED     misbehave in OnDistributionStarted (of VICTIM only)
 *   IN_DISTRO_STOPPING    misbehave in OnDistributionStopping (of VICTIM only)
 *   VICTIM=L"..."         the distribution to misbehave for (default: any)
 *   ONCE_MARKER="..."     misbehave only when this file does not exist (it is created first)
 *   DO_SEGV | DO_ABORT | DO_EXIT0 | DO_HANG    what to do
 *   LEAK_FDS=N            first open N descriptors and never close them
 *   FORK_CHILD            first fork a child that sleeps forever (logged "child=PID")
 *
 * Its entry point also writes "crash plugin loaded" to stderr, and
 * OnDistributionStarted "crash plugin saw NAME start".
 */
#include <WslPluginApi.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <wchar.h>

static void logf_(const char* fmt, ...)
{
    FILE* f = fopen(LOG_PATH, "a");
    if (f == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static int is_victim(LPCWSTR name)
{
#ifdef VICTIM
    return name != NULL && wcscmp(name, VICTIM) == 0;
#else
    (void)name;
    return 1;
#endif
}

static void misbehave(const char* where)
{
#ifdef ONCE_MARKER
    int fd = open(ONCE_MARKER, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    close(fd);
#endif
    logf_("%s misbehaving pid=%d", where, (int)getpid());
#ifdef LEAK_FDS
    for (int i = 0; i < LEAK_FDS; i++)
        open("/dev/null", O_RDONLY);
#endif
#ifdef FORK_CHILD
    pid_t child = fork();
    if (child == 0)
    {
        for (;;)
            pause();
    }
    logf_("child=%d", (int)child);
#endif
#if defined(DO_SEGV)
    *(volatile int*)(uintptr_t)8 = 1;
#elif defined(DO_ABORT)
    abort();
#elif defined(DO_EXIT0)
    exit(0);
#elif defined(DO_HANG)
    for (;;)
        pause();
#endif
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* u)
{
    (void)s;
    (void)u;
    logf_("OnVMStarted pid=%d", (int)getpid());
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)s;
    logf_("OnDistributionStarted pid=%d name=%ls", (int)getpid(), d->Name);
    fprintf(stderr, "crash plugin saw %ls start\n", d->Name);
#ifdef IN_DISTRO_STARTED
    if (is_victim(d->Name))
        misbehave("OnDistributionStarted");
#endif
    return S_OK;
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)s;
    logf_("OnDistributionStopping pid=%d name=%ls", (int)getpid(), d->Name);
#ifdef IN_DISTRO_STOPPING
    if (is_victim(d->Name))
        misbehave("OnDistributionStopping");
#endif
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    (void)api;
    (void)is_victim;
    (void)misbehave;
    logf_("EntryPoint pid=%d", (int)getpid());
    fprintf(stderr, "crash plugin loaded\n");
#ifdef IN_ENTRY
    misbehave("EntryPoint");
#endif
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnDistributionStarted = OnDistributionStarted;
    hooks->OnDistributionStopping = OnDistributionStopping;
    return S_OK;
}

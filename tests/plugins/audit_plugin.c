/*
 * The plugin of the SPEC audit tests (tests/tests/spec_audit.rs). Every hook
 * logs one line "<NAME> <Hook> ..." to LOG_PATH; what else it does is chosen at
 * build time with -D defines:
 *
 *   LOG_PATH="..."        the log (required)
 *   NAME="..."            prefix of its log lines (default "A")
 *   VM_STARTED_HR=0x...   OnVMStarted returns this
 *   WHERE_AM_I            the entry point logs "where=<realpath of dladdr>"
 *   PLUGIN_ERROR_RULES    OnVMStarted tries PluginError(NULL), from another
 *                         thread, twice; then returns E_FAIL
 *   VM_PROBE              OnVMStarted runs a shell probe of the VM (§6) and
 *                         logs its output as "vm-probe=[a|b|...]"
 *   DISTRO_PROBE          OnDistributionStarted logs the pid namespace seen
 *                         from the VM through InitPid and from inside
 *   STOPPED_DISTRO        OnVMStarted calls ExecuteBinaryInDistribution with the
 *                         Id OnDistributionRegistered saw (not running yet)
 *   BAD_SESSION           OnVMStarted calls MountFolder and
 *                         ExecuteBinaryInDistribution with an unknown session
 *   EXEC_ON_STOP          OnDistributionStopping and OnVMStopping run a command
 *                         in the distribution / the VM and log its output
 *   EXIT_IN_DISTRO=N      OnDistributionStarted calls exit(N)
 *   CRASH_IN_REGISTERED   OnDistributionRegistered dereferences a bad pointer
 *   DLL_MAIN_PID          the entry point logs its pid
 *   WSLC_CALLS            the entry point checks the hooks table is zeroed and
 *                         every API pointer set, and calls the WSLC API
 *   CHECK_PATH="..."      the registration hooks log whether this path exists
 *   CRASH_IN_VM_STARTED   OnVMStarted dereferences a bad pointer
 *   BACKGROUND_EXEC       OnVMStarted starts a thread that, after the hook
 *                         returned, runs `echo later` with ExecuteBinary
 *   HANG_IN_VM_STOPPING   OnVMStopping never returns
 *   PLUGIN_ERROR_OUTSIDE  PluginError in the entry point, OnDistributionRegistered
 *                         and OnVMStopping
 *   MOUNT_RW="..."        OnVMStarted mounts this host folder read-write at the
 *                         missing /deep/a/b and writes deep-ok into it
 *   DISTRO_MARK           OnDistributionStarted writes /tmp/audit-hook-ran in
 *                         the distribution
 */
#define _GNU_SOURCE
#include <WslPluginApi.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NAME
#define NAME "A"
#endif

static const struct WSLPluginAPIV1* g_api;
static GUID g_registered;
static int g_have_registered;

static void logf_(const char* fmt, ...)
{
    FILE* f = fopen(LOG_PATH, "a");
    if (f == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(f, "%s ", NAME);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* Reads everything from a socket, newlines turned into '|' so a log entry stays one line. */
__attribute__((unused)) static void drain(SOCKET s, char* buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = recv(s, buf + len, cap - 1 - len, 0)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            buf[i] = '|';
    closesocket(s);
}

__attribute__((unused)) static void run_vm(WSLSessionId session, const char* what, const char* script)
{
    LPCSTR argv[] = {"/bin/sh", "-c", script, NULL};
    SOCKET s = INVALID_SOCKET;
    char buf[4096] = "";
    HRESULT hr = g_api->ExecuteBinary(session, argv[0], argv, &s);
    if (SUCCEEDED(hr))
        drain(s, buf, sizeof buf);
    logf_("%s hr=0x%08x out=[%s]", what, (unsigned)hr, buf);
}

__attribute__((unused)) static void run_distro(WSLSessionId session, const GUID* id, const char* what, const char* script)
{
    LPCSTR argv[] = {"/bin/sh", "-c", script, NULL};
    SOCKET s = INVALID_SOCKET;
    char buf[4096] = "";
    HRESULT hr = g_api->ExecuteBinaryInDistribution(session, id, argv[0], argv, &s);
    if (SUCCEEDED(hr))
        drain(s, buf, sizeof buf);
    logf_("%s hr=0x%08x out=[%s]", what, (unsigned)hr, buf);
}

#ifdef PLUGIN_ERROR_RULES
static void* error_from_thread(void* arg)
{
    (void)arg;
    logf_("PluginError thread hr=0x%08x", (unsigned)g_api->PluginError(L"from a thread"));
    return NULL;
}
#endif

#ifdef BACKGROUND_EXEC
static WSLSessionId g_session;

static void* exec_later(void* arg)
{
    (void)arg;
    usleep(300 * 1000);
    run_vm(g_session, "background", "echo later");
    return NULL;
}
#endif

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* u)
{
    (void)u;
    logf_("OnVMStarted session=%u", s->SessionId);
#ifdef CRASH_IN_VM_STARTED
    *(volatile int*)(uintptr_t)8 = 1;
#endif
#ifdef BACKGROUND_EXEC
    g_session = s->SessionId;
    pthread_t later;
    if (pthread_create(&later, NULL, exec_later, NULL) == 0)
        pthread_detach(later);
#endif
#ifdef VM_PROBE
    run_vm(s->SessionId, "vm-probe",
           "for b in /bin/sh cat readlink true; do command -v $b >/dev/null && echo has-$b || echo no-$b; done;"
           "test -r /proc/self/stat && echo proc;"
           "test -c /dev/null && echo dev;"
           "test -d /tmp && echo tmp;"
           "test -d /sbin && echo sbin;"
           "test -d /lib && echo lib;"
           "stat -f -c root-fs=%T /;"
           "test -e /tmp/audit-marker && echo marker-present || echo marker-absent;"
           "touch /tmp/audit-marker /audit-marker 2>/dev/null;"
           "touch /usr/audit-marker 2>/dev/null && echo usr-writable || echo usr-read-only;"
           "for n in mnt pid uts ipc net cgroup; do echo ns-$n=$(readlink /proc/self/ns/$n); done");
#endif
#ifdef MOUNT_RW
    {
        wchar_t host[512];
        swprintf(host, 512, L"%s", MOUNT_RW);
        logf_("mount-rw hr=0x%08x", (unsigned)g_api->MountFolder(s->SessionId, host, L"/deep/a/b", FALSE, L"deep"));
        run_vm(s->SessionId, "write-through", "echo deep-ok > /deep/a/b/written && cat /deep/a/b/from-host");
    }
#endif
#ifdef STOPPED_DISTRO
    if (g_have_registered)
        run_distro(s->SessionId, &g_registered, "stopped-distro", "echo ran");
    else
        logf_("stopped-distro no registered id");
#endif
#ifdef BAD_SESSION
    LPCSTR argv[] = {"/bin/true", NULL};
    SOCKET sock = INVALID_SOCKET;
    GUID nobody = {0x12345678, 0x1234, 0x1234, {1, 2, 3, 4, 5, 6, 7, 8}};
    logf_("bad-session MountFolder hr=0x%08x",
          (unsigned)g_api->MountFolder(s->SessionId + 1000, L"/tmp", L"/mnt/audit", TRUE, L"audit"));
    logf_("bad-session InDistribution hr=0x%08x",
          (unsigned)g_api->ExecuteBinaryInDistribution(s->SessionId + 1000, &nobody, argv[0], argv, &sock));
#endif
#ifdef PLUGIN_ERROR_RULES
    logf_("PluginError null hr=0x%08x", (unsigned)g_api->PluginError(NULL));
    pthread_t t;
    if (pthread_create(&t, NULL, error_from_thread, NULL) == 0)
        pthread_join(t, NULL);
    logf_("PluginError first hr=0x%08x", (unsigned)g_api->PluginError(L"first"));
    logf_("PluginError second hr=0x%08x", (unsigned)g_api->PluginError(L"second"));
    return E_FAIL;
#endif
#ifdef VM_STARTED_HR
    return (HRESULT)VM_STARTED_HR;
#else
    return S_OK;
#endif
}

static HRESULT OnVMStopping(const struct WSLSessionInformation* s)
{
    logf_("OnVMStopping session=%u", s->SessionId);
#ifdef PLUGIN_ERROR_OUTSIDE
    logf_("PluginError vm-stopping hr=0x%08x", (unsigned)g_api->PluginError(L"stopping"));
#endif
#ifdef HANG_IN_VM_STOPPING
    for (;;)
        pause();
#endif
#ifdef EXEC_ON_STOP
    run_vm(s->SessionId, "vm-stopping", "echo vm-up");
#endif
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    logf_("OnDistributionStarted name=%ls pidns=%llu init=%u flavor=%ls version=%ls", d->Name, (unsigned long long)d->PidNamespace,
          d->InitPid, d->Flavor ? d->Flavor : L"(null)", d->Version ? d->Version : L"(null)");
#ifdef DISTRO_PROBE
    char script[256];
    snprintf(script, sizeof script, "readlink /proc/%u/ns/pid", d->InitPid);
    run_vm(s->SessionId, "init-from-vm", script);
    run_distro(s->SessionId, &d->Id, "distro-ns", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt");
    run_vm(s->SessionId, "vm-ns", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt");
#endif
#ifdef DISTRO_MARK
    run_distro(s->SessionId, &d->Id, "distro-mark", "echo hook-ran > /tmp/audit-hook-ran");
#endif
#ifdef EXIT_IN_DISTRO
    exit(EXIT_IN_DISTRO);
#endif
    (void)s;
    return S_OK;
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    logf_("OnDistributionStopping name=%ls", d->Name);
#ifdef EXEC_ON_STOP
    run_distro(s->SessionId, &d->Id, "distro-stopping", "cat /etc/hostname");
#endif
    (void)s;
    return S_OK;
}

static HRESULT OnDistributionRegistered(const struct WSLSessionInformation* s, const struct WslOfflineDistributionInformation* d)
{
    logf_("OnDistributionRegistered name=%ls flavor=%ls version=%ls session=%u", d->Name, d->Flavor ? d->Flavor : L"(null)",
          d->Version ? d->Version : L"(null)", s->SessionId);
#ifdef PLUGIN_ERROR_OUTSIDE
    logf_("PluginError registered hr=0x%08x", (unsigned)g_api->PluginError(L"registered"));
#endif
#ifdef CHECK_PATH
    logf_("registered path-exists=%d", access(CHECK_PATH, F_OK) == 0);
#endif
    g_registered = d->Id;
    g_have_registered = 1;
#ifdef CRASH_IN_REGISTERED
    *(volatile int*)(uintptr_t)8 = 1;
#endif
    return S_OK;
}

static HRESULT OnDistributionUnregistered(const struct WSLSessionInformation* s, const struct WslOfflineDistributionInformation* d)
{
    (void)s;
    logf_("OnDistributionUnregistered name=%ls", d->Name);
#ifdef CHECK_PATH
    logf_("unregistered path-exists=%d", access(CHECK_PATH, F_OK) == 0);
#endif
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    g_api = api;
#ifdef DLL_MAIN_PID
    logf_("EntryPoint pid=%d", (int)getpid());
#else
    logf_("EntryPoint");
#endif
#ifdef WSLC_CALLS
    {
        const unsigned char* h = (const unsigned char*)hooks;
        int zeroed = 1;
        for (size_t i = 0; i < sizeof *hooks; i++)
            zeroed &= h[i] == 0;
        logf_("wslc hooks-zeroed=%d size=%zu", zeroed, sizeof *hooks);
        logf_("wslc pointers-set=%d", api->MountFolder && api->ExecuteBinary && api->PluginError && api->ExecuteBinaryInDistribution &&
                                          api->WSLCMountFolder && api->WSLCUnmountFolder && api->WSLCCreateProcess &&
                                          api->WSLCProcessGetFd && api->WSLCProcessGetExitEvent && api->WSLCProcessGetExitCode &&
                                          api->WSLCReleaseProcess);
        LPCSTR argv[] = {"/bin/true", NULL};
        WSLCProcessHandle process = NULL;
        HANDLE handle = NULL;
        int err = 0, code = 0;
        logf_("wslc MountFolder hr=0x%08x", (unsigned)api->WSLCMountFolder(1, L"/tmp", "/mnt/x", TRUE));
        logf_("wslc UnmountFolder hr=0x%08x", (unsigned)api->WSLCUnmountFolder(1, "/mnt/x"));
        logf_("wslc CreateProcess hr=0x%08x", (unsigned)api->WSLCCreateProcess(1, argv[0], argv, NULL, &process, &err));
        logf_("wslc ProcessGetFd hr=0x%08x", (unsigned)api->WSLCProcessGetFd(process, WSLCProcessFdStdout, &handle));
        logf_("wslc ProcessGetExitEvent hr=0x%08x", (unsigned)api->WSLCProcessGetExitEvent(process, &handle));
        logf_("wslc ProcessGetExitCode hr=0x%08x", (unsigned)api->WSLCProcessGetExitCode(process, &code));
        api->WSLCReleaseProcess(process);
        logf_("wslc ReleaseProcess returned");
    }
#endif
#ifdef WHERE_AM_I
    Dl_info info;
    char real[PATH_MAX] = "";
    if (dladdr((void*)OnVMStarted, &info) != 0 && info.dli_fname != NULL && realpath(info.dli_fname, real) != NULL)
        logf_("where=%s", real);
    else
        logf_("where=unknown");
    /* The other way SPEC names: the mapping that holds our code in /proc/self/maps. */
    FILE* maps = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 128];
    uintptr_t self = (uintptr_t)OnVMStarted;
    while (maps != NULL && fgets(line, sizeof line, maps) != NULL)
    {
        unsigned long lo, hi;
        int off = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) >= 2 && self >= lo && self < hi && off > 0)
        {
            line[strcspn(line, "\n")] = '\0';
            logf_("mapped=%s", line + off);
        }
    }
    if (maps != NULL)
        fclose(maps);
#endif
#ifdef PLUGIN_ERROR_OUTSIDE
    logf_("PluginError entry hr=0x%08x", (unsigned)api->PluginError(L"entry"));
#endif
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnVMStopping = OnVMStopping;
    hooks->OnDistributionStarted = OnDistributionStarted;
    hooks->OnDistributionStopping = OnDistributionStopping;
    hooks->OnDistributionRegistered = OnDistributionRegistered;
    hooks->OnDistributionUnregistered = OnDistributionUnregistered;
    return S_OK;
}

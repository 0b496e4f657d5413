/*
 * The plugin of the end-to-end tests. Its behaviour is chosen at build time
 * with -D defines, so each test compiles exactly the plugin it needs:
 *
 *   LOG_PATH="..."            where to log what it saw (required)
 *   NAME="..."                prefix of its log lines (default "P")
 *   VM_STARTED_HR=0x...       OnVMStarted returns this
 *   VM_ERROR_MSG=L"..."       OnVMStarted calls PluginError with this
 *   DISTRO_STARTED_HR=0x...   OnDistributionStarted returns this
 *   DISTRO_ERROR_MSG=L"..."   OnDistributionStarted calls PluginError with this
 *   ENTRY_HR=0x...            the entry point returns this
 *   REQUIRE_MAJOR=N           WSL_PLUGIN_REQUIRE_VERSION(N, 0, 0)
 *   NO_ENTRY                  export no entry point at all
 *   EXEC_ON_VM_START          run /bin/cat /proc/version via ExecuteBinary in OnVMStarted
 *   EXEC_IN_DISTRO            run `cat /etc/hostname` in the distribution on start and stop
 *   EXEC_ON_VM_STOP           run `echo vm-still-up` via ExecuteBinary in OnVMStopping
 *   EXEC_STDERR="text"        on VM start, run `echo text >&2` via ExecuteBinary (the VM log)
 */
#include <WslPluginApi.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef NAME
#define NAME "P"
#endif

static const struct WSLPluginAPIV1* g_api;

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

static void guid_str(const GUID* g, char out[39])
{
    snprintf(out, 39, "{%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}", g->Data1, g->Data2, g->Data3, g->Data4[0],
             g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
}

/* Reads everything from a socket into buf, NUL-terminated, trailing newlines cut. */
static void drain(SOCKET s, char* buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = recv(s, buf + len, cap - 1 - len, 0)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    closesocket(s);
}

__attribute__((unused)) static void run_in_vm(WSLSessionId session, const char* what, LPCSTR* argv)
{
    SOCKET s = INVALID_SOCKET;
    HRESULT hr = g_api->ExecuteBinary(session, argv[0], argv, &s);
    char buf[512] = "";
    if (SUCCEEDED(hr))
        drain(s, buf, sizeof buf);
    logf_("%s ExecuteBinary hr=0x%08x out=%s", what, (unsigned)hr, buf);
}

__attribute__((unused)) static void run_in_distro(WSLSessionId session, const GUID* id, const char* what)
{
    LPCSTR argv[] = {"/bin/cat", "/etc/hostname", NULL};
    SOCKET s = INVALID_SOCKET;
    HRESULT hr = g_api->ExecuteBinaryInDistribution(session, id, argv[0], argv, &s);
    char buf[512] = "";
    if (SUCCEEDED(hr))
        drain(s, buf, sizeof buf);
    logf_("%s ExecuteBinaryInDistribution hr=0x%08x out=%s", what, (unsigned)hr, buf);
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* u)
{
    logf_("OnVMStarted session=%u flags=%d token=%d sid=%d", s->SessionId, (int)u->CustomConfigurationFlags, s->UserToken != NULL,
          s->UserSid != NULL);
#ifdef EXEC_ON_VM_START
    LPCSTR argv[] = {"/bin/cat", "/proc/version", NULL};
    run_in_vm(s->SessionId, "OnVMStarted", argv);
#endif
#ifdef EXEC_STDERR
    LPCSTR err_argv[] = {"/bin/sh", "-c", "echo " EXEC_STDERR " >&2", NULL};
    run_in_vm(s->SessionId, "Stderr", err_argv);
#endif
#ifdef VM_ERROR_MSG
    logf_("PluginError hr=0x%08x", (unsigned)g_api->PluginError(VM_ERROR_MSG));
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
#ifdef EXEC_ON_VM_STOP
    LPCSTR argv[] = {"/bin/echo", "vm-still-up", NULL};
    run_in_vm(s->SessionId, "OnVMStopping", argv);
#endif
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    char id[39];
    guid_str(&d->Id, id);
    logf_("OnDistributionStarted session=%u name=%ls id=%s pidns=%llu init=%u flavor=%ls version=%ls pfn=[%ls]", s->SessionId,
          d->Name, id, (unsigned long long)d->PidNamespace, d->InitPid, d->Flavor ? d->Flavor : L"(null)",
          d->Version ? d->Version : L"(null)", d->PackageFamilyName ? d->PackageFamilyName : L"(NULL)");
#ifdef EXEC_IN_DISTRO
    run_in_distro(s->SessionId, &d->Id, "OnDistributionStarted");
#endif
#ifdef DISTRO_ERROR_MSG
    logf_("PluginError hr=0x%08x", (unsigned)g_api->PluginError(DISTRO_ERROR_MSG));
#endif
#ifdef DISTRO_STARTED_HR
    return (HRESULT)DISTRO_STARTED_HR;
#else
    return S_OK;
#endif
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    logf_("OnDistributionStopping session=%u name=%ls init=%u", s->SessionId, d->Name, d->InitPid);
#ifdef EXEC_IN_DISTRO
    run_in_distro(s->SessionId, &d->Id, "OnDistributionStopping");
#endif
    /* Outside OnVMStarted/OnDistributionStarted PluginError is refused. */
    logf_("PluginError outside start hr=0x%08x", (unsigned)g_api->PluginError(L"too late"));
    return S_OK;
}

static HRESULT OnDistributionRegistered(const struct WSLSessionInformation* s, const struct WslOfflineDistributionInformation* d)
{
    char id[39];
    guid_str(&d->Id, id);
    logf_("OnDistributionRegistered session=%u name=%ls id=%s flavor=%ls version=%ls", s->SessionId, d->Name, id,
          d->Flavor ? d->Flavor : L"(null)", d->Version ? d->Version : L"(null)");
    return S_OK;
}

static HRESULT OnDistributionUnregistered(const struct WSLSessionInformation* s, const struct WslOfflineDistributionInformation* d)
{
    char id[39];
    guid_str(&d->Id, id);
    logf_("OnDistributionUnregistered session=%u name=%ls id=%s", s->SessionId, d->Name, id);
    return S_OK;
}

#ifndef NO_ENTRY
EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    logf_("EntryPoint version=%u.%u.%u", api->Version.Major, api->Version.Minor, api->Version.Revision);
#ifdef REQUIRE_MAJOR
    WSL_PLUGIN_REQUIRE_VERSION(REQUIRE_MAJOR, 0, 0, api);
#endif
    g_api = api;
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnVMStopping = OnVMStopping;
    hooks->OnDistributionStarted = OnDistributionStarted;
    hooks->OnDistributionStopping = OnDistributionStopping;
    hooks->OnDistributionRegistered = OnDistributionRegistered;
    hooks->OnDistributionUnregistered = OnDistributionUnregistered;
#ifdef ENTRY_HR
    return (HRESULT)ENTRY_HR;
#else
    return S_OK;
#endif
}
#else
EXTERN_C __declspec(dllexport) int NotTheEntryPoint(void)
{
    (void)OnVMStarted;
    (void)OnVMStopping;
    (void)OnDistributionStarted;
    (void)OnDistributionStopping;
    (void)OnDistributionRegistered;
    (void)OnDistributionUnregistered;
    return 0;
}
#endif

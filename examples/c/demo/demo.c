/*
 * The wslp demo plugin: what Microsoft's WSL plugin sample does, for Linux.
 *
 * On VM start it runs `/bin/cat /proc/version` in the VM through ExecuteBinary
 * and logs what came back; it logs every hook with its fields. The log goes to
 * $WSLP_DEMO_LOG (default /tmp/wslp-demo.log), opened for append.
 *
 * Build: gcc -Wall -Wextra -Werror -shared -fPIC -I../../../include demo.c -o libdemo.so
 */
#include <WslPluginApi.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct WSLPluginAPIV1* g_api;

static void logf_(const char* fmt, ...)
{
    const char* path = getenv("WSLP_DEMO_LOG");
    FILE* f = fopen(path && *path ? path : "/tmp/wslp-demo.log", "a");
    if (f == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* Wide strings are 32-bit wchar_t on Linux; %ls prints them. */
static const wchar_t* w(const wchar_t* s)
{
    return s ? s : L"(null)";
}

static void guid_str(const GUID* g, char out[39])
{
    snprintf(out, 39, "{%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}", g->Data1, g->Data2, g->Data3, g->Data4[0],
             g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* session, const struct WSLVmCreationSettings* settings)
{
    logf_("VM started: session=%u, flags=%d", session->SessionId, (int)settings->CustomConfigurationFlags);

    LPCSTR argv[] = {"/bin/cat", "/proc/version", NULL};
    SOCKET sock = INVALID_SOCKET;
    HRESULT hr = g_api->ExecuteBinary(session->SessionId, argv[0], argv, &sock);
    if (FAILED(hr))
    {
        logf_("ExecuteBinary failed: 0x%08x", (unsigned)hr);
        return hr;
    }

    char buf[1024];
    size_t len = 0;
    for (;;)
    {
        ssize_t n = recv(sock, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0 || len + (size_t)n >= sizeof(buf) - 1)
        {
            if (n > 0)
                len += (size_t)n;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    closesocket(sock);
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    logf_("Kernel version info: %s", buf);
    return S_OK;
}

static HRESULT OnVMStopping(const struct WSLSessionInformation* session)
{
    logf_("VM stopping: session=%u", session->SessionId);
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* session, const struct WSLDistributionInformation* d)
{
    char id[39];
    guid_str(&d->Id, id);
    logf_("Distribution started: session=%u, name=%ls, id=%s, pidns=%llu, init_pid=%u, flavor=%ls, version=%ls, package=\"%ls\"",
          session->SessionId, w(d->Name), id, (unsigned long long)d->PidNamespace, d->InitPid, w(d->Flavor), w(d->Version),
          w(d->PackageFamilyName));
    return S_OK;
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* session, const struct WSLDistributionInformation* d)
{
    logf_("Distribution stopping: session=%u, name=%ls, init_pid=%u", session->SessionId, w(d->Name), d->InitPid);
    return S_OK;
}

static HRESULT OnDistributionRegistered(const struct WSLSessionInformation* session, const struct WslOfflineDistributionInformation* d)
{
    char id[39];
    guid_str(&d->Id, id);
    logf_("Distribution registered: session=%u, name=%ls, id=%s, flavor=%ls, version=%ls", session->SessionId, w(d->Name), id,
          w(d->Flavor), w(d->Version));
    return S_OK;
}

static HRESULT OnDistributionUnregistered(const struct WSLSessionInformation* session, const struct WslOfflineDistributionInformation* d)
{
    char id[39];
    guid_str(&d->Id, id);
    logf_("Distribution unregistered: session=%u, name=%ls, id=%s", session->SessionId, w(d->Name), id);
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    /* Registration hooks need WSL 2.1.2. */
    WSL_PLUGIN_REQUIRE_VERSION(2, 1, 2, api);
    g_api = api;
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnVMStopping = OnVMStopping;
    hooks->OnDistributionStarted = OnDistributionStarted;
    hooks->OnDistributionStopping = OnDistributionStopping;
    hooks->OnDistributionRegistered = OnDistributionRegistered;
    hooks->OnDistributionUnregistered = OnDistributionUnregistered;
    logf_("Plugin loaded: API version %u.%u.%u", api->Version.Major, api->Version.Minor, api->Version.Revision);
    return S_OK;
}

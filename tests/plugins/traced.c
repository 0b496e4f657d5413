/*
 * The plugin of the `wslp plugin trace` tests (SPEC §13): it makes the calls
 * a trace must show, chosen at build time with -D defines:
 *
 *   HOST_DIR="..."       OnVMStarted mounts this host folder read-only at
 *                        /mnt/traced (MountFolder), then runs
 *                        `/bin/echo traced` (ExecuteBinary) and reads it
 *   FAIL_DISTRO=L"..."   OnDistributionStarted of that distribution calls
 *                        PluginError(L"no entry for <name>") and returns
 *                        E_ACCESSDENIED; other distributions start
 *   FLOOD=N              OnDistributionStarted makes N calls that fail at
 *                        once (ExecuteBinary with an unknown session and a
 *                        1 KiB argument): many large trace events
 *   SEGV_DISTRO=L"..."   OnDistributionStarted of that distribution segfaults
 */
#include <WslPluginApi.h>

#include <stdio.h>
#include <string.h>
#include <wchar.h>

static const struct WSLPluginAPIV1* g_api;

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* u)
{
    (void)u;
#ifdef HOST_DIR
    HRESULT hr = g_api->MountFolder(s->SessionId, L"" HOST_DIR, L"/mnt/traced", TRUE, L"traced");
    if (FAILED(hr))
        return hr;
#endif
    LPCSTR argv[] = {"/bin/echo", "traced", NULL};
    SOCKET sock = INVALID_SOCKET;
    HRESULT exec = g_api->ExecuteBinary(s->SessionId, argv[0], argv, &sock);
    if (SUCCEEDED(exec))
    {
        char buf[64];
        while (recv(sock, buf, sizeof buf, 0) > 0)
        {
        }
        closesocket(sock);
    }
    return exec;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
#ifdef FLOOD
    static char big[1025];
    memset(big, 'x', 1024);
    LPCSTR argv[] = {"/bin/true", big, NULL};
    for (int i = 0; i < FLOOD; i++)
    {
        SOCKET sock = INVALID_SOCKET;
        g_api->ExecuteBinary(s->SessionId + 100000, argv[0], argv, &sock);
    }
#endif
#ifdef SEGV_DISTRO
    /* A real fault: raise(SIGSEGV) would meet the Rust runtime's handler. */
    if (wcscmp(d->Name, SEGV_DISTRO) == 0)
        *(volatile int*)0 = 1;
#endif
#ifdef FAIL_DISTRO
    if (wcscmp(d->Name, FAIL_DISTRO) == 0)
    {
        wchar_t message[128];
        swprintf(message, 128, L"no entry for %ls", d->Name);
        g_api->PluginError(message);
        return E_ACCESSDENIED;
    }
#endif
    (void)s;
    (void)d;
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    WSL_PLUGIN_REQUIRE_VERSION(2, 1, 2, api);
    g_api = api;
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnDistributionStarted = OnDistributionStarted;
    return S_OK;
}

/*
 * The API calls of SPEC §5 against the real VM, from OnVMStarted and
 * OnDistributionStarted, logged as "<call> hr=0x…" lines to LOG_PATH.
 *
 *   LOG_PATH="..."    the log (required)
 *   HOST_DIR="..."    a host folder holding a file named `file`
 */
#include <WslPluginApi.h>

#include <stdio.h>
#include <string.h>

static const struct WSLPluginAPIV1* g_api;

static void logf_(const char* what, HRESULT hr, const char* out)
{
    FILE* f = fopen(LOG_PATH, "a");
    if (f == NULL)
        return;
    fprintf(f, "%s hr=0x%08x out=[", what, (unsigned)hr);
    for (const char* c = out ? out : ""; *c; c++)
        fputc(*c == '\n' ? '|' : *c, f); /* one line per call */
    fputs("]\n", f);
    fclose(f);
}

static void drain(SOCKET s, char* buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = recv(s, buf + len, cap - 1 - len, 0)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    closesocket(s);
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* u)
{
    (void)u;
    wchar_t host[512];
    swprintf(host, 512, L"%s", HOST_DIR);
    HRESULT hr = g_api->MountFolder(s->SessionId, host, L"/mnt/x", TRUE, L"x");
    logf_("MountFolder", hr, NULL);

    /* The mounted file, then whatever we send, back through the one socket. */
    LPCSTR argv[] = {"/bin/sh", "-c", "cat /mnt/x/file; cat", NULL};
    SOCKET sock = INVALID_SOCKET;
    hr = g_api->ExecuteBinary(s->SessionId, argv[0], argv, &sock);
    char buf[256] = "";
    if (SUCCEEDED(hr))
    {
        send(sock, "ping", 4, 0);
        shutdown(sock, SHUT_WR);
        drain(sock, buf, sizeof buf);
    }
    logf_("ExecuteBinary", hr, buf);

    /* Read-only: writing through the mount fails inside the VM. */
    LPCSTR touch[] = {"/bin/sh", "-c", "echo x > /mnt/x/new 2>/dev/null && echo wrote || echo refused", NULL};
    hr = g_api->ExecuteBinary(s->SessionId, touch[0], touch, &sock);
    buf[0] = '\0';
    if (SUCCEEDED(hr))
        drain(sock, buf, sizeof buf);
    logf_("ReadOnly", hr, buf);

    logf_("MountFolder missing", g_api->MountFolder(s->SessionId, L"/nonexistent/wslp", L"/mnt/y", FALSE, L"y"), NULL);
    logf_("MountFolder relative", g_api->MountFolder(s->SessionId, host, L"mnt/y", FALSE, L"y"), NULL);
    logf_("MountFolder escape", g_api->MountFolder(s->SessionId, host, L"/mnt/../../y", FALSE, L"y"), NULL);
    LPCSTR missing[] = {"/no/such/binary", NULL};
    logf_("ExecuteBinary missing", g_api->ExecuteBinary(s->SessionId, missing[0], missing, &sock), NULL);
    logf_("ExecuteBinary null", g_api->ExecuteBinary(s->SessionId, NULL, missing, &sock), NULL);
    logf_("ExecuteBinary session", g_api->ExecuteBinary(s->SessionId + 1000, argv[0], argv, &sock), NULL);

    GUID nobody = {0x12345678, 0x1234, 0x1234, {1, 2, 3, 4, 5, 6, 7, 8}};
    logf_("InDistribution null", g_api->ExecuteBinaryInDistribution(s->SessionId, NULL, argv[0], argv, &sock), NULL);
    logf_("InDistribution unknown", g_api->ExecuteBinaryInDistribution(s->SessionId, &nobody, argv[0], argv, &sock), NULL);
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    LPCSTR argv[] = {"/bin/sh", "-c", "id -u; cat /etc/hostname; ls /mnt/x >/dev/null 2>&1 && echo sees-vm-mount || echo own-root", NULL};
    SOCKET sock = INVALID_SOCKET;
    char buf[256] = "";
    HRESULT hr = g_api->ExecuteBinaryInDistribution(s->SessionId, &d->Id, argv[0], argv, &sock);
    if (SUCCEEDED(hr))
        drain(sock, buf, sizeof buf);
    logf_("InDistribution", hr, buf);
    LPCSTR missing[] = {"/no/such/binary", NULL};
    logf_("InDistribution missing", g_api->ExecuteBinaryInDistribution(s->SessionId, &d->Id, missing[0], missing, &sock), NULL);
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    g_api = api;
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnDistributionStarted = OnDistributionStarted;
    return S_OK;
}

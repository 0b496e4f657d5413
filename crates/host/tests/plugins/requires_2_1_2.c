/*
 * A plugin that needs WSL 2.1.2, the way real plugins check (and as the README
 * shows). Before the check it logs what it was given, so a test sees the
 * version whether or not the check passes:
 *
 *   entry version=X.Y.Z pid=N        each time the entry point runs
 *   OnVMStarted version=X.Y.Z        read through the Api pointer kept from the entry point
 *
 * OnDistributionStarted aborts, so a test can see what a restarted plugin host
 * passes to the entry point. Lines go to "<its own path>.log".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "WslPluginApi.h"

static const struct WSLPluginAPIV1* g_api;

static void logline(const char* what, const struct WSLPluginAPIV1* api)
{
    Dl_info info;
    char path[4200];
    char line[256];
    if (dladdr((void*)&logline, &info) == 0 || info.dli_fname == NULL)
    {
        return;
    }
    snprintf(path, sizeof(path), "%s.log", info.dli_fname);
    int n = snprintf(
        line, sizeof(line), "%s version=%u.%u.%u pid=%d\n", what, api->Version.Major, api->Version.Minor,
        api->Version.Revision, (int)getpid());
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
    {
        if (write(fd, line, (size_t)n) < 0)
        {
            /* The test sees the line missing. */
        }
        close(fd);
    }
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* Session, const struct WSLVmCreationSettings* Settings)
{
    (void)Session;
    (void)Settings;
    logline("OnVMStarted", g_api);
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* Session, const struct WSLDistributionInformation* Distribution)
{
    (void)Session;
    (void)Distribution;
    abort();
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* Api, struct WSLPluginHooksV1* Hooks)
{
    logline("entry", Api);
    WSL_PLUGIN_REQUIRE_VERSION(2, 1, 2, Api);
    g_api = Api;
    Hooks->OnVMStarted = OnVMStarted;
    Hooks->OnDistributionStarted = OnDistributionStarted;
    return S_OK;
}

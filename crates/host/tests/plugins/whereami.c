/*
 * Reports, as its OnVMStarted error message, where it believes it was loaded
 * from: dladdr() + realpath(), as plugins locate their own files.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "WslPluginApi.h"

static const struct WSLPluginAPIV1* g_api;

static HRESULT OnVMStarted(const struct WSLSessionInformation* Session, const struct WSLVmCreationSettings* Settings)
{
    (void)Session;
    (void)Settings;
    Dl_info info;
    char real[PATH_MAX];
    char msg[PATH_MAX + 32];
    if (dladdr((void*)&OnVMStarted, &info) == 0 || info.dli_fname == NULL)
    {
        snprintf(msg, sizeof(msg), "dladdr failed");
    }
    else if (realpath(info.dli_fname, real) != NULL)
    {
        snprintf(msg, sizeof(msg), "%s", real);
    }
    else
    {
        snprintf(msg, sizeof(msg), "unresolved:%s", info.dli_fname);
    }
    wchar_t wide[PATH_MAX + 32];
    size_t i = 0;
    for (; msg[i] != '\0'; i++)
    {
        wide[i] = (wchar_t)(unsigned char)msg[i];
    }
    wide[i] = 0;
    g_api->PluginError(wide);
    return E_FAIL;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* Api, struct WSLPluginHooksV1* Hooks)
{
    g_api = Api;
    Hooks->OnVMStarted = OnVMStarted;
    return S_OK;
}

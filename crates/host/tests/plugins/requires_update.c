/* A plugin that needs a WSL API level no host has yet. */
#include "WslPluginApi.h"

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* Api, struct WSLPluginHooksV1* Hooks)
{
    (void)Hooks;
    WSL_PLUGIN_REQUIRE_VERSION(99, 0, 0, Api);
    return S_OK;
}

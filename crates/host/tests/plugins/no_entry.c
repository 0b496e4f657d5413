/* A library that is not a plugin: it lacks WSLPluginAPIV1_EntryPoint. */
#include "WslPluginApi.h"

EXTERN_C __declspec(dllexport) HRESULT NotTheEntryPoint(void)
{
    return S_OK;
}

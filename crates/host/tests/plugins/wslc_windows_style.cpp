// A WSLC plugin written the way Microsoft's own test plugin uses the WSLC half of
// the API (microsoft/WSL test/windows/testplugin/Plugin.cpp, WSL 2.9.5): the same
// hook signatures and assignments, the same calls with the same argument types
// (WSLCMountFolder(Session, L"...", "/mountpoint", TRUE or false), Errno as an
// int*, a WSLCProcessFd cast from 999), HANDLEs waited on with
// WaitForSingleObject and closed with CloseHandle, HRESULTs compared with
// WSLC_E_VM_NOT_RUNNING. It must build on Linux from this source.
//
// wslp raises no WSLC hook yet, so OnVMStarted makes the calls (on session 1)
// and reports what they answered through PluginError.
#include "WslPluginApi.h"

#include <cstdio>
#include <string>
#include <vector>

namespace {

const WSLPluginAPIV1* g_api = nullptr;

std::string Hex(HRESULT hr)
{
    char text[16];
    snprintf(text, sizeof(text), "0x%08x", static_cast<unsigned>(hr));
    return text;
}

// What RunWslcSuccessChecks does in Microsoft's plugin, reduced to the calls.
std::string RunWslcCalls(WSLCSessionId Session)
{
    std::string report;
    std::vector<const char*> arguments = {"/bin/sh", "-c", "echo -n stdout-ok", nullptr};
    std::vector<const char*> env = {"ENV=env-ok", nullptr};
    WSLCProcessHandle process = nullptr;
    int errnoValue = 0;
    HRESULT hr = g_api->WSLCCreateProcess(Session, arguments[0], arguments.data(), env.data(), &process, &errnoValue);
    report += "create=" + Hex(hr);
    if (SUCCEEDED(hr))
    {
        HANDLE stdoutHandle = nullptr;
        HANDLE exitEvent = nullptr;
        if (SUCCEEDED(g_api->WSLCProcessGetFd(process, WSLCProcessFdStdout, &stdoutHandle)) &&
            SUCCEEDED(g_api->WSLCProcessGetExitEvent(process, &exitEvent)))
        {
            const bool exited = WaitForSingleObject(exitEvent, 30 * 1000) == WAIT_OBJECT_0;
            char out[64] = {};
            const auto n = read(WSLP_HANDLE_FD(stdoutHandle), out, sizeof(out) - 1);
            int status = -1;
            hr = g_api->WSLCProcessGetExitCode(process, &status);
            report += std::string(" exited=") + (exited ? "yes" : "no") + " out=" + (n > 0 ? out : "") +
                      " status=" + std::to_string(status);
        }
        CloseHandle(stdoutHandle);
        CloseHandle(exitEvent);
        g_api->WSLCReleaseProcess(process);
    }

    HANDLE dummy = nullptr;
    report += " getfd(999)=" + Hex(g_api->WSLCProcessGetFd(process, static_cast<WSLCProcessFd>(999), &dummy));
    int exitCode = -1;
    report += " exitcode=" + Hex(g_api->WSLCProcessGetExitCode(process, &exitCode));

    constexpr auto rwMountpoint = "/mnt/wsl-plugin/plugin-rw-test";
    constexpr auto roMountpoint = "/mnt/wsl-plugin/plugin-ro-test";
    report += " mount-rw=" + Hex(g_api->WSLCMountFolder(Session, L"/tmp", rwMountpoint, false));
    report += " mount-ro=" + Hex(g_api->WSLCMountFolder(Session, L"/tmp", roMountpoint, TRUE));
    report += " unmount=" + Hex(g_api->WSLCUnmountFolder(Session, roMountpoint));
    report += " relative=" + Hex(g_api->WSLCMountFolder(Session, L"/tmp", "relative-mountpoint", TRUE));
    return report;
}

HRESULT OnVmStarted(const WSLSessionInformation* /* Session */, const WSLVmCreationSettings* /* Settings */)
{
    const std::string report = RunWslcCalls(1);
    const std::wstring message = L"WSLC calls: " + std::wstring(report.begin(), report.end());
    const HRESULT hr = g_api->PluginError(message.c_str());
    return FAILED(hr) ? hr : E_ABORT;
}

HRESULT OnWslcSessionCreated(const WSLCSessionInformation* Session)
{
    // A plugin call is never a reason to create a VM.
    std::vector<const char*> args = {"/bin/true", nullptr};
    WSLCProcessHandle process = nullptr;
    const auto hr = g_api->WSLCCreateProcess(Session->SessionId, args[0], args.data(), nullptr, &process, nullptr);
    if (SUCCEEDED(hr))
    {
        g_api->WSLCReleaseProcess(process);
    }
    if (hr != WSLC_E_VM_NOT_RUNNING && hr != WSLC_E_SESSION_NOT_FOUND)
    {
        return HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED);
    }
    return S_OK;
}

HRESULT OnWslcSessionStopping(const WSLCSessionInformation* Session)
{
    return Session->DisplayName != nullptr ? S_OK : E_INVALIDARG;
}

HRESULT OnWslcContainerStarted(const WSLCSessionInformation* /* Session */, LPCSTR InspectJson)
{
    return std::string(InspectJson).find("\"Id\"") != std::string::npos ? S_OK : HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED);
}

HRESULT OnWslcContainerStopping(const WSLCSessionInformation* /* Session */, LPCSTR ContainerId)
{
    return ContainerId != nullptr ? S_OK : E_POINTER;
}

HRESULT OnWslcImageCreated(const WSLCSessionInformation* /* Session */, LPCSTR InspectJson)
{
    return InspectJson != nullptr ? S_OK : E_POINTER;
}

HRESULT OnWslcImageDeleted(const WSLCSessionInformation* /* Session */, LPCSTR ImageId)
{
    return ImageId != nullptr ? S_OK : E_POINTER;
}

HRESULT OnWslcVmStarted(const WSLCSessionInformation* Session)
{
    RunWslcCalls(Session->SessionId);
    return S_OK;
}

HRESULT OnWslcVmStopping(const WSLCSessionInformation* Session)
{
    constexpr auto* mountpoint = "/test-plugin/vm-stopping-mount";
    const auto mountHr = g_api->WSLCMountFolder(Session->SessionId, L"/tmp", mountpoint, TRUE);
    if (SUCCEEDED(mountHr))
    {
        return g_api->WSLCUnmountFolder(Session->SessionId, mountpoint);
    }
    return S_OK;
}

} // namespace

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const WSLPluginAPIV1* Api, WSLPluginHooksV1* Hooks)
{
    WSL_PLUGIN_REQUIRE_VERSION(2, 9, 5, Api);

    g_api = Api;
    Hooks->OnVMStarted = &OnVmStarted;
    Hooks->OnSessionCreated = &OnWslcSessionCreated;
    Hooks->OnSessionStopping = &OnWslcSessionStopping;
    Hooks->ContainerStarted = &OnWslcContainerStarted;
    Hooks->ContainerStopping = &OnWslcContainerStopping;
    Hooks->ImageCreated = &OnWslcImageCreated;
    Hooks->ImageDeleted = &OnWslcImageDeleted;
    Hooks->WslcVmStarted = &OnWslcVmStarted;
    Hooks->WslcVmStopping = &OnWslcVmStopping;
    return S_OK;
}

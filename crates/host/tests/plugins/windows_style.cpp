// A plugin written the Windows way, as Microsoft's sample plugin is: C++,
// std::wstring, wide literals, FAILED(), recv/send on a SOCKET, closesocket,
// EXTERN_C __declspec(dllexport). It must build on Linux from this exact source.
#include "WslPluginApi.h"

#include <string>
#include <vector>

namespace {

const WSLPluginAPIV1* g_api = nullptr;

std::string ReadFromSocket(SOCKET socket)
{
    std::vector<char> content(1024);
    int result = 0;
    int offset = 0;
    while ((result = recv(socket, content.data() + offset, static_cast<int>(content.size()) - offset, 0)) > 0)
    {
        offset += result;
        if (offset == static_cast<int>(content.size()))
        {
            content.resize(content.size() * 2);
        }
    }

    return std::string(content.data(), offset);
}

HRESULT OnVmStarted(const WSLSessionInformation* Session, const WSLVmCreationSettings* /* Settings */)
{
    std::vector<const char*> arguments = {"/bin/sh", "-c", "read line; echo \"got:$line\"", nullptr};
    SOCKET socket = INVALID_SOCKET;
    HRESULT result = g_api->ExecuteBinary(Session->SessionId, arguments[0], arguments.data(), &socket);
    if (FAILED(result))
    {
        return result;
    }

    const char message[] = "hello\n";
    send(socket, message, sizeof(message) - 1, 0);
    shutdown(socket, SHUT_WR);
    std::string output = ReadFromSocket(socket);
    closesocket(socket);

    while (!output.empty() && output.back() == '\n')
    {
        output.pop_back();
    }

    std::wstring error = L"C++ plugin saw: " + std::wstring(output.begin(), output.end());
    result = g_api->PluginError(error.c_str());
    if (FAILED(result))
    {
        return result;
    }

    return E_ABORT;
}

} // namespace

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const WSLPluginAPIV1* Api, WSLPluginHooksV1* Hooks)
{
    WSL_PLUGIN_REQUIRE_VERSION(2, 1, 2, Api);

    g_api = Api;
    Hooks->OnVMStarted = &OnVmStarted;
    return S_OK;
}

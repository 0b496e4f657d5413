/*
 * WslPluginApi.h -- the WSL plugin API for Linux, as served by wslp.
 *
 * Field order and function signatures follow Microsoft's WslPluginApi.h at
 * WSL 2.9.5, including the WSLC tail fields of WSLPluginHooksV1 and
 * WSLPluginAPIV1, so a plugin written for Windows builds here from the same
 * source and sees the same struct layouts.
 *
 * Microsoft's header includes <windows.h>. This one provides, in its place,
 * the Windows names plugin code commonly leans on (HRESULT, S_OK, FAILED(),
 * E_* and ERROR_* codes, closesocket, __declspec(dllexport), ...). Define
 * WSLP_NO_WINDOWS_COMPAT before including this header to bring your own.
 *
 * Type mapping (x86_64 and aarch64 Linux):
 *   HRESULT, BOOL, LONG      int32_t
 *   DWORD, ULONG             uint32_t
 *   ULONGLONG                uint64_t
 *   LPCWSTR / LPWSTR         const wchar_t* / wchar_t*  (wchar_t is 32 bits)
 *   LPCSTR / LPSTR           const char* / char*        (UTF-8)
 *   SOCKET                   int (a file descriptor the plugin owns)
 *   HANDLE, PSID             void*
 */

#ifndef WSLP_WSL_PLUGIN_API_H
#define WSLP_WSL_PLUGIN_API_H

#include <stdint.h>
#include <wchar.h>

#ifndef WSLP_NO_WINDOWS_COMPAT
#include <sys/types.h>
#include <sys/socket.h> /* recv, send */
#include <unistd.h>     /* close, for closesocket */

typedef int32_t HRESULT;
typedef uint32_t DWORD;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef uint64_t ULONGLONG;
typedef int32_t BOOL;
typedef wchar_t WCHAR;
typedef const wchar_t* LPCWSTR;
typedef wchar_t* LPWSTR;
typedef const char* LPCSTR;
typedef char* LPSTR;
typedef void* HANDLE;
typedef void* PSID;
typedef int SOCKET;

#ifndef GUID_DEFINED
#define GUID_DEFINED
typedef struct _GUID
{
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#ifdef __cplusplus
#define EXTERN_C extern "C"
#else
#define EXTERN_C extern
#endif

/* On ELF, "exported" means default visibility. */
#ifndef __declspec
#define __declspec(x) __declspec_##x
#endif
#define __declspec_dllexport __attribute__((visibility("default")))
#define __declspec_dllimport
#define __declspec_noinline __attribute__((noinline))
#define __declspec_noreturn __attribute__((noreturn))

#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef WINAPI
#define WINAPI
#endif
#ifndef STDAPI
#define STDAPI EXTERN_C HRESULT
#endif

#define UNREFERENCED_PARAMETER(P) ((void)(P))

#define INVALID_SOCKET (-1)
#define SOCKET_ERROR (-1)
#define closesocket(s) close(s)

#define SEVERITY_SUCCESS 0
#define SEVERITY_ERROR 1
#define FACILITY_NULL 0
#define FACILITY_RPC 1
#define FACILITY_ITF 4
#define FACILITY_WIN32 7

#define MAKE_HRESULT(sev, fac, code) \
    ((HRESULT)(((uint32_t)(sev) << 31) | ((uint32_t)(fac) << 16) | ((uint32_t)(code))))
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#define IS_ERROR(hr) (((uint32_t)(hr)) >> 31 == SEVERITY_ERROR)
#define HRESULT_CODE(hr) ((hr) & 0xFFFF)
#define HRESULT_FACILITY(hr) (((hr) >> 16) & 0x1fff)
#define HRESULT_SEVERITY(hr) (((hr) >> 31) & 0x1)
#define HRESULT_FROM_WIN32(x) \
    ((HRESULT)(x) <= 0 ? ((HRESULT)(x)) : ((HRESULT)(((uint32_t)(x) & 0x0000FFFF) | (FACILITY_WIN32 << 16) | 0x80000000)))

#define S_OK ((HRESULT)0)
#define S_FALSE ((HRESULT)1)
#define E_NOTIMPL ((HRESULT)0x80004001)
#define E_NOINTERFACE ((HRESULT)0x80004002)
#define E_POINTER ((HRESULT)0x80004003)
#define E_ABORT ((HRESULT)0x80004004)
#define E_FAIL ((HRESULT)0x80004005)
#define E_UNEXPECTED ((HRESULT)0x8000FFFF)
#define E_ACCESSDENIED ((HRESULT)0x80070005)
#define E_HANDLE ((HRESULT)0x80070006)
#define E_OUTOFMEMORY ((HRESULT)0x8007000E)
#define E_INVALIDARG ((HRESULT)0x80070057)
#define E_PENDING ((HRESULT)0x8000000A)
#define E_ILLEGAL_STATE_CHANGE ((HRESULT)0x8000000D)
#define E_ILLEGAL_METHOD_CALL ((HRESULT)0x8000000E)
#define RPC_E_DISCONNECTED ((HRESULT)0x80010108)
#define TRUST_E_NOSIGNATURE ((HRESULT)0x800B0100)
#define TRUST_E_BAD_DIGEST ((HRESULT)0x80096010)
#define CERT_E_EXPIRED ((HRESULT)0x800B0101)
#define CERT_E_UNTRUSTEDROOT ((HRESULT)0x800B0109)
#define CERT_E_WRONG_USAGE ((HRESULT)0x800B0110)

#define ERROR_SUCCESS 0L
#define NO_ERROR 0L
#define ERROR_INVALID_FUNCTION 1L
#define ERROR_FILE_NOT_FOUND 2L
#define ERROR_PATH_NOT_FOUND 3L
#define ERROR_TOO_MANY_OPEN_FILES 4L
#define ERROR_ACCESS_DENIED 5L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_INVALID_DATA 13L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_NOT_READY 21L
#define ERROR_SHARING_VIOLATION 32L
#define ERROR_NOT_SUPPORTED 50L
#define ERROR_FILE_EXISTS 80L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_BROKEN_PIPE 109L
#define ERROR_INSUFFICIENT_BUFFER 122L
#define ERROR_INVALID_NAME 123L
#define ERROR_MOD_NOT_FOUND 126L
#define ERROR_PROC_NOT_FOUND 127L
#define ERROR_DIR_NOT_EMPTY 145L
#define ERROR_BAD_PATHNAME 161L
#define ERROR_ALREADY_EXISTS 183L
#define ERROR_ENVVAR_NOT_FOUND 203L
#define ERROR_NO_DATA 232L
#define ERROR_MORE_DATA 234L
#define ERROR_OPERATION_ABORTED 995L
#define ERROR_PROCESS_ABORTED 1067L
#define ERROR_SERVICE_NOT_ACTIVE 1062L
#define ERROR_NOT_FOUND 1168L
#define ERROR_CANCELLED 1223L
#define ERROR_TIMEOUT 1460L
#define ERROR_INVALID_STATE 5023L
#endif /* WSLP_NO_WINDOWS_COMPAT */

#ifdef __cplusplus
extern "C" {
#endif

#define WSLPLUGINAPI_ENTRYPOINTV1 WSLPluginAPIV1_EntryPoint

/* 0x8004032A */
#define WSL_E_PLUGIN_REQUIRES_UPDATE MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x032A)
/* 0x80040313: what WSL answers for a distribution that is not running. */
#define WSL_E_VM_MODE_INVALID_STATE MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x0313)
/* 0x80040610 */
#define WSLC_E_VM_NOT_RUNNING MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x0610)

/* Size of the buffer WSLCPluginAPI_MountFolder writes, terminator included. */
#define WSLC_MOUNTPOINT_LENGTH 256

/* Compared as signed 64-bit so that a zero minimum compiles cleanly under -Wextra -Werror. */
#define WSL_PLUGIN_REQUIRE_VERSION(_Major, _Minor, _Revision, Api)                                          \
    if ((int64_t)Api->Version.Major < (int64_t)(_Major) ||                                                  \
        ((int64_t)Api->Version.Major == (int64_t)(_Major) && (int64_t)Api->Version.Minor < (int64_t)(_Minor)) || \
        ((int64_t)Api->Version.Major == (int64_t)(_Major) && (int64_t)Api->Version.Minor == (int64_t)(_Minor) && \
         (int64_t)Api->Version.Revision < (int64_t)(_Revision)))                                            \
    {                                                                                                       \
        return WSL_E_PLUGIN_REQUIRES_UPDATE;                                                                \
    }

struct WSLVersion
{
    uint32_t Major;
    uint32_t Minor;
    uint32_t Revision;
};

enum WSLUserConfiguration
{
    None = 0,
    WSLUserConfigurationCustomKernel = 1,
    WSLUserConfigurationCustomKernelCommandLine = 2
};

#ifdef __cplusplus
inline WSLUserConfiguration operator|(WSLUserConfiguration a, WSLUserConfiguration b)
{
    return static_cast<WSLUserConfiguration>(static_cast<int>(a) | static_cast<int>(b));
}
inline WSLUserConfiguration operator&(WSLUserConfiguration a, WSLUserConfiguration b)
{
    return static_cast<WSLUserConfiguration>(static_cast<int>(a) & static_cast<int>(b));
}
#endif

struct WSLVmCreationSettings
{
    enum WSLUserConfiguration CustomConfigurationFlags;
};

typedef DWORD WSLSessionId;

struct WSLSessionInformation
{
    WSLSessionId SessionId;
    HANDLE UserToken;
    PSID UserSid;
};

struct WSLDistributionInformation
{
    GUID Id;                   /* fixed at import, the same across restarts */
    LPCWSTR Name;
    uint64_t PidNamespace;     /* inode of the distribution's pid namespace */
    LPCWSTR PackageFamilyName; /* an empty string on wslp, never NULL */
    uint32_t InitPid;          /* init's pid in the VM's root namespace (WSL 2.0.5) */
    LPCWSTR Flavor;            /* ID= of os-release, or NULL (WSL 2.4.4) */
    LPCWSTR Version;           /* VERSION_ID= of os-release, or NULL (WSL 2.4.4) */
};

struct WslOfflineDistributionInformation
{
    GUID Id;
    LPCWSTR Name;
    LPCWSTR PackageFamilyName;
    LPCWSTR Flavor;
    LPCWSTR Version;
};

/* WSLC sessions: distinct from WSLSessionId. */
typedef DWORD WSLCSessionId;

struct WSLCSessionInformation
{
    WSLCSessionId SessionId;
    LPCWSTR DisplayName;
    DWORD ApplicationPid;
    HANDLE UserToken;
    PSID UserSid;
};

typedef void* WSLCProcessHandle;

typedef enum _WSLCProcessFd
{
    WSLCProcessFdStdin = 0,
    WSLCProcessFdStdout = 1,
    WSLCProcessFdStderr = 2
} WSLCProcessFd;

/* Mounts a host folder into the VM's root namespace. */
typedef HRESULT (*WSLPluginAPI_MountFolder)(WSLSessionId Session, LPCWSTR WindowsPath, LPCWSTR LinuxPath, BOOL ReadOnly, LPCWSTR Name);

/* Starts a program in the VM's root namespace. 'Socket' is connected to its
 * stdin and stdout (stderr goes to the VM log); 'Arguments' ends with NULL. */
typedef HRESULT (*WSLPluginAPI_ExecuteBinary)(WSLSessionId Session, LPCSTR Path, LPCSTR* Arguments, SOCKET* Socket);

/* WSLC hooks (not raised by wslp). */
typedef HRESULT (*WSLPluginAPI_OnSessionCreated)(const struct WSLCSessionInformation* Session);
typedef HRESULT (*WSLPluginAPI_OnSessionStopping)(const struct WSLCSessionInformation* Session);
typedef HRESULT (*WSLPluginAPI_ContainerStarted)(const struct WSLCSessionInformation* Session, LPCSTR InspectContainer);
typedef HRESULT (*WSLPluginAPI_ContainerStopping)(const struct WSLCSessionInformation* Session, LPCSTR ContainerId);
typedef HRESULT (*WSLPluginAPI_ImageCreated)(const struct WSLCSessionInformation* Session, LPCSTR InspectImage);
typedef HRESULT (*WSLPluginAPI_ImageDeleted)(const struct WSLCSessionInformation* Session, LPCSTR ImageId);
typedef HRESULT (*WSLPluginAPI_WslcVmStarted)(const struct WSLCSessionInformation* Session);
typedef HRESULT (*WSLPluginAPI_WslcVmStopping)(const struct WSLCSessionInformation* Session);

/* WSLC API calls (wslp answers E_NOTIMPL). */
typedef HRESULT (*WSLCPluginAPI_MountFolder)(WSLCSessionId Session, LPCWSTR WindowsPath, BOOL ReadOnly, LPCWSTR Name, LPSTR Mountpoint);
typedef HRESULT (*WSLCPluginAPI_UnmountFolder)(WSLCSessionId Session, LPCSTR Mountpoint);
typedef HRESULT (*WSLCPluginAPI_CreateProcess)(
    WSLCSessionId Session, LPCSTR Executable, LPCSTR* Arguments, LPCSTR* Env, WSLCProcessHandle* Process, int* Errno);
typedef HRESULT (*WSLCPluginAPI_ProcessGetFd)(WSLCProcessHandle Process, WSLCProcessFd Fd, HANDLE* Handle);
typedef HRESULT (*WSLCPluginAPI_ProcessGetExitEvent)(WSLCProcessHandle Process, HANDLE* ExitEvent);
typedef HRESULT (*WSLCPluginAPI_ProcessGetExitCode)(WSLCProcessHandle Process, int* ExitCode);
typedef void (*WSLCPluginAPI_ReleaseProcess)(WSLCProcessHandle Process);

/* Starts a program inside a running distribution, as root. */
typedef HRESULT (*WSLPluginAPI_ExecuteBinaryInDistribution)(WSLSessionId Session, const GUID* Distribution, LPCSTR Path, LPCSTR* Arguments, SOCKET* Socket);

/* Sets the message shown to the user when the VM or distribution start fails.
 * Only from the thread running OnVMStarted() or OnDistributionStarted(). */
typedef HRESULT (*WSLPluginAPI_PluginError)(LPCWSTR UserMessage);

/* Hooks. The pointers passed are valid only while the call is in progress. */
typedef HRESULT (*WSLPluginAPI_OnVMStarted)(const struct WSLSessionInformation* Session, const struct WSLVmCreationSettings* UserSettings);
typedef HRESULT (*WSLPluginAPI_OnVMStopping)(const struct WSLSessionInformation* Session);
typedef HRESULT (*WSLPluginAPI_OnDistributionStarted)(const struct WSLSessionInformation* Session, const struct WSLDistributionInformation* Distribution);
typedef HRESULT (*WSLPluginAPI_OnDistributionStopping)(const struct WSLSessionInformation* Session, const struct WSLDistributionInformation* Distribution);
/* Registration hooks: a failure does not fail the operation. */
typedef HRESULT (*WSLPluginAPI_OnDistributionRegistered)(const struct WSLSessionInformation* Session, const struct WslOfflineDistributionInformation* Distribution);

struct WSLPluginHooksV1
{
    WSLPluginAPI_OnVMStarted OnVMStarted;
    WSLPluginAPI_OnVMStopping OnVMStopping;
    WSLPluginAPI_OnDistributionStarted OnDistributionStarted;
    WSLPluginAPI_OnDistributionStopping OnDistributionStopping;
    WSLPluginAPI_OnDistributionRegistered OnDistributionRegistered;   /* WSL 2.1.2 */
    WSLPluginAPI_OnDistributionRegistered OnDistributionUnregistered; /* WSL 2.1.2 */

    /* WSLC hooks; plugins built against older headers leave them zero. */
    WSLPluginAPI_OnSessionCreated OnSessionCreated;
    WSLPluginAPI_OnSessionStopping OnSessionStopping;
    WSLPluginAPI_ContainerStarted ContainerStarted;
    WSLPluginAPI_ContainerStopping ContainerStopping;
    WSLPluginAPI_ImageCreated ImageCreated;
    WSLPluginAPI_ImageDeleted ImageDeleted;
    WSLPluginAPI_WslcVmStarted WslcVmStarted;
    WSLPluginAPI_WslcVmStopping WslcVmStopping;
};

struct WSLPluginAPIV1
{
    struct WSLVersion Version;
    WSLPluginAPI_MountFolder MountFolder;
    WSLPluginAPI_ExecuteBinary ExecuteBinary;
    WSLPluginAPI_PluginError PluginError;
    WSLPluginAPI_ExecuteBinaryInDistribution ExecuteBinaryInDistribution; /* WSL 2.1.2 */

    /* WSLC API calls (WSL 2.9.0). */
    WSLCPluginAPI_MountFolder WSLCMountFolder;
    WSLCPluginAPI_UnmountFolder WSLCUnmountFolder;
    WSLCPluginAPI_CreateProcess WSLCCreateProcess;
    WSLCPluginAPI_ProcessGetFd WSLCProcessGetFd;
    WSLCPluginAPI_ProcessGetExitEvent WSLCProcessGetExitEvent;
    WSLCPluginAPI_ProcessGetExitCode WSLCProcessGetExitCode;
    WSLCPluginAPI_ReleaseProcess WSLCReleaseProcess;
};

typedef HRESULT (*WSLPluginAPI_EntryPointV1)(const struct WSLPluginAPIV1* Api, struct WSLPluginHooksV1* Hooks);

#ifdef __cplusplus
}
#endif

#endif /* WSLP_WSL_PLUGIN_API_H */

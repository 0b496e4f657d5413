/*
 * WslPluginApi.h -- the WSL plugin API for Linux, as served by wslp.
 *
 * Every declaration of the API part below (structs, field order and types,
 * typedef names, function pointer signatures, enum and constant values) is
 * that of Microsoft's header as released with WSL 2.9.5: microsoft/WSL
 * src/windows/inc/WslPluginApi.h at commit
 * 0e8adfb17b5a15bdaaaffaa0857a95a62b102302 (blob 02571cc3), WSLC tail fields
 * of WSLPluginHooksV1 and WSLPluginAPIV1 included. A plugin written for
 * Windows builds here from the same source and sees the same struct layouts.
 * crates/abi/tests/msft_header.rs compiles Microsoft's header next to this one
 * and checks every typedef, field and constant against it.
 *
 * Type mapping (x86_64 and aarch64 Linux):
 *   HRESULT, BOOL, LONG      int32_t
 *   DWORD, ULONG             uint32_t  (WSLSessionId, WSLCSessionId too)
 *   ULONGLONG                uint64_t
 *   LPCWSTR / LPWSTR         const wchar_t* / wchar_t*  (wchar_t is 32 bits)
 *   LPCSTR / LPSTR           const char* / char*        (UTF-8)
 *   SOCKET                   int (a file descriptor the plugin owns)
 *   HANDLE, PSID             void*; a WSLC HANDLE carries a file descriptor,
 *                            (HANDLE)(intptr_t)fd, see WSLP_HANDLE_FD
 *   GUID                     { uint32_t; uint16_t; uint16_t; uint8_t[8]; }
 *
 * Where this header deliberately differs from Microsoft's:
 *   - <windows.h> is not included. In its place the "Windows compatibility"
 *     part gives the Windows names plugin code commonly leans on (the types
 *     above, S_OK, FAILED(), E_* and ERROR_* codes, HRESULT_FROM_WIN32,
 *     MAKE_HRESULT, closesocket, EXTERN_C, __declspec(dllexport),
 *     DEFINE_ENUM_FLAG_OPERATORS, and the WSLC HANDLE functions CloseHandle and
 *     WaitForSingleObject with WAIT_*, INFINITE, INVALID_HANDLE_VALUE). Define
 *     WSLP_NO_WINDOWS_COMPAT before including this header to bring your own;
 *     the API part then needs those types and MAKE_HRESULT from you.
 *   - An include guard stands beside #pragma once.
 *   - WSL_PLUGIN_REQUIRE_VERSION compares as int64_t so that a zero minimum
 *     compiles under -Wextra -Werror (no "unsigned < 0 is always false");
 *     it accepts and rejects exactly the versions Microsoft's does.
 *   - Added, each under #ifndef as Microsoft guards WSLC_E_VM_NOT_RUNNING:
 *     WSL_E_VM_MODE_INVALID_STATE (0x80040313) and WSLC_E_SESSION_NOT_FOUND
 *     (0x8004060F), which Windows plugins get from WSL's other headers
 *     (wslservice.idl, wslc.idl); the WSLC calls below return the latter.
 *   - Added, wslp's own and present whatever WSLP_NO_WINDOWS_COMPAT says:
 *     WSLP_HANDLE_FD(h), the file descriptor a WSLC HANDLE carries, and
 *     WSLP_DEFINE_ENUM_FLAG_OPERATORS_, which gives WSLUserConfiguration its
 *     C++ operators when no DEFINE_ENUM_FLAG_OPERATORS is defined.
 *   - Comments describe wslp's behaviour where it differs from Windows
 *     (e.g. PackageFamilyName is an empty string, never NULL).
 */

#pragma once
#ifndef WSLP_WSL_PLUGIN_API_H
#define WSLP_WSL_PLUGIN_API_H

#include <stdint.h>
#include <wchar.h>

/*
 * wslp's own, whatever WSLP_NO_WINDOWS_COMPAT says.
 *
 * A HANDLE that a WSLC call hands out (WSLCProcessGetFd, WSLCProcessGetExitEvent)
 * carries a file descriptor, (HANDLE)(intptr_t)fd, which the caller owns: close it
 * with CloseHandle(h) or close(WSLP_HANDLE_FD(h)), wait on it with
 * WaitForSingleObject(h, ms) or poll(2). wslp never hands out descriptor 0, so a
 * NULL HANDLE means "no handle" as on Windows.
 */
#define WSLP_HANDLE_FD(h) ((int)(intptr_t)(h))

#ifdef __cplusplus
#include <type_traits>
/* The operators winnt.h's DEFINE_ENUM_FLAG_OPERATORS gives a flag enum. */
#define WSLP_DEFINE_ENUM_FLAG_OPERATORS_(ENUMTYPE)                                                   \
    extern "C++" {                                                                                   \
    inline constexpr ENUMTYPE operator|(ENUMTYPE a, ENUMTYPE b) noexcept                             \
    {                                                                                                \
        return ENUMTYPE(((::std::underlying_type<ENUMTYPE>::type)a) | ((::std::underlying_type<ENUMTYPE>::type)b)); \
    }                                                                                                \
    inline constexpr ENUMTYPE operator&(ENUMTYPE a, ENUMTYPE b) noexcept                             \
    {                                                                                                \
        return ENUMTYPE(((::std::underlying_type<ENUMTYPE>::type)a) & ((::std::underlying_type<ENUMTYPE>::type)b)); \
    }                                                                                                \
    inline constexpr ENUMTYPE operator^(ENUMTYPE a, ENUMTYPE b) noexcept                             \
    {                                                                                                \
        return ENUMTYPE(((::std::underlying_type<ENUMTYPE>::type)a) ^ ((::std::underlying_type<ENUMTYPE>::type)b)); \
    }                                                                                                \
    inline constexpr ENUMTYPE operator~(ENUMTYPE a) noexcept                                         \
    {                                                                                                \
        return ENUMTYPE(~((::std::underlying_type<ENUMTYPE>::type)a));                                \
    }                                                                                                \
    inline ENUMTYPE& operator|=(ENUMTYPE& a, ENUMTYPE b) noexcept                                    \
    {                                                                                                \
        return a = a | b;                                                                            \
    }                                                                                                \
    inline ENUMTYPE& operator&=(ENUMTYPE& a, ENUMTYPE b) noexcept                                    \
    {                                                                                                \
        return a = a & b;                                                                            \
    }                                                                                                \
    inline ENUMTYPE& operator^=(ENUMTYPE& a, ENUMTYPE b) noexcept                                    \
    {                                                                                                \
        return a = a ^ b;                                                                            \
    }                                                                                                \
    }
#endif

#ifndef WSLP_NO_WINDOWS_COMPAT
#include <errno.h>
#include <limits.h>
#include <poll.h>       /* WaitForSingleObject */
#include <sys/types.h>
#include <sys/socket.h> /* recv, send */
#include <time.h>
#include <unistd.h>     /* close, for closesocket and CloseHandle */

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

#ifdef __cplusplus
#ifndef DEFINE_ENUM_FLAG_OPERATORS
#define DEFINE_ENUM_FLAG_OPERATORS(ENUMTYPE) WSLP_DEFINE_ENUM_FLAG_OPERATORS_(ENUMTYPE)
#endif
#endif

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
#define ERROR_BAD_EXE_FORMAT 193L
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

/*
 * WSLC HANDLEs (see WSLP_HANDLE_FD above): what Windows-style WSLC plugin code
 * calls on the handles it gets, so it builds unchanged.
 */
#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)
#define INFINITE 0xFFFFFFFF
#define WAIT_OBJECT_0 ((DWORD)0x00000000L)
#define WAIT_ABANDONED ((DWORD)0x00000080L)
#define WAIT_TIMEOUT 258L
#define WAIT_FAILED ((DWORD)0xFFFFFFFF)

/* Closes the descriptor the handle carries. FALSE (errno set) for NULL,
 * INVALID_HANDLE_VALUE or a descriptor that is not open. */
static inline BOOL CloseHandle(HANDLE hObject)
{
    const int fd = WSLP_HANDLE_FD(hObject);
    if (fd <= 0)
    {
        errno = EBADF;
        return FALSE;
    }
    /* Linux frees the descriptor even when close() reports EINTR. */
    return (close(fd) == 0 || errno == EINTR) ? TRUE : FALSE;
}

/* Milliseconds on a clock for WaitForSingleObject's deadline: the monotonic
 * clock when <time.h> declares POSIX clocks, else C11's wall clock, else none
 * (then a wait interrupted by a signal starts its timeout over). */
static inline int64_t wslp_clock_ms_(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
#elif defined(TIME_UTC)
    struct timespec now;
    timespec_get(&now, TIME_UTC);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
#else
    return 0;
#endif
}

/* Waits until the descriptor the handle carries polls readable (an exit event:
 * the process has exited; a stdout or stderr socket: data or end of file).
 * WAIT_OBJECT_0 then, WAIT_TIMEOUT after dwMilliseconds (INFINITE: never), and
 * WAIT_FAILED (errno set) for NULL, INVALID_HANDLE_VALUE or a descriptor that
 * is not open. Like Windows' wait, it is not cut short by a signal. */
static inline DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
{
    struct pollfd pfd;
    const int64_t deadline = dwMilliseconds == INFINITE ? 0 : wslp_clock_ms_() + (int64_t)dwMilliseconds;
    pfd.fd = WSLP_HANDLE_FD(hHandle);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd <= 0)
    {
        errno = EBADF;
        return WAIT_FAILED;
    }
    for (;;)
    {
        int timeout = -1;
        int ready;
        if (dwMilliseconds != INFINITE)
        {
            int64_t left = deadline - wslp_clock_ms_();
            if (left < 0)
            {
                left = 0;
            }
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        ready = poll(&pfd, 1, timeout);
        if (ready > 0)
        {
            if (pfd.revents & POLLNVAL)
            {
                errno = EBADF;
                return WAIT_FAILED;
            }
            return WAIT_OBJECT_0; /* POLLIN, POLLHUP or POLLERR: a read would not block */
        }
        if (ready == 0)
        {
            if (timeout != INT_MAX)
            {
                return WAIT_TIMEOUT;
            }
            continue; /* more than INT_MAX ms to go */
        }
        if (errno != EINTR)
        {
            return WAIT_FAILED;
        }
    }
}
#endif /* WSLP_NO_WINDOWS_COMPAT */

#ifdef __cplusplus
extern "C" {
#endif

#define WSLPLUGINAPI_ENTRYPOINTV1 WSLPluginAPIV1_EntryPoint

/* 0x8004032A */
#define WSL_E_PLUGIN_REQUIRES_UPDATE MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x032A)

/* 0x80040610: returned by the WSLC plugin API calls below when the session has
 * no running VM. The same value as in WSL's wslc.idl. */
#ifndef WSLC_E_VM_NOT_RUNNING
#define WSLC_E_VM_NOT_RUNNING MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x0610)
#endif

/* Not in Microsoft's WslPluginApi.h (plugins on Windows get them from WSL's
 * other headers); wslp's plugins have only this one. */
/* 0x8004060F: returned by the WSLC calls for a session that is unknown or not
 * running (wslc.idl). */
#ifndef WSLC_E_SESSION_NOT_FOUND
#define WSLC_E_SESSION_NOT_FOUND MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x060F)
#endif
/* 0x80040313: what WSL answers for a distribution that is not running
 * (wslservice.idl). */
#ifndef WSL_E_VM_MODE_INVALID_STATE
#define WSL_E_VM_MODE_INVALID_STATE MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, 0x0313)
#endif

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
#ifdef DEFINE_ENUM_FLAG_OPERATORS
DEFINE_ENUM_FLAG_OPERATORS(WSLUserConfiguration);
#else
WSLP_DEFINE_ENUM_FLAG_OPERATORS_(WSLUserConfiguration);
#endif
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

/* Identifies a WSLC session inside the WSLC plugin API. Distinct from WSLSessionId. */
typedef DWORD WSLCSessionId;

/* Information about a WSLC session passed to plugin notifications. */
struct WSLCSessionInformation
{
    WSLCSessionId SessionId;
    LPCWSTR DisplayName;
    DWORD ApplicationPid;
    HANDLE UserToken;
    PSID UserSid;
};

/* Opaque handle to a WSLC process created via WSLCPluginAPI_CreateProcess.
 * Must be released with WSLCPluginAPI_ReleaseProcess. */
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

/*
 * WSLC plugin hooks (SPEC 11): raised for sessions of `wslp container|image|session`,
 * whose VM runs Debian's containerd and dockerd.
 */

/* A WSLC session was created. Returning an error prevents the session creation. */
typedef HRESULT (*WSLPluginAPI_OnSessionCreated)(const struct WSLCSessionInformation* Session);

/* A WSLC session is about to stop. Errors are ignored. */
typedef HRESULT (*WSLPluginAPI_OnSessionStopping)(const struct WSLCSessionInformation* Session);

/* A container started. Returning an error stops it. 'InspectContainer' is a
 * JSON document in the wslc_schema::InspectContainer format. */
typedef HRESULT (*WSLPluginAPI_ContainerStarted)(const struct WSLCSessionInformation* Session, LPCSTR InspectContainer);

/* A container stopped. 'ContainerId' is the container identifier. Errors are ignored. */
typedef HRESULT (*WSLPluginAPI_ContainerStopping)(const struct WSLCSessionInformation* Session, LPCSTR ContainerId);

/* An image was created. 'InspectImage' is a JSON document in the
 * wslc_schema::InspectImage format. Errors are ignored. */
typedef HRESULT (*WSLPluginAPI_ImageCreated)(const struct WSLCSessionInformation* Session, LPCSTR InspectImage);

/* An image was deleted. 'ImageId' is the deleted image identifier. Errors are ignored. */
typedef HRESULT (*WSLPluginAPI_ImageDeleted)(const struct WSLCSessionInformation* Session, LPCSTR ImageId);

/* The VM backing a WSLC session started: each time one starts for the session,
 * not once per session. Errors are logged but ignored. (WSL 2.9.5) */
typedef HRESULT (*WSLPluginAPI_OnWslcVmStarted)(const struct WSLCSessionInformation* Session);

/* The VM backing a WSLC session is about to stop, exactly once per
 * OnWslcVmStarted. The VM is still alive during the call, so the WSLC calls
 * work in it; it goes as soon as the call returns. Errors are logged but
 * ignored. (WSL 2.9.5) */
typedef HRESULT (*WSLPluginAPI_OnWslcVmStopping)(const struct WSLCSessionInformation* Session);

/*
 * WSLC plugin API calls. They act on the VM currently backing the session and
 * never start one: an unknown session fails with WSLC_E_SESSION_NOT_FOUND, one
 * without a running VM with WSLC_E_VM_NOT_RUNNING; a NULL argument is E_POINTER.
 */

/* Mounts a host folder into the WSLC session VM at 'Mountpoint', created if missing. */
typedef HRESULT (*WSLCPluginAPI_MountFolder)(WSLCSessionId Session, LPCWSTR WindowsPath, LPCSTR Mountpoint, BOOL ReadOnly);

/* Unmounts a folder mounted via WSLCPluginAPI_MountFolder. */
typedef HRESULT (*WSLCPluginAPI_UnmountFolder)(WSLCSessionId Session, LPCSTR Mountpoint);

/* Creates a process in the WSLC session VM's root namespace. 'Arguments' and
 * 'Env' are NULL-terminated arrays; 'Env' may be NULL. 'Errno' is optional and
 * receives the errno value if the process creation fails. On success 'Process'
 * receives a handle to release with WSLCPluginAPI_ReleaseProcess. */
typedef HRESULT (*WSLCPluginAPI_CreateProcess)(
    WSLCSessionId Session, LPCSTR Executable, LPCSTR* Arguments, LPCSTR* Env, WSLCProcessHandle* Process, int* Errno);

/* Gets a stdio handle of a WSLC process. The caller owns it and closes it with CloseHandle(). */
typedef HRESULT (*WSLCPluginAPI_ProcessGetFd)(WSLCProcessHandle Process, WSLCProcessFd Fd, HANDLE* Handle);

/* Gets the exit event of a WSLC process, signalled (readable) once it exited.
 * The caller owns it and closes it with CloseHandle(). */
typedef HRESULT (*WSLCPluginAPI_ProcessGetExitEvent)(WSLCProcessHandle Process, HANDLE* ExitEvent);

/* Gets the exit code of a WSLC process. The process must have exited. */
typedef HRESULT (*WSLCPluginAPI_ProcessGetExitCode)(WSLCProcessHandle Process, int* ExitCode);

/* Releases a WSLC process handle. */
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
    WSLPluginAPI_OnWslcVmStarted WslcVmStarted;   /* WSL 2.9.5 */
    WSLPluginAPI_OnWslcVmStopping WslcVmStopping; /* WSL 2.9.5 */
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

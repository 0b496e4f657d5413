/*
 * A scriptable test plugin. At load it reads "<its own path>.conf" (found with
 * dladdr) and, per hook, runs the lines naming that hook, in order:
 *
 *   tag NAME                  prefix of every log line (default: "plugin")
 *   log PATH                  log file (default: "<its own path>.log")
 *   entry HEX                 what the entry point returns
 *   <Hook> return HEX         what the hook returns (default S_OK)
 *   <Hook> info               log the hook's arguments
 *   <Hook> error TEXT         PluginError(L"TEXT")
 *   <Hook> error_null         PluginError(NULL)
 *   <Hook> error_thread TEXT  PluginError from another thread
 *   <Hook> exec PATH ARGS...  ExecuteBinary; writes "ping\n", logs what comes back
 *   <Hook> exec_bogus PATH    ExecuteBinary with an unknown session id
 *   <Hook> exec_distro WHICH PATH ARGS...   ExecuteBinaryInDistribution; WHICH is
 *                             self (the hook's distro), null or zero
 *   <Hook> mount HOST VM      MountFolder(HOST, VM, read-only, "tag")
 *   <Hook> wslc               call every WSLC function
 *
 * The WSLC hooks (OnSessionCreated … WslcVmStopping) take `return`, `info`
 * (the WSLCSessionInformation and the hook's string) and `error`.
 *
 * Every line it writes is "TAG HOOK what", written with one write() to an
 * O_APPEND file, so several plugins can share one log and keep call order.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "WslPluginApi.h"

#define MAX_LINES 64
#define LINE_LEN 512

static const struct WSLPluginAPIV1* g_api;
static char g_tag[64] = "plugin";
static char g_log[4200];
static char g_lines[MAX_LINES][LINE_LEN];
static int g_nlines;
static HRESULT g_entry_result = S_OK;

static void logline(const char* hook, const char* fmt, ...)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%s %s ", g_tag, hook);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
    {
        n = (int)sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    int fd = open(g_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
    {
        if (write(fd, buf, (size_t)n) < 0)
        {
            /* Nothing to do: the test will see the line missing. */
        }
        close(fd);
    }
}

static void wide_from(wchar_t* out, size_t len, const char* in)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < len; i++)
    {
        out[i] = (wchar_t)(unsigned char)in[i];
    }
    out[i] = 0;
}

/* Splits "a b c" in place into argv (NULL-terminated). */
static int split(char* s, const char** argv, int max)
{
    int n = 0;
    char* save = NULL;
    for (char* t = strtok_r(s, " ", &save); t != NULL && n < max - 1; t = strtok_r(NULL, " ", &save))
    {
        argv[n++] = t;
    }
    argv[n] = NULL;
    return n;
}

static void talk(const char* hook, const char* what, HRESULT hr, SOCKET sock)
{
    if (FAILED(hr))
    {
        logline(hook, "%s=0x%08x", what, (unsigned)hr);
        return;
    }
    send(sock, "ping\n", 5, 0);
    shutdown(sock, SHUT_WR);
    char out[1024];
    size_t got = 0;
    for (;;)
    {
        ssize_t r = recv(sock, out + got, sizeof(out) - 1 - got, 0);
        if (r <= 0)
        {
            break;
        }
        got += (size_t)r;
    }
    out[got] = '\0';
    for (size_t i = 0; i < got; i++)
    {
        if (out[i] == '\n')
        {
            out[i] = '|';
        }
    }
    closesocket(sock);
    logline(hook, "%s=0x%08x out=%s", what, (unsigned)hr, out);
}

struct thread_arg
{
    const char* text;
    HRESULT hr;
};

static void* error_thread(void* p)
{
    struct thread_arg* a = p;
    wchar_t w[256];
    wide_from(w, 256, a->text);
    a->hr = g_api->PluginError(w);
    return NULL;
}

static void log_distro(const char* hook, const GUID* id, LPCWSTR name, LPCWSTR pfn, LPCWSTR flavor, LPCWSTR version)
{
    logline(
        hook,
        "distro id=%08x-%04x name=%ls pfn=%s%ls flavor=%ls version=%ls",
        id->Data1,
        id->Data2,
        name,
        pfn == NULL ? "NULL" : "[",
        pfn == NULL ? L"" : pfn,
        flavor == NULL ? L"NULL" : flavor,
        version == NULL ? L"NULL" : version);
}

static HRESULT run(
    const char* hook,
    const struct WSLSessionInformation* session,
    const struct WSLVmCreationSettings* settings,
    const struct WSLDistributionInformation* distro,
    const struct WslOfflineDistributionInformation* offline)
{
    HRESULT result = S_OK;
    logline(hook, "called");
    for (int i = 0; i < g_nlines; i++)
    {
        char line[LINE_LEN];
        memcpy(line, g_lines[i], LINE_LEN);
        const char* argv[32];
        int argc = split(line, argv, 32);
        if (argc < 2 || strcmp(argv[0], hook) != 0)
        {
            continue;
        }
        const char* op = argv[1];
        if (strcmp(op, "return") == 0 && argc > 2)
        {
            result = (HRESULT)strtoul(argv[2], NULL, 16);
        }
        else if (strcmp(op, "info") == 0)
        {
            logline(
                hook,
                "session id=%u token=%s sid=%s uid=%u",
                session->SessionId,
                session->UserToken != NULL ? "set" : "NULL",
                session->UserSid != NULL ? "set" : "NULL",
                session->UserToken != NULL ? *(const uint32_t*)session->UserToken : 0u);
            if (settings != NULL)
            {
                logline(hook, "flags=%d", (int)settings->CustomConfigurationFlags);
            }
            if (distro != NULL)
            {
                log_distro(hook, &distro->Id, distro->Name, distro->PackageFamilyName, distro->Flavor, distro->Version);
                logline(hook, "pidns=%llu initpid=%u", (unsigned long long)distro->PidNamespace, distro->InitPid);
            }
            if (offline != NULL)
            {
                log_distro(hook, &offline->Id, offline->Name, offline->PackageFamilyName, offline->Flavor, offline->Version);
            }
        }
        else if (strcmp(op, "error") == 0 && argc > 2)
        {
            /* The message is the rest of the original line. */
            const char* text = strstr(g_lines[i], " error ") + 7;
            wchar_t w[256];
            wide_from(w, 256, text);
            logline(hook, "PluginError=0x%08x", (unsigned)g_api->PluginError(w));
        }
        else if (strcmp(op, "error_null") == 0)
        {
            logline(hook, "PluginError(NULL)=0x%08x", (unsigned)g_api->PluginError(NULL));
        }
        else if (strcmp(op, "error_thread") == 0 && argc > 2)
        {
            struct thread_arg a = {argv[2], S_OK};
            pthread_t t;
            pthread_create(&t, NULL, error_thread, &a);
            pthread_join(t, NULL);
            logline(hook, "PluginError(thread)=0x%08x", (unsigned)a.hr);
        }
        else if (strcmp(op, "exec") == 0 && argc > 2)
        {
            SOCKET s = INVALID_SOCKET;
            HRESULT hr = g_api->ExecuteBinary(session->SessionId, argv[2], (LPCSTR*)&argv[2], &s);
            talk(hook, "exec", hr, s);
        }
        else if (strcmp(op, "exec_bogus") == 0 && argc > 2)
        {
            SOCKET s = INVALID_SOCKET;
            HRESULT hr = g_api->ExecuteBinary(session->SessionId + 100000, argv[2], (LPCSTR*)&argv[2], &s);
            talk(hook, "exec_bogus", hr, s);
        }
        else if (strcmp(op, "exec_distro") == 0 && argc > 3)
        {
            GUID zero;
            memset(&zero, 0, sizeof(zero));
            const GUID* g = NULL;
            if (strcmp(argv[2], "self") == 0)
            {
                g = distro != NULL ? &distro->Id : (offline != NULL ? &offline->Id : &zero);
            }
            else if (strcmp(argv[2], "zero") == 0)
            {
                g = &zero;
            }
            SOCKET s = INVALID_SOCKET;
            HRESULT hr = g_api->ExecuteBinaryInDistribution(session->SessionId, g, argv[3], (LPCSTR*)&argv[3], &s);
            talk(hook, "exec_distro", hr, s);
        }
        else if (strcmp(op, "mount") == 0 && argc > 3)
        {
            wchar_t host[512], vm[512], name[64];
            wide_from(host, 512, argv[2]);
            wide_from(vm, 512, argv[3]);
            wide_from(name, 64, g_tag);
            logline(hook, "mount=0x%08x", (unsigned)g_api->MountFolder(session->SessionId, host, vm, TRUE, name));
        }
        else if (strcmp(op, "wslc") == 0)
        {
            WSLCProcessHandle process = NULL;
            HANDLE h = NULL;
            int code = 0;
            const char* args[] = {"/bin/true", NULL};
            logline(
                hook,
                "wslc mount=0x%08x unmount=0x%08x create=0x%08x getfd=0x%08x exitevent=0x%08x exitcode=0x%08x",
                (unsigned)g_api->WSLCMountFolder(1, L"/tmp", "/mnt/x", TRUE),
                (unsigned)g_api->WSLCUnmountFolder(1, "/mnt/x"),
                (unsigned)g_api->WSLCCreateProcess(1, "/bin/true", args, NULL, &process, &code),
                (unsigned)g_api->WSLCProcessGetFd(process, WSLCProcessFdStdout, &h),
                (unsigned)g_api->WSLCProcessGetExitEvent(process, &h),
                (unsigned)g_api->WSLCProcessGetExitCode(process, &code));
            g_api->WSLCReleaseProcess(process);
        }
    }
    return result;
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* Session, const struct WSLVmCreationSettings* Settings)
{
    return run("OnVMStarted", Session, Settings, NULL, NULL);
}

static HRESULT OnVMStopping(const struct WSLSessionInformation* Session)
{
    return run("OnVMStopping", Session, NULL, NULL, NULL);
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* Session, const struct WSLDistributionInformation* Distro)
{
    return run("OnDistributionStarted", Session, NULL, Distro, NULL);
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* Session, const struct WSLDistributionInformation* Distro)
{
    return run("OnDistributionStopping", Session, NULL, Distro, NULL);
}

static HRESULT OnDistributionRegistered(const struct WSLSessionInformation* Session, const struct WslOfflineDistributionInformation* Distro)
{
    return run("OnDistributionRegistered", Session, NULL, NULL, Distro);
}

static HRESULT OnDistributionUnregistered(const struct WSLSessionInformation* Session, const struct WslOfflineDistributionInformation* Distro)
{
    return run("OnDistributionUnregistered", Session, NULL, NULL, Distro);
}

static HRESULT run_wslc(const char* hook, const struct WSLCSessionInformation* session, LPCSTR text)
{
    HRESULT result = S_OK;
    logline(hook, "called");
    for (int i = 0; i < g_nlines; i++)
    {
        char line[LINE_LEN];
        memcpy(line, g_lines[i], LINE_LEN);
        const char* argv[32];
        int argc = split(line, argv, 32);
        if (argc < 2 || strcmp(argv[0], hook) != 0)
        {
            continue;
        }
        const char* op = argv[1];
        if (strcmp(op, "return") == 0 && argc > 2)
        {
            result = (HRESULT)strtoul(argv[2], NULL, 16);
        }
        else if (strcmp(op, "info") == 0)
        {
            logline(
                hook,
                "wslc session id=%u name=%ls pid=%u token=%s sid=%s",
                session->SessionId,
                session->DisplayName == NULL ? L"NULL" : session->DisplayName,
                session->ApplicationPid,
                session->UserToken != NULL ? "set" : "NULL",
                session->UserSid != NULL ? "set" : "NULL");
            if (text != NULL)
            {
                logline(hook, "text=%s", text);
            }
        }
        else if (strcmp(op, "error") == 0 && argc > 2)
        {
            const char* msg = strstr(g_lines[i], " error ") + 7;
            wchar_t w[256];
            wide_from(w, 256, msg);
            logline(hook, "PluginError=0x%08x", (unsigned)g_api->PluginError(w));
        }
    }
    return result;
}

static HRESULT OnSessionCreated(const struct WSLCSessionInformation* Session)
{
    return run_wslc("OnSessionCreated", Session, NULL);
}

static HRESULT OnSessionStopping(const struct WSLCSessionInformation* Session)
{
    return run_wslc("OnSessionStopping", Session, NULL);
}

static HRESULT ContainerStarted(const struct WSLCSessionInformation* Session, LPCSTR Inspect)
{
    return run_wslc("ContainerStarted", Session, Inspect);
}

static HRESULT ContainerStopping(const struct WSLCSessionInformation* Session, LPCSTR Id)
{
    return run_wslc("ContainerStopping", Session, Id);
}

static HRESULT ImageCreated(const struct WSLCSessionInformation* Session, LPCSTR Inspect)
{
    return run_wslc("ImageCreated", Session, Inspect);
}

static HRESULT ImageDeleted(const struct WSLCSessionInformation* Session, LPCSTR Id)
{
    return run_wslc("ImageDeleted", Session, Id);
}

static HRESULT WslcVmStarted(const struct WSLCSessionInformation* Session)
{
    return run_wslc("WslcVmStarted", Session, NULL);
}

static HRESULT WslcVmStopping(const struct WSLCSessionInformation* Session)
{
    return run_wslc("WslcVmStopping", Session, NULL);
}

static void read_config(void)
{
    Dl_info info;
    char self[4096] = "";
    if (dladdr((void*)&read_config, &info) != 0 && info.dli_fname != NULL)
    {
        /* Through /proc/self/fd/N this resolves to the real file, as SPEC §3 promises. */
        if (realpath(info.dli_fname, self) == NULL)
        {
            snprintf(self, sizeof(self), "%s", info.dli_fname);
        }
    }
    snprintf(g_log, sizeof(g_log), "%s.log", self);
    char conf[4200];
    snprintf(conf, sizeof(conf), "%s.conf", self);
    FILE* f = fopen(conf, "re");
    if (f == NULL)
    {
        return;
    }
    char line[LINE_LEN];
    while (fgets(line, sizeof(line), f) != NULL)
    {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "tag ", 4) == 0)
        {
            snprintf(g_tag, sizeof(g_tag), "%s", line + 4);
        }
        else if (strncmp(line, "log ", 4) == 0)
        {
            snprintf(g_log, sizeof(g_log), "%s", line + 4);
        }
        else if (strncmp(line, "entry ", 6) == 0)
        {
            g_entry_result = (HRESULT)strtoul(line + 6, NULL, 16);
        }
        else if (line[0] != '\0' && g_nlines < MAX_LINES)
        {
            memcpy(g_lines[g_nlines++], line, LINE_LEN);
        }
    }
    fclose(f);
    logline("entry", "self=%s", self);
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* Api, struct WSLPluginHooksV1* Hooks)
{
    /* As WSL's sample plugin does: refuse hosts older than the API we use. */
    WSL_PLUGIN_REQUIRE_VERSION(2, 1, 2, Api);
    g_api = Api;
    read_config();

    /* The tail of the hooks table must arrive zeroed. */
    int nonzero = 0;
    const unsigned char* raw = (const unsigned char*)Hooks;
    for (size_t i = 0; i < sizeof(*Hooks); i++)
    {
        nonzero += raw[i] != 0;
    }
    int api_set = (Api->MountFolder != NULL) + (Api->ExecuteBinary != NULL) + (Api->PluginError != NULL) +
                  (Api->ExecuteBinaryInDistribution != NULL) + (Api->WSLCMountFolder != NULL) +
                  (Api->WSLCUnmountFolder != NULL) + (Api->WSLCCreateProcess != NULL) + (Api->WSLCProcessGetFd != NULL) +
                  (Api->WSLCProcessGetExitEvent != NULL) + (Api->WSLCProcessGetExitCode != NULL) +
                  (Api->WSLCReleaseProcess != NULL);
    logline(
        "entry",
        "version=%u.%u.%u api_set=%d hooks_nonzero=%d PluginError=0x%08x",
        Api->Version.Major,
        Api->Version.Minor,
        Api->Version.Revision,
        api_set,
        nonzero,
        (unsigned)Api->PluginError(L"too early"));

    Hooks->OnVMStarted = OnVMStarted;
    Hooks->OnVMStopping = OnVMStopping;
    Hooks->OnDistributionStarted = OnDistributionStarted;
    Hooks->OnDistributionStopping = OnDistributionStopping;
    Hooks->OnDistributionRegistered = OnDistributionRegistered;
    Hooks->OnDistributionUnregistered = OnDistributionUnregistered;
    Hooks->OnSessionCreated = OnSessionCreated;
    Hooks->OnSessionStopping = OnSessionStopping;
    Hooks->ContainerStarted = ContainerStarted;
    Hooks->ContainerStopping = ContainerStopping;
    Hooks->ImageCreated = ImageCreated;
    Hooks->ImageDeleted = ImageDeleted;
    Hooks->WslcVmStarted = WslcVmStarted;
    Hooks->WslcVmStopping = WslcVmStopping;
    return g_entry_result;
}

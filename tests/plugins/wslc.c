/*
 * The WSLC plugin of the end-to-end tests (SPEC §11), in the manner of
 * Microsoft's Wslc* plugin tests. It logs every WSLC hook, one line each,
 * to LOG_PATH, and acts on what it sees:
 *
 *   LOG_PATH="..."            where to log (required)
 *   DENY_SESSION="name"       OnSessionCreated refuses this session, with a message
 *   CRASH_IN_VM_STARTED       WslcVmStarted dereferences NULL (SPEC §8 isolation)
 *   SHARE="/host/dir"         call every WSLC function with their errors: in
 *                             OnSessionCreated (no VM yet), in WslcVmStarted
 *                             (a read-only mount of SHARE, a process with its
 *                             three sockets and exit event, one left running),
 *                             and in OnSessionStopping (that one's exit code
 *                             after the VM went)
 *
 * ContainerStarted refuses a container labelled wslp.test/deny=true with
 * PluginError and E_ACCESSDENIED, as a container-policy plugin does.
 */
#include <WslPluginApi.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WIDEN2(x) L##x
#define WIDEN(x) WIDEN2(x)

static const struct WSLPluginAPIV1* g_api;

static void logf_(const char* fmt, ...)
{
    FILE* f = fopen(LOG_PATH, "a");
    if (f == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static void log_session(const char* hook, const struct WSLCSessionInformation* s)
{
    char name[128];
    snprintf(name, sizeof(name), "%ls", s->DisplayName != NULL ? s->DisplayName : L"NULL");
    logf_("%s id=%u name=%s pid=%s token=%s sid=%s", hook, s->SessionId, name, s->ApplicationPid != 0 ? "set" : "0",
          s->UserToken != NULL ? "set" : "NULL", s->UserSid != NULL ? "set" : "NULL");
}

#ifdef SHARE
static WSLCProcessHandle g_left_running;

/* Everything a stream gives until EOF, newlines as '|'. */
static void drain(HANDLE h, char* buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(WSLP_HANDLE_FD(h), buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            buf[i] = '|';
}

static void calls_without_vm(const struct WSLCSessionInformation* s)
{
    WSLCProcessHandle p = NULL;
    int err = 12345;
    HRESULT hr = g_api->WSLCCreateProcess(s->SessionId, "/bin/true", NULL, NULL, &p, &err);
    logf_("call create_no_vm=0x%08x errno=%d", (unsigned)hr, err);
    logf_("call mount_no_vm=0x%08x", (unsigned)g_api->WSLCMountFolder(s->SessionId, WIDEN(SHARE), "/mnt/x", TRUE));
}

static void calls(const struct WSLCSessionInformation* s)
{
    const DWORD id = s->SessionId;
    logf_("call mount_null=0x%08x", (unsigned)g_api->WSLCMountFolder(id, NULL, "/mnt/x", TRUE));
    logf_("call mount_bad_session=0x%08x", (unsigned)g_api->WSLCMountFolder(id + 1000, WIDEN(SHARE), "/mnt/x", TRUE));
    logf_("call mount_relative=0x%08x", (unsigned)g_api->WSLCMountFolder(id, L"tmp", "/mnt/x", TRUE));
    logf_("call mount_missing=0x%08x", (unsigned)g_api->WSLCMountFolder(id, L"/nonexistent-wslp", "/mnt/x", TRUE));
    logf_("call mount_bad_point=0x%08x", (unsigned)g_api->WSLCMountFolder(id, WIDEN(SHARE), "mnt/x", TRUE));
    logf_("call mount=0x%08x", (unsigned)g_api->WSLCMountFolder(id, WIDEN(SHARE), "/mnt/share", TRUE));
    logf_("call mount_again=0x%08x", (unsigned)g_api->WSLCMountFolder(id, WIDEN(SHARE), "/mnt/share", TRUE));
    logf_("call unmount_unknown=0x%08x", (unsigned)g_api->WSLCUnmountFolder(id, "/mnt/none"));
    logf_("call unmount_null=0x%08x", (unsigned)g_api->WSLCUnmountFolder(id, NULL));

    WSLCProcessHandle p = NULL;
    int err = 12345;
    const char* missing[] = {"/nonexistent-wslp", NULL};
    HRESULT hr = g_api->WSLCCreateProcess(id, "/nonexistent-wslp", missing, NULL, &p, &err);
    logf_("call create_missing=0x%08x errno=%d", (unsigned)hr, err);
    err = 12345;
    hr = g_api->WSLCCreateProcess(id, "/proc/version", NULL, NULL, &p, &err);
    logf_("call create_not_executable=0x%08x errno=%d", (unsigned)hr, err);
    err = 12345;
    hr = g_api->WSLCCreateProcess(id + 1000, "/bin/true", NULL, NULL, &p, &err);
    logf_("call create_bad_session=0x%08x errno=%d", (unsigned)hr, err);
    logf_("call create_null=0x%08x", (unsigned)g_api->WSLCCreateProcess(id, NULL, NULL, NULL, &p, &err));

    const char* args[] = {
        "sh", "-c",
        "cat /mnt/share/file; touch /mnt/share/new 2>/dev/null && echo writable || echo read-only; "
        "mount -o remount,rw /mnt/share 2>/dev/null; "
        "touch /mnt/share/new2 2>/dev/null && echo rw-after-remount || echo ro-after-remount; "
        "read line; echo \"stdin=$line env=$WSLP_TEST cwd=$(pwd) uid=$(id -u)\"; "
        "echo to-stderr >&2; exit 5",
        NULL};
    const char* env[] = {"WSLP_TEST=yes", NULL};
    err = 12345;
    hr = g_api->WSLCCreateProcess(id, "/bin/sh", args, env, &p, &err);
    logf_("call create=0x%08x errno=%d", (unsigned)hr, err);
    int code = 12345;
    /* It waits for a line on stdin: still running. */
    hr = g_api->WSLCProcessGetExitCode(p, &code);
    logf_("call exitcode_running=0x%08x code=%d", (unsigned)hr, code);
    HANDLE in = NULL, out = NULL, errh = NULL, ev = NULL, other = NULL;
    logf_("call getfd3=0x%08x", (unsigned)g_api->WSLCProcessGetFd(p, (WSLCProcessFd)3, &other));
    g_api->WSLCProcessGetFd(p, WSLCProcessFdStdin, &in);
    logf_("call getfd_again=0x%08x", (unsigned)g_api->WSLCProcessGetFd(p, WSLCProcessFdStdin, &other));
    g_api->WSLCProcessGetFd(p, WSLCProcessFdStdout, &out);
    g_api->WSLCProcessGetFd(p, WSLCProcessFdStderr, &errh);
    logf_("call exitevent=0x%08x", (unsigned)g_api->WSLCProcessGetExitEvent(p, &ev));
    logf_("call wait_running=%u", (unsigned)WaitForSingleObject(ev, 50));
    if (write(WSLP_HANDLE_FD(in), "hello\n", 6) != 6)
        logf_("call write failed");
    CloseHandle(in);
    char buf[1024];
    drain(out, buf, sizeof(buf));
    logf_("call stdout=%s", buf);
    drain(errh, buf, sizeof(buf));
    logf_("call stderr=%s", buf);
    CloseHandle(out);
    CloseHandle(errh);
    logf_("call wait=%u", (unsigned)WaitForSingleObject(ev, 10000));
    CloseHandle(ev);
    hr = g_api->WSLCProcessGetExitCode(p, &code);
    logf_("call exitcode=0x%08x code=%d", (unsigned)hr, code);
    g_api->WSLCReleaseProcess(p);
    g_api->WSLCReleaseProcess(NULL);
    logf_("call unmount=0x%08x", (unsigned)g_api->WSLCUnmountFolder(id, "/mnt/share"));
    logf_("call unmount_again=0x%08x", (unsigned)g_api->WSLCUnmountFolder(id, "/mnt/share"));

    /* One that outlives the VM: 137 once it went. */
    const char* sleeper[] = {"sleep", "1000", NULL};
    hr = g_api->WSLCCreateProcess(id, "sleep", sleeper, NULL, &g_left_running, &err);
    logf_("call create_sleeper=0x%08x", (unsigned)hr);
}

static void calls_after_vm(void)
{
    HANDLE ev = NULL;
    int code = 12345;
    g_api->WSLCProcessGetExitEvent(g_left_running, &ev);
    logf_("call sleeper_wait=%u", (unsigned)WaitForSingleObject(ev, 10000));
    CloseHandle(ev);
    HRESULT hr = g_api->WSLCProcessGetExitCode(g_left_running, &code);
    logf_("call sleeper_exitcode=0x%08x code=%d", (unsigned)hr, code);
    g_api->WSLCReleaseProcess(g_left_running);
}
#endif

static HRESULT OnSessionCreated(const struct WSLCSessionInformation* s)
{
    log_session("OnSessionCreated", s);
#ifdef SHARE
    calls_without_vm(s);
#endif
#ifdef DENY_SESSION
    char name[128];
    snprintf(name, sizeof(name), "%ls", s->DisplayName);
    if (strcmp(name, DENY_SESSION) == 0)
    {
        g_api->PluginError(L"sessions with this name are not allowed");
        return E_ACCESSDENIED;
    }
#endif
    return S_OK;
}

static HRESULT OnSessionStopping(const struct WSLCSessionInformation* s)
{
    log_session("OnSessionStopping", s);
#ifdef SHARE
    calls_after_vm();
#endif
    return S_OK;
}

static HRESULT WslcVmStarted(const struct WSLCSessionInformation* s)
{
    log_session("WslcVmStarted", s);
#ifdef SHARE
    calls(s);
#endif
#ifdef CRASH_IN_VM_STARTED
    volatile int* p = NULL;
    *p = 1;
#endif
    return S_OK;
}

static HRESULT WslcVmStopping(const struct WSLCSessionInformation* s)
{
    log_session("WslcVmStopping", s);
#ifdef SHARE
    /* The VM is still there. */
    WSLCProcessHandle p = NULL;
    int err = 0;
    const char* args[] = {"true", NULL};
    logf_("call create_in_stopping=0x%08x", (unsigned)g_api->WSLCCreateProcess(s->SessionId, "true", args, NULL, &p, &err));
    g_api->WSLCReleaseProcess(p);
#endif
    return S_OK;
}

static HRESULT ContainerStarted(const struct WSLCSessionInformation* s, LPCSTR inspect)
{
    /* The schema's fields the policy reads: the id and the labels. */
    const char* id = strstr(inspect, "\"Id\":\"");
    logf_("ContainerStarted session=%u id=%.12s running=%s", s->SessionId, id != NULL ? id + 6 : "?",
          strstr(inspect, "\"Running\":true") != NULL ? "true" : "false");
    if (strstr(inspect, "\"wslp.test/deny\":\"true\"") != NULL)
    {
        g_api->PluginError(L"container denied by policy");
        return E_ACCESSDENIED;
    }
    return S_OK;
}

static HRESULT ContainerStopping(const struct WSLCSessionInformation* s, LPCSTR id)
{
    logf_("ContainerStopping session=%u id=%.12s", s->SessionId, id);
    return S_OK;
}

static HRESULT ImageCreated(const struct WSLCSessionInformation* s, LPCSTR inspect)
{
    const char* tags = strstr(inspect, "\"RepoTags\":");
    char buf[64] = "";
    if (tags != NULL)
    {
        snprintf(buf, sizeof(buf), "%s", tags + 11);
        char* end = strchr(buf, ']');
        if (end != NULL)
            end[1] = '\0';
    }
    logf_("ImageCreated session=%u tags=%s", s->SessionId, buf);
    return S_OK;
}

static HRESULT ImageDeleted(const struct WSLCSessionInformation* s, LPCSTR id)
{
    logf_("ImageDeleted session=%u id=%.19s", s->SessionId, id);
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPLUGINAPI_ENTRYPOINTV1(const struct WSLPluginAPIV1* api,
                                                                 struct WSLPluginHooksV1* hooks)
{
    g_api = api;
    hooks->OnSessionCreated = OnSessionCreated;
    hooks->OnSessionStopping = OnSessionStopping;
    hooks->WslcVmStarted = WslcVmStarted;
    hooks->WslcVmStopping = WslcVmStopping;
    hooks->ContainerStarted = ContainerStarted;
    hooks->ContainerStopping = ContainerStopping;
    hooks->ImageCreated = ImageCreated;
    hooks->ImageDeleted = ImageDeleted;
    return S_OK;
}

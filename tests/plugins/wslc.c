/*
 * The WSLC plugin of the end-to-end tests (SPEC §11), in the manner of
 * Microsoft's Wslc* plugin tests. It logs every WSLC hook, one line each,
 * to LOG_PATH, and acts on what it sees:
 *
 *   LOG_PATH="..."            where to log (required)
 *   DENY_SESSION="name"       OnSessionCreated refuses this session, with a message
 *   CRASH_IN_VM_STARTED       WslcVmStarted dereferences NULL (SPEC §8 isolation)
 *
 * ContainerStarted refuses a container labelled wslp.test/deny=true with
 * PluginError and E_ACCESSDENIED, as a container-policy plugin does.
 */
#include <WslPluginApi.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static HRESULT OnSessionCreated(const struct WSLCSessionInformation* s)
{
    log_session("OnSessionCreated", s);
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
    return S_OK;
}

static HRESULT WslcVmStarted(const struct WSLCSessionInformation* s)
{
    log_session("WslcVmStarted", s);
#ifdef CRASH_IN_VM_STARTED
    volatile int* p = NULL;
    *p = 1;
#endif
    return S_OK;
}

static HRESULT WslcVmStopping(const struct WSLCSessionInformation* s)
{
    log_session("WslcVmStopping", s);
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

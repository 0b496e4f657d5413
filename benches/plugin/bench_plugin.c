/*
 * The benchmark's plugin. Built by wslp-bench with gcc.
 *
 * Without macros its hooks do nothing and return S_OK: what is measured is the
 * cost of calling them (cold start, hook dispatch, VM start with N plugins).
 *
 * With -DBENCH_OUT='"path"' its OnVMStarted measures, from inside the hook as a
 * plugin sees it, EXEC_N ExecuteBinary("/bin/true") calls from the call to EOF
 * on the socket, and THR_N ExecuteBinary("/bin/dd" … THR_MIB MiB) reads of the
 * socket to EOF; it writes one line per sample to BENCH_OUT:
 *   exec <ns>
 *   thr <bytes> <ns>
 *
 * With -DWSLC_OUT='"path"' its WslcVmStarted measures WSLC_N
 * WSLCCreateProcess("/bin/true") calls, each from the call through EOF on its
 * stdout and its exit event to its exit code and release, one line each:
 *   wslc <ns>
 */
#include <WslPluginApi.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

static const struct WSLPluginAPIV1* g_api;

#ifdef BENCH_OUT
#ifndef EXEC_N
#define EXEC_N 300
#endif
#ifndef THR_N
#define THR_N 5
#endif
#ifndef THR_MIB
#define THR_MIB 256
#endif
#ifndef READ_BUF
#define READ_BUF (256 * 1024)
#endif

static char g_buf[READ_BUF];

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Reads the socket to EOF; returns the byte count, -1 on an error. */
static long long drain(SOCKET s)
{
    long long total = 0;
    for (;;) {
        ssize_t n = recv(s, g_buf, sizeof g_buf, 0);
        if (n > 0)
            total += n;
        else if (n == 0)
            return total;
        else if (errno != EINTR)
            return -1;
    }
}

static HRESULT run_and_drain(WSLSessionId session, LPCSTR* argv, long long* bytes)
{
    SOCKET sock = INVALID_SOCKET;
    HRESULT hr = g_api->ExecuteBinary(session, argv[0], argv, &sock);
    if (FAILED(hr))
        return hr;
    *bytes = drain(sock);
    closesocket(sock);
    return *bytes < 0 ? E_FAIL : S_OK;
}

static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* settings)
{
    (void)settings;
    FILE* out = fopen(BENCH_OUT, "w");
    if (!out)
        return E_FAIL;
    HRESULT hr = S_OK;
    LPCSTR true_argv[] = {"/bin/true", NULL};
    for (int i = 0; i < EXEC_N + EXEC_N / 10 && SUCCEEDED(hr); i++) {
        long long bytes, t0 = now_ns();
        hr = run_and_drain(s->SessionId, true_argv, &bytes);
        long long t1 = now_ns();
        if (i >= EXEC_N / 10) /* the first tenth warms up */
            fprintf(out, "exec %lld\n", t1 - t0);
    }
    char count[32];
    snprintf(count, sizeof count, "count=%d", THR_MIB);
    LPCSTR dd_argv[] = {"/bin/dd", "if=/dev/zero", "bs=1M", count, "status=none", NULL};
    for (int i = 0; i < THR_N && SUCCEEDED(hr); i++) {
        long long bytes = 0, t0 = now_ns();
        hr = run_and_drain(s->SessionId, dd_argv, &bytes);
        fprintf(out, "thr %lld %lld\n", bytes, now_ns() - t0);
    }
    if (fclose(out) != 0 && SUCCEEDED(hr))
        hr = E_FAIL;
    return hr;
}
#else
static HRESULT OnVMStarted(const struct WSLSessionInformation* s, const struct WSLVmCreationSettings* settings)
{
    (void)s;
    (void)settings;
    return S_OK;
}
#endif

#ifdef WSLC_OUT
#include <unistd.h>
#ifndef WSLC_N
#define WSLC_N 200
#endif

static long long wslc_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static HRESULT WslcVmStarted(const struct WSLCSessionInformation* s)
{
    FILE* out = fopen(WSLC_OUT, "w");
    if (!out)
        return E_FAIL;
    LPCSTR argv[] = {"/bin/true", NULL};
    char buf[4096];
    HRESULT hr = S_OK;
    for (int i = 0; i < WSLC_N + WSLC_N / 10 && SUCCEEDED(hr); i++) {
        long long t0 = wslc_now_ns();
        WSLCProcessHandle p = NULL;
        HANDLE stdout_h = NULL, ev = NULL;
        int err = 0, code = -1;
        hr = g_api->WSLCCreateProcess(s->SessionId, "/bin/true", argv, NULL, &p, &err);
        if (SUCCEEDED(hr))
            hr = g_api->WSLCProcessGetFd(p, WSLCProcessFdStdout, &stdout_h);
        if (SUCCEEDED(hr)) {
            while (read(WSLP_HANDLE_FD(stdout_h), buf, sizeof buf) > 0) {
            }
            CloseHandle(stdout_h);
            hr = g_api->WSLCProcessGetExitEvent(p, &ev);
        }
        if (SUCCEEDED(hr)) {
            WaitForSingleObject(ev, INFINITE);
            CloseHandle(ev);
            hr = g_api->WSLCProcessGetExitCode(p, &code);
        }
        g_api->WSLCReleaseProcess(p);
        long long t1 = wslc_now_ns();
        if (SUCCEEDED(hr) && code != 0)
            hr = E_FAIL;
        if (i >= WSLC_N / 10)
            fprintf(out, "wslc %lld\n", t1 - t0);
    }
    if (fclose(out) != 0 && SUCCEEDED(hr))
        hr = E_FAIL;
    return hr;
}
#endif

static HRESULT OnVMStopping(const struct WSLSessionInformation* s)
{
    (void)s;
    return S_OK;
}

static HRESULT OnDistributionStarted(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)s;
    (void)d;
    return S_OK;
}

static HRESULT OnDistributionStopping(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)s;
    (void)d;
    return S_OK;
}

EXTERN_C __declspec(dllexport) HRESULT WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    WSL_PLUGIN_REQUIRE_VERSION(2, 1, 2, api);
    g_api = api;
    hooks->OnVMStarted = OnVMStarted;
    hooks->OnVMStopping = OnVMStopping;
    hooks->OnDistributionStarted = OnDistributionStarted;
    hooks->OnDistributionStopping = OnDistributionStopping;
#ifdef WSLC_OUT
    hooks->WslcVmStarted = WslcVmStarted;
#endif
    return S_OK;
}

/*
 * WaitForSingleObject as a plugin built under strict ISO C gets it: without
 * POSIX clocks declared, the header falls back to C11's timespec_get (-std=c11)
 * or to no clock at all (-std=c99). tests/handles.rs builds this file with
 * -DWAIT_NAME=wait_c11 -std=c11 and -DWAIT_NAME=wait_c99 -std=c99 and links it
 * with handles.c, which runs the same checks through each.
 */
#include "WslPluginApi.h"

#if defined(CLOCK_MONOTONIC)
#error "built with POSIX clocks declared: the fallback this file is for is not exercised"
#endif
#if defined(EXPECT_C11_CLOCK) != defined(TIME_UTC)
#error "C11's TIME_UTC is not where it was expected"
#endif

DWORD WAIT_NAME(HANDLE h, DWORD ms)
{
    return WaitForSingleObject(h, ms);
}

/*
 * Stand-in for <windows.h> when tests/msft_header.rs compiles Microsoft's
 * WslPluginApi.h (inside `namespace msft`) next to wslp's include/WslPluginApi.h.
 *
 * The Windows types are written here as SPEC section 1 maps them, independently
 * of wslp's header, so a wrong mapping there shows up as a type mismatch. The
 * macros Microsoft's header uses (MAKE_HRESULT, SEVERITY_ERROR, FACILITY_ITF,
 * DEFINE_ENUM_FLAG_OPERATORS) are deliberately left to wslp's header: it must
 * provide them in place of <windows.h>.
 */
typedef int32_t HRESULT;
typedef uint32_t DWORD;
typedef int32_t BOOL;
typedef const wchar_t* LPCWSTR;
typedef const char* LPCSTR;
typedef int SOCKET;
typedef void* HANDLE;
typedef void* PSID;
typedef struct _GUID
{
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;

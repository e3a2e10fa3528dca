using System.Runtime.InteropServices;

namespace Dynamo.Transfer.Backends.Ucx;

/// <summary>
/// The slice of UCX's <c>libucp</c> API the UCX backend uses. Struct layouts are those of the 1.13 headers
/// (Debian <c>libucx-dev</c>), checked with offsetof against the installed headers; every struct starts with a
/// field mask, so a newer library reads only the fields set here and an older one (≥ 1.10) has them all.
/// </summary>
internal static unsafe partial class UcxNative
{
    public const string Ucp = "libucp.so.0";
    public const string Ucs = "libucs.so.0";

    // ucs_status_t is a one-byte enum in these headers.
    public const sbyte Ok = 0;
    public const sbyte InProgress = 1;
    public const sbyte ErrBusy = -15;
    public const sbyte ErrCanceled = -16;
    private const nint ErrLast = -100;

    public const ulong FeatureRma = 1 << 1;
    public const ulong FeatureWakeup = 1 << 4;
    public const ulong FeatureAm = 1 << 6;

    public const ulong ParamFieldFeatures = 1 << 0;
    public const ulong ParamFieldMtWorkersShared = 1 << 5;
    public const ulong ParamFieldName = 1 << 8;

    public const ulong WorkerParamFieldThreadMode = 1 << 0;
    public const int ThreadModeSingle = 0;

    public const ulong EpParamFieldRemoteAddress = 1 << 0;
    public const ulong EpParamFieldErrHandlingMode = 1 << 1;
    public const ulong EpParamFieldErrHandler = 1 << 2;
    public const int ErrHandlingModePeer = 1;

    public const uint EpCloseFlagForce = 1 << 0;

    public const ulong MemMapParamFieldAddress = 1 << 0;
    public const ulong MemMapParamFieldLength = 1 << 1;
    public const ulong MemMapParamFieldProt = 1 << 3;
    public const uint ProtLocalRead = 1 << 0;
    public const uint ProtLocalWrite = 1 << 1;
    public const uint ProtRemoteRead = 1 << 8;
    public const uint ProtRemoteWrite = 1 << 9;

    public const uint OpAttrFieldFlags = 1 << 4;
    public const uint AmSendFlagEager = 1 << 1;

    public const ulong AmHandlerParamFieldId = 1 << 0;
    public const ulong AmHandlerParamFieldFlags = 1 << 1;
    public const ulong AmHandlerParamFieldCb = 1 << 2;
    public const ulong AmHandlerParamFieldArg = 1 << 3;
    public const uint AmFlagWholeMsg = 1 << 0;
    public const ulong AmRecvAttrFlagRndv = 1UL << 17;

    [StructLayout(LayoutKind.Explicit, Size = 80)]
    public struct UcpParams
    {
        [FieldOffset(0)] public ulong FieldMask;
        [FieldOffset(8)] public ulong Features;
        [FieldOffset(48)] public int MtWorkersShared;
        [FieldOffset(72)] public byte* Name;
    }

    [StructLayout(LayoutKind.Explicit, Size = 200)]
    public struct WorkerParams
    {
        [FieldOffset(0)] public ulong FieldMask;
        [FieldOffset(8)] public int ThreadMode;
    }

    [StructLayout(LayoutKind.Explicit, Size = 104)]
    public struct EpParams
    {
        [FieldOffset(0)] public ulong FieldMask;
        [FieldOffset(8)] public nint Address;
        [FieldOffset(16)] public int ErrMode;
        [FieldOffset(24)] public delegate* unmanaged<nint, nint, sbyte, void> ErrHandlerCallback;
        [FieldOffset(32)] public nint ErrHandlerArg;
    }

    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public struct MemMapParams
    {
        [FieldOffset(0)] public ulong FieldMask;
        [FieldOffset(8)] public nint Address;
        [FieldOffset(16)] public nuint Length;
        [FieldOffset(24)] public uint Flags;
        [FieldOffset(28)] public uint Prot;
    }

    [StructLayout(LayoutKind.Explicit, Size = 72)]
    public struct RequestParam
    {
        [FieldOffset(0)] public uint OpAttrMask;
        [FieldOffset(4)] public uint Flags;
    }

    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public struct AmHandlerParam
    {
        [FieldOffset(0)] public ulong FieldMask;
        [FieldOffset(8)] public uint Id;
        [FieldOffset(12)] public uint Flags;
        [FieldOffset(16)] public delegate* unmanaged<nint, nint, nuint, nint, nuint, AmRecvParam*, sbyte> Callback;
        [FieldOffset(24)] public nint Arg;
    }

    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public struct AmRecvParam
    {
        [FieldOffset(0)] public ulong RecvAttr;
        [FieldOffset(8)] public nint ReplyEp;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>NULL: done at once; an error code cast to a pointer: failed; anything else: a request to poll.</summary>
    public static bool IsError(nint statusPointer) => (nuint)statusPointer >= unchecked((nuint)ErrLast);

    public static sbyte ErrorOf(nint statusPointer) => unchecked((sbyte)statusPointer);

    public static bool IsRequest(nint statusPointer) => statusPointer != 0 && !IsError(statusPointer);

    public static string StatusText(sbyte status)
    {
        try
        {
            return $"{Marshal.PtrToStringUTF8((nint)ucs_status_string(status))} ({status})";
        }
        catch (DllNotFoundException)
        {
            return $"UCS status {status}";
        }
    }

    [LibraryImport(Ucp)]
    public static partial void ucp_get_version(uint* major, uint* minor, uint* release);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_config_read(byte* envPrefix, byte* filename, nint* config);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_config_modify(nint config, byte* name, byte* value);

    [LibraryImport(Ucp)]
    public static partial void ucp_config_release(nint config);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_init_version(uint apiMajor, uint apiMinor, UcpParams* parameters, nint config, nint* context);

    [LibraryImport(Ucp)]
    public static partial void ucp_cleanup(nint context);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_worker_create(nint context, WorkerParams* parameters, nint* worker);

    [LibraryImport(Ucp)]
    public static partial void ucp_worker_destroy(nint worker);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_worker_get_address(nint worker, nint* address, nuint* length);

    [LibraryImport(Ucp)]
    public static partial void ucp_worker_release_address(nint worker, nint address);

    [LibraryImport(Ucp)]
    public static partial uint ucp_worker_progress(nint worker);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_worker_get_efd(nint worker, int* fd);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_worker_arm(nint worker);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_worker_signal(nint worker);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_worker_set_am_recv_handler(nint worker, AmHandlerParam* parameters);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_ep_create(nint worker, EpParams* parameters, nint* ep);

    [LibraryImport(Ucp)]
    public static partial nint ucp_ep_close_nbx(nint ep, RequestParam* parameters);

    [LibraryImport(Ucp)]
    public static partial nint ucp_ep_flush_nbx(nint ep, RequestParam* parameters);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_mem_map(nint context, MemMapParams* parameters, nint* memh);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_mem_unmap(nint context, nint memh);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_rkey_pack(nint context, nint memh, nint* rkeyBuffer, nuint* size);

    [LibraryImport(Ucp)]
    public static partial void ucp_rkey_buffer_release(nint rkeyBuffer);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_ep_rkey_unpack(nint ep, byte* rkeyBuffer, nint* rkey);

    [LibraryImport(Ucp)]
    public static partial void ucp_rkey_destroy(nint rkey);

    [LibraryImport(Ucp)]
    public static partial nint ucp_get_nbx(nint ep, nint buffer, nuint count, ulong remoteAddress, nint rkey, RequestParam* parameters);

    [LibraryImport(Ucp)]
    public static partial nint ucp_put_nbx(nint ep, nint buffer, nuint count, ulong remoteAddress, nint rkey, RequestParam* parameters);

    [LibraryImport(Ucp)]
    public static partial nint ucp_am_send_nbx(nint ep, uint id, nint header, nuint headerLength, nint buffer, nuint count, RequestParam* parameters);

    [LibraryImport(Ucp)]
    public static partial sbyte ucp_request_check_status(nint request);

    [LibraryImport(Ucp)]
    public static partial void ucp_request_free(nint request);

    [LibraryImport(Ucs)]
    public static partial byte* ucs_status_string(sbyte status);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    private static int s_prepared;

    /// <summary>
    /// UCX settings this process needs, applied where the user has not set them (except the first, always).
    /// </summary>
    /// <remarks>
    /// <para><c>UCX_ERROR_SIGNALS</c> cleared: UCX installs handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE that print
    /// a backtrace and kill the process; .NET turns SIGSEGV into <see cref="NullReferenceException"/>, so with UCX's
    /// handlers any null dereference anywhere in the process becomes a crash (checked against UCX 1.13.1).</para>
    /// <para><c>UCX_MEM_EVENTS=no</c>, <c>UCX_MEM_MALLOC_HOOKS=no</c>, <c>UCX_MEM_MMAP_HOOK_MODE=none</c>: by default
    /// UCX's memory hooks (UCM) rewrite the first instructions of libc's <c>mmap</c>, <c>munmap</c>, <c>madvise</c>,
    /// <c>brk</c> and malloc's entry points at run time ("bistro" patching), to keep its registration cache in step
    /// with unmapped memory. Rewriting code that other threads may be executing is a race (UCX fixed one instance in
    /// PR 5855), and a .NET process always has other threads unmapping memory (the GC). A test host running UCX under
    /// load crashed with a jump to address 0 from a thread calling a function with (address, 4096), an
    /// <c>munmap</c>-shaped call, and earlier Engine.Tests runs beside UCX died with "stack smashing detected". This
    /// backend registers its regions once, explicitly (<c>ucp_mem_map</c>), and needs no registration cache, so the
    /// hooks are turned off; UCX then runs without the cache (its <c>RCACHE_ENABLE</c> default, <c>try</c>).</para>
    /// <para>Must run before <c>libucs</c> is first loaded: it reads these when loaded. The native environment is what
    /// UCX reads (not .NET's copy), hence <c>setenv</c>.</para>
    /// </remarks>
    public static void PrepareEnvironment()
    {
        if (Interlocked.Exchange(ref s_prepared, 1) == 0)
        {
            setenv("UCX_ERROR_SIGNALS", "", 1);
            foreach (var (name, value) in MemoryHookSettings)
            {
                setenv(name, value, 0);
            }
        }
    }

    /// <summary>The UCX memory-hook settings <see cref="PrepareEnvironment"/> applies unless the user set them.</summary>
    public static readonly (string Name, string Value)[] MemoryHookSettings =
    [
        ("UCX_MEM_EVENTS", "no"),
        ("UCX_MEM_MALLOC_HOOKS", "no"),
        ("UCX_MEM_MMAP_HOOK_MODE", "none"),
    ];

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint getenv(string name);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMilliseconds);
}

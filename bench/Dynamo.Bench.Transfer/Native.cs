using System.Runtime.InteropServices;

namespace Dynamo.Bench.Transfer;

/// <summary>Page-aligned native memory, touched once so page faults stay out of the measurements.</summary>
internal sealed unsafe class Native : IDisposable
{
    public Native(long length)
    {
        Length = length;
        Address = (nint)NativeMemory.AlignedAlloc((nuint)length, 4096);
        NativeMemory.Fill((void*)Address, (nuint)length, 0x5a);
    }

    public nint Address { get; private set; }

    public long Length { get; }

    public void Dispose()
    {
        if (Address != 0)
        {
            NativeMemory.AlignedFree((void*)Address);
            Address = 0;
        }
    }
}

using System.Runtime.InteropServices;

namespace Dynamo.Transfer.Tests;

/// <summary>Page-aligned native memory filled with seeded random bytes, like the engine's KV pool.</summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    private byte* _pointer;

    public NativeBuffer(long length, int? seed = null)
    {
        Length = length;
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)length, 4096);
        if (seed is { } s)
        {
            new Random(s).NextBytes(Span);
        }
        else
        {
            Span.Clear();
        }
    }

    public nint Address => (nint)_pointer;

    public long Length { get; }

    public Span<byte> Span => new(_pointer, checked((int)Length));

    public Span<byte> Slice(long offset, long length) => new(_pointer + offset, checked((int)length));

    public void Dispose()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}

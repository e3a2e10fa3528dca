using System.Buffers;

namespace Dynamo.Transfer.Backends;

/// <summary>
/// A <see cref="Memory{T}"/> over native memory for socket calls, re-pointed before each call: one per connection,
/// so moving a block costs no allocation. Only valid while the operation that uses it runs; the owner never
/// re-points it while one is pending.
/// </summary>
internal sealed unsafe class PointerMemoryManager : MemoryManager<byte>
{
    /// <summary>Socket calls take an int length; ranges are cut into pieces of at most this.</summary>
    public const int MaxLength = 1 << 30;

    private byte* _pointer;
    private int _length;

    public Memory<byte> Point(ulong address, int length)
    {
        _pointer = (byte*)(nuint)address;
        _length = length;
        return Memory;
    }

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        _pointer = null;
        _length = 0;
    }
}

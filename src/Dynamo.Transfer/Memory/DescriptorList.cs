using System.Collections;

namespace Dynamo.Transfer.Memory;

/// <summary>
/// An ordered list of descriptors (NIXL's <c>nixl_xfer_dlist_t</c>). Order matters: the n-th byte of the local list
/// pairs with the n-th byte of the remote list, so the two lists of a transfer must have the same total length but
/// not the same count. <see cref="Merge"/> joins neighbours that are contiguous in memory, so a run of adjacent KV
/// blocks moves as one range. Reusable: <see cref="Clear"/> keeps the storage.
/// </summary>
public sealed class DescriptorList : IReadOnlyList<TransferDescriptor>
{
    private TransferDescriptor[] _items;
    private int _count;

    public DescriptorList(int capacity = 4)
    {
        _items = new TransferDescriptor[Math.Max(capacity, 1)];
    }

    public DescriptorList(IEnumerable<TransferDescriptor> descriptors)
        : this()
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        foreach (var d in descriptors)
        {
            Add(d);
        }
    }

    public int Count => _count;

    public TransferDescriptor this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count)
            {
                throw new ArgumentOutOfRangeException(nameof(index), index, $"index outside 0..{_count - 1}");
            }

            return _items[index];
        }
    }

    /// <summary>Sum of the lengths (saturating).</summary>
    public ulong TotalBytes
    {
        get
        {
            ulong total = 0;
            for (var i = 0; i < _count; i++)
            {
                var next = total + _items[i].Length;
                total = next < total ? ulong.MaxValue : next;
            }

            return total;
        }
    }

    public ReadOnlySpan<TransferDescriptor> AsSpan() => _items.AsSpan(0, _count);

    public DescriptorList Add(TransferDescriptor descriptor)
    {
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[_count++] = descriptor;
        return this;
    }

    public DescriptorList Add(int region, ulong address, ulong length) => Add(new TransferDescriptor(region, address, length));

    public void Clear() => _count = 0;

    /// <summary>Joins each descriptor with the next when they are adjacent in the same region. Returns how many were removed.</summary>
    public int Merge()
    {
        var before = _count;
        _count = MergeInto(_items.AsSpan(0, _count));
        return before - _count;
    }

    /// <summary>A merged copy; this list is left as it is.</summary>
    public DescriptorList ToMerged()
    {
        var copy = new DescriptorList(_count);
        AsSpan().CopyTo(copy._items);
        copy._count = _count;
        copy.Merge();
        return copy;
    }

    /// <summary>Merges in place; returns the new count.</summary>
    internal static int MergeInto(Span<TransferDescriptor> items)
    {
        if (items.Length == 0)
        {
            return 0;
        }

        var w = 0;
        for (var r = 1; r < items.Length; r++)
        {
            if (items[w].IsFollowedBy(items[r]) && items[r].Length != 0)
            {
                items[w] = items[w] with { Length = items[w].Length + items[r].Length };
            }
            else
            {
                items[++w] = items[r];
            }
        }

        return w + 1;
    }

    public IEnumerator<TransferDescriptor> GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            yield return _items[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{_count} descriptors, {TotalBytes} B";
}

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// A 4-ary min-heap of packed merge candidates, <c>(rank &lt;&lt; 32) | position</c>: ordered by rank, then leftmost.
/// Eight bytes an entry (half of a <see cref="PriorityQueue{TElement, TPriority}"/> entry), because on a
/// megabyte-long word the heap does not fit in cache and its cost is the memory it walks.
/// </summary>
internal sealed class MergeQueue
{
    private long[] _items = new long[64];
    private int _count;

    public int Count => _count;

    public static long Pack(int rank, int position) => ((long)rank << 32) | (uint)position;

    public static int Rank(long entry) => (int)(entry >> 32);

    public static int Position(long entry) => (int)(entry & 0xFFFFFFFF);

    /// <summary>Empties the queue and makes room for <paramref name="capacity"/> entries.</summary>
    public void Reset(int capacity)
    {
        if (_items.Length < capacity)
        {
            _items = new long[Math.Max(capacity, _items.Length * 2)];
        }

        _count = 0;
    }

    /// <summary>Appends without ordering; call <see cref="Heapify"/> before the first <see cref="TryPop"/>.</summary>
    public void AddUnordered(long entry)
    {
        Grow();
        _items[_count++] = entry;
    }

    /// <summary>Orders entries added with <see cref="AddUnordered"/>, in O(n).</summary>
    public void Heapify()
    {
        for (var i = (_count - 2) >> 2; i >= 0; i--)
        {
            SiftDown(i, _items[i]);
        }
    }

    public void Push(long entry)
    {
        Grow();
        var index = _count++;
        var items = _items;
        while (index > 0)
        {
            var parent = (index - 1) >> 2;
            if (items[parent] <= entry)
            {
                break;
            }

            items[index] = items[parent];
            index = parent;
        }

        items[index] = entry;
    }

    public bool TryPop(out long entry)
    {
        if (_count == 0)
        {
            entry = 0;
            return false;
        }

        entry = _items[0];
        var last = _items[--_count];
        if (_count > 0)
        {
            SiftDown(0, last);
        }

        return true;
    }

    private void SiftDown(int index, long entry)
    {
        var items = _items;
        var count = _count;
        while (true)
        {
            var first = (index << 2) + 1;
            if (first >= count)
            {
                break;
            }

            var smallest = first;
            var end = Math.Min(first + 4, count);
            for (var child = first + 1; child < end; child++)
            {
                if (items[child] < items[smallest])
                {
                    smallest = child;
                }
            }

            if (items[smallest] >= entry)
            {
                break;
            }

            items[index] = items[smallest];
            index = smallest;
        }

        items[index] = entry;
    }

    private void Grow()
    {
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }
    }
}

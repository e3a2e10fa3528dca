namespace Dynamo.Transfer.Memory;

/// <summary>The regions one transfer holds registered while it runs; usually one (the KV pool), so a short list.</summary>
internal sealed class LeaseSet
{
    private readonly List<MemoryRegion> _regions = new(2);

    public int Count => _regions.Count;

    public MemoryRegion this[int index] => _regions[index];

    public bool Contains(MemoryRegion region)
    {
        foreach (var r in _regions)
        {
            if (ReferenceEquals(r, region))
            {
                return true;
            }
        }

        return false;
    }

    public void Add(MemoryRegion region) => _regions.Add(region);

    public void ReleaseAll()
    {
        foreach (var r in _regions)
        {
            r.Release();
        }

        _regions.Clear();
    }
}

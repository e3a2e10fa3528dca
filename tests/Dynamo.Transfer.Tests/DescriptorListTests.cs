using Dynamo.Transfer.Backends;
using Dynamo.Transfer.Memory;

namespace Dynamo.Transfer.Tests;

public sealed class DescriptorListTests
{
    [Fact]
    public void Merge_JoinsAdjacentRangesOfOneRegionOnly()
    {
        var list = new DescriptorList()
            .Add(1, 1000, 100).Add(1, 1100, 100).Add(1, 1200, 50) // one run
            .Add(1, 2000, 10) // gap
            .Add(2, 2010, 10) // adjacent address, other region
            .Add(2, 2020, 5);

        var removed = list.Merge();

        Assert.Equal(3, removed);
        Assert.Equal([new(1, 1000, 250), new(1, 2000, 10), new(2, 2010, 15)], list.ToArray());
        Assert.Equal(275UL, list.TotalBytes);
    }

    [Fact]
    public void Merge_KeepsOrder_DoesNotSortOutOfOrderNeighbours()
    {
        var list = new DescriptorList().Add(1, 200, 100).Add(1, 100, 100);
        Assert.Equal(0, list.Merge());
        Assert.Equal(2, list.Count);
    }

    [Fact]
    public void ToMerged_LeavesTheOriginal()
    {
        var list = new DescriptorList().Add(1, 0, 4).Add(1, 4, 4);
        var merged = list.ToMerged();
        Assert.Equal(2, list.Count);
        Assert.Single(merged);
    }

    [Fact]
    public void SegmentWalker_SplitsAtTheUnionOfBoundaries()
    {
        TransferDescriptor[] local = [new(1, 0, 10), new(1, 100, 10)];
        TransferDescriptor[] remote = [new(9, 1000, 5), new(9, 2000, 15)];
        var walker = new SegmentWalker(local, remote);
        var segments = new List<(ulong, ulong, ulong)>();
        while (walker.Next(out var l, out var r, out var n, out _))
        {
            segments.Add((l, r, n));
        }

        Assert.Equal([(0UL, 1000UL, 5UL), (5UL, 2000UL, 5UL), (100UL, 2005UL, 10UL)], segments);
    }

    [Fact]
    public void TransferDescriptor_OverflowingRangeSaturates()
    {
        var d = new TransferDescriptor(1, ulong.MaxValue - 10, 100);
        Assert.Equal(ulong.MaxValue, d.End);
    }
}

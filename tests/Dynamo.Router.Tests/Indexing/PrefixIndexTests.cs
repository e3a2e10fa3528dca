using Dynamo.Contracts.KvEvents;
using Dynamo.Router.Indexing;
using static Dynamo.Router.Tests.TestSupport;

namespace Dynamo.Router.Tests.Indexing;

public sealed class PrefixIndexTests
{
    [Fact]
    public void Match_CountsLeadingBlocksPerWorker()
    {
        var index = new PrefixIndex();
        var prompt = Tokens(1, 16 * 8 + 5);
        var hashes = Hashes(prompt);
        var a = index.GetOrAddWorker("a");
        var b = index.GetOrAddWorker("b");
        var c = index.GetOrAddWorker("c");
        index.Store(a, StorageTier.Device, hashes);
        index.Store(b, StorageTier.Device, hashes.AsSpan(0, 3));

        var overlaps = index.Match(prompt, 16);

        Assert.Equal(8, overlaps["a"]);
        Assert.Equal(3, overlaps["b"]);
        Assert.Equal(0, overlaps["c"]);
        Assert.Equal(8, index.BlockCount("a"));
        Assert.Equal(3, index.BlockCount(b));
        Assert.Equal(0, index.BlockCount(c));
        Assert.Equal(8, index.DistinctBlocks);
        Assert.Equal(11, index.Pairs);
    }

    [Fact]
    public void Match_StopsAtAMissingBlock_EvenWhenLaterOnesAreHeld()
    {
        // LRU eviction can drop a parent before its child: only the leading run counts.
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(2, 16 * 6));
        var a = index.GetOrAddWorker("a");
        index.Store(a, StorageTier.Device, hashes);
        index.Remove(a, StorageTier.Device, [hashes[2]]);

        var overlaps = new int[1];
        index.Match(hashes, [a], overlaps);

        Assert.Equal(2, overlaps[0]);
        Assert.Equal(5, index.BlockCount(a));
    }

    [Fact]
    public void Match_DifferentSuffix_SharesOnlyTheCommonPrefix()
    {
        var index = new PrefixIndex();
        var system = Tokens(3, 16 * 4);
        var first = Concat(system, Tokens(4, 64));
        var second = Concat(system, Tokens(5, 64));
        var a = index.GetOrAddWorker("a");
        index.Store(a, StorageTier.Device, Hashes(first));

        Assert.Equal(8, index.Match(first, 16)["a"]);
        Assert.Equal(4, index.Match(second, 16)["a"]);
    }

    [Fact]
    public void Match_UnknownSlotsGetZero_AndOrderFollowsTheSlotsGiven()
    {
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(6, 64));
        var a = index.GetOrAddWorker("a");
        var b = index.GetOrAddWorker("b");
        index.Store(a, StorageTier.Device, hashes);
        index.Store(b, StorageTier.Device, hashes.AsSpan(0, 1));

        var overlaps = new int[3];
        index.Match(hashes, [b, -1, a], overlaps);

        Assert.Equal([1, 0, 4], overlaps);
    }

    [Fact]
    public void Tiers_AreIndexedSeparately()
    {
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(7, 64));
        var a = index.GetOrAddWorker("a");
        index.Apply(a, new KvEvent("a", 1, StorageTier.Host, new KvStored(null, [.. hashes.Select(h => new StoredBlock(h, 0))])));

        var device = new int[1];
        var host = new int[1];
        index.Match(hashes, [a], device, StorageTier.Device);
        index.Match(hashes, [a], host, StorageTier.Host);

        Assert.Equal(0, device[0]);
        Assert.Equal(4, host[0]);
        Assert.Equal(4, index.BlockCount(a, StorageTier.Host));
    }

    [Fact]
    public void Cleared_ForgetsOneWorkerInOneTier()
    {
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(8, 64));
        var a = index.GetOrAddWorker("a");
        var b = index.GetOrAddWorker("b");
        index.Store(a, StorageTier.Device, hashes);
        index.Store(a, StorageTier.Host, hashes);
        index.Store(b, StorageTier.Device, hashes);

        index.Apply(a, new KvEvent("a", 2, StorageTier.Device, new KvCleared()));

        Assert.Equal(0, index.Match(Tokens(8, 64), 16)["a"]);
        Assert.Equal(4, index.Match(Tokens(8, 64), 16)["b"]);
        Assert.Equal(4, index.BlockCount(a, StorageTier.Host));
        Assert.Equal(0, index.BlockCount(a));
    }

    [Fact]
    public void RemoveWorker_PurgesEveryTier_AndItsSlotIsReusedClean()
    {
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(9, 64));
        var a = index.GetOrAddWorker("a");
        index.Store(a, StorageTier.Device, hashes);
        index.Store(a, StorageTier.Disk, hashes);

        Assert.True(index.RemoveWorker("a"));
        Assert.False(index.RemoveWorker("a"));
        var b = index.GetOrAddWorker("b");

        Assert.Equal(a, b);
        Assert.Equal(0, index.BlockCount(b));
        Assert.Equal(0, index.BlockCount(b, StorageTier.Disk));
        Assert.Equal(0, index.Match(Tokens(9, 64), 16)["b"]);
        Assert.Equal(0, index.DistinctBlocks);
    }

    [Fact]
    public void ManyWorkers_BeyondOneWordOfBits()
    {
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(10, 16 * 10));
        var slots = new int[200];
        for (var w = 0; w < slots.Length; w++)
        {
            slots[w] = index.GetOrAddWorker($"w{w}");
            index.Store(slots[w], StorageTier.Device, hashes.AsSpan(0, w % 11));
        }

        var overlaps = new int[slots.Length];
        index.Match(hashes, slots, overlaps);

        for (var w = 0; w < slots.Length; w++)
        {
            Assert.Equal(w % 11, overlaps[w]);
        }
    }

    [Fact]
    public void ABlockHeldByManyWorkers_MatchesForAll_AndForTheFewLeftAfterTheRestLeave()
    {
        var index = new PrefixIndex();
        var hashes = Hashes(Tokens(12, 16 * 6));
        var slots = Enumerable.Range(0, 1000).Select(w => index.GetOrAddWorker($"w{w}")).ToArray();

        // Every worker holds the first two blocks (a shared system prompt); worker w also holds block 2 when w % 250 == 0.
        foreach (var slot in slots)
        {
            index.Store(slot, StorageTier.Device, hashes.AsSpan(0, 2));
        }

        foreach (var slot in slots.Where(s => s % 250 == 0))
        {
            index.Store(slot, StorageTier.Device, hashes.AsSpan(2, 4));
        }

        var overlaps = new int[slots.Length];
        index.Match(hashes, slots, overlaps);
        for (var w = 0; w < slots.Length; w++)
        {
            Assert.Equal(w % 250 == 0 ? 6 : 2, overlaps[w]);
        }

        // All but two leave: their bits are cleared in the shared records and the survivors still match.
        for (var w = 2; w < slots.Length; w++)
        {
            index.RemoveWorker($"w{w}");
        }

        index.Match(hashes, slots.AsSpan(0, 2), overlaps);
        Assert.Equal([6, 2], overlaps[..2]);
        Assert.Equal(6, index.DistinctBlocks);
        Assert.Equal(8, index.Pairs);
    }

    [Theory]
    [InlineData(40)]
    [InlineData(130)]
    public void Match_AgreesWithAReferenceModel_UnderRandomChurn(int workers)
    {
        // Prompt families sharing prefixes and every kind of write in random order, with up to 64 workers (one word:
        // bitsets in place) or more (holder lists and records, widened as workers arrive): the index must answer
        // exactly what a plain set per worker answers.
        var random = new Random(7);
        var index = new PrefixIndex();
        var model = new Dictionary<string, HashSet<ulong>>();
        var families = Enumerable.Range(0, 6).Select(f => Tokens(500 + f, 16 * 8)).ToArray();
        var prompts = Enumerable.Range(0, 40)
            .Select(p => Hashes([.. families[p % families.Length], .. Tokens(600 + p, 16 * (p % 9))]))
            .ToArray();
        string WorkerName(int w) => $"w{w}";

        for (var step = 0; step < 4000; step++)
        {
            var worker = WorkerName(random.Next(workers));
            var slot = index.GetOrAddWorker(worker);
            var held = model.TryGetValue(worker, out var set) ? set : model[worker] = [];
            var prompt = prompts[random.Next(prompts.Length)];
            switch (random.Next(20))
            {
                case < 12:
                    var length = random.Next(1, prompt.Length + 1);
                    index.Store(slot, StorageTier.Device, prompt.AsSpan(0, length));
                    held.UnionWith(prompt[..length]);
                    break;
                case < 18:
                    var removed = prompt.Where(_ => random.Next(3) == 0).ToArray();
                    index.Remove(slot, StorageTier.Device, removed);
                    held.ExceptWith(removed);
                    break;
                case 18:
                    index.Clear(slot, StorageTier.Device);
                    held.Clear();
                    break;
                default:
                    index.RemoveWorker(worker);
                    model.Remove(worker);
                    break;
            }

            if (step % 50 != 0)
            {
                continue;
            }

            var names = model.Keys.ToArray();
            var slots = names.Select(n => index.TryGetSlot(n, out var s) ? s : -1).ToArray();
            var overlaps = new int[slots.Length];
            foreach (var hashes in prompts)
            {
                index.Match(hashes, slots, overlaps);
                for (var i = 0; i < names.Length; i++)
                {
                    var expected = 0;
                    while (expected < hashes.Length && model[names[i]].Contains(hashes[expected]))
                    {
                        expected++;
                    }

                    Assert.Equal(expected, overlaps[i]);
                }
            }

            Assert.Equal(model.Values.Sum(s => s.Count), index.Pairs);
            Assert.Equal(model.Values.SelectMany(s => s).Distinct().Count(), index.DistinctBlocks);
        }
    }

    [Fact]
    public void ChurnOfWidelyHeldBlocks_DoesNotGrowTheTable()
    {
        var index = new PrefixIndex();
        var slots = Enumerable.Range(0, 8).Select(w => index.GetOrAddWorker($"w{w}")).ToArray();
        long afterSecondRound = 0;
        for (var round = 0; round < 12; round++)
        {
            var hashes = Hashes(Tokens(3000 + round, 16 * 3000));
            foreach (var slot in slots)
            {
                index.Store(slot, StorageTier.Device, hashes);
            }

            foreach (var slot in slots)
            {
                index.Remove(slot, StorageTier.Device, hashes);
            }

            if (round == 1)
            {
                afterSecondRound = index.TableBytes;
            }
        }

        Assert.Equal(0, index.DistinctBlocks);
        Assert.True(index.TableBytes <= afterSecondRound * 2, $"{index.TableBytes} bytes after 12 rounds, {afterSecondRound} after 2");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(300)]
    public void MatchTokens_HashesOnlyAsFarAsTheWalkGoes_AndAgreesWithMatch(int workers)
    {
        var index = new PrefixIndex();
        var prompt = Tokens(21, 16 * 400 + 7);
        var hashes = Hashes(prompt);
        var slots = Enumerable.Range(0, workers).Select(w => index.GetOrAddWorker($"w{w}")).ToArray();
        index.Store(slots[1], StorageTier.Device, hashes.AsSpan(0, 120));
        index.Store(slots[^1], StorageTier.Device, hashes.AsSpan(0, 30));

        var expected = new int[workers];
        index.Match(hashes, slots, expected);
        var overlaps = new int[workers];
        var written = new ulong[hashes.Length];
        var computed = index.MatchTokens(prompt, 16, slots, overlaps, written);

        Assert.Equal(expected, overlaps);
        Assert.Equal(120, overlaps[1]);
        Assert.InRange(computed, 121, 256); // batches doubling from 64 past the walk's 121 blocks, not all 400
        Assert.Equal(hashes.AsSpan(0, computed).ToArray(), written.AsSpan(0, computed).ToArray());

        // Nothing cached: the walk stops at the first block.
        var other = Tokens(22, 16 * 400);
        Assert.InRange(index.MatchTokens(other, 16, slots, overlaps, written), 1, 64);
        Assert.All(overlaps, o => Assert.Equal(0, o));
    }

    [Fact]
    public void GrowsPastItsFirstCapacity_AndRemovalsLeaveMatchesRight()
    {
        var index = new PrefixIndex();
        var a = index.GetOrAddWorker("a");
        var b = index.GetOrAddWorker("b");
        var prompts = Enumerable.Range(0, 400).Select(i => Tokens(1000 + i, 16 * 20)).ToArray();
        foreach (var prompt in prompts)
        {
            index.Store(a, StorageTier.Device, Hashes(prompt));
        }

        // Remove half of the prompts from a, store them on b: tombstones, reuse and a rebuild in between.
        for (var i = 0; i < prompts.Length; i += 2)
        {
            var hashes = Hashes(prompts[i]);
            index.Remove(a, StorageTier.Device, hashes);
            index.Store(b, StorageTier.Device, hashes);
        }

        for (var i = 0; i < prompts.Length; i++)
        {
            var overlaps = index.Match(prompts[i], 16);
            Assert.Equal(i % 2 == 0 ? 0 : 20, overlaps["a"]);
            Assert.Equal(i % 2 == 0 ? 20 : 0, overlaps["b"]);
        }

        Assert.Equal(4000, index.BlockCount(a));
        Assert.Equal(4000, index.BlockCount(b));
        Assert.Equal(8000, index.DistinctBlocks);
    }

    [Fact]
    public void ZeroHash_IsAnOrdinaryKey()
    {
        var index = new PrefixIndex();
        var a = index.GetOrAddWorker("a");
        index.Store(a, StorageTier.Device, [0UL, 5UL]);

        var overlaps = new int[1];
        index.Match([0UL, 5UL], [a], overlaps);

        Assert.Equal(2, overlaps[0]);
        Assert.True(index.Contains("a", 0));
        index.Remove(a, StorageTier.Device, [0UL]);
        Assert.False(index.Contains("a", 0));
    }

    [Fact]
    public async Task Readers_RunWhileEventsApply_AndNeverSeeAnotherPromptsBlocks()
    {
        var index = new PrefixIndex();
        var a = index.GetOrAddWorker("a");
        var stable = Tokens(11, 16 * 32);
        var stableHashes = Hashes(stable);
        index.Store(a, StorageTier.Device, stableHashes);
        var churn = Enumerable.Range(0, 200).Select(i => Hashes(Tokens(2000 + i, 16 * 32))).ToArray();
        using var stop = new CancellationTokenSource();

        var writer = Task.Run(() =>
        {
            for (var round = 0; round < 30; round++)
            {
                foreach (var hashes in churn)
                {
                    index.Store(a, StorageTier.Device, hashes);
                }

                foreach (var hashes in churn)
                {
                    index.Remove(a, StorageTier.Device, hashes);
                }
            }

            stop.Cancel();
        });
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            var overlaps = new int[1];
            var reads = 0;
            while (!stop.IsCancellationRequested || reads == 0)
            {
                index.Match(stableHashes, [a], overlaps);
                Assert.Equal(32, overlaps[0]);
                reads++;
            }

            return reads;
        })).ToArray();

        await Within(writer, "the writer");
        var counts = await Task.WhenAll(readers);
        Assert.All(counts, c => Assert.True(c > 0));
        Assert.Equal(32, index.BlockCount(a));
    }
}

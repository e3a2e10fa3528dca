using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dynamo.Contracts.Discovery;
using Dynamo.Contracts.Routing;
using Dynamo.KvCache;
using Dynamo.Router.Indexing;
using Dynamo.Router.Load;
using Dynamo.Router.Replicas;
using Dynamo.Router.Sessions;

namespace Dynamo.Router.Kv;

/// <summary>
/// The KV-cache-aware router (<c>--router kv</c>): hashes the prompt once, asks the <see cref="PrefixIndex"/> how many
/// leading blocks each candidate holds, prices every candidate over the <see cref="ActiveLoadTracker"/>'s load (by
/// default its predicted time to first token, <see cref="TtftPredictor"/>; or the block cost, <see cref="KvCost"/>),
/// and picks with <see cref="WorkerSelector"/>.
/// </summary>
/// <remarks>
/// The index is fed by a <see cref="KvIndexer"/> (workers' KV events) or, in approximate mode, by the router's own
/// decisions. With <see cref="ActiveLoadSync"/>, replicas share their in-flight requests. Select allocates only the
/// decision and its load entry; it is safe to call from any number of threads. The per-decision loops are compiled
/// fully optimized on first use (<see cref="MethodImplOptions.AggressiveOptimization"/>): under tiered compilation a
/// new router's first few hundred decisions ran unoptimized code, 3–5 times slower over 1,000 candidates.
/// </remarks>
public sealed class KvRouter : IWorkerRouter, IAsyncDisposable
{
    public const string PolicyName = "kv";

    private readonly ActiveLoadTracker _load;
    private readonly ApproximateIndex? _approximate;
    private readonly ActiveLoadSync? _sync;
    private readonly Random _random;
    private readonly double _prefillLoadScale;
    private readonly double _temperature;
    private readonly bool _predicted;
    private readonly int _balanceAbsolute;
    private readonly double _balanceRelative;
    private readonly double _busyCost;
    private readonly double _busyFloor;
    private readonly double _busySlope;
    private readonly int _busyTokens;
    private readonly TtftPredictor _predictor;
    private readonly SessionAffinity _sessions;
    private readonly IDisposable? _owned;
    private readonly BusyWorkers? _busy;
    private CandidateView? _view;
    private long _rebalanced;

    internal KvRouter(
        RouterOptions options,
        PrefixIndex index,
        ActiveLoadTracker load,
        KvIndexer? indexer,
        ApproximateIndex? approximate,
        ActiveLoadSync? sync,
        Random random,
        IDisposable? owned = null,
        SessionAffinity? sessions = null,
        BusyWorkers? busy = null)
    {
        Index = index;
        Indexer = indexer;
        _load = load;
        _approximate = approximate;
        _sync = sync;
        _random = random;
        _prefillLoadScale = options.PrefillLoadScale;
        _temperature = options.Temperature;
        _predicted = options.Cost == KvCostModel.Predicted;
        _balanceAbsolute = options.BalanceAbsoluteThreshold;
        _balanceRelative = options.BalanceRelativeThreshold;
        _busyCost = _predicted ? options.BusyCostMs : 0;
        _busyFloor = options.BusyFloor;
        // Per unit of busy fraction above the floor, so that a worker busy all the time costs BusyCostMs.
        _busySlope = _busyCost / (1 - _busyFloor);
        _busyTokens = options.BusyCostTokens;
        _predictor = new TtftPredictor(options.Timing, options.DecodeImpactWeight, options.ExpectedOutputTokens);
        _sessions = sessions ?? new SessionAffinity(options, TimeProvider.System);
        _owned = owned;
        _busy = busy;
    }

    /// <inheritdoc />
    public IWorkerAvailability? Availability => _busy;

    public string Name => PolicyName;

    /// <summary>Which workers hold which blocks.</summary>
    public PrefixIndex Index { get; }

    /// <summary>The event-fed indexer, or null in approximate mode.</summary>
    public KvIndexer? Indexer { get; }

    /// <summary>True when the index holds the router's own decisions (no KV events).</summary>
    public bool IsApproximate => _approximate is not null;

    /// <summary>The load this router predicts per worker, its replicas' included.</summary>
    public ActiveLoadTracker Load => _load;

    /// <summary>Replica sharing, when on.</summary>
    public ActiveLoadSync? ReplicaSync => _sync;

    /// <summary>Where each <c>nvext.session_id</c> is served.</summary>
    public SessionAffinity Sessions => _sessions;

    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public RoutingDecision Select(RoutingRequest request, IReadOnlyList<WorkerInstance> candidates)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);

        // The busy thresholds filter before pricing: a busy worker is no candidate while another is not (a session on
        // it moves, as from a worker that left); the cost arithmetic below never sees it.
        candidates = _busy?.Free(candidates) ?? candidates;
        var count = candidates.Count;
        if (count == 0)
        {
            throw new ArgumentException("No candidate workers.", nameof(candidates));
        }

        _approximate?.Expire();
        var view = ViewOf(candidates);
        var tokens = request.PromptTokens.Span;
        var blockSize = view.BlockSize;
        var blocks = BlockHasher.FullBlockCount(tokens.Length, blockSize);
        var hashes = ArrayPool<ulong>.Shared.Rent(Math.Max(1, blocks));
        int[]? rentedInts = null;
        double[]? rentedCosts = null;
        Span<int> overlaps = count <= 128 ? stackalloc int[count] : (rentedInts = ArrayPool<int>.Shared.Rent(count)).AsSpan(0, count);
        Span<double> costs = count <= 128 ? stackalloc double[count] : (rentedCosts = ArrayPool<double>.Shared.Rent(count)).AsSpan(0, count);
        try
        {
            var seqHashes = hashes.AsSpan(0, blocks);
            ReadOnlySpan<int> slots = view.Slots;
            var hashed = Index.MatchTokens(tokens, blockSize, slots, overlaps, seqHashes);
            if (view.MixedSizes)
            {
                MatchOtherBlockSizes(tokens, candidates, blockSize, slots, overlaps);
            }

            var loads = view.Loads;
            var blockSizes = view.BlockSizes;
            var mixed = view.MixedSizes;
            var fewest = int.MaxValue;
            if (_predicted && request.Hints?.ExpectedOutputTokens is { } expected)
            {
                for (var i = 0; i < count; i++)
                {
                    var load = loads[i].Snapshot();
                    fewest = Math.Min(fewest, load.Requests);
                    costs[i] = _predictor.Cost(overlaps[i], load, tokens.Length, mixed ? blockSizes[i] : blockSize, expected);
                }
            }
            else if (_predicted)
            {
                for (var i = 0; i < count; i++)
                {
                    var load = loads[i].Snapshot();
                    fewest = Math.Min(fewest, load.Requests);
                    costs[i] = _predictor.Cost(overlaps[i], load, tokens.Length, mixed ? blockSizes[i] : blockSize);
                }
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    var load = loads[i].Snapshot();
                    fewest = Math.Min(fewest, load.Requests);
                    costs[i] = KvCost.Compute(overlaps[i], load, tokens.Length, mixed ? blockSizes[i] : blockSize, _prefillLoadScale);
                }
            }

            if (_busyCost > 0 && HasOverlap(overlaps))
            {
                // Recent busy time, where some worker's cache is at stake: a holder kept busy by its sessions loses a
                // request whose cache saving there is worth less than the difference (a new session's shared system
                // prompt) to a less busy worker, and keeps one whose long context it holds. Where no worker holds
                // any of the prompt, the workers compete on predicted TTFT alone.
                var now = _load.Now;
                // A short prompt pays in proportion to its length, as its cache saving is small in proportion: a
                // lightly loaded cluster's short shared prefix stays on its holder.
                var perUnit = _busyTokens > 0 ? _busySlope * Math.Min(1, (double)tokens.Length / _busyTokens) : _busySlope;
                for (var i = 0; i < count; i++)
                {
                    var busy = loads[i].BusyFraction(now);
                    if (busy > _busyFloor)
                    {
                        costs[i] += perUnit * (busy - _busyFloor);
                    }
                }
            }

            // A session stays on its worker while that worker is a candidate and not overloaded.
            var session = request.Hints?.SessionId;
            var known = false;
            var sticky = session is null ? -1 : _sessions.Find(session, candidates, out known);
            if (sticky >= 0 && _sessions.IsOverloaded(loads[sticky].Snapshot().Requests, fewest))
            {
                sticky = -1;
            }

            var pick = sticky >= 0 ? sticky : WorkerSelector.Select(costs, new IndexCacheSizes(Index, view.Slots), _temperature, _random);
            var rebalanced = false;
            if (sticky < 0 && _predicted && _balanceAbsolute > 0 && IsUnbalanced(loads[pick].Snapshot().Requests, fewest))
            {
                // Hot spot: the cheapest worker carries far more than the least busy one (a popular prefix piling onto
                // its holders). Choose among the workers that are not over the thresholds: the prefix is copied to
                // one more holder by prefilling it there.
                for (var i = 0; i < count; i++)
                {
                    if (IsUnbalanced(loads[i].Snapshot().Requests, fewest))
                    {
                        costs[i] = double.PositiveInfinity;
                    }
                }

                pick = WorkerSelector.Select(costs, new IndexCacheSizes(Index, view.Slots), _temperature, _random);
                Interlocked.Increment(ref _rebalanced);
                rebalanced = true;
            }

            var chosen = candidates[pick];
            double? predicted = null;
            double? alternativeTtft = null;
            if (_predicted)
            {
                // Explanations for metrics and traces: the chosen worker's predicted TTFT and the best other one's.
                var alternative = -1;
                for (var i = 0; i < count; i++)
                {
                    if (i != pick && (alternative < 0 || costs[i] < costs[alternative]))
                    {
                        alternative = i;
                    }
                }

                predicted = _predictor.Ttft(overlaps[pick], loads[pick].Snapshot(), tokens.Length, mixed ? blockSizes[pick] : blockSize);
                if (alternative >= 0)
                {
                    alternativeTtft = _predictor.Ttft(overlaps[alternative], loads[alternative].Snapshot(), tokens.Length, mixed ? blockSizes[alternative] : blockSize);
                }
            }

            var decision = new RoutingDecision(request.RequestId, chosen, overlaps[pick], tokens.Length)
            {
                Policy = PolicyName,
                Rebalanced = rebalanced,
                PredictedTtftMs = predicted,
                AlternativeTtftMs = alternativeTtft,
                Session = _sessions.Complete(session, sticky >= 0, known, chosen),
            };
            _load.Add(decision);
            _sync?.Publish(ActiveLoadChange.Added, decision);
            _busy?.Routed(chosen.InstanceId);
            if (_approximate is not null && BlockSizeOf(chosen) == blockSize)
            {
                // The approximate index records the whole prompt, so it needs the hashes the match did not.
                if (hashed < blocks)
                {
                    BlockHasher.ComputeSequenceHashes(tokens, blockSize, seqHashes);
                }

                _approximate.Record(chosen.InstanceId, seqHashes);
            }

            return decision;
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(hashes);
            if (rentedInts is not null)
            {
                ArrayPool<int>.Shared.Return(rentedInts);
                ArrayPool<double>.Shared.Return(rentedCosts!);
            }
        }
    }

    private static bool HasOverlap(ReadOnlySpan<int> overlaps)
    {
        foreach (var overlap in overlaps)
        {
            if (overlap > 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decisions the balance thresholds moved off the cheapest worker (hot-spot control).</summary>
    public long Rebalanced => Interlocked.Read(ref _rebalanced);

    /// <summary>
    /// True when a worker with <paramref name="requests"/> in flight is over both balance thresholds against the least
    /// busy candidate (SGLang's cache-aware router: more than the absolute gap and more than the ratio).
    /// </summary>
    private bool IsUnbalanced(int requests, int fewest) =>
        requests - fewest > _balanceAbsolute && requests > _balanceRelative * fewest;

    public void MarkPrefilled(RoutingDecision decision)
    {
        _load.MarkPrefilled(decision);
        _sync?.Publish(ActiveLoadChange.Prefilled, decision);
    }

    public void Complete(RoutingDecision decision)
    {
        _load.Complete(decision);
        _sync?.Publish(ActiveLoadChange.Completed, decision);
        _busy?.Completed(decision.Worker.InstanceId);
    }

    public void RemoveWorker(string instanceId)
    {
        _load.RemoveWorker(instanceId);
        _sessions.RemoveWorker(instanceId);
        _busy?.RemoveWorker(instanceId);
        if (Indexer is not null)
        {
            Indexer.RemoveWorker(instanceId);
        }
        else
        {
            Index.RemoveWorker(instanceId);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_sync is not null)
        {
            await _sync.DisposeAsync().ConfigureAwait(false);
        }

        if (Indexer is not null)
        {
            await Indexer.DisposeAsync().ConfigureAwait(false);
        }

        if (_busy is not null)
        {
            await _busy.DisposeAsync().ConfigureAwait(false);
        }

        _owned?.Dispose();
    }

    private static int BlockSizeOf(WorkerInstance worker) => worker.BlockSize > 0 ? worker.BlockSize : 16;

    /// <summary>
    /// The candidates' index slots and load counters, looked up once and reused while the same workers come in the
    /// same order and neither the index nor the load tracker has gained or lost a worker. Looking them up on every
    /// call was two string-keyed dictionary probes per candidate: more than half of a 64-worker decision, and most of
    /// a 1,000-worker one.
    /// </summary>
    private CandidateView ViewOf(IReadOnlyList<WorkerInstance> candidates)
    {
        var indexVersion = Index.Version;
        var loadVersion = _load.Version;
        var view = Volatile.Read(ref _view);
        if (view is not null && view.Matches(candidates, indexVersion, loadVersion))
        {
            return view;
        }

        var count = candidates.Count;
        var workers = new WorkerInstance[count];
        var slots = new int[count];
        var loads = new ActiveLoadTracker.WorkerLoad[count];
        var blockSizes = new int[count];
        var blockSize = BlockSizeOf(candidates[0]);
        var mixed = false;
        for (var i = 0; i < count; i++)
        {
            var worker = workers[i] = candidates[i];
            slots[i] = Index.TryGetSlot(worker.InstanceId, out var slot) ? slot : -1;
            loads[i] = _load.FindOrCreate(worker.InstanceId);
            blockSizes[i] = BlockSizeOf(worker);
            mixed |= blockSizes[i] != blockSize;
        }

        // Versions read before the lookups: a change racing with them (counters created just now included) makes
        // the next call look again, and that one finds every counter in place.
        view = new CandidateView(workers, slots, loads, blockSizes, mixed, indexVersion, loadVersion);
        Volatile.Write(ref _view, view);
        return view;
    }

    private sealed class CandidateView(
        WorkerInstance[] workers,
        int[] slots,
        ActiveLoadTracker.WorkerLoad[] loads,
        int[] blockSizes,
        bool mixedSizes,
        int indexVersion,
        int loadVersion)
    {
        public int[] Slots { get; } = slots;

        public ActiveLoadTracker.WorkerLoad[] Loads { get; } = loads;

        /// <summary>Each candidate's block size.</summary>
        public int[] BlockSizes { get; } = blockSizes;

        /// <summary>The first candidate's block size: the one the prompt is hashed with.</summary>
        public int BlockSize => BlockSizes[0];

        public bool MixedSizes { get; } = mixedSizes;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool Matches(IReadOnlyList<WorkerInstance> candidates, int index, int load)
        {
            if (index != indexVersion || load != loadVersion || candidates.Count != workers.Length)
            {
                return false;
            }

            if (candidates is List<WorkerInstance> list)
            {
                // The common case, without an interface call per candidate.
                var span = CollectionsMarshal.AsSpan(list);
                for (var i = 0; i < span.Length; i++)
                {
                    if (!ReferenceEquals(span[i], workers[i]))
                    {
                        return false;
                    }
                }

                return true;
            }

            for (var i = 0; i < workers.Length; i++)
            {
                if (!ReferenceEquals(candidates[i], workers[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Rare: candidates with another block size hash the prompt differently, so they are matched separately.</summary>
    private void MatchOtherBlockSizes(ReadOnlySpan<int> tokens, IReadOnlyList<WorkerInstance> candidates, int firstSize, ReadOnlySpan<int> slots, Span<int> overlaps)
    {
        var sizes = new HashSet<int>();
        for (var i = 0; i < candidates.Count; i++)
        {
            var size = BlockSizeOf(candidates[i]);
            if (size != firstSize)
            {
                sizes.Add(size);
            }
        }

        foreach (var size in sizes)
        {
            var hashes = BlockHasher.ComputeSequenceHashes(tokens, size);
            var subset = new List<int>();
            for (var i = 0; i < candidates.Count; i++)
            {
                if (BlockSizeOf(candidates[i]) == size)
                {
                    subset.Add(i);
                }
            }

            var subsetSlots = new int[subset.Count];
            for (var j = 0; j < subset.Count; j++)
            {
                subsetSlots[j] = slots[subset[j]];
            }

            var subsetOverlaps = new int[subset.Count];
            Index.Match(hashes, subsetSlots, subsetOverlaps);
            for (var j = 0; j < subset.Count; j++)
            {
                overlaps[subset[j]] = subsetOverlaps[j];
            }
        }
    }

    /// <summary>Candidates' cached block counts, read from the index only when the selector needs a tie-break.</summary>
    private readonly struct IndexCacheSizes(PrefixIndex index, int[] slots) : ICacheSizes
    {
        public long Of(int candidate) => slots[candidate] >= 0 ? index.BlockCount(slots[candidate]) : 0;
    }
}

using System.Collections.Concurrent;
using System.Text;
using Dynamo.Contracts.Engine;
using Dynamo.Engine.Model;
using Dynamo.KvCache;
using Dynamo.Transfer;
using Dynamo.Transfer.Memory;
using Microsoft.Extensions.Logging;

namespace Dynamo.Engine.Transfer;

/// <summary>
/// The engine's side of disaggregated serving (vLLM's NIXL connector): registers the KV pool with the transfer agent
/// (read-only for peers), pins a prefill's blocks until the decode worker says it has read them or
/// <see cref="KvTransferOptions.PinTimeout"/> passes, and reads a remote prefill's blocks into this pool. Pins
/// belong to the engine's loop thread; unpin notifications arrive on the agent's channel and wake the loop.
/// </summary>
internal sealed class KvTransferConnector : IAsyncDisposable
{
    private const string UnpinPrefix = "kv-unpin:";

    private readonly TransferAgent _agent;
    private readonly PagedKvCache _cache;
    private readonly KvTransferOptions _options;
    private readonly Func<string, CancellationToken, ValueTask<byte[]?>>? _metadataLookup;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Action _wake;
    private readonly Dictionary<string, (KvSequence Kv, long Deadline)> _pins = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _unpins = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private long _nextPin;

    public KvTransferConnector(TransferAgent agent, PagedKvCache cache, KvTransferOptions options,
        Func<string, CancellationToken, ValueTask<byte[]?>>? metadataLookup, ILogger logger, TimeProvider time, Action wake)
    {
        options.Validate();
        _agent = agent;
        _cache = cache;
        _options = options;
        _metadataLookup = metadataLookup;
        _logger = logger;
        _time = time;
        _wake = wake;
        Region = agent.RegisterMemory(cache.BaseAddress, cache.ByteLength, RemoteAccess.Read);
        EngineLog.KvTransferAttached(logger, agent.Name, Region.Id, cache.ByteLength >> 20, cache.BlockBytes);
        _pump = PumpAsync();
    }

    public MemoryRegion Region { get; }

    public string AgentName => _agent.Name;

    /// <summary>Pins are held now (loop thread).</summary>
    public int PinnedCount => _pins.Count;

    /// <summary>Keeps <paramref name="kv"/>'s blocks for a decode worker; returns what it needs to read them (loop thread).</summary>
    public RemoteKvBlocks Pin(string requestId, KvSequence kv, int promptTokens, int firstToken)
    {
        var transferId = $"{requestId}.{++_nextPin}";
        _pins[transferId] = (kv, _time.GetTimestamp() + (long)(_options.PinTimeout.TotalSeconds * _time.TimestampFrequency));
        return new RemoteKvBlocks
        {
            AgentName = _agent.Name,
            TransferId = transferId,
            RegionId = Region.Id,
            BlockIds = kv.Blocks.ToArray(),
            BlockSize = _cache.BlockSize,
            BlockBytes = _cache.BlockBytes,
            PromptTokens = promptTokens,
            FirstToken = firstToken,
        };
    }

    /// <summary>Releases pins the decode worker is done with and those past their deadline (loop thread).</summary>
    public void ReleaseDone(Action<KvSequence> release)
    {
        while (_unpins.TryDequeue(out var id))
        {
            if (_pins.Remove(id, out var pin))
            {
                release(pin.Kv);
            }
        }

        if (_pins.Count == 0)
        {
            return;
        }

        var now = _time.GetTimestamp();
        List<string>? expired = null;
        foreach (var (id, pin) in _pins)
        {
            if (pin.Deadline <= now)
            {
                (expired ??= []).Add(id);
            }
        }

        foreach (var id in expired ?? [])
        {
            _pins.Remove(id, out var pin);
            EngineLog.PinExpired(_logger, id, pin.Kv.Blocks.Length, _options.PinTimeout);
            release(pin.Kv);
        }
    }

    /// <summary>
    /// Reads blocks <paramref name="firstBlock"/>.. of <paramref name="remote"/> into <paramref name="localBlocks"/>
    /// (same indices) and tells the prefill worker to unpin. Never throws: a failure is a failed result.
    /// </summary>
    public async Task<TransferResult> ReadAsync(RemoteKvBlocks remote, int[] localBlocks, int firstBlock, CancellationToken cancellationToken)
    {
        var notification = Encoding.UTF8.GetBytes(UnpinPrefix + remote.TransferId);
        var metadata = _agent.GetRemoteMetadata(remote.AgentName);
        if (metadata is null && _metadataLookup is not null)
        {
            try
            {
                if (await _metadataLookup(remote.AgentName, cancellationToken).ConfigureAwait(false) is { } bytes)
                {
                    _agent.LoadRemoteMetadata(bytes);
                    metadata = _agent.GetRemoteMetadata(remote.AgentName);
                }
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or OperationCanceledException)
            {
                return Failed(TransferErrorKind.UnknownAgent, $"metadata of agent '{remote.AgentName}' unusable: {e.Message}");
            }
        }

        var region = metadata?.FindRegion(remote.RegionId);
        if (region is null)
        {
            return Failed(TransferErrorKind.UnknownAgent, $"no transfer metadata for agent '{remote.AgentName}' region {remote.RegionId}");
        }

        var local = new DescriptorList(remote.BlockIds.Length - firstBlock);
        var far = new DescriptorList(remote.BlockIds.Length - firstBlock);
        try
        {
            var bytes = (ulong)remote.BlockBytes;
            for (var b = firstBlock; b < remote.BlockIds.Length; b++)
            {
                local.Add(Region.Describe(localBlocks[b] * _cache.BlockBytes, _cache.BlockBytes));
                far.Add(region.Describe((ulong)remote.BlockIds[b] * bytes, bytes));
            }
        }
        catch (ArgumentOutOfRangeException e)
        {
            await UnpinAsync(remote, notification).ConfigureAwait(false);
            return Failed(TransferErrorKind.InvalidDescriptor, e.Message);
        }

        var result = await _agent.PostTransfer(TransferOperation.Read, local, far, remote.AgentName, notification, _options.ReadTimeout, cancellationToken)
            .Completion.ConfigureAwait(false);
        if (!result.IsSuccess)
        {
            // The read's own notification may not have reached the prefill worker: ask again (its timeout is the last resort).
            await UnpinAsync(remote, notification).ConfigureAwait(false);
        }

        return result;
    }

    private async Task UnpinAsync(RemoteKvBlocks remote, byte[] notification)
    {
        if (_agent.GetRemoteMetadata(remote.AgentName) is not null)
        {
            await _agent.SendNotificationAsync(remote.AgentName, notification).ConfigureAwait(false);
        }
    }

    private static TransferResult Failed(TransferErrorKind error, string message) =>
        new() { Status = TransferStatus.Failed, Error = error, Message = message };

    private async Task PumpAsync()
    {
        try
        {
            await foreach (var note in _agent.Notifications.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                var text = note.Text;
                if (text.StartsWith(UnpinPrefix, StringComparison.Ordinal))
                {
                    _unpins.Enqueue(text[UnpinPrefix.Length..]);
                    _wake();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _pump.ConfigureAwait(false);

        // Cancels reads into the pool and peers' reads from it, and returns once none touches it: the pool can be freed.
        Region.Dispose();
        _stop.Dispose();
    }
}

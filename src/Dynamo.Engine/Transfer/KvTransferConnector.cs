using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Dynamo.Contracts.Engine;
using Dynamo.Engine.Model;
using Dynamo.KvCache;
using Dynamo.Transfer;
using Dynamo.Transfer.Memory;
using Dynamo.Transfer.Security;
using Microsoft.Extensions.Logging;

namespace Dynamo.Engine.Transfer;

/// <summary>
/// The engine's side of disaggregated serving (vLLM's NIXL connector): registers the KV pool with the transfer agent
/// (peers may read only what a grant allows), pins a prefill's blocks with a grant bound to the prompt's digest until
/// the decode worker says it has read them, the prefill's client gives them up (<see cref="RequestRelease"/>), or
/// <see cref="KvTransferOptions.PinTimeout"/> passes, and reads a remote prefill's blocks into this pool presenting
/// the token and the digest of its own prompt. Pins belong to the engine's loop thread; releases arrive on queues
/// and wake the loop.
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
    private readonly Dictionary<string, PinnedKv> _pins = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string TransferId, byte[] Token)> _unpins = new();
    private readonly ConcurrentQueue<string> _releases = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private long _nextPin;
    private int _pinnedBlocks;
    private long _declined;

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
        Region = agent.RegisterMemory(cache.BaseAddress, cache.ByteLength, RemoteAccess.Read, requireGrant: true);
        EngineLog.KvTransferAttached(logger, agent.Name, Region.Id, cache.ByteLength >> 20, cache.BlockBytes);
        _pump = PumpAsync();
    }

    public MemoryRegion Region { get; }

    public string AgentName => _agent.Name;

    /// <summary>Pins are held now (loop thread).</summary>
    public int PinnedCount => _pins.Count;

    /// <summary>Blocks the pins hold now (any thread).</summary>
    public int PinnedBlocks => Volatile.Read(ref _pinnedBlocks);

    /// <summary>Prefills that did not pin because <see cref="KvTransferOptions.MaxPinnedFraction"/> of the pool was pinned already.</summary>
    public long DeclinedPins => Interlocked.Read(ref _declined);

    /// <summary>Peer reads and connections this worker's agent refused (no or a bad token, outside a pin, other prompt, failed handshake).</summary>
    public long RefusedReads => _agent.RefusedRequests;

    /// <summary>
    /// Whether <paramref name="blocks"/> more may be pinned within <see cref="KvTransferOptions.MaxPinnedFraction"/>
    /// of <paramref name="totalBlocks"/>; counts a refusal (loop thread).
    /// </summary>
    public bool TryReserve(int blocks, int totalBlocks)
    {
        if (_pinnedBlocks + (long)blocks <= (long)Math.Floor(_options.MaxPinnedFraction * totalBlocks))
        {
            return true;
        }

        Interlocked.Increment(ref _declined);
        return false;
    }

    /// <summary>
    /// Keeps <paramref name="kv"/>'s blocks for a decode worker, granted for one read by a reader of exactly
    /// <paramref name="promptTokens"/>; returns what it needs to read them (loop thread).
    /// </summary>
    public RemoteKvBlocks Pin(string requestId, KvSequence kv, int[] promptTokens, int firstToken)
    {
        var transferId = $"{requestId}.{++_nextPin}";
        var blocks = kv.Blocks.ToArray();
        var ranges = new DescriptorList(blocks.Length);
        foreach (var block in blocks)
        {
            ranges.Add(Region.Describe(block * _cache.BlockBytes, _cache.BlockBytes));
        }

        var grant = _agent.IssueGrant(ranges, PromptDigest.Of(promptTokens));
        _pins[transferId] = new PinnedKv(kv, requestId, grant.Token.ToArray(), blocks.Length,
            _time.GetTimestamp() + (long)(_options.PinTimeout.TotalSeconds * _time.TimestampFrequency));
        Volatile.Write(ref _pinnedBlocks, _pinnedBlocks + blocks.Length);
        return new RemoteKvBlocks
        {
            AgentName = _agent.Name,
            TransferId = transferId,
            TransferToken = Base64Url.EncodeToString(grant.Token.Span),
            RegionId = Region.Id,
            BlockIds = blocks,
            BlockSize = _cache.BlockSize,
            BlockBytes = _cache.BlockBytes,
            PromptTokens = promptTokens.Length,
            FirstToken = firstToken,
        };
    }

    /// <summary>
    /// Any thread: the prefill request <paramref name="requestId"/> (the engine request's id) will not be read from
    /// (its client went away, or the decode failed): its pins go at the loop's next step.
    /// </summary>
    public void RequestRelease(string requestId)
    {
        _releases.Enqueue(requestId);
        _wake();
    }

    /// <summary>Releases pins the decode worker is done with, those given up, and those past their deadline (loop thread).</summary>
    public void ReleaseDone(Action<KvSequence> release)
    {
        while (_unpins.TryDequeue(out var unpin))
        {
            if (_pins.TryGetValue(unpin.TransferId, out var pin) && CryptographicOperations.FixedTimeEquals(pin.Token, unpin.Token))
            {
                Drop(unpin.TransferId, pin, release);
            }
        }

        while (_releases.TryDequeue(out var requestId))
        {
            foreach (var (id, pin) in _pins.Where(p => p.Value.RequestId == requestId).ToList())
            {
                Drop(id, pin, release);
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
            var pin = _pins[id];
            EngineLog.PinExpired(_logger, id, pin.Blocks, _options.PinTimeout);
            Drop(id, pin, release);
        }
    }

    private void Drop(string transferId, PinnedKv pin, Action<KvSequence> release)
    {
        // The grant goes first: once the blocks are free they may hold another prompt.
        _agent.RevokeGrant(pin.Token);
        _pins.Remove(transferId);
        Volatile.Write(ref _pinnedBlocks, _pinnedBlocks - pin.Blocks);
        release(pin.Kv);
    }

    /// <summary>
    /// Reads blocks <paramref name="firstBlock"/>.. of <paramref name="remote"/> into <paramref name="localBlocks"/>
    /// (same indices), presenting its token and the digest of <paramref name="promptTokens"/> (this request's own
    /// prompt: the prefill worker refuses the read unless its pin was made for the same tokens), and tells the prefill
    /// worker to unpin. Never throws: a failure is a failed result.
    /// </summary>
    public async Task<TransferResult> ReadAsync(RemoteKvBlocks remote, int[] promptTokens, int[] localBlocks, int firstBlock, CancellationToken cancellationToken)
    {
        if (!TryDecodeToken(remote.TransferToken, out var token))
        {
            return Failed(TransferErrorKind.InvalidDescriptor, "the transfer token is not a base64url-encoded 256-bit value");
        }

        var notification = UnpinNotification(remote.TransferId, token);
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

        if (_agent.GetBackendFor(remote.AgentName) == TransferBackendKind.Ucx && !_options.TrustUcxReads)
        {
            await UnpinAsync(remote.AgentName, notification).ConfigureAwait(false);
            return Failed(TransferErrorKind.AccessDenied,
                $"agent '{remote.AgentName}' is reached over UCX, whose one-sided reads it cannot authorize; set Dynamo:KvTransfer:TrustUcxReads or list tcp before ucx in Dynamo:Transfer:Backends");
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
            await UnpinAsync(remote.AgentName, notification).ConfigureAwait(false);
            return Failed(TransferErrorKind.InvalidDescriptor, e.Message);
        }

        var credential = new TransferCredential(token, PromptDigest.Of(promptTokens));
        var result = await _agent.PostTransfer(TransferOperation.Read, local, far, remote.AgentName, credential, notification, _options.ReadTimeout, cancellationToken)
            .Completion.ConfigureAwait(false);
        if (!result.IsSuccess)
        {
            // The read's own notification may not have reached the prefill worker: ask again (its timeout is the last resort).
            await UnpinAsync(remote.AgentName, notification).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>
    /// A decode request that will not read its remote prefill after all (abandoned, failed, or ended before its
    /// turn) tells the prefill worker to release the pin now rather than at its timeout. Never throws.
    /// </summary>
    public async Task AbandonAsync(RemoteKvBlocks remote)
    {
        if (TryDecodeToken(remote.TransferToken, out var token))
        {
            await UnpinAsync(remote.AgentName, UnpinNotification(remote.TransferId, token)).ConfigureAwait(false);
        }
    }

    private static byte[] UnpinNotification(string transferId, byte[] token) =>
        Encoding.UTF8.GetBytes($"{UnpinPrefix}{transferId}:{Base64Url.EncodeToString(token)}");

    private static bool TryDecodeToken(string text, out byte[] token)
    {
        token = new byte[TransferGrant.TokenBytes];
        // IsValid first: TryDecodeFromChars throws on characters outside the alphabet, and these strings come from peers.
        return text is { Length: > 0 and <= 64 } && Base64Url.IsValid(text, out var length) && length == TransferGrant.TokenBytes
            && Base64Url.TryDecodeFromChars(text, token, out var written) && written == TransferGrant.TokenBytes;
    }

    private async Task UnpinAsync(string agentName, byte[] notification)
    {
        if (_agent.GetRemoteMetadata(agentName) is not null)
        {
            await _agent.SendNotificationAsync(agentName, notification).ConfigureAwait(false);
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
                if (!text.StartsWith(UnpinPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                // "kv-unpin:{transfer id}:{token}": only a holder of the token can release a pin.
                var separator = text.LastIndexOf(':');
                if (separator > UnpinPrefix.Length && TryDecodeToken(text[(separator + 1)..], out var token))
                {
                    _unpins.Enqueue((text[UnpinPrefix.Length..separator], token));
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

    private sealed record PinnedKv(KvSequence Kv, string RequestId, byte[] Token, int Blocks, long Deadline);
}

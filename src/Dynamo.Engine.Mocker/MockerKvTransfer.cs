using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Dynamo.Contracts.Engine;
using Dynamo.KvCache;
using Microsoft.Extensions.Logging;

namespace Dynamo.Engine.Mocker;

/// <summary>
/// A <see cref="MockerEngine"/>'s side of disaggregated serving, standing in for the real engine's transfer agent.
/// Prefill: pins a prompt's blocks until the decode side is done with them or
/// <see cref="MockerKvTransferOptions.PinTimeout"/> passes. Decode: no memory moves; the request waits
/// <c>LatencyMs + uncached prompt tokens × KvBytesPerToken ÷ Bandwidth</c> (prefix-cache hits here move nothing),
/// then takes the prompt as computed.
/// </summary>
/// <remarks>
/// The mocker has no transfer agent to carry the decode side's unpin notification, so every mocker engine of a
/// process registers here under its agent name (<c>mocker:PROCESS:N:WORKER</c>). A decode whose prefill ran in this
/// process checks the pin as the real engine's transfer agent does (the transfer token in constant time, exactly the
/// pinned block ids, and the digest of its own prompt tokens against the one the pin was made for; a forged, stale or
/// foreign descriptor falls back to local prefill, as a refused read does on the real engine) and releases it
/// directly once its transfer time has passed. A prefill in another process (a mocker agent
/// name with another process token) cannot be checked or notified: its descriptors are taken as they are and its pin
/// lasts until the timeout there. Any other agent name is unknown: the decode computes the prompt itself.
/// </remarks>
internal sealed class MockerKvTransfer : IDisposable
{
    private const string AgentPrefix = "mocker:";
    // Weak: an engine nobody disposed must not be kept alive by the registry.
    private static readonly ConcurrentDictionary<string, WeakReference<MockerKvTransfer>> Agents = new(StringComparer.Ordinal);
    private static readonly string ProcessPrefix = $"{AgentPrefix}{Guid.NewGuid().ToString("N")[..8]}:";
    private static long s_nextAgent;

    private readonly MockerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action _wake;
    private readonly CancellationToken _stopping;
    private readonly Dictionary<string, MockerPin> _pins = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<KvSequence> _unpinned = new();
    private readonly ConcurrentQueue<string> _releases = new();
    private readonly ConcurrentQueue<SequenceState> _done = new();
    private long _nextPin;
    private int _pinnedCount;
    private int _pinnedBlocks;
    private long _declined;
    private long _refused;
    private long _remotePrefills;
    private long _fallbacks;
    private long _bytesMoved;

    /// <param name="wake">Wakes the owner's loop: a transfer's time passed, or a decode released a pin.</param>
    /// <param name="stopping">Cancels the transfer timers when the engine shuts down.</param>
    public MockerKvTransfer(MockerOptions options, TimeProvider time, ILogger logger, Action wake, CancellationToken stopping)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _wake = wake;
        _stopping = stopping;
        AgentName = $"{ProcessPrefix}{Interlocked.Increment(ref s_nextAgent)}:{options.WorkerId}";
        BlockBytes = options.BlockSize * options.KvBytesPerToken;
        Agents[AgentName] = new WeakReference<MockerKvTransfer>(this);
    }

    public string AgentName { get; }

    /// <summary>KV bytes of one block, every layer's K and V.</summary>
    public long BlockBytes { get; }

    public int PinnedCount => Volatile.Read(ref _pinnedCount);

    /// <summary>Decode descriptors naming this engine that did not match a pin (the real agent's refused reads).</summary>
    public long RefusedReads => Interlocked.Read(ref _refused);

    /// <summary>Blocks the pins hold now.</summary>
    public int PinnedBlocks => Volatile.Read(ref _pinnedBlocks);

    /// <summary>Prefills that did not pin because <see cref="MockerKvTransferOptions.MaxPinnedFraction"/> of the pool was pinned already.</summary>
    public long DeclinedPins => Interlocked.Read(ref _declined);

    /// <summary>Whether <paramref name="blocks"/> more may be pinned within the cap of <paramref name="totalBlocks"/>; counts a refusal (loop thread).</summary>
    public bool TryReserve(int blocks, int totalBlocks)
    {
        if (PinnedBlocks + (long)blocks <= (long)Math.Floor(_options.KvTransfer.MaxPinnedFraction * totalBlocks))
        {
            return true;
        }

        Interlocked.Increment(ref _declined);
        return false;
    }

    /// <summary>Any thread: the prefill request <paramref name="requestId"/> will not be read from; its pins go at the loop's next step.</summary>
    public void RequestRelease(string requestId)
    {
        _releases.Enqueue(requestId);
        _wake();
    }

    public (long Remote, long Fallback) RemotePrefills => (Interlocked.Read(ref _remotePrefills), Interlocked.Read(ref _fallbacks));

    /// <summary>KV bytes the modeled transfers moved into this engine.</summary>
    public long BytesMoved => Interlocked.Read(ref _bytesMoved);

    /// <summary>Raised on the loop thread when a decode starts waiting for its prompt's KV.</summary>
    public event Action<MockerTransfer>? TransferStarted;

    /// <summary>A decode's remote prefill ended: modelled bytes and time, or the fallback's reason (the worker's metrics).</summary>
    public event Action<KvTransferRecord>? KvTransferDone;

    /// <summary>Prefill: keeps <paramref name="kv"/>'s blocks for a decode worker; returns what it needs (loop thread).</summary>
    public RemoteKvBlocks Pin(string requestId, KvSequence kv, int[] promptTokens, int firstToken)
    {
        string transferId = $"{requestId}.{++_nextPin}";
        int[] blockIds = kv.Blocks.ToArray();
        byte[] token = RandomNumberGenerator.GetBytes(32);
        long deadline = _time.GetTimestamp() + (long)(_options.KvTransfer.PinTimeout.TotalSeconds * _time.TimestampFrequency);
        lock (_pins)
        {
            _pins[transferId] = new MockerPin(kv, requestId, blockIds, token, PromptDigest.Of(promptTokens), deadline);
            Volatile.Write(ref _pinnedCount, _pins.Count);
            Volatile.Write(ref _pinnedBlocks, _pinnedBlocks + blockIds.Length);
        }

        return new RemoteKvBlocks
        {
            AgentName = AgentName,
            TransferId = transferId,
            TransferToken = Base64Url.EncodeToString(token),
            RegionId = 0,
            BlockIds = blockIds,
            BlockSize = _options.BlockSize,
            BlockBytes = BlockBytes,
            PromptTokens = promptTokens.Length,
            FirstToken = firstToken,
        };
    }

    /// <summary>Prefill: releases the pins decode workers are done with and those past their deadline (loop thread).</summary>
    public void ReleaseDone(BlockPool pool)
    {
        while (_releases.TryDequeue(out string? requestId))
        {
            List<string> ids;
            lock (_pins)
            {
                ids = [.. _pins.Where(p => p.Value.RequestId == requestId).Select(p => p.Key)];
            }

            foreach (string id in ids)
            {
                TryRelease(id);
            }
        }

        while (_unpinned.TryDequeue(out KvSequence? kv))
        {
            pool.Release(kv);
        }

        List<(string Id, MockerPin Pin)>? expired = null;
        lock (_pins)
        {
            if (_pins.Count == 0)
            {
                return;
            }

            long now = _time.GetTimestamp();
            foreach ((string id, MockerPin pin) in _pins)
            {
                if (pin.Deadline <= now)
                {
                    (expired ??= []).Add((id, pin));
                }
            }

            foreach ((string id, MockerPin pin) in expired ?? [])
            {
                _pins.Remove(id);
                Volatile.Write(ref _pinnedBlocks, _pinnedBlocks - pin.BlockIds.Length);
            }

            Volatile.Write(ref _pinnedCount, _pins.Count);
        }

        foreach ((string id, MockerPin pin) in expired ?? [])
        {
            MockerLog.PinExpired(_logger, id, pin.BlockIds.Length, _options.KvTransfer.PinTimeout);
            pool.Release(pin.Kv);
        }
    }

    /// <summary>Time until the earliest pin expires, or null with none (the idle loop must wake for it).</summary>
    public TimeSpan? NextPinExpiry()
    {
        lock (_pins)
        {
            if (_pins.Count == 0)
            {
                return null;
            }

            long first = long.MaxValue;
            foreach (MockerPin pin in _pins.Values)
            {
                first = Math.Min(first, pin.Deadline);
            }

            long now = _time.GetTimestamp();
            return first <= now ? TimeSpan.Zero : _time.GetElapsedTime(now, first);
        }
    }

    /// <summary>
    /// Decode: checks <paramref name="remote"/> against this engine and the prefill engine, and starts the modeled
    /// transfer of the prompt tokens <paramref name="s"/>'s blocks lack (its prefix-cache hits stay). False, logged,
    /// when the prompt must be computed here instead (loop thread; the sequence is allocated).
    /// </summary>
    public bool TryBegin(SequenceState s, RemoteKvBlocks remote)
    {
        KvSequence kv = s.Kv!;
        int prompt = s.PromptLength;
        int blocks = (prompt + _options.BlockSize - 1) / _options.BlockSize;
        string? mismatch = remote.BlockSize != _options.BlockSize ? $"block size {remote.BlockSize}, this engine's is {_options.BlockSize}"
            : remote.BlockBytes != BlockBytes ? $"{remote.BlockBytes} bytes per block, this engine's are {BlockBytes} (another model or layout)"
            : remote.PromptTokens != prompt ? $"{remote.PromptTokens} prompt tokens, the request has {prompt}"
            : remote.BlockIds is null || remote.BlockIds.Length != blocks ? $"{remote.BlockIds?.Length ?? 0} block ids for {blocks} blocks"
            : (uint)remote.FirstToken >= (uint)_options.VocabSize ? $"first token {remote.FirstToken} outside the vocabulary"
            : kv.TokenCount != prompt ? "the sequence already holds generated tokens"
            : null;
        if (mismatch is not null)
        {
            return Fallback(s, remote, "mismatch", mismatch);
        }

        MockerKvTransfer? source = null;
        if (remote.AgentName.StartsWith(ProcessPrefix, StringComparison.Ordinal))
        {
            if (!Agents.TryGetValue(remote.AgentName, out WeakReference<MockerKvTransfer>? agent) || !agent.TryGetTarget(out source))
            {
                return Fallback(s, remote, "UnknownAgent", $"mocker agent '{remote.AgentName}' of this process is gone (its engine was disposed)");
            }

            if (source.CheckPin(remote, s.Request.PromptTokens) is string invalid)
            {
                return Fallback(s, remote, "InvalidDescriptor", invalid);
            }
        }
        else if (!remote.AgentName.StartsWith(AgentPrefix, StringComparison.Ordinal))
        {
            return Fallback(s, remote, "UnknownAgent", $"'{remote.AgentName}' is not a mocker agent");
        }
        else if (remote.BlockIds!.Any(static b => b < 0))
        {
            return Fallback(s, remote, "InvalidDescriptor", "negative block id");
        }

        int cached = kv.ComputedTokens;
        int moved = prompt - cached;
        long bytes = moved * _options.KvBytesPerToken;
        double ms = (_options.KvTransfer.LatencyMs + (bytes * 1000.0 / _options.KvTransfer.Bandwidth)) / _options.SpeedupFactor;
        TimeSpan delay = _options.ZeroDelay ? TimeSpan.Zero : TimeSpan.FromMilliseconds(ms);
        s.RemoteSource = source;
        s.RemoteTransfer = (bytes, delay);
        MockerLog.RemotePrefillModeled(_logger, s.Request.RequestId, moved, bytes, cached, remote.AgentName, delay.TotalMilliseconds);
        Interlocked.Add(ref _bytesMoved, bytes);
        if (delay <= TimeSpan.Zero)
        {
            Done(s);
        }
        else
        {
            _ = CompleteAfterAsync(s, delay);
        }

        // After the timer is armed: a test that advances its clock on this event advances it from the transfer's start.
        TransferStarted?.Invoke(new MockerTransfer(s.Request.RequestId, cached, moved, bytes, delay));
        return true;
    }

    /// <summary>A transfer whose time has passed, if any (loop thread).</summary>
    public bool TryTakeDone(out SequenceState s) => _done.TryDequeue(out s!);

    /// <summary>
    /// Decode, once the transfer time has passed: releases the prefill's pin (the real decode's notification) and
    /// says whether the prompt's KV arrived; null when it did, else why the prompt must be computed here (loop thread).
    /// </summary>
    public string? Finish(SequenceState s)
    {
        RemoteKvBlocks remote = s.Request.KvTransfer!.RemotePrefill!;
        string? failure = null;
        if (s.RemoteSource is { } source && !source.TryRelease(remote.TransferId))
        {
            // The blocks may hold another prompt by now: on a GPU this read would have copied garbage.
            failure = $"the pin {remote.TransferId} expired on '{remote.AgentName}' during the transfer";
        }

        s.RemoteSource = null;
        if (failure is null)
        {
            Interlocked.Increment(ref _remotePrefills);
            KvTransferDone?.Invoke(new KvTransferRecord(s.RemoteTransfer.Bytes, s.RemoteTransfer.Delay, null));
        }
        else
        {
            Fallback(s, remote, "Expired", failure);
        }

        return failure;
    }

    /// <summary>
    /// Decode: <paramref name="remote"/> will not be read (the request left before its turn); releases the pin when
    /// its prefill ran in this process and the token is the pin's (the real decode's unpin notification).
    /// </summary>
    public void Abandon(RemoteKvBlocks remote)
    {
        if (remote.AgentName.StartsWith(ProcessPrefix, StringComparison.Ordinal)
            && Agents.TryGetValue(remote.AgentName, out WeakReference<MockerKvTransfer>? agent) && agent.TryGetTarget(out MockerKvTransfer? source))
        {
            source.ReleaseIfHeld(remote);
        }
    }

    private void ReleaseIfHeld(RemoteKvBlocks remote)
    {
        if (!TryDecodeToken(remote.TransferToken, out byte[] token))
        {
            return;
        }

        bool held;
        lock (_pins)
        {
            held = _pins.TryGetValue(remote.TransferId, out MockerPin pin) && CryptographicOperations.FixedTimeEquals(pin.Token, token);
        }

        if (held)
        {
            TryRelease(remote.TransferId);
        }
    }

    /// <summary>IsValid first: TryDecodeFromChars throws on characters outside the alphabet.</summary>
    private static bool TryDecodeToken(string? text, out byte[] token)
    {
        token = new byte[32];
        return text is { Length: > 0 and <= 64 } && Base64Url.IsValid(text, out int length) && length == token.Length
            && Base64Url.TryDecodeFromChars(text, token, out int written) && written == token.Length;
    }

    public void Dispose() => Agents.TryRemove(AgentName, out _);

    private bool Fallback(SequenceState s, RemoteKvBlocks remote, string error, string reason)
    {
        Interlocked.Increment(ref _fallbacks);
        MockerLog.RemotePrefillFallback(_logger, s.Request.RequestId, remote.AgentName, error, reason);
        KvTransferDone?.Invoke(new KvTransferRecord(0, TimeSpan.Zero, System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(error)));
        return false;
    }

    private async Task CompleteAfterAsync(SequenceState s, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _time, _stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Shutdown: the engine fails the sequence.
            return;
        }

        Done(s);
    }

    private void Done(SequenceState s)
    {
        _done.Enqueue(s);
        _wake();
    }

    /// <summary>
    /// Null when <paramref name="remote"/> names a pin held here with its token, exactly its blocks and a digest of
    /// <paramref name="promptTokens"/> (the decode's own prompt); else why not. A refusal with the pin's token
    /// releases it (as the real decode's unpin after a failed read does); an unknown token releases nothing.
    /// </summary>
    private string? CheckPin(RemoteKvBlocks remote, int[] promptTokens)
    {
        string? refused = Verify(remote, promptTokens);
        if (refused is not null)
        {
            Interlocked.Increment(ref _refused);
        }

        return refused;
    }

    private string? Verify(RemoteKvBlocks remote, int[] promptTokens)
    {
        bool decoded = TryDecodeToken(remote.TransferToken, out byte[] token);
        lock (_pins)
        {
            if (!decoded || !_pins.TryGetValue(remote.TransferId, out MockerPin pin) || !CryptographicOperations.FixedTimeEquals(pin.Token, token))
            {
                return $"'{AgentName}' holds no pin {remote.TransferId} for this transfer token (expired, released, forged or never made)";
            }

            if (pin.BlockIds.AsSpan().SequenceEqual(remote.BlockIds) && CryptographicOperations.FixedTimeEquals(pin.Digest, PromptDigest.Of(promptTokens)))
            {
                return null;
            }
        }

        // Refused with the right token: the real decode's failed read then sends the unpin notification, which the
        // token authorizes, so the pin goes here too.
        TryRelease(remote.TransferId);
        return $"block ids or prompt tokens of {remote.TransferId} are not the ones '{AgentName}' pinned for";
    }

    /// <summary>Any thread: drops the pin and hands its blocks to this engine's loop to free. False when it was not held.</summary>
    private bool TryRelease(string transferId)
    {
        lock (_pins)
        {
            if (!_pins.Remove(transferId, out MockerPin pin))
            {
                return false;
            }

            Volatile.Write(ref _pinnedCount, _pins.Count);
            Volatile.Write(ref _pinnedBlocks, _pinnedBlocks - pin.BlockIds.Length);
            _unpinned.Enqueue(pin.Kv);
        }

        _wake();
        return true;
    }

    private readonly record struct MockerPin(KvSequence Kv, string RequestId, int[] BlockIds, byte[] Token, byte[] Digest, long Deadline);
}

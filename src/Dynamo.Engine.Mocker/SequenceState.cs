using System.Threading.Channels;
using Dynamo.Contracts.Engine;
using Dynamo.KvCache;

namespace Dynamo.Engine.Mocker;

/// <summary>
/// One request inside the mocker. The scheduler loop owns everything but the flags that the reader side sets
/// (<see cref="Abandon"/>, <see cref="OnTaken"/>).
/// </summary>
internal sealed class SequenceState
{
    private int _abandoned;
    private int _stalled;
    private int _unread;
    private volatile bool _finished;

    public SequenceState(EngineRequest request, ulong contextHash, ulong? seed)
    {
        Request = request;
        PromptLength = request.PromptTokens.Length;
        Tokens = new List<int>(PromptLength + Math.Min(request.MaxTokens, 4096));
        Tokens.AddRange(request.PromptTokens);
        ContextHash = contextHash;
        Seed = seed;
    }

    public EngineRequest Request { get; }

    public int PromptLength { get; }

    /// <summary>Prompt and generated tokens. The last generated one has no KV yet until the next step appends it.</summary>
    public List<int> Tokens { get; }

    public int Generated => Tokens.Count - PromptLength;

    public ulong ContextHash { get; set; }

    public ulong? Seed { get; }

    /// <summary>Blocks while admitted; null while waiting (first time or after preemption).</summary>
    public KvSequence? Kv { get; set; }

    /// <summary>Prompt tokens found cached at the first admission; -1 before it.</summary>
    public int CachedTokens { get; set; } = -1;

    public LinkedListNode<SequenceState>? WaitingNode { get; set; }

    public bool IsRunning { get; set; }

    /// <summary>Disaggregated decode: the prompt's KV and first token come from a prefill worker (see <see cref="MockerStepper"/>).</summary>
    public bool PrefilledRemotely { get; init; }

    /// <summary>Live disaggregated decode: the in-process prefill engine whose pin this sequence releases when its transfer ends; null otherwise.</summary>
    public MockerKvTransfer? RemoteSource { get; set; }

    /// <summary>Disaggregated decode: the modelled transfer's bytes and time, reported when it ends.</summary>
    public (long Bytes, TimeSpan Delay) RemoteTransfer { get; set; }

    /// <summary>Prompt tokens to take as cached at first admission whatever the pool holds (oracle studies); 0 normally.</summary>
    public int OracleCachedTokens { get; init; }

    /// <summary>Owner's tag (the stepper's request bookkeeping).</summary>
    public object? Tag { get; set; }

    /// <summary>Tokens for the reader. Unbounded, but the loop stops scheduling a sequence whose reader lags.</summary>
    public Channel<EngineOutput> Output { get; } = Channel.CreateUnbounded<EngineOutput>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public bool IsFinished => _finished;

    public bool IsAbandoned => Volatile.Read(ref _abandoned) == 1;

    public void MarkFinished() => _finished = true;

    /// <summary>Reader side: the consumer went away. Returns true the first time.</summary>
    public bool Abandon() => Interlocked.Exchange(ref _abandoned, 1) == 0;

    /// <summary>
    /// Loop side: whether the reader has <paramref name="limit"/> tokens unread. Sets the stall flag before the
    /// second look, so a reader that drains in between either is seen here or sees the flag and wakes the loop.
    /// </summary>
    public bool IsBackedUp(int limit)
    {
        if (Volatile.Read(ref _unread) < limit)
        {
            return false;
        }

        Interlocked.Exchange(ref _stalled, 1);
        if (Volatile.Read(ref _unread) < limit)
        {
            Interlocked.Exchange(ref _stalled, 0);
            return false;
        }

        return true;
    }

    /// <summary>Loop side: queues a token for the reader.</summary>
    public void Write(EngineOutput output)
    {
        Interlocked.Increment(ref _unread);
        Output.Writer.TryWrite(output);
    }

    /// <summary>Reader side, after taking a token: true when the loop was waiting for this reader.</summary>
    public bool OnTaken()
    {
        Interlocked.Decrement(ref _unread);
        return Volatile.Read(ref _stalled) == 1 && Interlocked.Exchange(ref _stalled, 0) == 1;
    }
}

using System.Threading.Channels;
using Dynamo.Contracts.Engine;
using Dynamo.Engine.Sampling;
using Dynamo.KvCache;

namespace Dynamo.Engine.Scheduling;

/// <summary>One request inside the engine. Fields other than the cancellation flag belong to the loop thread.</summary>
internal sealed class EngineSequence
{
    public EngineSequence(EngineRequest request, long arrival, int outputCapacity)
    {
        Request = request;
        Arrival = arrival;
        Tokens = new List<int>(request.PromptTokens.Length + Math.Min(request.MaxTokens, 4096));
        Tokens.AddRange(request.PromptTokens);
        Sampling = new SamplingState(request.Sampling);
        OutputCapacity = outputCapacity;
        Output = Channel.CreateBounded<EngineOutput>(new BoundedChannelOptions(outputCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public EngineRequest Request { get; }

    public long Arrival { get; }

    /// <summary>Prompt and generated tokens.</summary>
    public List<int> Tokens { get; }

    public int Generated { get; set; }

    public SamplingState Sampling { get; }

    public Channel<EngineOutput> Output { get; }

    public int OutputCapacity { get; }

    /// <summary>The block pool's view; null while waiting (not yet admitted, or preempted).</summary>
    public KvSequence? Kv { get; set; }

    /// <summary>Prompt tokens served from the prefix cache at first admission, reported on every output.</summary>
    public int? CachedTokens { get; set; }

    /// <summary>The last generated token is in <see cref="Tokens"/> but not yet appended to <see cref="Kv"/>.</summary>
    public bool NeedsAppend { get; set; }

    public int Preemptions { get; set; }

    /// <summary>A read of the prompt's KV from a prefill worker was attempted (it is not retried; a failure computes it here).</summary>
    public bool RemotePrefillTried { get; set; }

    public bool Finished { get; set; }

    /// <summary>
    /// A request that asked for the prompt's log-probabilities, until its first output carries them: one entry per
    /// prompt token scored so far (the first null). Started afresh at each admission, which recomputes the prompt whole.
    /// </summary>
    public List<TokenLogprobs?>? PromptLogprobs { get; set; }

    /// <summary>The prompt's log-probabilities are asked for and not yet delivered: its prompt must be computed, not read from a cache.</summary>
    public bool ScoresPrompt => Request.PromptLogprobs is not null && Generated == 0;

    /// <summary>Set by the reader when it stops listening; the loop frees the sequence at its next step.</summary>
    public volatile bool Abandoned;

    /// <summary>Set by the loop when it skipped the sequence because its reader lags; the reader wakes the loop.</summary>
    public volatile bool Throttled;
}

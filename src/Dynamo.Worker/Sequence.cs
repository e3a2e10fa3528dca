using System.Text;
using Dynamo.Contracts.Engine;

namespace Dynamo.Worker;

/// <summary>One choice of a response: one engine sequence, and what it has produced so far.</summary>
internal sealed class Sequence(int index, int promptIndex, EngineRequest request)
{
    /// <summary>The choice's <c>index</c>: prompt index × n + the sample's number, as OpenAI numbers them.</summary>
    public int Index { get; } = index;

    public int PromptIndex { get; } = promptIndex;

    public EngineRequest Request { get; } = request;

    public int CompletionTokens { get; set; }

    public int CachedTokens { get; set; }

    /// <summary>"stop" or "length" once the choice ended; null while it runs.</summary>
    public string? FinishReason { get; set; }

    /// <summary>Chat streams send the assistant role in the first chunk of each choice.</summary>
    public bool RoleSent { get; set; }

    /// <summary>Non-streaming responses only: the text and token ids gathered.</summary>
    public StringBuilder? Text { get; set; }

    public List<int>? TokenIds { get; set; }

    /// <summary>Non-streaming responses that asked for log-probabilities: each token's, gathered.</summary>
    public List<Dynamo.Llm.Protocol.LoggedToken>? Logprobs { get; set; }

    /// <summary>Non-streaming responses that asked for <c>prompt_logprobs</c>: the prompt's tokens and scores, once the first output brought them.</summary>
    public Dynamo.Llm.Protocol.LoggedToken[]? PromptLogprobs { get; set; }

    /// <summary>Completions' <c>text_offset</c> of the next token: the length of the tokens' texts so far.</summary>
    public int TextOffset { get; set; }

    /// <summary>A prefill for a remote decode: where the engine keeps the prompt's KV.</summary>
    public RemoteKvBlocks? KvTransfer { get; set; }

    /// <summary>A prefill for a remote decode whose engine declined to pin (pins held their share of the pool).</summary>
    public bool KvTransferDeclined { get; set; }
}

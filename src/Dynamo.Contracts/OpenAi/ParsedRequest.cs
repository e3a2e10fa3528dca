using System.Text.Json;
using Dynamo.Contracts.Engine;
using Dynamo.Contracts.Routing;

namespace Dynamo.Contracts.OpenAi;

public enum RequestKind
{
    Completion,
    Chat,
}

/// <summary>
/// One chat message after validation; <see cref="Content"/> has text parts joined, and is empty for an assistant message
/// whose content was null or absent (one that only calls tools).
/// </summary>
/// <param name="Role"><c>system</c> (also for <c>developer</c>), <c>user</c>, <c>assistant</c> or <c>tool</c>.</param>
/// <param name="Content">The text.</param>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>An assistant message's function calls (<c>tool_calls</c>); empty when it made none.</summary>
    public IReadOnlyList<ToolCall> ToolCalls { get; init; } = Array.Empty<ToolCall>();

    /// <summary>A <c>tool</c> message's <c>tool_call_id</c>: the call it answers.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>The message's <c>name</c> (a participant name, or the function a tool result is from); null when absent.</summary>
    public string? Name { get; init; }
}

/// <summary>One prompt of a completions request: text, or token ids (what the gateway sends to workers).</summary>
public sealed record PromptInput(string? Text, int[]? TokenIds)
{
    public static PromptInput FromText(string text) => new(text, null);

    public static PromptInput FromTokens(int[] tokenIds) => new(null, tokenIds);
}

/// <summary>
/// An OpenAI chat or completions request after parsing and validation, used by the gateway and by workers
/// (whose contract is the same API with token-id prompts). Values are already range-checked.
/// </summary>
public sealed record ParsedRequest
{
    public required RequestKind Kind { get; init; }

    public required string Model { get; init; }

    /// <summary>Chat requests only.</summary>
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];

    /// <summary>Completions requests only: one entry per prompt (OpenAI allows a batch of prompts).</summary>
    public IReadOnlyList<PromptInput> Prompts { get; init; } = [];

    /// <summary><c>max_tokens</c> or <c>max_completion_tokens</c>; null means "up to the context length".</summary>
    public int? MaxTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Stop strings, matched on the text across token boundaries; not part of the output.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Stop token ids (vLLM's <c>stop_token_ids</c>).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    public int N { get; init; } = 1;

    public bool Stream { get; init; }

    public bool IncludeUsage { get; init; }

    public bool IgnoreEos { get; init; }

    public string? User { get; init; }

    /// <summary>Chat only: the functions the model may call (<c>tools</c>); empty when none.</summary>
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];

    /// <summary>Chat only: <c>tool_choice</c>; <see cref="ToolChoice.None"/> without tools, <see cref="ToolChoice.Auto"/>
    /// with tools when the client sent none.</summary>
    public ToolChoice ToolChoice { get; init; } = ToolChoice.None;

    /// <summary>Chat only: <c>parallel_tool_calls</c> (default true); false keeps at most one call per answer.</summary>
    public bool ParallelToolCalls { get; init; } = true;

    /// <summary>Whether tools are offered to the model and its output is parsed for calls: tools given and
    /// <c>tool_choice</c> other than <c>none</c>.</summary>
    public bool UsesTools => Tools.Count > 0 && ToolChoice.Mode != ToolChoiceMode.None;

    /// <summary>
    /// Log-probabilities to report: null for none, else how many of the most likely alternatives per token (chat:
    /// <c>logprobs: true</c> with <c>top_logprobs</c> 0..20; completions: <c>logprobs</c> 0..5).
    /// </summary>
    public int? Logprobs { get; init; }

    /// <summary>Completions only: <c>echo</c>, the prompt's text put before each choice's output.</summary>
    public bool Echo { get; init; }

    /// <summary>
    /// Completions only: vLLM's <c>prompt_logprobs</c>, the prompt tokens' own log-probabilities with this many
    /// alternatives each. The worker contract's field: the gateway sends it for <c>echo</c> with <c>logprobs</c> and
    /// refuses it from clients.
    /// </summary>
    public int? PromptLogprobs { get; init; }

    /// <summary>Completions with <c>echo</c> and <c>logprobs</c>: the prompt's tokens lead each choice's log-probabilities.</summary>
    public bool EchoesLogprobs => Echo && Logprobs is not null && Kind == RequestKind.Completion;

    /// <summary>vLLM's <c>return_tokens_as_token_ids</c>: log-probability tokens are written <c>token_id:N</c> instead of
    /// their text (the worker contract uses it, so the gateway reads ids, not text).</summary>
    public bool ReturnTokensAsTokenIds { get; init; }

    /// <summary><c>response_format</c> <c>json_object</c> or <c>json_schema</c>; null for plain text.</summary>
    public ResponseFormat? ResponseFormat { get; init; }

    /// <summary>
    /// Worker contract (<c>generated_prompt_tokens</c>): how many of the prompt's last tokens are output already
    /// generated for this request (a migrated request continues from them). They are replayed through the
    /// <see cref="ResponseFormat"/> constraint so that it resumes where the failed worker left off.
    /// </summary>
    public int GeneratedPromptTokens { get; init; }

    /// <summary>The <c>nvext</c> object's hints (session affinity, expected output length, priority); null when the body has none.</summary>
    public RequestHints? Hints { get; init; }

    /// <summary>Disaggregation hand-off, passed through untouched (vLLM NIXL connector shape).</summary>
    public JsonElement? KvTransferParams { get; init; }
}

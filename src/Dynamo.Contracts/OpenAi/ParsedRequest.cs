using System.Text.Json;
using Dynamo.Contracts.Engine;

namespace Dynamo.Contracts.OpenAi;

public enum RequestKind
{
    Completion,
    Chat,
}

/// <summary>One chat message after validation; <see cref="Content"/> has text parts joined.</summary>
public sealed record ChatMessage(string Role, string Content);

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

    /// <summary><c>response_format</c> <c>json_object</c> or <c>json_schema</c>; null for plain text.</summary>
    public ResponseFormat? ResponseFormat { get; init; }

    /// <summary>
    /// Worker contract (<c>generated_prompt_tokens</c>): how many of the prompt's last tokens are output already
    /// generated for this request (a migrated request continues from them). They are replayed through the
    /// <see cref="ResponseFormat"/> constraint so that it resumes where the failed worker left off.
    /// </summary>
    public int GeneratedPromptTokens { get; init; }

    /// <summary>Disaggregation hand-off, passed through untouched (vLLM NIXL connector shape).</summary>
    public JsonElement? KvTransferParams { get; init; }
}

using System.Text.Json.Serialization;

namespace Dynamo.Contracts.OpenAi;

/// <summary>OpenAI's <c>usage</c> object.</summary>
public sealed record Usage
{
    [JsonPropertyName("prompt_tokens")]
    public int PromptTokens { get; init; }

    [JsonPropertyName("completion_tokens")]
    public int CompletionTokens { get; init; }

    [JsonPropertyName("total_tokens")]
    public int TotalTokens => PromptTokens + CompletionTokens;

    [JsonPropertyName("prompt_tokens_details")]
    public PromptTokensDetails PromptTokensDetails { get; init; } = new();
}

public sealed record PromptTokensDetails
{
    /// <summary>Prompt tokens whose KV blocks were already cached on the worker.</summary>
    [JsonPropertyName("cached_tokens")]
    public int CachedTokens { get; init; }
}

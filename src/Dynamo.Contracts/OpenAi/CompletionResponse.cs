using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dynamo.Contracts.OpenAi;

/// <summary>
/// <c>/v1/completions</c> response and stream chunk (<c>object: "text_completion"</c>). Workers add
/// <c>token_ids</c> to each choice and may return <c>kv_transfer_params</c>; the gateway strips both for clients.
/// </summary>
public sealed record CompletionResponse
{
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    [JsonPropertyName("object")]
    public string Object { get; init; } = "text_completion";

    [JsonPropertyName("created")]
    public long Created { get; init; }

    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("choices")]
    public required IReadOnlyList<CompletionChoice> Choices { get; init; }

    [JsonPropertyName("usage")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Usage? Usage { get; init; }

    [JsonPropertyName("system_fingerprint")]
    public string? SystemFingerprint { get; init; }

    [JsonPropertyName("kv_transfer_params")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonElement? KvTransferParams { get; init; }
}

public sealed record CompletionChoice
{
    [JsonPropertyName("index")]
    public int Index { get; init; }

    [JsonPropertyName("text")]
    public string Text { get; init; } = "";

    [JsonPropertyName("logprobs")]
    public object? Logprobs { get; init; }

    /// <summary>"stop", "length", or null while streaming.</summary>
    [JsonPropertyName("finish_reason")]
    public string? FinishReason { get; init; }

    [JsonPropertyName("token_ids")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? TokenIds { get; init; }
}

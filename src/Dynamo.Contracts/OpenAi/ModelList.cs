using System.Text.Json.Serialization;

namespace Dynamo.Contracts.OpenAi;

/// <summary><c>GET /v1/models</c>.</summary>
public sealed record ModelList([property: JsonPropertyName("data")] IReadOnlyList<ModelCardOut> Data)
{
    [JsonPropertyName("object")]
    public string Object { get; init; } = "list";
}

public sealed record ModelCardOut(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy)
{
    [JsonPropertyName("object")]
    public string Object { get; init; } = "model";

    /// <summary>The model's context length in tokens (vLLM's extension of the model object); null: not said.</summary>
    [JsonPropertyName("max_model_len")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxModelLen { get; init; }
}

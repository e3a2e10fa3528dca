using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dynamo.Contracts.OpenAi;

/// <summary>Source-generated serializers for every OpenAI shape the project writes or reads back.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(Usage))]
public sealed partial class OpenAiJsonContext : JsonSerializerContext
{
    /// <summary>Writes non-ASCII text as UTF-8 rather than \u escapes, as OpenAI does; the bodies are never embedded in HTML.</summary>
    public static OpenAiJsonContext Relaxed { get; } = new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}

using System.Text.Json.Serialization;

namespace Dynamo.Contracts.OpenAi;

/// <summary>Source-generated serializers for every OpenAI shape the project writes or reads back.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(Usage))]
public sealed partial class OpenAiJsonContext : JsonSerializerContext;

using System.Text.Json;

namespace Dynamo.Contracts.OpenAi;

/// <summary>One entry of a chat request's <c>tools</c>: a function the model may call.</summary>
/// <param name="Name">The function's name (letters, digits, <c>_</c> and <c>-</c>, at most 64).</param>
/// <param name="Description">What the function does, for the model; null when not given.</param>
/// <param name="Parameters">The JSON schema of its arguments; null when not given (no arguments).</param>
/// <param name="Tool">The whole tool object as the client sent it (<c>{"type":"function","function":{...}}</c>), which
/// the chat template receives in <c>tools</c> as Hugging Face's <c>apply_chat_template</c> does.</param>
public sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters, JsonElement Tool);

namespace Dynamo.Contracts.OpenAi;

/// <summary>A chat request's <c>tool_choice</c>: <c>"none"</c>, <c>"auto"</c>, <c>"required"</c> or
/// <c>{"type":"function","function":{"name":...}}</c>.</summary>
/// <param name="Mode">What is asked.</param>
/// <param name="FunctionName">The function named, for <see cref="ToolChoiceMode.Function"/>; null otherwise.</param>
public sealed record ToolChoice(ToolChoiceMode Mode, string? FunctionName = null)
{
    /// <summary><c>"none"</c>: OpenAI's default when a request has no tools.</summary>
    public static ToolChoice None { get; } = new(ToolChoiceMode.None);

    /// <summary><c>"auto"</c>: OpenAI's default when a request has tools.</summary>
    public static ToolChoice Auto { get; } = new(ToolChoiceMode.Auto);

    /// <summary><c>"required"</c>.</summary>
    public static ToolChoice Required { get; } = new(ToolChoiceMode.Required);

    /// <summary>Whether the model must call a tool (<see cref="ToolChoiceMode.Required"/> or a named function): only
    /// constrained decoding can guarantee that.</summary>
    public bool ForcesCall => Mode is ToolChoiceMode.Required or ToolChoiceMode.Function;
}

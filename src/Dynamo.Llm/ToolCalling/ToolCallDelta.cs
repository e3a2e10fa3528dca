namespace Dynamo.Llm.ToolCalling;

/// <summary>
/// One piece of a streamed answer that may call tools: either text for <c>content</c> (<see cref="Content"/> not null),
/// or part of the tool call numbered <see cref="Index"/>, as OpenAI streams it in <c>delta.tool_calls</c>: its first
/// piece carries <see cref="Id"/> and <see cref="Name"/>, every piece may carry more of <see cref="Arguments"/>
/// (the arguments' JSON text, in order; the pieces joined are the whole).
/// </summary>
/// <param name="Content">Text of the answer's content, or null for a tool-call piece.</param>
/// <param name="Index">The call's position among the answer's calls (0, 1, ...); -1 for content.</param>
/// <param name="Id">The call's id, on its first piece only.</param>
/// <param name="Name">The function's name, on its first piece only.</param>
/// <param name="Arguments">More of the arguments' JSON text; empty when this piece adds none.</param>
public readonly record struct ToolCallDelta(string? Content, int Index, string? Id, string? Name, string Arguments)
{
    /// <summary>Whether this piece is content text rather than part of a call.</summary>
    public bool IsContent => Content is not null;

    /// <summary>A content piece.</summary>
    public static ToolCallDelta ForContent(string text) => new(text, -1, null, null, "");
}

using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.ToolCalling;

/// <summary>A whole answer split into content and tool calls.</summary>
/// <param name="Content">The text outside the calls, trimmed; null when there is none besides the calls. Without calls
/// it is the answer exactly as generated.</param>
/// <param name="Calls">The calls, in order, with fresh ids; empty when the answer calls nothing.</param>
public sealed record ToolCallParseResult(string? Content, IReadOnlyList<ToolCall> Calls);

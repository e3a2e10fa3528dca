namespace Dynamo.Contracts.OpenAi;

/// <summary>
/// One function call of an assistant message: in a request's history (<c>messages[i].tool_calls</c>) or parsed from the
/// model's output. <see cref="Arguments"/> is the JSON text of the arguments, as OpenAI carries it (a string).
/// </summary>
/// <param name="Id">The call's id, which the <c>role: "tool"</c> message answering it names in <c>tool_call_id</c>.</param>
/// <param name="Name">The function's name.</param>
/// <param name="Arguments">The arguments as JSON text (normally an object).</param>
public sealed record ToolCall(string Id, string Name, string Arguments);

namespace Dynamo.Llm.Structured;

/// <summary>
/// What a constrained sequence must produce: <see cref="Prefix"/> verbatim, then one JSON value of
/// <see cref="Grammar"/>, then <see cref="Suffix"/> verbatim (a tool call: <c>"&lt;tool_call&gt;\n"</c> + the
/// arguments' schema + <c>"\n&lt;/tool_call&gt;"</c>). Empty literals are left out.
/// </summary>
public sealed record StructuredOutputSpec(JsonGrammar Grammar)
{
    public string Prefix { get; init; } = "";

    public string Suffix { get; init; } = "";
}

using System.Text.Json;
using Dynamo.Contracts.Engine;

namespace Dynamo.Contracts.OpenAi;

/// <summary>A request's <c>response_format</c> other than <c>text</c>, after its schema was checked and compiled.</summary>
public sealed record ResponseFormat
{
    /// <summary>The value as the client sent it; the gateway forwards it to workers verbatim.</summary>
    public required JsonElement Raw { get; init; }

    /// <summary>The compiled grammar the output must follow.</summary>
    public required IOutputGrammar Grammar { get; init; }

    /// <summary>Literal text the output starts with, before the JSON value (a Dynamo extension, <c>response_format.prefix</c>:
    /// what a forced tool call's format wraps the call in, such as <c>&lt;tool_call&gt;\n</c>); empty by default.</summary>
    public string Prefix { get; init; } = "";

    /// <summary>Literal text the output ends with, after the JSON value (<c>response_format.suffix</c>); empty by default.</summary>
    public string Suffix { get; init; } = "";
}

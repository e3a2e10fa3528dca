using System.Text.Json;

namespace Dynamo.Llm.ToolCalling;

/// <summary>
/// What constrained decoding must force for <c>tool_choice</c> <c>required</c> or a named function: the literal
/// <see cref="Prefix"/>, then JSON valid against <see cref="Schema"/>, then the literal <see cref="Suffix"/>; so that
/// even a random-weight model answers with a call the model family's parser reads (see <see cref="ToolCallConstraints"/>).
/// </summary>
/// <param name="Prefix">Text forced before the JSON (<c>&lt;tool_call&gt;\n</c> for Hermes); may be empty.</param>
/// <param name="Schema">The JSON schema of the call (or of the list of calls, for Mistral).</param>
/// <param name="Suffix">Text forced after the JSON (<c>\n&lt;/tool_call&gt;</c> for Hermes); may be empty.</param>
public sealed record ToolCallConstraint(string Prefix, JsonElement Schema, string Suffix);

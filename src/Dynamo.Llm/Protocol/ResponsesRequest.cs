using System.Text.Json;

namespace Dynamo.Llm.Protocol;

/// <summary>
/// A <c>POST /v1/responses</c> body after <see cref="ResponsesRequestTranslator"/>: the chat-completions body that the
/// rest of the request path serves, and what the response object echoes or the response store keeps.
/// </summary>
public sealed record ResponsesRequest
{
    /// <summary>The equivalent <c>/v1/chat/completions</c> body (UTF-8 JSON), parsed and validated by <see cref="OpenAiRequestParser"/>.</summary>
    public required byte[] ChatBody { get; init; }

    /// <summary>This turn's input as chat messages (a JSON array, without the instructions or the earlier turns): what the store keeps for a follow-up.</summary>
    public required byte[] InputMessages { get; init; }

    /// <summary>The earlier turns named by <see cref="PreviousResponseId"/> (a JSON array of chat messages), or null.</summary>
    public byte[]? History { get; init; }

    /// <summary>The request's <c>instructions</c> (a system message ahead of everything; not carried into follow-ups, as OpenAI does).</summary>
    public string? Instructions { get; init; }

    /// <summary>The request's <c>previous_response_id</c>.</summary>
    public string? PreviousResponseId { get; init; }

    /// <summary>Whether the response is kept for <c>previous_response_id</c> and <c>GET /v1/responses/{id}</c> (<c>store</c>, default true).</summary>
    public bool Store { get; init; } = true;

    /// <summary>Whether the client asked for the event stream.</summary>
    public bool Stream { get; init; }

    /// <summary>The request's <c>max_output_tokens</c>.</summary>
    public int? MaxOutputTokens { get; init; }

    /// <summary>The request's <c>temperature</c>, echoed (1 when not given).</summary>
    public double Temperature { get; init; } = 1;

    /// <summary>The request's <c>top_p</c>, echoed (1 when not given).</summary>
    public double TopP { get; init; } = 1;

    /// <summary>The request's <c>parallel_tool_calls</c>, echoed (true when not given).</summary>
    public bool ParallelToolCalls { get; init; } = true;

    /// <summary>The request's <c>metadata</c> (an object of up to 16 string values), echoed; null when not given.</summary>
    public JsonElement? Metadata { get; init; }

    /// <summary>The request's <c>tools</c>, echoed; null when not given.</summary>
    public JsonElement? Tools { get; init; }

    /// <summary>The request's <c>tool_choice</c>, echoed; null when not given ("auto").</summary>
    public JsonElement? ToolChoice { get; init; }

    /// <summary>The request's <c>text</c> configuration, echoed; null when not given (plain text).</summary>
    public JsonElement? Text { get; init; }

    /// <summary>The request's <c>user</c> or <c>safety_identifier</c>, echoed.</summary>
    public string? User { get; init; }
}

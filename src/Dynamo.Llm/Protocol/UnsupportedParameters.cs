using System.Text.Json;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.Protocol;

/// <summary>
/// Request parameters of OpenAI's API (and the vLLM extensions clients commonly send) that this server does not
/// implement yet. A parameter accepted and silently ignored is worse than one refused: a client asking for tool calls
/// or log-probabilities would get an answer that only looks right. So each of these is refused with a 400
/// naming it (code <c>unsupported_parameter</c>) unless its value asks for nothing (null, false, empty, or the
/// default), which clients and SDKs often send. Fields outside this table and the parser's own are skipped, as
/// before: they are not part of the API this server speaks.
/// </summary>
internal static class UnsupportedParameters
{
    /// <summary>One parameter: its name, the kind of request it belongs to (null: both), the feature, and which values ask for nothing.</summary>
    internal sealed record Parameter(string Name, RequestKind? Only, string Feature, Func<JsonElement, bool> AsksForNothing);

    private static readonly Parameter[] Table =
    [
        // Chat reads tools and tool_choice itself (ToolRequestReader); completions have no tool calling.
        new("tools", RequestKind.Completion, "tool calling (a chat completions feature)", v => IsEmptyArray(v)),
        new("tool_choice", RequestKind.Completion, "tool calling (a chat completions feature)", v => IsString(v, "none", "auto")),

        // The legacy function-calling fields OpenAI replaced with tools: send tools and tool_choice instead.
        new("functions", null, "legacy function calling; use 'tools'", v => IsEmptyArray(v)),
        new("function_call", null, "legacy function calling; use 'tool_choice'", v => IsString(v, "none", "auto")),

        // Completions' log-probabilities are 'logprobs' (a count); chat's 'top_logprobs' is read by the parser.
        new("top_logprobs", RequestKind.Completion, "log-probabilities; use 'logprobs' (a count) in completions", IsZero),

        // vLLM's prompt_logprobs: 0 asks for the prompt tokens' own log-probabilities. Workers' completions read it
        // (RequestLimits.AcceptPromptLogprobs, the worker contract); clients ask with echo and logprobs.
        new("prompt_logprobs", null, "prompt log-probabilities; use 'echo' with 'logprobs' (completions)", _ => false),
        new("suffix", RequestKind.Completion, "insertion (suffix)", v => IsString(v, "")),
        new("best_of", RequestKind.Completion, "best_of", v => IsNumber(v, 1)),
        new("logit_bias", null, "logit_bias", v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any()),
        new("modalities", RequestKind.Chat, "output modalities other than text", v => v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(m => IsString(m, "text"))),
        new("audio", RequestKind.Chat, "audio output", _ => false),
        new("store", RequestKind.Chat, "stored completions", v => v.ValueKind == JsonValueKind.False),
        new("metadata", RequestKind.Chat, "stored-completion metadata", v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any()),
        new("service_tier", RequestKind.Chat, "service tiers", v => IsString(v, "auto", "default")),
        new("verbosity", RequestKind.Chat, "output verbosity", v => IsString(v, "medium")),
        new("prediction", RequestKind.Chat, "predicted outputs", _ => false),
        new("web_search_options", RequestKind.Chat, "web search", _ => false),
        new("reasoning_effort", RequestKind.Chat, "reasoning effort", _ => false),
        new("min_tokens", null, "min_tokens", IsZero),
        new("min_p", null, "min_p sampling", IsZero),
        new("repetition_penalty", null, "repetition_penalty", v => IsNumber(v, 1)),
        new("use_beam_search", null, "beam search", v => v.ValueKind == JsonValueKind.False),
        new("guided_json", null, "guided decoding", _ => false),
        new("guided_regex", null, "guided decoding", _ => false),
        new("guided_choice", null, "guided decoding", _ => false),
        new("guided_grammar", null, "guided decoding", _ => false),
        new("structured_outputs", null, "guided decoding", _ => false),
        new("chat_template", RequestKind.Chat, "a per-request chat template", _ => false),
        new("chat_template_kwargs", RequestKind.Chat, "chat template arguments", v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any()),
        new("add_generation_prompt", RequestKind.Chat, "add_generation_prompt", v => v.ValueKind == JsonValueKind.True),
        new("continue_final_message", RequestKind.Chat, "continue_final_message", v => v.ValueKind == JsonValueKind.False),
        new("include_stop_str_in_output", null, "include_stop_str_in_output", v => v.ValueKind == JsonValueKind.False),
        new("skip_special_tokens", null, "keeping special tokens in the output", v => v.ValueKind == JsonValueKind.True),
    ];

    /// <summary>Every parameter name this table refuses (for the README's field table and its test).</summary>
    public static IEnumerable<string> Names => Table.Select(p => p.Name).Distinct();

    /// <summary>The table's entry for the property under <paramref name="reader"/> (a property name), for this kind of request; null when it is not in the table.</summary>
    public static Parameter? Find(ref Utf8JsonReader reader, RequestKind kind)
    {
        foreach (var parameter in Table)
        {
            if ((parameter.Only is null || parameter.Only == kind) && reader.ValueTextEquals(parameter.Name))
            {
                return parameter;
            }
        }

        return null;
    }

    /// <summary>Refuses <paramref name="value"/> of <paramref name="parameter"/> (from <see cref="Find"/>) unless it asks for nothing.</summary>
    /// <exception cref="OpenAiException">The value asks for something this server does not do (400, code <c>unsupported_parameter</c>).</exception>
    public static void Check(Parameter parameter, JsonElement value)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (value.ValueKind != JsonValueKind.Null && !parameter.AsksForNothing(value))
        {
            throw OpenAiException.BadRequest(
                $"'{parameter.Name}' is not supported by this server yet ({parameter.Feature}); send the request without it.",
                parameter.Name, "unsupported_parameter");
        }
    }

    private static bool IsEmptyArray(JsonElement v) => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0;

    /// <summary>Whether <paramref name="v"/> is a string equal to one of <paramref name="allowed"/>.</summary>
    internal static bool IsString(JsonElement v, params ReadOnlySpan<string> allowed)
    {
        if (v.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        var s = v.GetString();
        foreach (var a in allowed)
        {
            if (s == a)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsZero(JsonElement v) => IsNumber(v, 0);

    private static bool IsNumber(JsonElement v, double expected) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d == expected;
}

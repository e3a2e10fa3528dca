using System.Collections.Concurrent;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Templates.Jinja;
using Dynamo.Llm.Tokenization;

namespace Dynamo.Llm.Templates;

/// <summary>
/// A model's chat template: Hugging Face Jinja (the <c>chat_template</c> of tokenizer_config.json) compiled once and
/// rendered per request with <c>messages</c>, <c>add_generation_prompt</c>, <c>bos_token</c> and <c>eos_token</c>, with
/// the whitespace settings Hugging Face uses (<c>trim_blocks</c>, <c>lstrip_blocks</c>). Thread-safe.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The template used when a model has none: ChatML-style, <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>
    /// per message, then <c>&lt;|im_start|&gt;assistant\n</c> when a generation prompt is asked for.</summary>
    public const string DefaultTemplate = TokenizerFiles.ChatMlTemplate;

    // Compiled templates by source: models sharing a template (every replica of a model) parse it once.
    private static readonly ConcurrentDictionary<string, CompiledTemplate> s_compiled = new(StringComparer.Ordinal);

    private readonly CompiledTemplate _template;
    private readonly string _bosToken;
    private readonly string _eosToken;

    private ChatTemplate(string source, CompiledTemplate template, string bosToken, string eosToken)
    {
        Source = source;
        _template = template;
        _bosToken = bosToken;
        _eosToken = eosToken;
    }

    /// <summary>The Jinja source rendered.</summary>
    public string Source { get; }

    /// <summary>Compiles a chat template.</summary>
    /// <param name="template">Jinja source; null or blank for <see cref="DefaultTemplate"/>.</param>
    /// <param name="bosToken">Value of <c>bos_token</c> in the template (empty when null).</param>
    /// <param name="eosToken">Value of <c>eos_token</c> in the template (empty when null).</param>
    /// <exception cref="TemplateException">The template has a syntax error or uses an unsupported feature; the message
    /// names the line and column.</exception>
    public static ChatTemplate Create(string? template, string? bosToken, string? eosToken)
    {
        var source = string.IsNullOrWhiteSpace(template) ? DefaultTemplate : template;
        var compiled = s_compiled.TryGetValue(source, out var cached) ? cached : s_compiled.GetOrAdd(source, CompiledTemplate.Compile(source));
        return new ChatTemplate(source, compiled, bosToken ?? string.Empty, eosToken ?? string.Empty);
    }

    /// <summary>Renders the conversation into the prompt text.</summary>
    /// <param name="messages">The conversation; each message is a <c>{role, content}</c> dict in the template.</param>
    /// <param name="addGenerationPrompt">Append the opening of the assistant's turn.</param>
    /// <exception cref="TemplateRaisedException">The template rejected the conversation (<c>raise_exception</c>).</exception>
    /// <exception cref="TemplateException">The template failed while rendering; the message names the position.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) =>
        Render(messages, addGenerationPrompt, null);

    /// <summary>Renders a chat request's conversation with the tools it offers the model, as Hugging Face's
    /// <c>apply_chat_template(messages, tools=...)</c> does: <c>tools</c> is the list of tool objects as the client sent
    /// them, or none when <paramref name="tools"/> is empty.</summary>
    /// <param name="messages">The conversation, tool calls and tool results included.</param>
    /// <param name="tools">The tools offered; empty (or null) renders without any, as when <c>tool_choice</c> is none.</param>
    /// <param name="addGenerationPrompt">Append the opening of the assistant's turn.</param>
    /// <exception cref="TemplateRaisedException">The template rejected the conversation (<c>raise_exception</c>).</exception>
    /// <exception cref="TemplateException">The template failed while rendering; the message names the position.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools, bool addGenerationPrompt = true)
    {
        if (tools is not { Count: > 0 })
        {
            return Render(messages, addGenerationPrompt, null);
        }

        var list = new List<object?>(tools.Count);
        foreach (var tool in tools)
        {
            list.Add(Values.FromClr(tool.Tool));
        }

        return Render(messages, addGenerationPrompt, new Dictionary<string, object?>(1, StringComparer.Ordinal) { ["tools"] = list });
    }

    /// <summary>Renders with extra template variables, such as <c>tools</c> or <c>chat_template_kwargs</c> entries
    /// (<c>enable_thinking</c>). Values may be null, bool, numbers, strings, <see cref="System.Text.Json.JsonElement"/>,
    /// lists and string-keyed dictionaries of those. They cannot replace <c>messages</c> or <c>add_generation_prompt</c>.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<object?>(messages.Count);
        var length = Source.Length;
        foreach (var message in messages)
        {
            list.Add(ToTemplateMessage(message, ref length));
        }

        // Hugging Face always passes tools and documents (None when absent); templates test "tools is not none".
        var context = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["bos_token"] = _bosToken,
            ["eos_token"] = _eosToken,
            ["tools"] = null,
            ["documents"] = null,
        };
        if (variables is not null)
        {
            foreach (var (name, value) in variables)
            {
                context[name] = Values.FromClr(value);
            }
        }

        context["messages"] = list;
        context["add_generation_prompt"] = addGenerationPrompt;
        return _template.Render(context, length);
    }

    /// <summary>
    /// A message as the template sees it: <c>{role, content}</c>, plus <c>tool_calls</c> (OpenAI's shape, with the
    /// arguments as a dict when they are a JSON object, as vLLM passes them: templates write them with <c>tojson</c>),
    /// <c>tool_call_id</c> and <c>name</c> only when the message has them, since templates test <c>'tool_calls' in
    /// message</c> and <c>message.name is defined</c>.
    /// </summary>
    private static Dictionary<string, object?> ToTemplateMessage(ChatMessage message, ref int length)
    {
        var dict = new Dictionary<string, object?>(2, StringComparer.Ordinal)
        {
            ["role"] = message.Role,
            ["content"] = message.Content,
        };
        length += message.Content.Length + 32;
        if (message.ToolCalls.Count > 0)
        {
            var calls = new List<object?>(message.ToolCalls.Count);
            foreach (var call in message.ToolCalls)
            {
                calls.Add(new Dictionary<string, object?>(3, StringComparer.Ordinal)
                {
                    ["id"] = call.Id,
                    ["type"] = "function",
                    ["function"] = new Dictionary<string, object?>(2, StringComparer.Ordinal)
                    {
                        ["name"] = call.Name,
                        ["arguments"] = ArgumentsValue(call.Arguments),
                    },
                });
                length += call.Name.Length + call.Arguments.Length + 64;
            }

            dict["tool_calls"] = calls;
        }

        if (message.ToolCallId is not null)
        {
            dict["tool_call_id"] = message.ToolCallId;
        }

        if (message.Name is not null)
        {
            dict["name"] = message.Name;
        }

        return dict;
    }

    private static object? ArgumentsValue(string arguments)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(arguments);
            if (document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object)
            {
                return Values.FromClr(document.RootElement);
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not JSON: the template gets the text as the client sent it.
        }

        return arguments;
    }
}

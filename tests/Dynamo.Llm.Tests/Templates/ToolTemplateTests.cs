using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Templates;
using Dynamo.Llm.ToolCalling;

namespace Dynamo.Llm.Tests.Templates;

/// <summary>
/// Tools and an agent's tool history rendered through chat templates as Hugging Face's
/// <c>apply_chat_template(messages, tools=...)</c> renders them: the default ChatML template (Hermes style), the
/// Qwen2.5 template and the tool parts of Llama 3.1's, and the format each template's text selects.
/// </summary>
public sealed class ToolTemplateTests
{
    // The tool-calling parts of meta-llama/Llama-3.1-8B-Instruct's template, from its published format: tools as JSON
    // in the first user message, a call as {"name", "parameters"}, tool results in an ipython turn.
    internal const string Llama31Tools = """
        {{- bos_token }}
        {%- if not tools_in_user_message is defined %}
            {%- set tools_in_user_message = true %}
        {%- endif %}
        {%- if not tools is defined %}
            {%- set tools = none %}
        {%- endif %}
        {%- if messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content']|trim %}
            {%- set messages = messages[1:] %}
        {%- else %}
            {%- set system_message = "" %}
        {%- endif %}
        {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
        {%- if tools is not none %}
            {{- "Environment: ipython\n" }}
        {%- endif %}
        {{- system_message }}
        {{- "<|eot_id|>" }}
        {%- if tools_in_user_message and not tools is none %}
            {%- if messages | length != 0 %}
                {%- set first_user_message = messages[0]['content']|trim %}
                {%- set messages = messages[1:] %}
            {%- else %}
                {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
            {%- endif %}
            {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
            {{- "Given the following functions, please respond with a JSON for a function call " }}
            {{- "with its proper arguments that best answers the given prompt.\n\n" }}
            {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
            {{- "Do not use variables.\n\n" }}
            {%- for t in tools %}
                {{- t | tojson(indent=4) }}
                {{- "\n\n" }}
            {%- endfor %}
            {{- first_user_message + "<|eot_id|>"}}
        {%- endif %}
        {%- for message in messages %}
            {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
                {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
            {%- elif 'tool_calls' in message %}
                {%- if not message.tool_calls|length == 1 %}
                    {{- raise_exception("This model only supports single tool-calls at once!") }}
                {%- endif %}
                {%- set tool_call = message.tool_calls[0].function %}
                {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
                {{- '{"name": "' + tool_call.name + '", ' }}
                {{- '"parameters": ' }}
                {{- tool_call.arguments | tojson }}
                {{- "}" }}
                {{- "<|eot_id|>" }}
            {%- elif message.role == "tool" or message.role == "ipython" %}
                {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
                {%- if message.content is mapping or message.content is iterable %}
                    {{- message.content | tojson }}
                {%- else %}
                    {{- message.content }}
                {%- endif %}
                {{- "<|eot_id|>" }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- endif %}
        """;

    private static readonly ChatMessage[] s_agentTurn =
    [
        new("system", "Be brief."),
        new("user", "Weather in Paris?"),
        new("assistant", "") { ToolCalls = [new ToolCall("call_1", "get_weather", """{"city":"Paris"}""")] },
        new("tool", "sunny, 21 C") { ToolCallId = "call_1" },
    ];

    private static IReadOnlyList<ToolDefinition> Tools()
    {
        using var document = JsonDocument.Parse("""{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}""");
        var tool = document.RootElement.Clone();
        return [new ToolDefinition("get_weather", null, tool.GetProperty("function").GetProperty("parameters"), tool)];
    }

    [Fact]
    public void DefaultTemplate_ToolsAndAgentHistory_RenderHermesStyle()
    {
        var template = ChatTemplate.Create(null, null, null);

        var prompt = template.Render(s_agentTurn, Tools());

        Assert.Equal(
            "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
            """{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}""" + "\n" +
            "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\nsunny, 21 C\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void DefaultTemplate_WithoutTools_IsPlainChatML_EvenWithToolHistory()
    {
        var template = ChatTemplate.Create(null, null, null);

        var prompt = template.Render([new("user", "U"), new("assistant", "A")], tools: null);

        Assert.Equal("<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Contains("<tool_response>\nsunny, 21 C\n</tool_response>", template.Render(s_agentTurn, tools: null), StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultTemplate_ConsecutiveToolResults_ShareOneUserTurn()
    {
        var template = ChatTemplate.Create(null, null, null);
        ChatMessage[] messages =
        [
            new("user", "Both?"),
            new("assistant", "") { ToolCalls = [new ToolCall("a", "f", "{}"), new ToolCall("b", "g", "{}")] },
            new("tool", "1") { ToolCallId = "a" },
            new("tool", "2") { ToolCallId = "b" },
        ];

        var prompt = template.Render(messages, Tools(), addGenerationPrompt: false);

        Assert.EndsWith(
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\n1\n</tool_response>\n<tool_response>\n2\n</tool_response><|im_end|>\n",
            prompt);
    }

    [Fact]
    public void Qwen25Template_AgentHistory_RendersCallsAndToolResponses()
    {
        var template = ChatTemplate.Create(PublishedTemplateTests.Qwen25Tools, null, "<|im_end|>");

        var prompt = template.Render(s_agentTurn, Tools());

        Assert.StartsWith("<|im_start|>system\nBe brief.\n\n# Tools\n", prompt, StringComparison.Ordinal);
        Assert.EndsWith(
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\nsunny, 21 C\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void Llama31Template_ToolsInFirstUserMessage_CallAsParameters_ResultAsIpython()
    {
        var template = ChatTemplate.Create(Llama31Tools, "<|begin_of_text|>", "<|eot_id|>");

        var prompt = template.Render(s_agentTurn, Tools());

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nBe brief.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n" +
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n" +
            "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n                }\n            }\n        }\n    }\n}\n\n" +
            "Weather in Paris?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>" +
            "<|start_header_id|>ipython<|end_header_id|>\n\n\"sunny, 21 C\"<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void ArgumentsThatAreNotJson_ReachTheTemplateAsText()
    {
        var template = ChatTemplate.Create(null, null, null);

        var prompt = template.Render([new("assistant", "") { ToolCalls = [new ToolCall("c", "f", "not json")] }], Tools(), addGenerationPrompt: false);

        Assert.Contains("{\"name\": \"f\", \"arguments\": \"not json\"}", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public void Detect_PicksTheFormatTheTemplateWrites()
    {
        Assert.Equal(ToolCallFormat.Hermes, ToolCallFormats.Detect(null));
        Assert.Equal(ToolCallFormat.Hermes, ToolCallFormats.Detect(PublishedTemplateTests.Qwen25Tools));
        Assert.Equal(ToolCallFormat.Llama3Json, ToolCallFormats.Detect(Llama31Tools));
        Assert.Equal(ToolCallFormat.Mistral, ToolCallFormats.Detect("{%- if message.tool_calls %}{{- \"[TOOL_CALLS][\" }}{%- endif %}"));
        Assert.Null(ToolCallFormats.Detect(PublishedTemplateTests.Llama3Instruct));
    }

    [Theory]
    [InlineData("hermes", ToolCallFormat.Hermes)]
    [InlineData("LLAMA3_JSON", ToolCallFormat.Llama3Json)]
    [InlineData("mistral", ToolCallFormat.Mistral)]
    [InlineData("none", null)]
    [InlineData("auto", null)]
    public void Resolve_NamedSettingWins_AutoDetects(string setting, ToolCallFormat? expected)
    {
        Assert.Equal(expected, ToolCallFormats.Resolve(setting, PublishedTemplateTests.Llama3Instruct));
    }

    [Fact]
    public void Resolve_UnknownSetting_Throws()
    {
        Assert.Throws<ArgumentException>(() => ToolCallFormats.Resolve("pythonic", null));
        Assert.False(ToolCallFormats.IsValidSetting("pythonic"));
        Assert.True(ToolCallFormats.IsValidSetting("Hermes"));
    }
}

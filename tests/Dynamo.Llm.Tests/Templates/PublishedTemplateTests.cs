using System.Text.Json;
using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Templates;

namespace Dynamo.Llm.Tests.Templates;

/// <summary>Chat templates as models publish them in tokenizer_config.json, rendered as Hugging Face renders them.</summary>
public sealed class PublishedTemplateTests
{
    // meta-llama/Meta-Llama-3-8B-Instruct
    internal const string Llama3Instruct =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    // Qwen/Qwen2-7B-Instruct
    private const string Qwen2Instruct =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    // mistralai/Mistral-7B-Instruct-v0.2 and Mixtral-8x7B-Instruct-v0.1
    private const string MistralInstruct =
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    // HuggingFaceH4/zephyr-7b-beta: newlines between tags, which trim_blocks removes.
    private const string Zephyr =
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    // deepseek-ai/deepseek-coder-33b-instruct: namespace() carried out of a loop, whitespace control.
    private const string DeepSeekCoder =
        "{% if not add_generation_prompt is defined %}\n{% set add_generation_prompt = false %}\n{% endif %}\n{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n    {%- endif -%}\n{%- endfor -%}\n{{bos_token}}{%- if not ns.found -%}\n{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\\n'}}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + '\\n'}}\n        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}\n{{'### Response:'}}\n{% endif %}";

    // The structure of Qwen2.5-Instruct's template: tools rendered with tojson, message attributes that may be missing.
    internal const string Qwen25Tools = """
        {%- if tools %}
            {{- '<|im_start|>system\n' }}
            {%- if messages[0]['role'] == 'system' %}
                {{- messages[0]['content'] }}
            {%- else %}
                {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
            {%- endif %}
            {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
            {%- for tool in tools %}
                {{- "\n" }}
                {{- tool | tojson }}
            {%- endfor %}
            {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
        {%- else %}
            {%- if messages[0]['role'] == 'system' %}
                {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
            {%- else %}
                {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
            {%- endif %}
        {%- endif %}
        {%- for message in messages %}
            {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
                {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
            {%- elif message.role == "assistant" %}
                {{- '<|im_start|>' + message.role }}
                {%- if message.content %}
                    {{- '\n' + message.content }}
                {%- endif %}
                {%- for tool_call in message.tool_calls %}
                    {%- if tool_call.function is defined %}
                        {%- set tool_call = tool_call.function %}
                    {%- endif %}
                    {{- '\n<tool_call>\n{"name": "' }}
                    {{- tool_call.name }}
                    {{- '", "arguments": ' }}
                    {{- tool_call.arguments | tojson }}
                    {{- '}\n</tool_call>' }}
                {%- endfor %}
                {{- '<|im_end|>\n' }}
            {%- elif message.role == "tool" %}
                {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
                    {{- '<|im_start|>user' }}
                {%- endif %}
                {{- '\n<tool_response>\n' }}
                {{- message.content }}
                {{- '\n</tool_response>' }}
                {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
                    {{- '<|im_end|>\n' }}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\n' }}
        {%- endif %}

        """;

    // The system-prompt part of Llama 3.1-Instruct's template: defined-checks, reassigning messages, tools tested
    // against none (Hugging Face passes tools=None), tojson(indent=4).
    private const string Llama31Style = """
        {{- bos_token }}
        {%- if custom_tools is defined %}
            {%- set tools = custom_tools %}
        {%- endif %}
        {%- if not tools_in_user_message is defined %}
            {%- set tools_in_user_message = true %}
        {%- endif %}
        {%- if not date_string is defined %}
            {%- set date_string = "26 Jul 2024" %}
        {%- endif %}
        {%- if not tools is defined %}
            {%- set tools = none %}
        {%- endif %}

        {#- This block extracts the system message, so we can slot it into the right place. #}
        {%- if messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content']|trim %}
            {%- set messages = messages[1:] %}
        {%- else %}
            {%- set system_message = "" %}
        {%- endif %}

        {#- System message + builtin tools #}
        {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
        {%- if builtin_tools is defined or tools is not none %}
            {{- "Environment: ipython\n" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
        {%- endif %}
        {{- "Cutting Knowledge Date: December 2023\n" }}
        {{- "Today Date: " + date_string + "\n\n" }}
        {%- if tools is not none and not tools_in_user_message %}
            {{- "You have access to the following functions." }}
            {%- for t in tools %}
                {{- t | tojson(indent=4) }}
                {{- "\n\n" }}
            {%- endfor %}
        {%- endif %}
        {{- system_message }}
        {{- "<|eot_id|>" }}

        {%- for message in messages %}
            {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
                {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- endif %}

        """;

    private static readonly ChatMessage[] s_chat =
    [
        new("user", "Hello, how are you?"),
        new("assistant", "I'm doing great. How can I help you today?"),
        new("user", "I'd like to show off how chat templating works!"),
    ];

    private static readonly ChatMessage[] s_chatWithSystem =
        [new("system", "You are a friendly chatbot who always responds in the style of a pirate"), .. s_chat];

    [Fact]
    public void Llama3Instruct_WithSystem_RendersHeadersTrimmedContentAndGenerationPrompt()
    {
        var template = ChatTemplate.Create(Llama3Instruct, "<|begin_of_text|>", "<|eot_id|>");

        var prompt = template.Render([new("system", "You are a helpful assistant."), new("user", "  Hello!\n")]);

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama3Instruct_WithoutGenerationPrompt_EndsAfterLastTurn()
    {
        var template = ChatTemplate.Create(Llama3Instruct, "<|begin_of_text|>", "<|eot_id|>");

        var prompt = template.Render(s_chat, addGenerationPrompt: false);

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|>",
            prompt);
    }

    [Fact]
    public void Llama31Style_SystemAndUser_RendersDatedSystemBlock()
    {
        var template = ChatTemplate.Create(Llama31Style, "<|begin_of_text|>", "<|eot_id|>");

        var prompt = template.Render([new("system", "You are helpful. "), new("user", "Hi")]);

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama31Style_ChatTemplateKwargs_OverrideDefaults()
    {
        var template = ChatTemplate.Create(Llama31Style, "<|begin_of_text|>", "<|eot_id|>");

        var prompt = template.Render([new("user", "Hi")], true, new Dictionary<string, object?>
        {
            ["date_string"] = "01 Jan 2025",
            ["builtin_tools"] = new[] { "brave_search", "code_interpreter", "wolfram_alpha" },
        });

        Assert.StartsWith(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search, wolfram_alpha\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\n<|eot_id|>",
            prompt,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Qwen2Instruct_WithoutSystem_InsertsDefaultSystemPrompt()
    {
        var template = ChatTemplate.Create(Qwen2Instruct, null, "<|im_end|>");

        var prompt = template.Render([new("user", "Hi")]);

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void Qwen2Instruct_WithSystem_KeepsIt()
    {
        var template = ChatTemplate.Create(Qwen2Instruct, null, "<|im_end|>");

        var prompt = template.Render([new("system", "Be brief."), new("user", "Hi")], addGenerationPrompt: false);

        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n", prompt);
    }

    [Fact]
    public void MistralInstruct_AlternatingConversation_Renders()
    {
        var template = ChatTemplate.Create(MistralInstruct, "<s>", "</s>");

        var prompt = template.Render(s_chat);

        Assert.Equal(
            "<s>[INST] Hello, how are you? [/INST]I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works! [/INST]",
            prompt);
    }

    [Fact]
    public void MistralInstruct_SystemMessage_RaisesTheTemplatesError()
    {
        var template = ChatTemplate.Create(MistralInstruct, "<s>", "</s>");

        var error = Assert.Throws<TemplateRaisedException>(() => template.Render(s_chatWithSystem));

        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Message);
        Assert.Equal(1, error.RaisedAtLine);
    }

    [Fact]
    public void MistralInstruct_TwoUserTurnsInARow_Raises()
    {
        var template = ChatTemplate.Create(MistralInstruct, "<s>", "</s>");

        var error = Assert.Throws<TemplateRaisedException>(() => template.Render([new("user", "a"), new("user", "b")]));

        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Message);
    }

    [Fact]
    public void Zephyr_TrimBlocks_RemovesNewlinesAfterTags()
    {
        var template = ChatTemplate.Create(Zephyr, "<s>", "</s>");

        var prompt = template.Render(s_chatWithSystem, addGenerationPrompt: false);

        Assert.Equal(
            "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\nHello, how are you?</s>\n<|assistant|>\nI'm doing great. How can I help you today?</s>\n<|user|>\nI'd like to show off how chat templating works!</s>\n",
            prompt);
    }

    [Fact]
    public void Zephyr_GenerationPrompt_AddsAssistantTag()
    {
        var template = ChatTemplate.Create(Zephyr, "<s>", "</s>");

        var prompt = template.Render([new("system", "Sys"), new("user", "Q?")]);

        Assert.Equal("<|system|>\nSys</s>\n<|user|>\nQ?</s>\n<|assistant|>\n", prompt);
    }

    [Fact]
    public void DeepSeekCoder_NamespaceAndWhitespaceControl_Render()
    {
        var template = ChatTemplate.Create(DeepSeekCoder, "<｜begin▁of▁sentence｜>", "<|EOT|>");

        var prompt = template.Render(s_chat, addGenerationPrompt: false);

        Assert.Equal(
            "<｜begin▁of▁sentence｜>You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n### Instruction:\nHello, how are you?\n### Response:\nI'm doing great. How can I help you today?\n<|EOT|>\n### Instruction:\nI'd like to show off how chat templating works!\n",
            prompt);
    }

    [Fact]
    public void DeepSeekCoder_SystemMessage_SetsNamespaceFlagInsideLoop()
    {
        var template = ChatTemplate.Create(DeepSeekCoder, "<bos>", "<|EOT|>");

        var prompt = template.Render([new("system", "Custom."), new("user", "Q")]);

        Assert.Equal("<bos>Custom.### Instruction:\nQ\n### Response:\n", prompt);
    }

    [Fact]
    public void Qwen25Tools_WithoutTools_RendersChatML()
    {
        var template = ChatTemplate.Create(Qwen25Tools, null, "<|im_end|>");

        var prompt = template.Render([new("system", "You are a bot."), new("user", "Hi")]);

        Assert.Equal("<|im_start|>system\nYou are a bot.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", prompt);
    }

    [Fact]
    public void Qwen25Tools_WithTools_RendersThemAsPythonJson()
    {
        var template = ChatTemplate.Create(Qwen25Tools, null, "<|im_end|>");
        using var tools = JsonDocument.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "description": "Météo", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
            """);

        var prompt = template.Render([new("user", "Weather in Paris?")], true, new Dictionary<string, object?> { ["tools"] = tools.RootElement });

        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
            "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Météo\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n" +
            "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void Default_NullTemplate_IsChatML()
    {
        var template = ChatTemplate.Create(null, null, null);

        var prompt = template.Render([new("system", "S"), new("user", "U")]);

        Assert.Equal("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Equal(ChatTemplate.DefaultTemplate, template.Source);
    }

    [Fact]
    public void Create_SameSourceTwice_SharesCompiledTemplate()
    {
        var a = ChatTemplate.Create(Llama3Instruct, "<a>", "<e>");
        var b = ChatTemplate.Create(Llama3Instruct, "<b>", "<e>");

        Assert.StartsWith("<a>", a.Render([new("user", "x")]), StringComparison.Ordinal);
        Assert.StartsWith("<b>", b.Render([new("user", "x")]), StringComparison.Ordinal);
    }
}

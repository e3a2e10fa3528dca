using System.Text.Json;
using Dynamo.Llm.Templates;
using Dynamo.Llm.Tokenization;
using Dynamo.Llm.ToolCalling;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm;

/// <summary>
/// What the gateway and workers need to know about a Hugging Face model folder: name, context length, vocabulary size,
/// end-of-sequence ids, BOS/EOS text, chat template, and (loaded on first use) the tokenizer and compiled template.
/// Read from <c>config.json</c>, <c>tokenizer_config.json</c> and, when present, <c>generation_config.json</c>.
/// </summary>
public sealed class ModelCard
{
    /// <summary>Used when neither config.json nor tokenizer_config.json states a context length (vLLM does the same).</summary>
    public const int DefaultMaxContextLength = 2048;

    // Hugging Face writes 1e30 (VERY_LARGE_INTEGER) for "no limit"; anything this large is not a real limit.
    private const long UnboundedModelMaxLength = 1L << 40;

    private static readonly string[] s_contextLengthKeys =
        ["max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length"];

    private readonly Lazy<Tokenizer> _tokenizer;
    private readonly Lazy<TokenEncoder> _encoder;
    private readonly Lazy<ChatTemplate> _chatTemplate;
    private readonly Lazy<ChatTemplate> _toolUseTemplate;

    private ModelCard(
        string name,
        string directory,
        string? modelType,
        int maxContextLength,
        int vocabSize,
        IReadOnlyList<int> eosTokenIds,
        int? bosTokenId,
        string? bosToken,
        string? eosToken,
        bool addBosToken,
        string? chatTemplateSource,
        string? toolUseTemplateSource,
        ToolCallFormat? toolCallFormat)
    {
        Name = name;
        Directory = directory;
        ModelType = modelType;
        MaxContextLength = maxContextLength;
        VocabSize = vocabSize;
        EosTokenIds = eosTokenIds;
        BosTokenId = bosTokenId;
        BosToken = bosToken;
        EosToken = eosToken;
        AddBosToken = addBosToken;
        ChatTemplateSource = chatTemplateSource;
        ToolUseTemplateSource = toolUseTemplateSource;
        ToolCallFormat = toolCallFormat;
        _tokenizer = new Lazy<Tokenizer>(() => TokenizerLoader.Load(directory));
        _encoder = new Lazy<TokenEncoder>(() => TokenizerLoader.LoadEncoder(directory));
        _chatTemplate = new Lazy<ChatTemplate>(() => ChatTemplate.Create(chatTemplateSource, bosToken, eosToken));
        _toolUseTemplate = toolUseTemplateSource is null ? _chatTemplate : new Lazy<ChatTemplate>(() => ChatTemplate.Create(toolUseTemplateSource, bosToken, eosToken));
    }

    /// <summary>The served model name: the one given to <see cref="Load"/>, else the folder name.</summary>
    public string Name { get; }

    /// <summary>The model folder, as a full path.</summary>
    public string Directory { get; }

    /// <summary><c>model_type</c> from config.json (<c>llama</c>, <c>qwen2</c>, <c>gpt2</c>, ...), or null.</summary>
    public string? ModelType { get; }

    /// <summary>Prompt plus completion tokens the model accepts: config.json <c>max_position_embeddings</c> (or an
    /// equivalent key), else tokenizer_config.json <c>model_max_length</c>, else <see cref="DefaultMaxContextLength"/>.</summary>
    public int MaxContextLength { get; }

    /// <summary><c>vocab_size</c> from config.json: the size of the model's output layer (may exceed the tokenizer's).</summary>
    public int VocabSize { get; }

    /// <summary>Token ids that end generation: generation_config.json's <c>eos_token_id</c> then config.json's (int or
    /// list each), without duplicates; when neither names one, the id of <see cref="EosToken"/> from tokenizer_config.json
    /// <c>added_tokens_decoder</c>. Empty only when none of these is present.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary><c>bos_token_id</c> from config.json (or generation_config.json, or the id of <see cref="BosToken"/> in
    /// tokenizer_config.json <c>added_tokens_decoder</c>), or null.</summary>
    public int? BosTokenId { get; }

    /// <summary>BOS text from tokenizer_config.json (<c>bos_token</c>, a string or <c>{content: ...}</c>), or null.</summary>
    public string? BosToken { get; }

    /// <summary>EOS text from tokenizer_config.json (<c>eos_token</c>, a string or <c>{content: ...}</c>), or null.</summary>
    public string? EosToken { get; }

    /// <summary>tokenizer_config.json <c>add_bos_token</c> (default false): whether a plain-text prompt (completions)
    /// must start with BOS. Chat templates write BOS themselves.</summary>
    public bool AddBosToken { get; }

    /// <summary>The Jinja chat template: tokenizer_config.json <c>chat_template</c> (a string, or the one named
    /// "default" in the list form), else <c>chat_template.jinja</c> or <c>chat_template.json</c> in the folder; null when
    /// the model has none (<see cref="ChatTemplate"/> then uses a ChatML-style default).</summary>
    public string? ChatTemplateSource { get; }

    /// <summary>
    /// How the model writes tool calls, which decides the parser its answers go through when a request offers tools:
    /// the <c>toolCallParser</c> setting given to <see cref="Load"/> (<c>Dynamo:Serve:ToolCallParser</c>), detected from
    /// the chat template when it is <c>auto</c> (see <see cref="ToolCallFormats.Resolve"/>). Null: the model does not
    /// call tools (its template does not show them, or the setting is <c>none</c>), and requests with tools are refused.
    /// </summary>
    public ToolCallFormat? ToolCallFormat { get; }

    /// <summary>The tokenizer, loaded on first use (and shared per folder, see <see cref="TokenizerLoader"/>).</summary>
    public Tokenizer Tokenizer => _tokenizer.Value;

    /// <summary>
    /// Encodes prompts: the ids <see cref="Tokenizer"/> gives, in O(n log n) of the text and cancellable. Requests
    /// encode with this, never with <see cref="Tokenizer"/>'s own encoder (quadratic on whitespace-free text).
    /// </summary>
    public TokenEncoder Encoder => _encoder.Value;

    /// <summary>The compiled chat template, built on first use.</summary>
    public ChatTemplate ChatTemplate => _chatTemplate.Value;

    /// <summary>The template tokenizer_config.json's list form names <c>tool_use</c> (Hermes 2 Pro, some Mistral
    /// conversions), which Hugging Face renders instead of the default when tools are passed; null when there is none.</summary>
    public string? ToolUseTemplateSource { get; }

    /// <summary>The template to render a request with: the <c>tool_use</c> one when the model has it and the request
    /// offers tools, as Hugging Face's <c>apply_chat_template</c> chooses; <see cref="ChatTemplate"/> otherwise.</summary>
    /// <param name="withTools">Whether tools are rendered.</param>
    public ChatTemplate ChatTemplateFor(bool withTools) => withTools ? _toolUseTemplate.Value : _chatTemplate.Value;

    /// <summary>Reads the card of the model in <paramref name="modelDir"/>.</summary>
    /// <param name="modelDir">Hugging Face model folder.</param>
    /// <param name="servedName">Name to serve the model under; the folder name when null.</param>
    /// <param name="toolCallParser">The tool-call format setting (<see cref="ToolCallFormats.SettingValues"/>); null
    /// for <c>auto</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="toolCallParser"/> is not a known setting.</exception>
    /// <exception cref="ModelFileException">A file is missing, malformed or has a value of the wrong type; the message
    /// names the file and the key.</exception>
    public static ModelCard Load(string modelDir, string? servedName = null, string? toolCallParser = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        var directory = Path.GetFullPath(modelDir);
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ModelFileException(directory, "model folder not found");
        }

        var name = string.IsNullOrWhiteSpace(servedName)
            ? Path.GetFileName(Path.TrimEndingDirectorySeparator(directory))
            : servedName;

        var configPath = Path.Combine(directory, "config.json");
        using var config = ReadJson(configPath, required: true)!;
        var configRoot = config.RootElement;
        var tokenizerConfigPath = Path.Combine(directory, "tokenizer_config.json");
        using var tokenizerConfig = ReadJson(tokenizerConfigPath, required: false);
        var tokenizerRoot = tokenizerConfig?.RootElement;
        var generationConfigPath = Path.Combine(directory, "generation_config.json");
        using var generationConfig = ReadJson(generationConfigPath, required: false);
        var generationRoot = generationConfig?.RootElement;

        var modelType = GetString(configPath, configRoot, "model_type");
        var vocabSize = GetInt(configPath, configRoot, "vocab_size")
            ?? throw new ModelFileException(configPath, "missing integer 'vocab_size'");
        if (vocabSize <= 0)
        {
            throw new ModelFileException(configPath, $"'vocab_size' must be positive, got {vocabSize}");
        }

        var maxContextLength = ContextLength(configPath, configRoot, tokenizerConfigPath, tokenizerRoot);

        var eosIds = new List<int>();
        if (generationRoot is { } generation)
        {
            AddIds(eosIds, generationConfigPath, generation, "eos_token_id");
        }

        AddIds(eosIds, configPath, configRoot, "eos_token_id");
        var bosTokenId = GetIdOrFirst(configPath, configRoot, "bos_token_id")
            ?? (generationRoot is { } g ? GetIdOrFirst(generationConfigPath, g, "bos_token_id") : null);

        string? bosToken = null, eosToken = null, template = null, toolUseTemplate = null;
        var addBos = false;
        if (tokenizerRoot is { } tokenizer)
        {
            bosToken = GetTokenText(tokenizerConfigPath, tokenizer, "bos_token");
            eosToken = GetTokenText(tokenizerConfigPath, tokenizer, "eos_token");
            addBos = GetBool(tokenizerConfigPath, tokenizer, "add_bos_token") ?? false;
            (template, toolUseTemplate) = GetChatTemplates(tokenizerConfigPath, tokenizer);
        }

        template ??= ReadTemplateFile(directory);

        // Models whose configs omit the ids still name the tokens; tokenizer_config.json maps them to ids.
        if (tokenizerRoot is { } added)
        {
            if (eosIds.Count == 0 && eosToken is not null && FindAddedTokenId(tokenizerConfigPath, added, eosToken) is { } eosId)
            {
                eosIds.Add(eosId);
            }

            if (bosTokenId is null && bosToken is not null)
            {
                bosTokenId = FindAddedTokenId(tokenizerConfigPath, added, bosToken);
            }
        }

        return new ModelCard(name, directory, modelType, maxContextLength, vocabSize, eosIds.AsReadOnly(), bosTokenId, bosToken,
            eosToken, addBos, template, toolUseTemplate, ToolCallFormats.Resolve(toolCallParser, toolUseTemplate ?? template));
    }

    private static int ContextLength(string configPath, JsonElement config, string tokenizerConfigPath, JsonElement? tokenizerConfig)
    {
        foreach (var key in s_contextLengthKeys)
        {
            if (GetInt(configPath, config, key) is { } length)
            {
                return length > 0 ? length : throw new ModelFileException(configPath, $"'{key}' must be positive, got {length}");
            }
        }

        if (tokenizerConfig is { } tc && tc.TryGetProperty("model_max_length", out var max) && max.ValueKind == JsonValueKind.Number)
        {
            if (!max.TryGetDouble(out var value) || value <= 0)
            {
                throw new ModelFileException(tokenizerConfigPath, $"'model_max_length' must be a positive number, got {max.GetRawText()}");
            }

            if (value < UnboundedModelMaxLength && value <= int.MaxValue)
            {
                return (int)value;
            }
        }

        return DefaultMaxContextLength;
    }

    /// <summary>The default template and the <c>tool_use</c> one (list form only).</summary>
    private static (string? Default, string? ToolUse) GetChatTemplates(string path, JsonElement tokenizerConfig)
    {
        if (!tokenizerConfig.TryGetProperty("chat_template", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return (value.GetString(), null);
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new ModelFileException(path, $"'chat_template' must be a string or a list of {{name, template}}, got {value.ValueKind}");
        }

        // Named templates ([{name: "default", template: ...}, {name: "tool_use", ...}]): Hugging Face uses "default",
        // and "tool_use" when tools are passed.
        var names = new List<string>();
        string? defaultTemplate = null, toolUse = null;
        foreach (var entry in value.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Object
                || !entry.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                || !entry.TryGetProperty("template", out var text) || text.ValueKind != JsonValueKind.String)
            {
                throw new ModelFileException(path, "'chat_template' list entries must be {\"name\": string, \"template\": string}");
            }

            switch (name.GetString())
            {
                case "default":
                    defaultTemplate ??= text.GetString();
                    break;
                case "tool_use":
                    toolUse ??= text.GetString();
                    break;
            }

            names.Add(name.GetString()!);
        }

        return defaultTemplate is not null
            ? (defaultTemplate, toolUse)
            : throw new ModelFileException(path, $"'chat_template' names templates ({string.Join(", ", names)}) but none is named 'default'");
    }

    private static string? ReadTemplateFile(string directory)
    {
        // Newer transformers save the template beside tokenizer_config.json instead of inside it.
        var jinjaPath = Path.Combine(directory, "chat_template.jinja");
        if (File.Exists(jinjaPath))
        {
            return ReadText(jinjaPath);
        }

        var jsonPath = Path.Combine(directory, "chat_template.json");
        using var json = ReadJson(jsonPath, required: false);
        if (json is null)
        {
            return null;
        }

        return GetString(jsonPath, json.RootElement, "chat_template")
            ?? throw new ModelFileException(jsonPath, "missing string 'chat_template'");
    }

    private static JsonDocument? ReadJson(string path, bool required)
    {
        if (!File.Exists(path))
        {
            return required ? throw new ModelFileException(path, "file not found") : null;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(ReadText(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new ModelFileException(path, $"is not valid JSON: {ex.Message}", ex);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new ModelFileException(path, "the top level must be a JSON object");
        }

        return document;
    }

    private static string ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(path, $"cannot be read: {ex.Message}", ex);
        }
    }

    private static string? GetString(string path, JsonElement obj, string key)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new ModelFileException(path, $"'{key}' must be a string, got {Describe(value)}");
    }

    private static bool? GetBool(string path, JsonElement obj, string key)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFileException(path, $"'{key}' must be true or false, got {Describe(value)}"),
        };
    }

    private static int? GetInt(string path, JsonElement obj, string key)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var result)
            ? result
            : throw new ModelFileException(path, $"'{key}' must be an integer, got {Describe(value)}");
    }

    /// <summary>Adds an id field that may be an integer or a list of integers.</summary>
    private static void AddIds(List<int> ids, string path, JsonElement obj, string key)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var single))
        {
            AddId(ids, path, key, single);
            return;
        }

        if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var id))
                {
                    throw new ModelFileException(path, $"'{key}' must be an integer or a list of integers, got a list holding {Describe(item)}");
                }

                AddId(ids, path, key, id);
            }

            return;
        }

        throw new ModelFileException(path, $"'{key}' must be an integer or a list of integers, got {Describe(value)}");
    }

    private static void AddId(List<int> ids, string path, string key, int id)
    {
        if (id < 0)
        {
            throw new ModelFileException(path, $"'{key}' must not be negative, got {id}");
        }

        if (!ids.Contains(id))
        {
            ids.Add(id);
        }
    }

    private static int? GetIdOrFirst(string path, JsonElement obj, string key)
    {
        var ids = new List<int>(1);
        AddIds(ids, path, obj, key);
        return ids.Count > 0 ? ids[0] : null;
    }

    /// <summary>The id of an added token by its text, from <c>added_tokens_decoder</c> (<c>{"id": {"content": ...}}</c>).</summary>
    private static int? FindAddedTokenId(string path, JsonElement tokenizerConfig, string content)
    {
        if (!tokenizerConfig.TryGetProperty("added_tokens_decoder", out var decoder) || decoder.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var entry in decoder.EnumerateObject())
        {
            if (entry.Value.ValueKind == JsonValueKind.Object
                && entry.Value.TryGetProperty("content", out var text) && text.ValueKind == JsonValueKind.String
                && text.GetString() == content)
            {
                return int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
                    ? id
                    : throw new ModelFileException(path, $"'added_tokens_decoder' key '{entry.Name}' must be a token id");
            }
        }

        return null;
    }

    /// <summary>A special-token field: a string, or an AddedToken object <c>{"content": ..., ...}</c>.</summary>
    private static string? GetTokenText(string path, JsonElement obj, string key)
    {
        if (!obj.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
        {
            return content.GetString();
        }

        throw new ModelFileException(path, $"'{key}' must be a string or an object with a string 'content', got {Describe(value)}");
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"\"{value.GetString()}\"",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        _ => value.GetRawText(),
    };
}

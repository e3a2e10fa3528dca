using Dynamo.Contracts.OpenAi;
using Dynamo.Llm.Tokenization;

namespace Dynamo.Llm.Tests;

public sealed class ModelCardTests
{
    [Fact]
    public void Load_LlamaStyleFolder_ReadsAllFields()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 8192,
             "vocab_size": 128256, "bos_token_id": 128000, "eos_token_id": 128001}
            """);
        dir.Write("generation_config.json", """{"bos_token_id": 128000, "eos_token_id": [128001, 128009]}""");
        dir.Write("tokenizer_config.json", """
            {"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|eot_id|>", "lstrip": false},
             "model_max_length": 1000000000000000019884624838656, "chat_template": "{{ bos_token }}{{ messages[0]['content'] }}"}
            """);

        var card = ModelCard.Load(dir.Path);

        Assert.Equal(Path.GetFileName(dir.Path), card.Name);
        Assert.Equal(Path.GetFullPath(dir.Path), card.Directory);
        Assert.Equal("llama", card.ModelType);
        Assert.Equal(8192, card.MaxContextLength);
        Assert.Equal(128256, card.VocabSize);
        Assert.Equal([128001, 128009], card.EosTokenIds);
        Assert.Equal(128000, card.BosTokenId);
        Assert.Equal("<|begin_of_text|>", card.BosToken);
        Assert.Equal("<|eot_id|>", card.EosToken);
        Assert.Equal("{{ bos_token }}{{ messages[0]['content'] }}", card.ChatTemplateSource);
        Assert.Equal("<|begin_of_text|>hi", card.ChatTemplate.Render([new ChatMessage("user", "hi")]));
    }

    [Fact]
    public void Load_QwenStyleNamedTemplates_PicksDefault()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"model_type": "qwen2", "max_position_embeddings": 32768, "vocab_size": 151936, "eos_token_id": 151645}""");
        dir.Write("tokenizer_config.json", """
            {"eos_token": "<|im_end|>", "bos_token": null,
             "chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "chat"}]}
            """);

        var card = ModelCard.Load(dir.Path, servedName: "qwen");

        Assert.Equal("qwen", card.Name);
        Assert.Equal([151645], card.EosTokenIds);
        Assert.Null(card.BosToken);
        Assert.Equal("chat", card.ChatTemplateSource);
        Assert.Equal("tools", card.ToolUseTemplateSource);
        Assert.Equal(("chat", "tools"), (card.ChatTemplateFor(withTools: false).Source, card.ChatTemplateFor(withTools: true).Source));
    }

    [Fact]
    public void Load_IdsMissingFromConfig_ResolvedFromAddedTokensDecoder()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 100}""");
        dir.Write("tokenizer_config.json", """
            {"bos_token": "<s>", "eos_token": "</s>",
             "added_tokens_decoder": {"1": {"content": "<s>", "special": true}, "2": {"content": "</s>", "special": true}}}
            """);

        var card = ModelCard.Load(dir.Path);

        Assert.Equal([2], card.EosTokenIds);
        Assert.Equal(1, card.BosTokenId);
    }

    [Fact]
    public void Load_NoContextLengthInConfig_UsesTokenizerModelMaxLength()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 50257}""");
        dir.Write("tokenizer_config.json", """{"model_max_length": 1024}""");

        Assert.Equal(1024, ModelCard.Load(dir.Path).MaxContextLength);
    }

    [Fact]
    public void Load_NoContextLengthAnywhere_UsesDefault()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 50257}""");

        var card = ModelCard.Load(dir.Path);

        Assert.Equal(ModelCard.DefaultMaxContextLength, card.MaxContextLength);
        Assert.Empty(card.EosTokenIds);
        Assert.Null(card.ChatTemplateSource);
    }

    [Fact]
    public void Load_TemplateInSeparateJinjaFile_IsRead()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 10}""");
        dir.Write("chat_template.jinja", "{{ 'x' }}\n");

        Assert.Equal("{{ 'x' }}\n", ModelCard.Load(dir.Path).ChatTemplateSource);
    }

    [Fact]
    public void Load_ToolCallFormat_DetectedFromTheTemplate_UnlessTheSettingNamesOne()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 10}""");
        Assert.Equal(Dynamo.Llm.ToolCalling.ToolCallFormat.Hermes, ModelCard.Load(dir.Path).ToolCallFormat);

        dir.Write("chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
        Assert.Null(ModelCard.Load(dir.Path).ToolCallFormat);
        Assert.Equal(Dynamo.Llm.ToolCalling.ToolCallFormat.Mistral, ModelCard.Load(dir.Path, toolCallParser: "mistral").ToolCallFormat);
        Assert.Throws<ArgumentException>(() => ModelCard.Load(dir.Path, toolCallParser: "xml"));
    }

    [Fact]
    public void Load_Gpt2Folder_LoadsTokenizerAndTemplateLazily()
    {
        using var dir = new TempDirectory();
        TokenizerFiles.WriteGpt2(dir.Path);
        dir.Write("config.json", $$"""{"model_type": "llama", "max_position_embeddings": 2048, "vocab_size": {{TokenizerFiles.Gpt2VocabSize}}, "eos_token_id": {{TokenizerFiles.Gpt2EndOfTextId}}}""");

        var card = ModelCard.Load(dir.Path);
        var prompt = card.ChatTemplate.Render([new ChatMessage("user", "Hello")]);

        Assert.Equal("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Equal([TokenizerFiles.Gpt2EndOfTextId], card.EosTokenIds);
        Assert.Equal(TokenizerFiles.Gpt2EndOfText, card.EosToken);
        Assert.Equal(prompt, card.Tokenizer.Decode(card.Tokenizer.EncodeToIds(prompt)));
        Assert.Same(card.Tokenizer, TokenizerLoader.Load(dir.Path));
    }

    [Fact]
    public void Load_MissingConfig_ThrowsNamingTheFile()
    {
        using var dir = new TempDirectory();

        var error = Assert.Throws<ModelFileException>(() => ModelCard.Load(dir.Path));

        Assert.Equal(dir.File("config.json"), error.FilePath);
    }

    [Fact]
    public void Load_MissingFolder_Throws()
    {
        var error = Assert.Throws<ModelFileException>(() => ModelCard.Load(Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid())));

        Assert.Contains("model folder not found", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"vocab_size": 10, "eos_token_id": "2"}""", "'eos_token_id' must be an integer or a list of integers")]
    [InlineData("""{"vocab_size": 10, "eos_token_id": [2, "x"]}""", "'eos_token_id' must be an integer or a list of integers")]
    [InlineData("""{"vocab_size": "10"}""", "'vocab_size' must be an integer")]
    [InlineData("""{"model_type": "llama"}""", "missing integer 'vocab_size'")]
    [InlineData("""{"vocab_size": 10, "max_position_embeddings": 0}""", "'max_position_embeddings' must be positive")]
    [InlineData("""{"vocab_size": 10,""", "is not valid JSON")]
    [InlineData("""[1, 2]""", "the top level must be a JSON object")]
    public void Load_BadConfig_ThrowsNamingFileAndKey(string config, string expected)
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", config);

        var error = Assert.Throws<ModelFileException>(() => ModelCard.Load(dir.Path));

        Assert.StartsWith(dir.File("config.json"), error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"eos_token": 5}""", "'eos_token' must be a string or an object")]
    [InlineData("""{"chat_template": 5}""", "'chat_template' must be a string or a list")]
    [InlineData("""{"chat_template": [{"name": "tool_use", "template": "x"}]}""", "none is named 'default'")]
    public void Load_BadTokenizerConfig_ThrowsNamingFileAndKey(string tokenizerConfig, string expected)
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 10}""");
        dir.Write("tokenizer_config.json", tokenizerConfig);

        var error = Assert.Throws<ModelFileException>(() => ModelCard.Load(dir.Path));

        Assert.StartsWith(dir.File("tokenizer_config.json"), error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokenizer_MissingTokenizerJson_ThrowsOnFirstUse()
    {
        using var dir = new TempDirectory();
        dir.Write("config.json", """{"vocab_size": 10}""");
        var card = ModelCard.Load(dir.Path);

        var error = Assert.Throws<ModelFileException>(() => card.Tokenizer);

        Assert.Equal(dir.File("tokenizer.json"), error.FilePath);
    }
}

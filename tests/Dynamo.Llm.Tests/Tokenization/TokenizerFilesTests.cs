using System.Text.Json;
using Dynamo.Llm.Tokenization;

namespace Dynamo.Llm.Tests.Tokenization;

public sealed class TokenizerFilesTests(Gpt2ModelFixture gpt2) : IClassFixture<Gpt2ModelFixture>
{
    [Fact]
    public void WriteGpt2_TokenizerJson_HasByteLevelBpeShape()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(gpt2.Directory, "tokenizer.json")));
        var root = document.RootElement;
        var model = root.GetProperty("model");

        Assert.Equal("BPE", model.GetProperty("type").GetString());
        Assert.Equal(TokenizerFiles.Gpt2VocabSize, model.GetProperty("vocab").EnumerateObject().Count());
        Assert.Equal(50000, model.GetProperty("merges").GetArrayLength());
        Assert.Equal("ByteLevel", root.GetProperty("pre_tokenizer").GetProperty("type").GetString());
        Assert.Equal("ByteLevel", root.GetProperty("decoder").GetProperty("type").GetString());
        var added = Assert.Single(root.GetProperty("added_tokens").EnumerateArray());
        Assert.Equal("<|endoftext|>", added.GetProperty("content").GetString());
        Assert.Equal(50256, added.GetProperty("id").GetInt32());
        Assert.True(added.GetProperty("special").GetBoolean());
    }

    [Fact]
    public void WriteGpt2_Merges_ReproduceGpt2MergeList()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(gpt2.Directory, "tokenizer.json")));
        var merges = document.RootElement.GetProperty("model").GetProperty("merges");
        var vocab = document.RootElement.GetProperty("model").GetProperty("vocab");

        // The first and last lines of OpenAI's merges.txt for GPT-2.
        Assert.Equal("Ġ t", merges[0].GetString());
        Assert.Equal("Ġ a", merges[1].GetString());
        Assert.Equal("Ġg azed", merges[49999].GetString());

        // Byte tokens use the byte-level alphabet: space is 'Ġ' (id 220), newline 'Ċ' (id 198).
        Assert.Equal(220, vocab.GetProperty("Ġ").GetInt32());
        Assert.Equal(198, vocab.GetProperty("Ċ").GetInt32());
    }

    [Fact]
    public void WriteGpt2_TokenizerConfig_HasSpecialTokensAndChatTemplate()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(gpt2.Directory, "tokenizer_config.json")));
        var root = document.RootElement;

        Assert.Equal("GPT2Tokenizer", root.GetProperty("tokenizer_class").GetString());
        Assert.Equal("<|endoftext|>", root.GetProperty("bos_token").GetString());
        Assert.Equal("<|endoftext|>", root.GetProperty("eos_token").GetString());
        Assert.Equal(1024, root.GetProperty("model_max_length").GetInt32());
        Assert.Equal(TokenizerFiles.ChatMlTemplate, root.GetProperty("chat_template").GetString());
    }

    [Fact]
    public void WriteGpt2_ModelMaxLength_IsWritten()
    {
        using var dir = new TempDirectory();
        TokenizerFiles.WriteGpt2(dir.Path, modelMaxLength: 4096);

        using var document = JsonDocument.Parse(File.ReadAllBytes(dir.File("tokenizer_config.json")));
        Assert.Equal(4096, document.RootElement.GetProperty("model_max_length").GetInt32());
        Assert.False(File.Exists(dir.File("tokenizer.json.tmp")));
    }
}

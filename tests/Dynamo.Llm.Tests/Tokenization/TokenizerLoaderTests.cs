using System.Text.Json.Nodes;
using Dynamo.Llm.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tests.Tokenization;

public sealed class TokenizerLoaderTests(Gpt2ModelFixture gpt2) : IClassFixture<Gpt2ModelFixture>
{
    public static TheoryData<string> Corpus => new(Gpt2ModelFixture.Corpus);

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Load_Gpt2TokenizerJson_EncodesLikeTiktoken(string text)
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);

        Assert.Equal(gpt2.Tiktoken.EncodeToIds(text), tokenizer.EncodeToIds(text));
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Load_Gpt2TokenizerJson_DecodeRoundTrips(string text)
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);

        Assert.Equal(text, tokenizer.Decode(tokenizer.EncodeToIds(text)));
    }

    [Fact]
    public void Load_LongMixedDocument_EncodesLikeTiktoken()
    {
        var text = string.Join("\n", Enumerable.Range(0, 40).Select(i => Gpt2ModelFixture.Corpus[i % Gpt2ModelFixture.Corpus.Length] + " " + i));
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);

        var ids = tokenizer.EncodeToIds(text);

        Assert.Equal(gpt2.Tiktoken.EncodeToIds(text), ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Load_SameFolderTwice_ReturnsCachedInstance()
    {
        Assert.Same(TokenizerLoader.Load(gpt2.Directory), TokenizerLoader.Load(gpt2.Directory));
    }

    [Fact]
    public void Load_AfterFileChanges_LoadsAgain()
    {
        using var dir = new TempDirectory();
        File.Copy(Path.Combine(gpt2.Directory, "tokenizer.json"), dir.File("tokenizer.json"));
        var first = TokenizerLoader.Load(dir.Path);

        File.SetLastWriteTimeUtc(dir.File("tokenizer.json"), DateTime.UtcNow.AddMinutes(1));

        Assert.NotSame(first, TokenizerLoader.Load(dir.Path));
    }

    [Fact]
    public void Load_MergesAsPairs_EncodesLikeTiktoken()
    {
        // tokenizers >= 0.20 writes merges as ["left", "right"].
        using var dir = WriteVariant(json =>
        {
            var merges = json["model"]!["merges"]!.AsArray();
            var pairs = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m!.GetValue<string>().Split(' ').Select(p => (JsonNode)JsonValue.Create(p)!).ToArray())).ToArray());
            json["model"]!["merges"] = pairs;
        });

        AssertEncodesLikeTiktoken(TokenizerLoader.Load(dir.Path));
    }

    [Fact]
    public void Load_SplitThenByteLevelSequence_EncodesLikeTiktoken()
    {
        // Llama 3 / Qwen2 layout: a Split with the regex, then ByteLevel without its own regex.
        using var dir = WriteVariant(json => json["pre_tokenizer"] = JsonNode.Parse("""
            {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
            ]}
            """));

        AssertEncodesLikeTiktoken(TokenizerLoader.Load(dir.Path));
    }

    [Fact]
    public void Load_DigitsThenByteLevelSequence_SplitsEachDigitFirst()
    {
        using var dir = WriteVariant(json => json["pre_tokenizer"] = JsonNode.Parse("""
            {"type": "Sequence", "pretokenizers": [
              {"type": "Digits", "individual_digits": true},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
            ]}
            """));
        var tokenizer = TokenizerLoader.Load(dir.Path);

        // Digits cuts "abc 2024 x" into "abc ", "2", "0", "2", "4", " x"; the GPT-2 regex then splits inside each piece.
        string[] pieces = ["abc", " ", "2", "0", "2", "4", " x"];
        var expected = pieces.SelectMany(p => gpt2.Tiktoken.EncodeToIds(p)).ToArray();

        Assert.Equal(expected, tokenizer.EncodeToIds("abc 2024 x"));
    }

    [Fact]
    public void Load_SplitPatternNotCoveringText_KeepsTheGapsAsPieces()
    {
        // Split (Isolated) on single digits: the text between digits must still be tokenized, not dropped.
        using var dir = WriteVariant(json => json["pre_tokenizer"] = JsonNode.Parse("""
            {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "Isolated", "invert": false},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
            ]}
            """));
        var tokenizer = TokenizerLoader.Load(dir.Path);

        var ids = tokenizer.EncodeToIds("ab 1 cd");

        Assert.Equal("ab 1 cd", tokenizer.Decode(ids));
        Assert.Equal(new[] { "ab ", "1", " cd" }.SelectMany(p => BpeWhole(tokenizer, p)).ToArray(), ids);
    }

    [Fact]
    public void Load_IgnoreMerges_LoadsTiktokenSemanticsAndEncodesLikeTiktoken()
    {
        // Llama 3 sets ignore_merges: a whole pre-token in the vocabulary wins, pairs merge by rank.
        using var dir = WriteVariant(json => json["model"]!["ignore_merges"] = true);
        var tokenizer = TokenizerLoader.Load(dir.Path);

        Assert.IsType<TiktokenTokenizer>(tokenizer);
        AssertEncodesLikeTiktoken(tokenizer);
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingTheFile()
    {
        using var dir = new TempDirectory();

        var error = Assert.Throws<ModelFileException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Equal(dir.File("tokenizer.json"), error.FilePath);
        Assert.Contains("tokenizer.json", error.Message, StringComparison.Ordinal);
        Assert.Contains("not found", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_InvalidJson_ThrowsNamingTheFileAndProblem()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");

        var error = Assert.Throws<ModelFileException>(() => TokenizerLoader.Load(dir.Path));

        Assert.StartsWith(dir.File("tokenizer.json"), error.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnsupportedModelType_ThrowsNamingTheType()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", """{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}""");

        var error = Assert.Throws<ModelFileException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains("model.type 'Unigram' is not supported", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SentencePieceStyleBpe_ThrowsExplaining()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", """{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": null}""");

        var error = Assert.Throws<ModelFileException>(() => TokenizerLoader.Load(dir.Path));

        Assert.Contains("byte_fallback", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_FixedAfterFailure_LoadsWithoutRestart()
    {
        using var dir = new TempDirectory();
        dir.Write("tokenizer.json", "not json");
        Assert.Throws<ModelFileException>(() => TokenizerLoader.Load(dir.Path));

        File.Copy(Path.Combine(gpt2.Directory, "tokenizer.json"), dir.File("tokenizer.json"), overwrite: true);

        Assert.Equal(gpt2.Tiktoken.EncodeToIds("fixed"), TokenizerLoader.Load(dir.Path).EncodeToIds("fixed"));
    }

    /// <summary>Ids of one pre-token encoded without further splitting (the piece is given whole to BPE).</summary>
    private static IReadOnlyList<int> BpeWhole(Tokenizer tokenizer, string piece) =>
        tokenizer.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false);

    private void AssertEncodesLikeTiktoken(Tokenizer tokenizer)
    {
        foreach (var text in Gpt2ModelFixture.Corpus)
        {
            Assert.Equal(gpt2.Tiktoken.EncodeToIds(text), tokenizer.EncodeToIds(text));
            Assert.Equal(text, tokenizer.Decode(tokenizer.EncodeToIds(text)));
        }
    }

    private TempDirectory WriteVariant(Action<JsonNode> change)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(gpt2.Directory, "tokenizer.json")))!;
        change(json);
        var dir = new TempDirectory();
        dir.Write("tokenizer.json", json.ToJsonString());
        return dir;
    }
}

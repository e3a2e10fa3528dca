using System.Text;
using Dynamo.Llm.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tests.Tokenization;

public sealed class IncrementalDetokenizerTests(Gpt2ModelFixture gpt2) : IClassFixture<Gpt2ModelFixture>
{
    public static TheoryData<string> Corpus => new(Gpt2ModelFixture.Corpus.Where(t => t.Length > 0));

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Push_LoadedTokenizer_DeltasConcatenateToDecode(string text)
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);

        AssertStreamsLikeDecode(tokenizer, tokenizer.EncodeToIds(text));
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Push_TiktokenTokenizer_DeltasConcatenateToDecode(string text)
    {
        // No byte table for a plain TiktokenTokenizer: this exercises the decode-window path.
        AssertStreamsLikeDecode(gpt2.Tiktoken, gpt2.Tiktoken.EncodeToIds(text));
    }

    [Fact]
    public void Push_RandomTokenIds_DeltasConcatenateToDecode()
    {
        // Random ids include lone pieces of multi-byte characters, i.e. invalid UTF-8: the stream must still equal
        // the one-shot decode, replacement characters included.
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var random = new Random(42);
        for (var trial = 0; trial < 50; trial++)
        {
            var ids = Enumerable.Range(0, 64).Select(_ => random.Next(0, TokenizerFiles.Gpt2VocabSize)).ToArray();
            var detokenizer = new IncrementalDetokenizer(tokenizer);

            var text = string.Concat(ids.Select(detokenizer.Push)) + detokenizer.Flush();

            Assert.Equal(tokenizer.Decode(ids), text);
        }
    }

    [Fact]
    public void Push_EmojiSplitAcrossTokens_HoldsBytesUntilComplete()
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var ids = tokenizer.EncodeToIds("😀");
        Assert.True(ids.Count > 1, "the test needs an emoji that byte-level BPE splits");
        var detokenizer = new IncrementalDetokenizer(tokenizer);

        var deltas = ids.Select(detokenizer.Push).ToList();

        Assert.All(deltas.Take(ids.Count - 1), d => Assert.Equal(string.Empty, d));
        Assert.Equal("😀", deltas[^1]);
        Assert.Equal(string.Empty, detokenizer.Flush());
    }

    [Fact]
    public void Flush_IncompleteCharacter_EmitsReplacementCharacter()
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var ids = tokenizer.EncodeToIds("😀");
        var detokenizer = new IncrementalDetokenizer(tokenizer);

        Assert.Equal(string.Empty, detokenizer.Push(ids[0]));

        Assert.Equal("\uFFFD", detokenizer.Flush());
    }

    [Fact]
    public void Push_WithPromptContext_EmitsOnlyGeneratedText()
    {
        var prompt = gpt2.Tiktoken.EncodeToIds("The answer is");
        var generated = gpt2.Tiktoken.EncodeToIds(" forty-two 🎉");
        foreach (var tokenizer in new Tokenizer[] { TokenizerLoader.Load(gpt2.Directory), gpt2.Tiktoken })
        {
            var detokenizer = new IncrementalDetokenizer(tokenizer, prompt);

            var text = string.Concat(generated.Select(detokenizer.Push)) + detokenizer.Flush();

            Assert.Equal(" forty-two 🎉", text);
        }
    }

    [Fact]
    public void Push_PromptEndingInsideACharacter_CompletesItWithTheGeneratedBytes()
    {
        // A migrated request: its prompt is the original prompt plus the tokens generated before the cut, and the cut
        // fell inside an emoji whose first bytes the failed worker held back.
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var emoji = tokenizer.EncodeToIds("😀");
        Assert.True(emoji.Count > 1, "the test needs an emoji that byte-level BPE splits");
        var prompt = tokenizer.EncodeToIds("Hi").Concat(emoji.Take(1)).ToList();
        var generated = emoji.Skip(1).Concat(tokenizer.EncodeToIds(" there")).ToList();
        var detokenizer = new IncrementalDetokenizer(tokenizer, prompt);

        var text = string.Concat(generated.Select(detokenizer.Push)) + detokenizer.Flush();

        Assert.Equal("😀 there", text);
    }

    [Fact]
    public void Push_SkipSpecialTokens_LeavesThemOut()
    {
        var ids = gpt2.Tiktoken.EncodeToIds("Hi<|endoftext|>there");
        Assert.Contains(TokenizerFiles.Gpt2EndOfTextId, ids);
        foreach (var tokenizer in new Tokenizer[] { TokenizerLoader.Load(gpt2.Directory), gpt2.Tiktoken })
        {
            var keep = new IncrementalDetokenizer(tokenizer);
            var skip = new IncrementalDetokenizer(tokenizer, skipSpecialTokens: true);

            Assert.Equal("Hi<|endoftext|>there", string.Concat(ids.Select(keep.Push)) + keep.Flush());
            Assert.Equal("Hithere", string.Concat(ids.Select(skip.Push)) + skip.Flush());
        }
    }

    [Fact]
    public void Push_IdOutsideVocabulary_EmitsNothing()
    {
        // A model's output layer may be larger than its tokenizer (padded vocab_size); decoders skip unknown ids.
        var detokenizer = new IncrementalDetokenizer(TokenizerLoader.Load(gpt2.Directory));

        Assert.Equal(string.Empty, detokenizer.Push(60000));
        Assert.Equal("Hello", detokenizer.Push(15496));
    }

    private static void AssertStreamsLikeDecode(Tokenizer tokenizer, IReadOnlyList<int> ids)
    {
        var detokenizer = new IncrementalDetokenizer(tokenizer);
        var text = new StringBuilder();
        foreach (var id in ids)
        {
            var delta = detokenizer.Push(id);
            Assert.DoesNotContain('\uFFFD', delta);
            if (delta.Length > 0)
            {
                Assert.False(char.IsHighSurrogate(delta[^1]), "a delta ends in half a surrogate pair");
                Assert.False(char.IsLowSurrogate(delta[0]), "a delta starts with half a surrogate pair");
            }

            text.Append(delta);
        }

        text.Append(detokenizer.Flush());
        Assert.Equal(tokenizer.Decode(ids), text.ToString());
    }
}

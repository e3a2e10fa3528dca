using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.Llm.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tests.Tokenization;

/// <summary>
/// <see cref="TokenEncoder"/> against the library tokenizer it replaces on the request path: the same ids on every
/// text and tokenizer layout the loader accepts, in O(n log n), and stoppable.
/// </summary>
public sealed class TokenEncoderTests(Gpt2ModelFixture gpt2) : IClassFixture<Gpt2ModelFixture>
{
    // Llama 3's pre-tokenizer regex (Qwen2's differs only in \p{N} handling).
    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static TheoryData<string> Layouts => new(["gpt2", "split-sequence", "digits", "ignore-merges", "llama3-split-ignore-merges"]);

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Encode_EveryCorpusText_GivesTheLibraryTokenizersIds(string layout)
    {
        using var dir = WriteLayout(layout);
        var library = TokenizerLoader.Load(dir.Path);
        var encoder = TokenizerLoader.LoadEncoder(dir.Path);

        var checkedTexts = 0;
        foreach (var text in Corpus())
        {
            var expected = library.EncodeToIds(text);
            var actual = encoder.Encode(text);
            Assert.True(expected.SequenceEqual(actual), $"{layout}: ids differ for text #{checkedTexts} ({text.Length} chars, starts '{Preview(text)}')");
            checkedTexts++;
        }

        Assert.True(checkedTexts > 300, $"only {checkedTexts} texts were compared");
    }

    [Fact]
    public void Encode_TwiceAndConcurrently_GivesTheSameIds()
    {
        // The word cache is shared between requests: a second pass (cache hits) and parallel callers must agree.
        var encoder = TokenizerLoader.LoadEncoder(gpt2.Directory);
        var texts = Corpus().Take(200).ToArray();
        var first = texts.Select(t => encoder.Encode(t)).ToArray();

        var again = new int[texts.Length][];
        Parallel.For(0, texts.Length, i => again[i] = encoder.Encode(texts[i]));

        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(first[i], again[i]);
        }
    }

    [Fact]
    public void Encode_OneMegabyteOfLetters_TakesUnderFiveSecondsOfCpu()
    {
        // The library needs over a minute of CPU for this (quadratic in the word); the encoder about one second on
        // the 2-core dev box (bench/README.md, "Tokenizer"). Measured as this thread's CPU time, not wall time: the
        // box is shared, and a loaded machine stretches wall time but not the work done.
        var encoder = TokenizerLoader.LoadEncoder(gpt2.Directory);
        var text = Letters(1 << 20, seed: 3);

        var (cpu, wall) = ThreadCpu.Measure(() => encoder.Encode(text), out var ids);

        Assert.True(cpu < TimeSpan.FromSeconds(5), $"1 MiB of letters took {cpu.TotalSeconds:F2} s of CPU ({wall.TotalSeconds:F2} s wall)");
        Assert.Equal(text, TokenizerLoader.Load(gpt2.Directory).Decode(ids));
    }

    [Fact]
    public void Encode_TokenAlreadyCancelled_ThrowsBeforeAnyWork()
    {
        var encoder = TokenizerLoader.LoadEncoder(gpt2.Directory);

        Assert.Throws<OperationCanceledException>(() => encoder.Encode("hello world", new CancellationToken(canceled: true)));
    }

    [Fact]
    public void Encode_CancelledDuringOneLongWord_StopsInsideTheWord()
    {
        // One pre-token of 8 MiB: only the checks inside the merge loop can see the cancellation.
        // The bound is a same-run ratio, not a wall-clock constant (a suite run on two busy cores took 6.2 s against a
        // fixed 5 s): a word 1/32 as long, encoded whole just before, takes at most 1/32 of the long word's time
        // (encoding is O(n log n)); stopping within 8 of those means the merge loop saw the cancellation.
        var encoder = TokenizerLoader.LoadEncoder(gpt2.Directory);
        encoder.Encode(Letters(4096, seed: 3));
        var sample = Stopwatch.StartNew();
        encoder.Encode(Letters(256 << 10, seed: 5));
        var sampleTime = sample.Elapsed;
        var text = Letters(8 << 20, seed: 4);
        using var cancel = new CancellationTokenSource();

        cancel.CancelAfter(TimeSpan.FromMilliseconds(100));
        var watch = Stopwatch.StartNew();
        Assert.Throws<OperationCanceledException>(() => encoder.Encode(text, cancel.Token));

        var bound = TimeSpan.FromMilliseconds(100) + (8 * sampleTime);
        Assert.True(watch.Elapsed < bound, $"stopping took {watch.Elapsed.TotalSeconds:F2} s; a word 1/32 as long took {sampleTime.TotalSeconds:F2} s whole (bound {bound.TotalSeconds:F2} s)");
    }

    [Fact]
    public void Encode_EmptyText_GivesNoIds()
    {
        Assert.Empty(TokenizerLoader.LoadEncoder(gpt2.Directory).Encode(""));
    }

    /// <summary>The fixture's corpus, seeded random mixes of scripts and symbols, and long runs without whitespace.</summary>
    internal static IEnumerable<string> Corpus()
    {
        foreach (var text in Gpt2ModelFixture.Corpus)
        {
            yield return text;
        }

        string[] pieces =
        [
            "a", "e", "th", "the", " ", "  ", "\n", "\r\n", "\t", "'s", "'ll", "'VE", "1", "42", "2024", "3.14", ",", ".", "!",
            "?!", "--", "(", ")", "{", "}", "<|endoftext|>", "<|end", "é", "ß", "ü", "中", "文", "日本", "한", "😀", "👍🏽", "🇫🇷",
            "\u200b", "\u00a0", "\ufffd", "\ud800", "\udc00", "x\ud83d", "Ωmega", "naïve", "Hello", "WORLD", "_", "@", "#",
        ];
        var random = new Random(12345);
        for (var i = 0; i < 300; i++)
        {
            var builder = new StringBuilder();
            var count = random.Next(1, 60);
            for (var j = 0; j < count; j++)
            {
                builder.Append(pieces[random.Next(pieces.Length)]);
            }

            yield return builder.ToString();
        }

        // Long whitespace-free runs: what the quadratic path choked on, kept short enough for the library to finish.
        yield return Letters(3000, seed: 1);
        yield return new string('a', 4001);
        yield return string.Concat(Enumerable.Repeat("ab", 1500));
        yield return string.Concat(Enumerable.Repeat("0123456789", 300));
        yield return string.Concat(Enumerable.Repeat("中文字", 500));
        yield return string.Concat(Enumerable.Repeat("😀", 700));
        yield return string.Concat(Enumerable.Repeat("!?", 1200));
        yield return Letters(2000, seed: 2) + " " + Letters(2000, seed: 5) + "\n\n" + string.Concat(Enumerable.Repeat("x1", 800));
    }

    internal static string Letters(int length, int seed)
    {
        var random = new Random(seed);
        return string.Create(length, random, static (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + r.Next(26));
            }
        });
    }

    private static string Preview(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private TempDirectory WriteLayout(string layout)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(gpt2.Directory, "tokenizer.json")))!;
        switch (layout)
        {
            case "gpt2":
                break;
            case "split-sequence":
                json["pre_tokenizer"] = SplitThenByteLevel(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+");
                break;
            case "digits":
                json["pre_tokenizer"] = JsonNode.Parse("""
                    {"type": "Sequence", "pretokenizers": [
                      {"type": "Digits", "individual_digits": true},
                      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
                    ]}
                    """);
                break;
            case "ignore-merges":
                json["model"]!["ignore_merges"] = true;
                break;
            case "llama3-split-ignore-merges":
                json["model"]!["ignore_merges"] = true;
                json["pre_tokenizer"] = SplitThenByteLevel(Llama3Pattern);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(layout), layout, "unknown layout");
        }

        var dir = new TempDirectory();
        dir.Write("tokenizer.json", json.ToJsonString());
        return dir;
    }

    private static JsonNode SplitThenByteLevel(string pattern) => new JsonObject
    {
        ["type"] = "Sequence",
        ["pretokenizers"] = new JsonArray(
            new JsonObject
            {
                ["type"] = "Split",
                ["pattern"] = new JsonObject { ["Regex"] = pattern },
                ["behavior"] = "Isolated",
                ["invert"] = false,
            },
            new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
    };
}

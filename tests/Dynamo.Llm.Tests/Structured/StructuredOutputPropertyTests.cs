using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Llm.Structured;
using Dynamo.Llm.Tokenization;
using Xunit.Abstractions;

namespace Dynamo.Llm.Tests.Structured;

/// <summary>
/// The property structured outputs promise: whatever the model's weights, every output the constraint lets through
/// parses and validates against the schema. A "random-weight model" here draws each token at random among the ones
/// the mask allows (what random logits do after masking), over GPT-2's real vocabulary and over a small byte vocabulary.
/// </summary>
public sealed class StructuredOutputPropertyTests(Gpt2ModelFixture gpt2, ITestOutputHelper output) : IClassFixture<Gpt2ModelFixture>
{
    private const int Gpt2Eos = 50256;

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public void RandomSchemas_RandomModel_EveryOutputParsesAndValidates(bool strict, int seed)
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var random = new Random(seed);
        var schemas = new RandomSchemas(random, strict);
        var tokens = 0;
        for (var i = 0; i < 40; i++)
        {
            var schema = schemas.Next();
            var grammar = JsonGrammar.FromSchema(JsonDocument.Parse(schema.ToJsonString()).RootElement, strict, "random");
            var constraint = StructuredOutput.CreateConstraint(tokenizer, 50257, new StructuredOutputSpec(grammar), [Gpt2Eos]);
            var (text, count) = Generate(constraint, random, [Gpt2Eos], 4000, id => Bytes(tokenizer, id));
            tokens += count;
            AssertValid(schema, text);
        }

        output.WriteLine($"{tokens} tokens generated over 40 schemas");
    }

    [Fact]
    public void OpenObjectsAndJsonMode_SmallVocabulary_EveryOutputParsesAndValidates()
    {
        var vocabulary = SmallVocabulary();
        var random = new Random(7);
        var schemas = new RandomSchemas(random, strict: false, open: true);
        for (var i = 0; i < 60; i++)
        {
            var schema = i % 4 == 0 ? null : schemas.Next();
            var grammar = schema is null ? JsonGrammar.JsonObject : JsonGrammar.FromSchema(JsonDocument.Parse(schema.ToJsonString()).RootElement, strict: false);
            var constraint = new TokenConstraint(TokenVocabulary.Build(vocabulary), grammar.Root, [0]);
            // Uniform choice is a critical branching process on open objects (as likely to open as to close): this model
            // leans towards closing brackets and quotes, as trained models do; the constraint must not care either way.
            var (text, _) = Generate(constraint, random, [0], 20_000, id => vocabulary[id], closers: [.. "}]\"".Select(c => Array.FindIndex(vocabulary, t => t.Length == 1 && t[0] == c))]);
            using var document = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            if (schema is not null)
            {
                AssertValid(schema, text);
            }
        }
    }

    [Fact]
    public void PrefixAndSuffix_AreWrittenVerbatimAroundTheValue()
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string","maxLength":8},"days":{"type":"integer"}},"required":["city","days"],"additionalProperties":false}""").RootElement;
        var spec = new StructuredOutputSpec(JsonGrammar.FromSchema(schema, strict: true)) { Prefix = "<tool_call>\n", Suffix = "\n</tool_call>" };
        var random = new Random(3);
        for (var i = 0; i < 10; i++)
        {
            var constraint = StructuredOutput.CreateConstraint(tokenizer, 50257, spec, [Gpt2Eos]);
            var (text, _) = Generate(constraint, random, [Gpt2Eos], 2000, id => Bytes(tokenizer, id));
            Assert.StartsWith("<tool_call>\n", text, StringComparison.Ordinal);
            Assert.EndsWith("\n</tool_call>", text, StringComparison.Ordinal);
            var json = text["<tool_call>\n".Length..^"\n</tool_call>".Length];
            Assert.Null(SchemaValidator.Validate(JsonDocument.Parse(json).RootElement, schema));
        }
    }

    [Fact]
    public void Alternatives_OneToolCallAmongSeveral_IsOneOfThemVerbatim()
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var weather = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string","maxLength":8}},"required":["city"],"additionalProperties":false}""").RootElement;
        var time = JsonDocument.Parse("""{"type":"object","properties":{"zone":{"enum":["UTC","CET"]}},"required":["zone"],"additionalProperties":false}""").RootElement;
        StructuredOutputSpec Call(string name, JsonElement schema) =>
            new(JsonGrammar.FromSchema(schema, strict: true)) { Prefix = $"<tool_call>\n{{\"name\":\"{name}\",\"arguments\":", Suffix = "}\n</tool_call>" };
        var random = new Random(5);
        var seen = new HashSet<string>();
        for (var i = 0; i < 12; i++)
        {
            var constraint = StructuredOutput.CreateConstraint(tokenizer, 50257, [Call("get_weather", weather), Call("get_time", time)], [Gpt2Eos]);
            var (text, _) = Generate(constraint, random, [Gpt2Eos], 2000, id => Bytes(tokenizer, id));
            Assert.StartsWith("<tool_call>\n", text, StringComparison.Ordinal);
            Assert.EndsWith("\n</tool_call>", text, StringComparison.Ordinal);
            using var call = JsonDocument.Parse(text["<tool_call>\n".Length..^"\n</tool_call>".Length]);
            var name = call.RootElement.GetProperty("name").GetString()!;
            seen.Add(name);
            Assert.Null(SchemaValidator.Validate(call.RootElement.GetProperty("arguments"), name == "get_weather" ? weather : time));
        }

        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public void Replay_OfTokensGeneratedSoFar_ResumesWithTheSameMask()
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"array","items":{"enum":["x","yy",3]},"maxItems":5},"b":{"type":"string","maxLength":20}},"required":["a","b"],"additionalProperties":false}""").RootElement;
        var spec = new StructuredOutputSpec(JsonGrammar.FromSchema(schema, strict: true));
        var random = new Random(11);
        var first = StructuredOutput.CreateConstraint(tokenizer, 50257, spec, [Gpt2Eos]);
        var mask = new ulong[(50257 + 63) / 64];
        var generated = new List<int>();
        for (var i = 0; i < 6 && !first.IsComplete; i++)
        {
            first.FillAllowed(mask);
            var token = Pick(mask, random);
            Assert.True(first.TryAccept(token));
            generated.Add(token);
        }

        // The request moves to another worker: a fresh constraint replays the tokens and must allow the same next ones.
        var second = StructuredOutput.CreateConstraint(tokenizer, 50257, spec, [Gpt2Eos]);
        foreach (var token in generated)
        {
            Assert.True(second.TryAccept(token));
        }

        var again = new ulong[mask.Length];
        first.FillAllowed(mask);
        second.FillAllowed(again);
        Assert.Equal(mask, again);
    }

    [Fact]
    public void Mask_RefusesWhatTheGrammarRefuses_AndTryAcceptKeepsTheState()
    {
        var tokenizer = TokenizerLoader.Load(gpt2.Directory);
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}""").RootElement;
        var constraint = StructuredOutput.CreateConstraint(tokenizer, 50257, new StructuredOutputSpec(JsonGrammar.FromSchema(schema, strict: true)), [Gpt2Eos]);
        var mask = new ulong[(50257 + 63) / 64];
        Assert.True(constraint.FillAllowed(mask));
        var allowed = Enumerable.Range(0, 50257).Where(t => (mask[t >> 6] & (1UL << t)) != 0).Select(t => Encoding.UTF8.GetString(Bytes(tokenizer, t))).ToList();
        Assert.Contains("{", allowed);
        Assert.Contains("{\"", allowed);
        Assert.All(allowed, t => Assert.True("{\"ok\":".StartsWith(t, StringComparison.Ordinal) || t.StartsWith("{\"ok\":", StringComparison.Ordinal), t));
        Assert.DoesNotContain(" {", allowed);
        Assert.False(constraint.TryAccept(Gpt2Eos));
        Assert.False(constraint.TryAccept(tokenizer.EncodeToIds("[")[0]));
        Assert.True(constraint.TryAccept(tokenizer.EncodeToIds("{")[0]));
    }

    private static void AssertValid(JsonObject schema, string text)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"output does not parse ({ex.Message}): {text}\nschema: {schema.ToJsonString()}");
        }

        using (document)
        {
            var problem = SchemaValidator.Validate(document.RootElement, JsonDocument.Parse(schema.ToJsonString()).RootElement);
            Assert.True(problem is null, $"{problem}\noutput: {text}\nschema: {schema.ToJsonString()}");
        }
    }

    private static (string Text, int Tokens) Generate(TokenConstraint constraint, Random random, int[] eos, int maxTokens, Func<int, byte[]> bytesOf, int[]? closers = null)
    {
        var mask = new ulong[(constraint.VocabSize + 63) / 64];
        var text = new List<byte>();
        for (var step = 0; step < maxTokens; step++)
        {
            if (constraint.IsComplete)
            {
                return (Decode(text), step);
            }

            Assert.True(constraint.FillAllowed(mask), $"no token allowed after: {Lenient(text)}");
            var token = Pick(mask, random);
            if (closers is not null && random.Next(3) == 0)
            {
                foreach (var closer in closers)
                {
                    if ((mask[closer >> 6] & (1UL << closer)) != 0)
                    {
                        token = closer;
                    }
                }
            }

            Assert.True(constraint.TryAccept(token), $"the mask allowed token {token}, which TryAccept refused");
            if (eos.Contains(token))
            {
                Assert.True(constraint.IsComplete);
                return (Decode(text), step + 1);
            }

            text.AddRange(bytesOf(token));
        }

        throw new Xunit.Sdk.XunitException($"no complete output within {maxTokens} tokens: {Lenient(text)}");
    }

    private static string Lenient(List<byte> bytes) => Encoding.UTF8.GetString([.. bytes]);

    private static string Decode(List<byte> bytes) => new UTF8Encoding(false, throwOnInvalidBytes: true).GetString([.. bytes]);

    /// <summary>A uniformly random allowed token: random logits, masked.</summary>
    private static int Pick(ulong[] mask, Random random)
    {
        var count = TokenConstraint.Count(mask);
        var target = random.Next(count);
        for (var word = 0; word < mask.Length; word++)
        {
            var bits = System.Numerics.BitOperations.PopCount(mask[word]);
            if (target < bits)
            {
                var w = mask[word];
                for (var i = 0; i < target; i++)
                {
                    w &= w - 1;
                }

                return (word << 6) + System.Numerics.BitOperations.TrailingZeroCount(w);
            }

            target -= bits;
        }

        throw new InvalidOperationException("empty mask");
    }

    private static byte[] Bytes(Microsoft.ML.Tokenizers.Tokenizer tokenizer, int id) =>
        TokenByteTable.For(tokenizer)!.TryGetBytes(id, out var bytes, out var special) && !special ? bytes.ToArray() : [];

    /// <summary>Token 0 is EOS (no bytes); then the printable ASCII bytes, the UTF-8 bytes, a few characters split and whole, and some JSON-ish merges.</summary>
    private static byte[][] SmallVocabulary()
    {
        var tokens = new List<byte[]> { Array.Empty<byte>() };
        for (var b = 0x20; b < 0x7F; b++)
        {
            tokens.Add([(byte)b]);
        }

        // Every byte a UTF-8 character can use, so the vocabulary can spell any literal.
        for (var b = 0x80; b <= 0xF4; b++)
        {
            tokens.Add([(byte)b]);
        }

        tokens.Add("é"u8.ToArray());
        tokens.Add("€"u8.ToArray());
        tokens.Add([0xE2, 0x82]);
        tokens.Add([0xAC]);
        tokens.Add([0xFF]);
        tokens.Add("\n"u8.ToArray());
        foreach (var merge in new[] { "\":", "\",\"", "{\"", "\"}", "},", "true", "null", "12", "\\n", "\\u00e9", "\\ud83d", ",\"", "]}", "[{" })
        {
            tokens.Add(Encoding.UTF8.GetBytes(merge));
        }

        return [.. tokens];
    }
}

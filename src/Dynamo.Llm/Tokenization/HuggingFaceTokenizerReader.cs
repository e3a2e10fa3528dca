using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> holding a byte-level BPE model. Models flagged <c>ignore_merges</c>
/// (Llama 3) are tiktoken-derived: a whole pre-token found in the vocabulary wins and pairs merge by rank, so they are
/// loaded as a <see cref="TiktokenTokenizer"/> with rank = id; the others as a <see cref="BpeTokenizer"/> driven by
/// the merge list. Each comes with the <see cref="TokenEncoder"/> that the request path encodes with: the same ids,
/// in O(n log n) and cancellable.
/// </summary>
internal static class HuggingFaceTokenizerReader
{
    private const RegexOptions PatternOptions = RegexOptions.Compiled | RegexOptions.CultureInvariant;

    public static LoadedTokenizer Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(path, $"cannot be read: {ex.Message}", ex);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new ModelFileException(path, $"is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            return Read(path, document.RootElement);
        }
    }

    private static LoadedTokenizer Read(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFileException(path, "the top level must be a JSON object");
        }

        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFileException(path, "missing object 'model'");
        }

        var type = model.TryGetProperty("type", out var typeElement) && typeElement.ValueKind == JsonValueKind.String
            ? typeElement.GetString()
            : model.TryGetProperty("merges", out _) ? "BPE" : null;
        if (type != "BPE")
        {
            throw new ModelFileException(path, $"model.type '{type ?? "(missing)"}' is not supported; only byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2 style) are");
        }

        if (GetBool(model, "byte_fallback"))
        {
            throw new ModelFileException(path, "model.byte_fallback is true: SentencePiece-style BPE is not supported; only byte-level BPE is");
        }

        var (patterns, byteLevel) = ReadPreTokenizer(path, root);
        if (!byteLevel)
        {
            throw new ModelFileException(path, "pre_tokenizer has no ByteLevel step: only byte-level BPE tokenizers are supported");
        }

        CheckNormalizer(path, root);
        var vocabulary = ReadVocabulary(path, model);
        var specialTokens = ReadAddedTokens(path, root);
        var regexes = patterns.Select(p => CompilePattern(path, p)).ToArray();
        PreTokenizer preTokenizer = regexes.Length == 1
            ? new RegexPreTokenizer(regexes[0], specialTokens)
            : new CompositePreTokenizer(regexes.Select(r => (PreTokenizer)new RegexPreTokenizer(r, null)).ToArray(), specialTokens);

        var loaded = GetBool(model, "ignore_merges")
            ? CreateTiktoken(path, vocabulary, specialTokens, preTokenizer)
            : CreateBpe(path, model, vocabulary, specialTokens, preTokenizer);
        TokenByteTable.Register(loaded.Tokenizer, TokenByteTable.FromByteLevel(vocabulary, specialTokens));
        return loaded;
    }

    private static LoadedTokenizer CreateBpe(
        string path,
        JsonElement model,
        Dictionary<string, int> vocabulary,
        Dictionary<string, int> specialTokens,
        PreTokenizer preTokenizer)
    {
        // Byte-level vocabularies mark word boundaries with the byte of a space, never with affixes; the fast encoder
        // does not implement them, so refuse rather than encode differently from the file.
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (NullIfEmpty(GetString(model, affix)) is { } value)
            {
                throw new ModelFileException(path, $"model.{affix} is '{value}': byte-level BPE with subword affixes is not supported");
            }
        }

        var merges = ReadMerges(path, model);
        var unknownToken = GetString(model, "unk_token");
        var fuseUnknown = GetBool(model, "fuse_unk");
        var options = new BpeOptions(vocabulary)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = preTokenizer,
            SpecialTokens = specialTokens.Count > 0 ? specialTokens : null,
            UnknownToken = unknownToken,
            FuseUnknownTokens = fuseUnknown,
        };

        try
        {
            var tokenizer = BpeTokenizer.Create(options);
            return new LoadedTokenizer(tokenizer, TokenEncoder.FromMerges(preTokenizer, vocabulary, merges, specialTokens, unknownToken, fuseUnknown));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ModelFileException(path, $"the BPE model cannot be built: {ex.Message}", ex);
        }
    }

    private static LoadedTokenizer CreateTiktoken(
        string path,
        Dictionary<string, int> vocabulary,
        Dictionary<string, int> specialTokens,
        PreTokenizer preTokenizer)
    {
        // tiktoken's own file format: base64(token bytes) and rank per line, rank = id.
        var text = new StringBuilder(vocabulary.Count * 16);
        Span<byte> buffer = stackalloc byte[1024];
        foreach (var (token, id) in vocabulary.OrderBy(kv => kv.Value))
        {
            if (specialTokens.ContainsKey(token))
            {
                continue;
            }

            if (token.Length > buffer.Length || !ByteLevelAlphabet.TryDecode(token, buffer, out var written))
            {
                throw new ModelFileException(path, $"model.vocab entry '{token}' (id {id}) is not a byte-level token");
            }

            text.Append(Convert.ToBase64String(buffer[..written])).Append(' ').Append(id.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text.ToString()));
        try
        {
            var tokenizer = TiktokenTokenizer.Create(stream, preTokenizer, normalizer: null, specialTokens.Count > 0 ? specialTokens : null);
            return new LoadedTokenizer(tokenizer, TokenEncoder.FromRanks(preTokenizer, vocabulary, specialTokens));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ModelFileException(path, $"the BPE model cannot be built: {ex.Message}", ex);
        }
    }

    /// <summary>The split patterns of the pre-tokenizer and whether it has a ByteLevel step.</summary>
    private static (List<string> Patterns, bool ByteLevel) ReadPreTokenizer(string path, JsonElement root)
    {
        var patterns = new List<string>();
        var byteLevel = false;
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind == JsonValueKind.Null)
        {
            return (patterns, false);
        }

        void Visit(JsonElement step, string where)
        {
            var type = GetString(step, "type");
            switch (type)
            {
                case "Sequence":
                    if (!step.TryGetProperty("pretokenizers", out var steps) || steps.ValueKind != JsonValueKind.Array)
                    {
                        throw new ModelFileException(path, $"{where}: Sequence without a 'pretokenizers' array");
                    }

                    var i = 0;
                    foreach (var inner in steps.EnumerateArray())
                    {
                        Visit(inner, $"{where}.pretokenizers[{i++}]");
                    }

                    break;
                case "ByteLevel":
                    if (GetBool(step, "add_prefix_space"))
                    {
                        throw new ModelFileException(path, $"{where}: ByteLevel add_prefix_space=true is not supported");
                    }

                    byteLevel = true;
                    if (GetBool(step, "use_regex", defaultValue: true))
                    {
                        patterns.Add(Gpt2Vocabulary.Pattern);
                    }

                    break;
                case "Split":
                    patterns.Add(ReadSplit(path, step, where));
                    break;
                case "Digits":
                    patterns.Add(GetBool(step, "individual_digits") ? @"\p{N}|[^\p{N}]+" : @"\p{N}+|[^\p{N}]+");
                    break;
                default:
                    throw new ModelFileException(path, $"{where}: pre-tokenizer type '{type ?? "(missing)"}' is not supported");
            }
        }

        Visit(pre, "pre_tokenizer");
        if (byteLevel && patterns.Count == 0)
        {
            // ByteLevel without a regex and nothing else: the whole text is one pre-token.
            patterns.Add(@"[\s\S]+");
        }

        return (patterns, byteLevel);
    }

    private static string ReadSplit(string path, JsonElement step, string where)
    {
        var behavior = GetString(step, "behavior");
        if (behavior is not (null or "Isolated") || GetBool(step, "invert"))
        {
            throw new ModelFileException(path, $"{where}: Split with behavior '{behavior}' and invert={GetBool(step, "invert")} is not supported (only Isolated, not inverted)");
        }

        if (step.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object)
        {
            var regex = GetString(pattern, "Regex") ?? (GetString(pattern, "String") is { } literal ? Regex.Escape(literal) : null);
            if (regex is not null)
            {
                // Isolated keeps the text between matches as pieces too, while a regex pre-tokenizer yields only
                // matches: add an alternative that takes a run of characters where the pattern does not match.
                return $"(?:{regex})|(?:(?!(?:{regex}))[\\s\\S])+";
            }
        }

        throw new ModelFileException(path, $"{where}: Split needs pattern.Regex or pattern.String");
    }

    private static Regex CompilePattern(string path, string pattern)
    {
        try
        {
            return new Regex(pattern, PatternOptions);
        }
        catch (ArgumentException ex)
        {
            throw new ModelFileException(path, $"pre-tokenizer pattern '{pattern}' is not a .NET regular expression: {ex.Message}", ex);
        }
    }

    private static void CheckNormalizer(string path, JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        // NFC (Qwen2) is accepted and not applied: the product runs with invariant globalization, where .NET cannot
        // normalize, and chat text arrives composed in practice.
        var type = GetString(normalizer, "type");
        if (type == "NFC")
        {
            return;
        }

        if (type == "Sequence" && normalizer.TryGetProperty("normalizers", out var steps) && steps.ValueKind == JsonValueKind.Array
            && steps.EnumerateArray().All(s => GetString(s, "type") == "NFC"))
        {
            return;
        }

        throw new ModelFileException(path, $"normalizer type '{type ?? "(missing)"}' is not supported (only none or NFC)");
    }

    private static Dictionary<string, int> ReadVocabulary(string path, JsonElement model)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFileException(path, "missing object 'model.vocab'");
        }

        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
            {
                throw new ModelFileException(path, $"model.vocab['{entry.Name}'] must be a non-negative integer id");
            }

            result[entry.Name] = id;
        }

        if (result.Count == 0)
        {
            throw new ModelFileException(path, "model.vocab is empty");
        }

        return result;
    }

    private static List<string> ReadMerges(string path, JsonElement model)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
        {
            throw new ModelFileException(path, "missing array 'model.merges'");
        }

        var result = new List<string>(merges.GetArrayLength());
        var index = 0;
        foreach (var merge in merges.EnumerateArray())
        {
            // Older files write "left right"; tokenizers >= 0.20 write ["left", "right"].
            if (merge.ValueKind == JsonValueKind.String)
            {
                result.Add(merge.GetString()!);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                var left = merge[0].GetString()!;
                var right = merge[1].GetString()!;
                if (left.Contains(' ', StringComparison.Ordinal) || right.Contains(' ', StringComparison.Ordinal))
                {
                    throw new ModelFileException(path, $"model.merges[{index}] has a token containing a space, which byte-level BPE never has");
                }

                result.Add(string.Concat(left, " ", right));
            }
            else
            {
                throw new ModelFileException(path, $"model.merges[{index}] must be \"left right\" or [\"left\", \"right\"]");
            }

            index++;
        }

        return result;
    }

    private static Dictionary<string, int> ReadAddedTokens(string path, JsonElement root)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        if (added.ValueKind != JsonValueKind.Array)
        {
            throw new ModelFileException(path, "'added_tokens' must be an array");
        }

        var index = 0;
        foreach (var token in added.EnumerateArray())
        {
            // Every added token, special or not, is matched whole in the input, as Hugging Face does.
            if (GetString(token, "content") is not { Length: > 0 } content
                || !token.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out var id) || id < 0)
            {
                throw new ModelFileException(path, $"added_tokens[{index}] needs a non-empty 'content' and a non-negative integer 'id'");
            }

            result[content] = id;
            index++;
        }

        return result;
    }

    private static string? GetString(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static bool GetBool(JsonElement element, string name, bool defaultValue = false) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => defaultValue,
            }
            : defaultValue;

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

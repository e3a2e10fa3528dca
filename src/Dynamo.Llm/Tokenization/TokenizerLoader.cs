using System.Collections.Concurrent;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// Loads a model folder's Hugging Face <c>tokenizer.json</c> into a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>.
/// Byte-level BPE is supported (GPT-2, Llama 3, Qwen2 and most recent models ship it). Loading a large vocabulary takes
/// a noticeable fraction of a second, so results are cached per folder until the file changes.
/// </summary>
public static class TokenizerLoader
{
    /// <summary>The file read from the model folder.</summary>
    public const string FileName = "tokenizer.json";

    private static readonly ConcurrentDictionary<string, CacheEntry> s_cache = new(StringComparer.Ordinal);

    /// <summary>
    /// Loads <c>tokenizer.json</c> from <paramref name="modelDir"/>. The returned tokenizer is shared by every caller
    /// that loads the same folder (tokenizers are thread-safe for encoding and decoding).
    /// </summary>
    /// <exception cref="ModelFileException">The file is missing, not valid JSON, or describes an unsupported tokenizer;
    /// the message names the file and the problem.</exception>
    public static Tokenizer Load(string modelDir) => LoadBoth(modelDir).Tokenizer;

    /// <summary>
    /// The encoder for prompts of the model in <paramref name="modelDir"/>: the ids <see cref="Load"/>'s tokenizer
    /// gives, in O(n log n) of the text and cancellable. Shared like the tokenizer.
    /// </summary>
    /// <exception cref="ModelFileException">As for <see cref="Load"/>.</exception>
    public static TokenEncoder LoadEncoder(string modelDir) => LoadBoth(modelDir).Encoder;

    private static LoadedTokenizer LoadBoth(string modelDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        var path = Path.GetFullPath(Path.Combine(modelDir, FileName));
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new ModelFileException(path, "file not found (a Hugging Face tokenizer.json is required)");
        }

        var stamp = (info.LastWriteTimeUtc, info.Length);
        while (true)
        {
            var entry = s_cache.GetOrAdd(path, static (p, s) => new CacheEntry(s, new Lazy<LoadedTokenizer>(() => HuggingFaceTokenizerReader.Read(p))), stamp);
            if (entry.Stamp != stamp)
            {
                // The file changed since it was cached: drop the stale entry and load again.
                s_cache.TryRemove(KeyValuePair.Create(path, entry));
                continue;
            }

            try
            {
                return entry.Tokenizer.Value;
            }
            catch
            {
                // Do not keep a failure: the file may be fixed and loaded again.
                s_cache.TryRemove(KeyValuePair.Create(path, entry));
                throw;
            }
        }
    }

    private sealed record CacheEntry((DateTime, long) Stamp, Lazy<LoadedTokenizer> Tokenizer);
}

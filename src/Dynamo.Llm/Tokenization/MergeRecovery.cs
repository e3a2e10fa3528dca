using System.Text;

namespace Dynamo.Llm.Tokenization;

/// <summary>
/// Recovers BPE merges from tiktoken-style ranks, as the tiktoken → Hugging Face converters do: the merge that
/// creates a token is the two-part split that BPE reaches when only merges of lower rank are allowed.
/// </summary>
internal static class MergeRecovery
{
    /// <param name="tokensByRank">Token bytes indexed by rank; single bytes included.</param>
    /// <returns>(left, right) byte pairs in rank order of the merged token.</returns>
    public static List<(byte[] Left, byte[] Right)> Recover(byte[][] tokensByRank)
    {
        // Latin-1 strings give byte sequences value equality and span lookups without allocating per probe.
        var ranks = new Dictionary<string, int>(tokensByRank.Length, StringComparer.Ordinal);
        for (var rank = 0; rank < tokensByRank.Length; rank++)
        {
            ranks[Encoding.Latin1.GetString(tokensByRank[rank])] = rank;
        }

        var lookup = ranks.GetAlternateLookup<ReadOnlySpan<char>>();
        var merges = new List<(byte[], byte[])>(tokensByRank.Length);
        var bounds = new List<int>(64);
        Span<char> buffer = stackalloc char[256];
        for (var rank = 0; rank < tokensByRank.Length; rank++)
        {
            var token = tokensByRank[rank];
            if (token.Length < 2)
            {
                continue;
            }

            var text = token.Length <= buffer.Length ? buffer[..token.Length] : new char[token.Length];
            Encoding.Latin1.GetChars(token, text);
            var split = SplitBelow(text, rank, lookup, bounds);
            if (split < 0)
            {
                throw new InvalidOperationException(
                    $"Cannot recover the merge for token rank {rank}: BPE with lower ranks does not end in two parts.");
            }

            merges.Add((token[..split], token[split..]));
        }

        return merges;
    }

    /// <summary>Runs rank-limited BPE on one token; returns the split point when it ends in exactly two parts.</summary>
    private static int SplitBelow(
        ReadOnlySpan<char> token,
        int maxRank,
        Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ranks,
        List<int> bounds)
    {
        // bounds[i] is where part i starts; the last part ends at token.Length.
        bounds.Clear();
        for (var i = 0; i < token.Length; i++)
        {
            bounds.Add(i);
        }

        while (bounds.Count > 1)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i < bounds.Count - 1; i++)
            {
                var end = i + 2 < bounds.Count ? bounds[i + 2] : token.Length;
                if (ranks.TryGetValue(token[bounds[i]..end], out var r) && r < bestRank)
                {
                    bestRank = r;
                    best = i;
                }
            }

            if (best < 0 || bestRank >= maxRank)
            {
                break;
            }

            bounds.RemoveAt(best + 1);
        }

        return bounds.Count == 2 ? bounds[1] : -1;
    }
}

using System.Globalization;

namespace Dynamo.Cli.Profiling;

/// <summary>The points <c>dynamo profile</c> measures: prompt lengths for prefill, concurrency × context for decode.</summary>
/// <param name="Isl">Prompt lengths (prefill TTFT and throughput), increasing.</param>
/// <param name="Concurrency">Sequences decoding at once per worker, increasing, from 1.</param>
/// <param name="Context">Context lengths of the decoding sequences, increasing.</param>
internal sealed record ProfileGrid(int[] Isl, int[] Concurrency, int[] Context)
{
    /// <summary>
    /// Parses a comma-separated list of whole numbers, strictly increasing, each ≥ <paramref name="min"/>;
    /// throws <see cref="FormatException"/> naming the flag, the value and the fix.
    /// </summary>
    public static int[] ParseList(string text, string flag, int min)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new FormatException($"{flag} '{text}': give a comma-separated list of whole numbers, e.g. {flag} 128,512,2048.");
        }

        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]) || values[i] < min)
            {
                throw new FormatException($"{flag} '{text}': '{parts[i]}' is not a whole number >= {min}; give e.g. {flag} 128,512,2048.");
            }

            if (i > 0 && values[i] <= values[i - 1])
            {
                throw new FormatException($"{flag} '{text}': the points must increase ({values[i]} after {values[i - 1]}); give them in increasing order without repeats.");
            }
        }

        return values;
    }
}

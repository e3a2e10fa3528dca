using System.Globalization;
using System.Text;
using Dynamo.Bench.Metrics;
using Dynamo.Engine.Mocker.Profiles;

namespace Dynamo.Bench.Reports;

/// <summary>
/// A measured table for <see cref="ProfileFitter"/> (<c>--profile fit:FILE</c>) from a bench run's requests: one
/// <c>prefill</c> row per request (uncached prompt tokens → TTFT) and one <c>decode</c> row per request (the mean number
/// of requests decoding alongside it on the whole endpoint, divided by <paramref name="workers"/>, their context
/// tokens, and its ITL). Best measured on one worker (<c>workers = 1</c>) at a few concurrencies.
/// </summary>
public static class ProfileTable
{
    public static string Build(IReadOnlyList<RequestResult> results, int workers = 1)
    {
        ArgumentNullException.ThrowIfNull(results);
        var ok = results.Where(r => r.Succeeded && r.TtftMs is not null).ToList();
        var text = new StringBuilder(ProfileFitter.Header).Append('\n');
        foreach (RequestResult r in ok)
        {
            text.Append(CultureInfo.InvariantCulture, $"prefill,{r.InputTokens - (r.CachedTokens ?? 0)},,,{r.TtftMs:0.###}\n");
        }

        // Decode windows: from first token to the end of each request.
        var windows = ok.Select(r => (Start: r.StartS + (r.TtftMs!.Value / 1000), End: r.StartS + (r.E2eMs / 1000), Context: r.InputTokens + (r.OutputTokens / 2.0))).ToList();
        foreach (var (r, w) in ok.Zip(windows))
        {
            if (r.ItlMs is not { } itl || w.End <= w.Start)
            {
                continue;
            }

            double span = w.End - w.Start, batch = 0, context = 0;
            foreach (var other in windows)
            {
                double overlap = Math.Min(w.End, other.End) - Math.Max(w.Start, other.Start);
                if (overlap > 0)
                {
                    batch += overlap / span;
                    context += overlap / span * other.Context;
                }
            }

            text.Append(CultureInfo.InvariantCulture, $"decode,,{batch / workers:0.###},{context / workers:0},{itl:0.###}\n");
        }

        return text.ToString();
    }
}

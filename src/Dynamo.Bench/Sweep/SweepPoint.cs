using System.Globalization;

namespace Dynamo.Bench.Sweep;

/// <summary>
/// One configuration at one arrival rate. <paramref name="Tp"/>: GPUs an aggregated worker; <paramref name="PrefillTp"/>
/// and <paramref name="DecodeTp"/>: GPUs a prefill and a decode worker; <paramref name="MaxNumBatchedTokens"/>: the step
/// token budget of every worker. 0 in any of them: the profile's own.
/// </summary>
public sealed record SweepPoint(int Gpus, string Mode, int Workers, int PrefillWorkers, int DecodeWorkers, string Router, double PrefillLoadScale, int MinRemotePrefill, int MaxNumSeqs, double Rate,
    int Tp = 0, int PrefillTp = 0, int DecodeTp = 0, int MaxNumBatchedTokens = 0)
{
    /// <summary>Stable name: the file its result is kept in, so an interrupted sweep resumes where it stopped.</summary>
    public string Id => string.Create(
        CultureInfo.InvariantCulture,
        $"g{Gpus}-{Mode}-{(Mode == "agg" ? $"w{Workers}{Degree(Tp)}" : $"p{PrefillWorkers}{Degree(PrefillTp)}d{DecodeWorkers}{Degree(DecodeTp)}")}-{Router}-s{PrefillLoadScale}-m{MinRemotePrefill}-n{MaxNumSeqs}{(MaxNumBatchedTokens > 0 ? $"-b{MaxNumBatchedTokens}" : "")}-r{Rate}");

    private static string Degree(int tp) => tp > 0 ? $"tp{tp}" : "";

    /// <summary>The configuration without the rate.</summary>
    public string ConfigId => Id[..Id.LastIndexOf("-r", StringComparison.Ordinal)];
}

using System.Globalization;

namespace Dynamo.Bench.Sweep;

/// <summary>One configuration at one arrival rate.</summary>
public sealed record SweepPoint(int Gpus, string Mode, int Workers, int PrefillWorkers, int DecodeWorkers, string Router, double PrefillLoadScale, int MinRemotePrefill, int MaxNumSeqs, double Rate)
{
    /// <summary>Stable name: the file its result is kept in, so an interrupted sweep resumes where it stopped.</summary>
    public string Id => string.Create(
        CultureInfo.InvariantCulture,
        $"g{Gpus}-{Mode}-{(Mode == "agg" ? $"w{Workers}" : $"p{PrefillWorkers}d{DecodeWorkers}")}-{Router}-s{PrefillLoadScale}-m{MinRemotePrefill}-n{MaxNumSeqs}-r{Rate}");

    /// <summary>The configuration without the rate.</summary>
    public string ConfigId => Id[..Id.LastIndexOf("-r", StringComparison.Ordinal)];
}

using System.Globalization;

namespace Dynamo.Bench.Workload;

/// <summary>
/// Shifts a workload's ISL/OSL mix over time (<c>--length-schedule</c>): piecewise-constant multipliers of prompt and
/// output lengths along the replay's timeline. Syntax: <c>SECONDS:ISL_MULTIPLIER:OSL_MULTIPLIER</c> entries separated
/// by commas (or one a line in a file, <c>#</c> comments), e.g. <c>0:1:1,600:2:0.5</c>: requests arriving from 600 s
/// on have prompts twice and outputs half as long as the trace's (rounded, at least 1 token). Times are the replay's
/// (after <c>--rate-schedule</c>), strictly increasing; before the first entry lengths are the trace's.
/// </summary>
/// <remarks>
/// Prefix blocks follow the prompt (one id per <see cref="PromptSynthesizer.TraceBlockTokens"/> tokens): a shorter
/// prompt keeps its leading blocks, so prefix sharing is kept as far as it goes; a longer one gets new blocks of its
/// own after its trace blocks. No randomness: the same schedule gives the same workload.
/// </remarks>
public sealed class LengthSchedule
{
    /// <summary>Blocks added to lengthened prompts get ids from here up: never a trace's or a synthetic prompt's.</summary>
    private const long AddedIdBase = 1L << 52;

    private readonly double[] _starts;
    private readonly double[] _input;
    private readonly double[] _output;

    public LengthSchedule(IReadOnlyList<(double StartS, double InputMultiplier, double OutputMultiplier)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            throw new FormatException("--length-schedule: no entries; give SECONDS:ISL_MULTIPLIER:OSL_MULTIPLIER[,...], e.g. 0:1:1,600:2:0.5.");
        }

        for (int i = 0; i < entries.Count; i++)
        {
            (double start, double isl, double osl) = entries[i];
            string at = start.ToString(CultureInfo.InvariantCulture);
            if (!(start >= 0 && double.IsFinite(start)))
            {
                throw new FormatException($"--length-schedule: time {at} s must be a number >= 0.");
            }

            if (!(isl > 0 && double.IsFinite(isl) && osl > 0 && double.IsFinite(osl)))
            {
                throw new FormatException($"--length-schedule: multipliers {isl.ToString(CultureInfo.InvariantCulture)}:{osl.ToString(CultureInfo.InvariantCulture)} at {at} s must be numbers > 0.");
            }

            if (i > 0 && start <= entries[i - 1].StartS)
            {
                throw new FormatException($"--length-schedule: times must increase ({entries[i - 1].StartS.ToString(CultureInfo.InvariantCulture)} s then {at} s).");
            }
        }

        _starts = [.. entries.Select(e => e.StartS)];
        _input = [.. entries.Select(e => e.InputMultiplier)];
        _output = [.. entries.Select(e => e.OutputMultiplier)];
    }

    public IReadOnlyList<(double StartS, double InputMultiplier, double OutputMultiplier)> Entries =>
        [.. _starts.Select((s, i) => (s, _input[i], _output[i]))];

    /// <summary>Parses the entries, or reads them from a file when <paramref name="value"/> names an existing file.</summary>
    public static LengthSchedule Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string text = value;
        string where = "";
        if (File.Exists(value))
        {
            text = string.Join(',', File.ReadAllLines(value).Select(l => l.Split('#')[0]));
            where = $" (in {value})";
        }

        var entries = new List<(double, double, double)>();
        foreach (string raw in text.Split([',', '\n', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = raw.Split(':', StringSplitOptions.TrimEntries);
            if (parts.Length != 3
                || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double start)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double isl)
                || !double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double osl))
            {
                throw new FormatException($"--length-schedule: '{raw}'{where} is not SECONDS:ISL_MULTIPLIER:OSL_MULTIPLIER (e.g. 0:1:1,600:2:0.5).");
            }

            entries.Add((start, isl, osl));
        }

        try
        {
            return new LengthSchedule(entries);
        }
        catch (FormatException error) when (where.Length > 0)
        {
            throw new FormatException(error.Message + where, error);
        }
    }

    /// <summary>The multipliers for a request arriving at replay time <paramref name="replayS"/> (1, 1 before the first entry).</summary>
    public (double Input, double Output) At(double replayS)
    {
        int i = Array.BinarySearch(_starts, replayS);
        i = i >= 0 ? i : ~i - 1;
        return i < 0 ? (1, 1) : (_input[i], _output[i]);
    }

    /// <summary>The workload with its lengths (and prefix blocks) scaled by arrival time; arrivals and order unchanged.</summary>
    public IEnumerable<BenchRequest> Apply(IEnumerable<BenchRequest> workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        foreach (BenchRequest r in workload)
        {
            (double im, double om) = At(r.Arrival.TotalSeconds);
            if (im == 1 && om == 1)
            {
                yield return r;
                continue;
            }

            int isl = Math.Max(1, (int)Math.Round(r.InputLength * im, MidpointRounding.AwayFromZero));
            int osl = Math.Max(1, (int)Math.Round(r.OutputLength * om, MidpointRounding.AwayFromZero));
            int blocks = (isl + PromptSynthesizer.TraceBlockTokens - 1) / PromptSynthesizer.TraceBlockTokens;
            long[] ids = new long[blocks];
            for (int b = 0; b < blocks; b++)
            {
                ids[b] = b < r.HashIds.Count ? r.HashIds[b] : AddedIdBase + ((long)r.Index << 16) + b;
            }

            yield return r with { InputLength = isl, OutputLength = osl, HashIds = ids };
        }
    }
}

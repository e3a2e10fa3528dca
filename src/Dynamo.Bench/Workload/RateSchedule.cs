using System.Globalization;

namespace Dynamo.Bench.Workload;

/// <summary>
/// Reshapes a workload's load over time (<c>--rate-schedule</c>): a piecewise-constant multiplier of the arrival rate
/// along the replay's timeline, applied by warping arrival times, so the requests, their order and their lengths stay
/// those of the trace. Syntax: <c>SECONDS:MULTIPLIER</c> entries separated by commas (or one a line in a file, <c>#</c>
/// starting a comment), e.g. <c>0:1,600:3,1200:1</c>: from 600 s to 1,200 s of the replay requests arrive 3 times as
/// fast as the trace has them, before and after at the trace's own rate. Times are in the replay's (warped) seconds,
/// strictly increasing; the rate before the first entry is 1×, the last entry's multiplier holds to the end.
/// </summary>
/// <remarks>
/// With multiplier m(τ) at replay time τ, the trace time consumed by replay time τ is O(τ) = ∫₀^τ m(u) du; a request
/// at trace time t (after <c>--speedup</c>) arrives at τ = O⁻¹(t). No randomness: the same schedule gives the same
/// arrivals.
/// </remarks>
public sealed class RateSchedule
{
    private readonly double[] _starts;
    private readonly double[] _multipliers;
    private readonly double[] _traceAtStart;

    public RateSchedule(IReadOnlyList<(double StartS, double Multiplier)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var list = entries.ToList();
        if (list.Count == 0)
        {
            throw new FormatException("--rate-schedule: no entries; give SECONDS:MULTIPLIER[,SECONDS:MULTIPLIER...], e.g. 0:1,600:3,1200:1.");
        }

        for (int i = 0; i < list.Count; i++)
        {
            (double start, double m) = list[i];
            if (!(start >= 0 && double.IsFinite(start)))
            {
                throw new FormatException($"--rate-schedule: time {start.ToString(CultureInfo.InvariantCulture)} s must be a number >= 0.");
            }

            if (!(m > 0 && double.IsFinite(m)))
            {
                throw new FormatException($"--rate-schedule: multiplier {m.ToString(CultureInfo.InvariantCulture)} at {start.ToString(CultureInfo.InvariantCulture)} s must be a number > 0.");
            }

            if (i > 0 && start <= list[i - 1].StartS)
            {
                throw new FormatException($"--rate-schedule: times must increase ({list[i - 1].StartS.ToString(CultureInfo.InvariantCulture)} s then {start.ToString(CultureInfo.InvariantCulture)} s).");
            }
        }

        if (list[0].StartS > 0)
        {
            list.Insert(0, (0, 1));
        }

        _starts = [.. list.Select(e => e.StartS)];
        _multipliers = [.. list.Select(e => e.Multiplier)];
        _traceAtStart = new double[list.Count];
        for (int i = 1; i < list.Count; i++)
        {
            _traceAtStart[i] = _traceAtStart[i - 1] + ((_starts[i] - _starts[i - 1]) * _multipliers[i - 1]);
        }
    }

    /// <summary>The entries, with the implied 0:1 first when the schedule starts later.</summary>
    public IReadOnlyList<(double StartS, double Multiplier)> Entries => [.. _starts.Zip(_multipliers)];

    /// <summary>
    /// Parses <c>SECONDS:MULTIPLIER,...</c>, or reads a file holding such entries (one or more a line, <c>#</c> comments)
    /// when <paramref name="value"/> names an existing file.
    /// </summary>
    public static RateSchedule Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string text = value;
        string where = "";
        if (File.Exists(value))
        {
            text = string.Join(',', File.ReadAllLines(value).Select(l => l.Split('#')[0]));
            where = $" (in {value})";
        }

        var entries = new List<(double, double)>();
        foreach (string raw in text.Split([',', '\n', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = raw.Split(':', StringSplitOptions.TrimEntries);
            if (parts.Length != 2
                || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double start)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double multiplier))
            {
                throw new FormatException($"--rate-schedule: '{raw}'{where} is not SECONDS:MULTIPLIER (e.g. 0:1,600:3,1200:1, or a file of such entries).");
            }

            entries.Add((start, multiplier));
        }

        try
        {
            return new RateSchedule(entries);
        }
        catch (FormatException error) when (where.Length > 0)
        {
            throw new FormatException(error.Message + where, error);
        }
    }

    /// <summary>The replay time at which a request at trace time <paramref name="traceS"/> arrives.</summary>
    public double Warp(double traceS)
    {
        int i = Array.BinarySearch(_traceAtStart, traceS);
        if (i < 0)
        {
            i = ~i - 1;
        }

        // Equal trace times at a boundary (a zero-length segment cannot occur: multipliers are > 0).
        i = Math.Clamp(i, 0, _starts.Length - 1);
        return _starts[i] + ((traceS - _traceAtStart[i]) / _multipliers[i]);
    }

    /// <summary>The multiplier in force at replay time <paramref name="replayS"/>.</summary>
    public double MultiplierAt(double replayS)
    {
        int i = Array.BinarySearch(_starts, replayS);
        return _multipliers[i >= 0 ? i : Math.Max(0, ~i - 1)];
    }

    /// <summary>The workload with its arrivals warped; everything else unchanged.</summary>
    public IEnumerable<BenchRequest> Apply(IEnumerable<BenchRequest> workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        return workload.Select(r => r with { Arrival = TimeSpan.FromSeconds(Warp(r.Arrival.TotalSeconds)) });
    }
}

using System.Globalization;
using Dynamo.Runtime.Observability;

namespace Dynamo.Bench.Load;

/// <summary>
/// The bench runs made from this machine, one line each (time, server, workload): a second run with the same seed
/// and workload against the same server sends the same prompts, which the server's prefix cache may still hold, so
/// it measures a warm cache. <c>dynamo bench</c> says so before it starts. Kept in
/// <c>$DYNAMO_CACHE_DIR/bench-runs.tsv</c> (default <c>~/.cache/dynamo</c>); a history that cannot be read or written
/// only loses the warning.
/// </summary>
public sealed class BenchHistory(string path)
{
    /// <summary>The history file this user's runs share.</summary>
    public static string DefaultPath =>
        System.IO.Path.Combine(
            Environment.GetEnvironmentVariable(EnvironmentVariables.CacheDir) is { Length: > 0 } dir
                ? dir
                : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "dynamo"),
            "bench-runs.tsv");

    public string Path { get; } = path;

    /// <summary>What decides the prompts: the seed and the workload's source (trace file or length distributions).</summary>
    public static string Workload(BenchArguments args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var source = args.Sessions is { } sessions ? FormattableString.Invariant($"workload={sessions}")
            : args.TracePath is { } trace ? "trace=" + System.IO.Path.GetFullPath(trace) : $"isl={args.Isl};osl={args.Osl}";
        return $"seed={args.Seed.ToString(CultureInfo.InvariantCulture)};{source};vocab={args.VocabSize.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>When a run against <paramref name="url"/> last sent <paramref name="workload"/>; null if never (or unknown).</summary>
    public DateTimeOffset? LastRun(Uri url, string workload)
    {
        ArgumentNullException.ThrowIfNull(url);
        DateTimeOffset? last = null;
        try
        {
            if (!File.Exists(Path))
            {
                return null;
            }

            foreach (var line in File.ReadLines(Path))
            {
                var fields = line.Split('\t');
                if (fields.Length == 3 && fields[1] == Server(url) && fields[2] == workload
                    && DateTimeOffset.TryParse(fields[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                {
                    last = at;
                }
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return last;
    }

    /// <summary>Adds this run. The file keeps its last 1,000 runs.</summary>
    public void Record(Uri url, string workload, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(url);
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            var lines = File.Exists(Path) ? File.ReadLines(Path).TakeLast(999).ToList() : [];
            lines.Add($"{at.UtcDateTime.ToString("o", CultureInfo.InvariantCulture)}\t{Server(url)}\t{workload}");
            File.WriteAllLines(Path, lines);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // Only the warning of a later run is lost.
        }
    }

    private static string Server(Uri url) => url.GetLeftPart(UriPartial.Authority).ToLowerInvariant();
}

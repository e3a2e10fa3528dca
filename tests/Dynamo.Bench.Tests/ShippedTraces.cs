namespace Dynamo.Bench.Tests;

/// <summary>The traces the repository ships in bench/traces, found from the test binaries (which run from bin/…).</summary>
internal static class ShippedTraces
{
    public static string Folder { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dynamo.sln")))
            {
                return Path.Combine(dir.FullName, "bench", "traces");
            }
        }

        throw new DirectoryNotFoundException($"No Dynamo.sln above {AppContext.BaseDirectory}: cannot find bench/traces.");
    }
}

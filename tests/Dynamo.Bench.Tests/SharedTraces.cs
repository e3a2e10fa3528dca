namespace Dynamo.Bench.Tests;

/// <summary>Finds ../shared/traces from the repository (the tests run from bin/…).</summary>
internal static class SharedTraces
{
    public static string Folder { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "traces");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }

            candidate = Path.Combine(dir.FullName, "..", "shared", "traces");
            if (File.Exists(Path.Combine(dir.FullName, "Dynamo.sln")) && Directory.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        return "/nonexistent";
    }
}

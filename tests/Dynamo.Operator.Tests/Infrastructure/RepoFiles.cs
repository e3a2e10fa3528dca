namespace Dynamo.Operator.Tests.Infrastructure;

/// <summary>Files of the repository (examples, CRDs, golden files), found from the test's output folder.</summary>
internal static class RepoFiles
{
    /// <summary>Set to 1 to rewrite the golden files and checked-in CRDs from the code instead of comparing.</summary>
    public const string UpdateVariable = "DYNAMO_UPDATE_GOLDEN";

    public static bool Update => Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Dynamo.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Dynamo.sln above {AppContext.BaseDirectory}");
    }
}

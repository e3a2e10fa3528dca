using System.Net;
using System.Net.Sockets;
using Dynamo.Cli.Configuration;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Planner;
using Dynamo.Planner.Profiles;
using Dynamo.Runtime.Tests.Infrastructure;

namespace Dynamo.Cli.Tests;

/// <summary>
/// <c>dynamo profile</c> as a process: the simulated form from a preset, the measured form against a real
/// <c>dynamo serve --engine mocker</c>, the shipped profile and planner configuration, and the documented exit
/// codes (1 bad arguments, 3 server unreachable).
/// </summary>
public sealed class ProfileProcessTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-profile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Simulated_H100_70b_WritesTheModelsLatencies_AndMatchesTheShippedProfile()
    {
        string outDir = Path.Combine(_dir, "h100-70b");
        CliResult result = await CliRun.RunAsync(["profile", "--profile", "h100-70b", "--out", outDir], Budget);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("profile.json", result.Stdout);

        DeploymentProfile profile = DeploymentProfile.Load(Path.Combine(outDir, "profile.json"));
        Assert.Equal((ProfileSource.Simulated, 4, 4), (profile.Source, profile.Prefill.GpusPerWorker, profile.Decode.GpusPerWorker));
        PerformanceProfile preset = PerformanceProfiles.Get("h100-70b");
        Assert.Equal(preset.TotalKvBlocks, profile.Kv.BlocksPerWorker);

        // A lone prompt that fits one step is one prefill step of the model; a lone sequence decodes one step a token.
        Assert.Equal(preset.Performance.PrefillMs(1024, 1024), profile.Prefill.TtftMs(1024), 2);
        Assert.Equal(preset.Performance.DecodeMs(1, 2048 + 4), profile.Decode.ItlMs(1, 2048), 2);
        Assert.True(profile.Prefill.TtftMsGrid.Zip(profile.Prefill.TtftMsGrid.Skip(1)).All(p => p.Second > p.First), "TTFT grows with ISL");
        foreach (IReadOnlyList<double> row in profile.Decode.ItlMsGrid)
        {
            Assert.True(row.Zip(row.Skip(1)).All(p => p.Second > p.First), "ITL grows with context");
        }

        // The copy the planner configuration points at is this command's output.
        Assert.Equal(File.ReadAllText(Path.Combine(RepoRoot(), "configs", "profiles", "h100-70b", "profile.json")), File.ReadAllText(Path.Combine(outDir, "profile.json")));
    }

    [Fact]
    public async Task Simulated_GridFlags_SetTheGrid()
    {
        CliResult result = await CliRun.RunAsync(["profile", "--profile", "mocker-default", "--out", _dir, "--isl", "128,256", "--concurrency", "1,2,8", "--context", "512"], Budget);
        Assert.True(result.ExitCode == 0, result.ToString());
        DeploymentProfile profile = DeploymentProfile.Load(_dir);
        Assert.Equal([128.0, 256], profile.Prefill.Isl);
        Assert.Equal([1.0, 2, 8], profile.Decode.Concurrency);
        Assert.Equal([512.0], profile.Decode.ContextLength);
    }

    [Fact]
    public void ShippedPlannerConfig_BindsValidatesAndItsProfileLoads()
    {
        string root = RepoRoot();
        PlannerOptions options = DynamoConfiguration.Build(Path.Combine(root, "configs", "planner.yaml"), new Dictionary<string, string?>(), new Dictionary<string, string?>()).Planner();
        Assert.Equal(("sla", "disagg", 500.0, 50.0), (options.Policy, options.Mode, options.Sla.TtftMs, options.Sla.ItlMs));
        Assert.Equal(TimeSpan.FromSeconds(180), options.ThroughputInterval);
        IScalingPolicy policy = ScalingPolicies.Create(options, DeploymentProfile.Load(Path.Combine(root, options.Profile!)));
        Assert.IsType<SlaPlanner>(policy);
    }

    [Fact]
    public void PlannerSection_BadValue_NamesTheKey()
    {
        var error = Assert.Throws<ConfigurationException>(() => DynamoConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Dynamo:Planner:Profile"] = "p.json",
            ["Dynamo:Planner:Sla:TtftMs"] = "-5",
        }, new Dictionary<string, string?>()).Planner());
        Assert.Contains("Dynamo:Planner:Sla:TtftMs = '-5'", error.Message);

        var unknown = Assert.Throws<ConfigurationException>(() => DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Planner:Predictr"] = "x" }, new Dictionary<string, string?>()).Planner());
        Assert.Contains("Predictr", unknown.Message);
    }

    [Fact]
    public async Task Measured_AgainstServeWithTheMocker_RecordsWhatItSaw()
    {
        string cache = Path.Combine(_dir, "cache");
        await using var serve = DynamoProcess.Start(
            ["serve", "--engine", "mocker", "--port", "0"],
            new Dictionary<string, string> { ["DYNAMO_CACHE_DIR"] = cache, ["DYNAMO__MOCKER__ZERODELAY"] = "false" });
        string url = (await serve.WaitForLineAsync(@"serving model '\S+' at (http://\S+/v1)", Budget)).Groups[1].Value;

        string outDir = Path.Combine(_dir, "measured");
        CliResult result = await CliRun.RunAsync(
            ["profile", "--url", url, "--out", outDir, "--isl", "32,256", "--concurrency", "1,4", "--context", "64", "--osl", "8",
             "--requests-per-point", "4", "--kv-blocks", "16384", "--hardware", "test box"],
            Budget);
        Assert.True(result.ExitCode == 0, result.ToString());

        DeploymentProfile profile = DeploymentProfile.Load(outDir);
        Assert.Equal((ProfileSource.Measured, "test box", 16384L * 16), (profile.Source, profile.Hardware, profile.Kv.TokensPerWorker));
        Assert.Equal([32.0, 256], profile.Prefill.Isl);
        Assert.Equal([1.0, 4], profile.Decode.Concurrency);
        Assert.Equal([68.0], profile.Decode.ContextLength); // prompt 64 + OSL 8 / 2
        // The mocker's defaults: a decode step takes about 10 ms; a lone short prompt a few ms more than 5.
        Assert.InRange(profile.Decode.ItlMs(1, 68), 8, 60);
        Assert.InRange(profile.Prefill.TtftMs(32), 4, 200);
        Assert.True(profile.Decode.TokensPerSecondPerGpu(4, 68) > profile.Decode.TokensPerSecondPerGpu(1, 68), "batching raises decode throughput");
        Assert.Contains("decode x4 context 64", result.Stdout);
        Assert.DoesNotContain("prefix cache", result.Stdout); // fresh prompts at every point
    }

    [Theory]
    [InlineData(new[] { "--profile", "h100-70b", "--isl", "512,128" }, "--isl '512,128': the points must increase")]
    [InlineData(new[] { "--profile", "h100-70b", "--concurrency", "two" }, "--concurrency 'two': 'two' is not a whole number")]
    [InlineData(new[] { "--profile", "h100-70b", "--concurrency", "1,1024" }, "--concurrency 1024 is more than the 256 sequences")]
    [InlineData(new[] { "--profile", "h900-1t" }, "Unknown profile 'h900-1t'")]
    [InlineData(new[] { "--profile", "h100-70b", "--osl", "8" }, "--osl applies to --url (measured) only")]
    [InlineData(new[] { "--profile", "h100-70b", "--url", "http://127.0.0.1:1" }, "give either --profile NAME (simulated) or --url URL")]
    [InlineData(new string[0], "give either --profile NAME (simulated) or --url URL")]
    [InlineData(new[] { "--url", "http://127.0.0.1:1" }, "--kv-blocks is required with --url")]
    [InlineData(new[] { "--url", "ftp://x", "--kv-blocks", "10" }, "--url 'ftp://x' is not an http or https address")]
    [InlineData(new[] { "--url", "http://127.0.0.1:1", "--kv-blocks", "10", "--osl", "1" }, "--osl must be at least 2")]
    [InlineData(new[] { "--url", "http://127.0.0.1:1", "--kv-blocks", "10", "--duration", "5", "--requests-per-point", "3" }, "--requests-per-point and --duration are alternatives")]
    public async Task BadArguments_Exit1_NamingTheFlag(string[] args, string mention)
    {
        CliResult result = await CliRun.RunAsync(["profile", "--out", _dir, .. args], Budget);
        CliRun.AssertUsageError(result, 1, mention);
        Assert.False(File.Exists(Path.Combine(_dir, "profile.json")));
    }

    [Fact]
    public async Task UnreachableServer_Exits3()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // a port nothing listens on

        CliResult result = await CliRun.RunAsync(["profile", "--url", $"http://127.0.0.1:{port}", "--out", _dir, "--kv-blocks", "100"], Budget);
        CliRun.AssertUsageError(result, 3, $"cannot reach http://127.0.0.1:{port}");
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dynamo.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No Dynamo.sln above {AppContext.BaseDirectory}.");
    }
}

using Dynamo.Planner.Profiles;

namespace Dynamo.Planner.Tests;

public sealed class ProfileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-profile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task SaveThenLoad_KeepsEveryFigure()
    {
        DeploymentProfile profile = SyntheticProfiles.Linear(gpusPerWorker: 2) with { Description = "round trip 'quoted' × ok" };
        string file = await profile.SaveAsync(_dir);
        Assert.Equal(Path.Combine(_dir, "profile.json"), file);

        DeploymentProfile loaded = DeploymentProfile.Load(_dir); // a folder holding profile.json will do
        Assert.Equal((profile.Model, profile.Hardware, profile.Source, profile.Description), (loaded.Model, loaded.Hardware, loaded.Source, loaded.Description));
        Assert.Equal((2, 2), (loaded.Prefill.GpusPerWorker, loaded.Decode.GpusPerWorker));
        Assert.Equal(profile.Prefill.Isl, loaded.Prefill.Isl);
        Assert.Equal(profile.Prefill.TtftMsGrid, loaded.Prefill.TtftMsGrid);
        Assert.Equal(profile.Decode.Concurrency, loaded.Decode.Concurrency);
        Assert.Equal(profile.Decode.ItlMs(100, 500), loaded.Decode.ItlMs(100, 500), 6);
        Assert.Equal(16_000_000, loaded.Kv.TokensPerWorker);
        Assert.Contains("\"itl_ms\": [", File.ReadAllText(file));
        Assert.Contains("[100, 1000, 10000]", File.ReadAllText(file)); // a list of numbers on one line
    }

    [Fact]
    public void Load_MissingFile_NamesTheFileAndHowToMakeOne()
    {
        string file = Path.Combine(_dir, "nope", "profile.json");
        var error = Assert.Throws<ProfileException>(() => DeploymentProfile.Load(file));
        Assert.Contains(file, error.Message);
        Assert.Contains("dynamo profile", error.Message);
    }

    [Fact]
    public void Load_CorruptJson_NamesTheFileAndLine()
    {
        string file = Path.Combine(_dir, "profile.json");
        File.WriteAllText(file, "{\n  \"format_version\": 1,\n  \"model\": \n");
        var error = Assert.Throws<ProfileException>(() => DeploymentProfile.Load(file));
        Assert.Contains(file, error.Message);
        Assert.Contains("not valid JSON", error.Message);
    }

    [Theory]
    [InlineData("\"itl_ms\":", "\"itl_msX\":", "decode.itl_ms: missing")]
    [InlineData("\"source\": \"simulated\"", "\"source\": \"guessed\"", "source: expected simulated or measured")]
    [InlineData("\"format_version\": 1", "\"format_version\": 2", "format_version: version 2 is not supported")]
    [InlineData("\"isl\": [100, 1000, 10000]", "\"isl\": [100, 100, 10000]", "prefill.isl[1]: grid points must increase")]
    [InlineData("\"ttft_ms\": [10, 100, 1000]", "\"ttft_ms\": [10, -1, 1000]", "prefill.ttft_ms[1]: must be > 0")]
    [InlineData("\"ttft_ms\": [10, 100, 1000]", "\"ttft_ms\": [10, 100]", "prefill.ttft_ms: expected 3 values")]
    [InlineData("\"ttft_ms\": [10, 100, 1000]", "\"ttft_ms\": [10, \"fast\", 1000]", "prefill.ttft_ms[1]: expected a number (got the string \"fast\")")]
    [InlineData("\"blocks_per_worker\": 1000000", "\"blocks_per_worker\": 0", "kv.blocks_per_worker: expected a whole number >= 1")]
    [InlineData("\"gpus_per_worker\": 1,\n    \"concurrency\"", "\"gpus_per_worker\": 1.5,\n    \"concurrency\"", "decode.gpus_per_worker: expected a whole number")]
    [InlineData("\"concurrency\": [1, 16, 64, 256]", "\"concurrency\": [0.5, 16, 64, 256]", "decode.concurrency[0]: concurrency starts at 1")]
    public async Task Load_BadField_NamesTheFileAndTheField(string from, string to, string expected)
    {
        string file = await SyntheticProfiles.Linear().SaveAsync(_dir);
        string text = File.ReadAllText(file);
        Assert.Contains(from, text);
        File.WriteAllText(file, text.Replace(from, to, StringComparison.Ordinal));

        var error = Assert.Throws<ProfileException>(() => DeploymentProfile.Load(file));
        Assert.StartsWith($"profile {file}: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Load_DecodeRowOfTheWrongLength_NamesTheRow()
    {
        string file = await SyntheticProfiles.Linear().SaveAsync(_dir);
        string text = File.ReadAllText(file);
        Assert.Contains("[13.2, 13.2, 13.2]", text); // row 1 of itl_ms: 16 sequences
        File.WriteAllText(file, text.Replace("[13.2, 13.2, 13.2]", "[13.2]", StringComparison.Ordinal));

        var error = Assert.Throws<ProfileException>(() => DeploymentProfile.Load(file));
        Assert.Contains("decode.itl_ms[1]: expected 3 values, one per context_length point (got 1)", error.Message);
    }

    [Fact]
    public void Prefill_InterpolatesTtftAndClampsThroughput()
    {
        PrefillProfile prefill = SyntheticProfiles.Linear().Prefill;
        Assert.Equal(55, prefill.TtftMs(550), 9);
        Assert.Equal(2000, prefill.TtftMs(20000), 9); // past the grid: extrapolated along the last segment
        Assert.Equal(10_000, prefill.TokensPerSecondPerGpu(50_000));
    }

    [Theory]
    [InlineData(30, 1000, double.PositiveInfinity, 100.0)]      // 10 + 0.2c = 30
    [InlineData(30, 1000, 40, 40.0)]                            // the KV cache holds only 40
    [InlineData(200, 1000, double.PositiveInfinity, 256.0)]     // the grid's largest point: nothing promised past it
    [InlineData(10.1, 1000, double.PositiveInfinity, null)]   // even one sequence takes 10.2 ms
    public void Decode_MaxConcurrencyAt_SolvesTheItlTarget(double target, double context, double maxByKv, double? expected)
    {
        double? c = SyntheticProfiles.Linear().Decode.MaxConcurrencyAt(target, context, 1, maxByKv);
        if (expected is null)
        {
            Assert.Null(c);
        }
        else
        {
            Assert.Equal(expected.Value, c!.Value, 6);
        }
    }

    [Fact]
    public void Decode_MaxConcurrencyAt_AppliesTheCorrection() =>
        Assert.Equal(50, SyntheticProfiles.Linear().Decode.MaxConcurrencyAt(40, 1000, correction: 2)!.Value, 6); // 2·(10 + 0.2c) = 40
}

using Dynamo.Contracts.Engine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Dynamo.Engine.Mocker.Tests.TestSupport;

namespace Dynamo.Engine.Mocker.Tests;

public sealed class MockerOptionsTests
{
    public static TheoryData<string, Action<MockerOptions>> BadSettings() => new()
    {
        { "ModelName", o => o.ModelName = "" },
        { "VocabSize", o => o.VocabSize = 1 },
        { "EosTokenIds", o => o.EosTokenIds = [5000] },
        { "EosTokenIds", o => o.EosTokenIds = [3, 3] },
        { "MaxContextLength", o => o.MaxContextLength = 1 },
        { "TotalKvBlocks", o => o.TotalKvBlocks = 10 },
        { "MaxNumSeqs", o => o.MaxNumSeqs = 0 },
        { "MaxNumBatchedTokens", o => o.MaxNumBatchedTokens = 0 },
        { "KvWatermark", o => o.KvWatermark = 1 },
        { "SpeedupFactor", o => o.SpeedupFactor = 0 },
        { "EosProbability", o => o.EosProbability = 1.5 },
        { "EosProbability", o => { o.EosTokenIds = []; o.EosProbability = 0.1; } },
        { "OutputBufferSize", o => o.OutputBufferSize = 0 },
        { "Performance:DecodeBaseMs", o => o.Performance.DecodeBaseMs = -1 },
        { "Performance:PrefillQuadraticMs", o => o.Performance.PrefillQuadraticMs = double.NaN },
        { "KvBytesPerToken", o => o.KvBytesPerToken = 0 },
        { "KvTransfer:Bandwidth", o => o.KvTransfer.Bandwidth = 0 },
        { "KvTransfer:LatencyMs", o => o.KvTransfer.LatencyMs = -1 },
        { "KvTransfer:PinTimeout", o => o.KvTransfer.PinTimeout = TimeSpan.Zero },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void Validate_BadSetting_NamesTheKey(string key, Action<MockerOptions> breakIt)
    {
        MockerOptions options = Options();
        breakIt(options);

        ArgumentException ex = Assert.Throws<ArgumentException>(() => new MockerEngine(options));

        Assert.Contains("Dynamo:Mocker:" + key, ex.Message);
    }

    [Fact]
    public void Defaults_AreValid()
    {
        new MockerOptions().Validate();
    }

    [Fact]
    public async Task AddDynamoMocker_BindsConfiguration_AndServesIEngine()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:ModelName"] = "configured",
            ["Dynamo:Mocker:TotalKvBlocks"] = "1024",
            ["Dynamo:Mocker:Performance:DecodeBaseMs"] = "7.5",
            ["Dynamo:Mocker:KvTransfer:Bandwidth"] = "40e9",
            ["Dynamo:Mocker:KvTransfer:PinTimeout"] = "00:00:05",
        }).Build());
        services.AddDynamoMocker(o => o.ZeroDelay = true);
        await using ServiceProvider provider = services.BuildServiceProvider();

        IEngine engine = provider.GetRequiredService<IEngine>();

        Assert.Same(provider.GetRequiredService<MockerEngine>(), engine);
        Assert.Equal("configured", engine.Info.ModelName);
        Assert.Equal(1024, engine.Info.TotalKvBlocks);
        MockerOptions bound = provider.GetRequiredService<IOptions<MockerOptions>>().Value;
        Assert.Equal(7.5, bound.Performance.DecodeBaseMs);
        Assert.Equal(40e9, bound.KvTransfer.Bandwidth);
        Assert.Equal(TimeSpan.FromSeconds(5), bound.KvTransfer.PinTimeout);
        Assert.Single(await Within(CollectAsync(engine, Request(Prompt(8), 1)), "a request through DI"));
    }

    [Fact]
    public void AddDynamoMocker_InvalidConfiguration_FailsValidationNamingTheKey()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dynamo:Mocker:MaxNumSeqs"] = "0",
        }).Build());
        services.AddDynamoMocker();
        using ServiceProvider provider = services.BuildServiceProvider();

        OptionsValidationException ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<MockerOptions>>().Value);

        Assert.Contains("Dynamo:Mocker:MaxNumSeqs", ex.Message);
    }
}

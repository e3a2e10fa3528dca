namespace Dynamo.Worker.Tests;

public sealed class WorkerOptionsValidatorTests
{
    [Fact]
    public void Defaults_AreValid()
    {
        var result = new WorkerOptionsValidator().Validate(null, new WorkerOptions());
        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("Host", "Dynamo:Worker:Host")]
    [InlineData("Port", "Dynamo:Worker:Port")]
    [InlineData("InstanceId", "Dynamo:Worker:InstanceId")]
    [InlineData("DrainTimeout", "Dynamo:Worker:DrainTimeout")]
    [InlineData("RequestLimits", "Dynamo:Worker:RequestLimits:MaxN")]
    [InlineData("MaxPromptChars", "Dynamo:Worker:RequestLimits:MaxPromptChars")]
    [InlineData("ServedModelName", "Dynamo:Worker:ServedModelName")]
    [InlineData("LoadReportInterval", "Dynamo:Worker:LoadReportInterval")]
    public void BadValue_FailsNamingTheKey(string field, string key)
    {
        var options = new WorkerOptions();
        switch (field)
        {
            case "Host": options.Host = "not a host"; break;
            case "Port": options.Port = 70000; break;
            case "InstanceId": options.InstanceId = " "; break;
            case "DrainTimeout": options.DrainTimeout = TimeSpan.FromSeconds(-1); break;
            case "RequestLimits": options.RequestLimits = options.RequestLimits with { MaxN = 0 }; break;
            case "MaxPromptChars": options.RequestLimits = options.RequestLimits with { MaxPromptChars = 0 }; break;
            case "ServedModelName": options.ServedModelName = ""; break;
            case "LoadReportInterval": options.LoadReportInterval = TimeSpan.FromMilliseconds(-1); break;
        }

        var result = new WorkerOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(key, result.FailureMessage);
    }

    [Fact]
    public async Task StartAsync_WithBadOptions_Throws()
    {
        await using var engine = new Engine.Mocker.MockerEngine(new Engine.Mocker.MockerOptions { ZeroDelay = true });
        var ex = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            WorkerHost.StartAsync(new WorkerOptions { Port = -1 }, engine, Infrastructure.TestModel.LoadCard(), new Runtime.Discovery.InProcessDiscovery(), Infrastructure.TestWorker.Secret,
                Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains("Dynamo:Worker:Port", ex.Message);
    }
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Dynamo.Router.Tests;

public sealed class RouterConfigurationTests
{
    [Fact]
    public void Defaults_AreTheKvRouterWithDynamosWeights()
    {
        var options = RouterConfiguration.Bind(Config());

        Assert.Equal(RouterMode.Kv, options.Mode);
        Assert.Equal(1.0, options.PrefillLoadScale);
        Assert.Equal(0.0, options.Temperature);
        Assert.True(options.UseKvEvents);
        Assert.True(options.ReplicaSync);
        Assert.Equal(TimeSpan.FromSeconds(120), options.ApproximateTtl);
    }

    [Fact]
    public void EveryKey_Binds()
    {
        var options = RouterConfiguration.Bind(Config(
            ("Mode", "round-robin"), ("Seed", "7"), ("ActiveRequestTtl", "00:01:00"), ("PrefillLoadScale", "2.5"),
            ("Temperature", "0.3"), ("UseKvEvents", "false"), ("ApproximateTtl", "00:00:30"), ("ReplicaSync", "false")));

        Assert.Equal(RouterMode.RoundRobin, options.Mode);
        Assert.Equal(7, options.Seed);
        Assert.Equal(TimeSpan.FromMinutes(1), options.ActiveRequestTtl);
        Assert.Equal(2.5, options.PrefillLoadScale);
        Assert.Equal(0.3, options.Temperature);
        Assert.False(options.UseKvEvents);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ApproximateTtl);
        Assert.False(options.ReplicaSync);
    }

    [Theory]
    [InlineData("Mode", "fastest")]
    [InlineData("PrefillLoadScale", "-1")]
    [InlineData("Temperature", "warm")]
    [InlineData("ApproximateTtl", "0")]
    [InlineData("UseKvEvents", "maybe")]
    [InlineData("Weight", "3")]
    public void BadValue_NamesTheKeyAndTheValue(string key, string value)
    {
        var error = Assert.Throws<OptionsValidationException>(() => RouterConfiguration.Bind(Config((key, value))));

        var failure = Assert.Single(error.Failures);
        Assert.Contains($"Dynamo:Router:{key}", failure);
        if (key != "Weight")
        {
            Assert.Contains($"'{value}'", failure);
        }
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>($"Dynamo:Router:{v.Key}", v.Value)))
            .Build();
}

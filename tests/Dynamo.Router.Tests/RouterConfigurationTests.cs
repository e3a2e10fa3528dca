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
            ("Temperature", "0.3"), ("UseKvEvents", "false"), ("ApproximateTtl", "00:00:30"), ("ReplicaSync", "false"),
            ("Cost", "blocks"), ("DecodeImpactWeight", "0.25"), ("ExpectedOutputTokens", "512"),
            ("Timing:StepBaseMs", "7"), ("Timing:PrefillPerTokenMs", "0.05"), ("Timing:PrefillAttentionMs", "2e-6"),
            ("Timing:DecodePerSequenceMs", "0.04"), ("Timing:DecodePerKvTokenMs", "6e-5"), ("Timing:MaxBatchedTokens", "4096")));

        Assert.Equal(RouterMode.RoundRobin, options.Mode);
        Assert.Equal(7, options.Seed);
        Assert.Equal(TimeSpan.FromMinutes(1), options.ActiveRequestTtl);
        Assert.Equal(2.5, options.PrefillLoadScale);
        Assert.Equal(0.3, options.Temperature);
        Assert.False(options.UseKvEvents);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ApproximateTtl);
        Assert.False(options.ReplicaSync);
        Assert.Equal(KvCostModel.Blocks, options.Cost);
        Assert.Equal(0.25, options.DecodeImpactWeight);
        Assert.Equal(512, options.ExpectedOutputTokens);
        Assert.Equal(7, options.Timing.StepBaseMs);
        Assert.Equal(0.05, options.Timing.PrefillPerTokenMs);
        Assert.Equal(2e-6, options.Timing.PrefillAttentionMs);
        Assert.Equal(0.04, options.Timing.DecodePerSequenceMs);
        Assert.Equal(6e-5, options.Timing.DecodePerKvTokenMs);
        Assert.Equal(4096, options.Timing.MaxBatchedTokens);
    }

    /// <summary>
    /// Every option of <see cref="RouterOptions"/> is a key the strict binder knows: given its default as text, no
    /// property is refused as unknown (the busy cost's keys once were: documented, yet refused at start-up).
    /// </summary>
    [Fact]
    public void EveryOptionsProperty_IsAKnownKey()
    {
        var defaults = new RouterOptions();
        foreach (var property in typeof(RouterOptions).GetProperties().Where(p => p.CanWrite && p.Name != nameof(RouterOptions.Timing)))
        {
            var value = property.GetValue(defaults) switch
            {
                null => "1",
                TimeSpan span => span.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                var other => other.ToString()!,
            };
            var config = property.Name == nameof(RouterOptions.PrefillLoadScale)
                ? Config((property.Name, value), ("Cost", "blocks"))
                : Config((property.Name, value));

            var options = RouterConfiguration.Bind(config);

            Assert.Equal(Normalize(property.GetValue(defaults) ?? 1), Normalize(property.GetValue(options)));
        }

        static string? Normalize(object? value) => value?.ToString();
    }

    [Fact]
    public void PrefillLoadScale_WithThePredictedCost_IsRefused_NamingBothKeys()
    {
        var error = Assert.Throws<OptionsValidationException>(() => RouterConfiguration.Bind(Config(("PrefillLoadScale", "2"))));

        var failure = Assert.Single(error.Failures);
        Assert.Contains("Dynamo:Router:PrefillLoadScale = '2': applies to Cost: blocks only", failure);
    }

    [Theory]
    [InlineData("Mode", "fastest")]
    [InlineData("PrefillLoadScale", "-1")]
    [InlineData("Temperature", "warm")]
    [InlineData("ApproximateTtl", "0")]
    [InlineData("UseKvEvents", "maybe")]
    [InlineData("Cost", "cheapest")]
    [InlineData("DecodeImpactWeight", "-0.5")]
    [InlineData("ExpectedOutputTokens", "many")]
    [InlineData("Timing:MaxBatchedTokens", "0")]
    [InlineData("Timing:StepBaseMs", "-1")]
    [InlineData("Timing:Speed", "1")]
    [InlineData("Weight", "3")]
    public void BadValue_NamesTheKeyAndTheValue(string key, string value)
    {
        var error = Assert.Throws<OptionsValidationException>(() => RouterConfiguration.Bind(Config((key, value))));

        var failure = Assert.Single(error.Failures);
        Assert.Contains($"Dynamo:Router:{key}", failure);
        if (key is not ("Weight" or "Timing:Speed"))
        {
            Assert.Contains($"'{value}'", failure);
        }
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>($"Dynamo:Router:{v.Key}", v.Value)))
            .Build();
}

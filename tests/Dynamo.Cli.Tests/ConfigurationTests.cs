using Dynamo.Cli.Configuration;
using Dynamo.Router;

namespace Dynamo.Cli.Tests;

/// <summary>
/// Configuration layering and validation. Every case passes its own environment variables, so none depends on (or
/// changes) the environment of the test process, which the process tests' children inherit.
/// </summary>
public sealed class ConfigurationTests : IDisposable
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private readonly string _dir = Directory.CreateTempSubdirectory("dynamo-cfg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Defaults_ServeTinyOnLoopback8000()
    {
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>(), NoEnvironment));

        Assert.Equal("127.0.0.1", settings.Gateway.Host);
        Assert.Equal(8000, settings.Gateway.Port);
        Assert.Equal("tiny", settings.Serve.Model);
        Assert.Equal("disagg", settings.Serve.Mode);
        Assert.Equal((1, 1), (settings.Serve.PrefillWorkers, settings.Serve.DecodeWorkers));
    }

    [Fact]
    public void ClusterSecretFile_InYaml_IsReadAndChecked()
    {
        var secret = Path.Combine(_dir, "cluster.secret");
        File.WriteAllText(secret, "0123456789abcdefghijklmnopqrstuvwxyzABCD\n");
        var yaml = Write($"Dynamo:\n  Cluster:\n    SecretFile: {secret}\n");

        var settings = ClusterSettings.From(DynamoConfiguration.Build(yaml, new Dictionary<string, string?>()));

        Assert.NotNull(settings.ClusterSecret);
        Assert.Equal($"--cluster-secret-file {secret}", settings.ClusterSecret.Source);
        Assert.Null(ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>())).ClusterSecret);
    }

    [Fact]
    public void ClusterSection_UnknownKey_IsAnError()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Cluster:Secrett"] = "x" })));

        Assert.Contains("Dynamo:Cluster", error.Message, StringComparison.Ordinal);
        Assert.Contains("Secrett", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToolCallParser_Unknown_NamesTheKeyAndTheChoices()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Serve:ToolCallParser"] = "pythonic" })));

        Assert.Contains("Dynamo:Serve:ToolCallParser", error.Message, StringComparison.Ordinal);
        Assert.Contains("hermes, llama3_json, mistral", error.Message, StringComparison.Ordinal);
        Assert.Equal("mistral", ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Serve:ToolCallParser"] = "mistral" })).Serve.ToolCallParser);
    }

    [Fact]
    public void ClusterSecret_TooShort_NamesTheKey_WithoutEchoingIt()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Cluster:Secret"] = "letmein-letmein" })));

        Assert.Contains("Dynamo:Cluster:Secret: the secret is too short", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("letmein", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_IsOverriddenByFlags()
    {
        var yaml = Write("""
            Dynamo:
              Gateway:
                Port: 9001
                MaxConcurrentRequests: 7
              Serve:
                Mode: agg
                Workers: 3
              Router:
                Mode: round-robin
            """);

        var settings = ClusterSettings.From(DynamoConfiguration.Build(yaml, new Dictionary<string, string?> { ["Dynamo:Gateway:Port"] = "9002" }, NoEnvironment));

        Assert.Equal(9002, settings.Gateway.Port);
        Assert.Equal(7, settings.Gateway.MaxConcurrentRequests);
        Assert.Equal(3, settings.Serve.Workers);
        Assert.Equal(RouterMode.RoundRobin, settings.Router.Mode);
    }

    [Fact]
    public void EnvironmentVariable_OverridesYaml()
    {
        var yaml = Write("Dynamo:\n  Serve:\n    Mode: agg\n    Workers: 3\n");
        var environment = new Dictionary<string, string?> { ["DYNAMO__SERVE__WORKERS"] = "5", ["UNRELATED__SERVE__WORKERS"] = "7" };

        var settings = ClusterSettings.From(DynamoConfiguration.Build(yaml, new Dictionary<string, string?>(), environment));

        Assert.Equal(5, settings.Serve.Workers);
    }

    [Fact]
    public void Flag_OverridesEnvironmentVariable()
    {
        var environment = new Dictionary<string, string?> { ["DYNAMO__GATEWAY__PORT"] = "9003" };

        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Gateway:Port"] = "9004" }, environment));

        Assert.Equal(9004, settings.Gateway.Port);
    }

    [Theory]
    [InlineData("Dynamo:Gateway:Port", "abc", "Dynamo:Gateway:Port", "abc")]
    [InlineData("Dynamo:Gateway:Port", "70000", "Dynamo:Gateway:Port", "70000")]
    [InlineData("Dynamo:Gateway:Host", "localhost:80", "Dynamo:Gateway:Host", "localhost:80")]
    [InlineData("Dynamo:Gateway:MaxConcurrentRequests", "0", "Dynamo:Gateway:MaxConcurrentRequests", "0")]
    [InlineData("Dynamo:Gateway:MaxSequencesPerRequest", "0", "Dynamo:Gateway:MaxSequencesPerRequest", "0")]
    [InlineData("Dynamo:Gateway:MaxPromptChars", "-5", "Dynamo:Gateway:MaxPromptChars", "-5")]
    [InlineData("Dynamo:Serve:Engine", "torchy", "Dynamo:Serve:Engine", "torchy")]
    [InlineData("Dynamo:Serve:Mode", "both", "Dynamo:Serve:Mode", "both")]
    [InlineData("Dynamo:Serve:Workers", "-1", "Dynamo:Serve:Workers", "-1")]
    [InlineData("Dynamo:Serve:Workers", "3", "--prefill-workers", "3")]
    [InlineData("Dynamo:Gateway:Disaggregation:MinUncachedFraction", "1.5", "Dynamo:Gateway:Disaggregation:MinUncachedFraction", "1.5")]
    [InlineData("Dynamo:Gateway:Transport:IOQueueCount", "65", "Dynamo:Gateway:Transport:IOQueueCount", "65")]
    [InlineData("Dynamo:Gateway:Transport:MaxConnectionsPerWorker", "0", "Dynamo:Gateway:Transport:MaxConnectionsPerWorker", "0")]
    [InlineData("Dynamo:Transfer:Backend", "tcp", "Dynamo:Transfer", null)]
    [InlineData("Dynamo:Transfer:AuthenticationKey", "c2hvcnQ=", "Dynamo:Transfer:AuthenticationKey", null)]
    [InlineData("Dynamo:KvTransfer:MaxPinnedFraction", "1.5", "Dynamo:KvTransfer:MaxPinnedFraction", "1.5")]
    [InlineData("Dynamo:Router:Mode", "fastest", "Dynamo:Router:Mode", "fastest")]
    [InlineData("Dynamo:Router:BusyKvUsage", "95", "Dynamo:Router:BusyKvUsage", "95")]
    [InlineData("Dynamo:Router:BusyWaitingRequests", "-2", "Dynamo:Router:BusyWaitingRequests", "-2")]
    [InlineData("Dynamo:Gateway:BusyStatus", "500", "Dynamo:Gateway:BusyStatus = '500': must be 429", "500")]
    [InlineData("Dynamo:Gateway:BusyWait", "-00:00:01", "Dynamo:Gateway:BusyWait", "-00:00:01")]
    [InlineData("Dynamo:Gateway:Prot", "8000", "Prot", null)]
    [InlineData("Dynamo:Gatway:Port", "8000", "Dynamo:Gatway", null)]
    public void BadValue_StopsWithMessageNamingKeyAndValue(string key, string value, string expectedKey, string? expectedValue)
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { [key] = value }, NoEnvironment)));

        Assert.Contains(expectedKey, error.Message, StringComparison.OrdinalIgnoreCase);
        if (expectedValue is not null)
        {
            Assert.Contains(expectedValue, error.Message);
        }
    }

    /// <summary>One format for every section: the key path, then what is wrong and what to write instead.</summary>
    [Theory]
    [InlineData("Dynamo:Gateway:Prot", "8000", "Dynamo:Gateway:Prot: unknown key (did you mean Port?)")]
    [InlineData("Dynamo:Serve:Workrs", "2", "Dynamo:Serve:Workrs: unknown key (did you mean Workers?)")]
    [InlineData("Dynamo:Router:PrefilLoadScale", "2", "Dynamo:Router:PrefilLoadScale: unknown key (did you mean PrefillLoadScale?)")]
    [InlineData("Dynamo:Gateway:Disaggregation:MinRemotePrefilTokens", "5", "Dynamo:Gateway:Disaggregation:MinRemotePrefilTokens: unknown key (did you mean MinRemotePrefillTokens?)")]
    [InlineData("Dynamo:Gateway:Port", "abc", "Dynamo:Gateway:Port = 'abc': expected a whole number.")]
    [InlineData("Dynamo:Gateway:Port", "99999999999", "Dynamo:Gateway:Port = '99999999999': expected a whole number between -2147483648 and 2147483647.")]
    [InlineData("Dynamo:Gateway:QueueTimeout", "soon", "Dynamo:Gateway:QueueTimeout = 'soon': expected a time span such as 00:00:30 (hh:mm:ss).")]
    [InlineData("Dynamo:Gateway:Cors:AllowedOrigins:first", "https://a.example", "Dynamo:Gateway:Cors:AllowedOrigins:first: expected a list (items 0, 1, ...), not a key named 'first'.")]
    [InlineData("Dynamo:Serve:ShutdownTimeout:Seconds", "5", "Dynamo:Serve:ShutdownTimeout: expected a value (a time span such as 00:00:30 (hh:mm:ss)), not a section with keys Seconds.")]
    [InlineData("Dynamo:Gatway:Port", "8000", "Dynamo:Gatway: unknown section (did you mean Gateway?)")]
    [InlineData("Dynamo:Zzz:Port", "8000", "Dynamo:Zzz: unknown section (known sections: Serve, Gateway, Router, Mocker, Engine, Worker, Nats, Transfer, KvTransfer, Cluster, Planner).")]
    [InlineData("Dynamo:Gateway:Zzzzzz", "1", "Dynamo:Gateway:Zzzzzz: unknown key (known keys: ")]
    public void ConfigurationError_FirstLine_IsTheSameFormatInEverySection(string key, string value, string firstLine)
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { [key] = value }, NoEnvironment)));

        Assert.StartsWith(firstLine, error.Message.Split(Environment.NewLine)[0], StringComparison.Ordinal);
        Assert.DoesNotContain("BinderOptions", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlannerSection_BadFlag_IsNamedWithTheTypeInWords()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Planner:Advisory"] = "maybe" }, NoEnvironment).Planner());

        Assert.Equal("Dynamo:Planner:Advisory = 'maybe': expected true or false.", error.Message);
    }

    [Fact]
    public void YamlSyntaxError_NamesFileLineAndColumn()
    {
        var yaml = Write("Dynamo:\n  Gateway:\n    Port: [8000\n    Host: 127.0.0.1\n");

        var error = Assert.Throws<ConfigurationException>(() => DynamoConfiguration.Build(yaml, new Dictionary<string, string?>(), NoEnvironment));

        Assert.Matches($@"^--config {System.Text.RegularExpressions.Regex.Escape(yaml)}: line \d+, column \d+: .+ \(YAML syntax\)\.$", error.Message);
        Assert.DoesNotContain("Idx:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Gateway:\n  Port: 9001\n", "'Gateway' is outside the Dynamo: root")]
    [InlineData("Dynamo:\n  Gateway:\n    Port: 9001\nRouter:\n  Mode: random\n", "'Router' is outside the Dynamo: root")]
    [InlineData("# nothing yet\n", "the file has no settings under Dynamo:")]
    public void YamlFile_WithSettingsOutsideTheDynamoRoot_IsRefused(string text, string problem)
    {
        var yaml = Write(text);

        var error = Assert.Throws<ConfigurationException>(() => DynamoConfiguration.Build(yaml, new Dictionary<string, string?>(), NoEnvironment));

        Assert.StartsWith($"--config {yaml}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TransferAuthenticationKey_NotBase64_IsNamed_ButNotShown()
    {
        const string Secret = "not*base64*but*secret";
        var error = Assert.Throws<ConfigurationException>(() =>
            ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?> { ["Dynamo:Transfer:AuthenticationKey"] = Secret })));

        Assert.Contains("Dynamo:Transfer:AuthenticationKey", error.Message);
        Assert.DoesNotContain(Secret, error.Message);
    }

    [Fact]
    public void TransferAuthenticationKey_Base64_IsBound()
    {
        var key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var settings = ClusterSettings.From(DynamoConfiguration.Build(null, new Dictionary<string, string?>
        {
            ["Dynamo:Transfer:AuthenticationKey"] = Convert.ToBase64String(key),
            ["Dynamo:KvTransfer:MaxPinnedFraction"] = "0.25",
        }));

        Assert.Equal(key, settings.Transfer.AuthenticationKey);
        Assert.Equal(0.25, settings.KvTransfer.MaxPinnedFraction);
    }

    [Fact]
    public void MissingConfigFile_IsNamed()
    {
        var missing = Path.Combine(_dir, "nope.yaml");
        var error = Assert.Throws<ConfigurationException>(() => DynamoConfiguration.Build(missing, new Dictionary<string, string?>(), NoEnvironment));
        Assert.Contains(missing, error.Message);
    }

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, "dynamo.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }
}

using Dynamo.Gateway;
using Dynamo.Router;
using Dynamo.Runtime.Observability;
using Microsoft.Extensions.Configuration;

namespace Dynamo.Cli.Configuration;

/// <summary>
/// Configuration for every verb, lowest to highest precedence: defaults in the options classes, the YAML file
/// (<c>--config</c>), <c>DYNAMO__SECTION__KEY</c> environment variables, then command-line flags. Everything is
/// bound strictly (an unknown key is an error, so typos do not pass silently) and validated before anything starts.
/// </summary>
public sealed class DynamoConfiguration
{
    private DynamoConfiguration(IConfiguration root) => Root = root;

    public IConfiguration Root { get; }

    /// <summary>Builds from the YAML file, this process's environment variables and the flags.</summary>
    public static DynamoConfiguration Build(string? yamlPath, IReadOnlyDictionary<string, string?> flags) =>
        Build(yamlPath, flags, Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(entry => (string)entry.Key, entry => entry.Value as string));

    /// <summary>
    /// Builds from the YAML file, the given environment variables (name to value, as a process would see them; only
    /// <c>DYNAMO__</c> ones are read) and the flags. Callers that must not depend on the environment they were
    /// started in (tests, embedders) pass their own.
    /// </summary>
    public static DynamoConfiguration Build(string? yamlPath, IReadOnlyDictionary<string, string?> flags, IReadOnlyDictionary<string, string?> environment)
    {
        var builder = new ConfigurationBuilder();
        if (yamlPath is not null)
        {
            if (!File.Exists(yamlPath))
            {
                throw new ConfigurationException($"--config {yamlPath}: the file does not exist.");
            }

            builder.AddYamlFile(Path.GetFullPath(yamlPath), optional: false, reloadOnChange: false);
        }

        builder.AddInMemoryCollection(FromEnvironment(environment));
        builder.AddInMemoryCollection(flags);
        IConfiguration root;
        try
        {
            root = builder.Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException)
        {
            throw new ConfigurationException($"--config {yamlPath}: {YamlProblem(ex, yamlPath!)}");
        }

        if (yamlPath is not null)
        {
            CheckRoot(yamlPath, root);
        }

        return new DynamoConfiguration(root);
    }

    /// <summary>
    /// A file whose settings are not under <c>Dynamo:</c> would be read and ignored (every key is looked up under it),
    /// so the file is refused, naming what is outside the root.
    /// </summary>
    private static void CheckRoot(string yamlPath, IConfiguration root)
    {
        var fileOnly = new ConfigurationBuilder().AddYamlFile(Path.GetFullPath(yamlPath), optional: false, reloadOnChange: false).Build();
        var outside = fileOnly.GetChildren().Select(c => c.Key).Where(k => !string.Equals(k, "Dynamo", StringComparison.OrdinalIgnoreCase)).ToList();
        if (outside.Count > 0)
        {
            throw new ConfigurationException(
                $"--config {yamlPath}: {string.Join(", ", outside.Select(k => $"'{k}'"))} {(outside.Count == 1 ? "is" : "are")} outside the Dynamo: root, so nothing would read {(outside.Count == 1 ? "it" : "them")}; put every setting under Dynamo: (Dynamo:, then Gateway:, then Port: 8000, each indented under the one before).");
        }

        if (!fileOnly.GetSection("Dynamo").GetChildren().Any())
        {
            throw new ConfigurationException($"--config {yamlPath}: the file has no settings under Dynamo:, so it would change nothing; configs/agg.yaml is an example.");
        }
    }

    /// <summary>
    /// A YAML syntax error as line, column and the parser's words, without its offsets and inner layers. The
    /// configuration provider does not always pass the parser's error on (some malformed files fail in its own code),
    /// so the file is parsed again to find where.
    /// </summary>
    private static string YamlProblem(Exception error, string path)
    {
        for (var inner = error; inner is not null; inner = inner.InnerException)
        {
            if (inner is YamlDotNet.Core.YamlException yaml)
            {
                return Describe(yaml);
            }
        }

        // Some malformed files stop YamlDotNet's scanner with an InvalidOperationException and no position: the end of
        // the last event it did read is where to look.
        YamlDotNet.Core.Mark? last = null;
        try
        {
            using var reader = new StreamReader(path);
            var parser = new YamlDotNet.Core.Parser(reader);
            while (parser.MoveNext())
            {
                last = parser.Current?.End;
            }
        }
        catch (YamlDotNet.Core.YamlException yaml)
        {
            return Describe(yaml);
        }
        catch (Exception other) when (other is InvalidOperationException or ArgumentException or IOException)
        {
            if (last is { } mark)
            {
                return $"line {mark.Line}, column {mark.Column}: the YAML cannot be read past this point (an unclosed [, {{ or quote is the usual cause) (YAML syntax).";
            }
        }

        return Flatten(error);

        static string Describe(YamlDotNet.Core.YamlException yaml)
        {
            var words = yaml.Message;
            var cut = words.LastIndexOf("): ", StringComparison.Ordinal);
            if (words.StartsWith("(Line:", StringComparison.Ordinal) && cut > 0)
            {
                words = words[(cut + 3)..];
            }

            return $"line {yaml.Start.Line}, column {yaml.Start.Column}: {words.TrimEnd('.')} (YAML syntax).";
        }
    }

    public T Bind<T>(string sectionName)
        where T : new()
    {
        var options = new T();
        ThrowIfAny(StrictBinding.Problems(Root.GetSection(sectionName), typeof(T)));
        try
        {
            Root.GetSection(sectionName).Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigurationException($"{sectionName}: {Flatten(ex)}");
        }

        return options;
    }

    public GatewayOptions Gateway()
    {
        var options = Bind<GatewayOptions>(GatewayOptions.SectionName);
        var errors = new List<string>();
        var s = GatewayOptions.SectionName;
        Check(errors, options.Port is >= 0 and <= 65535, $"{s}:Port", options.Port, "must be between 0 and 65535");
        Check(errors, System.Net.IPAddress.TryParse(options.Host, out _), $"{s}:Host", options.Host, "must be an IP address such as 127.0.0.1 or 0.0.0.0");
        Check(errors, options.MaxRequestBodyBytes >= 1024, $"{s}:MaxRequestBodyBytes", options.MaxRequestBodyBytes, "must be at least 1024");
        Check(errors, options.MaxConcurrentRequests >= 1, $"{s}:MaxConcurrentRequests", options.MaxConcurrentRequests, "must be at least 1");
        Check(errors, options.MaxQueuedRequests >= 0, $"{s}:MaxQueuedRequests", options.MaxQueuedRequests, "must be 0 or more");
        Check(errors, options.QueueTimeout > TimeSpan.Zero, $"{s}:QueueTimeout", options.QueueTimeout, "must be positive");
        Check(errors, options.BusyWait >= TimeSpan.Zero && options.BusyWait <= TimeSpan.FromHours(1), $"{s}:BusyWait", options.BusyWait, "must be between 00:00:00 (answer at once) and 01:00:00");
        Check(errors, options.BusyStatus is 429 or 503, $"{s}:BusyStatus", options.BusyStatus, "must be 429 (Too Many Requests, with Retry-After) or 503 (Service Unavailable)");
        Check(errors, options.PriorityAging > TimeSpan.Zero && options.PriorityAging <= TimeSpan.FromDays(1), $"{s}:PriorityAging", options.PriorityAging, "must be positive and at most 1.00:00:00");
        Check(errors, options.MaxN is >= 1 and <= 128, $"{s}:MaxN", options.MaxN, "must be between 1 and 128");
        Check(errors, options.MaxSequencesPerRequest >= 1, $"{s}:MaxSequencesPerRequest", options.MaxSequencesPerRequest, "must be at least 1");
        Check(errors, options.MaxPromptChars >= 1, $"{s}:MaxPromptChars", options.MaxPromptChars, "must be at least 1");
        Check(errors, options.MaxTokensCap is null or >= 1, $"{s}:MaxTokensCap", options.MaxTokensCap, "must be at least 1");
        Check(errors, options.MaxPromptTokens is null or >= 1, $"{s}:MaxPromptTokens", options.MaxPromptTokens, "must be at least 1");
        Check(errors, options.WorkerStreamTimeout > TimeSpan.Zero, $"{s}:WorkerStreamTimeout", options.WorkerStreamTimeout, "must be positive");
        Check(errors, options.MigrationLimit is >= 0 and <= 16, $"{s}:MigrationLimit", options.MigrationLimit, "must be between 0 and 16");
        Check(errors, options.HealthProbeInterval > TimeSpan.Zero, $"{s}:HealthProbeInterval", options.HealthProbeInterval, "must be positive");
        Check(errors, options.AdminPort is null or (>= 0 and <= 65535), $"{s}:AdminPort", options.AdminPort, "must be between 0 and 65535");
        Check(errors, options.GrpcPort is null or (>= 0 and <= 65535), $"{s}:GrpcPort", options.GrpcPort, "must be between 0 and 65535");
        Check(errors, options.GrpcPort is null or 0 || (options.GrpcPort != options.Port && options.GrpcPort != options.AdminPort), $"{s}:GrpcPort", options.GrpcPort, "must differ from Port and AdminPort");
        var d = options.Disaggregation;
        Check(errors, d.MinRemotePrefillTokens >= 1, $"{s}:Disaggregation:MinRemotePrefillTokens", d.MinRemotePrefillTokens, "must be at least 1");
        Check(errors, d.MinUncachedFraction is >= 0 and <= 1, $"{s}:Disaggregation:MinUncachedFraction", d.MinUncachedFraction, "must be between 0 and 1");
        Check(errors, d.MaxInflightPrefillsPerWorker >= 1, $"{s}:Disaggregation:MaxInflightPrefillsPerWorker", d.MaxInflightPrefillsPerWorker, "must be at least 1");
        Check(errors, d.PrefillTimeout > TimeSpan.Zero, $"{s}:Disaggregation:PrefillTimeout", d.PrefillTimeout, "must be positive");
        var t = options.Transport;
        Check(errors, t.IOQueueCount is null or (>= 0 and <= 64), $"{s}:Transport:IOQueueCount", t.IOQueueCount, "must be between 0 (the thread pool) and 64");
        Check(errors, t.MaxConnectionsPerWorker is null or >= 1, $"{s}:Transport:MaxConnectionsPerWorker", t.MaxConnectionsPerWorker, "must be at least 1 (or unset: no limit)");
        var r = options.Responses;
        Check(errors, r.StoreMaxEntries >= 0, $"{s}:Responses:StoreMaxEntries", r.StoreMaxEntries, "must be 0 (store nothing) or more");
        Check(errors, r.StoreMaxBytes >= 1024, $"{s}:Responses:StoreMaxBytes", r.StoreMaxBytes, "must be at least 1024");
        Check(errors, r.StoreTtl > TimeSpan.Zero, $"{s}:Responses:StoreTtl", r.StoreTtl, "must be positive");
        Check(errors, options.AdminPort is null or 0 || options.AdminPort != options.Port, $"{s}:AdminPort", options.AdminPort, "must differ from Port");
        for (var i = 0; i < options.Auth.Keys.Count; i++)
        {
            var key = options.Auth.Keys[i];
            Check(errors, key.RequestsPerMinute is null or >= 1, $"{s}:Auth:Keys:{i}:RequestsPerMinute", key.RequestsPerMinute, "must be at least 1");
            Check(errors, key.MaxConcurrentRequests is null or >= 1, $"{s}:Auth:Keys:{i}:MaxConcurrentRequests", key.MaxConcurrentRequests, "must be at least 1");
        }

        Check(errors, options.Auth.KeysFile is null || File.Exists(options.Auth.KeysFile), $"{s}:Auth:KeysFile", options.Auth.KeysFile, "must name an existing file");
        if (options.Auth.KeysFile is null || File.Exists(options.Auth.KeysFile))
        {
            // Inline keys and the file's are held to the same rules; each problem names its key or its file and line.
            errors.AddRange(Dynamo.Gateway.Security.ApiKeys.Load(options.Auth, s).Problems);
        }

        Check(errors, options.Auth.MaxFailuresPerClient >= 0, $"{s}:Auth:MaxFailuresPerClient", options.Auth.MaxFailuresPerClient, "must be 0 (off) or more");
        Check(errors, options.Auth.FailureWindow > TimeSpan.Zero, $"{s}:Auth:FailureWindow", options.Auth.FailureWindow, "must be positive");
        errors.AddRange(options.Cors.Problems(s));
        Check(errors, options.Auth.RequestsPerMinute is null or >= 1, $"{s}:Auth:RequestsPerMinute", options.Auth.RequestsPerMinute, "must be at least 1");
        Check(errors, options.Auth.MaxConcurrentRequests is null or >= 1, $"{s}:Auth:MaxConcurrentRequests", options.Auth.MaxConcurrentRequests, "must be at least 1");
        Check(errors, options.OtlpEndpoint is null || Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out _), $"{s}:OtlpEndpoint", options.OtlpEndpoint, "must be an absolute URL");
        ThrowIfAny(errors);
        return options;
    }

    public RouterOptions Router()
    {
        // Keys are checked as every section's are; the router parses its own values (round-robin, 00:10:00, ...).
        ThrowIfAny(StrictBinding.Problems(Root.GetSection(RouterOptions.SectionName), typeof(RouterOptions), checkValues: false));
        try
        {
            return RouterConfiguration.Bind(Root);
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException ex)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, ex.Failures));
        }
    }

    public Dynamo.Transfer.TransferAgentOptions Transfer()
    {
        // Checked before binding: the binder's own error would quote the value, and it is a secret.
        var keyName = $"{Dynamo.Transfer.TransferAgentOptions.SectionName}:AuthenticationKey";
        if (Root[keyName] is { Length: > 0 } key && !Convert.TryFromBase64String(key, new byte[key.Length], out _))
        {
            throw new ConfigurationException($"{keyName} must be base64 (at least 16 bytes once decoded); the configured value is not (not shown: it is a secret).");
        }

        var options = Bind<Dynamo.Transfer.TransferAgentOptions>(Dynamo.Transfer.TransferAgentOptions.SectionName);
        var result = new Dynamo.Transfer.TransferAgentOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new ConfigurationException($"{Dynamo.Transfer.TransferAgentOptions.SectionName}: {result.FailureMessage}");
        }

        return options;
    }

    public Dynamo.Engine.Transfer.KvTransferOptions KvTransfer()
    {
        var options = Bind<Dynamo.Engine.Transfer.KvTransferOptions>("Dynamo:KvTransfer");
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ConfigurationException(ex.Message);
        }

        return options;
    }

    /// <summary><c>Dynamo:Cluster</c>: the secret it configures, read and checked; null when none is set.</summary>
    public Runtime.Security.ClusterSecret? ClusterSecret()
    {
        var options = Bind<Runtime.Security.ClusterOptions>(Runtime.Security.ClusterOptions.SectionName);
        try
        {
            return Runtime.Security.ClusterSecret.Load(options);
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException ex)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, ex.Failures));
        }
    }

    public ServeOptions Serve()
    {
        var options = Bind<ServeOptions>(ServeOptions.SectionName);
        var errors = new List<string>();
        var s = ServeOptions.SectionName;
        Check(errors, options.Engine is "dotnet" or "mocker", $"{s}:Engine", options.Engine, "expected dotnet or mocker");
        Check(errors, options.Mode is "agg" or "disagg", $"{s}:Mode", options.Mode, "expected agg or disagg");
        Check(errors, options.Workers is >= 1 and <= 256, $"{s}:Workers", options.Workers, "must be between 1 and 256");
        Check(errors, options.Mode != "disagg" || Root[$"{s}:Workers"] is null, $"{s}:Workers", options.Workers,
            "sizes the aggregated pool of --mode agg; with --mode disagg (the default) use --prefill-workers and --decode-workers");
        Check(errors, options.PrefillWorkers is >= 0 and <= 256, $"{s}:PrefillWorkers", options.PrefillWorkers, "must be between 0 and 256");
        Check(errors, options.DecodeWorkers is >= 1 and <= 256, $"{s}:DecodeWorkers", options.DecodeWorkers, "must be between 1 and 256");
        Check(errors, !string.IsNullOrWhiteSpace(options.Model), $"{s}:Model", options.Model, "must name a model folder or a preset (tiny, small, 100m)");
        Check(errors, options.ShutdownTimeout >= TimeSpan.Zero, $"{s}:ShutdownTimeout", options.ShutdownTimeout, "must not be negative");
        Check(errors, Llm.ToolCalling.ToolCallFormats.IsValidSetting(options.ToolCallParser), $"{s}:ToolCallParser", options.ToolCallParser,
            "expected " + string.Join(", ", Llm.ToolCalling.ToolCallFormats.SettingValues));
        ThrowIfAny(errors);
        return options;
    }

    /// <summary>
    /// <c>Dynamo:Planner</c>, bound and checked (every problem listed, each naming the key and value). The profile
    /// file itself is read by whoever builds the policy (<see cref="Dynamo.Planner.ScalingPolicies"/>).
    /// </summary>
    public Dynamo.Planner.PlannerOptions Planner()
    {
        var options = Bind<Dynamo.Planner.PlannerOptions>(Dynamo.Planner.PlannerOptions.SectionName);
        var problems = options.Problems();
        if (problems.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, problems));
        }

        return options;
    }

    internal static void Check(List<string> errors, bool ok, string key, object? value, string rule)
    {
        if (!ok)
        {
            errors.Add($"{key} = '{value}': {rule}.");
        }
    }

    internal static void ThrowIfAny(List<string> errors)
    {
        if (errors.Count > 0)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, errors));
        }
    }

    /// <summary><c>DYNAMO__GATEWAY__PORT=8001</c> becomes <c>Dynamo:GATEWAY:PORT</c>; keys are case-insensitive.</summary>
    private static Dictionary<string, string?> FromEnvironment(IReadOnlyDictionary<string, string?> environment)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in environment)
        {
            if (key.StartsWith(EnvironmentVariables.ConfigurationPrefix, StringComparison.OrdinalIgnoreCase))
            {
                values["Dynamo:" + key[EnvironmentVariables.ConfigurationPrefix.Length..].Replace("__", ":", StringComparison.Ordinal)] = value;
            }
        }

        return values;
    }

    private static string Flatten(Exception ex) => ex.InnerException is null ? ex.Message : $"{ex.Message} {Flatten(ex.InnerException)}";
}

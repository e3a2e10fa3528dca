using System.Globalization;
using System.Text.RegularExpressions;
using Dynamo.Contracts;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Planner;
using Dynamo.Planner.Profiles;

namespace Dynamo.Cli.Configuration;

/// <summary>
/// The planner's settings (<c>Dynamo:Planner</c>), its profile and its policy, read and checked before anything starts:
/// a bad key, a missing or corrupt profile, or a mode that does not match the cluster is a configuration error that
/// names the key, file or field.
/// </summary>
internal sealed partial record PlannerSetup(PlannerOptions Options, DeploymentProfile Profile, IScalingPolicy Policy)
{
    /// <summary>
    /// For <c>dynamo replay --planner FILE</c>: the <c>Dynamo:Planner</c> section of a YAML file (environment
    /// variables <c>DYNAMO__PLANNER__*</c> apply on top, as for every verb), checked, its profile loaded, the policy built.
    /// </summary>
    /// <exception cref="PlannerFileException">Missing file, bad YAML, a bad key (named), or a missing or bad profile (file and field named).</exception>
    public static PlannerSetup FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new PlannerFileException($"--planner {path}: the file does not exist (configs/planner.yaml is a documented example).");
        }

        PlannerOptions options;
        try
        {
            options = DynamoConfiguration.Build(path, new Dictionary<string, string?>()).Planner();
        }
        catch (ConfigurationException bad)
        {
            throw new PlannerFileException($"--planner {path}: {bad.Message.Replace("--config " + path + ": ", "", StringComparison.Ordinal)}", bad);
        }

        DeploymentProfile profile;
        try
        {
            profile = DeploymentProfile.Load(options.Profile!);
        }
        catch (ProfileException bad)
        {
            throw new PlannerFileException($"--planner {path}: {PlannerOptions.SectionName}:Profile: {bad.Message}", bad);
        }

        try
        {
            return new PlannerSetup(options, profile, ScalingPolicies.Create(options, profile)) { Path = path };
        }
        catch (ArgumentException bad)
        {
            throw new PlannerFileException($"--planner {path}: {bad.Message}", bad);
        }
    }

    /// <summary>The planner file this came from (<see cref="FromFile"/>), else null.</summary>
    public string? Path { get; init; }

    /// <summary>The simulator preset a simulated profile was made from (<c>dynamo profile --profile NAME</c>), if it says so.</summary>
    public string? SimulatorPreset =>
        Profile.Source == ProfileSource.Simulated && PresetPattern().Match(Profile.Description) is { Success: true } m && PerformanceProfiles.Names.Contains(m.Groups[1].Value)
            ? m.Groups[1].Value
            : null;

    /// <summary>GPUs a worker of the pool that serves requests takes, per the profile.</summary>
    public int? GpusPerWorker => Profile.GpusPerWorker(Options.Mode == "agg" ? WorkerRole.Aggregated : WorkerRole.Decode);

    [GeneratedRegex(@"^dynamo profile --profile (\S+?):")]
    private static partial Regex PresetPattern();

    /// <summary>
    /// For <c>dynamo serve --planner</c>: the planner sizes the pools of the serve mode, so <c>Dynamo:Planner:Mode</c>
    /// defaults to <c>Dynamo:Serve:Mode</c> and must equal it when set. With the mocker and no
    /// <c>Dynamo:Planner:Profile</c>, the profile is simulated from the mocker's own settings.
    /// </summary>
    public static PlannerSetup ForServe(DynamoConfiguration configuration, ServeOptions serve)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(serve);
        var options = configuration.Bind<PlannerOptions>(PlannerOptions.SectionName);
        if (configuration.Root[PlannerOptions.SectionName + ":Mode"] is null)
        {
            options.Mode = serve.Mode;
        }
        else if (options.Mode != serve.Mode)
        {
            throw new ConfigurationException(
                $"{PlannerOptions.SectionName}:Mode = '{options.Mode}' but {ServeOptions.SectionName}:Mode = '{serve.Mode}': the planner sizes the pools the cluster has; set the same mode in both (or leave {PlannerOptions.SectionName}:Mode out).");
        }

        if (string.IsNullOrWhiteSpace(options.Profile) && serve.Engine == "mocker")
        {
            // No profile given: the planner sizes the pools with the simulation of the engine it serves, the mocker as
            // Dynamo:Mocker configures it (what 'dynamo profile' computes for a preset, here for these settings).
            var mocker = configuration.Bind<Dynamo.Engine.Mocker.MockerOptions>("Dynamo:Mocker");
            var preset = new Dynamo.Engine.Mocker.Profiles.PerformanceProfile
            {
                Name = "serve-mocker",
                Description = "the Dynamo:Mocker settings of this serve",
                Performance = mocker.Performance,
                BlockSize = mocker.BlockSize,
                TotalKvBlocks = mocker.TotalKvBlocks,
                MaxNumSeqs = mocker.MaxNumSeqs,
                MaxNumBatchedTokens = mocker.MaxNumBatchedTokens,
                MaxContextLength = mocker.MaxContextLength,
            };
            var profile = Profiling.SimulatedProfiler.Run(preset, Profiling.SimulatedProfiler.DefaultGrid(preset), "simulated mocker");
            return Build(options, profile, "simulated from this serve's Dynamo:Mocker settings");
        }

        return Build(options);
    }

    /// <summary>For <c>dynamo planner</c>: the section as configured.</summary>
    public static PlannerSetup FromConfiguration(DynamoConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return Build(configuration.Bind<PlannerOptions>(PlannerOptions.SectionName));
    }

    private static PlannerSetup Build(PlannerOptions options, DeploymentProfile profile, string origin)
    {
        if (options.Problems(requireProfile: false) is { Count: > 0 } problems)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, problems));
        }

        try
        {
            return new PlannerSetup(options, profile, ScalingPolicies.Create(options, profile)) { ProfileOrigin = origin };
        }
        catch (ArgumentException error)
        {
            throw new ConfigurationException(error.Message);
        }
    }

    private static PlannerSetup Build(PlannerOptions options)
    {
        if (options.Problems() is { Count: > 0 } problems)
        {
            throw new ConfigurationException(string.Join(Environment.NewLine, problems));
        }

        try
        {
            var profile = DeploymentProfile.Load(options.Profile!);
            return new PlannerSetup(options, profile, ScalingPolicies.Create(options, profile));
        }
        catch (ProfileException error)
        {
            throw new ConfigurationException($"{PlannerOptions.SectionName}:Profile: {error.Message}");
        }
        catch (ArgumentException error)
        {
            throw new ConfigurationException(error.Message);
        }
    }

    /// <summary>Where the profile came from: its file, or how it was made.</summary>
    public string? ProfileOrigin { get; init; }

    /// <summary>One line for the start-up message.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"policy {Options.Policy}, mode {Options.Mode}, profile {ProfileOrigin ?? Options.Profile} ({Profile.Source.ToString().ToLowerInvariant()}), SLA TTFT {Options.Sla.TtftMs:0.#} ms / ITL {Options.Sla.ItlMs:0.#} ms, "
        + $"observing every {Options.LoadInterval.TotalSeconds:0.###} s, throughput loop every {Options.ThroughputInterval.TotalSeconds:0.###} s{(Options.Advisory ? ", advisory (decisions are not carried out)" : "")}");
}

/// <summary>A planner file that cannot be used; the message names the file and the key or profile field.</summary>
internal sealed class PlannerFileException(string message, Exception? inner = null) : Exception(message, inner);

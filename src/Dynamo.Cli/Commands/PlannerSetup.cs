using System.Text.RegularExpressions;
using Dynamo.Cli.Configuration;
using Dynamo.Contracts;
using Dynamo.Engine.Mocker.Profiles;
using Dynamo.Planner;
using Dynamo.Planner.Profiles;

namespace Dynamo.Cli.Commands;

/// <summary>A planner file that cannot be used; the message names the file and the key or profile field.</summary>
internal sealed class PlannerFileException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// <c>--planner FILE</c> of <c>dynamo replay</c>: the <c>Dynamo:Planner</c> section of a YAML file (environment
/// variables <c>DYNAMO__PLANNER__*</c> apply on top, as for every verb), checked, its profile loaded, and the policy
/// built.
/// </summary>
internal sealed partial record PlannerSetup(string Path, PlannerOptions Options, string ProfilePath, DeploymentProfile Profile, IScalingPolicy Policy)
{
    /// <summary>The simulator preset a simulated profile was made from (<c>dynamo profile --profile NAME</c>), if it says so.</summary>
    public string? SimulatorPreset =>
        Profile.Source == ProfileSource.Simulated && PresetPattern().Match(Profile.Description) is { Success: true } m && PerformanceProfiles.Names.Contains(m.Groups[1].Value)
            ? m.Groups[1].Value
            : null;

    /// <summary>GPUs a worker of the pool that serves requests takes, per the profile.</summary>
    public int? GpusPerWorker => Profile.GpusPerWorker(Options.Mode == "agg" ? WorkerRole.Aggregated : WorkerRole.Decode);

    /// <exception cref="PlannerFileException">Missing file, bad YAML, a bad key (named), or a missing or bad profile (file and field named).</exception>
    public static PlannerSetup Load(string path)
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
            return new PlannerSetup(path, options, options.Profile!, profile, ScalingPolicies.Create(options, profile));
        }
        catch (ArgumentException bad)
        {
            throw new PlannerFileException($"--planner {path}: {bad.Message}", bad);
        }
    }

    [GeneratedRegex(@"^dynamo profile --profile (\S+?):")]
    private static partial Regex PresetPattern();
}

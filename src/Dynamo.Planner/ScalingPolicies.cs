using Dynamo.Planner.Profiles;

namespace Dynamo.Planner;

/// <summary>Builds the policy <see cref="PlannerOptions.Policy"/> names.</summary>
public static class ScalingPolicies
{
    /// <summary>Loads the profile <see cref="PlannerOptions.Profile"/> names and builds the policy.</summary>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    /// <exception cref="ProfileException">The profile is missing or bad (the message names the file and field).</exception>
    public static IScalingPolicy Create(PlannerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Create(options, DeploymentProfile.Load(options.Profile!));
    }

    /// <summary>Builds the policy on a profile already loaded.</summary>
    /// <exception cref="ArgumentException">Invalid options, or a budget below the pools' minimums.</exception>
    public static IScalingPolicy Create(PlannerOptions options, DeploymentProfile profile)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Policy switch
        {
            "threshold" => new ThresholdAutoscaler(options, profile),
            "schedule" => new ScheduledScaler(options, profile),
            _ => new SlaPlanner(options, profile),
        };
    }
}

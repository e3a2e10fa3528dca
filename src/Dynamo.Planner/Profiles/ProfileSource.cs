namespace Dynamo.Planner.Profiles;

/// <summary>Where a profile's figures come from (<c>"source"</c> in profile.json).</summary>
public enum ProfileSource
{
    /// <summary>Computed from the simulator's step-time model (<c>dynamo profile --profile NAME</c>).</summary>
    Simulated,

    /// <summary>Measured against a running endpoint (<c>dynamo profile --url URL</c>).</summary>
    Measured,
}

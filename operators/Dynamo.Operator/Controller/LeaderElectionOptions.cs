namespace Dynamo.Operator.Controller;

/// <summary>Lease-based leader election settings (client-go's defaults).</summary>
public sealed class LeaderElectionOptions
{
    /// <summary>The Lease's namespace (default: the operator's namespace, or <c>default</c>).</summary>
    public string Namespace { get; init; } = "default";

    /// <summary>The Lease's name (default <c>dynamo-operator</c>).</summary>
    public string LeaseName { get; init; } = "dynamo-operator";

    /// <summary>This replica's identity in the Lease (default: host name and process id).</summary>
    public string Identity { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>How long a Lease is valid without renewal; the standby takes over after this (default 15 s).</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The leader stops acting when it could not renew for this long (default 10 s; less than the duration).</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the Lease is renewed, or its acquisition retried (default 2 s).</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>On a clean stop, hand the Lease back so a standby takes over at once (default true).</summary>
    public bool ReleaseOnStop { get; init; } = true;

    public void Validate()
    {
        if (RetryPeriod <= TimeSpan.Zero || RenewDeadline <= RetryPeriod || LeaseDuration <= RenewDeadline)
        {
            throw new ArgumentException($"leader election: expected 0 < retry period ({RetryPeriod}) < renew deadline ({RenewDeadline}) < lease duration ({LeaseDuration})");
        }
    }
}

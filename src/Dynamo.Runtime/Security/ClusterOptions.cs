namespace Dynamo.Runtime.Security;

/// <summary>
/// The internal credential of a deployment, bound from <c>Dynamo:Cluster</c>: every frontend and worker of one
/// deployment holds the same secret (<see cref="ClusterSecret"/> says what it protects). Set one of <see cref="Secret"/>
/// (for example from the <c>DYNAMO__CLUSTER__SECRET</c> environment variable, a Kubernetes secret) or
/// <see cref="SecretFile"/> (<c>--cluster-secret-file</c>). <c>dynamo frontend</c> and <c>dynamo worker</c> refuse to
/// start without one; <c>dynamo serve</c> generates its own when none is set.
/// </summary>
public sealed class ClusterOptions
{
    public const string SectionName = "Dynamo:Cluster";

    /// <summary>The secret itself: at least <see cref="ClusterSecret.MinimumLength"/> characters. Default none. Never logged.</summary>
    public string? Secret { get; set; }

    /// <summary>A file holding the secret (surrounding whitespace and a trailing newline are ignored). Default none.</summary>
    public string? SecretFile { get; set; }

    /// <summary>For log lines: where the secret comes from, never the secret.</summary>
    public override string ToString() =>
        Secret is not null ? "Secret=<redacted>" : SecretFile is not null ? $"SecretFile={SecretFile}" : "none";
}

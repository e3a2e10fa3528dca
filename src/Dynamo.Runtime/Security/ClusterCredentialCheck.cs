namespace Dynamo.Runtime.Security;

/// <summary>What <see cref="ClusterSecret.VerifyHttpCredential"/> found.</summary>
public enum ClusterCredentialCheck
{
    /// <summary>Made with this secret, for this method and path, within the allowed clock skew.</summary>
    Valid,

    /// <summary>No credential.</summary>
    Missing,

    /// <summary>Not in the <c>v1.SECONDS.MAC</c> form.</summary>
    Malformed,

    /// <summary>Made with another secret, or for another method or path.</summary>
    Invalid,

    /// <summary>Made with this secret, but its time is further than <see cref="ClusterSecret.MaxClockSkew"/> from the verifier's clock.</summary>
    Expired,
}

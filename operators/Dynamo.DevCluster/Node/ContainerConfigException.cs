namespace Dynamo.DevCluster.Node;

/// <summary>A container that cannot be started as written (a missing ConfigMap key, an unknown executable): its reason and message go to the Pod's status.</summary>
internal sealed class ContainerConfigException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}

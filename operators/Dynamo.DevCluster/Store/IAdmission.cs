using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Store;

/// <summary>
/// Checks, defaults and reacts to writes, under the store's lock. <see cref="Admit"/> may change the object and throws
/// <see cref="ApiException"/> to refuse it; <see cref="Committed"/> runs after the change is stored.
/// </summary>
public interface IAdmission
{
    void Admit(ResourceType type, JsonObject obj, JsonObject? old, WriteTarget target, WriteOptions options);

    /// <summary><paramref name="eventType"/> is ADDED, MODIFIED or DELETED.</summary>
    void Committed(ResourceType type, string eventType, JsonObject obj);
}

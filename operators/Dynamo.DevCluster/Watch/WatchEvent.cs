using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Watch;

/// <summary>One change in the store. <see cref="Old"/> is the object before a MODIFIED or DELETED change.</summary>
public sealed record WatchEvent(long ResourceVersion, string Type, string StorageKey, string? Namespace, JsonObject Object, JsonObject? Old);

using System.Text.Json.Nodes;

namespace Dynamo.Operator.Client;

/// <summary>One line of a watch stream: ADDED, MODIFIED, DELETED or BOOKMARK, and the object (for a bookmark, only its resourceVersion).</summary>
public sealed record WatchEvent(string Type, JsonObject Object)
{
    public const string Added = "ADDED";
    public const string Modified = "MODIFIED";
    public const string Deleted = "DELETED";
    public const string Bookmark = "BOOKMARK";
    public const string Error = "ERROR";

    public string? ResourceVersion => Object["metadata"]?["resourceVersion"]?.GetValue<string>();
}

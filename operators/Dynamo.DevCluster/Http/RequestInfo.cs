using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Http;

/// <summary>What a resource URL names: the resource type, the namespace, the object and the subresource.</summary>
internal sealed record RequestInfo(ResourceType Type, string? Namespace, string? Name, string? Subresource, bool WatchPath)
{
    /// <summary>
    /// Parses <c>/api/v1/...</c> and <c>/apis/G/V/...</c> resource paths (with the legacy <c>/watch/</c> prefix).
    /// Null when the path is not a resource path; throws 404 for an unknown resource.
    /// </summary>
    public static RequestInfo? Parse(ResourceRegistry registry, string path)
    {
        var segs = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        string group, version;
        int i;
        if (segs.Length >= 3 && segs[0] == "api")
        {
            group = "";
            version = segs[1];
            i = 2;
        }
        else if (segs.Length >= 4 && segs[0] == "apis")
        {
            group = segs[1];
            version = segs[2];
            i = 3;
        }
        else
        {
            return null;
        }
        var watch = false;
        if (segs[i] == "watch")
        {
            watch = true;
            i++;
        }
        var rest = segs[i..];
        if (rest.Length == 0) return null;
        string? ns = null;
        if (rest.Length >= 3 && rest[0] == "namespaces" && registry.Find(group, version, rest[2]) is { Namespaced: true })
        {
            ns = rest[1];
            rest = rest[2..];
        }
        var type = registry.Find(group, version, rest[0]);
        if (type is null)
        {
            var gv = group.Length == 0 ? version : $"{group}/{version}";
            var wanted = rest.Length >= 3 && rest[0] == "namespaces" ? rest[2] : rest[0];
            throw new ApiException(404, "NotFound", $"the server could not find the requested resource (no resource \"{wanted}\" in {gv})");
        }
        if (rest.Length > 3) throw new ApiException(404, "NotFound", $"the server could not find the requested resource ({path})");
        return new RequestInfo(type, ns, rest.Length > 1 ? rest[1] : null, rest.Length > 2 ? rest[2] : null, watch);
    }
}

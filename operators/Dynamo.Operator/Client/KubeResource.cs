namespace Dynamo.Operator.Client;

/// <summary>A resource type the operator reads or writes: its group, version and plural, and how its URL is built.</summary>
public sealed record KubeResource(string Group, string Version, string Plural, string Kind, bool Namespaced = true)
{
    public static readonly KubeResource Graphs = new(Api.GraphApi.Group, Api.GraphApi.Version, Api.GraphApi.GraphPlural, Api.GraphApi.GraphKind);
    public static readonly KubeResource Adapters = new(Api.GraphApi.Group, Api.GraphApi.Version, Api.GraphApi.AdapterPlural, Api.GraphApi.AdapterKind);
    public static readonly KubeResource Deployments = new("apps", "v1", "deployments", "Deployment");
    public static readonly KubeResource StatefulSets = new("apps", "v1", "statefulsets", "StatefulSet");
    public static readonly KubeResource Services = new("", "v1", "services", "Service");
    public static readonly KubeResource Pods = new("", "v1", "pods", "Pod");
    public static readonly KubeResource ConfigMaps = new("", "v1", "configmaps", "ConfigMap");
    public static readonly KubeResource Secrets = new("", "v1", "secrets", "Secret");
    public static readonly KubeResource Events = new("", "v1", "events", "Event");
    public static readonly KubeResource Leases = new("coordination.k8s.io", "v1", "leases", "Lease");
    public static readonly KubeResource Crds = new("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", Namespaced: false);

    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>The collection's path: <c>/apis/apps/v1/namespaces/ns/deployments</c>; all namespaces when <paramref name="ns"/> is null.</summary>
    public string CollectionPath(string? ns)
    {
        var root = Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";
        return Namespaced && ns is not null ? $"{root}/namespaces/{Uri.EscapeDataString(ns)}/{Plural}" : $"{root}/{Plural}";
    }

    public string ItemPath(string? ns, string name, string? subresource = null) =>
        $"{CollectionPath(ns)}/{Uri.EscapeDataString(name)}" + (subresource is null ? "" : $"/{subresource}");

    public override string ToString() => Group.Length == 0 ? Plural : $"{Plural}.{Group}";
}

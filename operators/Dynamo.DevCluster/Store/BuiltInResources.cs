namespace Dynamo.DevCluster.Store;

/// <summary>The kinds served from start-up.</summary>
public static class BuiltInResources
{
    public static IReadOnlyList<ResourceType> All { get; } =
    [
        Core("namespaces", "Namespace", "namespace", namespaced: false, hasStatus: true, shortNames: ["ns"]),
        Core("pods", "Pod", "pod", namespaced: true, hasStatus: true, shortNames: ["po"], categories: ["all"]),
        Core("services", "Service", "service", namespaced: true, hasStatus: true, shortNames: ["svc"], categories: ["all"]),
        Core("configmaps", "ConfigMap", "configmap", namespaced: true, hasStatus: false, shortNames: ["cm"]),
        Core("secrets", "Secret", "secret", namespaced: true, hasStatus: false),
        Core("events", "Event", "event", namespaced: true, hasStatus: false, shortNames: ["ev"]),
        Core("endpoints", "Endpoints", "endpoints", namespaced: true, hasStatus: false, shortNames: ["ep"]),
        Core("serviceaccounts", "ServiceAccount", "serviceaccount", namespaced: true, hasStatus: false, shortNames: ["sa"]),
        // RBAC objects are stored and served (charts create them) but not enforced: the dev cluster has one token,
        // with every right.
        Rbac("roles", "Role", "role", namespaced: true),
        Rbac("rolebindings", "RoleBinding", "rolebinding", namespaced: true),
        Rbac("clusterroles", "ClusterRole", "clusterrole", namespaced: false),
        Rbac("clusterrolebindings", "ClusterRoleBinding", "clusterrolebinding", namespaced: false),
        Apps("deployments", "Deployment", "deployment", ["deploy"]),
        Apps("replicasets", "ReplicaSet", "replicaset", ["rs"]),
        Apps("statefulsets", "StatefulSet", "statefulset", ["sts"]),
        new ResourceType
        {
            Group = "coordination.k8s.io", Version = "v1", Resource = "leases", Kind = "Lease", Singular = "lease",
            Namespaced = true,
        },
        new ResourceType
        {
            Group = "events.k8s.io", Version = "v1", Resource = "events", Kind = "Event", Singular = "event",
            Namespaced = true, ShortNames = ["ev"],
        },
        new ResourceType
        {
            Group = "apiextensions.k8s.io", Version = "v1", Resource = "customresourcedefinitions",
            Kind = "CustomResourceDefinition", Singular = "customresourcedefinition", Namespaced = false,
            HasStatus = true, ShortNames = ["crd", "crds"], Categories = ["api-extensions"],
        },
    ];

    private static ResourceType Core(string resource, string kind, string singular, bool namespaced, bool hasStatus,
        IReadOnlyList<string>? shortNames = null, IReadOnlyList<string>? categories = null) => new()
    {
        Group = "", Version = "v1", Resource = resource, Kind = kind, Singular = singular, Namespaced = namespaced,
        HasStatus = hasStatus, ShortNames = shortNames ?? [], Categories = categories ?? [],
    };

    private static ResourceType Rbac(string resource, string kind, string singular, bool namespaced) => new()
    {
        Group = "rbac.authorization.k8s.io", Version = "v1", Resource = resource, Kind = kind, Singular = singular,
        Namespaced = namespaced, HasStatus = false,
    };

    private static ResourceType Apps(string resource, string kind, string singular, IReadOnlyList<string> shortNames) => new()
    {
        Group = "apps", Version = "v1", Resource = resource, Kind = kind, Singular = singular, Namespaced = true,
        HasStatus = true, ShortNames = shortNames, Categories = ["all"],
        // The selector in Scale.status comes from .spec.selector (a LabelSelector object), formatted as a string.
        Scale = new ScaleSubresource(".spec.replicas", ".status.replicas", LabelSelectorPath: null),
    };
}

namespace Dynamo.DevCluster.Store;

/// <summary>
/// The resources served, built-in and registered at run time by CustomResourceDefinitions. Readers take an immutable
/// snapshot, so discovery and routing never see a CRD half registered.
/// </summary>
public sealed class ResourceRegistry
{
    private readonly object _gate = new();
    private IReadOnlyList<ResourceType> _all;

    public ResourceRegistry(IEnumerable<ResourceType> builtIns)
    {
        _all = builtIns.ToList();
    }

    public IReadOnlyList<ResourceType> All => Volatile.Read(ref _all);

    public ResourceType? Find(string group, string version, string resource)
    {
        foreach (var t in All)
        {
            if (t.Group == group && t.Version == version && t.Resource == resource) return t;
        }
        return null;
    }

    public ResourceType? FindKind(string apiVersion, string kind)
    {
        foreach (var t in All)
        {
            if (t.ApiVersion == apiVersion && t.Kind == kind) return t;
        }
        return null;
    }

    /// <summary>Any served version of a storage key (the first listed), for reads that cross versions.</summary>
    public ResourceType? FindStorage(string storageKey)
    {
        foreach (var t in All)
        {
            if (t.StorageKey == storageKey) return t;
        }
        return null;
    }

    /// <summary>Replaces every version of <paramref name="storageKey"/> with <paramref name="versions"/> (none removes it).</summary>
    public void Replace(string storageKey, IReadOnlyList<ResourceType> versions)
    {
        lock (_gate)
        {
            var next = _all.Where(t => t.StorageKey != storageKey).Concat(versions).ToList();
            Volatile.Write(ref _all, next);
        }
    }

    /// <summary>Groups in discovery order, each with its versions sorted by Kubernetes version priority.</summary>
    public IReadOnlyList<(string Group, IReadOnlyList<string> Versions)> Groups()
    {
        var all = All;
        return all.Select(t => t.Group).Distinct()
            .Select(g => (g, (IReadOnlyList<string>)all.Where(t => t.Group == g).Select(t => t.Version).Distinct()
                .OrderBy(v => v, KubeVersionComparer.Instance).ToList()))
            .ToList();
    }
}

/// <summary>Kubernetes version priority: GA before beta before alpha, higher numbers first, then the rest by name.</summary>
public sealed class KubeVersionComparer : IComparer<string>
{
    public static readonly KubeVersionComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        var a = Parse(x ?? "");
        var b = Parse(y ?? "");
        if (a.Rank != b.Rank) return a.Rank.CompareTo(b.Rank);
        if (a.Rank == 3) return string.CompareOrdinal(x, y);
        if (a.Major != b.Major) return b.Major.CompareTo(a.Major);
        return b.Minor.CompareTo(a.Minor);
    }

    private static (int Rank, int Major, int Minor) Parse(string v)
    {
        var m = System.Text.RegularExpressions.Regex.Match(v, "^v([0-9]+)(?:(alpha|beta)([0-9]+))?$");
        if (!m.Success) return (3, 0, 0);
        var major = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (!m.Groups[2].Success) return (0, major, 0);
        var minor = int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
        return (m.Groups[2].Value == "beta" ? 1 : 2, major, minor);
    }
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Watch;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Store;

/// <summary>
/// The in-memory object store: JSON objects by storage key, namespace and name, one global resourceVersion counter,
/// uid / creationTimestamp / generation bookkeeping, finalizers, and garbage collection of owned objects. One lock
/// orders every write, so the resourceVersion sequence and the watch stream agree. Methods return copies; callers
/// may change what they get.
/// </summary>
public sealed partial class ObjectStore
{
    private const string ForegroundFinalizer = "foregroundDeletion";
    private const string GenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    private readonly object _gate = new();
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> _data = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string StorageKey, string Key)> _byUid = new(StringComparer.Ordinal);
    private readonly List<IAdmission> _admission = [];
    private readonly List<IStoreController> _controllers = [];
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _gracefulPodDeletion;
    private long _resourceVersion;

    public ObjectStore(ResourceRegistry registry, WatchHub hub, TimeProvider time, ILogger logger, bool gracefulPodDeletion)
    {
        Registry = registry;
        Hub = hub;
        _time = time;
        _logger = logger;
        _gracefulPodDeletion = gracefulPodDeletion;
        // Versions start from the clock (milliseconds × 1000), not 1: a client still holding a version from an
        // earlier run of the server is then below the window and gets 410 Gone, so it relists instead of resuming
        // into a history it never saw, and versions never go backwards across restarts.
        _resourceVersion = time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        hub.StartAt(_resourceVersion);
    }

    public ResourceRegistry Registry { get; }
    internal WatchHub Hub { get; }
    internal object Gate => _gate;

    public long CurrentResourceVersion
    {
        get { lock (_gate) return _resourceVersion; }
    }

    /// <summary>The current resourceVersion, for callers already holding <see cref="Gate"/>.</summary>
    internal long CurrentResourceVersionUnlocked => _resourceVersion;

    internal void AddAdmission(IAdmission admission) => _admission.Add(admission);

    private static string Key(string? ns, string name) => ns is null ? name : $"{ns}/{name}";

    private SortedDictionary<string, JsonObject> Bucket(string storageKey)
    {
        if (!_data.TryGetValue(storageKey, out var bucket))
        {
            bucket = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            _data[storageKey] = bucket;
        }
        return bucket;
    }

    private string Now() => _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public JsonObject Get(ResourceType type, string? ns, string name)
    {
        lock (_gate)
        {
            return Stamp(type, GetStored(type, ns, name).DeepClone().AsObject());
        }
    }

    public bool TryGet(ResourceType type, string? ns, string name, out JsonObject? obj)
    {
        lock (_gate)
        {
            obj = Bucket(type.StorageKey).TryGetValue(Key(ScopeNs(type, ns), name), out var o) ? Stamp(type, o.DeepClone().AsObject()) : null;
            return obj is not null;
        }
    }

    /// <summary>Every object of the type (in <paramref name="ns"/>, or all namespaces when null) passing the filter, and the list's resourceVersion.</summary>
    public (List<JsonObject> Items, long ResourceVersion) List(ResourceType type, string? ns, Func<JsonObject, bool>? filter = null)
    {
        lock (_gate)
        {
            var items = new List<JsonObject>();
            foreach (var o in Bucket(type.StorageKey).Values)
            {
                if (ns is not null && type.Namespaced && JsonPaths.GetString(o, "metadata.namespace") != ns) continue;
                if (filter is not null && !filter(o)) continue;
                items.Add(Stamp(type, o.DeepClone().AsObject()));
            }
            return (items, _resourceVersion);
        }
    }

    /// <summary>Opens a watch under the lock, handing the caller the objects that exist now when it asks for them.</summary>
    internal WatchSubscription? Subscribe(ResourceType type, long fromResourceVersion, Action<long, IReadOnlyList<JsonObject>>? initial)
    {
        lock (_gate)
        {
            if (initial is not null)
            {
                initial(_resourceVersion, Bucket(type.StorageKey).Values.Select(o => Stamp(type, o.DeepClone().AsObject())).ToList());
                fromResourceVersion = _resourceVersion;
            }
            return Hub.Subscribe(type.StorageKey, fromResourceVersion);
        }
    }

    /// <summary>
    /// The in-process watch: every change of <paramref name="type"/> after <paramref name="fromResourceVersion"/>
    /// (the same sequence HTTP watchers get, unfiltered). Throws a 410 <see cref="ApiException"/> when that version
    /// is older than the kept window.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(ResourceType type, long fromResourceVersion,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var sub = Subscribe(type, fromResourceVersion, null)
            ?? throw ApiException.Gone($"too old resource version: {fromResourceVersion} ({Hub.CompactedResourceVersion + 1})");
        try
        {
            await foreach (var e in sub.Reader.ReadAllAsync(cancellationToken))
            {
                yield return e with { Object = Stamp(type, e.Object.DeepClone().AsObject()), Old = e.Old?.DeepClone().AsObject() };
            }
        }
        finally
        {
            Unsubscribe(sub);
        }
    }

    /// <summary>How many objects each storage key holds (for metrics).</summary>
    public IReadOnlyList<(string Resource, int Count)> Counts()
    {
        lock (_gate) return _data.Select(kv => (kv.Key, kv.Value.Count)).ToList();
    }

    /// <summary>A stored object, uncopied, or null; only for admission code already under the lock.</summary>
    internal JsonObject? TryGetUnlocked(ResourceType type, string key) => Bucket(type.StorageKey).TryGetValue(key, out var o) ? o : null;

    /// <summary>The stored objects of a type, uncopied; only for admission code already under the lock.</summary>
    internal IEnumerable<JsonObject> ListUnlocked(ResourceType type) => Bucket(type.StorageKey).Values;

    internal void Unsubscribe(WatchSubscription sub)
    {
        lock (_gate) sub.Detach();
    }

    public JsonObject Create(ResourceType type, string? ns, JsonObject obj, WriteOptions? options = null)
    {
        options ??= new WriteOptions();
        lock (_gate)
        {
            ns = ScopeNs(type, ns);
            var meta = JsonPaths.Metadata(obj);
            var bodyNs = (string?)meta["namespace"];
            if (type.Namespaced)
            {
                if (bodyNs is { Length: > 0 } && ns is not null && bodyNs != ns)
                    throw ApiException.BadRequest($"the namespace of the provided object ({bodyNs}) does not match the namespace sent on the request ({ns})");
                ns ??= bodyNs;
                if (ns is null) throw ApiException.BadRequest($"{type.Kind} is namespaced: create it under /namespaces/NAMESPACE/{type.Resource} or set metadata.namespace");
                CheckNamespaceWritable(ns);
                meta["namespace"] = ns;
            }
            else
            {
                meta.Remove("namespace");
            }
            obj["apiVersion"] = type.ApiVersion;
            obj["kind"] = type.Kind;

            var bucket = Bucket(type.StorageKey);
            var name = (string?)meta["name"];
            if (string.IsNullOrEmpty(name))
            {
                var prefix = (string?)meta["generateName"];
                if (string.IsNullOrEmpty(prefix))
                    throw ApiException.Invalid(type, "", [new StatusCause("metadata.name", "name or generateName is required", "FieldValueRequired")]);
                do
                {
                    name = prefix + RandomNumberGenerator.GetString(GenerateNameAlphabet, 5);
                } while (bucket.ContainsKey(Key(ns, name)));
                meta["name"] = name;
            }
            Validation.ValidateObjectName(type, name);
            if (bucket.ContainsKey(Key(ns, name))) throw ApiException.AlreadyExists(type, name);

            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = Now();
            meta["generation"] = 1;
            meta.Remove("resourceVersion");
            meta.Remove("deletionTimestamp");
            meta.Remove("deletionGracePeriodSeconds");
            meta.Remove("selfLink");
            // Status is the controllers' to write, through /status; a create starts it empty (custom resources: absent).
            if (type.HasStatus && type.IsCustom) obj.Remove("status");
            else if (type.HasStatus) obj["status"] = new JsonObject();
            Validation.ValidateMetadata(type, obj);
            foreach (var a in _admission) a.Admit(type, obj, null, WriteTarget.Main, options);
            if (options.DryRun) return Stamp(type, obj);
            Commit(type, "ADDED", obj, null);
            return Stamp(type, obj.DeepClone().AsObject());
        }
    }

    /// <summary>
    /// Changes an existing object: <paramref name="change"/> gets a copy of the stored object and returns the wanted
    /// one (a PUT body, a patched copy). Stale metadata.resourceVersion → 409; the kind's status rules, generation and
    /// admission apply; a no-op change keeps the resourceVersion.
    /// </summary>
    public JsonObject Update(ResourceType type, string? ns, string name, Func<JsonObject, JsonObject> change, WriteTarget target = WriteTarget.Main, WriteOptions? options = null)
    {
        options ??= new WriteOptions();
        lock (_gate)
        {
            ns = ScopeNs(type, ns);
            var current = GetStored(type, ns, name);
            var currentView = Stamp(type, current.DeepClone().AsObject());
            var wanted = change(currentView.DeepClone().AsObject());
            var wantedMeta = JsonPaths.Metadata(wanted);

            var rv = (string?)wantedMeta["resourceVersion"];
            if (!string.IsNullOrEmpty(rv) && rv != (string?)current["metadata"]!["resourceVersion"])
                throw ApiException.Conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again");
            var wantedName = (string?)wantedMeta["name"];
            if (!string.IsNullOrEmpty(wantedName) && wantedName != name)
                throw ApiException.BadRequest($"the name of the object ({wantedName}) does not match the name on the URL ({name})");
            var wantedNs = (string?)wantedMeta["namespace"];
            if (type.Namespaced && !string.IsNullOrEmpty(wantedNs) && wantedNs != ns)
                throw ApiException.BadRequest($"the namespace of the object ({wantedNs}) does not match the namespace on the URL ({ns})");
            var wantedUid = (string?)wantedMeta["uid"];
            var currentMeta = current["metadata"]!.AsObject();
            if (!string.IsNullOrEmpty(wantedUid) && wantedUid != (string?)currentMeta["uid"])
                throw ApiException.Conflict(type, name, $"Precondition failed: UID in precondition: {wantedUid}, UID in object meta: {currentMeta["uid"]}");

            JsonObject next;
            if (target == WriteTarget.Status)
            {
                next = current.DeepClone().AsObject();
                next["status"] = wanted["status"]?.DeepClone();
            }
            else
            {
                next = wanted;
                var meta = JsonPaths.Metadata(next);
                foreach (var keep in new[] { "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation" })
                {
                    if (currentMeta[keep] is { } v) meta[keep] = v.DeepClone();
                    else meta.Remove(keep);
                }
                // A write that leaves managedFields out keeps them (as the real server does).
                if (meta["managedFields"] is null && currentMeta["managedFields"] is { } managed) meta["managedFields"] = managed.DeepClone();
                meta["name"] = name;
                if (ns is not null) meta["namespace"] = ns;
                else meta.Remove("namespace");
                next["apiVersion"] = type.ApiVersion;
                next["kind"] = type.Kind;
                if (type.HasStatus)
                {
                    if (current["status"] is { } status) next["status"] = status.DeepClone();
                    else next.Remove("status");
                }
                if (currentMeta["deletionTimestamp"] is not null)
                {
                    var before = Finalizers(current);
                    var added = Finalizers(next).Except(before).ToList();
                    if (added.Count > 0)
                        throw ApiException.Invalid(type, name, [new StatusCause("metadata.finalizers", $"no new finalizers can be added if the object is being deleted, found new finalizers [{string.Join(" ", added)}]", "FieldValueForbidden")]);
                }
            }
            JsonPaths.Metadata(next)["resourceVersion"] = currentMeta["resourceVersion"]?.DeepClone();
            JsonPaths.Metadata(next).Remove("selfLink");
            if (target == WriteTarget.Main) Validation.ValidateMetadata(type, next);
            foreach (var a in _admission) a.Admit(type, next, current, target, options);

            if (SpecChanged(current, next)) JsonPaths.Metadata(next)["generation"] = (JsonPaths.GetLong(current, "metadata.generation") ?? 0) + 1;
            if (JsonNode.DeepEquals(current, next)) return currentView;
            if (options.DryRun) return Stamp(type, next);

            Commit(type, "MODIFIED", next, current);
            if (next["metadata"]!["deletionTimestamp"] is not null && Finalizers(next).Count == 0)
            {
                Remove(type, next);
                CollectGarbage();
            }
            return Stamp(type, next.DeepClone().AsObject());
        }
    }

    /// <summary>Deletes, or marks for deletion where finalizers (or a foreground delete, or a Pod's grace) hold it. Returns the object as left.</summary>
    public JsonObject Delete(ResourceType type, string? ns, string name, DeleteRequest request)
    {
        lock (_gate)
        {
            ns = ScopeNs(type, ns);
            var current = GetStored(type, ns, name);
            var meta = current["metadata"]!.AsObject();
            if (request.PreconditionUid is { } uid && uid != (string?)meta["uid"])
                throw ApiException.Conflict(type, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta["uid"]}");
            if (request.PreconditionResourceVersion is { } rv && rv != (string?)meta["resourceVersion"])
                throw ApiException.Conflict(type, name, $"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {meta["resourceVersion"]}");
            if (type.StorageKey == "namespaces" && name is "default" or "kube-system")
                throw new ApiException(403, "Forbidden", $"namespaces \"{name}\" is forbidden: this namespace may not be deleted", "namespaces", name);
            if (request.DryRun) return Stamp(type, current.DeepClone().AsObject());

            var result = DeleteLocked(type, current, request);
            CollectGarbage();
            return result;
        }
    }

    private JsonObject DeleteLocked(ResourceType type, JsonObject current, DeleteRequest request)
    {
        var meta = current["metadata"]!.AsObject();
        var uid = (string)meta["uid"]!;
        if (request.Propagation == PropagationPolicy.Orphan) Orphan(uid);

        var next = current.DeepClone().AsObject();
        var nextMeta = next["metadata"]!.AsObject();
        var changed = false;
        if (request.Propagation == PropagationPolicy.Foreground && HasDependents(uid) && !Finalizers(next).Contains(ForegroundFinalizer))
        {
            var finalizers = nextMeta["finalizers"] as JsonArray ?? [];
            finalizers.Add(ForegroundFinalizer);
            nextMeta["finalizers"] = finalizers;
            changed = true;
        }
        if (type.StorageKey == "namespaces" && next["status"] is JsonObject nsStatus && (string?)nsStatus["phase"] != "Terminating")
        {
            nsStatus["phase"] = "Terminating";
            changed = true;
        }

        var holdForGrace = false;
        if (_gracefulPodDeletion && type.StorageKey == "pods" && JsonPaths.GetString(current, "spec.nodeName") is { Length: > 0 })
        {
            var grace = request.GracePeriodSeconds ?? JsonPaths.GetLong(current, "spec.terminationGracePeriodSeconds") ?? 30;
            if (grace > 0)
            {
                holdForGrace = true;
                var existing = JsonPaths.GetLong(current, "metadata.deletionGracePeriodSeconds");
                if (existing is null || grace < existing)
                {
                    nextMeta["deletionGracePeriodSeconds"] = grace;
                    nextMeta["deletionTimestamp"] = _time.GetUtcNow().UtcDateTime.AddSeconds(grace).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                    changed = true;
                }
            }
        }

        var held = holdForGrace || Finalizers(next).Count > 0 || (type.StorageKey == "namespaces" && NamespaceHasContent((string)meta["name"]!));
        if (!held)
        {
            if (nextMeta["deletionTimestamp"] is null) nextMeta["deletionTimestamp"] = Now();
            Remove(type, next);
            return Stamp(type, next);
        }
        if (nextMeta["deletionTimestamp"] is null)
        {
            nextMeta["deletionTimestamp"] = Now();
            nextMeta["deletionGracePeriodSeconds"] ??= 0;
            changed = true;
        }
        if (changed) Commit(type, "MODIFIED", next, current);
        return Stamp(type, next.DeepClone().AsObject());
    }

    /// <summary>Drops whatever a storage key still holds (a CustomResourceDefinition that is gone).</summary>
    internal void DropAll(ResourceType type)
    {
        foreach (var obj in Bucket(type.StorageKey).Values.ToList()) Remove(type, obj.DeepClone().AsObject());
    }

    internal void AddController(IStoreController controller) => _controllers.Add(controller);

    /// <summary>For store controllers, under the lock: starts deleting a stored object (finalizers still hold it). False when it already is.</summary>
    internal bool DeleteUnlocked(ResourceType type, JsonObject stored)
    {
        if (stored["metadata"]!["deletionTimestamp"] is not null) return false;
        DeleteLocked(type, stored.DeepClone().AsObject(), new DeleteRequest());
        return true;
    }

    /// <summary>For store controllers, under the lock: takes one finalizer off; the object goes if it was the last one and it is being deleted.</summary>
    internal void RemoveFinalizerUnlocked(ResourceType type, JsonObject stored, string finalizer)
    {
        var next = stored.DeepClone().AsObject();
        var left = Finalizers(stored).Where(f => f != finalizer).ToList();
        if (left.Count == 0) next["metadata"]!.AsObject().Remove("finalizers");
        else next["metadata"]!["finalizers"] = new JsonArray(left.Select(f => (JsonNode)f).ToArray());
        if (left.Count == 0 && next["metadata"]!["deletionTimestamp"] is not null) Remove(type, next);
        else Commit(type, "MODIFIED", next, stored);
    }

    private void Remove(ResourceType type, JsonObject obj)
    {
        var meta = obj["metadata"]!.AsObject();
        var key = Key(type.Namespaced ? (string?)meta["namespace"] : null, (string)meta["name"]!);
        var bucket = Bucket(type.StorageKey);
        if (!bucket.Remove(key, out var stored)) return;
        _byUid.Remove((string)meta["uid"]!);
        var rv = ++_resourceVersion;
        var final = obj.DeepClone().AsObject();
        final["metadata"]!["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture);
        Hub.Publish(new WatchEvent(rv, "DELETED", type.StorageKey, (string?)meta["namespace"], final, stored));
        LogChanged(_logger, "DELETED", type.QualifiedResource, key, rv);
        foreach (var a in _admission) a.Committed(type, "DELETED", final);
    }

    private void Commit(ResourceType type, string eventType, JsonObject obj, JsonObject? old)
    {
        var meta = obj["metadata"]!.AsObject();
        var rv = ++_resourceVersion;
        meta["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture);
        var ns = type.Namespaced ? (string?)meta["namespace"] : null;
        var key = Key(ns, (string)meta["name"]!);
        var stored = obj.DeepClone().AsObject();
        Bucket(type.StorageKey)[key] = stored;
        _byUid[(string)meta["uid"]!] = (type.StorageKey, key);
        Hub.Publish(new WatchEvent(rv, eventType, type.StorageKey, ns, stored.DeepClone().AsObject(), old));
        LogChanged(_logger, eventType, type.QualifiedResource, key, rv);
        foreach (var a in _admission) a.Committed(type, eventType, stored.DeepClone().AsObject());
    }

    /// <summary>
    /// Runs to a fixed point: deletes dependents whose owners are all gone or being deleted in the foreground, lets a
    /// foreground-deleting owner go once nothing it owns is left, and empties terminating namespaces.
    /// </summary>
    private void CollectGarbage()
    {
        for (var pass = 0; pass < 10_000; pass++)
        {
            var changed = false;
            foreach (var (storageKey, bucket) in _data.ToList())
            {
                var type = Registry.FindStorage(storageKey);
                if (type is null) continue;
                foreach (var obj in bucket.Values.ToList())
                {
                    var meta = obj["metadata"]!.AsObject();
                    var deleting = meta["deletionTimestamp"] is not null;
                    if (!deleting && meta["ownerReferences"] is JsonArray { Count: > 0 } refs && refs.All(r => OwnerGoneOrForeground((string?)r?["uid"])))
                    {
                        DeleteLocked(type, obj, new DeleteRequest { Propagation = ForegroundOwner(refs) ? PropagationPolicy.Foreground : PropagationPolicy.Background });
                        changed = true;
                        continue;
                    }
                    if (deleting && Finalizers(obj).Contains(ForegroundFinalizer) && !HasDependents((string)meta["uid"]!))
                    {
                        var next = obj.DeepClone().AsObject();
                        var finalizers = new JsonArray(Finalizers(obj).Where(f => f != ForegroundFinalizer).Select(f => (JsonNode)f).ToArray());
                        if (finalizers.Count == 0) next["metadata"]!.AsObject().Remove("finalizers");
                        else next["metadata"]!["finalizers"] = finalizers;
                        if (finalizers.Count == 0) Remove(type, next);
                        else Commit(type, "MODIFIED", next, obj);
                        changed = true;
                        continue;
                    }
                    if (deleting && storageKey == "namespaces")
                    {
                        var nsName = (string)meta["name"]!;
                        changed |= EmptyNamespace(nsName);
                        if (!NamespaceHasContent(nsName) && Finalizers(obj).Count == 0)
                        {
                            Remove(type, obj.DeepClone().AsObject());
                            changed = true;
                        }
                    }
                }
            }
            foreach (var controller in _controllers) changed |= controller.Reconcile();
            if (!changed) return;
        }
        LogGcNoFixpoint(_logger);
    }

    private bool OwnerGoneOrForeground(string? uid)
    {
        if (uid is null || !_byUid.TryGetValue(uid, out var at)) return true;
        var owner = _data[at.StorageKey][at.Key];
        return owner["metadata"]!["deletionTimestamp"] is not null && Finalizers(owner).Contains(ForegroundFinalizer);
    }

    private bool ForegroundOwner(JsonArray refs) => refs.Any(r => (string?)r?["uid"] is { } uid && _byUid.ContainsKey(uid));

    private bool HasDependents(string uid) =>
        _data.Values.Any(b => b.Values.Any(o => o["metadata"]!["ownerReferences"] is JsonArray refs && refs.Any(r => (string?)r?["uid"] == uid)));

    private void Orphan(string ownerUid)
    {
        foreach (var (storageKey, bucket) in _data.ToList())
        {
            var type = Registry.FindStorage(storageKey);
            if (type is null) continue;
            foreach (var obj in bucket.Values.ToList())
            {
                if (obj["metadata"]!["ownerReferences"] is not JsonArray refs || !refs.Any(r => (string?)r?["uid"] == ownerUid)) continue;
                var next = obj.DeepClone().AsObject();
                var kept = new JsonArray(refs.Where(r => (string?)r?["uid"] != ownerUid).Select(r => r!.DeepClone()).ToArray());
                if (kept.Count == 0) next["metadata"]!.AsObject().Remove("ownerReferences");
                else next["metadata"]!["ownerReferences"] = kept;
                Commit(type, "MODIFIED", next, obj);
            }
        }
    }

    private bool NamespaceHasContent(string ns) =>
        _data.Any(kv => Registry.FindStorage(kv.Key) is { Namespaced: true } && kv.Value.Values.Any(o => JsonPaths.GetString(o, "metadata.namespace") == ns));

    private bool EmptyNamespace(string ns)
    {
        var changed = false;
        foreach (var (storageKey, bucket) in _data.ToList())
        {
            var type = Registry.FindStorage(storageKey);
            if (type is not { Namespaced: true }) continue;
            foreach (var obj in bucket.Values.ToList())
            {
                if (JsonPaths.GetString(obj, "metadata.namespace") != ns || obj["metadata"]!["deletionTimestamp"] is not null) continue;
                DeleteLocked(type, obj, new DeleteRequest { GracePeriodSeconds = 0 });
                changed = true;
            }
        }
        return changed;
    }

    private void CheckNamespaceWritable(string ns)
    {
        if (!Bucket("namespaces").TryGetValue(ns, out var namespaceObj))
            throw new ApiException(404, "NotFound", $"namespaces \"{ns}\" not found", "namespaces", ns);
        if (namespaceObj["metadata"]!["deletionTimestamp"] is not null)
            throw new ApiException(403, "Forbidden", $"unable to create new content in namespace {ns} because it is being terminated", "namespaces", ns);
    }

    internal static List<string> Finalizers(JsonObject obj) =>
        obj["metadata"]?["finalizers"] is JsonArray a ? a.Select(f => (string?)f).OfType<string>().ToList() : [];

    private static bool SpecChanged(JsonObject a, JsonObject b)
    {
        foreach (var key in a.Select(p => p.Key).Union(b.Select(p => p.Key)))
        {
            if (key is "metadata" or "status" or "apiVersion" or "kind") continue;
            if (!JsonNode.DeepEquals(a[key], b[key])) return true;
        }
        return false;
    }

    private JsonObject GetStored(ResourceType type, string? ns, string name) =>
        Bucket(type.StorageKey).TryGetValue(Key(ScopeNs(type, ns), name), out var o) ? o : throw ApiException.NotFound(type, name);

    private static string? ScopeNs(ResourceType type, string? ns) => type.Namespaced ? ns : null;

    /// <summary>Shows a stored object at the version asked for (objects of all served versions share storage).</summary>
    private static JsonObject Stamp(ResourceType type, JsonObject obj)
    {
        obj["apiVersion"] = type.ApiVersion;
        obj["kind"] = type.Kind;
        return obj;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{EventType} {Resource} {Key} at resourceVersion {ResourceVersion}")]
    private static partial void LogChanged(ILogger logger, string eventType, string resource, string key, long resourceVersion);

    [LoggerMessage(Level = LogLevel.Error, Message = "Garbage collection did not settle after 10000 passes")]
    private static partial void LogGcNoFixpoint(ILogger logger);
}

using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Patch;
using Dynamo.DevCluster.Selectors;
using Dynamo.DevCluster.Store;
using Dynamo.DevCluster.Tables;
using Microsoft.AspNetCore.Http;

namespace Dynamo.DevCluster.Http;

/// <summary>The REST verbs on resource URLs: create, get, list, update, patch, delete, deletecollection, and the status and scale subresources.</summary>
internal sealed class ResourceHandler
{
    private readonly ObjectStore _store;
    private readonly TablePrinter _tables;
    private readonly WatchHandler _watch;
    private readonly TimeProvider _time;

    public ResourceHandler(ObjectStore store, TablePrinter tables, WatchHandler watch, TimeProvider time)
    {
        _store = store;
        _tables = tables;
        _watch = watch;
        _time = time;
    }

    public async Task HandleAsync(HttpContext ctx, RequestInfo info)
    {
        var request = ctx.Request;
        var ct = ctx.RequestAborted;
        var method = request.Method;
        if (info.Type.DeprecationWarning is { } deprecation)
            ctx.Response.Headers.Append("Warning", $"299 - \"{deprecation.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        if (info.Subresource == "binding" && info.Type.StorageKey == "pods" && info.Name is not null)
        {
            if (method != "POST") throw ApiException.MethodNotAllowed($"{method} is not supported on pods/binding (POST a Binding)");
            await BindAsync(ctx, info, ct);
            return;
        }
        if (info.Subresource is not null and not ("status" or "scale"))
            throw new ApiException(404, "NotFound", $"the server could not find the requested resource: subresource \"{info.Subresource}\" of {info.Type.QualifiedResource} is not served");
        if (info.Subresource == "status" && !info.Type.HasStatus)
            throw new ApiException(404, "NotFound", $"{info.Type.QualifiedResource} has no status subresource");
        if (info.Subresource == "scale" && info.Type.Scale is null)
            throw new ApiException(404, "NotFound", $"{info.Type.QualifiedResource} has no scale subresource");
        if (info.Namespace is not null && !info.Type.Namespaced)
            throw new ApiException(404, "NotFound", $"{info.Type.QualifiedResource} is cluster-scoped: drop /namespaces/{info.Namespace} from the URL");

        if (info.Name is null)
        {
            switch (method)
            {
                case "GET" when info.WatchPath || IsTrue(request.Query["watch"]):
                    await _watch.WatchAsync(ctx, info);
                    return;
                case "GET":
                    await ListAsync(ctx, info);
                    return;
                case "POST":
                    await CreateAsync(ctx, info);
                    return;
                case "DELETE":
                    await DeleteCollectionAsync(ctx, info);
                    return;
                default:
                    throw ApiException.MethodNotAllowed($"{method} is not supported on a collection of {info.Type.QualifiedResource} (use GET, POST or DELETE)");
            }
        }
        if (info.WatchPath || (method == "GET" && IsTrue(request.Query["watch"])))
        {
            await _watch.WatchAsync(ctx, info);
            return;
        }
        if (info.Type.Namespaced && info.Namespace is null)
            throw new ApiException(404, "NotFound", $"{info.Type.QualifiedResource} is namespaced: use /namespaces/NAMESPACE/{info.Type.Resource}/{info.Name}");

        switch (method)
        {
            case "GET":
                await GetAsync(ctx, info);
                break;
            case "PUT":
                await UpdateAsync(ctx, info, ct);
                break;
            case "PATCH":
                await PatchAsync(ctx, info, ct);
                break;
            case "DELETE" when info.Subresource is null:
                await DeleteAsync(ctx, info, ct);
                break;
            default:
                throw ApiException.MethodNotAllowed($"{method} is not supported on {info.Type.QualifiedResource}{(info.Subresource is null ? "" : "/" + info.Subresource)}");
        }
    }

    private async Task GetAsync(HttpContext ctx, RequestInfo info)
    {
        var obj = _store.Get(info.Type, info.Namespace, info.Name!);
        if (info.Subresource == "scale")
        {
            await Negotiation.WriteJsonAsync(ctx.Response, 200, ToScale(info.Type, obj), ctx.RequestAborted);
            return;
        }
        if (Negotiation.WantsTable(ctx.Request))
        {
            var table = _tables.Print(info.Type, [obj], JsonPaths.GetString(obj, "metadata.resourceVersion"), null, IncludeObjectParam(ctx.Request));
            await Negotiation.WriteJsonAsync(ctx.Response, 200, table, ctx.RequestAborted);
            return;
        }
        await Negotiation.WriteJsonAsync(ctx.Response, 200, obj, ctx.RequestAborted);
    }

    private async Task ListAsync(HttpContext ctx, RequestInfo info)
    {
        var q = ctx.Request.Query;
        var labels = LabelSelector.Parse(q["labelSelector"]);
        var fields = FieldSelector.Parse(q["fieldSelector"]);
        var (items, rv) = _store.List(info.Type, info.Namespace, o => labels.Matches(o["metadata"]?["labels"] as JsonObject) && fields.Matches(o));
        CheckListResourceVersion(q["resourceVersion"], q["resourceVersionMatch"], rv);
        if (IsTrue(q["sendInitialEvents"]))
            throw ApiException.BadRequest("sendInitialEvents is only served on watch requests (add watch=true)");

        string? continueToken = null;
        long? remaining = null;
        if (q["continue"].ToString() is { Length: > 0 } cont)
        {
            var after = DecodeContinue(cont);
            items = items.Where(o => string.CompareOrdinal(ItemKey(o), after) > 0).ToList();
        }
        if (q["limit"].ToString() is { Length: > 0 } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var limit))
                throw ApiException.BadRequest($"limit \"{limitText}\" is not a non-negative integer");
            if (limit > 0 && items.Count > limit)
            {
                remaining = items.Count - limit;
                items = items.Take(limit).ToList();
                continueToken = Convert.ToBase64String(Encoding.UTF8.GetBytes(ItemKey(items[^1])));
            }
        }
        var rvText = rv.ToString(CultureInfo.InvariantCulture);
        if (Negotiation.WantsTable(ctx.Request))
        {
            await Negotiation.WriteJsonAsync(ctx.Response, 200, _tables.Print(info.Type, items, rvText, continueToken, IncludeObjectParam(ctx.Request)), ctx.RequestAborted);
            return;
        }
        var meta = new JsonObject { ["resourceVersion"] = rvText };
        if (continueToken is not null)
        {
            meta["continue"] = continueToken;
            meta["remainingItemCount"] = remaining;
        }
        var list = new JsonObject
        {
            ["kind"] = info.Type.ListKind,
            ["apiVersion"] = info.Type.ApiVersion,
            ["metadata"] = meta,
            ["items"] = new JsonArray(items.Select(i => (JsonNode)i).ToArray()),
        };
        await Negotiation.WriteJsonAsync(ctx.Response, 200, list, ctx.RequestAborted);
    }

    private async Task CreateAsync(HttpContext ctx, RequestInfo info)
    {
        var body = await ReadObjectAsync(ctx.Request, info, ctx.RequestAborted);
        if (info.Type.Namespaced && info.Namespace is null)
            throw ApiException.MethodNotAllowed($"{info.Type.QualifiedResource} is namespaced: POST to /namespaces/NAMESPACE/{info.Type.Resource}");
        var options = WriteOptionsFrom(ctx.Request);
        var created = _store.Create(info.Type, info.Namespace, body, options);
        AddWarnings(ctx.Response, options);
        await Negotiation.WriteJsonAsync(ctx.Response, 201, created, ctx.RequestAborted);
    }

    private async Task UpdateAsync(HttpContext ctx, RequestInfo info, CancellationToken ct)
    {
        var options = WriteOptionsFrom(ctx.Request);
        JsonObject result;
        if (info.Subresource == "scale")
        {
            var scale = await ReadJsonObjectAsync(ctx.Request, ct);
            result = WriteScale(info, options, _ => scale);
        }
        else
        {
            var body = await ReadObjectAsync(ctx.Request, info, ct);
            result = _store.Update(info.Type, info.Namespace, info.Name!, _ => body,
                info.Subresource == "status" ? WriteTarget.Status : WriteTarget.Main, options);
        }
        AddWarnings(ctx.Response, options);
        await Negotiation.WriteJsonAsync(ctx.Response, 200, result, ct);
    }

    private async Task PatchAsync(HttpContext ctx, RequestInfo info, CancellationToken ct)
    {
        var media = Negotiation.MediaType(ctx.Request);
        if (media == "application/apply-patch+yaml")
        {
            await ApplyAsync(ctx, info, ct);
            return;
        }
        var patch = await Negotiation.ReadJsonAsync(ctx.Request, ct);
        var options = WriteOptionsFrom(ctx.Request);
        Func<JsonObject, JsonObject> apply = media switch
        {
            "application/merge-patch+json" => current => AsObject(JsonMergePatch.Apply(current, patch)),
            "application/json-patch+json" => current => AsObject(JsonPatch.Apply(current, patch)),
            "application/strategic-merge-patch+json" when info.Type.IsCustom => throw ApiException.UnsupportedMediaType(
                "strategic merge patch is not supported for custom resources: use application/merge-patch+json or application/json-patch+json"),
            "application/strategic-merge-patch+json" => current => StrategicMergePatch.Apply(info.Subresource == "scale" ? "Scale" : info.Type.Kind, current, patch),
            "application/apply-patch+cbor" => throw ApiException.UnsupportedMediaType(
                "CBOR apply bodies are not supported: send server-side apply as application/apply-patch+yaml with a JSON body"),
            _ => throw ApiException.UnsupportedMediaType(
                $"the body of the request was in an unknown format ({media}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"),
        };
        if (ctx.Request.Query["force"].Count > 0)
            throw ApiException.BadRequest("force is only valid for server-side apply (application/apply-patch+yaml)");
        JsonObject result = info.Subresource == "scale"
            ? WriteScale(info, options, apply)
            : _store.Update(info.Type, info.Namespace, info.Name!, apply, info.Subresource == "status" ? WriteTarget.Status : WriteTarget.Main, options);
        AddWarnings(ctx.Response, options);
        await Negotiation.WriteJsonAsync(ctx.Response, 200, result, ct);
    }

    /// <summary>Server-side apply: creates the object when missing, else applies the intent as its field manager.</summary>
    private async Task ApplyAsync(HttpContext ctx, RequestInfo info, CancellationToken ct)
    {
        var q = ctx.Request.Query;
        var manager = q["fieldManager"].ToString();
        if (manager.Length == 0) throw ApiException.BadRequest("PATCH requests of type apply must set the fieldManager query parameter");
        var force = q["force"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            var other => throw ApiException.BadRequest($"force \"{other}\" is not true or false"),
        };
        if (info.Subresource == "scale")
            throw ApiException.UnsupportedMediaType("server-side apply to the scale subresource is not supported: patch it with application/merge-patch+json");
        JsonObject intent;
        try
        {
            intent = await Negotiation.ReadJsonAsync(ctx.Request, ct) as JsonObject ?? throw ApiException.BadRequest("an apply body must be an object");
        }
        catch (ApiException e) when (e.Code == 400)
        {
            throw ApiException.BadRequest($"apply bodies are read as JSON (YAML's JSON form; kubectl and client libraries send that): {e.Message}");
        }
        var apiVersion = (string?)intent["apiVersion"];
        var kind = (string?)intent["kind"];
        if (apiVersion != info.Type.ApiVersion || kind != info.Type.Kind)
            throw ApiException.BadRequest($"an apply body needs apiVersion {info.Type.ApiVersion} and kind {info.Type.Kind} (got {apiVersion ?? "none"} and {kind ?? "none"})");
        var bodyName = JsonPaths.GetString(intent, "metadata.name");
        if (bodyName is not null && bodyName != info.Name)
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({info.Name})");

        var options = WriteOptionsFrom(ctx.Request);
        var target = info.Subresource == "status" ? WriteTarget.Status : WriteTarget.Main;
        var now = ServerSideApply.Timestamp(_time.GetUtcNow());
        JsonObject Apply(JsonObject? current) =>
            ServerSideApply.Apply(info.Type.Kind, !info.Type.IsCustom, current, intent, manager, force, info.Type.ApiVersion, now);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var updated = _store.Update(info.Type, info.Namespace, info.Name!, current => Apply(current), target, options);
                AddWarnings(ctx.Response, options);
                await Negotiation.WriteJsonAsync(ctx.Response, 200, updated, ct);
                return;
            }
            catch (ApiException e) when (e.Code == 404 && e.Name == info.Name && target == WriteTarget.Main)
            {
                try
                {
                    var created = Apply(null);
                    JsonPaths.Metadata(created)["name"] = info.Name;
                    created = _store.Create(info.Type, info.Namespace, created, options);
                    AddWarnings(ctx.Response, options);
                    await Negotiation.WriteJsonAsync(ctx.Response, 201, created, ct);
                    return;
                }
                catch (ApiException again) when (again.Reason == "AlreadyExists" && attempt == 0)
                {
                    // Created meanwhile: apply to it.
                }
            }
        }
    }

    /// <summary>pods/binding: what a scheduler posts to put a pending Pod on a node (spec.nodeName), once.</summary>
    private async Task BindAsync(HttpContext ctx, RequestInfo info, CancellationToken ct)
    {
        var binding = await ReadJsonObjectAsync(ctx.Request, ct);
        if ((string?)binding["kind"] is { } kind && kind != "Binding")
            throw ApiException.BadRequest($"a pods/binding body is a Binding, not {kind}");
        var node = JsonPaths.GetString(binding, "target.name");
        if (string.IsNullOrEmpty(node))
            throw new ApiException(422, "Invalid", $"Binding \"{info.Name}\" is invalid: target.name: Required value", "Binding", info.Name, null,
                [new StatusCause("target.name", "Required value", "FieldValueRequired")]);
        var options = WriteOptionsFrom(ctx.Request);
        _store.Update(info.Type, info.Namespace, info.Name!, pod =>
        {
            if (JsonPaths.GetString(pod, "spec.nodeName") is { Length: > 0 } bound)
                throw ApiException.Conflict(info.Type, info.Name!, $"pod {info.Name} is already assigned to node \"{bound}\"");
            if (JsonPaths.GetString(pod, "metadata.deletionTimestamp") is not null)
                throw ApiException.Conflict(info.Type, info.Name!, $"pod {info.Name} is being deleted, cannot be assigned to a host");
            JsonPaths.Set(pod, "spec.nodeName", node);
            JsonPaths.Metadata(pod).Remove("resourceVersion");
            return pod;
        }, WriteTarget.Main, options);
        await Negotiation.WriteJsonAsync(ctx.Response, 201, new JsonObject
        {
            ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Success", ["code"] = 201,
        }, ct);
    }

    private async Task DeleteAsync(HttpContext ctx, RequestInfo info, CancellationToken ct)
    {
        var request = await DeleteRequestFrom(ctx.Request, ct);
        var result = _store.Delete(info.Type, info.Namespace, info.Name!, request);
        await Negotiation.WriteJsonAsync(ctx.Response, 200, result, ct);
    }

    private async Task DeleteCollectionAsync(HttpContext ctx, RequestInfo info)
    {
        var q = ctx.Request.Query;
        var labels = LabelSelector.Parse(q["labelSelector"]);
        var fields = FieldSelector.Parse(q["fieldSelector"]);
        var request = await DeleteRequestFrom(ctx.Request, ctx.RequestAborted);
        var (items, _) = _store.List(info.Type, info.Namespace, o => labels.Matches(o["metadata"]?["labels"] as JsonObject) && fields.Matches(o));
        foreach (var item in items)
        {
            try
            {
                _store.Delete(info.Type, JsonPaths.GetString(item, "metadata.namespace"), JsonPaths.GetString(item, "metadata.name")!, request);
            }
            catch (ApiException e) when (e.Code == 404)
            {
                // Gone between the list and the delete: what deletecollection asked for.
            }
        }
        await Negotiation.WriteJsonAsync(ctx.Response, 200, new JsonObject
        {
            ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Success",
            ["details"] = new JsonObject { ["kind"] = info.Type.Resource, ["group"] = info.Type.Group },
        }, ctx.RequestAborted);
    }

    /// <summary>Reads or writes replicas through the autoscaling/v1 Scale view of the object.</summary>
    private JsonObject WriteScale(RequestInfo info, WriteOptions options, Func<JsonObject, JsonObject> change)
    {
        var scale = info.Type.Scale!;
        var updated = _store.Update(info.Type, info.Namespace, info.Name!, current =>
        {
            var wanted = change(ToScale(info.Type, current));
            var wantedRv = JsonPaths.GetString(wanted, "metadata.resourceVersion");
            if (wantedRv is { Length: > 0 } && wantedRv != JsonPaths.GetString(current, "metadata.resourceVersion"))
                throw ApiException.Conflict(info.Type, info.Name!, "the object has been modified; please apply your changes to the latest version and try again");
            var replicas = JsonPaths.Get(wanted, "spec.replicas");
            if (replicas is null)
                throw new ApiException(422, "Invalid", $"Scale.autoscaling \"{info.Name}\" is invalid: spec.replicas: Required value",
                    "Scale", info.Name, "autoscaling", [new StatusCause("spec.replicas", "Required value", "FieldValueRequired")]);
            if (JsonPaths.GetLong(wanted, "spec.replicas") is not { } n || n < 0)
                throw new ApiException(422, "Invalid", $"Scale.autoscaling \"{info.Name}\" is invalid: spec.replicas: Invalid value: {replicas.ToJsonString()}: must be greater than or equal to 0",
                    "Scale", info.Name, "autoscaling", [new StatusCause("spec.replicas", $"Invalid value: {replicas.ToJsonString()}: must be greater than or equal to 0")]);
            JsonPaths.Set(current, scale.SpecReplicasPath, n);
            JsonPaths.Metadata(current).Remove("resourceVersion");
            return current;
        }, WriteTarget.Main, options);
        return ToScale(info.Type, updated);
    }

    private static JsonObject ToScale(ResourceType type, JsonObject obj)
    {
        var scale = type.Scale!;
        var meta = obj["metadata"]!.AsObject();
        var selector = type.IsCustom
            ? (scale.LabelSelectorPath is { } p ? JsonPaths.Scalar(JsonPaths.Get(obj, p)) : null)
            : LabelSelector.FormatObject(JsonPaths.Get(obj, "spec.selector") as JsonObject);
        var status = new JsonObject { ["replicas"] = JsonPaths.GetLong(obj, scale.StatusReplicasPath) ?? 0 };
        if (!string.IsNullOrEmpty(selector)) status["selector"] = selector;
        var scaleMeta = new JsonObject
        {
            ["name"] = meta["name"]?.DeepClone(),
            ["uid"] = meta["uid"]?.DeepClone(),
            ["resourceVersion"] = meta["resourceVersion"]?.DeepClone(),
            ["creationTimestamp"] = meta["creationTimestamp"]?.DeepClone(),
        };
        if (meta["namespace"] is { } ns) scaleMeta["namespace"] = ns.DeepClone();
        var spec = new JsonObject();
        if (JsonPaths.GetLong(obj, scale.SpecReplicasPath) is { } replicas) spec["replicas"] = replicas;
        return new JsonObject
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = scaleMeta,
            ["spec"] = spec,
            ["status"] = status,
        };
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpRequest request, RequestInfo info, CancellationToken ct)
    {
        var obj = await ReadJsonObjectAsync(request, ct);
        var apiVersion = (string?)obj["apiVersion"];
        var kind = (string?)obj["kind"];
        if (!string.IsNullOrEmpty(kind) && kind != info.Type.Kind)
            throw ApiException.BadRequest($"the kind of the object ({kind}) does not match the resource of the URL ({info.Type.QualifiedResource}, kind {info.Type.Kind})");
        if (!string.IsNullOrEmpty(apiVersion) && apiVersion != info.Type.ApiVersion)
            throw ApiException.BadRequest($"the apiVersion of the object ({apiVersion}) does not match the URL ({info.Type.ApiVersion})");
        return obj;
    }

    private static async Task<JsonObject> ReadJsonObjectAsync(HttpRequest request, CancellationToken ct)
    {
        var media = Negotiation.MediaType(request);
        if (media == KubeProtobuf.MediaType) return KubeProtobuf.Decode(await ReadBytesAsync(request, ct));
        if (media != Negotiation.Json)
            throw ApiException.UnsupportedMediaType($"the body of the request was in an unknown format ({media}) - accepted media types include: application/json, {KubeProtobuf.MediaType} (for {string.Join(", ", KubeProtobuf.Kinds)})");
        return await Negotiation.ReadJsonAsync(request, ct) as JsonObject ?? throw ApiException.BadRequest("the request body must be a JSON object");
    }

    private static async Task<byte[]> ReadBytesAsync(HttpRequest request, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    private static JsonObject AsObject(JsonNode? node) =>
        node as JsonObject ?? throw ApiException.BadRequest("the patch did not produce a JSON object");

    internal static WriteOptions WriteOptionsFrom(HttpRequest request)
    {
        var q = request.Query;
        var dryRun = q["dryRun"].ToString();
        if (dryRun.Length > 0 && dryRun != "All")
            throw ApiException.BadRequest($"dryRun \"{dryRun}\" is not supported: the only value is All");
        var fv = q["fieldValidation"].ToString();
        var validation = fv switch
        {
            "" or "Warn" => FieldValidation.Warn,
            "Strict" => FieldValidation.Strict,
            "Ignore" => FieldValidation.Ignore,
            _ => throw ApiException.BadRequest($"fieldValidation \"{fv}\" is not one of Ignore, Warn, Strict"),
        };
        return new WriteOptions { DryRun = dryRun == "All", FieldValidation = validation };
    }

    private static async Task<DeleteRequest> DeleteRequestFrom(HttpRequest request, CancellationToken ct)
    {
        var q = request.Query;
        JsonObject? body = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            body = Negotiation.MediaType(request) == KubeProtobuf.MediaType
                ? KubeProtobuf.Decode(await ReadBytesAsync(request, ct))
                : await Negotiation.ReadJsonAsync(request, ct) as JsonObject;
        }
        var policy = (string?)body?["propagationPolicy"] ?? q["propagationPolicy"].ToString();
        var orphan = body?["orphanDependents"] is JsonValue ov && ov.TryGetValue<bool>(out var ob) ? ob
            : q["orphanDependents"].ToString() is { Length: > 0 } oq && bool.Parse(oq);
        var propagation = policy switch
        {
            null or "" => orphan ? PropagationPolicy.Orphan : PropagationPolicy.Background,
            "Background" => PropagationPolicy.Background,
            "Foreground" => PropagationPolicy.Foreground,
            "Orphan" => PropagationPolicy.Orphan,
            _ => throw ApiException.BadRequest($"propagationPolicy \"{policy}\" is not one of Orphan, Background, Foreground"),
        };
        long? grace = JsonPaths.GetLong(body, "gracePeriodSeconds") is { } g ? g
            : q["gracePeriodSeconds"].ToString() is { Length: > 0 } gq ? long.Parse(gq, CultureInfo.InvariantCulture) : null;
        var dryRun = body?["dryRun"] is JsonArray dr ? dr.Select(d => (string?)d).ToList() : q["dryRun"].Select(d => d).ToList();
        if (dryRun.Any(d => d != "All")) throw ApiException.BadRequest("dryRun: the only value is All");
        return new DeleteRequest
        {
            Propagation = propagation,
            PreconditionUid = (string?)body?["preconditions"]?["uid"],
            PreconditionResourceVersion = (string?)body?["preconditions"]?["resourceVersion"],
            GracePeriodSeconds = grace,
            DryRun = dryRun.Count > 0,
        };
    }

    private static void CheckListResourceVersion(string? rvText, string? match, long current)
    {
        if (string.IsNullOrEmpty(rvText) || rvText == "0")
        {
            if (match == "Exact") throw ApiException.BadRequest("resourceVersionMatch Exact needs a resourceVersion other than 0");
            return;
        }
        if (!long.TryParse(rvText, NumberStyles.None, CultureInfo.InvariantCulture, out var rv))
            throw ApiException.BadRequest($"resourceVersion \"{rvText}\" is not a number");
        switch (match)
        {
            case "Exact" when rv != current:
                throw ApiException.Gone($"too old resource version: {rv} ({current}): this server keeps only the current state for lists");
            case null or "" or "NotOlderThan" when rv > current:
                throw new ApiException(504, "Timeout", $"Too large resource version: {rv}, current: {current}", retryAfterSeconds: 1);
            case null or "" or "NotOlderThan" or "Exact":
                return;
            default:
                throw ApiException.BadRequest($"resourceVersionMatch \"{match}\" is not one of NotOlderThan, Exact");
        }
    }

    private static IncludeObject IncludeObjectParam(HttpRequest request) => request.Query["includeObject"].ToString() switch
    {
        "" or "Metadata" => IncludeObject.Metadata,
        "None" => IncludeObject.None,
        "Object" => IncludeObject.Object,
        var other => throw ApiException.BadRequest($"includeObject \"{other}\" is not one of None, Metadata, Object"),
    };

    private static string ItemKey(JsonObject o) => $"{JsonPaths.GetString(o, "metadata.namespace")}/{JsonPaths.GetString(o, "metadata.name")}";

    private static string DecodeContinue(string token)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(token));
        }
        catch (FormatException)
        {
            throw ApiException.BadRequest($"continue token \"{token}\" is not one this server issued");
        }
    }

    internal static void AddWarnings(HttpResponse response, WriteOptions options)
    {
        foreach (var w in options.Warnings)
        {
            response.Headers.Append("Warning", $"299 - \"{w.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        }
    }

    internal static bool IsTrue(Microsoft.Extensions.Primitives.StringValues v) => v.ToString() is "true" or "1";
}

using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;
using Microsoft.Extensions.Logging;

namespace Dynamo.DevCluster.Controllers;

/// <summary>
/// Writes v1 Events about an object, as the real components do: a repeat of the same reason and message on the same
/// object bumps <c>count</c> and <c>lastTimestamp</c> of the first Event instead of adding another.
/// </summary>
public sealed class EventRecorder
{
    private readonly ObjectStore _store;
    private readonly ResourceType _events;
    private readonly string _component;
    private readonly string? _host;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Uid, string Reason, string Message), string> _seen = new();

    public EventRecorder(ObjectStore store, string component, string? host, TimeProvider time, ILogger logger)
    {
        _store = store;
        _events = store.Registry.FindKind("v1", "Event") ?? throw new InvalidOperationException("the store serves no v1 Event");
        _component = component;
        _host = host;
        _time = time;
        _logger = logger;
    }

    public void Normal(JsonObject involved, string reason, string message) => Record(involved, "Normal", reason, message);

    public void Warning(JsonObject involved, string reason, string message) => Record(involved, "Warning", reason, message);

    private void Record(JsonObject involved, string type, string reason, string message)
    {
        var ns = Objects.Namespace(involved);
        var uid = Objects.Uid(involved);
        var now = Objects.Timestamp(_time.GetUtcNow());
        _logger.Log(type == "Warning" ? LogLevel.Warning : LogLevel.Information, "{Kind} {Namespace}/{Name}: {Reason}: {Message}",
            (string?)involved["kind"], ns, Objects.Name(involved), reason, message);
        try
        {
            if (_seen.TryGetValue((uid, reason, message), out var existing) && _store.TryGet(_events, ns, existing, out _))
            {
                _store.Update(_events, ns, existing, e =>
                {
                    e["count"] = (JsonPaths.GetLong(e, "count") ?? 1) + 1;
                    e["lastTimestamp"] = now;
                    e["metadata"]!.AsObject().Remove("resourceVersion");
                    return e;
                });
                return;
            }
            var name = $"{Objects.Name(involved)}.{Guid.NewGuid():N}"[..Math.Min(253, Objects.Name(involved).Length + 17)];
            var source = new JsonObject { ["component"] = _component };
            if (_host is not null) source["host"] = _host;
            _store.Create(_events, ns, new JsonObject
            {
                ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
                ["involvedObject"] = new JsonObject
                {
                    ["apiVersion"] = (string?)involved["apiVersion"],
                    ["kind"] = (string?)involved["kind"],
                    ["name"] = Objects.Name(involved),
                    ["namespace"] = ns,
                    ["uid"] = uid,
                    ["resourceVersion"] = JsonPaths.GetString(involved, "metadata.resourceVersion"),
                },
                ["reason"] = reason,
                ["message"] = message,
                ["type"] = type,
                ["source"] = source,
                ["reportingComponent"] = _component,
                ["reportingInstance"] = _host ?? _component,
                ["firstTimestamp"] = now,
                ["lastTimestamp"] = now,
                ["count"] = 1,
            });
            _seen[(uid, reason, message)] = name;
        }
        catch (ApiException e)
        {
            // The namespace going away, or the store shutting down: an Event is best effort, as in the real cluster.
            _logger.LogDebug("Event {Reason} on {Name} not recorded: {Error}", reason, Objects.Name(involved), e.Message);
        }
    }
}

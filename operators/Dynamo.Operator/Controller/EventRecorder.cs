using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Dynamo.Operator.Api;
using Dynamo.Operator.Client;
using Microsoft.Extensions.Logging;

namespace Dynamo.Operator.Controller;

/// <summary>
/// Writes Kubernetes Events (core/v1, what <c>kubectl describe</c> and <c>kubectl get events</c> show) about the
/// operator's objects. A repeat of the same reason and message on the same object within ten minutes bumps the
/// existing Event's count instead of creating another. Failing to record is logged, never thrown: events are advisory.
/// </summary>
public sealed partial class EventRecorder(KubeApiClient api, ILogger logger, TimeProvider? time = null, string? instance = null)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";

    private static readonly TimeSpan RepeatWindow = TimeSpan.FromMinutes(10);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, (string Name, int Count, DateTimeOffset Last)> _recent = new();

    public async Task RecordAsync(JsonObject involved, string type, string reason, string message, CancellationToken cancellationToken)
    {
        var meta = involved["metadata"];
        var ns = meta?["namespace"]?.GetValue<string>() ?? "default";
        var name = meta?["name"]?.GetValue<string>() ?? "";
        var uid = meta?["uid"]?.GetValue<string>();
        var now = _time.GetUtcNow();
        var stamp = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var key = $"{ns}/{uid ?? name}/{type}/{reason}/{message}";
        LogEvent(logger, type, reason, $"{involved["kind"]}/{ns}/{name}", message);
        try
        {
            if (_recent.TryGetValue(key, out var previous) && now - previous.Last < RepeatWindow)
            {
                var count = previous.Count + 1;
                await api.PatchAsync(KubeResource.Events, ns, previous.Name, new JsonObject { ["count"] = count, ["lastTimestamp"] = stamp }, PatchKind.Merge, cancellationToken: cancellationToken).ConfigureAwait(false);
                _recent[key] = (previous.Name, count, now);
                return;
            }

            var eventName = $"{name}.{now.ToUnixTimeMilliseconds():x}{Random.Shared.Next(0x1000):x3}";
            await api.CreateAsync(KubeResource.Events, ns, new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Event",
                ["metadata"] = new JsonObject { ["name"] = eventName, ["namespace"] = ns },
                ["involvedObject"] = new JsonObject
                {
                    ["apiVersion"] = involved["apiVersion"]?.GetValue<string>(),
                    ["kind"] = involved["kind"]?.GetValue<string>(),
                    ["name"] = name,
                    ["namespace"] = ns,
                    ["uid"] = uid,
                    ["resourceVersion"] = meta?["resourceVersion"]?.GetValue<string>(),
                },
                ["type"] = type,
                ["reason"] = reason,
                ["message"] = message,
                ["source"] = new JsonObject { ["component"] = GraphApi.Manager },
                ["reportingComponent"] = GraphApi.Manager,
                ["reportingInstance"] = instance ?? Environment.MachineName,
                ["firstTimestamp"] = stamp,
                ["lastTimestamp"] = stamp,
                ["count"] = 1,
            }, cancellationToken).ConfigureAwait(false);
            _recent[key] = (eventName, 1, now);
            if (_recent.Count > 4096)
            {
                foreach (var (oldKey, entry) in _recent)
                {
                    if (now - entry.Last > RepeatWindow) _recent.TryRemove(oldKey, out _);
                }
            }
        }
        catch (Exception error) when (error is KubeApiException or HttpRequestException or IOException)
        {
            _recent.TryRemove(key, out _);
            LogEventFailed(logger, reason, name, error.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event {Type} {Reason} on {Object}: {Message}")]
    private static partial void LogEvent(ILogger logger, string type, string reason, string @object, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record event {Reason} on {Name}: {Message}")]
    private static partial void LogEventFailed(ILogger logger, string reason, string name, string message);
}

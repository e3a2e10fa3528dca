using System.Net;
using System.Text.Json.Nodes;

namespace Dynamo.Operator.Client;

/// <summary>The API server refused a request: the HTTP status and the Status object's reason and message.</summary>
public sealed class KubeApiException(HttpStatusCode status, string? reason, string message, string request)
    : Exception($"{request}: {(int)status} {reason}: {message}")
{
    public HttpStatusCode Status { get; } = status;

    public string? Reason { get; } = reason;

    public string ApiMessage { get; } = message;

    public bool IsNotFound => Status == HttpStatusCode.NotFound;

    /// <summary>409: a stale resourceVersion (Conflict) or a name already taken (AlreadyExists).</summary>
    public bool IsConflict => Status == HttpStatusCode.Conflict;

    /// <summary>410: the resourceVersion a list or watch asked for is older than the server keeps; relist.</summary>
    public bool IsGone => Status == HttpStatusCode.Gone;

    internal static KubeApiException From(HttpStatusCode status, string body, string request)
    {
        string? reason = null;
        var message = body;
        try
        {
            if (JsonNode.Parse(body) is JsonObject obj && obj["kind"]?.GetValue<string>() == "Status")
            {
                reason = obj["reason"]?.GetValue<string>();
                message = obj["message"]?.GetValue<string>() ?? body;
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not a Status: the body is the message.
        }

        return new KubeApiException(status, reason, message.Length > 2000 ? message[..2000] : message, request);
    }
}

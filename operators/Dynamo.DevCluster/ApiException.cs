using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster;

/// <summary>One cause of an Invalid (422) answer: the field it names and why.</summary>
public sealed record StatusCause(string Field, string Message, string Reason = "FieldValueInvalid");

/// <summary>
/// An error the API server answers as a Kubernetes <c>Status</c> object (kind Status, reason, code, details), the
/// shape kubectl and client libraries parse into their typed errors.
/// </summary>
public sealed class ApiException : Exception
{
    public ApiException(int code, string reason, string message, string? kind = null, string? name = null,
        string? group = null, IReadOnlyList<StatusCause>? causes = null, int? retryAfterSeconds = null)
        : base(message)
    {
        Code = code;
        Reason = reason;
        Kind = kind;
        Name = name;
        Group = group;
        Causes = causes ?? [];
        RetryAfterSeconds = retryAfterSeconds;
    }

    public int Code { get; }
    public string Reason { get; }
    public string? Kind { get; }
    public string? Name { get; }
    public string? Group { get; }
    public IReadOnlyList<StatusCause> Causes { get; }
    public int? RetryAfterSeconds { get; }

    public static ApiException NotFound(ResourceType type, string name) =>
        new(404, "NotFound", $"{type.QualifiedResource} \"{name}\" not found", type.Resource, name, type.Group);

    public static ApiException AlreadyExists(ResourceType type, string name) =>
        new(409, "AlreadyExists", $"{type.QualifiedResource} \"{name}\" already exists", type.Resource, name, type.Group);

    public static ApiException Conflict(ResourceType type, string name, string why) =>
        new(409, "Conflict",
            $"Operation cannot be fulfilled on {type.QualifiedResource} \"{name}\": {why}",
            type.Resource, name, type.Group);

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException Invalid(ResourceType type, string name, IReadOnlyList<StatusCause> causes)
    {
        var detail = string.Join(", ", causes.Select(c => $"{c.Field}: {c.Message}"));
        var qualifiedKind = type.Group.Length == 0 ? type.Kind : $"{type.Kind}.{type.Group}";
        return new ApiException(422, "Invalid", $"{qualifiedKind} \"{name}\" is invalid: {detail}",
            type.Kind, name, type.Group, causes);
    }

    public static ApiException Gone(string message) => new(410, "Expired", message);

    public static ApiException MethodNotAllowed(string message) => new(405, "MethodNotAllowed", message);

    public static ApiException UnsupportedMediaType(string message) => new(415, "UnsupportedMediaType", message);

    /// <summary>The <c>Status</c> object for this error.</summary>
    public JsonObject ToStatus()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
            ["reason"] = Reason,
            ["code"] = Code,
        };
        if (Kind is not null || Name is not null || Causes.Count > 0 || RetryAfterSeconds is not null)
        {
            var details = new JsonObject();
            if (Name is not null) details["name"] = Name;
            if (Group is { Length: > 0 }) details["group"] = Group;
            if (Kind is not null) details["kind"] = Kind;
            if (Causes.Count > 0)
            {
                details["causes"] = new JsonArray(Causes.Select(c => (JsonNode)new JsonObject
                {
                    ["reason"] = c.Reason,
                    ["message"] = c.Message,
                    ["field"] = c.Field,
                }).ToArray());
            }
            if (RetryAfterSeconds is { } retry) details["retryAfterSeconds"] = retry;
            status["details"] = details;
        }
        return status;
    }
}

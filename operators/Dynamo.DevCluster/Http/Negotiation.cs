using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Dynamo.DevCluster.Http;

/// <summary>Media types in and out: JSON bodies, the patch types, Table requests, JSON answers.</summary>
internal static class Negotiation
{
    public const string Json = "application/json";

    /// <summary>True when the client asks for a server-side Table (<c>as=Table;g=meta.k8s.io</c>).</summary>
    public static bool WantsTable(HttpRequest request)
    {
        var accept = request.Headers.Accept.ToString();
        foreach (var part in accept.Split(','))
        {
            var p = part.Replace(" ", "", StringComparison.Ordinal);
            if (p.Contains("as=Table", StringComparison.Ordinal) && p.Contains("g=meta.k8s.io", StringComparison.Ordinal)
                && (p.Contains("v=v1;", StringComparison.Ordinal) || p.EndsWith("v=v1", StringComparison.Ordinal) || p.Contains("v=v1beta1", StringComparison.Ordinal)))
                return true;
            // The first acceptable plain type wins over a later Table.
            if (p.StartsWith(Json, StringComparison.Ordinal) && !p.Contains("as=", StringComparison.Ordinal)) return false;
            if (p.StartsWith("*/*", StringComparison.Ordinal)) return false;
        }
        return false;
    }

    /// <summary>Refuses clients that accept nothing but protobuf or YAML.</summary>
    public static void CheckAcceptsJson(HttpRequest request)
    {
        var accept = request.Headers.Accept.ToString();
        if (accept.Length == 0) return;
        foreach (var part in accept.Split(','))
        {
            var media = part.Split(';')[0].Trim();
            if (media is Json or "*/*" or "application/*" or "application/json-seq" || media.Length == 0) return;
        }
        throw new ApiException(406, "NotAcceptable", $"only application/json responses are served (Accept was \"{accept}\")");
    }

    public static async Task<JsonNode?> ReadJsonAsync(HttpRequest request, CancellationToken ct)
    {
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(ct);
        if (string.IsNullOrWhiteSpace(text)) return null;
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the request body is not valid JSON: {e.Message}");
        }
    }

    public static string MediaType(HttpRequest request) => (request.ContentType ?? Json).Split(';')[0].Trim().ToLowerInvariant();

    public static async Task WriteJsonAsync(HttpResponse response, int status, JsonNode node, CancellationToken ct)
    {
        response.StatusCode = status;
        response.ContentType = Json;
        await response.WriteAsync(node.ToJsonString(), ct);
    }
}

using System.Text;

namespace Dynamo.DevCluster.Discovery;

/// <summary>
/// <c>/openapi/v2</c>: a valid but empty OpenAPI v2 document (swagger 2.0, no definitions), in the protobuf encoding
/// client-go asks for. kubectl falls back to it for client-side validation when the server's OpenAPI v3 cannot vouch
/// for server-side field validation (a custom resource applied in the same file as its CRD): with no definition for a
/// kind, kubectl skips client-side validation of it, as it does for any kind a real server does not describe, and the
/// server's own validation still applies on create.
/// </summary>
internal static class OpenApiV2Document
{
    // What clients ask for is ...spec.v2@v1.0+protobuf; the answer names it with a dot, as Go parses media types.
    public const string ContentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

    /// <summary>gnostic openapi_v2.Document { swagger = "2.0"; info { title; version }; paths {}; definitions {} }.</summary>
    public static byte[] Protobuf { get; } = Build();

    private static byte[] Build()
    {
        var info = Concat(Field(1, Encoding.UTF8.GetBytes("Kubernetes")), Field(2, Encoding.UTF8.GetBytes(DiscoveryDocuments.KubernetesVersion)));
        return Concat(Field(1, Encoding.UTF8.GetBytes("2.0")), Field(2, info), Field(8, []), Field(9, []));
    }

    // A length-delimited protobuf field (wire type 2); every length here is under 128, so one varint byte.
    private static byte[] Field(int number, byte[] payload) => [(byte)((number << 3) | 2), (byte)payload.Length, .. payload];

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

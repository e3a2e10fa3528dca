using System.Text;
using Dynamo.DevCluster.Http;

namespace Dynamo.DevCluster.Tests.Unit;

/// <summary>The protobuf request bodies of client-go's typed clients, built here field by field from k8s.io/api's generated.proto.</summary>
public sealed class KubeProtobufTests
{
    [Fact]
    public void Secret_WithLabelsDataTypeAndOwner_DecodesToTheSameJsonAClientWouldSend()
    {
        var meta = Concat(
            Str(1, "sh.helm.release.v1.g.v1"), Str(3, "default"), Str(6, "42"),
            Msg(11, Concat(Str(1, "owner"), Str(2, "helm"))), Msg(11, Concat(Str(1, "version"), Str(2, "1"))),
            Msg(13, Concat(Str(1, "Graph"), Str(3, "g"), Str(4, "uid-1"), Str(5, "v1"), Varint(6, 1))),
            Str(14, "keep"), Msg(8, Concat(Varint(1, 1_700_000_000))));
        var secret = Concat(Msg(1, meta), Msg(2, Concat(Str(1, "release"), Bytes(2, [0, 1, 2, 255]))), Str(3, "helm.sh/release.v1"), Varint(5, 1));
        var json = KubeProtobuf.Decode(Envelope("v1", "Secret", secret));

        Assert.Equal("v1", (string?)json["apiVersion"]);
        Assert.Equal("Secret", (string?)json["kind"]);
        Assert.Equal("sh.helm.release.v1.g.v1", (string?)json["metadata"]!["name"]);
        Assert.Equal("42", (string?)json["metadata"]!["resourceVersion"]);
        Assert.Equal("helm", (string?)json["metadata"]!["labels"]!["owner"]);
        Assert.Equal("1", (string?)json["metadata"]!["labels"]!["version"]);
        Assert.Equal("uid-1", (string?)json["metadata"]!["ownerReferences"]![0]!["uid"]);
        Assert.True((bool)json["metadata"]!["ownerReferences"]![0]!["controller"]!);
        Assert.Equal("keep", (string?)json["metadata"]!["finalizers"]![0]);
        Assert.Null(json["metadata"]!["creationTimestamp"]);
        Assert.Equal(Convert.ToBase64String([0, 1, 2, 255]), (string?)json["data"]!["release"]);
        Assert.Equal("helm.sh/release.v1", (string?)json["type"]);
        Assert.True((bool)json["immutable"]!);
    }

    [Fact]
    public void DeleteOptions_DecodePolicyGraceAndPreconditions()
    {
        var json = KubeProtobuf.Decode(Envelope("meta.k8s.io/v1", "DeleteOptions",
            Concat(Varint(1, 0), Msg(2, Concat(Str(1, "u"), Str(2, "7"))), Str(4, "Foreground"))));
        Assert.Equal(0, (long)json["gracePeriodSeconds"]!);
        Assert.Equal("Foreground", (string?)json["propagationPolicy"]);
        Assert.Equal("7", (string?)json["preconditions"]!["resourceVersion"]);
    }

    [Fact]
    public void OtherKinds_AreRefusedWith415_NamingTheKind_AndMalformedBodiesWith400()
    {
        var refused = Assert.Throws<ApiException>(() => KubeProtobuf.Decode(Envelope("apps/v1", "Deployment", Msg(1, Str(1, "d")))));
        Assert.Equal(415, refused.Code);
        Assert.Contains("\"Deployment\"", refused.Message, StringComparison.Ordinal);
        Assert.Equal(400, Assert.Throws<ApiException>(() => KubeProtobuf.Decode("{\"kind\":\"Secret\"}"u8)).Code);
        var truncated = Envelope("v1", "Secret", Msg(1, Str(1, "s")));
        Assert.Equal(400, Assert.Throws<ApiException>(() => KubeProtobuf.Decode(truncated.AsSpan(0, truncated.Length - 2))).Code);
    }

    private static byte[] Envelope(string apiVersion, string kind, byte[] raw) =>
        Concat([0x6b, 0x38, 0x73, 0x00], Msg(1, Concat(Str(1, apiVersion), Str(2, kind))), Bytes(2, raw), Str(4, "application/vnd.kubernetes.protobuf"));

    private static byte[] Str(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    private static byte[] Msg(int field, byte[] message) => Bytes(field, message);

    private static byte[] Bytes(int field, byte[] value) => Concat(VarintBytes((ulong)(field << 3 | 2)), VarintBytes((ulong)value.Length), value);

    private static byte[] Varint(int field, ulong value) => Concat(VarintBytes((ulong)(field << 3)), VarintBytes(value));

    private static byte[] VarintBytes(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value & 0x7f);
            value >>= 7;
            bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
        }
        while (value != 0);
        return [.. bytes];
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];
}

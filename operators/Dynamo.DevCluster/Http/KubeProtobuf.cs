using System.Text;
using System.Text.Json.Nodes;

namespace Dynamo.DevCluster.Http;

/// <summary>
/// Request bodies in Kubernetes' protobuf encoding (<c>application/vnd.kubernetes.protobuf</c>), which client-go's
/// typed clients send for built-in kinds (Helm stores its releases in Secrets that way; kubectl create too). The
/// envelope is the magic <c>k8s\0</c> and a <c>runtime.Unknown</c> (typeMeta 1, raw 2); raw is the object's message
/// as in k8s.io/api's generated.proto. Decoded into the JSON the rest of the server handles, for the kinds clients
/// send this way here: Secret, ConfigMap, Namespace, and DeleteOptions. Other kinds are refused (415, naming them).
/// </summary>
internal static class KubeProtobuf
{
    public const string MediaType = "application/vnd.kubernetes.protobuf";

    private static readonly byte[] Magic = [0x6b, 0x38, 0x73, 0x00];

    public static readonly IReadOnlyList<string> Kinds = ["Secret", "ConfigMap", "Namespace", "DeleteOptions"];

    /// <summary>The object in the envelope as JSON (apiVersion and kind from its typeMeta).</summary>
    /// <exception cref="ApiException">400 for a malformed body; 415 for a kind not decoded here.</exception>
    public static JsonObject Decode(ReadOnlySpan<byte> body)
    {
        if (body.Length < Magic.Length || !body[..Magic.Length].SequenceEqual(Magic))
            throw ApiException.BadRequest("a protobuf body must start with the Kubernetes magic k8s\\0");
        string apiVersion = "", kind = "";
        ReadOnlySpan<byte> raw = default;
        var envelope = new Reader(body[Magic.Length..]);
        while (envelope.Next(out var field, out var wire))
        {
            switch (field)
            {
                case 1:
                    var typeMeta = new Reader(envelope.Bytes(wire));
                    while (typeMeta.Next(out var f, out var w))
                    {
                        if (f == 1) apiVersion = typeMeta.String(w);
                        else if (f == 2) kind = typeMeta.String(w);
                        else typeMeta.Skip(w);
                    }
                    break;
                case 2:
                    raw = envelope.Bytes(wire);
                    break;
                default:
                    envelope.Skip(wire);
                    break;
            }
        }
        var obj = kind switch
        {
            "Secret" => Secret(raw),
            "ConfigMap" => ConfigMap(raw),
            "Namespace" => Namespace(raw),
            "DeleteOptions" => DeleteOptions(raw),
            _ => throw ApiException.UnsupportedMediaType(
                $"the body of the request was protobuf for kind \"{kind}\", which this server does not decode (only {string.Join(", ", Kinds)}) - send it as application/json"),
        };
        obj["apiVersion"] = apiVersion;
        obj["kind"] = kind;
        return obj;
    }

    private static JsonObject Secret(ReadOnlySpan<byte> raw)
    {
        var obj = new JsonObject();
        var r = new Reader(raw);
        while (r.Next(out var f, out var w))
        {
            switch (f)
            {
                case 1: obj["metadata"] = ObjectMeta(r.Bytes(w)); break;
                case 2: MapEntry(r.Bytes(w), Child(obj, "data"), base64: true); break;
                case 3: obj["type"] = r.String(w); break;
                case 4: MapEntry(r.Bytes(w), Child(obj, "stringData"), base64: false); break;
                case 5: obj["immutable"] = r.Varint(w) != 0; break;
                default: r.Skip(w); break;
            }
        }
        return obj;
    }

    private static JsonObject ConfigMap(ReadOnlySpan<byte> raw)
    {
        var obj = new JsonObject();
        var r = new Reader(raw);
        while (r.Next(out var f, out var w))
        {
            switch (f)
            {
                case 1: obj["metadata"] = ObjectMeta(r.Bytes(w)); break;
                case 2: MapEntry(r.Bytes(w), Child(obj, "data"), base64: false); break;
                case 3: MapEntry(r.Bytes(w), Child(obj, "binaryData"), base64: true); break;
                case 4: obj["immutable"] = r.Varint(w) != 0; break;
                default: r.Skip(w); break;
            }
        }
        return obj;
    }

    private static JsonObject Namespace(ReadOnlySpan<byte> raw)
    {
        var obj = new JsonObject();
        var r = new Reader(raw);
        while (r.Next(out var f, out var w))
        {
            if (f == 1) obj["metadata"] = ObjectMeta(r.Bytes(w));
            else r.Skip(w); // spec.finalizers and status are the server's
        }
        return obj;
    }

    private static JsonObject DeleteOptions(ReadOnlySpan<byte> raw)
    {
        var obj = new JsonObject();
        var r = new Reader(raw);
        while (r.Next(out var f, out var w))
        {
            switch (f)
            {
                case 1: obj["gracePeriodSeconds"] = (long)r.Varint(w); break;
                case 2:
                    var pre = new JsonObject();
                    var p = new Reader(r.Bytes(w));
                    while (p.Next(out var pf, out var pw))
                    {
                        if (pf == 1) pre["uid"] = p.String(pw);
                        else if (pf == 2) pre["resourceVersion"] = p.String(pw);
                        else p.Skip(pw);
                    }
                    obj["preconditions"] = pre;
                    break;
                case 3: obj["orphanDependents"] = r.Varint(w) != 0; break;
                case 4: obj["propagationPolicy"] = r.String(w); break;
                case 5: (obj["dryRun"] as JsonArray ?? (JsonArray)(obj["dryRun"] = new JsonArray())).Add(r.String(w)); break;
                default: r.Skip(w); break;
            }
        }
        return obj;
    }

    private static JsonObject ObjectMeta(ReadOnlySpan<byte> raw)
    {
        var meta = new JsonObject();
        var r = new Reader(raw);
        while (r.Next(out var f, out var w))
        {
            switch (f)
            {
                case 1: meta["name"] = r.String(w); break;
                case 2: meta["generateName"] = r.String(w); break;
                case 3: meta["namespace"] = r.String(w); break;
                case 5: meta["uid"] = r.String(w); break;
                case 6: meta["resourceVersion"] = r.String(w); break;
                case 7: meta["generation"] = (long)r.Varint(w); break;
                case 11: MapEntry(r.Bytes(w), Child(meta, "labels"), base64: false); break;
                case 12: MapEntry(r.Bytes(w), Child(meta, "annotations"), base64: false); break;
                case 13:
                    var owner = new JsonObject();
                    var o = new Reader(r.Bytes(w));
                    while (o.Next(out var of, out var ow))
                    {
                        switch (of)
                        {
                            case 1: owner["kind"] = o.String(ow); break;
                            case 3: owner["name"] = o.String(ow); break;
                            case 4: owner["uid"] = o.String(ow); break;
                            case 5: owner["apiVersion"] = o.String(ow); break;
                            case 6: owner["controller"] = o.Varint(ow) != 0; break;
                            case 7: owner["blockOwnerDeletion"] = o.Varint(ow) != 0; break;
                            default: o.Skip(ow); break;
                        }
                    }
                    (meta["ownerReferences"] as JsonArray ?? (JsonArray)(meta["ownerReferences"] = new JsonArray())).Add(owner);
                    break;
                case 14: (meta["finalizers"] as JsonArray ?? (JsonArray)(meta["finalizers"] = new JsonArray())).Add(r.String(w)); break;
                default: r.Skip(w); break; // timestamps, managedFields: the server's own
            }
        }
        return meta;
    }

    private static JsonObject Child(JsonObject parent, string name) =>
        parent[name] as JsonObject ?? (JsonObject)(parent[name] = new JsonObject());

    /// <summary>A map entry (key 1, value 2); bytes values become base64, as in JSON.</summary>
    private static void MapEntry(ReadOnlySpan<byte> raw, JsonObject into, bool base64)
    {
        string key = "";
        JsonNode value = "";
        var r = new Reader(raw);
        while (r.Next(out var f, out var w))
        {
            if (f == 1) key = r.String(w);
            else if (f == 2) value = base64 ? Convert.ToBase64String(r.Bytes(w)) : r.String(w);
            else r.Skip(w);
        }
        into[key] = value;
    }

    /// <summary>A protobuf wire-format reader over one message.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public bool Next(out int field, out int wire)
        {
            if (_pos >= _data.Length)
            {
                field = wire = 0;
                return false;
            }
            var tag = ReadVarint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            if (field == 0) throw ApiException.BadRequest("malformed protobuf body: field number 0");
            return true;
        }

        public ulong Varint(int wire)
        {
            Expect(wire, 0);
            return ReadVarint();
        }

        public ReadOnlySpan<byte> Bytes(int wire)
        {
            Expect(wire, 2);
            var length = ReadVarint();
            if (length > (ulong)(_data.Length - _pos)) throw ApiException.BadRequest("malformed protobuf body: a length runs past the end");
            var slice = _data.Slice(_pos, (int)length);
            _pos += (int)length;
            return slice;
        }

        public string String(int wire) => Encoding.UTF8.GetString(Bytes(wire));

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: ReadVarint(); break;
                case 1: Advance(8); break;
                case 2: Bytes(wire); break;
                case 5: Advance(4); break;
                default: throw ApiException.BadRequest($"malformed protobuf body: wire type {wire}");
            }
        }

        private void Advance(int n)
        {
            if (_pos + n > _data.Length) throw ApiException.BadRequest("malformed protobuf body: a field runs past the end");
            _pos += n;
        }

        private static void Expect(int wire, int expected)
        {
            if (wire != expected) throw ApiException.BadRequest($"malformed protobuf body: wire type {wire} where {expected} was expected");
        }

        private ulong ReadVarint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= _data.Length) throw ApiException.BadRequest("malformed protobuf body: a varint runs past the end");
                var b = _data[_pos++];
                value |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw ApiException.BadRequest("malformed protobuf body: a varint longer than 10 bytes");
        }
    }
}

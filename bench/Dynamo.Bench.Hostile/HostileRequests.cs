using System.Text;

namespace Dynamo.Bench.Hostile;

/// <summary>
/// The hostile request families of R3, each varied at random (seeded): payloads the parser must refuse, framing
/// Kestrel must refuse, paths and methods the router must refuse, keys the authenticator must refuse, and clients
/// that are slow or leave. Expensive families (megabyte bodies) are drawn less often.
/// </summary>
internal sealed class HostileRequests(string authority, string key, string model, int seed)
{
    private const string Chat = "/v1/chat/completions";
    private const string Completions = "/v1/completions";
    private readonly Random _random = new(seed);

    private string Completion => $$"""{"model":"{{model}}","prompt":"hello","max_tokens":4}""";

    private string ChatBody => $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":4}""";

    public List<HostileCase> Generate(int count)
    {
        var families = new (int Weight, Func<HostileCase> Make)[]
        {
            (10, MalformedJson), (10, WrongType), (10, HugeOrNegative), (6, UnknownModel), (4, FanOut), (6, UnicodeJunk),
            (4, DuplicateKeys), (3, DeepNesting), (8, BadContentType), (8, BadMethod), (8, AdminPath), (5, UnknownPath),
            (3, OversizedUrl), (3, OversizedHeaders), (5, HeaderJunk), (3, BadVersion), (4, MalformedRequestLine),
            (8, BrokenChunked), (2, BodySize), (2, SlowClient), (5, AbortedClient), (8, AuthFailure),
        };
        var total = families.Sum(f => f.Weight);
        var cases = new List<HostileCase>(count);
        while (cases.Count < count)
        {
            var pick = _random.Next(total);
            foreach (var (weight, make) in families)
            {
                if (pick < weight)
                {
                    cases.Add(make());
                    break;
                }

                pick -= weight;
            }
        }

        return cases;
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private string ApiPath() => _random.Next(2) == 0 ? Chat : Completions;

    private byte[] Request(string method, string target, byte[]? body, string? contentType = "application/json", string? auth = null,
        string extraHeaders = "", string version = "HTTP/1.1", bool withKey = true)
    {
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(target).Append(' ').Append(version).Append("\r\n");
        head.Append("Host: ").Append(authority).Append("\r\n");
        if (auth is not null)
        {
            head.Append(auth).Append("\r\n");
        }
        else if (withKey)
        {
            head.Append("Authorization: Bearer ").Append(key).Append("\r\n");
        }

        if (contentType is not null && body is not null)
        {
            head.Append("Content-Type: ").Append(contentType).Append("\r\n");
        }

        if (body is not null)
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }

        head.Append(extraHeaders).Append("Connection: close\r\n\r\n");
        return [.. Encoding.Latin1.GetBytes(head.ToString()), .. body ?? []];
    }

    private HostileCase Post(string kind, string json, string? path = null) =>
        new(kind, Request("POST", path ?? ApiPath(), Encoding.UTF8.GetBytes(json)));

    private HostileCase MalformedJson()
    {
        var valid = _random.Next(2) == 0 ? Completion : ChatBody;
        var bodies = new[]
        {
            "{", "}", "[", "[]", "null", "true", "42", "\"x\"", "", " ", "{\"model\":}", $"{{\"model\":\"{model}\",}}", "{'model':'tiny'}",
            $"{{\"model\":\"{model}\" \"prompt\":\"x\"}}", "/* comment */" + valid, "{\"model\":NaN}", "{\"a\":1e99999}", valid + "}", valid + valid,
            valid[..(1 + _random.Next(valid.Length - 1))], "\uFEFF" + valid, valid.Replace(':', '='), valid.Replace('"', '\''),
        };
        if (_random.Next(4) == 0)
        {
            var junk = new byte[1 + _random.Next(2048)];
            _random.NextBytes(junk);
            return new HostileCase("malformed JSON", Request("POST", ApiPath(), junk));
        }

        return Post("malformed JSON", Pick(bodies));
    }

    private HostileCase WrongType()
    {
        var fields = new[]
        {
            "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "n", "stream", "stop", "seed",
            "user", "presence_penalty", "frequency_penalty", "logprobs", "echo", "best_of", "stream_options", "ignore_eos", "logit_bias", "min_tokens",
        };
        var values = new[] { "42", "\"str\"", "[]", "{}", "true", "null", "1.5", "-1", "[1,\"a\",{}]", "{\"a\":[null]}" };
        var field = Pick(fields);
        var chat = field == "messages" || (field != "prompt" && _random.Next(2) == 0);
        var baseBody = chat ? ChatBody : Completion;
        var body = baseBody[..^1] + $",\"{field}\":{Pick(values)}}}";
        return Post("wrong types", body, chat ? Chat : Completions);
    }

    private HostileCase HugeOrNegative()
    {
        var cases = new[]
        {
            ("max_tokens", "-1"), ("max_tokens", "0"), ("max_tokens", "2147483648"), ("max_tokens", "9223372036854775808"), ("max_tokens", "1e400"),
            ("max_tokens", "-1e400"), ("max_tokens", "1e-400"), ("temperature", "1e308"), ("temperature", "-0.0"), ("temperature", "3"),
            ("n", "0"), ("n", "17"), ("n", "1000000"), ("n", "1099511627776"), ("best_of", "1000"), ("best_of", "1000000000"), ("top_k", "-5"),
            ("top_k", "1099511627776"), ("seed", "18446744073709551616"), ("seed", "-9223372036854775809"), ("logprobs", "1000"),
            ("top_p", "-0.5"), ("presence_penalty", "1e30"), ("max_tokens", "4000"), ("min_tokens", "99999999"),
        };
        var (field, value) = Pick(cases);
        if (_random.Next(5) == 0)
        {
            var ids = Pick(new[] { "[-1]", "[4294967296]", "[99999999]", "[1.5]", "[[1,2],[-3]]", "[1e400]" });
            return Post("huge or negative values", $$"""{"model":"{{model}}","prompt":{{ids}},"max_tokens":2}""", Completions);
        }

        return Post("huge or negative values", Completion[..^1] + $",\"{field}\":{value}}}", Completions);
    }

    private HostileCase UnknownModel()
    {
        var length = _random.Next(10) == 0 ? 1 + _random.Next(1 << 20) : 1 + _random.Next(200);
        var name = new string(Enumerable.Range(0, length).Select(_ => (char)('a' + _random.Next(26))).ToArray());
        name = Pick(new[] { name, name + "é\u202E", "tiny ", " tiny", "TINY", "tiny\\u0000", "../tiny", "tiny/../../etc" });
        return Post("unknown models", $$"""{"model":"{{name}}","prompt":"x","max_tokens":2}""", Completions);
    }

    private HostileCase FanOut()
    {
        var prompts = string.Join(',', Enumerable.Repeat("[1,2,3,4,5,6,7,8]", Pick(new[] { 128, 2048, 20_000 })));
        var body = Pick(new[]
        {
            $$"""{"model":"{{model}}","prompt":[{{prompts}}],"n":16,"max_tokens":4000}""",
            $$"""{"model":"{{model}}","prompt":"x","n":16,"best_of":64,"max_tokens":4000}""",
            $$"""{"model":"{{model}}","prompt":[{{prompts}}],"max_tokens":1}""",
            $$"""{"model":"{{model}}","prompt":"x","stop":[{{string.Join(',', Enumerable.Range(0, 1000).Select(i => $"\"s{i}\""))}}]}""",
            $$"""{"model":"{{model}}","messages":[{{string.Join(',', Enumerable.Repeat("{\"role\":\"user\",\"content\":\"x\"}", 50_000))}}]}""",
        });
        return Post("huge n / fan-out", body, body.Contains("messages", StringComparison.Ordinal) ? Chat : Completions);
    }

    private HostileCase UnicodeJunk()
    {
        var pieces = new byte[][]
        {
            [0xFF, 0xFE], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x80], [0x00],
            Encoding.UTF8.GetBytes("\\ud800"), Encoding.UTF8.GetBytes("\\udfff\\ud800"), Encoding.UTF8.GetBytes("\\u0000"),
            Encoding.UTF8.GetBytes("\u200B\u202E\u2066\uFEFF"), Encoding.UTF8.GetBytes("🦙🦙🦙"), Encoding.UTF8.GetBytes("\\uZZZZ"),
        };
        var junk = Pick(pieces);
        var field = Pick(new[] { "prompt", "model", "stop", "user" });
        var head = Encoding.UTF8.GetBytes(field == "model"
            ? "{\"prompt\":\"x\",\"max_tokens\":2,\"model\":\""
            : $"{{\"model\":\"{model}\",\"max_tokens\":2,{(field == "prompt" ? "" : "\"prompt\":\"x\",")}\"{field}\":\"a");
        return new HostileCase("unicode junk", Request("POST", Completions, [.. head, .. junk, .. "\"}"u8]));
    }

    private HostileCase DuplicateKeys() => Post("duplicate keys", Pick(new[]
    {
        $$"""{"model":"{{model}}","model":"other","prompt":"x","max_tokens":2}""",
        $$"""{"model":"{{model}}","prompt":"x","prompt":[1,2],"max_tokens":2}""",
        $$"""{"model":"{{model}}","prompt":"x","max_tokens":2,"max_tokens":-5}""",
        $$"""{"model":"{{model}}","prompt":"x","stream":true,"stream":"no"}""",
        $$"""{"model":"{{model}}","messages":[{"role":"user","role":"system","content":"x","content":7}]}""",
    }));

    private HostileCase DeepNesting()
    {
        var depth = Pick(new[] { 65, 1000, 100_000 });
        var body = Pick(new[]
        {
            $"{{\"model\":\"{model}\",\"messages\":{new string('[', depth)}{new string(']', depth)}}}",
            $"{{\"model\":\"{model}\",\"prompt\":\"x\",\"extra\":{string.Concat(Enumerable.Repeat("{\"a\":", depth))}1{new string('}', depth)}}}",
            $"{{\"model\":\"{model}\",\"prompt\":{new string('[', depth)}",
        });
        return Post("deep nesting", body);
    }

    private HostileCase BadContentType()
    {
        var type = Pick(new[]
        {
            "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/xml",
            null, "application/json; charset=utf-16", "application/json-seq", "application/jsonx", "json", "*/*", ";;;", "application/json, text/plain",
        });
        var body = Encoding.UTF8.GetBytes(type is "application/x-www-form-urlencoded" ? "model=tiny&prompt=x" : Completion);
        return new HostileCase("bad content types", Request("POST", ApiPath(), body, contentType: type), ExpectedStatuses: [415]);
    }

    private HostileCase BadMethod()
    {
        var (method, target) = Pick(new[]
        {
            ("GET", Chat), ("PUT", Completions), ("DELETE", Chat), ("PATCH", Completions), ("TRACE", Chat), ("OPTIONS", Completions),
            ("FOO", Chat), ("M-SEARCH", Completions), ("POST", "/v1/models"), ("DELETE", "/v1/models"), ("GET", Completions),
        });
        var body = method is "GET" or "TRACE" or "FOO" ? null : Encoding.UTF8.GetBytes(Completion);
        return new HostileCase("bad methods", Request(method, target, body));
    }

    private HostileCase AdminPath()
    {
        var target = Pick(new[]
        {
            "/metrics", "/metrics/", "/health/", "/live/", "/metrics/.", "/%6Detrics", "/%6detrics/", "/METRICS", "/Health", "/LIVE/", "/./metrics",
            "/v1/../metrics", "/metrics/%2E", "/%2E/health", "/metrics?x", "/health/?", "/x/../metrics", "/v1/chat/completions/../../../health", "/live/./",
        });
        var method = Pick(new[] { "GET", "GET", "HEAD", "POST", "OPTIONS" });
        return new HostileCase("admin paths on the public port", Request(method, target, method == "POST" ? "{}"u8.ToArray() : null, withKey: _random.Next(2) == 0),
            ExpectedStatuses: [404]);
    }

    private HostileCase UnknownPath()
    {
        var target = Pick(new[]
        {
            "/", "/v1", "/v1/", "/v1/embeddings", "/v2/chat/completions", "/v1/chat/completions/x", "/%ZZ", "/..%2F..%2Fetc%2Fpasswd", "/v1/%00",
            "/v1/models/" + new string('m', 3000), "/favicon.ico", "/v1/kv/dump", "/load", "/v1/chat/completions;jsessionid=1",
        });
        return new HostileCase("unknown paths", Request("GET", target, null), ProtocolLevel: target.Contains("%00", StringComparison.Ordinal));
    }

    private HostileCase OversizedUrl()
    {
        var length = Pick(new[] { 7_000, 9_000, 70_000 });
        return new HostileCase("oversized URLs", Request("GET", "/v1/models?" + new string('q', length), null), ProtocolLevel: length > 7_000);
    }

    private HostileCase OversizedHeaders()
    {
        var extra = Pick(new[]
        {
            $"X-Big: {new string('h', 40_000)}\r\n",
            string.Concat(Enumerable.Range(0, 150).Select(i => $"X-H{i}: v\r\n")),
            $"Cookie: {new string('c', 33_000)}\r\n",
            $"Authorization: Bearer {new string('k', 40_000)}\r\n",
        });
        return new HostileCase("oversized headers", Request("POST", ApiPath(), Encoding.UTF8.GetBytes(Completion), extraHeaders: extra), ProtocolLevel: true);
    }

    private HostileCase HeaderJunk()
    {
        var body = Encoding.UTF8.GetBytes(Completion);
        var junk = Pick(new[]
        {
            $"POST {Completions} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nNoColonHere\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nBad Name: x\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nX-Fold: a\r\n  continued\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nX-Nul: a\0b\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: bad host name\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n",
            $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
        });
        // The key rides along, so that what reaches the application is not counted as a failed authentication.
        junk = junk.Replace("\r\nConnection: close", $"\r\nAuthorization: Bearer {key}\r\nConnection: close", StringComparison.Ordinal);
        return new HostileCase("header junk", [.. Encoding.Latin1.GetBytes(junk), .. body], ProtocolLevel: true);
    }

    private HostileCase BadVersion()
    {
        var version = Pick(new[] { "HTTP/1.2", "HTTP/2.0", "HTTP/9.9", "HTTP/1", "FOO/1.1", "http/1.1", "HTTP/1.1 extra", "HTTP/0.9" });
        return new HostileCase("bad HTTP versions", Request("GET", "/v1/models", null, version: version), ProtocolLevel: true);
    }

    private HostileCase MalformedRequestLine()
    {
        var line = Pick(new[]
        {
            "GET\r\n\r\n", "GET /v1/models\r\n\r\n", "  GET /v1/models HTTP/1.1\r\n\r\n", "GET  /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET v1/models HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\n", "G\u00C9T / HTTP/1.1\r\nHost: x\r\n\r\n", "GET /v1/models HTTP/1.1\nHost: x\n\n",
            "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00FC\u0003\u0003", "CONNECT /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
            $"GET http://evil.example/v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n",
        });
        line = line.Replace("Host: x\r\n\r\n", $"Host: x\r\nAuthorization: Bearer {key}\r\n\r\n", StringComparison.Ordinal)
            .Replace("Host: x\n\n", $"Host: x\nAuthorization: Bearer {key}\n\n", StringComparison.Ordinal);
        return new HostileCase("malformed request lines", Encoding.Latin1.GetBytes(line), ProtocolLevel: true);
    }

    private HostileCase BrokenChunked()
    {
        var chunks = Pick(new[]
        {
            "FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n", "80000000000000000\r\n{}\r\n0\r\n\r\n", "zz\r\n{}\r\n0\r\n\r\n", "2\r\n{}XX0\r\n\r\n",
            "2;" + new string('e', 5000) + "\r\n{}\r\n0\r\n\r\n", "-2\r\n{}\r\n0\r\n\r\n", "2\r\n{}\r\n0\r\nX-Trailer junk\r\n\r\n", "2 \r\n{}\r\n0\r\n\r\n",
            "0x2\r\n{}\r\n0\r\n\r\n", "\r\n\r\n",
        });
        var head = $"POST {ApiPath()} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        return new HostileCase("broken chunked bodies", Encoding.Latin1.GetBytes(head + chunks), ExpectedStatuses: [400]);
    }

    private HostileCase BodySize()
    {
        if (_random.Next(2) == 0)
        {
            var huge = Encoding.UTF8.GetBytes($"{{\"model\":\"{model}\",\"prompt\":\"{new string('a', 5 * 1024 * 1024)}\"}}");
            return new HostileCase("oversized bodies", Request("POST", Completions, huge));
        }

        var body = Encoding.UTF8.GetBytes(Completion);
        var head = $"POST {Completions} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {body.Length / 2}\r\nConnection: close\r\n\r\n";
        return new HostileCase("short Content-Length", [.. Encoding.Latin1.GetBytes(head), .. body]);
    }

    private HostileCase SlowClient()
    {
        var request = _random.Next(2) == 0
            ? Request("POST", Completions, Encoding.UTF8.GetBytes(Completion))
            : Request("POST", Chat, Encoding.UTF8.GetBytes(ChatBody));
        return new HostileCase("slow clients", request) { Pieces = 10 + _random.Next(20), PieceDelay = TimeSpan.FromMilliseconds(20 + _random.Next(60)) };
    }

    private HostileCase AbortedClient()
    {
        var stream = Request("POST", Completions, Encoding.UTF8.GetBytes($$"""{"model":"{{model}}","prompt":"a long story","max_tokens":200,"ignore_eos":true,"stream":true}"""));
        return _random.Next(3) switch
        {
            0 => new HostileCase("aborted clients", stream) { Abort = AbortMode.AfterFirstBytes },
            _ => new HostileCase("aborted clients", stream) { Abort = AbortMode.BeforeEnd, AbortAt = 1 + _random.Next(stream.Length - 1) },
        };
    }

    private HostileCase AuthFailure()
    {
        var auth = Pick(new[]
        {
            null, "Authorization: Bearer ", "Authorization: Bearer sk-wrong-0123456789", "Authorization: Basic dXNlcjpwYXNz", "Authorization: bearer nope-0123456789",
            $"Authorization: Bearer {new string('k', 8000)}", "Authorization: Bearer \u00E9\u00FF\u00FE-0123456789", $"Authorization: Bearer {key[..^1]}",
            $"Authorization: Bearer {key}x", "Authorization: Token abc", "Authorization: Bearer sk-a\r\nAuthorization: Bearer sk-b",
        });
        var body = Encoding.UTF8.GetBytes(Completion);

        // Non-ASCII header bytes are Kestrel's to refuse (400 before the application runs).
        var nonAscii = auth is not null && auth.Any(c => c > 127);
        return new HostileCase("authentication failures", Request("POST", Completions, body, auth: auth ?? "X-No-Auth: 1"), Sender.Guesser,
            ProtocolLevel: nonAscii, ExpectedStatuses: nonAscii ? null : [401, 429]);
    }
}
